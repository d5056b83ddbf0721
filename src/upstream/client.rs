//! The pooled HTTP client signgate uses towards one upstream: hyper-util's
//! legacy pool over rustls (HTTP/1.1 and HTTP/2 by ALPN), or plain HTTP
//! where the upstream is configured `insecure`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::UpstreamConfig;

/// Upstream requests carry no body: the pull side only reads.
pub(super) type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Build the client for one upstream.
pub(super) fn build(
    config: &UpstreamConfig,
    connect_timeout: Duration,
) -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls setup: {e}"))?;
    let tls = if config.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(config)?)
            .with_no_client_auth()
    };

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    // The builder sets ALPN (h2, http/1.1) itself.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(connector))
}

/// System roots (falling back to the Mozilla set when the system has none,
/// as in minimal containers) plus the upstream's own `ca-file`.
fn roots(config: &UpstreamConfig) -> Result<RootCertStore, String> {
    let mut roots = system_roots();
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca-file '{}': {e}", path.display()))?;
        let mut n = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("ca-file '{}': {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca-file '{}': {e}", path.display()))?;
            n += 1;
        }
        if n == 0 {
            return Err(format!(
                "ca-file '{}' holds no PEM certificate",
                path.display()
            ));
        }
    }
    Ok(roots)
}

/// The system's root certificates, or the Mozilla set when the system has
/// none (minimal containers): what every outgoing TLS connection trusts.
pub(crate) fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system store with one unparsable certificate is still usable.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// `insecure: true` on an https upstream: encrypted but unauthenticated.
/// Only for lab registries; startup logs a warning for every such upstream.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
