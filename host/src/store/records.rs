//! Alert state and history, the delivery outbox, dead letters and silences: typed
//! access to their tables for `alerts/` and `channels/`. Values are opaque bytes here;
//! their owners define the coding. Each call is one durable transaction: a
//! notification is committed before any delivery attempt.

use super::tables::{
    ALERT_GROUPS, ALERT_HISTORY, ALERT_TIMELINE, ALERTS, DEAD_LETTERS, DELIVERY_LOG, META, OUTBOX,
    SILENCES,
};
use super::{Store, StoreError};
use redb::{ReadableTable, TableDefinition};

/// Key of the last outbox sequence number in `meta`.
const OUTBOX_SEQ_KEY: &str = "outbox_seq";
/// Key of the last alert timeline sequence number in `meta`.
const TIMELINE_SEQ_KEY: &str = "alert_timeline_seq";

/// One queued notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub receiver: String,
    pub seq: u64,
    pub notification: Vec<u8>,
}

impl Store {
    /// Set an alert's state.
    pub fn alert_put(&self, fingerprint: &str, state: &[u8]) -> Result<(), StoreError> {
        self.put_bytes(ALERTS, "writing alert state", fingerprint, state)
    }

    /// Forget an alert (resolved and past its history window).
    pub fn alert_remove(&self, fingerprint: &str) -> Result<(), StoreError> {
        self.remove_key(ALERTS, "deleting alert state", fingerprint)
    }

    /// Every alert's state, by fingerprint.
    pub fn alerts(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.all_bytes(ALERTS, "reading alert state")
    }

    /// Append an event to an alert's history at `ts_ms`.
    pub fn alert_history_append(
        &self,
        fingerprint: &str,
        ts_ms: i64,
        event: &[u8],
    ) -> Result<(), StoreError> {
        self.write("writing alert history", |tx| {
            let mut t = tx
                .open_table(ALERT_HISTORY)
                .map_err(self.io("opening table alert_history"))?;
            let seq = t
                .range((fingerprint, ts_ms, 0)..=(fingerprint, ts_ms, u32::MAX))
                .map_err(self.io("reading alert history"))?
                .next_back()
                .transpose()
                .map_err(self.io("reading alert history"))?
                .map_or(0, |(k, _)| k.value().2.saturating_add(1));
            t.insert((fingerprint, ts_ms, seq), event)
                .map_err(self.io("writing alert history"))?;
            Ok(())
        })
    }

    /// An alert's events in `[from_ms, to_ms]`, oldest first.
    pub fn alert_history(
        &self,
        fingerprint: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let tx = self.read()?;
        let t = tx
            .open_table(ALERT_HISTORY)
            .map_err(self.io("opening table alert_history"))?;
        let mut out = Vec::new();
        for row in t
            .range((fingerprint, from_ms, 0)..=(fingerprint, to_ms, u32::MAX))
            .map_err(self.io("reading alert history"))?
        {
            let (k, v) = row.map_err(self.io("reading alert history"))?;
            out.push((k.value().1, v.value().to_vec()));
        }
        Ok(out)
    }

    /// Queue a notification for `receiver`; its sequence number.
    pub fn outbox_push(&self, receiver: &str, notification: &[u8]) -> Result<u64, StoreError> {
        self.write("queueing a notification", |tx| {
            let mut meta = tx.open_table(META).map_err(self.io("opening table meta"))?;
            let seq = meta
                .get(OUTBOX_SEQ_KEY)
                .map_err(self.io("reading the outbox sequence"))?
                .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
                .map_or(0, u64::from_le_bytes)
                + 1;
            meta.insert(OUTBOX_SEQ_KEY, seq.to_le_bytes().as_slice())
                .map_err(self.io("writing the outbox sequence"))?;
            tx.open_table(OUTBOX)
                .map_err(self.io("opening table outbox"))?
                .insert((receiver, seq), notification)
                .map_err(self.io("queueing a notification"))?;
            Ok(seq)
        })
    }

    /// The oldest `limit` pending notifications of `receiver`.
    pub fn outbox_pending(
        &self,
        receiver: &str,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.queue(OUTBOX, receiver, limit)
    }

    /// Notifications `receiver` gave up on.
    pub fn dead_letters(
        &self,
        receiver: &str,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.queue(DEAD_LETTERS, receiver, limit)
    }

    /// Delivered: remove from the outbox. `false` if it was not there.
    pub fn outbox_delivered(&self, receiver: &str, seq: u64) -> Result<bool, StoreError> {
        self.write("removing a delivered notification", |tx| {
            Ok(tx
                .open_table(OUTBOX)
                .map_err(self.io("opening table outbox"))?
                .remove((receiver, seq))
                .map_err(self.io("removing a delivered notification"))?
                .is_some())
        })
    }

    /// Given up: move from the outbox to the dead letters, as `with_error` (the
    /// notification and its last error, coded by the caller). `false` if it was not
    /// in the outbox.
    pub fn outbox_dead_letter(
        &self,
        receiver: &str,
        seq: u64,
        with_error: &[u8],
    ) -> Result<bool, StoreError> {
        self.move_queued(
            "dead-lettering a notification",
            OUTBOX,
            DEAD_LETTERS,
            (receiver, seq),
            with_error,
        )
    }

    /// Create or replace a silence.
    pub fn silence_put(&self, id: &str, silence: &[u8]) -> Result<(), StoreError> {
        self.put_bytes(SILENCES, "writing a silence", id, silence)
    }

    /// Remove a silence (expired or deleted).
    pub fn silence_remove(&self, id: &str) -> Result<(), StoreError> {
        self.remove_key(SILENCES, "deleting a silence", id)
    }

    /// Every silence, by id.
    pub fn silences(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.all_bytes(SILENCES, "reading silences")
    }

    fn put_bytes(
        &self,
        table: TableDefinition<&str, &[u8]>,
        what: &'static str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.write(what, |tx| {
            tx.open_table(table)
                .map_err(self.io(what))?
                .insert(key, value)
                .map_err(self.io(what))?;
            Ok(())
        })
    }

    fn remove_key(
        &self,
        table: TableDefinition<&str, &[u8]>,
        what: &'static str,
        key: &str,
    ) -> Result<(), StoreError> {
        self.write(what, |tx| {
            tx.open_table(table)
                .map_err(self.io(what))?
                .remove(key)
                .map_err(self.io(what))?;
            Ok(())
        })
    }

    fn all_bytes(
        &self,
        table: TableDefinition<&str, &[u8]>,
        what: &'static str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let tx = self.read()?;
        let t = tx.open_table(table).map_err(self.io(what))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(self.io(what))? {
            let (k, v) = row.map_err(self.io(what))?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn queue(
        &self,
        table: TableDefinition<(&str, u64), &[u8]>,
        receiver: &str,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let tx = self.read()?;
        let t = tx
            .open_table(table)
            .map_err(self.io("opening a delivery queue"))?;
        let mut out = Vec::new();
        for row in t
            .range((receiver, 0)..=(receiver, u64::MAX))
            .map_err(self.io("reading a delivery queue"))?
            .take(limit)
        {
            let (k, v) = row.map_err(self.io("reading a delivery queue"))?;
            out.push(OutboxEntry {
                receiver: receiver.to_string(),
                seq: k.value().1,
                notification: v.value().to_vec(),
            });
        }
        Ok(out)
    }
}

/// Everything one step of the alert engine changes, committed in one transaction:
/// alert states, history events, notification groups and new outbox entries.
#[derive(Debug, Default)]
pub struct AlertsBatch {
    pub alert_puts: Vec<(String, Vec<u8>)>,
    pub alert_removes: Vec<String>,
    /// `(fingerprint, Unix ms, event)`.
    pub history: Vec<(String, i64, Vec<u8>)>,
    pub group_puts: Vec<(String, Vec<u8>)>,
    pub group_removes: Vec<String>,
    /// `(receiver, notification)`: sequence numbers are assigned in order.
    pub outbox: Vec<(String, Vec<u8>)>,
}

impl AlertsBatch {
    pub fn is_empty(&self) -> bool {
        self.alert_puts.is_empty()
            && self.alert_removes.is_empty()
            && self.history.is_empty()
            && self.group_puts.is_empty()
            && self.group_removes.is_empty()
            && self.outbox.is_empty()
    }
}

impl Store {
    /// Commit one engine step durably; the sequence numbers of its outbox entries.
    pub fn alerts_commit(&self, b: &AlertsBatch) -> Result<Vec<u64>, StoreError> {
        self.write("committing alert state", |tx| {
            {
                let mut t = tx
                    .open_table(ALERTS)
                    .map_err(self.io("opening table alerts"))?;
                for (k, v) in &b.alert_puts {
                    t.insert(k.as_str(), v.as_slice())
                        .map_err(self.io("writing alert state"))?;
                }
                for k in &b.alert_removes {
                    t.remove(k.as_str())
                        .map_err(self.io("deleting alert state"))?;
                }
            }
            {
                let mut t = tx
                    .open_table(ALERT_HISTORY)
                    .map_err(self.io("opening table alert_history"))?;
                for (fp, ts, ev) in &b.history {
                    let seq = t
                        .range((fp.as_str(), *ts, 0)..=(fp.as_str(), *ts, u32::MAX))
                        .map_err(self.io("reading alert history"))?
                        .next_back()
                        .transpose()
                        .map_err(self.io("reading alert history"))?
                        .map_or(0, |(k, _)| k.value().2.saturating_add(1));
                    t.insert((fp.as_str(), *ts, seq), ev.as_slice())
                        .map_err(self.io("writing alert history"))?;
                }
            }
            if !b.history.is_empty() {
                let mut meta = tx.open_table(META).map_err(self.io("opening table meta"))?;
                let mut seq = meta
                    .get(TIMELINE_SEQ_KEY)
                    .map_err(self.io("reading the timeline sequence"))?
                    .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
                    .map_or(0, u64::from_le_bytes);
                let mut t = tx
                    .open_table(ALERT_TIMELINE)
                    .map_err(self.io("opening table alert_timeline"))?;
                for (_, ts, ev) in &b.history {
                    seq += 1;
                    t.insert((*ts, seq), ev.as_slice())
                        .map_err(self.io("writing the alert timeline"))?;
                }
                meta.insert(TIMELINE_SEQ_KEY, seq.to_le_bytes().as_slice())
                    .map_err(self.io("writing the timeline sequence"))?;
            }
            {
                let mut t = tx
                    .open_table(ALERT_GROUPS)
                    .map_err(self.io("opening table alert_groups"))?;
                for (k, v) in &b.group_puts {
                    t.insert(k.as_str(), v.as_slice())
                        .map_err(self.io("writing a notification group"))?;
                }
                for k in &b.group_removes {
                    t.remove(k.as_str())
                        .map_err(self.io("deleting a notification group"))?;
                }
            }
            let mut seqs = Vec::new();
            if !b.outbox.is_empty() {
                let mut meta = tx.open_table(META).map_err(self.io("opening table meta"))?;
                let mut seq = meta
                    .get(OUTBOX_SEQ_KEY)
                    .map_err(self.io("reading the outbox sequence"))?
                    .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
                    .map_or(0, u64::from_le_bytes);
                let mut t = tx
                    .open_table(OUTBOX)
                    .map_err(self.io("opening table outbox"))?;
                for (r, n) in &b.outbox {
                    seq += 1;
                    t.insert((r.as_str(), seq), n.as_slice())
                        .map_err(self.io("queueing a notification"))?;
                    seqs.push(seq);
                }
                meta.insert(OUTBOX_SEQ_KEY, seq.to_le_bytes().as_slice())
                    .map_err(self.io("writing the outbox sequence"))?;
            }
            Ok(seqs)
        })
    }

    /// Every notification group's state.
    pub fn alert_groups(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.all_bytes(ALERT_GROUPS, "reading notification groups")
    }

    /// The newest `limit` history events of all alerts, oldest first: `(Unix ms, event)`.
    pub fn alert_history_all(&self, limit: usize) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let tx = self.read()?;
        let t = tx
            .open_table(ALERT_TIMELINE)
            .map_err(self.io("opening table alert_timeline"))?;
        let mut out = Vec::new();
        for row in t
            .iter()
            .map_err(self.io("reading the alert timeline"))?
            .rev()
            .take(limit)
        {
            let (k, v) = row.map_err(self.io("reading the alert timeline"))?;
            out.push((k.value().0, v.value().to_vec()));
        }
        out.reverse();
        Ok(out)
    }

    /// Delete history events and delivery-log rows older than `before_ms` (the
    /// delivery log by the caller's `is_old` on its bytes). How many rows went.
    pub fn alert_history_prune(
        &self,
        before_ms: i64,
        is_old: impl Fn(&[u8]) -> bool,
    ) -> Result<usize, StoreError> {
        self.write("pruning alert history", |tx| {
            let mut n = 0;
            let mut t = tx
                .open_table(ALERT_HISTORY)
                .map_err(self.io("opening table alert_history"))?;
            let old: Vec<(String, i64, u32)> = t
                .iter()
                .map_err(self.io("reading alert history"))?
                .filter_map(|r| r.ok())
                .map(|(k, _)| {
                    let (f, ts, s) = k.value();
                    (f.to_string(), ts, s)
                })
                .filter(|(_, ts, _)| *ts < before_ms)
                .collect();
            for (f, ts, s) in &old {
                t.remove((f.as_str(), *ts, *s))
                    .map_err(self.io("pruning alert history"))?;
                n += 1;
            }
            {
                let mut tl = tx
                    .open_table(ALERT_TIMELINE)
                    .map_err(self.io("opening table alert_timeline"))?;
                let old: Vec<(i64, u64)> = tl
                    .range(..(before_ms, 0))
                    .map_err(self.io("reading the alert timeline"))?
                    .filter_map(|r| r.ok())
                    .map(|(k, _)| k.value())
                    .collect();
                for k in old {
                    tl.remove(k)
                        .map_err(self.io("pruning the alert timeline"))?;
                }
            }
            let mut d = tx
                .open_table(DELIVERY_LOG)
                .map_err(self.io("opening table delivery_log"))?;
            let old: Vec<(String, u64)> = d
                .iter()
                .map_err(self.io("reading the delivery log"))?
                .filter_map(|r| r.ok())
                .filter(|(_, v)| is_old(v.value()))
                .map(|(k, _)| (k.value().0.to_string(), k.value().1))
                .collect();
            for (r, s) in &old {
                d.remove((r.as_str(), *s))
                    .map_err(self.io("pruning the delivery log"))?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Replace a queued notification (its attempts and next attempt). `false` if it is
    /// no longer queued.
    pub fn outbox_update(
        &self,
        receiver: &str,
        seq: u64,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        self.write("updating a queued notification", |tx| {
            let mut t = tx
                .open_table(OUTBOX)
                .map_err(self.io("opening table outbox"))?;
            let there = t
                .get((receiver, seq))
                .map_err(self.io("reading the outbox"))?
                .is_some();
            if there {
                t.insert((receiver, seq), bytes)
                    .map_err(self.io("updating a queued notification"))?;
            }
            Ok(there)
        })
    }

    /// Delivered: move from the outbox to the delivery log as `bytes`.
    pub fn outbox_finish(
        &self,
        receiver: &str,
        seq: u64,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        self.move_queued(
            "recording a delivered notification",
            OUTBOX,
            DELIVERY_LOG,
            (receiver, seq),
            bytes,
        )
    }

    /// Retry a dead letter: move it back into the outbox (same sequence) as `bytes`.
    /// `false` if there is no such dead letter.
    pub fn dead_letter_retry(
        &self,
        receiver: &str,
        seq: u64,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        self.move_queued(
            "re-queueing a dead letter",
            DEAD_LETTERS,
            OUTBOX,
            (receiver, seq),
            bytes,
        )
    }

    /// Move entry `key` from queue table `from` to `to` as `bytes`, in one transaction.
    /// `false` (and nothing written) when `from` has no such entry.
    fn move_queued(
        &self,
        what: &'static str,
        from: TableDefinition<(&str, u64), &[u8]>,
        to: TableDefinition<(&str, u64), &[u8]>,
        key: (&str, u64),
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        self.write(what, |tx| {
            let was = tx
                .open_table(from)
                .map_err(self.io("opening a queue table"))?
                .remove(key)
                .map_err(self.io(what))?
                .is_some();
            if was {
                tx.open_table(to)
                    .map_err(self.io("opening a queue table"))?
                    .insert(key, bytes)
                    .map_err(self.io(what))?;
            }
            Ok(was)
        })
    }

    /// Every queued notification, by receiver then sequence.
    pub fn outbox_all(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.all_queue(OUTBOX)
    }

    /// Every dead letter, by receiver then sequence.
    pub fn dead_letters_all(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.all_queue(DEAD_LETTERS)
    }

    /// The delivery log, by receiver then sequence.
    pub fn delivery_log(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.all_queue(DELIVERY_LOG)
    }

    /// The receivers that have queued notifications.
    pub fn outbox_receivers(&self) -> Result<Vec<String>, StoreError> {
        let mut r: Vec<String> = self.outbox_all()?.into_iter().map(|e| e.receiver).collect();
        r.dedup();
        Ok(r)
    }

    fn all_queue(
        &self,
        table: TableDefinition<(&str, u64), &[u8]>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let tx = self.read()?;
        let t = tx
            .open_table(table)
            .map_err(self.io("opening a delivery queue"))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(self.io("reading a delivery queue"))? {
            let (k, v) = row.map_err(self.io("reading a delivery queue"))?;
            out.push(OutboxEntry {
                receiver: k.value().0.to_string(),
                seq: k.value().1,
                notification: v.value().to_vec(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.redb");
        {
            let s = Store::open(&path).unwrap();
            s.alert_put("fp1", b"firing").unwrap();
            s.alert_put("fp2", b"pending").unwrap();
            s.alert_remove("fp2").unwrap();
            s.alert_history_append("fp1", 10, b"pending").unwrap();
            s.alert_history_append("fp1", 10, b"firing").unwrap();
            s.alert_history_append("fp1", 20, b"resolved").unwrap();
            assert_eq!(s.outbox_push("hook", b"n1").unwrap(), 1);
            assert_eq!(s.outbox_push("mail", b"n2").unwrap(), 2);
            assert_eq!(s.outbox_push("hook", b"n3").unwrap(), 3);
            assert!(s.outbox_delivered("hook", 1).unwrap());
            assert!(!s.outbox_delivered("hook", 1).unwrap());
            assert!(s.outbox_dead_letter("mail", 2, b"n2: 550").unwrap());
            s.silence_put("s1", b"node=bn1").unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.alerts().unwrap(),
            vec![("fp1".to_string(), b"firing".to_vec())]
        );
        assert_eq!(
            s.alert_history("fp1", 0, 15).unwrap(),
            vec![(10, b"pending".to_vec()), (10, b"firing".to_vec())]
        );
        let pending = s.outbox_pending("hook", 10).unwrap();
        assert_eq!(pending.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
        assert!(s.outbox_pending("mail", 10).unwrap().is_empty());
        assert_eq!(
            s.dead_letters("mail", 10).unwrap()[0].notification,
            b"n2: 550"
        );
        // Sequences keep increasing after a restart.
        assert_eq!(s.outbox_push("hook", b"n4").unwrap(), 4);
        assert_eq!(s.silences().unwrap().len(), 1);
        s.silence_remove("s1").unwrap();
        assert!(s.silences().unwrap().is_empty());
    }
}
