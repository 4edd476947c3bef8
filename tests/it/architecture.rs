//! The house flows one way: a module of `host/src` imports only modules of a lower layer
//! (`ARCHITECTURE.md`, whose layer table this test reads). Pins the import loop of 27
//! files through alerts, channels, cli, collect, daemon, recorder, web and report that
//! issue 10 undid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Module name → layer, from the fenced block after the `layers` marker.
fn layers() -> BTreeMap<String, u32> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let start = text
        .find("<!-- layers:")
        .expect("ARCHITECTURE.md has the layers marker");
    let block = &text[start..];
    let open = block
        .find("```text\n")
        .expect("a text block after the marker")
        + 8;
    let close = block[open..].find("```").expect("the block closes") + open;
    let mut out = BTreeMap::new();
    for line in block[open..close].lines() {
        let mut words = line.split_whitespace();
        let Some(n) = words.next() else { continue };
        let n: u32 = n.parse().expect("a layer line starts with its number");
        for m in words {
            assert!(out.insert(m.to_string(), n).is_none(), "{m} listed twice");
        }
    }
    out
}

/// The top-level module a file of `host/src` belongs to (`web/pages/x.rs` → `web`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("non-empty path");
    let first = first.as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::name` a file refers to, with its line, skipping comment lines.
fn references(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + 7..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `use crate::{a, b}` names several modules at once.
            if name.is_empty() && tail.starts_with('{') {
                let inner = &tail[1..tail.find('}').unwrap_or(tail.len())];
                for part in inner.split(',') {
                    let m: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !m.is_empty() {
                        out.push((i + 1, m));
                    }
                }
            } else if !name.is_empty() {
                out.push((i + 1, name));
            }
            rest = tail;
        }
    }
    out
}

#[test]
fn host_modules_import_only_lower_layers() {
    let layers = layers();
    let src = root().join("host/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut unlisted = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&mine) = layers.get(&module) else {
            unlisted.push(module);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable file");
        for (line, target) in references(&text) {
            if target == module {
                continue;
            }
            match layers.get(&target) {
                Some(&theirs) if theirs < mine => {}
                Some(&theirs) => violations.push(format!(
                    "{}:{line}: {module} (layer {mine}) imports {target} (layer {theirs})",
                    file.strip_prefix(&src).unwrap_or(file).display()
                )),
                None => unlisted.push(target),
            }
        }
    }
    unlisted.sort();
    unlisted.dedup();
    assert!(
        unlisted.is_empty(),
        "modules missing from ARCHITECTURE.md's layer table: {unlisted:?}"
    );
    assert!(
        violations.is_empty(),
        "imports against the one-way flow (ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_a_violation() {
    // The test above must be able to fail: a web file naming the daemon is caught.
    let refs = references(
        "use crate::daemon::Daemon;\n// crate::cli in a comment\nlet x = crate::{store, web};",
    );
    assert_eq!(
        refs,
        vec![
            (1, "daemon".to_string()),
            (3, "store".to_string()),
            (3, "web".to_string())
        ]
    );
}
