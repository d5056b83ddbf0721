//! The embedded SCT of a Fulcio certificate (RFC 6962 §3.2–3.3), checked
//! where `sigstore-verify` does not run: legacy keyless layers without a
//! log entry (`ctlog.insecureIgnoreTlog`), whose chain is validated here at
//! the current time. The checks are `sigstore-verify`'s own
//! (`verify_impl/sct.rs`): exactly one SCT, from a CT log of the trusted
//! root whose key was valid at the SCT's time, signed over the
//! precertificate — the leaf's TBS without the SCT list extension — and the
//! SHA-256 of the issuer's public key.

use sigstore_verify::crypto::{SigningScheme, VerificationKey};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{DerPublicKey, SignatureBytes};

use super::der;

/// 1.3.6.1.4.1.11129.2.4.2, the embedded SCT list extension (DER content).
const SCT_LIST: [u8; 10] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

/// One CT log key of a trusted root.
#[derive(Clone)]
pub(super) struct CtLog {
    /// RFC 6962 log ID: SHA-256 of the log's public key.
    log_id: Vec<u8>,
    key: DerPublicKey,
    /// Validity window, Unix milliseconds (inclusive).
    from_ms: Option<i64>,
    until_ms: Option<i64>,
}

/// The CT logs `root` lists.
pub(super) fn ct_logs(root: &TrustedRoot) -> Vec<CtLog> {
    root.ctlogs
        .iter()
        .map(|log| CtLog {
            log_id: log.log_id.key_id.as_bytes().to_vec(),
            key: log.public_key.raw_bytes.clone(),
            from_ms: log
                .public_key
                .valid_for
                .as_ref()
                .map(|v| v.start.as_millisecond()),
            until_ms: log
                .public_key
                .valid_for
                .as_ref()
                .and_then(|v| v.end.map(|e| e.as_millisecond())),
        })
        .collect()
}

/// One parsed SCT (`SignedCertificateTimestamp`, v1).
struct Sct<'a> {
    log_id: &'a [u8],
    timestamp_ms: u64,
    extensions: &'a [u8],
    hash: u8,
    algorithm: u8,
    signature: &'a [u8],
}

/// Verify the SCT embedded in `leaf` (DER), issued by the holder of
/// `issuer_spki` (DER SubjectPublicKeyInfo), against `logs`.
pub(super) fn verify(leaf: &[u8], issuer_spki: &[u8], logs: &[CtLog]) -> Result<(), String> {
    let unreadable = || "SCT: the certificate is unreadable".to_owned();
    let (cert, _) = der::read(leaf).ok_or_else(unreadable)?;
    let (tbs, _) = der::read(cert.content).ok_or_else(unreadable)?;
    let fields = der::elements(tbs.content).ok_or_else(unreadable)?;
    let extensions = fields
        .iter()
        .find(|f| f.tag == 0xa3)
        .ok_or("certificate has no embedded SCT (no extensions)")?;
    let (list, _) = der::read(extensions.content).ok_or_else(unreadable)?;
    let all = der::elements(list.content).ok_or_else(unreadable)?;
    let mut sct_value = None;
    let mut others = Vec::new();
    for ext in &all {
        let parts = der::elements(ext.content).ok_or_else(unreadable)?;
        let (Some(oid), Some(value)) = (parts.first(), parts.last()) else {
            return Err(unreadable());
        };
        if oid.tag == 0x06 && oid.content == SCT_LIST {
            if sct_value.replace(value.content).is_some() {
                return Err("certificate has two SCT list extensions".into());
            }
        } else {
            others.extend_from_slice(ext.whole);
        }
    }
    let value = sct_value.ok_or("certificate has no embedded SCT")?;
    // extnValue holds an OCTET STRING holding the TLS-encoded list.
    let (inner, _) = der::read(value)
        .filter(|(t, rest)| t.tag == 0x04 && rest.is_empty())
        .ok_or("SCT list is not an OCTET STRING")?;
    let sct = single_sct(inner.content)?;

    // The precertificate: the same TBS with the SCT list removed.
    let mut precert = Vec::new();
    for field in &fields {
        if field.tag == 0xa3 {
            precert.extend(der::write(0xa3, &der::write(0x30, &others)));
        } else {
            precert.extend_from_slice(field.whole);
        }
    }
    let precert = der::write(0x30, &precert);
    let tbs_len = u32::try_from(precert.len())
        .ok()
        .filter(|l| *l < 1 << 24)
        .ok_or("SCT: the certificate is too large")?;
    let ext_len = u16::try_from(sct.extensions.len()).map_err(|_| unreadable())?;
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    signed.extend_from_slice(&sigstore_verify::crypto::sha256(issuer_spki).as_bytes()[..]);
    signed.extend_from_slice(tbs_len.to_be_bytes().get(1..).unwrap_or_default());
    signed.extend_from_slice(&precert);
    signed.extend_from_slice(&ext_len.to_be_bytes());
    signed.extend_from_slice(sct.extensions);

    let scheme = match (sct.hash, sct.algorithm) {
        (4, 3) => SigningScheme::EcdsaP256Sha256,
        (5, 3) => SigningScheme::EcdsaP384Sha384,
        (4, 1) => SigningScheme::RsaPkcs1Sha256,
        (5, 1) => SigningScheme::RsaPkcs1Sha384,
        (6, 1) => SigningScheme::RsaPkcs1Sha512,
        (h, a) => {
            return Err(format!(
                "SCT signature algorithm ({h}, {a}) is not supported"
            ))
        }
    };
    let log = logs
        .iter()
        .find(|l| l.log_id == sct.log_id)
        .ok_or("SCT is from a CT log the trusted root does not list")?;
    let at = i64::try_from(sct.timestamp_ms).map_err(|_| "SCT time is out of range".to_owned())?;
    if log.from_ms.is_some_and(|from| at < from) || log.until_ms.is_some_and(|until| at > until) {
        return Err("SCT is dated outside its CT log key's validity".into());
    }
    VerificationKey::from_der(&log.key, scheme)
        .and_then(|key| key.verify(&signed, &SignatureBytes::new(sct.signature.to_vec())))
        .map_err(|_| "SCT signature does not verify".to_owned())
}

/// The one SCT of a TLS-encoded `SignedCertificateTimestampList`.
fn single_sct(list: &[u8]) -> Result<Sct<'_>, String> {
    let bad = || "SCT list is malformed".to_owned();
    let mut r = Reader(list);
    let mut items = Reader(r.vector16().ok_or_else(bad)?);
    if !r.0.is_empty() {
        return Err(bad());
    }
    let first = items.vector16().ok_or_else(bad)?;
    if !items.0.is_empty() {
        return Err("certificate carries more than one SCT; exactly one is expected".into());
    }
    let mut s = Reader(first);
    let version = s.take(1).ok_or_else(bad)?;
    if version != [0] {
        return Err("SCT version is not v1".into());
    }
    let log_id = s.take(32).ok_or_else(bad)?;
    let timestamp: [u8; 8] = s.take(8).and_then(|t| t.try_into().ok()).ok_or_else(bad)?;
    let extensions = s.vector16().ok_or_else(bad)?;
    let algorithm = s.take(2).ok_or_else(bad)?;
    let signature = s.vector16().ok_or_else(bad)?;
    if !s.0.is_empty() {
        return Err(bad());
    }
    Ok(Sct {
        log_id,
        timestamp_ms: u64::from_be_bytes(timestamp),
        extensions,
        hash: algorithm.first().copied().unwrap_or_default(),
        algorithm: algorithm.get(1).copied().unwrap_or_default(),
        signature,
    })
}

/// A cursor over TLS-encoded bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    /// A `<0..2^16-1>` vector.
    fn vector16(&mut self) -> Option<&'a [u8]> {
        let len = self.take(2)?;
        let len = usize::from(u16::from_be_bytes([*len.first()?, *len.get(1)?]));
        self.take(len)
    }
}

#[cfg(test)]
#[path = "sct_tests.rs"]
mod tests;
