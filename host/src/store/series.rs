//! Series written back by plugins (derived series) and read by `host.query`.
//!
//! Rows are `(series id, Unix ms) → f64`; the id comes from the canonical text of
//! name + sorted labels.

use super::tables::{SERIES_KEYS, SERIES_POINTS};
use super::{Store, StoreError};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

/// A series identity: name and labels (sorted when canonicalised).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl SeriesKey {
    /// A key with its labels sorted.
    pub fn new(name: &str, labels: &[(String, String)]) -> SeriesKey {
        let mut labels = labels.to_vec();
        labels.sort();
        SeriesKey {
            name: name.to_string(),
            labels,
        }
    }

    /// `name{a="1",b="2"}` with sorted labels: the stored identity.
    pub fn canonical(&self) -> String {
        let mut s = self.name.clone();
        s.push('{');
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(k);
            s.push_str("=\"");
            for c in v.chars() {
                if c == '"' || c == '\\' {
                    s.push('\\');
                }
                s.push(c);
            }
            s.push('"');
        }
        s.push('}');
        s
    }
}

/// One point to store.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub key: SeriesKey,
    pub timestamp_ms: i64,
    pub value: f64,
}

pub(super) fn append(
    store: &Store,
    tx: &WriteTransaction,
    points: &[SeriesPoint],
) -> Result<(), StoreError> {
    if points.is_empty() {
        return Ok(());
    }
    let mut keys = tx
        .open_table(SERIES_KEYS)
        .map_err(store.io("opening table series_keys"))?;
    let mut rows = tx
        .open_table(SERIES_POINTS)
        .map_err(store.io("opening table series_points"))?;
    for p in points {
        let canonical = p.key.canonical();
        let existing = keys
            .get(canonical.as_str())
            .map_err(store.io("reading series ids"))?
            .map(|v| v.value());
        let id = match existing {
            Some(id) => id,
            None => {
                let next = keys.len().map_err(store.io("counting series"))? + 1;
                keys.insert(canonical.as_str(), next)
                    .map_err(store.io("writing a series id"))?;
                next
            }
        };
        rows.insert((id, p.timestamp_ms), p.value)
            .map_err(store.io("writing a series point"))?;
    }
    Ok(())
}

impl Store {
    /// Points of one series in `[from_ms, to_ms]`, oldest first, at most `limit` (the
    /// newest are kept).
    pub fn series_range(
        &self,
        key: &SeriesKey,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let tx = self
            .db()
            .begin_read()
            .map_err(self.io("opening a read transaction"))?;
        let keys = tx
            .open_table(SERIES_KEYS)
            .map_err(self.io("opening table series_keys"))?;
        let Some(id) = keys
            .get(key.canonical().as_str())
            .map_err(self.io("reading series ids"))?
            .map(|v| v.value())
        else {
            return Ok(Vec::new());
        };
        let rows = tx
            .open_table(SERIES_POINTS)
            .map_err(self.io("opening table series_points"))?;
        let mut out = Vec::new();
        for row in rows
            .range((id, from_ms)..=(id, to_ms))
            .map_err(self.io("reading series points"))?
            .rev()
        {
            let (k, v) = row.map_err(self.io("reading series points"))?;
            out.push((k.value().1, v.value()));
            if out.len() >= limit {
                break;
            }
        }
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_and_escapes() {
        let k = SeriesKey::new("x", &[("b".into(), "2".into()), ("a".into(), "q\"".into())]);
        assert_eq!(k.canonical(), "x{a=\"q\\\"\",b=\"2\"}");
    }

    #[test]
    fn range_keeps_newest_within_limit() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.redb")).unwrap();
        let key = SeriesKey::new("lag", &[("node".into(), "bn".into())]);
        let other = SeriesKey::new("lag", &[("node".into(), "other".into())]);
        let mut pts: Vec<SeriesPoint> = (0..10)
            .map(|i| SeriesPoint {
                key: key.clone(),
                timestamp_ms: i * 1000,
                value: i as f64,
            })
            .collect();
        pts.push(SeriesPoint {
            key: other,
            timestamp_ms: 5000,
            value: 99.0,
        });
        s.commit_evaluation(&[], &pts).unwrap();
        let r = s.series_range(&key, 2000, 8000, 3).unwrap();
        assert_eq!(r, vec![(6000, 6.0), (7000, 7.0), (8000, 8.0)]);
    }
}
