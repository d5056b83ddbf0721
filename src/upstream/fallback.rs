//! The local store behind an upstream, as a decorator of the registry
//! client: [`Fallback`] asks the registry first and, when it cannot be
//! reached — or must not be, offline — answers from the store in its place.
//!
//! Only bytes come from here, never verdicts: a manifest read from the
//! store goes through the gate like any other, and the gate re-verifies it
//! from signature material that was also kept here. A tag answered from the
//! store is the last mapping signgate recorded after admitting the image.
//! What the registry answered is held for the store on the way (`keep`).
//!
//! For `signgate mirror import`, the same offline answers come from an
//! export directory through a read-only [`ExportReader`] instead.

use std::future::Future;

use bytes::Bytes;
use http::HeaderValue;

use super::referrers::{index_bytes, read_referrers_index, Referrer};
use super::request::Remote;
use super::{Resolved, Resource, UpstreamError, UpstreamErrorKind};
use crate::oci::{self, Digest, Manifest, Repository, Tag, INDEX_MEDIA_TYPE, MAX_MANIFEST_BYTES};
use crate::store::{Descriptor, ExportReader, Store};

/// An upstream's view of the store.
#[derive(Clone)]
pub(super) struct Local {
    source: Source,
    /// Keep what this upstream serves (`upstreams[].store`).
    keep: bool,
    /// Never contact the upstream (`mode: offline`).
    offline: bool,
}

/// What the local side reads from.
#[derive(Clone)]
enum Source {
    /// signgate's own store: read, and written when keeping.
    Store(Store),
    /// An export being imported (`signgate mirror import`): read only,
    /// through the reader that refuses links, FIFOs and devices.
    Export(ExportReader),
}

impl Local {
    /// The store behind an upstream (`store:` in the config).
    pub(super) fn over_store(store: Store, keep: bool, offline: bool) -> Local {
        Local {
            source: Source::Store(store),
            keep,
            offline,
        }
    }

    /// An export directory: read only, and never contacting the upstream.
    pub(super) fn over_export(export: &ExportReader) -> Local {
        Local {
            source: Source::Export(export.clone()),
            keep: false,
            offline: true,
        }
    }

    /// Whether the upstream is never contacted.
    pub(super) fn is_offline(&self) -> bool {
        self.offline
    }

    /// signgate's own store (not an export being imported).
    pub(super) fn store(&self) -> Option<&Store> {
        match &self.source {
            Source::Store(store) => Some(store),
            Source::Export(_) => None,
        }
    }

    /// The store to write to, when this upstream keeps content.
    fn writable(&self) -> Option<&Store> {
        match &self.source {
            Source::Store(store) if self.keep && !self.offline => Some(store),
            _ => None,
        }
    }
}

impl Source {
    fn resolve_tag(
        &self,
        remote: &Remote,
        repository: &Repository,
        tag: &Tag,
    ) -> Option<Descriptor> {
        match self {
            Source::Store(store) => store.resolve_tag(&remote.name, repository, tag),
            Source::Export(export) => export.resolve_tag(&remote.name, repository, tag),
        }
    }

    /// A whole blob of at most `limit` bytes, re-hashed; a larger one is
    /// not read.
    async fn get_blob(&self, digest: &Digest, limit: usize) -> Option<Bytes> {
        let found = match self {
            Source::Store(store) => match store.blob_size(digest) {
                Some(size) if size <= limit as u64 => store.get_blob(digest).await,
                _ => Ok(None),
            },
            Source::Export(export) => match export.blob_size(digest) {
                Some(size) if size <= limit as u64 => export.get_blob(digest, limit as u64).await,
                _ => Ok(None),
            },
        };
        match found {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(%digest, error = %e, "stored blob unreadable");
                None
            }
        }
    }

    async fn open_blob(&self, digest: &Digest) -> Option<(tokio::fs::File, u64)> {
        let found = match self {
            Source::Store(store) => store.open_blob(digest).await,
            Source::Export(export) => export.open_blob(digest).await,
        };
        match found {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(%digest, error = %e, "stored blob unreadable");
                None
            }
        }
    }
}

/// The registry client with the store answering in its place: the same
/// questions as [`Remote`], and the same answers whenever it can be asked.
pub(super) struct Fallback<'a> {
    pub(super) remote: &'a Remote,
    pub(super) local: Option<&'a Local>,
}

impl Fallback<'_> {
    fn source(&self) -> Option<&Source> {
        self.local.map(|l| &l.source)
    }

    pub(super) fn writable(&self) -> Option<&Store> {
        self.local.and_then(Local::writable)
    }

    /// Remote first (unless offline); on an unreachable upstream, the
    /// store's answer if it has one, else the original error.
    async fn remote_or_local<T>(
        &self,
        what: Resource,
        remote: impl Future<Output = Result<T, UpstreamError>>,
        local: impl Future<Output = Option<T>>,
    ) -> Result<T, UpstreamError> {
        let Some(l) = self.local else {
            return remote.await;
        };
        if l.offline {
            return local.await.ok_or_else(|| {
                self.remote.error(UpstreamErrorKind::NotFound {
                    resource: what,
                    in_store: true,
                })
            });
        }
        match remote.await {
            Err(e) if e.is_unreachable() => match local.await {
                Some(found) => {
                    tracing::warn!(upstream = %self.remote.name, error = %e, what = what.as_str(), "upstream unreachable: answered from the local store");
                    Ok(found)
                }
                None => Err(e),
            },
            other => other,
        }
    }

    /// Resolve a tag: the upstream's answer, or the last verified mapping.
    pub(super) async fn resolve_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Resolved, UpstreamError> {
        self.remote_or_local(
            Resource::Tag,
            self.remote.resolve_tag(repository, tag, accept),
            async {
                let d = self.source()?.resolve_tag(self.remote, repository, tag)?;
                Some(Resolved::Stored(d.digest))
            },
        )
        .await
    }

    /// Fetch a manifest by digest (≤ 4 MiB, bytes hashed).
    pub(super) async fn fetch_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
        accept: &HeaderValue,
    ) -> Result<Manifest, UpstreamError> {
        self.remote_or_local(
            Resource::Manifest,
            async {
                let m = self
                    .remote
                    .fetch_manifest(repository, digest, accept)
                    .await?;
                self.hold_manifest(&m).await;
                Ok(m)
            },
            self.stored_manifest(digest),
        )
        .await
    }

    /// Fetch a manifest by tag; `None` when the tag does not exist.
    pub(super) async fn fetch_tagged_manifest(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Option<Manifest>, UpstreamError> {
        self.remote_or_local(
            Resource::Tag,
            async {
                let m = self
                    .remote
                    .fetch_tagged_manifest(repository, tag, accept)
                    .await?;
                if let Some(m) = &m {
                    self.hold_tagged(repository, tag, m);
                }
                Ok(m)
            },
            async {
                let d = self.source()?.resolve_tag(self.remote, repository, tag);
                match d {
                    Some(d) => self.stored_manifest(&d.digest).await.map(Some),
                    // Offline, a missing tag is "no such signature", as a
                    // registry's 404 would be.
                    None => Some(None),
                }
            },
        )
        .await
    }

    /// Fetch a small blob whole (signature payloads, bundles), digest-checked.
    pub(super) async fn fetch_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, UpstreamError> {
        self.remote_or_local(
            Resource::Blob,
            async {
                let b = self.remote.fetch_blob(repository, digest, limit).await?;
                self.hold_blob(digest, &b);
                Ok(b)
            },
            async { self.source()?.get_blob(digest, limit).await },
        )
        .await
    }

    /// Every referrer descriptor of `digest`. What the upstream answered is
    /// held as a referrers-tag-schema index (kept once `digest` is
    /// admitted), which is what the store answers.
    pub(super) async fn referrer_descriptors(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Vec<oci::Descriptor>, UpstreamError> {
        let tag: Option<Tag> = digest.to_tag_form().parse().ok();
        self.remote_or_local(
            Resource::Referrers,
            async {
                let found = self.remote.referrer_descriptors(repository, digest).await?;
                if let (Some(tag), false) = (&tag, found.is_empty()) {
                    if let Ok(bytes) = index_bytes(&found) {
                        let digest = Digest::sha256_of(&bytes);
                        if let Ok(m) = Manifest::from_upstream(
                            Some(&digest),
                            Some(&HeaderValue::from_static(INDEX_MEDIA_TYPE)),
                            bytes,
                        ) {
                            self.hold_tagged(repository, tag, &m);
                        }
                    }
                }
                Ok(descriptors(found))
            },
            async {
                let Some(d) = tag
                    .as_ref()
                    .and_then(|t| self.source()?.resolve_tag(self.remote, repository, t))
                else {
                    return Some(Vec::new());
                };
                let m = self.stored_manifest(&d.digest).await?;
                read_referrers_index(m.bytes()).ok().map(descriptors)
            },
        )
        .await
    }

    /// A whole blob from the store, for streaming, when the upstream is
    /// offline or unreachable.
    pub(super) async fn stored_blob(&self, digest: &Digest) -> Option<(tokio::fs::File, u64)> {
        self.source()?.open_blob(digest).await
    }

    /// A stored manifest, hashed again on the way out.
    async fn stored_manifest(&self, digest: &Digest) -> Option<Manifest> {
        let bytes = self.source()?.get_blob(digest, MAX_MANIFEST_BYTES).await?;
        Manifest::from_upstream(Some(digest), None, bytes)
            .ok()
            .map(Manifest::from_store)
    }
}

/// What discovery reads of a referrers list: the typed descriptors.
fn descriptors(list: Vec<Referrer>) -> Vec<oci::Descriptor> {
    list.into_iter().map(|r| r.descriptor).collect()
}
