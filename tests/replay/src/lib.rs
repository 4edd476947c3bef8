//! Replays a recording of a real Lodestar beacon node as if it were live.
//!
//! Vigil's collectors are tested against real data without running a chain: a
//! [`Replay`] serves the beacon REST API, its SSE stream and the `/metrics` endpoints of
//! the beacon node and validator clients, each answer being what the real node said at
//! the corresponding moment of the recording (format and contents of the recordings:
//! `tests/fixtures/lodestar/README.md`).
//!
//! Time: the replay serves a shifted `genesis_time` so that a client computing the slot
//! from the wall clock gets the slot being replayed, optionally twice as fast
//! (`SECONDS_PER_SLOT` served as half the recorded value; execution payload timestamps,
//! `lodestar_genesis_time` and process start times in `/metrics` are shifted alike).
//!
//! Serving rules, in short (details in `src/beacon.rs`):
//! - the latest recorded answer to the same method + path that existed at the replay
//!   moment, narrowed to the requested validators (POST bodies, `?id=`);
//! - where the recorder asked later than a client does, what the node already knew: a
//!   block once imported (SSE `block`), duties up to the next epoch, liveness of the
//!   previous/current epoch, attestation rewards once the needed state exists;
//! - otherwise Lodestar's own errors (`404 No block found for id '82'`,
//!   `404 No state found`, `500 State is unavailable for slot …`, `400` outside its
//!   windows), shaped like the recorded ones;
//! - numeric/`finalized`/`justified` state ids: the `head` answer recorded while that
//!   state was the head, else 404;
//! - anything never recorded: fastify's `404 Route GET:/… not found`.
//! - `/metrics`: the latest recorded text; during recorded outages (validator client B
//!   stopped, slots ~81–177) the listener refuses connections.
//!
//! SSE (`/eth/v1/events?topics=…`) streams the recorded events from the moment of
//! connection on. [`Faults`] injects failures.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use vigil_replay::{Replay, ReplayOptions};
//! let opts = ReplayOptions::new("tests/fixtures/lodestar/scenario-a.jsonl.gz")
//!     .start_at_slot(80)
//!     .speed(2);
//! let replay = Replay::start(opts).await?;
//! let url = replay.beacon_url(); // point a collector here
//! replay.wait_for_slot(84).await;
//! replay.faults().set_down(true);
//! replay.stop().await;
//! # Ok(()) }
//! ```

mod beacon;
mod clock;
mod faults;
mod filter;
mod listener;
mod recording;
mod server;
mod sse;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::Faults;

use crate::beacon::Beacon;
use crate::clock::Clock;
use crate::recording::Recording;
use crate::server::MetricsTarget;

/// Environment variable that overrides [`scenario_a`]'s path.
pub const SCENARIO_A_ENV: &str = "VIGIL_FIXTURE_SCENARIO_A";

/// Path of the Lodestar recording `scenario-a.jsonl.gz` (see its README), for tests:
/// `$VIGIL_FIXTURE_SCENARIO_A` if set, else the copy vendored in `tests/fixtures/lodestar/`
/// (a clone builds, tests and demos with nothing beside it).
pub fn scenario_a() -> PathBuf {
    match std::env::var_os(SCENARIO_A_ENV) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/lodestar/scenario-a.jsonl.gz"),
    }
}

/// How to replay a recording.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The recording (`.jsonl.gz`).
    pub fixture: PathBuf,
    /// Start part-way through: the recording time (`t_ms`) that maps to the moment the
    /// replay starts. Ignored when `start_slot` is set.
    pub start_at_ms: u64,
    /// Start at the beginning of this slot instead (takes precedence over
    /// `start_at_ms`; resolved against the recording's genesis when it is loaded).
    pub start_slot: Option<u64>,
    /// 1: real time; 2: twice as fast (every recorded time halved, `SECONDS_PER_SLOT`
    /// served as 1 instead of 2). Other values are refused by [`Replay::start`]: a
    /// served slot must last a whole number of seconds.
    pub speed: u32,
    /// Whether the outages in the recording (`http_error` lines: validator client B's
    /// `/metrics` refused connections while B was stopped) close the corresponding
    /// listener during those moments. On by default: that is what the real node did.
    pub recorded_outages: bool,
}

impl ReplayOptions {
    /// Replays `fixture` from its beginning, in real time.
    pub fn new(fixture: impl Into<PathBuf>) -> ReplayOptions {
        ReplayOptions {
            fixture: fixture.into(),
            start_at_ms: 0,
            start_slot: None,
            speed: 1,
            recorded_outages: true,
        }
    }

    /// Starts at the beginning of `slot` (up to one served second later, see
    /// [`Replay::start`]).
    pub fn start_at_slot(mut self, slot: u64) -> ReplayOptions {
        self.start_slot = Some(slot);
        self
    }

    /// Starts at recording time `t_ms`.
    pub fn start_at_ms(mut self, t_ms: u64) -> ReplayOptions {
        self.start_at_ms = t_ms;
        self.start_slot = None;
        self
    }

    /// Replays `n` times faster than real time (1 or 2).
    pub fn speed(mut self, n: u32) -> ReplayOptions {
        self.speed = n;
        self
    }

    /// Whether recorded outages close listeners (see the field).
    pub fn recorded_outages(mut self, on: bool) -> ReplayOptions {
        self.recorded_outages = on;
        self
    }
}

/// A running replay: one beacon API listener and one listener per `/metrics` target,
/// all on `127.0.0.1` with OS-assigned ports. Dropping it shuts the listeners down in
/// the background; [`Replay::stop`] does so and waits.
#[derive(Debug)]
pub struct Replay {
    rec: Arc<Recording>,
    clock: Clock,
    faults: Faults,
    beacon_addr: SocketAddr,
    metrics_addrs: BTreeMap<String, SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Replay {
    /// Loads the recording (once per process and file; cached while in use) and starts
    /// serving. The recording moment asked for is mapped to now, rounded so that the
    /// served genesis is a whole second: the replay starts at that moment or up to one
    /// served second after it.
    pub async fn start(opts: ReplayOptions) -> Result<Replay> {
        let fixture = opts.fixture.clone();
        let rec = tokio::task::spawn_blocking(move || recording::load_shared(&fixture))
            .await
            .context("loading the recording (task failed)")?
            .with_context(|| format!("loading recording {}", opts.fixture.display()))?;
        let start_ms = match opts.start_slot {
            Some(slot) => {
                let slot_ms = rec.seconds_per_slot as i64 * 1000;
                rec.genesis_ms().saturating_add(
                    i64::try_from(slot)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(slot_ms),
                )
            }
            None => i64::try_from(opts.start_at_ms).context("start_at_ms out of range")?,
        };
        let clock = Clock::new(&rec, start_ms, opts.speed, clock::unix_now_ms())?;
        let faults = Faults::new();
        let (shutdown, _) = watch::channel(false);
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));

        let beacon = Arc::new(Beacon {
            rec: rec.clone(),
            clock: clock.clone(),
            faults: faults.clone(),
        });
        let beacon_listener = listener::bind(local).context("binding the beacon API listener")?;
        let beacon_addr = beacon_listener
            .local_addr()
            .context("reading the beacon API address")?;
        let beacon_faults = faults.clone();
        let mut tasks = vec![listener::spawn(
            "beacon".to_owned(),
            beacon_listener,
            server::beacon_router(beacon),
            Arc::new(move || (beacon_faults.is_down(), None)),
            faults.listener_changes(),
            shutdown.subscribe(),
        )?];

        let mut metrics_addrs = BTreeMap::new();
        for target in rec.metrics_targets() {
            let listener =
                listener::bind(local).with_context(|| format!("binding the {target} listener"))?;
            let addr = listener
                .local_addr()
                .with_context(|| format!("reading the {target} address"))?;
            let state = Arc::new(MetricsTarget {
                target: target.clone(),
                rec: rec.clone(),
                clock: clock.clone(),
                faults: faults.clone(),
                recorded_outages: opts.recorded_outages,
            });
            let policy_state = state.clone();
            tasks.push(listener::spawn(
                target.clone(),
                listener,
                server::metrics_router(state),
                Arc::new(move || policy_state.down()),
                faults.listener_changes(),
                shutdown.subscribe(),
            )?);
            metrics_addrs.insert(target, addr);
        }
        tracing::info!(
            beacon = %beacon_addr,
            genesis = clock.served_genesis(),
            speed = opts.speed,
            start_ms,
            "replay started"
        );
        Ok(Replay {
            rec,
            clock,
            faults,
            beacon_addr,
            metrics_addrs,
            shutdown,
            tasks,
        })
    }

    /// Base URL of the beacon REST API (the recording's target `"beacon"`), no slash.
    pub fn beacon_url(&self) -> String {
        format!("http://{}", self.beacon_addr)
    }

    /// URL of a `/metrics` endpoint: `"beacon-metrics"`, `"vc-metrics-A"`,
    /// `"vc-metrics-B"` (the recording's targets); `None` for an unknown target.
    pub fn metrics_url(&self, target: &str) -> Option<String> {
        self.metrics_addrs
            .get(target)
            .map(|addr| format!("http://{addr}/metrics"))
    }

    /// The `/metrics` targets of the recording.
    pub fn metrics_targets(&self) -> Vec<String> {
        self.metrics_addrs.keys().cloned().collect()
    }

    /// The genesis time `/eth/v1/beacon/genesis` serves now (shifted; or the one set by
    /// [`Faults::reset_genesis`]).
    pub fn genesis_time(&self) -> u64 {
        self.faults
            .genesis_override()
            .map_or(self.clock.served_genesis(), |(time, _)| time)
    }

    /// `SECONDS_PER_SLOT` as served (recorded value / speed).
    pub fn seconds_per_slot(&self) -> u64 {
        self.clock.served_seconds_per_slot()
    }

    /// The replay speed.
    pub fn speed(&self) -> u32 {
        self.clock.speed()
    }

    /// The recording's `meta` line.
    pub fn meta(&self) -> &serde_json::Value {
        &self.rec.meta
    }

    /// Current position in recording time (`t_ms`; 0 before the recording starts).
    pub fn replay_ms(&self) -> u64 {
        self.clock.now().max(0) as u64
    }

    /// The slot the replayed chain's clock is at (from the wall clock, like a client).
    pub fn current_slot(&self) -> u64 {
        self.clock.slot_at(self.clock.now())
    }

    /// Sleeps until the replayed chain's clock reaches the start of `slot` (at once if
    /// it already has). The block of that slot, if any, arrives shortly after.
    pub async fn wait_for_slot(&self, slot: u64) {
        self.clock.sleep_until(self.clock.slot_start(slot)).await;
    }

    /// Fault injection, effective immediately.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Same as `self.faults().reset_genesis(…)`: simulates a network reset.
    pub fn reset_genesis(&self, new_genesis_time: u64, new_root: &str) {
        self.faults.reset_genesis(new_genesis_time, new_root);
    }

    /// Closes every listener and connection and waits for it: connections are refused
    /// afterwards.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a listener task failed");
            }
        }
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        // Without `stop`: listener tasks see this and close on their own.
        self.shutdown.send_replace(true);
    }
}
