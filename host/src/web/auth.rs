//! Who is asking: password logins with sessions, API bearer tokens, CSRF tokens and
//! the login rate limit.
//!
//! Sessions live in memory (a restart logs everyone out, which is the safe default);
//! the cookie is `HttpOnly; SameSite=Strict` and `Secure` under TLS. Every state change
//! made with a session carries the session's CSRF token (form field `csrf` or header
//! `X-CSRF-Token`); bearer-token requests carry no cookie, so they need none.

use crate::config::web::{Role, WebConfig};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "vigil_session";

pub use crate::view::Principal;

/// Is this a usable argon2 PHC hash?
pub fn check_hash(phc: &str) -> Result<(), String> {
    let h = PasswordHash::new(phc).map_err(|e| format!("not an argon2 PHC string ({e})"))?;
    if !h.algorithm.as_str().starts_with("argon2") {
        return Err(format!("algorithm {} is not argon2", h.algorithm.as_str()));
    }
    Ok(())
}

/// Check every `[[web.users]]` password hash, naming the user, key and line of the
/// first that is not a usable argon2 hash (part of every config check: see
/// `daemon::check_config`).
pub fn check_users(cfg: &crate::config::LoadedConfig) -> Result<(), crate::config::ConfigError> {
    for (i, u) in cfg.config.web.users.iter().enumerate() {
        if let Err(e) = check_hash(&u.password_hash) {
            let idx = i.to_string();
            return Err(crate::config::ConfigError {
                file: cfg.file.clone(),
                line: crate::config::line_of(&cfg.source, &["web", "users", &idx, "password_hash"]),
                key: Some(format!("web.users[{i}].password_hash")),
                message: format!(
                    "user {:?}: {e}; create one with `vigil web hash-password`",
                    u.name
                ),
            });
        }
    }
    Ok(())
}

/// `n` random bytes from the OS, hex.
pub fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut b = vec![0u8; n];
    // The OS generator failing is not recoverable in any useful way: fall back to a
    // time-derived value would be guessable, so this panics only if the OS has no RNG.
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .unwrap_or_else(|_| panic!("the operating system's random generator failed"));
    hex::encode(b)
}

/// An argon2id hash of `password` with a random salt (default parameters: 19 MiB,
/// 2 passes), as stored in `[[web.users]] password_hash`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt_hex = random_hex(16);
    let salt_bytes = hex::decode(salt_hex)?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| anyhow::anyhow!("cannot encode the salt: {e}"))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?
        .to_string())
}

fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Compare secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

struct Session {
    principal: Principal,
    expires: Instant,
}

/// Why a login was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong name or password (which one is not said).
    Invalid,
    /// Too many failures from this address; retry after this long.
    RateLimited(Duration),
}

/// Users, tokens, sessions and the failure counters.
pub struct Auth {
    users: std::sync::RwLock<Vec<(String, String, Role)>>,
    /// The first-start admin (name, hash), used only while the config has no user.
    bootstrap: std::sync::RwLock<Option<(String, String)>>,
    /// (token value, name, role).
    tokens: std::sync::RwLock<Vec<(String, String, Role)>>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    ttl: Duration,
    per_minute: usize,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.users().len())
            .finish()
    }
}

impl Auth {
    /// Read the users and the API tokens (from their env vars / files).
    pub fn new(
        web: &WebConfig,
        token_files: &[Option<PathBuf>],
        ttl: Duration,
    ) -> anyhow::Result<Auth> {
        let (users, tokens) = read_credentials(web, token_files)?;
        Ok(Auth {
            users: std::sync::RwLock::new(users),
            bootstrap: std::sync::RwLock::new(None),
            tokens: std::sync::RwLock::new(tokens),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            ttl,
            per_minute: web.login_attempts_per_minute as usize,
        })
    }

    /// Take new users and tokens from a reloaded config; sessions of users that were
    /// removed or whose role changed end.
    pub fn reload(&self, web: &WebConfig, token_files: &[Option<PathBuf>]) -> anyhow::Result<()> {
        let (users, tokens) = read_credentials(web, token_files)?;
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = users;
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = tokens;
        Ok(())
    }

    fn users(&self) -> Vec<(String, String, Role)> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner()).clone();
        if !users.is_empty() {
            return users;
        }
        self.bootstrap
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(n, h)| (n.clone(), h.clone(), Role::Admin))
            .collect()
    }

    /// True when users come from the config (not the first-start admin).
    pub fn has_configured_users(&self) -> bool {
        !self
            .users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// A first-start admin for a config without users: a random password written to
    /// `file` (mode 0600, never logged), valid until a `[[web.users]]` entry exists.
    /// Returns the password file's path.
    pub fn bootstrap_admin(&self, file: &std::path::Path) -> anyhow::Result<()> {
        let password = random_hex(12);
        let hash = hash_password(&password)?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(file);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(file)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        std::io::Write::write_all(&mut f, format!("{password}\n").as_bytes())?;
        *self.bootstrap.write().unwrap_or_else(|e| e.into_inner()) = Some(("admin".into(), hash));
        Ok(())
    }
}

type Credentials = (Vec<(String, String, Role)>, Vec<(String, String, Role)>);

/// Users from the config, tokens from their env vars / files.
fn read_credentials(
    web: &WebConfig,
    token_files: &[Option<PathBuf>],
) -> anyhow::Result<Credentials> {
    let mut tokens = Vec::new();
    for (t, file) in web.tokens.iter().zip(token_files) {
        let value = match (&t.env, file) {
                (Some(var), _) => std::env::var(var).map_err(|_| {
                    anyhow::anyhow!(
                        "API token {:?}: environment variable {var} is not set (export it, or remove the token from [[web.tokens]])",
                        t.name
                    )
                })?,
                (None, Some(f)) => std::fs::read_to_string(f)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "API token {:?}: cannot read {}: {e}",
                            t.name,
                            f.display()
                        )
                    })?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                (None, None) => continue,
            };
        let value = value.trim().to_string();
        if value.len() < 16 {
            anyhow::bail!(
                "API token {:?} is shorter than 16 characters: use e.g. `openssl rand -hex 32`",
                t.name
            );
        }
        tokens.push((value, t.name.clone(), t.role));
    }
    Ok((
        web.users
            .iter()
            .map(|u| (u.name.clone(), u.password_hash.clone(), u.role))
            .collect(),
        tokens,
    ))
}

impl Auth {
    /// Check a password; on success a new session id.
    pub fn login(&self, ip: IpAddr, name: &str, password: &str) -> Result<String, LoginError> {
        let now = Instant::now();
        {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            let list = f.entry(ip).or_default();
            list.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
            if list.len() >= self.per_minute {
                let wait = Duration::from_secs(60).saturating_sub(now.duration_since(list[0]));
                return Err(LoginError::RateLimited(wait));
            }
        }
        let users = self.users();
        let user = users.iter().find(|(n, _, _)| n == name);
        // Verify against a hash even for an unknown name, so timing does not tell.
        let ok = match user {
            Some((_, hash, _)) => verify(hash, password),
            None => {
                let _ = verify(DUMMY_HASH, password);
                false
            }
        };
        let Some((name, _, role)) = user.filter(|_| ok) else {
            self.failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(ip)
                .or_default()
                .push(now);
            tracing::warn!(user = name, client = %ip, "dashboard login failed");
            return Err(LoginError::Invalid);
        };
        let id = random_hex(32);
        let principal = Principal {
            name: name.clone(),
            role: *role,
            csrf: Some(random_hex(32)),
        };
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|_, v| v.expires > now);
        s.insert(
            id.clone(),
            Session {
                principal,
                expires: now + self.ttl,
            },
        );
        tracing::info!(user = %name, role = role.as_str(), "dashboard login");
        Ok(id)
    }

    /// End a session.
    pub fn logout(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The principal of a live session.
    pub fn session(&self, id: &str) -> Option<Principal> {
        let p = {
            let s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            s.get(id)
                .filter(|s| s.expires > Instant::now())
                .map(|s| s.principal.clone())?
        };
        // The user must still exist with the same role (the config may have changed).
        let still = self
            .users()
            .iter()
            .any(|(n, _, r)| *n == p.name && *r == p.role);
        if !still {
            self.logout(id);
            return None;
        }
        Some(p)
    }

    /// The principal of a bearer token.
    pub fn bearer(&self, token: &str) -> Option<Principal> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(v, _, _)| same(v, token))
            .map(|(_, name, role)| Principal {
                name: format!("token:{name}"),
                role: *role,
                csrf: None,
            })
    }
}

/// A valid argon2id hash of a random string: verified against for unknown user names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Oq4kVnP5u5vYEWqLAXoA1n2sDHe7Ftb9r7yQm2tq0Y";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_hash_names_user_key_and_line() {
        let cfg = crate::config::load_str(
            std::path::Path::new("/etc/vigil/vigil.toml"),
            "[web]\nlisten = \"127.0.0.1:9\"\n[[web.users]]\nname = \"ann\"\npassword_hash = \"hunter2\"\nrole = \"admin\"\n",
        )
        .expect("the file itself is valid");
        let e = check_users(&cfg).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("web.users[0].password_hash"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("vigil web hash-password"), "{e}");
    }
    use crate::config::web::{WebConfig, WebUser};

    fn auth(per_minute: u32) -> Auth {
        let web = WebConfig {
            users: vec![WebUser {
                name: "ann".into(),
                password_hash: hash_password("correct horse").unwrap(),
                role: Role::Admin,
            }],
            login_attempts_per_minute: per_minute,
            ..WebConfig::default()
        };
        Auth::new(&web, &[], Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn hash_roundtrip_and_sessions() {
        let a = auth(5);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            a.login(ip, "ann", "wrong"),
            Err(LoginError::Invalid),
            "wrong password"
        );
        assert_eq!(
            a.login(ip, "bob", "correct horse"),
            Err(LoginError::Invalid)
        );
        let id = a.login(ip, "ann", "correct horse").unwrap();
        let p = a.session(&id).unwrap();
        assert_eq!(p.name, "ann");
        assert!(p.is_admin() && p.csrf.is_some());
        a.logout(&id);
        assert!(a.session(&id).is_none());
        assert!(check_hash("plain").is_err());
        assert!(check_hash(DUMMY_HASH).is_ok());
    }

    #[test]
    fn failures_are_rate_limited_per_address() {
        let a = auth(3);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(a.login(ip, "ann", "x"), Err(LoginError::Invalid));
        }
        // Even the right password is refused while limited.
        assert!(matches!(
            a.login(ip, "ann", "correct horse"),
            Err(LoginError::RateLimited(_))
        ));
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(a.login(other, "ann", "correct horse").is_ok());
    }
}
