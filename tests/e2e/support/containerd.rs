//! Debian's containerd (1.6) as a real daemon on a temporary root, state
//! and socket (CRI plugin off, native snapshotter), and `ctr` pulling
//! through a hosts directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::Child;

pub(crate) struct Containerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub log: PathBuf,
    _child: Child,
}

impl Containerd {
    pub(crate) fn start() -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let socket = d.join("c.sock");
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n[grpc]\n  address = \"{sock}\"\n\n[ttrpc]\n  address = \"{ttrpc}\"\n\n[debug]\n  address = \"{debug}\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = socket.display(),
            ttrpc = d.join("t.sock").display(),
            debug = d.join("d.sock").display(),
        );
        let config_path = d.join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = d.join("containerd.log");
        let child = Child::spawn(
            Path::new("/usr/bin/containerd"),
            &["--config", config_path.to_str().unwrap()],
            &log,
        );
        super::wait_for(30, "containerd's socket", || socket.exists());
        let c = Containerd {
            dir,
            socket,
            log,
            _child: child,
        };
        super::wait_for(30, "containerd to answer", || c.ctr(&["version"]).0);
        c
    }

    /// Run `ctr` against this daemon: (success, stdout + stderr).
    pub(crate) fn ctr(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("/usr/bin/ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", "signgate-test"])
            .args(args)
            .output()
            .expect("ctr runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `ctr images pull --hosts-dir DIR --snapshotter native IMAGE`.
    pub(crate) fn pull(&self, hosts_dir: &Path, image: &str) -> (bool, String) {
        self.ctr(&[
            "images",
            "pull",
            "--hosts-dir",
            hosts_dir.to_str().unwrap(),
            "--snapshotter",
            "native",
            image,
        ])
    }
}

/// A hosts directory with one `hosts.toml` for `registry`.
pub(crate) fn hosts_dir(registry: &str, hosts_toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join(registry);
    std::fs::create_dir_all(&reg).unwrap();
    std::fs::write(reg.join("hosts.toml"), hosts_toml).unwrap();
    dir
}

/// `hosts.toml` naming signgate as the registry's `server`: enforced.
pub(crate) fn as_server(signgate: &str) -> String {
    format!("server = \"http://{signgate}\"\n\n[host.\"http://{signgate}\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
}

/// `hosts.toml` naming signgate only as a mirror `[host]`: bypassable.
pub(crate) fn as_mirror(signgate: &str, registry: &str) -> String {
    format!("server = \"http://{registry}\"\n\n[host.\"http://{signgate}\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
}
