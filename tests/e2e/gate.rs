//! The gate against what an upstream repository's owner can push: images
//! disguised as signature artifacts, signature material meant to exhaust
//! signgate, and admissions that outlive a policy change. The real registry
//! and skopeo, except where a fake plays material no registry would hold
//! (named as such).

use http::{Method, StatusCode};

use crate::support::enforce::{denial_of, enforcing, pull, write_policy};
use crate::support::fake::{not_found, reply, Fake};
use crate::support::http::{get, send};
use crate::support::image::{self, sha256, tar, tar_gz, Layout, OCI_MANIFEST};
use crate::support::signed::signed_world;
use crate::support::signgate::{Signgate, Up};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// An unsigned runnable-looking image whose gzip layer is labelled `label`.
fn push_relabelled(repo: &str, label: &str) -> (image::Blob, String) {
    let w = signed_world();
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    let content = format!("relabelled as {label}\n");
    let layer = layout.blob(label, &tar_gz("payload.sh", content.as_bytes()));
    let diff_id = sha256(&tar("payload.sh", content.as_bytes()));
    let manifest = layout.image_with_layers("amd64", std::slice::from_ref(&layer), &[diff_id]);
    let mut layout = layout;
    layout.tag(&manifest, "v1");
    image::push(
        dir.path(),
        "v1",
        &format!("{}/{repo}:v1", w.registry.host()),
        None,
    );
    (manifest, layer.digest)
}

/// signgate over the shared registry with the policies in `dir`, and its
/// admin (metrics) port.
fn with_admin(dir: &std::path::Path) -> (Signgate, u16) {
    let w = signed_world();
    let admin = crate::support::free_port();
    let sg = Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "admin: 127.0.0.1:{admin}\npolicies: {}\nno-match-policy: deny\n",
            dir.display()
        ),
    );
    (sg, admin)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_relabelled_as_signature_material_is_denied_and_its_layers_are_not_served() {
    let w = signed_world();
    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &w.trusted.public_pem(), "");
    let (sg, admin) = with_admin(dir.path());
    for (n, label) in [SIMPLE_SIGNING, DSSE, BUNDLE].iter().enumerate() {
        let repo = format!("enf/relabelled{n}");
        let (manifest, layer) = push_relabelled(&repo, label);
        for reference in ["v1", manifest.digest.as_str()] {
            let m = denial_of(&pull(&sg, &repo, reference).await);
            assert!(
                m.contains("labelled as a signature artifact, but it is not one")
                    && m.contains(&layer),
                "{label}: {m}"
            );
        }
        let r = get(&sg.url(&format!("/v2/{repo}/blobs/{layer}"))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{label}: layer served");
    }
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(
            r#"signgate_decisions_total{verdict="deny",policy="",reason="disguised-artifact"} 6"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn real_signature_artifacts_pass_as_exactly_the_bytes_proven_and_only_under_a_policy() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let sig_tag = format!("{}.sig", w.signed.digest.replace(':', "-"));
    let r = pull(&sg, "enf/signed", &sig_tag).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let sig: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    for blob in [&sig["config"], &sig["layers"][0]] {
        let digest = blob["digest"].as_str().unwrap();
        let through = get(&sg.url(&format!("/v2/enf/signed/blobs/{digest}"))).await;
        assert_eq!(through.status, 200, "{digest}");
        let direct = get(&format!(
            "{}/v2/enf/signed/blobs/{digest}",
            w.registry.url()
        ))
        .await;
        assert_eq!(through.body, direct.body);
        assert_eq!(sha256(&through.body), digest);
    }
    // The decision was audited as an artifact.
    assert!(
        sg.log_text().contains("signature artifact"),
        "{}",
        sg.log_text()
    );

    // The same artifact in a repository no policy covers follows
    // `no-match-policy: deny`.
    skopeo_copy(
        &format!("{}/enf/signed:{sig_tag}", w.registry.host()),
        &format!("{}/nopolicy/art:v1", w.registry.host()),
    );
    let m = denial_of(&pull(&sg, "nopolicy/art", "v1").await);
    assert!(m.contains("no policy matches"), "{m}");
}

fn skopeo_copy(from: &str, to: &str) {
    image::skopeo(&[
        "copy".into(),
        "--preserve-digests".into(),
        "--src-tls-verify=false".into(),
        "--dest-tls-verify=false".into(),
        format!("docker://{from}"),
        format!("docker://{to}"),
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_of_signature_artifacts_passes_only_if_each_entry_does() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let host = w.registry.host();
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(dir.path());
    // One real .sig manifest (copied with its blobs) and one relabelled image.
    let sig_tag = format!("{}.sig", w.signed.digest.replace(':', "-"));
    skopeo_copy(
        &format!("{host}/enf/signed:{sig_tag}"),
        &format!("{host}/enf/artindex:sig"),
    );
    let (relabelled, _) = push_relabelled("enf/artindex", SIMPLE_SIGNING);
    let sig = send(
        Method::GET,
        &format!("{}/v2/enf/artindex/manifests/sig", w.registry.url()),
        &[("accept", OCI_MANIFEST)],
    )
    .await;
    assert_eq!(sig.status, 200);
    let sig_blob = layout.blob(OCI_MANIFEST, &sig.body);
    let entry = |b: &image::Blob| {
        let mut d = b.descriptor();
        d["artifactType"] = BUNDLE.into();
        d
    };
    for (tag, entries) in [
        ("good", vec![entry(&sig_blob)]),
        ("bad", vec![entry(&sig_blob), entry(&relabelled)]),
    ] {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": image::OCI_INDEX, "manifests": entries});
        let blob = layout.blob(image::OCI_INDEX, &serde_json::to_vec(&index).unwrap());
        layout.tag(&blob, tag);
    }
    // The listed manifests are in the repository already: put the indexes.
    for tag in ["good", "bad"] {
        let body = std::fs::read(dir.path().join("index.json")).unwrap();
        let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let d = listed["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap()
            .clone();
        let hex = d["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let bytes = std::fs::read(dir.path().join("blobs/sha256").join(hex)).unwrap();
        let url = format!("{}/v2/enf/artindex/manifests/{tag}", w.registry.url());
        assert_eq!(
            crate::support::http::put(&url, image::OCI_INDEX, bytes).await,
            201
        );
    }
    assert_eq!(pull(&sg, "enf/artindex", "good").await.status, 200);
    let m = denial_of(&pull(&sg, "enf/artindex", "bad").await);
    assert!(
        m.contains(&relabelled.digest) && m.contains("not a valid simple-signing payload"),
        "{m}"
    );
}

/// A fake upstream (no registry holds such material for real): `lib/app`'s
/// `.sig` lists 64 bundle layers of 16 MiB each, over `distinct` blobs.
async fn hoarding_upstream(distinct: usize) -> (Fake, String) {
    const MIB16: usize = 16 * 1024 * 1024;
    let subject = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let subject_digest = sha256(subject.as_bytes());
    let blobs: Vec<(String, bytes::Bytes)> = (0..distinct)
        .map(|i| {
            let b = bytes::Bytes::from(image::noise(MIB16, i as u64 + 7));
            (sha256(&b), b)
        })
        .collect();
    let layers: Vec<serde_json::Value> = (0..64)
        .map(|i| {
            serde_json::json!({"mediaType": BUNDLE, "digest": blobs[i % distinct].0, "size": MIB16})
        })
        .collect();
    let sig = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": layers})
    .to_string();
    let sig_path = format!(
        "/v2/lib/app/manifests/{}.sig",
        subject_digest.replace(':', "-")
    );
    let subject_path = format!("/v2/lib/app/manifests/{subject_digest}");
    let fake = Fake::start(move |r| {
        if r.path == subject_path {
            reply(StatusCode::OK, &[("content-type", OCI_MANIFEST)], subject)
        } else if r.path == sig_path {
            reply(
                StatusCode::OK,
                &[("content-type", OCI_MANIFEST)],
                sig.clone(),
            )
        } else if let Some((_, b)) = blobs
            .iter()
            .find(|(d, _)| r.path == format!("/v2/lib/app/blobs/{d}"))
        {
            reply(StatusCode::OK, &[], b.clone())
        } else {
            not_found()
        }
    })
    .await;
    (fake, subject_digest)
}

fn key_policy_for_fake() -> (tempfile::TempDir, String) {
    let w = signed_world();
    let dir = tempfile::tempdir().unwrap();
    let key: String = w
        .trusted
        .public_pem()
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    std::fs::write(
        dir.path().join("p.yaml"),
        format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: fake\nspec:\n  images:\n    - glob: fake.test/**\n  authorities:\n    - key:\n        data: |\n{key}"),
    )
    .unwrap();
    let config = format!(
        "policies: {}\nno-match-policy: deny\n",
        dir.path().display()
    );
    (dir, config)
}

fn blob_gets(fake: &Fake) -> usize {
    fake.recorded()
        .iter()
        .filter(|r| r.path.contains("/blobs/"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_pull_cannot_make_signgate_download_more_than_the_material_bound() {
    // Five distinct 16 MiB payloads (80 MiB) behind 64 layers: refused
    // before a byte of them is fetched, and the refusal is cached.
    let (fake, subject) = hoarding_upstream(5).await;
    let (_policies, config) = key_policy_for_fake();
    let sg = Signgate::start(&[Up::new("fake.test", &fake.url()).default()], &config);
    let path = sg.url(&format!("/v2/lib/app/manifests/{subject}"));
    let r = send(Method::GET, &path, &[("accept", OCI_MANIFEST)]).await;
    let peak = sg.child.peak_rss_kib();
    eprintln!(
        "signgate peak RSS after the 80 MiB / 64-layer attack: {peak} KiB ({} blob GETs)",
        blob_gets(&fake)
    );
    let m = denial_of(&r);
    assert!(m.contains("67108864-byte bound"), "{m}");
    assert_eq!(blob_gets(&fake), 0, "no payload fetched");
    let asked = fake.recorded().len();
    let r = send(Method::GET, &path, &[("accept", OCI_MANIFEST)]).await;
    assert_eq!(r.status, 403);
    assert_eq!(fake.recorded().len(), asked, "the refusal is cached");
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");

    // One 16 MiB payload listed 64 times is fetched once.
    let (fake, subject) = hoarding_upstream(1).await;
    let sg = Signgate::start(&[Up::new("fake.test", &fake.url()).default()], &config);
    let path = sg.url(&format!("/v2/lib/app/manifests/{subject}"));
    let r = send(Method::GET, &path, &[("accept", OCI_MANIFEST)]).await;
    let peak = sg.child.peak_rss_kib();
    eprintln!(
        "signgate peak RSS after 64 × one 16 MiB payload: {peak} KiB ({} blob GETs)",
        blob_gets(&fake)
    );
    let m = denial_of(&r);
    assert!(m.contains("64 layer(s) checked"), "{m}");
    assert_eq!(blob_gets(&fake), 1, "one fetch per distinct layer digest");
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn blob_admission_follows_the_policy_revision() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let manifest: serde_json::Value =
        serde_json::from_slice(&pull(&sg, "enf/signed", "v1").await.body).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let blob = sg.url(&format!("/v2/enf/signed/blobs/{layer}"));
    assert_eq!(get(&blob).await.status, 200);

    // The key is rotated: the manifest is denied, and so are its blobs.
    let config = std::fs::read_to_string(sg.dir.path().join("signgate.yaml")).unwrap();
    let policy_dir = config
        .lines()
        .find_map(|l| l.strip_prefix("policies: "))
        .unwrap()
        .to_owned();
    write_policy(std::path::Path::new(&policy_dir), &w.other.public_pem(), "");
    sg.child.signal("HUP");
    crate::support::wait_for(10, "the reload", || {
        sg.log_text().contains("policies reloaded")
    });
    let r = get(&blob).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "layer served after rotation"
    );
    denial_of(&pull(&sg, "enf/signed", "v1").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_manifest_denied_before_its_index_is_admitted_once_the_index_is() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let child = &w.index_children[0].digest;
    let m = denial_of(&pull(&sg, "enf/index", child).await);
    assert!(m.contains("no signatures found"), "{m}");
    assert_eq!(pull(&sg, "enf/index", "v1").await.status, 200);
    let r = pull(&sg, "enf/index", child).await;
    assert_eq!(
        r.status,
        200,
        "the cached child denial blocked the admitted index: {:?}",
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mirror_exports_neither_a_disguise_nor_signature_material_as_an_image() {
    let w = signed_world();
    let (relabelled, _) = push_relabelled("enf/mirrored-disguise", SIMPLE_SIGNING);
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    write_policy(&policies, &w.trusted.public_pem(), "");
    let config = dir.path().join("signgate.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams:\n  - name: registry.test\n    url: \"{}\"\n    insecure: true\n    default: true\npolicies: {}\nno-match-policy: deny\n",
            w.registry.url(),
            policies.display()
        ),
    )
    .unwrap();
    let export = dir.path().join("export");
    let sig = format!(
        "registry.test/enf/signed:{}.sig",
        w.signed.digest.replace(':', "-")
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(["mirror", "--config", config.to_str().unwrap(), "--to"])
        .arg(&export)
        .args([
            "registry.test/enf/mirrored-disguise:v1",
            sig.as_str(),
            "registry.test/enf/signed:v1",
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("labelled as a signature artifact, but it is not one"),
        "{text}"
    );
    assert!(text.contains("signature material, not an image"), "{text}");
    let index = std::fs::read_to_string(export.join("index.json")).unwrap_or_default();
    assert!(!index.contains(&relabelled.digest), "{index}");
    assert!(
        index.contains(&w.signed.digest),
        "the signed image is exported: {index}"
    );
    let record = std::fs::read_to_string(export.join("signgate/export.json")).unwrap_or_default();
    assert!(record.contains("refused"), "{record}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_manifest_cannot_be_fetched_through_the_blob_endpoint_even_under_passthrough() {
    // A fake upstream that serves manifests on its blob endpoint with their
    // manifest media type (Debian's registry answers 404 there; others do
    // not), as containerd 1.7+ asks after a manifest 403.
    const M: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let digest = sha256(M.as_bytes());
    let fake = Fake::start(move |r| {
        if r.path.starts_with("/v2/lib/app/manifests/sha256:")
            || r.path.starts_with("/v2/lib/app/blobs/sha256:")
        {
            reply(StatusCode::OK, &[("content-type", OCI_MANIFEST)], M)
        } else {
            not_found()
        }
    })
    .await;
    let sg = Signgate::start(
        &[Up::new("fake.test", &fake.url()).default()],
        "blobs: passthrough\nno-match-policy: deny\n",
    );
    denial_of(
        &send(
            Method::GET,
            &sg.url(&format!("/v2/lib/app/manifests/{digest}")),
            &[("accept", OCI_MANIFEST)],
        )
        .await,
    );
    for method in [Method::HEAD, Method::GET] {
        let r = send(
            method.clone(),
            &sg.url(&format!("/v2/lib/app/blobs/{digest}")),
            &[],
        )
        .await;
        assert_eq!(r.status, 403, "{method}: a manifest served as a blob");
        assert!(!r.body.windows(13).any(|w| w == b"schemaVersion"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_missing_from_the_store_is_manifest_unknown() {
    let store = tempfile::tempdir().unwrap();
    let sg = Signgate::start(
        &[Up::new("registry.test", "http://127.0.0.1:9").default()],
        &format!(
            "mode: offline\nstore:\n  path: {}\nno-match-policy: deny\n",
            store.path().display()
        ),
    );
    let missing = sha256(b"never stored");
    for reference in [missing.as_str(), "v1"] {
        let r = send(
            Method::GET,
            &sg.url(&format!("/v2/enf/app/manifests/{reference}")),
            &[("accept", OCI_MANIFEST)],
        )
        .await;
        let (code, message) = r.oci_error();
        assert_eq!(
            (r.status.as_u16(), code.as_str()),
            (404, "MANIFEST_UNKNOWN"),
            "{reference}: {message}"
        );
        assert!(
            message.contains("not found in the local store"),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_fail_is_counted_as_static_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("frozen.yaml"),
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: frozen\nspec:\n  images:\n    - glob: registry.test/enf/**\n  authorities:\n    - static:\n        action: fail\n        message: deploys are frozen\n",
    )
    .unwrap();
    let (sg, admin) = with_admin(dir.path());
    let m = denial_of(&pull(&sg, "enf/signed", "v1").await);
    assert!(m.contains("fails statically: deploys are frozen"), "{m}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(
            r#"signgate_decisions_total{verdict="deny",policy="frozen",reason="static-fail"} 1"#
        ),
        "{text}"
    );
}

/// Signature lookups counted so far (hits and misses).
fn signature_lookups(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(r#"signgate_cache_lookups_total{cache="signatures""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A platform manifest its admitted index lists is admitted without any
/// signature discovery of its own (policy-controller's `either`): the
/// gate fetches only what the judgement reads.
#[tokio::test(flavor = "multi_thread")]
async fn a_platform_manifest_listed_by_an_admitted_index_costs_no_discovery() {
    let w = signed_world();
    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &w.trusted.public_pem(), "");
    let (sg, admin) = with_admin(dir.path());
    let scrape = || async {
        let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await;
        signature_lookups(&String::from_utf8_lossy(&metrics.body))
    };
    assert_eq!(pull(&sg, "enf/index", "v1").await.status, 200);
    let after_index = scrape().await;
    assert!(after_index >= 1, "the index itself was not looked up");
    for child in &w.index_children {
        let r = pull(&sg, "enf/index", &child.digest).await;
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(
        scrape().await,
        after_index,
        "a listed child looked for signatures of its own"
    );
}
