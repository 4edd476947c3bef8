//! The mapping between wall-clock time and recording time.
//!
//! A collector computes the current slot from `genesis_time` and `SECONDS_PER_SLOT`
//! and the wall clock, so the replay must serve a genesis for which that computation
//! gives the slot being replayed. The served genesis is a whole number of seconds (it is
//! an integer in the API), so the mapping is anchored on it rather than on the instant
//! the replay started:
//!
//! ```text
//! recording_ms(wall_ms) = genesis_rec_ms + (wall_ms − served_genesis·1000) · speed
//! ```
//!
//! where `genesis_rec_ms` is genesis in recording time. Slot `s` then starts at wall
//! time `served_genesis + s · SECONDS_PER_SLOT / speed` seconds, exactly as the client
//! computes it. Rounding the genesis down means a replay starts at `start_at_ms` or up
//! to one wall second (`speed` recorded seconds) later, never earlier.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};

use crate::recording::{Ms, Recording};

/// Wall-clock ↔ recording time, fixed for the life of a replay.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    genesis_rec_ms: Ms,
    slot_ms: Ms,
    slots_per_epoch: u64,
    speed: i64,
    served_genesis: u64,
    served_seconds_per_slot: u64,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn unix_now_ms() -> i64 {
    // A clock before 1970 is not a state a test machine can be in; 0 keeps it total.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Clock {
    /// A clock on which recording time `start_at_ms` is the wall time `now_unix_ms`
    /// (give or take the rounding explained in the module docs).
    pub(crate) fn new(
        rec: &Recording,
        start_at_ms: Ms,
        speed: u32,
        now_unix_ms: i64,
    ) -> Result<Clock> {
        Clock::from_parts(
            rec.genesis_ms(),
            rec.seconds_per_slot,
            rec.slots_per_epoch,
            start_at_ms,
            speed,
            now_unix_ms,
        )
    }

    fn from_parts(
        genesis_rec_ms: Ms,
        seconds_per_slot: u64,
        slots_per_epoch: u64,
        start_at_ms: Ms,
        speed: u32,
        now_unix_ms: i64,
    ) -> Result<Clock> {
        let sps = seconds_per_slot;
        if speed == 0 || !sps.is_multiple_of(u64::from(speed)) {
            bail!(
                "replay speed {speed} is not supported: the recording has {sps} s slots and the \
                 served SECONDS_PER_SLOT must stay a whole number of seconds (use a divisor of \
                 {sps}, i.e. 1 or 2 for this recording)"
            );
        }
        let speed = i64::from(speed);
        let genesis_wall_ms = now_unix_ms + (genesis_rec_ms - start_at_ms).div_euclid(speed);
        let served_genesis = genesis_wall_ms.div_euclid(1000);
        if served_genesis < 0 {
            bail!("start_at_ms {start_at_ms} would put genesis before 1970");
        }
        Ok(Clock {
            genesis_rec_ms,
            slot_ms: sps as i64 * 1000,
            slots_per_epoch,
            speed,
            served_genesis: served_genesis as u64,
            served_seconds_per_slot: sps / speed as u64,
        })
    }

    /// `genesis_time` as served: the wall-clock second of slot 0's start.
    pub(crate) fn served_genesis(&self) -> u64 {
        self.served_genesis
    }

    /// `SECONDS_PER_SLOT` as served (the recorded value divided by the speed).
    pub(crate) fn served_seconds_per_slot(&self) -> u64 {
        self.served_seconds_per_slot
    }

    pub(crate) fn speed(&self) -> u32 {
        self.speed as u32
    }

    /// Recording time at a wall-clock instant.
    pub(crate) fn replay_ms_at(&self, unix_ms: i64) -> Ms {
        self.genesis_rec_ms + (unix_ms - self.served_genesis as i64 * 1000) * self.speed
    }

    /// Recording time now.
    pub(crate) fn now(&self) -> Ms {
        self.replay_ms_at(unix_now_ms())
    }

    /// The wall-clock instant (Unix ms) at which recording time `at` is reached.
    pub(crate) fn unix_ms_of(&self, at: Ms) -> i64 {
        let delta = at - self.genesis_rec_ms;
        // Round up: at the returned instant the replay is at `at` or just past it.
        self.served_genesis as i64 * 1000 + (delta + self.speed - 1).div_euclid(self.speed)
    }

    /// Real time left until recording time `at` (zero if already past).
    pub(crate) fn until(&self, at: Ms) -> Duration {
        let wait = self.unix_ms_of(at) - unix_now_ms();
        Duration::from_millis(wait.max(0) as u64)
    }

    /// Sleeps until recording time `at` has been reached on the wall clock.
    pub(crate) async fn sleep_until(&self, at: Ms) {
        // Re-checked in a loop: a timer may fire early relative to a stepped wall clock.
        while self.now() < at {
            tokio::time::sleep(self.until(at).max(Duration::from_millis(1))).await;
        }
    }

    /// Slot at recording time `at` (0 before genesis).
    pub(crate) fn slot_at(&self, at: Ms) -> u64 {
        (at - self.genesis_rec_ms).max(0).div_euclid(self.slot_ms) as u64
    }

    /// Epoch at recording time `at`.
    pub(crate) fn epoch_at(&self, at: Ms) -> u64 {
        self.slot_at(at) / self.slots_per_epoch
    }

    /// Recording time at which `slot` starts.
    pub(crate) fn slot_start(&self, slot: u64) -> Ms {
        self.genesis_rec_ms.saturating_add(
            i64::try_from(slot)
                .unwrap_or(i64::MAX)
                .saturating_mul(self.slot_ms),
        )
    }

    pub(crate) fn slots_per_epoch(&self) -> u64 {
        self.slots_per_epoch
    }

    /// [`Clock::shift_chain_time`] for any moment in seconds, before genesis included
    /// (process start times in `/metrics`).
    pub(crate) fn shift_unix_seconds(&self, recorded_genesis: u64, ts: f64) -> f64 {
        self.served_genesis as f64 + (ts - recorded_genesis as f64) / self.speed as f64
    }

    /// Rewrites a chain timestamp (Unix seconds on the recorded chain's clock, e.g. an
    /// execution payload's) onto the served clock, so it agrees with the served genesis.
    pub(crate) fn shift_chain_time(&self, recorded_genesis: u64, ts: u64) -> u64 {
        match ts.checked_sub(recorded_genesis) {
            Some(since) => self.served_genesis + since / self.speed as u64,
            None => ts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(start_at_ms: Ms, speed: u32, now: i64) -> Clock {
        Clock::from_parts(2328, 2, 8, start_at_ms, speed, now).expect("valid clock")
    }

    #[test]
    fn only_whole_second_slots_are_accepted() {
        assert!(Clock::from_parts(2328, 2, 8, 0, 0, 0).is_err());
        assert!(Clock::from_parts(2328, 2, 8, 0, 3, 0).is_err());
        assert!(Clock::from_parts(2328, 2, 8, 0, 4, 0).is_err());
    }

    #[test]
    fn start_maps_to_now_or_just_after() {
        for speed in [1, 2] {
            for now in [1_700_000_000_000, 1_700_000_000_499, 1_700_000_000_999] {
                let start = 2328 + 80 * 2000;
                let c = clock(start, speed, now);
                let at = c.replay_ms_at(now);
                assert!(
                    at >= start && at < start + 1000 * i64::from(speed),
                    "{at} vs {start}"
                );
                assert_eq!(c.slot_at(at), 80);
            }
        }
    }

    #[test]
    fn slots_agree_with_the_served_genesis() {
        let c = clock(2328 + 10 * 2000, 2, 1_700_000_000_300);
        // Wall-clock slot as a client computes it.
        for wall_s in c.served_genesis()..c.served_genesis() + 20 {
            let client_slot = (wall_s - c.served_genesis()) / c.served_seconds_per_slot();
            assert_eq!(c.slot_at(c.replay_ms_at(wall_s as i64 * 1000)), client_slot);
        }
        let at = c.slot_start(42) + 1;
        assert!(c.replay_ms_at(c.unix_ms_of(at)) >= at);
        assert_eq!(
            c.shift_chain_time(1000, 1000 + 2 * 7),
            c.served_genesis() + 7
        );
    }
}
