//! In-line enforcement end to end: images signed with the real cosign in
//! the real registry, pulled through signgate with skopeo and plain HTTP,
//! with `cosign verify` as the reference verdict.

use http::Method;

use crate::support::block_on;
use crate::support::enforce::{denial_of, enforcing, manifest_path, pull, write_policy};
use crate::support::http::{get, send};
use crate::support::image::{self, skopeo, try_skopeo, Layout, OCI_MANIFEST};
use crate::support::signed::{raw_manifest, signed_world, Signed};
use crate::support::signgate::{Signgate, Up};

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_image_is_served_and_every_unsigned_variant_is_denied_with_its_reason() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");

    let ok = pull(&sg, "enf/signed", "v1").await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(w.signed.digest.as_str())
    );

    let m = denial_of(&pull(&sg, "enf/unsigned", "v1").await);
    assert!(
        m.starts_with(&format!(
            "signgate: registry.test/enf/unsigned@{} denied by policy enforced: ",
            w.unsigned.digest
        )),
        "{m}"
    );
    assert!(m.contains("no signatures found"), "{m}");

    let m = denial_of(&pull(&sg, "enf/otherkey", "v1").await);
    assert!(m.contains("signature by an untrusted key"), "{m}");

    // The tag moved to an unsigned image after signing: the tag is resolved
    // to what it names now, and that is unsigned.
    let m = denial_of(&pull(&sg, "enf/moved", "v1").await);
    assert!(
        m.contains(&w.moved_unsigned.digest) && m.contains("no signatures found"),
        "{m}"
    );
    let ok = pull(&sg, "enf/moved", &w.moved_signed.digest).await;
    assert_eq!(ok.status, 200, "the signed digest itself is still admitted");

    let m = denial_of(&pull(&sg, "enf/copied", "b").await);
    assert!(
        m.contains(&format!(
            "signature is for another image ({})",
            w.copied_a.digest
        )),
        "{m}"
    );
    assert_eq!(pull(&sg, "enf/copied", "a").await.status, 200);

    let m = denial_of(&pull(&sg, "enf/corrupted", "v1").await);
    assert!(
        m.contains("signature by an untrusted key (or corrupted)"),
        "{m}"
    );

    // HEAD answers the same, and the denial carries a structured detail.
    let h = send(
        Method::HEAD,
        &sg.url(&manifest_path("enf/unsigned", "v1")),
        &[],
    )
    .await;
    assert_eq!(h.status, 403);
    let r = pull(&sg, "enf/unsigned", "v1").await;
    let detail = &r.json()["errors"][0]["detail"];
    assert_eq!(detail["policy"], "enforced");
    assert_eq!(detail["digest"], w.unsigned.digest.as_str());
    assert_eq!(detail["image"], "registry.test/enf/unsigned");
}

#[tokio::test(flavor = "multi_thread")]
async fn signgate_agrees_with_cosign_verify_on_every_test_image() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let host = w.registry.host();
    let cases = [
        ("enf/signed", w.signed.digest.as_str(), true),
        ("enf/unsigned", w.unsigned.digest.as_str(), false),
        ("enf/otherkey", w.other_key.digest.as_str(), false),
        ("enf/moved", w.moved_unsigned.digest.as_str(), false),
        ("enf/moved", w.moved_signed.digest.as_str(), true),
        ("enf/copied", w.copied_b.digest.as_str(), false),
        ("enf/copied", w.copied_a.digest.as_str(), true),
        ("enf/corrupted", w.corrupted.digest.as_str(), false),
        ("enf/index", w.index.digest.as_str(), true),
    ];
    for (repo, digest, expected) in cases {
        let (cosign_ok, out) = w.trusted.verify(&format!("{host}/{repo}@{digest}"));
        assert_eq!(cosign_ok, expected, "cosign verify {repo}@{digest}: {out}");
        let r = pull(&sg, repo, digest).await;
        assert_eq!(
            r.status == 200,
            expected,
            "signgate {repo}@{digest}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        // `signgate verify` is the same pipeline, one-shot.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
            .args([
                "verify",
                &format!("registry.test/{repo}@{digest}"),
                "--output",
                "json",
                "--config",
            ])
            .arg(sg.dir.path().join("signgate.yaml"))
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(
            report["verdict"],
            if expected { "allowed" } else { "denied" },
            "{report}"
        );
        assert_eq!(out.status.code(), Some(if expected { 0 } else { 1 }));
    }
    // The other key's signature: cosign with the other key accepts it, as
    // does signgate configured with that key.
    let (ok, _) = w
        .other
        .verify(&format!("{host}/enf/otherkey@{}", w.other_key.digest));
    assert!(ok);
    let sg_other = enforcing(&w.other.public_pem(), "");
    assert_eq!(pull(&sg_other, "enf/otherkey", "v1").await.status, 200);
    assert_eq!(pull(&sg_other, "enf/signed", "v1").await.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_pulls_signed_images_through_signgate_and_sees_the_denial_for_unsigned_ones() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let dir = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{}/enf/signed:v1", sg.host()),
        format!("oci:{}:v1", dir.path().display()),
    ]);
    let (ok, out) = try_skopeo(&[
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{}/enf/unsigned:v1", sg.host()),
        format!("oci:{}:v2", dir.path().display()),
    ]);
    assert!(!ok);
    assert!(
        out.contains("denied by policy enforced") && out.contains("no signatures found"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_signature_admits_its_children_unless_policy_wants_per_platform_signatures() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let dir = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy".into(),
        "--all".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{}/enf/index:v1", sg.host()),
        format!("oci:{}:v1", dir.path().display()),
    ]);
    for child in &w.index_children {
        assert_eq!(pull(&sg, "enf/index", &child.digest).await.status, 200);
    }

    let strict = enforcing(&w.trusted.public_pem(), "  platformManifests: child\n");
    assert_eq!(
        pull(&strict, "enf/index", "v1").await.status,
        200,
        "the index itself is signed"
    );
    for child in &w.index_children {
        let m = denial_of(&pull(&strict, "enf/index", &child.digest).await);
        assert!(m.contains("no signatures found"), "{m}");
    }
    // Signed recursively, every child carries its own signature.
    let dir = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy".into(),
        "--all".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{}/enf/recursive:v1", strict.host()),
        format!("oci:{}:v1", dir.path().display()),
    ]);
    for child in &w.recursive_children {
        assert_eq!(
            pull(&strict, "enf/recursive", &child.digest).await.status,
            200
        );
    }
    assert_eq!(
        pull(&strict, "enf/recursive", &w.recursive.digest)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signature_artifacts_pass_through_for_client_side_verification() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let sig_tag = format!("{}.sig", w.signed.digest.replace(':', "-"));
    let r = pull(&sg, "enf/signed", &sig_tag).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    // And cosign itself verifies through signgate.
    let (ok, out) = w
        .trusted
        .verify(&format!("{}/enf/signed@{}", sg.host(), w.signed.digest));
    assert!(ok, "cosign verify through signgate: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_are_served_only_for_admitted_manifests() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let unsigned_manifest: serde_json::Value = serde_json::from_slice(&raw_manifest(
        &w.registry,
        "enf/unsigned",
        &w.unsigned.digest,
    ))
    .unwrap();
    let layer = unsigned_manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = get(&sg.url(&format!("/v2/enf/unsigned/blobs/{layer}"))).await;
    let (code, message) = r.oci_error();
    assert_eq!((r.status.as_u16(), code.as_str()), (403, "DENIED"));
    assert!(
        message.contains("not referenced by a manifest signgate admitted"),
        "{message}"
    );

    let signed_manifest: serde_json::Value =
        serde_json::from_slice(&pull(&sg, "enf/signed", "v1").await.body).unwrap();
    let layer = signed_manifest["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(
        get(&sg.url(&format!("/v2/enf/signed/blobs/{layer}")))
            .await
            .status,
        200
    );
    // Admission is per repository.
    assert_eq!(
        get(&sg.url(&format!("/v2/enf/unsigned/blobs/{layer}")))
            .await
            .status,
        403
    );
}

fn sig_fetches(w: &Signed, repo: &str, digest: &str) -> usize {
    let needle = format!("GET /v2/{repo}/manifests/{}.sig", digest.replace(':', "-"));
    w.registry
        .log_text()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_are_cached_and_concurrent_first_pulls_share_one_verification() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    // cosign itself read the .sig tags while signing: count from here.
    let before = sig_fetches(w, "enf/cacheprobe", &w.cache_probe.digest);
    assert_eq!(pull(&sg, "enf/cacheprobe", "v1").await.status, 200);
    assert_eq!(pull(&sg, "enf/cacheprobe", "v1").await.status, 200);
    crate::support::wait_for(5, "the access log", || {
        sig_fetches(w, "enf/cacheprobe", &w.cache_probe.digest) > before
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        sig_fetches(w, "enf/cacheprobe", &w.cache_probe.digest),
        before + 1,
        "second pull is a cache hit"
    );

    let before = sig_fetches(w, "enf/concurrent", &w.concurrent.digest);
    let mut pulls = Vec::new();
    for _ in 0..50 {
        let url = sg.url(&manifest_path("enf/concurrent", &w.concurrent.digest));
        pulls.push(tokio::spawn(async move {
            send(Method::GET, &url, &[("accept", OCI_MANIFEST)])
                .await
                .status
        }));
    }
    for p in pulls {
        assert_eq!(p.await.unwrap(), 200);
    }
    crate::support::wait_for(5, "the access log", || {
        sig_fetches(w, "enf/concurrent", &w.concurrent.digest) > before
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        sig_fetches(w, "enf/concurrent", &w.concurrent.digest),
        before + 1,
        "50 concurrent first pulls, one verification"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_reload_retires_cached_decisions_and_a_bad_edit_keeps_the_old_policies() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    assert_eq!(pull(&sg, "enf/signed", "v1").await.status, 200);
    let policies = sg.log_text();
    assert!(policies.contains("policies=1"), "{policies}");
    let dir = sg.dir.path().to_owned();
    let config = std::fs::read_to_string(dir.join("signgate.yaml")).unwrap();
    let policy_dir = config
        .lines()
        .find_map(|l| l.strip_prefix("policies: "))
        .unwrap()
        .to_owned();
    let policy_dir = std::path::Path::new(&policy_dir);

    // A broken edit: the previous policies stay in force.
    std::fs::write(policy_dir.join("enforced.yaml"), "apiVersion: nonsense\n").unwrap();
    sg.child.signal("HUP");
    crate::support::wait_for(10, "the failed reload to be logged", || {
        sg.log_text().contains("policy reload failed")
    });
    assert_eq!(pull(&sg, "enf/signed", "v1").await.status, 200);

    // Trust the other key instead: the cached allow must not survive.
    write_policy(policy_dir, &w.other.public_pem(), "");
    sg.child.signal("HUP");
    crate::support::wait_for(10, "the reload", || {
        sg.log_text().contains("policies reloaded")
    });
    let m = denial_of(&pull(&sg, "enf/signed", "v1").await);
    assert!(m.contains("untrusted key"), "{m}");
    assert_eq!(pull(&sg, "enf/otherkey", "v1").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn warn_mode_serves_with_a_warning_and_no_match_follows_the_config() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "  mode: warn\n");
    let r = pull(&sg, "enf/unsigned", "v1").await;
    assert_eq!(r.status, 200);
    let warning = r.header("warning").unwrap();
    assert!(
        warning.starts_with("299 - \"signgate: policy 'enforced' would deny"),
        "{warning}"
    );
    assert!(pull(&sg, "enf/signed", "v1")
        .await
        .header("warning")
        .is_none());

    // No policy matches `other/*`: denied by the default no-match-policy.
    let dir = tempfile::tempdir().unwrap();
    let dest = format!("{}/other/img:v1", w.registry.host());
    let mut layout = Layout::new(dir.path());
    let m = layout.image("amd64", &[("o", b"o")]);
    layout.tag(&m, "v1");
    image::push(dir.path(), "v1", &dest, None);
    let r = pull(&sg, "other/img", "v1").await;
    let message = denial_of(&r);
    assert!(
        message.contains("no policy matches this image and no-match-policy is deny"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_error_while_fetching_signatures_denies_and_is_not_cached() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use http::StatusCode;

    use crate::support::fake::{not_found, reply, Fake};

    // A fake upstream replaying the real signed image, whose first answer
    // for the signature tag is a 500.
    let w = signed_world();
    let manifest = raw_manifest(&w.registry, "enf/signed", &w.signed.digest);
    let sig_tag = format!("{}.sig", w.signed.digest.replace(':', "-"));
    let sig = raw_manifest(&w.registry, "enf/signed", &sig_tag);
    let sig_json: serde_json::Value = serde_json::from_slice(&sig).unwrap();
    let payload_digest = sig_json["layers"][0]["digest"].as_str().unwrap().to_owned();
    let payload_url = format!("{}/v2/enf/signed/blobs/{payload_digest}", w.registry.url());
    let payload = block_on(async move { get(&payload_url).await.body });
    let sig_requests = Arc::new(AtomicUsize::new(0));
    let counter = sig_requests.clone();
    let manifest_path = format!("/v2/enf/signed/manifests/{}", w.signed.digest);
    let sig_path = format!("/v2/enf/signed/manifests/{sig_tag}");
    let payload_path = format!("/v2/enf/signed/blobs/{payload_digest}");
    let fake = Fake::start(move |r| {
        if r.path == manifest_path {
            reply(
                StatusCode::OK,
                &[("content-type", OCI_MANIFEST)],
                manifest.clone(),
            )
        } else if r.path == sig_path {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                reply(StatusCode::INTERNAL_SERVER_ERROR, &[], "storage hiccup")
            } else {
                reply(
                    StatusCode::OK,
                    &[("content-type", OCI_MANIFEST)],
                    sig.clone(),
                )
            }
        } else if r.path == payload_path {
            reply(StatusCode::OK, &[], payload.clone())
        } else {
            not_found()
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &w.trusted.public_pem(), "");
    let sg = Signgate::start_yaml_with_args(
        &format!(
            "policies: {}\nupstreams:\n  - {{name: registry.test, url: '{}', insecure: true, default: true}}\n",
            dir.path().display(),
            fake.url()
        ),
        &["--log-format", "json"],
    );
    let first = pull(&sg, "enf/signed", &w.signed.digest).await;
    let m = denial_of(&first);
    assert!(
        m.contains("upstream error while fetching signatures") && m.contains("HTTP 500"),
        "{m}"
    );
    let second = pull(&sg, "enf/signed", &w.signed.digest).await;
    assert_eq!(second.status, 200, "the transient failure was not cached");
    assert_eq!(sig_requests.load(Ordering::SeqCst), 2);

    // One audit record per decision, with the verdict and reasons.
    crate::support::wait_for(5, "audit records", || {
        sg.log_text().matches("\"message\":\"decision\"").count() >= 2
    });
    let records: Vec<serde_json::Value> = sg
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "decision")
        .collect();
    assert_eq!(records[0]["verdict"], "deny");
    assert_eq!(records[0]["transient"], true);
    assert_eq!(records[0]["image"], "registry.test/enf/signed");
    assert_eq!(records[1]["verdict"], "allow");
    assert_eq!(records[1]["cache_hit"], false);
    assert!(
        records[1]["basis"]
            .as_str()
            .unwrap()
            .contains("authority 'release-key'"),
        "{}",
        records[1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builtin_example_policies_enforce_as_documented() {
    // The shipped examples trust `mirror.internal` as a whole and require the
    // example release key on `registry.internal:5000`: serve the test
    // registry under both names.
    let w = signed_world();
    let sg = Signgate::start(
        &[
            Up::new("mirror.internal", &w.registry.url()),
            Up::new("registry.internal:5000", &w.registry.url()),
        ],
        "policies: builtin:examples\nno-match-policy: deny\n",
    );
    assert_eq!(
        pull(&sg, "mirror.internal/enf/unsigned", "v1").await.status,
        200
    );
    let m = denial_of(&pull(&sg, "registry.internal:5000/enf/signed", "v1").await);
    assert!(
        m.contains("denied by policy private-registry-release-key") && m.contains("untrusted key"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_stored_in_another_repository_are_found_through_source_oci() {
    let w = signed_world();
    let image = format!("{}/enf/elsewhere@{}", w.registry.host(), w.elsewhere.digest);
    let (ok, out) = w
        .trusted
        .verify_from(&image, &format!("{}/enf/signatures", w.registry.host()));
    assert!(ok, "cosign verify with COSIGN_REPOSITORY: {out}");
    let (ok, _) = w.trusted.verify(&image);
    assert!(!ok, "without it, cosign finds nothing either");

    let plain = enforcing(&w.trusted.public_pem(), "");
    let m = denial_of(&pull(&plain, "enf/elsewhere", "v1").await);
    assert!(m.contains("no signatures found"), "{m}");

    let key: String = w
        .trusted
        .public_pem()
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("elsewhere.yaml"),
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: elsewhere\nspec:\n  images:\n    - glob: registry.test/enf/**\n  authorities:\n    - key:\n        data: |\n{key}      source:\n        - oci: registry.test/enf/signatures\n"
        ),
    )
    .unwrap();
    let sg = Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\n",
            dir.path().display()
        ),
    );
    assert_eq!(pull(&sg, "enf/elsewhere", "v1").await.status, 200);
    // The image's own repository is not consulted for this authority.
    let m = denial_of(&pull(&sg, "enf/signed", "v1").await);
    assert!(m.contains("enf/signatures:sha256-"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_are_served_on_the_admin_address() {
    let w = signed_world();
    let admin = crate::support::free_port();
    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &w.trusted.public_pem(), "");
    let sg = Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "admin: 127.0.0.1:{admin}\npolicies: {}\nno-match-policy: deny\n",
            dir.path().display()
        ),
    );
    assert_eq!(pull(&sg, "enf/signed", "v1").await.status, 200);
    assert_eq!(pull(&sg, "enf/signed", "v1").await.status, 200);
    assert_eq!(pull(&sg, "enf/unsigned", "v1").await.status, 403);
    let base = format!("http://127.0.0.1:{admin}");
    assert_eq!(get(&format!("{base}/healthz")).await.status, 200);
    assert_eq!(get(&format!("{base}/readyz")).await.status, 200);
    let metrics = get(&format!("{base}/metrics")).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    for want in [
        r#"signgate_requests_total{route="manifest",status="200"} 2"#,
        r#"signgate_requests_total{route="manifest",status="403"} 1"#,
        r#"signgate_decisions_total{verdict="allow",policy="",reason="admitted"} 2"#,
        r#"signgate_decisions_total{verdict="deny",policy="enforced",reason="no-signatures"} 1"#,
        r#"signgate_cache_lookups_total{cache="decision",result="hit"} 1"#,
        r#"signgate_cache_lookups_total{cache="decision",result="miss"} 2"#,
        r#"signgate_upstream_request_duration_seconds_count{upstream="registry.test"}"#,
        "signgate_verification_duration_seconds_count 2",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    // The API port does not serve them.
    assert_eq!(get(&sg.url("/metrics")).await.status, 404);
}
