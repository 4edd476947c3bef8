//! `vigil-bench <suite> [--json]`: Vigil's measured figures, kept out of the daemon.
//!
//! Every figure is named to read alone (`evaluate_10k_validators_ms`) and printed as it is
//! measured, aligned, or as one JSON line `{"name","value","unit"}` with `--json`. The
//! suites drive the real `vigil` library (sandbox, store, alert engine, web) and, for
//! ratios, the built-in plugins' logic compiled natively. Build release for real figures:
//! `cargo run --release -p vigil-bench -- plugins --json`.

mod alerts;
mod analytics;
mod measure;
mod plugins;
mod report;
mod store;
mod web;
mod workload;

use clap::{Parser, ValueEnum};
use report::Reporter;
use std::path::PathBuf;
use std::process::ExitCode;

/// Measure Vigil's performance; prints each figure, or JSON lines with --json.
#[derive(Parser, Debug)]
#[command(name = "vigil-bench", version, about, long_about = None)]
struct Args {
    /// Which suite to run.
    suite: Suite,
    /// One JSON object per figure: {"name","value","unit"}.
    #[arg(long)]
    json: bool,
    /// Plugin folder with the built-in plugins' .wasm (default: build them with
    /// `vigil plugins build` first, into target/plugins).
    #[arg(long)]
    plugins: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Suite {
    /// Compile, cached load, instantiate, empty call, evaluate 10k/100k, hot swap.
    Plugins,
    /// Ingest rate, bytes per sample over a simulated month, query latency; then the
    /// collector watching the replayed chain.
    Store,
    /// The collector's CPU while it watches the replayed Lodestar chain.
    Collector,
    /// Finding → webhook latency and engine throughput, a real HTTP receiver.
    Alerts,
    /// All ten built-in plugins over one epoch of 10k validators, sandboxed and native.
    Analytics,
    /// Dashboard pages, live updates and /metrics at 10k validators.
    Web,
}

fn run(args: &Args) -> anyhow::Result<()> {
    let mut r = Reporter {
        json: args.json,
        figures: Vec::new(),
    };
    let dir = args.plugins.as_deref();
    match args.suite {
        Suite::Plugins => plugins::run(&mut r, dir)?,
        Suite::Collector => store::bench_collector(&mut r)?,
        // The store figures include the collector's CPU while it watches a chain.
        Suite::Store => {
            store::bench_store(&mut r)?;
            store::bench_collector(&mut r)?;
        }
        Suite::Analytics => r.figures = analytics::run(args.json, dir)?,
        Suite::Web => web::run(&mut |n, v, u| r.add(n, v, u))?,
        Suite::Alerts => alerts::run(&mut |n, v, u| r.add(n, v, u))?,
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{} {e:#}", vigil::term::red("error:"));
            ExitCode::FAILURE
        }
    }
}
