//! A real TUF repository made with python-tuf (`tests/tools/tuf-repo.py`)
//! and served over HTTP on loopback by `python3 -m http.server`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::process::Child;

/// python with python-tuf: `$PYTHON_TUF`, else the venv
/// `tests/tools/python-tuf` makes (once) under `target/tools/`.
fn python() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("PYTHON_TUF") {
            return PathBuf::from(path);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/python-tuf");
        let out = Command::new(script)
            .output()
            .expect("tests/tools/python-tuf runs");
        assert!(
            out.status.success(),
            "installing python-tuf failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

pub(crate) struct TufRepo {
    pub dir: tempfile::TempDir,
    pub port: u16,
    server: Option<Child>,
}

impl TufRepo {
    /// A repository publishing `trusted_root` (root, targets, snapshot,
    /// timestamp, one key each), checked with python-tuf's own client, and
    /// served.
    pub(crate) fn new(trusted_root: &str) -> TufRepo {
        let dir = tempfile::tempdir().unwrap();
        let repo = TufRepo {
            port: super::free_port(),
            dir,
            server: None,
        };
        repo.tool(&[
            "init",
            &repo.path("tuf"),
            &repo.write("t1.json", trusted_root),
        ]);
        repo.tool(&["check", &repo.path("tuf")]);
        let mut repo = repo;
        repo.serve();
        repo
    }

    /// The bootstrap `root.json` (version 1).
    pub(crate) fn root_json(&self) -> PathBuf {
        self.dir.path().join("tuf/root.json")
    }

    pub(crate) fn mirror(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Publish a new trusted root (new targets, snapshot, timestamp).
    pub(crate) fn update(&self, trusted_root: &str) {
        let file = self.write("next.json", trusted_root);
        self.tool(&["update", &self.path("tuf"), &file]);
    }

    /// Publish a timestamp that expired yesterday.
    pub(crate) fn expire(&self) {
        self.tool(&["expire", &self.path("tuf")]);
    }

    /// Publish a timestamp that expires `seconds` from now.
    pub(crate) fn expire_in(&self, seconds: u64) {
        self.tool(&["expire-in", &self.path("tuf"), &seconds.to_string()]);
    }

    /// Where the served file of a target with these bytes is.
    pub(crate) fn target_file(&self, trusted_root: &str) -> PathBuf {
        let digest = super::image::sha256(trusted_root.as_bytes());
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join(format!("tuf/repo/targets/{hex}.trusted_root.json"))
    }

    /// Start (again) serving the repository on its port.
    pub(crate) fn serve(&mut self) {
        let log = self.dir.path().join("http.log");
        let port = self.port.to_string();
        let root = self.path("tuf/repo");
        let child = Child::spawn(
            python(),
            &[
                "-m",
                "http.server",
                &port,
                "--bind",
                "127.0.0.1",
                "--directory",
                &root,
            ],
            &log,
        );
        super::wait_for(20, "the TUF mirror to listen", || {
            super::port_open(self.port)
        });
        self.server = Some(child);
    }

    /// Stop serving: the mirror is unreachable.
    pub(crate) fn stop(&mut self) {
        self.server = None;
        super::wait_for(10, "the TUF mirror to stop", || {
            !super::port_open(self.port)
        });
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn tool(&self, args: &[&str]) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/tuf-repo.py");
        let out = Command::new(python())
            .arg(script)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tuf-repo.py {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
