//! Compiled components kept on disk.
//!
//! Compiling a plugin costs ~50 ms; loading its compiled form ~0.1 ms. Entries are keyed
//! by the SHA-256 of the `.wasm` and the engine's compatibility hash (wasmtime version,
//! target, settings), so a different engine never loads a stale entry. Each file starts
//! with the SHA-256 of its payload: a torn or corrupted entry is detected and
//! recompiled, never executed.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The on-disk cache; `None` folder disables it.
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: Option<PathBuf>,
}

impl CompiledCache {
    /// A cache in `dir` (created on first write), or none.
    pub fn new(dir: Option<PathBuf>) -> CompiledCache {
        CompiledCache { dir }
    }

    /// The folder, if caching is on.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn entry(&self, engine: &Engine, wasm_hash: &[u8; 32]) -> Option<PathBuf> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let name = format!(
            "{}-{:016x}.cwasm",
            hex::encode(&wasm_hash[..16]),
            h.finish()
        );
        self.dir.as_ref().map(|d| d.join(name))
    }

    /// The compiled component for this wasm, if cached and intact.
    pub fn load(&self, engine: &Engine, wasm_hash: &[u8; 32]) -> Option<Component> {
        let path = self.entry(engine, wasm_hash)?;
        let bytes = std::fs::read(&path).ok()?;
        if bytes.len() < 32 || Sha256::digest(&bytes[32..]).as_slice() != &bytes[..32] {
            tracing::warn!(file = %path.display(), "compiled-plugin cache entry is corrupt; recompiling");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // SAFETY: `Component::deserialize` runs native code produced by `serialize`. The
        // bytes come from our own cache folder, were written by `store` below with an
        // atomic rename, and their SHA-256 was just verified, so they are exactly what
        // this engine (same compatibility hash, part of the file name) serialized.
        match unsafe { Component::deserialize(engine, &bytes[32..]) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(file = %path.display(), "compiled-plugin cache entry unusable ({e}); recompiling");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Keep a compiled component. Failures only cost a recompile later, so they are
    /// logged, not returned.
    pub fn store(&self, engine: &Engine, wasm_hash: &[u8; 32], component: &Component) {
        let Some(path) = self.entry(engine, wasm_hash) else {
            return;
        };
        let result = (|| -> Result<(), String> {
            let payload = component.serialize().map_err(|e| e.to_string())?;
            let dir = path.parent().ok_or("cache path has no folder")?;
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut bytes = Sha256::digest(&payload).to_vec();
            bytes.extend_from_slice(&payload);
            std::fs::write(&tmp, &bytes).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            tracing::warn!(file = %path.display(), "cannot write compiled-plugin cache: {e}");
        }
    }
}
