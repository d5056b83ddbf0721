//! `UpstreamError`: everything that can go wrong talking to a registry.

use std::time::Duration;

use crate::oci::json::StrictJsonError;
use crate::oci::{Digest, RegistryName};

/// A failure talking to one upstream. Its `Display` is safe to show clients:
/// it never includes credentials, tokens or URLs with query strings.
#[derive(Debug, thiserror::Error)]
#[error("upstream '{upstream}': {kind}")]
pub struct UpstreamError {
    pub upstream: RegistryName,
    pub kind: UpstreamErrorKind,
}

/// What was looked for and not found: typed, so the OCI error code is
/// chosen by kind, never by matching text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Manifest,
    /// A tag (its manifest): `MANIFEST_UNKNOWN`, as the distribution spec says.
    Tag,
    Blob,
    Repository,
    Referrers,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Manifest => "manifest",
            Resource::Tag => "tag",
            Resource::Blob => "blob",
            Resource::Repository => "repository",
            Resource::Referrers => "referrers",
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamErrorKind {
    #[error("{resource} not found{}", if *.in_store { " in the local store" } else { "" })]
    NotFound { resource: Resource, in_store: bool },
    #[error("refused signgate's credentials (HTTP {0})")]
    Unauthorized(u16),
    #[error("is rate limiting signgate")]
    RateLimited { retry_after: Option<String> },
    #[error("answered HTTP {0} to {1}")]
    Status(u16, &'static str),
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: &'static str, after: Duration },
    #[error("cannot be reached: {0}")]
    Connect(String),
    #[error("sent content for {expected} whose sha256 is {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("sent a {what} larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("sent an invalid response: {0}")]
    BadResponse(String),
    /// A manifest, index or referrers list the strict reader refused
    /// (`MANIFEST_INVALID`): `what` names the document, `error` the key.
    #[error("sent {what} that is not a JSON manifest signgate can read: {error}")]
    Unreadable {
        what: String,
        error: StrictJsonError,
    },
    #[error("token service failed: {0}")]
    Token(String),
}

impl UpstreamError {
    pub fn new(upstream: &RegistryName, kind: UpstreamErrorKind) -> UpstreamError {
        UpstreamError {
            upstream: upstream.clone(),
            kind,
        }
    }

    /// Whether the upstream could not be asked at all (down, unreachable,
    /// failing), as opposed to answering: the local store may answer then.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.kind,
            UpstreamErrorKind::Connect(_)
                | UpstreamErrorKind::Timeout { .. }
                | UpstreamErrorKind::Status(500..=599, _)
        )
    }
}
