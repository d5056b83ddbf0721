//! `signgate verify --explain`: every signature found for one digest, every
//! check each applicable authority made on it, and why it passed or failed
//! — the tool to reach for when a pull is denied.
//!
//! Not on the request path. It runs the same discovery (through the gate's
//! material cache) and the same `verify::check` as the gate, so what it
//! prints is what the gate saw; it decides nothing itself.

use serde::Serialize;

use crate::decide::Gate;
use crate::oci::{Digest, RegistryName, Repository};
use crate::policy::{image_name, Applicable, AuthorityKind};
use crate::route::UpstreamId;
use crate::verify::{self, Want};

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

/// Explain the gate's view of `digest` in `repository` on `upstream`.
pub async fn explain(
    gate: &Gate,
    upstream: UpstreamId,
    registry: &RegistryName,
    repository: &Repository,
    digest: &Digest,
) -> Explanation {
    let image = image_name(registry, repository);
    let policies = gate.policies();
    let list = match policies.applicable(&image) {
        Applicable::NoMatch(_) => {
            return Explanation {
                image,
                digest: digest.to_string(),
                policies: None,
            }
        }
        Applicable::Policies(list) => list,
    };
    let mut reports = Vec::new();
    for policy in list {
        let mut authorities = Vec::new();
        for authority in &policy.authorities {
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
                    authorities.push(report);
                    continue;
                }
                AuthorityKind::Verify(r) => r,
            };
            report.requires = crate::decide::describe(requirement);
            let mut sources = Vec::new();
            if authority.sources.is_empty() {
                sources.push((upstream, repository.clone()));
            }
            for source in &authority.sources {
                match gate.upstream_id(&source.registry) {
                    Some(id) => sources.push((id, source.repository.clone())),
                    None => report.notes.push(format!(
                        "signature source registry '{}' is not a configured upstream",
                        source.registry
                    )),
                }
            }
            let (want, purpose) = if authority.attestations.is_empty() {
                (Want::Signature, crate::signature::Purpose::Signatures)
            } else {
                (Want::Attestation, crate::signature::Purpose::Attestations)
            };
            for source in sources {
                let found = match gate.material(source, digest, purpose).await {
                    Ok(found) => found,
                    Err(e) => {
                        report.notes.push(e.to_string());
                        continue;
                    }
                };
                report.looked_at.extend(found.looked_at.iter().cloned());
                for layer in &found.layers {
                    let result = verify::check(digest, layer, &authority.name, requirement, want);
                    let mut checks = Vec::new();
                    let ok = match &result {
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
                                for rule in authority
                                    .attestations
                                    .iter()
                                    .filter(|r| r.predicate_type == s.predicate_type)
                                {
                                    let verdict = match &rule.condition {
                                        None => "required, no condition".to_owned(),
                                        Some(c) => match c.evaluate(&s.json) {
                                            Ok(v) if v.compliant => {
                                                "condition satisfied".to_owned()
                                            }
                                            Ok(v) => {
                                                format!("condition NOT satisfied {:?}", v.messages)
                                            }
                                            Err(e) => format!("condition failed to evaluate: {e}"),
                                        },
                                    };
                                    checks.push(format!("attestation '{}': {verdict}", rule.name));
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
                    report.signatures.push(SignatureReport {
                        found_at: layer.found_at.clone(),
                        layer: layer.digest.to_string(),
                        media_type: layer.media_type.clone(),
                        ok,
                        checks,
                    });
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
            authorities.push(report);
        }
        reports.push(PolicyReport {
            policy: policy.name.clone(),
            file: policy.file.display().to_string(),
            mode: format!("{:?}", policy.mode).to_lowercase(),
            authorities,
        });
    }
    Explanation {
        image,
        digest: digest.to_string(),
        policies: Some(reports),
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
                "  policy '{}' ({}, mode {}): every policy must pass; any one authority suffices",
                p.policy, p.file, p.mode
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
        }
        Ok(())
    }
}
