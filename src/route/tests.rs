use super::*;
use crate::config::Config;

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn router(default: bool) -> Router {
    let yaml = format!(
        "upstreams:\n  - {{name: docker.io, url: 'https://registry-1.docker.io', default: {default}}}\n  - {{name: 'ghcr.io', url: 'https://ghcr.io'}}\n  - {{name: '127.0.0.1:15000', url: 'http://127.0.0.1:15000', insecure: true}}\n"
    );
    let c = Config::parse(&yaml, "t", std::path::Path::new(".")).unwrap();
    Router::new(&c.upstreams)
}

fn get(path: &str, query: Option<&str>) -> Result<Route, RouteError> {
    router(true)
        .route(&Method::GET, path, query)
        .map(|(_, r)| r)
}

fn target_of(route: &Route) -> (&str, usize) {
    match route {
        Route::Manifest { target, .. }
        | Route::Blob { target, .. }
        | Route::TagsList { target, .. }
        | Route::Referrers { target, .. } => (target.repository.as_str(), target.upstream.0),
        Route::ApiBase => ("", usize::MAX),
    }
}

#[test]
fn api_base_answers_with_and_without_slash() {
    assert_eq!(get("/v2/", None).unwrap(), Route::ApiBase);
    assert_eq!(get("/v2", None).unwrap(), Route::ApiBase);
}

#[test]
fn endpoints_parse_into_typed_routes() {
    let r = get("/v2/library/alpine/manifests/3.20", None).unwrap();
    assert!(
        matches!(&r, Route::Manifest { reference: Reference::Tag(t), .. } if t.as_str() == "3.20")
    );
    let r = get(&format!("/v2/library/alpine/manifests/{D}"), None).unwrap();
    assert!(
        matches!(&r, Route::Manifest { reference: Reference::Digest(d), .. } if d.as_str() == D)
    );
    let r = get(&format!("/v2/a/b/blobs/{D}"), None).unwrap();
    assert!(matches!(&r, Route::Blob { .. }));
    let r = get("/v2/a/b/tags/list", Some("n=2&last=v1")).unwrap();
    assert!(matches!(&r, Route::TagsList { n: Some(2), last: Some(t), .. } if t.as_str() == "v1"));
    let r = get(
        &format!("/v2/a/referrers/{D}"),
        Some("artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"),
    )
    .unwrap();
    assert!(
        matches!(&r, Route::Referrers { artifact_type: Some(t), .. } if t == "application/vnd.dev.sigstore.bundle.v0.3+json")
    );
}

#[test]
fn upstream_is_chosen_by_ns_then_path_prefix_then_default() {
    // containerd: ?ns= names the registry; the path is the repository there.
    let r = get("/v2/library/alpine/manifests/latest", Some("ns=docker.io")).unwrap();
    assert_eq!(target_of(&r), ("library/alpine", 0));
    let r = get("/v2/org/img/manifests/latest", Some("ns=ghcr.io")).unwrap();
    assert_eq!(target_of(&r), ("org/img", 1));
    // Path prefix, as CRI-O/podman mirrors with a path send it.
    let r = get("/v2/ghcr.io/org/img/manifests/latest", None).unwrap();
    assert_eq!(target_of(&r), ("org/img", 1));
    let r = get("/v2/127.0.0.1:15000/x/manifests/latest", None).unwrap();
    assert_eq!(target_of(&r), ("x", 2));
    let r = get("/v2/index.docker.io/nginx/manifests/latest", None).unwrap();
    assert_eq!(target_of(&r), ("library/nginx", 0));
    // Default upstream (Docker's registry-mirrors), Docker Hub normalisation.
    let r = get("/v2/alpine/manifests/latest", None).unwrap();
    assert_eq!(target_of(&r), ("library/alpine", 0));
    let r = get("/v2/bitnami/redis/manifests/latest", None).unwrap();
    assert_eq!(target_of(&r), ("bitnami/redis", 0));
}

#[test]
fn unconfigured_registries_are_refused_before_any_io() {
    for (path, query) in [
        ("/v2/evil.example/x/manifests/latest", None),
        ("/v2/x/manifests/latest", Some("ns=evil.example")),
        ("/v2/localhost/x/manifests/latest", None),
        ("/v2/169.254.169.254:80/x/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None),
    ] {
        let err = get(path, query).unwrap_err();
        assert!(matches!(err, RouteError::UnconfiguredRegistry(_)), "{path}: {err:?}");
    }
}

#[test]
fn no_default_upstream_means_a_registry_must_be_named() {
    let err = router(false)
        .route(&Method::GET, "/v2/alpine/manifests/latest", None)
        .unwrap_err();
    assert_eq!(err, RouteError::NoDefaultUpstream);
}

#[test]
fn hostile_paths_get_typed_errors_never_panics() {
    type Check = fn(&RouteError) -> bool;
    let cases: [(&str, Check); 12] = [
        ("/v2/../etc/passwd/manifests/x", |e| {
            matches!(e, RouteError::Name(_))
        }),
        ("/v2/Library/alpine/manifests/x", |e| {
            matches!(e, RouteError::Name(_))
        }),
        ("/v2/a//b/manifests/x", |e| matches!(e, RouteError::Name(_))),
        ("/v2/a/manifests/..", |e| {
            matches!(e, RouteError::Reference(_))
        }),
        ("/v2/a/manifests/sha256:zz", |e| {
            matches!(e, RouteError::Reference(_))
        }),
        ("/v2/a/blobs/latest", |e| matches!(e, RouteError::Digest(_))),
        ("/v2/a/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", |e| {
            matches!(e, RouteError::Digest(_))
        }),
        ("/v2/a/blobs/uploads/", |e| {
            matches!(e, RouteError::NotFound(_))
        }),
        ("/v2/manifests/latest", |e| {
            matches!(e, RouteError::NotFound(_))
        }),
        ("/v1/_ping", |e| matches!(e, RouteError::NotFound(_))),
        ("/v2/ghcr.io/manifests/latest", |e| {
            matches!(e, RouteError::Name(_) | RouteError::NotFound(_))
        }),
        ("/v2/a%2Fb/manifests/x", |e| {
            matches!(e, RouteError::Name(_))
        }),
    ];
    for (path, ok) in cases {
        let err = get(path, None).unwrap_err();
        assert!(ok(&err), "{path}: {err:?}");
    }
    assert!(matches!(
        get("/v2/a/tags/list", Some("n=-1")),
        Err(RouteError::Query("n", _))
    ));
    assert!(matches!(
        get("/v2/a/tags/list", Some("last=a/b")),
        Err(RouteError::Query("last", _))
    ));
    assert!(matches!(
        get("/v2/a/tags/list", Some("ns=bad%20name")),
        Err(RouteError::Name(_))
    ));
}

#[test]
fn write_methods_are_refused() {
    for m in [
        Method::PUT,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        let err = router(true)
            .route(&m, "/v2/a/manifests/latest", None)
            .unwrap_err();
        assert!(matches!(err, RouteError::MethodNotAllowed(_)), "{m}");
    }
    let (m, _) = router(true)
        .route(&Method::HEAD, "/v2/a/manifests/latest", None)
        .unwrap();
    assert_eq!(m, ReadMethod::Head);
}

/// Texts with a multi-byte character (2, 3 and 4 bytes) at every byte
/// offset up to past the quoting limit, so that every cut lands inside one.
fn multibyte_texts() -> Vec<String> {
    let mut texts = Vec::new();
    for wide in ["é", "€", "😀"] {
        for prefix in 0..=MAX_SHOWN + 8 {
            texts.push(format!("{}{}", "a".repeat(prefix), wide.repeat(8)));
            texts.push(wide.repeat(prefix / wide.len() + 2));
        }
    }
    texts
}

#[test]
fn multibyte_text_at_every_cut_gets_a_typed_error_never_a_panic() {
    let r = router(true);
    for text in multibyte_texts() {
        let paths = [
            format!("/{text}"),
            format!("/v1/{text}"),
            format!("/v2/{text}"),
            format!("/v2/{text}/x"),
            format!("/v2/a/{text}/x"),
            format!("/v2/{text}/manifests/latest"),
            format!("/v2/a/manifests/{text}"),
            format!("/v2/a/blobs/{text}"),
            format!("/v2/a/referrers/{text}"),
            format!("/v2/{text}/tags/list"),
            format!("/v2/ghcr.io/{text}/manifests/latest"),
            format!("/v2/{text}.io/a/manifests/latest"),
        ];
        for path in &paths {
            let err = r.route(&Method::GET, path, None).unwrap_err();
            let message = err.to_string();
            // Quoted client text is bounded (and cut at a char boundary).
            assert!(message.len() < 600, "{path}: {} bytes", message.len());
            let response = crate::proxy::ProxyError::Route(err).response(false);
            assert!(response.status().is_client_error(), "{path}");
        }
        for query in [
            format!("n={text}"),
            format!("last={text}"),
            format!("ns={text}"),
            format!("artifactType={text}"),
        ] {
            let err = r
                .route(&Method::GET, "/v2/a/tags/list", Some(&query))
                .unwrap_err();
            assert!(err.to_string().len() < 600, "{query}");
        }
    }
}

#[test]
fn quoted_text_is_cut_at_a_char_boundary_within_the_limit() {
    for text in multibyte_texts() {
        let cut = shown(&text);
        let kept = cut.strip_suffix('…').unwrap_or(&cut);
        assert!(kept.len() <= MAX_SHOWN, "{} bytes kept", kept.len());
        assert!(text.starts_with(kept));
        if text.len() <= MAX_SHOWN {
            assert_eq!(cut, text);
        } else {
            assert!(cut.ends_with('…'));
            // As much as fits: the next character would cross the limit.
            let next = text.get(kept.len()..).unwrap().chars().next().unwrap();
            assert!(kept.len() + next.len_utf8() > MAX_SHOWN);
        }
    }
    match router(true).route(&Method::GET, &format!("/v1/x{}", "é".repeat(100)), None) {
        Err(RouteError::NotFound(shown)) => assert!(shown.ends_with('…'), "{shown}"),
        other => panic!("{other:?}"),
    }
}
