//! Key authorities with `ctlog` on a real key-signed signature logged in
//! the public-good Rekor (the conformance suite's `managed-key-happy-path`:
//! ECDSA P-256 over `a.txt`, hashedrekord 0.0.1, SET and inclusion proof,
//! 2025-12). Its log entry is carried the way a legacy `.sig` carries it
//! (the `dev.sigstore.cosign/bundle` annotation) and as the bundle itself;
//! the entry must be verified against the trusted root's Rekor keys and
//! describe this signature, this key and this artifact.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_verify::types::{Artifact, Bundle};

use super::*;
use crate::verify::keyless::BUNDLE_ANNOTATION;
use crate::verify::keylog::{verify_bundle, verify_legacy, KeyLog, Signed};

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

fn case(name: &str) -> PathBuf {
    fixtures()
        .join("sigstore-conformance/bundle-verify")
        .join(name)
}

/// The artifact, the bundle JSON, and the public-good root with `key.pub`.
fn real() -> (Vec<u8>, Value, KeyLog) {
    let artifact = std::fs::read(case("a.txt")).unwrap();
    let dir = case("managed-key-happy-path");
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).unwrap();
    let key = PublicKey::from_pem(&std::fs::read_to_string(dir.join("key.pub")).unwrap()).unwrap();
    let root = Arc::new(TrustRoot::public_good().unwrap());
    (artifact, bundle, KeyLog { key, root })
}

/// The bundle's log entry as cosign's legacy annotation (`RekorBundle`).
fn annotation(bundle: &Value) -> Value {
    let e = &bundle["verificationMaterial"]["tlogEntries"][0];
    let log_id = B64.decode(e["logId"]["keyId"].as_str().unwrap()).unwrap();
    json!({
        "SignedEntryTimestamp": e["inclusionPromise"]["signedEntryTimestamp"],
        "Payload": {
            "body": e["canonicalizedBody"],
            "integratedTime": e["integratedTime"].as_str().unwrap().parse::<i64>().unwrap(),
            "logIndex": e["logIndex"].as_str().unwrap().parse::<u64>().unwrap(),
            "logID": hex::encode(log_id),
        },
    })
}

fn legacy(
    log: &KeyLog,
    rekor: Option<&Value>,
    payload: &[u8],
    signature: &str,
) -> Result<Evidence, RejectReason> {
    let annotations: BTreeMap<String, String> = rekor
        .map(|r| (BUNDLE_ANNOTATION.to_owned(), r.to_string()))
        .into_iter()
        .collect();
    verify_legacy(
        log,
        &annotations,
        Signed::Message { payload, signature },
        Artifact::from(payload),
    )
}

fn signature(bundle: &Value) -> String {
    bundle["messageSignature"]["signature"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The entry body with `edit` applied, re-encoded (its SET no longer
/// covers it).
fn with_body(rekor: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut rekor = rekor.clone();
    let mut body: Value = serde_json::from_slice(
        &B64.decode(rekor["Payload"]["body"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    edit(&mut body);
    rekor["Payload"]["body"] = json!(B64.encode(serde_json::to_vec(&body).unwrap()));
    rekor
}

#[test]
fn a_real_public_good_log_entry_for_this_signature_and_key_verifies() {
    let (artifact, bundle, log) = real();
    let rekor = annotation(&bundle);
    let evidence = legacy(&log, Some(&rekor), &artifact, &signature(&bundle)).unwrap();
    assert_eq!(evidence.log_index, Some(771_488_337));
    assert_eq!(evidence.time, Some(1_766_077_479));
    assert!(evidence.tlog_verified);
    assert_eq!(evidence.time_source, "transparency log (SET)");
    // The bundle as cosign v3 stores it verifies the same way.
    let parsed = Bundle::from_json(&bundle.to_string()).unwrap();
    let evidence = verify_bundle(&log, &parsed, Artifact::from(artifact.as_slice())).unwrap();
    assert_eq!(evidence.log_index, Some(771_488_337));
}

#[test]
fn without_its_set_or_its_entry_the_signature_is_refused() {
    let (artifact, bundle, log) = real();
    let mut rekor = annotation(&bundle);
    rekor
        .as_object_mut()
        .unwrap()
        .remove("SignedEntryTimestamp");
    let err = legacy(&log, Some(&rekor), &artifact, &signature(&bundle)).unwrap_err();
    assert!(
        matches!(&err, RejectReason::TransparencyLog(m) if m.contains("SignedEntryTimestamp")),
        "{err:?}"
    );
    let err = legacy(&log, None, &artifact, &signature(&bundle)).unwrap_err();
    assert!(
        matches!(&err, RejectReason::TransparencyLog(m) if m.contains("no Rekor bundle annotation")),
        "{err:?}"
    );
    // A bundle with its entries removed (the RFC 3161 timestamp kept).
    let mut stripped = bundle.clone();
    stripped["verificationMaterial"]["tlogEntries"] = json!([]);
    let parsed = Bundle::from_json(&stripped.to_string()).unwrap();
    let err = verify_bundle(&log, &parsed, Artifact::from(artifact.as_slice())).unwrap_err();
    assert!(
        matches!(&err, RejectReason::TransparencyLog(m) if m.contains("no transparency-log entry")),
        "{err:?}"
    );
}

#[test]
fn a_forged_entry_body_is_refused() {
    let (artifact, bundle, log) = real();
    let rekor = annotation(&bundle);
    let sig = signature(&bundle);
    // The logged hash replaced by another artifact's.
    let other_hash = hex::encode(sha2_of(b"another artifact"));
    let forged = with_body(&rekor, |b| {
        b["spec"]["data"]["hash"]["value"] = json!(other_hash)
    });
    assert!(matches!(
        legacy(&log, Some(&forged), &artifact, &sig),
        Err(RejectReason::TransparencyLog(_))
    ));
    // Another key logged.
    let stranger = std::fs::read_to_string(fixtures().join("containers-image/cosign.pub")).unwrap();
    let forged = with_body(&rekor, |b| {
        b["spec"]["signature"]["publicKey"]["content"] = json!(B64.encode(stranger))
    });
    assert!(matches!(
        legacy(&log, Some(&forged), &artifact, &sig),
        Err(RejectReason::TransparencyLog(_))
    ));
    // Another kind declared (a body the SET does not cover either).
    let forged = with_body(&rekor, |b| b["kind"] = json!("rekord"));
    assert!(matches!(
        legacy(&log, Some(&forged), &artifact, &sig),
        Err(RejectReason::TransparencyLog(m)) if m.contains("cannot vouch")
    ));
}

#[test]
fn the_real_entry_vouches_only_for_its_own_artifact_key_and_log() {
    let (artifact, bundle, log) = real();
    let rekor = annotation(&bundle);
    let sig = signature(&bundle);
    // Another artifact under the same entry.
    let mut other = artifact.clone();
    other.push(b'\n');
    assert!(legacy(&log, Some(&rekor), &other, &sig).is_err());
    // Another key (the entry's key is not the authority's).
    let stranger = KeyLog {
        key: key("cosign.pub"),
        root: log.root.clone(),
    };
    assert!(matches!(
        legacy(&stranger, Some(&rekor), &artifact, &sig),
        Err(RejectReason::TransparencyLog(_))
    ));
    // A trusted root without public-good's Rekor key.
    let custom =
        std::fs::read_to_string(case("managed-key-and-trusted-root/trusted_root.json")).unwrap();
    let elsewhere = KeyLog {
        key: log.key.clone(),
        root: Arc::new(TrustRoot::from_json("elsewhere", &custom).unwrap()),
    };
    assert!(matches!(
        legacy(&elsewhere, Some(&rekor), &artifact, &sig),
        Err(RejectReason::TransparencyLog(_))
    ));
}

fn sha2_of(bytes: &[u8]) -> Vec<u8> {
    hex::decode(Digest::sha256_of(bytes).hex()).unwrap()
}
