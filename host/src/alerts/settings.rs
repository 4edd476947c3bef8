//! The checked form of the alerting configuration: durations parsed, matchers compiled,
//! routes resolved to receivers, secrets read. Every refusal names the key and its
//! line, like the rest of the config.

use super::matcher::{Matcher, parse_all};
use super::model::Severity;
use crate::config::secret::Secret;
use crate::config::{
    Config, ConfigError, ForSpec, LoadedConfig, ReceiverConfig, RouteConfig, line_of,
    line_of_array, parse_duration,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Condition names the default inhibition mutes while their node is down or syncing.
pub const DUTY_CONDITIONS: &[&str] = &[
    "attestations_missed",
    "attestation_late",
    "attestation_wrong_vote",
    "proposal_missed",
    "proposal_orphaned",
    "sync_committee_missed",
    "sync_participation_low",
    "balance_decreasing",
];

/// How long a condition must hold before it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Evaluations(u32),
    Millis(i64),
}

/// Lifecycle timing of one condition name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub hold: Hold,
    pub keep_firing_for_ms: i64,
}

/// Grouping timing of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `None`: every label (`["..."]`).
    pub group_by: Option<Vec<String>>,
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
}

/// A node of the routing tree.
#[derive(Debug, Clone)]
pub struct Route {
    /// Position in the tree: `root`, `root.0`, `root.0.1`…
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub receiver: Option<String>,
    pub continue_: bool,
    pub grouping: Grouping,
    pub routes: Vec<Route>,
}

/// An inhibition rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Implicit,
    None,
}

/// Webhook body shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Alertmanager,
    Slack,
    Discord,
    PagerDuty,
    Telegram,
    Ntfy,
}

/// What a receiver is.
#[derive(Debug, Clone)]
pub enum ReceiverKind {
    Webhook {
        format: WebhookFormat,
        url: String,
        secret: Option<Secret>,
        token: Option<Secret>,
        chat_id: Option<String>,
    },
    Email {
        host: String,
        port: u16,
        tls: SmtpTls,
        ca_pem: Option<Vec<u8>>,
        username: Option<String>,
        password: Option<Secret>,
        from: String,
        to: Vec<String>,
    },
    Alertmanager {
        url: String,
        token: Option<Secret>,
    },
    Exec {
        command: PathBuf,
        args: Vec<String>,
        action_ids: Vec<String>,
    },
}

/// A receiver with its delivery policy.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverKind,
    pub timeout_ms: i64,
    pub rate_limit_per_minute: u32,
    pub backoff_initial_ms: i64,
    pub backoff_max_ms: i64,
    pub give_up_after_ms: i64,
    pub send_resolved: bool,
}

impl Receiver {
    /// `webhook/slack`, `email`, … for listings.
    pub fn kind_name(&self) -> String {
        match &self.kind {
            ReceiverKind::Webhook { format, .. } => {
                format!("webhook/{}", format!("{format:?}").to_lowercase())
            }
            ReceiverKind::Email { .. } => "email".into(),
            ReceiverKind::Alertmanager { .. } => "alertmanager".into(),
            ReceiverKind::Exec { .. } => "exec".into(),
        }
    }
}

/// Whether secrets are read while building settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Read them; a missing variable or file is an error (the daemon, test sends).
    Read,
    /// Do not read them (config validation, CLI commands that send nothing): an
    /// operator's shell need not hold the daemon's secrets.
    Skip,
}

/// Everything the engine needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_lifecycle: Lifecycle,
    pub overrides: BTreeMap<String, (Lifecycle, Option<Severity>)>,
    pub resolved_retention_ms: i64,
    pub flap_threshold: u32,
    pub flap_window_ms: i64,
    pub flap_hold_ms: i64,
    pub history_retention_ms: i64,
    pub root: Route,
    pub inhibit: Vec<InhibitRule>,
    pub receivers: BTreeMap<String, Receiver>,
    pub socket: PathBuf,
}

impl Settings {
    /// The lifecycle and severity override of condition `name`.
    pub fn lifecycle(&self, name: &str) -> (Lifecycle, Option<Severity>) {
        self.overrides
            .get(name)
            .copied()
            .unwrap_or((self.default_lifecycle, None))
    }

    /// Defaults only, no receivers: for tests and tools.
    pub fn defaults(socket: &Path) -> Settings {
        let file = socket.with_extension("toml");
        Settings::build(&Config::default(), "", &file, socket, Secrets::Skip)
            .unwrap_or_else(|e| panic!("default alerting settings must be valid: {e}"))
    }

    /// From a loaded config, secrets read.
    pub fn from_loaded(c: &LoadedConfig) -> Result<Settings, ConfigError> {
        Settings::from_loaded_with(c, Secrets::Read)
    }

    /// From a loaded config, secrets read or not.
    pub fn from_loaded_with(c: &LoadedConfig, secrets: Secrets) -> Result<Settings, ConfigError> {
        let socket = match &c.config.alerting.socket {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => c
                .file
                .parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.clone()),
            None => default_socket(&c.store_path),
        };
        Settings::build(&c.config, &c.source, &c.file, &socket, secrets)
    }

    /// Check and resolve `config` (text `source`, read from `file`).
    pub fn build(
        config: &Config,
        source: &str,
        file: &Path,
        socket: &Path,
        secrets: Secrets,
    ) -> Result<Settings, ConfigError> {
        let err = |line: Option<usize>, key: String, message: String| ConfigError {
            file: file.to_path_buf(),
            line,
            key: Some(key),
            message,
        };
        let a = &config.alerting;
        let dur = |key: &str, v: &str| -> Result<i64, ConfigError> {
            parse_duration(v)
                .map(|d| d.as_millis() as i64)
                .ok_or_else(|| {
                    let path: Vec<&str> = key.split('.').collect();
                    err(
                        line_of(source, &path),
                        key.to_string(),
                        format!(
                            "{v:?} is not a duration (write e.g. \"500ms\", \"5s\", \"2m\", \"4h\")"
                        ),
                    )
                })
        };
        let hold = |key: &str, f: &ForSpec| -> Result<Hold, ConfigError> {
            match f {
                ForSpec::Evaluations(0) => Err(err(
                    line_of(source, &key.split('.').collect::<Vec<_>>()),
                    key.to_string(),
                    "for = 0 evaluations never fires: use 1 (fire at once) or more".into(),
                )),
                ForSpec::Evaluations(n) => Ok(Hold::Evaluations(*n)),
                ForSpec::Duration(s) => Ok(Hold::Millis(dur(key, s)?)),
            }
        };
        let default_lifecycle = Lifecycle {
            hold: hold("alerting.for", &a.for_)?,
            keep_firing_for_ms: dur("alerting.keep_firing_for", &a.keep_firing_for)?,
        };
        let mut overrides = BTreeMap::new();
        for (name, o) in &a.alert {
            let base = format!("alerting.alert.{name}");
            let lc = Lifecycle {
                hold: match &o.for_ {
                    Some(f) => hold(&format!("{base}.for"), f)?,
                    None => default_lifecycle.hold,
                },
                keep_firing_for_ms: match &o.keep_firing_for {
                    Some(k) => dur(&format!("{base}.keep_firing_for"), k)?,
                    None => default_lifecycle.keep_firing_for_ms,
                },
            };
            let sev = match &o.severity {
                Some(s) => Some(Severity::parse(s).ok_or_else(|| {
                    err(
                        line_of(source, &["alerting", "alert", name, "severity"]),
                        format!("{base}.severity"),
                        format!("severity {s:?} is not one of critical, high, medium, low, info (or P0-P3)"),
                    )
                })?),
                None => None,
            };
            overrides.insert(name.clone(), (lc, sev));
        }

        // Receivers.
        let mut receivers = BTreeMap::new();
        for (i, r) in config.receiver.iter().enumerate() {
            let rec = receiver(r, i, a, source, file, secrets)?;
            if receivers.insert(r.name.clone(), rec).is_some() {
                return Err(err(
                    line_of_array(source, "receiver", i, "name"),
                    format!("receiver[{i}].name"),
                    format!(
                        "receiver name {:?} is used twice: make names unique",
                        r.name
                    ),
                ));
            }
        }

        // Routes.
        let root_grouping = Grouping {
            group_by: group_by(&a.group_by),
            group_wait_ms: dur("alerting.group_wait", &a.group_wait)?,
            group_interval_ms: dur("alerting.group_interval", &a.group_interval)?,
            repeat_interval_ms: dur("alerting.repeat_interval", &a.repeat_interval)?,
        };
        if let Some(r) = &a.receiver
            && !receivers.contains_key(r)
        {
            return Err(err(
                line_of(source, &["alerting", "receiver"]),
                "alerting.receiver".into(),
                format!("no [[receiver]] is named {r:?}: add one or fix the name"),
            ));
        }
        let ctx = RouteCtx {
            source,
            file,
            receivers: &receivers,
        };
        let mut routes = Vec::new();
        for (i, rc) in config.route.iter().enumerate() {
            routes.push(ctx.route(
                rc,
                &format!("root.{i}"),
                &format!("route[{i}]"),
                i,
                a.receiver.as_deref(),
                &root_grouping,
            )?);
        }
        let root = Route {
            id: "root".into(),
            matchers: Vec::new(),
            receiver: a.receiver.clone(),
            continue_: false,
            grouping: root_grouping,
            routes,
        };

        // Inhibition.
        let mut inhibit = Vec::new();
        if a.default_inhibition {
            inhibit.push(InhibitRule {
                source: vec![
                    Matcher::parse("name=~node_unreachable|cl_syncing").map_err(|e| {
                        err(None, "alerting.default_inhibition".into(), e.to_string())
                    })?,
                ],
                target: vec![
                    Matcher::parse(&format!("name=~{}", DUTY_CONDITIONS.join("|"))).map_err(
                        |e| err(None, "alerting.default_inhibition".into(), e.to_string()),
                    )?,
                ],
                equal: vec!["node".into()],
            });
        }
        for (i, ic) in config.inhibit.iter().enumerate() {
            let m = |key: &str, list: &[String]| {
                parse_all(list).map_err(|e| {
                    err(
                        line_of_array(source, "inhibit", i, key),
                        format!("inhibit[{i}].{key}"),
                        e.to_string(),
                    )
                })
            };
            let source_m = m("source", &ic.source)?;
            let target_m = m("target", &ic.target)?;
            if source_m.is_empty() || target_m.is_empty() {
                return Err(err(
                    line_of_array(source, "inhibit", i, "source"),
                    format!("inhibit[{i}]"),
                    "an inhibit rule needs source and target matchers (an empty list would match every alert)".into(),
                ));
            }
            inhibit.push(InhibitRule {
                source: source_m,
                target: target_m,
                equal: ic.equal.clone(),
            });
        }

        Ok(Settings {
            default_lifecycle,
            overrides,
            resolved_retention_ms: dur("alerting.resolved_retention", &a.resolved_retention)?,
            flap_threshold: a.flap_threshold.max(2),
            flap_window_ms: dur("alerting.flap_window", &a.flap_window)?,
            flap_hold_ms: dur("alerting.flap_hold", &a.flap_hold)?,
            history_retention_ms: dur("alerting.history_retention", &a.history_retention)?,
            root,
            inhibit,
            receivers,
            socket: socket.to_path_buf(),
        })
    }
}

/// The control socket beside the store: `vigil.redb` → `vigil.redb.sock`.
pub fn default_socket(store_path: &Path) -> PathBuf {
    let mut s = store_path.as_os_str().to_owned();
    s.push(".sock");
    PathBuf::from(s)
}

fn group_by(list: &[String]) -> Option<Vec<String>> {
    if list.iter().any(|l| l == "...") {
        None
    } else {
        Some(list.to_vec())
    }
}

struct RouteCtx<'a> {
    source: &'a str,
    file: &'a Path,
    receivers: &'a BTreeMap<String, Receiver>,
}

impl RouteCtx<'_> {
    fn route(
        &self,
        rc: &RouteConfig,
        id: &str,
        key: &str,
        top_index: usize,
        parent_receiver: Option<&str>,
        parent: &Grouping,
    ) -> Result<Route, ConfigError> {
        let line = line_of_array(self.source, "route", top_index, "matchers")
            .or_else(|| line_of_array(self.source, "route", top_index, "receiver"));
        let err = |k: &str, message: String| ConfigError {
            file: self.file.to_path_buf(),
            line,
            key: Some(format!("{key}.{k}")),
            message,
        };
        let dur = |k: &str, v: &Option<String>, d: i64| -> Result<i64, ConfigError> {
            match v {
                None => Ok(d),
                Some(s) => parse_duration(s)
                    .map(|d| d.as_millis() as i64)
                    .ok_or_else(|| err(k, format!("{s:?} is not a duration (write e.g. \"5s\")"))),
            }
        };
        let matchers = parse_all(&rc.matchers).map_err(|e| err("matchers", e.to_string()))?;
        let receiver = rc.receiver.as_deref().or(parent_receiver);
        if let Some(r) = rc.receiver.as_deref()
            && !self.receivers.contains_key(r)
        {
            return Err(err(
                "receiver",
                format!("no [[receiver]] is named {r:?}: add one or fix the name"),
            ));
        }
        let grouping = Grouping {
            group_by: match &rc.group_by {
                Some(g) => group_by(g),
                None => parent.group_by.clone(),
            },
            group_wait_ms: dur("group_wait", &rc.group_wait, parent.group_wait_ms)?,
            group_interval_ms: dur(
                "group_interval",
                &rc.group_interval,
                parent.group_interval_ms,
            )?,
            repeat_interval_ms: dur(
                "repeat_interval",
                &rc.repeat_interval,
                parent.repeat_interval_ms,
            )?,
        };
        let mut routes = Vec::new();
        for (i, c) in rc.routes.iter().enumerate() {
            routes.push(self.route(
                c,
                &format!("{id}.{i}"),
                &format!("{key}.routes[{i}]"),
                top_index,
                receiver,
                &grouping,
            )?);
        }
        Ok(Route {
            id: id.to_string(),
            matchers,
            receiver: receiver.map(str::to_string),
            continue_: rc.continue_,
            grouping,
            routes,
        })
    }
}

fn receiver(
    r: &ReceiverConfig,
    i: usize,
    a: &crate::config::AlertingConfig,
    source: &str,
    file: &Path,
    mode: Secrets,
) -> Result<Receiver, ConfigError> {
    let err = |k: &str, message: String| ConfigError {
        file: file.to_path_buf(),
        line: line_of_array(source, "receiver", i, k)
            .or_else(|| line_of_array(source, "receiver", i, "name")),
        key: Some(format!("receiver[{i}].{k}")),
        message: format!("receiver {:?}: {message}", r.name),
    };
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let secret = |env_key: &str,
                  env: &Option<String>,
                  file_key: &str,
                  f: &Option<PathBuf>|
     -> Result<Option<Secret>, ConfigError> {
        match (env, f) {
            (Some(_), Some(_)) => Err(err(
                env_key,
                format!("set {env_key} or {file_key}, not both"),
            )),
            (Some(_), None) | (None, Some(_)) if mode == Secrets::Skip => Ok(Some(Secret::new(""))),
            (Some(v), None) => Secret::from_env(v).map(Some).map_err(|m| err(env_key, m)),
            (None, Some(p)) => Secret::from_file(&resolve(p))
                .map(Some)
                .map_err(|m| err(file_key, m)),
            (None, None) => Ok(None),
        }
    };
    let dur = |k: &str, v: &Option<String>, d: &str| -> Result<i64, ConfigError> {
        let s = v.as_deref().unwrap_or(d);
        parse_duration(s)
            .filter(|d| !d.is_zero())
            .map(|d| d.as_millis() as i64)
            .ok_or_else(|| {
                err(
                    k,
                    format!("{s:?} is not a positive duration (write e.g. \"10s\")"),
                )
            })
    };
    // Keys that only make sense for some kinds: refuse them elsewhere.
    let used: &[(&str, bool)] = &[
        ("format", r.format.is_some()),
        ("url", r.url.is_some()),
        ("secret_env", r.secret_env.is_some()),
        ("secret_file", r.secret_file.is_some()),
        ("token_env", r.token_env.is_some()),
        ("token_file", r.token_file.is_some()),
        ("chat_id", r.chat_id.is_some()),
        ("smtp_host", r.smtp_host.is_some()),
        ("smtp_port", r.smtp_port.is_some()),
        ("tls", r.tls.is_some()),
        ("ca_file", r.ca_file.is_some()),
        ("username", r.username.is_some()),
        ("password_env", r.password_env.is_some()),
        ("password_file", r.password_file.is_some()),
        ("from", r.from.is_some()),
        ("to", !r.to.is_empty()),
        ("command", r.command.is_some()),
        ("args", !r.args.is_empty()),
        ("action_ids", !r.action_ids.is_empty()),
    ];
    let allowed: &[&str] = match r.kind.as_str() {
        "webhook" => &[
            "format",
            "url",
            "secret_env",
            "secret_file",
            "token_env",
            "token_file",
            "chat_id",
        ],
        "email" => &[
            "smtp_host",
            "smtp_port",
            "tls",
            "ca_file",
            "username",
            "password_env",
            "password_file",
            "from",
            "to",
        ],
        "alertmanager" => &["url", "token_env", "token_file"],
        "exec" => &["command", "args", "action_ids"],
        other => {
            return Err(err(
                "kind",
                format!("kind {other:?} is not one of webhook, email, alertmanager, exec"),
            ));
        }
    };
    if let Some((k, _)) = used.iter().find(|(k, set)| *set && !allowed.contains(k)) {
        return Err(err(
            k,
            format!(
                "`{k}` does not apply to kind {:?} (its keys: {})",
                r.kind,
                allowed.join(", ")
            ),
        ));
    }
    let need = |k: &str, v: &Option<String>| -> Result<String, ConfigError> {
        v.clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| err(k, format!("kind {:?} needs `{k}`", r.kind)))
    };
    let url_ok = |k: &str, u: String| -> Result<String, ConfigError> {
        if u.starts_with("http://") || u.starts_with("https://") {
            Ok(u)
        } else {
            Err(err(
                k,
                format!("url {u:?} must start with http:// or https://"),
            ))
        }
    };
    let kind = match r.kind.as_str() {
        "webhook" => {
            let format = match r.format.as_deref().unwrap_or("alertmanager") {
                "alertmanager" | "json" => WebhookFormat::Alertmanager,
                "slack" => WebhookFormat::Slack,
                "discord" => WebhookFormat::Discord,
                "pagerduty" => WebhookFormat::PagerDuty,
                "telegram" => WebhookFormat::Telegram,
                "ntfy" => WebhookFormat::Ntfy,
                other => {
                    return Err(err(
                        "format",
                        format!(
                            "format {other:?} is not one of alertmanager, slack, discord, pagerduty, telegram, ntfy"
                        ),
                    ));
                }
            };
            let token = secret("token_env", &r.token_env, "token_file", &r.token_file)?;
            if matches!(format, WebhookFormat::PagerDuty | WebhookFormat::Telegram)
                && token.is_none()
            {
                return Err(err(
                    "token_env",
                    "this format needs a token (PagerDuty routing key, Telegram bot token): set token_env or token_file".into(),
                ));
            }
            if format == WebhookFormat::Telegram && r.chat_id.is_none() {
                return Err(err("chat_id", "format telegram needs `chat_id`".into()));
            }
            ReceiverKind::Webhook {
                format,
                url: url_ok("url", need("url", &r.url)?)?,
                secret: secret("secret_env", &r.secret_env, "secret_file", &r.secret_file)?,
                token,
                chat_id: r.chat_id.clone(),
            }
        }
        "email" => {
            let tls = match r.tls.as_deref().unwrap_or("starttls") {
                "starttls" => SmtpTls::StartTls,
                "implicit" => SmtpTls::Implicit,
                "none" => SmtpTls::None,
                other => {
                    return Err(err(
                        "tls",
                        format!("tls {other:?} is not one of starttls, implicit, none"),
                    ));
                }
            };
            let ca_pem = match &r.ca_file {
                Some(p) => Some(
                    std::fs::read(resolve(p))
                        .map_err(|e| err("ca_file", format!("cannot read {}: {e}", p.display())))?,
                ),
                None => None,
            };
            if r.to.is_empty() {
                return Err(err(
                    "to",
                    "kind \"email\" needs `to` (a list of addresses)".into(),
                ));
            }
            let password = secret(
                "password_env",
                &r.password_env,
                "password_file",
                &r.password_file,
            )?;
            if password.is_some() != r.username.is_some() {
                return Err(err(
                    "username",
                    "SMTP authentication needs both `username` and a password (password_env or password_file)".into(),
                ));
            }
            ReceiverKind::Email {
                host: need("smtp_host", &r.smtp_host)?,
                port: r.smtp_port.unwrap_or(match tls {
                    SmtpTls::StartTls => 587,
                    SmtpTls::Implicit => 465,
                    SmtpTls::None => 25,
                }),
                tls,
                ca_pem,
                username: r.username.clone(),
                password,
                from: need("from", &r.from)?,
                to: r.to.clone(),
            }
        }
        "alertmanager" => ReceiverKind::Alertmanager {
            url: url_ok("url", need("url", &r.url)?)?,
            token: secret("token_env", &r.token_env, "token_file", &r.token_file)?,
        },
        _ => {
            let command = r
                .command
                .clone()
                .ok_or_else(|| err("command", "kind \"exec\" needs `command`".into()))?;
            if !command.is_absolute() {
                return Err(err(
                    "command",
                    format!("command {} must be an absolute path", command.display()),
                ));
            }
            if !a.exec_allowlist.iter().any(|p| p == &command) {
                return Err(err(
                    "command",
                    format!(
                        "command {} is not in [alerting] exec_allowlist: add it there to allow it",
                        command.display()
                    ),
                ));
            }
            ReceiverKind::Exec {
                command,
                args: r.args.clone(),
                action_ids: r.action_ids.clone(),
            }
        }
    };
    let is_exec = matches!(kind, ReceiverKind::Exec { .. });
    Ok(Receiver {
        name: r.name.clone(),
        timeout_ms: dur("timeout", &r.timeout, if is_exec { "30s" } else { "10s" })?,
        rate_limit_per_minute: r.rate_limit_per_minute.unwrap_or(60).max(1),
        backoff_initial_ms: dur("backoff_initial", &r.backoff_initial, "1s")?,
        backoff_max_ms: dur("backoff_max", &r.backoff_max, "5m")?,
        give_up_after_ms: dur("give_up_after", &r.give_up_after, "24h")?,
        send_resolved: r.send_resolved.unwrap_or(true),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;
    use std::path::Path;

    fn check(src: &str) -> Result<super::Settings, crate::config::ConfigError> {
        let c = load_str(Path::new("/etc/vigil/vigil.toml"), src)?;
        super::Settings::from_loaded(&c)
    }

    #[test]
    fn defaults_are_documented_values() {
        let s = check("").unwrap();
        assert_eq!(s.root.grouping.group_wait_ms, 5000);
        assert_eq!(s.root.grouping.group_interval_ms, 60_000);
        assert_eq!(s.root.grouping.repeat_interval_ms, 4 * 3_600_000);
        assert_eq!(s.inhibit.len(), 1);
        assert_eq!(s.socket, Path::new("/etc/vigil/vigil.redb.sock"));
    }

    #[test]
    fn bad_keys_name_their_line() {
        let e = check("[[receiver]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nsmtp_host = \"m\"\n")
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(5), Some("receiver[0].smtp_host"))
        );
        let e = check("[alerting]\nreceiver = \"nope\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = check("[[receiver]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\n[[route]]\nmatchers = [\"node=~(\"]\nreceiver = \"a\"\n").unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("bad regex"), "{e}");
        let e = check("[alerting]\ngroup_wait = \"soon\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = check("[[receiver]]\nname = \"x\"\nkind = \"exec\"\ncommand = \"/bin/true\"\n")
            .unwrap_err();
        assert!(e.message.contains("exec_allowlist"), "{e}");
        let e = check("[[receiver]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"http://x\"\nsecret_env = \"VIGIL_TEST_UNSET_SECRET\"\n").unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(
            e.message.contains("VIGIL_TEST_UNSET_SECRET is not set"),
            "{e}"
        );
    }

    #[test]
    fn routes_inherit_and_nest() {
        let s = check(
            "[alerting]\nreceiver = \"a\"\ngroup_wait = \"1s\"\n\
             [[receiver]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://a\"\n\
             [[receiver]]\nname = \"b\"\nkind = \"webhook\"\nurl = \"http://b\"\n\
             [[route]]\nmatchers = [\"severity=critical\"]\nreceiver = \"b\"\ncontinue = true\ngroup_wait = \"0s\"\n\
             [[route.routes]]\nmatchers = [\"node=bn-1\"]\n",
        )
        .unwrap();
        let r = &s.root.routes[0];
        assert_eq!(
            (r.id.as_str(), r.receiver.as_deref(), r.continue_),
            ("root.0", Some("b"), true)
        );
        assert_eq!(r.grouping.group_wait_ms, 0);
        assert_eq!(r.routes[0].receiver.as_deref(), Some("b"));
        assert_eq!(r.routes[0].grouping.group_wait_ms, 0);
    }
}

#[cfg(test)]
mod secret_mode_tests {
    use crate::config::load_str;
    use std::path::Path;

    #[test]
    fn config_loads_without_the_daemons_secrets_and_the_daemon_needs_them() {
        let src = "[[receiver]]\nname = \"pd\"\nkind = \"webhook\"\nformat = \"pagerduty\"\nurl = \"https://x\"\ntoken_env = \"VIGIL_TEST_NOT_SET_PD\"\n";
        let c = load_str(Path::new("/etc/vigil/vigil.toml"), src).unwrap();
        assert!(super::Settings::from_loaded_with(&c, super::Secrets::Skip).is_ok());
        let e = super::Settings::from_loaded(&c).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(
            e.message.contains("VIGIL_TEST_NOT_SET_PD is not set"),
            "{e}"
        );
    }
}
