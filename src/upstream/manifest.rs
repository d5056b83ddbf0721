//! Manifests from a registry: a tag resolved to a digest (one HEAD, as
//! containerd does), and manifests fetched by digest or by tag, at most
//! 4 MiB and hashed by signgate ([`Manifest`]).

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use url::Url;

use super::body::read_bounded;
use super::request::{pull_scope, Credentials, Remote};
use super::{Resolved, Resource, UpstreamError, UpstreamErrorKind};
use crate::oci::header::DOCKER_CONTENT_DIGEST;
use crate::oci::{Digest, Manifest, ManifestError, Repository, Tag, MAX_MANIFEST_BYTES};

impl Remote {
    /// Resolve a tag to a digest: one HEAD, as containerd does.
    pub(super) async fn resolve_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Resolved, UpstreamError> {
        let scope = pull_scope(repository);
        let url = self.url(&format!("/v2/{repository}/manifests/{tag}"))?;
        let headers = [(ACCEPT, accept.clone())];
        let response = self
            .send(
                Method::HEAD,
                url.clone(),
                &headers,
                Credentials::Upstream(Some(&scope)),
            )
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(&response, Resource::Manifest));
        }
        let digest = response
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        if let Some(digest) = digest {
            return Ok(Resolved::Digest(digest));
        }
        // No usable digest on HEAD: fetch by tag and hash the bytes ourselves.
        let manifest = self.get_manifest(url, None, accept, &scope).await?;
        Ok(Resolved::Fetched(manifest))
    }

    /// Fetch a manifest by digest: at most 4 MiB, and its bytes must hash to
    /// `digest`.
    pub(super) async fn fetch_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
        accept: &HeaderValue,
    ) -> Result<Manifest, UpstreamError> {
        let scope = pull_scope(repository);
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"))?;
        self.get_manifest(url, Some(digest), accept, &scope).await
    }

    /// Fetch a manifest by tag, hashing it; `None` when the tag does not exist.
    pub(super) async fn fetch_tagged_manifest(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Option<Manifest>, UpstreamError> {
        let scope = pull_scope(repository);
        let url = self.url(&format!("/v2/{repository}/manifests/{tag}"))?;
        match self.get_manifest(url, None, accept, &scope).await {
            Ok(m) => Ok(Some(m)),
            Err(UpstreamError {
                kind: UpstreamErrorKind::NotFound { .. },
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_manifest(
        &self,
        url: Url,
        expected: Option<&Digest>,
        accept: &HeaderValue,
        scope: &str,
    ) -> Result<Manifest, UpstreamError> {
        let deadline = self.deadline();
        let headers = [(ACCEPT, accept.clone())];
        let response = self
            .send(
                Method::GET,
                url,
                &headers,
                Credentials::Upstream(Some(scope)),
            )
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(&response, Resource::Manifest));
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
            return Err(self.error(UpstreamErrorKind::TooLarge {
                what: "manifest",
                limit: MAX_MANIFEST_BYTES,
            }));
        }
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let bytes = read_bounded(response.into_body(), MAX_MANIFEST_BYTES, deadline)
            .await
            .map_err(|e| self.body_error(e, "manifest"))?;
        checked(expected, content_type.as_ref(), bytes).map_err(|kind| self.error(kind))
    }
}

/// [`Manifest::from_upstream`], its refusals worded as upstream errors.
pub(super) fn checked(
    expected: Option<&Digest>,
    content_type: Option<&HeaderValue>,
    bytes: Bytes,
) -> Result<Manifest, UpstreamErrorKind> {
    Manifest::from_upstream(expected, content_type, bytes).map_err(|e| match e {
        ManifestError::DigestMismatch { expected, actual } => {
            UpstreamErrorKind::DigestMismatch { expected, actual }
        }
        ManifestError::Unreadable { digest, error } => UpstreamErrorKind::Unreadable {
            what: format!("manifest {digest}"),
            error,
        },
        ManifestError::Invalid(why) => UpstreamErrorKind::BadResponse(why),
    })
}
