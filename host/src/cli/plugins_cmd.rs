//! `vigil plugins list | check | test | build`.

use super::PluginsCommand;
use crate::config;
use crate::contract::{CheckStatus, Input, InputKind, Output, Severity};
use crate::plugins::{Registry, Runtime, build};
use crate::term;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

pub(crate) fn run(cmd: PluginsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginsCommand::List { config, json } => list(&config.config, json),
        PluginsCommand::Check { file, json } => check(&file, json),
        PluginsCommand::Test {
            file,
            input,
            config,
            json,
        } => test(&file, &input, config.as_deref(), json),
        PluginsCommand::Build {
            crates,
            out,
            config,
            target_dir,
        } => build_cmd(crates, out, &config.config, &target_dir),
    }
}

fn kinds(k: &[InputKind]) -> String {
    k.iter()
        .map(|k| match k {
            InputKind::Epoch => "epoch",
            InputKind::Slot => "slot",
            InputKind::Node => "node",
            InputKind::Reset => "reset",
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A runtime for one-off commands: no store (state in memory), default limits.
fn oneoff_runtime(
    limits: crate::plugins::Limits,
    cache: Option<PathBuf>,
) -> anyhow::Result<Arc<Runtime>> {
    Ok(Arc::new(Runtime::new(limits, cache, None)?))
}

fn list(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rt = oneoff_runtime(cfg.limits.clone(), Some(cfg.cache_dir.clone()))?;
    let registry = Registry::new(
        rt,
        cfg.plugins_dir.clone(),
        cfg.plugin_configs(),
        cfg.config.plugins.quarantine_after,
    );
    let report = registry.scan();
    let set = registry.current();
    if json {
        let plugins: Vec<serde_json::Value> = set
            .plugins
            .iter()
            .map(|p| {
                let m = &p.module.manifest;
                serde_json::json!({
                    "name": m.name, "version": m.version, "description": m.description,
                    "file": p.module.file, "subscribes": kinds(&m.subscribes).split(',').collect::<Vec<_>>(),
                    "config_keys": m.config_keys.iter().map(|k| serde_json::json!({"name": k.name, "description": k.description, "default": k.default_value})).collect::<Vec<_>>(),
                    "load_ms": p.module.load_time.as_secs_f64() * 1000.0, "status": "ok",
                })
            })
            .chain(registry.file_errors().into_iter().map(|(f, e)| serde_json::json!({"file": f, "status": "error", "error": e})))
            .collect();
        println!("{}", serde_json::to_string_pretty(&plugins)?);
    } else {
        println!(
            "{} {}",
            term::bold("plugin folder"),
            cfg.plugins_dir.display()
        );
        let mut rows: Vec<Vec<String>> = set
            .plugins
            .iter()
            .map(|p| {
                let m = &p.module.manifest;
                vec![
                    m.name.clone(),
                    m.version.clone(),
                    kinds(&m.subscribes),
                    term::green("ok"),
                    format!(
                        "{:.1} ms{}",
                        p.module.load_time.as_secs_f64() * 1000.0,
                        if p.module.from_cache { " (cached)" } else { "" }
                    ),
                    m.description.clone(),
                ]
            })
            .collect();
        for (f, e) in registry.file_errors() {
            rows.push(vec![
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                "-".into(),
                "-".into(),
                term::red("error"),
                "-".into(),
                e,
            ]);
        }
        if rows.is_empty() {
            println!(
                "no plugins: build some with `vigil plugins build` or copy .wasm files into the folder"
            );
        } else {
            print!(
                "{}",
                term::table(
                    &["NAME", "VERSION", "INPUTS", "STATUS", "LOAD", "DESCRIPTION"],
                    &rows
                )
            );
        }
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    })
}

fn check(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let rt = oneoff_runtime(Default::default(), None)?;
    match rt.load_file(file) {
        Ok(module) => {
            let m = &module.manifest;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"file": file, "ok": true, "name": m.name, "version": m.version,
                        "subscribes": kinds(&m.subscribes), "contract": crate::plugins::CONTRACT_VERSION})
                );
            } else {
                println!(
                    "{} {} is plugin {} {} (contract vigil:plugin@{})",
                    term::green("ok"),
                    file.display(),
                    term::bold(&m.name),
                    m.version,
                    crate::plugins::CONTRACT_VERSION
                );
                if !m.description.is_empty() {
                    println!("   {}", m.description);
                }
                println!("   inputs: {}", kinds(&m.subscribes));
                for k in &m.config_keys {
                    println!(
                        "   [plugin.{}] {} = {}  {}",
                        m.name,
                        k.name,
                        k.default_value.as_deref().unwrap_or("(required)"),
                        term::dim(&k.description)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"file": file, "ok": false, "kind": e.kind(), "error": e.to_string()})
                );
            } else {
                eprintln!("{} {e}", term::red("refused:"));
            }
            Ok(ExitCode::from(super::EXIT_FAILURE))
        }
    }
}

/// Read a fixture: one input or a list, in the contract's JSON shape.
pub fn read_inputs(path: &Path) -> anyhow::Result<Vec<Input>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fixture {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("fixture {} is not JSON", path.display()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).with_context(|| {
                format!("fixture {} input #{i} is not a Vigil input (expected {{\"Node\": {{...}}}}, {{\"Epoch\": ...}}, {{\"Slot\": ...}} or {{\"Reset\": ...}})", path.display())
            })
        })
        .collect()
}

fn test(file: &Path, input: &Path, config: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let inputs = read_inputs(input)?;
    let rt = oneoff_runtime(Default::default(), None)?;
    let module = rt.load_file(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg_json = match config {
        Some(p) => {
            let cfg = config::load(p).map_err(|e| anyhow::anyhow!("{e}"))?;
            cfg.plugin_configs()
                .remove(module.name())
                .unwrap_or_else(|| "{}".into())
        }
        None => "{}".to_string(),
    };
    let mut inst = module
        .instantiate(&rt, &cfg_json)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut failed = false;
    for (i, input) in inputs.iter().enumerate() {
        let kind = crate::evaluate::kind_of(input);
        if !module.manifest.subscribes.contains(&kind) {
            if !json {
                println!(
                    "{} input #{i}: {} does not subscribe to {}",
                    term::dim("skip"),
                    module.name(),
                    kinds(&[kind])
                );
            }
            continue;
        }
        let result = inst.evaluate(&rt, input, input.observed_at_ms());
        match result {
            Ok(ev) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"input": i, "ok": true, "output": ev.output, "state_writes": ev.state.len(), "duration_us": ev.duration.as_micros() as u64})
                    );
                } else {
                    println!(
                        "{} input #{i} ({}) in {:.2} ms",
                        term::bold("▸"),
                        kinds(&[kind]),
                        ev.duration.as_secs_f64() * 1000.0
                    );
                    print_output(&ev.output);
                }
            }
            Err(e) => {
                failed = true;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"input": i, "ok": false, "kind": e.kind(), "error": e.to_string()})
                    );
                } else {
                    eprintln!("{} input #{i}: {e}", term::red("failed:"));
                }
                if e.poisons_instance() {
                    inst = module
                        .instantiate(&rt, &cfg_json)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::from(super::EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

fn severity_text(s: Severity) -> String {
    match s {
        Severity::Critical => term::red("critical"),
        Severity::High => term::red("high"),
        Severity::Medium => term::yellow("medium"),
        Severity::Low => "low".into(),
        Severity::Info => term::dim("info"),
    }
}

fn labels(l: &[(String, String)]) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn print_output(out: &Output) {
    if out.alerts.is_empty()
        && out.checks.is_empty()
        && out.scores.is_empty()
        && out.series.is_empty()
        && out.recommendations.is_empty()
        && out.subject_scores.is_empty()
        && out.validator_series.is_empty()
    {
        println!("  {}", term::dim("nothing found"));
    }
    if !out.alerts.is_empty() {
        let rows: Vec<Vec<String>> = out
            .alerts
            .iter()
            .map(|a| {
                vec![
                    severity_text(a.severity),
                    a.name.clone(),
                    labels(&a.subject),
                    a.summary.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            indent(&term::table(
                &["SEVERITY", "ALERT", "SUBJECT", "SUMMARY"],
                &rows
            ))
        );
    }
    if !out.checks.is_empty() {
        let rows: Vec<Vec<String>> = out
            .checks
            .iter()
            .map(|c| {
                let st = match c.status {
                    CheckStatus::Ok => term::green("ok"),
                    CheckStatus::Warn => term::yellow("warn"),
                    CheckStatus::Fail => term::red("fail"),
                };
                vec![st, c.name.clone(), labels(&c.subject), c.text.clone()]
            })
            .collect();
        print!(
            "{}",
            indent(&term::table(&["CHECK", "NAME", "SUBJECT", "TEXT"], &rows))
        );
    }
    for s in &out.scores {
        let mean = if s.values.is_empty() {
            0.0
        } else {
            s.values.iter().sum::<f64>() / s.values.len() as f64
        };
        println!(
            "  score {}/{}: {} validators, mean {mean:.1} %",
            s.component,
            s.window,
            s.values.len()
        );
    }
    for s in &out.subject_scores {
        println!(
            "  score {}/{} {}: {:.1} %",
            s.component,
            s.window,
            labels(&s.subject),
            s.value
        );
    }
    for r in &out.recommendations {
        println!(
            "  advice [{}] {}: {}{}",
            severity_text(r.priority),
            r.title,
            r.text,
            r.action_id
                .as_ref()
                .map(|a| format!(" (action {a})"))
                .unwrap_or_default()
        );
    }
    for p in &out.series {
        println!("  series {}{{{}}} = {}", p.name, labels(&p.labels), p.value);
    }
    for s in &out.validator_series {
        let n = s.values.len().max(1) as f64;
        let mean = s.values.iter().sum::<f64>() / n;
        let min = s.values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let shared = if s.labels.is_empty() {
            String::new()
        } else {
            format!(",{}", labels(&s.labels))
        };
        println!(
            "  series {}{{validator=…{shared}}}: {} validators, mean {mean:.2}, min {min:.2}, max {max:.2}",
            s.name,
            s.values.len()
        );
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

fn build_cmd(
    crates: Vec<PathBuf>,
    out: Option<PathBuf>,
    config_path: &Path,
    target_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let out = match out {
        Some(o) => o,
        None => config::load(config_path)
            .map(|c| c.plugins_dir)
            .map_err(|e| anyhow::anyhow!("{e}\n(pass --out DIR to build without a config)"))?,
    };
    let roots = if crates.is_empty() {
        vec![PathBuf::from("plugins")]
    } else {
        crates
    };
    let all: Vec<PathBuf> = roots.iter().flat_map(|r| build::find_crates(r)).collect();
    if all.is_empty() {
        anyhow::bail!(
            "no plugin crates (a folder with Cargo.toml and src/lib.rs) under {}",
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let n = all.len();
    for (i, dir) in all.iter().enumerate() {
        eprintln!(
            "{} [{}/{n}] building {}",
            term::bold("vigil"),
            i + 1,
            dir.display()
        );
        let started = std::time::Instant::now();
        let installed = build::build_into(dir, target_dir, &out)?;
        for f in installed {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            eprintln!(
                "      {} {} ({} KiB, {:.1} s)",
                term::green("installed"),
                f.display(),
                size / 1024,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
