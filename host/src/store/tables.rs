//! Every table of the store and the schema version, in one place.
//!
//! A change to a key or value type, or to the meaning of a table, bumps
//! [`SCHEMA_VERSION`] and adds a migration step in [`super::Store::open`]. A store written
//! by a newer Vigil is refused rather than misread.

use redb::TableDefinition;

/// Version of the on-disk layout described in this module.
pub const SCHEMA_VERSION: u32 = 1;

/// Store-wide facts: `"schema_version"` → little-endian u32.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Plugin state: `(plugin name, key)` → bytes the plugin wrote with `state-set`.
/// Keyed by name, not file, so it survives reloads, upgrades and restarts.
pub const PLUGIN_STATE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_state");

/// Series identities: canonical `name{label="value",…}` (labels sorted) → series id.
pub const SERIES_KEYS: TableDefinition<&str, u64> = TableDefinition::new("series_keys");

/// Derived series points written by plugins: `(series id, Unix ms)` → value.
pub const SERIES_POINTS: TableDefinition<(u64, i64), f64> = TableDefinition::new("series_points");
