//! `signgate verify --explain`: every signature found for one digest, every
//! check each applicable authority made on it, and why it passed or failed
//! — the tool to reach for when a pull is denied.
//!
//! Not on the request path. It renders the [`Trace`] recorded by the same
//! judgement the gate makes ([`super::evaluate::explore`], on evidence the
//! gate gathered through its caches), so what it prints is what the gate
//! decided on; it judges nothing itself.

use serde::Serialize;

use super::evaluate::MISSING_MATERIAL;
use super::judge::describe;
use super::trace::{AuthorityTrace, LayerTrace, RuleOutcome, SourceTrace, Trace};
use super::{AuthorityKind, ConditionTrace, SignatureFormat};
use crate::oci::Digest;

/// Everything `--explain` prints.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub image: String,
    pub digest: String,
    /// `None` when no policy matches (then `no-match-policy` decides).
    pub policies: Option<Vec<PolicyReport>>,
}

#[derive(Debug, Serialize)]
pub struct PolicyReport {
    pub policy: String,
    pub file: String,
    pub mode: String,
    pub authorities: Vec<AuthorityReport>,
    /// `spec.policy`: its input and verdict (`None`: the policy has none).
    pub condition: Option<ConditionReport>,
}

#[derive(Debug, Serialize)]
pub struct ConditionReport {
    /// `compliant`, `NOT compliant: …`, `failed to evaluate: …`, or `not
    /// evaluated: …`.
    pub verdict: String,
    /// The input document (`authorityMatches`), when it was evaluated.
    pub input: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct AuthorityReport {
    pub authority: String,
    pub requires: String,
    /// Where signatures were looked for.
    pub looked_at: Vec<String>,
    pub signatures: Vec<SignatureReport>,
    /// A static authority's verdict, a source that could not be read…
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SignatureReport {
    pub found_at: String,
    pub layer: String,
    pub media_type: String,
    pub ok: bool,
    /// On success: signer, log index, time and its source, what verified.
    /// On failure: the first check that failed.
    pub checks: Vec<String>,
}

/// The explanation of `digest` (of `image`) from an exhaustive trace.
pub fn explanation(image: String, digest: &Digest, trace: &Trace<'_>) -> Explanation {
    let policies = trace.policies.as_ref().map(|policies| {
        policies
            .iter()
            .map(|p| PolicyReport {
                policy: p.policy.name.clone(),
                file: p.policy.file.display().to_string(),
                mode: format!("{:?}", p.policy.mode).to_lowercase(),
                authorities: p.authorities.iter().map(authority).collect(),
                condition: p
                    .policy
                    .condition
                    .as_ref()
                    .map(|_| condition(p.condition.as_ref())),
            })
            .collect()
    });
    Explanation {
        image,
        digest: digest.to_string(),
        policies,
    }
}

fn condition(trace: Option<&ConditionTrace>) -> ConditionReport {
    let Some(trace) = trace else {
        return ConditionReport {
            verdict: "not evaluated: no authority passed".into(),
            input: None,
        };
    };
    let verdict = match &trace.outcome {
        Ok(v) if v.compliant => "compliant".to_owned(),
        Ok(v) => format!("NOT compliant {:?}", v.messages),
        Err(e) => format!("failed to evaluate: {e}"),
    };
    ConditionReport {
        verdict,
        input: Some(trace.input.clone()),
    }
}

fn authority(at: &AuthorityTrace<'_>) -> AuthorityReport {
    let authority = at.authority;
    let mut report = AuthorityReport {
        authority: authority.name.clone(),
        requires: String::new(),
        looked_at: Vec::new(),
        signatures: Vec::new(),
        notes: Vec::new(),
    };
    let requirement = match &authority.kind {
        AuthorityKind::Static { pass, message } => {
            report.requires = "static".into();
            report.notes.push(format!(
                "static {}{}",
                if *pass { "pass" } else { "fail" },
                message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
            return report;
        }
        AuthorityKind::Verify(r) => r,
    };
    report.requires = describe(requirement);
    if let Some(format) = authority.signature_format {
        report.notes.push(format!(
            "signatureFormat {}: only {} count",
            format.as_str(),
            match format {
                SignatureFormat::Bundle => "sigstore bundles (referrers, cosign v3)",
                SignatureFormat::Legacy => "legacy .sig/.att layers",
            }
        ));
    }
    for registry in &at.unconfigured {
        report.notes.push(format!(
            "signature source registry '{registry}' is not a configured upstream"
        ));
    }
    for source in &at.sources {
        match source {
            SourceTrace::Unavailable(e) => report.notes.push(e.to_string()),
            SourceTrace::Missing => report.notes.push(MISSING_MATERIAL.to_owned()),
            SourceTrace::Found { looked_at, layers } => {
                report.looked_at.extend(looked_at.iter().cloned());
                report.signatures.extend(layers.iter().map(signature));
            }
        }
    }
    for rule in &authority.attestations {
        report.notes.push(format!(
            "requires attestation '{}' of type {}{}",
            rule.name,
            rule.predicate_type,
            if rule.condition.is_some() {
                " with a Rego condition"
            } else {
                ""
            }
        ));
    }
    report
}

fn signature(l: &LayerTrace<'_>) -> SignatureReport {
    let mut checks = Vec::new();
    let ok =
        match &l.result {
            Ok(v) => {
                checks.push(format!("signed by {}", v.signer()));
                if let Some(e) = v.evidence() {
                    checks.push(format!(
                    "trusted root {}; log index {}; time {} (from {}); transparency log {}; SCT {}",
                    e.trust_root,
                    e.log_index.map_or("none".to_owned(), |i| i.to_string()),
                    e.time
                        .and_then(|t| u64::try_from(t).ok())
                        .map_or("none".to_owned(), |t| {
                            humantime::format_rfc3339_seconds(
                                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t),
                            )
                            .to_string()
                        }),
                    e.time_source,
                    if e.tlog_verified { "verified" } else { "not checked" },
                    if e.sct_verified { "verified" } else { "not checked" },
                ));
                }
                if let Some(s) = v.statement() {
                    checks.push(format!(
                        "statement about this digest, predicate {}",
                        s.predicate_type
                    ));
                    for rule in &l.rules {
                        let verdict = match &rule.outcome {
                            RuleOutcome::Required => "required, no condition".to_owned(),
                            RuleOutcome::Satisfied => "condition satisfied".to_owned(),
                            RuleOutcome::NotSatisfied(messages) => {
                                format!("condition NOT satisfied {messages:?}")
                            }
                            RuleOutcome::Failed(e) => format!("condition failed to evaluate: {e}"),
                        };
                        checks.push(format!("attestation '{}': {verdict}", rule.rule));
                    }
                } else {
                    checks.push("payload names this digest".into());
                }
                true
            }
            Err(reason) => {
                checks.push(reason.to_string());
                false
            }
        };
    SignatureReport {
        found_at: l.layer.found_at.clone(),
        layer: l.layer.digest.to_string(),
        media_type: l.layer.media_type.clone(),
        ok,
        checks,
    }
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "image {}@{}", self.image, self.digest)?;
        let Some(policies) = &self.policies else {
            return writeln!(f, "  no policy matches this image: no-match-policy decides");
        };
        for p in policies {
            writeln!(
                f,
                "  policy '{}' ({}, mode {}): every policy must pass; {}",
                p.policy,
                p.file,
                p.mode,
                if p.condition.is_some() {
                    "every authority is judged, then spec.policy decides"
                } else {
                    "any one authority suffices"
                }
            )?;
            for a in &p.authorities {
                writeln!(f, "    authority '{}': {}", a.authority, a.requires)?;
                for n in &a.notes {
                    writeln!(f, "      - {n}")?;
                }
                if !a.looked_at.is_empty() {
                    writeln!(f, "      looked at: {}", a.looked_at.join(", "))?;
                }
                if a.signatures.is_empty() && a.requires != "static" {
                    writeln!(f, "      no signature material found")?;
                }
                for s in &a.signatures {
                    writeln!(
                        f,
                        "      [{}] {} (layer {}, {})",
                        if s.ok { "ok" } else { "rejected" },
                        s.found_at,
                        s.layer,
                        s.media_type
                    )?;
                    for c in &s.checks {
                        writeln!(f, "          {c}")?;
                    }
                }
            }
            if let Some(c) = &p.condition {
                writeln!(
                    f,
                    "    spec.policy (Rego over the authorities that passed): {}",
                    c.verdict
                )?;
                if let Some(input) = &c.input {
                    writeln!(f, "      input: {input}")?;
                }
            }
        }
        Ok(())
    }
}
