//! Child processes that cannot outlive the test binary.
//!
//! Each runs under `sh`, which kills it when its stdin (a pipe held by the
//! test process) closes: when the test binary exits for any reason, the
//! children go too. Dropping a `Child` kills it at once.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub(crate) struct Child {
    pub pid: u32,
    wrapper: std::process::Child,
}

impl Child {
    /// Start `program args…`, logging stdout and stderr to `log`.
    pub(crate) fn spawn(program: &Path, args: &[&str], log: &Path) -> Child {
        let log_file = std::fs::File::create(log).expect("log file");
        let pid_file = log.with_extension("pid");
        let script = r#"prog="$1"; pidfile="$2"; shift 2; "$prog" "$@" & echo $! > "$pidfile"; read _ignored; kill -9 $! 2>/dev/null"#;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(program)
            .arg(&pid_file)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file);
        let wrapper = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        super::wait_for(10, "pid file", || {
            std::fs::read_to_string(&pid_file).is_ok_and(|s| s.trim().parse::<u32>().is_ok())
        });
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Child { pid, wrapper }
    }

    /// Send a signal by name (`TERM`, `KILL`).
    pub(crate) fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .stderr(Stdio::null())
            .status();
    }

    pub(crate) fn is_running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|s| {
            s.split_whitespace()
                .nth(2)
                .is_some_and(|state| state != "Z")
        })
    }

    /// Peak resident memory so far, in KiB (`VmHWM`).
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmHWM:")
    }

    /// Current resident memory, in KiB (`VmRSS`).
    pub(crate) fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS:")
    }
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field in proc status")
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(stdin) = self.wrapper.stdin.as_mut() {
            let _ = stdin.write_all(b"\n");
        }
        self.signal("KILL");
        let _ = self.wrapper.wait();
    }
}
