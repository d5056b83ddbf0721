//! Several transparency-log entries in one bundle (cosign v3 bundles
//! stored as referrers, the test Rekor of `support::sigstore_ca`): every
//! entry must describe this signature and at least one must verify
//! (policy-controller's threshold of 1): an entry of a log the trusted
//! root does not know is let be when it describes this signature and
//! another verifies; a repeated entry, too many entries, an entry of
//! another signature (verifiable or not), or no verifiable entry deny.
//! Table-tested through signgate.

use serde_json::Value;

use crate::keyless::{gate, keyless_world, push_referrers};
use crate::support::enforce::pull;
use crate::support::image::push_image;
use crate::support::sigstore_ca::{
    cosign_sign_statement, LeafIdentity, TestSigstore, COSIGN_SIGN_PREDICATE,
};

const POLICY: &str = r#"---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: tlog-entries}
spec:
  images: [{glob: "registry.test/tl/*"}]
  authorities:
    - keyless:
        trustRootRef: test
        identities: [{issuer: "https://issuer.example.test", subject: "tl@example.test"}]
"#;

fn entries(bundle: &mut Value) -> &mut Vec<Value> {
    bundle["verificationMaterial"]["tlogEntries"]
        .as_array_mut()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_log_entry_must_describe_the_signature_and_one_must_verify() {
    let w = keyless_world();
    let signer = w.ca.issue(&LeafIdentity::email(
        "tl@example.test",
        "https://issuer.example.test",
    ));
    let elsewhere = TestSigstore::new();
    let url = w.registry.url();
    // (repo, extra entries beside the bundle's own, allowed?, reason)
    type Extra = fn(
        &crate::support::sigstore_ca::Signer,
        &TestSigstore,
        &TestSigstore,
        &Value,
        &str,
    ) -> Vec<Value>;
    let cases: Vec<(&str, Extra, bool, &str)> = vec![
        ("tl/one", |_, _, _, _, _| Vec::new(), true, ""),
        (
            "tl/two",
            |s, ca, _, statement, _| {
                let mut again: Value = serde_json::from_str(&s.bundle_v03(ca, statement)).unwrap();
                entries(&mut again).clone()
            },
            true,
            "",
        ),
        (
            "tl/repeated",
            |_, _, _, _, own| vec![serde_json::from_str(own).unwrap()],
            false,
            "twice",
        ),
        (
            "tl/other-signature",
            |s, ca, _, _, _| {
                let other = cosign_sign_statement(&format!("sha256:{}", "ab".repeat(32)));
                let mut b: Value = serde_json::from_str(&s.bundle_v03(ca, &other)).unwrap();
                entries(&mut b).clone()
            },
            false,
            "does not describe this signature: it logs another payload",
        ),
        // Logged also to a log this root does not know (another shard):
        // that entry describes this very signature, the other verifies.
        (
            "tl/unknown-log",
            |s, _, elsewhere, statement, _| {
                let mut b: Value =
                    serde_json::from_str(&s.bundle_v03(elsewhere, statement)).unwrap();
                entries(&mut b).clone()
            },
            true,
            "",
        ),
        // Only there: nothing verifies.
        (
            "tl/unknown-log-only",
            |s, _, elsewhere, statement, _| {
                let mut b: Value =
                    serde_json::from_str(&s.bundle_v03(elsewhere, statement)).unwrap();
                entries(&mut b).clone()
            },
            false,
            "No log key valid",
        ),
        // An unverifiable entry of another signature is not let through
        // for the company of a good one.
        (
            "tl/unknown-log-other-signature",
            |s, _, elsewhere, _, _| {
                let other = cosign_sign_statement(&format!("sha256:{}", "cd".repeat(32)));
                let mut b: Value = serde_json::from_str(&s.bundle_v03(elsewhere, &other)).unwrap();
                entries(&mut b).clone()
            },
            false,
            "does not describe this signature: it logs another",
        ),
        (
            "tl/too-many",
            |s, ca, _, statement, _| {
                (0..32)
                    .map(|_| {
                        let mut b: Value =
                            serde_json::from_str(&s.bundle_v03(ca, statement)).unwrap();
                        entries(&mut b).remove(0)
                    })
                    .collect()
            },
            false,
            "at most 32",
        ),
    ];
    let mut digests = Vec::new();
    for (repo, extra, _, _) in &cases {
        let digest = push_image(&w.registry, repo, repo);
        let statement = cosign_sign_statement(&digest);
        let mut bundle: Value =
            serde_json::from_str(&signer.bundle_v03(&w.ca, &statement)).unwrap();
        let own = entries(&mut bundle)[0].to_string();
        let more = extra(&signer, &w.ca, &elsewhere, &statement, &own);
        if repo.ends_with("-only") {
            entries(&mut bundle).clear();
        }
        entries(&mut bundle).extend(more);
        push_referrers(
            url.clone(),
            repo.to_string(),
            digest.clone(),
            vec![(bundle.to_string(), COSIGN_SIGN_PREDICATE.to_owned())],
        )
        .await;
        digests.push(digest);
    }
    let sg = gate(POLICY);
    let mut wrong = Vec::new();
    for ((repo, _, allowed, reason), digest) in cases.iter().zip(&digests) {
        let r = pull(&sg, repo, "v1").await;
        let body = String::from_utf8_lossy(&r.body).into_owned();
        eprintln!("{repo}: {} {body}", r.status);
        let ok = if *allowed {
            r.status == 200 && r.header("docker-content-digest") == Some(digest.as_str())
        } else {
            r.status == 403 && body.contains(reason)
        };
        if !ok {
            wrong.push(format!("{repo}: {} {body}", r.status));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
