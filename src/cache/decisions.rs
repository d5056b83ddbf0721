//! Decisions by (upstream, repository, digest, policy revision, from the
//! store): a reload changes the revision, so no verdict outlives a policy
//! change. Allows and definitive denials are kept for their TTLs;
//! transient failures are never kept. Concurrent first requests for one key
//! share one evaluation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::oci::{Digest, Repository};
use crate::policy::{Decision, DecisionTtls, Denial};
use crate::route::UpstreamId;

/// The last field: whether the manifest came from the local store, whose
/// decisions are made afresh from the material kept there.
pub type DecisionKey = (UpstreamId, Repository, Digest, u64, bool);

pub struct Decisions {
    cache: moka::future::Cache<DecisionKey, Decision>,
    metrics: Arc<Metrics>,
}

struct DecisionExpiry(DecisionTtls);

impl moka::Expiry<DecisionKey, Decision> for DecisionExpiry {
    fn expire_after_create(
        &self,
        _key: &DecisionKey,
        value: &Decision,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(match value {
            Decision::Admit { .. } => self.0.allow,
            Decision::Deny(_) => self.0.deny,
        })
    }
}

impl Decisions {
    pub fn new(ttls: DecisionTtls, metrics: Arc<Metrics>) -> Decisions {
        Decisions {
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .expire_after(DecisionExpiry(ttls))
                .build(),
            metrics,
        }
    }

    /// The kept decision for `key`, or the one `evaluate` makes (`Err`: a
    /// transient denial, returned and not kept), and whether it was kept
    /// already. `evaluate` is called only on a miss.
    pub async fn get_or_evaluate<E, F>(&self, key: DecisionKey, evaluate: E) -> (Decision, bool)
    where
        E: FnOnce() -> F,
        F: std::future::Future<Output = Result<Decision, Denial>>,
    {
        let (decision, hit) = match self.cache.get(&key).await {
            Some(kept) => (kept, true),
            None => match self.cache.entry(key).or_try_insert_with(evaluate()).await {
                Ok(entry) => {
                    let fresh = entry.is_fresh();
                    (entry.into_value(), !fresh)
                }
                Err(transient) => (Decision::Deny((*transient).clone()), false),
            },
        };
        self.metrics.cache("decision", hit);
        (decision, hit)
    }

    /// Forget the decisions on `digest` (from upstream and from the store).
    pub async fn forget(
        &self,
        upstream: UpstreamId,
        repository: &Repository,
        digest: &Digest,
        revision: u64,
    ) {
        for stored in [false, true] {
            self.cache
                .invalidate(&(
                    upstream,
                    repository.clone(),
                    digest.clone(),
                    revision,
                    stored,
                ))
                .await;
        }
    }
}
