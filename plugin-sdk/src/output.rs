//! Building findings: builders on the output types and the limits the host applies.

use crate::{
    AlertCondition, Check, CheckStatus, Output, Recommendation, SeriesPoint, Severity,
    SubjectScore, ValidatorScores,
};

/// The host keeps at most this many validators per alert; the count says how many more.
pub const MAX_ALERT_VALIDATORS: usize = 100;

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
    }

    /// The alert named `name`, if reported (handy in tests).
    pub fn find_alert(&self, name: &str) -> Option<&AlertCondition> {
        self.alerts.iter().find(|a| a.name == name)
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
