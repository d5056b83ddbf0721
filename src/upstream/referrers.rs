//! `GET /v2/<name>/referrers/<digest>`, with the spec's fallback for
//! registries that lack the API (distribution 2.8): the referrers tag schema,
//! an index stored under the tag `sha256-<hex>`. One fetch serves both
//! callers: clients (one page, filtered by `artifactType`) and signature
//! discovery (every page of the same endpoint).

use bytes::Bytes;
use http::header::{ACCEPT, LINK};
use http::{HeaderValue, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use super::body::read_bounded;
use super::link::next_link;
use super::request::Remote;
use super::{Resource, UpstreamError, UpstreamErrorKind};
use crate::oci::header::OCI_FILTERS_APPLIED;
use crate::oci::json::{self, Document, StrictJsonError};
use crate::oci::{Descriptor, Digest, Repository, INDEX_MEDIA_TYPE, MAX_MANIFEST_BYTES};

/// At most this many pages of a paginated referrers answer are followed.
const MAX_REFERRER_PAGES: usize = 16;

/// A referrers index, ready to serve.
pub struct Referrers {
    pub body: Bytes,
    /// Whether an `artifactType` filter was applied (the spec's
    /// `OCI-Filters-Applied` header).
    pub filtered: bool,
}

/// One entry of a referrers list: typed, for what signgate reads, beside
/// the JSON the upstream sent, for what clients are served (annotations,
/// platform and all).
#[derive(Debug)]
pub(super) struct Referrer {
    pub(super) descriptor: Descriptor,
    pub(super) json: Value,
}

/// Which pages of a referrers answer are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pages {
    /// The first only (what a client asked for).
    First,
    /// Every page, following `Link` on the same endpoint.
    All,
}

impl Remote {
    /// The referrers index a client asked for, filtered by `artifactType`
    /// here when the upstream did not.
    pub(super) async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, UpstreamError> {
        let (mut manifests, upstream_filtered) = self
            .fetch_referrers(repository, digest, artifact_type, Pages::First)
            .await?;
        let mut filtered = upstream_filtered;
        if let (Some(wanted), false) = (artifact_type, upstream_filtered) {
            manifests.retain(|m| m.descriptor.artifact_type.as_deref() == Some(wanted));
            filtered = true;
        }
        let body = index_bytes(&manifests).map_err(|e| {
            self.error(UpstreamErrorKind::BadResponse(format!(
                "referrers index: {e}"
            )))
        })?;
        Ok(Referrers { body, filtered })
    }

    /// Every referrer descriptor of `digest`, for signature discovery: the
    /// referrers API with its `Link` pagination followed (same repository
    /// only), or the referrers tag schema where the API is missing (404).
    pub(super) async fn referrer_descriptors(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Vec<Referrer>, UpstreamError> {
        let (descriptors, _) = self
            .fetch_referrers(repository, digest, None, Pages::All)
            .await?;
        Ok(descriptors)
    }

    /// The one referrers fetch: the API (with the client's `artifactType`
    /// query), or on a first-page 404 the tag schema. Returns the
    /// descriptors and whether the upstream applied the filter.
    async fn fetch_referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
        pages: Pages,
    ) -> Result<(Vec<Referrer>, bool), UpstreamError> {
        let endpoint = format!("/v2/{repository}/referrers/{digest}");
        let mut path = endpoint.clone();
        if let Some(t) = artifact_type {
            path.push('?');
            path.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .append_pair("artifactType", t)
                    .finish(),
            );
        }
        let mut descriptors = Vec::new();
        let mut filtered = false;
        for page in 0..MAX_REFERRER_PAGES {
            let deadline = self.deadline();
            let response = self.get(repository, &path, &[]).await?;
            match response.status() {
                StatusCode::OK => {
                    let headers = response.headers();
                    if page == 0 {
                        filtered = headers
                            .get(OCI_FILTERS_APPLIED)
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
                    }
                    let next = headers
                        .get(LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|l| next_link(l, &endpoint))
                        .filter(|_| pages == Pages::All);
                    let body = read_bounded(response.into_body(), MAX_MANIFEST_BYTES, deadline)
                        .await
                        .map_err(|e| self.body_error(e, "referrers index"))?;
                    descriptors.extend(self.parse_index(&body)?);
                    match next {
                        Some(next) => path = next,
                        None => return Ok((descriptors, filtered)),
                    }
                }
                StatusCode::NOT_FOUND if page == 0 => {
                    let index = self.referrers_tag(repository, digest, deadline).await?;
                    return Ok((index, false));
                }
                _ => return Err(self.status_error(&response, Resource::Referrers)),
            }
        }
        Err(self.error(UpstreamErrorKind::BadResponse(format!(
            "referrers of {digest} span more than {MAX_REFERRER_PAGES} pages"
        ))))
    }

    /// The referrers tag schema: missing tag means no referrers.
    async fn referrers_tag(
        &self,
        repository: &Repository,
        digest: &Digest,
        deadline: Instant,
    ) -> Result<Vec<Referrer>, UpstreamError> {
        let path = format!("/v2/{repository}/manifests/{}", digest.to_tag_form());
        let headers = [(ACCEPT, HeaderValue::from_static(INDEX_MEDIA_TYPE))];
        let response = self.get(repository, &path, &headers).await?;
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
    fn parse_index(&self, body: &[u8]) -> Result<Vec<Referrer>, UpstreamError> {
        read_referrers_index(body).map_err(|error| {
            self.error(UpstreamErrorKind::Unreadable {
                what: "a referrers index".into(),
                error,
            })
        })
    }
}

/// The bytes of an OCI index listing `manifests` as the upstream sent them:
/// what clients are served, and what the store keeps under the referrers
/// tag schema.
pub(super) fn index_bytes(manifests: &[Referrer]) -> Result<Bytes, serde_json::Error> {
    let manifests: Vec<&Value> = manifests.iter().map(|m| &m.json).collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": manifests,
    });
    serde_json::to_vec(&index).map(Bytes::from)
}

/// A referrers index (the API's answer, or the tag schema's index): read
/// through the strict reader, every descriptor typed (an invalid digest
/// refuses the whole list), each beside the JSON value the upstream sent,
/// to be served.
pub(super) fn read_referrers_index(body: &[u8]) -> Result<Vec<Referrer>, StrictJsonError> {
    #[derive(serde::Deserialize)]
    struct Typed {
        manifests: Vec<Descriptor>,
    }
    #[derive(serde::Deserialize)]
    struct Raw {
        manifests: Vec<Value>,
    }
    let typed = json::read::<Typed>(body, Document::Manifest)?;
    let raw = json::read::<Raw>(body, Document::Manifest)?;
    Ok(typed
        .manifests
        .into_iter()
        .zip(raw.manifests)
        .map(|(descriptor, json)| Referrer { descriptor, json })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn referrer_lists_are_typed_and_served_as_sent() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D1}","size":1,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","annotations":{{"a":"b"}}}}]}}"#
        );
        let list = read_referrers_index(body.as_bytes()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].descriptor.digest.as_str(), D1);
        assert_eq!(
            list[0].descriptor.artifact_type.as_deref(),
            Some("application/vnd.dev.sigstore.bundle.v0.3+json")
        );
        let served: Value = serde_json::from_slice(&index_bytes(&list).unwrap()).unwrap();
        assert_eq!(served["manifests"][0]["annotations"]["a"], "b");
        assert_eq!(served["mediaType"], INDEX_MEDIA_TYPE);
        let bad = body.replace(D1, "sha256:zz");
        let e = read_referrers_index(bad.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("`$.manifests[0].digest`"), "{e}");
    }
}
