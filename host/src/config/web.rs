//! `[web]`: the dashboard, the JSON API, `/metrics` and remote write.
//!
//! Bound to 127.0.0.1 unless configured otherwise. Users carry argon2 password hashes
//! (create one with `vigil web hash-password`), API tokens are read from an environment
//! variable or a file and never written in the config, so the config itself holds no
//! credential that the dashboard could leak.

use super::{ConfigError, line_of};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[web]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the dashboard and API from `vigil run`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address to listen on. Keep 127.0.0.1 unless TLS and a firewall stand in front.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// How long a login lasts, e.g. "12h" (1m - 30d).
    #[serde(default = "default_session_ttl")]
    pub session_ttl: String,
    /// Failed logins allowed per client address per minute (1-1000).
    #[serde(default = "default_login_attempts")]
    pub login_attempts_per_minute: u32,
    /// TLS certificate and key (PEM). Off by default: terminate TLS here or in front.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Dashboard users.
    #[serde(default)]
    pub users: Vec<WebUser>,
    /// Bearer tokens for `/api/v1`.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// `/metrics` for Prometheus.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Push Vigil's series to a Prometheus-compatible remote-write endpoint.
    #[serde(default)]
    pub remote_write: Option<RemoteWriteConfig>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            listen: default_listen(),
            session_ttl: default_session_ttl(),
            login_attempts_per_minute: default_login_attempts(),
            tls: None,
            users: Vec::new(),
            tokens: Vec::new(),
            metrics: MetricsConfig::default(),
            remote_write: None,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_session_ttl() -> String {
    "12h".into()
}
fn default_login_attempts() -> u32 {
    5
}

/// `[web.tls]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; relative to the config file.
    pub cert: PathBuf,
    /// PEM private key; relative to the config file.
    pub key: PathBuf,
}

/// What a user or token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything (secrets redacted).
    Viewer,
    /// Also acknowledge, silence, reload plugins and change the config.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// `[[web.users]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebUser {
    pub name: String,
    /// argon2 PHC string (`$argon2id$v=19$...`), from `vigil web hash-password`.
    pub password_hash: String,
    pub role: Role,
}

/// `[[web.tokens]]`: the token value comes from `env` or `file`, never the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who uses it (logged with each change it makes).
    pub name: String,
    pub role: Role,
    /// Environment variable holding the token.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the token (first line); relative to the config file.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `[web.metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` without credentials (for a Prometheus on this machine).
    /// Otherwise it needs a bearer token.
    #[serde(default)]
    pub public: bool,
    /// Add per-validator series (`vigil_validator_*{validator="6"}`).
    #[serde(default)]
    pub per_validator: bool,
    /// At most this many validators get per-validator series (lowest indices first),
    /// so a large farm cannot blow up Prometheus (1-100000).
    #[serde(default = "default_cap")]
    pub per_validator_cap: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            public: false,
            per_validator: false,
            per_validator_cap: default_cap(),
        }
    }
}

fn default_cap() -> u32 {
    1000
}

/// `[web.remote_write]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// e.g. "http://127.0.0.1:9090/api/v1/write".
    pub url: String,
    /// How often the series are pushed, e.g. "30s" (1s - 1h).
    #[serde(default = "default_push_interval")]
    pub interval: String,
    /// HTTP basic auth user, when the endpoint wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the basic auth password (with `username`) or the
    /// bearer token (without). Secrets never go in the config text.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding that password or token instead; relative to the config file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

fn default_push_interval() -> String {
    "30s".into()
}

/// `[web]` resolved: durations parsed, paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSettings {
    pub listen: std::net::SocketAddr,
    pub session_ttl: Duration,
    pub push_interval: Duration,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `[web.remote_write] password_file`, resolved.
    pub push_secret_file: Option<PathBuf>,
    /// Token files, resolved.
    pub token_files: Vec<Option<PathBuf>>,
}

/// Check `[web]` and resolve it; errors name the key and its line.
pub fn validate(
    web: &WebConfig,
    file: &Path,
    source: &str,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<WebSettings, ConfigError> {
    let err = |path: &[&str], key: String, message: String| ConfigError {
        file: file.to_path_buf(),
        line: line_of(source, path),
        key: Some(key),
        message,
    };
    let listen: std::net::SocketAddr = web.listen.parse().map_err(|_| {
        err(
            &["web", "listen"],
            "web.listen".into(),
            format!(
                "listen = {:?} is not an address:port (write e.g. \"127.0.0.1:8080\")",
                web.listen
            ),
        )
    })?;
    let session_ttl = super::parse_duration(&web.session_ttl)
        .filter(|d| *d >= Duration::from_secs(60) && *d <= Duration::from_secs(30 * 86400))
        .ok_or_else(|| {
            err(
                &["web", "session_ttl"],
                "web.session_ttl".into(),
                format!(
                    "session_ttl = {:?} is not a duration from 1m to 30d (write e.g. \"12h\")",
                    web.session_ttl
                ),
            )
        })?;
    if !(1..=1000).contains(&web.login_attempts_per_minute) {
        return Err(err(
            &["web", "login_attempts_per_minute"],
            "web.login_attempts_per_minute".into(),
            format!(
                "login_attempts_per_minute = {} is out of range: use 1 to 1000",
                web.login_attempts_per_minute
            ),
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, u) in web.users.iter().enumerate() {
        let idx = i.to_string();
        if u.name.trim().is_empty() || !names.insert(u.name.as_str()) {
            return Err(err(
                &["web", "users", &idx, "name"],
                format!("web.users[{i}].name"),
                format!("user name {:?} is empty or used twice", u.name),
            ));
        }
    }
    let mut token_files = Vec::new();
    for (i, t) in web.tokens.iter().enumerate() {
        let idx = i.to_string();
        match (&t.env, &t.file) {
            (Some(_), None) => token_files.push(None),
            (None, Some(f)) => token_files.push(Some(resolve(f))),
            _ => {
                return Err(err(
                    &["web", "tokens", &idx, "name"],
                    format!("web.tokens[{i}]"),
                    format!(
                        "token {:?}: give exactly one of env = \"VAR\" or file = \"path\" (the token itself never goes in the config)",
                        t.name
                    ),
                ));
            }
        }
    }
    let cap = web.metrics.per_validator_cap;
    if !(1..=100_000).contains(&cap) {
        return Err(err(
            &["web", "metrics", "per_validator_cap"],
            "web.metrics.per_validator_cap".into(),
            format!("per_validator_cap = {cap} is out of range: use 1 to 100000"),
        ));
    }
    let mut push_interval = Duration::from_secs(30);
    if let Some(rw) = &web.remote_write {
        if !(rw.url.starts_with("http://") || rw.url.starts_with("https://")) {
            return Err(err(
                &["web", "remote_write", "url"],
                "web.remote_write.url".into(),
                "url must start with http:// or https://".into(),
            ));
        }
        push_interval = super::parse_duration(&rw.interval)
            .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(3600))
            .ok_or_else(|| {
                err(
                    &["web", "remote_write", "interval"],
                    "web.remote_write.interval".into(),
                    format!(
                        "interval = {:?} is not a duration from 1s to 1h (write e.g. \"30s\")",
                        rw.interval
                    ),
                )
            })?;
    }
    Ok(WebSettings {
        listen,
        session_ttl,
        push_interval,
        tls: web
            .tls
            .as_ref()
            .map(|t| (resolve(&t.cert), resolve(&t.key))),
        token_files,
        push_secret_file: web
            .remote_write
            .as_ref()
            .and_then(|r| r.password_file.as_ref())
            .map(|f| resolve(f)),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;
    use std::path::Path;

    fn check(src: &str) -> Result<crate::config::LoadedConfig, crate::config::ConfigError> {
        load_str(Path::new("/etc/vigil/vigil.toml"), src)
    }

    #[test]
    fn defaults_bind_loopback_without_users() {
        let c = check("").unwrap();
        assert_eq!(c.config.web.listen, "127.0.0.1:8080");
        assert!(c.config.web.users.is_empty());
        assert!(!c.config.web.metrics.public);
    }

    #[test]
    fn token_needs_env_or_file_and_listen_must_parse() {
        let e = check("[[web.tokens]]\nname = \"ci\"\nrole = \"viewer\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("web.tokens[0]"));
        let e = check("[web]\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("web.listen"));
        assert_eq!(e.line, Some(2));
        let e = check("[web]\nsession_ttl = \"5s\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("web.session_ttl"));
        let e = check("[web.metrics]\nper_validator_cap = 0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("web.metrics.per_validator_cap"));
        let e = check("[web.remote_write]\nurl = \"ftp://x\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("web.remote_write.url"));
    }
}
