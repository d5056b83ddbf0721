//! containerd end to end: signgate as the `server` of a registry in
//! `hosts.toml` enforces; signgate as a mere mirror `[host]` is bypassed by
//! containerd's fallback — which is why `deploy/containerd/` ships the
//! former.

use crate::support::containerd::{as_mirror, as_server, hosts_dir, Containerd};
use crate::support::enforce::enforcing;
use crate::support::signed::signed_world;

#[tokio::test(flavor = "multi_thread")]
async fn containerd_pulls_signed_images_and_is_refused_unsigned_ones_without_fallback() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let containerd = Containerd::start();
    let hosts = hosts_dir("registry.test", &as_server(&sg.host()));

    let (ok, out) = containerd.pull(hosts.path(), "registry.test/enf/signed:v1");
    assert!(ok, "signed pull: {out}");

    let (ok, out) = containerd.pull(hosts.path(), "registry.test/enf/unsigned:v1");
    assert!(!ok, "unsigned pull must fail: {out}");
    assert!(out.contains("403 Forbidden"), "{out}");
    // containerd 1.6 resolves with HEAD, whose answer has no body; the
    // reason is in signgate's log and in the GET answer (see README).
    assert!(
        sg.log_text().contains("no signatures found"),
        "{}",
        sg.log_text()
    );
    // Nothing fell back: the registry never saw containerd ask for the
    // unsigned image's manifest (signgate itself asked, with its own agent).
    let log = w.registry.log_text();
    let from_containerd: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("/v2/enf/unsigned/manifests/") && l.contains("containerd"))
        .collect();
    assert!(
        from_containerd.is_empty(),
        "containerd fell back to the registry: {from_containerd:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn as_a_mere_mirror_host_signgate_is_bypassed_by_containerds_fallback() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let containerd = Containerd::start();
    let hosts = hosts_dir("registry.test", &as_mirror(&sg.host(), &w.registry.host()));
    // An image signgate denies (signed by an untrusted key); a different one
    // from the test above, which checks the shared registry log.
    let (ok, out) = containerd.pull(hosts.path(), "registry.test/enf/otherkey:v1");
    assert!(
        ok,
        "containerd falls back to the server after signgate's 403: {out}"
    );
    assert!(
        sg.log_text().contains("untrusted key"),
        "signgate did deny it first"
    );
    assert!(w
        .registry
        .log_text()
        .lines()
        .any(|l| l.contains("/v2/enf/otherkey/manifests/") && l.contains("containerd")));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_head_denials_deferred_containerd_users_see_signgates_reason() {
    let w = signed_world();
    let dir = tempfile::tempdir().unwrap();
    crate::support::enforce::write_policy(dir.path(), &w.trusted.public_pem(), "");
    let sg = crate::support::signgate::Signgate::start(
        &[crate::support::signgate::Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\nhead-denials: defer-to-get\n",
            dir.path().display()
        ),
    );
    let containerd = Containerd::start();
    let hosts = hosts_dir("registry.test", &as_server(&sg.host()));
    let (ok, out) = containerd.pull(hosts.path(), "registry.test/enf/corrupted:v1");
    assert!(!ok, "{out}");
    assert!(
        out.contains("denied by policy enforced") && out.contains("untrusted key"),
        "ctr shows signgate's reason: {out}"
    );
    // The signed image still pulls, and HEAD carried no manifest bytes.
    let (ok, out) = containerd.pull(hosts.path(), "registry.test/enf/signed:v1");
    assert!(ok, "{out}");
    let h = crate::support::http::send(
        http::Method::HEAD,
        &sg.url("/v2/enf/corrupted/manifests/v1"),
        &[],
    )
    .await;
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    // A placeholder's digest, never the denied one (containerd would use a
    // digest it already holds without a GET: tests/e2e/head_denials.rs).
    let announced = h.header("docker-content-digest").unwrap();
    assert_ne!(announced, w.corrupted.digest.as_str());
    let p = crate::support::http::get(&sg.url(&format!("/v2/enf/corrupted/manifests/{announced}")))
        .await;
    assert_eq!(p.status, 403);
    assert!(p.oci_error().1.contains("untrusted key"), "{:?}", p.body);
    let g = crate::support::http::get(&sg.url("/v2/enf/corrupted/manifests/v1")).await;
    assert_eq!(g.status, 403);
}
