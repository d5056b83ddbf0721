//! Request routing: never panics — on any path, and on paths padded so a
//! multi-byte character lands at every cut an error message makes — every
//! error becomes an OCI error response with bounded quoted text, and a
//! routed request names only a configured upstream and a repository that
//! re-parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signgate::config::Config;
use signgate::oci::Repository;
use signgate::proxy::ProxyError;
use signgate::route::{Route, Router};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    static ROUTER: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
    let router = ROUTER.get_or_init(|| {
        let config = Config::parse(
            "upstreams:\n  - {name: docker.io, url: 'https://registry-1.docker.io', default: true}\n  - {name: ghcr.io, url: 'https://ghcr.io'}\n",
            "fuzz",
            std::path::Path::new("."),
        )
        .expect("fixed config");
        Router::new(&config.upstreams)
    });
    check(router, s);
    // The first byte picks a padding, so across runs the input's first
    // multi-byte character sits at every offset around the 160-byte cut.
    let pad = "a".repeat(usize::from(data.first().copied().unwrap_or(0)) % 170);
    for prefix in ["/v1/", "/v2/", "/v2/a/manifests/", "/v2/a/blobs/"] {
        check(router, &format!("{prefix}{pad}{s}"));
    }
});

fn check(router: &Router, s: &str) {
    let (path, query) = match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    };
    match router.route(&http::Method::GET, path, query) {
        Ok((_, route)) => {
            let target = match &route {
                Route::ApiBase => return,
                Route::Manifest { target, .. }
                | Route::Blob { target, .. }
                | Route::TagsList { target, .. }
                | Route::Referrers { target, .. } => target,
            };
            assert!(target.upstream.0 < 2);
            assert!(target.repository.as_str().parse::<Repository>().is_ok());
        }
        Err(e) => {
            let response = ProxyError::Route(e).response(false);
            assert!(response.status().is_client_error());
            let length = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok())
                .expect("content-length");
            // Quoted client text is cut (JSON escaping may grow it sixfold).
            assert!(length < 8 * 1024, "{length} bytes of error");
        }
    }
}
