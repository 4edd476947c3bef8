//! Every configuration key, with its default and meaning.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `vigil.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which network this instance watches.
    #[serde(default)]
    pub network: NetworkConfig,
    /// The embedded store.
    #[serde(default)]
    pub store: StoreConfig,
    /// The plugin folder and the sandbox.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// Per-plugin configuration: `[plugin.<name>]`, handed to that plugin's `configure`.
    #[serde(default)]
    pub plugin: BTreeMap<String, toml::Table>,
    /// Consensus (beacon) nodes, primary first.
    #[serde(default = "default_beacon")]
    pub beacon: Vec<NodeConfig>,
    /// Execution nodes.
    #[serde(default = "default_execution")]
    pub execution: Vec<NodeConfig>,
    /// The validators to watch.
    #[serde(default)]
    pub validators: ValidatorsConfig,
    /// Collection timing.
    #[serde(default)]
    pub collect: CollectConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Dashboard, JSON API, `/metrics` and remote write.
    #[serde(default)]
    pub web: super::web::WebConfig,
    /// Alert lifecycle, grouping and the root route.
    #[serde(default)]
    pub alerting: super::alerting::AlertingConfig,
    /// Notification receivers.
    #[serde(default)]
    pub receiver: Vec<super::alerting::ReceiverConfig>,
    /// Routes under the root (`[alerting]`), tried in order.
    #[serde(default)]
    pub route: Vec<super::alerting::RouteConfig>,
    /// Inhibition rules (in addition to the default one).
    #[serde(default)]
    pub inhibit: Vec<super::alerting::InhibitConfig>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            network: NetworkConfig::default(),
            store: StoreConfig::default(),
            plugins: PluginsConfig::default(),
            plugin: BTreeMap::new(),
            beacon: default_beacon(),
            execution: default_execution(),
            validators: ValidatorsConfig::default(),
            collect: CollectConfig::default(),
            log: LogConfig::default(),
            web: super::web::WebConfig::default(),
            alerting: Default::default(),
            receiver: Vec::new(),
            route: Vec::new(),
            inhibit: Vec::new(),
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// A name for humans and labels ("mainnet", "holesky", "ephemery").
    #[serde(default = "default_network_name")]
    pub name: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            name: default_network_name(),
        }
    }
}

fn default_network_name() -> String {
    "mainnet".into()
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The redb file; relative to the config file's folder.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_store_path(),
        }
    }
}

fn default_store_path() -> PathBuf {
    "vigil.redb".into()
}

/// `[plugins]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Folder of `.wasm` plugins, watched for changes; relative to the config file.
    #[serde(default = "default_plugins_dir")]
    pub dir: PathBuf,
    /// Folder for compiled plugins; default: `plugin-cache` beside the store.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Memory cap per plugin instance, MiB (1-4096).
    #[serde(default = "default_memory_limit_mib")]
    pub memory_limit_mib: u64,
    /// Wall-clock budget of one plugin call, e.g. "1s", "250ms" (1 ms - 60 s).
    #[serde(default = "default_cpu_deadline")]
    pub cpu_deadline: String,
    /// Largest output of one call, KiB (1-1048576).
    #[serde(default = "default_max_output_kib")]
    pub max_output_kib: u64,
    /// Host calls (log, state, query, now) allowed in one call (1-10000000).
    #[serde(default = "default_max_host_calls")]
    pub max_host_calls: u32,
    /// Consecutive failures before a plugin is quarantined until its file changes (1-1000).
    #[serde(default = "default_quarantine_after")]
    pub quarantine_after: u32,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: default_plugins_dir(),
            cache_dir: None,
            memory_limit_mib: default_memory_limit_mib(),
            cpu_deadline: default_cpu_deadline(),
            max_output_kib: default_max_output_kib(),
            max_host_calls: default_max_host_calls(),
            quarantine_after: default_quarantine_after(),
        }
    }
}

fn default_plugins_dir() -> PathBuf {
    "plugins".into()
}
fn default_memory_limit_mib() -> u64 {
    64
}
fn default_cpu_deadline() -> String {
    "1s".into()
}
fn default_max_output_kib() -> u64 {
    16 * 1024
}
fn default_max_host_calls() -> u32 {
    10_000
}
/// Three strikes: one failure can be a bad input, three in a row is a broken plugin.
fn default_quarantine_after() -> u32 {
    3
}

/// A node: `[[beacon]]` or `[[execution]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Name used in logs, labels and alerts.
    pub name: String,
    /// Base URL of the API.
    pub url: String,
    /// Prometheus `/metrics` URL of the client, if it exposes one.
    #[serde(default)]
    pub metrics_url: Option<String>,
}

/// A beacon node on the standard REST port of this machine.
fn default_beacon() -> Vec<NodeConfig> {
    vec![NodeConfig {
        name: "local-beacon".into(),
        url: "http://127.0.0.1:5052".into(),
        metrics_url: None,
    }]
}

/// An execution node on the standard JSON-RPC port of this machine.
fn default_execution() -> Vec<NodeConfig> {
    vec![NodeConfig {
        name: "local-execution".into(),
        url: "http://127.0.0.1:8545".into(),
        metrics_url: None,
    }]
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. "info", "vigil=debug". `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// `[collect]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectConfig {
    /// How often nodes and this machine are sampled and `node` plugins run, e.g. "12s"
    /// (one mainnet slot; 1s - 10m).
    #[serde(default = "default_collect_interval")]
    pub interval: String,
    /// Extra directories whose disk space is watched (clients' data dirs); the store's
    /// folder is always included. Relative to the config file.
    #[serde(default)]
    pub data_dirs: Vec<PathBuf>,
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            interval: default_collect_interval(),
            data_dirs: Vec::new(),
        }
    }
}

fn default_collect_interval() -> String {
    "12s".into()
}

/// `[validators]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ValidatorsConfig {
    /// Validators by index (`6`), range (`"0-99999"`, inclusive) or public key
    /// (`"0xa99a…"`, 48 bytes hex).
    #[serde(default)]
    pub ids: Vec<ValidatorId>,
    /// Files listing more, one index, range or public key per line (`#` comments and
    /// blank lines skipped; of a CSV line, the first column), relative to this file.
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

/// An element of `[validators] ids`: a number, or text (a range or a public key,
/// checked when the config is loaded: see `config::validators`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ValidatorId {
    Index(u64),
    Text(String),
}
