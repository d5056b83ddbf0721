//! Issue 10, class 2: a denied manifest's real digest never appears in a
//! 2xx answer, in either `head-denials` mode.
//!
//! containerd's content store is shared across registries and
//! repositories: an image pulled once through a repository whose policy
//! passes it must not then be pullable under a strict repository's name by
//! the same digest — which it was while a denied `HEAD` answered `200` with
//! that digest (`defer-to-get`), since containerd then fetches nothing.

use std::sync::OnceLock;

use http::Method;

use crate::support::containerd::as_server;
use crate::support::containerd::{hosts_dir, Containerd};
use crate::support::cosign::KeyPair;
use crate::support::http::{send, Reply};
use crate::support::image::{self, Blob, Layout, OCI_MANIFEST};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};

/// One unsigned image, pushed under a lenient and a strict repository (one
/// digest), and the key the strict policy trusts.
struct Shared {
    registry: Registry,
    key: KeyPair,
    image: Blob,
    _layouts: tempfile::TempDir,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let layouts = tempfile::tempdir().unwrap();
        let dir = layouts.path().join("app");
        let mut layout = Layout::new(&dir);
        let image = layout.image("amd64", &[("hd.txt", b"head denials: one digest\n")]);
        layout.tag(&image, "v1");
        for repo in ["hd/lenient/app", "hd/strict/app"] {
            image::push(&dir, "v1", &format!("{}/{repo}:v1", registry.host()), None);
        }
        Shared {
            registry,
            key: KeyPair::generate(),
            image,
            _layouts: layouts,
        }
    })
}

/// signgate with `static: pass` for `hd/lenient/**`, a key authority for
/// `hd/strict/**`, and `head-denials: <mode>`.
fn gate(mode: &str) -> (Signgate, tempfile::TempDir) {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lenient.yaml"),
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: lenient\nspec:\n  images:\n    - glob: registry.test/hd/lenient/**\n  authorities:\n    - static: {action: pass}\n",
    )
    .unwrap();
    let key: String = s
        .key
        .public_pem()
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    std::fs::write(
        dir.path().join("strict.yaml"),
        format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: strict\nspec:\n  images:\n    - glob: registry.test/hd/strict/**\n  authorities:\n    - name: release\n      key:\n        data: |\n{key}"),
    )
    .unwrap();
    let sg = Signgate::start(
        &[Up::new("registry.test", &s.registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\nhead-denials: {mode}\n",
            dir.path().display()
        ),
    );
    (sg, dir)
}

const ACCEPT: (&str, &str) = (
    "accept",
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
);

async fn ask(sg: &Signgate, method: Method, repo: &str, reference: &str) -> Reply {
    send(
        method,
        &sg.url(&format!("/v2/{repo}/manifests/{reference}")),
        &[ACCEPT],
    )
    .await
}

/// The one property: a 2xx answer names neither in a header nor in its
/// body the denied digest.
fn assert_no_2xx_names(r: &Reply, denied: &str, what: &str) {
    if r.status.is_success() {
        assert_ne!(
            r.header("docker-content-digest"),
            Some(denied),
            "{what}: a 2xx named the denied digest"
        );
        let hex = denied.trim_start_matches("sha256:");
        assert!(
            !String::from_utf8_lossy(&r.body).contains(hex),
            "{what}: a 2xx body names the denied digest"
        );
    }
}

/// A `403 DENIED` carrying the strict policy's reason for the image.
fn assert_denied_with_reason(r: &Reply, denied: &str, what: &str) {
    assert_eq!(
        r.status,
        403,
        "{what}: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("docker-content-digest"), None, "{what}");
    let (code, message) = r.oci_error();
    assert_eq!(code, "DENIED", "{what}");
    assert!(
        message.contains(&format!(
            "registry.test/hd/strict/app@{denied} denied by policy strict"
        )) && message.contains("no signatures found"),
        "{what}: {message}"
    );
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], denied, "{what}");
}

async fn denied_manifest_over_http(mode: &str) {
    let s = shared();
    let (sg, _policies) = gate(mode);
    let real = s.image.digest.as_str();
    let strict = "hd/strict/app";

    // Where policy admits it, the digest is served as usual.
    let ok = ask(&sg, Method::HEAD, "hd/lenient/app", "v1").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("docker-content-digest"), Some(real));

    let head_tag = ask(&sg, Method::HEAD, strict, "v1").await;
    let head_digest = ask(&sg, Method::HEAD, strict, real).await;
    let get_tag = ask(&sg, Method::GET, strict, "v1").await;
    let get_digest = ask(&sg, Method::GET, strict, real).await;
    for (r, what) in [
        (&head_tag, "HEAD by tag"),
        (&head_digest, "HEAD by digest"),
        (&get_tag, "GET by tag"),
        (&get_digest, "GET by digest"),
    ] {
        assert_no_2xx_names(r, real, &format!("{mode}: {what}"));
    }
    // By digest a runtime uses the digest it asked for, whatever the answer
    // says: a HEAD by digest is refused in every mode.
    assert_eq!(head_digest.status, 403, "{mode}");
    assert_denied_with_reason(&get_tag, real, &format!("{mode}: GET by tag"));
    assert_denied_with_reason(&get_digest, real, &format!("{mode}: GET by digest"));

    match mode {
        "status" => {
            assert_eq!(head_tag.status, 403);
            assert_eq!(head_tag.header("docker-content-digest"), None);
        }
        "defer-to-get" => {
            assert_eq!(head_tag.status, 200);
            assert!(
                head_tag.body.is_empty(),
                "a placeholder's bytes are never served"
            );
            assert_eq!(head_tag.header("content-type"), Some(OCI_MANIFEST));
            let size: usize = head_tag.header("content-length").unwrap().parse().unwrap();
            assert!(size > 0 && size < 2048, "{size}");
            let placeholder = head_tag.header("docker-content-digest").unwrap().to_owned();
            assert!(placeholder.starts_with("sha256:") && placeholder != real);
            // The same placeholder for the same denial and policy revision.
            let again = ask(&sg, Method::HEAD, strict, "v1").await;
            assert_eq!(again.header("docker-content-digest"), Some(&*placeholder));

            // Its GET (what containerd does next) carries the denial's reason;
            // its HEAD is refused too. Nothing of it is ever a 2xx.
            let g = ask(&sg, Method::GET, strict, &placeholder).await;
            assert_denied_with_reason(&g, real, "GET of the placeholder");
            assert_eq!(g.header("content-type"), Some("application/json"));
            let h = ask(&sg, Method::HEAD, strict, &placeholder).await;
            assert_eq!(h.status, 403);
            // In another repository it stands for nothing: not found upstream.
            let elsewhere = ask(&sg, Method::GET, "hd/lenient/app", &placeholder).await;
            assert_eq!(elsewhere.status, 404, "{:?}", elsewhere.body);
            assert_eq!(elsewhere.oci_error().0, "MANIFEST_UNKNOWN");

            // A policy reload (a new revision) gets a new placeholder; the
            // old one still answers the denial, never bytes.
            sg.child.signal("HUP");
            crate::support::wait_for(10, "the reload", || {
                sg.log_text().contains("policies reloaded")
            });
            let reloaded = ask(&sg, Method::HEAD, strict, "v1").await;
            assert_eq!(reloaded.status, 200);
            let newer = reloaded.header("docker-content-digest").unwrap();
            assert!(newer != placeholder && newer != real, "{newer}");
            assert_denied_with_reason(
                &ask(&sg, Method::GET, strict, &placeholder).await,
                real,
                "the old placeholder after a reload",
            );
            assert_denied_with_reason(
                &ask(&sg, Method::GET, strict, newer).await,
                real,
                "the new placeholder",
            );
            assert!(sg.log_text().contains("HEAD answered with a placeholder"));
        }
        other => panic!("unknown mode {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_mode_denied_manifests_never_name_their_digest_in_a_2xx() {
    denied_manifest_over_http("status").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn defer_to_get_answers_a_denied_head_with_a_placeholder_whose_get_carries_the_reason() {
    denied_manifest_over_http("defer-to-get").await;
}

/// The attack with the real containerd: the digest lands in its content
/// store through the lenient repository; under the strict name the pull
/// fails, by tag and by digest, and no image is recorded under that name.
fn lenient_then_strict_with_containerd(mode: &str) {
    let s = shared();
    let (sg, _policies) = gate(mode);
    let real = s.image.digest.as_str();
    let containerd = Containerd::start();
    let hosts = hosts_dir("registry.test", &as_server(&sg.host()));

    let (ok, out) = containerd.pull(hosts.path(), "registry.test/hd/lenient/app:v1");
    assert!(ok, "{mode}: the lenient pull: {out}");
    let (ok, content) = containerd.ctr(&["content", "ls", "-q"]);
    assert!(
        ok && content.contains(real),
        "{mode}: in the content store: {content}"
    );

    let (ok, out) = containerd.pull(hosts.path(), "registry.test/hd/strict/app:v1");
    assert!(!ok, "{mode}: the strict pull by tag must fail: {out}");
    assert!(out.contains("403 Forbidden"), "{mode}: {out}");
    if mode == "defer-to-get" {
        // containerd 1.6 users see the reason: the placeholder's GET.
        assert!(
            out.contains("denied by policy strict") && out.contains("no signatures found"),
            "{mode}: ctr shows signgate's reason: {out}"
        );
    }
    let by_digest = format!("registry.test/hd/strict/app@{real}");
    let (ok, out) = containerd.pull(hosts.path(), &by_digest);
    assert!(!ok, "{mode}: the strict pull by digest must fail: {out}");
    assert!(out.contains("403 Forbidden"), "{mode}: {out}");

    let (ok, images) = containerd.ctr(&["images", "ls", "-q"]);
    assert!(ok, "{images}");
    assert!(
        images
            .lines()
            .any(|l| l == "registry.test/hd/lenient/app:v1"),
        "{mode}: {images}"
    );
    assert!(
        !images.contains("hd/strict"),
        "{mode}: containerd lists the denied image under the strict name: {images}"
    );
    assert!(
        sg.log_text().contains("no signatures found"),
        "{}",
        sg.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_cannot_pull_a_stored_digest_under_a_strict_name_with_head_denials_status() {
    lenient_then_strict_with_containerd("status");
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_cannot_pull_a_stored_digest_under_a_strict_name_with_head_denials_deferred() {
    lenient_then_strict_with_containerd("defer-to-get");
}
