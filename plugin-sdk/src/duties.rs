//! Duty arithmetic shared by the analytics plugins: per-epoch score contributions
//! (numerator, denominator) of one validator, the composite weights of the spec, and
//! duty alerts aggregated per beacon node.
//!
//! Scores over a window are Σ numerators / Σ denominators ([`crate::stats::RatioSum`]),
//! never a mean of per-epoch ratios, so every function here returns the pair.

use crate::columns::{Tri, gwei};
use crate::{AlertCondition, Severity, ValidatorColumns};
use std::collections::BTreeMap;

/// `EFFECTIVE_BALANCE_INCREMENT`, gwei (every preset).
pub const EFFECTIVE_BALANCE_INCREMENT: i64 = 1_000_000_000;
/// Altair reward weights (of `WEIGHT_DENOMINATOR` = 64): head, target, source, sync,
/// proposer.
pub const WEIGHT_HEAD: f64 = 14.0;
pub const WEIGHT_TARGET: f64 = 26.0;
pub const WEIGHT_SOURCE: f64 = 14.0;
pub const WEIGHT_SYNC: f64 = 2.0;
pub const WEIGHT_PROPOSER: f64 = 8.0;
pub const WEIGHT_DENOMINATOR: f64 = 64.0;
/// Base reward per increment assumed when the network's is unknown (mainnet-sized
/// network, ~34M ETH staked): it only scales estimated contributions, whose ratio is
/// what matters.
pub const NOMINAL_BASE_REWARD_PER_INCREMENT: i64 = 350;

/// Attestation effectiveness contribution of validator `i`: Σ actual / Σ ideal rewards
/// (head + target + source), gwei. When the node serves no rewards (or the ideal is
/// zero, as in an inactivity leak) it is estimated from the vote flags with the spec's
/// weights on the validator's base reward: a missed attestation earns 0 of the ideal,
/// a wrong head/target/source vote loses that weight. `None` when nothing is known.
pub fn attestation_contribution(
    v: &ValidatorColumns,
    i: usize,
    base_reward_per_increment: Option<i64>,
) -> Option<(f64, f64)> {
    if !v.is_active(i) {
        return None;
    }
    if let (Some(actual), Some(ideal)) = (v.attestation_reward(i), v.attestation_ideal(i))
        && ideal > 0
    {
        return Some((actual as f64, ideal as f64));
    }
    let increments = gwei(v.effective_balance[i])? / EFFECTIVE_BALANCE_INCREMENT;
    let base = (increments * base_reward_per_increment.unwrap_or(NOMINAL_BASE_REWARD_PER_INCREMENT))
        as f64;
    let ideal = base * (WEIGHT_HEAD + WEIGHT_TARGET + WEIGHT_SOURCE) / WEIGHT_DENOMINATOR;
    match v.attested(i) {
        Tri::Unknown => None,
        Tri::No => Some((0.0, ideal)),
        Tri::Yes => {
            let ok = |col: &Vec<u8>, w: f64| match Tri::from_u8(col[i]) {
                Tri::No => 0.0,
                _ => w,
            };
            let earned = ok(&v.head_ok, WEIGHT_HEAD)
                + ok(&v.target_ok, WEIGHT_TARGET)
                + ok(&v.source_ok, WEIGHT_SOURCE);
            Some((base * earned / WEIGHT_DENOMINATOR, ideal))
        }
    }
}

/// Inclusion-distance contribution: earliest possible inclusion delay / actual delay
/// (1 when included in the first block that could hold it; skipped slots are not the
/// validator's fault), 0 for a missed attestation; denominator 1 per epoch.
pub fn inclusion_contribution(v: &ValidatorColumns, i: usize) -> Option<(f64, f64)> {
    if !v.is_active(i) {
        return None;
    }
    match v.attested(i) {
        Tri::No => Some((0.0, 1.0)),
        Tri::Unknown => None,
        Tri::Yes => {
            let actual = crate::columns::count(v.inclusion_delay[i])?.max(1);
            let earliest = crate::columns::count(v.earliest_inclusion_delay[i])
                .unwrap_or(1)
                .clamp(1, actual);
            Some((earliest as f64 / actual as f64, 1.0))
        }
    }
}

/// Proposal contribution: canonical blocks / duties (orphaned blocks count as missed).
/// `None` without a duty this epoch.
pub fn proposal_contribution(v: &ValidatorColumns, i: usize) -> Option<(f64, f64)> {
    let assigned = v.proposals_assigned[i];
    (assigned > 0).then(|| (v.proposals_made[i].min(assigned) as f64, assigned as f64))
}

/// Sync contribution: slots signed / slots with a block while a member. `None` when not
/// a member (or no block).
pub fn sync_contribution(v: &ValidatorColumns, i: usize) -> Option<(f64, f64)> {
    let expected = v.sync_expected[i];
    (expected > 0 && Tri::from_u8(v.sync_member[i]) != Tri::No)
        .then(|| (v.sync_signed[i].min(expected) as f64, expected as f64))
}

/// The composite 0..1 of the component ratios (0..1), with the spec's weights: 54/64
/// attestation + 8/64 proposal + 2/64 sync; without a proposal duty 56/64 + 8/64 sync,
/// without a sync duty 62/64 + 2/64 proposal, with neither the attestation ratio alone.
pub fn composite(
    attestation: Option<f64>,
    proposal: Option<f64>,
    sync: Option<f64>,
) -> Option<f64> {
    let a = attestation?.clamp(0.0, 1.0);
    let w = WEIGHT_DENOMINATOR;
    Some(match (proposal, sync) {
        (Some(p), Some(s)) => (54.0 * a + 8.0 * p.clamp(0.0, 1.0) + 2.0 * s.clamp(0.0, 1.0)) / w,
        (None, Some(s)) => (56.0 * a + 8.0 * s.clamp(0.0, 1.0)) / w,
        (Some(p), None) => (62.0 * a + 2.0 * p.clamp(0.0, 1.0)) / w,
        (None, None) => a,
    })
}

/// Group validator indices by their beacon node (`node` label; "unknown" without one).
pub fn by_node(
    v: &ValidatorColumns,
    validators: impl IntoIterator<Item = u64>,
) -> BTreeMap<&str, Vec<u64>> {
    let mut out: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for index in validators {
        let node = v
            .position(index)
            .and_then(|i| v.label("node", i))
            .unwrap_or("unknown");
        out.entry(node).or_default().push(index);
    }
    out
}

/// "6, 7" or "1, 2, … and 40 more": at most ten validators named in a summary.
pub fn name_validators(validators: &[u64]) -> String {
    let shown: Vec<String> = validators.iter().take(10).map(u64::to_string).collect();
    if validators.len() > 10 {
        format!("{} and {} more", shown.join(", "), validators.len() - 10)
    } else {
        shown.join(", ")
    }
}

/// A duty alert of the contract's shape: subject `node`, the affected validators (the
/// host keeps at most 100) and their count; `what` completes "N validator(s) …".
pub fn duty_alert(
    name: &str,
    severity: Severity,
    node: &str,
    mut validators: Vec<u64>,
    what: &str,
) -> AlertCondition {
    validators.sort_unstable();
    validators.dedup();
    AlertCondition::new(
        name,
        severity,
        format!(
            "{} validator(s) on {node} {what}: {}",
            validators.len(),
            name_validators(&validators)
        ),
    )
    .subject("node", node)
    .validators(validators)
}

/// Parse a severity name from configuration.
pub fn parse_severity(key: &str, s: &str) -> Result<Severity, crate::ConfigError> {
    match s {
        "critical" => Ok(Severity::Critical),
        "high" => Ok(Severity::High),
        "medium" => Ok(Severity::Medium),
        "low" => Ok(Severity::Low),
        "info" => Ok(Severity::Info),
        other => Err(crate::ConfigError::key(
            key,
            format!("{other:?} is not a severity: use critical, high, medium, low or info"),
        )),
    }
}

/// Epochs in `days` days on this network.
pub fn epochs_per_day(n: &crate::NetworkInfo) -> u64 {
    (86_400 / (n.seconds_per_slot.max(1) as u64 * n.slots_per_epoch.max(1) as u64)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn composite_uses_fallback_weights() {
        assert_eq!(composite(Some(1.0), Some(1.0), Some(1.0)), Some(1.0));
        assert_eq!(
            composite(Some(1.0), Some(0.0), Some(1.0)),
            Some(56.0 / 64.0)
        );
        assert_eq!(composite(Some(1.0), None, Some(0.0)), Some(56.0 / 64.0));
        assert_eq!(composite(Some(1.0), Some(0.0), None), Some(62.0 / 64.0));
        assert_eq!(composite(Some(0.5), None, None), Some(0.5));
        assert_eq!(composite(None, Some(1.0), Some(1.0)), None);
    }

    #[test]
    fn contributions_prefer_rewards_and_fall_back_to_flags() {
        let mut e = testing::epoch_input(1, 3);
        let v = &mut e.validators;
        // 0: rewards known.
        v.reward_head[0] = 10;
        v.reward_target[0] = 20;
        v.reward_source[0] = 10;
        v.ideal_head[0] = 14;
        v.ideal_target[0] = 26;
        v.ideal_source[0] = 14;
        // 1: missed, no rewards; 2: attested with a wrong head vote, no rewards.
        v.attested[1] = 0;
        v.attested[2] = 1;
        v.head_ok[2] = 0;
        v.inclusion_delay[2] = 2;
        v.earliest_inclusion_delay[2] = 1;
        assert_eq!(attestation_contribution(v, 0, None), Some((40.0, 54.0)));
        let (n1, d1) = attestation_contribution(v, 1, Some(100)).unwrap();
        assert_eq!(n1, 0.0);
        assert!((d1 - 32.0 * 100.0 * 54.0 / 64.0).abs() < 1e-9);
        let (n2, d2) = attestation_contribution(v, 2, Some(100)).unwrap();
        assert!((n2 / d2 - 40.0 / 54.0).abs() < 1e-9);
        assert_eq!(inclusion_contribution(v, 1), Some((0.0, 1.0)));
        assert_eq!(inclusion_contribution(v, 2), Some((0.5, 1.0)));
        assert_eq!(inclusion_contribution(v, 0), None, "attested unknown");
    }
}
