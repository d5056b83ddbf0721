//! Why a signature layer did not verify, as text for people (the metrics
//! code of each reason is policy's: `DenialCode::from`).

use std::fmt;

use super::COSIGN_SIGNATURE_TYPE;

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
    /// A key authority with `ctlog`: the signature's log entry is missing,
    /// does not verify, or describes another signature or key.
    TransparencyLog(String),
    /// The signature verified, but the certificate is someone else's.
    Identity(String),
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
            RejectReason::TransparencyLog(e) => {
                write!(f, "transparency-log entry rejected: {e}")
            }
            RejectReason::Identity(e) => write!(f, "signed by someone else: {e}"),
            RejectReason::NotApplicable(e) => write!(f, "not applicable: {e}"),
        }
    }
}
