//! Typed caches. Manifests by digest are immutable, so they are kept (bounded
//! by total bytes) and shared as `Bytes`; tag → digest answers are kept only
//! for the configured TTL (zero by default: every tag is asked upstream).
//! Concurrent misses for the same manifest share one upstream fetch.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::oci::{Digest, Manifest, Repository, Tag};
use crate::route::UpstreamId;
use crate::upstream::UpstreamError;

pub type ManifestKey = (UpstreamId, Repository, Digest);
/// The `Accept` header is part of the key: a registry may resolve one tag to
/// different manifests for different clients.
pub type TagKey = (UpstreamId, Repository, Tag, HeaderValue);

pub struct Caches {
    manifests: moka::future::Cache<ManifestKey, Arc<Manifest>>,
    tags: Option<moka::sync::Cache<TagKey, Digest>>,
}

impl Caches {
    pub fn new(manifest_bytes: u64, tag_ttl: Duration) -> Caches {
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
        Caches { manifests, tags }
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
        self.manifests
            .try_get_with(key, async move { fetch.await.map(Arc::new) })
            .await
    }

    pub async fn insert_manifest(&self, key: ManifestKey, manifest: Arc<Manifest>) {
        self.manifests.insert(key, manifest).await;
    }

    pub fn tags_enabled(&self) -> bool {
        self.tags.is_some()
    }

    pub fn tag(&self, key: &TagKey) -> Option<Digest> {
        self.tags.as_ref()?.get(key)
    }

    pub fn insert_tag(&self, key: TagKey, digest: Digest) {
        if let Some(tags) = &self.tags {
            tags.insert(key, digest);
        }
    }
}
