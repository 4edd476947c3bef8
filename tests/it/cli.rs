//! The real `vigil` binary: exit codes, messages, and the daemon end to end.

use crate::support::{plugins, wait_until};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn vigil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.env("NO_COLOR", "1")
        .env_remove("VIGIL_CONFIG")
        .env_remove("RUST_LOG");
    c
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = vigil().args(args).output().expect("run vigil");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_failures_exit_1() {
    let (code, _, err) = run(&["plugins", "frobnicate"]);
    assert_eq!(code, 2, "{err}");
    let core = plugins::path("core-module");
    let (code, _, err) = run(&["plugins", "check", core.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "a core WebAssembly module, not a component: build plugins with `vigil plugins build"
        ),
        "{err}"
    );
    let (code, out, _) = run(&[
        "plugins",
        "check",
        plugins::path("node-health").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("is plugin node-health 0.1.0 (contract vigil:plugin@0.2.0)"),
        "{out}"
    );
    assert!(out.contains("[plugin.node-health] min_peers = 5"), "{out}");
}

#[test]
fn config_check_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("vigil.toml");
    std::fs::write(&f, "[plugins]\ndir = \"p\"\n\nmax_host_cals = 5\n").unwrap();
    let (code, _, err) = run(&["config", "check", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{}:4: unknown field `max_host_cals`", f.display())),
        "{err}"
    );

    // A plugin table checked against the plugin itself.
    std::fs::create_dir_all(dir.path().join("p")).unwrap();
    std::fs::copy(
        plugins::path("node-health"),
        dir.path().join("p/node-health.wasm"),
    )
    .unwrap();
    std::fs::write(
        &f,
        "[plugins]\ndir = \"p\"\n\n[plugin.node-health]\nmin_peer = 3\n",
    )
    .unwrap();
    let (code, _, err) = run(&["config", "check", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(":5: ") && err.contains("unknown field `min_peer`"),
        "{err}"
    );
    std::fs::write(
        &f,
        "[plugins]\ndir = \"p\"\n\n[plugin.node-health]\nmin_peers = 3\n",
    )
    .unwrap();
    let (code, out, err) = run(&["config", "check", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("plugin tables accepted by: node-health"),
        "{out}"
    );
}

#[test]
fn plugins_test_prints_findings_and_json() {
    let fixture = crate::support::root().join("tests/fixtures/node-tick.json");
    let wasm = plugins::path("node-health");
    let (code, out, err) = run(&[
        "plugins",
        "test",
        wasm.to_str().unwrap(),
        "--input",
        fixture.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("critical  node_unreachable  node=beacon-2"),
        "{out}"
    );
    assert!(
        out.contains("skip input #1: node-health does not subscribe to reset"),
        "{out}"
    );
    let (code, out, _) = run(&[
        "plugins",
        "test",
        wasm.to_str().unwrap(),
        "--input",
        fixture.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["output"]["alerts"][0]["name"], "cl_head_behind");
    // A hostile plugin: the failure is printed, the exit code says so.
    let (code, _, err) = run(&[
        "plugins",
        "test",
        plugins::path("panics").to_str().unwrap(),
        "--input",
        fixture.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("plugin panics: trapped (panic): panicked at"),
        "{err}"
    );
}

/// A daemon child process, killed if the test fails before stopping it.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The daemon end to end: starts on a config, loads a plugin, picks up a new one
/// dropped into its folder, refuses a bad config edit, and stops on SIGINT.
#[test]
fn daemon_hot_reloads_plugins_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("plugins")).unwrap();
    std::fs::copy(
        plugins::path("node-health"),
        p.join("plugins/node-health.wasm"),
    )
    .unwrap();
    let cfg = "[store]\npath = \"data/vigil.redb\"\n[plugins]\ndir = \"plugins\"\n[collect]\ninterval = \"1s\"\n\
               [[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9\"\n";
    std::fs::write(p.join("vigil.toml"), cfg).unwrap();
    let mut child = Daemon(
        vigil()
            .args(["run", "--config"])
            .arg(p.join("vigil.toml"))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let log = Arc::new(Mutex::new(String::new()));
    let reader = {
        let log = log.clone();
        let stderr = child.0.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    let has = |s: &str| log.lock().unwrap().contains(s);
    assert!(
        wait_until(Duration::from_secs(60), || has(
            "started with 1 plugin(s): node-health"
        )),
        "{}",
        log.lock().unwrap()
    );
    std::fs::copy(plugins::path("counter"), p.join("plugins/counter.wasm")).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || has("plugin loaded")),
        "{}",
        log.lock().unwrap()
    );
    std::fs::write(
        p.join("vigil.toml"),
        format!("{cfg}[plugin.node-health]\nmin_peerz = 1\n"),
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || has(
            "config change refused, the running config stays"
        )),
        "{}",
        log.lock().unwrap()
    );
    assert!(
        has("vigil.toml:11: unknown field `min_peerz`"),
        "{}",
        log.lock().unwrap()
    );
    // SIGINT: a clean stop.
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let status = child.0.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{status}: {}", log.lock().unwrap());
    assert!(has("stopping"));
}
