//! Email against a real SMTP server (aiosmtpd, `tests/alerting/smtp_server.py`):
//! STARTTLS with a test CA, authentication, the message saved and parsed; refusals
//! and an unreachable server.

use crate::support::{root, wait_until};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use vigil::alerts::Engine;
use vigil::clock::SystemClock;
use vigil::contract::InputKind;
use vigil::store::Store;

/// The Python with aiosmtpd that `tests/run.sh` installs.
pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VIGIL_TEST_PYTHON") {
        return p.into();
    }
    let p = root().join("target/alerting-venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run tests/run.sh (or: python3 -m venv target/alerting-venv && target/alerting-venv/bin/pip install aiosmtpd==1.4.6)",
        p.display()
    );
    p
}

struct Smtp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        // Closing stdin stops it; kill in case it hangs.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start(certs: &Path, password: &str, refuse: &[&str]) -> Smtp {
        Smtp::start_with(certs, password, refuse, false)
    }

    fn start_with(certs: &Path, password: &str, refuse: &[&str], implicit: bool) -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(python());
        cmd.arg(root().join("tests/alerting/smtp_server.py"))
            .arg("--dir")
            .arg(dir.path())
            .arg("--cert")
            .arg(certs.join("cert.pem"))
            .arg("--key")
            .arg(certs.join("key.pem"))
            .args([
                "--user",
                "vigil",
                "--password",
                password,
                "--lifetime",
                "300",
            ]);
        for r in refuse {
            cmd.args(["--refuse", r]);
        }
        if implicit {
            cmd.arg("--implicit");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("smtp server did not start: {line:?}"))
            .parse()
            .unwrap();
        Smtp { child, port, dir }
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

fn certs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let ok = Command::new("bash")
        .arg(root().join("tests/alerting/test_cert.sh"))
        .arg(d.path())
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "tests/alerting/test_cert.sh failed (openssl installed?)"
    );
    d
}

fn mail_receiver(name: &str, port: u16, certs: &Path, to: &str, password_env: &str) -> String {
    format!(
        "[[receiver]]\nname = \"{name}\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = \"starttls\"\n\
         ca_file = \"{}\"\nusername = \"vigil\"\npassword_env = \"{password_env}\"\nfrom = \"Vigil <vigil@example.org>\"\nto = [\"{to}\"]\n\
         timeout = \"5s\"\nbackoff_initial = \"100ms\"\nbackoff_max = \"200ms\"\n",
        certs.join("ca.pem").display()
    )
}

struct Rig {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    _rt: tokio::runtime::Runtime,
}

impl Rig {
    fn new(toml: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("vigil.redb")).unwrap());
        let engine = Engine::new(
            crate::alerts::settings(dir.path(), toml),
            store,
            Arc::new(SystemClock),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // Runs until the runtime is dropped with the rig.
            std::mem::forget(vigil::channels::outbox::spawn(
                engine.clone(),
                vigil::net::http_client().unwrap(),
            ));
        });
        Rig {
            _dir: dir,
            engine,
            _rt: rt,
        }
    }
}

#[test]
fn email_over_starttls_with_auth_has_text_html_and_a_summary_table() {
    let certs = certs();
    let smtp = Smtp::start(certs.path(), "pa55word", &[]);
    // SAFETY: a variable no other test reads or writes.
    unsafe { std::env::set_var("VIGIL_TEST_SMTP_PASSWORD_1", "pa55word") };
    let cfg = format!(
        "[alerting]\nreceiver = \"mail\"\ngroup_wait = \"0s\"\n{}",
        mail_receiver(
            "mail",
            smtp.port,
            certs.path(),
            "ops@example.org",
            "VIGIL_TEST_SMTP_PASSWORD_1"
        )
    );
    let rig = Rig::new(&cfg);
    let c1 = crate::alerts::cond("attestations_missed", "bn-1", &[6, 7]);
    let c2 = crate::alerts::cond("attestations_missed", "bn-2", &[9]);
    rig.engine.observe_conditions(
        InputKind::Epoch,
        rig.engine.now_ms(),
        &["missed-streak".into()],
        [("missed-streak", &c1), ("missed-streak", &c2)].into_iter(),
    );
    assert!(wait_until(Duration::from_secs(30), || smtp
        .messages()
        .len()
        == 1
        && !rig.engine.delivery_log().unwrap().is_empty()));
    let m = &smtp.messages()[0];
    assert_eq!(m["tls"], true, "{m}");
    assert_eq!(m["auth_user"], "vigil", "{m}");
    assert_eq!(m["content_type"], "multipart/alternative");
    assert!(
        m["subject"].as_str().unwrap().starts_with("[FIRING:2]"),
        "{m}"
    );
    let log = rig.engine.delivery_log().unwrap();
    let key = &log[0].notification.idempotency_key;
    assert_eq!(m["message_id"], format!("<{key}@vigil>"));
    let text = m["text"].as_str().unwrap();
    assert!(text.contains("Severity  Alert"), "{text}");
    assert!(
        text.contains("attestations_missed{node=bn-1}") && text.contains("6, 7"),
        "{text}"
    );
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("<table") && html.contains("attestations_missed{node=bn-2}"),
        "{html}"
    );
    assert!(
        log[0].attempts[0].outcome.starts_with("250"),
        "{:?}",
        log[0].attempts
    );
}

#[test]
fn smtp_refusing_dead_letters_and_unreachable_retries() {
    let certs = certs();
    let smtp = Smtp::start(certs.path(), "pa55word", &["nobody@example.org"]);
    // SAFETY: variables no other test reads or writes.
    unsafe {
        std::env::set_var("VIGIL_TEST_SMTP_PASSWORD_2", "pa55word");
        std::env::set_var("VIGIL_TEST_SMTP_PASSWORD_BAD", "Xq7-wr0ng-pw");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let cfg = format!(
        "{}{}{}",
        mail_receiver(
            "refused",
            smtp.port,
            certs.path(),
            "nobody@example.org",
            "VIGIL_TEST_SMTP_PASSWORD_2"
        ),
        mail_receiver(
            "badauth",
            smtp.port,
            certs.path(),
            "ops@example.org",
            "VIGIL_TEST_SMTP_PASSWORD_BAD"
        ),
        mail_receiver(
            "down",
            closed_port,
            certs.path(),
            "ops@example.org",
            "VIGIL_TEST_SMTP_PASSWORD_2"
        ),
    );
    let rig = Rig::new(&cfg);
    for r in ["refused", "badauth", "down"] {
        rig.engine.test_receiver(r).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(30), || {
            rig.engine.dead_letters().unwrap().len() == 2
                && rig
                    .engine
                    .outbox_list()
                    .unwrap()
                    .iter()
                    .any(|i| i.receiver == "down" && i.attempts.len() >= 2)
        }),
        "dead: {:#?}\nqueued: {:#?}",
        rig.engine.dead_letters().unwrap(),
        rig.engine.outbox_list().unwrap()
    );
    let dead = rig.engine.dead_letters().unwrap();
    let by = |r: &str| dead.iter().find(|d| d.receiver == r).unwrap();
    assert!(
        by("refused").last_error.as_deref().unwrap().contains("550"),
        "{dead:?}"
    );
    assert!(
        by("badauth").last_error.as_deref().unwrap().contains("535"),
        "{dead:?}"
    );
    let errs = format!("{dead:?}");
    assert!(
        !errs.contains("Xq7-wr0ng-pw") && !errs.contains("pa55word"),
        "{errs}"
    );
    let down = rig.engine.outbox_list().unwrap();
    assert!(down[0].attempts.iter().all(|a| !a.ok), "{down:?}");
    assert!(smtp.messages().is_empty());
}

#[test]
fn email_over_implicit_tls() {
    let certs = certs();
    let smtp = Smtp::start_with(certs.path(), "pa55word", &[], true);
    // SAFETY: a variable no other test reads or writes.
    unsafe { std::env::set_var("VIGIL_TEST_SMTP_PASSWORD_3", "pa55word") };
    let cfg = mail_receiver(
        "smtps",
        smtp.port,
        certs.path(),
        "ops@example.org",
        "VIGIL_TEST_SMTP_PASSWORD_3",
    )
    .replace("tls = \"starttls\"", "tls = \"implicit\"");
    let rig = Rig::new(&cfg);
    rig.engine.test_receiver("smtps").unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || smtp.messages().len() == 1),
        "{:?}",
        rig.engine.outbox_list().unwrap()
    );
    let m = &smtp.messages()[0];
    assert_eq!(m["tls"], true, "{m}");
    assert_eq!(m["auth_user"], "vigil");
    assert!(m["subject"].as_str().unwrap().starts_with("[TEST]"), "{m}");
}
