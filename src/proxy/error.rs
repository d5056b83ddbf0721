//! `ProxyError`: every boundary's error, gathered for `respond::error`.

use std::sync::Arc;

use crate::oci::{Digest, Repository};
use crate::policy::Denial;
use crate::route::RouteError;
use crate::upstream::UpstreamError;

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
