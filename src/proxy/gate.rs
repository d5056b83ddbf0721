//! The enforcement point: the one place a manifest is admitted or denied.
//!
//! Every manifest response passes through [`Gate::decide`]. It decides
//! *when* to fetch and what is kept: the decision cache first (concurrent
//! first requests for one digest share one evaluation), then the evidence
//! the pure judgement needs ([`evaluate::needs`], fetched in [`evidence`]),
//! then [`evaluate::evaluate`], then what the admission makes servable,
//! metrics and the audit record. It judges nothing itself.
//!
//! Decisions are cached by (upstream, repository, digest, policy revision):
//! a reload changes the revision, so no verdict outlives a policy change.
//! Transient failures (upstream errors while fetching signatures) are never
//! cached (see [`crate::cache::decisions`]).

mod evidence;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use crate::cache::GateCaches;
use crate::metrics::Metrics;
use crate::oci::Manifest;
use crate::oci::{Digest, RegistryName, Repository};
use crate::policy::evaluate::{self, Need, SubjectFacts};
use crate::policy::explain::{self, Explanation};
use crate::policy::{image_name, Decision, DecisionTtls, Denial, PolicySet};
use crate::route::UpstreamId;
use crate::upstream::Upstreams;

/// What the gate is asked about.
pub struct Subject<'a> {
    pub upstream: UpstreamId,
    pub registry: &'a RegistryName,
    pub repository: &'a Repository,
    pub reference: &'a str,
    pub manifest: &'a Manifest,
    pub client: Option<SocketAddr>,
}

/// Decides on manifests; remembers what it admitted.
pub struct Gate {
    policies: RwLock<Arc<PolicySet>>,
    upstreams: Arc<Upstreams>,
    caches: GateCaches,
    /// Discoveries running at once; more wait, for a bounded time.
    discoveries: tokio::sync::Semaphore,
    metrics: Arc<Metrics>,
}

// === impl Gate ===

impl Gate {
    pub fn new(
        policies: PolicySet,
        upstreams: Arc<Upstreams>,
        ttls: DecisionTtls,
        strict_blobs: bool,
        metrics: Arc<Metrics>,
    ) -> Gate {
        Gate {
            policies: RwLock::new(Arc::new(policies)),
            upstreams,
            caches: GateCaches::new(ttls, strict_blobs, metrics.clone()),
            discoveries: tokio::sync::Semaphore::new(evidence::CONCURRENT_DISCOVERIES),
            metrics,
        }
    }

    /// The policy set in force.
    pub fn policies(&self) -> Arc<PolicySet> {
        match self.policies.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swap in a new policy set atomically; its new revision retires every
    /// cached decision.
    pub fn replace_policies(&self, policies: PolicySet) {
        let policies = Arc::new(policies);
        match self.policies.write() {
            Ok(mut p) => *p = policies,
            Err(poisoned) => *poisoned.into_inner() = policies,
        }
    }

    /// Whether a blob may be served: referenced by a manifest of the same
    /// repository admitted under the policies in force (always, under
    /// `blobs: passthrough`).
    pub fn blob_admitted(
        &self,
        upstream: UpstreamId,
        repository: &Repository,
        digest: &Digest,
    ) -> bool {
        let revision = self.policies().revision();
        self.caches
            .admitted
            .blob(&(upstream, repository.clone(), digest.clone(), revision))
    }

    /// A blob of an admitted signature artifact: exactly the bytes that were
    /// proven to be signature material — content-addressed and
    /// digest-checked on every fetch, so not parsed again. `None` when
    /// `digest` is no such blob.
    pub async fn artifact_blob(
        &self,
        upstream: UpstreamId,
        repository: &Repository,
        digest: &Digest,
    ) -> Option<Result<bytes::Bytes, String>> {
        let revision = self.policies().revision();
        let key = (upstream, repository.clone(), digest.clone(), revision);
        let size = self.caches.admitted.artifact_blob(&key)?;
        let fetched = self
            .payload((upstream, repository.clone()), digest, size)
            .await
            .map_err(|e| e.to_string());
        Some(fetched)
    }

    pub async fn decide(&self, subject: Subject<'_>) -> Decision {
        let digest = subject.manifest.digest();
        let references = subject.manifest.references();
        let image = image_name(subject.registry, subject.repository);
        let policies = self.policies();
        let revision = policies.revision();
        let key = (
            subject.upstream,
            subject.repository.clone(),
            digest.clone(),
            revision,
            subject.manifest.is_from_store(),
        );
        let started = Instant::now();
        let (decision, cache_hit) = self
            .caches
            .decisions
            // Boxed: the evaluation's future is large, and only a miss needs it.
            .get_or_evaluate(key, || Box::pin(self.evaluate(&subject, &image, &policies)))
            .await;
        // A proven artifact's blobs were registered by the proof, as the
        // bytes it parsed; it lists no platform manifests.
        if let Decision::Admit { admission, .. } = &decision {
            if !admission.is_signature_artifact() {
                // A cached admission re-registers only what has expired.
                for blob in &references.blobs {
                    let key = (
                        subject.upstream,
                        subject.repository.clone(),
                        blob.clone(),
                        revision,
                    );
                    self.caches.admitted.admit_blob(key);
                }
                if !cache_hit {
                    for child in &references.children {
                        let key = (
                            subject.upstream,
                            subject.repository.clone(),
                            child.clone(),
                            revision,
                        );
                        self.caches.admitted.admit_child(key, admission.clone());
                        // A denial of the child cached before its index was
                        // admitted (pulled by digest first) no longer holds.
                        self.caches
                            .decisions
                            .forget(subject.upstream, subject.repository, child, revision)
                            .await;
                    }
                }
            }
        }
        match &decision {
            Decision::Admit { admission, .. } if admission.is_signature_artifact() => {
                self.metrics.decision("allow", "", "signature-artifact")
            }
            Decision::Admit { warnings, .. } if warnings.is_empty() => {
                self.metrics.decision("allow", "", "admitted")
            }
            Decision::Admit { .. } => self.metrics.decision("warn", "", "warn-mode"),
            Decision::Deny(d) => {
                self.metrics
                    .decision("deny", d.policy.as_deref().unwrap_or(""), d.code.as_str())
            }
        }
        super::audit::record(&subject, &image, &decision, cache_hit, started.elapsed());
        decision
    }

    /// Gather the evidence and judge. `Err` is a transient denial (not
    /// cached).
    async fn evaluate(
        &self,
        subject: &Subject<'_>,
        image: &str,
        policies: &PolicySet,
    ) -> Result<Decision, Denial> {
        let applicable = policies.applicable(image);
        let upstream_of = |registry: &RegistryName| self.upstreams.find(registry);
        let facts = SubjectFacts {
            image,
            digest: subject.manifest.digest(),
            upstream: subject.upstream,
            repository: subject.repository,
            signature_artifact: subject.manifest.references().signature_artifact,
            upstream_of: &upstream_of,
        };
        // The admitted-index lookup and an artifact's proof are always
        // read; signature material is fetched as the judgement reaches it,
        // as it would be read: a platform manifest its index admitted, a
        // static pass or the first passing authority stop the search.
        let mut needs = evaluate::needs(&applicable, &facts);
        let rounds = needs
            .iter()
            .filter(|n| matches!(n, Need::Material { .. }))
            .count();
        needs.retain(|n| !matches!(n, Need::Material { .. }));
        let mut evidence = self
            .gather(&needs, &facts, Some(subject.manifest), policies.revision())
            .await;
        let mut round = 0;
        let evaluation = loop {
            let evaluation = evaluate::evaluate(&applicable, &evidence, &facts);
            match evaluation.trace.missing.clone() {
                // Bounded by the needs `needs` listed; past them the
                // judgement's own "no evidence" denial stands.
                Some(need) if round < rounds => {
                    round += 1;
                    drop(evaluation);
                    let more = self
                        .gather(&[need], &facts, None, policies.revision())
                        .await;
                    evidence.materials.extend(more.materials);
                }
                _ => break evaluation,
            }
        };
        for took in &evaluation.trace.verifications {
            self.metrics.verification(took.as_secs_f64());
        }
        match evaluation.decision {
            Decision::Deny(denial) if denial.transient => Err(denial),
            decision => Ok(decision),
        }
    }

    /// `--explain`: the gate's view of `digest` in `repository` on
    /// `upstream`, every check recorded by the same judgement.
    pub async fn explain(
        &self,
        upstream: UpstreamId,
        registry: &RegistryName,
        repository: &Repository,
        digest: &Digest,
    ) -> Explanation {
        let image = image_name(registry, repository);
        let policies = self.policies();
        let applicable = policies.applicable(&image);
        let upstream_of = |registry: &RegistryName| self.upstreams.find(registry);
        let facts = SubjectFacts {
            image: &image,
            digest,
            upstream,
            repository,
            // Explained by digest: the manifest itself is not fetched.
            signature_artifact: false,
            upstream_of: &upstream_of,
        };
        let needs = evaluate::needs(&applicable, &facts);
        let evidence = self.gather(&needs, &facts, None, policies.revision()).await;
        let evaluation = evaluate::explore(&applicable, &evidence, &facts);
        explain::explanation(image.clone(), digest, &evaluation.trace)
    }
}
