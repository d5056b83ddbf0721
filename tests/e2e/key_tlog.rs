//! Key authorities with `ctlog` end to end: key-signed legacy `.sig`
//! layers with a Rekor entry from the test's own log
//! (`support::sigstore_ca`, real SETs), pushed to the real registry and
//! pulled through signgate. The hostile entries — a valid SET over a body
//! that logs another hash, another key or another signature — are what no
//! honest Rekor produces; the real cosign 2.5 (`verify --key`, offline,
//! `SIGSTORE_REKOR_PUBLIC_KEY`) gives the reference verdict on each.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::support::block_on;
use crate::support::cosign::cosign_with;
use crate::support::enforce::denial_of as denial;
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::{
    push_legacy, KeyEntry, LeafIdentity, LegacyLayer, TestSigstore, ANN_BUNDLE,
};

/// Every case: its repository suffix and what the log entry says.
const CASES: [(&str, &str); 6] = [
    ("logged", "honest entry with SET"),
    ("nolog", "no Rekor bundle annotation"),
    ("noset", "SET removed"),
    ("forged-hash", "entry logs another payload's hash"),
    ("forged-key", "entry logs another key"),
    ("forged-sig", "entry logs another signature"),
];

/// Policy families: `kt` key + ctlog, `kp` key alone, `ki` key + ctlog
/// with `insecureIgnoreTlog`.
const FAMILIES: [&str; 3] = ["kt", "kp", "ki"];

struct World {
    registry: Registry,
    ca: TestSigstore,
    key_pem: String,
    /// "kt/logged" → image digest.
    images: BTreeMap<String, String>,
    dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let ca = TestSigstore::new();
        // The leaf's key is the authority's key; its certificate is unused.
        let signer = ca.issue(&LeafIdentity::email("key@example.test", "https://x.test"));
        let stranger = ca.issue(&LeafIdentity::email("eve@example.test", "https://x.test"));
        let mut images = BTreeMap::new();
        let mut layers: Vec<(String, LegacyLayer)> = Vec::new();
        for family in FAMILIES {
            for (case, _) in CASES {
                let repo = format!("{family}/{case}");
                let digest = push_image(&registry, &repo, &repo);
                let entry = match case {
                    "forged-hash" => KeyEntry::OtherHash,
                    "forged-key" => KeyEntry::OtherKey(stranger.public_pem()),
                    "forged-sig" => KeyEntry::OtherSignature,
                    "noset" => KeyEntry::NoSet,
                    _ => KeyEntry::Honest,
                };
                let mut layer = signer.sign_legacy_key(
                    &ca,
                    &digest,
                    &format!("registry.test/{repo}"),
                    entry,
                );
                if case == "nolog" {
                    layer.annotations.remove(ANN_BUNDLE);
                }
                images.insert(repo.clone(), digest);
                layers.push((repo, layer));
            }
        }
        let url = registry.url();
        let pushed = images.clone();
        block_on(async move {
            for (repo, layer) in layers {
                push_legacy(&url, &repo, &pushed[&repo], "sig", &[layer]).await;
            }
        });
        World {
            registry,
            ca,
            key_pem: signer.public_pem(),
            images,
            dir: tempfile::tempdir().unwrap(),
        }
    })
}

fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

/// signgate with the three families' policies and `extra` documents,
/// trusting the test log as `trust.roots.test`.
pub(crate) fn gate(extra: &str) -> Signgate {
    let w = world();
    let dir = w
        .dir
        .path()
        .join(format!("p{}", crate::support::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), w.ca.trusted_root_json()).unwrap();
    let key = indent(&w.key_pem, 10);
    let policy = |family: &str, ctlog: &str| {
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: {family}}}\nspec:\n  images: [{{glob: \"registry.test/{family}/*\"}}]\n  authorities:\n    - name: release-key\n      key:\n        data: |\n{key}{ctlog}"
        )
    };
    let policies = [
        policy(
            "kt",
            "      ctlog: {url: https://rekor.example.test, trustRootRef: test}\n",
        ),
        policy("kp", ""),
        policy("ki", "      ctlog: {insecureIgnoreTlog: true}\n"),
    ]
    .join("---\n");
    std::fs::write(dir.join("policies.yaml"), format!("{policies}{extra}")).unwrap();
    Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\ntrust:\n  roots:\n    test: {}\n",
            dir.display(),
            dir.join("trusted_root.json").display()
        ),
    )
}

/// `cosign verify --key` offline, trusting the test log's key.
fn cosign_verify_key(w: &World, repo: &str) -> (bool, String) {
    let dir = w.dir.path();
    std::fs::write(dir.join("key.pub"), &w.key_pem).unwrap();
    std::fs::write(dir.join("rekor.pub"), w.ca.rekor_public_pem()).unwrap();
    let rekor = dir.join("rekor.pub");
    let reference = format!("{}/{repo}@{}", w.registry.host(), w.images[repo]);
    cosign_with(
        dir,
        &[
            "verify",
            "--key",
            "key.pub",
            "--offline=true",
            "--allow-http-registry",
            &reference,
        ],
        &[("SIGSTORE_REKOR_PUBLIC_KEY", rekor.to_str().unwrap())],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_authority_with_ctlog_needs_a_logged_entry_bound_to_its_signature() {
    let w = world();
    let sg = gate("");
    for (case, what) in CASES {
        let repo = format!("kt/{case}");
        let allowed = case == "logged";
        let (cosign_ok, out) = cosign_verify_key(w, &repo);
        assert_eq!(cosign_ok, allowed, "cosign on {repo} ({what}): {out}");
        let reply = crate::support::enforce::pull(&sg, &repo, "v1").await;
        if allowed {
            assert_eq!(reply.status, 200, "{repo} ({what})");
        } else {
            let message = denial(&reply);
            assert!(
                message.contains("transparency-log entry rejected"),
                "{repo} ({what}): {message}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_ctlog_or_with_insecure_ignore_tlog_the_key_alone_decides() {
    let sg = gate("");
    for family in ["kp", "ki"] {
        for (case, what) in CASES {
            let repo = format!("{family}/{case}");
            let reply = crate::support::enforce::pull(&sg, &repo, "v1").await;
            // The signature itself is genuine in every case; no log is read.
            assert_eq!(reply.status, 200, "{repo} ({what})");
        }
    }
}
