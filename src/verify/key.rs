//! Public keys from PEM, and signature verification with them, on the
//! crypto primitives of `sigstore-verify` (aws-lc).

use std::fmt;

use sigstore_verify::crypto::{verify_signature, KeyAlgorithm, SigningScheme};
use sigstore_verify::types::{DerPublicKey, SignatureBytes};

/// A trusted public key: ECDSA P-256/P-384, RSA or Ed25519 (SPKI PEM, as
/// `cosign generate-key-pair` writes it).
#[derive(Clone)]
pub struct PublicKey {
    der: DerPublicKey,
    algorithm: KeyAlgorithm,
    /// Short sha256 of the DER key, to name it in logs.
    id: String,
}

impl PublicKey {
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        let der =
            DerPublicKey::from_pem(pem.trim()).map_err(|e| format!("not a PEM public key: {e}"))?;
        PublicKey::from_der(der)
    }

    /// From a DER SubjectPublicKeyInfo (a certificate's key).
    pub fn from_der(der: DerPublicKey) -> Result<PublicKey, String> {
        let algorithm =
            KeyAlgorithm::from_spki(&der).map_err(|e| format!("unsupported public key: {e}"))?;
        if !matches!(
            algorithm,
            KeyAlgorithm::EcdsaP256
                | KeyAlgorithm::EcdsaP384
                | KeyAlgorithm::Rsa
                | KeyAlgorithm::Ed25519
        ) {
            return Err(format!("unsupported public key algorithm {algorithm:?}"));
        }
        let id = crate::oci::Digest::sha256_of(der.as_bytes())
            .hex()
            .chars()
            .take(12)
            .collect();
        Ok(PublicKey { der, algorithm, id })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn der(&self) -> &DerPublicKey {
        &self.der
    }

    /// `sha256:<first 12 hex>` of the DER key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Verify `signature` over `message`. RSA keys accept PKCS#1 v1.5 and
    /// PSS (cosign signs RSA with PKCS#1 v1.5 by default), with SHA-256.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        let signature = SignatureBytes::new(signature.to_vec());
        let schemes: &[SigningScheme] = match self.algorithm {
            KeyAlgorithm::EcdsaP256 => &[SigningScheme::EcdsaP256Sha256],
            KeyAlgorithm::EcdsaP384 => &[SigningScheme::EcdsaP384Sha384],
            KeyAlgorithm::Ed25519 => &[SigningScheme::Ed25519],
            KeyAlgorithm::Rsa => &[SigningScheme::RsaPkcs1Sha256, SigningScheme::RsaPssSha256],
            _ => &[],
        };
        let mut last = String::from("no signature scheme for this key");
        for scheme in schemes {
            match verify_signature(&self.der, message, &signature, *scheme) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({:?}, sha256:{})", self.algorithm, self.id)
    }
}
