//! What the host accepts back from a plugin.
//!
//! The SDK's `testing::validate_output` applies the same rules natively so that plugin
//! authors see refusals in `cargo test`; keep the two in step.

use crate::contract::Output;

/// Longest accepted name (alert, series, check), bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most labels on one subject or series.
pub const MAX_LABELS: usize = 16;
/// Most per-validator series points in one output, all `validator-series` together
/// (4 series × 250 000 validators); the SDK's `output::MAX_VALIDATOR_SERIES_POINTS`.
pub const MAX_VALIDATOR_SERIES_POINTS: usize = 1_000_000;

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

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn labels_ok(what: &str, l: &[(String, String)]) -> Result<(), String> {
    if l.len() > MAX_LABELS {
        return Err(format!(
            "{what}: {} labels, the limit is {MAX_LABELS}",
            l.len()
        ));
    }
    if let Some((k, _)) = l.iter().find(|(k, _)| !name_ok(k)) {
        return Err(format!("{what}: label name {k:?} must be snake_case ASCII"));
    }
    Ok(())
}

/// Refuse outputs the rest of the host could not store, route or show.
pub fn validate(out: &Output) -> Result<(), String> {
    for a in &out.alerts {
        if !name_ok(&a.name) {
            return Err(format!(
                "alert name {:?} must be snake_case ASCII, 1-{MAX_NAME_BYTES} chars",
                a.name
            ));
        }
        labels_ok(&format!("alert {}", a.name), &a.subject)?;
        for (what, v) in [("value", a.value), ("threshold", a.threshold)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(format!("alert {}: {what} is not a finite number", a.name));
            }
        }
    }
    for s in &out.scores {
        if s.validators.len() != s.values.len() {
            return Err(format!(
                "scores {}/{}: {} validators but {} values",
                s.component,
                s.window,
                s.validators.len(),
                s.values.len()
            ));
        }
        if let Some(v) = s.values.iter().find(|v| !(0.0..=100.0).contains(*v)) {
            return Err(format!(
                "scores {}/{}: value {v} is outside 0..100",
                s.component, s.window
            ));
        }
    }
    for s in &out.subject_scores {
        labels_ok(&format!("score {}", s.component), &s.subject)?;
        if !(0.0..=100.0).contains(&s.value) {
            return Err(format!(
                "score {}/{}: value {} is outside 0..100",
                s.component, s.window, s.value
            ));
        }
    }
    for p in &out.series {
        if !name_ok(&p.name) {
            return Err(format!(
                "series name {:?} must be snake_case ASCII, 1-{MAX_NAME_BYTES} chars",
                p.name
            ));
        }
        labels_ok(&format!("series {}", p.name), &p.labels)?;
        if !p.value.is_finite() {
            return Err(format!(
                "series {}: value {} is not finite",
                p.name, p.value
            ));
        }
    }
    let mut points = 0usize;
    for s in &out.validator_series {
        if !name_ok(&s.name) {
            return Err(format!(
                "validator series name {:?} must be snake_case ASCII, 1-{MAX_NAME_BYTES} chars",
                s.name
            ));
        }
        if s.validators.len() != s.values.len() {
            return Err(format!(
                "validator series {}: {} validators but {} values",
                s.name,
                s.validators.len(),
                s.values.len()
            ));
        }
        // One label slot is the per-point "validator" the host adds.
        labels_ok(&format!("validator series {}", s.name), &s.labels)?;
        if s.labels.len() >= MAX_LABELS {
            return Err(format!(
                "validator series {}: {} shared labels plus \"validator\", the limit is {MAX_LABELS}",
                s.name,
                s.labels.len()
            ));
        }
        if s.labels.iter().any(|(k, _)| k == "validator") {
            return Err(format!(
                "validator series {}: label \"validator\" is added per point by the host; drop it from the shared labels",
                s.name
            ));
        }
        if let Some(v) = s.values.iter().find(|v| !v.is_finite()) {
            return Err(format!(
                "validator series {}: value {v} is not finite",
                s.name
            ));
        }
        points += s.values.len();
    }
    if points > MAX_VALIDATOR_SERIES_POINTS {
        return Err(format!(
            "{points} per-validator series points in one output, the limit is {MAX_VALIDATOR_SERIES_POINTS}: report fewer validators or fewer series per call"
        ));
    }
    for c in &out.checks {
        if c.name.is_empty() {
            return Err("a check has an empty name".into());
        }
        labels_ok(&format!("check {}", c.name), &c.subject)?;
    }
    for r in &out.recommendations {
        labels_ok(&format!("recommendation {:?}", r.title), &r.subject)?;
        if let Some(id) = r.action_id.as_deref().filter(|id| !name_ok(id)) {
            return Err(format!(
                "recommendation {:?}: action id {id:?} must be snake_case ASCII",
                r.title
            ));
        }
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
        s.labels = (0..MAX_LABELS)
            .map(|i| (format!("l{i}"), "x".into()))
            .collect();
        let e = validate(&output(vec![s])).unwrap_err();
        assert!(e.contains("the limit is 16"), "{e}");
    }

    #[test]
    fn validator_series_over_the_point_cap_is_refused() {
        let half = MAX_VALIDATOR_SERIES_POINTS / 2;
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
