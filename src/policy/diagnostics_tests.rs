//! Policy diagnostics, pinned: a table of bad policy documents (the cases
//! of `tests.rs`) → the text `signgate policy check` prints for each.
//! Wording and key paths are user-facing; a change is accepted on purpose
//! (`cargo insta review`).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::*;

const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDWeWCVKhSgxaA+jFTUcjhzKpEXNN\nRuvXZDUbVdg6X+Ts1mspXFWVJqRs7Gqb4u9srJr1ww+RbNxmEuwUKAsNaw==\n-----END PUBLIC KEY-----\n";

const PASS: &str = "    - static:\n        action: pass\n";

fn policy(globs: &[&str], authority: &str) -> String {
    let images: String = globs
        .iter()
        .map(|g| format!("    - glob: \"{g}\"\n"))
        .collect();
    format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: a\nspec:\n  images:\n{images}  authorities:\n{authority}")
}

fn cases() -> Vec<(&'static str, String)> {
    let key = KEY.replace('\n', "\\n");
    let x = &["x/*"][..];
    vec![
        ("kms key", policy(x, "    - key:\n        kms: awskms:///x\n")),
        ("secret ref", policy(x, "    - key:\n        secretRef: {name: s}\n")),
        (
            "unknown trusted root",
            policy(x, "    - keyless:\n        trustRootRef: staging\n        identities: [{issuer: i, subject: s}]\n"),
        ),
        ("no identities", policy(x, "    - keyless:\n        identities: []\n")),
        ("issuer without subject", policy(x, "    - keyless:\n        identities: [{issuer: i}]\n")),
        (
            "invalid subject regexp",
            policy(x, "    - keyless:\n        identities: [{issuer: i, subjectRegExp: '(unclosed'}]\n"),
        ),
        (
            "regexp escaping its anchors",
            policy(x, "    - keyless:\n        identities: [{issuer: i, subjectRegExp: 'x)|(?:.*'}]\n"),
        ),
        (
            "unknown claim",
            policy(x, "    - keyless:\n        identities: [{issuer: i, subject: s, claims: {colour: blue}}]\n"),
        ),
        (
            "attestations on a static authority",
            policy(x, "    - static: {action: pass}\n      attestations: [{name: a, predicateType: vuln}]\n"),
        ),
        (
            "cue attestation policy",
            policy(x, &format!("    - key: {{data: \"{key}\"}}\n      attestations: [{{name: a, predicateType: vuln, policy: {{type: cue, data: 'x: 1'}}}}]\n")),
        ),
        (
            "unknown predicate type",
            policy(x, &format!("    - key: {{data: \"{key}\"}}\n      attestations: [{{name: a, predicateType: sbom-ish}}]\n")),
        ),
        ("spec policy", policy(x, PASS).replace("spec:\n", "spec:\n  policy: {type: cue, data: x}\n")),
        ("audit mode", policy(x, PASS).replace("spec:\n", "spec:\n  mode: audit\n")),
        ("static action", policy(x, "    - static: {action: maybe}\n")),
        ("not a key", policy(x, "    - key: {data: not-a-key}\n")),
        ("unreadable key path", policy(x, "    - key: {path: missing.pub}\n")),
        ("unknown field", policy(x, "    - static: {action: pass}\n      colour: blue\n")),
        ("bad glob", policy(&["x/{a,b"], PASS)),
        ("glob with a tag", policy(&["x/app:latest"], PASS)),
        ("two authority kinds", policy(x, "    - static: {action: pass}\n      key: {data: x}\n")),
        ("wrong kind", policy(x, PASS).replace("ClusterImagePolicy", "ImagePolicy")),
        ("defined twice", format!("{}---\n{}", policy(x, PASS), policy(&["y/*"], PASS))),
    ]
}

#[test]
fn bad_policy_documents_are_reported_in_these_words() {
    let mut table = String::new();
    for (name, doc) in cases() {
        let err =
            PolicySet::from_files(&[(PathBuf::from("/p/bad.yaml"), doc)], NoMatchPolicy::Deny)
                .map(|_| ())
                .unwrap_err();
        writeln!(table, "## {name}\n{err}").unwrap();
    }
    insta::assert_snapshot!(table);
}
