//! Debian's `docker-registry` (distribution 2.8) on a free loopback port,
//! with a temporary storage directory.

use std::path::{Path, PathBuf};

use super::process::Child;

pub(crate) struct Registry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
    _child: Child,
}

/// How the registry authenticates clients.
pub(crate) enum RegistryAuth<'a> {
    None,
    /// No client auth, served over TLS with this certificate and key (PEM).
    Tls {
        cert_pem: &'a str,
        key_pem: &'a str,
    },
    /// `auth: token` against a token service whose certificate is `cert_pem`.
    Token {
        realm: &'a str,
        service: &'a str,
        issuer: &'a str,
        cert_pem: &'a str,
    },
}

impl Registry {
    pub(crate) fn start(auth: RegistryAuth<'_>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let storage = dir.path().join("storage");
        let mut tls_yaml = String::new();
        let auth_yaml = match auth {
            RegistryAuth::None => String::new(),
            RegistryAuth::Tls { cert_pem, key_pem } => {
                let cert = dir.path().join("tls.crt");
                let key = dir.path().join("tls.key");
                std::fs::write(&cert, cert_pem).unwrap();
                std::fs::write(&key, key_pem).unwrap();
                tls_yaml = format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                );
                String::new()
            }
            RegistryAuth::Token {
                realm,
                service,
                issuer,
                cert_pem,
            } => {
                let bundle = dir.path().join("token-ca.pem");
                std::fs::write(&bundle, cert_pem).unwrap();
                format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    bundle.display()
                )
            }
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_yaml}{auth_yaml}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("registry.log");
        let child = Child::spawn(
            Path::new("/usr/bin/docker-registry"),
            &["serve", config_path.to_str().unwrap()],
            &log,
        );
        super::wait_for(20, "docker-registry to listen", || super::port_open(port));
        Registry {
            port,
            dir,
            log,
            _child: child,
        }
    }

    /// Kill the registry (an upstream outage) and wait until it is gone.
    pub(crate) fn stop(&self) {
        self._child.signal("KILL");
        super::wait_for(10, "the registry to stop", || !self._child.is_running());
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The registry's log so far (its access log lines included).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
