//! The contract's output rules: what the host accepts back from a plugin, and the
//! limits it applies.
//!
//! This module is the one implementation of those rules. The host refuses an output
//! with these functions, and [`crate::testing::validate_output`] (so the native test
//! harness) applies the same functions, so an output that passes `cargo test` is one
//! the host accepts, and one it refuses fails the test with the host's message.
//!
//! The host and a plugin see the contract through different generated types (the
//! host's wasmtime bindings, the plugin's wit-bindgen ones) with the same fields. The
//! rules therefore take those fields — borrowed names, label slices and number columns —
//! and never either side's types: checking a 100 000-validator column reads it in place,
//! and the SDK needs no wasmtime.
//!
//! Two levels:
//! - `validate_*`: every rule about one output record (an alert, a scores column, …).
//!   A caller walks an output's lists in the contract's order — alerts, scores, subject
//!   scores, series, validator series (then [`validate_validator_series_points`] over
//!   their total), checks, recommendations — calling the record's function, and stops
//!   at the first refusal;
//! - `check_*` and [`is_name`]: the single rules those are made of, public so a plugin
//!   can test a value before putting it in an output.

use std::fmt;

/// Longest accepted name (alert, series, validator series, label, action id), bytes:
/// long enough for any descriptive snake_case name, short enough to keep storage keys
/// and notification lines bounded.
pub const MAX_NAME_BYTES: usize = 128;

/// Most labels on one subject or series: every label multiplies stored series keys and
/// routing work, and 16 is well past what any shipped plugin uses.
pub const MAX_LABELS: usize = 16;

/// The host keeps at most this many validators per alert; `affected-count` says how
/// many there were. A notification naming 100 indices is already past what a person
/// reads; [`crate::AlertCondition::validators`] cuts the list to this length.
pub const MAX_ALERT_VALIDATORS: usize = 100;

/// Most per-validator series points in one output, all `validator-series` of one call
/// together: 4 series × 250 000 validators, past the largest network with room to
/// spare, while bounding what one call makes the host store.
pub const MAX_VALIDATOR_SERIES_POINTS: usize = 1_000_000;

/// The range of every score, per validator or per subject.
const SCORE_RANGE: std::ops::RangeInclusive<f64> = 0.0..=100.0;

/// The label the host adds to every point of a validator series.
const VALIDATOR_LABEL: &str = "validator";

/// Which record of an output a refusal is about, as the message names it. Built only
/// when a rule fails, so checking never allocates.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// An alert condition, by name.
    Alert(String),
    /// A per-validator scores column, by component and window.
    Scores {
        /// The score component.
        component: String,
        /// The score window.
        window: String,
    },
    /// A score of a group, node or the network, by component and window.
    SubjectScore {
        /// The score component.
        component: String,
        /// The score window.
        window: String,
    },
    /// A derived series point, by series name.
    Series(String),
    /// A per-validator series, by name.
    ValidatorSeries(String),
    /// A check line, by name.
    Check(String),
    /// A recommendation, by title.
    Recommendation(String),
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Alert(name) => write!(f, "alert {name}"),
            Record::Scores { component, window } => write!(f, "scores {component}/{window}"),
            Record::SubjectScore { component, window } => write!(f, "score {component}/{window}"),
            Record::Series(name) => write!(f, "series {name}"),
            Record::ValidatorSeries(name) => write!(f, "validator series {name}"),
            Record::Check(name) => write!(f, "check {name}"),
            Record::Recommendation(title) => write!(f, "recommendation {title:?}"),
        }
    }
}

/// Why an output is refused. The message names the record and, where there is one,
/// the limit, so a plugin author can fix the plugin from the host's log line alone.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OutputError {
    /// An alert, series or validator series name is not snake_case ASCII of 1 to
    /// [`MAX_NAME_BYTES`] bytes.
    BadName {
        /// What was named: "alert", "series" or "validator series".
        kind: &'static str,
        /// The refused name.
        name: String,
    },
    /// A check with an empty name.
    EmptyCheckName,
    /// More than [`MAX_LABELS`] labels on one subject or series.
    TooManyLabels {
        /// The record carrying them.
        record: Record,
        /// How many there were.
        count: usize,
    },
    /// A label name that is not snake_case ASCII.
    BadLabelName {
        /// The record carrying it.
        record: Record,
        /// The refused label name.
        key: String,
    },
    /// NaN or an infinity where the host stores or compares a number.
    NotFinite {
        /// The record carrying it.
        record: Record,
        /// Which number: "value" or "threshold".
        field: &'static str,
        /// The refused number.
        value: f64,
    },
    /// A score outside 0..100.
    ScoreOutOfRange {
        /// The record carrying it.
        record: Record,
        /// The refused score.
        value: f64,
    },
    /// A columnar record whose validator and value columns differ in length.
    ColumnLengths {
        /// The record.
        record: Record,
        /// Length of the validator column.
        validators: usize,
        /// Length of the value column.
        values: usize,
    },
    /// A validator series whose shared labels leave no slot for the host's per-point
    /// "validator" label.
    NoRoomForValidatorLabel {
        /// The series name.
        series: String,
        /// How many shared labels it has.
        count: usize,
    },
    /// A validator series that sets the "validator" label itself.
    ValidatorLabelShared {
        /// The series name.
        series: String,
    },
    /// More than [`MAX_VALIDATOR_SERIES_POINTS`] validator series points in one output.
    TooManyValidatorSeriesPoints {
        /// How many there were, all series together.
        points: usize,
    },
    /// A recommendation's action id that is not snake_case ASCII.
    BadActionId {
        /// The recommendation's title.
        title: String,
        /// The refused id.
        id: String,
    },
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::BadName { kind, name } => write!(
                f,
                "{kind} name {name:?} must be snake_case ASCII, 1-{MAX_NAME_BYTES} chars"
            ),
            OutputError::EmptyCheckName => f.write_str("a check has an empty name"),
            OutputError::TooManyLabels { record, count } => {
                write!(f, "{record}: {count} labels, the limit is {MAX_LABELS}")
            }
            OutputError::BadLabelName { record, key } => {
                write!(f, "{record}: label name {key:?} must be snake_case ASCII")
            }
            OutputError::NotFinite {
                record,
                field,
                value,
            } => write!(f, "{record}: {field} {value} is not finite"),
            OutputError::ScoreOutOfRange { record, value } => {
                write!(f, "{record}: value {value} is outside 0..100")
            }
            OutputError::ColumnLengths {
                record,
                validators,
                values,
            } => write!(f, "{record}: {validators} validators but {values} values"),
            OutputError::NoRoomForValidatorLabel { series, count } => write!(
                f,
                "validator series {series}: {count} shared labels plus \"{VALIDATOR_LABEL}\", the limit is {MAX_LABELS}"
            ),
            OutputError::ValidatorLabelShared { series } => write!(
                f,
                "validator series {series}: label \"{VALIDATOR_LABEL}\" is added per point by the host; drop it from the shared labels"
            ),
            OutputError::TooManyValidatorSeriesPoints { points } => write!(
                f,
                "{points} per-validator series points in one output, the limit is {MAX_VALIDATOR_SERIES_POINTS}: report fewer validators or fewer series per call"
            ),
            OutputError::BadActionId { title, id } => write!(
                f,
                "recommendation {title:?}: action id {id:?} must be snake_case ASCII"
            ),
        }
    }
}

impl std::error::Error for OutputError {}

/// True for a snake_case ASCII name of 1 to [`MAX_NAME_BYTES`] bytes: lowercase
/// letters, digits and `_`. One plain alphabet keeps a name valid wherever the host
/// puts it (store keys, metric and label names, alert routes) without escaping.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Refuse a `kind` ("alert", "series", "validator series") named `name` unless
/// [`is_name`].
pub fn check_name(kind: &'static str, name: &str) -> Result<(), OutputError> {
    if is_name(name) {
        Ok(())
    } else {
        Err(OutputError::BadName {
            kind,
            name: name.to_string(),
        })
    }
}

/// Refuse more than [`MAX_LABELS`] labels, or a label name that is not [`is_name`].
/// `record` names the owner in the message; it is called only on a refusal.
pub fn check_labels(
    labels: &[(String, String)],
    record: impl FnOnce() -> Record,
) -> Result<(), OutputError> {
    if labels.len() > MAX_LABELS {
        return Err(OutputError::TooManyLabels {
            record: record(),
            count: labels.len(),
        });
    }
    match labels.iter().find(|(k, _)| !is_name(k)) {
        Some((key, _)) => Err(OutputError::BadLabelName {
            record: record(),
            key: key.clone(),
        }),
        None => Ok(()),
    }
}

/// Refuse NaN and infinities: the host stores, compares and charts these numbers, and
/// a NaN compares false with every threshold.
pub fn check_finite(
    field: &'static str,
    value: f64,
    record: impl FnOnce() -> Record,
) -> Result<(), OutputError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(OutputError::NotFinite {
            record: record(),
            field,
            value,
        })
    }
}

/// Refuse columns of different lengths: value `i` belongs to validator `i`.
pub fn check_columns(
    validators: &[u64],
    values: &[f64],
    record: impl FnOnce() -> Record,
) -> Result<(), OutputError> {
    if validators.len() == values.len() {
        Ok(())
    } else {
        Err(OutputError::ColumnLengths {
            record: record(),
            validators: validators.len(),
            values: values.len(),
        })
    }
}

/// Refuse a score outside 0..100 (NaN included): scores are percentages, composed by
/// weight and shown on one scale.
pub fn check_scores_in_range(
    values: &[f64],
    record: impl FnOnce() -> Record,
) -> Result<(), OutputError> {
    match values.iter().find(|v| !SCORE_RANGE.contains(*v)) {
        Some(&value) => Err(OutputError::ScoreOutOfRange {
            record: record(),
            value,
        }),
        None => Ok(()),
    }
}

/// Every rule about one alert condition: its name, subject labels, and a finite value
/// and threshold when given.
pub fn validate_alert(
    name: &str,
    subject: &[(String, String)],
    value: Option<f64>,
    threshold: Option<f64>,
) -> Result<(), OutputError> {
    check_name("alert", name)?;
    let record = || Record::Alert(name.to_string());
    check_labels(subject, record)?;
    for (field, v) in [("value", value), ("threshold", threshold)] {
        if let Some(v) = v {
            check_finite(field, v, record)?;
        }
    }
    Ok(())
}

/// Every rule about one per-validator scores column: equal column lengths and values in
/// 0..100.
pub fn validate_scores(
    component: &str,
    window: &str,
    validators: &[u64],
    values: &[f64],
) -> Result<(), OutputError> {
    let record = || Record::Scores {
        component: component.to_string(),
        window: window.to_string(),
    };
    check_columns(validators, values, record)?;
    check_scores_in_range(values, record)
}

/// Every rule about one subject score: its subject labels and a value in 0..100.
pub fn validate_subject_score(
    component: &str,
    window: &str,
    subject: &[(String, String)],
    value: f64,
) -> Result<(), OutputError> {
    let record = || Record::SubjectScore {
        component: component.to_string(),
        window: window.to_string(),
    };
    check_labels(subject, record)?;
    check_scores_in_range(&[value], record)
}

/// Every rule about one derived series point: its name, labels and a finite value.
pub fn validate_series_point(
    name: &str,
    labels: &[(String, String)],
    value: f64,
) -> Result<(), OutputError> {
    check_name("series", name)?;
    let record = || Record::Series(name.to_string());
    check_labels(labels, record)?;
    check_finite("value", value, record)
}

/// Every rule about one per-validator series: its name, equal column lengths, shared
/// labels that leave a slot for (and do not set) the host's per-point "validator"
/// label, and finite values. The output-wide point cap is
/// [`validate_validator_series_points`].
pub fn validate_validator_series(
    name: &str,
    labels: &[(String, String)],
    validators: &[u64],
    values: &[f64],
) -> Result<(), OutputError> {
    check_name("validator series", name)?;
    let record = || Record::ValidatorSeries(name.to_string());
    check_columns(validators, values, record)?;
    check_labels(labels, record)?;
    if labels.len() >= MAX_LABELS {
        return Err(OutputError::NoRoomForValidatorLabel {
            series: name.to_string(),
            count: labels.len(),
        });
    }
    if labels.iter().any(|(k, _)| k == VALIDATOR_LABEL) {
        return Err(OutputError::ValidatorLabelShared {
            series: name.to_string(),
        });
    }
    match values.iter().find(|v| !v.is_finite()) {
        Some(&v) => check_finite("value", v, record),
        None => Ok(()),
    }
}

/// Refuse more than [`MAX_VALIDATOR_SERIES_POINTS`] points over all validator series of
/// one output (`points` is the sum of their lengths).
pub fn validate_validator_series_points(points: usize) -> Result<(), OutputError> {
    if points > MAX_VALIDATOR_SERIES_POINTS {
        Err(OutputError::TooManyValidatorSeriesPoints { points })
    } else {
        Ok(())
    }
}

/// Every rule about one check line: a name and its subject labels.
pub fn validate_check(name: &str, subject: &[(String, String)]) -> Result<(), OutputError> {
    if name.is_empty() {
        return Err(OutputError::EmptyCheckName);
    }
    check_labels(subject, || Record::Check(name.to_string()))
}

/// Every rule about one recommendation: its subject labels and, when given, an action
/// id that is [`is_name`] (operators map ids to approved commands in their config).
pub fn validate_recommendation(
    title: &str,
    subject: &[(String, String)],
    action_id: Option<&str>,
) -> Result<(), OutputError> {
    check_labels(subject, || Record::Recommendation(title.to_string()))?;
    match action_id {
        Some(id) if !is_name(id) => Err(OutputError::BadActionId {
            title: title.to_string(),
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
