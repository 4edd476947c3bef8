//! The configuration as the dashboard shows it, and changes made from it.
//!
//! Shown: the config file's own text (comments and layout kept, via `toml_edit`) with
//! every secret replaced by [`REDACTED`]: values of keys that name a secret
//! (`password`, `secret`, `token`, `api_key`, …) and credentials inside URLs
//! (`https://user:pass@host`). An edit is made on that redacted text; on submit every
//! value still reading [`REDACTED`] is put back from the running file, so secrets are
//! kept without ever being sent to the browser. The result is validated whole, exactly
//! as a reload of the file would be (TOML, ranges, every plugin's table against the
//! plugin), written atomically, and applied through the daemon's reload path; an
//! invalid edit is refused with its key, line and reason and nothing changes.

use crate::config::{ConfigError, LoadedConfig};
use crate::web::Parts;
use toml_edit::{DocumentMut, Item, Value};

/// What a secret looks like on the page and in the API.
pub const REDACTED: &str = "<redacted>";

/// Does this key name a secret?
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "credential",
        "authorization",
        "bearer",
        "webhook",
        "smtp_pass",
    ]
    .iter()
    .any(|s| k.contains(s))
        && !matches!(k.as_str(), "tokens" | "password_env" | "token_env")
}

/// `scheme://user:pass@host…` → `scheme://<redacted>@host…`.
pub fn redact_url(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some(format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]))
}

/// Tables whose `url` itself is a credential (webhook URLs carry their token in the
/// path): only scheme and host are shown.
const SECRET_URL_TABLES: [&str; 2] = ["receiver", "remote_write"];

/// The redacted form of string `s` at `parent.key`, when it holds a secret.
pub fn redact_str(parent: &str, key: &str, s: &str) -> Option<String> {
    if is_secret_key(key) {
        return Some(REDACTED.into());
    }
    if key == "url" && SECRET_URL_TABLES.contains(&parent) {
        let (scheme, rest) = s.split_once("://")?;
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host = rest[..host_end].rsplit('@').next().unwrap_or("");
        let tail = &rest[host_end..];
        if tail.len() > 1 || rest[..host_end].contains('@') {
            return Some(format!("{scheme}://{host}/{REDACTED}"));
        }
        return None;
    }
    redact_url(s)
}

fn redact_value(parent: &str, key: &str, v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(r) = redact_str(parent, key, s.value()) {
                *v = redacted_like(v, &r);
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                redact_value(parent, key, x);
            }
        }
        Value::InlineTable(t) => {
            for (k, x) in t.iter_mut() {
                let k = k.get().to_string();
                redact_value(key, &k, x);
            }
        }
        _ => {
            if is_secret_key(key) {
                *v = redacted_like(v, REDACTED);
            }
        }
    }
}

/// A string value replacing `v`, keeping its surrounding whitespace and comments.
fn redacted_like(v: &Value, text: &str) -> Value {
    let mut n = Value::from(text);
    *n.decor_mut() = v.decor().clone();
    n
}

fn redact_item(parent: &str, key: &str, item: &mut Item) {
    match item {
        Item::Value(v) => redact_value(parent, key, v),
        Item::Table(t) => {
            for (k, x) in t.iter_mut() {
                let k = k.get().to_string();
                redact_item(key, &k, x);
            }
        }
        Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                for (k, x) in t.iter_mut() {
                    let k = k.get().to_string();
                    redact_item(key, &k, x);
                }
            }
        }
        Item::None => {}
    }
}

/// The config text with its secrets redacted (comments and layout kept). Text that
/// does not parse (cannot happen for a running config) is withheld entirely.
pub fn redacted_text(source: &str) -> String {
    match source.parse::<DocumentMut>() {
        Ok(mut doc) => {
            for (k, x) in doc.as_table_mut().iter_mut() {
                let k = k.get().to_string();
                redact_item("", &k, x);
            }
            doc.to_string()
        }
        Err(_) => "# (the config text could not be parsed for redaction)\n".into(),
    }
}

/// The effective configuration (defaults filled in) as JSON, secrets redacted.
pub fn effective_json(cfg: &LoadedConfig) -> serde_json::Value {
    let mut v = serde_json::to_value(&cfg.config).unwrap_or(serde_json::Value::Null);
    redact_json("", "", &mut v);
    v
}

fn redact_json(parent: &str, key: &str, v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(r) = redact_str(parent, key, s) {
                *s = r;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| redact_json(parent, key, x)),
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if is_secret_key(k) && !x.is_null() && !x.is_object() && !x.is_array() {
                    *x = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_json(key, k, x);
                }
            }
        }
        _ => {}
    }
}

/// Put the running file's secrets back where the edited text still shows exactly the
/// redacted form of the running value.
fn restore(parent: &str, key: &str, edited: &mut Item, original: Option<&Item>) {
    match edited {
        Item::Value(v) => restore_value(parent, key, v, original.and_then(Item::as_value)),
        Item::Table(t) => {
            for (k, x) in t.iter_mut() {
                let o = original
                    .and_then(|o| o.as_table_like())
                    .and_then(|o| o.get(k.get()));
                restore(key, k.get(), x, o);
            }
        }
        Item::ArrayOfTables(a) => {
            let orig = original.and_then(Item::as_array_of_tables);
            for (i, t) in a.iter_mut().enumerate() {
                let ot = orig.and_then(|o| o.get(i));
                for (k, x) in t.iter_mut() {
                    let o = ot.and_then(|o| o.get(k.get()));
                    restore(key, k.get(), x, o);
                }
            }
        }
        Item::None => {}
    }
}

fn restore_value(parent: &str, key: &str, v: &mut Value, original: Option<&Value>) {
    match v {
        Value::String(s) if s.value().contains(REDACTED) => {
            let Some(orig) = original else { return };
            let same = orig
                .as_str()
                .and_then(|o| redact_str(parent, key, o))
                .is_some_and(|r| r == *s.value());
            if same {
                let mut r = orig.clone();
                *r.decor_mut() = v.decor().clone();
                *v = r;
            }
        }
        Value::Array(a) => {
            let orig = original.and_then(Value::as_array);
            for (i, x) in a.iter_mut().enumerate() {
                restore_value(parent, key, x, orig.and_then(|o| o.get(i)));
            }
        }
        Value::InlineTable(t) => {
            let orig = original.and_then(Value::as_inline_table);
            for (k, x) in t.iter_mut() {
                let o = orig.and_then(|o| o.get(k.get()));
                restore_value(key, k.get(), x, o);
            }
        }
        _ => {}
    }
}

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// The edited text is invalid: nothing was written.
    #[error("{0}")]
    Invalid(ConfigError),
    /// A secret placeholder has no original to restore (a new key set to the
    /// placeholder): the edit would lose or invent a secret.
    #[error(
        "{key}: still reads {REDACTED} but the running config has no value there; type the secret itself"
    )]
    Placeholder { key: String },
    /// Valid, but writing the file failed.
    #[error("cannot write {file}: {reason}")]
    Write { file: String, reason: String },
    /// Written, but the reload refused it (e.g. a plugin refused its table).
    #[error("{0}")]
    Refused(ConfigError),
}

impl EditError {
    /// The offending key, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            EditError::Invalid(e) | EditError::Refused(e) => e.key.as_deref(),
            EditError::Placeholder { key } => Some(key),
            EditError::Write { .. } => None,
        }
    }

    /// The reason without the file prefix.
    pub fn reason(&self) -> String {
        match self {
            EditError::Invalid(e) | EditError::Refused(e) => e.message.clone(),
            other => other.to_string(),
        }
    }

    /// The line, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            EditError::Invalid(e) | EditError::Refused(e) => e.line,
            _ => None,
        }
    }
}

/// A leftover placeholder anywhere in the text, by dotted key.
fn find_placeholder(item: &Item, path: &str) -> Option<String> {
    match item {
        Item::Value(v) => v
            .as_str()
            .filter(|s| s.contains(REDACTED))
            .map(|_| path.to_string()),
        Item::Table(t) => t
            .iter()
            .find_map(|(k, x)| find_placeholder(x, &join(path, k))),
        Item::ArrayOfTables(a) => a.iter().enumerate().find_map(|(i, t)| {
            t.iter()
                .find_map(|(k, x)| find_placeholder(x, &join(&format!("{path}[{i}]"), k)))
        }),
        Item::None => None,
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

/// Validate an edited (redacted) text against the running config without applying it:
/// the full text that would be written.
pub fn prepare(parts: &Parts, edited: &str) -> Result<String, EditError> {
    let cfg = parts.config();
    let mut doc = edited.parse::<DocumentMut>().map_err(|e| {
        let line = e
            .span()
            .map(|s| edited[..s.start.min(edited.len())].matches('\n').count() + 1);
        EditError::Invalid(ConfigError {
            file: cfg.file.clone(),
            line,
            key: None,
            message: e.message().trim().to_string(),
        })
    })?;
    let original = cfg.source.parse::<DocumentMut>().ok();
    for (k, x) in doc.as_table_mut().iter_mut() {
        let o = original.as_ref().and_then(|o| o.get(k.get()));
        restore("", k.get(), x, o);
    }
    if let Some(key) = doc
        .as_table()
        .iter()
        .find_map(|(k, x)| find_placeholder(x, k))
    {
        return Err(EditError::Placeholder { key });
    }
    let text = doc.to_string();
    // Every check a reload makes (plugin tables against their plugins included).
    parts
        .check_config(&cfg.file, &text)
        .map_err(EditError::Invalid)?;
    Ok(text)
}

/// Validate, write atomically and apply an edited text; `who` is logged.
pub fn apply(parts: &Parts, edited: &str, who: &str) -> Result<bool, EditError> {
    let text = prepare(parts, edited)?;
    let cfg = parts.config();
    if text == cfg.source {
        return Ok(false);
    }
    let tmp = cfg.file.with_extension("toml.vigil-edit");
    std::fs::write(&tmp, &text)
        .and_then(|_| std::fs::rename(&tmp, &cfg.file))
        .map_err(|e| EditError::Write {
            file: cfg.file.display().to_string(),
            reason: e.to_string(),
        })?;
    let applied = parts.reload_config().map_err(EditError::Refused)?;
    tracing::info!(user = who, file = %cfg.file.display(), "config changed from the dashboard");
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "# my comment\n[web.remote_write]\nurl = \"https://bob:hunter2@mimir.example/api/v1/push\" # push\npassword = \"s3cr3t\"\n\n[plugin.x]\napi_token = \"tok123\"\nlimit = 5\n[[receiver]]\nname = \"chat\"\nurl = \"https://hooks.example/services/T0/B0/xyzzy\"\n";

    #[test]
    fn secrets_are_redacted_and_comments_kept() {
        let r = redacted_text(SRC);
        assert!(r.contains("# my comment") && r.contains("# push"), "{r}");
        for s in ["hunter2", "s3cr3t", "tok123", "bob", "xyzzy"] {
            assert!(!r.contains(s), "{s} leaked: {r}");
        }
        assert!(r.contains("https://mimir.example/<redacted>"), "{r}");
        assert!(r.contains("https://hooks.example/<redacted>"), "{r}");
        assert!(r.contains("limit = 5"));
        assert!(!is_secret_key("tokens") && is_secret_key("password_hash"));
    }

    #[test]
    fn placeholders_are_restored_from_the_original() {
        let original: DocumentMut = SRC.parse().unwrap();
        let mut edited: DocumentMut = redacted_text(SRC)
            .replace("limit = 5", "limit = 6")
            .parse()
            .unwrap();
        for (k, x) in edited.as_table_mut().iter_mut() {
            let o = original.get(k.get());
            restore("", k.get(), x, o);
        }
        let t = edited.to_string();
        assert!(t.contains("password = \"s3cr3t\""), "{t}");
        assert!(t.contains("api_token = \"tok123\""), "{t}");
        assert!(
            t.contains("https://bob:hunter2@mimir.example/api/v1/push"),
            "{t}"
        );
        assert!(t.contains("limit = 6") && t.contains("# my comment"));
        assert!(find_placeholder(edited.as_item(), "").is_none());
    }

    #[test]
    fn effective_json_redacts() {
        let cfg = crate::config::load_str(
            std::path::Path::new("/x/vigil.toml"),
            "[web.remote_write]\nurl = \"http://u:p@h:9/w\"\npassword_env = \"X\"\n[[web.users]]\nname = \"a\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Oq4kVnP5u5vYEWqLAXoA1n2sDHe7Ftb9r7yQm2tq0Y\"\nrole = \"admin\"\n",
        )
        .unwrap();
        let j = effective_json(&cfg).to_string();
        assert!(!j.contains("argon2id") && !j.contains("u:p@"), "{j}");
    }
}
