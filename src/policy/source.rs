//! The policy module's one edge to the filesystem: policy directories and
//! files, the trusted-root files `trust:` names, and the keys policies name
//! by path are read here and nowhere else under `policy/`. Everything past
//! the read is pure (`PolicySet::parse` in `load.rs`).
//!
//! Also the policies a configuration names, loaded the way `serve` (and
//! every command that decides like it) loads them: trusted roots as given
//! (the roots in force), globs checked against the configured upstreams,
//! warnings logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::glob::Registries;
use super::load::embedded_trust;
use super::trust_root::{no_tuf, ResolveTuf};
use super::{PolicyError, PolicyErrors, PolicySet};
use crate::config::{Config, NoMatchPolicy, PolicySource};
use crate::verify::trust::TrustRoots;

/// The policy set `config` names: its directory (globs checked against its
/// upstreams), the built-in examples, or none; `trustRootRef`s resolve
/// against `trust` (the roots in force, from `trust::Trust::roots`).
///
/// `tuf` resolves `TrustRoot` documents' TUF forms (`trust::Trust::resolve`).
pub fn load_configured(
    config: &Config,
    trust: &TrustRoots,
    tuf: ResolveTuf<'_>,
) -> Result<PolicySet, PolicyErrors> {
    let set = match &config.policies {
        Some(PolicySource::Dir(dir)) => {
            // Where each root came from goes to the log, never to clients.
            for root in trust.named.values() {
                tracing::info!(target: "signgate::policy", root = %root.detail(), "trusted root");
            }
            PolicySet::load_dir_checked(
                dir,
                config.no_match_policy,
                trust,
                &Registries::from_config(config),
                tuf,
            )?
        }
        Some(PolicySource::BuiltinExamples) => PolicySet::builtin_examples(config.no_match_policy)?,
        None => PolicySet::empty(config.no_match_policy),
    };
    for warning in set.warnings() {
        tracing::warn!(target: "signgate::policy", %warning, "policy glob");
    }
    Ok(set)
}

/// `signgate policy check DIR [--config FILE]`: with a config, its
/// upstreams; without one, no host check. `trust`: the roots in force.
pub fn check_dir(
    dir: &Path,
    config: Option<&Config>,
    trust: &TrustRoots,
    tuf: ResolveTuf<'_>,
) -> Result<PolicySet, PolicyErrors> {
    let registries = match config {
        Some(c) => Registries::from_config(c),
        None => Registries::Unchecked,
    };
    let mut set = PolicySet::load_dir_checked(dir, NoMatchPolicy::Deny, trust, &registries, tuf)?;
    if matches!(registries, Registries::Unchecked) {
        set.warnings.push(PolicyError {
            file: dir.to_path_buf(),
            document: 0,
            path: String::new(),
            message: "registry hosts of globs not checked: give --config to check them against the configured upstreams".into(),
        });
    }
    Ok(set)
}

/// A file's text, the error as the loader reports it.
fn read_file(file: &Path) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|e| e.to_string())
}

impl PolicySet {
    /// Load every policy file in `dir` (not recursive, sorted by name).
    pub fn load_dir(dir: &Path, no_match: NoMatchPolicy) -> Result<PolicySet, PolicyErrors> {
        PolicySet::load_dir_with(dir, no_match, &embedded_trust()?)
    }

    /// Load a directory, resolving `trustRootRef`s against `trust`; glob
    /// hosts are not checked (see [`PolicySet::load_dir_checked`]).
    fn load_dir_with(
        dir: &Path,
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
    ) -> Result<PolicySet, PolicyErrors> {
        PolicySet::load_dir_checked(dir, no_match, trust, &Registries::Unchecked, &no_tuf)
    }

    /// Load a directory, resolving `trustRootRef`s against `trust` and
    /// refusing globs that can match no name built for `registries`.
    fn load_dir_checked(
        dir: &Path,
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
        registries: &Registries,
        tuf: ResolveTuf<'_>,
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
        PolicySet::from_files_checked(&documents, no_match, trust, registries, tuf)
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
    fn from_files_with(
        files: &[(PathBuf, String)],
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
    ) -> Result<PolicySet, PolicyErrors> {
        PolicySet::from_files_checked(files, no_match, trust, &Registries::Unchecked, &no_tuf)
    }

    /// As `PolicySet::from_files_with`, refusing globs that can match no
    /// name built for `registries`. Keys named by path are read from disk.
    pub fn from_files_checked(
        files: &[(PathBuf, String)],
        no_match: NoMatchPolicy,
        trust: &TrustRoots,
        registries: &Registries,
        tuf: ResolveTuf<'_>,
    ) -> Result<PolicySet, PolicyErrors> {
        PolicySet::parse(files, no_match, trust, registries, &read_file, tuf)
    }
}

/// The trusted roots a configuration's files name, parsed: the embedded
/// seeds, every `trust.roots` entry, and the default — without TUF (the
/// server uses `trust::Trust::roots`; this serves tests and tools).
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
