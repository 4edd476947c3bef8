//! This machine: disk space per configured data directory, CPU, memory, load, network.
//!
//! Disk figures belong to the filesystem holding each directory (the mount with the
//! longest matching prefix), which is what fills up at 3 a.m.

use crate::contract::{Disk, SystemInfo};
use std::path::{Path, PathBuf};
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System};

/// Samples the machine; keep one alive so CPU usage is measured between ticks.
/// A part the OS does not offer (no /proc in a container, say) is reported as unknown.
pub struct SystemCollector {
    sys: Option<System>,
    disks: Option<Disks>,
    networks: Option<Networks>,
    dirs: Vec<PathBuf>,
    sampled: bool,
}

impl SystemCollector {
    /// A collector reporting disk space for `dirs` (e.g. the store and the clients'
    /// data directories).
    pub fn new(dirs: Vec<PathBuf>) -> SystemCollector {
        let sys = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        );
        let warn = |what: &str, e: &sysinfo::Error| {
            tracing::warn!("{what} are not available on this machine: {e}")
        };
        SystemCollector {
            sys: sys.inspect_err(|e| warn("CPU and memory figures", e)).ok(),
            disks: Disks::new_with_refreshed_list()
                .inspect_err(|e| warn("disk figures", e))
                .ok(),
            networks: Networks::new_with_refreshed_list()
                .inspect_err(|e| warn("network figures", e))
                .ok(),
            dirs,
            sampled: false,
        }
    }

    /// One sample. CPU is the busy share since the previous sample (none on the first).
    pub fn sample(&mut self) -> SystemInfo {
        let first = !self.sampled;
        self.sampled = true;
        if let Some(sys) = self.sys.as_mut() {
            sys.refresh_cpu_usage();
            sys.refresh_memory();
        }
        if let Some(d) = self.disks.as_mut() {
            d.refresh(true);
        }
        if let Some(n) = self.networks.as_mut() {
            n.refresh(true);
        }
        let load = System::load_average().ok();
        let net = self.networks.as_ref().map(|n| {
            n.iter()
                .filter(|(name, _)| name.to_str() != Some("lo"))
                .fold((0u64, 0u64), |(r, t), (_, n)| {
                    (r + n.total_received(), t + n.total_transmitted())
                })
        });
        let sys = self.sys.as_ref();
        SystemInfo {
            disks: self.dirs.iter().filter_map(|d| self.disk_for(d)).collect(),
            cpu_percent: sys.filter(|_| !first).map(|s| s.global_cpu_usage() as f64),
            load1: load.as_ref().map(|l| l.one),
            load5: load.as_ref().map(|l| l.five),
            load15: load.as_ref().map(|l| l.fifteen),
            memory_used_bytes: sys.map(System::used_memory),
            memory_total_bytes: sys.map(System::total_memory),
            net_rx_bytes: net.map(|n| n.0),
            net_tx_bytes: net.map(|n| n.1),
            clock_offset_ms: None,
        }
    }

    fn disk_for(&self, dir: &Path) -> Option<Disk> {
        let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let disk = self
            .disks
            .as_ref()?
            .iter()
            .filter(|d| abs.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())?;
        Some(Disk {
            path: dir.display().to_string(),
            total_bytes: disk.total_space(),
            free_bytes: disk.available_space(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_disk_of_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = SystemCollector::new(vec![dir.path().to_path_buf()]);
        let s = c.sample();
        assert_eq!(s.disks.len(), 1);
        assert!(s.disks[0].total_bytes > 0 && s.disks[0].free_bytes <= s.disks[0].total_bytes);
        assert!(s.memory_total_bytes.unwrap() > 0);
        assert!(s.memory_used_bytes.unwrap() <= s.memory_total_bytes.unwrap());
    }
}
