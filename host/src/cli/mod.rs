//! The command line: `vigil run`, `vigil config check`, `vigil plugins …`.
//!
//! Exit codes: 0 success; 1 the command ran and failed (a check found a problem, a
//! plugin or config was refused, the daemon stopped on an error); 2 usage error (unknown
//! flag, missing argument).

mod alerts_cmd;
mod config_cmd;
mod plugins_cmd;
mod web_cmd;

pub use plugins_cmd::read_inputs;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a command that ran and failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage error (clap's convention).
pub const EXIT_USAGE: u8 = 2;

/// Default config path when neither `--config` nor `VIGIL_CONFIG` is given.
pub const DEFAULT_CONFIG: &str = "config/vigil.toml";

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "Watch Ethereum validators and their nodes; judge them with sandboxed WASM plugins",
    long_about = "Vigil collects from your beacon and execution nodes into an embedded store, runs \
sandboxed WASM rule plugins on the data, and alerts on what they find.\n\n\
Start with `vigil run` (uses config/vigil.toml, or --config / $VIGIL_CONFIG). \
Plugins are .wasm files in the configured folder; add, replace or remove one while \
Vigil runs and the change is live within a second.",
    after_help = "Exit codes: 0 ok, 1 failed (a check found a problem), 2 usage error.\n\
Examples:\n  vigil run --config /etc/vigil/vigil.toml\n  vigil plugins build plugins/ \n  \
vigil plugins test target/plugins/node-health.wasm --input tests/fixtures/node-tick.json\n  \
vigil config check config/vigil.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration lives.
#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// Config file (TOML).
    #[arg(long, short = 'c', env = "VIGIL_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: collect, evaluate plugins, hot-reload plugins and config.
    Run(ConfigArg),
    /// Check configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Build, check, test and list plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Alerts: list, show, history, ack, silence, unsilence, test a receiver.
    #[command(subcommand)]
    Alerts(alerts_cmd::AlertsCommand),
    /// The notification outbox: list queued, dead or delivered; retry a dead letter.
    #[command(subcommand)]
    Outbox(alerts_cmd::OutboxCommand),
    /// Dashboard helpers: `vigil web hash-password`.
    #[command(subcommand)]
    Web(WebCommand),
    /// Validators, status, effectiveness, income and alerts as a colour table (from the
    /// running daemon's API, or the store when no daemon runs).
    Summary {
        #[command(flatten)]
        config: ConfigArg,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// A daily, weekly or monthly report (html with charts, json, csv or md).
    Report {
        #[command(flatten)]
        config: ConfigArg,
        /// daily, weekly or monthly.
        #[arg(long, default_value = "daily")]
        period: String,
        /// html, json, csv or md.
        #[arg(long, default_value = "md")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum WebCommand {
    /// Print an argon2id hash of a password (read from $VIGIL_PASSWORD or stdin) for
    /// `[[web.users]] password_hash`.
    HashPassword,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Parse and validate a config, including every plugin's `[plugin.<name>]` table
    /// against the plugin itself. Exit 1 with file:line, key and reason when invalid.
    Check {
        /// The config file.
        path: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// List the plugins in the configured folder: version, inputs, status.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check that a .wasm file is a loadable plugin of this contract; print its manifest.
    Check {
        /// The .wasm file.
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run a plugin on fixture inputs (a JSON input or list of inputs) and print what
    /// it finds. State lives in memory for the run.
    Test {
        /// The .wasm file.
        file: PathBuf,
        /// JSON fixture: one input (`{"Node": {...}}`) or a list of them.
        #[arg(long)]
        input: PathBuf,
        /// Take the plugin's `[plugin.<name>]` table from this vigil.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print outputs as JSON (one object per input).
        #[arg(long)]
        json: bool,
    },
    /// Compile plugin crates for wasm32-unknown-unknown and install them as components
    /// into the plugin folder (atomically: a running Vigil picks them up).
    Build {
        /// Plugin crate folders, or folders of crates (default: ./plugins).
        crates: Vec<PathBuf>,
        /// Where to install the .wasm files (default: the configured plugin folder).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
        /// Cargo target folder for the wasm build.
        #[arg(long, default_value = "target/wasm")]
        target_dir: PathBuf,
    },
}

/// Parse arguments and run; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(c) => crate::daemon::run(&c.config),
        Command::Config(ConfigCommand::Check { path }) => config_cmd::check(&path),
        Command::Plugins(cmd) => plugins_cmd::run(cmd),
        Command::Alerts(cmd) => alerts_cmd::run_alerts(cmd),
        Command::Outbox(cmd) => alerts_cmd::run_outbox(cmd),
        Command::Web(WebCommand::HashPassword) => web_cmd::hash_password(),
        Command::Summary { config, json } => web_cmd::summary(&config.config, json),
        Command::Report {
            config,
            period,
            format,
            out,
        } => web_cmd::report(&config.config, &period, &format, out.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{} {e:#}", crate::term::red("error:"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
