//! Keyless and modern formats end to end. A Fulcio-style CA and a
//! Rekor-style log of the test's own (`support::sigstore_ca`, real SCTs,
//! SETs and inclusion proofs) sign images in the real registry — legacy
//! `.sig`/`.att` layers and cosign v3 bundles stored as OCI referrers (tag
//! schema: distribution 2.8 has no referrers API) — and skopeo/HTTP pull
//! them through signgate under policies that must allow and must deny. The
//! real cosign 2.5 gives the reference verdict for legacy signatures and
//! signs attestations with a key. Real public-good vectors whose image
//! blobs are not available come from a static in-process upstream (named
//! as such below).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use http::Method;
use serde_json::{json, Value};

use crate::support::cosign::KeyPair;
use crate::support::cosign::{cosign_verify, cosign_with as run_cosign, Trust};
use crate::support::http::send;
use crate::support::image::push_image;
use crate::support::image::{sha256, OCI_INDEX, OCI_MANIFEST};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::{
    cosign_sign_statement, push_blob, push_legacy, put_manifest, LeafIdentity, LegacyLayer, Signer,
    TestSigstore, ANN_BUNDLE, ANN_CERTIFICATE, ANN_CHAIN, BUNDLE_V03,
};

const ISSUER: &str = "https://issuer.example.test";
const ALICE: &str = "alice@example.test";
const EVE: &str = "eve@example.test";
const CI_ISSUER: &str = "https://token.actions.example.test";
const CI: &str = "https://git.example.test/org/app/.github/workflows/release.yml@refs/tags/v1";
const REPO_URI: &str = "https://git.example.test/org/app";
const OID_SOURCE_REPOSITORY_URI: &str = "1.3.6.1.4.1.57264.1.12";
const OID_GITHUB_REPOSITORY: &str = "1.3.6.1.4.1.57264.1.5";
const BUILDER: &str = "https://builder.example.test/slsa/v1";
const ANN_SIGNATURE_KEY: &str = "dev.cosignproject.cosign/signature";

/// The registry, the test sigstore, and what was pushed and signed.
pub(crate) struct Keyless {
    pub registry: Registry,
    pub ca: TestSigstore,
    /// repo → image digest.
    pub images: std::collections::BTreeMap<&'static str, String>,
    pub cosign: KeyPair,
    pub dir: tempfile::TempDir,
}

use crate::support::block_on;

fn rfc3339(ago: Duration) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() - ago).to_string()
}

fn statement(digest: &str, predicate_type: &str, predicate: Value) -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.test/kl", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

fn provenance(digest: &str, builder: &str) -> Value {
    statement(
        digest,
        "https://slsa.dev/provenance/v1",
        json!({
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"ref": "refs/tags/v1", "repository": REPO_URI, "path": ".github/workflows/release.yml"}},
            },
            "runDetails": {"builder": {"id": builder}, "metadata": {"invocationId": "https://git.example.test/org/app/actions/runs/1"}},
        }),
    )
}

fn scan(digest: &str, finished: Duration, severities: &[&str]) -> Value {
    let vulnerabilities: Vec<Value> = severities
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"VulnerabilityID": format!("CVE-2026-{i:04}"), "PkgName": "openssl", "Severity": s}))
        .collect();
    statement(
        digest,
        "https://cosign.sigstore.dev/attestation/vuln/v1",
        json!({
            "invocation": {"uri": "", "event_id": "", "builder.id": ""},
            "scanner": {"uri": "pkg:github/aquasecurity/trivy@v0.58.0", "version": "0.58.0",
                "result": {"SchemaVersion": 2, "Results": [{"Target": "app", "Vulnerabilities": vulnerabilities}]}},
            "metadata": {"scanStartedOn": rfc3339(finished + Duration::from_secs(60)), "scanFinishedOn": rfc3339(finished)},
        }),
    )
}

fn sbom(digest: &str) -> Value {
    statement(
        digest,
        "https://spdx.dev/Document",
        json!({"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
            "name": "app", "packages": [{"SPDXID": "SPDXRef-Package-openssl", "name": "openssl", "versionInfo": "3.0.15"}]}),
    )
}

/// A cosign v3 bundle stored as an OCI referrer of `subject`, the way
/// cosign writes it to a registry without the referrers API: the referrer
/// manifest by digest, and an index under the tag `sha256-<hex>`. The index
/// entries claim `application/vnd.oci.empty.v1+json` (as ghcr.io shows
/// them): signgate must recognise bundles by their layer media type.
pub(crate) async fn push_referrers(
    url: String,
    repo: String,
    subject: String,
    bundles: Vec<(String, String)>,
) {
    let subject_manifest = send(
        Method::GET,
        &format!("{url}/v2/{repo}/manifests/{subject}"),
        &[("accept", OCI_MANIFEST)],
    )
    .await;
    let mut entries = Vec::new();
    for (bundle, predicate) in bundles {
        let empty = push_blob(&url, &repo, b"{}").await;
        let layer = push_blob(&url, &repo, bundle.as_bytes()).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": empty},
            "layers": [{"mediaType": BUNDLE_V03, "size": bundle.len(), "digest": layer}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_manifest.body.len()},
            "annotations": {"dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": predicate},
        }))
        .unwrap();
        let digest = sha256(&manifest);
        put_manifest(&url, &repo, &digest, OCI_MANIFEST, &manifest).await;
        entries.push(
            json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
            "artifactType": "application/vnd.oci.empty.v1+json"}),
        );
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
    )
    .unwrap();
    put_manifest(&url, &repo, &subject.replace(':', "-"), OCI_INDEX, &index).await;
}

pub(crate) fn keyless_world() -> &'static Keyless {
    static WORLD: OnceLock<Keyless> = OnceLock::new();
    WORLD.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let ca = TestSigstore::new();
        let url = registry.url();
        let mut images = std::collections::BTreeMap::new();
        let repos = [
            "kl/legacy",
            "kl/bundle",
            "kl/unsigned",
            "kl/eve",
            "kl/spoof",
            "kl/expired",
            "kl/copied",
            "kl/forged",
            "kl/att-good",
            "kl/att-critical",
            "kl/att-old",
            "kl/att-other",
            "kl/att-nosbom",
            "kl/cosigncert",
            "kl/cosigncert-strict",
            "kl/sbom-key",
        ];
        for repo in repos {
            images.insert(repo, push_image(&registry, repo, repo));
        }
        let alice = ca.issue(
            &LeafIdentity::email(ALICE, ISSUER)
                .claim(OID_SOURCE_REPOSITORY_URI, REPO_URI)
                .claim(OID_GITHUB_REPOSITORY, "org/app"),
        );
        let eve = ca.issue(&LeafIdentity::email(EVE, ISSUER));
        let ci =
            ca.issue(&LeafIdentity::uri(CI, CI_ISSUER).claim(OID_SOURCE_REPOSITORY_URI, REPO_URI));
        // A reusable workflow of the right organisation, called from another
        // repository: the SAN matches a loose regex, the source does not.
        let spoof = ca.issue(&LeafIdentity::uri(CI, CI_ISSUER).claim(
            OID_SOURCE_REPOSITORY_URI,
            "https://git.example.test/mallory/fork",
        ));
        let mut expired_id = LeafIdentity::email(ALICE, ISSUER);
        expired_id.not_before_offset_secs = -1800;
        expired_id.lifetime_secs = 600;
        let expired = ca.issue(&expired_id);

        let d = |r: &str| images[r].clone();
        let sig = |signer: &Signer, repo: &str| {
            signer.sign_legacy(&ca, &d(repo), &format!("registry.test/{repo}"))
        };
        let mut legacy: Vec<(&str, &str, Vec<LegacyLayer>)> = vec![
            ("kl/legacy", "sig", vec![sig(&alice, "kl/legacy")]),
            ("kl/eve", "sig", vec![sig(&eve, "kl/eve")]),
            ("kl/expired", "sig", vec![sig(&expired, "kl/expired")]),
            // A genuine signature of kl/legacy, copied onto kl/copied.
            ("kl/copied", "sig", vec![sig(&alice, "kl/legacy")]),
        ];
        // Eve's signature for kl/forged, dressed in Alice's certificate,
        // chain and Rekor bundle.
        let genuine = sig(&alice, "kl/legacy");
        let mut forged = sig(&eve, "kl/forged");
        for a in [ANN_CERTIFICATE, ANN_CHAIN, ANN_BUNDLE] {
            forged
                .annotations
                .insert(a.into(), genuine.annotations[a].clone());
        }
        legacy.push(("kl/forged", "sig", vec![forged]));
        let att = |repo: &'static str,
                   statements: Vec<Value>|
         -> (&'static str, &'static str, Vec<LegacyLayer>) {
            let layers = statements
                .iter()
                .map(|s| ci.attest_legacy(&ca, s))
                .collect();
            (repo, "att", layers)
        };
        let day = Duration::from_secs(24 * 3600);
        let good = d("kl/att-good");
        let atts = vec![
            att(
                "kl/att-good",
                vec![
                    provenance(&good, BUILDER),
                    scan(&good, day, &["LOW", "HIGH"]),
                ],
            ),
            att(
                "kl/att-critical",
                vec![
                    provenance(&d("kl/att-critical"), BUILDER),
                    scan(&d("kl/att-critical"), day, &["CRITICAL"]),
                ],
            ),
            att(
                "kl/att-old",
                vec![
                    provenance(&d("kl/att-old"), BUILDER),
                    scan(&d("kl/att-old"), 10 * day, &[]),
                ],
            ),
            // Genuine statements about kl/att-good, stored for kl/att-other.
            att(
                "kl/att-other",
                vec![provenance(&good, BUILDER), scan(&good, day, &[])],
            ),
            att(
                "kl/att-nosbom",
                vec![
                    provenance(&d("kl/att-nosbom"), BUILDER),
                    scan(&d("kl/att-nosbom"), day, &[]),
                ],
            ),
        ];
        legacy.extend(atts);
        let referrers: Vec<(&str, Vec<(String, String)>)> = vec![
            (
                "kl/bundle",
                vec![(
                    ci.bundle_v03(&ca, &cosign_sign_statement(&d("kl/bundle"))),
                    "https://sigstore.dev/cosign/sign/v1".into(),
                )],
            ),
            (
                "kl/spoof",
                vec![(
                    spoof.bundle_v03(&ca, &cosign_sign_statement(&d("kl/spoof"))),
                    "https://sigstore.dev/cosign/sign/v1".into(),
                )],
            ),
            (
                "kl/att-good",
                vec![(
                    ci.bundle_v03(&ca, &sbom(&good)),
                    "https://spdx.dev/Document".into(),
                )],
            ),
            (
                "kl/att-critical",
                vec![(
                    ci.bundle_v03(&ca, &sbom(&d("kl/att-critical"))),
                    "https://spdx.dev/Document".into(),
                )],
            ),
            (
                "kl/att-old",
                vec![(
                    ci.bundle_v03(&ca, &sbom(&d("kl/att-old"))),
                    "https://spdx.dev/Document".into(),
                )],
            ),
            (
                "kl/att-other",
                vec![(
                    ci.bundle_v03(&ca, &sbom(&good)),
                    "https://spdx.dev/Document".into(),
                )],
            ),
        ];
        {
            let url = url.clone();
            let images = images.clone();
            block_on(async move {
                for (repo, suffix, layers) in legacy {
                    push_legacy(&url, repo, &images[repo], suffix, &layers).await;
                }
                for (repo, bundles) in referrers {
                    push_referrers(url.clone(), repo.into(), images[repo].clone(), bundles).await;
                }
            });
        }

        // The real cosign: signatures by a key of cosign's own with a
        // certificate from the test CA (no log entry), and a key-signed
        // SPDX attestation.
        let cosign = KeyPair::generate();
        let dir = cosign.dir.path();
        let leaf =
            ca.issue_for_public_key(&cosign.public_pem(), &LeafIdentity::email(ALICE, ISSUER));
        std::fs::write(dir.join("leaf.pem"), &leaf).unwrap();
        std::fs::write(dir.join("chain.pem"), ca.ca_chain_pem()).unwrap();
        let ctlog = dir.join("ctlog.pub");
        std::fs::write(&ctlog, ca.ctlog_public_pem().unwrap()).unwrap();
        for repo in ["kl/cosigncert", "kl/cosigncert-strict"] {
            let reference = format!("{}/{repo}@{}", registry.host(), images[repo]);
            let (ok, out) = run_cosign(
                dir,
                &[
                    "sign",
                    "--key",
                    "cosign.key",
                    "--certificate",
                    "leaf.pem",
                    "--certificate-chain",
                    "chain.pem",
                    "--tlog-upload=false",
                    "--allow-http-registry",
                    "--yes",
                    &reference,
                ],
                &[("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", ctlog.to_str().unwrap())],
            );
            assert!(ok, "cosign sign --certificate: {out}");
        }
        let predicate = dir.join("sbom.spdx.json");
        std::fs::write(
            &predicate,
            serde_json::to_vec(&sbom(&images["kl/sbom-key"])["predicate"]).unwrap(),
        )
        .unwrap();
        let reference = format!("{}/kl/sbom-key@{}", registry.host(), images["kl/sbom-key"]);
        let (ok, out) = run_cosign(
            dir,
            &[
                "attest",
                "--key",
                "cosign.key",
                "--type",
                "spdxjson",
                "--predicate",
                "sbom.spdx.json",
                "--tlog-upload=false",
                "--allow-http-registry",
                "--yes",
                &reference,
            ],
            &[],
        );
        assert!(ok, "cosign attest: {out}");
        let dir = tempfile::tempdir().unwrap();
        Keyless {
            registry,
            ca,
            images,
            cosign,
            dir,
        }
    })
}

const VULN_REGO: &str = r#"package sigstore
default isCompliant = false
isCompliant {
  finished := time.parse_rfc3339_ns(input.predicate.metadata.scanFinishedOn)
  time.now_ns() - finished < 7 * 24 * 3600 * 1000000000
  count(criticals) == 0
}
criticals[v.VulnerabilityID] {
  v := input.predicate.scanner.result.Results[_].Vulnerabilities[_]
  v.Severity == "CRITICAL"
}
"#;

const PROVENANCE_REGO: &str = r#"package sigstore
import rego.v1
default isCompliant := false
isCompliant if {
  input.predicate.runDetails.builder.id == "https://builder.example.test/slsa/v1"
  input.predicate.buildDefinition.externalParameters.workflow.repository == "https://git.example.test/org/app"
}
"#;

fn indent(text: &str, n: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

/// signgate trusting the test sigstore (`trust.roots.test`), with the
/// policies of this file; `extra_policies` adds documents.
pub(crate) fn gate(extra_policies: &str) -> Signgate {
    let w = keyless_world();
    let dir = w
        .dir
        .path()
        .join(format!("p{}", crate::support::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trusted_root.json"), w.ca.trusted_root_json()).unwrap();
    let alice = "        identities:\n          - issuer: https://issuer.example.test\n            subject: alice@example.test\n";
    let policies = format!(
        r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: alice}}
spec:
  images: [{{glob: "registry.test/kl/legacy"}}, {{glob: "registry.test/kl/unsigned"}}, {{glob: "registry.test/kl/eve"}}, {{glob: "registry.test/kl/expired"}}, {{glob: "registry.test/kl/copied"}}, {{glob: "registry.test/kl/forged"}}]
  authorities:
    - name: alice
      keyless:
        url: https://fulcio.example.test
        trustRootRef: test
{alice}      ctlog: {{url: https://rekor.example.test, trustRootRef: test}}
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: release-ci}}
spec:
  images: [{{glob: "registry.test/kl/bundle"}}, {{glob: "registry.test/kl/spoof"}}]
  authorities:
    - name: release-workflow
      keyless:
        trustRootRef: test
        identities:
          - issuer: https://token.actions.example.test
            subjectRegExp: 'https://git\.example\.test/org/.+/\.github/workflows/release\.yml@refs/tags/v.*'
            claims: {{sourceRepositoryURI: "https://git.example.test/org/app"}}
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: attested}}
spec:
  images: [{{glob: "registry.test/kl/att-*"}}]
  authorities:
    - name: ci-attestations
      keyless:
        trustRootRef: test
        identities: [{{issuer: "https://token.actions.example.test", subject: "{CI}"}}]
      attestations:
        - name: provenance
          predicateType: slsaprovenance1
          policy:
            type: rego
            data: |
{provenance}        - name: scan
          predicateType: vuln
          policy:
            type: rego
            data: |
{vuln}        - name: sbom
          predicateType: spdxjson
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: cosign-certificate}}
spec:
  images: [{{glob: "registry.test/kl/cosigncert"}}]
  authorities:
    - keyless:
        trustRootRef: test
{alice}      ctlog: {{insecureIgnoreTlog: true}}
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: cosign-certificate-strict}}
spec:
  images: [{{glob: "registry.test/kl/cosigncert-strict"}}]
  authorities:
    - keyless:
        trustRootRef: test
{alice}---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: sbom-by-key}}
spec:
  images: [{{glob: "registry.test/kl/sbom-key"}}]
  authorities:
    - key:
        data: |
{key}      attestations:
        - name: sbom-lists-openssl
          predicateType: spdxjson
          policy:
            type: rego
            data: |
              package sigstore
              default isCompliant = false
              isCompliant {{
                input.predicate.packages[_].name == "openssl"
              }}
{extra_policies}"#,
        provenance = indent(PROVENANCE_REGO, 14),
        vuln = indent(VULN_REGO, 14),
        key = indent(&w.cosign.public_pem(), 10),
    );
    std::fs::write(dir.join("policies.yaml"), policies).unwrap();
    Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\ntrust:\n  roots:\n    test: {}\n",
            dir.display(),
            dir.join("trusted_root.json").display()
        ),
    )
}

async fn pull(sg: &Signgate, repo: &str) -> crate::support::http::Reply {
    crate::support::enforce::pull(sg, repo, "v1").await
}

use crate::support::enforce::denial_of as denial;

#[tokio::test(flavor = "multi_thread")]
async fn keyless_signatures_admit_their_identity_and_nothing_else() {
    let w = keyless_world();
    let sg = gate("");
    let ok = pull(&sg, "kl/legacy").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(w.images["kl/legacy"].as_str())
    );

    let m = denial(&pull(&sg, "kl/unsigned").await);
    assert!(
        m.contains("denied by policy alice") && m.contains("no signatures found"),
        "{m}"
    );
    assert!(
        m.contains("referrers of") && m.contains(".sig") && m.contains(".att"),
        "{m}"
    );
    let m = denial(&pull(&sg, "kl/eve").await);
    assert!(
        m.contains("signed by someone else") && m.contains("eve@example.test"),
        "{m}"
    );
    let m = denial(&pull(&sg, "kl/expired").await);
    assert!(m.contains("keyless signature rejected"), "{m}");
    let m = denial(&pull(&sg, "kl/copied").await);
    assert!(
        m.contains(&format!(
            "signature is for another image ({})",
            w.images["kl/legacy"]
        )),
        "{m}"
    );
    let m = denial(&pull(&sg, "kl/forged").await);
    assert!(
        m.contains("keyless signature rejected") && m.contains("signature"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cosign_verify_agrees_on_every_legacy_keyless_case() {
    let w = keyless_world();
    let sg = gate("");
    let trust = Trust::of(&w.ca);
    let dir = tempfile::tempdir().unwrap();
    for (repo, allowed) in [
        ("kl/legacy", true),
        ("kl/unsigned", false),
        ("kl/eve", false),
        ("kl/expired", false),
        ("kl/copied", false),
        ("kl/forged", false),
    ] {
        let reference = format!("{}/{repo}@{}", w.registry.host(), w.images[repo]);
        let (cosign_ok, out) = cosign_verify(&trust, dir.path(), &reference, ALICE, ISSUER, &[]);
        assert_eq!(cosign_ok, allowed, "cosign on {repo}: {out}");
        let status = pull(&sg, repo).await.status;
        assert_eq!(status == 200, allowed, "signgate on {repo}: {status}");
    }
    // `signgate verify` runs the same pipeline, with the same verdicts.
    let config = sg.dir.path().join("signgate.yaml");
    for (repo, code) in [
        ("kl/legacy", 0),
        ("kl/eve", 1),
        ("kl/bundle", 0),
        ("kl/spoof", 1),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
            .args([
                "verify",
                "--config",
                config.to_str().unwrap(),
                &format!("registry.test/{repo}:v1"),
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{repo}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cosign_v3_bundles_found_as_referrers_are_verified_with_claims() {
    let w = keyless_world();
    let sg = gate("");
    let ok = pull(&sg, "kl/bundle").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        ok.header("docker-content-digest"),
        Some(w.images["kl/bundle"].as_str())
    );
    // The SAN matches the policy's regex; the source repository claim shows
    // the workflow ran for another repository.
    let m = denial(&pull(&sg, "kl/spoof").await);
    assert!(
        m.contains("claim sourceRepositoryURI is 'https://git.example.test/mallory/fork'"),
        "{m}"
    );
    // skopeo pulls the whole image through signgate.
    let dest = tempfile::tempdir().unwrap();
    crate::support::image::skopeo(&[
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{}/kl/bundle:v1", sg.host()),
        format!("oci:{}:v1", dest.path().display()),
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn attestations_are_required_verified_bound_and_evaluated() {
    let w = keyless_world();
    let sg = gate("");
    let ok = pull(&sg, "kl/att-good").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let m = denial(&pull(&sg, "kl/att-critical").await);
    assert!(
        m.contains("attestation 'scan'") && m.contains("does not satisfy its policy"),
        "{m}"
    );
    let m = denial(&pull(&sg, "kl/att-old").await);
    assert!(
        m.contains("attestation 'scan'") && m.contains("does not satisfy its policy"),
        "{m}"
    );
    // Genuine attestations of kl/att-good, stored for kl/att-other: their
    // subject names another digest.
    let m = denial(&pull(&sg, "kl/att-other").await);
    assert!(
        m.contains("no verified attestation of type https://slsa.dev/provenance/v1"),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "statement is about another artifact (sha256:{}",
            w.images["kl/att-good"].trim_start_matches("sha256:")
        )),
        "{m}"
    );
    let m = denial(&pull(&sg, "kl/att-nosbom").await);
    assert!(
        m.contains("attestation 'sbom': no verified attestation of type https://spdx.dev/Document"),
        "{m}"
    );
    // A key-signed attestation made by the real `cosign attest`.
    let ok = pull(&sg, "kl/sbom-key").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_without_a_log_entry_needs_insecure_ignore_tlog() {
    let sg = gate("");
    let ok = pull(&sg, "kl/cosigncert").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let m = denial(&pull(&sg, "kl/cosigncert-strict").await);
    assert!(m.contains("a transparency-log entry is required"), "{m}");
}

/// containers/image's key-signed fixtures, by the repository they are
/// served as (verdicts with `cosign.pub` in its README).
const KEY_FIXTURES: [(&str, &str); 7] = [
    ("key/valid", "dir-img-cosign-valid"),
    ("key/valid-2", "dir-img-cosign-valid-2"),
    ("key/valid-with-tag", "dir-img-cosign-valid-with-tag"),
    ("key/mixed", "dir-img-cosign-mixed"),
    ("key/modified-manifest", "dir-img-cosign-modified-manifest"),
    (
        "key/manifest-digest-error",
        "dir-img-cosign-manifest-digest-error",
    ),
    ("key/other-attachment", "dir-img-cosign-other-attachment"),
];

/// A containers/image fixture: the image manifest and every signature
/// layer (media type, payload, annotations).
/// One signature layer: media type, payload, annotations.
type FixtureLayer = (String, Vec<u8>, Value);

fn fixture_layers(dir: &str) -> (Vec<u8>, Vec<FixtureLayer>) {
    let (manifest, media_type, payload, annotations) = fixture_layer(dir);
    let mut layers = vec![(media_type, payload, annotations)];
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/containers-image")
        .join(dir);
    for i in 2.. {
        let Ok(raw) = std::fs::read(path.join(format!("signature-{i}"))) else {
            break;
        };
        use base64::Engine as _;
        let sig: Value =
            serde_json::from_slice(raw.strip_prefix(b"\x00sigstore-json\n").unwrap()).unwrap();
        layers.push((
            sig["mimeType"].as_str().unwrap().to_owned(),
            base64::engine::general_purpose::STANDARD
                .decode(sig["payload"].as_str().unwrap())
                .unwrap(),
            sig["annotations"].clone(),
        ));
    }
    (manifest, layers)
}

/// A containers/image fixture: the image manifest and its first signature
/// layer (media type, payload, annotations).
fn fixture_layer(dir: &str) -> (Vec<u8>, String, Vec<u8>, Value) {
    use base64::Engine as _;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/containers-image")
        .join(dir);
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    let raw = std::fs::read(dir.join("signature-1")).unwrap();
    let sig: Value =
        serde_json::from_slice(raw.strip_prefix(b"\x00sigstore-json\n").unwrap()).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(sig["payload"].as_str().unwrap())
        .unwrap();
    (
        manifest,
        sig["mimeType"].as_str().unwrap().to_owned(),
        payload,
        sig["annotations"].clone(),
    )
}

/// Real public-good material whose image blobs are not available — the
/// containers/image 2023 keyless signature, its private-PKI one, and the
/// forgeries FORMATS.md lists made from them — served by a static
/// in-process upstream (a fake registry that knows only these manifests,
/// their `.sig` tags and payloads), verified against the embedded
/// public-good trusted root and a private CA, through the proxy and through
/// `signgate verify`.
#[tokio::test(flavor = "multi_thread")]
async fn real_public_good_and_private_pki_signatures_and_their_forgeries() {
    use crate::support::fake::{not_found, reply, Fake};
    let (keyless_manifest, keyless_type, keyless_payload, keyless_ann) =
        fixture_layer("dir-img-cosign-fulcio-rekor-valid");
    let (pki_manifest, pki_type, pki_payload, pki_ann) = fixture_layer("dir-img-cosign-pki-valid");
    let (other_manifest, other_type, other_payload, other_ann) =
        fixture_layer("dir-img-cosign-valid");
    // (a) the signature swapped for another valid one; (b) certificate,
    // chain and Rekor bundle copied onto another image's signature; (c) a
    // Rekor body describing another entry, SET kept.
    let mut swapped = keyless_ann.clone();
    swapped[ANN_SIGNATURE_KEY] = other_ann[ANN_SIGNATURE_KEY].clone();
    let mut copied = other_ann.clone();
    for a in [ANN_CERTIFICATE, ANN_CHAIN, ANN_BUNDLE] {
        copied[a] = keyless_ann[a].clone();
    }
    let mut other_body = keyless_ann.clone();
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut rekor: Value =
            serde_json::from_str(keyless_ann[ANN_BUNDLE].as_str().unwrap()).unwrap();
        let mut body: Value = serde_json::from_slice(
            &b64.decode(rekor["Payload"]["body"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        body["spec"]["data"]["hash"]["value"] =
            json!(sha256(b"another artifact").trim_start_matches("sha256:"));
        rekor["Payload"]["body"] = json!(b64.encode(serde_json::to_vec(&body).unwrap()));
        other_body[ANN_BUNDLE] = json!(rekor.to_string());
    }
    // (repository, image manifest, layer media type, payload, annotations)
    type Case<'a> = (&'a str, &'a Vec<u8>, &'a str, &'a Vec<u8>, Value);
    let cases: Vec<Case> = vec![
        (
            "real/keyless",
            &keyless_manifest,
            &keyless_type,
            &keyless_payload,
            keyless_ann.clone(),
        ),
        ("real/pki", &pki_manifest, &pki_type, &pki_payload, pki_ann),
        (
            "forged/swapped",
            &keyless_manifest,
            &keyless_type,
            &keyless_payload,
            swapped,
        ),
        (
            "forged/copied",
            &other_manifest,
            &other_type,
            &other_payload,
            copied,
        ),
        (
            "forged/otherbody",
            &keyless_manifest,
            &keyless_type,
            &keyless_payload,
            other_body,
        ),
    ];
    let mut served = std::collections::BTreeMap::new();
    for (repo, manifest, media_type, payload, annotations) in cases {
        let digest = sha256(manifest);
        let payload_digest = sha256(payload);
        let sig_manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": sha256(b"{}")},
            "layers": [{"mediaType": media_type, "size": payload.len(), "digest": payload_digest, "annotations": annotations}],
        }))
        .unwrap();
        let manifest_type = serde_json::from_slice::<Value>(manifest).unwrap()["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.docker.distribution.manifest.v2+json")
            .to_owned();
        for reference in ["v1".to_owned(), digest.clone()] {
            served.insert(
                format!("/v2/{repo}/manifests/{reference}"),
                (manifest_type.clone(), manifest.clone()),
            );
        }
        served.insert(
            format!("/v2/{repo}/manifests/{}.sig", digest.replace(':', "-")),
            (OCI_MANIFEST.to_owned(), sig_manifest),
        );
        served.insert(
            format!("/v2/{repo}/blobs/{payload_digest}"),
            ("application/octet-stream".to_owned(), payload.clone()),
        );
    }
    // containers/image's key-signed fixtures (every signature layer).
    for (repo, name) in KEY_FIXTURES {
        let (manifest, layers) = fixture_layers(name);
        let digest = sha256(&manifest);
        let mut descriptors = Vec::new();
        for (media_type, payload, annotations) in layers {
            let payload_digest = sha256(&payload);
            descriptors.push(json!({"mediaType": media_type, "size": payload.len(), "digest": payload_digest, "annotations": annotations}));
            served.insert(
                format!("/v2/{repo}/blobs/{payload_digest}"),
                ("application/octet-stream".to_owned(), payload),
            );
        }
        let sig_manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2, "digest": sha256(b"{}")},
            "layers": descriptors,
        }))
        .unwrap();
        for reference in ["v1".to_owned(), digest.clone()] {
            served.insert(
                format!("/v2/{repo}/manifests/{reference}"),
                (
                    "application/vnd.docker.distribution.manifest.v2+json".to_owned(),
                    manifest.clone(),
                ),
            );
        }
        served.insert(
            format!("/v2/{repo}/manifests/{}.sig", digest.replace(':', "-")),
            (OCI_MANIFEST.to_owned(), sig_manifest),
        );
    }
    let fake = Fake::start(move |r| match served.get(&r.path) {
        Some((media_type, body)) => reply(
            http::StatusCode::OK,
            &[
                ("content-type", media_type.as_str()),
                ("docker-content-digest", &sha256(body)),
            ],
            body.clone(),
        ),
        None => not_found(),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containers-image");
    let ca: String = ["pki_root_crts.pem", "pki_intermediate_crts.pem"]
        .iter()
        .map(|f| std::fs::read_to_string(fixtures.join(f)).unwrap())
        .collect();
    let policy = |subject: &str, issuer: &str| {
        format!(
            r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: real}}
spec:
  images: [{{glob: "static.test/real/keyless"}}, {{glob: "static.test/forged/*"}}]
  authorities:
    - keyless:
        identities: [{{issuer: "{issuer}", subject: "{subject}"}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: pki}}
spec:
  images: [{{glob: "static.test/real/pki"}}]
  authorities:
    - keyless:
        ca-cert: {{path: pki-ca.pem}}
        identities: [{{subject: "{subject}"}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: key}}
spec:
  images: [{{glob: "static.test/key/*"}}]
  authorities:
    - key: {{path: cosign.pub}}
"#
        )
    };
    // Verdicts that do not depend on the keyless identity in force.
    let forged_denied = [
        ("forged/swapped", 403),
        ("forged/copied", 403),
        ("forged/otherbody", 403),
        ("key/valid", 200),
        ("key/valid-2", 200),
        ("key/valid-with-tag", 200),
        ("key/mixed", 200),
        ("key/modified-manifest", 403),
        ("key/manifest-digest-error", 403),
        ("key/other-attachment", 403),
    ];
    for (subject, issuer, expected) in [
        (
            "mitr@redhat.com",
            "https://github.com/login/oauth",
            vec![("real/keyless", 200), ("real/pki", 403)],
        ),
        (
            "qiwan@redhat.com",
            "https://github.com/login/oauth",
            vec![("real/keyless", 403), ("real/pki", 200)],
        ),
        (
            "mitr@redhat.com",
            "https://accounts.google.com",
            vec![("real/keyless", 403), ("real/pki", 403)],
        ),
        (
            "mitr@redhat.co",
            "https://github.com/login/oauth",
            vec![("real/keyless", 403)],
        ),
    ] {
        let policies = dir.path().join(format!("p-{subject}-{}", issuer.len()));
        std::fs::create_dir_all(&policies).unwrap();
        std::fs::write(policies.join("real.yaml"), policy(subject, issuer)).unwrap();
        std::fs::copy(fixtures.join("cosign.pub"), policies.join("cosign.pub")).unwrap();
        std::fs::write(policies.join("pki-ca.pem"), &ca).unwrap();
        let sg = Signgate::start(
            &[Up::new("static.test", &fake.url()).default()],
            &format!("policies: {}\nno-match-policy: deny\n", policies.display()),
        );
        let config = sg.dir.path().join("signgate.yaml");
        for (repo, want) in expected.iter().chain(forged_denied.iter()) {
            let r = pull(&sg, repo).await;
            assert_eq!(
                r.status,
                *want,
                "{repo} as {subject} ({issuer}): {}",
                String::from_utf8_lossy(&r.body)
            );
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
                .args([
                    "verify",
                    "--config",
                    config.to_str().unwrap(),
                    &format!("static.test/{repo}:v1"),
                ])
                .output()
                .unwrap();
            let code = if *want == 200 { 0 } else { 1 };
            assert_eq!(
                out.status.code(),
                Some(code),
                "signgate verify {repo}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_explain_names_every_signature_and_the_check_that_failed() {
    let w = keyless_world();
    let sg = gate("");
    let config = sg.dir.path().join("signgate.yaml");
    let explain = |image: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
            .args([
                "verify",
                "--explain",
                "--config",
                config.to_str().unwrap(),
                image,
            ])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = explain("registry.test/kl/legacy:v1");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("policy 'alice'")
            && text.contains("authority 'alice': keyless, trusted root"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "[ok] registry.test/kl/legacy:{}.sig",
            w.images["kl/legacy"].replace(':', "-")
        )),
        "{text}"
    );
    assert!(
        text.contains("signed by alice@example.test (https://issuer.example.test)"),
        "{text}"
    );
    assert!(
        text.contains("log index 1000") && text.contains("(from transparency log (SET))"),
        "{text}"
    );

    let (code, text) = explain("registry.test/kl/eve:v1");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("[rejected]")
            && text.contains("subject 'eve@example.test' does not match 'alice@example.test'"),
        "{text}"
    );

    let (code, text) = explain("registry.test/kl/att-critical:v1");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("attestation 'scan': condition NOT satisfied"),
        "{text}"
    );
    assert!(
        text.contains("attestation 'provenance': condition satisfied"),
        "{text}"
    );
    assert!(
        text.contains("(referrer)") && text.contains("predicate https://spdx.dev/Document"),
        "{text}"
    );
}
