//! `vigil alerts …` and `vigil outbox …`: talk to the running daemon over its control
//! socket, or open the store directly when no daemon runs (see `alerts::control`).

use crate::alerts::control::{self, Request};
use crate::alerts::{Alert, AlertEvent, OutboxItem, Silence};
use crate::config::{self, LoadedConfig};
use crate::term;
use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::ConfigArg;

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Alerts tracked now: pending, firing, and recently resolved.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only firing alerts.
        #[arg(long)]
        firing: bool,
        #[arg(long)]
        json: bool,
    },
    /// One alert in full (fingerprint or a unique prefix of at least 4 characters).
    Show {
        fingerprint: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// History of one alert, or of all (newest last).
    History {
        fingerprint: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a firing alert: no repeat notifications until it resolves.
    Ack {
        fingerprint: String,
        /// Who acknowledges.
        #[arg(long, env = "USER")]
        by: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Create a silence from matchers (`node=bn-1`, `name=~attestation.*`,
    /// `validator=42`), or list silences with --list.
    Silence {
        /// Matchers; all must match.
        matchers: Vec<String>,
        /// How long from now, e.g. "2h" (default 1h).
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Start later: a delay from now, e.g. "30m".
        #[arg(long)]
        starts_in: Option<String>,
        #[arg(long, env = "USER")]
        author: Option<String>,
        #[arg(long, default_value = "")]
        comment: String,
        /// List silences (active, pending and expired) instead.
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Expire a silence now (it stays in the history).
    Unsilence {
        id: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Send a test notification to a receiver and wait for the outcome.
    Test {
        receiver: String,
        /// How long to wait for delivery.
        #[arg(long, default_value = "30s")]
        wait: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Queued notifications, dead letters (--dead) or the delivery log (--delivered).
    List {
        #[arg(long)]
        dead: bool,
        #[arg(long)]
        delivered: bool,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Put a dead letter back into the outbox.
    Retry {
        receiver: String,
        seq: u64,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
}

fn load(c: &ConfigArg) -> anyhow::Result<LoadedConfig> {
    config::load(&c.config).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Settings for commands that send nothing (no secrets read).
fn settings(cfg: &LoadedConfig) -> anyhow::Result<crate::alerts::Settings> {
    crate::alerts::Settings::from_loaded_with(cfg, crate::alerts::settings::Secrets::Skip)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Ask the daemon, or run locally when none answers.
fn ask(cfg: &LoadedConfig, req: Request) -> anyhow::Result<Value> {
    let settings = settings(cfg)?;
    match control::request(&settings.socket, &req)? {
        Some(v) => Ok(v),
        None => control::run_local(cfg, req),
    }
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> anyhow::Result<T> {
    serde_json::from_value(v).context("unexpected answer from the daemon (same vigil version?)")
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn ago(ms: i64) -> String {
    let d = (crate::clock::now_ms() - ms).max(0) / 1000;
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86400),
    }
}

fn state_cell(a: &Alert) -> String {
    let s = a.state.as_str();
    let s = match a.state {
        crate::alerts::AlertState::Firing if a.muted() => term::dim(&format!("{s} (muted)")),
        crate::alerts::AlertState::Firing => term::red(s),
        crate::alerts::AlertState::Pending => term::yellow(s),
        crate::alerts::AlertState::Resolved => term::green(s),
    };
    if a.acked.is_some() {
        format!("{s} ack")
    } else {
        s
    }
}

fn alerts_table(alerts: &[Alert]) -> String {
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            vec![
                a.fingerprint.clone(),
                a.severity.priority().to_string(),
                state_cell(a),
                a.display_name(),
                if a.affected_count > 0 {
                    a.affected_count.to_string()
                } else {
                    String::new()
                },
                ago(a.since_ms),
                a.summary.clone(),
            ]
        })
        .collect();
    term::table(
        &[
            "FINGERPRINT",
            "SEV",
            "STATE",
            "ALERT",
            "AFFECTED",
            "SINCE",
            "SUMMARY",
        ],
        &rows,
    )
}

/// `vigil alerts …`.
pub(super) fn run_alerts(cmd: AlertsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AlertsCommand::List {
            config,
            firing,
            json,
        } => {
            let cfg = load(&config)?;
            let mut alerts: Vec<Alert> = from(ask(&cfg, Request::List)?)?;
            if firing {
                alerts.retain(|a| a.state == crate::alerts::AlertState::Firing);
            }
            if json {
                print_json(&serde_json::to_value(&alerts)?);
            } else if alerts.is_empty() {
                println!("{}", term::green("no alerts"));
            } else {
                print!("{}", alerts_table(&alerts));
            }
        }
        AlertsCommand::Show {
            fingerprint,
            config,
            json,
        } => {
            let cfg = load(&config)?;
            let v = ask(&cfg, Request::Show { fingerprint })?;
            if json {
                print_json(&v);
            } else {
                let a: Alert = from(v)?;
                print!("{}", alerts_table(std::slice::from_ref(&a)));
                println!("{} {}", term::bold("plugin:"), a.plugin);
                println!("{} {}", term::bold("input:"), a.input_kind);
                println!("{} {}", term::bold("labels:"), a.display_name());
                if !a.validators.is_empty() {
                    println!(
                        "{} {:?} ({} affected)",
                        term::bold("validators:"),
                        a.validators,
                        a.affected_count
                    );
                }
                if let Some(ack) = &a.acked {
                    println!("{} {} {}", term::bold("acked:"), ack.by, ago(ack.at_ms));
                }
                if !a.silenced_by.is_empty() {
                    println!(
                        "{} {}",
                        term::bold("silenced by:"),
                        a.silenced_by.join(", ")
                    );
                }
                if !a.inhibited_by.is_empty() {
                    println!(
                        "{} {}",
                        term::bold("inhibited by:"),
                        a.inhibited_by.join(", ")
                    );
                }
                if a.flapping {
                    println!(
                        "{}",
                        term::yellow("flapping: resolves only after [alerting] flap_hold")
                    );
                }
            }
        }
        AlertsCommand::History {
            fingerprint,
            limit,
            config,
            json,
        } => {
            let cfg = load(&config)?;
            let v = ask(&cfg, Request::History { fingerprint, limit })?;
            if json {
                print_json(&v);
            } else {
                let events: Vec<AlertEvent> = from(v)?;
                if events.is_empty() {
                    println!("{}", term::green("no history yet"));
                    return Ok(ExitCode::SUCCESS);
                }
                let rows: Vec<Vec<String>> = events
                    .iter()
                    .map(|e| {
                        vec![
                            crate::channels::rfc3339(e.at_ms),
                            e.fingerprint.clone(),
                            e.name.clone(),
                            serde_json::to_value(e.kind)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            e.detail.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    term::table(&["TIME", "FINGERPRINT", "ALERT", "EVENT", "DETAIL"], &rows)
                );
            }
        }
        AlertsCommand::Ack {
            fingerprint,
            by,
            config,
            json,
        } => {
            let cfg = load(&config)?;
            let v = ask(&cfg, Request::Ack { fingerprint, by })?;
            if json {
                print_json(&v);
            } else {
                let a: Alert = from(v)?;
                println!("{} {}", term::green("acknowledged"), a.display_name());
            }
        }
        AlertsCommand::Silence {
            matchers,
            duration,
            starts_in,
            author,
            comment,
            list,
            config,
            json,
        } => {
            let cfg = load(&config)?;
            if list {
                let v = ask(&cfg, Request::Silences)?;
                if json {
                    print_json(&v);
                } else {
                    let s: Vec<Silence> = from(v)?;
                    if s.is_empty() {
                        println!("{}", term::green("no silences"));
                        return Ok(ExitCode::SUCCESS);
                    }
                    let rows: Vec<Vec<String>> = s
                        .iter()
                        .map(|s| {
                            vec![
                                s.id.clone(),
                                format!("{:?}", s.state).to_lowercase(),
                                s.matchers
                                    .iter()
                                    .map(|m| m.to_string())
                                    .collect::<Vec<_>>()
                                    .join(" "),
                                crate::channels::rfc3339(s.starts_ms),
                                crate::channels::rfc3339(
                                    s.expired_ms.unwrap_or(s.ends_ms).min(s.ends_ms),
                                ),
                                s.author.clone(),
                                s.comment.clone(),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        term::table(
                            &[
                                "ID", "STATE", "MATCHERS", "STARTS", "ENDS", "AUTHOR", "COMMENT"
                            ],
                            &rows
                        )
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            if matchers.is_empty() {
                anyhow::bail!(
                    "give at least one matcher, e.g. `vigil alerts silence node=bn-1 --comment \"maintenance\"`"
                );
            }
            let parsed = matchers
                .iter()
                .map(|m| crate::alerts::Matcher::parse(m))
                .collect::<Result<Vec<_>, _>>()?;
            let dur = config::parse_duration(&duration).ok_or_else(|| {
                anyhow::anyhow!("--duration {duration:?} is not a duration (e.g. \"2h\")")
            })?;
            let delay = match &starts_in {
                Some(s) => config::parse_duration(s).ok_or_else(|| {
                    anyhow::anyhow!("--starts-in {s:?} is not a duration (e.g. \"30m\")")
                })?,
                None => Duration::ZERO,
            };
            let now = crate::clock::now_ms();
            let starts_ms = now + delay.as_millis() as i64;
            let silence = Silence {
                id: String::new(),
                matchers: parsed,
                starts_ms,
                ends_ms: starts_ms + dur.as_millis() as i64,
                author: author.unwrap_or_default(),
                comment,
                created_ms: now,
                expired_ms: None,
                state: Default::default(),
            };
            let v = ask(&cfg, Request::Silence { silence })?;
            if json {
                print_json(&serde_json::json!({"id": v}));
            } else {
                println!(
                    "{} {} (until {})",
                    term::green("silence created:"),
                    v.as_str().unwrap_or(""),
                    crate::channels::rfc3339(starts_ms + dur.as_millis() as i64)
                );
            }
        }
        AlertsCommand::Unsilence { id, config, json } => {
            let cfg = load(&config)?;
            let v = ask(&cfg, Request::Unsilence { id })?;
            if json {
                print_json(&v);
            } else {
                let s: Silence = from(v)?;
                println!("{} {}", term::green("silence expired:"), s.id);
            }
        }
        AlertsCommand::Test {
            receiver,
            wait,
            config,
            json,
        } => {
            let cfg = load(&config)?;
            let wait = config::parse_duration(&wait)
                .ok_or_else(|| anyhow::anyhow!("--wait {wait:?} is not a duration"))?;
            let settings = settings(&cfg)?;
            let item = match control::request(
                &settings.socket,
                &Request::Test {
                    receiver: receiver.clone(),
                },
            )? {
                Some(seq) => {
                    // The daemon delivers it; watch its outcome.
                    let seq = seq.as_u64().unwrap_or(0);
                    let deadline = Instant::now() + wait;
                    loop {
                        let v = control::request(
                            &settings.socket,
                            &Request::Item {
                                receiver: receiver.clone(),
                                seq,
                            },
                        )?
                        .unwrap_or(Value::Null);
                        let item: Option<OutboxItem> = from(v)?;
                        if let Some(i) = &item
                            && (i.state != crate::alerts::DeliveryState::Queued
                                || Instant::now() > deadline)
                        {
                            break item;
                        }
                        if Instant::now() > deadline {
                            break item;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                None => Some(test_locally(&cfg, &receiver, wait)?),
            };
            let Some(item) = item else {
                anyhow::bail!("the test notification vanished from the outbox");
            };
            if json {
                print_json(&serde_json::to_value(&item)?);
            }
            return Ok(match item.state {
                crate::alerts::DeliveryState::Delivered => {
                    if !json {
                        println!(
                            "{} {receiver}: {}",
                            term::green("delivered to"),
                            item.attempts
                                .last()
                                .map(|a| a.outcome.as_str())
                                .unwrap_or("")
                        );
                    }
                    ExitCode::SUCCESS
                }
                state => {
                    if !json {
                        println!(
                            "{} {receiver} ({}): {}",
                            term::red("not delivered to"),
                            format!("{state:?}").to_lowercase(),
                            item.last_error.as_deref().unwrap_or("still queued")
                        );
                    }
                    ExitCode::from(super::EXIT_FAILURE)
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// No daemon: deliver the test notification from this process.
fn test_locally(cfg: &LoadedConfig, receiver: &str, wait: Duration) -> anyhow::Result<OutboxItem> {
    let store = std::sync::Arc::new(crate::store::Store::open(&cfg.store_path)?);
    let settings = crate::alerts::Settings::from_loaded(cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let engine = crate::alerts::Engine::new(
        settings,
        store,
        std::sync::Arc::new(crate::clock::SystemClock),
    )?;
    let seq = engine.test_receiver(receiver)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let http = crate::net::http_client()?;
        let delivery = crate::channels::outbox::spawn(engine.clone(), http);
        let deadline = Instant::now() + wait;
        let found = loop {
            let all: Vec<OutboxItem> = engine
                .outbox_list()?
                .into_iter()
                .chain(engine.dead_letters()?)
                .chain(engine.delivery_log()?)
                .filter(|i| i.receiver == receiver && i.seq == seq)
                .collect();
            if let Some(i) = all.into_iter().next()
                && (i.state != crate::alerts::DeliveryState::Queued || Instant::now() > deadline)
            {
                break i;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        delivery.stop();
        anyhow::Ok(found)
    })
}

/// `vigil outbox …`.
pub(super) fn run_outbox(cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OutboxCommand::List {
            dead,
            delivered,
            config,
            json,
        } => {
            let cfg = load(&config)?;
            let req = if dead {
                Request::DeadLetters
            } else if delivered {
                Request::DeliveryLog
            } else {
                Request::Outbox
            };
            let v = ask(&cfg, req)?;
            if json {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let items: Vec<OutboxItem> = from(v)?;
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| {
                    vec![
                        i.receiver.clone(),
                        i.seq.to_string(),
                        match i.state {
                            crate::alerts::DeliveryState::Queued => term::yellow("queued"),
                            crate::alerts::DeliveryState::Delivered => term::green("delivered"),
                            crate::alerts::DeliveryState::Dead => term::red("dead"),
                        },
                        i.attempts.len().to_string(),
                        i.notification.title(),
                        i.notification.idempotency_key.clone(),
                        i.last_error
                            .clone()
                            .or_else(|| i.attempts.last().map(|a| a.outcome.clone()))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("{}", term::green("nothing here"));
            } else {
                print!(
                    "{}",
                    term::table(
                        &[
                            "RECEIVER",
                            "SEQ",
                            "STATE",
                            "ATTEMPTS",
                            "NOTIFICATION",
                            "KEY",
                            "LAST"
                        ],
                        &rows
                    )
                );
            }
        }
        OutboxCommand::Retry {
            receiver,
            seq,
            config,
            json,
        } => {
            let cfg = load(&config)?;
            let v = ask(&cfg, Request::Retry { receiver, seq })?;
            if json {
                print_json(&v);
            } else {
                let i: OutboxItem = from(v)?;
                println!(
                    "{} {}#{} ({})",
                    term::green("re-queued"),
                    i.receiver,
                    i.seq,
                    i.notification.title()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
