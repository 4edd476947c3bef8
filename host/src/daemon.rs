//! `vigil run`: the long-running daemon.
//!
//! Owns the store, the plugin registry and the evaluator; watches the plugin folder and
//! the config file; samples nodes and the machine every `[collect] interval` and
//! evaluates the `node` plugins on a dedicated thread (plugin calls never run on the
//! async runtime). A config reload is validated whole — TOML, ranges, and every
//! plugin's table against the plugin itself — and applied atomically, or refused whole
//! with the running config kept and the file, line and key logged.

use crate::clock::now_ms;
use crate::collect::chain::{ChainCollector, Observation};
use crate::collect::execution::ExecutionCollector;
use crate::collect::system::SystemCollector;
use crate::config::{self, ConfigError, LoadedConfig};
use crate::contract::{Input, NodeInput};
use crate::evaluate::{Evaluation, Evaluator};
use crate::plugins::watch::{self, WatchHandle};
use crate::plugins::{PluginError, Registry, Runtime};
use crate::recorder::Recorder;
use crate::store::{Store, Writer, WriterConfig};
use anyhow::Context;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// The running daemon's parts.
pub struct Daemon {
    config: ArcSwap<LoadedConfig>,
    registry: Arc<Registry>,
    evaluator: Evaluator,
    store: Arc<Store>,
    writer: Writer,
    /// The latest findings, for the dashboard, `/metrics` and reports.
    findings: Arc<crate::findings::Findings>,
    /// The alert engine: lifecycle, grouping, routing, the durable outbox.
    alerts: Arc<crate::alerts::Engine>,
}

impl Daemon {
    /// Open the store, load the plugins and check their configuration. A plugin table
    /// that its plugin refuses stops the start, naming the line.
    pub fn start(cfg: LoadedConfig) -> anyhow::Result<Arc<Daemon>> {
        let store = Arc::new(Store::open(&cfg.store_path)?);
        let writer = Writer::spawn(store.clone(), WriterConfig::default())?;
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
        let findings = Arc::new(crate::findings::Findings::open(
            cfg.store_path.parent().unwrap_or(Path::new(".")),
        ));
        let alerts = crate::alerts::Engine::new(
            crate::alerts::Settings::from_loaded(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?,
            store.clone(),
            Arc::new(crate::clock::SystemClock),
        )?;
        Ok(Arc::new(Daemon {
            findings,
            evaluator: Evaluator::new(registry.clone(), Some(store.clone())),
            alerts,
            config: ArcSwap::from_pointee(cfg),
            registry,
            store,
            writer,
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

    /// The latest findings (dashboard snapshot).
    pub fn findings(&self) -> &Arc<crate::findings::Findings> {
        &self.findings
    }

    /// The alert engine.
    pub fn alerts(&self) -> &Arc<crate::alerts::Engine> {
        &self.alerts
    }

    /// What the dashboard reads: the config handle, store, alerts, findings, plugins.
    pub fn web_parts(self: &Arc<Self>) -> crate::web::Parts {
        crate::web::Parts {
            config: self.clone(),
            store: self.store.clone(),
            alerts: self.alerts.clone(),
            findings: self.findings.clone(),
            registry: self.registry.clone(),
        }
    }

    /// The store's writer (one batching task).
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Re-read the config file. `Ok(true)` when a new config was applied, `Ok(false)`
    /// when the file is unchanged, `Err` when refused (the running config stays).
    pub fn reload_config(&self) -> Result<bool, ConfigError> {
        let old = self.config();
        let new = load_config(&old.file)?;
        if new.source == old.source {
            return Ok(false);
        }
        let alert_settings = crate::alerts::Settings::from_loaded(&new)?;
        self.registry
            .apply_configs(new.plugin_configs())
            .map_err(|e| plugin_config_error(&new, e))?;
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
        self.alerts.reconfigure(alert_settings);
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

    /// Evaluate one input and hand the findings to the alert engine (which logs the
    /// conditions that appear or clear, and notifies).
    pub fn evaluate(&self, input: &Input, now_ms: i64) -> Evaluation {
        let ev = self.evaluator.evaluate(input, now_ms);
        self.findings.observe(input, &ev);
        self.alerts.observe(&ev);
        ev
    }
}

/// Resolve the watched validators (indices, ranges, files, public keys) to indices. A
/// public key the node does not know is skipped with a warning (a deposit not yet
/// processed); the count watched is logged once.
pub async fn resolve_validators(cfg: &LoadedConfig, http: &reqwest::Client) -> Vec<u64> {
    let listed = &cfg.validators;
    let mut out = listed.indices.clone();
    let api = cfg
        .config
        .beacon
        .first()
        .map(|n| crate::collect::beacon::BeaconApi::new(&n.url, http.clone()));
    let mut unresolved = 0usize;
    for k in &listed.pubkeys {
        let Some(api) = &api else {
            unresolved = listed.pubkeys.len();
            tracing::warn!(
                "no beacon node configured to resolve {} public key(s): add a [[beacon]] node",
                listed.pubkeys.len()
            );
            break;
        };
        match api.index_of(k).await {
            Ok(Some(i)) => out.push(i),
            Ok(None) => {
                unresolved += 1;
                tracing::warn!(pubkey = %k, "validator not on chain yet (deposit pending?): not watched until restart")
            }
            Err(e) => {
                unresolved += 1;
                tracing::warn!(pubkey = %k, "cannot resolve validator: {e}")
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    tracing::info!(
        watched = out.len(),
        unresolved,
        "watching {} validator(s); listed: {}",
        out.len(),
        listed.describe()
    );
    out
}

/// The node-side collectors that complete a consensus tick into a `node` input:
/// execution nodes, client `/metrics`, this machine.
pub struct NodeSide {
    execution: Vec<ExecutionCollector>,
    /// `(target name, url)` of every configured `metrics_url`.
    scrape: Vec<(String, String)>,
    /// Last scrape error per target, so a dead target is logged once, not every slot.
    scrape_errors: BTreeMap<String, String>,
    system: SystemCollector,
    http: reqwest::Client,
}

impl NodeSide {
    /// Collectors for the configured nodes.
    pub fn new(cfg: &LoadedConfig, http: reqwest::Client) -> NodeSide {
        let nodes = cfg.config.beacon.iter().chain(&cfg.config.execution);
        NodeSide {
            execution: cfg
                .config
                .execution
                .iter()
                .map(|n| ExecutionCollector::new(n, http.clone()))
                .collect(),
            scrape: nodes
                .filter_map(|n| n.metrics_url.clone().map(|u| (n.name.clone(), u)))
                .collect(),
            scrape_errors: BTreeMap::new(),
            system: SystemCollector::new(cfg.data_dirs.clone()),
            http,
        }
    }

    /// The execution chain id, once an execution node told it.
    pub fn chain_id(&self) -> Option<u64> {
        self.execution.iter().find_map(ExecutionCollector::chain_id)
    }

    /// Complete a tick: poll execution nodes and scrape metrics, concurrently.
    pub async fn complete(
        &mut self,
        timestamp_ms: i64,
        wall_slot: Option<u64>,
        consensus: Vec<crate::contract::ConsensusNode>,
        mut network: Option<crate::contract::NetworkInfo>,
    ) -> NodeInput {
        let http = self.http.clone();
        let scrapes = futures_util::future::join_all(
            self.scrape
                .iter()
                .map(|(t, u)| crate::collect::scrape::scrape(t, u, &http)),
        );
        let polls = futures_util::future::join_all(self.execution.iter_mut().map(|e| e.poll()));
        let (execution, scraped) = tokio::join!(polls, scrapes);
        let mut metrics = Vec::new();
        for ((target, _), result) in self.scrape.iter().zip(scraped) {
            match result {
                Ok(m) => {
                    if self.scrape_errors.remove(target).is_some() {
                        tracing::info!(target = %target, "metrics scrape works again");
                    }
                    metrics.push(m);
                }
                Err(e) => {
                    let msg = e.to_string();
                    if self
                        .scrape_errors
                        .insert(target.clone(), msg.clone())
                        .as_deref()
                        != Some(msg.as_str())
                    {
                        tracing::warn!(target = %target, "metrics scrape failed: {msg}");
                    }
                }
            }
        }
        if let Some(n) = network.as_mut() {
            n.chain_id = n.chain_id.or(self.chain_id());
        }
        NodeInput {
            network,
            timestamp_ms,
            wall_slot,
            consensus,
            execution,
            metrics,
            system: self.system.sample(),
        }
    }
}

/// Turn one collector observation into a plugin input.
async fn to_input(o: Observation, side: &mut NodeSide) -> Input {
    match o {
        Observation::Nodes {
            timestamp_ms,
            wall_slot,
            nodes,
            network,
        } => Input::Node(side.complete(timestamp_ms, wall_slot, nodes, network).await),
        Observation::Slot(s) => Input::Slot(s),
        Observation::Epoch { input, .. } => Input::Epoch(input),
        Observation::Reset(r) => Input::Reset(r),
    }
}

/// Resolves with the signal's name on the first SIGINT or SIGTERM. Registered at once.
fn stop_signal() -> anyhow::Result<tokio::sync::oneshot::Receiver<&'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        let _ = tx.send(name);
    });
    Ok(rx)
}

/// Read and check a config file with every check the running parts make of it: the
/// file itself ([`config::load`]), the alert settings (secrets not read: an operator's
/// shell need not hold the daemon's) and the dashboard's users. Plugin tables are
/// checked against the plugins by the caller that has them loaded.
pub fn load_config(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let cfg = config::load(path)?;
    check_loaded(&cfg)?;
    Ok(cfg)
}

/// [`load_config`] of a text not yet written (a dashboard edit).
pub fn load_config_str(path: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
    let cfg = config::load_str(path, text)?;
    check_loaded(&cfg)?;
    Ok(cfg)
}

fn check_loaded(cfg: &LoadedConfig) -> Result<(), ConfigError> {
    crate::alerts::Settings::from_loaded_with(cfg, crate::alerts::settings::Secrets::Skip)?;
    crate::web::auth::check_users(cfg)
}

impl config::ConfigHandle for Daemon {
    fn current(&self) -> Arc<LoadedConfig> {
        self.config()
    }

    fn check(&self, file: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
        let new = load_config_str(file, text)?;
        self.registry
            .check_configs(&new.plugin_configs())
            .map_err(|e| plugin_config_error(&new, e))?;
        Ok(new)
    }

    fn reload(&self) -> Result<bool, ConfigError> {
        self.reload_config()
    }
}

/// A plugin's refusal of its table, as a config error naming the line.
fn plugin_config_error(cfg: &LoadedConfig, e: PluginError) -> ConfigError {
    match e {
        PluginError::Config {
            plugin,
            key,
            message,
        } => cfg.plugin_error(&plugin, key.as_deref(), &message),
        other => ConfigError {
            file: cfg.file.clone(),
            line: None,
            key: None,
            message: other.to_string(),
        },
    }
}

/// `vigil run`.
pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::logging::init_logging(&cfg.config.log.level);
    let daemon = Daemon::start(cfg)?;
    let _watches = daemon.watch()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        // SIGINT (Ctrl-C) and SIGTERM (systemd, docker) stop cleanly: the handlers are
        // installed before anything else starts, so a signal during start-up or in the
        // middle of a tick is not lost (or fatal): the loop stops at its next turn.
        let mut stop = stop_signal()?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Input>(64);
        // Plugin calls are blocking: one evaluation thread, inputs in order.
        let evaluator = daemon.clone();
        let eval_thread = std::thread::Builder::new().name("vigil-evaluate".into()).spawn(move || {
            while let Some(input) = rx.blocking_recv() {
                let t = input.observed_at_ms();
                evaluator.evaluate(&input, t);
            }
        })?;
        // A dashboard that cannot start (port taken, unreadable token) is reported
        // loudly, but monitoring and alerting go on without it.
        let _web = if daemon.config().config.web.enabled {
            crate::web::serve(daemon.web_parts())
                .await
                .inspect_err(|e| {
                    tracing::error!("dashboard not started, monitoring goes on without it: {e:#}")
                })
                .ok()
        } else {
            None
        };
        let cfg = daemon.config();
        let http = crate::net::http_client().context("cannot build the HTTP client")?;
        // Alert delivery (outbox workers, group timers) and the CLI's control socket.
        let delivery = crate::channels::outbox::spawn(daemon.alerts().clone(), http.clone());
        let socket = daemon.alerts().settings().socket.clone();
        let control = tokio::spawn({
            let engine = daemon.alerts().clone();
            let socket = socket.clone();
            async move {
                if let Err(e) = crate::alerts::control::serve(engine, &socket).await {
                    tracing::error!(socket = %socket.display(), "control socket stopped (`vigil alerts` will open the store instead, which fails while vigil runs): {e}");
                }
            }
        });
        let mut side = NodeSide::new(&cfg, http.clone());
        let validators = resolve_validators(&cfg, &http).await;
        let nodes: Vec<(String, String)> = cfg.config.beacon.iter().map(|n| (n.name.clone(), n.url.clone())).collect();
        let mut chain = ChainCollector::new(&cfg.config.network.name, &nodes, &validators, http);
        tracing::info!(
            validators = validators.len(),
            beacon = %nodes.iter().map(|n| format!("{} ({})", n.0, crate::web::config_edit::redact_url(&n.1).unwrap_or_else(|| n.1.clone()))).collect::<Vec<_>>().join(", "),
            "watching; slot-paced once the chain is identified, else every {} s; Ctrl-C stops",
            cfg.collect_interval.as_secs_f64()
        );
        let mut recorder = Recorder::new(daemon.store().clone(), daemon.writer().clone());
        loop {
            let now = now_ms();
            let fallback = daemon.config().collect_interval.as_millis() as i64;
            let wait = (chain.next_tick_ms(now, fallback) - now).max(0) as u64;
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {
                    let mut observations = chain.tick(now_ms()).await;
                    if let Some(c) = chain.chain().cloned() {
                        match recorder.identify(&c, side.chain_id()).await {
                            Ok(Some((iteration, is_new))) => {
                                chain.set_iteration(iteration);
                                let seen_reset = observations.iter().any(|o| matches!(o, Observation::Reset(_)));
                                if is_new && iteration > 1 && !seen_reset {
                                    // A reset that happened while Vigil was not running.
                                    let mut info = c.info.clone();
                                    info.iteration = iteration;
                                    observations.push(Observation::Reset(crate::contract::ResetInput {
                                        previous: None,
                                        current: info,
                                        detected_at_ms: now_ms(),
                                    }));
                                }
                            }
                            Ok(None) => {}
                            Err(e) => tracing::error!("cannot record the network identity: {e}"),
                        }
                    }
                    for o in observations {
                        // Store first (by reference), then move the observation into
                        // the plugin input: epoch rows are not copied on the way.
                        let stored = match &o {
                            Observation::Nodes { .. } => None,
                            other => Some(recorder.record(other, None).await),
                        };
                        let input = to_input(o, &mut side).await;
                        let stored = match (&input, stored) {
                            (Input::Node(n), None) => recorder.record_node(n).await,
                            (_, Some(r)) => r,
                            (_, None) => Ok(()),
                        };
                        if let Err(e) = stored {
                            tracing::error!("collected data not stored (it still reaches the plugins): {e}");
                        }
                        if tx.try_send(input).is_err() {
                            tracing::warn!("plugins are falling behind: an input was dropped (evaluation queue full)");
                        }
                    }
                }
                signal = &mut stop => {
                    tracing::info!("{} received: stopping", signal.unwrap_or("signal"));
                    break;
                }
            }
        }
        if let Err(e) = daemon.writer().shutdown().await {
            tracing::error!("the store's writer stopped with an error: {e}");
        }
        drop(tx);
        let _ = eval_thread.join();
        delivery.stop();
        control.abort();
        let _ = std::fs::remove_file(&socket);
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
