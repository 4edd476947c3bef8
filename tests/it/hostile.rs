//! Hostile plugins: each is stopped with a clear error naming it and the cause, the
//! host stays up, and the other plugins' next evaluation runs.

use crate::support::{Env, node_tick, test_limits};
use vigil::evaluate::Evaluator;
use vigil::plugins::PluginError;

/// Load `hostile` beside node-health, evaluate three ticks, and return the hostile
/// plugin's errors; node-health must have run clean every time.
fn run_beside_node_health(hostile: &str) -> Vec<PluginError> {
    let env = Env::new(test_limits(), &[hostile, "node-health"]);
    let report = env.registry.scan();
    assert!(
        report.errors.is_empty(),
        "{hostile} should load: {:?}",
        report.errors
    );
    assert_eq!(env.registry.current().plugins.len(), 2);
    let eval = Evaluator::new(env.registry.clone(), Some(env.store.clone()));
    let mut errors = Vec::new();
    for seq in 1..=4 {
        let ev = eval.evaluate(&node_tick(seq), seq as i64);
        let ns = ev
            .results
            .iter()
            .find(|r| r.plugin == "node-health")
            .expect("node-health ran");
        let out = ns.outcome.as_ref().expect("node-health is unaffected");
        assert_eq!(
            out.checks.len(),
            1,
            "node-health produced its check at tick {seq}"
        );
        let h = ev
            .results
            .iter()
            .find(|r| r.plugin != "node-health")
            .expect("hostile ran");
        let e = h
            .outcome
            .as_ref()
            .err()
            .cloned()
            .expect("hostile plugin must fail");
        // The host raises plugin_failed for it, naming the plugin.
        let pf = ev
            .host_alerts
            .iter()
            .find(|a| a.name == "plugin_failed")
            .expect("plugin_failed raised");
        assert_eq!(pf.subject[0], ("plugin".to_string(), h.plugin.clone()));
        errors.push(e);
    }
    // Three failures in a row quarantine it; the fourth call is refused without running.
    assert!(
        matches!(errors[3], PluginError::Quarantined { .. }),
        "{:?}",
        errors[3]
    );
    assert!(
        errors[3]
            .to_string()
            .contains("runs again when its file changes")
    );
    errors
}

#[test]
fn endless_loop_hits_the_cpu_deadline() {
    let errors = run_beside_node_health("endless-loop");
    for e in &errors[..3] {
        assert!(
            matches!(e, PluginError::Deadline { limit_ms: 200, .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "plugin endless-loop: exceeded its CPU deadline of 200 ms and was stopped (an endless loop?)"
        );
    }
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    let errors = run_beside_node_health("memory-bomb");
    assert!(
        matches!(errors[0], PluginError::Memory { limit_mib: 64, .. }),
        "{:?}",
        errors[0]
    );
    assert!(
        errors[0]
            .to_string()
            .starts_with("plugin memory-bomb: exceeded its memory limit of 64 MiB")
    );
}

#[test]
fn panic_is_reported_with_its_message() {
    let errors = run_beside_node_health("panics");
    let PluginError::Trap {
        plugin,
        detail,
        panic,
    } = &errors[0]
    else {
        panic!("{:?}", errors[0])
    };
    assert_eq!(plugin, "panics");
    let msg = panic
        .as_deref()
        .expect("the SDK forwards the panic message");
    assert!(msg.contains("index out of bounds"), "{msg}");
    assert!(detail.contains("index out of bounds"), "{detail}");
}

#[test]
fn oversized_output_is_refused() {
    let errors = run_beside_node_health("huge-output");
    let PluginError::OutputTooLarge { size, limit, .. } = errors[0] else {
        panic!("{:?}", errors[0])
    };
    assert!(size > limit && limit == 16 << 20, "{size} {limit}");
}

#[test]
fn host_call_spam_hits_the_budget() {
    let errors = run_beside_node_health("host-call-spam");
    assert!(
        matches!(errors[0], PluginError::HostCalls { limit: 10_000, .. }),
        "{:?}",
        errors[0]
    );
}

#[test]
fn invalid_output_is_refused_with_the_reason() {
    let errors = run_beside_node_health("bad-output");
    assert_eq!(
        errors[0].to_string(),
        "plugin bad-output: invalid output: scores attestation/1d: value 250 is outside 0..100"
    );
}

#[test]
fn non_components_and_wrong_contracts_are_refused_at_load() {
    let env = Env::new(
        test_limits(),
        &["core-module", "wrong-contract", "node-health"],
    );
    std::fs::write(
        env.plugin_dir().join("notes.wasm"),
        b"these are not the bytes you want",
    )
    .unwrap();
    let report = env.registry.scan();
    assert_eq!(report.added, vec!["node-health"]);
    let msgs: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert!(
        msgs.iter()
            .any(|m| m.contains("core-module.wasm: a core WebAssembly module, not a component")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("wrong-contract.wasm: built against contract vigil:plugin@0.0.9, this host speaks vigil:plugin@0.2.0")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("notes.wasm: not WebAssembly")),
        "{msgs:#?}"
    );
    // The refused files are remembered, not retried at every scan, and listed.
    assert!(!env.registry.scan().changed());
    assert_eq!(env.registry.file_errors().len(), 3);
    // And the good plugin runs.
    let ev = Evaluator::new(env.registry.clone(), None).evaluate(&node_tick(1), 1);
    assert!(ev.results[0].outcome.is_ok());
}

#[test]
fn failed_call_discards_its_state_writes() {
    let env = Env::new(test_limits(), &["state-then-fail"]);
    env.registry.scan();
    let eval = Evaluator::new(env.registry.clone(), Some(env.store.clone()));
    let get = || -> Option<u64> {
        env.store
            .plugin_state_get("state-then-fail", "last")
            .unwrap()
            .map(|b| serde_json::from_slice(&b).unwrap())
    };
    let ok = eval.evaluate(&node_tick(2), 2);
    // A read during the call sees the call's own pending write.
    assert_eq!(ok.results[0].outcome.as_ref().unwrap().series[0].value, 2.0);
    assert_eq!(get(), Some(2));
    let failed = eval.evaluate(&node_tick(3), 3);
    assert!(matches!(
        failed.results[0].outcome,
        Err(PluginError::Failed { .. })
    ));
    assert_eq!(
        get(),
        Some(2),
        "the failed call's write to `last` was discarded"
    );
    eval.evaluate(&node_tick(4), 4);
    assert_eq!(get(), Some(4));
}

#[test]
fn trapped_instance_is_replaced_not_reentered() {
    // The panicking plugin panics on every call; each call after a trap must get a fresh
    // instance (wasmtime refuses re-entry into a trapped instance with a different
    // error, "cannot enter component instance"), so every error is the panic itself.
    let errors = run_beside_node_health("panics");
    for e in &errors[..3] {
        assert!(
            matches!(e, PluginError::Trap { panic: Some(_), .. }),
            "{e:?}"
        );
    }
}
