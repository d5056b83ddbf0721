//! The error-mapping table, pinned: every `ProxyError` variant (every
//! `RouteError` and `UpstreamErrorKind` through it) → the response a client
//! gets (status, headers, body bytes). A change to any line is a change to
//! what runtimes see, and must be accepted on purpose (`cargo insta review`).

use std::fmt::Write as _;
use std::time::Duration;

use super::*;
use crate::oci::json::Document;
use crate::oci::Tag;
use crate::policy::DenialCode;

fn upstream(kind: UpstreamErrorKind) -> ProxyError {
    ProxyError::from(UpstreamError::new(&"registry.test".parse().unwrap(), kind))
}

fn cases() -> Vec<(&'static str, ProxyError)> {
    let digest = Digest::sha256_of(b"manifest");
    let other = Digest::sha256_of(b"other");
    let unreadable =
        crate::oci::json::read::<serde_json::Value>(br#"{"a":1,"a":2}"#, Document::Manifest)
            .unwrap_err();
    let not_found = |resource, in_store| UpstreamErrorKind::NotFound { resource, in_store };
    vec![
        (
            "route: not found",
            RouteError::NotFound("/v3/x".into()).into(),
        ),
        (
            "route: method not allowed",
            RouteError::MethodNotAllowed("PUT".into()).into(),
        ),
        (
            "route: name",
            RouteError::Name("Bad Name".parse::<Repository>().unwrap_err()).into(),
        ),
        (
            "route: reference (tag)",
            RouteError::Reference(ReferenceError::Tag("bad tag!".parse::<Tag>().unwrap_err()))
                .into(),
        ),
        (
            "route: reference (digest)",
            RouteError::Reference(ReferenceError::Digest(
                "md5:00".parse::<Digest>().unwrap_err(),
            ))
            .into(),
        ),
        (
            "route: digest",
            RouteError::Digest("sha256:xyz".parse::<Digest>().unwrap_err()).into(),
        ),
        (
            "route: unconfigured registry",
            RouteError::UnconfiguredRegistry("evil.test".into()).into(),
        ),
        (
            "route: no default upstream",
            RouteError::NoDefaultUpstream.into(),
        ),
        (
            "route: query",
            RouteError::Query("n", "not a number".into()).into(),
        ),
        (
            "upstream: manifest not found",
            upstream(not_found(Resource::Manifest, false)),
        ),
        (
            "upstream: tag not found",
            upstream(not_found(Resource::Tag, false)),
        ),
        (
            "upstream: blob not found in store",
            upstream(not_found(Resource::Blob, true)),
        ),
        (
            "upstream: repository not found",
            upstream(not_found(Resource::Repository, false)),
        ),
        (
            "upstream: referrers not found",
            upstream(not_found(Resource::Referrers, false)),
        ),
        (
            "upstream: unauthorized",
            upstream(UpstreamErrorKind::Unauthorized(401)),
        ),
        (
            "upstream: rate limited",
            upstream(UpstreamErrorKind::RateLimited {
                retry_after: Some("30".into()),
            }),
        ),
        (
            "upstream: rate limited, no retry-after",
            upstream(UpstreamErrorKind::RateLimited { retry_after: None }),
        ),
        (
            "upstream: status",
            upstream(UpstreamErrorKind::Status(503, "manifest")),
        ),
        (
            "upstream: timeout",
            upstream(UpstreamErrorKind::Timeout {
                what: "manifest",
                after: Duration::from_secs(5),
            }),
        ),
        (
            "upstream: connect",
            upstream(UpstreamErrorKind::Connect("connection refused".into())),
        ),
        (
            "upstream: digest mismatch",
            upstream(UpstreamErrorKind::DigestMismatch {
                expected: digest.clone(),
                actual: other,
            }),
        ),
        (
            "upstream: manifest too large",
            upstream(UpstreamErrorKind::TooLarge {
                what: "manifest",
                limit: 4194304,
            }),
        ),
        (
            "upstream: blob too large",
            upstream(UpstreamErrorKind::TooLarge {
                what: "signature payload",
                limit: 65536,
            }),
        ),
        (
            "upstream: bad response",
            upstream(UpstreamErrorKind::BadResponse(
                "no Docker-Content-Digest".into(),
            )),
        ),
        (
            "upstream: unreadable",
            upstream(UpstreamErrorKind::Unreadable {
                what: "a manifest".into(),
                error: unreadable,
            }),
        ),
        (
            "upstream: token",
            upstream(UpstreamErrorKind::Token("HTTP 500".into())),
        ),
        (
            "denied",
            ProxyError::Denied(Denial {
                image: "registry.test/strict/app".into(),
                digest: digest.clone(),
                policy: Some("strict".into()),
                reasons: vec!["authority 'release': no signatures found".into()],
                transient: false,
                code: DenialCode::NoSignatures,
            }),
        ),
        (
            "blob not admitted",
            ProxyError::BlobNotAdmitted {
                repository: "strict/app".parse().unwrap(),
                digest: digest.clone(),
            },
        ),
        (
            "artifact blob",
            ProxyError::ArtifactBlob {
                digest,
                why: "upstream 'registry.test': blob not found".into(),
            },
        ),
        (
            "internal",
            ProxyError::Internal("a secret detail for the logs only".into()),
        ),
    ]
}

#[test]
fn every_error_maps_to_its_response() {
    let mut table = String::new();
    for (name, err) in cases() {
        let response = err.response(false);
        writeln!(table, "{name}: {}", response.status()).unwrap();
        for (header, value) in response.headers() {
            writeln!(table, "  {header}: {}", value.to_str().unwrap()).unwrap();
        }
        let body = match response.into_body() {
            http_body_util::Either::Left(full) => full,
            http_body_util::Either::Right(_) => panic!("{name}: an error body streams"),
        };
        let bytes = futures_bytes(body);
        writeln!(table, "  {}", String::from_utf8(bytes).unwrap()).unwrap();
        assert!(err
            .response(true)
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .is_some());
    }
    insta::assert_snapshot!(table);
}

/// A `Full` body's bytes, without a runtime: it is ready at once.
fn futures_bytes(body: http_body_util::Full<bytes::Bytes>) -> Vec<u8> {
    use http_body::Body as _;
    let mut body = std::pin::pin!(body);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut out = Vec::new();
    while let std::task::Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        if let Ok(data) = frame.unwrap().into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}
