//! Notification channels: how a queued notification reaches a receiver.
//!
//! - [`secret`]: secrets from the environment or a file, never shown.

pub mod secret;
