//! `ProxyError`: every boundary's error, gathered, and the one mapping from
//! it to what the client is told (`respond::error` frames it).

use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode};

use crate::oci::{Digest, ErrorCode, ReferenceError, Repository};
use crate::policy::Denial;
use crate::respond::{self, ErrorReply, ResponseBody};
use crate::route::RouteError;
use crate::upstream::{Resource, UpstreamError, UpstreamErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Route(#[from] RouteError),
    /// Shared because concurrent requests may share one upstream fetch.
    #[error(transparent)]
    Upstream(Arc<UpstreamError>),
    #[error("{0}")]
    Denied(Denial),
    #[error("blob {digest} is not referenced by a manifest signgate admitted from {repository}: pull the image's manifest through signgate first")]
    BlobNotAdmitted {
        repository: Repository,
        digest: Digest,
    },
    /// A proven signature artifact's blob could not be fetched again.
    #[error("signature artifact blob {digest}: {why}")]
    ArtifactBlob { digest: Digest, why: String },
    /// A bug; the detail goes to the logs, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<UpstreamError> for ProxyError {
    fn from(e: UpstreamError) -> Self {
        ProxyError::Upstream(Arc::new(e))
    }
}

impl From<Arc<UpstreamError>> for ProxyError {
    fn from(e: Arc<UpstreamError>) -> Self {
        ProxyError::Upstream(e)
    }
}

// === impl ProxyError ===

impl ProxyError {
    /// What the client is told: the one exhaustive mapping from an error on
    /// the request path to its status, OCI code, public message, detail and
    /// headers.
    pub fn reply(&self) -> ErrorReply {
        let (status, code) = self.status_and_code();
        let message = match self {
            // Details of internal errors stay in the logs.
            ProxyError::Internal(_) => return ErrorReply::internal(),
            other => format!("signgate: {other}"),
        };
        let mut reply = ErrorReply::new(status, code, message);
        match self {
            ProxyError::Denied(denial) => reply.detail = Some(denial.detail()),
            ProxyError::Route(RouteError::MethodNotAllowed(_)) => {
                reply.allow = Some(respond::ALLOWED_METHODS);
            }
            ProxyError::Upstream(e) => {
                if let UpstreamErrorKind::RateLimited {
                    retry_after: Some(r),
                } = &e.kind
                {
                    reply.retry_after = HeaderValue::from_str(r).ok();
                }
            }
            _ => {}
        }
        reply
    }

    /// The OCI error response for this error.
    pub fn response(&self, head: bool) -> Response<ResponseBody> {
        respond::error(&self.reply(), head)
    }

    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ProxyError::Route(e) => match e {
                RouteError::NotFound(_) | RouteError::NoDefaultUpstream => {
                    (StatusCode::NOT_FOUND, ErrorCode::NameUnknown)
                }
                RouteError::MethodNotAllowed(_) => {
                    (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::Unsupported)
                }
                RouteError::Name(_) => (StatusCode::BAD_REQUEST, ErrorCode::NameInvalid),
                RouteError::Reference(ReferenceError::Tag(_)) => {
                    (StatusCode::BAD_REQUEST, ErrorCode::ManifestInvalid)
                }
                RouteError::Reference(ReferenceError::Digest(_)) | RouteError::Digest(_) => {
                    (StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid)
                }
                RouteError::UnconfiguredRegistry(_) => (StatusCode::FORBIDDEN, ErrorCode::Denied),
                RouteError::Query(..) => (StatusCode::BAD_REQUEST, ErrorCode::Unsupported),
            },
            ProxyError::Upstream(e) => match &e.kind {
                UpstreamErrorKind::NotFound { resource, .. } => (
                    StatusCode::NOT_FOUND,
                    match resource {
                        Resource::Manifest | Resource::Tag => ErrorCode::ManifestUnknown,
                        Resource::Blob => ErrorCode::BlobUnknown,
                        Resource::Repository | Resource::Referrers => ErrorCode::NameUnknown,
                    },
                ),
                UpstreamErrorKind::Unauthorized(_) | UpstreamErrorKind::Token(_) => {
                    (StatusCode::BAD_GATEWAY, ErrorCode::Unauthorized)
                }
                UpstreamErrorKind::RateLimited { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
                }
                UpstreamErrorKind::Timeout { .. } => {
                    (StatusCode::GATEWAY_TIMEOUT, ErrorCode::Unknown)
                }
                UpstreamErrorKind::DigestMismatch { .. } => {
                    (StatusCode::BAD_GATEWAY, ErrorCode::DigestInvalid)
                }
                UpstreamErrorKind::TooLarge {
                    what: "manifest", ..
                }
                | UpstreamErrorKind::Unreadable { .. } => {
                    (StatusCode::BAD_GATEWAY, ErrorCode::ManifestInvalid)
                }
                UpstreamErrorKind::TooLarge { .. } => {
                    (StatusCode::BAD_GATEWAY, ErrorCode::SizeInvalid)
                }
                UpstreamErrorKind::Status(..)
                | UpstreamErrorKind::Connect(_)
                | UpstreamErrorKind::BadResponse(_) => {
                    (StatusCode::BAD_GATEWAY, ErrorCode::Unknown)
                }
            },
            ProxyError::Denied(_) | ProxyError::BlobNotAdmitted { .. } => {
                (StatusCode::FORBIDDEN, ErrorCode::Denied)
            }
            ProxyError::ArtifactBlob { .. } => (StatusCode::BAD_GATEWAY, ErrorCode::Unknown),
            ProxyError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Unknown),
        }
    }
}

#[cfg(test)]
#[path = "error_snapshots.rs"]
mod snapshots;
