//! Verification: does a signature layer prove that a trusted key signed
//! *this* digest? And the proof types the response path requires.
//!
//! [`Verified`] can only be created here, after the signature checked out
//! against the key and the signed payload named the digest. [`Admission`],
//! which `respond::manifest` needs, is built only from `Verified` values for
//! the same digest, or from an explicit, typed [`Exemption`] that policy
//! granted (a static pass, `no-match-policy: allow`, warn mode, a signature
//! artifact passing through).
//!
//! Architecture invariant: no I/O, no HTTP, no caching; every check below
//! has a negative test. Keyless verification (sigstore bundles) extends this
//! module.

mod admission;
mod blob;
mod check;
mod der;
mod identity;
mod key;
pub mod keyless;
mod keylog;
mod payload;
mod pki;
mod reject;
mod rekor_entry;
mod sct;
pub mod sigstore_keys;
pub mod statement;
mod tlog_threshold;
pub mod trust;

pub use admission::{Admission, Evidence, Exemption, Verified};
pub use blob::{verify_blob, BlobPolicy};
pub use check::{check, verify_attestations, verify_signature, verify_with_key};
pub use identity::{check_any as match_identity, Claim, Identity, Matcher, Signer, CLAIM_KEYS};
pub use key::PublicKey;
pub use keyless::Strictness;
pub use keylog::KeyLog;
pub use payload::COSIGN_SIGNATURE_TYPE;
pub use reject::RejectReason;
pub use statement::{Statement, COSIGN_SIGN_PREDICATE};
pub use trust::{PrivateCa, TrustRoot, TrustRoots, TrustSource};

/// What an authority requires of a signature.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Signed by this key (cosign `--key`). Like `cosign verify
    /// --insecure-ignore-tlog`, no log entry is required.
    Key(PublicKey),
    /// Signed by this key, with a Rekor entry for that signature verified
    /// against the root's log keys (a key authority with `ctlog`).
    KeyWithLog(KeyLog),
    /// A certificate for one of these identities.
    Keyless(Keyless),
}

/// A keyless authority: trust material, identities, strictness.
#[derive(Debug, Clone)]
pub struct Keyless {
    pub trust: TrustSource,
    pub identities: Vec<Identity>,
    pub strictness: Strictness,
}

/// What the caller is looking for among the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// An image signature: simple-signing, or a bundle whose statement has
    /// cosign v3's `https://sigstore.dev/cosign/sign/v1` predicate.
    Signature,
    /// Attestations: DSSE statements with any other predicate.
    Attestation,
}

#[cfg(test)]
mod tests;
