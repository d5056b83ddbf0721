//! The sigstore conformance suite's bundle-verify cases, run through
//! signgate's verifier (`signgate::verify::verify_blob`, the same
//! `sigstore-verify` call and identity matching the proxy uses).
//!
//! Cases: `tests/fixtures/sigstore-conformance/bundle-verify/` (sigstore/
//! sigstore-conformance @ a73de497). The suite's rules: a case whose name
//! ends in `_fail` must be rejected, every other case must verify; the
//! artifact is the case's `artifact` file or `a.txt`; each case runs twice,
//! with the artifact's bytes and with its `sha256:` digest only; identity
//! and issuer come from the case's files or the suite's defaults (exact
//! matches); `key.pub` means verify with that key; `trusted_root.json`
//! replaces the public-good root (here: the one embedded in signgate).

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use signgate::verify::{verify_blob, BlobPolicy, PublicKey, TrustRoot};
use sigstore_verify::types::{Artifact, Sha256Hash};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigstore-conformance/bundle-verify")
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Run one case with the artifact as bytes or as a digest.
fn run(case: &Path, by_digest: bool) -> Result<(), String> {
    let root = match read(&case.join("trusted_root.json")) {
        Some(json) => TrustRoot::from_json("case", &json)?,
        None => TrustRoot::public_good()?,
    };
    let bundle = read(&case.join("bundle.sigstore.json")).ok_or("no bundle")?;
    let artifact_path = if case.join("artifact").exists() {
        case.join("artifact")
    } else {
        suite().join("a.txt")
    };
    let bytes = std::fs::read(artifact_path).map_err(|e| e.to_string())?;
    let policy = match read(&case.join("key.pub")) {
        Some(pem) => BlobPolicy::Key(PublicKey::from_pem(&pem)?),
        None => BlobPolicy::Identity {
            subject: read(&case.join("identity"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|| DEFAULT_IDENTITY.into()),
            issuer: read(&case.join("issuer"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|| DEFAULT_ISSUER.into()),
        },
    };
    let artifact = if by_digest {
        let hash = Sha256Hash::from_hex(&hex::encode(Sha256::digest(&bytes)))
            .map_err(|e| e.to_string())?;
        Artifact::from(hash)
    } else {
        Artifact::from(bytes.as_slice())
    };
    verify_blob(&root, &bundle, artifact, &policy)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn every_conformance_case_gives_its_expected_verdict_by_path_and_by_digest() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(suite())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 70, "the suite has 70 cases");
    let mut wrong = Vec::new();
    let mut runs = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let must_fail = name.ends_with("_fail");
        for by_digest in [false, true] {
            runs += 1;
            let outcome = run(case, by_digest);
            let how = if by_digest { "DIGEST" } else { "PATH" };
            match (must_fail, outcome) {
                (false, Err(e)) => wrong.push(format!("{how}-{name}: rejected: {e}")),
                (true, Ok(())) => wrong.push(format!("{how}-{name}: accepted")),
                _ => {}
            }
        }
    }
    assert_eq!(runs, 140);
    assert!(
        wrong.is_empty(),
        "{} of 140 runs wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The suite's negative cases are only meaningful if the positive ones
/// verify for the right reason: the same bundle under a wrong identity, a
/// wrong issuer, another artifact, or another key must fail.
#[test]
fn a_happy_case_fails_under_any_other_identity_issuer_artifact_or_key() {
    let case = suite().join("happy-path-v0.3");
    let bundle = read(&case.join("bundle.sigstore.json")).unwrap();
    let root = TrustRoot::public_good().unwrap();
    let artifact = std::fs::read(suite().join("a.txt")).unwrap();
    let ok = BlobPolicy::Identity {
        subject: DEFAULT_IDENTITY.into(),
        issuer: DEFAULT_ISSUER.into(),
    };
    assert!(verify_blob(&root, &bundle, Artifact::from(artifact.as_slice()), &ok).is_ok());
    for policy in [
        BlobPolicy::Identity {
            subject: format!("{DEFAULT_IDENTITY}x"),
            issuer: DEFAULT_ISSUER.into(),
        },
        BlobPolicy::Identity {
            subject: DEFAULT_IDENTITY.into(),
            issuer: "https://accounts.google.com".into(),
        },
    ] {
        assert!(verify_blob(&root, &bundle, Artifact::from(artifact.as_slice()), &policy).is_err());
    }
    assert!(verify_blob(
        &root,
        &bundle,
        Artifact::from(&b"another artifact"[..]),
        &ok
    )
    .is_err());
    let key_case = suite().join("managed-key-happy-path");
    let key_bundle = read(&key_case.join("bundle.sigstore.json")).unwrap();
    let other_key = PublicKey::from_pem(
        &read(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/containers-image/cosign.pub"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(verify_blob(
        &root,
        &key_bundle,
        Artifact::from(artifact.as_slice()),
        &BlobPolicy::Key(other_key)
    )
    .is_err());
}
