//! Alerting: plugins say "this condition holds now"; this module turns that into
//! notifications an operator trusts.
//!
//! - [`model`] — alerts, severities, events;
//! - [`matcher`] — label matchers (`=`, `!=`, `=~`, `!~`; `validator` matches lists);
//! - [`settings`] — the checked `[alerting]`, `[[receiver]]`, `[[route]]`, `[[inhibit]]`;
//! - [`engine`] — lifecycle, silences, inhibition, routing, grouping, persistence;
//! - [`silence`] — silences (matchers, start, end, author, comment);
//! - [`notification`] — what is queued per receiver, and its delivery record;
//! - [`control`] — the local socket `vigil alerts`/`vigil outbox` use while the daemon
//!   runs.
//!
//! Alerts end where notifications are queued: delivering them (the outbox workers) is
//! [`crate::channels`]' job. Time comes from [`crate::clock`], injected.

pub mod control;
pub mod engine;
pub mod matcher;
pub mod model;
pub mod notification;
pub mod settings;
pub mod silence;

#[cfg(test)]
pub(crate) mod tests;

pub use engine::{AlertError, Engine};
pub use matcher::Matcher;
pub use model::{Ack, Alert, AlertEvent, AlertState, EventKind, Severity};
pub use notification::{Attempt, DeliveryState, Notification, OutboxItem, Status};
pub use settings::Settings;
pub use silence::{Silence, SilenceState};
