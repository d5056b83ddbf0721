//! `signgate doctor`: can this node's runtimes pull around signgate?
//!
//! Reads containerd's registry configuration (hosts directories and legacy
//! CRI mirrors), Docker's `daemon.json` and certs.d, and containers'
//! `registries.conf`, and reports per runtime and registry whether pulls go
//! only through signgate or can fall back to the upstream — with the line
//! to change. Outside the request path; reads files only.

mod containerd;
mod containers;
mod docker;

use std::fmt;
use std::path::{Path, PathBuf};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub runtime: &'static str,
    pub registry: String,
    pub verdict: Verdict,
    /// Which file says so.
    pub file: PathBuf,
    pub detail: String,
    /// The change that closes a bypass.
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pulls go only through signgate.
    Enforced,
    /// Pulls can reach the upstream without signgate.
    Bypass,
}

/// What to check: where the node's files are and where signgate listens.
pub struct Node {
    /// Prefix for every system path (`/` on a real node; a fixture tree in tests).
    pub root: PathBuf,
    /// signgate's `host:port` as the runtimes should name it.
    pub signgate: String,
    /// Registries to report on, besides those found in the files.
    pub registries: Vec<String>,
}

impl Node {
    fn path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    /// Whether a URL or `host:port` names signgate.
    fn is_signgate(&self, endpoint: &str) -> bool {
        let host = endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        host == self.signgate
    }
}

/// Check every runtime whose configuration is present.
pub fn check(node: &Node) -> Vec<Finding> {
    let mut findings = Vec::new();
    containerd::check(node, &mut findings);
    docker::check(node, &mut findings);
    containers::check(node, &mut findings);
    findings
}

pub fn has_bypass(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.verdict == Verdict::Bypass)
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Enforced => "enforced",
            Verdict::Bypass => "BYPASS",
        };
        write!(
            f,
            "{:<10} {:<24} {:<8} {} ({})",
            self.runtime,
            self.registry,
            verdict,
            self.detail,
            self.file.display()
        )?;
        if let Some(fix) = &self.fix {
            write!(f, "\n{:<44} fix: {fix}", "")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
