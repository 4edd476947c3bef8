//! Reset bookkeeping, in plain functions so it unit-tests natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::columns::Tri;
use vigil_plugin_sdk::prelude::*;

/// `[plugin.ephemery]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub notice_epochs: u64,
    pub iterations_kept: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            notice_epochs: 4,
            iterations_kept: 20,
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("notice_epochs", self.notice_epochs, 1, 10_000)?;
        ConfigError::check_range("iterations_kept", self.iterations_kept, 1, 1000)?;
        Ok(())
    }
}

/// One network iteration after a reset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Iteration {
    pub name: String,
    pub detected_at_ms: i64,
    pub genesis_time: u64,
    /// First epoch delivered on the new chain.
    pub first_epoch: Option<u64>,
    /// Validator → epochs until it attested again.
    pub survived: BTreeMap<u64, u64>,
    /// Watched validators not yet back.
    pub missing: Vec<u64>,
    /// Newest epoch seen.
    pub last_epoch: Option<u64>,
}

/// Every iteration since the plugin started, newest last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub iterations: BTreeMap<u32, Iteration>,
    pub current: Option<u32>,
}

impl History {
    /// Judge one input.
    pub fn observe(&mut self, cfg: &Config, input: &Input, out: &mut Output) {
        match input {
            Input::Reset(r) => {
                let it = r.current.iteration;
                self.iterations.insert(
                    it,
                    Iteration {
                        name: r.current.name.clone(),
                        detected_at_ms: r.detected_at_ms,
                        genesis_time: r.current.genesis_time,
                        ..Iteration::default()
                    },
                );
                self.current = Some(it);
                while self.iterations.len() > cfg.iterations_kept {
                    let oldest = *self.iterations.keys().next().unwrap_or(&it);
                    self.iterations.remove(&oldest);
                }
                out.alert(notice(
                    r.current.name.as_str(),
                    it,
                    r.previous.as_ref().map(|p| p.iteration),
                    None,
                ));
            }
            Input::Epoch(e) => self.epoch(cfg, e, out),
            _ => {}
        }
    }

    fn epoch(&mut self, cfg: &Config, e: &EpochInput, out: &mut Output) {
        let it = e.network.iteration;
        let Some(cur) = self.current.filter(|c| *c == it) else {
            return;
        };
        let Some(i) = self.iterations.get_mut(&cur) else {
            return;
        };
        let first = *i.first_epoch.get_or_insert(e.epoch);
        if i.last_epoch.is_none() {
            i.missing = e.validators.index.clone();
        }
        i.last_epoch = Some(i.last_epoch.map_or(e.epoch, |l| l.max(e.epoch)));
        let v = &e.validators;
        let mut back = Vec::new();
        i.missing.retain(|idx| {
            let attested = v.position(*idx).is_some_and(|p| v.attested(p) == Tri::Yes);
            if attested {
                back.push(*idx);
            }
            !attested
        });
        for idx in back {
            let epochs = e.epoch.saturating_sub(first);
            i.survived.insert(idx, epochs);
            out.series(
                SeriesPoint::new("reset_survival_epochs", epochs as f64)
                    .label("validator", idx)
                    .label("iteration", it),
            );
        }
        let elapsed = e.epoch.saturating_sub(first);
        if elapsed < cfg.notice_epochs {
            out.alert(notice(&e.network.name, it, None, Some(elapsed)));
        }
        out.series(
            SeriesPoint::new("reset_survivors", i.survived.len() as f64).label("iteration", it),
        );
        out.series(
            SeriesPoint::new("reset_missing", i.missing.len() as f64).label("iteration", it),
        );
        let total = i.survived.len() + i.missing.len();
        let text = format!(
            "iteration {it}: {} of {total} validators attesting again; {} still missing after {elapsed} epochs{}",
            i.survived.len(),
            i.missing.len(),
            if i.missing.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    vigil_plugin_sdk::duties::name_validators(&i.missing)
                )
            }
        );
        let check = if i.missing.is_empty() {
            Check::ok("reset_survival", text)
        } else {
            Check::warn("reset_survival", text)
        };
        out.check(check.subject("network", &e.network.name));
    }
}

fn notice(
    network: &str,
    iteration: u32,
    previous: Option<u32>,
    elapsed: Option<u64>,
) -> AlertCondition {
    let since = elapsed.map_or(String::new(), |e| format!(" ({e} epochs ago)"));
    let prev = previous.map_or(String::new(), |p| format!(" (was iteration {p})"));
    AlertCondition::new(
        "network_reset",
        Severity::Info,
        format!("{network} was reset: iteration {iteration}{prev}{since}; validators must re-join the new chain"),
    )
    .subject("network", network)
    .value(iteration as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::testing::{self, Harness};
    use vigil_plugin_sdk::{NetworkInfo, ResetInput};

    fn net(iteration: u32) -> NetworkInfo {
        NetworkInfo {
            name: "ephemery".into(),
            iteration,
            ..testing::network()
        }
    }

    fn epoch(e: u64, iteration: u32, attested: &[u64]) -> Input {
        let mut x = testing::epoch_input(e, 4);
        x.network = net(iteration);
        for i in 0..4 {
            x.validators.attested[i] = if attested.contains(&(i as u64)) { 1 } else { 0 };
        }
        Input::Epoch(x)
    }

    #[test]
    fn reset_notice_and_survival_per_iteration() {
        let mut h = Harness::<crate::Ephemery>::with_toml("notice_epochs = 2").unwrap();
        let reset = Input::Reset(ResetInput {
            previous: Some(net(1)),
            current: net(2),
            detected_at_ms: 5,
        });
        let out = h.evaluate(&reset).unwrap();
        let a = out.find_alert("network_reset").unwrap();
        assert_eq!((a.severity, a.value), (Severity::Info, Some(2.0)));
        assert!(a.summary.contains("was iteration 1"), "{}", a.summary);
        let out = h.evaluate(&epoch(0, 2, &[0, 1])).unwrap();
        assert!(out.find_alert("network_reset").is_some());
        assert_eq!(out.checks[0].status, CheckStatus::Warn);
        h.evaluate(&epoch(1, 2, &[0, 1, 2])).unwrap();
        let out = h.evaluate(&epoch(2, 2, &[0, 1, 2, 3])).unwrap();
        assert!(
            out.find_alert("network_reset").is_none(),
            "notice over after 2 epochs"
        );
        let p = out
            .series
            .iter()
            .find(|p| p.name == "reset_survival_epochs")
            .unwrap();
        assert_eq!(p.value, 2.0);
        assert_eq!(out.checks[0].status, CheckStatus::Ok);
        // A second reset keeps the first iteration's history.
        h.evaluate(&Input::Reset(ResetInput {
            previous: Some(net(2)),
            current: net(3),
            detected_at_ms: 9,
        }))
        .unwrap();
        let hist: History = serde_json::from_slice(&h.host.state["history"]).unwrap();
        assert_eq!(
            hist.iterations[&2].survived,
            BTreeMap::from([(0, 0), (1, 0), (2, 1), (3, 2)])
        );
        assert!(hist.iterations.contains_key(&3));
    }

    #[test]
    fn no_reset_no_noise() {
        let mut h = Harness::<crate::Ephemery>::with_toml("").unwrap();
        assert!(h.evaluate(&epoch(5, 1, &[])).unwrap().is_empty());
    }
}
