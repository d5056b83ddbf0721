//! The judgement: from the applicable policies, the evidence the gate
//! gathered and the facts of the subject to a [`Decision`], with a
//! [`Trace`] of every check made on the way.
//!
//! Pure: no async, no I/O, no caches, no metrics (the clock is read only
//! to time verifications for the gate's histogram). The gate asks
//! [`needs`] what to fetch, fetches it into an [`Evidence`], and calls
//! [`evaluate`]; `--explain` calls [`explore`] on the same evidence, which
//! judges identically and records everything.
//!
//! Semantics, as sigstore's policy-controller: every applicable policy must
//! pass (AND); within a policy the first passing authority wins (OR),
//! sources in order. A fetch failure is evidence like any other: it decides
//! (a transient denial) only when the judgement reaches it.

mod verdict;

use verdict::{policy_verdict, purpose, sources, PolicyVerdict};

use super::trace::{PolicyTrace, Trace};
use super::Policy;
use super::{Applicable, AuthorityKind, Decision, Denial, DenialCode, Mode, PlatformManifests};
use crate::config::NoMatchPolicy;
use crate::oci::{Digest, RegistryName, Repository};
use crate::route::UpstreamId;
use crate::signature::{Discovered, DiscoveryError};
use crate::verify::{Admission, Exemption, Want};

/// What the gate knows of the manifest it is asked about.
pub struct SubjectFacts<'a> {
    /// The name policies match against ([`super::image_name`]).
    pub image: &'a str,
    pub digest: &'a Digest,
    pub upstream: UpstreamId,
    pub repository: &'a Repository,
    /// Every layer of the manifest claims to be signature material.
    pub signature_artifact: bool,
    /// The configured upstream of a `source[].oci` registry.
    pub upstream_of: &'a (dyn Fn(&RegistryName) -> Option<UpstreamId> + Sync),
}

/// Where signatures are read: an upstream and a repository on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub upstream: UpstreamId,
    pub repository: Repository,
}

/// One piece of evidence the judgement may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The signature material of the subject's digest in `source`, with
    /// the payloads `purpose` can use.
    Material { source: Source, purpose: Want },
    /// The proof that a claimed signature artifact is one.
    ArtifactProof,
    /// The admission of an index that lists this manifest, if any.
    ListedBy,
}

/// What the gate fetched, one entry per [`Need`].
#[derive(Debug, Default)]
pub struct Evidence {
    pub materials: Vec<(Source, Want, Result<Discovered, DiscoveryError>)>,
    pub artifact: Option<Result<(), DiscoveryError>>,
    pub listed_by: Option<Admission>,
}

impl Evidence {
    fn material(
        &self,
        source: &Source,
        purpose: Want,
    ) -> Option<&Result<Discovered, DiscoveryError>> {
        self.materials
            .iter()
            .find(|(s, p, _)| s == source && *p == purpose)
            .map(|(_, _, found)| found)
    }
}

/// A decision and how it was reached.
#[derive(Debug)]
pub struct Evaluation<'a> {
    pub decision: Decision,
    pub trace: Trace<'a>,
}

/// Stop at the verdict, or look at everything (for `--explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    Verdict,
    Everything,
}

/// The evidence [`evaluate`] may read for this subject: each (source,
/// purpose) once, in the order the judgement reaches them. `explore`
/// reads all of it; the gate fetches only the cheap, always-read needs up
/// front and signature material as the judgement reaches it
/// ([`super::trace::Trace::missing`]).
pub fn needs(applicable: &Applicable<'_>, facts: &SubjectFacts<'_>) -> Vec<Need> {
    let Applicable::Policies(list) = applicable else {
        return Vec::new();
    };
    if facts.signature_artifact {
        return vec![Need::ArtifactProof];
    }
    let mut needs = Vec::new();
    if list
        .iter()
        .any(|p| p.platform_manifests != PlatformManifests::Child)
    {
        needs.push(Need::ListedBy);
    }
    for authority in list.iter().flat_map(|p| &p.authorities) {
        if let AuthorityKind::Verify(_) = authority.kind {
            let purpose = purpose(authority);
            for source in sources(authority, facts).0 {
                let need = Need::Material { source, purpose };
                if !needs.contains(&need) {
                    needs.push(need);
                }
            }
        }
    }
    needs
}

/// Judge, stopping where the verdict is known.
pub fn evaluate<'a>(
    applicable: &Applicable<'a>,
    evidence: &'a Evidence,
    facts: &SubjectFacts<'_>,
) -> Evaluation<'a> {
    run(applicable, evidence, facts, Depth::Verdict)
}

/// Judge exactly as [`evaluate`] does, and record every check of every
/// policy, authority, source and layer past the verdict too.
pub fn explore<'a>(
    applicable: &Applicable<'a>,
    evidence: &'a Evidence,
    facts: &SubjectFacts<'_>,
) -> Evaluation<'a> {
    run(applicable, evidence, facts, Depth::Everything)
}

fn run<'a>(
    applicable: &Applicable<'a>,
    evidence: &'a Evidence,
    facts: &SubjectFacts<'_>,
    depth: Depth,
) -> Evaluation<'a> {
    let mut trace = Trace::default();
    let decision = match applicable {
        Applicable::NoMatch(no_match) => no_match_decision(*no_match, facts),
        Applicable::Policies(list) => {
            let mut traces = Vec::new();
            let decision = policies(list, evidence, facts, depth, &mut traces, &mut trace);
            trace.policies = Some(traces);
            decision
        }
    };
    Evaluation { decision, trace }
}

fn denial(
    facts: &SubjectFacts<'_>,
    policy: Option<&str>,
    reasons: Vec<String>,
    transient: bool,
    code: DenialCode,
) -> Denial {
    Denial {
        image: facts.image.to_owned(),
        digest: facts.digest.clone(),
        policy: policy.map(str::to_owned),
        reasons,
        transient,
        code,
    }
}

fn no_match_decision(no_match: NoMatchPolicy, facts: &SubjectFacts<'_>) -> Decision {
    let admit = |warnings| Decision::Admit {
        admission: Admission::exempt(facts.digest, Exemption::NoMatch),
        warnings,
    };
    match no_match {
        NoMatchPolicy::Allow => admit(Vec::new()),
        NoMatchPolicy::Warn => admit(vec![format!(
            "signgate: no policy matches {}; served because no-match-policy is warn",
            facts.image
        )]),
        NoMatchPolicy::Deny => Decision::Deny(denial(
            facts,
            None,
            vec!["no policy matches this image and no-match-policy is deny".into()],
            false,
            DenialCode::NoMatch,
        )),
    }
}

/// A manifest whose layers all claim to be signature material is served
/// without a signature of its own only once its bytes prove the claim; a
/// manifest that fails the proof is a disguise.
fn artifact_decision(evidence: &Evidence, facts: &SubjectFacts<'_>) -> Decision {
    match &evidence.artifact {
        Some(Ok(())) => Decision::Admit {
            admission: Admission::exempt(facts.digest, Exemption::SignatureArtifact),
            warnings: Vec::new(),
        },
        Some(Err(DiscoveryError::Upstream(e))) => Decision::Deny(denial(
            facts,
            None,
            vec![format!(
                "upstream error while checking a signature artifact: {e}"
            )],
            true,
            DenialCode::UpstreamError,
        )),
        Some(Err(DiscoveryError::Refused(why))) => Decision::Deny(denial(
            facts,
            None,
            vec![format!(
                "labelled as a signature artifact, but it is not one: {why}"
            )],
            false,
            DenialCode::DisguisedArtifact,
        )),
        None => Decision::Deny(denial(
            facts,
            None,
            vec!["internal: the signature artifact was not checked".into()],
            true,
            DenialCode::Internal,
        )),
    }
}

/// The reason given when the gate did not gather what [`needs`] asked for.
pub(super) const MISSING_MATERIAL: &str = "internal: no signature evidence was gathered";

/// Every applicable policy must pass.
fn policies<'a>(
    list: &[&'a Policy],
    evidence: &'a Evidence,
    facts: &SubjectFacts<'_>,
    depth: Depth,
    traces: &mut Vec<PolicyTrace<'a>>,
    trace: &mut Trace<'a>,
) -> Decision {
    let digest = facts.digest;
    let mut settled = facts
        .signature_artifact
        .then(|| artifact_decision(evidence, facts));
    let mut verified = Vec::new();
    let mut other: Option<Admission> = None;
    let mut warnings = Vec::new();
    for &policy in list {
        if settled.is_some() && depth == Depth::Verdict {
            break;
        }
        let mut record = PolicyTrace {
            policy,
            listed_by: false,
            authorities: Vec::new(),
            condition: None,
        };
        let verdict = policy_verdict(policy, evidence, facts, depth, &mut record, trace);
        traces.push(record);
        if settled.is_some() {
            continue;
        }
        match verdict {
            Err((reason, code)) => {
                settled = Some(Decision::Deny(denial(
                    facts,
                    Some(&policy.name),
                    vec![reason],
                    true,
                    code,
                )))
            }
            Ok(PolicyVerdict::Signed(v)) => verified.push(*v),
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
                    settled = Some(Decision::Deny(denial(
                        facts,
                        Some(&policy.name),
                        reasons,
                        false,
                        code,
                    )))
                }
                Mode::Warn => {
                    warnings.push(format!(
                        "signgate: policy '{}' would deny {}@{digest}: {}",
                        policy.name,
                        facts.image,
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
    if let Some(decision) = settled {
        return decision;
    }
    let admission = match other {
        Some(a) => a,
        None => match Admission::signed(digest, verified) {
            Some(a) => a,
            None => {
                return Decision::Deny(denial(
                    facts,
                    None,
                    vec!["internal: no admission basis".into()],
                    true,
                    DenialCode::Internal,
                ))
            }
        },
    };
    Decision::Admit {
        admission,
        warnings,
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
