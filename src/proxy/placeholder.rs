//! `head-denials: defer-to-get`: placeholder documents that stand in for a
//! denied manifest in the answer to a `HEAD` by tag.
//!
//! containerd 1.6 resolves a tag with `HEAD` and shows its user only the
//! status of that answer. Answering `200` with the denied manifest's real
//! digest would be a hole: containerd's content store is shared across
//! registries and repositories, and when it already holds that digest
//! (pulled from a lenient repository, or before a key was revoked) no `GET`
//! follows and the pull succeeds under the denied name. So the `HEAD` names
//! the digest of a placeholder document instead; containerd cannot hold it
//! (its bytes are never served, and a per-process secret makes it
//! unpredictable, so nobody can push those bytes elsewhere first), fetches
//! it, and the `GET` is refused with the original denial's reason.

use std::sync::Arc;
use std::time::Duration;

use sha2::Digest as _;

use crate::oci::{Digest, RegistryName, Repository};
use crate::policy::Denial;
use crate::route::UpstreamId;

/// The media type a placeholder announces: an OCI manifest, so containerd
/// fetches it from the manifests endpoint.
pub const PLACEHOLDER_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// How long a placeholder's denial is remembered: far longer than the
/// moment between containerd's `HEAD` and its `GET`. A `GET` after that is
/// a `404 MANIFEST_UNKNOWN` (still no bytes).
const PLACEHOLDER_TTL: Duration = Duration::from_secs(15 * 60);

/// Upper bound of the remembered denials, in bytes (approximate).
const PLACEHOLDER_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The empty OCI descriptor (`{}`), the placeholder's config.
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The placeholder's remembered denials, keyed by where it was announced:
/// (upstream, repository, placeholder digest).
type Key = (UpstreamId, Repository, Digest);

/// Makes placeholders and remembers the denial each stands for.
pub(super) struct Placeholders {
    /// Per process, from the system's secure random source.
    secret: [u8; 32],
    denials: moka::sync::Cache<Key, Arc<Denial>>,
}

/// A placeholder's digest and size: what a `HEAD` may announce for a denied
/// manifest. Only [`Placeholders::make`] builds one, and it has no bytes to
/// serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    digest: Digest,
    size: usize,
}

/// The system's random source failed: signgate cannot make unpredictable
/// placeholders and refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("no secure random bytes for head-denials placeholders")]
pub(super) struct NoRandom;

// === impl Placeholders ===

impl Placeholders {
    pub(super) fn new() -> Result<Placeholders, NoRandom> {
        let mut secret = [0u8; 32];
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut secret)
            .map_err(|_| NoRandom)?;
        Ok(Placeholders::with_secret(secret))
    }

    fn with_secret(secret: [u8; 32]) -> Placeholders {
        Placeholders {
            secret,
            denials: moka::sync::Cache::builder()
                .weigher(|_key: &Key, denial: &Arc<Denial>| {
                    let bytes = 512
                        + denial.image.len()
                        + denial.reasons.iter().map(|r| r.len() + 32).sum::<usize>();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .max_capacity(PLACEHOLDER_CACHE_BYTES)
                .time_to_live(PLACEHOLDER_TTL)
                .build(),
        }
    }

    /// The placeholder for `denial` of a manifest in `repository` of
    /// `upstream` under policy `revision`, remembered so its `GET` is
    /// refused with the same reason. `None` only if the document cannot be
    /// written (then the caller denies outright).
    pub(super) fn make(
        &self,
        upstream: UpstreamId,
        registry: &RegistryName,
        repository: &Repository,
        denial: &Denial,
        revision: u64,
    ) -> Option<Placeholder> {
        let bytes = self.document(registry, repository, &denial.digest, revision)?;
        let placeholder = Placeholder {
            digest: Digest::sha256_of(&bytes),
            size: bytes.len(),
        };
        self.denials.insert(
            (upstream, repository.clone(), placeholder.digest.clone()),
            Arc::new(denial.clone()),
        );
        Some(placeholder)
    }

    /// The denial a placeholder announced in this repository stands for.
    pub(super) fn denial(
        &self,
        upstream: UpstreamId,
        repository: &Repository,
        digest: &Digest,
    ) -> Option<Arc<Denial>> {
        self.denials
            .get(&(upstream, repository.clone(), digest.clone()))
    }

    /// A small OCI manifest whose annotations name the denial. Its bytes are
    /// hashed, never served.
    fn document(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        denied: &Digest,
        revision: u64,
    ) -> Option<Vec<u8>> {
        let revision = revision.to_string();
        let mut nonce = sha2::Sha256::new();
        for part in [
            registry.as_str(),
            repository.as_str(),
            denied.as_str(),
            &revision,
        ] {
            nonce.update((part.len() as u64).to_be_bytes());
            nonce.update(part.as_bytes());
        }
        nonce.update(self.secret);
        let empty = serde_json::json!({
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": EMPTY_DIGEST,
            "size": 2,
        });
        // serde_json's map is ordered: the same inputs give the same bytes.
        let document = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": PLACEHOLDER_MEDIA_TYPE,
            "artifactType": "application/vnd.dev.signgate.denial.v1",
            "config": empty,
            "layers": [],
            "annotations": {
                "dev.signgate.denied.registry": registry.as_str(),
                "dev.signgate.denied.repository": repository.as_str(),
                "dev.signgate.denied.digest": denied.as_str(),
                "dev.signgate.denied.policy-revision": revision,
                "dev.signgate.denied.nonce": hex::encode(nonce.finalize()),
            },
        });
        serde_json::to_vec(&document).ok()
    }
}

// === impl Placeholder ===

impl Placeholder {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(digest: &Digest) -> Denial {
        Denial {
            image: "registry.test/strict/app".into(),
            digest: digest.clone(),
            policy: Some("strict".into()),
            reasons: vec!["authority 'release': no signatures found".into()],
            transient: false,
            code: crate::policy::DenialCode::NoSignatures,
        }
    }

    fn names() -> (RegistryName, Repository, Repository, Digest, Digest) {
        (
            "registry.test".parse().unwrap(),
            "strict/app".parse().unwrap(),
            "other/app".parse().unwrap(),
            Digest::sha256_of(b"denied"),
            Digest::sha256_of(b"also denied"),
        )
    }

    #[test]
    fn a_placeholder_is_per_repository_digest_revision_and_process() {
        let (reg, repo, other, d, e) = names();
        let p = Placeholders::with_secret([1; 32]);
        let up = UpstreamId(0);
        let a = p.make(up, &reg, &repo, &denial(&d), 7).unwrap();
        assert_ne!(a.digest(), &d, "never the denied digest");
        assert_eq!(p.make(up, &reg, &repo, &denial(&d), 7).unwrap(), a);
        for b in [
            p.make(up, &reg, &other, &denial(&d), 7).unwrap(),
            p.make(up, &reg, &repo, &denial(&e), 7).unwrap(),
            p.make(up, &reg, &repo, &denial(&d), 8).unwrap(),
            p.make(up, &"other.test".parse().unwrap(), &repo, &denial(&d), 7)
                .unwrap(),
            Placeholders::with_secret([2; 32])
                .make(up, &reg, &repo, &denial(&d), 7)
                .unwrap(),
        ] {
            assert_ne!(b.digest(), a.digest());
        }
    }

    #[test]
    fn a_placeholder_remembers_its_denial_only_where_it_was_announced() {
        let (reg, repo, other, d, _) = names();
        let p = Placeholders::with_secret([3; 32]);
        let a = p.make(UpstreamId(0), &reg, &repo, &denial(&d), 1).unwrap();
        let found = p.denial(UpstreamId(0), &repo, a.digest()).unwrap();
        assert_eq!(found.digest, d);
        assert_eq!(found.reasons, denial(&d).reasons);
        assert!(p.denial(UpstreamId(1), &repo, a.digest()).is_none());
        assert!(p.denial(UpstreamId(0), &other, a.digest()).is_none());
        assert!(
            p.denial(UpstreamId(0), &repo, &d).is_none(),
            "the real digest is not a placeholder"
        );
    }

    #[test]
    fn the_document_is_a_small_oci_manifest_naming_the_denial() {
        let (reg, repo, _, d, _) = names();
        let p = Placeholders::with_secret([4; 32]);
        let bytes = p.document(&reg, &repo, &d, 5).unwrap();
        let made = p.make(UpstreamId(0), &reg, &repo, &denial(&d), 5).unwrap();
        assert_eq!(made.digest(), &Digest::sha256_of(&bytes));
        assert_eq!(made.size(), bytes.len());
        assert!(bytes.len() < 1024, "{}", bytes.len());
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["mediaType"], PLACEHOLDER_MEDIA_TYPE);
        assert_eq!(v["layers"], serde_json::json!([]));
        let a = &v["annotations"];
        assert_eq!(a["dev.signgate.denied.digest"], d.as_str());
        assert_eq!(a["dev.signgate.denied.repository"], "strict/app");
        assert_eq!(a["dev.signgate.denied.policy-revision"], "5");
        assert_eq!(
            a["dev.signgate.denied.nonce"].as_str().unwrap().len(),
            64,
            "a keyed hash, not the secret"
        );
        assert!(!String::from_utf8_lossy(&bytes).contains(&hex::encode([4u8; 32])));
    }

    #[test]
    fn the_system_random_source_gives_distinct_secrets() {
        let a = Placeholders::new().unwrap();
        let b = Placeholders::new().unwrap();
        assert_ne!(a.secret, b.secret);
    }
}
