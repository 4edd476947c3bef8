//! `plugins`: compile (cold) and cached load, instantiate, empty call, `evaluate` over
//! 10k and 100k validators (columnar) against the same logic run natively, and hot swap
//! latency (file renamed into the watched folder → new version answering).

use crate::measure::{median_secs, percentile, tempfile_dir};
use crate::report::Reporter;
use crate::workload::{empty_node_tick, epoch_input};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil::contract::Input;
use vigil::plugins::{Limits, Registry, Runtime, watch};

/// A built-in plugin's `.wasm` in `dir`, or in `target/plugins` after `vigil plugins build`.
fn find_plugin(dir: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target/plugins"));
    let p = dir.join(format!("{name}.wasm"));
    anyhow::ensure!(
        p.is_file(),
        "{} not found: build the plugins first (`vigil plugins build --out {}`) or pass --plugins DIR",
        p.display(),
        dir.display()
    );
    Ok(p)
}

pub(crate) fn run(r: &mut Reporter, dir: Option<&Path>) -> anyhow::Result<()> {
    let node_health = find_plugin(dir, "node-health")?;
    let streak = find_plugin(dir, "attestations")?;
    let tmp = tempfile_dir()?;
    // 100k validators' columns take ~25 MiB once lifted: give the sandbox room.
    let limits = Limits {
        memory_bytes: 512 << 20,
        cpu_deadline: Duration::from_secs(30),
        ..Limits::default()
    };

    // Compile cold: no cache.
    let cold = Runtime::new(limits.clone(), None, None)?;
    let bytes = std::fs::read(&node_health)?;
    let compile = median_secs(3, || {
        let _ = cold.load_bytes(&node_health, &bytes);
    });
    r.add("compile_cold_ms", compile * 1e3, "ms");

    // Cached load: hash, verify, deserialize, check contract, pre-instantiate, manifest.
    let rt = Runtime::new(limits.clone(), Some(tmp.join("cache")), None)?;
    rt.load_bytes(&node_health, &bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cached = median_secs(20, || {
        let _ = rt.load_bytes(&node_health, &bytes);
    });
    r.add("load_cached_ms", cached * 1e3, "ms");
    r.add("load_cached_ratio_to_cold", cached / compile, "ratio");

    let module = rt
        .load_bytes(&node_health, &bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let inst_t = median_secs(200, || {
        let _ = module.instantiate(&rt, "{}");
    });
    r.add("instantiate_configured_us", inst_t * 1e6, "µs");

    let mut inst = module
        .instantiate(&rt, "{}")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let empty = empty_node_tick();
    let call = median_secs(2000, || {
        let _ = inst.evaluate(&rt, &empty, 0);
    });
    r.add("empty_call_us", call * 1e6, "µs");

    // evaluate over N validators: the sandboxed plugin vs its logic compiled natively.
    let streak_bytes = std::fs::read(&streak)?;
    let smod = rt
        .load_bytes(&streak, &streak_bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (n, label) in [(10_000usize, "10k"), (100_000, "100k")] {
        let input = epoch_input(n, 7);
        let native_input = to_native(&input)?;
        let mut wasm = smod
            .instantiate(&rt, "{}")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut native = vigil_plugin_sdk::testing::Harness::<
            vigil_plugin_attestations::Attestations,
        >::with_json("{}")
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let reps = if n > 50_000 { 7 } else { 21 };
        // The transfer alone: a plugin that ignores epoch inputs still receives them.
        let pass = median_secs(reps, || {
            let _ = inst.evaluate(&rt, &input, 0);
        });
        r.add(&format!("pass_{label}_validators_ms"), pass * 1e3, "ms");
        // Warm both (first call allocates state).
        wasm.evaluate(&rt, &input, 0)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        native
            .evaluate_borrowed(&native_input)
            .map_err(|e| anyhow::anyhow!(e))?;
        let w = median_secs(reps, || {
            let _ = wasm.evaluate(&rt, &input, 0);
        });
        // Same work on both sides: the sandboxed runs have no store, so each starts
        // from empty plugin state; so does each native run. "Native" is the plugin's
        // code compiled natively behind the same interface (the export's entry point,
        // taking the input by value); "borrowed" hands it a reference, no copy at all.
        let nt = median_secs(reps, || {
            native.host.state.clear();
            let _ = native.evaluate_owned(native_input.clone());
        });
        let nb = median_secs(reps, || {
            native.host.state.clear();
            let _ = native.evaluate_borrowed(&native_input);
        });
        r.add(&format!("evaluate_{label}_validators_ms"), w * 1e3, "ms");
        r.add(&format!("evaluate_{label}_native_ms"), nt * 1e3, "ms");
        r.add(
            &format!("evaluate_{label}_ratio_to_native"),
            w / nt,
            "ratio",
        );
        r.add(
            &format!("evaluate_{label}_native_borrowed_ms"),
            nb * 1e3,
            "ms",
        );
        r.add(
            &format!("evaluate_{label}_ratio_to_native_borrowed"),
            w / nb,
            "ratio",
        );
    }

    // Hot swap: rename a new version into the watched folder; time until it answers.
    let plugin_dir = tmp.join("plugins");
    std::fs::create_dir_all(&plugin_dir)?;
    std::fs::write(plugin_dir.join("node-health.wasm"), &bytes)?;
    let rt = Arc::new(Runtime::new(limits, Some(tmp.join("cache")), None)?);
    let registry = Arc::new(Registry::new(
        rt.clone(),
        plugin_dir.clone(),
        Default::default(),
        3,
    ));
    registry.scan();
    let reg = registry.clone();
    let _w = watch::watch_dir(
        &plugin_dir,
        watch::is_plugin_file,
        watch::RESCAN,
        move || {
            reg.scan();
        },
    )?;
    let mut swaps = Vec::new();
    let probe = empty_node_tick();
    for i in 0..20u32 {
        // A new version: same code, one more custom section (a new hash, never cached).
        let mut v = bytes.clone();
        let name = format!("vigil-bench-{i}");
        v.push(0);
        v.push((name.len() + 1) as u8);
        v.push(name.len() as u8);
        v.extend_from_slice(name.as_bytes());
        let want: [u8; 32] =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&v)).into();
        let staging = plugin_dir.join(".node-health.wasm.new");
        std::fs::write(&staging, &v)?;
        let start = Instant::now();
        std::fs::rename(&staging, plugin_dir.join("node-health.wasm"))?;
        loop {
            let set = registry.current();
            if let Some(p) = set.plugins.iter().find(|p| p.module.hash == want)
                && p.evaluate(&rt, &probe, 0).is_ok()
            {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "hot swap {i} never happened"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        swaps.push(start.elapsed().as_secs_f64() * 1e3);
    }
    swaps.sort_by(f64::total_cmp);
    r.add("hot_swap_p50_ms", percentile(&swaps, 50.0), "ms");
    r.add("hot_swap_p99_ms", percentile(&swaps, 99.0), "ms");
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// The same input in the SDK's types (one JSON round trip, outside any timing).
fn to_native(input: &Input) -> anyhow::Result<vigil_plugin_sdk::Input> {
    Ok(serde_json::from_value(serde_json::to_value(input)?)?)
}
