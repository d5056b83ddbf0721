//! The local store behind an upstream: what was fetched is kept
//! (digest-checked, content-addressed), and when the upstream cannot be
//! reached — or must not be, offline — the store answers in its place.
//!
//! Only bytes come from here, never verdicts: a manifest read from the
//! store goes through the gate like any other, and the gate re-verifies it
//! from signature material that was also kept here. A tag answered from the
//! store is the last mapping signgate recorded after admitting the image.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use http_body::{Body, Frame};
use serde_json::Value;
use tokio::io::AsyncRead;

use super::{Manifest, Resolved, Upstream, UpstreamError, UpstreamErrorKind};
use crate::oci::{Digest, Repository, Tag};
use crate::store::{Descriptor, Store};

/// An upstream's view of the store.
#[derive(Clone)]
pub struct Local {
    pub store: Store,
    /// Keep what this upstream serves (`upstreams[].store`).
    pub keep: bool,
    /// Never contact the upstream (`mode: offline`).
    pub offline: bool,
}

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

impl Upstream {
    /// Whether this upstream is never contacted.
    pub fn is_offline(&self) -> bool {
        self.local.as_ref().is_some_and(|l| l.offline)
    }

    /// The store behind this upstream, if any.
    pub fn store(&self) -> Option<&Store> {
        self.local.as_ref().map(|l| &l.store)
    }

    /// Remote first (unless offline); on an unreachable upstream, the
    /// store's answer if it has one, else the original error.
    async fn remote_or_local<T>(
        &self,
        what: &'static str,
        remote: impl std::future::Future<Output = Result<T, UpstreamError>>,
        local: impl std::future::Future<Output = Option<T>>,
    ) -> Result<T, UpstreamError> {
        let Some(l) = &self.local else {
            return remote.await;
        };
        if l.offline {
            return local
                .await
                .ok_or_else(|| self.error(UpstreamErrorKind::NotFound(what)));
        }
        match remote.await {
            Err(e) if e.is_unreachable() => match local.await {
                Some(found) => {
                    tracing::warn!(upstream = %self.name, error = %e, what, "upstream unreachable: answered from the local store");
                    Ok(found)
                }
                None => Err(e),
            },
            other => other,
        }
    }

    /// Resolve a tag: the upstream's answer, or the last verified mapping.
    pub async fn resolve_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Resolved, UpstreamError> {
        self.remote_or_local(
            "tag in the local store",
            self.resolve_tag_remote(repository, tag, accept),
            async {
                let store = self.store()?;
                let d = store.resolve_tag(&self.name, repository, tag)?;
                Some(Resolved::Stored(d.digest))
            },
        )
        .await
    }

    /// Fetch a manifest by digest (≤ 4 MiB, bytes hashed).
    pub async fn fetch_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
        accept: &HeaderValue,
    ) -> Result<Manifest, UpstreamError> {
        let found = self
            .remote_or_local(
                "manifest in the local store",
                async {
                    let m = self
                        .fetch_manifest_remote(repository, digest, accept)
                        .await?;
                    self.keep(m.digest(), m.bytes()).await;
                    Ok(m)
                },
                self.stored_manifest(digest),
            )
            .await?;
        Ok(found)
    }

    /// Fetch a manifest by tag; `None` when the tag does not exist. Used for
    /// signature tags (`.sig`, `.att`, the referrers tag schema), which are
    /// kept under their tag so discovery works from the store alone.
    pub async fn fetch_tagged_manifest(
        &self,
        repository: &Repository,
        tag: &Tag,
        accept: &HeaderValue,
    ) -> Result<Option<Manifest>, UpstreamError> {
        self.remote_or_local(
            "tag in the local store",
            async {
                let m = self
                    .fetch_tagged_manifest_remote(repository, tag, accept)
                    .await?;
                if let Some(m) = &m {
                    self.keep_tagged(repository, tag, m).await;
                }
                Ok(m)
            },
            async {
                let store = self.store()?;
                let d = store.resolve_tag(&self.name, repository, tag);
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
    pub async fn fetch_blob(
        &self,
        repository: &Repository,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, UpstreamError> {
        self.remote_or_local(
            "blob in the local store",
            async {
                let b = self.fetch_blob_remote(repository, digest, limit).await?;
                self.keep(digest, &b).await;
                Ok(b)
            },
            async {
                let store = self.store()?;
                let b = store.get_blob(digest).await.ok().flatten()?;
                (b.len() <= limit).then_some(b)
            },
        )
        .await
    }

    /// Every referrer descriptor of `digest`. What the upstream answered is
    /// kept as a referrers-tag-schema index, which is what the store answers.
    pub async fn referrer_descriptors(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Vec<Value>, UpstreamError> {
        let tag: Option<Tag> = digest.to_tag_form().parse().ok();
        self.remote_or_local(
            "referrers in the local store",
            async {
                let found = self.referrer_descriptors_remote(repository, digest).await?;
                if let (Some(tag), false) = (&tag, found.is_empty()) {
                    let index = serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": INDEX_MEDIA_TYPE,
                        "manifests": found,
                    });
                    if let Ok(bytes) = serde_json::to_vec(&index) {
                        let bytes = Bytes::from(bytes);
                        let digest = Digest::sha256_of(&bytes);
                        if let Ok(m) = Manifest::from_upstream(
                            Some(&digest),
                            Some(&HeaderValue::from_static(INDEX_MEDIA_TYPE)),
                            bytes,
                        ) {
                            self.keep_tagged(repository, tag, &m).await;
                        }
                    }
                }
                Ok(found)
            },
            async {
                let store = self.store()?;
                let Some(d) = tag
                    .as_ref()
                    .and_then(|t| store.resolve_tag(&self.name, repository, t))
                else {
                    return Some(Vec::new());
                };
                let m = self.stored_manifest(&d.digest).await?;
                super::referrers::read_referrers_index(m.bytes()).ok()
            },
        )
        .await
    }

    /// A whole blob from the store, for streaming, when the upstream is
    /// offline or unreachable.
    pub async fn stored_blob(&self, digest: &Digest) -> Option<(tokio::fs::File, u64)> {
        let store = self.store()?;
        match store.open_blob(digest).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(%digest, error = %e, "stored blob unreadable");
                None
            }
        }
    }

    /// Record `repository:tag` → `manifest` after the gate admitted it:
    /// the last verified mapping, answered when the upstream is unreachable.
    pub async fn remember_admitted(
        &self,
        repository: &Repository,
        tag: Option<&Tag>,
        manifest: &Manifest,
    ) {
        let Some(l) = self.local.as_ref().filter(|l| l.keep && !l.offline) else {
            return;
        };
        // Already recorded (every later pull of the image): no index.json
        // rewrite, no fsync, on the request path.
        let current = match tag {
            Some(tag) => l.store.resolve_tag(&self.name, repository, tag),
            None => l.store.retained(&self.name, repository, manifest.digest()),
        };
        if current.is_some_and(|d| &d.digest == manifest.digest()) {
            return;
        }
        self.keep(manifest.digest(), manifest.bytes()).await;
        let descriptor = descriptor(manifest);
        let result = match tag {
            Some(tag) => {
                l.store
                    .set_tag(&self.name, repository, tag, descriptor)
                    .await
            }
            None => l.store.retain(&self.name, repository, descriptor).await,
        };
        if let Err(e) = result {
            tracing::warn!(upstream = %self.name, %repository, error = %e, "could not record the admitted manifest in the store");
        }
    }

    /// A stored manifest, hashed again on the way out.
    async fn stored_manifest(&self, digest: &Digest) -> Option<Manifest> {
        let store = self.store()?;
        let bytes = store.get_blob(digest).await.ok().flatten()?;
        Manifest::from_upstream(Some(digest), None, bytes)
            .ok()
            .map(Manifest::from_store)
    }

    /// Keep digest-checked bytes, best effort (a full disk must not fail a
    /// pull).
    async fn keep(&self, digest: &Digest, bytes: &Bytes) {
        let Some(l) = self.local.as_ref().filter(|l| l.keep && !l.offline) else {
            return;
        };
        if l.store.has_blob(digest) {
            return;
        }
        if let Err(e) = l.store.put_blob(digest, bytes.clone()).await {
            tracing::warn!(%digest, error = %e, "could not keep a blob in the store");
        }
    }

    /// Keep a signature manifest under its tag, with the layers it names
    /// that were fetched (they are kept as they are fetched).
    async fn keep_tagged(&self, repository: &Repository, tag: &Tag, manifest: &Manifest) {
        let Some(l) = self.local.as_ref().filter(|l| l.keep && !l.offline) else {
            return;
        };
        self.keep(manifest.digest(), manifest.bytes()).await;
        if let Err(e) = l
            .store
            .set_tag(&self.name, repository, tag, descriptor(manifest))
            .await
        {
            tracing::warn!(%repository, %tag, error = %e, "could not keep a signature tag in the store");
        }
    }
}

fn descriptor(manifest: &Manifest) -> Descriptor {
    Descriptor {
        media_type: manifest
            .media_type()
            .to_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_owned(),
        digest: manifest.digest().clone(),
        size: manifest.bytes().len() as u64,
        annotations: Default::default(),
    }
}

/// Keeps a blob as it streams to a client: chunks go to a writer task over
/// a bounded channel; if the disk falls behind, the copy is abandoned rather
/// than the client slowed. The task commits only on `Done`, which the body
/// sends after the whole blob hashed to its digest (and the store checks
/// again); anything else leaves no file under the digest's name.
pub struct Keeper {
    tx: tokio::sync::mpsc::Sender<Keep>,
}

pub(super) enum Keep {
    Data(Bytes),
    Done,
}

/// Chunks buffered between the client's stream and the disk.
const KEEP_QUEUE: usize = 64;

impl Keeper {
    /// Pass a chunk on; false when the copy was abandoned.
    pub(super) fn chunk(&self, data: &Bytes) -> bool {
        self.tx.try_send(Keep::Data(data.clone())).is_ok()
    }

    /// The whole blob verified: publish it.
    pub(super) fn done(self) {
        let _ = self.tx.try_send(Keep::Done);
    }
}

impl Upstream {
    /// A keeper for `digest`, if this upstream keeps content and the store
    /// lacks it.
    pub async fn blob_keeper(&self, digest: &Digest) -> Option<Keeper> {
        let l = self.local.as_ref().filter(|l| l.keep && !l.offline)?;
        if l.store.has_blob(digest) {
            return None;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(KEEP_QUEUE);
        let store = l.store.clone();
        let digest = digest.clone();
        tokio::spawn(async move {
            let Ok(mut writer) = store.blob_writer(&digest).await else {
                return;
            };
            while let Some(keep) = rx.recv().await {
                match keep {
                    Keep::Data(data) => {
                        if writer.write(&data).await.is_err() {
                            return;
                        }
                    }
                    Keep::Done => {
                        if let Err(e) = writer.commit().await {
                            tracing::warn!(%digest, error = %e, "could not keep a blob in the store");
                        }
                        return;
                    }
                }
            }
            // The transfer ended early or failed: the writer's temp file
            // goes with it.
        });
        Some(Keeper { tx })
    }
}

/// A stored blob streamed from its file, in bounded chunks.
pub struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buffer: BytesMut,
}

const CHUNK: usize = 64 * 1024;

impl FileBody {
    pub fn new(file: tokio::fs::File, size: u64) -> FileBody {
        FileBody {
            file,
            remaining: size,
            buffer: BytesMut::with_capacity(CHUNK),
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        this.buffer.clear();
        this.buffer.resize(CHUNK.min(this.remaining as usize), 0);
        let mut read = tokio::io::ReadBuf::new(&mut this.buffer);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "stored blob is shorter than recorded",
                    ))));
                }
                this.remaining -= n as u64;
                let chunk = this.buffer.split_to(n).freeze();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}
