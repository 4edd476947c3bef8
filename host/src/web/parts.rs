//! The parts of the running daemon the web reads, and nothing more: the configuration
//! (through a handle that can check and apply an edit), the store, the alert engine, the
//! findings snapshot and the plugin registry. The daemon builds one and hands it to
//! [`super::serve`]; tests and benches build one from their own parts.

use crate::alerts::Engine;
use crate::config::{ConfigError, ConfigHandle, LoadedConfig};
use crate::findings::Findings;
use crate::plugins::Registry;
use crate::store::Store;
use std::path::Path;
use std::sync::Arc;

/// What every page, API call and `/metrics` scrape reads.
#[derive(Clone)]
pub struct Parts {
    pub config: Arc<dyn ConfigHandle>,
    pub store: Arc<Store>,
    pub alerts: Arc<Engine>,
    pub findings: Arc<Findings>,
    pub registry: Arc<Registry>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts").finish_non_exhaustive()
    }
}

impl Parts {
    /// The configuration in force.
    pub fn config(&self) -> Arc<LoadedConfig> {
        self.config.current()
    }

    /// The store (reads; writes go through the daemon's writer).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The alert engine: state, silences, acknowledgements.
    pub fn alerts(&self) -> &Arc<Engine> {
        &self.alerts
    }

    /// The latest findings snapshot.
    pub fn findings(&self) -> &Arc<Findings> {
        &self.findings
    }

    /// The plugin registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Check a candidate config text as a reload would, without applying it.
    pub fn check_config(&self, file: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
        self.config.check(file, text)
    }

    /// Re-read the config file and apply it (see [`ConfigHandle::reload`]).
    pub fn reload_config(&self) -> Result<bool, ConfigError> {
        self.config.reload()
    }
}
