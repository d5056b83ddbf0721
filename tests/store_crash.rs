//! Crash safety of the local store: a writer process is killed (SIGKILL)
//! at a random point while streaming a large blob; reopening the store must
//! find either nothing or the complete, correct blob under the digest's
//! name, must remove the temp leftovers, and must accept the blob again.
//!
//! The test re-executes its own binary as the writer: with
//! `SIGNGATE_STORE_CRASH_CHILD=<dir>` set, the test function plays the child.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test support may fail loudly

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use signgate::oci::Digest;
use signgate::store::{PutOutcome, Store};

const CHILD_ENV: &str = "SIGNGATE_STORE_CRASH_CHILD";
const TEST_NAME: &str = "a_writer_killed_mid_blob_leaves_no_partial_blob";
const BLOB_LEN: usize = 8 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const ITERATIONS: usize = 5;
/// The child prints this once its temp file is open.
const WRITING: &str = "signgate-store-crash-child: writing";

/// Deterministic pseudo-random content, the same in parent and child.
fn blob() -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..BLOB_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A small xorshift seeded from the clock: where the kill lands.
struct Rng(u64);

impl Rng {
    fn from_clock() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The child: stream the blob slowly through `blob_writer`, then commit.
/// Usually killed before it gets there.
fn run_writer(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let data = blob();
        let digest = Digest::sha256_of(&data);
        let store = Store::open(dir, u64::MAX).unwrap();
        let mut writer = store.blob_writer(&digest).await.unwrap();
        // The test harness may have printed part of a line already.
        println!("\n{WRITING}");
        for chunk in data.chunks(CHUNK) {
            writer.write(chunk).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        writer.commit().await.unwrap();
    });
}

#[test]
fn a_writer_killed_mid_blob_leaves_no_partial_blob() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        run_writer(Path::new(&dir));
        return;
    }
    let started = Instant::now();
    let data = blob();
    let digest = Digest::sha256_of(&data);
    let mut rng = Rng::from_clock();
    let mut killed_with_leftovers = 0;
    for iteration in 0..ITERATIONS {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the child has its temp file open, then let it write
        // for a random while (the whole write takes a few hundred ms).
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l == WRITING)),
            "the writer child never started"
        );
        // Most kills land mid-stream; the last lands around the commit
        // (fsync, rename), or just after it.
        let delay = if iteration + 1 < ITERATIONS {
            rng.below(350)
        } else {
            300 + rng.below(400)
        };
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL on Unix: no destructors run
        child.wait().unwrap();

        let blob_path = dir.path().join("blobs/sha256").join(digest.hex());
        let leftovers = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        if leftovers > 0 {
            killed_with_leftovers += 1;
        }
        // Under the digest's name: nothing, or exactly the right bytes.
        if blob_path.exists() {
            assert_eq!(
                std::fs::read(&blob_path).unwrap(),
                data,
                "iteration {iteration}"
            );
        }

        let runtime = tokio::runtime::Runtime::new().unwrap();
        let was_complete = runtime.block_on(async {
            let store = Store::open(dir.path(), u64::MAX).unwrap();
            assert_eq!(
                std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
                0,
                "open removes temp leftovers"
            );
            let present = store.has_blob(&digest);
            assert_eq!(present, blob_path.exists());
            if present {
                assert_eq!(store.get_blob(&digest).await.unwrap().unwrap(), data);
            }
            // Writing it again completes, whichever way the crash went.
            let outcome = store
                .put_blob(&digest, Bytes::from(data.clone()))
                .await
                .unwrap();
            let expected = if present {
                PutOutcome::AlreadyPresent
            } else {
                PutOutcome::Written
            };
            assert_eq!(outcome, expected);
            assert_eq!(store.get_blob(&digest).await.unwrap().unwrap(), data);
            assert_eq!(store.used_bytes(), BLOB_LEN as u64);
            present
        });
        eprintln!(
            "iteration {iteration}: killed after {delay} ms; temp leftovers {leftovers}, \
             blob complete {was_complete}"
        );
    }
    assert!(
        killed_with_leftovers > 0,
        "no kill landed mid-write; the test proved nothing"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
