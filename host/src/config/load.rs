//! Reading, checking and locating errors in a config file.

use super::Limits;
use super::schema::Config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A refused configuration: the file, the line, the key and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// Dotted key, e.g. `plugins.memory_limit_mib`.
    pub key: Option<String>,
    pub message: String,
}

/// A configuration that parsed and validated, with what it resolves to.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file it came from.
    pub file: PathBuf,
    /// The text it was parsed from (for locating plugin config errors).
    pub source: String,
    /// `[store] path`, resolved.
    pub store_path: PathBuf,
    /// `[plugins] dir`, resolved.
    pub plugins_dir: PathBuf,
    /// Compiled-plugin cache folder, resolved.
    pub cache_dir: PathBuf,
    /// The sandbox limits.
    pub limits: Limits,
    /// `[collect] interval`.
    pub collect_interval: Duration,
    /// Directories whose disk space is watched, resolved; the store's folder first.
    pub data_dirs: Vec<PathBuf>,
    /// `[web]`, resolved.
    pub web: super::web::WebSettings,
    /// `[validators]`: ids, ranges and files, resolved.
    pub validators: super::validators::WatchedValidators,
}

impl LoadedConfig {
    /// Each plugin's `[plugin.<name>]` table as the JSON passed to `configure`.
    pub fn plugin_configs(&self) -> BTreeMap<String, String> {
        self.config
            .plugin
            .iter()
            .map(|(name, table)| {
                (
                    name.clone(),
                    serde_json::to_string(table).unwrap_or_else(|_| "{}".into()),
                )
            })
            .collect()
    }

    /// An error about `[plugin.<name>].<key>`, pointing at its line.
    pub fn plugin_error(&self, plugin: &str, key: Option<&str>, message: &str) -> ConfigError {
        let mut path = vec!["plugin", plugin];
        let parts: Vec<&str> = key.map(|k| k.split('.').collect()).unwrap_or_default();
        path.extend(parts.iter().copied());
        let line =
            line_of(&self.source, &path).or_else(|| line_of(&self.source, &["plugin", plugin]));
        ConfigError {
            file: self.file.clone(),
            line,
            key: Some(path.join(".")),
            message: message.to_string(),
        }
    }
}

/// Read and validate the config at `file`.
pub fn load(file: &Path) -> Result<LoadedConfig, ConfigError> {
    let source = std::fs::read_to_string(file).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: None,
        key: None,
        message: format!(
            "cannot read: {e} (create it from config/vigil.toml, or pass --config PATH)"
        ),
    })?;
    load_str(file, &source)
}

/// Validate config text as if read from `file` (relative paths resolve beside it).
pub fn load_str(file: &Path, source: &str) -> Result<LoadedConfig, ConfigError> {
    let err = |line: Option<usize>, key: Option<String>, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        key,
        message,
    };
    let config: Config = toml::from_str(source).map_err(|e| {
        let line = e.span().map(|s| line_at(source, s.start));
        let message = e.message().trim().to_string();
        let key = message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_string);
        err(line, key, message)
    })?;
    let config = without_implicit_nodes(config, source);
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            normalize(&base.join(p))
        }
    };

    let deadline = check_plugins(&config.plugins, file, source)?;
    let collect_interval = parse_duration(&config.collect.interval)
        .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(600))
        .ok_or_else(|| {
            err(
                line_of(source, &["collect", "interval"]),
                Some("collect.interval".into()),
                format!(
                    "interval = {:?} is not a duration from 1s to 10m (write e.g. \"12s\")",
                    config.collect.interval
                ),
            )
        })?;
    let validator_files: Vec<(PathBuf, String)> = config
        .validators
        .files
        .iter()
        .map(|f| (resolve(f), f.display().to_string()))
        .collect();
    let validators = super::validators::resolve(
        &config.validators.ids,
        &validator_files,
        file,
        line_of(source, &["validators", "ids"]),
    )?;
    check_nodes(&config, file, source)?;
    let web = super::web::validate(&config.web, file, source, &resolve)?;
    let store_path = resolve(&config.store.path);
    let cache_dir = match &config.plugins.cache_dir {
        Some(d) => resolve(d),
        None => store_path
            .parent()
            .map(|d| d.join("plugin-cache"))
            .unwrap_or_else(|| "plugin-cache".into()),
    };
    let mut data_dirs: Vec<PathBuf> = store_path
        .parent()
        .map(Path::to_path_buf)
        .into_iter()
        .collect();
    data_dirs.extend(config.collect.data_dirs.iter().map(|d| resolve(d)));
    Ok(LoadedConfig {
        validators,
        web,
        collect_interval,
        data_dirs,
        limits: Limits {
            memory_bytes: (config.plugins.memory_limit_mib as usize) << 20,
            cpu_deadline: deadline,
            max_output_bytes: (config.plugins.max_output_kib as usize) << 10,
            max_host_calls: config.plugins.max_host_calls,
            ..Limits::default()
        },
        plugins_dir: resolve(&config.plugins.dir),
        store_path,
        cache_dir,
        file: file.to_path_buf(),
        source: source.to_string(),
        config,
    })
}

/// `[plugins]`: every limit within its range; the CPU deadline parsed.
fn check_plugins(
    p: &super::schema::PluginsConfig,
    file: &Path,
    source: &str,
) -> Result<Duration, ConfigError> {
    let err = |line: Option<usize>, key: Option<String>, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        key,
        message,
    };
    let range = |key: &str, path: &[&str], v: u64, min: u64, max: u64| -> Result<(), ConfigError> {
        if v < min || v > max {
            return Err(err(
                line_of(source, path),
                Some(key.to_string()),
                format!("{key} = {v} is out of range: use {min} to {max}"),
            ));
        }
        Ok(())
    };
    range(
        "plugins.memory_limit_mib",
        &["plugins", "memory_limit_mib"],
        p.memory_limit_mib,
        1,
        4096,
    )?;
    range(
        "plugins.max_output_kib",
        &["plugins", "max_output_kib"],
        p.max_output_kib,
        1,
        1 << 20,
    )?;
    range(
        "plugins.max_host_calls",
        &["plugins", "max_host_calls"],
        p.max_host_calls.into(),
        1,
        10_000_000,
    )?;
    range(
        "plugins.quarantine_after",
        &["plugins", "quarantine_after"],
        p.quarantine_after.into(),
        1,
        1000,
    )?;
    parse_duration(&p.cpu_deadline)
        .filter(|d| *d >= Duration::from_millis(1) && *d <= Duration::from_secs(60))
        .ok_or_else(|| {
            err(
                line_of(source, &["plugins", "cpu_deadline"]),
                Some("plugins.cpu_deadline".into()),
                format!("cpu_deadline = {:?} is not a duration from 1ms to 60s (write e.g. \"250ms\" or \"1s\")", p.cpu_deadline),
            )
        })
}

/// `[[beacon]]` and `[[execution]]`: URLs that can be asked, names unique per kind.
fn check_nodes(config: &Config, file: &Path, source: &str) -> Result<(), ConfigError> {
    let err = |line: Option<usize>, key: Option<String>, message: String| ConfigError {
        file: file.to_path_buf(),
        line,
        key,
        message,
    };
    for (kind, nodes) in [("beacon", &config.beacon), ("execution", &config.execution)] {
        let mut names = std::collections::BTreeSet::new();
        for (i, n) in nodes.iter().enumerate() {
            if !(n.url.starts_with("http://") || n.url.starts_with("https://")) {
                return Err(err(
                    line_of_array(source, kind, i, "url"),
                    Some(format!("{kind}[{i}].url")),
                    format!("url {:?} must start with http:// or https://", n.url),
                ));
            }
            if !names.insert(n.name.as_str()) {
                return Err(err(
                    line_of_array(source, kind, i, "name"),
                    Some(format!("{kind}[{i}].name")),
                    format!(
                        "node name {:?} is used twice: names label every observation, make them unique",
                        n.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The standard local nodes (`local-beacon` on :5052, `local-execution` on :8545) are
/// defaults for a config that names no node at all. Once a config names either kind of
/// node, the other kind is not invented: a hidden `local-execution` that pages for ever
/// on a machine without one is worse than none.
fn without_implicit_nodes(mut config: Config, source: &str) -> Config {
    let Ok(raw) = source.parse::<toml::Table>() else {
        return config;
    };
    let (beacon, execution) = (raw.contains_key("beacon"), raw.contains_key("execution"));
    if beacon && !execution {
        config.execution.clear();
    }
    if execution && !beacon {
        config.beacon.clear();
    }
    config
}

/// Remove `.` and `name/..` pairs without touching the file system, so logs say
/// `target/plugins`, not `config/../target/plugins`.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// "250ms", "1s", "2m", "1h" → a duration.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn line_at(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// The line of the key at `path`; a numeric part indexes an array of tables. Falls
/// back to the deepest enclosing key found in the file.
pub fn line_of(source: &str, path: &[&str]) -> Option<usize> {
    let doc: toml_edit::Document<&str> = toml_edit::Document::parse(source).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut best = None;
    let mut i = 0;
    while i < path.len() {
        let Some((k, v)) = table.get_key_value(path[i]) else {
            return best;
        };
        best = k.span().map(|s| line_at(source, s.start)).or(best);
        match path.get(i + 1).and_then(|p| p.parse::<usize>().ok()) {
            Some(n) => {
                let Some(t) = v.as_array_of_tables().and_then(|a| a.get(n)) else {
                    return best;
                };
                best = t.span().map(|s| line_at(source, s.start)).or(best);
                table = t;
                i += 2;
            }
            None => {
                let Some(t) = v.as_table_like() else {
                    return best;
                };
                table = t;
                i += 1;
            }
        }
    }
    best
}

/// The line of `key` in the `i`-th `[[kind]]` entry.
pub fn line_of_array(source: &str, kind: &str, i: usize, key: &str) -> Option<usize> {
    let doc: toml_edit::Document<&str> = toml_edit::Document::parse(source).ok()?;
    let arr = doc.as_table().get(kind)?.as_array_of_tables()?;
    let (k, _) = arr.get(i)?.get_key_value(key)?;
    k.span().map(|s| line_at(source, s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> Result<LoadedConfig, ConfigError> {
        load_str(Path::new("/etc/vigil/vigil.toml"), src)
    }

    /// Issue 11: a config naming only `[[beacon]]` got a hidden `local-execution` at
    /// 127.0.0.1:8545 that paged critical for ever.
    #[test]
    fn naming_one_kind_of_node_invents_none_of_the_other() {
        let c = check("[[beacon]]\nname = \"bn\"\nurl = \"http://127.0.0.1:9596\"\n").unwrap();
        assert_eq!(c.config.beacon.len(), 1);
        assert!(c.config.execution.is_empty(), "{:?}", c.config.execution);
        let c = check("[[execution]]\nname = \"el\"\nurl = \"http://127.0.0.1:9545\"\n").unwrap();
        assert!(c.config.beacon.is_empty());
        let c = check("").unwrap();
        assert_eq!(c.config.beacon[0].name, "local-beacon");
        assert_eq!(c.config.execution[0].name, "local-execution");
    }

    #[test]
    fn validators_take_ranges_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("farm.txt"), "100-102\n# spare\n7\n").unwrap();
        let c = load_str(
            &dir.path().join("vigil.toml"),
            "[validators]\nids = [1, \"3-4\"]\nfiles = [\"farm.txt\"]\n",
        )
        .unwrap();
        assert_eq!(c.validators.indices, vec![1, 3, 4, 7, 100, 101, 102]);
        std::fs::write(dir.path().join("farm.txt"), "100-102\nvalidator seven\n").unwrap();
        let e = load_str(
            &dir.path().join("vigil.toml"),
            "[validators]\nfiles = [\"farm.txt\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.file, dir.path().join("farm.txt"));
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn empty_config_is_all_defaults_on_standard_ports() {
        let c = check("").unwrap();
        assert_eq!(c.config.beacon[0].url, "http://127.0.0.1:5052");
        assert_eq!(c.config.execution[0].url, "http://127.0.0.1:8545");
        assert_eq!(c.store_path, Path::new("/etc/vigil/vigil.redb"));
        assert_eq!(c.plugins_dir, Path::new("/etc/vigil/plugins"));
        assert_eq!(c.limits.memory_bytes, 64 << 20);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = check("[store]\npath = \"x.redb\"\n\n[plugins]\nmemory_limit = 3\n").unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key.as_deref(), Some("memory_limit"));
        assert!(
            e.to_string()
                .starts_with("/etc/vigil/vigil.toml:5: unknown field `memory_limit`"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_and_range_name_line() {
        let e = check("[plugins]\nmemory_limit_mib = \"lots\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = check("[plugins]\n\nmemory_limit_mib = 0\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("plugins.memory_limit_mib"))
        );
        assert!(e.message.contains("use 1 to 4096"));
        let e = check("[plugins]\ncpu_deadline = \"forever\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn node_errors_point_at_entry() {
        let e = check("[[beacon]]\nname = \"a\"\nurl = \"127.0.0.1:5052\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("beacon[0].url")));
        let e = check("[[beacon]]\nname = \"a\"\nurl = \"http://a\"\n[[beacon]]\nname = \"a\"\nurl = \"http://b\"\n").unwrap_err();
        assert_eq!(e.line, Some(5));
    }

    #[test]
    fn plugin_tables_become_json_and_errors_find_their_line() {
        let c = check("[plugin.node-health]\nmin_peers = 3\n").unwrap();
        assert_eq!(c.plugin_configs()["node-health"], r#"{"min_peers":3}"#);
        let e = c.plugin_error("node-health", Some("min_peers"), "too low");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("plugin.node-health.min_peers"))
        );
    }

    #[test]
    fn relative_paths_are_normalised() {
        let c = load_str(
            Path::new("config/vigil.toml"),
            "[store]\npath = \"../data/v.redb\"\n",
        )
        .unwrap();
        assert_eq!(c.store_path, Path::new("data/v.redb"));
        assert_eq!(normalize(Path::new("../a/./b/../c")), Path::new("../a/c"));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("2 weeks"), None);
    }
}
