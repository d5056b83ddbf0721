//! Keyless cosign signatures (Fulcio certificate + Rekor entry) on legacy
//! `.sig` layers, verified by `sigstore-verify`.
//!
//! A layer is converted into the equivalent sigstore bundle v0.1 (message
//! signature over the payload, the leaf certificate, the one `hashedrekord`
//! 0.0.1 entry with its signed entry timestamp) and verified against an
//! offline trusted root: certificate chain to Fulcio at the entry's time,
//! SCT, SET, the entry's consistency with the layer, the signature, and the
//! identity. What the bundle verifier cannot know — that the payload names
//! the digest being served — is checked afterwards, as for key signatures.
//!
//! Not wired into policies yet: keyless authorities are still refused at
//! policy load time.

use base64::Engine as _;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::Bundle;
use sigstore_verify::{VerificationPolicy, Verifier};

use super::{RejectReason, Verified};
use crate::oci::Digest;
use crate::signature::{SignatureLayer, SIGNATURE_ANNOTATION};

const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Offline trust material (a `trusted_root.json`), parsed once.
pub struct TrustRoot {
    verifier: Verifier,
}

/// An exact certificate identity: SAN and OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

impl TrustRoot {
    pub fn from_json(json: &str) -> Result<TrustRoot, String> {
        let root = TrustedRoot::from_json(json).map_err(|e| format!("trusted root: {e}"))?;
        let verifier = Verifier::new(&root).map_err(|e| format!("trusted root: {e}"))?;
        Ok(TrustRoot { verifier })
    }
}

/// Find a layer whose keyless signature verifies under `trust` for one of
/// `identities` and whose payload names `digest`.
pub fn verify_keyless(
    digest: &Digest,
    layers: &[SignatureLayer],
    authority: &str,
    trust: &TrustRoot,
    identities: &[Identity],
) -> Result<Verified, Vec<RejectReason>> {
    super::first_verified(digest, layers, authority, |layer| {
        verify_layer(digest, layer, trust, identities)
            .map(|(subject, docker_reference)| (format!("keyless:{subject}"), docker_reference))
    })
}

fn verify_layer(
    digest: &Digest,
    layer: &SignatureLayer,
    trust: &TrustRoot,
    identities: &[Identity],
) -> Result<(String, Option<String>), RejectReason> {
    super::require_simple_signing(layer)?;
    let bundle = to_bundle(layer)?;
    let mut last = RejectReason::Keyless("no identity configured".into());
    for identity in identities {
        let policy = VerificationPolicy::new(identity.subject.clone(), identity.issuer.clone());
        match trust
            .verifier
            .verify(layer.payload.as_ref(), &bundle, &policy)
        {
            Ok(_) => {
                let docker_reference = super::check_payload(layer, digest)?;
                return Ok((identity.subject.clone(), docker_reference));
            }
            Err(e) => last = RejectReason::Keyless(e.to_string()),
        }
    }
    Err(last)
}

/// The layer as a sigstore bundle v0.1 (promise-only, as cosign writes it).
fn to_bundle(layer: &SignatureLayer) -> Result<Bundle, RejectReason> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let signature = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .filter(|s| !s.is_empty())
        .ok_or(RejectReason::MissingSignature)?;
    let certificate = layer
        .annotations
        .get(CERTIFICATE_ANNOTATION)
        .ok_or_else(|| RejectReason::Keyless("no certificate annotation".into()))?;
    let leaf = rustls_pemfile::certs(&mut certificate.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| {
            RejectReason::Keyless("certificate annotation is not a PEM certificate".into())
        })?;
    let rekor: serde_json::Value = layer
        .annotations
        .get(BUNDLE_ANNOTATION)
        .and_then(|b| serde_json::from_str(b).ok())
        .ok_or_else(|| {
            RejectReason::Keyless(
                "no readable Rekor bundle annotation (a transparency-log entry is required)".into(),
            )
        })?;
    let entry = &rekor["Payload"];
    let body = entry["body"].as_str().unwrap_or_default();
    // Only hashedrekord 0.0.1 entries: the verifier parses the body by the
    // declared kind and does not cross-check it.
    let decoded: serde_json::Value = b64
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if decoded["kind"] != "hashedrekord" || decoded["apiVersion"] != "0.0.1" {
        return Err(RejectReason::Keyless(
            "the Rekor entry is not a hashedrekord 0.0.1".into(),
        ));
    }
    let log_id = hex::decode(entry["logID"].as_str().unwrap_or_default())
        .map_err(|_| RejectReason::Keyless("the Rekor log ID is not hex".into()))?;
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": b64.encode(leaf.as_ref())}]},
            "tlogEntries": [{
                "logIndex": entry["logIndex"].as_u64().unwrap_or_default().to_string(),
                "logId": {"keyId": b64.encode(log_id)},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": entry["integratedTime"].as_i64().unwrap_or_default().to_string(),
                "inclusionPromise": {"signedEntryTimestamp": rekor["SignedEntryTimestamp"]},
                "canonicalizedBody": body,
            }],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64.encode(hex::decode(Digest::sha256_of(&layer.payload).hex()).unwrap_or_default())},
            "signature": signature,
        },
    });
    Bundle::from_json(&json.to_string())
        .map_err(|e| RejectReason::Keyless(format!("not a valid bundle: {e}")))
}
