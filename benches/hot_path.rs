//! Criterion benches of the request hot path, in-process (no sockets on the
//! measured path):
//!
//! - `route/manifest_by_digest`: parsing a request line into a typed route.
//!   A regression here taxes every request.
//! - `handle/cached_manifest_by_digest`: `App::handle` for a manifest already
//!   in the cache (route, cache lookup, gate, response build). This is the
//!   per-request CPU behind the "cached GET by digest ≥ 20× the registry"
//!   goal; the end-to-end ratio is measured by `benches/load.sh`.
//!
//! The upstream is an in-process fake that serves one manifest; after the
//! warm-up request it is never contacted again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::path::Path;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Method, Request};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use signgate::config::Config;
use signgate::proxy::App;
use signgate::route::Router;

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn manifest_digest() -> String {
    signgate::oci::Digest::sha256_of(MANIFEST).to_string()
}

fn config(upstream_port: u16) -> Config {
    let yaml = format!(
        "upstreams:\n  - {{name: bench.test, url: 'http://127.0.0.1:{upstream_port}', insecure: true, default: true}}\n"
    );
    Config::parse(&yaml, "bench", Path::new(".")).unwrap()
}

/// A fake upstream serving `MANIFEST` for every manifest request.
async fn fake_upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(
                    http::Response::builder()
                        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                        .body(Full::new(Bytes::from_static(MANIFEST)))
                        .unwrap(),
                )
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
    let path = format!("/v2/library/alpine/manifests/{}", manifest_digest());
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = rt.block_on(fake_upstream());
    let app = App::new(
        &config(port),
        signgate::policy::PolicySet::empty(signgate::config::NoMatchPolicy::Allow),
    )
    .unwrap();
    let uri = format!("/v2/library/alpine/manifests/{}", manifest_digest());
    let request = || {
        Request::get(uri.as_str())
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    // Warm the cache (the only upstream fetch).
    let warm = rt.block_on(app.handle(request(), None));
    assert_eq!(warm.status(), 200);
    let body = rt.block_on(warm.into_body().collect()).unwrap().to_bytes();
    assert_eq!(&body[..], MANIFEST);

    c.bench_function("handle/cached_manifest_by_digest", |b| {
        b.iter(|| {
            let response = rt.block_on(app.handle(request(), None));
            assert_eq!(response.status(), 200);
            response
        })
    });
}

criterion_group!(benches, bench_route, bench_cached_manifest);
criterion_main!(benches);
