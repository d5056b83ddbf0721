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

mod key;
pub mod keyless;
mod payload;

use std::fmt;

use base64::Engine as _;

pub use key::PublicKey;
pub use payload::COSIGN_SIGNATURE_TYPE;

use self::payload::PayloadError;
use crate::oci::Digest;
use crate::signature::{SignatureLayer, SIGNATURE_ANNOTATION, SIMPLE_SIGNING};

/// A signature that verified for `digest`.
#[derive(Debug, Clone)]
pub struct Verified {
    digest: Digest,
    authority: String,
    key_id: String,
    layer: Digest,
    docker_reference: Option<String>,
}

/// Why one signature layer did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    NotASignature {
        media_type: String,
    },
    MissingSignature,
    SignatureEncoding,
    SignatureInvalid(String),
    PayloadUnreadable(String),
    WrongType(String),
    OtherImage(String),
    /// A keyless check failed (chain, SCT, SET, log entry, identity…).
    Keyless(String),
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

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn layer(&self) -> &Digest {
        &self.layer
    }

    pub fn docker_reference(&self) -> Option<&str> {
        self.docker_reference.as_deref()
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
    first_verified(digest, layers, authority, |layer| {
        verify_layer(digest, layer, key)
            .map(|docker_reference| (key.id().to_owned(), docker_reference))
    })
}

/// The first layer `check` accepts, as `Verified` for `digest`; otherwise
/// every layer's reason. `check` answers (key id, docker-reference).
fn first_verified(
    digest: &Digest,
    layers: &[SignatureLayer],
    authority: &str,
    check: impl Fn(&SignatureLayer) -> Result<(String, Option<String>), RejectReason>,
) -> Result<Verified, Vec<RejectReason>> {
    let mut reasons = Vec::new();
    for layer in layers {
        match check(layer) {
            Ok((key_id, docker_reference)) => {
                return Ok(Verified {
                    digest: digest.clone(),
                    authority: authority.to_owned(),
                    key_id,
                    layer: layer.digest.clone(),
                    docker_reference,
                })
            }
            Err(reason) => reasons.push(reason),
        }
    }
    Err(reasons)
}

/// Only simple-signing layers carry cosign image signatures.
fn require_simple_signing(layer: &SignatureLayer) -> Result<(), RejectReason> {
    if layer.media_type == SIMPLE_SIGNING {
        Ok(())
    } else {
        Err(RejectReason::NotASignature {
            media_type: layer.media_type.clone(),
        })
    }
}

/// The verified payload must name `digest`; returns its docker-reference.
fn check_payload(layer: &SignatureLayer, digest: &Digest) -> Result<Option<String>, RejectReason> {
    payload::check(&layer.payload, digest).map_err(|e| match e {
        PayloadError::Unreadable(e) => RejectReason::PayloadUnreadable(e),
        PayloadError::WrongType(t) => RejectReason::WrongType(t),
        PayloadError::OtherImage(d) => RejectReason::OtherImage(d),
    })
}

fn verify_layer(
    digest: &Digest,
    layer: &SignatureLayer,
    key: &PublicKey,
) -> Result<Option<String>, RejectReason> {
    require_simple_signing(layer)?;
    let signature = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .filter(|s| !s.is_empty())
        .ok_or(RejectReason::MissingSignature)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| RejectReason::SignatureEncoding)?;
    // The payload's digest was checked when it was fetched; the signature
    // is over the payload bytes.
    key.verify(&layer.payload, &signature)
        .map_err(RejectReason::SignatureInvalid)?;
    check_payload(layer, digest)
}

impl RejectReason {
    /// A stable kebab-case code, for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::NotASignature { .. } => "unsupported-signature",
            RejectReason::MissingSignature
            | RejectReason::SignatureEncoding
            | RejectReason::SignatureInvalid(_) => "untrusted-signature",
            RejectReason::PayloadUnreadable(_) | RejectReason::WrongType(_) => "bad-payload",
            RejectReason::OtherImage(_) => "other-image",
            RejectReason::Keyless(_) => "keyless-rejected",
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
                .map(|v| {
                    format!(
                        "signed (authority '{}', key sha256:{})",
                        v.authority, v.key_id
                    )
                })
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
        }
    }
}

#[cfg(test)]
mod tests;
