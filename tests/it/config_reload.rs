//! Config reload: a valid change applies (through the file watcher); an invalid one —
//! unknown key, wrong type, out of range, or refused by the plugin — is rejected whole
//! with file, line and key, and the running config keeps working.

use crate::support::{node_tick, plugins, wait_until};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vigil::daemon::Daemon;

fn config_text(label: &str, extra: &str) -> String {
    format!(
        "[store]\npath = \"vigil.redb\"\n\n[plugins]\ndir = \"plugins\"\ncpu_deadline = \"500ms\"\n\n[plugin.counter]\nlabel = \"{label}\"\n{extra}"
    )
}

fn label_now(d: &Daemon) -> String {
    let ev = d.evaluate(&node_tick(1), 1);
    let out = ev
        .results
        .iter()
        .find(|r| r.plugin == "counter")
        .unwrap()
        .outcome
        .as_ref()
        .unwrap();
    out.series[0]
        .labels
        .iter()
        .find(|(k, _)| k == "label")
        .unwrap()
        .1
        .clone()
}

fn start(dir: &Path) -> Arc<Daemon> {
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::copy(plugins::path("counter"), dir.join("plugins/counter.wasm")).unwrap();
    std::fs::write(dir.join("vigil.toml"), config_text("a", "")).unwrap();
    let cfg = vigil::config::load(&dir.join("vigil.toml")).unwrap();
    Daemon::start(cfg).unwrap()
}

#[test]
fn valid_change_applies_through_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let _w = d.watch().unwrap();
    assert_eq!(label_now(&d), "a");
    // Write-and-rename, as editors save.
    let tmp = dir.path().join(".vigil.toml.swp");
    std::fs::write(&tmp, config_text("b", "")).unwrap();
    std::fs::rename(&tmp, dir.path().join("vigil.toml")).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || label_now(&d) == "b"),
        "new plugin config never applied"
    );
    assert!(d.config().source.contains("label = \"b\""));
}

#[test]
fn invalid_changes_are_refused_whole_with_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let file = dir.path().join("vigil.toml");
    let refused = |text: String| {
        std::fs::write(&file, text).unwrap();
        let e = d.reload_config().expect_err("must be refused");
        assert_eq!(label_now(&d), "a", "the running config stays");
        assert!(d.config().source.contains("label = \"a\""));
        e
    };
    // Unknown key (a typo) — and a valid plugin change in the same edit is not applied.
    let e = refused(config_text("b", "\n[plugins.extra]\n").replace("cpu_deadline", "cpu_dedline"));
    assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("cpu_dedline")));
    assert!(
        e.to_string()
            .contains("vigil.toml:6: unknown field `cpu_dedline`"),
        "{e}"
    );
    // Wrong type.
    let e = refused(config_text("a", "").replace("\"500ms\"", "500"));
    assert_eq!(e.line, Some(6));
    // Out of range.
    let e =
        refused(config_text("a", "").replace("cpu_deadline = \"500ms\"", "memory_limit_mib = 0"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(6), Some("plugins.memory_limit_mib"))
    );
    // Refused by the plugin itself, naming its key.
    let e = refused(config_text("refuse", ""));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(9), Some("plugin.counter.label"))
    );
    assert!(e.message.contains("refused on purpose"), "{e}");
    // Unknown key inside a plugin table, caught by the plugin's typed config.
    let e = refused(config_text("a", "lable = \"x\"\n"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(10), Some("plugin.counter.lable"))
    );
    // A good file afterwards applies.
    std::fs::write(&file, config_text("c", "")).unwrap();
    assert!(d.reload_config().unwrap());
    assert_eq!(label_now(&d), "c");
}

#[test]
fn every_shipped_config_is_valid() {
    let root = crate::support::root();
    let mut files = vec![root.join("config/vigil.toml")];
    for e in std::fs::read_dir(root.join("config/examples"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "toml") {
            files.push(e.path());
        }
    }
    for f in files {
        vigil::config::load(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn invalid_example_configs_fail_with_the_expected_message() {
    // Each tests/fixtures/config/invalid/NAME.toml sits beside NAME.err, the message an
    // operator sees; reviewing those files reviews the messages.
    let dir = crate::support::root().join("tests/fixtures/config/invalid");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let err = vigil::config::load_str(Path::new("vigil.toml"), &text)
            .expect_err(&format!("{} must fail", p.display()));
        let expected = std::fs::read_to_string(p.with_extension("err")).unwrap();
        assert_eq!(err.to_string(), expected.trim_end(), "{}", p.display());
        n += 1;
    }
    assert!(n >= 4, "only {n} invalid configs found");
}
