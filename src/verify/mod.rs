//! Verification: does a signature layer prove that a trusted key signed
//! *this* digest? And the proof types the response path requires.
//!
//! [`Verified`] can only be created here, after the signature checked out
//! against the key and the signed payload named the digest. [`Admission`],
//! which `respond::manifest` needs, is built only from `Verified` values for
//! the same digest, or from an explicit, typed [`Exemption`] that policy
//! granted (a static pass, `no-match-policy: allow`, warn mode, a signature
//! artifact passing through).
//!
//! Architecture invariant: no I/O, no HTTP, no caching; every check below
//! has a negative test. Keyless verification (sigstore bundles) extends this
//! module.

mod blob;
mod der;
mod identity;
mod key;
pub mod keyless;
mod payload;
mod pki;
mod sct;
pub mod statement;
pub mod trust;

use std::fmt;

use base64::Engine as _;
use sigstore_verify::types::{Artifact, Bundle, Sha256Hash, SignatureContent};

pub use blob::{verify_blob, BlobPolicy};
pub use identity::{check_any as match_identity, Claim, Identity, Matcher, Signer, CLAIM_KEYS};
pub use key::PublicKey;
pub use keyless::Strictness;
pub use payload::COSIGN_SIGNATURE_TYPE;
pub use statement::{Statement, COSIGN_SIGN_PREDICATE};
pub use trust::{PrivateCa, TrustRoot, TrustRoots, TrustSource};

use self::keyless::LegacyContent;
use self::payload::PayloadError;
use crate::oci::Digest;
use crate::signature::{SignatureLayer, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};

/// Every sigstore bundle media type starts with this (v0.1–v0.3).
pub use crate::signature::BUNDLE_PREFIX;
/// A legacy cosign attestation layer (`.att`): a DSSE envelope.
pub use crate::signature::DSSE_ENVELOPE;

/// What an authority requires of a signature.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Signed by this key (cosign `--key`). Like `cosign verify
    /// --insecure-ignore-tlog`, no log entry is required.
    Key(PublicKey),
    /// A certificate for one of these identities.
    Keyless(Keyless),
}

/// A keyless authority: trust material, identities, strictness.
#[derive(Debug, Clone)]
pub struct Keyless {
    pub trust: TrustSource,
    pub identities: Vec<Identity>,
    pub strictness: Strictness,
}

/// What the caller is looking for among the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// An image signature: simple-signing, or a bundle whose statement has
    /// cosign v3's `https://sigstore.dev/cosign/sign/v1` predicate.
    Signature,
    /// Attestations: DSSE statements with any other predicate.
    Attestation,
}

/// A signature that verified for `digest`.
#[derive(Debug, Clone)]
pub struct Verified {
    digest: Digest,
    authority: String,
    /// `key sha256:…` or `subject (issuer)`.
    signer: String,
    layer: Digest,
    found_at: String,
    docker_reference: Option<String>,
    statement: Option<Statement>,
    evidence: Option<Evidence>,
}

/// How a keyless signature was anchored in time and in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub log_index: Option<i64>,
    /// Unix seconds, from the verified log entry or timestamp.
    pub time: Option<i64>,
    pub time_source: &'static str,
    pub tlog_verified: bool,
    pub sct_verified: bool,
    /// The root's name and origin ([`TrustRoot::detail`]): local detail for
    /// `--explain` and logs, not for responses.
    pub trust_root: String,
}

/// Why one signature layer did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    NotASignature {
        media_type: String,
    },
    /// Verifiable, but not what was asked for (an attestation when a
    /// signature is wanted, or the reverse).
    NotApplicable(String),
    MissingSignature,
    SignatureEncoding,
    SignatureInvalid(String),
    PayloadUnreadable(String),
    WrongType(String),
    OtherImage(String),
    /// A keyless check failed (chain, SCT, SET, log entry…).
    Keyless(String),
    /// The signature verified, but the certificate is someone else's.
    Identity(String),
}

/// Proof that a manifest digest may be served.
#[derive(Debug, Clone)]
pub struct Admission {
    digest: Digest,
    basis: Basis,
}

#[derive(Debug, Clone)]
enum Basis {
    Signed(Vec<Verified>),
    ListedBy(Digest),
    Exempt(Exemption),
}

/// A policy decision to serve without a verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exemption {
    /// A `static: {action: pass}` authority.
    StaticPass { policy: String },
    /// `no-match-policy: allow` or `warn`.
    NoMatch,
    /// A failing policy in `mode: warn`.
    WarnMode { policy: String },
    /// A cosign signature/attestation artifact, served so clients can verify.
    SignatureArtifact,
}

// === impl Verified ===

impl Verified {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Who signed: `key sha256:…` or `subject (issuer)`.
    pub fn signer(&self) -> &str {
        &self.signer
    }

    pub fn layer(&self) -> &Digest {
        &self.layer
    }

    /// Where the material was found (`repo:sha256-….sig`, a referrer…).
    pub fn found_at(&self) -> &str {
        &self.found_at
    }

    pub fn docker_reference(&self) -> Option<&str> {
        self.docker_reference.as_deref()
    }

    /// The verified in-toto statement (bundles and attestations).
    pub fn statement(&self) -> Option<&Statement> {
        self.statement.as_ref()
    }

    pub fn evidence(&self) -> Option<&Evidence> {
        self.evidence.as_ref()
    }
}

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
    let checked = if layer.media_type == SIMPLE_SIGNING {
        simple_signing(digest, layer, requirement, want)?
    } else if layer.media_type == DSSE_ENVELOPE {
        legacy_dsse(digest, layer, requirement, want)?
    } else if layer.media_type.starts_with(BUNDLE_PREFIX) {
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
    })
}

/// What one layer's checks established.
struct Checked {
    signer: String,
    docker_reference: Option<String>,
    statement: Option<Statement>,
    evidence: Option<Evidence>,
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
    let (signer, evidence) = match requirement {
        Requirement::Key(key) => {
            key.verify(&layer.payload, &signature)
                .map_err(RejectReason::SignatureInvalid)?;
            (format!("key sha256:{}", key.id()), None)
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
    let (signer, evidence) = match requirement {
        Requirement::Key(key) => {
            key.verify(&pae, &signature)
                .map_err(RejectReason::SignatureInvalid)?;
            (format!("key sha256:{}", key.id()), None)
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
    let (signer, evidence) = match requirement {
        Requirement::Key(key) => {
            key.verify(&pae, signature)
                .map_err(RejectReason::SignatureInvalid)?;
            (format!("key sha256:{}", key.id()), None)
        }
        Requirement::Keyless(keyless) => {
            let entries = bundle.verification_material.tlog_entries.len();
            if entries > 1 || (entries == 0 && keyless.strictness.tlog) {
                return Err(RejectReason::Keyless(format!(
                    "bundle has {entries} transparency-log entries; exactly one is required"
                )));
            }
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
            (signer.describe(), evidence)
        }
    };
    Ok(Checked {
        signer,
        docker_reference: None,
        statement: Some(claimed),
        evidence,
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
) -> Result<(String, Option<Evidence>), RejectReason> {
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
        TrustSource::Sigstore(root) => match keyless::legacy_bundle(&layer.annotations, content)? {
            Some(bundle) => {
                let (signer, evidence) =
                    keyless::verify_bundle(root, artifact, &bundle, keyless.strictness)?;
                (signer, Some(evidence))
            }
            // `insecureIgnoreTlog`: the chain now, and the SCT unless
            // `insecureIgnoreSCT` too.
            None if !keyless.strictness.tlog => {
                let sct = keyless.strictness.sct.then(|| root.ct_logs());
                let signer = pki::verify(root.ca(), certificate, chain, message, signature, sct)?;
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
    Ok((signer.describe(), evidence))
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

impl RejectReason {
    /// A stable kebab-case code, for metrics.
    pub fn code(&self) -> crate::policy::DenialCode {
        use crate::policy::DenialCode;
        match self {
            RejectReason::NotASignature { .. } => DenialCode::UnsupportedSignature,
            RejectReason::MissingSignature
            | RejectReason::SignatureEncoding
            | RejectReason::SignatureInvalid(_) => DenialCode::UntrustedSignature,
            RejectReason::PayloadUnreadable(_) | RejectReason::WrongType(_) => {
                DenialCode::BadPayload
            }
            RejectReason::OtherImage(_) => DenialCode::OtherImage,
            RejectReason::Keyless(_) => DenialCode::KeylessRejected,
            RejectReason::Identity(_) => DenialCode::WrongIdentity,
            RejectReason::NotApplicable(_) => DenialCode::NoSignatures,
        }
    }
}

// === impl Admission ===

impl Admission {
    /// Admit `digest` on verified signatures; `None` unless there is at
    /// least one and every one is for `digest`.
    pub fn signed(digest: &Digest, verified: Vec<Verified>) -> Option<Admission> {
        if verified.is_empty() || verified.iter().any(|v| &v.digest != digest) {
            return None;
        }
        Some(Admission {
            digest: digest.clone(),
            basis: Basis::Signed(verified),
        })
    }

    /// Admit a platform manifest because an admitted index lists it.
    pub fn listed_by(child: &Digest, index: &Admission) -> Admission {
        Admission {
            digest: child.clone(),
            basis: Basis::ListedBy(index.digest.clone()),
        }
    }

    /// Admit without a signature, for a reason policy granted.
    pub fn exempt(digest: &Digest, exemption: Exemption) -> Admission {
        Admission {
            digest: digest.clone(),
            basis: Basis::Exempt(exemption),
        }
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Admitted because an admitted index lists it.
    pub fn is_listed_by_index(&self) -> bool {
        matches!(self.basis, Basis::ListedBy(_))
    }

    /// Admitted as a proven-inert signature artifact: never recorded as an
    /// image (store roots, mirror exports).
    pub fn is_signature_artifact(&self) -> bool {
        matches!(self.basis, Basis::Exempt(Exemption::SignatureArtifact))
    }

    /// The verified signatures behind this admission, if any.
    pub fn signatures(&self) -> &[Verified] {
        match &self.basis {
            Basis::Signed(v) => v,
            _ => &[],
        }
    }

    /// One line for logs: how this digest was admitted.
    pub fn basis(&self) -> String {
        match &self.basis {
            Basis::Signed(v) => v
                .iter()
                .map(|v| format!("signed (authority '{}', {})", v.authority, v.signer))
                .collect::<Vec<_>>()
                .join(", "),
            Basis::ListedBy(index) => format!("listed by admitted index {index}"),
            Basis::Exempt(e) => format!("{e}"),
        }
    }
}

impl fmt::Display for Exemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exemption::StaticPass { policy } => write!(f, "static pass (policy '{policy}')"),
            Exemption::NoMatch => write!(f, "no policy matches (no-match-policy allows)"),
            Exemption::WarnMode { policy } => write!(f, "policy '{policy}' failed in warn mode"),
            Exemption::SignatureArtifact => {
                write!(f, "signature artifact, served for client-side verification")
            }
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::NotASignature { media_type } => {
                write!(f, "unsupported signature layer of type '{media_type}'")
            }
            RejectReason::MissingSignature => write!(f, "layer has no signature annotation"),
            RejectReason::SignatureEncoding => write!(f, "signature annotation is not base64"),
            RejectReason::SignatureInvalid(_) => {
                write!(f, "signature by an untrusted key (or corrupted)")
            }
            RejectReason::PayloadUnreadable(e) => write!(f, "signed payload is unreadable: {e}"),
            RejectReason::WrongType(t) => write!(
                f,
                "signed payload type is '{t}', not '{COSIGN_SIGNATURE_TYPE}'"
            ),
            RejectReason::OtherImage(d) => write!(f, "signature is for another image ({d})"),
            RejectReason::Keyless(e) => write!(f, "keyless signature rejected: {e}"),
            RejectReason::Identity(e) => write!(f, "signed by someone else: {e}"),
            RejectReason::NotApplicable(e) => write!(f, "not applicable: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
