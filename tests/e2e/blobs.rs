//! Blob streaming: constant memory, cancellation on disconnect, storage
//! redirects without credential leaks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use sha2::Digest as _;

use crate::support::fake::{not_found, reply, Dripping, Fake};
use crate::support::http::{send, stream};
use crate::support::image::sha256;
use crate::support::signgate::{Signgate, Up};
use crate::support::world::{world, BIG};

#[tokio::test(flavor = "multi_thread")]
async fn streaming_a_64_mib_blob_keeps_memory_flat_and_bytes_exact() {
    let w = world();
    let sg = Signgate::start(&[Up::new("registry.test", &w.registry.url()).default()], "");
    // Warm up (and admit the layer): the image's manifest, as a client would.
    let warm = send(
        Method::GET,
        &sg.url(&format!("/v2/test/big/manifests/{}", w.big_manifest.digest)),
        &[("accept", crate::support::image::OCI_MANIFEST)],
    )
    .await;
    assert_eq!(warm.status, 200);
    let before = sg.child.peak_rss_kib();

    let response = stream(
        Method::GET,
        &sg.url(&format!("/v2/test/big/blobs/{}", w.big_layer.digest)),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut hasher = sha2::Sha256::new();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            received += data.len();
            hasher.update(&data);
        }
    }
    assert_eq!(received, w.big_layer.size);
    assert!(received > BIG);
    assert_eq!(
        format!("sha256:{}", hex::encode(hasher.finalize())),
        w.big_layer.digest
    );

    let after = sg.child.peak_rss_kib();
    let growth = after.saturating_sub(before);
    println!("signgate peak RSS: {before} KiB before, {after} KiB after streaming {received} bytes (+{growth} KiB)");
    assert!(
        growth < 16 * 1024,
        "peak RSS grew by {growth} KiB streaming a 64 MiB blob"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_mid_blob_cancels_the_upstream_transfer() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let fake = Fake::start(move |r| {
        if r.path.contains("/blobs/") {
            let body = Dripping::new(64 * 1024, Duration::from_millis(5), flag.clone());
            http::Response::builder()
                .status(200)
                .header("content-length", "10737418240")
                .body(http_body_util::BodyExt::boxed(body))
                .unwrap()
        } else {
            not_found()
        }
    })
    .await;
    let sg = Signgate::start(
        &[Up::new("fake.test", &fake.url()).default()],
        "blobs: passthrough\n",
    );
    let digest = sha256(b"an endless blob");
    let response = stream(
        Method::GET,
        &sg.url(&format!("/v2/lib/app/blobs/{digest}")),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = 0;
    while received < 512 * 1024 {
        let frame = body.frame().await.expect("more frames").expect("frame");
        received += frame.into_data().map(|d| d.len()).unwrap_or(0);
    }
    assert!(
        !dropped.load(Ordering::SeqCst),
        "still streaming while the client reads"
    );
    drop(body);
    crate::support::wait_for(5, "the upstream transfer to be cancelled", || {
        dropped.load(Ordering::SeqCst)
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_redirects_are_followed_without_leaking_upstream_credentials() {
    let blob = vec![3u8; 100_000];
    let digest = sha256(&blob);
    let served = blob.clone();
    let storage = Fake::start(move |r| {
        if r.query.as_deref() == Some("X-Signature=presigned") {
            reply(
                StatusCode::OK,
                &[("content-type", "application/octet-stream")],
                served.clone(),
            )
        } else {
            reply(StatusCode::FORBIDDEN, &[], "missing signature")
        }
    })
    .await;
    let location = format!("{}/bucket/blob?X-Signature=presigned", storage.url());
    let expected_auth = "Basic dXBzdHJlYW0tdXNlcjp1cHN0cmVhbS1wYXNz"; // upstream-user:upstream-pass
    let upstream = Fake::start(move |r| {
        if r.headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected_auth) {
            return reply(
                StatusCode::UNAUTHORIZED,
                &[("www-authenticate", "Basic realm=\"fake\"")],
                "",
            );
        }
        if r.path.contains("/blobs/") {
            reply(
                StatusCode::TEMPORARY_REDIRECT,
                &[("location", &location)],
                "",
            )
        } else {
            not_found()
        }
    })
    .await;
    let sg = Signgate::start(
        &[Up::new("fake.test", &upstream.url())
            .default()
            .extra("auth: {username: upstream-user, password: upstream-pass}")],
        "blobs: passthrough\n",
    );
    let r = send(
        Method::GET,
        &sg.url(&format!("/v2/lib/app/blobs/{digest}")),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(&r.body[..], &blob[..]);
    let storage_requests = storage.recorded();
    assert_eq!(storage_requests.len(), 1);
    assert!(
        storage_requests[0].headers.get("authorization").is_none(),
        "credentials leaked to storage"
    );
    assert!(
        upstream
            .recorded()
            .iter()
            .any(|q| q.headers.get("authorization").is_some()),
        "the upstream did get them"
    );
}
