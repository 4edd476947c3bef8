//! Everything that can go wrong with a plugin, named for the operator.

use std::path::PathBuf;

/// A plugin failure. Every message names the plugin (or its file) and says what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    #[error("{}: cannot read: {reason}", file.display())]
    Read { file: PathBuf, reason: String },
    #[error("{}: not WebAssembly (no `\\0asm` header): truncated, or still being written?", file.display())]
    NotWasm { file: PathBuf },
    #[error("{}: a core WebAssembly module, not a component: build plugins with `vigil plugins build CRATE_DIR`, which wraps the module as a component", file.display())]
    NotComponent { file: PathBuf },
    #[error("{}: does not compile: {detail}", file.display())]
    Compile { file: PathBuf, detail: String },
    #[error("{}: built against contract vigil:plugin@{found}, this host speaks vigil:plugin@{expected}: rebuild it with this host's vigil-plugin-sdk (contract {expected})", file.display())]
    WrongContract {
        file: PathBuf,
        found: String,
        expected: &'static str,
    },
    #[error("{}: not a Vigil plugin: it exports no vigil:plugin/plugin interface (it exports: {exports})", file.display())]
    NotAPlugin { file: PathBuf, exports: String },
    #[error("{}: imports `{import}`, which Vigil does not grant (plugins get no WASI: no files, network, environment, clock or randomness): build it for wasm32-unknown-unknown with `vigil plugins build`", file.display())]
    ForbiddenImport { file: PathBuf, import: String },
    #[error("{}: cannot be instantiated: {detail}", file.display())]
    Instantiate { file: PathBuf, detail: String },
    #[error("{}: manifest is invalid: {detail}", file.display())]
    BadManifest { file: PathBuf, detail: String },
    #[error("{}: declares the name `{name}`, already used by {}: rename one (manifest name) or remove a file", file.display(), other.display())]
    DuplicateName {
        file: PathBuf,
        name: String,
        other: PathBuf,
    },
    #[error(
        "plugin {plugin}: exceeded its CPU deadline of {limit_ms} ms and was stopped (an endless loop?)"
    )]
    Deadline { plugin: String, limit_ms: u64 },
    #[error(
        "plugin {plugin}: exceeded its memory limit of {limit_mib} MiB (it asked for {asked_mib} MiB) and was stopped"
    )]
    Memory {
        plugin: String,
        limit_mib: u64,
        asked_mib: u64,
    },
    #[error(
        "plugin {plugin}: made more than {limit} host calls in one call and was stopped (read state once per evaluation, not per validator)"
    )]
    HostCalls { plugin: String, limit: u32 },
    #[error("plugin {plugin}: trapped{}: {detail}", if .panic.is_some() { " (panic)" } else { "" })]
    Trap {
        plugin: String,
        detail: String,
        panic: Option<String>,
    },
    #[error("plugin {plugin}: output is {size} bytes, over the limit of {limit} bytes")]
    OutputTooLarge {
        plugin: String,
        size: usize,
        limit: usize,
    },
    #[error("plugin {plugin}: invalid output: {detail}")]
    InvalidOutput { plugin: String, detail: String },
    #[error("plugin {plugin}: evaluate failed: {message}")]
    Failed { plugin: String, message: String },
    #[error("plugin {plugin}: configuration refused{}: {message}", key.as_deref().map(|k| format!(" at key `{k}`")).unwrap_or_default())]
    Config {
        plugin: String,
        key: Option<String>,
        message: String,
    },
    #[error(
        "plugin {plugin}: quarantined after {failures} consecutive failures (last: {last}); it runs again when its file changes"
    )]
    Quarantined {
        plugin: String,
        failures: u32,
        last: String,
    },
}

impl PluginError {
    /// A short, stable name of the failure kind, for metrics and alert labels.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Read { .. } => "read",
            PluginError::NotWasm { .. } => "not_wasm",
            PluginError::NotComponent { .. } => "not_component",
            PluginError::Compile { .. } => "compile",
            PluginError::WrongContract { .. } => "wrong_contract",
            PluginError::NotAPlugin { .. } => "not_a_plugin",
            PluginError::ForbiddenImport { .. } => "forbidden_import",
            PluginError::Instantiate { .. } => "instantiate",
            PluginError::BadManifest { .. } => "bad_manifest",
            PluginError::DuplicateName { .. } => "duplicate_name",
            PluginError::Deadline { .. } => "deadline",
            PluginError::Memory { .. } => "memory",
            PluginError::HostCalls { .. } => "host_calls",
            PluginError::Trap { .. } => "trap",
            PluginError::OutputTooLarge { .. } => "output_too_large",
            PluginError::InvalidOutput { .. } => "invalid_output",
            PluginError::Failed { .. } => "failed",
            PluginError::Config { .. } => "config",
            PluginError::Quarantined { .. } => "quarantined",
        }
    }

    /// True when the instance that produced this error must not be entered again.
    pub fn poisons_instance(&self) -> bool {
        matches!(
            self,
            PluginError::Deadline { .. }
                | PluginError::Memory { .. }
                | PluginError::HostCalls { .. }
                | PluginError::Trap { .. }
        )
    }
}
