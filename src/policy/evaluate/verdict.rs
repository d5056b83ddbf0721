//! One policy's judgement: the first passing authority wins, sources in
//! order; failures before it are the reasons of a denial.

use std::time::Instant;

use super::{Depth, Evidence, Need, Source, SubjectFacts, MISSING_MATERIAL};
use crate::oci::RegistryName;
use crate::policy::condition::{self, Matched};
use crate::policy::judge::{attestations, describe, rejected, rejects};
use crate::policy::trace::{AuthorityTrace, LayerTrace, PolicyTrace, SourceTrace, Trace};
use crate::policy::{Authority, AuthorityKind, DenialCode, PlatformManifests, Policy};
use crate::signature::DiscoveryError;
use crate::verify::{self, Admission, RejectReason, Verified, Want};

/// One policy's verdict.
pub(super) enum PolicyVerdict {
    Signed(Box<Verified>),
    Static,
    ListedBy(Admission),
    Failed(Vec<String>, DenialCode),
}

/// A failure on the way to a verdict (transient: not cached).
pub(super) type Transient = (String, DenialCode);

/// What an authority can use: attestations when it has rules for them.
pub(super) fn purpose(authority: &Authority) -> Want {
    if authority.attestations.is_empty() {
        Want::Signature
    } else {
        Want::Attestation
    }
}

/// An authority's signature sources (the image's own repository when it
/// names none), and the named registries that are not configured.
pub(super) fn sources<'a>(
    authority: &'a Authority,
    facts: &SubjectFacts<'_>,
) -> (Vec<Source>, Vec<&'a RegistryName>) {
    let mut found = Vec::new();
    let mut unconfigured = Vec::new();
    if authority.sources.is_empty() {
        found.push(Source {
            upstream: facts.upstream,
            repository: facts.repository.clone(),
        });
    }
    for source in &authority.sources {
        match (facts.upstream_of)(&source.registry) {
            Some(upstream) => found.push(Source {
                upstream,
                repository: source.repository.clone(),
            }),
            None => unconfigured.push(&source.registry),
        }
    }
    (found, unconfigured)
}

/// One policy: the first passing authority wins. Once an outcome is known
/// it stays; `Depth::Everything` only goes on recording.
pub(super) fn policy_verdict<'a>(
    policy: &'a Policy,
    evidence: &'a Evidence,
    facts: &SubjectFacts<'_>,
    depth: Depth,
    record: &mut PolicyTrace<'a>,
    trace: &mut Trace<'a>,
) -> Result<PolicyVerdict, Transient> {
    let exhaustive = depth == Depth::Everything;
    // With `spec.policy`, every authority is judged and every passing one
    // recorded (policy-controller's semantics); the condition decides.
    let collect = policy.condition.is_some();
    let mut matches: Vec<(&str, Matched<'_>)> = Vec::new();
    let mut outcome: Option<Result<PolicyVerdict, Transient>> = None;
    if policy.platform_manifests != PlatformManifests::Child {
        if let Some(index) = &evidence.listed_by {
            record.listed_by = true;
            outcome = Some(Ok(PolicyVerdict::ListedBy(index.clone())));
        }
    }
    let mut first_verified: Option<Verified> = None;
    let mut reasons = Vec::new();
    // The code of the first failure names the denial in metrics.
    let mut code: Option<DenialCode> = None;
    let mut fail = |outcome: &Option<_>, c: DenialCode, reason: String| {
        if outcome.is_none() {
            code.get_or_insert(c);
            reasons.push(reason);
        }
    };
    'authorities: for authority in &policy.authorities {
        if outcome.is_some() && !exhaustive {
            break;
        }
        let mut at = AuthorityTrace {
            authority,
            unconfigured: Vec::new(),
            sources: Vec::new(),
        };
        let requirement = match &authority.kind {
            AuthorityKind::Static { pass: true, .. } => {
                if collect {
                    matches.push((authority.name.as_str(), Matched::Static));
                } else {
                    outcome.get_or_insert(Ok(PolicyVerdict::Static));
                }
                record.authorities.push(at);
                continue;
            }
            AuthorityKind::Static {
                pass: false,
                message,
            } => {
                let reason = format!(
                    "authority '{}' fails statically{}",
                    authority.name,
                    message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                fail(&outcome, DenialCode::StaticFail, reason);
                record.authorities.push(at);
                continue;
            }
            AuthorityKind::Verify(requirement) => requirement,
        };
        let (sources, unconfigured) = sources(authority, facts);
        for registry in unconfigured {
            fail(
                &outcome,
                DenialCode::SourceUnconfigured,
                format!(
                    "authority '{}': signature source registry '{registry}' is not a configured upstream",
                    authority.name
                ),
            );
            at.unconfigured.push(registry);
        }
        let want = purpose(authority);
        for source in sources {
            let discovered = match evidence.material(&source, want) {
                None => {
                    at.sources.push(SourceTrace::Missing);
                    trace.missing.get_or_insert_with(|| Need::Material {
                        source: source.clone(),
                        purpose: want,
                    });
                    outcome.get_or_insert(Err((MISSING_MATERIAL.into(), DenialCode::Internal)));
                    if !exhaustive {
                        record.authorities.push(at);
                        break 'authorities;
                    }
                    continue;
                }
                Some(Err(e)) => {
                    at.sources.push(SourceTrace::Unavailable(e));
                    match e {
                        DiscoveryError::Upstream(e) => {
                            outcome.get_or_insert(Err((
                                format!("upstream error while fetching signatures: {e}"),
                                DenialCode::UpstreamError,
                            )));
                        }
                        DiscoveryError::Refused(why) => fail(
                            &outcome,
                            DenialCode::MaterialRefused,
                            format!(
                                "authority '{}': signature material refused: {why}",
                                authority.name
                            ),
                        ),
                    }
                    if outcome.is_some() && !exhaustive {
                        record.authorities.push(at);
                        break 'authorities;
                    }
                    continue;
                }
                Some(Ok(found)) => found,
            };
            let started = Instant::now();
            let mut layers = Vec::new();
            for layer in &discovered.layers {
                let result = match authority.signature_format {
                    Some(format) if !format.admits(&layer.media_type) => {
                        Err(RejectReason::NotApplicable(format!(
                            "{}: the authority's signatureFormat is {}",
                            layer.media_type,
                            format.as_str()
                        )))
                    }
                    _ => verify::check(facts.digest, layer, &authority.name, requirement, want),
                };
                let stop = want == Want::Signature && result.is_ok() && !exhaustive && !collect;
                layers.push(LayerTrace {
                    layer,
                    result,
                    rules: Vec::new(),
                });
                if stop {
                    break;
                }
            }
            let verdict = if discovered.layers.is_empty() {
                None
            } else if want == Want::Signature {
                Some(
                    layers
                        .iter()
                        .find_map(|l| l.result.as_ref().ok().cloned())
                        .ok_or_else(|| rejected(&rejects(&layers), "signature")),
                )
            } else {
                Some(attestations(&mut layers, authority, exhaustive))
            };
            trace.verifications.push(started.elapsed());
            // One entry per authority: its first source that passes.
            if collect
                && matches!(verdict, Some(Ok(_)))
                && !matches.iter().any(|(n, _)| *n == authority.name)
            {
                matches.push((authority.name.as_str(), matched(authority, want, &layers)));
            }
            at.sources.push(SourceTrace::Found {
                looked_at: &discovered.looked_at,
                layers,
            });
            match verdict {
                None => fail(
                    &outcome,
                    DenialCode::NoSignatures,
                    format!(
                        "authority '{}': no signatures found (looked at {})",
                        authority.name,
                        discovered.looked_at.join(", ")
                    ),
                ),
                Some(Ok(v)) => {
                    if collect {
                        first_verified.get_or_insert(v);
                    } else {
                        outcome.get_or_insert(Ok(PolicyVerdict::Signed(Box::new(v))));
                    }
                }
                Some(Err((why, first_code))) => fail(
                    &outcome,
                    first_code,
                    format!(
                        "authority '{}' ({}): {why}",
                        authority.name,
                        describe(requirement)
                    ),
                ),
            }
            if outcome.is_some() && !exhaustive {
                break;
            }
        }
        record.authorities.push(at);
    }
    if outcome.is_none() && collect && !matches.is_empty() {
        let input = condition::input(&matches);
        record.condition = condition::evaluate(policy, input);
        let verdict = record.condition.as_ref().map(|c| &c.outcome);
        return Ok(match verdict {
            Some(Ok(v)) if v.compliant => match first_verified {
                Some(v) => PolicyVerdict::Signed(Box::new(v)),
                None => PolicyVerdict::Static,
            },
            Some(Ok(v)) => {
                let mut why = vec![format!(
                    "spec.policy is not satisfied by the authorities that passed{}",
                    if v.messages.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", v.messages.join("; "))
                    }
                )];
                why.extend(reasons);
                PolicyVerdict::Failed(why, DenialCode::PolicyCondition)
            }
            Some(Err(e)) => {
                let mut why = vec![format!("spec.policy could not be evaluated: {e}")];
                why.extend(reasons);
                PolicyVerdict::Failed(why, DenialCode::PolicyCondition)
            }
            None => PolicyVerdict::Failed(reasons, DenialCode::Internal),
        });
    }
    outcome.unwrap_or_else(|| {
        Ok(PolicyVerdict::Failed(
            reasons,
            code.unwrap_or(DenialCode::Internal),
        ))
    })
}

/// What a passing authority contributes to `spec.policy`'s input: every
/// verified signature, or per rule every verified attestation of its type.
fn matched<'a>(authority: &'a Authority, want: Want, layers: &[LayerTrace<'a>]) -> Matched<'a> {
    let ok = || layers.iter().filter_map(|l| l.result.as_ref().ok());
    match want {
        Want::Signature => Matched::Signatures(ok().cloned().collect()),
        Want::Attestation => Matched::Attestations(
            authority
                .attestations
                .iter()
                .map(|rule| {
                    let of_type = ok()
                        .filter(|v| {
                            v.statement()
                                .is_some_and(|s| s.predicate_type == rule.predicate_type)
                        })
                        .cloned()
                        .collect();
                    (rule.name.as_str(), of_type)
                })
                .collect(),
        ),
    }
}
