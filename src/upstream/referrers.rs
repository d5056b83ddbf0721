//! `GET /v2/<name>/referrers/<digest>`, with the spec's fallback for
//! registries that lack the API (distribution 2.8): the referrers tag schema,
//! an index stored under the tag `sha256-<hex>`.

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use super::body::read_bounded;
use super::error::UpstreamErrorKind;
use super::{pull_scope, Credentials, Upstream, UpstreamError};
use crate::oci::{Digest, Repository, MAX_MANIFEST_BYTES};

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// A referrers index, ready to serve.
pub struct Referrers {
    pub body: Bytes,
    /// Whether an `artifactType` filter was applied (the spec's
    /// `OCI-Filters-Applied` header).
    pub filtered: bool,
}

impl Upstream {
    pub async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, UpstreamError> {
        let scope = pull_scope(repository);
        let mut path = format!("/v2/{repository}/referrers/{digest}");
        if let Some(t) = artifact_type {
            path.push('?');
            path.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .append_pair("artifactType", t)
                    .finish(),
            );
        }
        let deadline = Instant::now() + self.timeouts.response;
        let response = self
            .send(
                Method::GET,
                self.url(&path)?,
                &[],
                Credentials::Upstream(Some(&scope)),
            )
            .await?;
        let (index, upstream_filtered) = match response.status() {
            StatusCode::OK => {
                let filtered = response
                    .headers()
                    .get("oci-filters-applied")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
                let body = read_bounded(response.into_body(), MAX_MANIFEST_BYTES, deadline)
                    .await
                    .map_err(|e| self.body_error(e, "referrers index"))?;
                (self.parse_index(&body)?, filtered)
            }
            StatusCode::NOT_FOUND => (
                self.referrers_tag(repository, digest, &scope, deadline)
                    .await?,
                false,
            ),
            _ => return Err(self.status_error(&response, "referrers")),
        };
        let mut manifests = match index.get("manifests") {
            Some(Value::Array(m)) => m.clone(),
            _ => Vec::new(),
        };
        let mut filtered = upstream_filtered;
        if let (Some(wanted), false) = (artifact_type, upstream_filtered) {
            manifests.retain(|m| m.get("artifactType").and_then(Value::as_str) == Some(wanted));
            filtered = true;
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": manifests,
        });
        let body = serde_json::to_vec(&index).map_err(|e| {
            self.error(UpstreamErrorKind::BadResponse(format!(
                "referrers index: {e}"
            )))
        })?;
        Ok(Referrers {
            body: Bytes::from(body),
            filtered,
        })
    }

    /// The referrers tag schema: missing tag means no referrers.
    async fn referrers_tag(
        &self,
        repository: &Repository,
        digest: &Digest,
        scope: &str,
        deadline: Instant,
    ) -> Result<Value, UpstreamError> {
        let url = self.url(&format!(
            "/v2/{repository}/manifests/{}",
            digest.to_tag_form()
        ))?;
        let headers = [(ACCEPT, HeaderValue::from_static(INDEX_MEDIA_TYPE))];
        let response = self
            .send(
                Method::GET,
                url,
                &headers,
                Credentials::Upstream(Some(scope)),
            )
            .await?;
        match response.status() {
            StatusCode::OK => {
                let body = read_bounded(response.into_body(), MAX_MANIFEST_BYTES, deadline)
                    .await
                    .map_err(|e| self.body_error(e, "referrers index"))?;
                self.parse_index(&body)
            }
            StatusCode::NOT_FOUND => Ok(Value::Null),
            _ => Err(self.status_error(&response, "referrers tag")),
        }
    }

    fn parse_index(&self, body: &[u8]) -> Result<Value, UpstreamError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| {
            self.error(UpstreamErrorKind::BadResponse(
                "referrers index is not JSON".into(),
            ))
        })?;
        match value.get("manifests") {
            Some(Value::Array(_)) => Ok(value),
            _ => Err(self.error(UpstreamErrorKind::BadResponse(
                "referrers index has no manifests list".into(),
            ))),
        }
    }
}
