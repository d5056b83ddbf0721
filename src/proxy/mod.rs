//! Orchestration: the only module that sees the whole request path.
//!
//! `App::handle` routes a request, then calls the stage modules in order
//! (upstream → gate → respond for manifests; upstream → respond for
//! blobs, tag lists and referrers). It implements no parsing, crypto or
//! HTTP framing itself.

mod audit;
mod blob;
mod error;
pub mod gate;
mod image;
mod manifest;
mod placeholder;
mod tags;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use tracing::{field::Empty, Instrument};

pub use error::ProxyError;
pub use gate::{Gate, Subject};
pub use image::{AdmittedImage, ImageVerdict};
pub use placeholder::{Placeholder, PLACEHOLDER_MEDIA_TYPE};

use crate::cache::Caches;
use crate::config::{BlobMode, Config, HeadDenials};
use crate::metrics::Metrics;
use crate::policy::{DecisionTtls, PolicySet};
use crate::respond::{self, ResponseBody};
use crate::route::{ReadMethod, Route, Router, Target};
use crate::upstream::{Upstream, Upstreams};

/// Shared state of a running signgate.
pub struct App {
    /// The local store of admitted content, if configured.
    store: Option<crate::store::Store>,
    router: Router,
    upstreams: Arc<Upstreams>,
    caches: Caches,
    gate: Gate,
    metrics: Arc<Metrics>,
    head_denials: HeadDenials,
    /// `head-denials: defer-to-get`: what each placeholder digest stands for.
    placeholders: placeholder::Placeholders,
}

impl App {
    /// Build the app from a validated config and the policies it names.
    pub fn new(config: &Config, policies: PolicySet) -> Result<App, String> {
        App::build(config, policies, None)
    }

    /// An offline app whose only source is an export directory, read
    /// through a read-only reader (`signgate mirror import`); it has no
    /// store of its own and writes nothing.
    pub fn over_export(
        config: &Config,
        policies: PolicySet,
        export: &crate::store::ExportReader,
    ) -> Result<App, String> {
        App::build(config, policies, Some(export))
    }

    fn build(
        config: &Config,
        policies: PolicySet,
        export: Option<&crate::store::ExportReader>,
    ) -> Result<App, String> {
        for u in config.upstreams.iter().filter(|u| u.insecure) {
            tracing::warn!(upstream = %u.name, url = %u.url, "upstream is insecure: plain HTTP or unverified TLS");
        }
        if config.blobs == BlobMode::Passthrough {
            tracing::warn!("blobs: passthrough: blobs are served without an admitted manifest");
        }
        let metrics = Arc::new(Metrics::new());
        let store = match (&config.store, export) {
            (None, _) | (_, Some(_)) => None,
            (Some(s), None) => Some(
                crate::store::Store::open(&s.path, s.budget_bytes)
                    .map_err(|e| format!("store {}: {e}", s.path.display()))?,
            ),
        };
        if config.mode == crate::config::Mode::Offline {
            tracing::info!("offline mode: no upstream is contacted; the local store answers");
        }
        let upstreams = Arc::new(match export {
            Some(export) => Upstreams::over_export(config, metrics.clone(), export)?,
            None => Upstreams::with_store(config, metrics.clone(), store.as_ref())?,
        });
        let ttls = DecisionTtls {
            allow: config.cache.decision_ttl,
            deny: config.cache.denial_ttl,
        };
        Ok(App {
            store,
            router: Router::new(&config.upstreams),
            upstreams: upstreams.clone(),
            caches: Caches::new(
                config.cache.manifest_bytes,
                config.cache.tag_ttl,
                metrics.clone(),
            ),
            gate: Gate::new(
                policies,
                upstreams,
                ttls,
                config.blobs == BlobMode::Strict,
                metrics.clone(),
            ),
            metrics,
            head_denials: config.head_denials,
            placeholders: placeholder::Placeholders::new().map_err(|e| e.to_string())?,
        })
    }

    /// The local store, if configured.
    pub fn store(&self) -> Option<&crate::store::Store> {
        self.store.as_ref()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Ready when upstreams are configured. An `App` cannot exist without a
    /// validated config and policy set, and a failed reload keeps the
    /// previous set in force, so there is nothing else to wait for.
    pub fn readiness(&self) -> Result<(), String> {
        if self.upstreams.is_empty() {
            return Err("no upstream configured".into());
        }
        Ok(())
    }

    /// `signgate verify --explain`: what the gate sees for `name@digest`
    /// (`name` as a client would send it, registry prefix included).
    pub async fn explain(
        &self,
        name: &str,
        digest: &crate::oci::Digest,
    ) -> Result<crate::policy::explain::Explanation, ProxyError> {
        let path = format!("/v2/{name}/manifests/{digest}");
        let (_, route) = self.router.route(&http::Method::GET, &path, None)?;
        let Route::Manifest { target, .. } = route else {
            return Err(ProxyError::Internal("not a manifest route".into()));
        };
        let upstream = self.upstream(&target)?;
        Ok(self
            .gate
            .explain(target.upstream, upstream.name(), &target.repository, digest)
            .await)
    }

    /// Replace the policy set (a reload); cached decisions retire with it.
    pub fn replace_policies(&self, policies: PolicySet) {
        self.gate.replace_policies(policies);
    }

    /// Answer one request. Never fails: errors become OCI error responses.
    pub async fn handle<B>(
        &self,
        request: Request<B>,
        client: Option<SocketAddr>,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let (parts, _body) = request.into_parts();
        let span = tracing::info_span!(
            "request",
            method = %parts.method,
            path = parts.uri.path(),
            client = client.map(tracing::field::display),
            upstream = Empty,
            repository = Empty,
            reference = Empty,
            digest = Empty,
        );
        async move {
            let head = parts.method == http::Method::HEAD;
            let mut route = "invalid";
            let response = match self.dispatch(&parts, client, &mut route).await {
                Ok(response) => response,
                Err(e) => {
                    match &e {
                        ProxyError::Internal(detail) => {
                            tracing::error!(error = %detail, "internal error")
                        }
                        other => tracing::warn!(error = %other, "request failed"),
                    }
                    e.response(head)
                }
            };
            self.metrics.request(route, response.status().as_u16());
            tracing::info!(
                status = response.status().as_u16(),
                duration_us = started.elapsed().as_micros() as u64,
                "request"
            );
            response
        }
        .instrument(span)
        .await
    }

    async fn dispatch(
        &self,
        parts: &http::request::Parts,
        client: Option<SocketAddr>,
        route_kind: &mut &'static str,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let (method, route) =
            self.router
                .route(&parts.method, parts.uri.path(), parts.uri.query())?;
        let head = method == ReadMethod::Head;
        *route_kind = match &route {
            Route::ApiBase => "api_base",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::TagsList { .. } => "tags_list",
            Route::Referrers { .. } => "referrers",
        };
        match route {
            Route::ApiBase => Ok(respond::api_base(head)),
            Route::Manifest { target, reference } => {
                let span = tracing::Span::current();
                span.record("reference", reference.as_str());
                self.manifest(method, &target, &reference, &parts.headers, client)
                    .await
            }
            Route::Blob { target, digest } => {
                tracing::Span::current().record("digest", digest.as_str());
                self.blob(method, &target, &digest, &parts.headers).await
            }
            Route::TagsList { target, n, last } => {
                self.tags_list(head, &target, n, last.as_ref()).await
            }
            Route::Referrers {
                target,
                digest,
                artifact_type,
            } => {
                self.referrers(head, &target, &digest, artifact_type.as_deref())
                    .await
            }
        }
    }

    /// The upstream a routed target names (the router only routes to
    /// configured upstreams, so a miss is an internal error).
    fn upstream(&self, target: &Target) -> Result<&Arc<Upstream>, ProxyError> {
        let upstream = self.upstreams.get(target.upstream).ok_or_else(|| {
            ProxyError::Internal(format!("no upstream with index {}", target.upstream.0))
        })?;
        let span = tracing::Span::current();
        span.record("upstream", upstream.name().as_str());
        span.record("repository", target.repository.as_str());
        Ok(upstream)
    }
}
