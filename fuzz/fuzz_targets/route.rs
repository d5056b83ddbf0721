//! Request routing: never panics, and a routed request names only a
//! configured upstream and a repository that re-parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signgate::config::Config;
use signgate::oci::Repository;
use signgate::route::{Route, Router};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (path, query) = match s.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (s, None),
    };
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
    if let Ok((_, route)) = router.route(&http::Method::GET, path, query) {
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
});
