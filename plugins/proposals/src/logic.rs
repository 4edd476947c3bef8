//! Proposal bookkeeping, in plain functions so it unit-tests natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::duties::duty_alert;
use vigil_plugin_sdk::prelude::*;

/// `[plugin.proposals]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub hold_slots: u64,
    pub upcoming_epochs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hold_slots: 32,
            upcoming_epochs: 2,
        }
    }
}

impl Config {
    /// Range checks, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("hold_slots", self.hold_slots, 1, 10_000)?;
        ConfigError::check_range("upcoming_epochs", self.upcoming_epochs, 0, 64)?;
        Ok(())
    }
}

/// Recent missed and orphaned proposals: slot → (validator, node).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recent {
    pub missed: BTreeMap<u64, (u64, String)>,
    pub orphaned: BTreeMap<u64, (u64, String)>,
}

impl Recent {
    /// Judge a slot or an epoch input.
    pub fn judge(&mut self, cfg: &Config, input: &Input, out: &mut Output) {
        let now_slot = match input {
            Input::Slot(s) => {
                match (s.outcome, s.proposer) {
                    (BlockOutcome::Missed, Some(p)) if s.proposer_watched => {
                        self.missed.insert(s.slot, (p, s.node.clone()));
                    }
                    // The slot was re-read and has a block after all.
                    (BlockOutcome::Proposed, _) => {
                        self.missed.remove(&s.slot);
                    }
                    _ => {}
                }
                if s.proposer_watched
                    && let (BlockOutcome::Proposed, Some(p), Some(r)) =
                        (s.outcome, s.proposer, s.proposer_reward)
                {
                    out.series(
                        SeriesPoint::new("proposal_reward_gwei", r as f64).label("validator", p),
                    );
                }
                s.slot
            }
            Input::Epoch(e) => {
                let node = e
                    .validators
                    .label("node", 0)
                    .unwrap_or("unknown")
                    .to_string();
                for p in &e.proposals {
                    match p.outcome {
                        BlockOutcome::Orphaned => {
                            self.orphaned.insert(p.slot, (p.validator, node.clone()));
                        }
                        BlockOutcome::Proposed => {
                            self.orphaned.remove(&p.slot);
                            self.missed.remove(&p.slot);
                        }
                        _ => {}
                    }
                }
                let spe = e.network.slots_per_epoch as u64;
                let now = (e.epoch + 1) * spe;
                let horizon = (e.epoch + 1 + cfg.upcoming_epochs) * spe;
                let mut soon: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
                for p in e
                    .upcoming_proposals
                    .iter()
                    .filter(|p| p.slot >= now && p.slot < horizon)
                {
                    soon.entry(p.slot).or_default().push(p.validator);
                }
                if !soon.is_empty() {
                    let validators: Vec<u64> = soon.values().flatten().copied().collect();
                    let first = *soon.keys().next().unwrap_or(&now);
                    out.alert(duty_alert(
                        "proposal_upcoming",
                        Severity::Info,
                        &node,
                        validators,
                        &format!("propose a block soon (first at slot {first}): don't restart the node or validator client now"),
                    ).value(first as f64));
                }
                now.saturating_sub(1)
            }
            _ => return,
        };
        let keep_from = now_slot.saturating_sub(cfg.hold_slots);
        self.missed.retain(|s, _| *s >= keep_from);
        self.orphaned.retain(|s, _| *s >= keep_from);
        for (name, map, sev, what) in [
            (
                "proposal_missed",
                &self.missed,
                Severity::Critical,
                "missed a block proposal",
            ),
            (
                "proposal_orphaned",
                &self.orphaned,
                Severity::High,
                "had a block orphaned",
            ),
        ] {
            let mut by_node: BTreeMap<&str, (Vec<u64>, Vec<u64>)> = BTreeMap::new();
            for (slot, (v, node)) in map {
                let e = by_node.entry(node).or_default();
                e.0.push(*v);
                e.1.push(*slot);
            }
            for (node, (validators, slots)) in by_node {
                let slots: Vec<String> = slots.iter().map(u64::to_string).collect();
                out.alert(
                    duty_alert(
                        name,
                        sev,
                        node,
                        validators,
                        &format!("{what} (slots {})", slots.join(", ")),
                    )
                    .value(slots.len() as f64),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::testing::{self, Harness};
    use vigil_plugin_sdk::{Proposal, SlotInput};

    fn slot(s: u64, outcome: BlockOutcome, proposer: u64, watched: bool) -> Input {
        Input::Slot(SlotInput {
            network: testing::network(),
            slot: s,
            epoch: s / 8,
            proposer: Some(proposer),
            proposer_watched: watched,
            outcome,
            block_root: None,
            parent_root: None,
            attestations: 0,
            sync_participation: None,
            proposer_reward: (outcome == BlockOutcome::Proposed).then_some(25_000_000),
            seen_at_ms: None,
            execution_block_number: None,
            fee_recipient: None,
            node: "bn".into(),
        })
    }

    #[test]
    fn missed_proposal_raises_in_its_slot_and_expires() {
        let mut h = Harness::<crate::Proposals>::with_toml("hold_slots = 4").unwrap();
        let out = h
            .evaluate(&slot(81, BlockOutcome::Missed, 7, true))
            .unwrap();
        let a = out.find_alert("proposal_missed").unwrap();
        assert_eq!(
            (a.validators.clone(), a.severity),
            (vec![7], Severity::Critical)
        );
        assert!(a.summary.contains("slots 81"), "{}", a.summary);
        // Not watched: nothing. Still held 3 slots later, gone after hold_slots.
        let out = h
            .evaluate(&slot(82, BlockOutcome::Missed, 3, false))
            .unwrap();
        assert_eq!(
            out.find_alert("proposal_missed").unwrap().validators,
            vec![7]
        );
        let out = h
            .evaluate(&slot(84, BlockOutcome::Proposed, 1, true))
            .unwrap();
        assert!(out.find_alert("proposal_missed").is_some());
        assert_eq!(out.series[0].name, "proposal_reward_gwei");
        assert!(
            h.evaluate(&slot(86, BlockOutcome::Proposed, 1, false))
                .unwrap()
                .alerts
                .is_empty()
        );
    }

    #[test]
    fn orphaned_and_upcoming_from_epochs() {
        let mut h = Harness::<crate::Proposals>::with_toml("").unwrap();
        let mut e = testing::epoch_input(10, 8);
        e.proposals.push(Proposal {
            slot: 83,
            validator: 2,
            outcome: BlockOutcome::Orphaned,
            reward: None,
        });
        e.upcoming_proposals.push(Proposal {
            slot: 90,
            validator: 5,
            outcome: BlockOutcome::Unknown,
            reward: None,
        });
        e.upcoming_proposals.push(Proposal {
            slot: 200,
            validator: 4,
            outcome: BlockOutcome::Unknown,
            reward: None,
        });
        let out = h.evaluate(&Input::Epoch(e)).unwrap();
        assert_eq!(
            out.find_alert("proposal_orphaned").unwrap().validators,
            vec![2]
        );
        let up = out.find_alert("proposal_upcoming").unwrap();
        assert_eq!(
            (up.validators.clone(), up.severity),
            (vec![5], Severity::Info)
        );
    }

    #[test]
    fn bad_config_is_refused_by_key() {
        let e = Harness::<crate::Proposals>::with_toml("hold_slots = 0")
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("hold_slots"));
    }
}
