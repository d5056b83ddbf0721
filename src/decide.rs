//! The enforcement seam: the one place a manifest is admitted or denied.
//!
//! Every manifest response passes through [`Gate::decide`], which receives
//! the upstream, the repository and the digest-checked manifest, and returns
//! a [`Decision`]. The response builder for manifests needs an [`Admission`],
//! which only this module can create, for the very digest being served.
//!
//! For now the gate admits everything; signature discovery, verification and
//! policy slot in here without touching the request path.

use crate::oci::{Digest, RegistryName, Repository};
use crate::upstream::Manifest;

/// What the gate is asked about.
pub struct Subject<'a> {
    pub upstream: &'a RegistryName,
    pub repository: &'a Repository,
    pub manifest: &'a Manifest,
}

/// The gate's answer.
pub enum Decision {
    Admit(Admission),
    Deny(Denial),
}

/// Proof that the gate admitted one digest. No public constructor.
#[derive(Debug)]
pub struct Admission {
    digest: Digest,
}

/// Why a manifest is refused; the message reaches the client verbatim.
#[derive(Debug, Clone)]
pub struct Denial {
    pub message: String,
}

/// Decides on manifests. Holds the policy set once enforcement lands.
#[derive(Debug, Default)]
pub struct Gate {
    _private: (),
}

// === impl Admission ===

impl Admission {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
}

// === impl Gate ===

impl Gate {
    pub fn allow_all() -> Gate {
        Gate { _private: () }
    }

    pub async fn decide(&self, subject: Subject<'_>) -> Decision {
        tracing::debug!(
            upstream = %subject.upstream,
            repository = %subject.repository,
            digest = %subject.manifest.digest(),
            "admitted: enforcement is not configured yet"
        );
        Decision::Admit(Admission {
            digest: subject.manifest.digest().clone(),
        })
    }
}
