//! The gate's answer: an admission or a denial, and why a manifest is
//! denied as a stable code: the `reason` label of
//! `signgate_decisions_total`, alert rules and the README's table all use
//! these, so they are one enum, not strings spread over the gate.

use std::fmt;
use std::time::Duration;

use crate::oci::Digest;
use crate::verify::{Admission, RejectReason};

/// The gate's answer.
#[derive(Debug, Clone)]
pub enum Decision {
    Admit {
        admission: Admission,
        /// Failures tolerated by `mode: warn` or `no-match-policy: warn`,
        /// sent to the client as `Warning` headers.
        warnings: Vec<String>,
    },
    Deny(Denial),
}

/// Why a manifest is refused.
#[derive(Debug, Clone)]
pub struct Denial {
    pub image: String,
    pub digest: Digest,
    /// The policy that denied, if one did (none for `no-match-policy: deny`).
    pub policy: Option<String>,
    pub reasons: Vec<String>,
    /// An upstream failure on the way to a verdict: not cached.
    pub transient: bool,
    /// A stable code for metrics and alerts (the README lists them all).
    pub code: DenialCode,
}

/// How long decisions are reused.
#[derive(Debug, Clone, Copy)]
pub struct DecisionTtls {
    pub allow: Duration,
    pub deny: Duration,
}

// === impl Denial ===

impl Denial {
    /// The `detail` object of the OCI error.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "image": self.image,
            "digest": self.digest.as_str(),
            "policy": self.policy,
            "reasons": self.reasons,
        })
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} denied", self.image, self.digest)?;
        if let Some(policy) = &self.policy {
            write!(f, " by policy {policy}")?;
        }
        write!(f, ": {}", self.reasons.join("; "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenialCode {
    /// No policy matches and `no-match-policy` is deny.
    NoMatch,
    NoSignatures,
    UntrustedSignature,
    OtherImage,
    UnsupportedSignature,
    BadPayload,
    /// A `static: {action: fail}` authority.
    StaticFail,
    SourceUnconfigured,
    /// Transient: not cached.
    UpstreamError,
    WrongIdentity,
    KeylessRejected,
    NoAttestation,
    AttestationPolicy,
    /// `spec.policy` refused what the authorities established.
    PolicyCondition,
    /// Signature material over its bounds, or unreadable.
    MaterialRefused,
    /// Labelled as signature material, and not.
    DisguisedArtifact,
    Internal,
}

impl DenialCode {
    #[cfg(test)]
    const ALL: [DenialCode; 17] = [
        DenialCode::NoMatch,
        DenialCode::NoSignatures,
        DenialCode::UntrustedSignature,
        DenialCode::OtherImage,
        DenialCode::UnsupportedSignature,
        DenialCode::BadPayload,
        DenialCode::StaticFail,
        DenialCode::SourceUnconfigured,
        DenialCode::UpstreamError,
        DenialCode::WrongIdentity,
        DenialCode::KeylessRejected,
        DenialCode::NoAttestation,
        DenialCode::AttestationPolicy,
        DenialCode::PolicyCondition,
        DenialCode::MaterialRefused,
        DenialCode::DisguisedArtifact,
        DenialCode::Internal,
    ];

    /// The kebab-case form used in metrics and documentation.
    pub fn as_str(self) -> &'static str {
        match self {
            DenialCode::NoMatch => "no-match",
            DenialCode::NoSignatures => "no-signatures",
            DenialCode::UntrustedSignature => "untrusted-signature",
            DenialCode::OtherImage => "other-image",
            DenialCode::UnsupportedSignature => "unsupported-signature",
            DenialCode::BadPayload => "bad-payload",
            DenialCode::StaticFail => "static-fail",
            DenialCode::SourceUnconfigured => "source-unconfigured",
            DenialCode::UpstreamError => "upstream-error",
            DenialCode::WrongIdentity => "wrong-identity",
            DenialCode::KeylessRejected => "keyless-rejected",
            DenialCode::NoAttestation => "no-attestation",
            DenialCode::AttestationPolicy => "attestation-policy",
            DenialCode::PolicyCondition => "policy-condition",
            DenialCode::MaterialRefused => "material-refused",
            DenialCode::DisguisedArtifact => "disguised-artifact",
            DenialCode::Internal => "internal",
        }
    }
}

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The metrics code of a layer's rejection (verify says why; the code
/// table is policy's).
impl From<&RejectReason> for DenialCode {
    fn from(reason: &RejectReason) -> DenialCode {
        match reason {
            RejectReason::NotASignature { .. } => DenialCode::UnsupportedSignature,
            RejectReason::MissingSignature
            | RejectReason::SignatureEncoding
            | RejectReason::SignatureInvalid(_) => DenialCode::UntrustedSignature,
            RejectReason::PayloadUnreadable(_) | RejectReason::WrongType(_) => {
                DenialCode::BadPayload
            }
            RejectReason::OtherImage(_) => DenialCode::OtherImage,
            RejectReason::Keyless(_) => DenialCode::KeylessRejected,
            RejectReason::TransparencyLog(_) => DenialCode::UntrustedSignature,
            RejectReason::Identity(_) => DenialCode::WrongIdentity,
            RejectReason::NotApplicable(_) => DenialCode::NoSignatures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's list of denial reason codes is the enum, no more, no less.
    #[test]
    fn the_readme_lists_every_denial_code() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("(reason codes:")
            .expect("the README lists the reason codes");
        let rest = readme.get(start..).unwrap_or_default();
        let end = rest
            .find("; allows:")
            .expect("the list ends with the allows");
        let listed: std::collections::BTreeSet<&str> = rest
            .get(..end)
            .unwrap_or_default()
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        let codes: std::collections::BTreeSet<&str> =
            DenialCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, codes);
    }
}
