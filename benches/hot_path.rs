//! Criterion benches of the request hot path, in-process (no sockets on the
//! measured path):
//!
//! - `route/manifest_by_digest`: parsing a request line into a typed route.
//!   A regression here taxes every request.
//! - `handle/cached_manifest_by_digest`: `App::handle` for a cached manifest
//!   with no policy applying (`no-match-policy: allow`): route, cache
//!   lookup, gate, response build. The per-request CPU behind the "cached
//!   GET by digest ≥ 20× the registry" goal (the end-to-end ratio is
//!   measured by `benches/load.sh`).
//! - `handle/cached_allow_enforced`: the same request under a key policy
//!   whose verdict is cached. The difference to the previous bench is what
//!   enforcement adds to a cached pull (goal: < 1 ms at p50).
//! - `verify/key_signature`: one cold verification of a real cosign
//!   signature (ECDSA P-256) with the payload check: the CPU part of what a
//!   first key-verified pull adds (goal: ≤ 5 ms).
//!
//! - `verify/keyless_legacy_sig`, `verify/keyless_v3_bundle`: one cold
//!   keyless verification of a real public-good signature (legacy `.sig`;
//!   cosign v3 bundle), discovery excluded (goal: < 2 ms CPU).
//!
//! The upstream is an in-process fake serving a real signed image (the
//! containers/image `dir-img-cosign-valid` fixture); after warm-up it is
//! never contacted again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Method, Request};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use signgate::config::{Config, NoMatchPolicy};
use signgate::oci::Digest;
use signgate::policy::PolicySet;
use signgate::proxy::App;
use signgate::route::Router;
use signgate::signature::SignatureLayer;
use signgate::verify::{verify_with_key, PublicKey};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/containers-image"
);

/// The fixture image: manifest, signature payload, signature annotations.
struct Fixture {
    manifest: Bytes,
    digest: Digest,
    payload: Bytes,
    annotations: BTreeMap<String, String>,
    key_pem: String,
}

fn fixture() -> Fixture {
    let manifest = std::fs::read(format!("{FIXTURE}/dir-img-cosign-valid/manifest.json")).unwrap();
    let (_, layer) = containers_image_layer("dir-img-cosign-valid");
    let (payload, annotations) = (layer.payload, layer.annotations);
    Fixture {
        digest: Digest::sha256_of(&manifest),
        manifest: Bytes::from(manifest),
        payload,
        annotations,
        key_pem: std::fs::read_to_string(format!("{FIXTURE}/cosign.pub")).unwrap(),
    }
}

fn config(upstream_port: u16) -> Config {
    let yaml = format!(
        "upstreams:\n  - {{name: bench.test, url: 'http://127.0.0.1:{upstream_port}', insecure: true, default: true}}\n"
    );
    Config::parse(&yaml, "bench", Path::new(".")).unwrap()
}

/// A fake upstream serving the fixture image and its `.sig` tag.
async fn fake_upstream(f: Arc<Fixture>) -> u16 {
    let payload_digest = Digest::sha256_of(&f.payload);
    let sig_manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": payload_digest.as_str(), "size": 2},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": payload_digest.as_str(),
            "size": f.payload.len(),
            "annotations": f.annotations,
        }],
    });
    let sig_manifest = Bytes::from(serde_json::to_vec(&sig_manifest).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sig_suffix = format!("/manifests/{}.sig", f.digest.to_tag_form());
    let payload_suffix = format!("/blobs/{payload_digest}");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (f, sig_manifest, sig_suffix, payload_suffix) = (
                f.clone(),
                sig_manifest.clone(),
                sig_suffix.clone(),
                payload_suffix.clone(),
            );
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let path = req.uri().path().to_owned();
                // No referrers API, no referrers tag, no attestations.
                let absent = path.contains("/referrers/")
                    || path.ends_with(".att")
                    || (path.contains("/manifests/sha256-") && !path.ends_with(".sig"));
                let (body, content_type) = if absent {
                    (Bytes::new(), "application/json")
                } else if path.ends_with(&sig_suffix) {
                    (
                        sig_manifest.clone(),
                        "application/vnd.oci.image.manifest.v1+json",
                    )
                } else if path.ends_with(&payload_suffix) {
                    (f.payload.clone(), "application/octet-stream")
                } else {
                    (
                        f.manifest.clone(),
                        "application/vnd.docker.distribution.manifest.v2+json",
                    )
                };
                async move {
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .status(if absent { 404 } else { 200 })
                            .header("content-type", content_type)
                            .body(Full::new(body))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

fn bench_route(c: &mut Criterion) {
    let router = Router::new(&config(1).upstreams);
    let path = format!("/v2/library/alpine/manifests/{}", fixture().digest);
    c.bench_function("route/manifest_by_digest", |b| {
        b.iter(|| {
            router
                .route(
                    &Method::GET,
                    std::hint::black_box(&path),
                    Some("ns=bench.test"),
                )
                .unwrap()
        })
    });
}

fn bench_cached_manifest(c: &mut Criterion) {
    let f = Arc::new(fixture());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = rt.block_on(fake_upstream(f.clone()));
    let uri = format!("/v2/app/manifests/{}", f.digest);
    let request = || {
        Request::get(uri.as_str())
            .body(Empty::<Bytes>::new())
            .unwrap()
    };

    let open = App::new(&config(port), PolicySet::empty(NoMatchPolicy::Allow)).unwrap();
    let key: String = f
        .key_pem
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let policy = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: bench}}\nspec:\n  images: [{{glob: 'bench.test/**'}}]\n  authorities:\n    - key:\n        data: |\n{key}"
    );
    let policies =
        PolicySet::from_files(&[("bench.yaml".into(), policy)], NoMatchPolicy::Deny).unwrap();
    let enforced = App::new(&config(port), policies).unwrap();
    for app in [&open, &enforced] {
        // Warm the caches (the only upstream fetches), and check the answer.
        let warm = rt.block_on(app.handle(request(), None));
        assert_eq!(warm.status(), 200);
        let body = rt.block_on(warm.into_body().collect()).unwrap().to_bytes();
        assert_eq!(body, f.manifest);
    }

    c.bench_function("handle/cached_manifest_by_digest", |b| {
        b.iter(|| {
            let response = rt.block_on(open.handle(request(), None));
            assert_eq!(response.status(), 200);
            response
        })
    });
    c.bench_function("handle/cached_allow_enforced", |b| {
        b.iter(|| {
            let response = rt.block_on(enforced.handle(request(), None));
            assert_eq!(response.status(), 200);
            response
        })
    });
}

fn bench_verify(c: &mut Criterion) {
    let f = fixture();
    let key = PublicKey::from_pem(&f.key_pem).unwrap();
    let layers = [SignatureLayer {
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
        digest: Digest::sha256_of(&f.payload),
        size: 0,
        payload: f.payload.clone(),
        annotations: f.annotations.clone(),
        found_at: "bench".into(),
    }];
    c.bench_function("verify/key_signature", |b| {
        b.iter(|| verify_with_key(&f.digest, &layers, "bench", &key).unwrap())
    });
}

/// A containers/image fixture's first signature layer and image digest.
fn containers_image_layer(name: &str) -> (Digest, SignatureLayer) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/containers-image")
        .join(name);
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    let raw = std::fs::read(dir.join("signature-1")).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(raw.strip_prefix(b"\x00sigstore-json\n").unwrap()).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(v["payload"].as_str().unwrap())
        .unwrap();
    let annotations = v["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    (
        Digest::sha256_of(&manifest),
        SignatureLayer {
            media_type: v["mimeType"].as_str().unwrap().to_owned(),
            digest: Digest::sha256_of(&payload),
            size: 0,
            payload: Bytes::from(payload),
            annotations,
            found_at: "bench".into(),
        },
    )
}

/// Cold keyless verifications (discovery excluded): the trusted root is
/// parsed once, as at policy load; each iteration runs the whole chain of
/// checks on one image's signature (goal: < 2 ms CPU).
fn bench_keyless(c: &mut Criterion) {
    use signgate::verify::{
        verify_signature, Identity, Keyless, Matcher, Requirement, Strictness, TrustRoot,
        TrustSource,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let trust = Arc::new(
        TrustRoot::from_json(
            "pinned",
            &std::fs::read_to_string(root.join("sigstore/sigstore_trusted_root.json")).unwrap(),
        )
        .unwrap(),
    );
    let requirement = |subject: &str, issuer: &str| {
        Requirement::Keyless(Keyless {
            trust: TrustSource::Sigstore(trust.clone()),
            identities: vec![Identity {
                subject: Some(Matcher::Exact(subject.into())),
                issuer: Some(Matcher::Exact(issuer.into())),
                claims: Vec::new(),
            }],
            strictness: Strictness::default(),
        })
    };
    // The real 2023 public-good legacy `.sig` layer (Fulcio, SCT, SET).
    let (digest, layer) = containers_image_layer("dir-img-cosign-fulcio-rekor-valid");
    let legacy = requirement("mitr@redhat.com", "https://github.com/login/oauth");
    let layers = [layer];
    verify_signature(&digest, &layers, "bench", &legacy).unwrap();
    c.bench_function("verify/keyless_legacy_sig", |b| {
        b.iter(|| verify_signature(&digest, &layers, "bench", &legacy).unwrap())
    });
    // The real cosign v3 bundle (Fulcio, SCT, SET, inclusion proof,
    // checkpoint, RFC 3161 timestamp).
    let json = std::fs::read(root.join("sigstore-rs/bundle_v03.json")).unwrap();
    let bundle = [SignatureLayer {
        media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
        digest: Digest::sha256_of(&json),
        size: 0,
        payload: Bytes::from(json),
        annotations: BTreeMap::new(),
        found_at: "bench".into(),
    }];
    let subject: Digest = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172"
        .parse()
        .unwrap();
    let v3 = requirement(
        "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0",
        "https://token.actions.githubusercontent.com",
    );
    verify_signature(&subject, &bundle, "bench", &v3).unwrap();
    c.bench_function("verify/keyless_v3_bundle", |b| {
        b.iter(|| verify_signature(&subject, &bundle, "bench", &v3).unwrap())
    });
}

criterion_group!(
    benches,
    bench_route,
    bench_cached_manifest,
    bench_verify,
    bench_keyless
);
criterion_main!(benches);
