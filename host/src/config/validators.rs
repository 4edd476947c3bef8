//! The watched validators, as an operator lists them: indices, ranges (`"0-99999"`) and
//! public keys in `[validators] ids`, and files of the same, one per line, as key
//! managers export them (`[validators] files`). Resolved once per load into a sorted,
//! de-duplicated set of indices plus the public keys the daemon asks the beacon node
//! for, so a 100k-validator farm needs no 100k-integer array and a bad line is named by
//! its file and line number.

use super::ConfigError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// At most this many validators are watched by one Vigil: more than mainnet's whole
/// validator set, so a typo like `"0-99999999"` is refused instead of allocating.
pub const MAX_WATCHED: usize = 2_000_000;

/// A validator file larger than this is refused (100k public keys take ~10 MB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Public-key length as written: `0x` and 96 hex digits (48 bytes).
const PUBKEY_CHARS: usize = 98;

/// The watched validators, resolved from `[validators]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatchedValidators {
    /// Validators named by index or range, ascending, each once.
    pub indices: Vec<u64>,
    /// Validators named by public key (lower-case `0x…`), each once, in listed order;
    /// the daemon resolves them to indices through the beacon node.
    pub pubkeys: Vec<String>,
}

impl WatchedValidators {
    /// How many entries were listed (indices plus public keys, before resolution).
    pub fn len(&self) -> usize {
        self.indices.len() + self.pubkeys.len()
    }

    /// Nothing listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// "12 validators (10 by index, 2 by public key)", for start-up and `config check`.
    pub fn describe(&self) -> String {
        format!(
            "{} validator{} ({} by index, {} by public key)",
            self.len(),
            if self.len() == 1 { "" } else { "s" },
            self.indices.len(),
            self.pubkeys.len()
        )
    }
}

/// One entry: what a line or an `ids` element says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Index(u64),
    Range(u64, u64),
    Pubkey(String),
}

/// Parse one entry as written in a file or as a string in `ids`.
fn parse_entry(text: &str) -> Result<Entry, String> {
    let t = text.trim();
    if let Ok(i) = t.parse::<u64>() {
        return Ok(Entry::Index(i));
    }
    if let Some((a, b)) = t.split_once('-') {
        let (a, b) = (a.trim(), b.trim());
        if let (Ok(lo), Ok(hi)) = (a.parse::<u64>(), b.parse::<u64>()) {
            if lo > hi {
                return Err(format!("range {t:?} runs backwards: write \"{hi}-{lo}\""));
            }
            return Ok(Entry::Range(lo, hi));
        }
    }
    let lower = t.to_ascii_lowercase();
    if lower.len() == PUBKEY_CHARS
        && lower.starts_with("0x")
        && lower[2..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Ok(Entry::Pubkey(lower));
    }
    Err(format!(
        "{t:?} is neither a validator index, a range (\"0-99\") nor a public key (0x + 96 hex digits)"
    ))
}

/// Collects entries, refusing a set larger than [`MAX_WATCHED`].
#[derive(Default)]
struct Builder {
    indices: BTreeSet<u64>,
    pubkeys: Vec<String>,
    seen_keys: BTreeSet<String>,
}

impl Builder {
    fn add(&mut self, e: Entry) -> Result<(), String> {
        match e {
            Entry::Index(i) => {
                self.indices.insert(i);
            }
            Entry::Range(lo, hi) => {
                let span = (hi - lo).saturating_add(1);
                if span as usize > MAX_WATCHED || self.indices.len() + span as usize > MAX_WATCHED {
                    return Err(format!(
                        "range {lo}-{hi} would watch more than {MAX_WATCHED} validators: check the bounds"
                    ));
                }
                self.indices.extend(lo..=hi);
            }
            Entry::Pubkey(k) => {
                if self.seen_keys.insert(k.clone()) {
                    self.pubkeys.push(k);
                }
            }
        }
        if self.indices.len() + self.pubkeys.len() > MAX_WATCHED {
            return Err(format!(
                "more than {MAX_WATCHED} validators listed: split them over several Vigils"
            ));
        }
        Ok(())
    }
}

/// Resolve `[validators]`: `ids` (numbers, range strings, public keys) and `files`
/// (paths already resolved against the config's folder, with `shown` as written).
pub(super) fn resolve(
    ids: &[super::schema::ValidatorId],
    files: &[(PathBuf, String)],
    config_file: &Path,
    ids_line: Option<usize>,
) -> Result<WatchedValidators, ConfigError> {
    let mut b = Builder::default();
    for (i, id) in ids.iter().enumerate() {
        let entry = match id {
            super::schema::ValidatorId::Index(n) => Ok(Entry::Index(*n)),
            super::schema::ValidatorId::Text(t) => parse_entry(t),
        };
        entry
            .and_then(|e| b.add(e))
            .map_err(|message| ConfigError {
                file: config_file.to_path_buf(),
                line: ids_line,
                key: Some(format!("validators.ids[{i}]")),
                message,
            })?;
    }
    for (path, shown) in files {
        read_file(path, shown, &mut b)?;
    }
    Ok(WatchedValidators {
        indices: b.indices.into_iter().collect(),
        pubkeys: b.pubkeys,
    })
}

/// Add every line of a validator file: one index, range or public key per line;
/// blank lines and `#` comments are skipped; a CSV export's first column is used.
fn read_file(path: &Path, shown: &str, b: &mut Builder) -> Result<(), ConfigError> {
    let fail = |line: Option<usize>, message: String| ConfigError {
        file: path.to_path_buf(),
        line,
        key: Some(format!("validators.files ({shown})")),
        message,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(None, format!("cannot read the validator file: {e} (check the path, relative to the config file)")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(
            None,
            format!(
                "the validator file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit: is it the right file?"
            ),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(None, format!("cannot read the validator file as text: {e}")))?;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let first = line.split([',', ';', '\t']).next().unwrap_or("").trim();
        let first = first.trim_matches('"');
        if first.is_empty() {
            continue;
        }
        parse_entry(first)
            .and_then(|e| b.add(e))
            .map_err(|m| fail(Some(n + 1), m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::schema::ValidatorId;
    use super::*;

    const KEY: &str = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";

    fn ids(v: &[ValidatorId]) -> Result<WatchedValidators, ConfigError> {
        resolve(v, &[], Path::new("/etc/vigil/vigil.toml"), Some(3))
    }

    #[test]
    fn ranges_indices_and_keys_merge_sorted_once() {
        let w = ids(&[
            ValidatorId::Text("5-7".into()),
            ValidatorId::Index(6),
            ValidatorId::Index(1),
            ValidatorId::Text(KEY.to_uppercase().replace("0X", "0x")),
            ValidatorId::Text(KEY.into()),
        ])
        .unwrap();
        assert_eq!(w.indices, vec![1, 5, 6, 7]);
        assert_eq!(w.pubkeys, vec![KEY.to_string()]);
        assert_eq!(w.describe(), "5 validators (4 by index, 1 by public key)");
    }

    #[test]
    fn bad_entries_name_the_element_and_the_fix() {
        let e = ids(&[ValidatorId::Index(1), ValidatorId::Text("9-3".into())]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("validators.ids[1]"));
        assert!(e.message.contains("backwards"), "{e}");
        let e = ids(&[ValidatorId::Text("0-99999999".into())]).unwrap_err();
        assert!(e.message.contains("more than"), "{e}");
        let e = ids(&[ValidatorId::Text("0xabc".into())]).unwrap_err();
        assert!(e.message.contains("neither a validator index"), "{e}");
    }

    #[test]
    fn files_take_one_entry_per_line_and_name_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("keys.txt");
        std::fs::write(
            &good,
            format!("# exported by the key manager\n{KEY}\n\n10-12\n42,extra column\n"),
        )
        .unwrap();
        let w = resolve(
            &[ValidatorId::Index(1)],
            &[(good, "keys.txt".into())],
            Path::new("/x/vigil.toml"),
            None,
        )
        .unwrap();
        assert_eq!(w.indices, vec![1, 10, 11, 12, 42]);
        assert_eq!(w.pubkeys.len(), 1);

        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "1\n2\nnot-a-key\n").unwrap();
        let e = resolve(
            &[],
            &[(bad.clone(), "bad.txt".into())],
            Path::new("/x/vigil.toml"),
            None,
        )
        .unwrap_err();
        assert_eq!(e.file, bad);
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("not-a-key"), "{e}");

        let missing = dir.path().join("missing.txt");
        let e = resolve(
            &[],
            &[(missing, "missing.txt".into())],
            Path::new("/x/vigil.toml"),
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("cannot read the validator file"), "{e}");
    }
}
