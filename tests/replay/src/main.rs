//! `vigil-replay`: serves a recording by hand, to point a Vigil (or curl) at it.
//!
//! ```text
//! vigil-replay --fixture tests/fixtures/lodestar/scenario-a.jsonl.gz --start-slot 80 --speed 2
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use vigil_replay::{Replay, ReplayOptions};

const USAGE: &str = "usage: vigil-replay --fixture PATH [--start-slot N | --start-ms N] [--speed 1|2] [--no-recorded-outages]";

fn parse_args() -> Result<ReplayOptions> {
    let mut args = std::env::args().skip(1);
    let mut fixture: Option<PathBuf> = None;
    let mut start_slot = None;
    let mut start_ms = None;
    let mut speed = 1;
    let mut outages = true;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--fixture" => fixture = Some(value("--fixture")?.into()),
            "--start-slot" => {
                start_slot = Some(
                    value("--start-slot")?
                        .parse::<u64>()
                        .context("--start-slot: not a number")?,
                );
            }
            "--start-ms" => {
                start_ms = Some(
                    value("--start-ms")?
                        .parse::<u64>()
                        .context("--start-ms: not a number")?,
                )
            }
            "--speed" => {
                speed = value("--speed")?
                    .parse::<u32>()
                    .context("--speed: not a number")?
            }
            "--no-recorded-outages" => outages = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let fixture = fixture.with_context(|| format!("--fixture is required\n{USAGE}"))?;
    let mut opts = ReplayOptions::new(fixture)
        .speed(speed)
        .recorded_outages(outages);
    if let Some(ms) = start_ms {
        opts = opts.start_at_ms(ms);
    }
    if let Some(slot) = start_slot {
        opts = opts.start_at_slot(slot);
    }
    Ok(opts)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        // One readable line (with causes), not a Debug dump with a backtrace.
        eprintln!("vigil-replay: {e:#}");
        std::process::exit(2);
    }
}

async fn run() -> Result<()> {
    let opts = parse_args()?;
    let replay = Replay::start(opts).await?;
    println!("beacon API      {}", replay.beacon_url());
    for target in replay.metrics_targets() {
        if let Some(url) = replay.metrics_url(&target) {
            println!("{target:<15} {url}");
        }
    }
    println!(
        "genesis_time    {} (SECONDS_PER_SLOT {}), now at slot {} (t_ms {})",
        replay.genesis_time(),
        replay.seconds_per_slot(),
        replay.current_slot(),
        replay.replay_ms()
    );
    println!("serving until Ctrl-C");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    replay.stop().await;
    Ok(())
}
