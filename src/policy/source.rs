//! The policies a configuration names, loaded the way `serve` (and every
//! command that decides like it) loads them: trusted roots from `trust:`,
//! globs checked against the configured upstreams, warnings logged.

use std::path::Path;

use super::glob::Registries;
use super::{trust_roots, PolicyError, PolicyErrors, PolicySet};
use crate::config::{Config, NoMatchPolicy, PolicySource};

/// The policy set `config` names: its directory (globs checked against its
/// upstreams), the built-in examples, or none.
pub fn load_configured(config: &Config) -> Result<PolicySet, PolicyErrors> {
    let set = match &config.policies {
        Some(PolicySource::Dir(dir)) => {
            let trust = trust_roots(&config.trust)?;
            // Where each root came from goes to the log, never to clients.
            for root in trust.named.values() {
                tracing::info!(target: "signgate::policy", root = %root.detail(), "trusted root");
            }
            PolicySet::load_dir_checked(
                dir,
                config.no_match_policy,
                &trust,
                &Registries::from_config(config),
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

/// `signgate policy check DIR [--config FILE]`: with a config, its trusted
/// roots and upstreams; without one, the embedded root and no host check.
pub fn check_dir(dir: &Path, config: Option<&Config>) -> Result<PolicySet, PolicyErrors> {
    let (trust, registries) = match config {
        Some(c) => (trust_roots(&c.trust)?, Registries::from_config(c)),
        None => (
            trust_roots(&crate::config::TrustConfig::default())?,
            Registries::Unchecked,
        ),
    };
    let mut set = PolicySet::load_dir_checked(dir, NoMatchPolicy::Deny, &trust, &registries)?;
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
