//! A sigstore bundle for an arbitrary artifact: the sigstore conformance
//! suite's `verify-bundle` protocol, through the same verifier and identity
//! matching the proxy uses. `signgate verify-bundle` and the conformance
//! test run this.

use sigstore_verify::types::{Artifact, Bundle};
use sigstore_verify::PublicKeyVerificationPolicy;

use super::identity::{check_any, Identity, Matcher};
use super::keyless::{verify_bundle, Strictness};
use super::trust::TrustRoot;
use super::{Evidence, PublicKey, RejectReason};

/// Who must have signed the bundle.
pub enum BlobPolicy {
    /// Exact certificate identity (SAN) and OIDC issuer.
    Identity { subject: String, issuer: String },
    /// A managed key (the bundle carries a public-key hint).
    Key(PublicKey),
}

/// Verify `bundle_json` for `artifact` under `root`.
pub fn verify_blob(
    root: &TrustRoot,
    bundle_json: &str,
    artifact: Artifact<'_>,
    policy: &BlobPolicy,
) -> Result<Option<Evidence>, RejectReason> {
    let bundle = Bundle::from_json(bundle_json)
        .map_err(|e| RejectReason::PayloadUnreadable(format!("not a sigstore bundle: {e}")))?;
    match policy {
        BlobPolicy::Identity { subject, issuer } => {
            let (signer, evidence) = verify_bundle(root, artifact, &bundle, Strictness::default())?;
            let identity = Identity {
                issuer: Some(Matcher::Exact(issuer.clone())),
                subject: Some(Matcher::Exact(subject.clone())),
                claims: Vec::new(),
            };
            check_any(std::slice::from_ref(&identity), &signer).map_err(RejectReason::Identity)?;
            Ok(Some(evidence))
        }
        BlobPolicy::Key(key) => {
            let policy = PublicKeyVerificationPolicy::new(key.der().clone());
            root.verifier()?
                .verify(artifact, &bundle, &policy)
                .map_err(|e| RejectReason::SignatureInvalid(e.to_string()))?;
            Ok(None)
        }
    }
}
