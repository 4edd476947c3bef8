//! Rule evaluation, in plain functions so it unit-tests natively.

use std::collections::BTreeMap;
use vigil_plugin_sdk::duties::parse_severity;
use vigil_plugin_sdk::prelude::*;

/// `[plugin.threshold]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub rules: Vec<Rule>,
}

/// One `[[plugin.threshold.rules]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub series: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub comparison: String,
    pub value: f64,
    #[serde(rename = "for", default = "zero")]
    pub for_: String,
    #[serde(default = "medium")]
    pub severity: String,
    #[serde(default)]
    pub summary: Option<String>,
}

fn zero() -> String {
    "0s".into()
}
fn medium() -> String {
    "medium".into()
}

/// "30s", "5m", "1h", "2d" (or a bare number of seconds) → milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1_000.0,
        "ms" => 1.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some((n * mult) as i64)
}

fn compare(op: &str, a: f64, b: f64) -> Option<bool> {
    Some(match op {
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        ">=" => a >= b,
        "==" => a == b,
        "!=" => a != b,
        _ => return None,
    })
}

impl Config {
    /// Every rule checked, the offending key named (`rules.2.comparison`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for (k, r) in self.rules.iter().enumerate() {
            let key = |f: &str| format!("rules.{k}.{f}");
            let ok_name = !r.name.is_empty()
                && r.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok_name {
                return Err(ConfigError::key(
                    key("name"),
                    format!(
                        "{:?} must be snake_case (a-z, 0-9, _): it becomes the alert's name",
                        r.name
                    ),
                ));
            }
            if !names.insert(&r.name) {
                return Err(ConfigError::key(
                    key("name"),
                    format!("rule {:?} is defined twice", r.name),
                ));
            }
            if r.series.is_empty() {
                return Err(ConfigError::key(
                    key("series"),
                    "name the series (a metric name or a built-in such as cl_peers)",
                ));
            }
            if compare(&r.comparison, 0.0, 0.0).is_none() {
                return Err(ConfigError::key(
                    key("comparison"),
                    format!(
                        "{:?} is not a comparison: use <, <=, >, >=, == or !=",
                        r.comparison
                    ),
                ));
            }
            if !r.value.is_finite() {
                return Err(ConfigError::key(key("value"), "must be a finite number"));
            }
            if parse_duration(&r.for_).is_none_or(|d| d < 0) {
                return Err(ConfigError::key(
                    key("for"),
                    format!(
                        "{:?} is not a duration: use e.g. \"30s\", \"5m\", \"1h\"",
                        r.for_
                    ),
                ));
            }
            parse_severity(&key("severity"), &r.severity)?;
        }
        Ok(())
    }
}

/// When each breach began: rule → sample key → Unix ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub since: BTreeMap<String, BTreeMap<String, i64>>,
}

/// One observed value of a series: its target (if any), labels, value.
type Sample = (Option<String>, Vec<(String, String)>, f64);

/// The built-in figures of a tick, by series name.
fn builtins(n: &NodeInput) -> Vec<(String, Sample)> {
    let mut v = Vec::new();
    let node = |name: &str| vec![("node".to_string(), name.to_string())];
    for c in &n.consensus {
        if let Some(p) = c.peers {
            v.push(("cl_peers".into(), (None, node(&c.name), p as f64)));
        }
        if let Some(l) = c.head_lag_slots {
            v.push(("cl_head_lag_slots".into(), (None, node(&c.name), l as f64)));
        }
        if let Some(d) = c.sync_distance {
            v.push(("cl_sync_distance".into(), (None, node(&c.name), d as f64)));
        }
    }
    for e in &n.execution {
        if let Some(p) = e.peers {
            v.push(("el_peers".into(), (None, node(&e.name), p as f64)));
        }
        if let Some(a) = e.block_age_ms {
            v.push((
                "el_block_age_seconds".into(),
                (None, node(&e.name), a as f64 / 1000.0),
            ));
        }
    }
    let s = &n.system;
    if let Some(c) = s.cpu_percent {
        v.push(("cpu_percent".into(), (None, vec![], c)));
    }
    if let Some(l) = s.load1 {
        v.push(("load1".into(), (None, vec![], l)));
    }
    if let (Some(u), Some(t)) = (s.memory_used_bytes, s.memory_total_bytes)
        && t > 0
    {
        v.push((
            "memory_percent".into(),
            (None, vec![], u as f64 * 100.0 / t as f64),
        ));
    }
    for d in s.disks.iter().filter(|d| d.total_bytes > 0) {
        v.push((
            "disk_free_percent".into(),
            (
                None,
                vec![("path".to_string(), d.path.clone())],
                d.free_bytes as f64 * 100.0 / d.total_bytes as f64,
            ),
        ));
    }
    v
}

/// Evaluate every rule on one tick.
pub fn judge(cfg: &Config, n: &NodeInput, pending: &mut Pending, out: &mut Output) {
    let now = n.timestamp_ms;
    let built = builtins(n);
    pending
        .since
        .retain(|rule, _| cfg.rules.iter().any(|r| &r.name == rule));
    for r in &cfg.rules {
        let mut samples: Vec<Sample> = built
            .iter()
            .filter(|(name, _)| name == &r.series)
            .map(|(_, s)| s.clone())
            .collect();
        for m in &n.metrics {
            if r.target.as_ref().is_some_and(|t| t != &m.target) {
                continue;
            }
            for (i, name) in m.names.iter().enumerate() {
                if name == &r.series {
                    samples.push((Some(m.target.clone()), m.labels[i].clone(), m.values[i]));
                }
            }
        }
        let since = pending.since.entry(r.name.clone()).or_default();
        let mut seen = std::collections::BTreeSet::new();
        let hold = parse_duration(&r.for_).unwrap_or(0);
        let severity = parse_severity("severity", &r.severity).unwrap_or(Severity::Medium);
        for (target, labels, value) in samples {
            if !r
                .labels
                .iter()
                .all(|(k, v)| labels.iter().any(|(a, b)| a == k && b == v))
            {
                continue;
            }
            let key = format!("{}|{labels:?}", target.as_deref().unwrap_or(""));
            if compare(&r.comparison, value, r.value) != Some(true) {
                continue;
            }
            seen.insert(key.clone());
            let start = *since.entry(key).or_insert(now);
            if now - start < hold {
                continue;
            }
            let mut a = AlertCondition::new(
                &r.name,
                severity,
                r.summary.clone().unwrap_or_else(|| {
                    format!(
                        "{} = {value} {} {} for {}",
                        r.series, r.comparison, r.value, r.for_
                    )
                }),
            )
            .subject("rule", &r.name)
            .value(value)
            .threshold(r.value);
            if let Some(t) = &target {
                a = a.subject("target", t);
            }
            for (k, v) in &labels {
                a = a.subject(k, v);
            }
            out.alert(a);
        }
        since.retain(|k, _| seen.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_plugin_sdk::MetricFamilySamples;
    use vigil_plugin_sdk::testing::{self, Harness};

    const RULES: &str = r#"
[[rules]]
name = "beacon_peers_low"
series = "libp2p_peers"
target = "bn"
comparison = "<"
value = 10
for = "1m"
severity = "high"

[[rules]]
name = "disk_nearly_full"
series = "disk_free_percent"
comparison = "<="
value = 5
"#;

    fn tick(t: i64, peers: f64, free: u64) -> Input {
        let mut n = testing::node_input(t);
        n.metrics = vec![MetricFamilySamples {
            target: "bn".into(),
            names: vec!["libp2p_peers".into()],
            labels: vec![vec![]],
            values: vec![peers],
        }];
        n.system.disks = vec![vigil_plugin_sdk::Disk {
            path: "/d".into(),
            total_bytes: 100,
            free_bytes: free,
        }];
        Input::Node(n)
    }

    #[test]
    fn rules_hold_for_their_duration() {
        let mut h = Harness::<crate::ThresholdRules>::with_toml(RULES).unwrap();
        let out = h.evaluate(&tick(0, 3.0, 4)).unwrap();
        // The disk rule has no `for`: at once. Peers must hold a minute.
        assert_eq!(out.alerts.len(), 1);
        let d = &out.alerts[0];
        assert_eq!(d.name, "disk_nearly_full");
        assert_eq!(
            d.subject,
            vec![
                ("rule".into(), "disk_nearly_full".into()),
                ("path".into(), "/d".into())
            ]
        );
        assert!(
            h.evaluate(&tick(30_000, 3.0, 50))
                .unwrap()
                .alerts
                .is_empty()
        );
        let out = h.evaluate(&tick(60_000, 4.0, 50)).unwrap();
        let a = out.find_alert("beacon_peers_low").unwrap();
        assert_eq!(
            (a.severity, a.value, a.threshold),
            (Severity::High, Some(4.0), Some(10.0))
        );
        // Recovered: the clock starts over.
        assert!(
            h.evaluate(&tick(70_000, 40.0, 50))
                .unwrap()
                .alerts
                .is_empty()
        );
        assert!(
            h.evaluate(&tick(80_000, 3.0, 50))
                .unwrap()
                .alerts
                .is_empty()
        );
    }

    #[test]
    fn bad_rules_are_refused_by_key() {
        for (toml, key) in [
            (
                "[[rules]]\nname = \"x\"\nseries = \"a\"\ncomparison = \"=>\"\nvalue = 1",
                "rules.0.comparison",
            ),
            (
                "[[rules]]\nname = \"X y\"\nseries = \"a\"\ncomparison = \"<\"\nvalue = 1",
                "rules.0.name",
            ),
            (
                "[[rules]]\nname = \"x\"\nseries = \"a\"\ncomparison = \"<\"\nvalue = 1\nfor = \"soon\"",
                "rules.0.for",
            ),
            (
                "[[rules]]\nname = \"x\"\nseries = \"a\"\ncomparison = \"<\"\nvalue = 1\nseverity = \"loud\"",
                "rules.0.severity",
            ),
            (
                "[[rules]]\nname = \"x\"\nseries = \"a\"\ncomparison = \"<\"\nvalue = 1\nlimit = 3",
                "rules.0.limit",
            ),
        ] {
            let e = Harness::<crate::ThresholdRules>::with_toml(toml)
                .err()
                .unwrap();
            assert_eq!(e.key.as_deref(), Some(key), "{toml}: {e:?}");
        }
        assert_eq!(parse_duration("5m"), Some(300_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000));
    }
}
