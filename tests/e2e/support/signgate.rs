//! The real `signgate` binary, started on a config written by the test.

use std::path::{Path, PathBuf};

use super::process::Child;

pub(crate) struct Signgate {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    pub child: Child,
}

/// One upstream entry of a test config.
pub(crate) struct Up<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub default: bool,
    /// Extra YAML lines for the entry (indented by the caller's convention: none).
    pub extra: &'a str,
}

impl<'a> Up<'a> {
    pub(crate) fn new(name: &'a str, url: &'a str) -> Up<'a> {
        Up {
            name,
            url,
            default: false,
            extra: "",
        }
    }

    pub(crate) fn default(mut self) -> Self {
        self.default = true;
        self
    }

    pub(crate) fn extra(mut self, extra: &'a str) -> Self {
        self.extra = extra;
        self
    }
}

impl Signgate {
    /// Start signgate with these upstreams (all `insecure`, plain HTTP) and
    /// extra top-level YAML.
    pub(crate) fn start(upstreams: &[Up<'_>], extra_yaml: &str) -> Signgate {
        let mut yaml = String::from("upstreams:\n");
        for u in upstreams {
            yaml.push_str(&format!(
                "  - name: \"{}\"\n    url: \"{}\"\n    insecure: true\n    default: {}\n",
                u.name, u.url, u.default
            ));
            for line in u.extra.lines() {
                yaml.push_str(&format!("    {line}\n"));
            }
        }
        // Proxy-mechanics tests run without policies unless they bring some.
        if !extra_yaml.contains("no-match-policy") {
            yaml.push_str("no-match-policy: allow\n");
        }
        yaml.push_str(extra_yaml);
        Signgate::start_yaml(&yaml)
    }

    /// Start signgate on `yaml` (a `listen:` line is added).
    pub(crate) fn start_yaml(yaml: &str) -> Signgate {
        Signgate::start_yaml_with_args(yaml, &[])
    }

    /// Start signgate on `yaml` with extra `serve` arguments.
    pub(crate) fn start_yaml_with_args(yaml: &str, args: &[&str]) -> Signgate {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let config = dir.path().join("signgate.yaml");
        // Parallel instances must not fight over the default admin port.
        let admin = if yaml.contains("admin:") {
            ""
        } else {
            "admin: 127.0.0.1:0\n"
        };
        std::fs::write(&config, format!("listen: 127.0.0.1:{port}\n{admin}{yaml}")).unwrap();
        let log = dir.path().join("signgate.log");
        let child = Child::spawn(
            Path::new(env!("CARGO_BIN_EXE_signgate")),
            &[&["serve", "--config", config.to_str().unwrap()], args].concat(),
            &log,
        );
        super::wait_for(20, "signgate to listen", || {
            if !child.is_running() {
                panic!(
                    "signgate exited:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            super::port_open(port)
        });
        Signgate {
            port,
            dir,
            log,
            child,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
