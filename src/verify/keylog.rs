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

use serde_json::json;
use sigstore_verify::types::{Artifact, Bundle};
use sigstore_verify::PublicKeyVerificationPolicy;

use super::keyless::BUNDLE_ANNOTATION;
use super::trust::TrustRoot;
use super::{Evidence, PublicKey, RejectReason};

/// A key authority that requires a verified transparency-log entry.
#[derive(Debug, Clone)]
pub struct KeyLog {
    pub key: PublicKey,
    /// Whose Rekor keys vouch for the entry (`ctlog.trustRootRef`).
    pub root: Arc<TrustRoot>,
}

/// What a legacy layer signed (the same shapes keyless converts).
pub(super) use super::keyless::LegacyContent as Signed;

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
    let entry = super::rekor_entry::tlog_entry(rekor, &signed, true, &|m| refused(m))?;
    let (key, content) = super::rekor_entry::signed_content(&signed);
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "publicKey": {"hint": ""},
            "tlogEntries": [entry],
        },
        key: content,
    });
    Bundle::from_json(&bundle.to_string()).map_err(|e| refused(format!("not a valid bundle: {e}")))
}
