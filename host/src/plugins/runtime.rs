//! The engine, the sandbox, and one plugin's component.
//!
//! ## The sandbox
//! - **Imports granted**: only `vigil:plugin/host` (log, query, state, now). No WASI of
//!   any kind is linked: a component importing anything else is refused at load
//!   ([`super::contract`]), before it can run.
//! - **Memory**: each instance may grow its memories to [`Limits::memory_bytes`]
//!   (64 MiB by default); a larger `memory.grow` traps with [`PluginError::Memory`].
//! - **CPU**: each call gets a deadline of [`Limits::cpu_deadline`] measured by epoch
//!   interruption (a 1 ms ticker thread); past it the call traps with
//!   [`PluginError::Deadline`].
//! - **Output**: a result larger than [`Limits::max_output_bytes`] is refused.
//! - **Host calls**: at most [`Limits::max_host_calls`] imports per call.
//!
//! ## Invariants
//! - A trapped instance is never entered again: it is dropped and the next call gets a
//!   fresh instance from the same pre-instantiated component, configured anew.
//! - State written during a failed call never reaches the store.
//! - Plugin calls are blocking and CPU-bound: callers run them off the async runtime.

use super::cache::CompiledCache;
use super::host_api::HostState;
use super::{PluginError, contract, output};
use crate::contract::bindings::{VigilPlugin, VigilPluginPre};
use crate::contract::{Input, Manifest, Output};
use crate::store::Store;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Trap};

/// One epoch tick: the resolution of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

pub use crate::config::Limits;

/// Increments the engine's epoch every [`EPOCH_TICK`] until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("vigil-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The wasmtime engine with its linker, cache and limits.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: CompiledCache,
    limits: Limits,
    store: Option<Arc<Store>>,
    _ticker: Ticker,
}

impl Runtime {
    /// An engine with the sandbox configured. `store` backs plugin state and history
    /// (`None` for one-off checks: state is then kept in memory for the call only).
    pub fn new(
        limits: Limits,
        cache_dir: Option<PathBuf>,
        store: Option<Arc<Store>>,
    ) -> anyhow::Result<Runtime> {
        let mut cfg = wasmtime::Config::new();
        cfg.wasm_component_model(true)
            .epoch_interruption(true)
            .parallel_compilation(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine =
            Engine::new(&cfg).map_err(|e| anyhow::anyhow!("cannot create the wasm engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        VigilPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("cannot link the host API: {e}"))?;
        Ok(Runtime {
            _ticker: Ticker::start(engine.clone()),
            engine,
            linker,
            cache: CompiledCache::new(cache_dir),
            limits,
            store,
        })
    }

    /// The limits new instances get.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The store plugin state goes to, if any.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Read, check, compile (or load from cache) and describe a plugin file.
    pub fn load_file(&self, file: &Path) -> Result<PluginModule, PluginError> {
        let bytes = std::fs::read(file).map_err(|e| PluginError::Read {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.load_bytes(file, &bytes)
    }

    /// As [`Runtime::load_file`], from bytes already read; `file` names it in errors.
    pub fn load_bytes(&self, file: &Path, bytes: &[u8]) -> Result<PluginModule, PluginError> {
        let started = Instant::now();
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            return Err(PluginError::NotWasm {
                file: file.to_path_buf(),
            });
        }
        // Core modules carry version 1; components carry version 0xd, layer 1.
        if bytes[4..8] == [1, 0, 0, 0] {
            return Err(PluginError::NotComponent {
                file: file.to_path_buf(),
            });
        }
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let (component, from_cache) = match self.cache.load(&self.engine, &hash) {
            Some(c) => (c, true),
            None => {
                let c = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile {
                    file: file.to_path_buf(),
                    detail: format!("{e:#}"),
                })?;
                (c, false)
            }
        };
        contract::check(&self.engine, &component, file)?;
        if !from_cache {
            self.cache.store(&self.engine, &hash, &component);
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(VigilPluginPre::new)
            .map_err(|e| PluginError::Instantiate {
                file: file.to_path_buf(),
                detail: format!("{e:#}"),
            })?;
        let mut module = PluginModule {
            file: file.to_path_buf(),
            hash,
            manifest: Manifest {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                subscribes: Vec::new(),
                config_keys: Vec::new(),
            },
            pre,
            from_cache,
            load_time: Duration::ZERO,
        };
        let mut inst = module.raw_instance(self, file.display().to_string())?;
        let manifest = inst
            .call(self, 0, |b, s| b.vigil_plugin_plugin().call_manifest(s))
            .map_err(|e| PluginError::BadManifest {
                file: file.to_path_buf(),
                detail: e.to_string(),
            })?;
        check_manifest(&manifest).map_err(|detail| PluginError::BadManifest {
            file: file.to_path_buf(),
            detail,
        })?;
        module.manifest = manifest;
        module.load_time = started.elapsed();
        Ok(module)
    }
}

/// Plugin names become config tables, state keys and alert labels: keep them tame.
fn check_manifest(m: &Manifest) -> Result<(), String> {
    let ok = !m.name.is_empty()
        && m.name.len() <= 64
        && m.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !m.name.starts_with('-');
    if !ok {
        return Err(format!(
            "name {:?} must be kebab-case ASCII (a-z, 0-9, -), 1-64 chars",
            m.name
        ));
    }
    if m.version.is_empty() {
        return Err("version is empty".into());
    }
    Ok(())
}

/// A compiled, contract-checked plugin ready to instantiate.
pub struct PluginModule {
    /// The file it came from.
    pub file: PathBuf,
    /// SHA-256 of the file's bytes.
    pub hash: [u8; 32],
    pub manifest: Manifest,
    pre: VigilPluginPre<HostState>,
    /// Loaded from the compiled cache rather than compiled.
    pub from_cache: bool,
    /// Time from bytes to a described plugin.
    pub load_time: Duration,
}

impl PluginModule {
    /// The plugin's name from its manifest.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    fn raw_instance(&self, rt: &Runtime, label: String) -> Result<Instance, PluginError> {
        let mut store = wasmtime::Store::new(
            &rt.engine,
            HostState::new(&label, rt.limits.clone(), rt.store.clone()),
        );
        store.limiter(|s| s as &mut dyn wasmtime::ResourceLimiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(deadline_ticks(&rt.limits));
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| PluginError::Instantiate {
                file: self.file.clone(),
                detail: format!("{e:#}"),
            })?;
        Ok(Instance { store, bindings })
    }

    /// A fresh instance, configured with `config_json`.
    pub fn instantiate(&self, rt: &Runtime, config_json: &str) -> Result<Instance, PluginError> {
        let mut inst = self.raw_instance(rt, self.manifest.name.clone())?;
        let result = inst.call(rt, 0, |b, s| {
            b.vigil_plugin_plugin().call_configure(s, config_json)
        })?;
        result.map_err(|e| PluginError::Config {
            plugin: self.manifest.name.clone(),
            key: e.key,
            message: e.message,
        })?;
        Ok(inst)
    }
}

fn deadline_ticks(limits: &Limits) -> u64 {
    (limits.cpu_deadline.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64
}

/// A live instance of a plugin. Dropped after any trap.
pub struct Instance {
    store: wasmtime::Store<HostState>,
    bindings: VigilPlugin,
}

/// The result of one successful `evaluate`.
#[derive(Debug)]
pub struct Evaluated {
    pub output: Output,
    /// State writes to commit, in order.
    pub state: Vec<(String, crate::store::StateChange)>,
    pub duration: Duration,
    pub host_calls: u32,
}

impl Instance {
    /// Run one export with a fresh budget and deadline, turning traps into named errors.
    fn call<T>(
        &mut self,
        rt: &Runtime,
        now_ms: i64,
        f: impl FnOnce(&VigilPlugin, &mut wasmtime::Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        self.store.data_mut().begin_call(now_ms);
        self.store.set_epoch_deadline(deadline_ticks(&rt.limits));
        let result = f(&self.bindings, &mut self.store);
        result.map_err(|e| classify(self.store.data(), &rt.limits, e))
    }

    /// Evaluate one input. On error the caller must drop this instance if
    /// [`PluginError::poisons_instance`].
    pub fn evaluate(
        &mut self,
        rt: &Runtime,
        input: &Input,
        now_ms: i64,
    ) -> Result<Evaluated, PluginError> {
        let started = Instant::now();
        let plugin = self.store.data().plugin.clone();
        let result = self.call(rt, now_ms, |b, s| {
            b.vigil_plugin_plugin().call_evaluate(s, input)
        })?;
        let out = result.map_err(|message| PluginError::Failed {
            plugin: plugin.clone(),
            message,
        })?;
        let size = output::size_bytes(&out);
        if size > rt.limits.max_output_bytes {
            return Err(PluginError::OutputTooLarge {
                plugin,
                size,
                limit: rt.limits.max_output_bytes,
            });
        }
        output::validate(&out).map_err(|detail| PluginError::InvalidOutput {
            plugin: plugin.clone(),
            detail,
        })?;
        let data = self.store.data_mut();
        Ok(Evaluated {
            output: out,
            state: std::mem::take(&mut data.pending).into_iter().collect(),
            duration: started.elapsed(),
            host_calls: data.calls,
        })
    }
}

fn classify(host: &HostState, limits: &Limits, err: wasmtime::Error) -> PluginError {
    let plugin = host.plugin.clone();
    if let Some(asked) = host.memory_exceeded {
        return PluginError::Memory {
            plugin,
            limit_mib: (limits.memory_bytes >> 20) as u64,
            asked_mib: (asked >> 20) as u64,
        };
    }
    if host.host_calls_exceeded {
        return PluginError::HostCalls {
            plugin,
            limit: limits.max_host_calls,
        };
    }
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return PluginError::Deadline {
            plugin,
            limit_ms: limits.cpu_deadline.as_millis() as u64,
        };
    }
    let panic = host
        .last_error_log
        .clone()
        .filter(|l| l.starts_with("panicked"));
    let detail = match err.downcast_ref::<Trap>() {
        Some(Trap::UnreachableCodeReached) if panic.is_some() => panic.clone().unwrap_or_default(),
        Some(trap) => trap.to_string(),
        None => format!("{err:#}"),
    };
    PluginError::Trap {
        plugin,
        detail,
        panic,
    }
}
