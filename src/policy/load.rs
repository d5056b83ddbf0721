//! Reading a policy directory: every `*.yaml`/`*.yml` file, every YAML
//! document in it, every problem reported with file, document and key path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use globset::{GlobBuilder, GlobSetBuilder};
use serde_yaml_ng::Value;

use super::file::{RawAuthority, RawPolicy};
use super::{
    normalize_glob, Authority, AuthorityKind, Mode, PlatformManifests, Policy, PolicySet,
    SignatureSource, REVISIONS,
};
use crate::config::NoMatchPolicy;
use crate::verify::PublicKey;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based YAML document number within the file.
    pub document: usize,
    pub path: String,
    pub message: String,
}

/// Every problem found while loading a policy directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

const API_VERSIONS: [&str; 2] = [
    "policy.sigstore.dev/v1beta1",
    "policy.sigstore.dev/v1alpha1",
];

impl PolicySet {
    /// Load every policy file in `dir` (not recursive, sorted by name).
    pub fn load_dir(dir: &Path, no_match: NoMatchPolicy) -> Result<PolicySet, PolicyErrors> {
        let error = |message: String| {
            PolicyErrors(vec![PolicyError {
                file: dir.to_path_buf(),
                document: 0,
                path: String::new(),
                message,
            }])
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| error(format!("cannot read policy directory: {e}")))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut documents = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| error(format!("cannot read '{}': {e}", file.display())))?;
            documents.push((file, text));
        }
        PolicySet::from_files(&documents, no_match)
    }

    /// Load policies from `(file, text)` pairs; `file` names them in errors
    /// and anchors relative key paths.
    pub fn from_files(
        files: &[(PathBuf, String)],
        no_match: NoMatchPolicy,
    ) -> Result<PolicySet, PolicyErrors> {
        let mut errors = Vec::new();
        let mut policies: Vec<Policy> = Vec::new();
        let mut globs = GlobSetBuilder::new();
        let mut glob_owner = Vec::new();
        for (file, text) in files {
            for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
                let mut problems = Problems {
                    file,
                    document: index + 1,
                    errors: &mut errors,
                };
                let value = match <Value as serde::Deserialize>::deserialize(document) {
                    Ok(Value::Null) => continue,
                    Ok(v) => v,
                    Err(e) => {
                        problems.push("", format!("not valid YAML: {e}"));
                        break;
                    }
                };
                let raw: RawPolicy = match serde_path_to_error::deserialize(value) {
                    Ok(raw) => raw,
                    Err(e) => {
                        let path = e.path().to_string();
                        problems.push(
                            if path == "." { "" } else { &path },
                            e.into_inner().to_string(),
                        );
                        continue;
                    }
                };
                let Some(policy) = validate(&mut problems, raw) else {
                    continue;
                };
                if policies.iter().any(|p| p.name == policy.0.name) {
                    problems.push(
                        "metadata.name",
                        format!("policy '{}' is defined twice", policy.0.name),
                    );
                    continue;
                }
                let owner = policies.len();
                for (i, glob) in policy.1.iter().enumerate() {
                    match GlobBuilder::new(&normalize_glob(glob))
                        .literal_separator(true)
                        .build()
                    {
                        Ok(g) => {
                            globs.add(g);
                            glob_owner.push(owner);
                        }
                        Err(e) => problems.push(
                            &format!("spec.images[{i}].glob"),
                            format!("error parsing glob '{glob}': {e}"),
                        ),
                    }
                }
                policies.push(policy.0);
            }
        }
        let globs = match globs.build() {
            Ok(g) => g,
            Err(e) => {
                errors.push(PolicyError {
                    file: PathBuf::new(),
                    document: 0,
                    path: String::new(),
                    message: format!("compiling globs: {e}"),
                });
                return Err(PolicyErrors(errors));
            }
        };
        if !errors.is_empty() {
            return Err(PolicyErrors(errors));
        }
        Ok(PolicySet {
            policies,
            globs,
            glob_owner,
            no_match,
            revision: REVISIONS.fetch_add(1, Ordering::Relaxed),
        })
    }
}

struct Problems<'a> {
    file: &'a Path,
    document: usize,
    errors: &'a mut Vec<PolicyError>,
}

impl Problems<'_> {
    fn push(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(PolicyError {
            file: self.file.to_path_buf(),
            document: self.document,
            path: path.to_owned(),
            message: message.into(),
        });
    }
}

/// Raw → `Policy` and its globs, or `None` with the problems recorded.
fn validate(problems: &mut Problems<'_>, raw: RawPolicy) -> Option<(Policy, Vec<String>)> {
    let before = problems.errors.len();
    if !API_VERSIONS.contains(&raw.api_version.as_str()) {
        problems.push(
            "apiVersion",
            format!("'{}' is not {}", raw.api_version, API_VERSIONS.join(" or ")),
        );
    }
    if raw.kind != "ClusterImagePolicy" {
        problems.push("kind", format!("'{}' is not ClusterImagePolicy", raw.kind));
    }
    if raw.metadata.name.is_empty() {
        problems.push("metadata.name", "must not be empty");
    }
    let spec = raw.spec;
    if spec.images.is_empty() {
        problems.push("spec.images", "at least one image glob is required");
    }
    for (i, image) in spec.images.iter().enumerate() {
        let last = image.glob.rsplit('/').next().unwrap_or_default();
        if image.glob.contains('@') || (image.glob.contains('/') && last.contains(':')) {
            problems.push(
                &format!("spec.images[{i}].glob"),
                format!(
                    "'{}': globs match repository names; tags and digests are not part of them",
                    image.glob
                ),
            );
        }
    }
    if spec.policy.is_some() {
        problems.push("spec.policy", "CUE/Rego policies are not supported yet");
    }
    if spec.match_.is_some() {
        problems.push(
            "spec.match",
            "Kubernetes resource matching has no meaning at a registry",
        );
    }
    let mode = match spec.mode.as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("warn") => Mode::Warn,
        Some(other) => {
            problems.push("spec.mode", format!("'{other}' is not enforce or warn"));
            Mode::Enforce
        }
    };
    let platform_manifests = match spec.platform_manifests.as_deref() {
        None | Some("either") => PlatformManifests::Either,
        Some("index") => PlatformManifests::Index,
        Some("child") => PlatformManifests::Child,
        Some(other) => {
            problems.push(
                "spec.platformManifests",
                format!("'{other}' is not index, child or either"),
            );
            PlatformManifests::Either
        }
    };
    if spec.authorities.is_empty() {
        problems.push("spec.authorities", "at least one authority is required");
    }
    let base = problems
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut authorities = Vec::new();
    for (i, raw) in spec.authorities.into_iter().enumerate() {
        if let Some(a) = authority(problems, &format!("spec.authorities[{i}]"), i, raw, &base) {
            authorities.push(a);
        }
    }
    if problems.errors.len() > before {
        return None;
    }
    let globs = spec.images.into_iter().map(|i| i.glob).collect();
    Some((
        Policy {
            name: raw.metadata.name,
            mode,
            platform_manifests,
            authorities,
            file: problems.file.to_path_buf(),
        },
        globs,
    ))
}

fn authority(
    problems: &mut Problems<'_>,
    path: &str,
    index: usize,
    raw: RawAuthority,
    base: &Path,
) -> Option<Authority> {
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("authority-{index}"));
    for (key, present, why) in [
        (
            "ctlog",
            raw.ctlog.is_some(),
            "transparency-log settings are not supported yet",
        ),
        (
            "attestations",
            raw.attestations.is_some(),
            "attestations are not supported yet",
        ),
        (
            "rfc3161timestamp",
            raw.rfc3161timestamp.is_some(),
            "RFC 3161 timestamps are not supported yet",
        ),
        (
            "keyless",
            raw.keyless.is_some(),
            "keyless (Fulcio) authorities are not supported yet",
        ),
    ] {
        if present {
            problems.push(&format!("{path}.{key}"), why);
        }
    }
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
        if key.kms.is_some() {
            problems.push(
                &format!("{path}.key.kms"),
                "KMS keys are not supported: give the public key as 'data' or 'path'",
            );
        }
        if key.secret_ref.is_some() {
            problems.push(
                &format!("{path}.key.secretRef"),
                "Kubernetes secrets are not available to signgate: use 'data' or 'path'",
            );
        }
        if let Some(h) = key.hash_algorithm.as_deref() {
            if h != "sha256" {
                problems.push(
                    &format!("{path}.key.hashAlgorithm"),
                    format!("'{h}' is not supported (only sha256, cosign's default)"),
                );
            }
        }
        let pem = match (key.data, key.path) {
            (Some(data), None) => data,
            (None, Some(p)) => {
                let file = if Path::new(&p).is_absolute() {
                    PathBuf::from(&p)
                } else {
                    base.join(&p)
                };
                match std::fs::read_to_string(&file) {
                    Ok(text) => text,
                    Err(e) => {
                        problems.push(
                            &format!("{path}.key.path"),
                            format!("cannot read '{}': {e}", file.display()),
                        );
                        return None;
                    }
                }
            }
            _ => {
                problems.push(
                    &format!("{path}.key"),
                    "exactly one of 'data' or 'path' is required",
                );
                return None;
            }
        };
        match PublicKey::from_pem(&pem) {
            Ok(k) => AuthorityKind::Key(k),
            Err(e) => {
                problems.push(&format!("{path}.key"), e);
                return None;
            }
        }
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
    Some(Authority {
        name,
        kind,
        sources,
    })
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

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.document > 0 {
            write!(f, ": document {}", self.document)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}
