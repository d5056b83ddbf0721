//! GitHub artifact attestations, end to end, in the shape of GitHub's
//! private Sigstore instance: SLSA provenance v1 DSSE bundles attached as
//! OCI referrers (tag schema: distribution 2.8 has no referrers API),
//! signed by a leaf of the test Fulcio (`support::sigstore_ca`, GitHub
//! workflow claims in the certificate), timestamped by a real TSA
//! (OpenSSL's `openssl ts -reply`, `support::tsa`) and logged nowhere; a
//! trusted root with the Fulcio CA and the TSA chains and no transparency
//! or CT logs. The policy is the `github` authority of GitHub's chart
//! (tests/fixtures/policies/github-trust-policies.yaml) as it is, pointed
//! at the test root (`trust.roots.acme-github`). Each case asserts the
//! pull outcome through signgate.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::keyless::push_referrers;
use crate::support::block_on;
use crate::support::enforce::{denial_of as denial, pull};
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::{
    push_legacy, LeafIdentity, Signer, TestSigstore, ANN_BUNDLE, BUNDLE_V03,
};
use crate::support::tsa::Tsa;

const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str =
    "https://github.com/acme-corp/app/.github/workflows/release.yml@refs/heads/main";
const MALLORY_WORKFLOW: &str =
    "https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const OWNER_ID: &str = "71096353";
const OID_OWNER_URI: &str = "1.3.6.1.4.1.57264.1.16";
const OID_OWNER_ID: &str = "1.3.6.1.4.1.57264.1.17";
const OID_REPOSITORY_ID: &str = "1.3.6.1.4.1.57264.1.15";
const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

struct World {
    registry: Registry,
    images: std::collections::BTreeMap<&'static str, String>,
    trusted_root: String,
    /// Fulcio intermediate + root (PEM), for cosign.
    fulcio_chain: String,
    _tsas: Vec<Tsa>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rfc3339(secs: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs as u64))
        .to_string()
}

/// SLSA provenance v1 for `digest`, as GitHub's attest-build-provenance
/// writes it (abridged).
fn provenance(digest: &str) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "ghcr.io/acme-corp/app", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": SLSA_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://github.com/acme-corp/app", "path": ".github/workflows/release.yml"}},
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
        },
    })
}

/// A GitHub Actions leaf: workflow SAN, GitHub issuer, owner and
/// repository claims.
fn github_leaf(ca: &TestSigstore, san: &str, owner: &str, owner_id: &str) -> Signer {
    ca.issue(
        &LeafIdentity::uri(san, GITHUB_ISSUER)
            .claim(OID_OWNER_URI, &format!("https://github.com/{owner}"))
            .claim(OID_OWNER_ID, owner_id)
            .claim(OID_REPOSITORY_ID, "900100"),
    )
}

/// A timestamp-only bundle v0.3: the leaf, no log entry, the given
/// `signedTimestamp`s (DER `TimeStampResp`s), the DSSE envelope.
fn bundle(signer: &Signer, envelope: &Value, timestamps: &[Vec<u8>]) -> String {
    let timestamps: Vec<Value> = timestamps
        .iter()
        .map(|t| json!({"signedTimestamp": B64.encode(t)}))
        .collect();
    serde_json::to_string(&json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "certificate": {"rawBytes": B64.encode(&signer.cert_der)},
            "tlogEntries": [],
            "timestampVerificationData": {"rfc3161Timestamps": timestamps},
        },
        "dsseEnvelope": envelope,
    }))
    .unwrap()
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let ca = TestSigstore::new();
        let tsa = Tsa::new("signgate-test-tsa");
        let retired = Tsa::new("signgate-retired-tsa");
        // GitHub's instance: Fulcio and TSAs, no tlog, no CT log (its
        // policy sets insecureIgnoreSCT). The retired TSA was trusted
        // until two hours ago.
        let mut root: Value = serde_json::from_str(&ca.trusted_root_json()).unwrap();
        root["tlogs"] = json!([]);
        root["ctlogs"] = json!([]);
        root["timestampAuthorities"] = json!([
            tsa.authority(json!({"start": rfc3339(now() - 3600)})),
            retired.authority(json!({"start": rfc3339(now() - 3 * 3600), "end": rfc3339(now() - 2 * 3600)})),
        ]);
        let mut images = std::collections::BTreeMap::new();
        for repo in [
            "gh/allowed",
            "gh/outside-validity",
            "gh/forged-imprint",
            "gh/forged-token",
            "gh/wrong-owner",
            "gh/no-timestamp",
            "gh/foreign-entry",
            "gh/legacy",
            "gh/expired-leaf",
            "ghl/legacy",
            "gho/right-owner-id",
            "gho/wrong-owner-id",
        ] {
            images.insert(repo, push_image(&registry, repo, repo));
        }
        let good = github_leaf(&ca, WORKFLOW, "acme-corp", OWNER_ID);
        let mallory = github_leaf(&ca, MALLORY_WORKFLOW, "mallory", "666");
        // Same workflow path, another owner account: a renamed or
        // re-registered organisation name.
        let usurper = github_leaf(&ca, WORKFLOW, "acme-corp", "666");
        // A leaf whose ten minutes ended twenty minutes before the timestamp.
        let mut expired_id = LeafIdentity::uri(WORKFLOW, GITHUB_ISSUER);
        expired_id.not_before_offset_secs = -1800;
        let expired = ca.issue(&expired_id);
        let url = registry.url();
        let mut referrers: Vec<(&'static str, String)> = Vec::new();
        let d = |r: &str| images[r].clone();
        let timestamped = |signer: &Signer, repo: &str, by: &Tsa| {
            let (envelope, sig) = signer.dsse_unlogged(&provenance(&d(repo)));
            bundle(signer, &envelope, &[by.timestamp(&sig)])
        };
        referrers.push(("gh/allowed", timestamped(&good, "gh/allowed", &tsa)));
        referrers.push((
            "gh/outside-validity",
            timestamped(&good, "gh/outside-validity", &retired),
        ));
        {
            let (envelope, _) = good.dsse_unlogged(&provenance(&d("gh/forged-imprint")));
            let (_, other_sig) = good.dsse_unlogged(&provenance(&d("gh/allowed")));
            referrers.push((
                "gh/forged-imprint",
                bundle(&good, &envelope, &[tsa.timestamp(&other_sig)]),
            ));
        }
        {
            let (envelope, sig) = good.dsse_unlogged(&provenance(&d("gh/forged-token")));
            let mut token = tsa.timestamp(&sig);
            // A byte of the TSA's signature, near the end of the token.
            let at = token.len() - 10;
            token[at] ^= 0x01;
            referrers.push(("gh/forged-token", bundle(&good, &envelope, &[token])));
        }
        referrers.push((
            "gh/expired-leaf",
            timestamped(&expired, "gh/expired-leaf", &tsa),
        ));
        referrers.push((
            "gh/wrong-owner",
            timestamped(&mallory, "gh/wrong-owner", &tsa),
        ));
        {
            let (envelope, _) = good.dsse_unlogged(&provenance(&d("gh/no-timestamp")));
            referrers.push(("gh/no-timestamp", bundle(&good, &envelope, &[])));
        }
        {
            // A log entry of a log this root does not trust, with a valid
            // timestamp: an entry present must verify.
            let logged: Value =
                serde_json::from_str(&good.bundle_v03(&ca, &provenance(&d("gh/foreign-entry"))))
                    .unwrap();
            let sig = B64
                .decode(logged["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
                .unwrap();
            let mut logged = logged;
            logged["verificationMaterial"]["timestampVerificationData"] =
                json!({"rfc3161Timestamps": [{"signedTimestamp": B64.encode(tsa.timestamp(&sig))}]});
            referrers.push(("gh/foreign-entry", logged.to_string()));
        }
        referrers.push((
            "gho/right-owner-id",
            timestamped(&good, "gho/right-owner-id", &tsa),
        ));
        referrers.push((
            "gho/wrong-owner-id",
            timestamped(&usurper, "gho/wrong-owner-id", &tsa),
        ));
        // A legacy `.att` with a timestamp and no Rekor bundle: valid
        // (ghl/, no signatureFormat), but not in the format the chart's
        // authority names (gh/).
        let legacy_att = |repo: &str| {
            let mut legacy = good.attest_legacy(&ca, &provenance(&d(repo)));
            legacy.annotations.remove(ANN_BUNDLE);
            let env: Value = serde_json::from_slice(&legacy.payload).unwrap();
            let sig = B64
                .decode(env["signatures"][0]["sig"].as_str().unwrap())
                .unwrap();
            legacy.annotations.insert(
                RFC3161_ANNOTATION.to_owned(),
                json!({"SignedRFC3161Timestamp": B64.encode(tsa.timestamp(&sig))}).to_string(),
            );
            (repo.to_owned(), d(repo), legacy)
        };
        let legacy = vec![legacy_att("gh/legacy"), legacy_att("ghl/legacy")];
        block_on({
            let url = url.clone();
            let images = images.clone();
            async move {
                for (repo, b) in referrers {
                    push_referrers(
                        url.clone(),
                        repo.to_owned(),
                        images[repo].clone(),
                        vec![(b, SLSA_V1.to_owned())],
                    )
                    .await;
                }
                for (repo, digest, layer) in legacy {
                    push_legacy(&url, &repo, &digest, "att", &[layer]).await;
                }
            }
        });
        World {
            registry,
            images,
            trusted_root: serde_json::to_string_pretty(&root).unwrap(),
            fulcio_chain: ca.ca_chain_pem(),
            _tsas: vec![tsa, retired],
        }
    })
}

/// The chart's `github` authority, unchanged but for the root it names.
fn chart_github_authority() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/policies/github-trust-policies.yaml"),
    )
    .unwrap();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let doc = serde_yaml_ng::Value::deserialize(doc).unwrap();
        if doc["metadata"]["name"].as_str() == Some("github-policy") {
            let mut github = doc["spec"]["authorities"][0].clone();
            assert_eq!(github["name"].as_str(), Some("github"));
            github["keyless"]["trustRootRef"] = "acme-github".into();
            github["rfc3161timestamp"]["trustRootRef"] = "acme-github".into();
            return github;
        }
    }
    panic!("the chart has a github-policy");
}

use serde::Deserialize as _;

/// signgate with the chart's github authority for `registry.test/gh/**`,
/// the same without `signatureFormat` for `registry.test/ghl/**`, and with
/// an owner-ID claim for `registry.test/gho/**`.
fn gate() -> Signgate {
    let w = world();
    let dir = tempfile::tempdir().unwrap().keep();
    std::fs::write(dir.join("acme-github.json"), &w.trusted_root).unwrap();
    let policy = |name: &str, glob: &str, authority: serde_yaml_ng::Value| {
        serde_yaml_ng::to_string(&serde_json::json!({
            "apiVersion": "policy.sigstore.dev/v1alpha1",
            "kind": "ClusterImagePolicy",
            "metadata": {"name": name},
            "spec": {"images": [{"glob": glob}], "authorities": [authority]},
        }))
        .unwrap()
    };
    let github = chart_github_authority();
    let mut pinned = github.clone();
    pinned["keyless"]["identities"][0]["claims"] =
        serde_yaml_ng::to_value(json!({"sourceRepositoryOwnerIdentifier": OWNER_ID})).unwrap();
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("github.yaml"),
        policy("github-policy", "registry.test/gh/**", github),
    )
    .unwrap();
    let mut any_format = chart_github_authority();
    any_format
        .as_mapping_mut()
        .unwrap()
        .remove("signatureFormat");
    std::fs::write(
        policies.join("github-any-format.yaml"),
        policy("github-any-format", "registry.test/ghl/**", any_format),
    )
    .unwrap();
    std::fs::write(
        policies.join("github-owner-id.yaml"),
        policy("github-owner-id", "registry.test/gho/**", pinned),
    )
    .unwrap();
    Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\ntrust:\n  roots:\n    acme-github: {}\n",
            policies.display(),
            dir.join("acme-github.json").display()
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn github_timestamp_only_attestations_are_enforced() {
    let w = world();
    let sg = gate();
    let ok = pull(&sg, "gh/allowed", "v1").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(w.images["gh/allowed"].as_str())
    );
    let cases: &[(&str, &[&str])] = &[
        ("gh/outside-validity", &["timestamp"]),
        ("gh/forged-imprint", &["timestamp"]),
        ("gh/forged-token", &["timestamp"]),
        ("gh/wrong-owner", &["subject", "does not match"]),
        ("gh/expired-leaf", &["expired"]),
        ("gh/no-timestamp", &["no RFC 3161 timestamp"]),
        ("gh/foreign-entry", &["log"]),
        ("gh/legacy", &["no attestation among 1 layer(s) found (set aside: application/vnd.dsse.envelope.v1+json: the authority's signatureFormat is bundle)"]),
    ];
    let mut failures = Vec::new();
    for (repo, needles) in cases {
        let r = pull(&sg, repo, "v1").await;
        let body = String::from_utf8_lossy(&r.body).into_owned();
        eprintln!("{repo}: {} {body}", r.status);
        if r.status != 403 || !needles.iter().all(|n| body.contains(n)) {
            failures.push(format!("{repo}: {} {body}", r.status));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_repository_owner_id_claim_admits_only_that_owner() {
    let w = world();
    let sg = gate();
    let ok = pull(&sg, "gho/right-owner-id", "v1").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(w.images["gho/right-owner-id"].as_str())
    );
    let m = denial(&pull(&sg, "gho/wrong-owner-id", "v1").await);
    assert!(
        m.contains("claim sourceRepositoryOwnerIdentifier is '666'"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signature_format_decides_which_layers_count_and_explain_says_so() {
    let w = world();
    let sg = gate();
    // The legacy timestamp-only `.att` verifies where both formats count.
    let ok = pull(&sg, "ghl/legacy", "v1").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(w.images["ghl/legacy"].as_str())
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args([
            "verify",
            "--explain",
            "--config",
            sg.dir.path().join("signgate.yaml").to_str().unwrap(),
            "registry.test/gh/legacy:v1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("signatureFormat bundle: only sigstore bundles")
            && text.contains("the authority's signatureFormat is bundle"),
        "{text}"
    );
}

/// The reference verdict: the real cosign 2.5, offline, with the same
/// trusted root (`--trusted-root`; `SIGSTORE_ROOT_FILE` and
/// `SIGSTORE_TSA_CERTIFICATE_FILE` keep it from contacting TUF), no log
/// and no SCT, timestamps required (`--use-signed-timestamps`): it admits
/// and denies what signgate admits and denies.
#[tokio::test(flavor = "multi_thread")]
async fn cosign_verify_attestation_agrees_offline() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, &w.trusted_root).unwrap();
    let chain = dir.path().join("fulcio-chain.pem");
    std::fs::write(&chain, &w.fulcio_chain).unwrap();
    let tsa_chain = dir.path().join("tsa-chain.pem");
    std::fs::write(&tsa_chain, w._tsas[0].chain_pem()).unwrap();
    let host = w.registry.url().trim_start_matches("http://").to_owned();
    let verify = |repo: &str| {
        crate::support::cosign::cosign_with(
            dir.path(),
            &[
                "verify-attestation",
                "--new-bundle-format",
                "--allow-http-registry",
                "--trusted-root",
                root.to_str().unwrap(),
                "--insecure-ignore-tlog",
                "--insecure-ignore-sct",
                "--use-signed-timestamps",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
                "--certificate-identity-regexp",
                "^https://github.com/acme-corp/.*/\\.github/workflows/.*$",
                "--type",
                SLSA_V1,
                &format!("{host}/{repo}@{}", w.images[repo]),
            ],
            &[
                ("SIGSTORE_ROOT_FILE", chain.to_str().unwrap()),
                ("SIGSTORE_TSA_CERTIFICATE_FILE", tsa_chain.to_str().unwrap()),
            ],
        )
    };
    let (ok, out) = verify("gh/allowed");
    assert!(ok, "cosign refuses what signgate admits: {out}");
    let mut disagree = Vec::new();
    for repo in [
        "gh/outside-validity",
        "gh/forged-imprint",
        "gh/forged-token",
        "gh/wrong-owner",
        "gh/no-timestamp",
        "gh/expired-leaf",
    ] {
        let (ok, out) = verify(repo);
        if ok {
            disagree.push(format!("{repo}: cosign admits what signgate denies: {out}"));
        }
    }
    assert!(disagree.is_empty(), "{disagree:#?}");
    // `--insecure-ignore-tlog` makes cosign skip an entry present; signgate
    // still verifies it (gh/foreign-entry is denied above). Logged only.
    let (ok, _) = verify("gh/foreign-entry");
    eprintln!("cosign on gh/foreign-entry (untrusted log entry): admitted={ok}");
}

/// The chart's `github-policy` exactly as rendered (`trustRootRef: github`
/// untouched), with the `TrustRoot github` replaced by a test
/// `sigstoreKeys` document — the test Fulcio and the current TSA, no logs:
/// the timestamp-only attestation is admitted, and forged timestamps, a
/// TSA the document does not list, a wrong owner and a missing timestamp
/// are denied.
#[tokio::test(flavor = "multi_thread")]
async fn the_chart_policy_unchanged_enforces_with_a_test_trust_root_document() {
    let w = world();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/policies/github-trust-policies.yaml"),
    )
    .unwrap();
    let mut policy = None;
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut doc = serde_yaml_ng::Value::deserialize(doc).unwrap();
        if doc["metadata"]["name"].as_str() == Some("github-policy") {
            // Only the image glob moves to the test registry.
            doc["spec"]["images"] =
                serde_yaml_ng::to_value(json!([{"glob": "registry.test/gh/**"}])).unwrap();
            policy = Some(serde_yaml_ng::to_string(&doc).unwrap());
        }
    }
    let policy = policy.expect("the chart has a github-policy");
    let tsa = w._tsas.first().unwrap();
    let trust_root = format!(
        "apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: github\nspec:\n  sigstoreKeys:\n    certificateAuthorities:\n    - subject: {{organization: signgate, commonName: signgate-test-root}}\n      uri: https://fulcio.signgate.test\n      certChain: {}\n    timestampAuthorities:\n    - subject: {{organization: signgate, commonName: signgate-test-tsa}}\n      uri: https://tsa.signgate.test\n      certChain: {}\n",
        B64.encode(&w.fulcio_chain),
        B64.encode(tsa.chain_pem()),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("github-policy.yaml"), policy).unwrap();
    std::fs::write(dir.path().join("github-trust-root.yaml"), trust_root).unwrap();
    let sg = Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\n",
            dir.path().display()
        ),
    );
    let ok = pull(&sg, "gh/allowed", "v1").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let cases: &[(&str, &[&str])] = &[
        ("gh/outside-validity", &["timestamp"]),
        ("gh/forged-imprint", &["timestamp"]),
        ("gh/forged-token", &["timestamp"]),
        ("gh/wrong-owner", &["subject", "does not match"]),
        ("gh/no-timestamp", &["no RFC 3161 timestamp"]),
    ];
    let mut failures = Vec::new();
    for (repo, needles) in cases {
        let r = pull(&sg, repo, "v1").await;
        let body = String::from_utf8_lossy(&r.body).into_owned();
        if r.status != 403
            || !body.contains("denied by policy github-policy")
            || !needles.iter().all(|n| body.contains(n))
        {
            failures.push(format!("{repo}: {} {body}", r.status));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
