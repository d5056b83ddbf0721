//! The gate's I/O: fetching what the judgement needs ([`Need`]) into an
//! [`Evidence`], through the caches. A fetch failure is recorded, not
//! raised: the judgement decides whether it matters.

use std::sync::Arc;
use std::time::Duration;

use super::Gate;
use crate::oci::Manifest;
use crate::oci::{Digest, Repository};
use crate::policy::evaluate::{Evidence, Need, Source, SubjectFacts};
use crate::route::UpstreamId;
use crate::signature::inert::{self, Claim};
use crate::signature::{self, Discovered, DiscoveryError, SignatureLayer};
use crate::upstream::{Upstream, UpstreamError, UpstreamErrorKind};
use crate::verify::Want;

/// Discoveries running at once; more wait, for a bounded time.
pub(super) const CONCURRENT_DISCOVERIES: usize = 32;
/// How long a discovery waits for its turn before failing (transiently).
const DISCOVERY_WAIT: Duration = Duration::from_secs(30);

impl Gate {
    /// Fetch every need. Signature material from every source is fetched
    /// at once (latency is the slowest source, not the sum), bounded by the
    /// discovery semaphore; results keep the order of `needs`. `manifest`
    /// is the subject's, when there is one (a claimed signature artifact is
    /// proven from its bytes).
    pub(super) async fn gather(
        &self,
        needs: &[Need],
        facts: &SubjectFacts<'_>,
        manifest: Option<&Manifest>,
        revision: u64,
    ) -> Evidence {
        let mut evidence = Evidence::default();
        let materials = needs.iter().filter_map(|need| match need {
            Need::Material { source, purpose } => Some(Box::pin(async move {
                let found = self
                    .material(
                        (source.upstream, source.repository.clone()),
                        facts.digest,
                        *purpose,
                    )
                    .await;
                (source.clone(), *purpose, found)
            })),
            Need::ArtifactProof | Need::ListedBy => None,
        });
        evidence.materials = futures_util::future::join_all(materials).await;
        for need in needs {
            match need {
                Need::Material { .. } => {}
                Need::ArtifactProof => {
                    if let Some(manifest) = manifest {
                        let source = Source {
                            upstream: facts.upstream,
                            repository: facts.repository.clone(),
                        };
                        evidence.artifact =
                            Some(self.prove_inert(&source, manifest, revision).await);
                    }
                }
                Need::ListedBy => {
                    let key = (
                        facts.upstream,
                        facts.repository.clone(),
                        facts.digest.clone(),
                        revision,
                    );
                    evidence.listed_by = self.caches.admitted.listed_by(&key);
                }
            }
        }
        evidence
    }

    /// The signature layers for `digest` in `source`, with the payloads
    /// `purpose` can use: manifests discovered once and reused for a while,
    /// each payload fetched once. Concurrent first requests share one
    /// discovery; at most [`CONCURRENT_DISCOVERIES`] run at once.
    pub(super) async fn material(
        &self,
        source: (UpstreamId, Repository),
        digest: &Digest,
        purpose: Want,
    ) -> Result<Discovered, DiscoveryError> {
        let upstream = self.upstream_of(source.0)?;
        let _turn = tokio::time::timeout(DISCOVERY_WAIT, self.discoveries.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                DiscoveryError::from(UpstreamError::new(
                    upstream.name(),
                    UpstreamErrorKind::BadResponse("too many signature discoveries at once".into()),
                ))
            })?;
        let key = (source.0, source.1.clone(), digest.clone());
        let repository = source.1.clone();
        let found = self
            .caches
            .evidence
            .discovered(key, || {
                Box::pin(signature::discover(&upstream, &repository, digest))
            })
            .await?;
        let plan = signature::plan(&found, purpose)?;
        let mut payloads = std::collections::BTreeMap::new();
        for (layer, size) in plan {
            let bytes = self.payload(source.clone(), &layer, size).await?;
            payloads.insert(layer, bytes);
        }
        let layers = found
            .layers
            .iter()
            .map(|l| SignatureLayer {
                payload: payloads.get(&l.digest).cloned().unwrap_or_default(),
                ..l.clone()
            })
            .collect();
        Ok(Discovered {
            looked_at: found.looked_at.clone(),
            layers,
        })
    }

    fn upstream_of(&self, id: UpstreamId) -> Result<Arc<Upstream>, DiscoveryError> {
        self.upstreams
            .get(id)
            .cloned()
            .ok_or_else(|| DiscoveryError::Refused("internal: unknown upstream".into()))
    }

    /// One signature payload or artifact blob, fetched once (bounded by
    /// `size`, digest-checked) and shared. An oversized blob is a definitive
    /// refusal; other upstream failures are transient.
    pub(super) async fn payload(
        &self,
        source: (UpstreamId, Repository),
        digest: &Digest,
        size: usize,
    ) -> Result<bytes::Bytes, DiscoveryError> {
        let upstream = self.upstream_of(source.0)?;
        let repository = source.1.clone();
        self.caches
            .evidence
            .payload((source.0, source.1, digest.clone()), || async move {
                upstream.fetch_blob(&repository, digest, size).await
            })
            .await
            .map_err(|e| match e.kind {
                UpstreamErrorKind::TooLarge { .. } => DiscoveryError::Refused(e.to_string()),
                _ => DiscoveryError::Upstream(e),
            })
    }

    /// Prove a claimed signature artifact inert: fetch its config and every
    /// layer (bounded), parse each as its declared kind, and register those
    /// blobs as servable under `revision`. An index proves each manifest it
    /// lists, which must be an artifact image itself.
    async fn prove_inert(
        &self,
        source: &Source,
        manifest: &Manifest,
        revision: u64,
    ) -> Result<(), DiscoveryError> {
        let refuse = DiscoveryError::Refused;
        match inert::claim(manifest.bytes()).map_err(refuse)? {
            Claim::Image(blobs) => self.prove_blobs(source, &blobs, revision).await,
            Claim::Index(children) => {
                let upstream = self.upstream_of(source.upstream)?;
                let accept = http::HeaderValue::from_static(crate::oci::SIGNATURE_MANIFEST_ACCEPT);
                for child in children {
                    let manifest = upstream
                        .fetch_manifest(&source.repository, &child, &accept)
                        .await?;
                    if !manifest.references().signature_artifact {
                        return Err(refuse(format!(
                            "it lists {child}, which is not a signature artifact"
                        )));
                    }
                    match inert::claim(manifest.bytes())
                        .map_err(|e| refuse(format!("{child}: {e}")))?
                    {
                        Claim::Image(blobs) => self
                            .prove_blobs(source, &blobs, revision)
                            .await
                            .map_err(|e| match e {
                                DiscoveryError::Refused(why) => refuse(format!("{child}: {why}")),
                                other => other,
                            })?,
                        Claim::Index(_) => {
                            return Err(refuse(format!("it lists {child}, another index")))
                        }
                    }
                }
                Ok(())
            }
        }
    }

    async fn prove_blobs(
        &self,
        source: &Source,
        blobs: &[inert::ArtifactBlob],
        revision: u64,
    ) -> Result<(), DiscoveryError> {
        let total: u64 = blobs.iter().map(|b| b.size as u64).sum();
        if total > signature::MAX_MATERIAL_BYTES {
            return Err(DiscoveryError::Refused(format!(
                "its blobs declare {total} bytes, more than the {}-byte bound",
                signature::MAX_MATERIAL_BYTES
            )));
        }
        for blob in blobs {
            let bytes = self
                .payload(
                    (source.upstream, source.repository.clone()),
                    &blob.digest,
                    blob.size,
                )
                .await?;
            inert::check(blob.kind, &bytes).map_err(|why| {
                DiscoveryError::Refused(format!("{} {}: {why}", blob.kind, blob.digest))
            })?;
        }
        for blob in blobs {
            let key = (
                source.upstream,
                source.repository.clone(),
                blob.digest.clone(),
                revision,
            );
            self.caches.admitted.admit_artifact_blob(key, blob.size);
        }
        Ok(())
    }
}
