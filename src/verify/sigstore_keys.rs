//! policy-controller's `TrustRoot.spec.sigstoreKeys` (inline certificate
//! authorities, transparency logs, CT logs, timestamp authorities, all PEM)
//! → the equivalent sigstore `trusted_root.json`, which [`super::TrustRoot`]
//! then parses and validates like any other.
//!
//! As policy-controller's `ConvertSigstoreKeys`: authorities are valid from
//! the epoch on (the document has no validity window), a log's ID is the
//! SHA-256 of its key's DER SubjectPublicKeyInfo.

use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_verify::crypto::KeyAlgorithm;
use sigstore_verify::types::DerPublicKey;

use crate::oci::Digest;

/// What `sigstoreKeys` holds, decoded from the document's base64.
#[derive(Debug, Default, Clone)]
pub struct SigstoreKeys {
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub tlogs: Vec<LogInstance>,
    pub ctlogs: Vec<LogInstance>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

/// A Fulcio or timestamp authority: its chain in PEM, leaf first, root last.
#[derive(Debug, Default, Clone)]
pub struct CertificateAuthority {
    pub organization: String,
    pub common_name: String,
    pub uri: String,
    pub cert_chain_pem: String,
}

/// A Rekor or CT log: its public key in PEM.
#[derive(Debug, Default, Clone)]
pub struct LogInstance {
    pub base_url: String,
    pub hash_algorithm: String,
    pub public_key_pem: String,
}

/// The epoch: the start of every window a `sigstoreKeys` document implies.
const EPOCH: &str = "1970-01-01T00:00:00Z";

impl SigstoreKeys {
    /// The `trusted_root.json` these keys describe; errors name the entry
    /// (`tLogs[0].publicKey: …`).
    pub fn trusted_root_json(&self) -> Result<String, String> {
        let cas = authorities("certificateAuthorities", &self.certificate_authorities)?;
        let tsas = authorities("timestampAuthorities", &self.timestamp_authorities)?;
        let tlogs = logs("tLogs", &self.tlogs)?;
        let ctlogs = logs("ctLogs", &self.ctlogs)?;
        if cas.is_empty() && tlogs.is_empty() {
            return Err(
                "neither certificateAuthorities nor tLogs: these keys verify nothing".into(),
            );
        }
        Ok(json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": tlogs,
            "certificateAuthorities": cas,
            "ctlogs": ctlogs,
            "timestampAuthorities": tsas,
        })
        .to_string())
    }
}

fn authorities(key: &str, list: &[CertificateAuthority]) -> Result<Vec<Value>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for (i, ca) in list.iter().enumerate() {
        let mut certificates = Vec::new();
        for cert in rustls_pemfile::certs(&mut ca.cert_chain_pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("{key}[{i}].certChain: not PEM: {e}"))?;
            certificates.push(json!({"rawBytes": b64.encode(cert.as_ref())}));
        }
        if certificates.is_empty() {
            return Err(format!("{key}[{i}].certChain: no PEM certificate"));
        }
        out.push(json!({
            "subject": {"organization": ca.organization, "commonName": ca.common_name},
            "uri": ca.uri,
            "certChain": {"certificates": certificates},
            "validFor": {"start": EPOCH},
        }));
    }
    Ok(out)
}

fn logs(key: &str, list: &[LogInstance]) -> Result<Vec<Value>, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for (i, log) in list.iter().enumerate() {
        let der = DerPublicKey::from_pem(log.public_key_pem.trim())
            .map_err(|e| format!("{key}[{i}].publicKey: not a PEM public key: {e}"))?;
        let details = match KeyAlgorithm::from_spki(&der) {
            Ok(KeyAlgorithm::EcdsaP256) => "PKIX_ECDSA_P256_SHA_256",
            Ok(KeyAlgorithm::EcdsaP384) => "PKIX_ECDSA_P384_SHA_384",
            Ok(KeyAlgorithm::Ed25519) => "PKIX_ED25519",
            Ok(KeyAlgorithm::Rsa) => "PKIX_RSA_PKCS1V15_2048_SHA256",
            Ok(other) => return Err(format!("{key}[{i}].publicKey: unsupported {other:?} key")),
            Err(e) => return Err(format!("{key}[{i}].publicKey: {e}")),
        };
        let hash = match log.hash_algorithm.as_str() {
            "" | "sha256" | "sha-256" => "SHA2_256",
            "sha384" | "sha-384" => "SHA2_384",
            "sha512" | "sha-512" => "SHA2_512",
            other => {
                return Err(format!(
                    "{key}[{i}].hashAlgorithm: '{other}' is not sha256, sha384 or sha512"
                ))
            }
        };
        let id = hex::decode(Digest::sha256_of(der.as_bytes()).hex()).unwrap_or_default();
        out.push(json!({
            "baseUrl": log.base_url,
            "hashAlgorithm": hash,
            "publicKey": {
                "rawBytes": b64.encode(der.as_bytes()),
                "keyDetails": details,
                "validFor": {"start": EPOCH},
            },
            "logId": {"keyId": b64.encode(id)},
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDWeWCVKhSgxaA+jFTUcjhzKpEXNN\nRuvXZDUbVdg6X+Ts1mspXFWVJqRs7Gqb4u9srJr1ww+RbNxmEuwUKAsNaw==\n-----END PUBLIC KEY-----\n";

    fn log() -> LogInstance {
        LogInstance {
            base_url: "https://rekor.example".into(),
            hash_algorithm: "sha-256".into(),
            public_key_pem: KEY.into(),
        }
    }

    #[test]
    fn a_log_key_becomes_a_tlog_with_its_spki_hash_as_log_id() {
        let keys = SigstoreKeys {
            tlogs: vec![log()],
            ..SigstoreKeys::default()
        };
        let json: Value = serde_json::from_str(&keys.trusted_root_json().unwrap()).unwrap();
        let der = DerPublicKey::from_pem(KEY.trim()).unwrap();
        let id = hex::decode(Digest::sha256_of(der.as_bytes()).hex()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(json["tlogs"][0]["logId"]["keyId"], b64.encode(id));
        assert_eq!(
            json["tlogs"][0]["publicKey"]["keyDetails"],
            "PKIX_ECDSA_P256_SHA_256"
        );
        assert_eq!(json["tlogs"][0]["hashAlgorithm"], "SHA2_256");
        // And it parses as a trusted root.
        crate::verify::TrustRoot::from_json("t", &keys.trusted_root_json().unwrap()).unwrap();
    }

    #[test]
    fn bad_entries_are_named() {
        let mut bad = log();
        bad.public_key_pem = "not a key".into();
        let keys = SigstoreKeys {
            tlogs: vec![log(), bad],
            ..SigstoreKeys::default()
        };
        let e = keys.trusted_root_json().unwrap_err();
        assert!(
            e.starts_with("tLogs[1].publicKey: not a PEM public key"),
            "{e}"
        );
        let mut md5 = log();
        md5.hash_algorithm = "md5".into();
        let keys = SigstoreKeys {
            ctlogs: vec![md5],
            tlogs: vec![log()],
            ..SigstoreKeys::default()
        };
        assert_eq!(
            keys.trusted_root_json().unwrap_err(),
            "ctLogs[0].hashAlgorithm: 'md5' is not sha256, sha384 or sha512"
        );
        let ca = CertificateAuthority {
            cert_chain_pem: "nothing".into(),
            ..CertificateAuthority::default()
        };
        let keys = SigstoreKeys {
            certificate_authorities: vec![ca],
            ..SigstoreKeys::default()
        };
        assert_eq!(
            keys.trusted_root_json().unwrap_err(),
            "certificateAuthorities[0].certChain: no PEM certificate"
        );
        assert!(SigstoreKeys::default()
            .trusted_root_json()
            .unwrap_err()
            .contains("verify nothing"));
    }
}
