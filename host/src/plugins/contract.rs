//! Refuse components that are not plugins of this contract version, before linking,
//! with a message that says which version they were built against.

use super::{CONTRACT_VERSION, PluginError};
use std::path::Path;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The package every plugin import and export must belong to.
const PACKAGE: &str = "vigil:plugin/";

/// Split `vigil:plugin/host@0.2.0` into `("vigil:plugin/host", Some("0.2.0"))`.
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('@') {
        Some((base, v)) => (base, Some(v)),
        None => (name, None),
    }
}

/// Check a compiled component's imports and exports against the contract.
pub fn check(engine: &Engine, component: &Component, file: &Path) -> Result<(), PluginError> {
    let ty = component.component_type();
    let mut exports_plugin = false;
    let mut export_names = Vec::new();
    for (name, _) in ty.exports(engine) {
        export_names.push(name.to_string());
        let (base, version) = split_version(name);
        if base == "vigil:plugin/plugin" {
            match version {
                Some(v) if v == CONTRACT_VERSION => exports_plugin = true,
                other => {
                    return Err(PluginError::WrongContract {
                        file: file.to_path_buf(),
                        found: other.unwrap_or("(unversioned)").to_string(),
                        expected: CONTRACT_VERSION,
                    });
                }
            }
        }
    }
    if !exports_plugin {
        return Err(PluginError::NotAPlugin {
            file: file.to_path_buf(),
            exports: if export_names.is_empty() {
                "nothing".into()
            } else {
                export_names.join(", ")
            },
        });
    }
    for (name, _) in ty.imports(engine) {
        let (base, version) = split_version(name);
        if !base.starts_with(PACKAGE) {
            return Err(PluginError::ForbiddenImport {
                file: file.to_path_buf(),
                import: name.to_string(),
            });
        }
        if version != Some(CONTRACT_VERSION) {
            return Err(PluginError::WrongContract {
                file: file.to_path_buf(),
                found: version.unwrap_or("(unversioned)").to_string(),
                expected: CONTRACT_VERSION,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_version;

    #[test]
    fn versions_split() {
        assert_eq!(
            split_version("vigil:plugin/host@0.2.0"),
            ("vigil:plugin/host", Some("0.2.0"))
        );
        assert_eq!(split_version("wasi:cli/stdout"), ("wasi:cli/stdout", None));
    }
}
