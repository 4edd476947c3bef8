//! Builds every plugin the tests use, once per test run, from source.
//!
//! Shipped plugins come from `plugins/`, hostile and fixture plugins from
//! `tests/plugins/` (their own workspace, never shipped). Each is compiled for
//! wasm32-unknown-unknown and wrapped as a component with the same code
//! `vigil plugins build` uses. The counter fixture is built twice (versions 1 and 2)
//! for hot-reload tests; the raw core module of one plugin is kept for the
//! "not a component" test.

use super::root;
use std::path::PathBuf;
use std::sync::OnceLock;
use vigil::plugins::build;

static BUILT: OnceLock<PathBuf> = OnceLock::new();

fn out_dir() -> &'static PathBuf {
    BUILT.get_or_init(|| {
        let root = root();
        // One wasm target folder for shipped and test plugins: shared dependencies build once.
        let target = root.join("target/wasm");
        let out = root.join("target/it-plugins");
        std::fs::create_dir_all(&out).expect("create target/it-plugins");
        let install = |core: &PathBuf, name: &str| {
            let bytes = std::fs::read(core).expect("read core module");
            let component = build::componentize(&bytes).expect("componentize");
            build::install_atomically(&component, &out.join(format!("{name}.wasm")))
                .expect("install");
        };
        let fixtures = root.join("tests/plugins/Cargo.toml");
        for (_, core) in build::cargo_build_artifacts(&fixtures, &target, &["--workspace"], &[])
            .expect("build test plugins")
        {
            let stem = core
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("stem")
                .to_string();
            let name = build::plugin_file_stem(stem.trim_start_matches("test_"));
            install(&core, &name);
            if name == "panics" {
                std::fs::copy(&core, out.join("core-module.wasm")).expect("keep core module");
            }
        }
        let counter = root.join("tests/plugins/counter/Cargo.toml");
        for (_, core) in
            build::cargo_build_artifacts(&counter, &target, &[], &[("VIGIL_TEST_VERSION", "2")])
                .expect("build counter v2")
        {
            install(&core, "counter-v2");
        }
        // Every shipped plugin crate in plugins/, under its folder's name.
        let mut shipped: Vec<PathBuf> = std::fs::read_dir(root.join("plugins"))
            .expect("read plugins/")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("Cargo.toml").is_file())
            .collect();
        shipped.sort();
        for dir in shipped {
            let p = dir
                .file_name()
                .and_then(|s| s.to_str())
                .expect("name")
                .to_string();
            for core in build::cargo_build(&dir, &target).expect("build shipped plugin") {
                install(&core, &p);
            }
        }
        out
    })
}

/// Path of a built plugin by name: a shipped one (`node-health`), a fixture (`counter`,
/// `counter-v2`) or a hostile one (`endless-loop`), or `core-module`.
pub(crate) fn path(name: &str) -> PathBuf {
    let p = out_dir().join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "test plugin {name} was not built ({})",
        p.display()
    );
    p
}
