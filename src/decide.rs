//! The enforcement point: the one place a manifest is admitted or denied.
//!
//! Every manifest response passes through [`Gate::decide`]. It finds the
//! policies for the image, discovers and verifies signatures for the exact
//! digest being served, and returns a [`Decision`]: an admission (which the
//! response builder requires, for that digest) or a denial with reasons.
//!
//! Decisions are cached by (upstream, repository, digest, policy revision):
//! a reload changes the revision, so no verdict outlives a policy change.
//! Allows and definitive denials are cached for their TTLs; transient
//! failures (upstream errors while fetching signatures) are never cached.
//! Concurrent first requests for one digest share one evaluation.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::NoMatchPolicy;
use crate::metrics::Metrics;
use crate::oci::{Digest, Manifest, RegistryName, Repository};
use crate::policy::{
    image_name, Applicable, AuthorityKind, DenialCode, Mode, PlatformManifests, Policy, PolicySet,
};
use crate::route::UpstreamId;
use crate::signature::inert::{self, Claim};
use crate::signature::{self, Discovered, DiscoveryError, Purpose, SignatureLayer};
use crate::upstream::Upstreams;
use crate::verify::{self, Admission, Exemption, Requirement, Verified};

/// What the gate is asked about.
pub struct Subject<'a> {
    pub upstream: UpstreamId,
    pub registry: &'a RegistryName,
    pub repository: &'a Repository,
    pub reference: &'a str,
    pub manifest: &'a Manifest,
    pub client: Option<SocketAddr>,
}

/// The gate's answer.
#[derive(Debug, Clone)]
pub enum Decision {
    Admit {
        admission: Admission,
        /// Failures tolerated by `mode: warn` or `no-match-policy: warn`,
        /// sent to the client as `Warning` headers.
        warnings: Vec<String>,
    },
    Deny(Denial),
}

/// Why a manifest is refused.
#[derive(Debug, Clone)]
pub struct Denial {
    pub image: String,
    pub digest: Digest,
    /// The policy that denied, if one did (none for `no-match-policy: deny`).
    pub policy: Option<String>,
    pub reasons: Vec<String>,
    /// An upstream failure on the way to a verdict: not cached.
    pub transient: bool,
    /// A stable code for metrics and alerts (the README lists them all):
    /// `no-match`,
    /// `no-signatures`, `untrusted-signature`, `other-image`,
    /// `unsupported-signature`, `bad-payload`, `static-fail`,
    /// `source-unconfigured`, `upstream-error`, `wrong-identity`,
    /// `keyless-rejected`, `no-attestation`, `attestation-policy`,
    /// `material-refused`, `disguised-artifact`, `internal`.
    pub code: DenialCode,
}

/// How long decisions are reused.
#[derive(Debug, Clone, Copy)]
pub struct DecisionTtls {
    pub allow: Duration,
    pub deny: Duration,
}

/// The last field: whether the manifest came from the local store, whose
/// decisions are made afresh from the material kept there.
type DecisionKey = (UpstreamId, Repository, Digest, u64, bool);
type ChildKey = (UpstreamId, Repository, Digest, u64);
/// Blob admissions follow the policy revision: a reload (a key rotation)
/// stops serving the blobs of manifests it no longer admits.
type BlobKey = (UpstreamId, Repository, Digest, u64);
type MaterialKey = (UpstreamId, Repository, Digest);

/// Upper bound of the signature payload cache, in bytes.
const MATERIAL_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Discoveries running at once; more wait, for a bounded time.
const CONCURRENT_DISCOVERIES: usize = 32;
/// How long a discovery waits for its turn before failing (transiently).
const DISCOVERY_WAIT: Duration = Duration::from_secs(30);

/// Decides on manifests; remembers what it admitted.
pub struct Gate {
    policies: RwLock<Arc<PolicySet>>,
    upstreams: Arc<Upstreams>,
    decisions: moka::future::Cache<DecisionKey, Decision>,
    /// Discovered signature manifests' layers (no payloads), by
    /// (upstream, repository, digest).
    materials: moka::future::Cache<MaterialKey, Arc<Discovered>>,
    /// Signature payloads and artifact blobs, by (upstream, repository,
    /// blob digest): fetched once, digest-checked, bounded by bytes.
    payloads: moka::future::Cache<MaterialKey, bytes::Bytes>,
    /// Blobs of proven-inert signature artifacts, with their size (the
    /// fetch bound): served only as the bytes of that digest, which are the
    /// bytes the proof parsed.
    artifact_blobs: moka::sync::Cache<BlobKey, usize>,
    discoveries: tokio::sync::Semaphore,
    /// Platform manifests listed by an admitted index, with that admission.
    children: moka::sync::Cache<ChildKey, Admission>,
    /// Blobs referenced by admitted manifests; `None` = `blobs: passthrough`.
    blobs: Option<moka::sync::Cache<BlobKey, ()>>,
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

/// One policy's verdict.
enum PolicyVerdict {
    Signed(Verified),
    Static,
    ListedBy(Admission),
    Failed(Vec<String>, DenialCode),
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
            decisions: moka::future::Cache::builder()
                .max_capacity(100_000)
                .expire_after(DecisionExpiry(ttls))
                .build(),
            materials: moka::future::Cache::builder()
                .weigher(|_key, found: &Arc<Discovered>| {
                    u32::try_from(found.layers.len() * 512 + 512).unwrap_or(u32::MAX)
                })
                .max_capacity(MATERIAL_CACHE_BYTES / 4)
                .time_to_live(ttls.deny.max(Duration::from_millis(1)))
                .build(),
            // Bounded by bytes: attestations (SBOMs) can be megabytes.
            payloads: moka::future::Cache::builder()
                .weigher(|_key, bytes: &bytes::Bytes| {
                    u32::try_from(bytes.len() + 128).unwrap_or(u32::MAX)
                })
                .max_capacity(MATERIAL_CACHE_BYTES)
                .time_to_live(ttls.allow.max(ttls.deny).max(Duration::from_millis(1)))
                .build(),
            // Outlives the admission it came with, so a cached admission's
            // blobs stay servable.
            artifact_blobs: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttls.allow + Duration::from_secs(60))
                .build(),
            discoveries: tokio::sync::Semaphore::new(CONCURRENT_DISCOVERIES),
            children: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(ttls.allow)
                .build(),
            blobs: strict_blobs.then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(1_000_000)
                    .time_to_idle(Duration::from_secs(24 * 3600))
                    .build()
            }),
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
        match &self.blobs {
            None => true,
            Some(blobs) => {
                blobs.contains_key(&(upstream, repository.clone(), digest.clone(), revision))
            }
        }
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
        let size = self.artifact_blobs.get(&key)?;
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
        let key = (
            subject.upstream,
            subject.repository.clone(),
            digest.clone(),
            policies.revision(),
            subject.manifest.is_from_store(),
        );
        let started = Instant::now();
        let (decision, cache_hit) = match self.decisions.get(&key).await {
            Some(cached) => (cached, true),
            None => {
                // Concurrent first requests for this key share one evaluation.
                let entry = self
                    .decisions
                    .entry(key)
                    .or_try_insert_with(self.evaluate(&subject, &image, &policies))
                    .await;
                match entry {
                    Ok(entry) => {
                        let fresh = entry.is_fresh();
                        (entry.into_value(), !fresh)
                    }
                    Err(transient) => (Decision::Deny((*transient).clone()), false),
                }
            }
        };
        // A proven artifact's blobs were registered by the proof, as the
        // bytes it parsed; it lists no platform manifests.
        if let Decision::Admit { admission, .. } = &decision {
            if !admission.is_signature_artifact() {
                self.remember(&subject, references, policies.revision());
                if !cache_hit {
                    for child in &references.children {
                        let key = (
                            subject.upstream,
                            subject.repository.clone(),
                            child.clone(),
                            policies.revision(),
                        );
                        self.children.insert(key, admission.clone());
                        // A denial of the child cached before its index was
                        // admitted (pulled by digest first) no longer holds.
                        for stored in [false, true] {
                            self.decisions
                                .invalidate(&(
                                    subject.upstream,
                                    subject.repository.clone(),
                                    child.clone(),
                                    policies.revision(),
                                    stored,
                                ))
                                .await;
                        }
                    }
                }
            }
        }
        self.metrics.cache("decision", cache_hit);
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
        audit(&subject, &image, &decision, cache_hit, started.elapsed());
        decision
    }

    /// Admitted manifests make their blobs servable. A cached admission
    /// re-registers only what has expired since.
    fn remember(&self, subject: &Subject<'_>, references: &crate::oci::References, revision: u64) {
        if let Some(blobs) = &self.blobs {
            for blob in &references.blobs {
                let key = (
                    subject.upstream,
                    subject.repository.clone(),
                    blob.clone(),
                    revision,
                );
                if !blobs.contains_key(&key) {
                    blobs.insert(key, ());
                }
            }
        }
    }

    /// Evaluate every applicable policy. `Err` is a transient failure.
    async fn evaluate(
        &self,
        subject: &Subject<'_>,
        image: &str,
        policies: &PolicySet,
    ) -> Result<Decision, Denial> {
        let digest = subject.manifest.digest();
        let denial = |policy: Option<&str>,
                      reasons: Vec<String>,
                      transient: bool,
                      code: DenialCode| Denial {
            image: image.to_owned(),
            digest: digest.clone(),
            policy: policy.map(str::to_owned),
            reasons,
            transient,
            code,
        };
        let applicable = match policies.applicable(image) {
            Applicable::NoMatch(NoMatchPolicy::Allow) => {
                return Ok(Decision::Admit {
                    admission: Admission::exempt(digest, Exemption::NoMatch),
                    warnings: Vec::new(),
                })
            }
            Applicable::NoMatch(NoMatchPolicy::Warn) => {
                return Ok(Decision::Admit {
                    admission: Admission::exempt(digest, Exemption::NoMatch),
                    warnings: vec![format!(
                    "signgate: no policy matches {image}; served because no-match-policy is warn"
                )],
                })
            }
            Applicable::NoMatch(NoMatchPolicy::Deny) => {
                return Ok(Decision::Deny(denial(
                    None,
                    vec!["no policy matches this image and no-match-policy is deny".into()],
                    false,
                    DenialCode::NoMatch,
                )))
            }
            Applicable::Policies(list) => list,
        };
        // A manifest whose layers all claim to be signature material is
        // served without a signature of its own only once its bytes prove
        // the claim; a manifest that fails the proof is a disguise.
        if subject.manifest.references().signature_artifact {
            return match self.prove_inert(subject, policies.revision()).await {
                Ok(()) => Ok(Decision::Admit {
                    admission: Admission::exempt(digest, Exemption::SignatureArtifact),
                    warnings: Vec::new(),
                }),
                Err(DiscoveryError::Upstream(e)) => Err(denial(
                    None,
                    vec![format!(
                        "upstream error while checking a signature artifact: {e}"
                    )],
                    true,
                    DenialCode::UpstreamError,
                )),
                Err(DiscoveryError::Refused(why)) => Ok(Decision::Deny(denial(
                    None,
                    vec![format!(
                        "labelled as a signature artifact, but it is not one: {why}"
                    )],
                    false,
                    DenialCode::DisguisedArtifact,
                ))),
            };
        }
        let mut verified = Vec::new();
        let mut other: Option<Admission> = None;
        let mut warnings = Vec::new();
        for policy in applicable {
            match self
                .evaluate_policy(subject, policy, policies.revision())
                .await
            {
                Err(reason) => {
                    return Err(denial(
                        Some(&policy.name),
                        vec![reason],
                        true,
                        DenialCode::UpstreamError,
                    ))
                }
                Ok(PolicyVerdict::Signed(v)) => verified.push(v),
                Ok(PolicyVerdict::Static) => {
                    other.get_or_insert_with(|| {
                        Admission::exempt(
                            digest,
                            Exemption::StaticPass {
                                policy: policy.name.clone(),
                            },
                        )
                    });
                }
                Ok(PolicyVerdict::ListedBy(index)) => {
                    other.get_or_insert_with(|| Admission::listed_by(digest, &index));
                }
                Ok(PolicyVerdict::Failed(reasons, code)) => match policy.mode {
                    Mode::Enforce => {
                        return Ok(Decision::Deny(denial(
                            Some(&policy.name),
                            reasons,
                            false,
                            code,
                        )))
                    }
                    Mode::Warn => {
                        warnings.push(format!(
                            "signgate: policy '{}' would deny {image}@{digest}: {}",
                            policy.name,
                            reasons.join("; ")
                        ));
                        other = Some(Admission::exempt(
                            digest,
                            Exemption::WarnMode {
                                policy: policy.name.clone(),
                            },
                        ));
                    }
                },
            }
        }
        let admission = match other {
            Some(a) => a,
            None => Admission::signed(digest, verified).ok_or_else(|| {
                denial(
                    None,
                    vec!["internal: no admission basis".into()],
                    true,
                    DenialCode::Internal,
                )
            })?,
        };
        Ok(Decision::Admit {
            admission,
            warnings,
        })
    }

    /// The configured upstream of this name (a `source[].oci` registry).
    pub fn upstream_id(&self, registry: &RegistryName) -> Option<UpstreamId> {
        self.upstreams.find(registry)
    }

    /// The signature layers for `digest` in `source`, with the payloads
    /// `purpose` can use: manifests discovered once and reused across
    /// policies, authorities and reloads for a while (`denial-ttl`), each
    /// payload fetched once. Concurrent first requests share one discovery;
    /// at most [`CONCURRENT_DISCOVERIES`] run at once.
    pub(crate) async fn material(
        &self,
        source: (UpstreamId, Repository),
        digest: &Digest,
        purpose: Purpose,
    ) -> Result<Discovered, DiscoveryError> {
        let upstream = self.upstream_of(source.0)?;
        let _turn = tokio::time::timeout(DISCOVERY_WAIT, self.discoveries.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                DiscoveryError::from(crate::upstream::UpstreamError::new(
                    upstream.name(),
                    crate::upstream::UpstreamErrorKind::BadResponse(
                        "too many signature discoveries at once".into(),
                    ),
                ))
            })?;
        let key = (source.0, source.1.clone(), digest.clone());
        let hit = self.materials.contains_key(&key);
        let repository = source.1.clone();
        let found = self
            .materials
            .try_get_with(key, async {
                signature::discover(&upstream, &repository, digest)
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|e| (*e).clone())?;
        self.metrics.cache("signatures", hit);
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

    fn upstream_of(
        &self,
        id: UpstreamId,
    ) -> Result<Arc<crate::upstream::Upstream>, DiscoveryError> {
        self.upstreams
            .get(id)
            .cloned()
            .ok_or_else(|| DiscoveryError::Refused("internal: unknown upstream".into()))
    }

    /// One signature payload or artifact blob, fetched once (bounded by
    /// `size`, digest-checked) and shared. An oversized blob is a definitive
    /// refusal; other upstream failures are transient.
    async fn payload(
        &self,
        source: (UpstreamId, Repository),
        digest: &Digest,
        size: usize,
    ) -> Result<bytes::Bytes, DiscoveryError> {
        let upstream = self.upstream_of(source.0)?;
        let repository = source.1.clone();
        self.payloads
            .try_get_with((source.0, source.1, digest.clone()), async move {
                upstream.fetch_blob(&repository, digest, size).await
            })
            .await
            .map_err(|e| match e.kind {
                crate::upstream::UpstreamErrorKind::TooLarge { .. } => {
                    DiscoveryError::Refused(e.to_string())
                }
                _ => DiscoveryError::Upstream(e),
            })
    }

    /// Prove a claimed signature artifact inert: fetch its config and every
    /// layer (bounded), parse each as its declared kind, and register those
    /// blobs as servable under `revision`. An index proves each manifest it
    /// lists, which must be an artifact image itself.
    async fn prove_inert(
        &self,
        subject: &Subject<'_>,
        revision: u64,
    ) -> Result<(), DiscoveryError> {
        let refuse = DiscoveryError::Refused;
        match inert::claim(subject.manifest.bytes()).map_err(refuse)? {
            Claim::Image(blobs) => {
                self.prove_blobs(subject.upstream, subject.repository, &blobs, revision)
                    .await
            }
            Claim::Index(children) => {
                let upstream = self.upstream_of(subject.upstream)?;
                let accept = http::HeaderValue::from_static(
                    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
                );
                for child in children {
                    let manifest = upstream
                        .fetch_manifest(subject.repository, &child, &accept)
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
                            .prove_blobs(subject.upstream, subject.repository, &blobs, revision)
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
        upstream: UpstreamId,
        repository: &Repository,
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
                .payload((upstream, repository.clone()), &blob.digest, blob.size)
                .await?;
            inert::check(blob.kind, &bytes).map_err(|why| {
                DiscoveryError::Refused(format!("{} {}: {why}", blob.kind, blob.digest))
            })?;
        }
        for blob in blobs {
            self.artifact_blobs.insert(
                (upstream, repository.clone(), blob.digest.clone(), revision),
                blob.size,
            );
        }
        Ok(())
    }

    /// One policy: any authority suffices. `Err` is a transient failure.
    async fn evaluate_policy(
        &self,
        subject: &Subject<'_>,
        policy: &Policy,
        revision: u64,
    ) -> Result<PolicyVerdict, String> {
        let digest = subject.manifest.digest();
        if policy.platform_manifests != PlatformManifests::Child {
            let key = (
                subject.upstream,
                subject.repository.clone(),
                digest.clone(),
                revision,
            );
            if let Some(index) = self.children.get(&key) {
                return Ok(PolicyVerdict::ListedBy(index));
            }
        }
        let mut reasons = Vec::new();
        // The code of the first failure names the denial in metrics.
        let mut code: Option<DenialCode> = None;
        for authority in &policy.authorities {
            match &authority.kind {
                AuthorityKind::Static { pass: true, .. } => return Ok(PolicyVerdict::Static),
                AuthorityKind::Static {
                    pass: false,
                    message,
                } => {
                    code.get_or_insert(DenialCode::StaticFail);
                    reasons.push(format!(
                        "authority '{}' fails statically{}",
                        authority.name,
                        message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ))
                }
                AuthorityKind::Verify(requirement) => {
                    let mut sources = Vec::new();
                    if authority.sources.is_empty() {
                        sources.push((subject.upstream, subject.repository.clone()));
                    }
                    for source in &authority.sources {
                        match self.upstreams.find(&source.registry) {
                            Some(id) => sources.push((id, source.repository.clone())),
                            None => {
                                code.get_or_insert(DenialCode::SourceUnconfigured);
                                reasons.push(format!(
                                    "authority '{}': signature source registry '{}' is not a configured upstream",
                                    authority.name, source.registry
                                ))
                            }
                        }
                    }
                    let purpose = if authority.attestations.is_empty() {
                        Purpose::Signatures
                    } else {
                        Purpose::Attestations
                    };
                    for source in sources {
                        let discovered = match self.material(source, digest, purpose).await {
                            Ok(found) => found,
                            Err(DiscoveryError::Upstream(e)) => {
                                return Err(format!(
                                    "upstream error while fetching signatures: {e}"
                                ))
                            }
                            Err(DiscoveryError::Refused(why)) => {
                                code.get_or_insert(DenialCode::MaterialRefused);
                                reasons.push(format!(
                                    "authority '{}': signature material refused: {why}",
                                    authority.name
                                ));
                                continue;
                            }
                        };
                        let started = Instant::now();
                        if discovered.layers.is_empty() {
                            self.metrics.verification(started.elapsed().as_secs_f64());
                            code.get_or_insert(DenialCode::NoSignatures);
                            reasons.push(format!(
                                "authority '{}': no signatures found (looked at {})",
                                authority.name,
                                discovered.looked_at.join(", ")
                            ));
                            continue;
                        }
                        let verdict = if authority.attestations.is_empty() {
                            verify::verify_signature(
                                digest,
                                &discovered.layers,
                                &authority.name,
                                requirement,
                            )
                            .map_err(|rejects| rejected(&rejects, "signature"))
                        } else {
                            attestations(digest, &discovered.layers, authority, requirement)
                        };
                        self.metrics.verification(started.elapsed().as_secs_f64());
                        match verdict {
                            Ok(v) => return Ok(PolicyVerdict::Signed(v)),
                            Err((why, first_code)) => {
                                code.get_or_insert(first_code);
                                reasons.push(format!(
                                    "authority '{}' ({}): {why}",
                                    authority.name,
                                    describe(requirement)
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(PolicyVerdict::Failed(
            reasons,
            code.unwrap_or(DenialCode::Internal),
        ))
    }
}

/// The reasons of the layers that did not verify, deduplicated, and the
/// metrics code of the first.
fn rejected(rejects: &[verify::RejectReason], what: &str) -> (String, DenialCode) {
    let code = rejects
        .iter()
        .find(|r| !matches!(r, verify::RejectReason::NotApplicable(_)))
        .map_or(DenialCode::NoSignatures, verify::RejectReason::code);
    let mut why: Vec<String> = rejects
        .iter()
        .filter(|r| !matches!(r, verify::RejectReason::NotApplicable(_)))
        .map(ToString::to_string)
        .collect();
    why.dedup();
    if why.is_empty() {
        return (
            format!("no {what} among {} layer(s) found", rejects.len()),
            code,
        );
    }
    (
        format!(
            "{} layer(s) checked, no valid {what}: {}",
            rejects.len(),
            why.join("; ")
        ),
        code,
    )
}

/// An authority with attestations: every rule needs at least one verified
/// attestation of its predicate type, and every verified attestation of
/// that type must satisfy the rule's condition (policy-controller's rule).
fn attestations(
    digest: &Digest,
    layers: &[signature::SignatureLayer],
    authority: &crate::policy::Authority,
    requirement: &Requirement,
) -> Result<Verified, (String, DenialCode)> {
    let (verified, rejects) =
        verify::verify_attestations(digest, layers, &authority.name, requirement);
    let mut first = None;
    for rule in &authority.attestations {
        let matching: Vec<&Verified> = verified
            .iter()
            .filter(|v| {
                v.statement()
                    .is_some_and(|s| s.predicate_type == rule.predicate_type)
            })
            .collect();
        if matching.is_empty() {
            let (why, code) = rejected(&rejects, "attestation");
            return Err((
                format!(
                    "attestation '{}': no verified attestation of type {} ({} verified of other types; {why})",
                    rule.name,
                    rule.predicate_type,
                    verified.len()
                ),
                if verified.is_empty() { code } else { DenialCode::NoAttestation },
            ));
        }
        if let Some(condition) = &rule.condition {
            for v in &matching {
                let Some(statement) = v.statement() else {
                    continue;
                };
                match condition.evaluate(&statement.json) {
                    Ok(verdict) if verdict.compliant => {}
                    Ok(verdict) => {
                        return Err((
                            format!(
                                "attestation '{}' ({}, signed by {}, found at {}) does not satisfy its policy{}",
                                rule.name,
                                rule.predicate_type,
                                v.signer(),
                                v.found_at(),
                                if verdict.messages.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {}", verdict.messages.join("; "))
                                }
                            ),
                            DenialCode::AttestationPolicy,
                        ))
                    }
                    Err(e) => {
                        return Err((
                            format!("attestation '{}': policy evaluation failed: {e}", rule.name),
                            DenialCode::AttestationPolicy,
                        ))
                    }
                }
            }
        }
        if first.is_none() {
            first = matching.first().map(|v| (*v).clone());
        }
    }
    first.ok_or_else(|| ("no attestation rules".into(), DenialCode::Internal))
}

/// The authority's requirement, for messages.
pub(crate) fn describe(requirement: &Requirement) -> String {
    match requirement {
        Requirement::Key(key) => format!("key sha256:{}", key.id()),
        Requirement::Keyless(k) => format!(
            "keyless, {}: {}",
            match &k.trust {
                verify::TrustSource::Sigstore(root) => format!("trusted root '{}'", root.name()),
                verify::TrustSource::PrivateCa(_) => "private CA".to_owned(),
            },
            k.identities
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    }
}

/// One structured audit record per decision.
fn audit(
    subject: &Subject<'_>,
    image: &str,
    decision: &Decision,
    cache_hit: bool,
    elapsed: Duration,
) {
    let digest = subject.manifest.digest();
    let client = subject.client.map(|c| c.to_string()).unwrap_or_default();
    match decision {
        Decision::Admit {
            admission,
            warnings,
        } => tracing::info!(
            target: "signgate::audit",
            %image, %digest, reference = subject.reference, upstream = %subject.registry,
            repository = %subject.repository, %client,
            verdict = if warnings.is_empty() { "allow" } else { "warn" },
            basis = %admission.basis(), warnings = ?warnings, cache_hit,
            elapsed_us = elapsed.as_micros() as u64,
            "decision"
        ),
        Decision::Deny(denial) => tracing::warn!(
            target: "signgate::audit",
            %image, %digest, reference = subject.reference, upstream = %subject.registry,
            repository = %subject.repository, %client,
            verdict = "deny", policy = denial.policy.as_deref().unwrap_or(""),
            reasons = ?denial.reasons, transient = denial.transient, cache_hit,
            elapsed_us = elapsed.as_micros() as u64,
            "decision"
        ),
    }
}

// === impl Denial ===

impl Denial {
    /// The `detail` object of the OCI error.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "image": self.image,
            "digest": self.digest.as_str(),
            "policy": self.policy,
            "reasons": self.reasons,
        })
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} denied", self.image, self.digest)?;
        if let Some(policy) = &self.policy {
            write!(f, " by policy {policy}")?;
        }
        write!(f, ": {}", self.reasons.join("; "))
    }
}
