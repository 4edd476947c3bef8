//! The configuration in force, as the parts above the daemon see it: read it, check a
//! candidate text as a reload would, or re-read the file and apply it. The daemon
//! implements it (it alone knows every check a config must pass: the alert settings,
//! the dashboard's users, every plugin's table); the web holds one to edit the config.

use super::{ConfigError, LoadedConfig};
use std::path::Path;
use std::sync::Arc;

/// Read, check and apply the configuration.
pub trait ConfigHandle: Send + Sync {
    /// The configuration in force.
    fn current(&self) -> Arc<LoadedConfig>;
    /// Parse and check `text` (as if read from `file`) with every check a reload makes,
    /// without applying it.
    fn check(&self, file: &Path, text: &str) -> Result<LoadedConfig, ConfigError>;
    /// Re-read the config file: `Ok(true)` when a new config was applied, `Ok(false)`
    /// when the file is unchanged, `Err` when refused (the running config stays).
    fn reload(&self) -> Result<bool, ConfigError>;
}
