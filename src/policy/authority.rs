//! One `authorities[]` entry → an [`Authority`]: its kind (key, keyless,
//! static), signature sources, keys and attestation rules.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::Problems;
use super::file::{RawAttestation, RawAttestationPolicy, RawAuthority, RawKey, RawTlog};
use super::keyless::keyless_requirement;
use super::load::KeyFiles;
use super::{
    predicate, rego, AttestationRule, Authority, AuthorityKind, SignatureFormat, SignatureSource,
};
use crate::verify::trust::TrustRoots;
use crate::verify::{KeyLog, PublicKey, Requirement};

pub(super) fn authority(
    problems: &mut Problems<'_>,
    path: &str,
    index: usize,
    raw: RawAuthority,
    files: &KeyFiles<'_>,
    trust: &TrustRoots,
) -> Option<Authority> {
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("authority-{index}"));
    let mut sources = Vec::new();
    for (i, s) in raw.source.iter().enumerate() {
        let spath = format!("{path}.source[{i}]");
        if s.signature_pull_secrets.is_some() {
            problems.push(
                &format!("{spath}.signaturePullSecrets"),
                "use the upstream's credentials in signgate's config instead",
            );
        }
        if s.tag_prefix.is_some() {
            problems.push(
                &format!("{spath}.tagPrefix"),
                "tag prefixes are not supported yet",
            );
        }
        match &s.oci {
            None => problems.push(&spath, "'oci' is required"),
            Some(oci) => match parse_source(oci) {
                Some(source) => sources.push(source),
                None => problems.push(
                    &format!("{spath}.oci"),
                    format!("'{oci}' is not registry/repository"),
                ),
            },
        }
    }
    let kinds = usize::from(raw.key.is_some())
        + usize::from(raw.static_.is_some())
        + usize::from(raw.keyless.is_some());
    if kinds != 1 {
        problems.push(
            path,
            "exactly one of 'key', 'keyless' or 'static' is required",
        );
        return None;
    }
    let kind = if let Some(key) = raw.key {
        if raw.rfc3161timestamp.is_some() {
            problems.push(
                &format!("{path}.rfc3161timestamp"),
                "timestamps are not supported on key authorities: use 'ctlog' for a transparency-log entry",
            );
        }
        let pem = read_key(problems, &format!("{path}.key"), key, files)?;
        let key = match PublicKey::from_pem(&pem) {
            Ok(k) => k,
            Err(e) => {
                problems.push(&format!("{path}.key"), e);
                return None;
            }
        };
        AuthorityKind::Verify(key_requirement(problems, path, key, &raw.ctlog, trust)?)
    } else if let Some(keyless) = raw.keyless {
        let k = keyless_requirement(
            problems,
            path,
            keyless,
            &raw.ctlog,
            &raw.rfc3161timestamp,
            files,
            trust,
        )?;
        AuthorityKind::Verify(Requirement::Keyless(k))
    } else if let Some(s) = raw.static_ {
        match s.action.as_str() {
            "pass" => AuthorityKind::Static {
                pass: true,
                message: s.message,
            },
            "fail" => AuthorityKind::Static {
                pass: false,
                message: s.message,
            },
            other => {
                problems.push(
                    &format!("{path}.static.action"),
                    format!("'{other}' is not pass or fail"),
                );
                return None;
            }
        }
    } else {
        return None;
    };
    if !raw.attestations.is_empty() && matches!(kind, AuthorityKind::Static { .. }) {
        problems.push(
            &format!("{path}.attestations"),
            "a static authority has no signer to vouch for attestations",
        );
    }
    let attestations = attestation_rules(problems, path, raw.attestations);
    let signature_format = match raw.signature_format.as_deref() {
        None => None,
        Some("legacy") => Some(SignatureFormat::Legacy),
        Some("bundle") => Some(SignatureFormat::Bundle),
        Some(other) => {
            problems.push(
                &format!("{path}.signatureFormat"),
                format!("'{other}' is not legacy or bundle"),
            );
            None
        }
    };
    if signature_format.is_some() && matches!(kind, AuthorityKind::Static { .. }) {
        problems.push(
            &format!("{path}.signatureFormat"),
            "a static authority reads no signatures",
        );
    }
    Some(Authority {
        name,
        kind,
        sources,
        attestations,
        signature_format,
    })
}

/// A key authority: the key alone, or with `ctlog` (and no
/// `insecureIgnoreTlog`) the key and the root whose Rekor keys must vouch
/// for each signature's log entry (`cosign verify --key`'s default).
fn key_requirement(
    problems: &mut Problems<'_>,
    path: &str,
    key: PublicKey,
    ctlog: &Option<RawTlog>,
    trust: &TrustRoots,
) -> Option<Requirement> {
    let Some(ctlog) = ctlog else {
        return Some(Requirement::Key(key));
    };
    if ctlog.insecure_ignore_tlog == Some(true) {
        return Some(Requirement::Key(key));
    }
    let name = ctlog.trust_root_ref.as_deref();
    match trust.get(name) {
        Some(root) => Some(Requirement::KeyWithLog(KeyLog { key, root })),
        None => {
            problems.push(
                &format!("{path}.ctlog.trustRootRef"),
                format!(
                    "unknown trusted root '{}' (known: {}; define it with a TrustRoot document, or under trust.roots or trust.tuf.repositories in signgate's config)",
                    name.unwrap_or_default(),
                    trust.named.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            None
        }
    }
}

/// A PEM key or certificate bundle from `data` or `path` (signgate's
/// extension, relative to the policy file).
pub(super) fn read_key(
    problems: &mut Problems<'_>,
    path: &str,
    key: RawKey,
    files: &KeyFiles<'_>,
) -> Option<String> {
    if key.kms.is_some() {
        problems.push(
            &format!("{path}.kms"),
            "KMS keys are not supported: give the public key as 'data' or 'path'",
        );
    }
    if key.secret_ref.is_some() {
        problems.push(
            &format!("{path}.secretRef"),
            "Kubernetes secrets are not available to signgate: use 'data' or 'path'",
        );
    }
    if let Some(h) = key.hash_algorithm.as_deref() {
        if h != "sha256" {
            problems.push(
                &format!("{path}.hashAlgorithm"),
                format!("'{h}' is not supported (only sha256, cosign's default)"),
            );
        }
    }
    match (key.data, key.path) {
        (Some(data), None) => Some(data),
        (None, Some(p)) => {
            let file = if Path::new(&p).is_absolute() {
                PathBuf::from(&p)
            } else {
                files.base.join(&p)
            };
            match (files.read)(&file) {
                Ok(text) => Some(text),
                Err(e) => {
                    problems.push(
                        &format!("{path}.path"),
                        format!("cannot read '{}': {e}", file.display()),
                    );
                    None
                }
            }
        }
        _ => {
            problems.push(path, "exactly one of 'data' or 'path' is required");
            None
        }
    }
}
/// `attestations[]` → rules, with predicate names resolved and Rego compiled.
fn attestation_rules(
    problems: &mut Problems<'_>,
    path: &str,
    raw: Vec<RawAttestation>,
) -> Vec<AttestationRule> {
    let mut rules = Vec::new();
    for (i, a) in raw.into_iter().enumerate() {
        let apath = format!("{path}.attestations[{i}]");
        let predicate_type = match predicate::resolve(&a.predicate_type) {
            Ok(p) => p,
            Err(e) => {
                problems.push(&format!("{apath}.predicateType"), e);
                continue;
            }
        };
        let condition = a
            .policy
            .and_then(|p| rego_condition(problems, &format!("{apath}.policy"), &a.name, p));
        rules.push(AttestationRule {
            name: a.name,
            predicate_type,
            condition,
        });
    }
    rules
}

/// A `policy: {type, data, ...}` block → compiled Rego, or the problems:
/// only inline Rego; CUE, remote and config-map policies refused with why.
pub(super) fn rego_condition(
    problems: &mut Problems<'_>,
    ppath: &str,
    name: &str,
    p: RawAttestationPolicy,
) -> Option<Arc<rego::RegoPolicy>> {
    for (key, present) in [
        ("configMapRef", p.config_map_ref.is_some()),
        ("remote", p.remote.is_some()),
        ("url", p.url.is_some()),
        ("sha256sum", p.sha256sum.is_some()),
        ("fetchConfigMap", p.fetch_config_map.is_some()),
    ] {
        if present {
            problems.push(
                &format!("{ppath}.{key}"),
                "only inline policies ('data') are supported: signgate fetches nothing at load time",
            );
        }
    }
    for (key, on, why) in [
        (
            "fetchConfigFile",
            p.fetch_config_file,
            "signgate does not fetch image configurations for a condition",
        ),
        (
            "includeSpec",
            p.include_spec,
            "there is no Kubernetes resource at a registry",
        ),
        (
            "includeObjectMeta",
            p.include_object_meta,
            "there is no Kubernetes resource at a registry",
        ),
        (
            "includeTypeMeta",
            p.include_type_meta,
            "there is no Kubernetes resource at a registry",
        ),
    ] {
        if on == Some(true) {
            problems.push(&format!("{ppath}.{key}"), why);
        }
    }
    match (p.type_.as_str(), p.data) {
        ("rego", Some(data)) => match rego::RegoPolicy::compile(name, &data) {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                problems.push(&format!("{ppath}.data"), e);
                None
            }
        },
        ("rego", None) => {
            problems.push(&format!("{ppath}.data"), "the Rego policy text is required");
            None
        }
        ("cue", _) => {
            problems.push(
                &format!("{ppath}.type"),
                "CUE policies cannot be evaluated: there is no CUE implementation for Rust; write the condition in Rego ('type: rego', package sigstore, rule isCompliant)",
            );
            None
        }
        (other, _) => {
            problems.push(
                &format!("{ppath}.type"),
                format!("'{other}' is not rego (or cue, which signgate cannot evaluate)"),
            );
            None
        }
    }
}

/// `registry/repository` of a `source[].oci`.
fn parse_source(oci: &str) -> Option<SignatureSource> {
    let (registry, repository) = oci.split_once('/')?;
    let registry = registry.parse().ok()?;
    let repository = repository.parse().ok()?;
    Some(SignatureSource {
        registry,
        repository,
    })
}
