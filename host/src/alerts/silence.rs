//! Silences: matchers muting alerts between a start and an end, with who and why.
//! Expired silences are kept (history); `expire` ends one now.

use super::matcher::{Matcher, all_match};
use super::model::Alert;
use serde::{Deserialize, Serialize};

/// Where a silence is in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts later.
    Pending,
    #[default]
    Active,
    Expired,
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Assigned by the engine when empty.
    #[serde(default)]
    pub id: String,
    /// All must match; at least one.
    pub matchers: Vec<Matcher>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub author: String,
    pub comment: String,
    #[serde(default)]
    pub created_ms: i64,
    /// Set when expired early by an operator.
    #[serde(default)]
    pub expired_ms: Option<i64>,
    /// Computed when listed.
    #[serde(default)]
    pub state: SilenceState,
}

impl Silence {
    /// Its state at `now_ms`.
    pub fn state_at(&self, now_ms: i64) -> SilenceState {
        if self.expired_ms.is_some() || now_ms >= self.ends_ms {
            SilenceState::Expired
        } else if now_ms < self.starts_ms {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Does it mute `a` at `now_ms`?
    pub fn mutes(&self, a: &Alert, now_ms: i64) -> bool {
        self.state_at(now_ms) == SilenceState::Active && all_match(&self.matchers, a)
    }

    /// Refuse silences that would mute everything or nothing.
    pub fn check(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher (it would mute every alert)".into());
        }
        if self.ends_ms <= self.starts_ms {
            return Err("a silence must end after it starts".into());
        }
        if self.author.trim().is_empty() {
            return Err("a silence needs an author (--author)".into());
        }
        Ok(())
    }
}
