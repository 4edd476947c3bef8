//! Runs the live plugin set on one input and hands the findings on.
//!
//! One evaluation = one input judged by every plugin of one [`PluginSet`] snapshot that
//! subscribes to its kind. The state writes and derived series of all successful plugins
//! are committed in one transaction. A failing plugin is reported as a `plugin_failed`
//! condition (subject: the plugin) and the others run on.
//!
//! Blocking and CPU-bound: call from a dedicated thread or `spawn_blocking`.

use crate::contract::{AlertCondition, Input, InputKind, Output, Severity, ValidatorSeries};
use crate::plugins::{PluginError, Registry};
use crate::store::{SeriesKey, SeriesPoint, StateChange, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one plugin made of one input.
#[derive(Debug)]
pub struct PluginResult {
    pub plugin: String,
    pub version: String,
    pub outcome: Result<Output, PluginError>,
    pub duration: Duration,
}

/// Everything one evaluation produced.
#[derive(Debug)]
pub struct Evaluation {
    /// The plugin-set generation that judged this input.
    pub generation: u64,
    pub kind: InputKind,
    pub now_ms: i64,
    pub results: Vec<PluginResult>,
    /// Conditions raised by the host itself (`plugin_failed`).
    pub host_alerts: Vec<AlertCondition>,
    /// Set when the store refused the commit; the findings are still valid.
    pub commit_error: Option<String>,
}

impl Evaluation {
    /// All alert conditions: every plugin's and the host's.
    pub fn alerts(&self) -> impl Iterator<Item = (&str, &AlertCondition)> {
        self.results
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok().map(|o| (r.plugin.as_str(), o)))
            .flat_map(|(p, o)| o.alerts.iter().map(move |a| (p, a)))
            .chain(self.host_alerts.iter().map(|a| ("vigil", a)))
    }
}

/// The kind of an input.
pub fn kind_of(input: &Input) -> InputKind {
    match input {
        Input::Epoch(_) => InputKind::Epoch,
        Input::Slot(_) => InputKind::Slot,
        Input::Node(_) => InputKind::Node,
        Input::Reset(_) => InputKind::Reset,
    }
}

/// Judges inputs with the registry's live set.
pub struct Evaluator {
    registry: Arc<Registry>,
    store: Option<Arc<Store>>,
}

impl Evaluator {
    /// An evaluator committing plugin state and derived series to `store`.
    pub fn new(registry: Arc<Registry>, store: Option<Arc<Store>>) -> Evaluator {
        Evaluator { registry, store }
    }

    /// The registry behind it.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Judge one input, observed at `now_ms`.
    pub fn evaluate(&self, input: &Input, now_ms: i64) -> Evaluation {
        let set = self.registry.current();
        let kind = kind_of(input);
        let rt = self.registry.runtime();
        let mut results = Vec::new();
        let mut host_alerts = Vec::new();
        let mut state: Vec<(String, String, StateChange)> = Vec::new();
        let mut points: Vec<SeriesPoint> = Vec::new();
        for plugin in set.plugins.iter().filter(|p| p.subscribes(kind)) {
            let started = Instant::now();
            let outcome = plugin.evaluate(rt, input, now_ms);
            let outcome = match outcome {
                Ok(ev) => {
                    state.extend(
                        ev.state
                            .into_iter()
                            .map(|(k, c)| (plugin.name().to_string(), k, c)),
                    );
                    points.extend(ev.output.series.iter().map(|p| SeriesPoint {
                        key: SeriesKey::new(&p.name, &p.labels),
                        timestamp_ms: p.timestamp_ms.unwrap_or(now_ms),
                        value: p.value,
                    }));
                    for vs in &ev.output.validator_series {
                        expand_validator_series(vs, now_ms, &mut points);
                    }
                    Ok(ev.output)
                }
                Err(e) => {
                    host_alerts.push(plugin_failed(plugin.name(), &e));
                    Err(e)
                }
            };
            results.push(PluginResult {
                plugin: plugin.name().to_string(),
                version: plugin.module.manifest.version.clone(),
                outcome,
                duration: started.elapsed(),
            });
        }
        let commit_error = match &self.store {
            Some(store) => store.commit_evaluation(&state, &points).err().map(|e| {
                tracing::error!("plugin state and series of this evaluation were not stored: {e}");
                e.to_string()
            }),
            None => None,
        };
        Evaluation {
            generation: set.generation,
            kind,
            now_ms,
            results,
            host_alerts,
            commit_error,
        }
    }
}

/// Point i of a columnar per-validator series becomes the series
/// `name{validator="<validators[i]>", labels…}`, committed like any series point.
pub fn expand_validator_series(vs: &ValidatorSeries, now_ms: i64, points: &mut Vec<SeriesPoint>) {
    let timestamp_ms = vs.timestamp_ms.unwrap_or(now_ms);
    let mut labels = Vec::with_capacity(vs.labels.len() + 1);
    labels.push(("validator".to_string(), String::new()));
    labels.extend(vs.labels.iter().cloned());
    points.reserve(vs.validators.len());
    for (v, &value) in vs.validators.iter().zip(&vs.values) {
        labels[0].1 = v.to_string();
        points.push(SeriesPoint {
            key: SeriesKey::new(&vs.name, &labels),
            timestamp_ms,
            value,
        });
    }
}

/// The host's own condition for a failing plugin: it holds while the plugin fails
/// (quarantine included) and resolves when it runs clean again.
fn plugin_failed(plugin: &str, e: &PluginError) -> AlertCondition {
    let severity = if matches!(e, PluginError::Quarantined { .. }) {
        Severity::High
    } else {
        Severity::Medium
    };
    AlertCondition {
        name: "plugin_failed".into(),
        severity,
        subject: vec![
            ("plugin".into(), plugin.into()),
            ("cause".into(), e.kind().into()),
        ],
        summary: e.to_string(),
        value: None,
        threshold: None,
        validators: Vec::new(),
        affected_count: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_series_expands_to_one_point_per_validator_with_shared_labels() {
        let vs = ValidatorSeries {
            name: "composite_score_percent".into(),
            labels: vec![("window".into(), "1d".into())],
            validators: vec![7, 12],
            values: vec![98.5, 40.0],
            timestamp_ms: None,
        };
        let mut points = Vec::new();
        expand_validator_series(&vs, 5_000, &mut points);
        let got: Vec<(String, i64, f64)> = points
            .iter()
            .map(|p| (p.key.canonical(), p.timestamp_ms, p.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    r#"composite_score_percent{validator="7",window="1d"}"#.to_string(),
                    5_000,
                    98.5
                ),
                (
                    r#"composite_score_percent{validator="12",window="1d"}"#.to_string(),
                    5_000,
                    40.0
                ),
            ]
        );
        let mut points = Vec::new();
        expand_validator_series(
            &ValidatorSeries {
                timestamp_ms: Some(1_234),
                labels: vec![],
                ..vs
            },
            5_000,
            &mut points,
        );
        assert_eq!(
            points[1].key.canonical(),
            r#"composite_score_percent{validator="12"}"#
        );
        assert_eq!(points[1].timestamp_ms, 1_234);
    }
}
