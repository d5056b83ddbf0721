//! Reading a policy directory: every `*.yaml`/`*.yml` file, every YAML
//! document in it, every problem reported with file, document and key path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use regex::RegexSet;
use serde_yaml_ng::Value;

use std::sync::Arc;

use super::file::{
    RawAttestation, RawAuthority, RawKey, RawKeyless, RawPolicy, RawTimestamp, RawTlog,
};
use super::glob::{Glob, Registries};
use super::{
    predicate, rego, AttestationRule, Authority, AuthorityKind, Mode, PlatformManifests, Policy,
    PolicySet, SignatureSource, REVISIONS,
};
use crate::config::NoMatchPolicy;
use crate::verify::trust::TrustRoots;
use crate::verify::{
    Claim, Identity, Keyless, Matcher, PrivateCa, PublicKey, Requirement, Strictness, TrustSource,
    CLAIM_KEYS,
};

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
        PolicySet::load_dir_with(dir, no_match, &embedded_trust()?)
    }

    /// Load a directory, resolving `trustRootRef`s against `trust`; glob
    /// hosts are not checked (see [`PolicySet::load_dir_checked`]).
    pub fn load_dir_with(
        dir: &Path,
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
    ) -> Result<PolicySet, PolicyErrors> {
        PolicySet::load_dir_checked(dir, no_match, trust, &Registries::Unchecked)
    }

    /// Load a directory, resolving `trustRootRef`s against `trust` and
    /// refusing globs that can match no name built for `registries`.
    pub fn load_dir_checked(
        dir: &Path,
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
        registries: &Registries,
    ) -> Result<PolicySet, PolicyErrors> {
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
        PolicySet::from_files_checked(&documents, no_match, trust, registries)
    }

    /// Load policies from `(file, text)` pairs; `file` names them in errors
    /// and anchors relative key paths.
    pub fn from_files(
        files: &[(PathBuf, String)],
        no_match: NoMatchPolicy,
    ) -> Result<PolicySet, PolicyErrors> {
        PolicySet::from_files_with(files, no_match, &embedded_trust()?)
    }

    /// As [`PolicySet::from_files`], resolving `trustRootRef`s against `trust`.
    pub fn from_files_with(
        files: &[(PathBuf, String)],
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
    ) -> Result<PolicySet, PolicyErrors> {
        PolicySet::from_files_checked(files, no_match, trust, &Registries::Unchecked)
    }

    /// As [`PolicySet::from_files_with`], refusing globs that can match no
    /// name built for `registries`.
    pub fn from_files_checked(
        files: &[(PathBuf, String)],
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
        registries: &Registries,
    ) -> Result<PolicySet, PolicyErrors> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut policies: Vec<Policy> = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut glob_owner = Vec::new();
        for (file, text) in files {
            for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
                let mut problems = Problems {
                    file,
                    document: index + 1,
                    errors: &mut errors,
                    warnings: &mut warnings,
                    registries,
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
                let Some(policy) = validate(&mut problems, raw, trust) else {
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
                for glob in policy.1 {
                    patterns.push(glob.regex);
                    glob_owner.push(owner);
                }
                policies.push(policy.0);
            }
        }
        if !errors.is_empty() {
            return Err(PolicyErrors(errors));
        }
        let globs = RegexSet::new(&patterns).map_err(|e| {
            PolicyErrors(vec![PolicyError {
                file: PathBuf::new(),
                document: 0,
                path: String::new(),
                message: format!("compiling globs: {e}"),
            }])
        })?;
        Ok(PolicySet {
            policies,
            globs,
            glob_owner,
            warnings,
            no_match,
            revision: REVISIONS.fetch_add(1, Ordering::Relaxed),
        })
    }
}

/// The embedded public-good root, parsed once per process.
fn embedded_trust() -> Result<TrustRoots, PolicyErrors> {
    static EMBEDDED: std::sync::OnceLock<Result<TrustRoots, String>> = std::sync::OnceLock::new();
    EMBEDDED
        .get_or_init(TrustRoots::embedded)
        .clone()
        .map_err(|message| {
            PolicyErrors(vec![PolicyError {
                file: PathBuf::from("<embedded trusted root>"),
                document: 0,
                path: String::new(),
                message,
            }])
        })
}

/// The trusted roots a configuration names, parsed: `public-good`
/// (embedded), every `trust.roots` entry, and the default.
pub fn trust_roots(config: &crate::config::TrustConfig) -> Result<TrustRoots, PolicyErrors> {
    let mut roots = embedded_trust()?;
    let mut errors = Vec::new();
    let mut read = |key: &str, name: &str, path: &Path| match std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read '{}': {e}", path.display()))
        .and_then(|json| {
            crate::verify::TrustRoot::from_json(name, &json)
                .map(|root| root.with_origin(path.display().to_string()))
        }) {
        Ok(root) => Some(Arc::new(root)),
        Err(message) => {
            errors.push(PolicyError {
                file: path.to_path_buf(),
                document: 0,
                path: key.to_owned(),
                message,
            });
            None
        }
    };
    for (name, path) in &config.roots {
        if let Some(root) = read(&format!("trust.roots.{name}"), name, path) {
            roots.named.insert(name.clone(), root);
        }
    }
    if let Some(path) = &config.trusted_root {
        if let Some(root) = read("trust.trusted-root", "default", path) {
            roots.default = root;
        }
    }
    if errors.is_empty() {
        Ok(roots)
    } else {
        Err(PolicyErrors(errors))
    }
}

struct Problems<'a> {
    file: &'a Path,
    document: usize,
    errors: &'a mut Vec<PolicyError>,
    warnings: &'a mut Vec<PolicyError>,
    /// What glob hosts are checked against.
    registries: &'a Registries,
}

impl Problems<'_> {
    fn error(&self, path: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: self.file.to_path_buf(),
            document: self.document,
            path: path.to_owned(),
            message: message.into(),
        }
    }

    fn push(&mut self, path: &str, message: impl Into<String>) {
        let e = self.error(path, message);
        self.errors.push(e);
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let w = self.error(path, message);
        self.warnings.push(w);
    }
}

/// Raw → `Policy` and its globs, or `None` with the problems recorded.
fn validate(
    problems: &mut Problems<'_>,
    raw: RawPolicy,
    trust: &TrustRoots,
) -> Option<(Policy, Vec<Glob>)> {
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
    let mut globs = Vec::new();
    for (i, image) in spec.images.iter().enumerate() {
        let path = format!("spec.images[{i}].glob");
        match Glob::parse(&image.glob).and_then(|g| Ok((g.check(problems.registries)?, g))) {
            Ok((warning, glob)) => {
                if let Some(w) = warning {
                    problems.warn(&path, w);
                }
                globs.push(glob);
            }
            Err(e) => problems.push(&path, e),
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
        if let Some(a) = authority(
            problems,
            &format!("spec.authorities[{i}]"),
            i,
            raw,
            &base,
            trust,
        ) {
            authorities.push(a);
        }
    }
    if problems.errors.len() > before {
        return None;
    }
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
        if raw.ctlog.is_some() || raw.rfc3161timestamp.is_some() {
            problems.push(
                path,
                "'ctlog' and 'rfc3161timestamp' apply to keyless authorities; key authorities need no log entry",
            );
        }
        let pem = read_key(problems, &format!("{path}.key"), key, base)?;
        match PublicKey::from_pem(&pem) {
            Ok(k) => AuthorityKind::Verify(Requirement::Key(k)),
            Err(e) => {
                problems.push(&format!("{path}.key"), e);
                return None;
            }
        }
    } else if let Some(keyless) = raw.keyless {
        let k = keyless_requirement(
            problems,
            path,
            keyless,
            &raw.ctlog,
            &raw.rfc3161timestamp,
            base,
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
    Some(Authority {
        name,
        kind,
        sources,
        attestations,
    })
}

/// A PEM key or certificate bundle from `data` or `path` (signgate's
/// extension, relative to the policy file).
fn read_key(problems: &mut Problems<'_>, path: &str, key: RawKey, base: &Path) -> Option<String> {
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
                base.join(&p)
            };
            match std::fs::read_to_string(&file) {
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

/// `keyless` (+ `ctlog`, `rfc3161timestamp`) → a keyless requirement.
fn keyless_requirement(
    problems: &mut Problems<'_>,
    path: &str,
    raw: RawKeyless,
    ctlog: &Option<RawTlog>,
    timestamp: &Option<RawTimestamp>,
    base: &Path,
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
        let pem = read_key(problems, &format!("{kpath}.ca-cert"), ca, base)?;
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
                        "unknown trusted root '{}' (known: {}; add it under trust.roots in signgate's config)",
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
        },
        TrustSource::Sigstore(_) => strictness,
    };
    Some(Keyless {
        trust: trust_source,
        identities,
        strictness,
    })
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
        let condition = match a.policy {
            None => None,
            Some(p) => {
                for (key, present) in [
                    ("configMapRef", p.config_map_ref.is_some()),
                    ("remote", p.remote.is_some()),
                    ("url", p.url.is_some()),
                    ("sha256sum", p.sha256sum.is_some()),
                    ("fetchConfigMap", p.fetch_config_map.is_some()),
                ] {
                    if present {
                        problems.push(
                            &format!("{apath}.policy.{key}"),
                            "only inline policies ('data') are supported: signgate fetches nothing at load time",
                        );
                    }
                }
                match (p.type_.as_str(), p.data) {
                    ("rego", Some(data)) => match rego::RegoPolicy::compile(&a.name, &data) {
                        Ok(r) => Some(Arc::new(r)),
                        Err(e) => {
                            problems.push(&format!("{apath}.policy.data"), e);
                            None
                        }
                    },
                    ("rego", None) => {
                        problems.push(
                            &format!("{apath}.policy.data"),
                            "the Rego policy text is required",
                        );
                        None
                    }
                    ("cue", _) => {
                        problems.push(
                            &format!("{apath}.policy.type"),
                            "CUE policies cannot be evaluated: there is no CUE implementation for Rust; write the condition in Rego ('type: rego', package sigstore, rule isCompliant)",
                        );
                        None
                    }
                    (other, _) => {
                        problems.push(
                            &format!("{apath}.policy.type"),
                            format!(
                                "'{other}' is not rego (or cue, which signgate cannot evaluate)"
                            ),
                        );
                        None
                    }
                }
            }
        };
        rules.push(AttestationRule {
            name: a.name,
            predicate_type,
            condition,
        });
    }
    rules
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
