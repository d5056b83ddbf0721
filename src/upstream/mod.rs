//! Talking to upstream registries: pooled clients, authentication, tag →
//! digest resolution, digest-checked manifest fetches, streamed blobs, tag
//! lists and referrers — and the local store answering in a registry's
//! place when it cannot be reached.
//!
//! The whole public surface is here; each concern has its file:
//! `request` (sending, credentials, status and body errors), `auth`,
//! `client`, `body` (bounded reads, streamed blobs), `error`, `manifest`,
//! `blob`, `tags`, `referrers`, `link` (the one `Link` parser), `fallback`
//! (the store as a decorator of the registry client) and `keep` (what is
//! kept in the store, and when).
//!
//! Architecture invariant: this module never verifies signatures, never
//! consults policy and never touches the caches; it answers "what does the
//! upstream say", with every read bounded in size and time.

mod auth;
mod blob;
mod body;
mod client;
mod error;
mod fallback;
mod keep;
mod link;
mod manifest;
mod referrers;
mod request;
mod tags;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Response};
use hyper::body::Incoming;

pub use body::{BlobBody, StreamError};
pub(crate) use client::system_roots;
pub use error::{Resource, UpstreamError, UpstreamErrorKind};
pub use referrers::Referrers;
pub use tags::pagination_query;

use self::fallback::{Fallback, Local};
use self::request::Remote;
use crate::config::{Config, Mode, UpstreamConfig};
use crate::metrics::Metrics;
use crate::oci::{Descriptor, Digest, Manifest, RegistryName, Repository, Tag};
use crate::route::UpstreamId;
use crate::store::{ExportReader, Keeper, Store};

/// Every configured upstream, indexed by [`UpstreamId`].
pub struct Upstreams {
    list: Vec<Arc<Upstream>>,
}

/// One configured registry: the registry client, and the local store
/// behind it (kept content, and the answers when the upstream cannot be
/// reached or must not be, offline).
pub struct Upstream {
    remote: Remote,
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

// === impl Upstreams ===

impl Upstreams {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Upstreams, String> {
        Upstreams::with_store(config, metrics, None)
    }

    /// Upstreams backed by a local store (`store:` in the config).
    pub fn with_store(
        config: &Config,
        metrics: Arc<Metrics>,
        store: Option<&Store>,
    ) -> Result<Upstreams, String> {
        let offline = config.mode == Mode::Offline;
        Upstreams::build(config, metrics, |u| {
            store.map(|store| Local::over_store(store.clone(), u.store, offline))
        })
    }

    /// Upstreams that answer only from an export directory, never
    /// contacting anything and never writing: `signgate mirror import`
    /// verifies an export with the site's policies through these.
    pub fn over_export(
        config: &Config,
        metrics: Arc<Metrics>,
        export: &ExportReader,
    ) -> Result<Upstreams, String> {
        Upstreams::build(config, metrics, |_| Some(Local::over_export(export)))
    }

    fn build(
        config: &Config,
        metrics: Arc<Metrics>,
        local: impl Fn(&UpstreamConfig) -> Option<Local>,
    ) -> Result<Upstreams, String> {
        let mut list = Vec::with_capacity(config.upstreams.len());
        for u in &config.upstreams {
            let local = local(u);
            let offline = local.as_ref().is_some_and(Local::is_offline);
            let remote = Remote::new(u, &config.timeouts, metrics.clone(), offline)?;
            list.push(Arc::new(Upstream { remote, local }));
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
            .position(|u| u.name() == name)
            .map(UpstreamId)
    }
}

// === impl Upstream ===

impl Upstream {
    pub fn name(&self) -> &RegistryName {
        &self.remote.name
    }

    /// Whether this upstream is never contacted.
    pub fn is_offline(&self) -> bool {
        self.local.as_ref().is_some_and(Local::is_offline)
    }

    /// signgate's own store behind this upstream, if any (not an export
    /// being imported).
    pub fn store(&self) -> Option<&Store> {
        self.local.as_ref().and_then(Local::store)
    }

    pub fn idle_timeout(&self) -> Duration {
        self.remote.timeouts.idle
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.remote.metrics
    }

    /// The registry, with the store answering when it cannot be asked.
    fn fallback(&self) -> Fallback<'_> {
        Fallback {
            remote: &self.remote,
            local: self.local.as_ref(),
        }
    }

    /// Resolve a tag: the upstream's answer, or the last verified mapping.
    pub async fn resolve_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Resolved, UpstreamError> {
        self.fallback().resolve_tag(repository, tag, accept).await
    }

    /// Fetch a manifest by digest (≤ 4 MiB, bytes hashed).
    pub async fn fetch_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
        accept: &HeaderValue,
    ) -> Result<Manifest, UpstreamError> {
        self.fallback()
            .fetch_manifest(repository, digest, accept)
            .await
    }

    /// Fetch a manifest by tag; `None` when the tag does not exist. Used for
    /// signature tags (`.sig`, `.att`, the referrers tag schema), which are
    /// kept under their tag, once their subject is admitted, so discovery
    /// works from the store alone.
    pub async fn fetch_tagged_manifest(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Option<Manifest>, UpstreamError> {
        self.fallback()
            .fetch_tagged_manifest(repository, tag, accept)
            .await
    }

    /// Fetch a small blob whole (signature payloads, bundles), digest-checked.
    pub async fn fetch_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, UpstreamError> {
        self.fallback().fetch_blob(repository, digest, limit).await
    }

    /// Every referrer descriptor of `digest`, for signature discovery.
    pub async fn referrer_descriptors(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Vec<Descriptor>, UpstreamError> {
        self.fallback()
            .referrer_descriptors(repository, digest)
            .await
    }

    /// A whole blob from the store, for streaming, when the upstream is
    /// offline or unreachable.
    pub async fn stored_blob(&self, digest: &Digest) -> Option<(tokio::fs::File, u64)> {
        self.fallback().stored_blob(digest).await
    }

    /// The gate admitted `manifest` (named by `tag`, or by digest): keep it
    /// and the signature material held for it.
    pub async fn remember_admitted(
        &self,
        repository: &Repository,
        tag: Option<&Tag>,
        manifest: &Manifest,
    ) {
        self.fallback()
            .remember_admitted(repository, tag, manifest)
            .await
    }

    /// A keeper for `digest`, if this upstream keeps content and the store
    /// lacks it.
    pub async fn blob_keeper(&self, digest: &Digest) -> Option<Keeper> {
        self.fallback().blob_keeper(digest)
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
        self.remote.blob(repository, digest, method, range).await
    }

    /// One page of `GET /v2/<name>/tags/list`.
    pub async fn tags_list(
        &self,
        repository: &Repository,
        n: Option<u32>,
        last: Option<&Tag>,
    ) -> Result<TagsPage, UpstreamError> {
        self.remote.tags_list(repository, n, last).await
    }

    /// The referrers index a client asked for (`artifactType`-filtered).
    pub async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, UpstreamError> {
        self.remote
            .referrers(repository, digest, artifact_type)
            .await
    }
}
