//! Upstream authentication: the registry token dance and basic auth.
//!
//! The first request goes out anonymous (or with the scheme learned earlier);
//! a `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` makes
//! signgate fetch a token from the realm — anonymously or with the configured
//! credentials — and retry once. The scheme is remembered per upstream and
//! tokens are cached per scope until shortly before they expire, so steady
//! state costs no extra round trip. Credentials a client sends to signgate
//! are never used here: only the configuration's, and only towards realms
//! they belong to — the upstream's own host, the realms its config lists
//! (`token-realms`), and Docker Hub's token service for Docker Hub. Any
//! other realm a challenge names is asked anonymously, and the log says why:
//! whoever controls an upstream's answers must not harvest its credentials
//! by naming a realm of their own.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::Empty;
use url::Url;

use super::body::read_bounded;
use super::client::HttpClient;
use super::error::{UpstreamError, UpstreamErrorKind};
use crate::config::{Credentials, UpstreamConfig};
use crate::oci::RegistryName;

/// Token responses are small JSON documents.
const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;
/// Registries that omit `expires_in` mean 60 seconds (distribution's token spec).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Docker Hub's own token service.
const DOCKER_HUB_REALM: &str = "https://auth.docker.io/token";

pub(super) struct Auth {
    upstream: RegistryName,
    credentials: Option<Credentials>,
    /// Whether a plain-http realm is acceptable (only for `insecure` upstreams).
    insecure: bool,
    /// The upstream's own host (from its URL), lowercased.
    host: Option<String>,
    /// Realms besides `host` that may receive `credentials`.
    realms: Vec<Url>,
    scheme: RwLock<Scheme>,
    tokens: moka::future::Cache<String, Token>,
}

/// What the upstream asked for last time.
#[derive(Debug, Clone)]
enum Scheme {
    Anonymous,
    Basic,
    Bearer {
        realm: Url,
        service: Option<String>,
        /// Whether the configured credentials may go to `realm`.
        with_credentials: bool,
    },
}

#[derive(Clone)]
struct Token {
    header: HeaderValue,
    lifetime: Duration,
}

struct TokenExpiry;

impl moka::Expiry<String, Token> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Token,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

// === impl Auth ===

impl Auth {
    pub(super) fn new(config: &UpstreamConfig) -> Auth {
        let mut realms = config.token_realms.clone();
        if config.name.is_docker_hub() {
            realms.extend(Url::parse(DOCKER_HUB_REALM).ok());
        }
        Auth {
            upstream: config.name.clone(),
            credentials: config.credentials.clone(),
            insecure: config.insecure,
            host: config.url.host_str().map(str::to_ascii_lowercase),
            realms,
            scheme: RwLock::new(Scheme::Anonymous),
            tokens: moka::future::Cache::builder()
                .max_capacity(10_000)
                .expire_after(TokenExpiry)
                .build(),
        }
    }

    fn error(&self, kind: UpstreamErrorKind) -> UpstreamError {
        UpstreamError::new(&self.upstream, kind)
    }

    fn scheme(&self) -> Scheme {
        match self.scheme.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_scheme(&self, scheme: Scheme) {
        match self.scheme.write() {
            Ok(mut s) => *s = scheme,
            Err(poisoned) => *poisoned.into_inner() = scheme,
        }
    }

    /// The `Authorization` header to send for `scope`, from what the upstream
    /// asked for before. `None` means go anonymous.
    pub(super) async fn authorization(
        &self,
        client: &HttpClient,
        scope: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<HeaderValue>, UpstreamError> {
        match self.scheme() {
            Scheme::Anonymous => Ok(None),
            Scheme::Basic => Ok(self.basic_header()),
            Scheme::Bearer {
                realm,
                service,
                with_credentials,
            } => {
                let key = scope.unwrap_or_default().to_owned();
                let fetch = self.fetch_token(
                    client,
                    &realm,
                    service.as_deref(),
                    scope,
                    with_credentials,
                    timeout,
                );
                let token = self
                    .tokens
                    .try_get_with(key, fetch)
                    .await
                    .map_err(|e| self.error(UpstreamErrorKind::Token(e.to_string())))?;
                Ok(Some(token.header))
            }
        }
    }

    /// React to a `401`: learn the scheme from its challenge and return the
    /// header to retry with. A second `401` after this is final.
    pub(super) async fn answer_challenge(
        &self,
        client: &HttpClient,
        headers: &HeaderMap,
        scope: Option<&str>,
        timeout: Duration,
    ) -> Result<HeaderValue, UpstreamError> {
        let scheme = self.parse_challenges(headers)?;
        self.set_scheme(scheme.clone());
        match scheme {
            Scheme::Anonymous => Err(self.error(UpstreamErrorKind::Unauthorized(401))),
            Scheme::Basic => self
                .basic_header()
                .ok_or_else(|| self.error(UpstreamErrorKind::Unauthorized(401))),
            Scheme::Bearer { .. } => {
                // The cached token for this scope (if any) was just refused.
                self.tokens.invalidate(scope.unwrap_or_default()).await;
                self.authorization(client, scope, timeout)
                    .await?
                    .ok_or_else(|| self.error(UpstreamErrorKind::Unauthorized(401)))
            }
        }
    }

    fn parse_challenges(&self, headers: &HeaderMap) -> Result<Scheme, UpstreamError> {
        let mut basic = false;
        for value in headers.get_all(WWW_AUTHENTICATE) {
            let Ok(text) = value.to_str() else { continue };
            let Ok(challenges) = http_auth::parse_challenges(text) else {
                continue;
            };
            for challenge in challenges {
                if challenge.scheme.eq_ignore_ascii_case("bearer") {
                    let param = |name: &str| {
                        challenge
                            .params
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v.to_unescaped())
                    };
                    let realm = param("realm").ok_or_else(|| {
                        self.error(UpstreamErrorKind::BadResponse(
                            "bearer challenge without realm".into(),
                        ))
                    })?;
                    let realm = Url::parse(&realm).map_err(|_| {
                        self.error(UpstreamErrorKind::BadResponse(
                            "bearer realm is not a URL".into(),
                        ))
                    })?;
                    let scheme_ok =
                        realm.scheme() == "https" || (self.insecure && realm.scheme() == "http");
                    if !scheme_ok {
                        return Err(self.error(UpstreamErrorKind::BadResponse(
                            "bearer realm must be https (or http on an insecure upstream)".into(),
                        )));
                    }
                    let with_credentials = match self.may_receive_credentials(&realm) {
                        Ok(()) => true,
                        Err(why) => {
                            if self.credentials.is_some() {
                                tracing::warn!(
                                    upstream = %self.upstream,
                                    realm = %realm.as_str(),
                                    reason = %why,
                                    "token realm not trusted with the configured credentials: asking it anonymously"
                                );
                            }
                            false
                        }
                    };
                    return Ok(Scheme::Bearer {
                        realm,
                        service: param("service"),
                        with_credentials,
                    });
                }
                if challenge.scheme.eq_ignore_ascii_case("basic") {
                    basic = true;
                }
            }
        }
        Ok(if basic {
            Scheme::Basic
        } else {
            Scheme::Anonymous
        })
    }

    /// Whether `realm` may receive the configured credentials: the
    /// upstream's own host (any port), or a listed realm (same scheme, host,
    /// port and path; Docker Hub's token service for Docker Hub). The scheme
    /// was checked already (https, or http on an insecure upstream).
    fn may_receive_credentials(&self, realm: &Url) -> Result<(), String> {
        let host = realm.host_str().map(str::to_ascii_lowercase);
        if host.is_some() && host == self.host {
            return Ok(());
        }
        let same = |listed: &Url| {
            listed.scheme() == realm.scheme()
                && listed.host_str().map(str::to_ascii_lowercase) == host
                && listed.port_or_known_default() == realm.port_or_known_default()
                && listed.path() == realm.path()
        };
        if self.realms.iter().any(same) {
            return Ok(());
        }
        Err(format!(
            "'{}' is not the upstream's host ({}) nor listed in its token-realms",
            host.unwrap_or_default(),
            self.host.as_deref().unwrap_or_default()
        ))
    }

    fn basic_header(&self) -> Option<HeaderValue> {
        let c = self.credentials.as_ref()?;
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", c.username, c.password));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    async fn fetch_token(
        &self,
        client: &HttpClient,
        realm: &Url,
        service: Option<&str>,
        scope: Option<&str>,
        with_credentials: bool,
        timeout: Duration,
    ) -> Result<Token, String> {
        let mut url = realm.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if let Some(scope) = scope {
                query.append_pair("scope", scope);
            }
        }
        let mut request = Request::get(url.as_str());
        if let Some(basic) = self.basic_header().filter(|_| with_credentials) {
            request = request.header(AUTHORIZATION, basic);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("building token request: {e}"))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let response = tokio::time::timeout_at(deadline, client.request(request))
            .await
            .map_err(|_| format!("timed out after {timeout:?}"))?
            .map_err(|e| format!("cannot reach the token realm: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the token realm answered HTTP {}", status.as_u16()));
        }
        let body = read_bounded(response.into_body(), MAX_TOKEN_RESPONSE, deadline)
            .await
            .map_err(|e| format!("reading the token: {e}"))?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("the token response is not JSON: {e}"))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or("the token response has no token")?;
        let mut header = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token has characters not allowed in a header".to_owned())?;
        header.set_sensitive(true);
        let lifetime = parsed
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        // Renew a little early so a token never expires in flight.
        let lifetime = lifetime.mul_f64(0.9);
        Ok(Token { header, lifetime })
    }
}

#[cfg(test)]
mod tests;
