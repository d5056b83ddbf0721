//! A legacy layer's `dev.sigstore.cosign/bundle` annotation (cosign's
//! RekorBundle) and signed content → the pieces of a sigstore bundle v0.1:
//! its one `tlogEntries` element and its `messageSignature` or
//! `dsseEnvelope`. Shared by keyless (certificate) and key (`ctlog`)
//! verification, which differ only in the verification material.

use base64::Engine as _;
use serde_json::{json, Value};

use super::keyless::LegacyContent;
use super::RejectReason;
use crate::oci::Digest;

/// The `tlogEntries` element the annotation describes. The verifier parses
/// the body by the declared kind and does not cross-check it: declare what
/// the body says, and only kinds that fit the content. `require_set`
/// refuses an entry without a signed entry timestamp here, by name.
pub(super) fn tlog_entry(
    rekor: &str,
    content: &LegacyContent<'_>,
    require_set: bool,
    fail: &dyn Fn(String) -> RejectReason,
) -> Result<Value, RejectReason> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let rekor: Value = serde_json::from_str(rekor)
        .map_err(|_| fail("the Rekor bundle annotation is not JSON".into()))?;
    let entry = |key: &str| rekor.get("Payload").and_then(|p| p.get(key));
    let body = entry("body")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("the Rekor bundle has no body".into()))?;
    let decoded: Value = b64
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| fail("the Rekor entry body is not base64 JSON".into()))?;
    let field = |key: &str| decoded.get(key).and_then(Value::as_str).unwrap_or_default();
    let kind = (field("kind"), field("apiVersion"));
    let allowed: &[(&str, &str)] = match content {
        LegacyContent::Message { .. } => &[("hashedrekord", "0.0.1")],
        LegacyContent::Dsse { .. } => &[("dsse", "0.0.1"), ("intoto", "0.0.2")],
    };
    if !allowed.contains(&kind) {
        return Err(fail(format!(
            "the Rekor entry is a {} {}, which cannot vouch for this layer",
            kind.0, kind.1
        )));
    }
    let set = rekor.get("SignedEntryTimestamp");
    if require_set && set.and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(fail("the Rekor bundle has no SignedEntryTimestamp".into()));
    }
    let log_id = hex::decode(entry("logID").and_then(Value::as_str).unwrap_or_default())
        .map_err(|_| fail("the Rekor log ID is not hex".into()))?;
    let (Some(log_index), Some(integrated_time)) = (
        entry("logIndex").and_then(Value::as_u64),
        entry("integratedTime").and_then(Value::as_i64),
    ) else {
        return Err(fail(
            "the Rekor bundle lacks logIndex or integratedTime".into(),
        ));
    };
    Ok(json!({
        "logIndex": log_index.to_string(),
        "logId": {"keyId": b64.encode(log_id)},
        "kindVersion": {"kind": kind.0, "version": kind.1},
        "integratedTime": integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": set},
        "canonicalizedBody": body,
    }))
}

/// The bundle's content key and value: `messageSignature` over the
/// simple-signing payload's digest, or the DSSE envelope as it is.
pub(super) fn signed_content(content: &LegacyContent<'_>) -> (&'static str, Value) {
    let b64 = base64::engine::general_purpose::STANDARD;
    match content {
        LegacyContent::Message { payload, signature } => {
            let digest = hex::decode(Digest::sha256_of(payload).hex()).unwrap_or_default();
            let signed = json!({
                "messageDigest": {"algorithm": "SHA2_256", "digest": b64.encode(digest)},
                "signature": signature,
            });
            ("messageSignature", signed)
        }
        LegacyContent::Dsse { envelope } => ("dsseEnvelope", (*envelope).clone()),
    }
}
