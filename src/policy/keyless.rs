//! `keyless` (with `ctlog` and `rfc3161timestamp`) → a [`Keyless`]
//! requirement: identities, strictness, and the one trusted root or
//! private CA its certificates chain to.

use std::sync::Arc;

use super::authority::read_key;
use super::error::Problems;
use super::file::{RawKeyless, RawTimestamp, RawTlog};
use super::load::KeyFiles;
use crate::verify::trust::TrustRoots;
use crate::verify::{
    Claim, Identity, Keyless, Matcher, PrivateCa, Strictness, TrustSource, CLAIM_KEYS,
};

/// `keyless` (+ `ctlog`, `rfc3161timestamp`) → a keyless requirement.
pub(super) fn keyless_requirement(
    problems: &mut Problems<'_>,
    path: &str,
    raw: RawKeyless,
    ctlog: &Option<RawTlog>,
    timestamp: &Option<RawTimestamp>,
    files: &KeyFiles<'_>,
    trust: &TrustRoots,
) -> Option<Keyless> {
    let kpath = format!("{path}.keyless");
    if raw.identities.is_empty() {
        problems.push(
            &format!("{kpath}.identities"),
            "at least one identity is required: without one any certificate the CA ever issued would pass",
        );
    }
    let mut identities = Vec::new();
    for (i, id) in raw.identities.into_iter().enumerate() {
        let ipath = format!("{kpath}.identities[{i}]");
        let mut pick =
            |exact: Option<String>, regexp: Option<String>, what: &str| match (exact, regexp) {
                (Some(_), Some(_)) => {
                    problems.push(&ipath, format!("'{what}' and '{what}RegExp' are exclusive"));
                    None
                }
                (Some(s), None) => Some(Matcher::Exact(s)),
                (None, Some(r)) => match Matcher::regex(&r) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        problems.push(&format!("{ipath}.{what}RegExp"), e);
                        None
                    }
                },
                (None, None) => None,
            };
        let issuer = pick(id.issuer, id.issuer_reg_exp, "issuer");
        let subject = pick(id.subject, id.subject_reg_exp, "subject");
        let mut claims = Vec::new();
        for (key, value) in id.claims {
            match Claim::from_key(&key) {
                Some(c) => claims.push((c, value)),
                None => problems.push(
                    &format!("{ipath}.claims.{key}"),
                    format!(
                        "unknown claim (known: {})",
                        CLAIM_KEYS
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        if raw.ca_cert.is_none() && (issuer.is_none() || subject.is_none()) {
            problems.push(
                &ipath,
                "both an issuer and a subject (or their RegExp forms) are required",
            );
        }
        if raw.ca_cert.is_some() && subject.is_none() {
            problems.push(&ipath, "a subject (or subjectRegExp) is required");
        }
        identities.push(Identity {
            issuer,
            subject,
            claims,
        });
    }
    let ignore_tlog = ctlog
        .as_ref()
        .and_then(|c| c.insecure_ignore_tlog)
        .unwrap_or(false);
    let strictness = Strictness {
        sct: !raw.insecure_ignore_sct.unwrap_or(false),
        tlog: !ignore_tlog,
        timestamp: timestamp.is_some(),
    };
    // One trusted root serves Fulcio, Rekor and the TSA; policy-controller
    // lets each name its own, signgate requires them to agree.
    let refs: Vec<(&str, &str)> = [
        ("keyless.trustRootRef", raw.trust_root_ref.as_deref()),
        (
            "ctlog.trustRootRef",
            ctlog.as_ref().and_then(|c| c.trust_root_ref.as_deref()),
        ),
        (
            "rfc3161timestamp.trustRootRef",
            timestamp.as_ref().and_then(|t| t.trust_root_ref.as_deref()),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    if let Some((_, first)) = refs.first() {
        if refs.iter().any(|(_, r)| r != first) {
            problems.push(
                path,
                "all trustRootRef values of one authority must name the same root",
            );
        }
    }
    let trust_source = if let Some(ca) = raw.ca_cert {
        if !refs.is_empty() {
            problems.push(
                &format!("{kpath}.ca-cert"),
                "a private CA has no transparency log or trusted root: drop trustRootRef",
            );
        }
        if timestamp.is_some() {
            problems.push(
                &format!("{path}.rfc3161timestamp"),
                "a private CA has no timestamp authorities: rfc3161timestamp needs a trusted root",
            );
        }
        let pem = read_key(problems, &format!("{kpath}.ca-cert"), ca, files)?;
        match PrivateCa::from_pem(&pem) {
            Ok(ca) => TrustSource::PrivateCa(Arc::new(ca)),
            Err(e) => {
                problems.push(&format!("{kpath}.ca-cert"), e);
                return None;
            }
        }
    } else {
        let name = refs.first().map(|(_, r)| *r);
        match trust.get(name) {
            Some(root) => TrustSource::Sigstore(root),
            None => {
                problems.push(
                    &format!("{kpath}.trustRootRef"),
                    format!(
                        "unknown trusted root '{}' (known: {}; define it with a TrustRoot document, or under trust.roots or trust.tuf.repositories in signgate's config)",
                        name.unwrap_or_default(),
                        trust.named.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
                return None;
            }
        }
    };
    let strictness = match trust_source {
        // A private PKI has neither SCTs nor a log to check.
        TrustSource::PrivateCa(_) => Strictness {
            sct: false,
            tlog: false,
            timestamp: false,
        },
        TrustSource::Sigstore(_) => strictness,
    };
    Some(Keyless {
        trust: trust_source,
        identities,
        strictness,
    })
}
