//! signgate serving HTTPS: a generated CA trusted by real clients (skopeo,
//! a rustls client negotiating HTTP/2), mTLS with client certificates, and
//! certificate reload without a restart.

use std::path::Path;
use std::process::Command;

use crate::support::image::try_skopeo;
use crate::support::signgate::{Signgate, Up};
use crate::support::world::world;

fn self_signed(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args([
            "tls",
            "self-signed",
            dir.to_str().unwrap(),
            "--name",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tls_signgate(certs: &Path, mtls: bool) -> Signgate {
    let client_ca = if mtls {
        format!(", client-ca: {}", certs.join("ca.crt").display())
    } else {
        String::new()
    };
    Signgate::start(
        &[Up::new("registry.test", &world().registry.url()).default()],
        &format!(
            "tls: {{cert: {}, key: {}{client_ca}}}\n",
            certs.join("server.crt").display(),
            certs.join("server.key").display()
        ),
    )
}

fn inspect(sg: &Signgate, cert_dir: Option<&Path>) -> (bool, String) {
    let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
    if let Some(dir) = cert_dir {
        args.push(format!("--cert-dir={}", dir.display()));
    }
    args.push(format!("docker://{}/test/single:v1", sg.host()));
    try_skopeo(&args)
}

/// A cert dir holding only the CA (no client certificate).
fn ca_only(certs: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(certs.join("ca.crt"), dir.path().join("ca.crt")).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pulls_over_tls_with_the_generated_ca_and_refuses_without_it() {
    let certs = tempfile::tempdir().unwrap();
    self_signed(certs.path());
    let sg = tls_signgate(certs.path(), false);
    let ca = ca_only(certs.path());
    let (ok, out) = inspect(&sg, Some(ca.path()));
    assert!(ok, "{out}");
    assert!(out.contains("schemaVersion"), "{out}");
    let (ok, out) = inspect(&sg, None);
    assert!(!ok && out.contains("certificate"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_is_negotiated_by_alpn() {
    let certs = tempfile::tempdir().unwrap();
    self_signed(certs.path());
    let sg = tls_signgate(certs.path(), false);
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(certs.path().join("ca.crt")).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<bytes::Bytes>>(connector);
    let response = client
        .get(format!("https://{}/v2/", sg.host()).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_admits_only_clients_with_a_certificate_from_the_ca() {
    let certs = tempfile::tempdir().unwrap();
    self_signed(certs.path());
    let sg = tls_signgate(certs.path(), true);
    // `client/` holds ca.crt, client.cert and client.key: skopeo's cert-dir layout.
    let (ok, out) = inspect(&sg, Some(&certs.path().join("client")));
    assert!(ok, "with a client certificate: {out}");
    let ca = ca_only(certs.path());
    let (ok, out) = inspect(&sg, Some(ca.path()));
    assert!(!ok, "without a client certificate: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_certificate_is_picked_up_without_a_restart() {
    let certs = tempfile::tempdir().unwrap();
    self_signed(certs.path());
    let sg = tls_signgate(certs.path(), false);
    let old_ca = ca_only(certs.path());
    assert!(inspect(&sg, Some(old_ca.path())).0);

    let fresh = tempfile::tempdir().unwrap();
    self_signed(fresh.path());
    for f in ["server.key", "server.crt"] {
        std::fs::copy(fresh.path().join(f), certs.path().join(f)).unwrap();
    }
    let new_ca = ca_only(fresh.path());
    crate::support::wait_for(20, "the new certificate to be served", || {
        inspect(&sg, Some(new_ca.path())).0
    });
    assert!(
        !inspect(&sg, Some(old_ca.path())).0,
        "the old CA no longer verifies"
    );
    assert!(sg.log_text().contains("tls certificate reloaded"));
    assert!(sg.child.is_running());
}
