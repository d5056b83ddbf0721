//! Every cache of the request path, and the one place their hits and
//! misses are reported (`signgate_cache_lookups_total`).
//!
//! [`Caches`]: manifests by digest are immutable, so they are kept (bounded
//! by total bytes) and shared as `Bytes`; tag → digest answers are kept only
//! for the configured TTL (zero by default: every tag is asked upstream).
//! Concurrent misses for the same manifest share one upstream fetch.
//! [`GateCaches`]: what the gate decided ([`decisions`]), the signature
//! material it read ([`evidence`]) and what its admissions make servable
//! ([`admitted`]).

pub mod admitted;
pub mod decisions;
pub mod evidence;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

pub use admitted::Admitted;
pub use decisions::Decisions;
pub use evidence::EvidenceCache;

use crate::metrics::Metrics;
use crate::oci::{Digest, Manifest, Repository, Tag};
use crate::policy::DecisionTtls;
use crate::route::UpstreamId;
use crate::upstream::UpstreamError;

type ManifestKey = (UpstreamId, Repository, Digest);
/// The `Accept` header is part of the key: a registry may resolve one tag to
/// different manifests for different clients.
type TagKey = (UpstreamId, Repository, Tag, HeaderValue);

/// The proxy's caches of upstream answers.
pub struct Caches {
    manifests: moka::future::Cache<ManifestKey, Arc<Manifest>>,
    tags: Option<moka::sync::Cache<TagKey, Digest>>,
    metrics: Arc<Metrics>,
}

/// The gate's caches, one handle.
pub struct GateCaches {
    pub decisions: Decisions,
    pub evidence: EvidenceCache,
    pub admitted: Admitted,
}

impl GateCaches {
    pub fn new(ttls: DecisionTtls, strict_blobs: bool, metrics: Arc<Metrics>) -> GateCaches {
        GateCaches {
            decisions: Decisions::new(ttls, metrics.clone()),
            evidence: EvidenceCache::new(ttls, metrics),
            admitted: Admitted::new(ttls, strict_blobs),
        }
    }
}

impl Caches {
    pub fn new(manifest_bytes: u64, tag_ttl: Duration, metrics: Arc<Metrics>) -> Caches {
        let manifests = moka::future::Cache::builder()
            .max_capacity(manifest_bytes)
            .weigher(|key: &ManifestKey, m: &Arc<Manifest>| {
                let size = m.bytes().len() + key.1.as_str().len() + 128;
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .build();
        let tags = (!tag_ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(tag_ttl)
                .build()
        });
        Caches {
            manifests,
            tags,
            metrics,
        }
    }

    /// The cached manifest, or the result of `fetch` (shared by concurrent
    /// callers; errors are not cached).
    pub async fn manifest<F>(
        &self,
        key: ManifestKey,
        fetch: F,
    ) -> Result<Arc<Manifest>, Arc<UpstreamError>>
    where
        F: std::future::Future<Output = Result<Manifest, UpstreamError>>,
    {
        let fetched = AtomicBool::new(false);
        let found = self
            .manifests
            .try_get_with(key, async {
                fetched.store(true, Ordering::Relaxed);
                fetch.await.map(Arc::new)
            })
            .await;
        self.metrics
            .cache("manifest", !fetched.load(Ordering::Relaxed));
        found
    }

    pub async fn insert_manifest(&self, key: ManifestKey, manifest: Arc<Manifest>) {
        self.manifests.insert(key, manifest).await;
    }

    pub fn tags_enabled(&self) -> bool {
        self.tags.is_some()
    }

    /// The cached resolution of a tag (a lookup is reported only when tags
    /// are cached at all).
    pub fn tag(&self, key: &TagKey) -> Option<Digest> {
        let found = self.tags.as_ref()?.get(key);
        self.metrics.cache("tag", found.is_some());
        found
    }

    pub fn insert_tag(&self, key: TagKey, digest: Digest) {
        if let Some(tags) = &self.tags {
            tags.insert(key, digest);
        }
    }
}

#[cfg(test)]
mod tests;
