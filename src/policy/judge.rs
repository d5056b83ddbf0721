//! One authority's judgement of the layers it checked: the reasons of a
//! refusal, the attestation rules, and how a requirement is named in
//! messages. Pure, like the rest of [`super::evaluate`].

use super::trace::{LayerTrace, RuleCheck, RuleOutcome};
use super::{Authority, DenialCode};
use crate::verify::{self, RejectReason, Requirement, Verified};

/// The reasons of the layers that did not verify, deduplicated, and the
/// metrics code of the first.
pub(super) fn rejected(rejects: &[&RejectReason], what: &str) -> (String, DenialCode) {
    let code = rejects
        .iter()
        .find(|r| !matches!(r, RejectReason::NotApplicable(_)))
        .map_or(DenialCode::NoSignatures, |r| DenialCode::from(*r));
    let mut why: Vec<String> = rejects
        .iter()
        .filter(|r| !matches!(r, RejectReason::NotApplicable(_)))
        .map(ToString::to_string)
        .collect();
    why.dedup();
    if why.is_empty() {
        // Layers an authority's signatureFormat set aside are named: a
        // bare "none found" would hide why a signature that is there
        // does not count.
        let mut set_aside: Vec<String> = rejects
            .iter()
            .filter_map(|r| match r {
                RejectReason::NotApplicable(m) if m.contains("signatureFormat") => Some(m.clone()),
                _ => None,
            })
            .collect();
        set_aside.sort();
        set_aside.dedup();
        if !set_aside.is_empty() {
            return (
                format!(
                    "no {what} among {} layer(s) found (set aside: {})",
                    rejects.len(),
                    set_aside.join("; ")
                ),
                code,
            );
        }
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

/// The reasons of every layer that did not verify.
pub(super) fn rejects<'t>(layers: &'t [LayerTrace<'_>]) -> Vec<&'t RejectReason> {
    layers
        .iter()
        .filter_map(|l| l.result.as_ref().err())
        .collect()
}

/// An authority with attestations: every rule needs at least one verified
/// attestation of its predicate type, and every verified attestation of
/// that type must satisfy the rule's condition (policy-controller's rule).
/// Each rule's outcome is recorded on the layer it was applied to; with
/// `exhaustive`, every rule is applied to every match even after the first
/// failure (which stays the verdict).
pub(super) fn attestations<'a>(
    layers: &mut [LayerTrace<'a>],
    authority: &'a Authority,
    exhaustive: bool,
) -> Result<Verified, (String, DenialCode)> {
    let verified = layers.iter().filter(|l| l.result.is_ok()).count();
    let mut settled: Option<(String, DenialCode)> = None;
    let mut first = None;
    'rules: for rule in &authority.attestations {
        let matching: Vec<usize> = layers
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                l.result.as_ref().is_ok_and(|v| {
                    v.statement()
                        .is_some_and(|s| s.predicate_type == rule.predicate_type)
                })
            })
            .map(|(i, _)| i)
            .collect();
        if matching.is_empty() {
            if settled.is_none() {
                let (why, code) = rejected(&rejects(layers), "attestation");
                settled = Some((
                    format!(
                        "attestation '{}': no verified attestation of type {} ({} verified of other types; {why})",
                        rule.name, rule.predicate_type, verified
                    ),
                    if verified == 0 { code } else { DenialCode::NoAttestation },
                ));
            }
            if !exhaustive {
                break;
            }
            continue;
        }
        for &i in &matching {
            let Some(layer) = layers.get_mut(i) else {
                continue;
            };
            let Ok(v) = &layer.result else {
                continue;
            };
            let Some(statement) = v.statement() else {
                continue;
            };
            let outcome = match &rule.condition {
                None => RuleOutcome::Required,
                Some(condition) => match condition.evaluate(&statement.json) {
                    Ok(verdict) if verdict.compliant => RuleOutcome::Satisfied,
                    Ok(verdict) => RuleOutcome::NotSatisfied(verdict.messages),
                    Err(e) => RuleOutcome::Failed(e),
                },
            };
            let failure = match &outcome {
                RuleOutcome::Required | RuleOutcome::Satisfied => None,
                RuleOutcome::NotSatisfied(messages) => Some(format!(
                    "attestation '{}' ({}, signed by {}, found at {}) does not satisfy its policy{}",
                    rule.name,
                    rule.predicate_type,
                    v.signer(),
                    v.found_at(),
                    if messages.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", messages.join("; "))
                    }
                )),
                RuleOutcome::Failed(e) => Some(format!(
                    "attestation '{}': policy evaluation failed: {e}",
                    rule.name
                )),
            };
            layer.rules.push(RuleCheck {
                rule: &rule.name,
                outcome,
            });
            if let Some(why) = failure {
                settled.get_or_insert((why, DenialCode::AttestationPolicy));
                if !exhaustive {
                    break 'rules;
                }
            }
        }
        if first.is_none() {
            first = matching
                .first()
                .and_then(|&i| layers.get(i))
                .and_then(|l| l.result.as_ref().ok())
                .cloned();
        }
    }
    if let Some(failure) = settled {
        return Err(failure);
    }
    first.ok_or_else(|| ("no attestation rules".into(), DenialCode::Internal))
}

/// The authority's requirement, for messages.
pub(crate) fn describe(requirement: &Requirement) -> String {
    match requirement {
        Requirement::Key(key) => format!("key sha256:{}", key.id()),
        Requirement::KeyWithLog(k) => format!(
            "key sha256:{} with a transparency-log entry (trusted root '{}')",
            k.key.id(),
            k.root.name()
        ),
        Requirement::Keyless(k) => format!(
            "keyless, {}{}: {}",
            match &k.trust {
                verify::TrustSource::Sigstore(root) => format!("trusted root '{}'", root.name()),
                verify::TrustSource::PrivateCa(_) => "private CA".to_owned(),
            },
            if k.strictness.timestamp {
                ", signing time from an RFC 3161 timestamp"
            } else {
                ""
            },
            k.identities
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    }
}
