//! `vigil config check`.

use crate::plugins::{PluginError, Registry, Runtime};
use crate::term;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Validate the file, then each plugin's table against the plugin in the folder.
pub(crate) fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = match crate::daemon::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{} {e}", term::red("invalid:"));
            return Ok(ExitCode::from(super::EXIT_FAILURE));
        }
    };
    println!(
        "{} {}: syntax, keys and ranges",
        term::green("ok"),
        path.display()
    );
    print_watched(&cfg);
    // Secrets live in the daemon's environment or files: say if this shell lacks one.
    if let Err(e) = crate::alerts::Settings::from_loaded(&cfg) {
        println!(
            "{} {e} (fine if the daemon's environment has it)",
            term::yellow("note")
        );
    }
    if !cfg.plugins_dir.is_dir() {
        println!(
            "{} plugin folder {} does not exist yet: plugin tables not checked (build plugins with `vigil plugins build`)",
            term::yellow("note"),
            cfg.plugins_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt = Arc::new(Runtime::new(
        cfg.limits.clone(),
        Some(cfg.cache_dir.clone()),
        None,
    )?);
    let registry = Registry::new(
        rt,
        cfg.plugins_dir.clone(),
        cfg.plugin_configs(),
        cfg.config.plugins.quarantine_after,
    );
    let report = registry.scan();
    let mut failed = false;
    for e in &report.errors {
        match e {
            PluginError::Config {
                plugin,
                key,
                message,
            } => {
                eprintln!(
                    "{} {}",
                    term::red("invalid:"),
                    cfg.plugin_error(plugin, key.as_deref(), message)
                );
            }
            other => eprintln!("{} {other}", term::yellow("plugin not loaded:")),
        }
        failed = true;
    }
    let loaded: Vec<String> = registry
        .current()
        .plugins
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    for name in cfg.config.plugin.keys() {
        if !loaded.contains(name)
            && !report
                .errors
                .iter()
                .any(|e| matches!(e, PluginError::Config { plugin, .. } if plugin == name))
        {
            println!(
                "{} [plugin.{name}] configures no loaded plugin (loaded: {})",
                term::yellow("note"),
                if loaded.is_empty() {
                    "none".into()
                } else {
                    loaded.join(", ")
                }
            );
        }
    }
    if failed {
        return Ok(ExitCode::from(super::EXIT_FAILURE));
    }
    println!(
        "{} plugin tables accepted by: {}",
        term::green("ok"),
        loaded.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// What the daemon will watch with this config: nodes by name and URL (passwords and
/// query strings redacted), and the validators listed.
fn print_watched(cfg: &crate::config::LoadedConfig) {
    let c = &cfg.config;
    for (kind, nodes) in [("beacon", &c.beacon), ("execution", &c.execution)] {
        if nodes.is_empty() {
            println!("{} no {kind} node configured", term::yellow("note"));
        }
        for n in nodes {
            println!(
                "  {kind:<9} {:<20} {}",
                n.name,
                crate::net::redact_url(&n.url)
            );
        }
    }
    println!("  watching  {}", cfg.validators.describe());
}
