//! DSSE envelopes and the in-toto statements inside them: what cosign v3
//! signs for an image, and what every attestation carries.
//!
//! The envelope's signature proves who signed the statement; only the
//! statement says about which artifact. A genuine attestation copied onto
//! another image verifies, so its subjects must name the digest being served.

use std::sync::Arc;

use serde_json::Value;
use sigstore_verify::types::DsseEnvelope;

use crate::oci::Digest;

/// The only DSSE payload type that carries an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// What cosign v3 signs to mean "this image is signed".
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Statements are small; SBOMs can be large, but not this large.
const MAX_STATEMENT: usize = 16 * 1024 * 1024;

/// A statement whose signature verified and whose subjects name the digest.
#[derive(Debug, Clone)]
pub struct Statement {
    pub predicate_type: String,
    /// The whole statement (`_type`, `subject`, `predicateType`,
    /// `predicate`): the input of attestation conditions.
    pub json: Arc<Value>,
}

/// Parse a DSSE envelope (a legacy `.att` layer's blob).
pub fn parse_envelope(blob: &[u8]) -> Result<DsseEnvelope, String> {
    crate::oci::json::read(blob, crate::oci::json::Document::DsseEnvelope)
        .map_err(|e| format!("not a DSSE envelope: {e}"))
}

/// The statement of a verified envelope, if its subjects name `digest`.
pub fn bind(envelope: &DsseEnvelope, digest: &Digest) -> Result<Statement, String> {
    if envelope.payload_type != IN_TOTO {
        return Err(format!(
            "DSSE payload type is '{}', not '{IN_TOTO}'",
            envelope.payload_type
        ));
    }
    let payload = envelope.payload.as_bytes();
    if payload.len() > MAX_STATEMENT {
        return Err("in-toto statement is too large".into());
    }
    // Rego conditions read the statement as a map; a key Go would fold onto
    // another (or a duplicate) could make two readers disagree.
    let json: Value = crate::oci::json::read(payload, crate::oci::json::Document::Other)
        .map_err(|e| format!("in-toto statement: {e}"))?;
    let predicate_type = json
        .get("predicateType")
        .and_then(Value::as_str)
        .ok_or("in-toto statement has no predicateType")?
        .to_owned();
    let (algorithm, hex) = digest
        .as_str()
        .split_once(':')
        .ok_or("digest without algorithm")?;
    let subjects = json
        .get("subject")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let named = subjects.iter().any(|s| {
        s.get("digest")
            .and_then(|d| d.get(algorithm))
            .and_then(Value::as_str)
            .is_some_and(|d| d.eq_ignore_ascii_case(hex))
    });
    if !named {
        let others: Vec<String> = subjects
            .iter()
            .filter_map(|s| s.get("digest").and_then(Value::as_object))
            .flat_map(|d| {
                d.iter()
                    .map(|(a, v)| format!("{a}:{}", v.as_str().unwrap_or("?")))
            })
            .collect();
        return Err(format!(
            "statement is about another artifact ({})",
            if others.is_empty() {
                "no subjects".to_owned()
            } else {
                others.join(", ")
            }
        ));
    }
    Ok(Statement {
        predicate_type,
        json: Arc::new(json),
    })
}
