//! What the host accepts back from a plugin.
//!
//! The rules and limits are the SDK's [`vigil_plugin_sdk::rules`], the one
//! implementation the SDK's `testing::validate_output` also applies, so what passes a
//! plugin's `cargo test` passes here. This module only walks the host's bindings' types
//! (the same fields as the SDK's, different Rust types) through them, and sizes the
//! output against the host's own `max_output_bytes` limit.

use crate::contract::Output;
use vigil_plugin_sdk::rules;

/// Approximate size of an output: string bytes plus 8 bytes per number. Cheap enough to
/// run on every call, close enough to bound what a plugin can make the host hold.
pub fn size_bytes(out: &Output) -> usize {
    let labels = |l: &[(String, String)]| l.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    let mut n = 0;
    for a in &out.alerts {
        n += a.name.len() + a.summary.len() + labels(&a.subject) + 8 * (a.validators.len() + 3);
    }
    for s in &out.scores {
        n += s.component.len() + s.window.len() + 8 * (s.validators.len() + s.values.len());
    }
    for s in &out.subject_scores {
        n += s.component.len() + s.window.len() + labels(&s.subject) + 8;
    }
    for r in &out.recommendations {
        n += r.title.len()
            + r.text.len()
            + labels(&r.subject)
            + r.action_id.as_ref().map_or(0, String::len);
    }
    for p in &out.series {
        n += p.name.len() + labels(&p.labels) + 16;
    }
    for c in &out.checks {
        n += c.name.len() + c.text.len() + labels(&c.subject);
    }
    for s in &out.validator_series {
        n += s.name.len() + labels(&s.labels) + 8 * (s.validators.len() + s.values.len() + 1);
    }
    n
}

/// Refuse outputs the rest of the host could not store, route or show. The rules are
/// the SDK's [`vigil_plugin_sdk::rules`], walked in the same order as the SDK's
/// `testing::validate_output`, so a plugin's `cargo test` fails with this message.
pub fn validate(out: &Output) -> Result<(), String> {
    validate_records(out).map_err(|e| e.to_string())
}

fn validate_records(out: &Output) -> Result<(), rules::OutputError> {
    for a in &out.alerts {
        rules::validate_alert(&a.name, &a.subject, a.value, a.threshold)?;
    }
    for s in &out.scores {
        rules::validate_scores(&s.component, &s.window, &s.validators, &s.values)?;
    }
    for s in &out.subject_scores {
        rules::validate_subject_score(&s.component, &s.window, &s.subject, s.value)?;
    }
    for p in &out.series {
        rules::validate_series_point(&p.name, &p.labels, p.value)?;
    }
    for s in &out.validator_series {
        rules::validate_validator_series(&s.name, &s.labels, &s.validators, &s.values)?;
    }
    rules::validate_validator_series_points(
        out.validator_series.iter().map(|s| s.values.len()).sum(),
    )?;
    for c in &out.checks {
        rules::validate_check(&c.name, &c.subject)?;
    }
    for r in &out.recommendations {
        rules::validate_recommendation(&r.title, &r.subject, r.action_id.as_deref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ValidatorSeries;

    fn output(series: Vec<ValidatorSeries>) -> Output {
        Output {
            alerts: Vec::new(),
            scores: Vec::new(),
            subject_scores: Vec::new(),
            recommendations: Vec::new(),
            series: Vec::new(),
            checks: Vec::new(),
            validator_series: series,
        }
    }

    fn series(name: &str, n: usize) -> ValidatorSeries {
        ValidatorSeries {
            name: name.into(),
            labels: vec![("window".into(), "1d".into())],
            validators: (0..n as u64).collect(),
            values: vec![99.5; n],
            timestamp_ms: None,
        }
    }

    #[test]
    fn validator_series_is_accepted_and_counted_in_the_size() {
        let out = output(vec![series("composite_score_percent", 1_000)]);
        assert_eq!(validate(&out), Ok(()));
        assert!(size_bytes(&out) >= 16 * 1_000, "{}", size_bytes(&out));
    }

    #[test]
    fn validator_series_with_mismatched_lengths_is_refused() {
        let mut s = series("income_gwei", 3);
        s.validators.push(3);
        let e = validate(&output(vec![s])).unwrap_err();
        assert_eq!(e, "validator series income_gwei: 4 validators but 3 values");
    }

    #[test]
    fn validator_series_with_nan_or_infinity_is_refused() {
        for bad in [f64::NAN, f64::INFINITY] {
            let mut s = series("income_gwei", 3);
            s.values[1] = bad;
            let e = validate(&output(vec![s])).unwrap_err();
            assert!(
                e.contains("income_gwei") && e.contains("is not finite"),
                "{e}"
            );
        }
    }

    #[test]
    fn validator_series_with_a_bad_name_or_labels_is_refused() {
        let e = validate(&output(vec![series("Income", 1)])).unwrap_err();
        assert!(e.contains("snake_case"), "{e}");
        let mut s = series("income_gwei", 1);
        s.labels.push(("validator".into(), "1".into()));
        let e = validate(&output(vec![s])).unwrap_err();
        assert!(e.contains("added per point by the host"), "{e}");
        let mut s = series("income_gwei", 1);
        s.labels = (0..rules::MAX_LABELS)
            .map(|i| (format!("l{i}"), "x".into()))
            .collect();
        let e = validate(&output(vec![s])).unwrap_err();
        assert!(e.contains("the limit is 16"), "{e}");
    }

    #[test]
    fn validator_series_over_the_point_cap_is_refused() {
        let half = rules::MAX_VALIDATOR_SERIES_POINTS / 2;
        let at_cap = output(vec![series("a_percent", half), series("b_percent", half)]);
        assert_eq!(validate(&at_cap), Ok(()));
        let over = output(vec![
            series("a_percent", half),
            series("b_percent", half + 1),
        ]);
        let e = validate(&over).unwrap_err();
        assert!(e.contains("1000001 per-validator series points"), "{e}");
    }
}

/// The host and the SDK's test harness refuse the same outputs with the same message.
/// Regression: the SDK kept its own copy of the rules, which lacked the label limit,
/// the alert subject and finite-number checks and the action-id check, so a plugin
/// passed `cargo test` and was then refused by the host (issue 10, item 4).
#[cfg(test)]
mod same_as_the_sdk {
    use super::validate;
    use crate::contract::{
        AlertCondition, Check, CheckStatus, Output, Recommendation, SeriesPoint, Severity,
        SubjectScore, ValidatorScores, ValidatorSeries,
    };
    use vigil_plugin_sdk as sdk;
    use vigil_plugin_sdk::testing::validate_output;

    fn severity(s: sdk::Severity) -> Severity {
        match s {
            sdk::Severity::Critical => Severity::Critical,
            sdk::Severity::High => Severity::High,
            sdk::Severity::Medium => Severity::Medium,
            sdk::Severity::Low => Severity::Low,
            sdk::Severity::Info => Severity::Info,
        }
    }

    /// The SDK output as the host receives it, field by field: a JSON round trip would
    /// turn the NaN and infinities under test into `null`.
    fn to_host(o: &sdk::Output) -> Output {
        Output {
            alerts: (o.alerts.iter())
                .map(|a| AlertCondition {
                    name: a.name.clone(),
                    severity: severity(a.severity),
                    subject: a.subject.clone(),
                    summary: a.summary.clone(),
                    value: a.value,
                    threshold: a.threshold,
                    validators: a.validators.clone(),
                    affected_count: a.affected_count,
                })
                .collect(),
            scores: (o.scores.iter())
                .map(|s| ValidatorScores {
                    component: s.component.clone(),
                    window: s.window.clone(),
                    validators: s.validators.clone(),
                    values: s.values.clone(),
                })
                .collect(),
            subject_scores: (o.subject_scores.iter())
                .map(|s| SubjectScore {
                    subject: s.subject.clone(),
                    component: s.component.clone(),
                    window: s.window.clone(),
                    value: s.value,
                })
                .collect(),
            recommendations: (o.recommendations.iter())
                .map(|r| Recommendation {
                    subject: r.subject.clone(),
                    title: r.title.clone(),
                    text: r.text.clone(),
                    priority: severity(r.priority),
                    action_id: r.action_id.clone(),
                })
                .collect(),
            series: (o.series.iter())
                .map(|p| SeriesPoint {
                    name: p.name.clone(),
                    labels: p.labels.clone(),
                    value: p.value,
                    timestamp_ms: p.timestamp_ms,
                })
                .collect(),
            checks: (o.checks.iter())
                .map(|c| Check {
                    name: c.name.clone(),
                    subject: c.subject.clone(),
                    status: match c.status {
                        sdk::CheckStatus::Ok => CheckStatus::Ok,
                        sdk::CheckStatus::Warn => CheckStatus::Warn,
                        sdk::CheckStatus::Fail => CheckStatus::Fail,
                    },
                    text: c.text.clone(),
                })
                .collect(),
            validator_series: (o.validator_series.iter())
                .map(|s| ValidatorSeries {
                    name: s.name.clone(),
                    labels: s.labels.clone(),
                    validators: s.validators.clone(),
                    values: s.values.clone(),
                    timestamp_ms: s.timestamp_ms,
                })
                .collect(),
        }
    }

    /// Refused by the host, refused by the SDK, same message; and the message is the
    /// expected one, so both cannot agree on a wrong refusal.
    fn refused_alike(out: &sdk::Output, expected: &str) {
        let host = validate(&to_host(out)).expect_err("the host refuses it");
        let sdk = validate_output(out).expect_err("the SDK refuses it");
        assert_eq!(host, sdk);
        assert_eq!(host, expected);
    }

    fn alert() -> sdk::AlertCondition {
        sdk::AlertCondition::new("peers_low", sdk::Severity::High, "few peers")
    }

    fn one(f: impl FnOnce(&mut sdk::Output)) -> sdk::Output {
        let mut out = sdk::Output::default();
        f(&mut out);
        out
    }

    #[test]
    fn a_valid_output_is_accepted_by_both() {
        let mut vs = sdk::ValidatorSeries::new("income_gwei", 2);
        vs.push(1, 10.0);
        vs.push(2, 12.0);
        let out = one(|o| {
            o.alert(alert().subject("node", "bn-1").value(2.0).threshold(5.0))
                .scores("attestation", "1d", vec![1, 2], vec![99.0, 100.0])
                .subject_score(sdk::SubjectScore::new("node", "1d", 80.0).subject("node", "bn-1"))
                .series(sdk::SeriesPoint::new("peers_count", 2.0).label("node", "bn-1"))
                .validator_series(vs)
                .check(sdk::Check::ok("disk", "fine").subject("node", "bn-1"))
                .recommend(
                    sdk::Recommendation::new(sdk::Severity::Low, "Prune", "p").action("prune_geth"),
                );
        });
        assert_eq!(validate(&to_host(&out)), Ok(()));
        assert_eq!(validate_output(&out), Ok(()));
    }

    #[test]
    fn too_many_labels() {
        let labelled = (0..17).fold(alert(), |a, i| a.subject(&format!("l{i}"), i));
        refused_alike(
            &one(|o| {
                o.alert(labelled);
            }),
            "alert peers_low: 17 labels, the limit is 16",
        );
        let check = (0..17).fold(sdk::Check::fail("disk", "full"), |c, i| {
            c.subject(&format!("l{i}"), i)
        });
        refused_alike(
            &one(|o| {
                o.check(check);
            }),
            "check disk: 17 labels, the limit is 16",
        );
    }

    #[test]
    fn bad_alert_subject_or_name() {
        refused_alike(
            &one(|o| {
                o.alert(alert().subject("Node", "bn-1"));
            }),
            "alert peers_low: label name \"Node\" must be snake_case ASCII",
        );
        refused_alike(
            &one(|o| {
                o.alert(sdk::AlertCondition::new(
                    "Peers Low",
                    sdk::Severity::Low,
                    "x",
                ));
            }),
            "alert name \"Peers Low\" must be snake_case ASCII, 1-128 chars",
        );
    }

    #[test]
    fn non_finite_alert_value_or_threshold() {
        refused_alike(
            &one(|o| {
                o.alert(alert().value(f64::NAN));
            }),
            "alert peers_low: value NaN is not finite",
        );
        refused_alike(
            &one(|o| {
                o.alert(alert().value(1.0).threshold(f64::INFINITY));
            }),
            "alert peers_low: threshold inf is not finite",
        );
    }

    #[test]
    fn bad_action_id() {
        let rec = sdk::Recommendation::new(sdk::Severity::Medium, "Prune geth", "run it")
            .action("prune geth; rm -rf /");
        refused_alike(
            &one(|o| {
                o.recommend(rec);
            }),
            "recommendation \"Prune geth\": action id \"prune geth; rm -rf /\" must be snake_case ASCII",
        );
    }

    #[test]
    fn score_columns_of_different_lengths() {
        refused_alike(
            &one(|o| {
                o.scores("attestation", "1d", vec![1, 2, 3], vec![99.0, 98.0]);
            }),
            "scores attestation/1d: 3 validators but 2 values",
        );
    }

    #[test]
    fn the_first_refusal_is_the_same_when_several_apply() {
        let out = one(|o| {
            o.recommend(sdk::Recommendation::new(sdk::Severity::Low, "t", "x").action("Bad"))
                .check(sdk::Check::ok("", "x"))
                .scores("attestation", "1d", vec![1], vec![250.0])
                .alert(alert().value(f64::NAN));
        });
        refused_alike(&out, "alert peers_low: value NaN is not finite");
    }
}
