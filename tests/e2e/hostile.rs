//! Hostile and broken upstreams, played by in-process fakes: lying digests,
//! oversized manifests, slow and dead upstreams, a referrers API.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::support::fake::{not_found, reply, Fake};
use crate::support::http::{get, send};
use crate::support::image::{sha256, OCI_INDEX, OCI_MANIFEST};
use crate::support::signgate::{Signgate, Up};

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
const OTHER: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"annotations":{"evil":"yes"}}"#;

fn signgate_for(fake: &Fake, extra: &str) -> Signgate {
    Signgate::start(&[Up::new("fake.test", &fake.url()).default()], extra)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_whose_bytes_do_not_match_the_requested_digest_is_refused() {
    // The lying upstream serves OTHER for any manifest request.
    let fake = Fake::start(|r| {
        if r.path.contains("/manifests/") {
            reply(StatusCode::OK, &[("content-type", OCI_MANIFEST)], OTHER)
        } else {
            not_found()
        }
    })
    .await;
    let sg = signgate_for(&fake, "");
    let wanted = sha256(MANIFEST.as_bytes());
    let r = get(&sg.url(&format!("/v2/lib/app/manifests/{wanted}"))).await;
    assert_eq!(r.status, 502);
    let (code, message) = r.oci_error();
    assert_eq!(code, "DIGEST_INVALID");
    assert!(
        message.contains(&wanted) && message.contains(&sha256(OTHER.as_bytes())),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_whose_head_digest_lies_is_refused_not_served() {
    // HEAD claims MANIFEST's digest; GET by that digest returns OTHER.
    let claimed = sha256(MANIFEST.as_bytes());
    let fake = Fake::start(move |r| match (&r.method, r.path.as_str()) {
        (&Method::HEAD, "/v2/lib/app/manifests/v1") => reply(
            StatusCode::OK,
            &[
                ("content-type", OCI_MANIFEST),
                ("docker-content-digest", &claimed),
            ],
            "",
        ),
        (&Method::GET, p) if p.starts_with("/v2/lib/app/manifests/") => {
            reply(StatusCode::OK, &[("content-type", OCI_MANIFEST)], OTHER)
        }
        _ => not_found(),
    })
    .await;
    let sg = signgate_for(&fake, "");
    let r = get(&sg.url("/v2/lib/app/manifests/v1")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.oci_error().0, "DIGEST_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tag_without_a_head_digest_is_pinned_to_the_digest_signgate_computes() {
    let fake = Fake::start(|r| match (&r.method, r.path.as_str()) {
        (&Method::HEAD, _) => reply(StatusCode::OK, &[("content-type", OCI_MANIFEST)], ""),
        (&Method::GET, "/v2/lib/app/manifests/v1") => {
            reply(StatusCode::OK, &[("content-type", OCI_MANIFEST)], MANIFEST)
        }
        _ => not_found(),
    })
    .await;
    let sg = signgate_for(&fake, "");
    let r = get(&sg.url("/v2/lib/app/manifests/v1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], MANIFEST.as_bytes());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(sha256(MANIFEST.as_bytes()).as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_manifests_are_refused_whether_declared_or_streamed() {
    let big = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[],"pad":"{}"}}"#,
        "x".repeat(5 << 20)
    );
    let big_digest = sha256(big.as_bytes());
    let body = big.clone();
    let fake = Fake::start(move |r| {
        if r.path.ends_with("/manifests/declared") || r.path.contains("/manifests/sha256:") {
            reply(
                StatusCode::OK,
                &[("content-type", OCI_MANIFEST)],
                body.clone(),
            )
        } else {
            not_found()
        }
    })
    .await;
    let sg = signgate_for(&fake, "");
    let r = get(&sg.url(&format!("/v2/lib/app/manifests/{big_digest}"))).await;
    assert_eq!(r.status, 502);
    let (code, message) = r.oci_error();
    assert_eq!(code, "MANIFEST_INVALID");
    assert!(message.contains("larger than 4194304 bytes"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_that_are_not_manifests_are_refused() {
    let html = "<html>oops</html>";
    let digest = sha256(html.as_bytes());
    let fake =
        Fake::start(move |_| reply(StatusCode::OK, &[("content-type", "text/html")], html)).await;
    let sg = signgate_for(&fake, "");
    let r = get(&sg.url(&format!("/v2/lib/app/manifests/{digest}"))).await;
    assert_eq!(r.status, 502);
    assert!(
        r.oci_error().1.contains("not a JSON manifest"),
        "{:?}",
        r.oci_error()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_whose_bytes_do_not_match_its_digest_never_completes() {
    let body = vec![1u8; 300_000];
    let claimed = sha256(b"something else entirely");
    let fake = Fake::start(move |_| {
        reply(
            StatusCode::OK,
            &[("content-type", "application/octet-stream")],
            body.clone(),
        )
    })
    .await;
    let sg = signgate_for(&fake, "blobs: passthrough\n");
    let response = crate::support::http::stream(
        Method::GET,
        &sg.url(&format!("/v2/lib/app/blobs/{claimed}")),
        &[],
    )
    .await;
    assert_eq!(
        response.status(),
        200,
        "headers go out before the digest is known"
    );
    let collected = http_body_util::BodyExt::collect(response.into_body()).await;
    assert!(
        collected.is_err(),
        "the transfer must be cut short, never completed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_matching_blob_is_served_whole_without_client_credentials_upstream() {
    let body = vec![9u8; 200_000];
    let digest = sha256(&body);
    let served = body.clone();
    let fake = Fake::start(move |_| reply(StatusCode::OK, &[], served.clone())).await;
    let sg = signgate_for(&fake, "blobs: passthrough\n");
    let r = send(
        Method::GET,
        &sg.url(&format!("/v2/lib/app/blobs/{digest}")),
        &[("authorization", "Bearer client-secret"), ("cookie", "c=1")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &body[..]);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    for req in fake.recorded() {
        assert!(
            req.headers.get("authorization").is_none(),
            "client credentials leaked: {req:?}"
        );
        assert!(req.headers.get("cookie").is_none(), "client cookie leaked");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_upstream_times_out_with_a_clear_error() {
    // Accepts connections, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let sg = Signgate::start(
        &[Up::new("slow.test", &url).default()],
        "timeouts: {response: 1s}\n",
    );
    let started = Instant::now();
    let r = get(&sg.url("/v2/lib/app/manifests/v1")).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r.status, 504);
    assert!(
        r.oci_error().1.contains("timed out after 1s"),
        "{:?}",
        r.oci_error()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_upstream_is_a_bad_gateway() {
    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let sg = Signgate::start(&[Up::new("dead.test", &url).default()], "");
    let r = get(&sg.url("/v2/lib/app/manifests/v1")).await;
    assert_eq!(r.status, 502);
    let (code, message) = r.oci_error();
    assert_eq!(code, "UNKNOWN");
    assert!(message.contains("cannot be reached"), "{message}");
    assert!(
        !message.contains(&port.to_string()) || message.contains("dead.test"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_passed_on_with_retry_after() {
    let fake =
        Fake::start(|_| reply(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "17")], "")).await;
    let sg = signgate_for(&fake, "");
    let r = get(&sg.url("/v2/lib/app/manifests/v1")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.oci_error().0, "TOOMANYREQUESTS");
    assert_eq!(r.header("retry-after"), Some("17"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referrers_api_is_used_and_filtered_when_the_upstream_does_not_filter() {
    let subject = sha256(b"subject");
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(b"a"), "size": 1, "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"},
        {"mediaType": OCI_MANIFEST, "digest": sha256(b"b"), "size": 1, "artifactType": "application/spdx+json"},
    ]})
    .to_string();
    let fake = Fake::start(move |r| {
        if r.path.contains("/referrers/") {
            reply(
                StatusCode::OK,
                &[("content-type", OCI_INDEX)],
                index.clone(),
            )
        } else {
            not_found()
        }
    })
    .await;
    let sg = signgate_for(&fake, "");
    let r = get(&sg.url(&format!(
        "/v2/lib/app/referrers/{subject}?artifactType=application%2Fspdx%2Bjson"
    )))
    .await;
    assert_eq!(r.status, 200);
    let manifests = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["artifactType"], "application/spdx+json");
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let upstream = fake.recorded();
    assert!(upstream
        .iter()
        .any(|q| q.path == format!("/v2/lib/app/referrers/{subject}")));
    assert!(
        !upstream.iter().any(|q| q.path.contains("/manifests/")),
        "no tag-schema fallback needed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_never_reach_the_upstream() {
    let fake = Fake::start(|_| not_found()).await;
    let sg = signgate_for(&fake, "");
    for path in [
        "/v2/../../etc/passwd/manifests/v1",
        "/v2/lib/app/manifests/..%2f..%2fx",
        "/v2/lib%2fapp/manifests/v1",
        "/v2/lib/app/blobs/sha256:..%2f..",
    ] {
        let r = get(&sg.url(path)).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
    }
    assert!(fake.recorded().is_empty(), "{:?}", fake.recorded());
}
