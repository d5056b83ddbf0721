//! Who signed: matching a verified certificate's identity (SAN), OIDC issuer
//! and Fulcio CI claims against a keyless authority's `identities`.
//!
//! Regular expressions are anchored: cosign and policy-controller match
//! unanchored, so `subjectRegExp: .*@example.com` would also accept
//! `eve@example.com.evil`. The anchors wrap the *parsed* expression, not its
//! text, so a pattern cannot close the wrapper's group and escape it
//! (`x)|(?:.*` written into `^(?:…)$` would match anything); a pattern that
//! does not parse on its own is refused. Issuer and subject alone can be spoofed with
//! reusable workflows, hence the optional claims (OIDs 1.3.6.1.4.1.57264.1.x).

use std::fmt;

use regex::Regex;
use regex_syntax::hir::{Hir, Look};
use sigstore_verify::crypto::CertificateInfo;

/// One `keyless.identities[]` entry. Every field given must match.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: Option<Matcher>,
    pub subject: Option<Matcher>,
    pub claims: Vec<(Claim, String)>,
}

/// An exact string or an anchored regular expression.
#[derive(Clone)]
pub enum Matcher {
    Exact(String),
    Regex(Anchored),
}

/// A regular expression that must match the whole value.
#[derive(Clone)]
pub struct Anchored {
    /// As the policy wrote it, for messages.
    written: String,
    regex: Regex,
}

/// A Fulcio certificate claim a policy may pin, by its policy key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// OID .1.5 (deprecated), as `owner/repo` (cosign's
    /// `--certificate-github-workflow-repository`).
    GithubWorkflowRepository,
    /// OID .1.6 (deprecated), e.g. `refs/heads/main`.
    GithubWorkflowRef,
    /// OID .1.2 (deprecated), e.g. `push`.
    GithubWorkflowTrigger,
    /// OID .1.3 (deprecated), the commit.
    GithubWorkflowSha,
    /// OID .1.4 (deprecated), the workflow's display name.
    GithubWorkflowName,
    /// OID .1.9.
    BuildSignerUri,
    /// OID .1.10.
    BuildSignerDigest,
    /// OID .1.11 (`github-hosted`/`self-hosted`).
    RunnerEnvironment,
    /// OID .1.12.
    SourceRepositoryUri,
    /// OID .1.13.
    SourceRepositoryDigest,
    /// OID .1.14.
    SourceRepositoryRef,
    /// OID .1.15.
    SourceRepositoryIdentifier,
    /// OID .1.16.
    SourceRepositoryOwnerUri,
    /// OID .1.17: the owner's immutable ID (survives renames).
    SourceRepositoryOwnerIdentifier,
    /// OID .1.18.
    BuildConfigUri,
    /// OID .1.19.
    BuildConfigDigest,
    /// OID .1.20.
    BuildTrigger,
    /// OID .1.21: the run's URL.
    RunInvocationUri,
    /// OID .1.22.
    SourceRepositoryVisibility,
    /// OID .1.23: the deployment environment the job declared.
    DeploymentEnvironment,
    /// OID .1.24: the token's raw `sub`.
    TokenSubject,
}

/// Every claim key a policy may use, with its meaning.
/// Keys follow Fulcio's oid-info.md names (and cosign's
/// `--certificate-github-workflow-*` flags for .1.2–.1.6).
pub const CLAIM_KEYS: [(&str, Claim); 21] = [
    ("githubWorkflowRepository", Claim::GithubWorkflowRepository),
    ("githubWorkflowRef", Claim::GithubWorkflowRef),
    ("githubWorkflowTrigger", Claim::GithubWorkflowTrigger),
    ("githubWorkflowSha", Claim::GithubWorkflowSha),
    ("githubWorkflowName", Claim::GithubWorkflowName),
    ("buildSignerURI", Claim::BuildSignerUri),
    ("buildSignerDigest", Claim::BuildSignerDigest),
    ("runnerEnvironment", Claim::RunnerEnvironment),
    ("sourceRepositoryURI", Claim::SourceRepositoryUri),
    ("sourceRepositoryDigest", Claim::SourceRepositoryDigest),
    ("sourceRepositoryRef", Claim::SourceRepositoryRef),
    (
        "sourceRepositoryIdentifier",
        Claim::SourceRepositoryIdentifier,
    ),
    ("sourceRepositoryOwnerURI", Claim::SourceRepositoryOwnerUri),
    (
        "sourceRepositoryOwnerIdentifier",
        Claim::SourceRepositoryOwnerIdentifier,
    ),
    ("buildConfigURI", Claim::BuildConfigUri),
    ("buildConfigDigest", Claim::BuildConfigDigest),
    ("buildTrigger", Claim::BuildTrigger),
    ("runInvocationURI", Claim::RunInvocationUri),
    (
        "sourceRepositoryVisibility",
        Claim::SourceRepositoryVisibility,
    ),
    ("deploymentEnvironment", Claim::DeploymentEnvironment),
    ("tokenSubject", Claim::TokenSubject),
];

/// What a verified certificate says about its holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signer {
    /// The first email or URI SAN.
    pub subject: Option<String>,
    /// OID .1.8 (DER), else .1.1 (raw).
    pub issuer: Option<String>,
    claims: Vec<(Claim, String)>,
}

// === impl Matcher ===

impl Matcher {
    /// An anchored regular expression: `pattern` is parsed on its own (the
    /// `regex` crate's syntax and defaults), then the parsed expression is
    /// put between start- and end-of-text assertions and compiled from its
    /// printed form, which is equivalent and free of comments or flags that
    /// could reach past it.
    pub fn regex(pattern: &str) -> Result<Matcher, String> {
        let invalid = |e: &dyn fmt::Display| format!("invalid regular expression '{pattern}': {e}");
        let parsed = regex_syntax::Parser::new()
            .parse(pattern)
            .map_err(|e| invalid(&e))?;
        let anchored = Hir::concat(vec![Hir::look(Look::Start), parsed, Hir::look(Look::End)]);
        let regex = Regex::new(&anchored.to_string()).map_err(|e| invalid(&e))?;
        Ok(Matcher::Regex(Anchored {
            written: pattern.to_owned(),
            regex,
        }))
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.regex.is_match(value),
        }
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "'{s}'"),
            Matcher::Regex(r) => write!(f, "/{}/ (anchored)", r.written),
        }
    }
}

// === impl Identity ===

impl Identity {
    /// Why `signer` does not match, or `Ok`.
    pub fn check(&self, signer: &Signer) -> Result<(), String> {
        let field = |name: &str, want: &Matcher, got: &Option<String>| match got {
            Some(v) if want.matches(v) => Ok(()),
            Some(v) => Err(format!("{name} '{v}' does not match {want}")),
            None => Err(format!("certificate has no {name} (wanted {want})")),
        };
        if let Some(want) = &self.issuer {
            field("issuer", want, &signer.issuer)?;
        }
        if let Some(want) = &self.subject {
            field("subject", want, &signer.subject)?;
        }
        for (claim, want) in &self.claims {
            let got = signer.claim(*claim);
            if got != Some(want.as_str()) {
                return Err(format!(
                    "claim {} is {} (wanted '{want}')",
                    claim.key(),
                    got.map_or("absent".to_owned(), |g| format!("'{g}'"))
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(s) = &self.subject {
            parts.push(format!("subject {s}"));
        }
        if let Some(i) = &self.issuer {
            parts.push(format!("issuer {i}"));
        }
        for (c, v) in &self.claims {
            parts.push(format!("{} '{v}'", c.key()));
        }
        write!(f, "{}", parts.join(", "))
    }
}

/// The first identity that matches, or every mismatch.
pub fn check_any(identities: &[Identity], signer: &Signer) -> Result<usize, String> {
    let mut why = Vec::new();
    for (i, identity) in identities.iter().enumerate() {
        match identity.check(signer) {
            Ok(()) => return Ok(i),
            Err(e) => why.push(e),
        }
    }
    if why.is_empty() {
        return Err("no identities configured".into());
    }
    why.dedup();
    Err(why.join("; "))
}

// === impl Claim ===

impl Claim {
    pub fn key(self) -> &'static str {
        CLAIM_KEYS
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("?", |(k, _)| k)
    }

    pub fn from_key(key: &str) -> Option<Claim> {
        CLAIM_KEYS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
    }
}

// === impl Signer ===

impl Signer {
    pub fn from_certificate(info: &CertificateInfo) -> Signer {
        let c = &info.ci_claims;
        let g = &c.deprecated_github;
        let all = [
            (Claim::GithubWorkflowRepository, &g.workflow_repository),
            (Claim::GithubWorkflowRef, &g.workflow_ref),
            (Claim::GithubWorkflowTrigger, &g.workflow_trigger),
            (Claim::GithubWorkflowSha, &g.workflow_sha),
            (Claim::GithubWorkflowName, &g.workflow_name),
            (Claim::BuildSignerUri, &c.build_signer_uri),
            (Claim::BuildSignerDigest, &c.build_signer_digest),
            (Claim::RunnerEnvironment, &c.runner_environment),
            (Claim::SourceRepositoryUri, &c.source_repository_uri),
            (Claim::SourceRepositoryDigest, &c.source_repository_digest),
            (Claim::SourceRepositoryRef, &c.source_repository_ref),
            (
                Claim::SourceRepositoryIdentifier,
                &c.source_repository_identifier,
            ),
            (
                Claim::SourceRepositoryOwnerUri,
                &c.source_repository_owner_uri,
            ),
            (
                Claim::SourceRepositoryOwnerIdentifier,
                &c.source_repository_owner_identifier,
            ),
            (Claim::BuildConfigUri, &c.build_config_uri),
            (Claim::BuildConfigDigest, &c.build_config_digest),
            (Claim::BuildTrigger, &c.build_trigger),
            (Claim::RunInvocationUri, &c.run_invocation_uri),
            (
                Claim::SourceRepositoryVisibility,
                &c.source_repository_visibility_at_signing,
            ),
            (Claim::DeploymentEnvironment, &c.deployment_environment),
            (Claim::TokenSubject, &c.token_subject),
        ];
        Signer {
            subject: info.identity.as_ref().map(|s| s.as_str().to_owned()),
            issuer: info.issuer.clone(),
            claims: all
                .into_iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
                .collect(),
        }
    }

    pub fn claim(&self, claim: Claim) -> Option<&str> {
        self.claims
            .iter()
            .find(|(c, _)| *c == claim)
            .map(|(_, v)| v.as_str())
    }

    /// `subject (issuer)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} ({})",
            self.subject.as_deref().unwrap_or("no subject"),
            self.issuer.as_deref().unwrap_or("no issuer")
        )
    }
}
