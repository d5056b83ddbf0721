//! Certificate signatures without a transparency log: a private PKI
//! (`keyless.ca-cert`, no Fulcio, no Rekor) or a keyless authority with
//! `insecureIgnoreTlog` — whose certificate must still carry a valid SCT
//! unless the authority sets `insecureIgnoreSCT` (checked by `sct` against
//! the issuer this chain validation found).
//!
//! With no log there is no trusted signing time, so the chain is validated
//! at the current time (cosign does the same), with `rustls-webpki`: the
//! leaf must chain to one of the configured anchors and, if it lists
//! extended key usages, allow code signing. Certificates the signature
//! carries are path-building hints only; anchors come from the config.

use rustls::pki_types::{CertificateDer, UnixTime};
use sigstore_verify::crypto::{parse_certificate_info, WEBPKI_VERIFICATION_ALGS};
use sigstore_verify::types::DerCertificate;

use super::identity::Signer;
use super::key::PublicKey;
use super::sct::{self, CtLog};
use super::trust::CaCertificates;
use super::RejectReason;

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content bytes.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Verify `signature` over `message` by the leaf `certificate` (PEM) that
/// chains to `ca`; the `chain` PEM may supply intermediates. With
/// `sct: Some(logs)`, the leaf's embedded SCT must verify with one of them.
pub(super) fn verify(
    ca: &CaCertificates,
    certificate: &str,
    chain: Option<&str>,
    message: &[u8],
    signature: &[u8],
    sct: Option<&[CtLog]>,
) -> Result<Signer, RejectReason> {
    let pki = |m: String| RejectReason::Keyless(m);
    let leaf = rustls_pemfile::certs(&mut certificate.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| pki("certificate is not PEM".into()))?;
    verify_der(ca, &leaf, chain, message, signature, sct)
}

/// As [`verify`], with the leaf in DER.
pub(super) fn verify_der(
    ca: &CaCertificates,
    leaf: &CertificateDer<'_>,
    chain: Option<&str>,
    message: &[u8],
    signature: &[u8],
    sct: Option<&[CtLog]>,
) -> Result<Signer, RejectReason> {
    let pki = |m: String| RejectReason::Keyless(m);
    let mut intermediates = ca.intermediates.clone();
    if let Some(chain) = chain {
        intermediates.extend(rustls_pemfile::certs(&mut chain.as_bytes()).filter_map(Result::ok));
    }
    let anchors: Vec<_> = ca
        .anchors
        .iter()
        .filter_map(|a| webpki::anchor_from_trusted_cert(a).ok())
        .collect();
    let end_entity = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| pki(format!("certificate is unreadable: {e}")))?;
    let path = end_entity
        .verify_for_usage(
            WEBPKI_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::now(),
            webpki::KeyUsage::required_if_present(CODE_SIGNING),
            None,
            None,
        )
        .map_err(|e| pki(format!("certificate does not chain to a trusted CA: {e}")))?;
    if let Some(logs) = sct {
        sct::verify(leaf.as_ref(), path.issuer_spki().as_ref(), logs).map_err(pki)?;
    }
    let info = parse_certificate_info(&DerCertificate::new(leaf.as_ref().to_vec()))
        .map_err(|e| pki(format!("certificate is unreadable: {e}")))?;
    let key = PublicKey::from_der(info.public_key.clone())
        .map_err(|e| pki(format!("certificate key: {e}")))?;
    key.verify(message, signature)
        .map_err(RejectReason::SignatureInvalid)?;
    Ok(Signer::from_certificate(&info))
}
