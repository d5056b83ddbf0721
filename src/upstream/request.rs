//! `Remote`: one registry over HTTP. Sending a request (offline refusal,
//! credentials, one answer to an auth challenge, the response timeout) and
//! turning a status or a body failure into an [`UpstreamError`].

use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use tokio::time::Instant;
use url::Url;

use super::auth::Auth;
use super::body::BodyError;
use super::client::{self, HttpClient};
use super::{Resource, UpstreamError, UpstreamErrorKind};
use crate::config::{Timeouts, UpstreamConfig};
use crate::metrics::Metrics;
use crate::oci::{RegistryName, Repository};

/// One configured registry, as reached over the network.
pub(super) struct Remote {
    pub(super) name: RegistryName,
    pub(super) base: Url,
    pub(super) insecure: bool,
    client: HttpClient,
    auth: Auth,
    pub(super) timeouts: Timeouts,
    pub(super) metrics: Arc<Metrics>,
    /// Never contacted (`mode: offline`, or an export being imported).
    pub(super) offline: bool,
}

/// How a request is authenticated.
#[derive(Clone, Copy)]
pub(super) enum Credentials<'a> {
    /// The upstream's own credentials, for this token scope.
    Upstream(Option<&'a str>),
    /// Nothing: a redirect target on another origin never sees credentials.
    None,
}

impl Remote {
    pub(super) fn new(
        config: &UpstreamConfig,
        timeouts: &Timeouts,
        metrics: Arc<Metrics>,
        offline: bool,
    ) -> Result<Remote, String> {
        let client = client::build(config, timeouts.connect)
            .map_err(|e| format!("upstream '{}': {e}", config.name))?;
        Ok(Remote {
            name: config.name.clone(),
            base: config.url.clone(),
            insecure: config.insecure,
            client,
            auth: Auth::new(config),
            timeouts: timeouts.clone(),
            metrics,
            offline,
        })
    }

    pub(super) fn error(&self, kind: UpstreamErrorKind) -> UpstreamError {
        UpstreamError::new(&self.name, kind)
    }

    pub(super) fn url(&self, path_and_query: &str) -> Result<Url, UpstreamError> {
        self.base.join(path_and_query).map_err(|e| {
            self.error(UpstreamErrorKind::BadResponse(format!(
                "building a URL: {e}"
            )))
        })
    }

    /// `GET` (no extra headers) with the pull credentials for `repository`.
    pub(super) async fn get(
        &self,
        repository: &Repository,
        path_and_query: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Response<Incoming>, UpstreamError> {
        let scope = pull_scope(repository);
        self.send(
            Method::GET,
            self.url(path_and_query)?,
            headers,
            Credentials::Upstream(Some(&scope)),
        )
        .await
    }

    /// Send one request, answering an auth challenge once if needed. Every
    /// wait is bounded by the response timeout.
    pub(super) async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(HeaderName, HeaderValue)],
        credentials: Credentials<'_>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // Offline, nothing leaves the machine: every path that would send
        // (tag lists, referrers for clients, anything new) stops here.
        if self.offline {
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

    pub(super) fn status_error(
        &self,
        response: &Response<Incoming>,
        resource: Resource,
    ) -> UpstreamError {
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

    pub(super) fn body_error(&self, e: BodyError, what: &'static str) -> UpstreamError {
        self.error(match e {
            BodyError::TooLarge(limit) => UpstreamErrorKind::TooLarge { what, limit },
            BodyError::Timeout => UpstreamErrorKind::Timeout {
                what,
                after: self.timeouts.response,
            },
            BodyError::Io(e) => UpstreamErrorKind::Connect(e),
        })
    }

    /// The deadline for reading a whole body that starts now.
    pub(super) fn deadline(&self) -> Instant {
        Instant::now() + self.timeouts.response
    }
}

pub(super) fn pull_scope(repository: &Repository) -> String {
    format!("repository:{repository}:pull")
}

fn retry_after(headers: &HeaderMap) -> Option<String> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() < 64)
        .map(str::to_owned)
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
