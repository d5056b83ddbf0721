//! Keyless signatures (Fulcio certificate + Rekor entry), verified by
//! `sigstore-verify` against an offline trusted root.
//!
//! Legacy cosign layers (`.sig` simple-signing, `.att` DSSE) are converted
//! into the equivalent sigstore bundle v0.1 — the leaf certificate only
//! (intermediates come from the trusted root; the `chain` annotation is
//! never trusted), exactly one log entry with its signed entry timestamp —
//! and verified exactly like the bundles cosign v3 stores as referrers:
//! certificate chain to Fulcio at the signature's time, SCT, SET and/or
//! inclusion proof, the entry's consistency with the signature, the
//! signature itself. Identity, issuer and claims are matched afterwards by
//! `identity`, on the certificate the verifier accepted.

use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_verify::types::{Artifact, Bundle, TransparencyLogEntry};
use sigstore_verify::VerificationPolicy;

use super::identity::Signer;
use super::tlog_threshold;
use super::trust::TrustRoot;
use super::{Evidence, RejectReason};

pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// How strictly a keyless signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strictness {
    /// Verify the certificate's embedded SCT (`insecureIgnoreSCT` clears it).
    pub sct: bool,
    /// Require a transparency-log entry (`ctlog.insecureIgnoreTlog` clears
    /// it), and verify the entries present.
    pub tlog: bool,
    /// The signing time comes from a verified RFC 3161 timestamp
    /// (`rfc3161timestamp`): at least one is required, and a log entry is
    /// not (GitHub's private instance has no log); entries present are
    /// still verified unless `tlog` is cleared.
    pub timestamp: bool,
}

impl Default for Strictness {
    fn default() -> Self {
        Strictness {
            sct: true,
            tlog: true,
            timestamp: false,
        }
    }
}

/// Which signed content a legacy layer carries.
pub enum LegacyContent<'a> {
    /// `.sig`: a signature over the simple-signing payload.
    Message {
        payload: &'a [u8],
        signature: &'a str,
    },
    /// `.att`: a DSSE envelope (as JSON).
    Dsse { envelope: &'a Value },
}

/// Run `sigstore-verify` on `bundle` for `artifact`; on success, who signed
/// and the evidence.
pub fn verify_bundle(
    root: &TrustRoot,
    artifact: Artifact<'_>,
    bundle: &Bundle,
    strictness: Strictness,
) -> Result<(Signer, Evidence), RejectReason> {
    let material = &bundle.verification_material;
    let entries = material.tlog_entries.len();
    let timestamps = material
        .timestamp_verification_data
        .rfc3161_timestamps
        .len();
    if strictness.timestamp && timestamps == 0 {
        return Err(RejectReason::Keyless(
            "no RFC 3161 timestamp: the authority (rfc3161timestamp) takes the signing time from a verified timestamp".into(),
        ));
    }
    let mut policy = VerificationPolicy::any_identity();
    if !strictness.sct {
        policy = policy.skip_sct();
    }
    // Timestamp-only: no entry is needed, but an entry present must verify
    // (`sigstore-verify` checks every entry's consistency with the
    // signature either way, and every timestamp present).
    if !strictness.tlog || (strictness.timestamp && entries == 0) {
        policy = policy.skip_tlog_unsafe();
    }
    let verifier = root.verifier()?;
    let (result, entry) = if entries > 1 && policy.verifies_tlog() {
        each_entry(verifier, artifact, bundle, &policy)?
    } else {
        let result = verifier
            .verify(artifact, bundle, &policy)
            .map_err(|e| RejectReason::Keyless(e.to_string()))?;
        (result, material.tlog_entries.first())
    };
    let certificate = result
        .certificate()
        .ok_or_else(|| RejectReason::Keyless("bundle has no certificate".into()))?;
    let signer = Signer::from_certificate(certificate);
    // With no SET time, the earliest verified timestamp (every one was
    // checked against the certificate's validity).
    let time = result
        .integrated_time()
        .or_else(|| result.verified_timestamps().iter().min().copied());
    let evidence = Evidence {
        log_index: entry.map(|e| e.log_index.as_i64()),
        time: time.map(|t| t.as_second()),
        time_source: if result.integrated_time().is_some() {
            "transparency log (SET)"
        } else if !result.verified_timestamps().is_empty() {
            "RFC 3161 timestamp"
        } else {
            "none"
        },
        tlog_verified: result.tlog_verified(),
        sct_verified: result.sct_verified(),
        trust_root: root.detail(),
    };
    Ok((signer, evidence))
}

/// Several entries: each verified alone; one that does not verify must
/// still describe this signature (`tlog_threshold::describes`), and at
/// least `THRESHOLD` must verify. The first verified entry is the evidence.
fn each_entry<'b>(
    verifier: &sigstore_verify::Verifier,
    artifact: Artifact<'_>,
    bundle: &'b Bundle,
    policy: &VerificationPolicy,
) -> Result<
    (
        sigstore_verify::VerificationResult,
        Option<&'b TransparencyLogEntry>,
    ),
    RejectReason,
> {
    let all = &bundle.verification_material.tlog_entries;
    let mut verified = None;
    let mut count = 0;
    let mut failures = Vec::new();
    for entry in all {
        let mut one = bundle.clone();
        one.verification_material.tlog_entries = vec![entry.clone()];
        match verifier.verify(artifact.clone(), &one, policy) {
            Ok(result) => {
                count += 1;
                if verified.is_none() {
                    verified = Some((result, Some(entry)));
                }
            }
            Err(e) => {
                tlog_threshold::describes(bundle, entry).map_err(|why| {
                    RejectReason::Keyless(format!(
                        "transparency-log entry {} does not describe this signature: {why}",
                        entry.log_index.as_i64()
                    ))
                })?;
                failures.push(format!("entry {}: {e}", entry.log_index.as_i64()));
            }
        }
    }
    match verified {
        Some(v) if count >= tlog_threshold::THRESHOLD => Ok(v),
        _ => Err(RejectReason::Keyless(format!(
            "{count} of {} transparency-log entries verified, {} required: {}",
            all.len(),
            tlog_threshold::THRESHOLD,
            failures.join("; ")
        ))),
    }
}

/// At most this many log entries are read from one bundle (sigstore-go's
/// bound).
const MAX_TLOG_ENTRIES: usize = 32;

/// The log entries a bundle may carry: none only where no log is required,
/// at most [`MAX_TLOG_ENTRIES`], none listed twice (a repeated entry would
/// count twice towards a threshold). `sigstore-verify` then checks that
/// every entry describes this signature and that every entry verifies: a
/// threshold of all of them, so at least one (policy-controller's default);
/// an entry that cannot be verified (a log the root does not know) denies,
/// where sigstore-go would skip it.
pub fn check_entries(bundle: &Bundle, strictness: Strictness) -> Result<(), RejectReason> {
    let entries = &bundle.verification_material.tlog_entries;
    let refuse = |m: String| Err(RejectReason::Keyless(m));
    if entries.is_empty() && strictness.tlog && !strictness.timestamp {
        return refuse("bundle has no transparency-log entry; one is required".into());
    }
    if entries.len() > MAX_TLOG_ENTRIES {
        return refuse(format!(
            "bundle has {} transparency-log entries; at most {MAX_TLOG_ENTRIES} are read",
            entries.len()
        ));
    }
    for (i, e) in entries.iter().enumerate() {
        let twice = entries
            .iter()
            .skip(i + 1)
            .any(|f| f.log_id.key_id == e.log_id.key_id && f.log_index == e.log_index);
        if twice {
            return refuse(format!(
                "bundle lists transparency-log entry {} twice",
                e.log_index.as_i64()
            ));
        }
    }
    Ok(())
}

/// A legacy layer as a sigstore bundle v0.1 (with its Rekor entry), or why
/// it cannot be one. Without a Rekor bundle annotation: `None`, unless
/// `timestamp_only` and it carries an RFC 3161 timestamp annotation — then
/// a v0.2 bundle with no log entry (v0.1 requires one).
pub fn legacy_bundle(
    annotations: &std::collections::BTreeMap<String, String>,
    content: LegacyContent<'_>,
    timestamp_only: bool,
) -> Result<Option<Bundle>, RejectReason> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let keyless = |m: &str| RejectReason::Keyless(m.to_owned());
    let certificate = annotations
        .get(CERTIFICATE_ANNOTATION)
        .ok_or_else(|| keyless("no certificate annotation (not a keyless signature)"))?;
    let leaf = rustls_pemfile::certs(&mut certificate.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| keyless("certificate annotation is not a PEM certificate"))?;
    let material = match annotations.get(BUNDLE_ANNOTATION) {
        Some(rekor) => rekor_material(rekor, &content)?,
        None if timestamp_only && annotations.contains_key(RFC3161_ANNOTATION) => json!({}),
        None => return Ok(None),
    };
    let version = if material.get("tlogEntries").is_some() {
        "0.1"
    } else {
        "0.2"
    };
    let mut material = material;
    if let Some(material) = material.as_object_mut() {
        material.insert(
            "x509CertificateChain".into(),
            json!({"certificates": [{"rawBytes": b64.encode(leaf.as_ref())}]}),
        );
    }
    if let Some(ts) = annotations.get(RFC3161_ANNOTATION) {
        let ts: Value = serde_json::from_str(ts)
            .map_err(|_| keyless("the RFC 3161 timestamp annotation is not JSON"))?;
        if let Some(material) = material.as_object_mut() {
            material.insert(
                "timestampVerificationData".into(),
                json!({"rfc3161Timestamps": [{"signedTimestamp": ts.get("SignedRFC3161Timestamp")}]}),
            );
        }
    }
    let (key, signed) = super::rekor_entry::signed_content(&content);
    let bundle = json!({
        "mediaType": format!("application/vnd.dev.sigstore.bundle+json;version={version}"),
        "verificationMaterial": material,
        key: signed,
    });
    Bundle::from_json(&bundle.to_string())
        .map(Some)
        .map_err(|e| keyless(&format!("not a valid bundle: {e}")))
}

/// The `tlogEntries` of a legacy layer's Rekor bundle annotation.
fn rekor_material(rekor: &str, content: &LegacyContent<'_>) -> Result<Value, RejectReason> {
    let entry = super::rekor_entry::tlog_entry(rekor, content, false, &RejectReason::Keyless)?;
    Ok(json!({ "tlogEntries": [entry] }))
}
