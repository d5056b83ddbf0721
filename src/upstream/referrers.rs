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
use super::{pull_scope, Credentials, Resource, Upstream, UpstreamError};
use crate::oci::json::{self, Document, StrictJsonError};
use crate::oci::{Descriptor, Digest, Repository, MAX_MANIFEST_BYTES};

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
            _ => return Err(self.status_error(&response, Resource::Referrers)),
        };
        let mut manifests = index;
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
    ) -> Result<Vec<Value>, UpstreamError> {
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
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            _ => Err(self.status_error(&response, Resource::Referrers)),
        }
    }

    /// A referrers index read strictly: its descriptors, each checked.
    fn parse_index(&self, body: &[u8]) -> Result<Vec<Value>, UpstreamError> {
        read_referrers_index(body).map_err(|error| {
            self.error(UpstreamErrorKind::Unreadable {
                what: "a referrers index".into(),
                error,
            })
        })
    }
}

/// A referrers index (the API's answer, or the tag schema's index): read
/// through the strict reader, every descriptor typed (an invalid digest
/// refuses the whole list), then returned as the JSON values the upstream
/// sent, to be served or walked.
pub(super) fn read_referrers_index(body: &[u8]) -> Result<Vec<Value>, StrictJsonError> {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[allow(dead_code)] // read to be validated
        manifests: Vec<Descriptor>,
    }
    #[derive(serde::Deserialize)]
    struct Raw {
        manifests: Vec<Value>,
    }
    json::read::<Typed>(body, Document::Manifest)?;
    json::read::<Raw>(body, Document::Manifest).map(|raw| raw.manifests)
}

/// At most this many pages of a paginated referrers answer are followed.
const MAX_REFERRER_PAGES: usize = 16;

impl Upstream {
    /// Every referrer descriptor of `digest`, for signature discovery: the
    /// referrers API with its `Link` pagination followed (same repository
    /// only), or the referrers tag schema where the API is missing (404).
    pub(super) async fn referrer_descriptors_remote(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Vec<Value>, UpstreamError> {
        let scope = pull_scope(repository);
        let first = format!("/v2/{repository}/referrers/{digest}");
        let mut path = first.clone();
        let mut descriptors = Vec::new();
        for page in 0..MAX_REFERRER_PAGES {
            let deadline = Instant::now() + self.timeouts.response;
            let response = self
                .send(
                    Method::GET,
                    self.url(&path)?,
                    &[],
                    Credentials::Upstream(Some(&scope)),
                )
                .await?;
            let index = match response.status() {
                StatusCode::OK => {
                    let next = response
                        .headers()
                        .get(http::header::LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|l| next_link(l, &first));
                    let body = read_bounded(response.into_body(), MAX_MANIFEST_BYTES, deadline)
                        .await
                        .map_err(|e| self.body_error(e, "referrers index"))?;
                    descriptors.extend(self.parse_index(&body)?);
                    match next {
                        Some(next) => {
                            path = next;
                            continue;
                        }
                        None => return Ok(descriptors),
                    }
                }
                StatusCode::NOT_FOUND if page == 0 => {
                    self.referrers_tag(repository, digest, &scope, deadline)
                        .await?
                }
                _ => return Err(self.status_error(&response, Resource::Referrers)),
            };
            descriptors.extend(index);
            return Ok(descriptors);
        }
        Err(self.error(UpstreamErrorKind::BadResponse(format!(
            "referrers of {digest} span more than {MAX_REFERRER_PAGES} pages"
        ))))
    }
}

/// The path and query of a `Link: <…>; rel="next"` that stays on the same
/// referrers endpoint; anything else is not followed.
fn next_link(link: &str, endpoint: &str) -> Option<String> {
    let (target, params) = link.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    // Absolute links are reduced to their path: the origin is ours.
    let path = match target.find("://") {
        Some(i) => {
            let rest = target.get(i + 3..)?;
            rest.get(rest.find('/')?..)?
        }
        None => target,
    };
    (path.split('?').next() == Some(endpoint)).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn only_next_links_on_the_same_endpoint_are_followed() {
        let e = "/v2/a/b/referrers/sha256:00";
        assert_eq!(
            next_link("</v2/a/b/referrers/sha256:00?n=2&last=x>; rel=\"next\"", e).as_deref(),
            Some("/v2/a/b/referrers/sha256:00?n=2&last=x")
        );
        assert_eq!(
            next_link(
                "<https://reg.example/v2/a/b/referrers/sha256:00?p=2>; rel=\"next\"",
                e
            )
            .as_deref(),
            Some("/v2/a/b/referrers/sha256:00?p=2")
        );
        assert_eq!(
            next_link("</v2/other/referrers/sha256:00?n=2>; rel=\"next\"", e),
            None
        );
        assert_eq!(
            next_link("</v2/a/b/referrers/sha256:00?n=2>; rel=\"prev\"", e),
            None
        );
        assert_eq!(next_link("garbage", e), None);
    }
}
