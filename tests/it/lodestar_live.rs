//! The chain collector against a live Lodestar 1.5.1 dev chain (an older client:
//! no rewards endpoints, liveness and validator filters in their old forms), started by
//! `tests/devnet/lodestar/devnet.sh`. Validator client B (validators 6 and 7) is stopped
//! mid-run; Vigil must record their missed attestations from liveness, their empty
//! proposer slots, and their falling balances — and the shipped analytics plugins must
//! raise the same alerts from liveness, blocks and balances (no rewards endpoints).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};
use vigil::collect::chain::{ChainCollector, Observation};
use vigil::contract::BlockOutcome;
use vigil::model::ValidatorEpoch;

/// A running devnet, stopped on drop (and by its watchdog if this process dies).
struct Devnet {
    base_port: u16,
    env: BTreeMap<String, String>,
}

fn script() -> std::path::PathBuf {
    crate::support::root().join("tests/devnet/lodestar/devnet.sh")
}

fn run(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run devnet.sh");
    assert!(
        out.status.success(),
        "devnet.sh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Devnet {
    fn start() -> Devnet {
        run(&["install"]);
        // Ports from the process id: parallel runs on one machine do not collide.
        let base_port = 20_000 + (std::process::id() % 2_000) as u16 * 10;
        let port = base_port.to_string();
        let pid = std::process::id().to_string();
        run(&[
            "start",
            "--validators",
            "8",
            "--split",
            "6",
            "--base-port",
            &port,
            "--watch-pid",
            &pid,
            "--max-lifetime",
            "1200",
        ]);
        let env = run(&["env", "--base-port", &port])
            .lines()
            .filter_map(|l| {
                l.split_once('=').map(|(k, v)| {
                    (
                        k.to_string(),
                        v.split_whitespace().next().unwrap_or("").to_string(),
                    )
                })
            })
            .collect();
        Devnet { base_port, env }
    }

    fn stop_vc_b(&self) {
        run(&["stop-vc", "b", "--base-port", &self.base_port.to_string()]);
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", "--base-port", &self.base_port.to_string()])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_lodestar_1_5_1_records_a_stopped_validator_client() {
    // The plugins are built (once per test run) before the chain starts.
    let mut judge = tokio::task::block_in_place(crate::analytics::Judge::new);
    let devnet = tokio::task::spawn_blocking(Devnet::start).await.unwrap();
    let url = devnet.env["REST_URL"].clone();
    let http = vigil::net::http_client().unwrap();
    let mut chain = ChainCollector::new(
        "devnet",
        &[("lodestar".into(), url)],
        &(0..8).collect::<Vec<_>>(),
        http,
    );
    let mut epochs: BTreeMap<u64, BTreeMap<u64, ValidatorEpoch>> = BTreeMap::new();
    let mut missed: Vec<(u64, Option<u64>)> = Vec::new();
    let mut stopped_at: Option<u64> = None;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        assert!(
            Instant::now() < deadline,
            "the devnet did not get far enough in 15 minutes"
        );
        let now = vigil::clock::now_ms();
        let next = chain.next_tick_ms(now, 1000);
        tokio::time::sleep(Duration::from_millis((next - now).max(0) as u64)).await;
        for o in chain.tick(vigil::clock::now_ms()).await {
            judge.judge(o.clone());
            match o {
                Observation::Slot(s) if s.outcome == BlockOutcome::Missed => {
                    missed.push((s.slot, s.proposer))
                }
                Observation::Epoch { input, rows, .. } => {
                    epochs.insert(
                        input.epoch,
                        rows.into_iter().map(|r| (r.validator, r)).collect(),
                    );
                }
                _ => {}
            }
        }
        let Some(c) = chain.chain() else { continue };
        let slot = c.slot_at(vigil::clock::now_ms()).unwrap_or(0);
        let spe = c.spec.slots_per_epoch;
        if stopped_at.is_none() && slot >= 3 * spe {
            devnet.stop_vc_b();
            stopped_at = Some(slot);
        }
        // Four epochs after the stop, the missed ones are delivered.
        if let Some(at) = stopped_at
            && epochs
                .keys()
                .next_back()
                .is_some_and(|e| *e >= at / spe + 4)
        {
            break;
        }
    }
    let spe = chain.chain().unwrap().spec.slots_per_epoch;
    let stop_epoch = stopped_at.unwrap() / spe;
    // Liveness (old GET form) says 6 and 7 missed every full epoch after the stop.
    for e in stop_epoch + 1..=stop_epoch + 3 {
        let rows = &epochs[&e];
        for v in [6, 7] {
            assert_eq!(
                rows[&v].attested,
                Some(false),
                "validator {v} epoch {e}: {:?}",
                rows[&v]
            );
        }
        for v in 0..6 {
            assert_eq!(
                rows[&v].attested,
                Some(true),
                "validator {v} epoch {e}: {:?}",
                rows[&v]
            );
        }
        // No rewards endpoints on this client: unknown, not zero.
        assert_eq!(rows[&6].reward_target, None);
    }
    // Before the stop everyone attested.
    assert_eq!(epochs[&(stop_epoch - 1)][&6].attested, Some(true));
    // Every empty slot after the stop was a duty of 6 or 7.
    let after: Vec<_> = missed
        .iter()
        .filter(|(s, _)| *s > stopped_at.unwrap() + 1)
        .collect();
    for (s, p) in &after {
        assert!(matches!(p, Some(6 | 7)), "slot {s} missed by {p:?}");
    }
    // Balances of 6 and 7 fall while they are offline.
    let bal = |e: u64, v: u64| epochs[&e][&v].balance.unwrap();
    assert!(
        bal(stop_epoch + 3, 6) < bal(stop_epoch, 6),
        "validator 6 balance"
    );
    drop(devnet);
    live_alerts(&judge.judged, stop_epoch, &after);
}

/// The analytics plugins on the live chain: the same alerts as on the replay, from
/// liveness, blocks and balances alone.
fn live_alerts(j: &crate::analytics::Judged, stop_epoch: u64, missed: &[&(u64, Option<u64>)]) {
    assert!(j.failures.is_empty(), "plugin failures: {:?}", j.failures);
    // Two missed epochs in a row after the stop: raised, naming exactly 6 and 7.
    let att: Vec<_> = j.named("attestations_missed").collect();
    assert!(
        att.iter()
            .any(|a| a.at.is_some_and(|e| e >= stop_epoch + 2) && a.validators == vec![6, 7]),
        "attestations_missed for 6 and 7: {att:#?}"
    );
    // Every missed slot after the stop raised proposal_missed in its slot.
    for (s, p) in missed {
        let a = j
            .named("proposal_missed")
            .find(|a| !a.epoch_input && a.at == Some(*s))
            .unwrap_or_else(|| panic!("no proposal_missed at slot {s}"));
        assert!(a.validators.contains(&p.unwrap()), "slot {s}: {a:?}");
    }
    // Sync committee (all 8 sit in it on the minimal preset) and balances.
    assert!(
        j.named("sync_committee_missed")
            .any(|a| a.validators == vec![6, 7]),
        "sync_committee_missed for 6 and 7"
    );
    assert!(
        j.named("balance_decreasing")
            .any(|a| a.validators.contains(&6) && a.validators.contains(&7)),
        "balance_decreasing for 6 and 7"
    );
    // The healthy validators raised nothing.
    let healthy: Vec<_> = j
        .alerts
        .iter()
        .filter(|a| {
            a.severity != vigil::contract::Severity::Info && a.validators.iter().any(|v| *v < 6)
        })
        .collect();
    assert!(
        healthy.is_empty(),
        "healthy validators raised: {healthy:#?}"
    );
    // Network figures without rewards: base reward from the validator list,
    // participation from the included aggregation bits.
    let last = j.epoch_inputs.values().next_back().unwrap();
    assert_eq!(last.network_stats.active_validators, Some(8));
    assert!(last.network_stats.base_reward_per_increment.is_some());
    assert!(last.network_stats.participation_rate.is_some());
}
