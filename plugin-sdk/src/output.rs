//! Building findings: builders on the output types.
//!
//! What the host accepts back, and its limits, are in [`crate::rules`]; the two limits
//! plugins meet most are re-exported here, where they were first published.

use crate::{
    AlertCondition, Check, CheckStatus, Output, Recommendation, SeriesPoint, Severity,
    SubjectScore, ValidatorScores, ValidatorSeries,
};

#[doc(inline)]
pub use crate::rules::{MAX_ALERT_VALIDATORS, MAX_VALIDATOR_SERIES_POINTS};

// `derive(Default)` is not available on generated types: written out.
#[allow(clippy::derivable_impls)]
impl Default for Output {
    fn default() -> Output {
        Output {
            alerts: Vec::new(),
            scores: Vec::new(),
            subject_scores: Vec::new(),
            recommendations: Vec::new(),
            series: Vec::new(),
            checks: Vec::new(),
            validator_series: Vec::new(),
        }
    }
}

impl Output {
    /// Report an alert condition that holds now.
    pub fn alert(&mut self, alert: AlertCondition) -> &mut Output {
        self.alerts.push(alert);
        self
    }

    /// Report a check line.
    pub fn check(&mut self, check: Check) -> &mut Output {
        self.checks.push(check);
        self
    }

    /// Report a derived series point (stored by the host, queryable later).
    pub fn series(&mut self, point: SeriesPoint) -> &mut Output {
        self.series.push(point);
        self
    }

    /// Report a per-validator series, columnar: far cheaper than one [`SeriesPoint`]
    /// per validator. Empty series are dropped.
    pub fn validator_series(&mut self, series: ValidatorSeries) -> &mut Output {
        if !series.validators.is_empty() {
            self.validator_series.push(series);
        }
        self
    }

    /// Report advice.
    pub fn recommend(&mut self, rec: Recommendation) -> &mut Output {
        self.recommendations.push(rec);
        self
    }

    /// Report per-validator scores (0..100) for one component and window.
    pub fn scores(
        &mut self,
        component: &str,
        window: &str,
        validators: Vec<u64>,
        values: Vec<f64>,
    ) -> &mut Output {
        self.scores.push(ValidatorScores {
            component: component.to_string(),
            window: window.to_string(),
            validators,
            values,
        });
        self
    }

    /// Report a score for a group, node or the network.
    pub fn subject_score(&mut self, score: SubjectScore) -> &mut Output {
        self.subject_scores.push(score);
        self
    }

    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.scores.is_empty()
            && self.subject_scores.is_empty()
            && self.recommendations.is_empty()
            && self.series.is_empty()
            && self.checks.is_empty()
            && self.validator_series.is_empty()
    }

    /// The alert named `name`, if reported (handy in tests).
    pub fn find_alert(&self, name: &str) -> Option<&AlertCondition> {
        self.alerts.iter().find(|a| a.name == name)
    }

    /// The value of validator `validator` in the per-validator series `name`, if
    /// reported (handy in tests).
    pub fn validator_value(&self, name: &str, validator: u64) -> Option<f64> {
        self.validator_series
            .iter()
            .filter(|s| s.name == name)
            .find_map(|s| s.get(validator))
    }
}

impl AlertCondition {
    /// A condition named `name` (snake_case) with a one-line summary (with units).
    pub fn new(name: &str, severity: Severity, summary: impl Into<String>) -> AlertCondition {
        AlertCondition {
            name: name.to_string(),
            severity,
            subject: Vec::new(),
            summary: summary.into(),
            value: None,
            threshold: None,
            validators: Vec::new(),
            affected_count: 0,
        }
    }

    /// Add a subject label, e.g. `("node", "bn-1")`.
    pub fn subject(mut self, name: &str, value: impl ToString) -> AlertCondition {
        self.subject.push((name.to_string(), value.to_string()));
        self
    }

    /// The observed figure.
    pub fn value(mut self, v: f64) -> AlertCondition {
        self.value = Some(v);
        self
    }

    /// The limit it crossed.
    pub fn threshold(mut self, t: f64) -> AlertCondition {
        self.threshold = Some(t);
        self
    }

    /// The affected validators: the list is cut to [`MAX_ALERT_VALIDATORS`], the count
    /// keeps the total.
    pub fn validators(mut self, validators: impl IntoIterator<Item = u64>) -> AlertCondition {
        let mut all: Vec<u64> = validators.into_iter().collect();
        self.affected_count = all.len() as u64;
        all.truncate(MAX_ALERT_VALIDATORS);
        self.validators = all;
        self
    }
}

impl Check {
    fn make(name: &str, status: CheckStatus, text: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            subject: Vec::new(),
            status,
            text: text.into(),
        }
    }
    /// A passing check.
    pub fn ok(name: &str, text: impl Into<String>) -> Check {
        Check::make(name, CheckStatus::Ok, text)
    }
    /// A check that needs a look.
    pub fn warn(name: &str, text: impl Into<String>) -> Check {
        Check::make(name, CheckStatus::Warn, text)
    }
    /// A failing check.
    pub fn fail(name: &str, text: impl Into<String>) -> Check {
        Check::make(name, CheckStatus::Fail, text)
    }
    /// Add a subject label.
    pub fn subject(mut self, name: &str, value: impl ToString) -> Check {
        self.subject.push((name.to_string(), value.to_string()));
        self
    }
}

impl SeriesPoint {
    /// A point of series `name` (snake_case with unit suffix) at the input's time.
    pub fn new(name: &str, value: f64) -> SeriesPoint {
        SeriesPoint {
            name: name.to_string(),
            labels: Vec::new(),
            value,
            timestamp_ms: None,
        }
    }
    /// Add a label.
    pub fn label(mut self, name: &str, value: impl ToString) -> SeriesPoint {
        self.labels.push((name.to_string(), value.to_string()));
        self
    }
    /// Set an explicit time, Unix ms.
    pub fn at(mut self, timestamp_ms: i64) -> SeriesPoint {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
}

impl ValidatorSeries {
    /// An empty per-validator series `name` (snake_case with unit suffix) at the input's
    /// time; room for `capacity` validators.
    pub fn new(name: &str, capacity: usize) -> ValidatorSeries {
        ValidatorSeries {
            name: name.to_string(),
            labels: Vec::new(),
            validators: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
            timestamp_ms: None,
        }
    }
    /// Add a label shared by every point (never "validator": the host adds it).
    pub fn label(mut self, name: &str, value: impl ToString) -> ValidatorSeries {
        self.labels.push((name.to_string(), value.to_string()));
        self
    }
    /// Set an explicit time, Unix ms.
    pub fn at(mut self, timestamp_ms: i64) -> ValidatorSeries {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }
    /// Add validator `validator`'s value.
    pub fn push(&mut self, validator: u64, value: f64) {
        self.validators.push(validator);
        self.values.push(value);
    }
    /// Validator `validator`'s value, if present.
    pub fn get(&self, validator: u64) -> Option<f64> {
        let i = self.validators.iter().position(|&v| v == validator)?;
        self.values.get(i).copied()
    }
    /// How many points.
    pub fn len(&self) -> usize {
        self.validators.len()
    }
    /// True when no point was added.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }
}

impl Recommendation {
    /// Advice with a title and the exact action text.
    pub fn new(priority: Severity, title: &str, text: impl Into<String>) -> Recommendation {
        Recommendation {
            subject: Vec::new(),
            title: title.to_string(),
            text: text.into(),
            priority,
            action_id: None,
        }
    }
    /// Add a subject label.
    pub fn subject(mut self, name: &str, value: impl ToString) -> Recommendation {
        self.subject.push((name.to_string(), value.to_string()));
        self
    }
    /// A stable action id the operator may map to an approved command.
    pub fn action(mut self, id: &str) -> Recommendation {
        self.action_id = Some(id.to_string());
        self
    }
}

impl SubjectScore {
    /// A 0..100 score for `subject`.
    pub fn new(component: &str, window: &str, value: f64) -> SubjectScore {
        SubjectScore {
            subject: Vec::new(),
            component: component.to_string(),
            window: window.to_string(),
            value,
        }
    }
    /// Add a subject label.
    pub fn subject(mut self, name: &str, value: impl ToString) -> SubjectScore {
        self.subject.push((name.to_string(), value.to_string()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::validate_output;

    fn effectiveness() -> ValidatorSeries {
        let mut s = ValidatorSeries::new("attestation_effectiveness_percent", 3);
        s.push(4, 100.0);
        s.push(9, 37.5);
        s
    }

    #[test]
    fn validator_series_builds_columns_and_is_found_by_validator() {
        let mut out = Output::default();
        assert!(out.is_empty());
        out.validator_series(effectiveness().label("window", "1d").at(1_000))
            .validator_series(ValidatorSeries::new("income_gwei", 0));
        assert!(!out.is_empty());
        assert_eq!(out.validator_series.len(), 1, "an empty series is dropped");
        let s = &out.validator_series[0];
        assert_eq!(s.validators, vec![4, 9]);
        assert_eq!(s.values, vec![100.0, 37.5]);
        assert_eq!(s.labels, vec![("window".to_string(), "1d".to_string())]);
        assert_eq!(s.timestamp_ms, Some(1_000));
        assert_eq!(
            out.validator_value("attestation_effectiveness_percent", 9),
            Some(37.5)
        );
        assert_eq!(
            out.validator_value("attestation_effectiveness_percent", 5),
            None
        );
        assert_eq!(validate_output(&out), Ok(()));
    }

    #[test]
    fn validator_series_refuses_mismatched_lengths() {
        let mut s = effectiveness();
        s.values.pop();
        let mut out = Output::default();
        out.validator_series(s);
        let e = validate_output(&out).unwrap_err();
        assert!(e.contains("2 validators but 1 values"), "{e}");
    }

    #[test]
    fn validator_series_refuses_nan_and_infinity() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut s = effectiveness();
            s.push(11, bad);
            let mut out = Output::default();
            out.validator_series(s);
            let e = validate_output(&out).unwrap_err();
            assert!(e.contains("is not finite"), "{e}");
        }
    }

    #[test]
    fn validator_series_refuses_a_bad_name_or_a_shared_validator_label() {
        let mut out = Output::default();
        out.validator_series(ValidatorSeries {
            name: "Effectiveness %".into(),
            ..effectiveness()
        });
        assert!(validate_output(&out).unwrap_err().contains("snake_case"));
        let mut out = Output::default();
        out.validator_series(effectiveness().label("validator", 4));
        let e = validate_output(&out).unwrap_err();
        assert!(e.contains("\"validator\""), "{e}");
    }

    #[test]
    fn validator_series_refuses_more_points_than_the_cap() {
        let half = MAX_VALIDATOR_SERIES_POINTS / 2 + 1;
        let big = |name: &str| ValidatorSeries {
            name: name.into(),
            labels: Vec::new(),
            validators: (0..half as u64).collect(),
            values: vec![1.0; half],
            timestamp_ms: None,
        };
        let mut out = Output::default();
        out.validator_series(big("a_percent"));
        assert_eq!(validate_output(&out), Ok(()), "one series under the cap");
        out.validator_series(big("b_percent"));
        let e = validate_output(&out).unwrap_err();
        assert!(e.contains("the limit is 1000000"), "{e}");
    }
}
