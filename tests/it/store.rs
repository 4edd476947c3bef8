//! The store under faults: `kill -9` in the middle of a stream of batches, and a disk
//! that fills up mid-write. Either way: no crash, a clear error, a store that opens
//! cleanly, and every committed sample still there.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil::model::ValidatorEpoch;
use vigil::store::{
    Observation, Sample, SeriesId, SeriesKey, SeriesKind, Store, Writer, WriterConfig,
};

/// Set in the child process to the store it writes to.
const CHILD_STORE_ENV: &str = "VIGIL_TEST_KILL9_STORE";
/// Series the child writes each batch.
const SERIES: usize = 8;
/// Samples per series per batch.
const SAMPLES: i64 = 50;
/// Outcome rows per batch (one epoch per batch).
const VALIDATORS: u64 = 100;
/// A child that outlives its parent stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);

fn keys() -> Vec<(SeriesKey, SeriesKind)> {
    (0..SERIES)
        .map(|i| {
            (
                SeriesKey::new("stream", &[("n".into(), i.to_string())]),
                SeriesKind::Free,
            )
        })
        .collect()
}

/// Batch `b`'s samples for one series: ms `b*1000 .. b*1000+SAMPLES`, value `b`.
fn batch_samples(ids: &[SeriesId], b: i64) -> Vec<Sample> {
    ids.iter()
        .flat_map(|&series| {
            (0..SAMPLES).map(move |k| Sample {
                series,
                ts_ms: b * 1_000 + k,
                value: b as f64 + k as f64 * 0.25,
            })
        })
        .collect()
}

fn batch_rows(b: i64) -> Vec<ValidatorEpoch> {
    (0..VALIDATORS)
        .map(|v| ValidatorEpoch {
            validator: v,
            epoch: b as u64,
            balance: Some(32_000_000_000 + b * 10 + v as i64),
            attested: Some(v % 7 != 0),
            reward_head: (v % 5 != 0).then_some(3_400),
            ..Default::default()
        })
        .collect()
}

/// Not a test on its own: the child process of [`kill_9_mid_batch_loses_nothing_committed`].
/// Re-run with [`CHILD_STORE_ENV`] set, it writes batches through the writer forever,
/// printing `committed N` after each durable flush.
#[test]
fn kill9_child_writer() {
    let Ok(path) = std::env::var(CHILD_STORE_ENV) else {
        return;
    };
    let started = Instant::now();
    let store = Arc::new(Store::open(Path::new(&path)).unwrap());
    let ids = store.register_series(&keys()).unwrap();
    // Resume after the last batch a previous child committed.
    let first = store
        .series_range(&keys()[0].0, i64::MIN, i64::MAX, 1)
        .unwrap()
        .first()
        .map_or(0, |p| p.0 / 1_000 + 1);
    let writer = Writer::spawn(store, WriterConfig::default()).unwrap();
    for b in first.. {
        writer
            .blocking_send(Observation::Samples(batch_samples(&ids, b)))
            .unwrap();
        writer
            .blocking_send(Observation::Outcomes {
                iteration: 1,
                rows: batch_rows(b),
            })
            .unwrap();
        writer.flush_blocking().unwrap();
        println!("committed {b}");
        if started.elapsed() > CHILD_LIFETIME {
            return;
        }
    }
}

/// Check that batches `0..=last` are whole; a batch after it may be there or not,
/// but each of its messages entirely or not at all.
fn check_batches(store: &Store, last: i64) -> i64 {
    let ids: Vec<SeriesKey> = keys().into_iter().map(|k| k.0).collect();
    let mut present = last;
    for key in &ids {
        let pts = store
            .series_range(key, i64::MIN, i64::MAX, usize::MAX)
            .unwrap();
        let batches = pts.len() as i64 / SAMPLES;
        assert_eq!(pts.len() as i64 % SAMPLES, 0, "a partial batch in {key:?}");
        assert!(
            batches == last + 1 || batches == last + 2,
            "{key:?}: {batches} batches, {last} reported"
        );
        for (i, p) in pts.iter().enumerate() {
            let (b, k) = (i as i64 / SAMPLES, i as i64 % SAMPLES);
            assert_eq!(*p, (b * 1_000 + k, b as f64 + k as f64 * 0.25), "{key:?}");
        }
        present = present.max(batches - 1);
    }
    for b in 0..=last + 1 {
        let rows = store.outcomes_for_epoch(1, b as u64).unwrap();
        if b <= last {
            assert_eq!(rows, batch_rows(b), "epoch {b}");
        } else {
            assert!(
                rows.is_empty() || rows == batch_rows(b),
                "epoch {b} partly written"
            );
        }
    }
    present
}

/// `kill -9` while batches stream in: the store reopens cleanly (redb repairs from the
/// last commit), and every batch the child reported committed is whole — three times.
#[test]
fn kill_9_mid_batch_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill9.redb");
    let exe = std::env::current_exe().unwrap();
    let mut last = -1i64;
    for round in 0..3 {
        let mut child = Command::new(&exe)
            .args([
                "store::kill9_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_STORE_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = 0;
        // A different number of commits each round, so the kill lands at different
        // points of the write path.
        let wanted = 10 + round * 7;
        for line in out.lines() {
            let line = line.unwrap();
            // libtest's "test … ... " shares the first line with the first commit.
            if let Some((_, n)) = line.split_once("committed ") {
                last = n.trim().parse().unwrap();
                seen += 1;
                if seen >= wanted {
                    break;
                }
            }
        }
        assert!(seen >= wanted, "the child stopped after {seen} commits");
        // Land the kill at a different point of the next batch each round (not a wait
        // for anything: any moment is a valid moment to die).
        std::thread::sleep(Duration::from_micros(round as u64 * 700));
        // SIGKILL: no destructors, no final flush.
        child.kill().unwrap();
        child.wait().unwrap();
        let store = Store::open(&path).unwrap();
        assert!(
            store.verify_integrity().unwrap(),
            "round {round}: integrity"
        );
        let present = check_batches(&store, last);
        eprintln!("round {round}: killed after batch {last} was reported; {present} present");
        last = present;
    }
}

/// Unmounts on drop, even when an assertion fails.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A real small filesystem that fills up during a write: the flush says "the disk is
/// full" with the store's path, the writer keeps the batch, commits it once space is
/// freed, and after a reopen every committed sample is there. Needs permission to
/// mount a tmpfs (root); elsewhere the unit test
/// `store::tests::disk_full_keeps_the_batch_and_recovers` covers the same path with
/// injected `ENOSPC`.
#[test]
fn disk_full_mid_write_recovers_when_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!(
            "skipped: cannot mount a tmpfs here (not root); the unit test with injected ENOSPC covers this"
        );
        return;
    }
    let _mount = Mount(mnt.clone());
    // Room to give back later.
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![1u8; 1 << 20]).unwrap();
    let path = mnt.join("vigil.redb");
    let store = Arc::new(Store::open(&path).unwrap());
    let key = SeriesKey::new("noise", &[]);
    let id = store
        .register_series(&[(key.clone(), SeriesKind::Free)])
        .unwrap()[0];
    let writer = Writer::spawn(
        store.clone(),
        WriterConfig {
            retry_min: Duration::from_millis(5),
            retry_max: Duration::from_millis(50),
            ..WriterConfig::default()
        },
    )
    .unwrap();
    // Noisy floats (≈ 8 B/sample) fill the disk quickly.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut batch = |b: i64| -> Vec<Sample> {
        (0..5_000)
            .map(|k| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                Sample {
                    series: id,
                    ts_ms: b * 10_000 + k,
                    value: f64::from_bits(seed >> 2),
                }
            })
            .collect()
    };
    let mut written: Vec<Sample> = Vec::new();
    let mut error = None;
    for b in 0..10_000 {
        let samples = batch(b);
        written.extend(&samples);
        writer.blocking_send(Observation::Samples(samples)).unwrap();
        if let Err(e) = writer.flush_blocking() {
            error = Some(e);
            break;
        }
    }
    let e = error.expect("the disk never filled up");
    let msg = e.to_string();
    assert!(e.is_disk_full(), "{msg}");
    assert!(msg.contains("the disk is full"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(writer.status().pending > 0, "the failed batch was dropped");
    eprintln!("disk full after {} samples: {msg}", written.len());
    // Free space: the writer's retry (or this flush) commits the kept batch.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match writer.flush_blocking() {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.shutdown_blocking().unwrap();
    drop(writer);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert!(store.verify_integrity().unwrap());
    let got = store
        .series_range(&key, i64::MIN, i64::MAX, usize::MAX)
        .unwrap();
    assert_eq!(got.len(), written.len());
    for (g, w) in got.iter().zip(&written) {
        assert_eq!(g.0, w.ts_ms);
        assert_eq!(g.1.to_bits(), w.value.to_bits());
    }
}
