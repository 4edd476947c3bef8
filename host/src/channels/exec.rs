//! Remediation hooks: an operator-configured, allowlisted command run for matching
//! alerts or plugin-suggested action ids. No shell is involved: the command is
//! executed directly, each argument is one value (placeholders are replaced inside a
//! value, so alert text can never become a new argument or shell syntax), and the
//! notification is also given as JSON on stdin and in `VIGIL_*` variables.

use super::DeliveryError;
use crate::alerts::notification::Notification;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Replace the placeholders of one argument: `{name}`, `{status}`, `{severity}`,
/// `{fingerprint}`, `{action_id}`, `{receiver}`, `{label:KEY}` (first alert, else the
/// group labels).
pub fn expand(arg: &str, n: &Notification) -> String {
    let first = n.alerts.first();
    let label = |k: &str| -> String {
        first
            .and_then(|a| a.label(k).map(str::to_string))
            .or_else(|| {
                n.group_labels
                    .iter()
                    .find(|(l, _)| l == k)
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut rest = arg;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let key = &rest[start + 1..start + len];
        let value = match key {
            "name" => first.map(|a| a.name.clone()).unwrap_or_default(),
            "status" => n.status.as_str().to_string(),
            "severity" => n.severity().as_str().to_string(),
            "fingerprint" => first.map(|a| a.fingerprint.clone()).unwrap_or_default(),
            "action_id" => n.action_id.clone().unwrap_or_default(),
            "receiver" => n.receiver.clone(),
            k if k.starts_with("label:") => label(&k["label:".len()..]),
            _ => rest[start..start + len + 1].to_string(),
        };
        out.push_str(&value);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Run the command; exit 0 is delivered, anything else a failure worth a retry. The
/// process is killed when `timeout` passes.
pub async fn run(
    command: &Path,
    args: &[String],
    n: &Notification,
    timeout: Duration,
) -> Result<String, DeliveryError> {
    let argv: Vec<String> = args.iter().map(|a| expand(a, n)).collect();
    let mut child = tokio::process::Command::new(command)
        .args(&argv)
        .env("VIGIL_RECEIVER", &n.receiver)
        .env("VIGIL_STATUS", n.status.as_str())
        .env("VIGIL_IDEMPOTENCY_KEY", &n.idempotency_key)
        .env("VIGIL_ACTION_ID", n.action_id.clone().unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            DeliveryError::permanent(format!(
                "cannot start {}: {e} (check the path and that it is executable)",
                command.display()
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let body = serde_json::to_vec(n).unwrap_or_default();
        // A command that does not read stdin is fine.
        let _ = stdin.write_all(&body).await;
    }
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            DeliveryError::transient(format!(
                "{} did not finish within {} ms: killed",
                command.display(),
                timeout.as_millis()
            ))
        })?
        .map_err(|e| DeliveryError::transient(format!("{}: {e}", command.display())))?;
    if out.status.success() {
        Ok(format!("{} exited 0", command.display()))
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(200)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(DeliveryError::transient(format!(
            "{} exited with {}: {tail}",
            command.display(),
            out.status
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_stay_inside_one_value() {
        let mut n = crate::alerts::engine::test_notification("fix", 0);
        n.alerts[0].summary = "x; rm -rf / `id` $(id)".into();
        n.action_id = Some("raise_target_peers".into());
        assert_eq!(
            expand("--action={action_id}", &n),
            "--action=raise_target_peers"
        );
        assert_eq!(expand("{label:receiver}/{name}", &n), "fix/vigil_test");
        assert_eq!(expand("{unknown} {", &n), "{unknown} {");
    }

    #[tokio::test]
    async fn runs_without_a_shell_and_times_out() {
        let n = crate::alerts::engine::test_notification("fix", 0);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = dir.path().join("hook.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\ncat >> {}\n",
                out.display(),
                out.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let args = vec!["a b; echo pwned".to_string(), "{name}".to_string()];
        run(&script, &args, &n, Duration::from_secs(5))
            .await
            .unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        let mut lines = got.lines();
        assert_eq!(lines.next(), Some("a b; echo pwned"));
        assert_eq!(lines.next(), Some("vigil_test"));
        assert!(got.contains("\"idempotency_key\""));
        let e = run(
            Path::new("/bin/sleep"),
            &["5".into()],
            &n,
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        assert!(e.message.contains("did not finish"), "{e}");
    }
}
