//! The proof types: a [`Verified`] signature, minted only by
//! `verify::check`, and the [`Admission`] `respond::manifest`
//! demands, built only from `Verified` values for the same digest or from
//! an explicit, typed [`Exemption`] that policy granted.

use std::fmt;

use super::{Signer, Statement};
use crate::oci::Digest;

/// A signature that verified for `digest`. Its fields are visible to
/// `verify/` alone, and only `verify::check` builds one.
#[derive(Debug, Clone)]
pub struct Verified {
    pub(super) digest: Digest,
    pub(super) authority: String,
    /// `key sha256:…` or `subject (issuer)`.
    pub(super) signer: String,
    pub(super) layer: Digest,
    pub(super) found_at: String,
    pub(super) docker_reference: Option<String>,
    pub(super) statement: Option<Statement>,
    pub(super) evidence: Option<Evidence>,
    /// Who holds the certificate (keyless signatures only).
    pub(super) identity: Option<Signer>,
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

    /// The certificate holder of a keyless signature.
    pub fn identity(&self) -> Option<&Signer> {
        self.identity.as_ref()
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
