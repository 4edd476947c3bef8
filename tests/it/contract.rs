//! Contract round trip: the host hands realistic inputs to compiled plugins and checks
//! the outputs field by field, and that state written through the host persists.

use crate::support::{Env, plugins, test_limits};
use vigil::contract::*;
use vigil::evaluate::Evaluator;

const UNKNOWN_I64: i64 = i64::MIN;
const UNKNOWN_U64: u64 = u64::MAX;

fn network() -> NetworkInfo {
    NetworkInfo {
        name: "devnet".into(),
        iteration: 1,
        genesis_time: 1_795_381_736,
        genesis_validators_root:
            "0x270d43e74ce340de4bca2b1936beca0f4f5408d9e78aec4850920baf659d5b69".into(),
        chain_id: None,
        seconds_per_slot: 2,
        slots_per_epoch: 8,
        epochs_per_sync_committee_period: 8,
        sync_committee_size: 32,
    }
}

/// An epoch of the recorded devnet shape: 8 validators, 6 and 7 offline (liveness
/// false, negative target/source rewards, head 0), the others perfect.
fn epoch(e: u64) -> Input {
    let n = 8;
    let offline = |i: usize| i >= 6;
    let col = |f: &dyn Fn(usize) -> i64| (0..n).map(f).collect::<Vec<i64>>();
    Input::Epoch(EpochInput {
        network: network(),
        epoch: e,
        finalized: false,
        validators: ValidatorColumns {
            index: (0..n as u64).collect(),
            status: vec![2; n], // active_ongoing
            slashed: vec![0; n],
            balance: col(&|i| {
                if offline(i) {
                    32_041_800_000
                } else {
                    32_098_700_000
                }
            }),
            effective_balance: vec![32_000_000_000; n],
            attested: (0..n).map(|i| if offline(i) { 0 } else { 1 }).collect(),
            inclusion_delay: (0..n)
                .map(|i| if offline(i) { UNKNOWN_U64 } else { 1 })
                .collect(),
            earliest_inclusion_delay: vec![1; n],
            head_ok: (0..n).map(|i| if offline(i) { 0 } else { 1 }).collect(),
            target_ok: (0..n).map(|i| if offline(i) { 0 } else { 1 }).collect(),
            source_ok: (0..n).map(|i| if offline(i) { 0 } else { 1 }).collect(),
            reward_head: col(&|i| if offline(i) { 0 } else { 2_862 }),
            reward_target: col(&|i| if offline(i) { -5_316 } else { 5_316 }),
            reward_source: col(&|i| if offline(i) { -2_862 } else { 2_862 }),
            reward_inactivity: vec![0; n],
            ideal_head: vec![2_862; n],
            ideal_target: vec![5_316; n],
            ideal_source: vec![2_862; n],
            proposals_assigned: vec![1; n],
            proposals_made: (0..n).map(|i| if offline(i) { 0 } else { 1 }).collect(),
            proposals_orphaned: vec![0; n],
            proposal_reward: col(&|i| if offline(i) { UNKNOWN_I64 } else { 31_250 }),
            sync_member: vec![1; n],
            sync_signed: (0..n).map(|i| if offline(i) { 0 } else { 8 }).collect(),
            sync_expected: vec![8; n],
            sync_reward: col(&|i| if offline(i) { -1_432 } else { 1_432 }),
            deposits: vec![0; n],
            withdrawals: vec![0; n],
            labels: vec![LabelColumn {
                name: "node".into(),
                values: vec!["beacon-1".into()],
                codes: vec![0; n],
            }],
        },
        proposals: Vec::new(),
        upcoming_proposals: Vec::new(),
        next_sync_committee: Vec::new(),
        network_stats: NetworkStats {
            total_active_balance: Some(256_000_000_000),
            active_validators: Some(8),
            participation_rate: Some(0.75),
            sync_participation: Some(0.75),
            base_reward_per_increment: None,
        },
    })
}

#[test]
fn epoch_input_round_trips_through_a_compiled_plugin() {
    let env = Env::new(test_limits(), &["attestations"]);
    let report = env.registry.scan();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.added, vec!["attestations"]);
    let eval = Evaluator::new(env.registry.clone(), Some(env.store.clone()));

    let first = eval.evaluate(&epoch(13), 1_000);
    let out = first.results[0]
        .outcome
        .as_ref()
        .expect("epoch 13 evaluates");
    assert!(
        out.alerts.is_empty(),
        "one missed epoch stays below the default of 2"
    );
    let streak = out
        .series
        .iter()
        .find(|p| p.name == "validators_missing_streak")
        .expect("streak series");
    assert_eq!(streak.value, 2.0);
    // Per-validator effectiveness crosses as columns, field by field.
    let names: Vec<&str> = out
        .validator_series
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "attestation_effectiveness_percent",
            "inclusion_effectiveness_percent"
        ]
    );
    let expected: Vec<f64> = (0..8).map(|i| if i >= 6 { 0.0 } else { 100.0 }).collect();
    for s in &out.validator_series {
        assert!(s.labels.is_empty(), "{}: {:?}", s.name, s.labels);
        assert_eq!(s.validators, (0..8).collect::<Vec<u64>>(), "{}", s.name);
        assert_eq!(s.values, expected, "{}", s.name);
        assert_eq!(s.timestamp_ms, None, "{}", s.name);
    }
    assert!(
        out.series.iter().all(|p| p.labels.is_empty()),
        "no per-validator series point left: {:?}",
        out.series
    );

    let second = eval.evaluate(&epoch(14), 2_000);
    assert_eq!(second.generation, first.generation);
    let out = second.results[0]
        .outcome
        .as_ref()
        .expect("epoch 14 evaluates");
    assert_eq!(out.alerts.len(), 1);
    let a = &out.alerts[0];
    assert_eq!(a.name, "attestations_missed");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        a.subject,
        vec![("node".to_string(), "beacon-1".to_string())]
    );
    assert_eq!(a.validators, vec![6, 7]);
    assert_eq!(a.affected_count, 2);
    assert_eq!(a.value, Some(2.0));
    assert_eq!(a.threshold, Some(2.0));
    assert_eq!(
        a.summary,
        "2 validator(s) on beacon-1 missed attestations for 2 consecutive epochs (up to epoch 14): 6, 7"
    );
    // The plugin's state reached the store through the host, and its series too.
    assert_eq!(
        env.store.plugin_state_keys("attestations").unwrap(),
        vec!["tracker".to_string()]
    );
    let tracker: serde_json::Value = serde_json::from_slice(
        &env.store
            .plugin_state_get("attestations", "tracker")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(tracker["last_epoch"], 14);
    let key = vigil::store::SeriesKey::new("validators_missing_streak", &[]);
    assert_eq!(
        env.store.series_range(&key, 0, 10_000, 10).unwrap(),
        vec![(1_000, 2.0), (2_000, 2.0)]
    );
    // The host stored point i as `name{validator="<validators[i]>"}`.
    for (v, value) in [("0", 100.0), ("6", 0.0)] {
        let key = vigil::store::SeriesKey::new(
            "inclusion_effectiveness_percent",
            &[("validator".to_string(), v.to_string())],
        );
        assert_eq!(
            env.store.series_range(&key, 0, 10_000, 10).unwrap(),
            vec![(1_000, value), (2_000, value)],
            "validator {v}"
        );
    }
}

#[test]
fn node_fixture_round_trips_field_by_field() {
    let env = Env::new(test_limits(), &["node-health"]);
    env.registry.scan();
    let inputs =
        vigil::cli::read_inputs(&crate::support::root().join("tests/fixtures/node-tick.json"))
            .unwrap();
    let eval = Evaluator::new(env.registry.clone(), Some(env.store.clone()));
    let ev = eval.evaluate(
        &inputs[0],
        vigil::contract::Input::observed_at_ms(&inputs[0]),
    );
    let out = ev.results[0]
        .outcome
        .as_ref()
        .expect("node-health evaluates");
    type Row<'a> = (&'a str, Severity, String, Option<f64>, Option<f64>);
    let got: Vec<Row> = out
        .alerts
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.severity,
                a.subject[0].1.clone(),
                a.value,
                a.threshold,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "cl_head_behind",
                Severity::High,
                "beacon-1".to_string(),
                Some(7.0),
                Some(3.0)
            ),
            (
                "cl_peers_low",
                Severity::Medium,
                "beacon-1".to_string(),
                Some(2.0),
                Some(5.0)
            ),
            (
                "node_unreachable",
                Severity::Critical,
                "beacon-2".to_string(),
                None,
                None
            ),
            (
                "el_peers_low",
                Severity::Medium,
                "ganache".to_string(),
                Some(0.0),
                Some(3.0)
            ),
        ]
    );
    assert!(
        out.alerts[2]
            .summary
            .contains("connection refused (http://127.0.0.1:5053)")
    );
    let checks: Vec<(&str, CheckStatus)> = out
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.status))
        .collect();
    assert_eq!(
        checks,
        vec![
            ("beacon_synced", CheckStatus::Warn),
            ("beacon_reachable", CheckStatus::Fail),
            ("execution_synced", CheckStatus::Warn),
            ("execution_chain", CheckStatus::Ok)
        ]
    );
    assert_eq!(
        out.series[0].labels,
        vec![("node".to_string(), "beacon-1".to_string())]
    );
    // The reset input in the same fixture is not for node-health: nobody evaluates it.
    let ev = eval.evaluate(&inputs[1], 0);
    assert!(ev.results.is_empty());
}

#[test]
fn plugin_config_reaches_the_plugin() {
    let env = Env::new(test_limits(), &["node-health"]);
    env.registry.scan();
    let mut configs = std::collections::BTreeMap::new();
    configs.insert(
        "node-health".to_string(),
        r#"{"min_peers": 60}"#.to_string(),
    );
    assert!(env.registry.apply_configs(configs).unwrap());
    let eval = Evaluator::new(env.registry.clone(), None);
    let ev = eval.evaluate(&crate::support::node_tick(1), 0);
    let out = ev.results[0].outcome.as_ref().unwrap();
    assert_eq!(out.alerts[0].name, "cl_peers_low");
    assert_eq!(out.alerts[0].threshold, Some(60.0));
    let _ = plugins::path("node-health");
}

/// `vigil plugins test` shows a compiled plugin's per-validator series, in text and JSON.
#[test]
fn plugins_test_shows_validator_series() {
    let dir = std::env::temp_dir().join(format!("vigil-contract-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = dir.join("epoch.json");
    std::fs::write(&fixture, serde_json::to_vec(&epoch(13)).unwrap()).unwrap();
    let wasm = plugins::path("attestations");
    let run = |json: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.env("NO_COLOR", "1").env_remove("VIGIL_CONFIG").args([
            "plugins",
            "test",
            wasm.to_str().unwrap(),
            "--input",
            fixture.to_str().unwrap(),
        ]);
        if json {
            c.arg("--json");
        }
        let out = c.output().expect("run vigil");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(false);
    assert!(
        text.contains(
            "series inclusion_effectiveness_percent{validator=…}: 8 validators, mean 75.00, min 0.00, max 100.00"
        ),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(run(true).lines().next().unwrap()).unwrap();
    let s = &v["output"]["validator_series"][1];
    assert_eq!(s["name"], "inclusion_effectiveness_percent");
    assert_eq!(s["validators"].as_array().unwrap().len(), 8);
    assert_eq!(s["values"][6], 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}
