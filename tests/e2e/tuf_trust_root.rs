//! policy-controller `kind: TrustRoot` documents with TUF forms, end to end
//! on a real python-tuf repository: `spec.remote` (the mirror served over
//! HTTP) and `spec.repository` (the same repository packed as
//! policy-controller packs `mirrorFS`) each admit what the published root
//! vouches for and nothing else; a repository copy that was tampered with
//! does not load.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::support::enforce::pull;
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::{push_legacy, LeafIdentity, TestSigstore};
use crate::support::tuf::TufRepo;

const POLICY: &str = "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: corp}\nspec:\n  images: [{glob: 'registry.test/tr/*'}]\n  authorities:\n    - keyless:\n        trustRootRef: corp\n        identities: [{issuer: 'https://issuer.example.test', subject: 'alice@example.test'}]\n";

/// `tr/good` signed under `good`, `tr/other` under `other`.
async fn images(registry: &Registry, good: &TestSigstore, other: &TestSigstore) {
    for (repo, ca) in [("tr/good", good), ("tr/other", other)] {
        let digest = push_image(registry, repo, repo);
        let signer = ca.issue(&LeafIdentity::email(
            "alice@example.test",
            "https://issuer.example.test",
        ));
        let layer = signer.sign_legacy(ca, &digest, &format!("registry.test/{repo}"));
        push_legacy(&registry.url(), repo, &digest, "sig", &[layer]).await;
    }
}

/// The mirror directory as policy-controller's `CompressFS` packs it: a
/// gzipped tar of `repository/…`.
fn mirror_fs(repo: &Path) -> String {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("repository", repo).unwrap();
    B64.encode(tar.into_inner().unwrap().finish().unwrap())
}

fn start(registry: &Registry, dir: &Path, trust_root: &str) -> Signgate {
    let policies = dir.join(format!("p{}", crate::support::free_port()));
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("policy.yaml"), POLICY).unwrap();
    std::fs::write(policies.join("trust-root.yaml"), trust_root).unwrap();
    Signgate::start(
        &[Up::new("registry.test", &registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\ntrust:\n  tuf:\n    cache-dir: {}\n    refresh: 1s\n",
            policies.display(),
            dir.join(format!("cache{}", crate::support::free_port())).display()
        ),
    )
}

async fn until(sg: &Signgate, repo: &str, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = pull(sg, repo, "v1").await;
        let body = String::from_utf8_lossy(&r.body).into_owned();
        if r.status == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{repo}: {} {body}\n{}",
            r.status,
            sg.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_root_documents_with_tuf_forms_admit_what_their_repository_publishes() {
    let registry = Registry::start(RegistryAuth::None);
    let (good, other) = (TestSigstore::new(), TestSigstore::new());
    images(&registry, &good, &other).await;
    let tuf = TufRepo::new(&good.trusted_root_json());
    let dir = tempfile::tempdir().unwrap();
    let root = B64.encode(std::fs::read(tuf.root_json()).unwrap());

    // spec.remote: refreshed from the mirror.
    let remote = format!("apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata: {{name: corp}}\nspec:\n  remote:\n    mirror: {}\n    root: {root}\n", tuf.mirror());
    let sg = start(&registry, dir.path(), &remote);
    until(&sg, "tr/good", 200).await;
    let denied = until(&sg, "tr/other", 403).await;
    assert!(denied.contains("denied by policy corp"), "{denied}");
    drop(sg);

    // spec.repository: the same repository, packed into the document.
    let repo = tuf.dir.path().join("tuf/repo");
    let packed = format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: TrustRoot\nmetadata: {{name: corp}}\nspec:\n  repository:\n    root: {root}\n    mirrorFS: {}\n", mirror_fs(&repo));
    let sg = start(&registry, dir.path(), &packed);
    until(&sg, "tr/good", 200).await;
    let denied = until(&sg, "tr/other", 403).await;
    assert!(denied.contains("denied by policy corp"), "{denied}");
    drop(sg);

    // A packed copy whose target was swapped for another root: the
    // document does not load (policy check names it).
    let tampered = dir.path().join("tampered");
    assert!(std::process::Command::new("cp")
        .args(["-r", repo.to_str().unwrap(), tampered.to_str().unwrap()])
        .status()
        .unwrap()
        .success());
    for entry in std::fs::read_dir(tampered.join("targets")).unwrap() {
        std::fs::write(entry.unwrap().path(), other.trusted_root_json()).unwrap();
    }
    let policies = dir.path().join("tampered-policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("policy.yaml"), POLICY).unwrap();
    std::fs::write(
        policies.join("trust-root.yaml"),
        packed.replace(&mirror_fs(&repo), &mirror_fs(&tampered)),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(["policy", "check"])
        .arg(&policies)
        .env("XDG_CACHE_HOME", dir.path().join("xdg"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("trust-root.yaml: document 1: spec.repository: trusted root 'corp'"),
        "{text}"
    );
}
