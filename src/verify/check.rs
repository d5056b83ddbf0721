//! The single entry point of verification: one signature layer, every
//! format (simple-signing, DSSE attestations, sigstore bundles), every check
//! made on the same layer, a [`Verified`] or a [`RejectReason`].

use base64::Engine as _;
use sigstore_verify::types::{Artifact, Bundle, Sha256Hash, SignatureContent};

use super::keyless::{self, LegacyContent};
use super::keylog::{self, Signed};
use super::payload::{self, PayloadError};
use super::{
    match_identity, pki, statement, Evidence, Keyless, PublicKey, RejectReason, Requirement,
    Signer, Statement, TrustSource, Verified, Want, COSIGN_SIGN_PREDICATE,
};
use crate::oci::{
    Digest, BUNDLE_MEDIA_TYPE_PREFIX, DSSE_ENVELOPE_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE,
};
use crate::oci::{SignatureLayer, SIGNATURE_ANNOTATION};

/// Find a layer signed by `key` whose payload names `digest`. Any one
/// suffices (cosign's rule); otherwise every layer's reason is returned.
pub fn verify_with_key(
    digest: &Digest,
    layers: &[SignatureLayer],
    authority: &str,
    key: &PublicKey,
) -> Result<Verified, Vec<RejectReason>> {
    verify_signature(digest, layers, authority, &Requirement::Key(key.clone()))
}

/// The first layer that is an image signature for `digest` satisfying
/// `requirement`; otherwise every layer's reason. Every check — signature,
/// identity, digest — is made on the same layer.
pub fn verify_signature(
    digest: &Digest,
    layers: &[SignatureLayer],
    authority: &str,
    requirement: &Requirement,
) -> Result<Verified, Vec<RejectReason>> {
    let mut reasons = Vec::new();
    for layer in layers {
        match check(digest, layer, authority, requirement, Want::Signature) {
            Ok(v) => return Ok(v),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(reasons)
}

/// Every attestation for `digest` that verifies under `requirement`, and
/// the reasons of the layers that did not.
pub fn verify_attestations(
    digest: &Digest,
    layers: &[SignatureLayer],
    authority: &str,
    requirement: &Requirement,
) -> (Vec<Verified>, Vec<RejectReason>) {
    let mut verified = Vec::new();
    let mut reasons = Vec::new();
    for layer in layers {
        match check(digest, layer, authority, requirement, Want::Attestation) {
            Ok(v) => verified.push(v),
            Err(reason) => reasons.push(reason),
        }
    }
    (verified, reasons)
}

/// One layer, every format: the single entry point of verification.
pub fn check(
    digest: &Digest,
    layer: &SignatureLayer,
    authority: &str,
    requirement: &Requirement,
    want: Want,
) -> Result<Verified, RejectReason> {
    let checked = if layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE {
        simple_signing(digest, layer, requirement, want)?
    } else if layer.media_type == DSSE_ENVELOPE_MEDIA_TYPE {
        legacy_dsse(digest, layer, requirement, want)?
    } else if layer.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) {
        bundle(digest, layer, requirement, want)?
    } else {
        return Err(RejectReason::NotASignature {
            media_type: layer.media_type.clone(),
        });
    };
    Ok(Verified {
        digest: digest.clone(),
        authority: authority.to_owned(),
        signer: checked.signer,
        layer: layer.digest.clone(),
        found_at: layer.found_at.clone(),
        docker_reference: checked.docker_reference,
        statement: checked.statement,
        evidence: checked.evidence,
        identity: checked.identity,
    })
}

/// What one layer's checks established.
struct Checked {
    signer: String,
    docker_reference: Option<String>,
    statement: Option<Statement>,
    evidence: Option<Evidence>,
    /// The certificate's holder (keyless), for policy-level Rego.
    identity: Option<Signer>,
}

/// A legacy `.sig` layer: a signature over cosign's simple-signing payload.
fn simple_signing(
    digest: &Digest,
    layer: &SignatureLayer,
    requirement: &Requirement,
    want: Want,
) -> Result<Checked, RejectReason> {
    if want != Want::Signature {
        return Err(RejectReason::NotApplicable(
            "an image signature, not an attestation".into(),
        ));
    }
    // Go's base64 decoder skips line breaks, and some signers wrap.
    let signature_b64: String = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .map(|s| s.chars().filter(|c| !c.is_ascii_whitespace()).collect())
        .filter(|s: &String| !s.is_empty())
        .ok_or(RejectReason::MissingSignature)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&signature_b64)
        .map_err(|_| RejectReason::SignatureEncoding)?;
    // The payload's digest was checked when it was fetched; the signature
    // is over the payload bytes.
    let (signer, evidence, identity) = match requirement {
        Requirement::Key(key) => {
            key.verify(&layer.payload, &signature)
                .map_err(RejectReason::SignatureInvalid)?;
            (format!("key sha256:{}", key.id()), None, None)
        }
        Requirement::KeyWithLog(log) => {
            log.key
                .verify(&layer.payload, &signature)
                .map_err(RejectReason::SignatureInvalid)?;
            let evidence = keylog::verify_legacy(
                log,
                &layer.annotations,
                Signed::Message {
                    payload: &layer.payload,
                    signature: &signature_b64,
                },
                Artifact::from(layer.payload.as_ref()),
            )?;
            (format!("key sha256:{}", log.key.id()), Some(evidence), None)
        }
        Requirement::Keyless(keyless) => legacy_keyless(
            keyless,
            layer,
            LegacyContent::Message {
                payload: &layer.payload,
                signature: &signature_b64,
            },
            Artifact::from(layer.payload.as_ref()),
            &layer.payload,
            &signature,
        )?,
    };
    let docker_reference = check_payload(layer, digest)?;
    Ok(Checked {
        signer,
        docker_reference,
        statement: None,
        evidence,
        identity,
    })
}

/// A legacy `.att` layer: a DSSE envelope over an in-toto statement.
fn legacy_dsse(
    digest: &Digest,
    layer: &SignatureLayer,
    requirement: &Requirement,
    want: Want,
) -> Result<Checked, RejectReason> {
    if want != Want::Attestation {
        return Err(RejectReason::NotApplicable(
            "an attestation, not an image signature".into(),
        ));
    }
    let envelope =
        statement::parse_envelope(&layer.payload).map_err(RejectReason::PayloadUnreadable)?;
    let envelope_json: serde_json::Value = serde_json::from_slice(&layer.payload)
        .map_err(|e| RejectReason::PayloadUnreadable(e.to_string()))?;
    let signature = envelope.signature.sig.as_bytes().to_vec();
    let pae = envelope.pae();
    let (signer, evidence, identity) = match requirement {
        Requirement::Key(key) => {
            key.verify(&pae, &signature)
                .map_err(RejectReason::SignatureInvalid)?;
            (format!("key sha256:{}", key.id()), None, None)
        }
        Requirement::KeyWithLog(log) => {
            log.key
                .verify(&pae, &signature)
                .map_err(RejectReason::SignatureInvalid)?;
            let evidence = keylog::verify_legacy(
                log,
                &layer.annotations,
                Signed::Dsse {
                    envelope: &envelope_json,
                },
                Artifact::from(subject_hash(digest)?),
            )?;
            (format!("key sha256:{}", log.key.id()), Some(evidence), None)
        }
        Requirement::Keyless(keyless) => legacy_keyless(
            keyless,
            layer,
            LegacyContent::Dsse {
                envelope: &envelope_json,
            },
            Artifact::from(subject_hash(digest)?),
            &pae,
            &signature,
        )?,
    };
    let statement = statement::bind(&envelope, digest).map_err(RejectReason::OtherImage)?;
    Ok(Checked {
        signer,
        docker_reference: None,
        statement: Some(statement),
        evidence,
        identity,
    })
}

/// A sigstore bundle (cosign v3, found as an OCI referrer).
fn bundle(
    digest: &Digest,
    layer: &SignatureLayer,
    requirement: &Requirement,
    want: Want,
) -> Result<Checked, RejectReason> {
    let text = std::str::from_utf8(&layer.payload)
        .map_err(|_| RejectReason::PayloadUnreadable("bundle is not UTF-8".into()))?;
    let bundle = Bundle::from_json(text)
        .map_err(|e| RejectReason::PayloadUnreadable(format!("not a sigstore bundle: {e}")))?;
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return Err(RejectReason::NotASignature {
            media_type: "sigstore bundle with a message signature (a blob signature)".into(),
        });
    };
    // The statement must name this digest; checked before any cryptography
    // (cheap), and it is the verified envelope's own payload.
    let claimed = statement::bind(envelope, digest).map_err(RejectReason::OtherImage)?;
    let is_signature = claimed.predicate_type == COSIGN_SIGN_PREDICATE;
    match (want, is_signature) {
        (Want::Signature, false) => {
            return Err(RejectReason::NotApplicable(format!(
                "an attestation ({}), not an image signature",
                claimed.predicate_type
            )))
        }
        (Want::Attestation, true) => {
            return Err(RejectReason::NotApplicable(
                "an image signature, not an attestation".into(),
            ))
        }
        _ => {}
    }
    let pae = envelope.pae();
    let signature = envelope.signature.sig.as_bytes();
    let (signer, evidence, identity) = match requirement {
        Requirement::Key(key) => {
            key.verify(&pae, signature)
                .map_err(RejectReason::SignatureInvalid)?;
            (format!("key sha256:{}", key.id()), None, None)
        }
        Requirement::KeyWithLog(log) => {
            log.key
                .verify(&pae, signature)
                .map_err(RejectReason::SignatureInvalid)?;
            let evidence =
                keylog::verify_bundle(log, &bundle, Artifact::from(subject_hash(digest)?))?;
            (format!("key sha256:{}", log.key.id()), Some(evidence), None)
        }
        Requirement::Keyless(keyless) => {
            keyless::check_entries(&bundle, keyless.strictness)?;
            let (signer, evidence) = match &keyless.trust {
                TrustSource::Sigstore(root) => {
                    let (signer, evidence) = keyless::verify_bundle(
                        root,
                        Artifact::from(subject_hash(digest)?),
                        &bundle,
                        keyless.strictness,
                    )?;
                    (signer, Some(evidence))
                }
                TrustSource::PrivateCa(ca) => {
                    let leaf = bundle_leaf(&bundle)?;
                    (
                        pki::verify_der(&ca.ca, &leaf, None, &pae, signature, None)?,
                        None,
                    )
                }
            };
            match_identity(&keyless.identities, &signer).map_err(RejectReason::Identity)?;
            (signer.describe(), evidence, Some(signer))
        }
    };
    Ok(Checked {
        signer,
        docker_reference: None,
        statement: Some(claimed),
        evidence,
        identity,
    })
}

/// Keyless checks of a legacy layer: through `sigstore-verify` when it
/// carries a Rekor entry, else (only where the authority allows it) the
/// chain alone; then the identity.
fn legacy_keyless(
    keyless: &Keyless,
    layer: &SignatureLayer,
    content: LegacyContent<'_>,
    artifact: Artifact<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(String, Option<Evidence>, Option<Signer>), RejectReason> {
    let certificate = layer
        .annotations
        .get(keyless::CERTIFICATE_ANNOTATION)
        .ok_or_else(|| {
            RejectReason::Keyless("no certificate annotation (not a keyless signature)".into())
        })?;
    let chain = layer
        .annotations
        .get(keyless::CHAIN_ANNOTATION)
        .map(String::as_str);
    let (signer, evidence) = match &keyless.trust {
        TrustSource::Sigstore(root) => match keyless::legacy_bundle(
            &layer.annotations,
            content,
            keyless.strictness.timestamp,
        )? {
            Some(bundle) => {
                let (signer, evidence) =
                    keyless::verify_bundle(root, artifact, &bundle, keyless.strictness)?;
                (signer, Some(evidence))
            }
            None if keyless.strictness.timestamp => {
                return Err(RejectReason::Keyless(
                    "no Rekor bundle and no RFC 3161 timestamp annotation: the authority (rfc3161timestamp) requires a verified timestamp".into(),
                ))
            }
            // `insecureIgnoreTlog`: the chain now, and the SCT unless
            // `insecureIgnoreSCT` too.
            None if !keyless.strictness.tlog => {
                let sct = keyless.strictness.sct.then(|| root.ct_logs());
                let signer = pki::verify(root.ca()?, certificate, chain, message, signature, sct)?;
                let evidence = Evidence {
                    log_index: None,
                    time: None,
                    time_source: "none (no log entry: chain checked at the current time)",
                    tlog_verified: false,
                    sct_verified: sct.is_some(),
                    trust_root: root.detail(),
                };
                (signer, Some(evidence))
            }
            None => {
                return Err(RejectReason::Keyless(
                    "no Rekor bundle annotation: a transparency-log entry is required".into(),
                ))
            }
        },
        TrustSource::PrivateCa(ca) => (
            pki::verify(&ca.ca, certificate, chain, message, signature, None)?,
            None,
        ),
    };
    match_identity(&keyless.identities, &signer).map_err(RejectReason::Identity)?;
    Ok((signer.describe(), evidence, Some(signer)))
}

/// The image digest as the artifact an in-toto subject must name.
fn subject_hash(digest: &Digest) -> Result<Sha256Hash, RejectReason> {
    if !digest.as_str().starts_with("sha256:") {
        return Err(RejectReason::Keyless(
            "keyless verification needs a sha256 image digest".into(),
        ));
    }
    Sha256Hash::from_hex(digest.hex())
        .map_err(|e| RejectReason::Keyless(format!("image digest: {e}")))
}

/// The signing certificate of a bundle (leaf first in a chain).
fn bundle_leaf(
    bundle: &Bundle,
) -> Result<rustls::pki_types::CertificateDer<'static>, RejectReason> {
    use sigstore_verify::types::bundle::VerificationMaterialContent as M;
    let der = match &bundle.verification_material.content {
        M::Certificate(c) => c.raw_bytes.as_bytes().to_vec(),
        M::X509CertificateChain { certificates } => certificates
            .first()
            .map(|c| c.raw_bytes.as_bytes().to_vec())
            .ok_or_else(|| RejectReason::Keyless("empty certificate chain".into()))?,
        _ => {
            return Err(RejectReason::Keyless(
                "bundle carries no certificate".into(),
            ))
        }
    };
    Ok(rustls::pki_types::CertificateDer::from(der))
}

/// The verified payload must name `digest`; returns its docker-reference.
fn check_payload(layer: &SignatureLayer, digest: &Digest) -> Result<Option<String>, RejectReason> {
    payload::check(&layer.payload, digest).map_err(|e| match e {
        PayloadError::Unreadable(e) => RejectReason::PayloadUnreadable(e),
        PayloadError::WrongType(t) => RejectReason::WrongType(t),
        PayloadError::OtherImage(d) => RejectReason::OtherImage(d),
    })
}
