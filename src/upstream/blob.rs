//! Blobs from a registry: a transfer started (following redirects to blob
//! storage, credentials only to the upstream's own origin), and small blobs
//! fetched whole and digest-checked.

use bytes::Bytes;
use http::header::{LOCATION, RANGE};
use http::{HeaderName, HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;

use super::body::read_bounded;
use super::request::{pull_scope, Credentials, Remote};
use super::{Resource, UpstreamError, UpstreamErrorKind};
use crate::oci::{Digest, Repository};

/// Blob storage redirects (registry → S3/CDN) are one hop; allow a few.
const MAX_REDIRECTS: usize = 5;

impl Remote {
    /// Start a blob transfer (`GET`) or ask for its size (`HEAD`), following
    /// redirects to blob storage. Returns the response whose status is 200 or
    /// 206, with the body unread.
    pub(super) async fn blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        method: Method,
        range: Option<HeaderValue>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let scope = pull_scope(repository);
        let mut url = self.url(&format!("/v2/{repository}/blobs/{digest}"))?;
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        if let Some(range) = range {
            headers.push((RANGE, range));
        }
        let mut credentials = Credentials::Upstream(Some(&scope));
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .send(method.clone(), url.clone(), &headers, credentials)
                .await?;
            let status = response.status();
            if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT {
                return Ok(response);
            }
            if !status.is_redirection() {
                return Err(self.status_error(&response, Resource::Blob));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    self.error(UpstreamErrorKind::BadResponse(
                        "redirect without Location".into(),
                    ))
                })?;
            let next = url.join(location).map_err(|_| {
                self.error(UpstreamErrorKind::BadResponse(
                    "redirect to an invalid URL".into(),
                ))
            })?;
            let scheme_ok = next.scheme() == "https" || (self.insecure && next.scheme() == "http");
            if !scheme_ok {
                return Err(self.error(UpstreamErrorKind::BadResponse(
                    "redirect to a non-https URL from a secure upstream".into(),
                )));
            }
            // Credentials go only to the upstream's own origin: a presigned
            // storage URL carries its own authorisation.
            credentials = if next.origin() == self.base.origin() {
                Credentials::Upstream(Some(&scope))
            } else {
                Credentials::None
            };
            url = next;
        }
        Err(self.error(UpstreamErrorKind::BadResponse(format!(
            "more than {MAX_REDIRECTS} redirects"
        ))))
    }

    /// Fetch a small blob whole (at most `limit` bytes), checking its digest.
    pub(super) async fn fetch_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, UpstreamError> {
        let deadline = self.deadline();
        let response = self.blob(repository, digest, Method::GET, None).await?;
        let bytes = read_bounded(response.into_body(), limit, deadline)
            .await
            .map_err(|e| self.body_error(e, "blob"))?;
        let actual = digest.recompute(&bytes);
        if &actual != digest {
            return Err(self.error(UpstreamErrorKind::DigestMismatch {
                expected: digest.clone(),
                actual,
            }));
        }
        Ok(bytes)
    }
}
