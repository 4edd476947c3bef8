//! Label matchers as Alertmanager writes them: `name=value`, `name!=value`,
//! `name=~regex`, `name!~regex` (regexes anchored: the whole value must match).
//!
//! `validator` is special: a duty alert lists its validators, so `validator=6` matches
//! an alert whose validators list contains 6 (or whose subject label is 6).

use super::model::Alert;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The comparison of a matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    NotEq,
    Re,
    NotRe,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::NotEq => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// One matcher; serialised as its text form (`severity=~critical|high`).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}

/// A matcher that could not be read, with the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("matcher {text:?}: {reason}")]
pub struct MatcherError {
    pub text: String,
    pub reason: String,
}

impl Matcher {
    /// Parse `name<op>value`; the value may be double-quoted.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let err = |reason: &str| MatcherError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim();
        let pos = t.find(['=', '!']).ok_or_else(|| {
            err("no operator: write name=value, name!=value, name=~regex or name!~regex")
        })?;
        let name = t[..pos].trim();
        let rest = &t[pos..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::NotEq, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Eq, v)
        } else {
            return Err(err("unknown operator: use =, !=, =~ or !~"));
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(err("the label name must be letters, digits, _ or -"));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .to_string();
        let regex = match op {
            Op::Re | Op::NotRe => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| err(&format!("bad regex: {e}")))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value,
            regex,
        })
    }

    fn test(&self, v: &str) -> bool {
        match (&self.regex, self.op) {
            (Some(r), _) => r.is_match(v),
            (None, _) => v == self.value,
        }
    }

    /// Does the alert match?
    pub fn matches(&self, a: &Alert) -> bool {
        let positive = matches!(self.op, Op::Eq | Op::Re);
        let found = if self.name == "validator" {
            a.label("validator").is_some_and(|v| self.test(v))
                || a.validators.iter().any(|v| self.test(&v.to_string()))
        } else {
            // An absent label reads as "" (Alertmanager's rule): `x!=y` matches it.
            self.test(a.label(&self.name).unwrap_or(""))
        };
        found == positive
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), self.value)
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Matcher, D::Error> {
        let s = String::deserialize(d)?;
        Matcher::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// All of `ms` match (an empty list matches everything).
pub fn all_match(ms: &[Matcher], a: &Alert) -> bool {
    ms.iter().all(|m| m.matches(a))
}

/// Parse a list of matcher texts.
pub fn parse_all(texts: &[String]) -> Result<Vec<Matcher>, MatcherError> {
    texts.iter().map(|t| Matcher::parse(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::model::{AlertState, Severity};

    pub(crate) fn alert(name: &str, labels: &[(&str, &str)], validators: &[u64]) -> Alert {
        Alert {
            fingerprint: "f".into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            severity: Severity::High,
            state: AlertState::Firing,
            since_ms: 0,
            started_ms: 0,
            last_seen_ms: 0,
            summary: String::new(),
            value: None,
            threshold: None,
            validators: validators.to_vec(),
            affected_count: validators.len() as u64,
            plugin: "p".into(),
            input_kind: "epoch".into(),
            silenced_by: Vec::new(),
            inhibited_by: Vec::new(),
            acked: None,
            flapping: false,
        }
    }

    #[test]
    fn operators_and_anchoring() {
        let a = alert("attestations_missed", &[("node", "bn-1")], &[6, 7]);
        assert!(Matcher::parse("node=bn-1").unwrap().matches(&a));
        assert!(Matcher::parse("node = \"bn-1\"").unwrap().matches(&a));
        assert!(!Matcher::parse("node!=bn-1").unwrap().matches(&a));
        assert!(Matcher::parse("name=~attestation.*").unwrap().matches(&a));
        assert!(!Matcher::parse("name=~attestation").unwrap().matches(&a));
        assert!(
            Matcher::parse("severity!~critical|low")
                .unwrap()
                .matches(&a)
        );
        assert!(Matcher::parse("missing!=x").unwrap().matches(&a));
        assert!(Matcher::parse("missing=").unwrap().matches(&a));
    }

    #[test]
    fn validator_matches_the_list() {
        let a = alert("attestations_missed", &[("node", "bn-1")], &[6, 7]);
        assert!(Matcher::parse("validator=7").unwrap().matches(&a));
        assert!(!Matcher::parse("validator=8").unwrap().matches(&a));
        assert!(Matcher::parse("validator=~1?6").unwrap().matches(&a));
        assert!(!Matcher::parse("validator!=6").unwrap().matches(&a));
    }

    #[test]
    fn bad_matchers_say_why() {
        assert!(
            Matcher::parse("node")
                .unwrap_err()
                .reason
                .contains("no operator")
        );
        assert!(
            Matcher::parse("node=~(")
                .unwrap_err()
                .reason
                .contains("bad regex")
        );
        assert!(Matcher::parse("=x").is_err());
        let m = Matcher::parse("severity=~critical|high").unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            "\"severity=~critical|high\""
        );
    }
}
