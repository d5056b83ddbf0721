//! Key authorities with `ctlog`: the signature must also carry a Rekor
//! entry, verified offline against the trusted root's log keys and bound to
//! *this* signature and *this* key (`cosign verify --key` does this by
//! default).
//!
//! A legacy layer becomes a sigstore bundle v0.1 whose verification
//! material is `publicKey`, and `sigstore-verify` runs with a
//! `PublicKeyVerificationPolicy`: the SET over the entry, then the entry's
//! body against the bundle — the logged artifact hash, signature and public
//! key must be the ones verified here (`verify_tlog_consistency_with_key`).
//! signgate adds what the crate leaves open: at least one entry, and every
//! entry carries a SET or an inclusion proof (an entry with neither would
//! pass its loop untested).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_verify::types::{Artifact, Bundle};
use sigstore_verify::PublicKeyVerificationPolicy;

use super::keyless::BUNDLE_ANNOTATION;
use super::trust::TrustRoot;
use super::{Evidence, PublicKey, RejectReason};
use crate::oci::Digest;

/// A key authority that requires a verified transparency-log entry.
#[derive(Debug, Clone)]
pub struct KeyLog {
    pub key: PublicKey,
    /// Whose Rekor keys vouch for the entry (`ctlog.trustRootRef`).
    pub root: Arc<TrustRoot>,
}

/// What a legacy layer signed.
pub(super) enum Signed<'a> {
    /// `.sig`: a signature over the simple-signing payload.
    Message {
        payload: &'a [u8],
        signature: &'a str,
    },
    /// `.att`: a DSSE envelope (as JSON).
    Dsse { envelope: &'a Value },
}

fn refused(m: impl Into<String>) -> RejectReason {
    RejectReason::TransparencyLog(m.into())
}

/// A legacy layer signed by `log.key`, with its Rekor bundle annotation.
pub(super) fn verify_legacy(
    log: &KeyLog,
    annotations: &BTreeMap<String, String>,
    signed: Signed<'_>,
    artifact: Artifact<'_>,
) -> Result<Evidence, RejectReason> {
    let rekor = annotations.get(BUNDLE_ANNOTATION).ok_or_else(|| {
        refused("no Rekor bundle annotation: this key authority requires a transparency-log entry")
    })?;
    let bundle = legacy_key_bundle(rekor, signed)?;
    verify_bundle(log, &bundle, artifact)
}

/// A bundle signed by `log.key` (cosign v3 `--key`, found as a referrer).
pub(super) fn verify_bundle(
    log: &KeyLog,
    bundle: &Bundle,
    artifact: Artifact<'_>,
) -> Result<Evidence, RejectReason> {
    let entries = &bundle.verification_material.tlog_entries;
    if entries.is_empty() {
        return Err(refused(
            "no transparency-log entry: this key authority requires one",
        ));
    }
    if entries
        .iter()
        .any(|e| e.inclusion_promise.is_none() && e.inclusion_proof.is_none())
    {
        return Err(refused(
            "a transparency-log entry has neither a SET nor an inclusion proof",
        ));
    }
    let policy = PublicKeyVerificationPolicy::new(log.key.der().clone());
    let result = log
        .root
        .verifier()?
        .verify(artifact, bundle, &policy)
        .map_err(|e| refused(e.to_string()))?;
    if !result.tlog_verified() {
        return Err(refused("the transparency-log entry was not verified"));
    }
    Ok(Evidence {
        log_index: entries.first().map(|e| e.log_index.as_i64()),
        time: result.integrated_time().map(|t| t.as_second()),
        time_source: if result.integrated_time().is_some() {
            "transparency log (SET)"
        } else {
            "transparency log (inclusion proof, no time)"
        },
        tlog_verified: true,
        sct_verified: false,
        trust_root: log.root.detail(),
    })
}

/// The legacy layer as a bundle v0.1 with `publicKey` material and its one
/// log entry (body, SET, index, time, log ID as the annotation has them).
fn legacy_key_bundle(rekor: &str, signed: Signed<'_>) -> Result<Bundle, RejectReason> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let rekor: Value = serde_json::from_str(rekor)
        .map_err(|_| refused("the Rekor bundle annotation is not JSON"))?;
    let entry = |key: &str| rekor.get("Payload").and_then(|p| p.get(key));
    let body = entry("body")
        .and_then(Value::as_str)
        .ok_or_else(|| refused("the Rekor bundle has no body"))?;
    let decoded: Value = b64
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refused("the Rekor entry body is not base64 JSON"))?;
    let kind = (
        decoded
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        decoded
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    // The verifier parses the body by the declared kind: declare what the
    // body says, and only kinds that fit the content.
    let allowed: &[(&str, &str)] = match signed {
        Signed::Message { .. } => &[("hashedrekord", "0.0.1")],
        Signed::Dsse { .. } => &[("dsse", "0.0.1"), ("intoto", "0.0.2")],
    };
    if !allowed.contains(&kind) {
        return Err(refused(format!(
            "the Rekor entry is a {} {}, which cannot vouch for this layer",
            kind.0, kind.1
        )));
    }
    let set = rekor
        .get("SignedEntryTimestamp")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refused("the Rekor bundle has no SignedEntryTimestamp"))?;
    let log_id = hex::decode(entry("logID").and_then(Value::as_str).unwrap_or_default())
        .map_err(|_| refused("the Rekor log ID is not hex"))?;
    let (Some(log_index), Some(integrated_time)) = (
        entry("logIndex").and_then(Value::as_u64),
        entry("integratedTime").and_then(Value::as_i64),
    ) else {
        return Err(refused("the Rekor bundle lacks logIndex or integratedTime"));
    };
    let (key, content) = match signed {
        Signed::Message { payload, signature } => {
            let digest = hex::decode(Digest::sha256_of(payload).hex()).unwrap_or_default();
            let content = json!({
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64.encode(digest)},
                "signature": signature,
            });
            ("messageSignature", content)
        }
        Signed::Dsse { envelope } => ("dsseEnvelope", envelope.clone()),
    };
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "publicKey": {"hint": ""},
            "tlogEntries": [{
                "logIndex": log_index.to_string(),
                "logId": {"keyId": b64.encode(log_id)},
                "kindVersion": {"kind": kind.0, "version": kind.1},
                "integratedTime": integrated_time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": set},
                "canonicalizedBody": body,
            }],
        },
        key: content,
    });
    Bundle::from_json(&bundle.to_string()).map_err(|e| refused(format!("not a valid bundle: {e}")))
}
