//! HTTPS for the registry API: rustls from PEM files, HTTP/2 and HTTP/1.1
//! by ALPN, optional client-certificate authentication (mTLS), and the
//! certificate reloaded when its files change — no restart (polled by
//! [`super::background`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// The certificate in use, swapped atomically when its files change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    stamp: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.current.read() {
            Ok(c) => Some(c.clone()),
            Err(poisoned) => Some(poisoned.into_inner().clone()),
        }
    }
}

impl ReloadingCert {
    fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
        let pem = std::fs::read(cert).map_err(|e| format!("tls.cert '{}': {e}", cert.display()))?;
        let chain: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tls.cert '{}': {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "tls.cert '{}' holds no PEM certificate",
                cert.display()
            ));
        }
        let pem = std::fs::read(key).map_err(|e| format!("tls.key '{}': {e}", key.display()))?;
        let private = rustls_pemfile::private_key(&mut pem.as_slice())
            .map_err(|e| format!("tls.key '{}': {e}", key.display()))?
            .ok_or_else(|| format!("tls.key '{}' holds no PEM private key", key.display()))?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        CertifiedKey::from_der(chain, private, &provider)
            .map_err(|e| format!("tls: certificate and key do not match: {e}"))
    }

    fn stamp(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (modified(&self.cert), modified(&self.key))
    }

    /// The certificate file, as configured.
    pub fn cert_file(&self) -> &Path {
        &self.cert
    }

    /// Reload if the files changed; a broken pair keeps the current one.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = self.stamp();
        let seen = self.stamp.read().map(|s| *s).unwrap_or((None, None));
        if now == seen {
            return Ok(false);
        }
        if let Ok(mut s) = self.stamp.write() {
            *s = now;
        }
        let loaded = ReloadingCert::load(&self.cert, &self.key)?;
        match self.current.write() {
            Ok(mut c) => *c = Arc::new(loaded),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(loaded),
        }
        Ok(true)
    }
}

/// The acceptor for `config`, and the certificate handle to keep fresh.
pub fn acceptor(config: &TlsConfig) -> Result<(TlsAcceptor, Arc<ReloadingCert>), String> {
    let loaded = ReloadingCert::load(&config.cert, &config.key)?;
    let cert = Arc::new(ReloadingCert {
        cert: config.cert.clone(),
        key: config.key.clone(),
        current: RwLock::new(Arc::new(loaded)),
        stamp: RwLock::new((None, None)),
    });
    let stamp = cert.stamp();
    if let Ok(mut s) = cert.stamp.write() {
        *s = stamp;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let pem =
                std::fs::read(ca).map_err(|e| format!("tls.client-ca '{}': {e}", ca.display()))?;
            let mut roots = RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut pem.as_slice()) {
                let c = c.map_err(|e| format!("tls.client-ca '{}': {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("tls.client-ca '{}': {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("tls.client-ca '{}': {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_cert_resolver(cert.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(server)), cert))
}

/// `signgate tls self-signed DIR`: a CA and a server certificate for
/// `names` (DNS names or IP addresses), and a client certificate for mTLS
/// in `DIR/client/`, for quick starts and tests.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<(), String> {
    let err = |e: rcgen::Error| format!("generating certificates: {e}");
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "signgate CA");
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let server_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut server_params = rcgen::CertificateParams::new(names.to_vec()).map_err(err)?;
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "signgate");
    let server = server_params
        .signed_by(&server_key, &ca, &ca_key)
        .map_err(err)?;
    let client_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "signgate node");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params
        .signed_by(&client_key, &ca, &ca_key)
        .map_err(err)?;
    // `client/` is a ready client cert dir (the layout of Docker's and
    // containerd's certs.d and skopeo's --cert-dir).
    let client_dir = dir.join("client");
    std::fs::create_dir_all(&client_dir).map_err(|e| format!("{}: {e}", client_dir.display()))?;
    for (path, text, mode) in [
        (dir.join("ca.crt"), ca.pem(), PUBLIC),
        (dir.join("server.crt"), server.pem(), PUBLIC),
        (dir.join("server.key"), server_key.serialize_pem(), PRIVATE),
        (client_dir.join("ca.crt"), ca.pem(), PUBLIC),
        (client_dir.join("client.cert"), client.pem(), PUBLIC),
        (
            client_dir.join("client.key"),
            client_key.serialize_pem(),
            PRIVATE,
        ),
    ] {
        write_with_mode(&path, &text, mode).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Certificates are for everyone to read.
const PUBLIC: u32 = 0o644;
/// Private keys are for their owner only.
const PRIVATE: u32 = 0o600;

/// Write `text` to `path` with exactly `mode`: created with it, and set
/// before any byte is written when the file already existed (a re-run must
/// not leave a new key in an old world-readable file).
fn write_with_mode(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn self_signed_keys_are_owner_only_and_certificates_readable() {
        let dir = tempfile::tempdir().unwrap();
        // A pre-existing world-readable key is tightened, not reused as is.
        std::fs::write(dir.path().join("server.key"), "old").unwrap();
        std::fs::set_permissions(
            dir.path().join("server.key"),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        super::self_signed(dir.path(), &["localhost".to_owned()]).unwrap();
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("server.key"), 0o600);
        assert_eq!(mode("client/client.key"), 0o600);
        assert_eq!(mode("server.crt"), 0o644);
        assert_eq!(mode("ca.crt"), 0o644);
        assert_eq!(mode("client/client.cert"), 0o644);
        let key = std::fs::read_to_string(dir.path().join("server.key")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    }
}
