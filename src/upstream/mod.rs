//! Talking to upstream registries: pooled clients, authentication, tag →
//! digest resolution, digest-checked manifest fetches, streamed blobs, tag
//! lists and referrers.
//!
//! Architecture invariant: this module never verifies signatures, never
//! consults policy and never touches the caches; it answers "what does the
//! upstream say", with every read bounded in size and time.

mod auth;
mod body;
mod client;
mod error;
mod local;
mod manifest;
mod referrers;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LINK, LOCATION, RANGE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use tokio::time::Instant;
use url::Url;

pub use body::{BlobBody, StreamError};
pub use error::{Resource, UpstreamError, UpstreamErrorKind};
pub use local::{FileBody, Local};
pub use manifest::{Manifest, References};
pub use referrers::Referrers;

use self::auth::Auth;
use self::body::{read_bounded, BodyError};
use self::client::HttpClient;
use crate::config::{Config, Timeouts, UpstreamConfig};
use crate::metrics::Metrics;
use crate::oci::{Digest, RegistryName, Repository, Tag, MAX_MANIFEST_BYTES};
use crate::route::UpstreamId;

/// The `Docker-Content-Digest` header.
pub const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
/// Tag lists can be long, but not unboundedly.
const MAX_TAGS_LIST_BYTES: usize = 16 * 1024 * 1024;
/// Blob storage redirects (registry → S3/CDN) are one hop; allow a few.
const MAX_REDIRECTS: usize = 5;

/// Every configured upstream, indexed by [`UpstreamId`].
pub struct Upstreams {
    list: Vec<Arc<Upstream>>,
}

/// One configured registry.
pub struct Upstream {
    name: RegistryName,
    base: Url,
    insecure: bool,
    client: HttpClient,
    auth: Auth,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    /// The local store: kept content, and the answers when the upstream
    /// cannot be reached or must not be (offline).
    local: Option<Local>,
}

/// The answer to "which digest does this tag name now".
pub enum Resolved {
    /// From `Docker-Content-Digest` on a HEAD.
    Digest(Digest),
    /// The upstream gave no digest on HEAD, so the manifest was fetched and
    /// hashed; it is returned so it need not be fetched again.
    Fetched(Manifest),
    /// The upstream could not be asked: the last verified mapping kept in
    /// the local store.
    Stored(Digest),
}

/// One page of a tag list.
pub struct TagsPage {
    pub body: Bytes,
    /// `n`/`last` of the next page, from the upstream's `Link` header.
    pub next: Option<(Option<u32>, Tag)>,
}

/// How a request is authenticated.
#[derive(Clone, Copy)]
enum Credentials<'a> {
    /// The upstream's own credentials, for this token scope.
    Upstream(Option<&'a str>),
    /// Nothing: a redirect target on another origin never sees credentials.
    None,
}

// === impl Upstreams ===

impl Upstreams {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Upstreams, String> {
        Upstreams::with_store(config, metrics, None)
    }

    /// Upstreams backed by a local store (`store:` in the config).
    pub fn with_store(
        config: &Config,
        metrics: Arc<Metrics>,
        store: Option<&crate::store::Store>,
    ) -> Result<Upstreams, String> {
        let mut list = Vec::with_capacity(config.upstreams.len());
        for u in &config.upstreams {
            let mut upstream = Upstream::new(u, &config.timeouts, metrics.clone())?;
            upstream.local = store.map(|store| {
                Local::over_store(
                    store.clone(),
                    u.store,
                    config.mode == crate::config::Mode::Offline,
                )
            });
            list.push(Arc::new(upstream));
        }
        Ok(Upstreams { list })
    }

    pub fn get(&self, id: UpstreamId) -> Option<&Arc<Upstream>> {
        self.list.get(id.0)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The upstream configured under `name`.
    pub fn find(&self, name: &RegistryName) -> Option<UpstreamId> {
        self.list
            .iter()
            .position(|u| &u.name == name)
            .map(UpstreamId)
    }
}

// === impl Upstream ===

impl Upstream {
    fn new(
        config: &UpstreamConfig,
        timeouts: &Timeouts,
        metrics: Arc<Metrics>,
    ) -> Result<Upstream, String> {
        let client = client::build(config, timeouts.connect)
            .map_err(|e| format!("upstream '{}': {e}", config.name))?;
        Ok(Upstream {
            name: config.name.clone(),
            base: config.url.clone(),
            insecure: config.insecure,
            client,
            auth: Auth::new(config),
            timeouts: timeouts.clone(),
            metrics,
            local: None,
        })
    }

    pub fn name(&self) -> &RegistryName {
        &self.name
    }

    fn error(&self, kind: UpstreamErrorKind) -> UpstreamError {
        UpstreamError::new(&self.name, kind)
    }

    fn url(&self, path_and_query: &str) -> Result<Url, UpstreamError> {
        self.base.join(path_and_query).map_err(|e| {
            self.error(UpstreamErrorKind::BadResponse(format!(
                "building a URL: {e}"
            )))
        })
    }

    /// Resolve a tag to a digest: one HEAD, as containerd does.
    async fn resolve_tag_remote(
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
    async fn fetch_manifest_remote(
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
    async fn fetch_tagged_manifest_remote(
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

    /// Fetch a small blob whole (at most `limit` bytes), checking its digest.
    async fn fetch_blob_remote(
        &self,
        repository: &Repository,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, UpstreamError> {
        let deadline = Instant::now() + self.timeouts.response;
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

    async fn get_manifest(
        &self,
        url: Url,
        expected: Option<&Digest>,
        accept: &HeaderValue,
        scope: &str,
    ) -> Result<Manifest, UpstreamError> {
        let deadline = Instant::now() + self.timeouts.response;
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
            .get(http::header::CONTENT_LENGTH)
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
        Manifest::from_upstream(expected, content_type.as_ref(), bytes)
            .map_err(|kind| self.error(kind))
    }

    /// Start a blob transfer (`GET`) or ask for its size (`HEAD`), following
    /// redirects to blob storage. Returns the response whose status is 200 or
    /// 206, with the body unread.
    pub async fn blob(
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

    /// One page of `GET /v2/<name>/tags/list`.
    pub async fn tags_list(
        &self,
        repository: &Repository,
        n: Option<u32>,
        last: Option<&Tag>,
    ) -> Result<TagsPage, UpstreamError> {
        let scope = pull_scope(repository);
        let mut path = format!("/v2/{repository}/tags/list");
        let query = pagination_query(n, last);
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query);
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
        if response.status() != StatusCode::OK {
            return Err(self.status_error(&response, Resource::Repository));
        }
        let next = response
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_page);
        let body = read_bounded(response.into_body(), MAX_TAGS_LIST_BYTES, deadline)
            .await
            .map_err(|e| self.body_error(e, "tag list"))?;
        let list: TagList = serde_json::from_slice(&body).map_err(|_| {
            self.error(UpstreamErrorKind::BadResponse(
                "tag list is not a JSON tag list".into(),
            ))
        })?;
        Ok(paginate(list, n, last, next))
    }

    /// Send one request, answering an auth challenge once if needed. Every
    /// wait is bounded by the response timeout.
    async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(HeaderName, HeaderValue)],
        credentials: Credentials<'_>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // Offline, nothing leaves the machine: every path that would send
        // (tag lists, referrers for clients, anything new) stops here.
        if self.is_offline() {
            return Err(self.error(UpstreamErrorKind::Connect(
                "offline mode: upstreams are never contacted".into(),
            )));
        }
        let timeout = self.timeouts.response;
        let authorization = match credentials {
            Credentials::Upstream(scope) => {
                self.auth
                    .authorization(&self.client, scope, timeout)
                    .await?
            }
            Credentials::None => None,
        };
        let response = self
            .send_once(&method, &url, headers, authorization)
            .await?;
        let Credentials::Upstream(scope) = credentials else {
            return Ok(response);
        };
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let authorization = self
            .auth
            .answer_challenge(&self.client, response.headers(), scope, timeout)
            .await?;
        let response = self
            .send_once(&method, &url, headers, Some(authorization))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.error(UpstreamErrorKind::Unauthorized(401)));
        }
        Ok(response)
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        headers: &[(HeaderName, HeaderValue)],
        authorization: Option<HeaderValue>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url.as_str())
            .header(
                http::header::USER_AGENT,
                concat!("signgate/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let request = request.body(Empty::<Bytes>::new()).map_err(|e| {
            self.error(UpstreamErrorKind::BadResponse(format!(
                "building a request: {e}"
            )))
        })?;
        let timeout = self.timeouts.response;
        let started = Instant::now();
        let result = tokio::time::timeout(timeout, self.client.request(request)).await;
        self.metrics
            .upstream_latency(self.name.as_str(), started.elapsed().as_secs_f64());
        match result {
            Err(_) => Err(self.error(UpstreamErrorKind::Timeout {
                what: "response headers",
                after: timeout,
            })),
            Ok(Err(e)) => Err(self.error(UpstreamErrorKind::Connect(connect_error_text(&e)))),
            Ok(Ok(response)) => Ok(response),
        }
    }

    fn status_error(&self, response: &Response<Incoming>, resource: Resource) -> UpstreamError {
        let status = response.status();
        let what = resource.as_str();
        let kind = match status {
            StatusCode::NOT_FOUND => UpstreamErrorKind::NotFound {
                resource,
                in_store: false,
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                UpstreamErrorKind::Unauthorized(status.as_u16())
            }
            StatusCode::TOO_MANY_REQUESTS => UpstreamErrorKind::RateLimited {
                retry_after: retry_after(response.headers()),
            },
            _ => UpstreamErrorKind::Status(status.as_u16(), what),
        };
        self.error(kind)
    }

    fn body_error(&self, e: BodyError, what: &'static str) -> UpstreamError {
        self.error(match e {
            BodyError::TooLarge(limit) => UpstreamErrorKind::TooLarge { what, limit },
            BodyError::Timeout => UpstreamErrorKind::Timeout {
                what,
                after: self.timeouts.response,
            },
            BodyError::Io(e) => UpstreamErrorKind::Connect(e),
        })
    }

    pub fn idle_timeout(&self) -> Duration {
        self.timeouts.idle
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// `{"name": …, "tags": […]}`.
#[derive(serde::Deserialize, serde::Serialize)]
struct TagList {
    name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    tags: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(<Option<Vec<String>> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// Apply `n`/`last` to a tag list, whether or not the upstream did:
/// distribution 2.8 ignores `n`, so signgate pages the list itself and
/// builds the next link. An upstream that paged already passes through
/// unchanged, with its own next link.
/// The spec orders tags lexically; distribution 2.8 returns directory order.
fn paginate(
    mut list: TagList,
    n: Option<u32>,
    last: Option<&Tag>,
    upstream_next: Option<(Option<u32>, Tag)>,
) -> TagsPage {
    list.tags.sort_unstable();
    if let Some(last) = last {
        list.tags.retain(|t| t.as_str() > last.as_str());
    }
    let mut next = upstream_next;
    if let Some(n) = n {
        let n = n as usize;
        if list.tags.len() > n {
            list.tags.truncate(n);
            next = list
                .tags
                .last()
                .and_then(|t| t.parse::<Tag>().ok())
                .map(|t| (Some(n as u32), t));
        }
    }
    let body = serde_json::to_vec(&list)
        .map(Bytes::from)
        .unwrap_or_default();
    TagsPage { body, next }
}

fn pull_scope(repository: &Repository) -> String {
    format!("repository:{repository}:pull")
}

fn retry_after(headers: &HeaderMap) -> Option<String> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() < 64)
        .map(str::to_owned)
}

/// The `n`/`last` query of a tag list request.
pub fn pagination_query(n: Option<u32>, last: Option<&Tag>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(n) = n {
        query.append_pair("n", &n.to_string());
    }
    if let Some(last) = last {
        query.append_pair("last", last.as_str());
    }
    query.finish()
}

/// The `n`/`last` of the next page in a `Link: <…?n=2&last=b>; rel="next"`
/// header. Only those two parameters are taken: the rest of the upstream's
/// link (its host, its path) never reaches the client.
fn next_page(link: &str) -> Option<(Option<u32>, Tag)> {
    let (target, params) = link.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    let (_, query) = target.split_once('?')?;
    let mut n = None;
    let mut last = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "n" => n = value.parse::<u32>().ok(),
            "last" => last = value.parse::<Tag>().ok(),
            _ => {}
        }
    }
    Some((n, last?))
}

/// Connection errors without URLs (which could hold query strings).
fn connect_error_text(e: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_takes_only_n_and_last_from_the_link() {
        let (n, last) =
            next_page(r#"</v2/library/alpine/tags/list?last=3.18&n=2>; rel="next""#).unwrap();
        assert_eq!((n, last.as_str()), (Some(2), "3.18"));
        let (_, last) =
            next_page(r#"<https://evil.example/x?last=a&redirect=http://x>; rel="next""#).unwrap();
        assert_eq!(last.as_str(), "a");
        assert!(next_page(r#"</v2/a/tags/list?last=a>; rel="prev""#).is_none());
        assert!(next_page(r#"</v2/a/tags/list?last=a/b>; rel="next""#).is_none());
        assert!(next_page("garbage").is_none());
    }

    fn list(tags: &[&str]) -> TagList {
        TagList {
            name: "r".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn tags_of(page: &TagsPage) -> Vec<String> {
        serde_json::from_slice::<TagList>(&page.body).unwrap().tags
    }

    #[test]
    fn tag_lists_are_paged_when_the_upstream_ignores_n_and_last() {
        let page = paginate(list(&["b", "a", "d", "c"]), Some(2), None, None);
        assert_eq!(tags_of(&page), ["a", "b"]);
        let (n, last) = page.next.unwrap();
        assert_eq!((n, last.as_str()), (Some(2), "b"));
        let last: Tag = "b".parse().unwrap();
        let page = paginate(list(&["a", "b", "c", "d"]), Some(2), Some(&last), None);
        assert_eq!(tags_of(&page), ["c", "d"]);
        assert!(page.next.is_none());
        // An upstream that paged already keeps its own link.
        let upstream_next = Some((Some(2), "d".parse().unwrap()));
        let page = paginate(list(&["c", "d"]), Some(2), Some(&last), upstream_next);
        assert_eq!(tags_of(&page), ["c", "d"]);
        assert_eq!(page.next.unwrap().1.as_str(), "d");
        let page = paginate(list(&["a"]), Some(0), None, None);
        assert!(tags_of(&page).is_empty());
    }

    #[test]
    fn pagination_query_round_trips() {
        let last: Tag = "v1.0".parse().unwrap();
        assert_eq!(pagination_query(Some(5), Some(&last)), "n=5&last=v1.0");
        assert_eq!(pagination_query(None, None), "");
    }
}
