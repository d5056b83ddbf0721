//! policy-controller `kind: TrustRoot` documents with `spec.sigstoreKeys`,
//! end to end: a root defined only in the policy directory (no `trust:`
//! config) admits what its Fulcio issued and logged, and a document with
//! another instance's keys admits nothing of this one.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::keyless::keyless_world;
use crate::support::enforce::denial_of as denial;
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::TestSigstore;

fn keys_doc(name: &str, ca: &TestSigstore) -> String {
    let ctlog = ca.ctlog_public_pem().unwrap_or_default();
    format!(
        "apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: {name}\nspec:\n  sigstoreKeys:\n    certificateAuthorities:\n    - subject: {{organization: signgate, commonName: signgate-test-root}}\n      uri: https://fulcio.signgate.test\n      certChain: {}\n    tLogs:\n    - baseURL: https://rekor.signgate.test\n      hashAlgorithm: sha-256\n      publicKey: {}\n    ctLogs:\n    - baseURL: https://ctfe.signgate.test\n      hashAlgorithm: sha-256\n      publicKey: {}\n",
        B64.encode(ca.ca_chain_pem()),
        B64.encode(ca.rekor_public_pem()),
        B64.encode(ctlog),
    )
}

const POLICY: &str = r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: alice-by-document}
spec:
  images: [{glob: "registry.test/kl/legacy"}, {glob: "registry.test/kl/eve"}]
  authorities:
    - keyless:
        trustRootRef: corp
        identities:
          - issuer: https://issuer.example.test
            subject: alice@example.test
      ctlog: {trustRootRef: corp}
"#;

fn gate(trust_root: String) -> Signgate {
    let w = keyless_world();
    let dir = w
        .dir
        .path()
        .join(format!("tr{}", crate::support::free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    // The policy first, the root it names in a later file.
    std::fs::write(dir.join("a-policy.yaml"), POLICY).unwrap();
    std::fs::write(dir.join("b-trust-root.yaml"), trust_root).unwrap();
    Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!("policies: {}\nno-match-policy: deny\n", dir.display()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigstore_keys_trust_root_document_admits_its_instance_only() {
    let w = keyless_world();
    let sg = gate(keys_doc("corp", &w.ca));
    let ok = crate::support::enforce::pull(&sg, "kl/legacy", "v1").await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let m = denial(&crate::support::enforce::pull(&sg, "kl/eve", "v1").await);
    assert!(m.contains("denied by policy alice-by-document"), "{m}");

    // Another instance's keys under the same name: alice's genuine
    // signature no longer chains.
    let other = TestSigstore::new();
    let sg = gate(keys_doc("corp", &other));
    let m = denial(&crate::support::enforce::pull(&sg, "kl/legacy", "v1").await);
    assert!(
        m.contains("denied by policy alice-by-document") && m.contains("keyless"),
        "{m}"
    );
}
