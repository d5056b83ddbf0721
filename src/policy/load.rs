//! Policy documents → a [`PolicySet`]: every YAML document of every file
//! validated, every problem reported with file, document and key path.
//!
//! Pure: the texts arrive already read, and the one file a document can
//! name (`key.path`, `ca-cert.path`) is read through the [`ReadFile`] the
//! caller hands in; `source.rs` is where the filesystem is.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use regex::RegexSet;
use serde_yaml_ng::Value;

use super::authority::{authority, rego_condition};
use super::error::{PolicyError, PolicyErrors, Problems};
use super::file::RawPolicy;
use super::glob::{Glob, Registries};
use super::trust_root::{self, ResolveTuf};
use super::{Mode, PlatformManifests, Policy, PolicySet, REVISIONS};
use crate::config::NoMatchPolicy;
use crate::verify::trust::TrustRoots;

const API_VERSIONS: [&str; 2] = [
    "policy.sigstore.dev/v1beta1",
    "policy.sigstore.dev/v1alpha1",
];

/// Reads a file a policy names by path, the error as text: the one
/// capability the pure loader is handed.
pub(super) type ReadFile<'a> = &'a dyn Fn(&Path) -> Result<String, String>;

/// Where the key paths of one policy file resolve: relative to its
/// directory (signgate's extension), through the caller's reader.
pub(super) struct KeyFiles<'a> {
    pub(super) base: PathBuf,
    pub(super) read: ReadFile<'a>,
}

impl PolicySet {
    /// Policies from `(file, text)` pairs, resolving `trustRootRef`s against
    /// `trust` and refusing globs that can match no name built for
    /// `registries`; `file` names them in errors and anchors relative key
    /// paths, which `read` reads.
    pub(super) fn parse(
        files: &[(PathBuf, String)],
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
        registries: &Registries,
        read: ReadFile<'_>,
        tuf: ResolveTuf<'_>,
    ) -> Result<PolicySet, PolicyErrors> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut policies: Vec<Policy> = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut glob_owner = Vec::new();
        let mut documents = Vec::new();
        for (file, text) in files {
            for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
                match <Value as serde::Deserialize>::deserialize(document) {
                    Ok(Value::Null) => continue,
                    Ok(v) => documents.push((file, index + 1, v)),
                    Err(e) => {
                        errors.push(PolicyError {
                            file: file.clone(),
                            document: index + 1,
                            path: String::new(),
                            message: format!("not valid YAML: {e}"),
                        });
                        break;
                    }
                }
            }
        }
        // TrustRoot documents first: policies anywhere may reference them.
        let (roots, documents): (Vec<_>, Vec<_>) = documents
            .into_iter()
            .partition(|(_, _, v)| trust_root::is_trust_root(v));
        let mut trust = trust.clone();
        let mut defined: Vec<String> = Vec::new();
        for (file, document, value) in roots {
            let mut problems = Problems {
                file,
                document,
                errors: &mut errors,
                warnings: &mut warnings,
                registries,
            };
            let Some((name, root)) = trust_root::load(&mut problems, value, &API_VERSIONS, tuf)
            else {
                continue;
            };
            if defined.contains(&name) {
                problems.push(
                    "metadata.name",
                    format!("TrustRoot '{name}' is defined twice"),
                );
                continue;
            }
            if let Some(previous) = trust.named.get(&name) {
                problems.warn(
                    "metadata.name",
                    format!(
                        "TrustRoot '{name}' replaces the trusted root {} of the same name",
                        previous.detail()
                    ),
                );
            }
            defined.push(name.clone());
            trust.named.insert(name, root);
        }
        for (file, document, value) in documents {
            let mut problems = Problems {
                file,
                document,
                errors: &mut errors,
                warnings: &mut warnings,
                registries,
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
            let Some(policy) = validate(&mut problems, raw, &trust, read) else {
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
        // In file and document order, whichever pass found them.
        let order = |e: &PolicyError| (files.iter().position(|(f, _)| *f == e.file), e.document);
        errors.sort_by_key(order);
        warnings.sort_by_key(order);
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
pub(super) fn embedded_trust() -> Result<TrustRoots, PolicyErrors> {
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

/// Raw → `Policy` and its globs, or `None` with the problems recorded.
fn validate(
    problems: &mut Problems<'_>,
    raw: RawPolicy,
    trust: &TrustRoots,
    read: ReadFile<'_>,
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
    // Evaluated over every authority's result (`condition`).
    let condition = spec
        .policy
        .and_then(|p| rego_condition(problems, "spec.policy", "spec.policy", p));
    // The strict side: applying the policy to every pull of its images
    // denies at least what any resource selection would.
    if spec.match_.is_some() {
        problems.warn(
            "spec.match",
            "signgate applies this policy to every pull: resource selectors have no meaning at a registry",
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
    let files = KeyFiles {
        base: problems
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        read,
    };
    let mut authorities = Vec::new();
    for (i, raw) in spec.authorities.into_iter().enumerate() {
        if let Some(a) = authority(
            problems,
            &format!("spec.authorities[{i}]"),
            i,
            raw,
            &files,
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
            condition,
            file: problems.file.to_path_buf(),
        },
        globs,
    ))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDWeWCVKhSgxaA+jFTUcjhzKpEXNN\nRuvXZDUbVdg6X+Ts1mspXFWVJqRs7Gqb4u9srJr1ww+RbNxmEuwUKAsNaw==\n-----END PUBLIC KEY-----\n";

    fn document(key_path: &str) -> Vec<(PathBuf, String)> {
        vec![(
            PathBuf::from("/nowhere/policies/p.yaml"),
            format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: p\nspec:\n  images:\n    - glob: \"x/*\"\n  authorities:\n    - key: {{path: {key_path}}}\n"),
        )]
    }

    fn parse(files: &[(PathBuf, String)], read: ReadFile<'_>) -> Result<PolicySet, PolicyErrors> {
        let trust = embedded_trust()?;
        PolicySet::parse(
            files,
            NoMatchPolicy::Deny,
            &trust,
            &Registries::Unchecked,
            read,
            &trust_root::no_tuf,
        )
    }

    #[test]
    fn key_paths_are_read_through_the_reader_it_is_handed_relative_to_the_file() {
        let asked = RefCell::new(Vec::new());
        let read = |file: &Path| {
            asked.borrow_mut().push(file.to_path_buf());
            Ok(KEY.to_owned())
        };
        let set = parse(&document("keys/k.pub"), &read).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.policies().len(), 1);
        assert_eq!(
            asked.into_inner(),
            vec![PathBuf::from("/nowhere/policies/keys/k.pub")]
        );
    }

    #[test]
    fn a_key_the_reader_cannot_give_is_a_load_error_naming_the_file() {
        let read = |_: &Path| Err("gone".to_owned());
        let Err(e) = parse(&document("/abs/k.pub"), &read) else {
            panic!("loaded without its key");
        };
        assert_eq!(
            e.to_string(),
            "/nowhere/policies/p.yaml: document 1: spec.authorities[0].key.path: cannot read '/abs/k.pub': gone"
        );
    }
}
