//! The strict JSON reader end to end (issue 10, class 1): manifests that
//! Go's `encoding/json` and serde read differently are accepted by the real
//! registry (which reads them with Go) and refused by signgate with
//! `MANIFEST_INVALID` naming the key, whatever the policy; nothing of them
//! is served, and containerd pulling the key-case image through signgate
//! gets nothing. A manifest that is an index and an image at once, which
//! the real registry refuses to store, is played by an in-process fake.

use std::sync::OnceLock;

use http::{Method, StatusCode};
use serde_json::Value;

use crate::support::block_on;
use crate::support::containerd::{hosts_dir, Containerd};
use crate::support::fake::{not_found, reply, Fake};
use crate::support::http::{get, put, send};
use crate::support::image::{self, Layout, OCI_INDEX, OCI_MANIFEST};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const REPO: &str = "strict/app";

/// The registry, one real image in `strict/app:v1`, and hostile manifests
/// over its blobs pushed under other tags.
struct World {
    registry: Registry,
    image: String,
    layer: String,
    /// tag → (digest, the message signgate must refuse it with).
    hostile: Vec<(&'static str, String, String)>,
    _layout: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let host = registry.host();
        let dir = tempfile::tempdir().unwrap();
        let mut layout = Layout::new(dir.path());
        let m = layout.image("amd64", &[("run.sh", b"echo this must never run\n")]);
        layout.tag(&m, "v1");
        image::push(dir.path(), "v1", &format!("{host}/{REPO}:v1"), None);
        let bytes = std::fs::read(
            dir.path()
                .join("blobs/sha256")
                .join(m.digest.trim_start_matches("sha256:")),
        )
        .unwrap();
        let manifest: Value = serde_json::from_slice(&bytes).unwrap();
        let config = manifest["config"].to_string();
        let real = manifest["layers"][0].clone();
        let layer = real["digest"].as_str().unwrap().to_owned();
        let mut relabelled = real.clone();
        relabelled["mediaType"] = SIMPLE_SIGNING.into();
        let (real, relabelled) = (real.to_string(), relabelled.to_string());
        let head = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config}"#);
        let twice_typed = real.replacen(
            r#""mediaType":"#,
            &format!(r#""mediaType":"{SIMPLE_SIGNING}","MediaType":"#),
            1,
        );
        let cases: [(&str, String, &str); 4] = [
            (
                "key-case",
                format!(r#"{head},"layers":[{relabelled}],"Layers":[{real}]}}"#),
                "key `Layers` at `$` would be read as `layers` by Go",
            ),
            (
                "long-s",
                format!("{head},\"layers\":[{relabelled}],\"layer\u{17F}\":[{real}]}}"),
                "key `layer\\u{17f}` at `$` would be read as `layers` by Go",
            ),
            (
                "nested-case",
                format!(r#"{head},"layers":[{twice_typed}]}}"#),
                "key `MediaType` at `$.layers[0]` would be read as `mediaType` by Go",
            ),
            (
                "duplicate",
                format!(r#"{head},"layers":[{relabelled}],"layers":[{real}]}}"#),
                "duplicate key `layers` at `$`",
            ),
        ];
        let mut hostile = Vec::new();
        for (tag, body, message) in cases {
            let digest = image::sha256(body.as_bytes());
            put_manifest(&registry, tag, OCI_MANIFEST, body.into_bytes());
            hostile.push((tag, digest, message.to_owned()));
        }
        // A referrers index (tag schema: distribution 2.8 has no referrers
        // API) whose descriptor carries its digest twice, in two cases.
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","Digest":"{d}","size":{size}}}]}}"#,
            d = m.digest,
            size = m.size
        );
        put_manifest(
            &registry,
            &m.digest.replace(':', "-"),
            OCI_INDEX,
            index.into_bytes(),
        );
        World {
            registry,
            image: m.digest,
            layer,
            hostile,
            _layout: dir,
        }
    })
}

fn put_manifest(registry: &Registry, tag: &str, content_type: &'static str, body: Vec<u8>) {
    let url = format!("{}/v2/{REPO}/manifests/{tag}", registry.url());
    let status = block_on(async move { put(&url, content_type, body).await });
    assert_eq!(status, 201, "the registry accepts the {tag} manifest");
}

fn signgate(no_match: &str) -> Signgate {
    let w = world();
    Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!("no-match-policy: {no_match}\n"),
    )
}

async fn manifest(sg: &Signgate, method: Method, reference: &str) -> crate::support::http::Reply {
    send(
        method,
        &sg.url(&format!("/v2/{REPO}/manifests/{reference}")),
        &[("accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}"))],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_go_and_serde_read_apart_are_refused_naming_the_key_whatever_the_policy() {
    let w = world();
    for no_match in ["deny", "allow"] {
        let sg = signgate(no_match);
        // The registry holds them: Go's encoding/json read each one.
        for (tag, digest, message) in &w.hostile {
            for reference in [*tag, digest.as_str()] {
                let r = manifest(&sg, Method::GET, reference).await;
                assert_eq!(r.status, 502, "{no_match} {tag} {reference}: {:?}", r.body);
                let (code, text) = r.oci_error();
                assert_eq!(code, "MANIFEST_INVALID", "{tag}: {text}");
                assert!(text.contains(message.as_str()), "{tag}: {text}");
                assert!(text.contains(&format!("manifest {digest}")), "{text}");
                assert!(r.header("docker-content-digest").is_none());
            }
            let r = manifest(&sg, Method::HEAD, tag).await;
            assert_eq!(r.status, 502, "HEAD {tag}");
            assert!(r.header("docker-content-digest").is_none());
        }
        // The image's layer was never made servable by them.
        let r = get(&sg.url(&format!("/v2/{REPO}/blobs/{}", w.layer))).await;
        if no_match == "deny" {
            assert_eq!(r.status, 403, "{:?}", r.body);
            assert_eq!(r.oci_error().0, "DENIED");
        }
    }
    // The same blobs under an honest manifest are served where policy allows
    // (the refusals above are about the keys, not the content).
    let sg = signgate("allow");
    let r = manifest(&sg, Method::GET, "v1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(w.image.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_referrers_list_go_and_serde_read_apart_is_refused_naming_the_key() {
    let w = world();
    let sg = signgate("allow");
    let r = get(&sg.url(&format!("/v2/{REPO}/referrers/{}", w.image))).await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    let (code, text) = r.oci_error();
    assert_eq!(code, "MANIFEST_INVALID");
    assert!(
        text.contains("key `Digest` at `$.manifests[0]` would be read as `digest` by Go"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_pulling_the_key_case_image_through_signgate_gets_nothing() {
    let w = world();
    let sg = signgate("deny");
    let containerd = Containerd::start();
    let hosts = hosts_dir(
        "registry.test",
        &format!(
            "server = \"http://{h}\"\n\n[host.\"http://{h}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            h = sg.host()
        ),
    );
    let (ok, out) = containerd.pull(hosts.path(), &format!("registry.test/{REPO}:key-case"));
    assert!(!ok, "the key-case pull must fail: {out}");
    assert!(out.contains("502"), "{out}");
    assert!(
        sg.log_text()
            .contains("key `Layers` at `$` would be read as `layers` by Go"),
        "{}",
        sg.log_text()
    );
    let (_, images) = containerd.ctr(&["images", "ls", "-q"]);
    assert!(!images.contains("key-case"), "{images}");
    // No blob of it went to containerd.
    let (_, content) = containerd.ctr(&["content", "ls", "-q"]);
    assert!(!content.contains(&w.layer), "{content}");
}

/// Fake upstream: distribution refuses to store a manifest with both
/// `layers` and `manifests`, a hostile registry need not.
#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_manifest_that_is_an_index_and_an_image_at_once_is_refused() {
    let d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let body = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":2}}],"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":2}}]}}"#
    );
    let digest = image::sha256(body.as_bytes());
    let fake = Fake::start(move |r| {
        if r.path.contains("/manifests/") {
            reply(StatusCode::OK, &[("content-type", OCI_INDEX)], body.clone())
        } else {
            not_found()
        }
    })
    .await;
    let sg = Signgate::start(
        &[Up::new("fake.test", &fake.url()).default()],
        "no-match-policy: allow\n",
    );
    let r = get(&sg.url(&format!("/v2/lib/app/manifests/{digest}"))).await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    let (code, text) = r.oci_error();
    assert_eq!(code, "MANIFEST_INVALID");
    assert!(
        text.contains("keys `manifests` and `layers` at `$`: two kinds of manifest at once"),
        "{text}"
    );
}
