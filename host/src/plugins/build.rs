//! Building a plugin crate into a component: `cargo build --target
//! wasm32-unknown-unknown`, then wrap the core module with `wit-component`.
//!
//! `wasm32-unknown-unknown` + wrapping gives a component importing only Vigil's
//! interfaces (`wasm32-wasip2` would import 13 WASI interfaces the host refuses to
//! grant). The output is written beside and renamed into place, so a running host
//! watching the folder never reads a half-written file.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The rustup target plugins are compiled for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Release settings for plugin builds, whatever the plugin crate's own profile says:
/// plugins are small, so whole-program optimisation costs seconds and makes the
/// sandboxed code markedly faster (Cranelift then has less to do).
pub const PROFILE_OVERRIDES: [&str; 4] = [
    "profile.release.lto=true",
    "profile.release.codegen-units=1",
    "profile.release.opt-level=3",
    "profile.release.panic=\"abort\"",
];

/// Wrap a core module carrying wit-bindgen's component-type section as a component.
pub fn componentize(core: &[u8]) -> anyhow::Result<Vec<u8>> {
    // wit-component wraps a module without one into an empty component; refuse instead.
    let has_type = wasmparser::Parser::new(0).parse_all(core).any(|p| {
        matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name().starts_with("component-type"))
    });
    if !has_type {
        bail!(
            "the module carries no component type: was it built with vigil-plugin-sdk (export_plugin!)?"
        );
    }
    wit_component::ComponentEncoder::default()
        .module(core)
        .context("the module's component type is unreadable")?
        .validate(true)
        .encode()
        .context("cannot wrap the module as a component")
}

/// `vigil_plugin_node_health` → `node-health`.
pub fn plugin_file_stem(artifact_stem: &str) -> String {
    artifact_stem
        .strip_prefix("vigil_plugin_")
        .unwrap_or(artifact_stem)
        .replace('_', "-")
}

/// Compile the crate at `crate_dir` (release) into `target_dir` and return the paths of
/// its `cdylib` `.wasm` artifacts.
pub fn cargo_build(crate_dir: &Path, target_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml: point at a plugin crate's folder",
            crate_dir.display()
        );
    }
    let wanted = manifest.canonicalize().ok();
    let wasm: Vec<PathBuf> = cargo_build_artifacts(&manifest, target_dir, &[], &[])?
        .into_iter()
        .filter(|(m, _)| m.canonicalize().ok() == wanted)
        .map(|(_, f)| f)
        .collect();
    if wasm.is_empty() {
        bail!(
            "{} built no .wasm: its [lib] needs crate-type = [\"cdylib\"]",
            crate_dir.display()
        );
    }
    Ok(wasm)
}

/// Run `cargo build --release --target wasm32-unknown-unknown` on `manifest` (a crate or
/// a workspace) with extra arguments and environment; return each `cdylib` `.wasm`
/// artifact with the manifest of the package that produced it.
pub fn cargo_build_artifacts(
    manifest: &Path,
    target_dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .args(PROFILE_OVERRIDES.iter().flat_map(|o| ["--config", o]))
        .arg("--manifest-path")
        .arg(manifest)
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (is Rust installed?)",
                cargo.to_string_lossy()
            )
        })?;
    if !out.status.success() {
        bail!(
            "cargo build of {} failed ({}); if the error says the target is missing, run `rustup target add {TARGET}`",
            manifest.display(),
            out.status
        );
    }
    let mut wasm = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if !msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        {
            continue;
        }
        let from = PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default());
        for f in msg["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
        {
            if f.ends_with(".wasm") {
                wasm.push((from.clone(), PathBuf::from(f)));
            }
        }
    }
    Ok(wasm)
}

/// Build one plugin crate and install its component(s) into `out_dir`. Returns the
/// installed files.
pub fn build_into(
    crate_dir: &Path,
    target_dir: &Path,
    out_dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut installed = Vec::new();
    for core_path in cargo_build(crate_dir, target_dir)? {
        let core = std::fs::read(&core_path)
            .with_context(|| format!("cannot read {}", core_path.display()))?;
        let component =
            componentize(&core).with_context(|| format!("wrapping {}", core_path.display()))?;
        let stem = core_path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin");
        let dest = out_dir.join(format!("{}.wasm", plugin_file_stem(stem)));
        install_atomically(&component, &dest)?;
        installed.push(dest);
    }
    Ok(installed)
}

/// Write `bytes` to `dest` through a temporary file and a rename.
pub fn install_atomically(bytes: &[u8], dest: &Path) -> anyhow::Result<()> {
    let dir = dest.parent().context("destination has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        dest.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("plugin"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dest)
        .with_context(|| format!("cannot move {} into place", dest.display()))?;
    Ok(())
}

/// The plugin crates under `dir`: itself if it is one, else its subfolders that are.
pub fn find_crates(dir: &Path) -> Vec<PathBuf> {
    if dir.join("Cargo.toml").is_file() && dir.join("src/lib.rs").is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut crates: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file() && p.join("src/lib.rs").is_file())
        .collect();
    crates.sort();
    crates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drop_prefix() {
        assert_eq!(plugin_file_stem("vigil_plugin_node_health"), "node-health");
        assert_eq!(plugin_file_stem("my_rules"), "my-rules");
    }

    #[test]
    fn core_module_without_component_type_is_refused() {
        // The smallest valid core module: magic + version.
        let e = componentize(b"\0asm\x01\0\0\0").unwrap_err();
        assert!(format!("{e:#}").contains("vigil-plugin-sdk"), "{e:#}");
    }
}
