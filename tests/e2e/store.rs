//! The local store end to end: admitted images are kept as they are pulled
//! (manifests, blobs, and the signature material that admitted them); when
//! the upstream goes down they are served from the store, verified again
//! from that material — also by a freshly started signgate with no memory
//! of earlier decisions — and everything else fails closed. A policy change
//! applies to stored images too.

use std::path::Path;

use crate::support::cosign::KeyPair;
use crate::support::enforce::{denial_of, pull, write_policy};
use crate::support::image::{self, try_skopeo, Layout};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};

fn start(registry_url: &str, policies: &Path, store: &Path) -> Signgate {
    Signgate::start(
        &[Up::new("registry.test", registry_url).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\nstore:\n  path: {}\n",
            policies.display(),
            store.display()
        ),
    )
}

/// Pull the whole image with skopeo through signgate into an OCI layout.
fn copy(sg: &Signgate, repo: &str, dest: &Path) -> (bool, String) {
    try_skopeo(&[
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{}/{repo}:v1", sg.host()),
        format!("oci:{}:v1", dest.display()),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_outage_admitted_images_come_from_the_store_verified_again() {
    let registry = Registry::start(RegistryAuth::None);
    let key = KeyPair::generate();
    let other = KeyPair::generate();
    let work = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for (repo, content) in [
        ("enf/kept", "kept through an outage"),
        ("enf/never", "never pulled"),
    ] {
        let dir = work.path().join(repo.replace('/', "-"));
        let mut layout = Layout::new(&dir);
        let m = layout.image(
            "amd64",
            &[
                ("c.txt", content.as_bytes()),
                ("big.bin", &image::noise(3 << 20, 7)),
            ],
        );
        layout.tag(&m, "v1");
        image::push(&dir, "v1", &format!("{}/{repo}:v1", registry.host()), None);
        key.sign(&format!("{}/{repo}@{}", registry.host(), m.digest), false);
        digests.push(m.digest);
    }
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    write_policy(&policies, &key.public_pem(), "");
    let store = work.path().join("store");

    // Online: the pull goes through and everything it needed is kept.
    let sg = start(&registry.url(), &policies, &store);
    let (ok, out) = copy(&sg, "enf/kept", &work.path().join("first"));
    assert!(ok, "{out}");
    let kept = work.path().join("first");
    let blobs = image::layout_blobs(&kept);
    crate::support::wait_for(10, "the blobs to be kept", || {
        blobs.keys().all(|d| {
            store
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"))
                .is_file()
        })
    });
    // Pulling it again records nothing new: index.json is not rewritten.
    let written = std::fs::metadata(store.join("index.json"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(pull(&sg, "enf/kept", "v1").await.status, 200);
    assert_eq!(
        std::fs::metadata(store.join("index.json"))
            .unwrap()
            .modified()
            .unwrap(),
        written,
        "a repeated pull rewrote index.json"
    );
    let index = std::fs::read_to_string(store.join("index.json")).unwrap();
    assert!(index.contains("registry.test/enf/kept:v1"), "{index}");
    assert!(
        index.contains(&format!(
            "registry.test/enf/kept:{}.sig",
            digests[0].replace(':', "-")
        )),
        "{index}"
    );

    // The upstream goes down.
    registry.stop();
    let r = pull(&sg, "enf/kept", "v1").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("signgate-served-from"), Some("local-store"));
    assert!(
        r.header("warning")
            .is_some_and(|w| w.contains("served from the local store")),
        "{:?}",
        r.headers
    );
    let (ok, out) = copy(&sg, "enf/kept", &work.path().join("second"));
    assert!(ok, "{out}");
    assert_eq!(
        image::layout_blobs(&work.path().join("second")),
        blobs,
        "byte-identical from the store"
    );
    // Anything not in the store fails closed.
    let r = pull(&sg, "enf/never", "v1").await;
    assert!(
        r.status.is_server_error() || r.status == 404,
        "{}",
        r.status
    );
    let r = pull(&sg, "enf/never", &digests[1]).await;
    assert!(
        r.status.is_server_error() || r.status == 404,
        "{}",
        r.status
    );
    drop(sg);

    // A fresh signgate (no cached decision) verifies from the kept material.
    let sg = start(&registry.url(), &policies, &store);
    let r = pull(&sg, "enf/kept", "v1").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (ok, out) = copy(&sg, "enf/kept", &work.path().join("third"));
    assert!(ok, "{out}");
    let log = sg.log_text();
    assert!(
        log.contains("cache_hit=false") && log.contains("verdict=\"allow\""),
        "{log}"
    );
    drop(sg);

    // The policy now trusts another key: the stored image is refused.
    std::fs::remove_file(policies.join("enforced.yaml")).unwrap();
    write_policy(&policies, &other.public_pem(), "");
    let sg = start(&registry.url(), &policies, &store);
    let m = denial_of(&pull(&sg, "enf/kept", "v1").await);
    assert!(m.contains("signature by an untrusted key"), "{m}");
}

/// Digests of a repository's cosign signature manifest for `digest` and of
/// its layers, asked of the registry directly.
async fn signature_digests(registry_url: &str, repo: &str, digest: &str) -> Vec<String> {
    let tag = digest.replace(':', "-") + ".sig";
    let r = crate::support::http::send(
        http::Method::GET,
        &format!("{registry_url}/v2/{repo}/manifests/{tag}"),
        &[(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )],
    )
    .await;
    assert_eq!(r.status, 200, "{repo}:{tag}");
    let mut out = vec![image::sha256(&r.body)];
    for layer in r.json()["layers"].as_array().unwrap() {
        out.push(layer["digest"].as_str().unwrap().to_owned());
    }
    out
}

fn stored(store: &Path, digest: &str) -> bool {
    store
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
        .exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_images_signature_material_is_not_kept_an_admitted_ones_is() {
    let registry = Registry::start(RegistryAuth::None);
    let (trusted, untrusted) = (KeyPair::generate(), KeyPair::generate());
    let work = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for (repo, key) in [("enf/admitted", &trusted), ("enf/denied", &untrusted)] {
        let dir = work.path().join(repo.replace('/', "-"));
        let mut layout = Layout::new(&dir);
        let m = layout.image("amd64", &[("c.txt", repo.as_bytes())]);
        layout.tag(&m, "v1");
        image::push(&dir, "v1", &format!("{}/{repo}:v1", registry.host()), None);
        key.sign(&format!("{}/{repo}@{}", registry.host(), m.digest), false);
        digests.push(m.digest);
    }
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    write_policy(&policies, &trusted.public_pem(), "");
    let store = work.path().join("store");
    let sg = start(&registry.url(), &policies, &store);

    let m = denial_of(&pull(&sg, "enf/denied", "v1").await);
    assert!(m.contains("signature by an untrusted key"), "{m}");
    assert_eq!(pull(&sg, "enf/admitted", "v1").await.status, 200);
    // A second denied pull (cached verdict) keeps nothing either, nor does
    // a client fetching the denied image's signature itself (as cosign and
    // podman do): whatever the gate answers, it is not an admitted image.
    denial_of(&pull(&sg, "enf/denied", &digests[1]).await);
    let sig_tag = format!("{}.sig", digests[1].replace(':', "-"));
    let direct = pull(&sg, "enf/denied", &sig_tag).await;
    assert!(
        direct.status == 200 || direct.status == 403,
        "{}",
        direct.status
    );

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("index.json")).unwrap()).unwrap();
    let roots = index["manifests"].as_array().unwrap();
    let names: Vec<&str> = roots
        .iter()
        .map(|r| {
            r["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("enf/denied")),
        "no root of the denied image: {names:?}"
    );
    for d in signature_digests(&registry.url(), "enf/denied", &digests[1]).await {
        assert!(!stored(&store, &d), "denied signature material {d} kept");
    }
    assert!(!stored(&store, &digests[1]), "the denied manifest kept");

    // The admitted image's material is kept, marked as material of it.
    let sig_name = format!(
        "registry.test/enf/admitted:{}.sig",
        digests[0].replace(':', "-")
    );
    let sig_root = roots
        .iter()
        .find(|r| r["annotations"]["org.opencontainers.image.ref.name"] == sig_name.as_str())
        .unwrap_or_else(|| panic!("{sig_name} in {names:?}"));
    assert_eq!(
        sig_root["annotations"]["dev.signgate.material-of"],
        digests[0].as_str()
    );
    assert!(
        sig_root["annotations"]
            .get("dev.signgate.verified-at")
            .is_none(),
        "material is not 'verified': {sig_root}"
    );
    for d in signature_digests(&registry.url(), "enf/admitted", &digests[0]).await {
        assert!(
            stored(&store, &d),
            "admitted signature material {d} missing"
        );
    }
    let image_root = roots
        .iter()
        .find(|r| {
            r["annotations"]["org.opencontainers.image.ref.name"] == "registry.test/enf/admitted:v1"
        })
        .unwrap();
    assert!(image_root["annotations"]["dev.signgate.verified-at"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_byte_store_stays_within_budget_after_several_pulls() {
    let registry = Registry::start(RegistryAuth::None);
    let key = KeyPair::generate();
    let work = tempfile::tempdir().unwrap();
    let repos = ["enf/one", "enf/two", "enf/three"];
    for repo in repos {
        let dir = work.path().join(repo.replace('/', "-"));
        let mut layout = Layout::new(&dir);
        let m = layout.image("amd64", &[("c.txt", repo.as_bytes())]);
        layout.tag(&m, "v1");
        image::push(&dir, "v1", &format!("{}/{repo}:v1", registry.host()), None);
        key.sign(&format!("{}/{repo}@{}", registry.host(), m.digest), false);
    }
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    write_policy(&policies, &key.public_pem(), "");
    let store = work.path().join("store");
    let config = format!(
        "policies: {}\nno-match-policy: deny\nstore:\n  path: {}\n  budget-bytes: 1000\n",
        policies.display(),
        store.display()
    );
    let blob_bytes = || -> u64 {
        std::fs::read_dir(store.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    for round in 0..2 {
        let sg = Signgate::start(
            &[Up::new("registry.test", &registry.url()).default()],
            &config,
        );
        for repo in repos {
            let (ok, out) = copy(
                &sg,
                repo,
                &work
                    .path()
                    .join(format!("{round}-{}", repo.replace('/', "-"))),
            );
            assert!(ok, "{out}");
        }
        drop(sg);
        // Roots, signatures and blobs alike exceed 1,000 bytes: GC (as the
        // server runs it) brings the store back within budget.
        let before = blob_bytes();
        assert!(before > 1000, "the pulls were kept: {before} bytes");
        let kept = signgate::store::Store::open(&store, 1000).unwrap();
        let report = kept.gc().await.unwrap();
        assert!(kept.used_bytes() <= 1000, "{report:?}");
        assert!(report.dropped_roots > 0, "{report:?}");
        assert!(
            blob_bytes() <= 1000,
            "{} bytes on disk: {report:?}",
            blob_bytes()
        );
    }
}

/// A cosign v3 bundle stored as an OCI referrer of `subject` in a registry
/// without the referrers API (as cosign writes it: the referrer manifest,
/// and an index under the tag `sha256-<hex>`); the referrer's digest and
/// the bundle's.
async fn push_bundle_referrer(
    url: &str,
    repo: &str,
    subject: &str,
    bundle: &str,
) -> (String, String) {
    use crate::support::image::{OCI_INDEX, OCI_MANIFEST};
    use crate::support::sigstore_ca::{push_blob, put_manifest, BUNDLE_V03};
    let subject_manifest = crate::support::http::send(
        http::Method::GET,
        &format!("{url}/v2/{repo}/manifests/{subject}"),
        &[("accept", OCI_MANIFEST)],
    )
    .await;
    let empty = push_blob(url, repo, b"{}").await;
    let layer = push_blob(url, repo, bundle.as_bytes()).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": empty},
        "layers": [{"mediaType": BUNDLE_V03, "size": bundle.len(), "digest": layer}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_manifest.body.len()},
    }))
    .unwrap();
    let referrer = image::sha256(&manifest);
    put_manifest(url, repo, &referrer, OCI_MANIFEST, &manifest).await;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": referrer, "size": manifest.len(),
            "artifactType": "application/vnd.oci.empty.v1+json"}],
    }))
    .unwrap();
    put_manifest(url, repo, &subject.replace(':', "-"), OCI_INDEX, &index).await;
    (referrer, layer)
}

/// Referrers (cosign v3 bundles) travel the longest way into the store: the
/// referrer list, each referrer manifest, each bundle, each tied back to its
/// subject. Kept for the admitted image — enough to verify it again with
/// the upstream gone — and nothing of the denied one's.
#[tokio::test(flavor = "multi_thread")]
async fn bundle_referrers_are_kept_for_an_admitted_image_only_and_verify_it_offline() {
    use crate::support::sigstore_ca::{cosign_sign_statement, LeafIdentity, TestSigstore};
    let registry = Registry::start(RegistryAuth::None);
    let ca = TestSigstore::new();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("trusted_root.json"),
        ca.trusted_root_json(),
    )
    .unwrap();
    let mut subjects = Vec::new();
    for (repo, who) in [
        ("kl/admitted", "builder@example.test"),
        ("kl/denied", "eve@example.test"),
    ] {
        let dir = work.path().join(repo.replace('/', "-"));
        let mut layout = Layout::new(&dir);
        let m = layout.image("amd64", &[("c.txt", repo.as_bytes())]);
        layout.tag(&m, "v1");
        image::push(&dir, "v1", &format!("{}/{repo}:v1", registry.host()), None);
        let signer = ca.issue(&LeafIdentity::email(who, "https://issuer.example.test"));
        let bundle = signer.bundle_v03(&ca, &cosign_sign_statement(&m.digest));
        let (referrer, layer) =
            push_bundle_referrer(&registry.url(), repo, &m.digest, &bundle).await;
        subjects.push((m.digest, referrer, layer));
    }
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("keyless.yaml"),
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: keyless}\nspec:\n  images: [{glob: \"registry.test/kl/**\"}]\n  authorities:\n    - keyless:\n        trustRootRef: test\n        identities: [{issuer: \"https://issuer.example.test\", subject: \"builder@example.test\"}]\n",
    )
    .unwrap();
    let store = work.path().join("store");
    let config = format!(
        "policies: {}\nno-match-policy: deny\ntrust:\n  roots:\n    test: {}\nstore:\n  path: {}\n",
        policies.display(),
        work.path().join("trusted_root.json").display(),
        store.display()
    );
    let url = registry.url();
    let up = [Up::new("registry.test", &url).default()];
    let sg = Signgate::start(&up, &config);
    assert_eq!(pull(&sg, "kl/admitted", "v1").await.status, 200);
    denial_of(&pull(&sg, "kl/denied", "v1").await);

    let index = std::fs::read_to_string(store.join("index.json")).unwrap();
    let (admitted, referrer, bundle) = &subjects[0];
    let tag_root = format!("registry.test/kl/admitted:{}\"", admitted.replace(':', "-"));
    assert!(index.contains(&tag_root), "{index}");
    assert!(
        stored(&store, referrer) && stored(&store, bundle),
        "{index}"
    );
    let (denied, referrer, bundle) = &subjects[1];
    assert!(!index.contains("kl/denied"), "{index}");
    for d in [denied, referrer, bundle] {
        assert!(!stored(&store, d), "{d} of the denied image kept");
    }

    // The upstream goes; a fresh signgate verifies from what was kept.
    registry.stop();
    drop(sg);
    let sg = Signgate::start(&up, &config);
    let r = pull(&sg, "kl/admitted", "v1").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("signgate-served-from"), Some("local-store"));
}
