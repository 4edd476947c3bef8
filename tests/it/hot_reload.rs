//! Hot reload of plugins while evaluations run: in-place writes and renames swap the
//! live version; no evaluation is lost or doubled; broken files keep the last good
//! version; state survives reloads and restarts.

use crate::support::{Env, node_tick, plugins, test_limits, wait_until};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil::evaluate::Evaluator;
use vigil::plugins::watch;

/// What the counter fixture said at one evaluation: (seq it was given, its version,
/// its persistent call count).
fn counter_seen(ev: &vigil::evaluate::Evaluation) -> Vec<(u64, String, u64)> {
    ev.results
        .iter()
        .filter(|r| r.plugin == "counter")
        .map(|r| {
            let out = r.outcome.as_ref().expect("counter never fails");
            let seq = out
                .series
                .iter()
                .find(|p| p.name == "counter_seq")
                .expect("seq");
            let calls = out
                .series
                .iter()
                .find(|p| p.name == "counter_calls")
                .expect("calls");
            let version = seq
                .labels
                .iter()
                .find(|(k, _)| k == "version")
                .expect("version")
                .1
                .clone();
            (seq.value as u64, version, calls.value as u64)
        })
        .collect()
}

#[test]
fn swaps_under_load_lose_and_double_nothing() {
    let env = Env::new(test_limits(), &["counter"]);
    assert_eq!(env.registry.scan().added, vec!["counter"]);
    let registry = env.registry.clone();
    let _watch = watch::watch_dir(
        &env.plugin_dir(),
        watch::is_plugin_file,
        watch::RESCAN,
        move || {
            registry.scan();
        },
    )
    .expect("watch");

    let eval = Arc::new(Evaluator::new(
        env.registry.clone(),
        Some(env.store.clone()),
    ));
    type Seen = Vec<(u64, Vec<(u64, String, u64)>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (eval, seen, stop) = (eval.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seq = 1;
            while !stop.load(Ordering::Relaxed) {
                let ev = eval.evaluate(&node_tick(seq), seq as i64);
                seen.lock().unwrap().push((seq, counter_seen(&ev)));
                seq += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let latest_version = || {
        seen.lock()
            .unwrap()
            .last()
            .and_then(|(_, c)| c.first().map(|c| c.1.clone()))
    };
    assert!(wait_until(Duration::from_secs(30), || latest_version()
        .as_deref()
        == Some("1")));

    // 1. In-place write (truncate, then write): what `>` redirection and some editors do.
    std::fs::write(
        env.plugin_file("counter"),
        std::fs::read(plugins::path("counter-v2")).unwrap(),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || latest_version().as_deref()
            == Some("2")),
        "v2 never answered"
    );

    // 2. Write-and-rename: what `cp` to a temp name, editors and `vigil plugins build` do.
    let tmp = env.plugin_dir().join(".counter.wasm.tmp");
    std::fs::write(&tmp, std::fs::read(plugins::path("counter")).unwrap()).unwrap();
    std::fs::rename(&tmp, env.plugin_file("counter")).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || latest_version().as_deref()
            == Some("1")),
        "v1 never came back"
    );

    stop.store(true, Ordering::Relaxed);
    runner.join().unwrap();
    let seen = seen.lock().unwrap();
    // Every evaluation was judged by exactly one counter, given its own seq.
    for (seq, counters) in seen.iter() {
        assert_eq!(
            counters.len(),
            1,
            "evaluation {seq} saw {} counters",
            counters.len()
        );
        assert_eq!(counters[0].0, *seq, "evaluation {seq} got another input");
    }
    // Versions change in two clean steps: 1…1 2…2 1…1.
    let mut versions: Vec<&str> = seen.iter().map(|(_, c)| c[0].1.as_str()).collect();
    versions.dedup();
    assert_eq!(versions, vec!["1", "2", "1"]);
    // State survived both swaps: the call count never restarts or skips.
    let calls: Vec<u64> = seen.iter().map(|(_, c)| c[0].2).collect();
    assert_eq!(calls, (1..=calls.len() as u64).collect::<Vec<_>>());
}

#[test]
fn broken_new_version_keeps_the_last_good_one() {
    let env = Env::new(test_limits(), &["counter"]);
    env.registry.scan();
    let eval = Evaluator::new(env.registry.clone(), None);
    let version = || counter_seen(&eval.evaluate(&node_tick(1), 1))[0].1.clone();
    assert_eq!(version(), "1");
    let v2 = std::fs::read(plugins::path("counter-v2")).unwrap();

    // Truncated mid-copy.
    std::fs::write(env.plugin_file("counter"), &v2[..v2.len() / 2]).unwrap();
    let report = env.registry.scan();
    assert!(!report.changed());
    assert_eq!(report.errors.len(), 1);
    let msg = report.errors[0].to_string();
    assert!(msg.contains("counter.wasm: does not compile"), "{msg}");
    assert_eq!(version(), "1", "the last good version keeps running");
    assert_eq!(env.registry.file_errors().len(), 1);

    // Corrupt bytes in the middle.
    let mut corrupt = v2.clone();
    for b in &mut corrupt[v2.len() / 3..v2.len() / 3 + 64] {
        *b = 0xff;
    }
    std::fs::write(env.plugin_file("counter"), &corrupt).unwrap();
    assert_eq!(env.registry.scan().errors.len(), 1);
    assert_eq!(version(), "1");

    // The complete file finally lands.
    std::fs::write(env.plugin_file("counter"), &v2).unwrap();
    let report = env.registry.scan();
    assert_eq!(report.replaced, vec!["counter"]);
    assert_eq!(version(), "2");
    assert!(env.registry.file_errors().is_empty());
}

#[test]
fn removing_the_file_removes_the_plugin() {
    let env = Env::new(test_limits(), &["counter", "node-health"]);
    env.registry.scan();
    std::fs::remove_file(env.plugin_file("counter")).unwrap();
    let report = env.registry.scan();
    assert_eq!(report.removed, vec!["counter"]);
    let names: Vec<String> = env
        .registry
        .current()
        .plugins
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    assert_eq!(names, vec!["node-health"]);
}

#[test]
fn state_survives_a_restart() {
    let env = Env::new(test_limits(), &["counter"]);
    env.registry.scan();
    let eval = Evaluator::new(env.registry.clone(), Some(env.store.clone()));
    for seq in 1..=3 {
        eval.evaluate(&node_tick(seq), seq as i64);
    }
    let store_path = env.store.path().to_path_buf();
    let plugin_dir = env.plugin_dir();
    drop(eval);
    let Env {
        dir,
        store,
        registry,
    } = env;
    drop(registry);
    drop(store);
    // A new process: new store handle, new runtime, new registry, same files.
    let store = Arc::new(vigil::store::Store::open(&store_path).unwrap());
    let rt =
        Arc::new(vigil::plugins::Runtime::new(test_limits(), None, Some(store.clone())).unwrap());
    let registry = Arc::new(vigil::plugins::Registry::new(
        rt,
        plugin_dir,
        Default::default(),
        3,
    ));
    registry.scan();
    let ev = Evaluator::new(registry, Some(store)).evaluate(&node_tick(4), 4);
    assert_eq!(counter_seen(&ev)[0].2, 4, "the count went on from 3");
    drop(dir);
}

#[test]
fn quarantine_lifts_only_when_the_file_changes() {
    let env = Env::new(test_limits(), &["panics"]);
    env.registry.scan();
    let eval = Evaluator::new(env.registry.clone(), None);
    for seq in 1..=3 {
        eval.evaluate(&node_tick(seq), seq as i64);
    }
    assert!(env.registry.current().plugins[0].health().quarantined);
    // Same bytes written again: still the same broken plugin.
    std::fs::write(
        env.plugin_file("panics"),
        std::fs::read(plugins::path("panics")).unwrap(),
    )
    .unwrap();
    assert!(!env.registry.scan().changed());
    assert!(env.registry.current().plugins[0].health().quarantined);
    // A fixed build (here: another plugin under that file name) runs.
    std::fs::write(
        env.plugin_file("panics"),
        std::fs::read(plugins::path("counter")).unwrap(),
    )
    .unwrap();
    assert!(env.registry.scan().changed());
    let ev = eval.evaluate(&node_tick(4), 4);
    assert!(ev.results[0].outcome.is_ok());
}

#[test]
fn two_files_with_one_name_keep_the_running_one() {
    let env = Env::new(test_limits(), &["counter"]);
    env.registry.scan();
    std::fs::copy(
        plugins::path("counter-v2"),
        env.plugin_dir().join("counter-copy.wasm"),
    )
    .unwrap();
    let report = env.registry.scan();
    assert_eq!(report.errors.len(), 1);
    let msg = report.errors[0].to_string();
    assert!(
        msg.contains("counter-copy.wasm: declares the name `counter`, already used by"),
        "{msg}"
    );
    let set = env.registry.current();
    assert_eq!(set.plugins.len(), 1);
    assert_eq!(set.plugins[0].module.manifest.version, "1.0.0");
}
