//! cosign's simple-signing payload: what a legacy `.sig` layer signs.
//!
//! The signature proves the payload was signed; only the payload says for
//! which image. A genuine signature replayed onto another image's `.sig` tag
//! verifies, so the payload's digest must equal the digest being served.

use serde::Deserialize;

use crate::oci::Digest;

pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
    identity: Option<Identity>,
}

#[derive(Deserialize)]
struct Image {
    // Go's JSON decoding is case-insensitive and cosign's spec example
    // spells it with a capital D; real payloads use lowercase.
    #[serde(rename = "docker-manifest-digest", alias = "Docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: Option<String>,
}

/// Why a payload does not vouch for the digest being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PayloadError {
    Unreadable(String),
    WrongType(String),
    OtherImage(String),
}

/// Check a verified payload names `digest`; returns its docker-reference.
pub(super) fn check(payload: &[u8], digest: &Digest) -> Result<Option<String>, PayloadError> {
    let parsed: SimpleSigning =
        serde_json::from_slice(payload).map_err(|e| PayloadError::Unreadable(e.to_string()))?;
    if parsed.critical.kind != COSIGN_SIGNATURE_TYPE {
        return Err(PayloadError::WrongType(parsed.critical.kind));
    }
    let named = parsed.critical.image.docker_manifest_digest;
    if named != digest.as_str() {
        return Err(PayloadError::OtherImage(named));
    }
    Ok(parsed.critical.identity.and_then(|i| i.docker_reference))
}
