//! Replay server (being written).
