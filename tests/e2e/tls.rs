//! A TLS upstream: Debian's docker-registry serving HTTPS with a test CA.
//! signgate must verify it against a configured `ca-file` (negotiating
//! HTTP/2 or HTTP/1.1 by ALPN), refuse it without one, and accept it
//! unverified only when the upstream is marked `insecure`.

use std::sync::OnceLock;

use crate::support::http::get;
use crate::support::image::{self, Layout};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::Signgate;

struct TlsWorld {
    registry: Registry,
    ca_pem: String,
    digest: String,
    _layouts: tempfile::TempDir,
}

fn tls_world() -> &'static TlsWorld {
    static WORLD: OnceLock<TlsWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "signgate test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        let registry = Registry::start(RegistryAuth::Tls {
            cert_pem: &leaf.pem(),
            key_pem: &leaf_key.serialize_pem(),
        });
        let layouts = tempfile::tempdir().unwrap();
        let mut layout = Layout::new(layouts.path());
        let img = layout.image("amd64", &[("tls.txt", b"over TLS\n")]);
        layout.tag(&img, "v1");
        image::push(
            layouts.path(),
            "v1",
            &format!("{}/tls/app:v1", registry.host()),
            None,
        );
        TlsWorld {
            registry,
            ca_pem: ca.pem(),
            digest: img.digest,
            _layouts: layouts,
        }
    })
}

fn signgate_with(upstream_extra: &str) -> Signgate {
    let w = tls_world();
    Signgate::start_yaml(&format!(
        "no-match-policy: allow\nupstreams:\n  - name: tls.test\n    url: https://{}\n    default: true\n{upstream_extra}",
        w.registry.host()
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_upstream_is_verified_against_the_configured_ca() {
    let w = tls_world();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &w.ca_pem).unwrap();
    let sg = signgate_with(&format!("    ca-file: {}\n", ca.display()));
    let r = get(&sg.url("/v2/tls/app/manifests/v1")).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("docker-content-digest"), Some(w.digest.as_str()));
    // ALPN chose HTTP/2: the registry's access log shows signgate's requests as such.
    crate::support::wait_for(
        5,
        "an HTTP/2 request from signgate in the access log",
        || {
            w.registry.log_text().lines().any(|l| {
                l.contains("signgate/")
                    && l.contains("HTTP/2.0")
                    && l.contains("/v2/tls/app/manifests/")
            })
        },
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_upstream_with_an_unknown_ca_is_refused() {
    let sg = signgate_with("");
    let r = get(&sg.url("/v2/tls/app/manifests/v1")).await;
    assert_eq!(r.status, 502);
    let (code, message) = r.oci_error();
    assert_eq!(code, "UNKNOWN");
    assert!(
        message.contains("cannot be reached") && message.contains("certificate"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_insecure_tls_upstream_skips_verification_and_says_so() {
    let w = tls_world();
    let sg = signgate_with("    insecure: true\n");
    let r = get(&sg.url("/v2/tls/app/manifests/v1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(w.digest.as_str()));
    assert!(
        sg.log_text().contains("upstream is insecure"),
        "{}",
        sg.log_text()
    );
}
