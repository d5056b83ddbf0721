//! Policies: `ClusterImagePolicy` files → a [`PolicySet`] of compiled globs
//! and authorities, and which policies apply to an image.
//!
//! Semantics, as sigstore's policy-controller: every policy whose glob
//! matches must pass (AND); within a policy, any one authority suffices
//! (OR). Images matching no policy follow `no-match-policy`.
//!
//! Architecture invariant: `source.rs` is the only I/O (policy files,
//! `trust:` root files, key paths); parsing, matching and judging
//! ([`evaluate`]) are pure. A `PolicySet` is immutable; a reload builds a
//! new one with a new revision, which is part of every decision-cache key.

mod authority;
mod condition;
mod decision;
pub mod evaluate;
pub mod explain;
pub mod trace;
pub use condition::ConditionTrace;
pub use decision::{Decision, DecisionTtls, Denial, DenialCode};
#[cfg(test)]
pub(crate) use judge::describe;
mod error;
mod file;
pub mod glob;
mod judge;
mod keyless;
mod load;
pub mod predicate;
pub mod rego;
mod source;
pub mod trust_root;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use regex::RegexSet;

pub use error::{PolicyError, PolicyErrors};
pub use glob::Registries;
pub use source::{check_dir, load_configured, trust_roots};

use crate::config::NoMatchPolicy;
use crate::oci::{RegistryName, Repository};
use crate::verify::Requirement;

/// An immutable, validated set of policies.
#[derive(Debug)]
pub struct PolicySet {
    policies: Vec<Policy>,
    /// Every policy's globs, compiled (see [`glob`]).
    globs: RegexSet,
    /// `globs` index → `policies` index.
    glob_owner: Vec<usize>,
    /// What loaded, but probably does not mean what its author meant.
    warnings: Vec<PolicyError>,
    no_match: NoMatchPolicy,
    revision: u64,
}

#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    pub platform_manifests: PlatformManifests,
    pub authorities: Vec<Authority>,
    /// `spec.policy`: Rego over every authority's result (see `condition`).
    pub condition: Option<Arc<rego::RegoPolicy>>,
    /// Where it was loaded from, for messages.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    /// Serve even when the policy fails, with a `Warning` header and a log line.
    Warn,
}

/// Which signatures admit a platform manifest (a child of an index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformManifests {
    /// An index's signature admits the manifests it lists.
    Index,
    /// Every platform manifest needs its own signature.
    Child,
    /// Either of the two (the default).
    Either,
}

#[derive(Debug)]
pub struct Authority {
    pub name: String,
    pub kind: AuthorityKind,
    /// Where its signatures live; empty means the image's own repository.
    pub sources: Vec<SignatureSource>,
    /// Attestations this authority must have signed. As in policy-controller,
    /// an authority with attestations is satisfied by them alone.
    pub attestations: Vec<AttestationRule>,
    /// Which signature formats count (`signatureFormat`); `None`: both.
    pub signature_format: Option<SignatureFormat>,
}

/// policy-controller's `signatureFormat`: signgate discovers both formats,
/// and an authority that names one lets only that one count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFormat {
    /// Legacy cosign `.sig`/`.att` layers (simple signing, DSSE).
    Legacy,
    /// Sigstore bundles (OCI referrers, cosign v3).
    Bundle,
}

impl SignatureFormat {
    /// Whether a layer of `media_type` is in this format.
    pub fn admits(self, media_type: &str) -> bool {
        let bundle = media_type.starts_with(crate::oci::BUNDLE_MEDIA_TYPE_PREFIX);
        match self {
            SignatureFormat::Bundle => bundle,
            SignatureFormat::Legacy => !bundle,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureFormat::Legacy => "legacy",
            SignatureFormat::Bundle => "bundle",
        }
    }
}

#[derive(Debug)]
pub enum AuthorityKind {
    /// A key or keyless requirement on the signature.
    Verify(Requirement),
    Static {
        pass: bool,
        message: Option<String>,
    },
}

/// One `attestations[]` entry: a predicate type, and optionally a condition
/// every verified attestation of that type must satisfy.
pub struct AttestationRule {
    pub name: String,
    /// The predicate type URI (short names resolved at load).
    pub predicate_type: String,
    pub condition: Option<Arc<rego::RegoPolicy>>,
}

impl std::fmt::Debug for AttestationRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationRule")
            .field("name", &self.name)
            .field("predicate_type", &self.predicate_type)
            .field(
                "condition",
                &self.condition.as_ref().map(|c| c.name().to_owned()),
            )
            .finish()
    }
}

/// A repository holding signatures for images elsewhere (`source[].oci`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureSource {
    pub registry: RegistryName,
    pub repository: Repository,
}

/// What applies to one image.
pub enum Applicable<'a> {
    Policies(Vec<&'a Policy>),
    NoMatch(NoMatchPolicy),
}

static REVISIONS: AtomicU64 = AtomicU64::new(1);

/// The example policies of the repository's `policies/`, compiled in for
/// the embedded default configuration (`policies: builtin:examples`).
const BUILTIN_EXAMPLES: [(&str, &str); 3] = [
    (
        "builtin:policies/docker-library-warn.yaml",
        include_str!("../../policies/docker-library-warn.yaml"),
    ),
    (
        "builtin:policies/private-registry-key.yaml",
        include_str!("../../policies/private-registry-key.yaml"),
    ),
    (
        "builtin:policies/trusted-mirror-static.yaml",
        include_str!("../../policies/trusted-mirror-static.yaml"),
    ),
];

// === impl PolicySet ===

impl PolicySet {
    /// A set with no policies: every image follows `no_match`.
    pub fn empty(no_match: NoMatchPolicy) -> PolicySet {
        PolicySet {
            policies: Vec::new(),
            globs: RegexSet::empty(),
            glob_owner: Vec::new(),
            warnings: Vec::new(),
            no_match,
            revision: REVISIONS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The example policies built into the binary. Their globs are not
    /// checked against the configured upstreams: they are examples.
    pub fn builtin_examples(no_match: NoMatchPolicy) -> Result<PolicySet, PolicyErrors> {
        let files: Vec<(PathBuf, String)> = BUILTIN_EXAMPLES
            .iter()
            .map(|(name, text)| (PathBuf::from(name), (*text).to_owned()))
            .collect();
        PolicySet::from_files(&files, no_match)
    }

    /// Changes with every load, so cached decisions never outlive a reload.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Globs that loaded but probably match nothing their author meant.
    pub fn warnings(&self) -> &[PolicyError] {
        &self.warnings
    }

    /// The policies whose globs match `image` (see [`image_name`]).
    pub fn applicable(&self, image: &str) -> Applicable<'_> {
        let mut matched: Vec<usize> = self
            .globs
            .matches(image)
            .into_iter()
            .filter_map(|g| self.glob_owner.get(g).copied())
            .collect();
        matched.sort_unstable();
        matched.dedup();
        if matched.is_empty() {
            return Applicable::NoMatch(self.no_match);
        }
        Applicable::Policies(
            matched
                .into_iter()
                .filter_map(|i| self.policies.get(i))
                .collect(),
        )
    }
}

/// The fully qualified name policies match against, written the way
/// policy-controller writes it: Docker Hub is `index.docker.io`.
pub fn image_name(registry: &RegistryName, repository: &Repository) -> String {
    format!("{}/{repository}", glob::image_host(registry))
}

#[cfg(test)]
mod diagnostics_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_root_tests;
