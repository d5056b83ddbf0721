//! Process lifecycle: graceful shutdown and structured logs.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http_body_util::BodyExt;
use sha2::Digest as _;

use crate::support::fake::{not_found, Dripping, Fake};
use crate::support::http::{get, stream};
use crate::support::signgate::Signgate;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_transfers_finish_then_exits() {
    // A blob that takes about a second to arrive: 40 chunks, 25 ms apart.
    const CHUNK: usize = 16 * 1024;
    const CHUNKS: usize = 40;
    let digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(vec![7u8; CHUNK * CHUNKS]))
    );
    let fake = Fake::start(move |r| {
        if r.path.contains("/blobs/") {
            let body = Dripping::new(
                CHUNK,
                Duration::from_millis(25),
                Arc::new(AtomicBool::new(false)),
            )
            .finite(CHUNKS);
            http::Response::builder()
                .header("content-length", (CHUNK * CHUNKS).to_string())
                .body(body.boxed())
                .unwrap()
        } else {
            not_found()
        }
    })
    .await;
    let sg = Signgate::start_yaml(&format!(
        "no-match-policy: allow\nblobs: passthrough\nupstreams:\n  - {{name: fake.test, url: '{}', insecure: true, default: true}}\n",
        fake.url()
    ));
    let response = stream(
        Method::GET,
        &sg.url(&format!("/v2/lib/app/blobs/{digest}")),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    sg.child.signal("TERM");
    // New connections are refused soon after the signal...
    crate::support::wait_for(5, "the listener to close", || {
        !crate::support::port_open(sg.port)
    });
    // ...while the transfer in flight completes, whole and verified.
    let body = response
        .into_body()
        .collect()
        .await
        .expect("in-flight body completes")
        .to_bytes();
    assert_eq!(body.len(), CHUNK * CHUNKS);
    crate::support::wait_for(10, "signgate to exit", || !sg.child.is_running());
    assert!(sg.log_text().contains("shutting down"), "{}", sg.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_one_record_per_request_with_its_fields() {
    let w = crate::support::world::world();
    let sg = Signgate::start_yaml_with_args(
        &format!(
            "no-match-policy: allow\nupstreams:\n  - {{name: registry.test, url: '{}', insecure: true, default: true}}\n",
            w.registry.url()
        ),
        &["--log-format", "json"],
    );
    let r = get(&sg.url("/v2/test/single/manifests/v1")).await;
    assert_eq!(r.status, 200);
    crate::support::wait_for(5, "the request record", || {
        sg.log_text().contains("\"status\":200")
    });
    let record: serde_json::Value = sg
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "request" && v["status"] == 200)
        .expect("a JSON request record");
    let span = &record["span"];
    assert_eq!(span["upstream"], "registry.test");
    assert_eq!(span["repository"], "test/single");
    assert_eq!(span["reference"], "v1");
    assert_eq!(span["digest"], w.single.digest.as_str());
    assert!(record["duration_us"].as_u64().is_some(), "{record}");
}
