//! Secrets (SMTP passwords, webhook keys, tokens): read from the environment or a file,
//! never from the config text, and never shown. `Debug`, `Display` and `Serialize`
//! all print `<redacted>`; only [`Secret::expose`] gives the value, at the point of use.

use serde::{Serialize, Serializer};
use std::path::Path;

/// A secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value (tests, and values read below).
    pub fn new(v: impl Into<String>) -> Secret {
        Secret(v.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// From environment variable `var`; the error names the variable, not the value.
    pub fn from_env(var: &str) -> Result<Secret, String> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
            Ok(_) => Err(format!(
                "environment variable {var} is empty: set it to the secret"
            )),
            Err(_) => Err(format!(
                "environment variable {var} is not set: export it before starting vigil"
            )),
        }
    }

    /// From a file (trailing newline trimmed); the error names the file, not the value.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
            Ok(_) => Err(format!("secret file {} is empty", path.display())),
            Err(e) => Err(format!(
                "cannot read secret file {}: {e} (check the path and its permissions)",
                path.display()
            )),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Remove every secret's value from `text` (an error message from a library that
/// may echo a URL or a header).
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if !s.0.is_empty() {
            out = out.replace(&s.0, "<redacted>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
        assert_eq!(
            scrub("bad url https://x/bothunter2/send", &[&s]),
            "bad url https://x/bot<redacted>/send"
        );
        let e = Secret::from_env("VIGIL_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(e.contains("VIGIL_TEST_SURELY_UNSET_VAR"));
    }
}
