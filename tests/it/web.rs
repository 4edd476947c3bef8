//! The dashboard's security and API contract, against an in-process daemon and its
//! real HTTP server: credentials on every route, roles, CSRF, the login rate limit,
//! the OpenAPI file against the router, findings shown after a restart.

use crate::support::web::{ADMIN_PASSWORD, Client, FormExt, Server, VIEWER_PASSWORD, web_section};
use std::collections::BTreeSet;

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";
const VIEWER_TOKEN: &str = "viewer-token-0123456789abcdef";

fn config() -> String {
    // SAFETY of set_var: test-only; every test of this module sets the same values.
    unsafe {
        std::env::set_var("VIGIL_WEB_IT_ADMIN", ADMIN_TOKEN);
        std::env::set_var("VIGIL_WEB_IT_VIEWER", VIEWER_TOKEN);
    }
    format!(
        "[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n{}",
        web_section(0, "VIGIL_WEB_IT_ADMIN", "VIGIL_WEB_IT_VIEWER")
    )
    .replace("127.0.0.1:0\"", "127.0.0.1:{port}\"")
}

/// The example path of an API route (path parameters filled in).
fn concrete(path: &str) -> String {
    path.replace("{index}", "6")
        .replace("{fingerprint}", "abc")
        .replace("{id}", "s1")
}

/// Page routes that change something (all POST).
const PAGE_CHANGES: [&str; 5] = [
    "/alerts/abc/ack",
    "/silences",
    "/silences/s1/expire",
    "/plugins/reload",
    "/config",
];
const PAGES: [&str; 6] = [
    "/",
    "/validators/6",
    "/analytics",
    "/alerts",
    "/plugins",
    "/config",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_credentials() {
    let s = Server::start(&config()).await;
    let anon = Client::new(&s.url);
    for (path, methods) in vigil::web::api::PATHS {
        for m in *methods {
            let r = anon.req(m, &concrete(path)).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 401, "{m} {path}");
            assert!(r.headers().contains_key("www-authenticate"));
        }
    }
    for p in PAGES {
        let r = anon.req("get", p).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "GET {p}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next=")
        );
    }
    for p in PAGE_CHANGES {
        let r = anon.req("post", p).send().await.unwrap();
        assert!(
            matches!(r.status().as_u16(), 303 | 401),
            "POST {p}: {}",
            r.status()
        );
    }
    assert_eq!(anon.get("/events").await.0, 401);
    assert_eq!(
        anon.get("/metrics").await.0,
        401,
        "metrics are private by default"
    );
    // A wrong token is no better than none.
    let bad = Client::with_token(&s.url, "not-a-token-at-all-xxxxxxxx");
    assert_eq!(bad.get("/api/v1/validators").await.0, 401);
    // The public ones.
    assert_eq!(anon.get("/healthz").await.0, 200);
    assert_eq!(anon.get("/login").await.0, 200);
    // And with credentials everything answers.
    let admin = Client::with_token(&s.url, ADMIN_TOKEN);
    assert_eq!(admin.get("/metrics").await.0, 200);
    for p in PAGES {
        assert_eq!(admin.get(p).await.0, 200, "GET {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_change_nothing_and_changes_need_the_csrf_token() {
    let s = Server::start(&config()).await;
    let mut vic = Client::new(&s.url);
    assert_eq!(vic.login("vic", VIEWER_PASSWORD).await, 303);
    assert!(vic.csrf.is_some(), "a session's pages carry its CSRF token");
    let before = std::fs::read_to_string(s.path().join("vigil.toml")).unwrap();
    for p in PAGE_CHANGES {
        let (code, body) = vic
            .post_form(p, &[("text", "[web]\n"), ("matchers", "alertname=x")], true)
            .await;
        assert_eq!(code, 403, "viewer POST {p}");
        assert!(body.contains("viewer role"), "{body}");
    }
    let look = Client::with_token(&s.url, VIEWER_TOKEN);
    for (path, methods) in vigil::web::api::PATHS {
        for m in methods.iter().filter(|m| **m != "get") {
            let r = look.req(m, &concrete(path)).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 403, "viewer token {m} {path}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(s.path().join("vigil.toml")).unwrap(),
        before
    );
    // The viewer sees the config without an editor.
    let (_, page) = vic.get("/config").await;
    assert!(
        page.contains("Viewers cannot change the configuration") && !page.contains("<textarea")
    );

    // Admin session: no CSRF token → refused; with it → done.
    let mut ann = Client::new(&s.url);
    assert_eq!(ann.login("ann", ADMIN_PASSWORD).await, 303);
    let (code, body) = ann.post_form("/plugins/reload", &[], false).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("CSRF"));
    let (code, _) = ann
        .post_form("/plugins/reload", &[("csrf", "forged")], false)
        .await;
    assert_eq!(code, 403);
    let (code, body) = ann.post_form("/plugins/reload", &[], true).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("rescanned"), "{body}");
    // The API with a session needs the header; a bearer token needs none.
    let r = ann
        .req("post", "/api/v1/plugins/reload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = ann
        .req("post", "/api/v1/plugins/reload")
        .header("X-CSRF-Token", ann.csrf.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ops = Client::with_token(&s.url, ADMIN_TOKEN);
    assert_eq!(
        ops.req("post", "/api/v1/plugins/reload")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // Logging out ends the session.
    let (code, _) = ann.post_form("/logout", &[], true).await;
    assert_eq!(code, 303);
    assert_eq!(ann.get("/").await.0, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_rate_limited() {
    let s = Server::start(&config()).await;
    let mut c = Client::new(&s.url);
    for _ in 0..5 {
        let r = c
            .req("post", "/login")
            .form_fields(&[("user", "ann"), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);
        assert!(r.headers()["location"].to_str().unwrap().contains("error="));
    }
    // Now even the right password waits.
    assert_eq!(c.login("ann", ADMIN_PASSWORD).await, 429);
    assert!(c.cookie.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_edits_are_refused_with_key_and_reason() {
    let s = Server::start(&config()).await;
    let mut ann = Client::new(&s.url);
    ann.login("ann", ADMIN_PASSWORD).await;
    let before = std::fs::read_to_string(s.path().join("vigil.toml")).unwrap();
    let (_, page) = ann.get("/config").await;
    assert!(
        page.contains("&lt;redacted&gt;"),
        "password hashes are redacted"
    );
    assert!(!page.contains("$argon2id$"), "no hash on the page");
    // The redacted text with one bad value.
    let redacted = vigil::web::config_edit::redacted_text(&before);
    let bad = redacted.replace("[plugins]\n", "[plugins]\nmemory_limit_mib = 0\n");
    let (code, body) = ann
        .post_form("/config", &[("text", &bad), ("action", "apply")], true)
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("key plugins.memory_limit_mib"), "{body}");
    assert!(body.contains("out of range: use 1 to 4096"), "{body}");
    assert_eq!(
        std::fs::read_to_string(s.path().join("vigil.toml")).unwrap(),
        before
    );
    // A valid edit of the redacted text applies and keeps the secrets and comments.
    let good = format!(
        "# tuned from the dashboard\n{}",
        redacted.replace("[plugins]\n", "[plugins]\nmemory_limit_mib = 96\n")
    );
    let (code, body) = ann
        .post_form("/config", &[("text", &good), ("action", "apply")], true)
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("applied"), "{body}");
    let after = std::fs::read_to_string(s.path().join("vigil.toml")).unwrap();
    assert!(after.starts_with("# tuned from the dashboard\n"));
    assert!(
        after.contains("$argon2id$"),
        "hashes restored from the running file"
    );
    assert_eq!(s.daemon.config().config.plugins.memory_limit_mib, 96);
    // Through the API: refused with key, line and reason as JSON.
    let ops = Client::with_token(&s.url, ADMIN_TOKEN);
    let r = ops
        .req("put", "/api/v1/config")
        .json(&serde_json::json!({"text": "[web]\nlisten = \"nowhere\"\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["key"], "web.listen");
    assert_eq!(j["line"], 2);
}

/// `host/openapi.yaml` lists exactly the router's API paths and methods, and each
/// of them is routed (never 404/405 with credentials).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_the_router() {
    let text = std::fs::read_to_string(crate::support::root().join("host/openapi.yaml")).unwrap();
    let mut in_paths = false;
    let mut current = String::new();
    let mut documented = BTreeSet::new();
    for line in text.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            break;
        }
        if let Some(p) = line.strip_prefix("  ").filter(|l| l.starts_with('/')) {
            current = p.trim_end_matches(':').to_string();
        } else if let Some(m) = line.strip_prefix("    ").filter(|l| !l.starts_with(' ')) {
            let m = m.trim_end_matches(':');
            if ["get", "post", "put", "delete", "patch"].contains(&m) {
                documented.insert((current.clone(), m.to_string()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = vigil::web::api::PATHS
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(move |m| (p.to_string(), m.to_string())))
        .collect();
    assert_eq!(
        documented, routed,
        "host/openapi.yaml and web::api::PATHS differ"
    );
    let s = Server::start(&config()).await;
    let ops = Client::with_token(&s.url, ADMIN_TOKEN);
    for (p, m) in &routed {
        let mut r = ops.req(m, &concrete(p));
        if m != "get" && m != "delete" {
            r = r.json(&serde_json::json!({}));
        }
        let code = r.send().await.unwrap().status().as_u16();
        assert!(code != 404 || p.contains('{'), "{m} {p}: 404");
        assert_ne!(code, 405, "{m} {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_admin_logs_in_with_the_password_file_until_users_exist() {
    let s = Server::start(
        "[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n",
    )
    .await;
    let file = s
        .path()
        .join("data")
        .join(vigil::web::INITIAL_PASSWORD_FILE);
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut c = Client::new(&s.url);
    let (_, login) = c.get("/login").await;
    assert!(login.contains("initial-admin-password"), "{login}");
    assert_eq!(c.login("admin", &password).await, 303);
    assert_eq!(c.get("/").await.0, 200);
    // `vigil summary` on the same machine logs in with that file too (no token needed).
    let cfg_path = s.path().join("vigil.toml");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["summary", "--json", "--config"])
            .arg(cfg_path)
            .env_remove("VIGIL_API_TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        j["validators"].is_array() && j["figures"].is_object(),
        "{j}"
    );
    // Once the config has users, the first-start login ends.
    let hash = vigil::web::auth::hash_password(ADMIN_PASSWORD).unwrap();
    let cfg = std::fs::read_to_string(s.path().join("vigil.toml")).unwrap();
    std::fs::write(
        s.path().join("vigil.toml"),
        format!(
            "{cfg}[[web.users]]\nname = \"ann\"\npassword_hash = \"{hash}\"\nrole = \"admin\"\n"
        ),
    )
    .unwrap();
    assert!(s.daemon.reload_config().unwrap());
    assert_eq!(c.get("/").await.0, 303, "the first-start session ended");
    let mut again = Client::new(&s.url);
    assert_eq!(again.login("admin", &password).await, 303);
    assert!(again.cookie.is_none());
    assert_eq!(again.login("ann", ADMIN_PASSWORD).await, 303);
    assert!(again.cookie.is_some());
}

/// A dashboard port already in use is reported, and monitoring goes on without it.
#[test]
fn a_taken_dashboard_port_does_not_stop_monitoring() {
    use std::io::{BufRead, BufReader};
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!(
            "execution = []\n[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[collect]\ninterval = \"1s\"\n[[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["run", "--config"])
        .arg(dir.path().join("vigil.toml"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(log.contains("dashboard not started, monitoring goes on without it")
        && log.contains("watching"))
        && std::time::Instant::now() < deadline
    {
        if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            log.push_str(&l);
            log.push('\n');
        }
    }
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    assert!(running, "the daemon stopped:\n{log}");
    assert!(
        log.contains(&format!(
            "cannot listen on 127.0.0.1:{port} for the dashboard"
        )),
        "{log}"
    );
    assert!(log.contains("watching"), "{log}");
    drop(holder);
}

/// `[web.tls]`: HTTPS with the configured PEM files, and the session cookie `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_and_marks_the_cookie_secure() {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (tests/run.sh installs it)");
    assert!(ok.success());
    let port = crate::support::web::free_port();
    let hash = vigil::web::auth::hash_password(ADMIN_PASSWORD).unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!(
            "[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n\
             [web]\nlisten = \"127.0.0.1:{port}\"\n[web.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
             [[web.users]]\nname = \"ann\"\npassword_hash = \"{hash}\"\nrole = \"admin\"\n"
        ),
    )
    .unwrap();
    let cfg = vigil::config::load(&dir.path().join("vigil.toml")).unwrap();
    let daemon = vigil::daemon::Daemon::start(cfg).unwrap();
    let _server = vigil::web::serve(daemon.web_parts()).await.unwrap();
    vigil::net::install_tls_provider();
    let cert = reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("cert.pem")).unwrap())
        .unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(cert)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    assert_eq!(
        https
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let r = https
        .post(format!("{base}/login"))
        .form_fields(&[("user", "ann"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Plain HTTP on the TLS port gets no page.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[test]
fn hash_password_prints_a_usable_argon2_hash() {
    let run = |pw: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["web", "hash-password"])
            .env("VIGIL_PASSWORD", pw)
            .output()
            .unwrap()
    };
    let out = run("correct horse battery");
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    vigil::web::auth::check_hash(&hash).unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("[[web.users]]"));
    // The password itself is printed nowhere.
    assert!(!String::from_utf8_lossy(&out.stderr).contains("correct horse"));
    let short = run("short");
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("shorter than 8 characters"));
}
