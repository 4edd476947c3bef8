//! `vigil run`: the long-running daemon.
//!
//! Owns the store, the plugin registry and the evaluator; watches the plugin folder and
//! the config file; samples nodes and the machine every `[collect] interval` and
//! evaluates the `node` plugins on a dedicated thread (plugin calls never run on the
//! async runtime). A config reload is validated whole — TOML, ranges, and every
//! plugin's table against the plugin itself — and applied atomically, or refused whole
//! with the running config kept and the file, line and key logged.

use crate::collect::system::SystemCollector;
use crate::config::{self, ConfigError, LoadedConfig};
use crate::evaluate::{Evaluation, Evaluator};
use crate::plugins::types::{Input, NodeInput};
use crate::plugins::watch::{self, WatchHandle};
use crate::plugins::{PluginError, Registry, Runtime};
use crate::store::Store;
use anyhow::Context;
use arc_swap::ArcSwap;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall clock, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The running daemon's parts.
pub struct Daemon {
    config: ArcSwap<LoadedConfig>,
    registry: Arc<Registry>,
    evaluator: Evaluator,
    store: Arc<Store>,
    /// Conditions reported at the previous evaluation of each kind, to log changes.
    active: Mutex<BTreeSet<String>>,
}

impl Daemon {
    /// Open the store, load the plugins and check their configuration. A plugin table
    /// that its plugin refuses stops the start, naming the line.
    pub fn start(cfg: LoadedConfig) -> anyhow::Result<Arc<Daemon>> {
        let store = Arc::new(Store::open(&cfg.store_path)?);
        std::fs::create_dir_all(&cfg.plugins_dir).with_context(|| {
            format!(
                "cannot create the plugin folder {}",
                cfg.plugins_dir.display()
            )
        })?;
        let rt = Arc::new(Runtime::new(
            cfg.limits.clone(),
            Some(cfg.cache_dir.clone()),
            Some(store.clone()),
        )?);
        let registry = Arc::new(Registry::new(
            rt,
            cfg.plugins_dir.clone(),
            cfg.plugin_configs(),
            cfg.config.plugins.quarantine_after,
        ));
        let report = registry.scan();
        for e in &report.errors {
            if let PluginError::Config {
                plugin,
                key,
                message,
            } = e
            {
                anyhow::bail!("{}", cfg.plugin_error(plugin, key.as_deref(), message));
            }
        }
        let names: Vec<String> = registry
            .current()
            .plugins
            .iter()
            .map(|p| p.name().to_string())
            .collect();
        tracing::info!(
            store = %cfg.store_path.display(),
            plugins = %cfg.plugins_dir.display(),
            "started with {} plugin(s): {}",
            names.len(),
            if names.is_empty() { "none yet (vigil plugins build)".to_string() } else { names.join(", ") }
        );
        Ok(Arc::new(Daemon {
            evaluator: Evaluator::new(registry.clone(), Some(store.clone())),
            config: ArcSwap::from_pointee(cfg),
            registry,
            store,
            active: Mutex::new(BTreeSet::new()),
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<LoadedConfig> {
        self.config.load_full()
    }

    /// The plugin registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Re-read the config file. `Ok(true)` when a new config was applied, `Ok(false)`
    /// when the file is unchanged, `Err` when refused (the running config stays).
    pub fn reload_config(&self) -> Result<bool, ConfigError> {
        let old = self.config();
        let new = config::load(&old.file)?;
        if new.source == old.source {
            return Ok(false);
        }
        self.registry
            .apply_configs(new.plugin_configs())
            .map_err(|e| match e {
                PluginError::Config {
                    plugin,
                    key,
                    message,
                } => new.plugin_error(&plugin, key.as_deref(), &message),
                other => ConfigError {
                    file: new.file.clone(),
                    line: None,
                    key: None,
                    message: other.to_string(),
                },
            })?;
        let mut restart = Vec::new();
        if new.store_path != old.store_path {
            restart.push("[store] path");
        }
        if new.plugins_dir != old.plugins_dir {
            restart.push("[plugins] dir");
        }
        if new.limits != old.limits
            || new.cache_dir != old.cache_dir
            || new.config.plugins.quarantine_after != old.config.plugins.quarantine_after
        {
            restart.push("[plugins] sandbox limits");
        }
        if !restart.is_empty() {
            tracing::warn!(
                "config applied; restart vigil to apply {}",
                restart.join(", ")
            );
        }
        self.config.store(Arc::new(new));
        Ok(true)
    }

    /// Watch the plugin folder and the config file.
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<Vec<WatchHandle>> {
        let cfg = self.config();
        let registry = self.registry.clone();
        let plugins = watch::watch_dir(
            &cfg.plugins_dir,
            watch::is_plugin_file,
            watch::RESCAN,
            move || {
                registry.scan();
            },
        )?;
        let me = Arc::downgrade(self);
        let config_dir = cfg
            .file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let config = watch::watch_dir(
            config_dir,
            watch::same_file_name(&cfg.file),
            watch::RESCAN,
            move || {
                let Some(d) = me.upgrade() else { return };
                match d.reload_config() {
                    Ok(true) => {
                        tracing::info!(file = %d.config().file.display(), "config reloaded")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!("config change refused, the running config stays: {e}")
                    }
                }
            },
        )?;
        Ok(vec![plugins, config])
    }

    /// Evaluate one input and log the conditions that appeared or cleared.
    pub fn evaluate(&self, input: &Input, now_ms: i64) -> Evaluation {
        let ev = self.evaluator.evaluate(input, now_ms);
        let kind = format!("{:?}", ev.kind);
        let mut now_active = BTreeSet::new();
        for (plugin, a) in ev.alerts() {
            let subject: Vec<String> = a.subject.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let key = format!("{kind}|{plugin}|{}|{}", a.name, subject.join(","));
            if !self
                .active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&key)
            {
                tracing::warn!(plugin, alert = %a.name, severity = ?a.severity, subject = %subject.join(","), "{}", a.summary);
            }
            now_active.insert(key);
        }
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let prefix = format!("{kind}|");
        for gone in active
            .iter()
            .filter(|k| k.starts_with(&prefix) && !now_active.contains(*k))
        {
            tracing::info!(
                "cleared: {}",
                gone.trim_start_matches(&prefix).replace('|', " ")
            );
        }
        active.retain(|k| !k.starts_with(&prefix));
        active.extend(now_active);
        ev
    }
}

/// Build the `node` input of one tick.
fn node_tick(cfg: &LoadedConfig, system: &mut SystemCollector) -> NodeInput {
    let _ = cfg;
    NodeInput {
        network: None,
        timestamp_ms: now_ms(),
        wall_slot: None,
        consensus: Vec::new(),
        execution: Vec::new(),
        metrics: Vec::new(),
        system: system.sample(),
    }
}

/// `vigil run`.
pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::cli::init_logging(&cfg.config.log.level);
    let daemon = Daemon::start(cfg)?;
    let _watches = daemon.watch()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Input>(64);
        // Plugin calls are blocking: one evaluation thread, inputs in order.
        let evaluator = daemon.clone();
        let eval_thread = std::thread::Builder::new().name("vigil-evaluate".into()).spawn(move || {
            while let Some(input) = rx.blocking_recv() {
                let t = crate::cli::input_time_ms(&input);
                evaluator.evaluate(&input, t);
            }
        })?;
        let mut system = SystemCollector::new(daemon.config().data_dirs.clone());
        let mut interval = daemon.config().collect_interval;
        let mut ticker = tokio::time::interval(interval);
        tracing::info!("collecting every {} s; Ctrl-C stops", interval.as_secs_f64());
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let cfg = daemon.config();
                    if cfg.collect_interval != interval {
                        interval = cfg.collect_interval;
                        ticker = tokio::time::interval(interval);
                        ticker.tick().await;
                    }
                    let input = Input::Node(node_tick(&cfg, &mut system));
                    if tx.try_send(input).is_err() {
                        tracing::warn!("plugins are falling behind: a node tick was dropped (evaluation queue full)");
                    }
                }
                _ = tokio::signal::ctrl_c() => {
                    tracing::info!("stopping");
                    break;
                }
            }
        }
        drop(tx);
        let _ = eval_thread.join();
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
