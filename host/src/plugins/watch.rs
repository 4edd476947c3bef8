//! Watching files for changes: the plugin folder and the config file.
//!
//! Raw inotify events arrive ~0.1 ms after a write, but the first "modified" comes before
//! the file is complete, and one save (editor, `cp`, write-and-rename) gives several
//! events. So events are debounced ([`DEBOUNCE`] of quiet), the callback re-reads and
//! hashes the files (unchanged content is skipped), and a periodic rescan catches
//! anything the watcher missed (a network filesystem, a full inotify queue).

use notify::{RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Quiet time after the last event before acting on a change.
pub const DEBOUNCE: Duration = Duration::from_millis(50);
/// Safety-net rescan interval when no event arrives.
pub const RESCAN: Duration = Duration::from_secs(2);

/// Keeps the watch alive; dropping it stops the watcher and its thread.
pub struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
}

/// Call `on_change` (from a dedicated thread) after events in `dir` whose path passes
/// `filter`, debounced, and at least every `rescan`.
pub fn watch_dir(
    dir: &Path,
    filter: impl Fn(&Path) -> bool + Send + 'static,
    rescan: Duration,
    on_change: impl FnMut() + Send + 'static,
) -> anyhow::Result<WatchHandle> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if ev.paths.iter().any(|p| filter(p)) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            // A lost event (queue overflow): act as if something changed.
            Err(_) => {
                let _ = tx.send(());
            }
        })
        .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", dir.display()))?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot watch {}: {e} (does the folder exist?)",
                dir.display()
            )
        })?;
    let name = format!(
        "vigil-watch-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("dir")
    );
    let mut on_change = on_change;
    std::thread::Builder::new().name(name).spawn(move || {
        loop {
            match rx.recv_timeout(rescan) {
                Ok(()) => {
                    // Debounce: wait until DEBOUNCE passes with no new event.
                    let mut deadline = Instant::now() + DEBOUNCE;
                    loop {
                        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                            Ok(()) => deadline = Instant::now() + DEBOUNCE,
                            Err(mpsc::RecvTimeoutError::Timeout) => break,
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    on_change();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => on_change(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    })?;
    Ok(WatchHandle { _watcher: watcher })
}

/// True for paths that may be plugins (`*.wasm`), so temp files of editors and `cp`
/// do not trigger scans of their own (the rename to `.wasm` does).
pub fn is_plugin_file(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "wasm")
}

/// A filter matching one file by name, for watching a config file through its folder
/// (editors replace files by rename, which a watch on the file itself would miss).
pub fn same_file_name(file: &Path) -> impl Fn(&Path) -> bool + Send + 'static {
    let name: Option<PathBuf> = file.file_name().map(PathBuf::from);
    move |p: &Path| p.file_name().map(PathBuf::from) == name
}
