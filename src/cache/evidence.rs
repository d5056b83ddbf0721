//! Signature material: discovered signature manifests' layers (no
//! payloads) by (upstream, repository, digest), reused across policies,
//! authorities and reloads for a while (`denial-ttl`); and signature
//! payloads and artifact blobs by (upstream, repository, blob digest),
//! fetched once, digest-checked, bounded by bytes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::metrics::Metrics;
use crate::oci::{Digest, Repository};
use crate::policy::DecisionTtls;
use crate::route::UpstreamId;
use crate::signature::{Discovered, DiscoveryError};
use crate::upstream::UpstreamError;

type MaterialKey = (UpstreamId, Repository, Digest);

/// Upper bound of the signature payload cache, in bytes.
const MATERIAL_CACHE_BYTES: u64 = 64 * 1024 * 1024;

pub struct EvidenceCache {
    materials: moka::future::Cache<MaterialKey, Arc<Discovered>>,
    payloads: moka::future::Cache<MaterialKey, Bytes>,
    metrics: Arc<Metrics>,
}

impl EvidenceCache {
    pub fn new(ttls: DecisionTtls, metrics: Arc<Metrics>) -> EvidenceCache {
        EvidenceCache {
            materials: moka::future::Cache::builder()
                .weigher(|_key, found: &Arc<Discovered>| {
                    u32::try_from(found.layers.len() * 512 + 512).unwrap_or(u32::MAX)
                })
                .max_capacity(MATERIAL_CACHE_BYTES / 4)
                .time_to_live(ttls.deny.max(Duration::from_millis(1)))
                .build(),
            // Bounded by bytes: attestations (SBOMs) can be megabytes.
            payloads: moka::future::Cache::builder()
                .weigher(|_key, bytes: &Bytes| u32::try_from(bytes.len() + 128).unwrap_or(u32::MAX))
                .max_capacity(MATERIAL_CACHE_BYTES)
                .time_to_live(ttls.allow.max(ttls.deny).max(Duration::from_millis(1)))
                .build(),
            metrics,
        }
    }

    /// What discovery found for `key`, or `discover`'s answer (shared by
    /// concurrent callers; errors are not kept). `discover` is called only
    /// on a miss: its future is large, and built only where it runs.
    pub async fn discovered<D, F>(
        &self,
        key: MaterialKey,
        discover: D,
    ) -> Result<Arc<Discovered>, DiscoveryError>
    where
        D: FnOnce() -> F,
        F: std::future::Future<Output = Result<Discovered, DiscoveryError>>,
    {
        let hit = self.materials.contains_key(&key);
        let found = self
            .materials
            .try_get_with(key, async { discover().await.map(Arc::new) })
            .await
            .map_err(|e| (*e).clone())?;
        self.metrics.cache("signatures", hit);
        Ok(found)
    }

    /// One payload or artifact blob, or `fetch`'s (shared; errors are not
    /// kept). `fetch` is called only on a miss.
    pub async fn payload<G, F>(
        &self,
        key: MaterialKey,
        fetch: G,
    ) -> Result<Bytes, Arc<UpstreamError>>
    where
        G: FnOnce() -> F,
        F: std::future::Future<Output = Result<Bytes, UpstreamError>>,
    {
        self.payloads
            .try_get_with(key, async { fetch().await })
            .await
    }
}
