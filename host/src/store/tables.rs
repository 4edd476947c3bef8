//! Every table of the store and the schema version, in one place.
//!
//! A change to a key or value type, or to the meaning of a table, bumps
//! [`SCHEMA_VERSION`] and adds a step to [`super::migrate`]. A store written by a newer
//! Vigil is refused rather than misread.
//!
//! ## Migration path
//! `Store::open` reads `meta["schema_version"]` and runs each step from the found version
//! up to [`SCHEMA_VERSION`], oldest first, all in the opening transaction: a crash
//! mid-migration leaves the old schema intact and the next open starts over.
//! - 1 → 2: raw `series_points` rows became chunked series (`series_info`,
//!   `series_open`, `series_chunks`); the rows are re-written as free (unsnapped)
//!   series and the old table deleted. New tables are created empty.
//!
//! Every row that depends on the network carries its iteration ([`ITERATIONS`]):
//! outcome keys start with it, series chunks record it in their header.

use redb::TableDefinition;

/// Version of the on-disk layout described in this module.
pub const SCHEMA_VERSION: u32 = 2;

/// Store-wide facts: `"schema_version"` → little-endian u32; `"current_iteration"` →
/// little-endian u32.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Plugin state: `(plugin name, key)` → bytes the plugin wrote with `state-set`.
/// Keyed by name, not file, so it survives reloads, upgrades and restarts.
pub const PLUGIN_STATE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_state");

/// Network iterations (Ephemery resets, a new devnet): iteration number (from 1) →
/// identity, chain spec and first-seen time (see `iterations.rs` for the coding).
pub const ITERATIONS: TableDefinition<u32, &[u8]> = TableDefinition::new("iterations");

/// Series identities: canonical `name{label="value",…}` (labels sorted) → series id.
pub const SERIES_KEYS: TableDefinition<&str, u64> = TableDefinition::new("series_keys");

/// Series by id: id → (kind: 0 free, 1 slot-aligned; canonical key). The reverse of
/// [`SERIES_KEYS`], and the list retention walks.
pub const SERIES_INFO: TableDefinition<u64, (u8, &str)> = TableDefinition::new("series_info");

/// The open (appendable) chunk of each series: id → coder state + bits. Small and hot;
/// sealed into [`SERIES_CHUNKS`] in the same transaction when full.
pub const SERIES_OPEN: TableDefinition<u64, &[u8]> = TableDefinition::new("series_open");

/// Sealed raw chunks: `(series id, first timestamp ms)` → Gorilla-coded chunk
/// (`codec.rs`). Chunks of one series never overlap in time.
pub const SERIES_CHUNKS: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("series_chunks");

/// Hourly rollups of raw chunks past retention: `(series id, first hour ms)` → a
/// multi-column chunk (hour, min, max, mean, last, count), one per rollup span.
pub const SERIES_ROLLUPS: TableDefinition<(u64, i64), &[u8]> =
    TableDefinition::new("series_rollups");

/// Per-validator epoch outcomes: `(iteration, epoch, first validator of the block)` →
/// a block of consecutive validators' rows (`outcomes.rs`). One epoch of all validators
/// is one contiguous range.
pub const OUTCOMES: TableDefinition<(u32, u64, u64), &[u8]> = TableDefinition::new("outcomes");

/// Alert state by fingerprint (name + subject labels) → the lifecycle's state bytes
/// (pending/firing/resolved, since, last notified). Owned by `alerts/`.
pub const ALERTS: TableDefinition<&str, &[u8]> = TableDefinition::new("alerts");

/// Alert history: `(fingerprint, Unix ms, sequence within that ms)` → event bytes.
/// The sequence keeps two transitions in one millisecond apart.
pub const ALERT_HISTORY: TableDefinition<(&str, i64, u32), &[u8]> =
    TableDefinition::new("alert_history");

/// Pending deliveries: `(receiver, sequence)` → notification bytes, committed before
/// any attempt. Sequences increase per store, so a receiver's range is its queue.
pub const OUTBOX: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("outbox");

/// Deliveries that gave up: `(receiver, sequence)` → notification bytes with the last
/// error. Never silently dropped; an operator can retry or delete them.
pub const DEAD_LETTERS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("dead_letters");

/// Silences by id → silence bytes (matchers, start, end, author, comment).
pub const SILENCES: TableDefinition<&str, &[u8]> = TableDefinition::new("silences");

/// Notification groups of the alert engine: group key → what was last notified and
/// when (so a restart neither re-sends nor forgets). Owned by `alerts/`.
pub const ALERT_GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("alert_groups");

/// Delivered notifications with their attempts: `(receiver, sequence)` → the outbox
/// item as delivered. The delivery log; pruned with the alert history.
pub const DELIVERY_LOG: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("delivery_log");

/// Every alert's history in time order: `(Unix ms, sequence)` → the same event bytes
/// as in [`ALERT_HISTORY`] (which is keyed by alert). Serves "the newest N events of
/// all alerts" (the dashboard feed) without a scan.
pub const ALERT_TIMELINE: TableDefinition<(i64, u64), &[u8]> =
    TableDefinition::new("alert_timeline");

/// Every current table, for creation at open. Keep in step with the definitions above.
pub(super) fn create_all(tx: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    tx.open_table(META)?;
    tx.open_table(PLUGIN_STATE)?;
    tx.open_table(ITERATIONS)?;
    tx.open_table(SERIES_KEYS)?;
    tx.open_table(SERIES_INFO)?;
    tx.open_table(SERIES_OPEN)?;
    tx.open_table(SERIES_CHUNKS)?;
    tx.open_table(SERIES_ROLLUPS)?;
    tx.open_table(OUTCOMES)?;
    tx.open_table(ALERTS)?;
    tx.open_table(ALERT_HISTORY)?;
    tx.open_table(OUTBOX)?;
    tx.open_table(DEAD_LETTERS)?;
    tx.open_table(SILENCES)?;
    tx.open_table(ALERT_GROUPS)?;
    tx.open_table(DELIVERY_LOG)?;
    tx.open_table(ALERT_TIMELINE)?;
    Ok(())
}

/// Tables of older schemas, kept only so migrations can read them.
pub(super) mod legacy {
    use redb::TableDefinition;

    /// Schema 1: raw derived-series rows `(series id, Unix ms)` → value.
    pub(in crate::store) const SERIES_POINTS_V1: TableDefinition<(u64, i64), f64> =
        TableDefinition::new("series_points");
}
