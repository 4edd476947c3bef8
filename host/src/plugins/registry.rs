//! The live plugin set and how it changes.
//!
//! The set is an immutable [`PluginSet`] behind an atomic pointer. An evaluation takes
//! the current set once and runs every subscribed plugin of it, so a swap never splits
//! an evaluation: each input is judged by exactly one version of each plugin, none
//! skipped, none twice. A new file is compiled and configured *before* the swap; if it
//! fails, the last good version keeps running and the error names the file.
//!
//! A plugin that fails [`Registry::quarantine_after`] calls in a row is quarantined: it
//! is skipped until its file changes (a new hash loads as a new plugin).

use super::PluginError;
use super::runtime::{Evaluated, Instance, PluginModule, Runtime};
use crate::contract::{Input, InputKind};
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a loaded plugin has been doing.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Health {
    pub calls: u64,
    pub failures_total: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    /// Time of the last evaluated input, Unix ms.
    pub last_run_ms: Option<i64>,
    pub last_duration_us: u64,
    pub quarantined: bool,
}

/// One plugin of the live set: its module, its configuration and its instance.
pub struct LoadedPlugin {
    pub module: Arc<PluginModule>,
    /// The `[plugin.<name>]` table as JSON, as passed to `configure`.
    pub config_json: String,
    instance: Mutex<Option<Instance>>,
    health: Mutex<Health>,
    quarantine_after: u32,
}

impl LoadedPlugin {
    fn new(
        module: Arc<PluginModule>,
        config_json: String,
        instance: Instance,
        quarantine_after: u32,
    ) -> LoadedPlugin {
        LoadedPlugin {
            module,
            config_json,
            instance: Mutex::new(Some(instance)),
            health: Mutex::new(Health::default()),
            quarantine_after,
        }
    }

    /// The manifest name.
    pub fn name(&self) -> &str {
        self.module.name()
    }

    /// True when the manifest subscribes to `kind`.
    pub fn subscribes(&self, kind: InputKind) -> bool {
        self.module.manifest.subscribes.contains(&kind)
    }

    /// A snapshot of its health.
    pub fn health(&self) -> Health {
        lock(&self.health).clone()
    }

    /// Lift a quarantine by hand (the dashboard's "reload"): the next input runs it
    /// on a fresh instance. `true` when it was quarantined.
    pub fn release(&self) -> bool {
        let mut h = lock(&self.health);
        let was = h.quarantined;
        h.quarantined = false;
        h.consecutive_failures = 0;
        drop(h);
        *lock(&self.instance) = None;
        was
    }

    /// Evaluate one input. A trapped instance is dropped, never re-entered; the next
    /// call instantiates afresh. Repeated failures quarantine the plugin.
    pub fn evaluate(
        &self,
        rt: &Runtime,
        input: &Input,
        now_ms: i64,
    ) -> Result<Evaluated, PluginError> {
        {
            let h = lock(&self.health);
            if h.quarantined {
                return Err(PluginError::Quarantined {
                    plugin: self.name().to_string(),
                    failures: h.consecutive_failures,
                    last: h.last_error.clone().unwrap_or_default(),
                });
            }
        }
        let mut slot = lock(&self.instance);
        let result = match slot.as_mut() {
            Some(inst) => inst.evaluate(rt, input, now_ms),
            None => match self.module.instantiate(rt, &self.config_json) {
                Ok(inst) => slot.insert(inst).evaluate(rt, input, now_ms),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = &result
            && e.poisons_instance()
        {
            *slot = None;
        }
        drop(slot);
        self.record(&result, now_ms);
        result
    }

    fn record(&self, result: &Result<Evaluated, PluginError>, now_ms: i64) {
        let mut h = lock(&self.health);
        h.calls += 1;
        h.last_run_ms = Some(now_ms);
        match result {
            Ok(ev) => {
                h.consecutive_failures = 0;
                h.last_duration_us = ev.duration.as_micros() as u64;
            }
            Err(e) => {
                h.failures_total += 1;
                h.consecutive_failures += 1;
                h.last_error = Some(e.to_string());
                tracing::error!(plugin = self.name(), kind = e.kind(), "{e}");
                if h.consecutive_failures >= self.quarantine_after && !h.quarantined {
                    h.quarantined = true;
                    tracing::error!(
                        plugin = self.name(),
                        file = %self.module.file.display(),
                        "plugin quarantined after {} consecutive failures; replace its file to run it again",
                        h.consecutive_failures
                    );
                }
            }
        }
    }
}

/// An immutable set of plugins; evaluations hold one for their whole duration.
#[derive(Default)]
pub struct PluginSet {
    pub plugins: Vec<Arc<LoadedPlugin>>,
    /// Increases at every swap.
    pub generation: u64,
}

impl PluginSet {
    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.iter().find(|p| p.name() == name)
    }
}

/// What one scan of the plugin folder changed.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub added: Vec<String>,
    pub replaced: Vec<String>,
    pub removed: Vec<String>,
    /// Files that failed to load; for a replaced file, the old version still runs.
    pub errors: Vec<PluginError>,
}

impl ScanReport {
    /// True when the live set changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty())
    }
}

/// The plugin folder, the live set and the configurations.
pub struct Registry {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    current: ArcSwap<PluginSet>,
    configs: Mutex<BTreeMap<String, String>>,
    /// Files that failed, by path, with the hash that failed: not retried until changed.
    file_errors: Mutex<BTreeMap<PathBuf, ([u8; 32], String)>>,
    quarantine_after: u32,
    /// One scan or reconfiguration at a time.
    change_lock: Mutex<()>,
}

impl Registry {
    /// A registry over `dir` with plugin configs by name (JSON). Call [`Registry::scan`]
    /// to load.
    pub fn new(
        runtime: Arc<Runtime>,
        dir: PathBuf,
        configs: BTreeMap<String, String>,
        quarantine_after: u32,
    ) -> Registry {
        Registry {
            runtime,
            dir,
            current: ArcSwap::from_pointee(PluginSet::default()),
            configs: Mutex::new(configs),
            file_errors: Mutex::new(BTreeMap::new()),
            quarantine_after: quarantine_after.max(1),
            change_lock: Mutex::new(()),
        }
    }

    /// The runtime plugins run on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The watched folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Failures in a row before quarantine.
    pub fn quarantine_after(&self) -> u32 {
        self.quarantine_after
    }

    /// The live set.
    pub fn current(&self) -> Arc<PluginSet> {
        self.current.load_full()
    }

    /// Files that failed to load and why.
    pub fn file_errors(&self) -> Vec<(PathBuf, String)> {
        lock(&self.file_errors)
            .iter()
            .map(|(p, (_, e))| (p.clone(), e.clone()))
            .collect()
    }

    fn config_for(&self, name: &str) -> String {
        lock(&self.configs)
            .get(name)
            .cloned()
            .unwrap_or_else(|| "{}".to_string())
    }

    /// Bring the live set in line with the folder: load new and changed files, drop
    /// removed ones. Unchanged files (same SHA-256) are not touched.
    pub fn scan(&self) -> ScanReport {
        let _guard = lock(&self.change_lock);
        let mut report = ScanReport::default();
        let old = self.current();
        let files = match list_wasm(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                report.errors.push(PluginError::Read {
                    file: self.dir.clone(),
                    reason: e,
                });
                return report;
            }
        };
        let by_path: BTreeMap<&Path, &Arc<LoadedPlugin>> = old
            .plugins
            .iter()
            .map(|p| (p.module.file.as_path(), p))
            .collect();
        let mut next: Vec<Arc<LoadedPlugin>> = Vec::new();
        // Newly loaded plugins, and whether each replaces a file already loaded.
        let mut fresh: Vec<(Arc<LoadedPlugin>, bool)> = Vec::new();
        for file in &files {
            let bytes = match std::fs::read(file) {
                Ok(b) => b,
                Err(_) => continue, // vanished between listing and reading: next scan decides
            };
            let hash: [u8; 32] =
                sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))
                    .into();
            let existing = by_path.get(file.as_path()).copied();
            if let Some(p) = existing.filter(|p| p.module.hash == hash) {
                next.push(p.clone());
                continue;
            }
            if lock(&self.file_errors)
                .get(file)
                .is_some_and(|(h, _)| *h == hash)
            {
                existing.inspect(|p| next.push((*p).clone()));
                continue;
            }
            match self.load(file, &bytes) {
                Ok(plugin) => {
                    lock(&self.file_errors).remove(file);
                    let plugin = Arc::new(plugin);
                    fresh.push((plugin.clone(), existing.is_some()));
                    next.push(plugin);
                }
                Err(e) => {
                    match existing {
                        Some(p) => {
                            tracing::error!(plugin = p.name(), file = %file.display(), "new version refused, the previous one keeps running: {e}");
                            next.push(p.clone());
                        }
                        None => tracing::error!(file = %file.display(), "plugin not loaded: {e}"),
                    }
                    lock(&self.file_errors).insert(file.clone(), (hash, e.to_string()));
                    report.errors.push(e);
                }
            }
        }
        for p in &old.plugins {
            if !files.contains(&p.module.file) {
                tracing::info!(plugin = p.name(), file = %p.module.file.display(), "plugin removed");
                report.removed.push(p.name().to_string());
            }
        }
        lock(&self.file_errors).retain(|f, _| files.contains(f));
        // Two files, one name: the one already running (or the first by path) wins.
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut deduped = Vec::new();
        next.sort_by_key(|p| {
            (
                !old.plugins.iter().any(|o| Arc::ptr_eq(o, p)),
                p.module.file.clone(),
            )
        });
        for p in next {
            if let Some(other) = seen.get(p.name()) {
                let e = PluginError::DuplicateName {
                    file: p.module.file.clone(),
                    name: p.name().to_string(),
                    other: other.clone(),
                };
                tracing::error!("{e}");
                lock(&self.file_errors)
                    .insert(p.module.file.clone(), (p.module.hash, e.to_string()));
                report.errors.push(e);
                continue;
            }
            seen.insert(p.name().to_string(), p.module.file.clone());
            deduped.push(p);
        }
        deduped.sort_by(|a, b| a.name().cmp(b.name()));
        for (p, replaces) in &fresh {
            if !deduped.iter().any(|d| Arc::ptr_eq(d, p)) {
                continue;
            }
            let (name, version, file) = (
                p.name(),
                &p.module.manifest.version,
                p.module.file.display(),
            );
            if *replaces {
                tracing::info!(plugin = name, %version, %file, "plugin replaced");
                report.replaced.push(name.to_string());
            } else {
                tracing::info!(plugin = name, %version, %file, "plugin loaded");
                report.added.push(name.to_string());
            }
        }
        let changed = deduped.len() != old.plugins.len()
            || deduped
                .iter()
                .zip(&old.plugins)
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        if changed {
            self.current.store(Arc::new(PluginSet {
                plugins: deduped,
                generation: old.generation + 1,
            }));
        }
        report
    }

    fn load(&self, file: &Path, bytes: &[u8]) -> Result<LoadedPlugin, PluginError> {
        let module = self.runtime.load_bytes(file, bytes)?;
        let config = self.config_for(module.name());
        let instance = module.instantiate(&self.runtime, &config)?;
        Ok(LoadedPlugin::new(
            Arc::new(module),
            config,
            instance,
            self.quarantine_after,
        ))
    }

    /// Check new plugin configurations against fresh instances; apply all of them
    /// atomically, or none. The error names the plugin and the key.
    pub fn apply_configs(&self, configs: BTreeMap<String, String>) -> Result<bool, PluginError> {
        let _guard = lock(&self.change_lock);
        let old = self.current();
        let mut next = Vec::with_capacity(old.plugins.len());
        let mut changed = false;
        for p in &old.plugins {
            let json = configs
                .get(p.name())
                .cloned()
                .unwrap_or_else(|| "{}".to_string());
            if json == p.config_json {
                next.push(p.clone());
                continue;
            }
            let instance = p.module.instantiate(&self.runtime, &json)?;
            next.push(Arc::new(LoadedPlugin::new(
                p.module.clone(),
                json,
                instance,
                self.quarantine_after,
            )));
            changed = true;
        }
        *lock(&self.configs) = configs;
        if changed {
            self.current.store(Arc::new(PluginSet {
                plugins: next,
                generation: old.generation + 1,
            }));
        }
        Ok(changed)
    }

    /// Check configurations without applying them (for `vigil config check`).
    pub fn check_configs(&self, configs: &BTreeMap<String, String>) -> Result<(), PluginError> {
        for p in &self.current().plugins {
            let json = configs.get(p.name()).map(String::as_str).unwrap_or("{}");
            p.module.instantiate(&self.runtime, json)?;
        }
        Ok(())
    }
}

/// The `.wasm` files directly in `dir`, sorted; hidden and temporary files skipped.
fn list_wasm(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list plugin folder: {e}"))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "wasm")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
                && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}
