//! Key authorities with `ctlog` end to end: key-signed legacy `.sig`
//! layers with a Rekor entry from the test's own log
//! (`support::sigstore_ca`, real SETs), pushed to the real registry and
//! pulled through signgate. The hostile entries — a valid SET over a body
//! that logs another hash, another key or another signature — are what no
//! honest Rekor produces; the real cosign 2.5 (`verify --key`, offline,
//! `SIGSTORE_REKOR_PUBLIC_KEY`) gives the reference verdict on each.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::keyless::push_referrers;
use crate::support::block_on;
use crate::support::cosign::cosign_with;
use crate::support::enforce::denial_of as denial;
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::{
    cosign_sign_statement, push_legacy, KeyEntry, LeafIdentity, LegacyLayer, TestSigstore,
    ANN_BUNDLE, COSIGN_SIGN_PREDICATE,
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

/// cosign v3 key-signed bundles stored as referrers (no cosign verdict:
/// cosign 2.5 reads the legacy layout).
const BUNDLE_CASES: [(&str, &str); 4] = [
    ("bundle", "honest dsse entry with SET and inclusion proof"),
    ("bundle-nolog", "no transparency-log entry"),
    ("bundle-forged-hash", "entry logs another payload's hash"),
    ("bundle-forged-key", "entry logs another key"),
];

/// Policy families: `kt` key + ctlog, `kp` key alone, `ki` key + ctlog
/// with `insecureIgnoreTlog`.
const FAMILIES: [&str; 3] = ["kt", "kp", "ki"];

struct World {
    registry: Registry,
    ca: TestSigstore,
    key_pem: String,
    /// The second key of the two-of-two policy.
    qa_pem: String,
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
                let mut layer =
                    signer.sign_legacy_key(&ca, &digest, &format!("registry.test/{repo}"), entry);
                if case == "nolog" {
                    layer.annotations.remove(ANN_BUNDLE);
                }
                images.insert(repo.clone(), digest);
                layers.push((repo, layer));
            }
        }
        let mut referrers: Vec<(String, String)> = Vec::new();
        for family in FAMILIES {
            for (case, _) in BUNDLE_CASES {
                let repo = format!("{family}/{case}");
                let digest = push_image(&registry, &repo, &repo);
                let entry = match case {
                    "bundle-forged-hash" => KeyEntry::OtherHash,
                    "bundle-forged-key" => KeyEntry::OtherKey(stranger.public_pem()),
                    "bundle-nolog" => KeyEntry::NoSet,
                    _ => KeyEntry::Honest,
                };
                let bundle = signer.bundle_v03_key(&ca, &cosign_sign_statement(&digest), entry);
                images.insert(repo.clone(), digest);
                referrers.push((repo, bundle));
            }
        }
        // Key-signed attestations (`.att`) under key + ctlog.
        let mut attested: Vec<(String, LegacyLayer)> = Vec::new();
        for (repo, other_key) in [("ka/logged", None), ("ka/forged-key", Some(stranger.public_pem()))] {
            let digest = push_image(&registry, repo, repo);
            let statement = serde_json::json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": repo, "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
                "predicateType": "https://example.test/review/v1",
                "predicate": {"reviewed": true},
            });
            attested.push((repo.to_owned(), signer.attest_legacy_key(&ca, &statement, other_key.as_deref())));
            images.insert(repo.to_owned(), digest);
        }
        // spec.policy: two of two keys, both signatures or one.
        let mut multi: Vec<(String, Vec<LegacyLayer>)> = Vec::new();
        for (repo, signers) in [
            ("kc/both", vec![&signer, &stranger]),
            ("kc/one", vec![&signer]),
        ] {
            let digest = push_image(&registry, repo, repo);
            let signed = signers
                .iter()
                .map(|s| {
                    s.sign_legacy_key(
                        &ca,
                        &digest,
                        &format!("registry.test/{repo}"),
                        KeyEntry::Honest,
                    )
                })
                .collect();
            images.insert(repo.to_owned(), digest);
            multi.push((repo.to_owned(), signed));
        }
        let url = registry.url();
        let pushed = images.clone();
        block_on(async move {
            for (repo, layer) in layers {
                push_legacy(&url, &repo, &pushed[&repo], "sig", &[layer]).await;
            }
            for (repo, signed) in multi {
                push_legacy(&url, &repo, &pushed[&repo], "sig", &signed).await;
            }
            for (repo, layer) in attested {
                push_legacy(&url, &repo, &pushed[&repo], "att", &[layer]).await;
            }
            for (repo, bundle) in referrers {
                let subject = pushed[&repo].clone();
                let predicate = COSIGN_SIGN_PREDICATE.to_owned();
                push_referrers(url.clone(), repo, subject, vec![(bundle, predicate)]).await;
            }
        });
        World {
            registry,
            ca,
            qa_pem: stranger.public_pem(),
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
        policy(
            "ka",
            "      ctlog: {trustRootRef: test}\n      attestations:\n        - name: review\n          predicateType: https://example.test/review/v1\n          policy:\n            type: rego\n            data: |\n              package sigstore\n              isCompliant { input.predicate.reviewed }\n",
        ),
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
async fn key_signed_attestations_under_ctlog_need_their_entry_bound_to_the_key() {
    let sg = gate("");
    let ok = crate::support::enforce::pull(&sg, "ka/logged", "v1").await;
    assert_eq!(ok.status, 200, "{:?}", String::from_utf8_lossy(&ok.body));
    let forged = crate::support::enforce::pull(&sg, "ka/forged-key", "v1").await;
    let message = denial(&forged);
    assert!(
        message.contains("transparency-log entry rejected"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_signed_bundles_found_as_referrers_need_their_entry_too() {
    let sg = gate("");
    for (case, what) in BUNDLE_CASES {
        let repo = format!("kt/{case}");
        let reply = crate::support::enforce::pull(&sg, &repo, "v1").await;
        if case == "bundle" {
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
        for (case, what) in CASES.iter().chain(BUNDLE_CASES.iter()) {
            let repo = format!("{family}/{case}");
            let reply = crate::support::enforce::pull(&sg, &repo, "v1").await;
            // The signature itself is genuine in every case; no log is read.
            assert_eq!(reply.status, 200, "{repo} ({what})");
        }
    }
}

/// Both keys must have signed: policy-controller's N-of-M idiom, a
/// `spec.policy` over `authorityMatches`. `spec.match` is accepted (with a
/// load warning) and the policy applies to every pull.
fn two_of_two() -> String {
    let w = world();
    format!(
        r#"---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: two-of-two}}
spec:
  images: [{{glob: "registry.test/kc/*"}}]
  match:
    - {{group: apps, version: v1, resource: deployments}}
  authorities:
    - name: release-key
      key:
        data: |
{release}      ctlog: {{trustRootRef: test}}
    - name: qa-key
      key:
        data: |
{qa}      ctlog: {{trustRootRef: test}}
  policy:
    type: rego
    data: |
      package sigstore
      default isCompliant = false
      isCompliant {{
        count(input.authorityMatches["release-key"].signatures) > 0
        count(input.authorityMatches["qa-key"].signatures) > 0
      }}
"#,
        release = indent(&w.key_pem, 10),
        qa = indent(&w.qa_pem, 10),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spec_policy_admits_two_of_two_signers_and_denies_one() {
    let sg = gate(&two_of_two());
    let both = crate::support::enforce::pull(&sg, "kc/both", "v1").await;
    assert_eq!(
        both.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&both.body)
    );
    let one = crate::support::enforce::pull(&sg, "kc/one", "v1").await;
    let message = denial(&one);
    assert!(
        message.contains("spec.policy is not satisfied by the authorities that passed"),
        "{message}"
    );
    // `verify --explain` shows the condition's input and verdict.
    let config = sg.dir.path().join("signgate.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args([
            "verify",
            "--explain",
            "--config",
            config.to_str().unwrap(),
            "registry.test/kc/one:v1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("spec.policy (Rego over the authorities that passed): NOT compliant"),
        "{text}"
    );
    assert!(
        text.contains(r#"input: {"authorityMatches":{"release-key":{"signatures":[{"id":"#),
        "{text}"
    );
}

#[test]
fn policy_check_shows_the_spec_match_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        two_of_two().replace("trustRootRef: test", "trustRootRef: public-good"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(["policy", "check", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("spec.match: signgate applies this policy to every pull: resource selectors have no meaning at a registry"),
        "{err}"
    );
}
