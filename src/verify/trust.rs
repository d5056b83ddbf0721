//! Trust material for keyless signatures: a sigstore `trusted_root.json`
//! (Fulcio CAs, Rekor logs, CT logs, timestamp authorities), or a private
//! PKI (CA certificates, no Fulcio and no log).
//!
//! Everything here is parsed once, at load time, and shared read-only: a
//! `sigstore_verify::Verifier` validates all keys and anchors when built.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::Verifier;

use super::sct::{ct_logs, CtLog};

/// The sigstore public-good trusted root, as pinned by `sigstore-verify`
/// (2 Rekor logs, 2 Fulcio CAs, 2 CT logs, 1 TSA). The default for keyless
/// authorities that name no other root; verification never goes online.
pub const PUBLIC_GOOD: &str = sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT;

/// GitHub's trusted root (its Fulcio and timestamp authorities), as pinned
/// by `sigstore-verify`: the seed until TUF brings a newer one.
pub const GITHUB: &str = sigstore_verify::trust_root::SIGSTORE_GITHUB_TRUSTED_ROOT;

/// A parsed `trusted_root.json`.
pub struct TrustRoot {
    /// What policies call it (`public-good`, a `trust.roots` key): safe to
    /// put in responses.
    name: String,
    /// Where it came from (`embedded`, a file path): local detail, for logs
    /// and `--explain` only.
    origin: String,
    /// `Err(why)` for an unavailable root: it verifies nothing, and every
    /// use is refused with the reason ([`TrustRoot::unavailable`]).
    verifier: Result<Verifier, String>,
    /// The CA certificates, for signatures verified without a log entry
    /// (`insecureIgnoreTlog`): chains are then checked at the current time.
    ca: CaCertificates,
    /// Its CT logs, for the SCTs of those certificates.
    ct_logs: Vec<CtLog>,
}

/// CA certificates for path validation with `rustls-webpki`.
#[derive(Clone, Default)]
pub struct CaCertificates {
    pub anchors: Vec<CertificateDer<'static>>,
    pub intermediates: Vec<CertificateDer<'static>>,
}

/// A private PKI (`keyless.ca-cert`): signatures by certificates chaining to
/// these CAs, with no Fulcio and no transparency log.
pub struct PrivateCa {
    pub ca: CaCertificates,
}

/// Where a keyless authority's trust comes from.
#[derive(Clone)]
pub enum TrustSource {
    Sigstore(Arc<TrustRoot>),
    PrivateCa(Arc<PrivateCa>),
}

// === impl TrustRoot ===

impl TrustRoot {
    /// Parse a `trusted_root.json`; `name` identifies it in messages.
    pub fn from_json(name: &str, json: &str) -> Result<TrustRoot, String> {
        let root =
            TrustedRoot::from_json(json).map_err(|e| format!("trusted root '{name}': {e}"))?;
        let verifier = Verifier::new(&root).map_err(|e| format!("trusted root '{name}': {e}"))?;
        let ca = ca_from_trusted_root(json).map_err(|e| format!("trusted root '{name}': {e}"))?;
        Ok(TrustRoot {
            name: name.to_owned(),
            origin: "given inline".to_owned(),
            verifier: Ok(verifier),
            ca,
            ct_logs: ct_logs(&root),
        })
    }

    /// Record where the root came from (a file path), for [`TrustRoot::detail`].
    pub fn with_origin(mut self, origin: impl Into<String>) -> TrustRoot {
        self.origin = origin.into();
        self
    }

    /// The embedded public-good root.
    pub fn public_good() -> Result<TrustRoot, String> {
        Ok(TrustRoot::from_json("public-good", PUBLIC_GOOD)?.with_origin("embedded"))
    }

    /// The embedded GitHub root.
    pub fn github() -> Result<TrustRoot, String> {
        Ok(TrustRoot::from_json("github", GITHUB)?.with_origin("embedded"))
    }

    /// A root that verifies nothing: every keyless verification under it is
    /// rejected, naming the root and `why` (e.g. its TUF metadata expired
    /// under `on-expired: deny`, or it was never fetched).
    pub fn unavailable(name: &str, why: impl Into<String>) -> TrustRoot {
        TrustRoot {
            name: name.to_owned(),
            origin: "unavailable".to_owned(),
            verifier: Err(why.into()),
            ca: CaCertificates::default(),
            ct_logs: Vec::new(),
        }
    }

    /// Why this root is unavailable, if it is.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.verifier.as_ref().err().map(String::as_str)
    }

    /// Its name, without local detail: what messages sent to clients use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Name and origin (`'corp' (/etc/signgate/corp.json)`): for logs and
    /// `--explain`, never for responses.
    pub fn detail(&self) -> String {
        format!("'{}' ({})", self.name, self.origin)
    }

    /// The one place an unavailable root is refused: every verification
    /// under a trusted root goes through here (or [`TrustRoot::ca`]).
    pub(super) fn verifier(&self) -> Result<&Verifier, super::RejectReason> {
        self.verifier.as_ref().map_err(|why| self.refusal(why))
    }

    pub(super) fn ca(&self) -> Result<&CaCertificates, super::RejectReason> {
        match &self.verifier {
            Ok(_) => Ok(&self.ca),
            Err(why) => Err(self.refusal(why)),
        }
    }

    fn refusal(&self, why: &str) -> super::RejectReason {
        super::RejectReason::Keyless(format!(
            "trusted root '{}' is unavailable: {why}",
            self.name
        ))
    }

    pub(super) fn ct_logs(&self) -> &[CtLog] {
        &self.ct_logs
    }
}

/// The name only: debug output can end up in messages.
impl fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustRoot({})", self.name)
    }
}

// === impl PrivateCa ===

impl PrivateCa {
    /// PEM certificates: self-signed ones are trust anchors, the others
    /// intermediates.
    pub fn from_pem(pem: &str) -> Result<PrivateCa, String> {
        let mut ca = CaCertificates::default();
        for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
            if is_self_signed(&cert) {
                ca.anchors.push(cert);
            } else {
                ca.intermediates.push(cert);
            }
        }
        if ca.anchors.is_empty() {
            return Err("no self-signed root certificate among the CA certificates".into());
        }
        // Each anchor must be usable by webpki.
        for anchor in &ca.anchors {
            webpki::anchor_from_trusted_cert(anchor)
                .map_err(|e| format!("unusable CA certificate: {e}"))?;
        }
        Ok(PrivateCa { ca })
    }
}

impl fmt::Debug for PrivateCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateCa({} roots, {} intermediates)",
            self.ca.anchors.len(),
            self.ca.intermediates.len()
        )
    }
}

impl fmt::Debug for TrustSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSource::Sigstore(r) => write!(f, "{r:?}"),
            TrustSource::PrivateCa(c) => write!(f, "{c:?}"),
        }
    }
}

/// Subject == issuer is enough to tell roots from intermediates here; the
/// path validation that follows is what decides trust.
fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    use x509_parser_lite::subject_and_issuer;
    subject_and_issuer(cert.as_ref()).is_some_and(|(s, i)| s == i)
}

/// The CA chains of a trusted root: the last certificate of each chain is
/// its anchor, the others are intermediates.
fn ca_from_trusted_root(json: &str) -> Result<CaCertificates, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut ca = CaCertificates::default();
    let b64 = base64::engine::general_purpose::STANDARD;
    for authority in value
        .get("certificateAuthorities")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let certs = authority
            .get("certChain")
            .and_then(|c| c.get("certificates"))
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, cert) in certs.iter().enumerate() {
            let der = b64
                .decode(
                    cert.get("rawBytes")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default(),
                )
                .map_err(|e| format!("CA certificate is not base64: {e}"))?;
            let der = CertificateDer::from(der);
            if i + 1 == certs.len() {
                ca.anchors.push(der);
            } else {
                ca.intermediates.push(der);
            }
        }
    }
    Ok(ca)
}

/// Just enough DER to compare a certificate's subject and issuer names.
mod x509_parser_lite {
    /// (subject, issuer) raw DER of a certificate.
    pub(super) fn subject_and_issuer(der: &[u8]) -> Option<(&[u8], &[u8])> {
        let (cert, _) = element(der)?; // Certificate SEQUENCE
        let (tbs, _) = element(content(cert)?)?; // tbsCertificate SEQUENCE
        let mut rest = content(tbs)?;
        // [0] version, optional
        if rest.first() == Some(&0xa0) {
            rest = element(rest)?.1;
        }
        let (_serial, rest) = element(rest)?;
        let (_algorithm, rest) = element(rest)?;
        let (issuer, rest) = element(rest)?;
        let (_validity, rest) = element(rest)?;
        let (subject, _) = element(rest)?;
        Some((subject, issuer))
    }

    /// One TLV element (whole) and what follows it.
    fn element(input: &[u8]) -> Option<(&[u8], &[u8])> {
        let (header, len) = header(input)?;
        let end = header.checked_add(len)?;
        Some((input.get(..end)?, input.get(end..)?))
    }

    /// The content of one TLV element.
    fn content(input: &[u8]) -> Option<&[u8]> {
        let (header, len) = header(input)?;
        input.get(header..header.checked_add(len)?)
    }

    fn header(input: &[u8]) -> Option<(usize, usize)> {
        let first = *input.get(1)?;
        if first < 0x80 {
            return Some((2, usize::from(first)));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        Some((2 + n, len))
    }
}

/// Every trusted root signgate knows, by name: `public-good` (embedded),
/// the configured ones, and which one authorities use by default.
#[derive(Clone, Debug)]
pub struct TrustRoots {
    pub default: Arc<TrustRoot>,
    pub named: std::collections::BTreeMap<String, Arc<TrustRoot>>,
}

impl TrustRoots {
    /// Only the embedded roots (public-good, github); public-good is the
    /// default.
    pub fn embedded() -> Result<TrustRoots, String> {
        let public_good = Arc::new(TrustRoot::public_good()?);
        let mut named = std::collections::BTreeMap::new();
        named.insert("public-good".to_owned(), public_good.clone());
        named.insert("github".to_owned(), Arc::new(TrustRoot::github()?));
        Ok(TrustRoots {
            default: public_good,
            named,
        })
    }

    /// The root a policy names (`trustRootRef`), or the default.
    pub fn get(&self, name: Option<&str>) -> Option<Arc<TrustRoot>> {
        match name {
            None => Some(self.default.clone()),
            Some(n) => self.named.get(n).cloned(),
        }
    }
}
