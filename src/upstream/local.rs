//! The local store behind an upstream: what was fetched is kept
//! (digest-checked, content-addressed), and when the upstream cannot be
//! reached — or must not be, offline — the store answers in its place.
//!
//! Only bytes come from here, never verdicts: a manifest read from the
//! store goes through the gate like any other, and the gate re-verifies it
//! from signature material that was also kept here. A tag answered from the
//! store is the last mapping signgate recorded after admitting the image.
//!
//! Nothing is kept before the gate's verdict: signature material discovery
//! fetches (signature tags, referrer lists and manifests, payloads) and
//! fetched manifests are held in memory per subject digest by the store,
//! and written only when the proxy calls [`Upstream::remember_admitted`]
//! for that digest; what is never admitted ages out.
//!
//! For `signgate mirror import`, the same offline answers come from an
//! export directory through a read-only [`ExportReader`] instead.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use http_body::{Body, Frame};
use serde_json::Value;
use tokio::io::AsyncRead;

use super::{Manifest, Resolved, Resource, Upstream, UpstreamError, UpstreamErrorKind, Upstreams};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::oci::{Digest, Repository, Tag, MAX_MANIFEST_BYTES};
use crate::store::{material_subject, Descriptor, ExportReader, Material, Store};

/// An upstream's view of the store.
#[derive(Clone)]
pub struct Local {
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

const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

impl Local {
    /// The store behind an upstream (`store:` in the config).
    pub fn over_store(store: Store, keep: bool, offline: bool) -> Local {
        Local {
            source: Source::Store(store),
            keep,
            offline,
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

impl Upstreams {
    /// Upstreams that answer only from an export directory, never
    /// contacting anything and never writing: `signgate mirror import`
    /// verifies an export with the site's policies through these.
    pub fn over_export(
        config: &Config,
        metrics: Arc<Metrics>,
        export: &ExportReader,
    ) -> Result<Upstreams, String> {
        let mut list = Vec::with_capacity(config.upstreams.len());
        for u in &config.upstreams {
            let mut upstream = Upstream::new(u, &config.timeouts, metrics.clone())?;
            upstream.local = Some(Local {
                source: Source::Export(export.clone()),
                keep: false,
                offline: true,
            });
            list.push(Arc::new(upstream));
        }
        Ok(Upstreams { list })
    }
}

impl Source {
    fn resolve_tag(
        &self,
        upstream: &Upstream,
        repository: &Repository,
        tag: &Tag,
    ) -> Option<Descriptor> {
        match self {
            Source::Store(store) => store.resolve_tag(&upstream.name, repository, tag),
            Source::Export(export) => export.resolve_tag(&upstream.name, repository, tag),
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

impl Upstream {
    /// Whether this upstream is never contacted.
    pub fn is_offline(&self) -> bool {
        self.local.as_ref().is_some_and(|l| l.offline)
    }

    /// signgate's own store behind this upstream, if any (not an export
    /// being imported).
    pub fn store(&self) -> Option<&Store> {
        match self.local.as_ref().map(|l| &l.source) {
            Some(Source::Store(store)) => Some(store),
            _ => None,
        }
    }

    fn source(&self) -> Option<&Source> {
        self.local.as_ref().map(|l| &l.source)
    }

    fn writable(&self) -> Option<&Store> {
        self.local.as_ref().and_then(Local::writable)
    }

    /// Remote first (unless offline); on an unreachable upstream, the
    /// store's answer if it has one, else the original error.
    async fn remote_or_local<T>(
        &self,
        what: Resource,
        remote: impl std::future::Future<Output = Result<T, UpstreamError>>,
        local: impl std::future::Future<Output = Option<T>>,
    ) -> Result<T, UpstreamError> {
        let Some(l) = &self.local else {
            return remote.await;
        };
        if l.offline {
            return local.await.ok_or_else(|| {
                self.error(UpstreamErrorKind::NotFound {
                    resource: what,
                    in_store: true,
                })
            });
        }
        match remote.await {
            Err(e) if e.is_unreachable() => match local.await {
                Some(found) => {
                    tracing::warn!(upstream = %self.name, error = %e, what = what.as_str(), "upstream unreachable: answered from the local store");
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
            Resource::Tag,
            self.resolve_tag_remote(repository, tag, accept),
            async {
                let d = self.source()?.resolve_tag(self, repository, tag)?;
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
                Resource::Manifest,
                async {
                    let m = self
                        .fetch_manifest_remote(repository, digest, accept)
                        .await?;
                    self.hold_manifest(&m).await;
                    Ok(m)
                },
                self.stored_manifest(digest),
            )
            .await?;
        Ok(found)
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
        self.remote_or_local(
            Resource::Tag,
            async {
                let m = self
                    .fetch_tagged_manifest_remote(repository, tag, accept)
                    .await?;
                if let Some(m) = &m {
                    self.hold_tagged(repository, tag, m);
                }
                Ok(m)
            },
            async {
                let d = self.source()?.resolve_tag(self, repository, tag);
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
            Resource::Blob,
            async {
                let b = self.fetch_blob_remote(repository, digest, limit).await?;
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
    pub async fn referrer_descriptors(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<Vec<Value>, UpstreamError> {
        let tag: Option<Tag> = digest.to_tag_form().parse().ok();
        self.remote_or_local(
            Resource::Referrers,
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
                            self.hold_tagged(repository, tag, &m);
                        }
                    }
                }
                Ok(found)
            },
            async {
                let Some(d) = tag
                    .as_ref()
                    .and_then(|t| self.source()?.resolve_tag(self, repository, t))
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
        self.source()?.open_blob(digest).await
    }

    /// The gate admitted `manifest`: record `repository:tag` (or the
    /// digest) → it, the last verified mapping answered when the upstream
    /// is unreachable; then keep the signature material held for it, and
    /// for an index, the platform manifests it lists (now and as they are
    /// fetched).
    pub async fn remember_admitted(
        &self,
        repository: &Repository,
        tag: Option<&Tag>,
        manifest: &Manifest,
    ) {
        let Some(store) = self.writable() else {
            return;
        };
        // A signature tag a client pulled (cosign, podman verifying for
        // themselves) is not an image: never an admitted root, only
        // material of its subject, kept if that is admitted.
        if let Some(tag) = tag.filter(|t| material_subject(t.as_str()).is_some()) {
            self.hold_tagged(repository, tag, manifest);
            return;
        }
        let digest = manifest.digest();
        store.touch(digest);
        // Already recorded (every later pull of the image): no index.json
        // rewrite, no fsync, on the request path.
        let current = match tag {
            Some(tag) => store.resolve_tag(&self.name, repository, tag),
            None => store.retained(&self.name, repository, digest),
        };
        if current.is_none_or(|d| &d.digest != digest) {
            self.keep(digest, manifest.bytes()).await;
            let descriptor = descriptor(manifest);
            let result = match tag {
                Some(tag) => store.set_tag(&self.name, repository, tag, descriptor).await,
                None => store.retain(&self.name, repository, descriptor).await,
            };
            if let Err(e) = result {
                tracing::warn!(upstream = %self.name, %repository, error = %e, "could not record the admitted manifest in the store");
                return;
            }
        }
        commit(store, digest).await;
        let children = &manifest.references().children;
        if !children.is_empty() {
            store.expect_children(children.iter().cloned());
            for child in children {
                commit(store, child).await;
            }
        }
    }

    /// A stored manifest, hashed again on the way out.
    async fn stored_manifest(&self, digest: &Digest) -> Option<Manifest> {
        let bytes = self.source()?.get_blob(digest, MAX_MANIFEST_BYTES).await?;
        Manifest::from_upstream(Some(digest), None, bytes)
            .ok()
            .map(Manifest::from_store)
    }

    /// Keep digest-checked bytes now, best effort (a full disk must not
    /// fail a pull). Only for what the gate admitted.
    async fn keep(&self, digest: &Digest, bytes: &Bytes) {
        let Some(store) = self.writable() else {
            return;
        };
        if store.has_blob(digest) {
            return;
        }
        if let Err(e) = store.put_blob(digest, bytes.clone()).await {
            tracing::warn!(%digest, error = %e, "could not keep a blob in the store");
        }
    }

    /// A manifest fetched by digest, before any verdict on it: a referrer
    /// that held material names is that material; a platform manifest of an
    /// admitted index is kept now; anything else is held under its own
    /// digest until the gate admits it (or an index listing it).
    async fn hold_manifest(&self, m: &Manifest) {
        let Some(store) = self.writable() else {
            return;
        };
        let digest = m.digest();
        let subjects = store.material_subjects(digest);
        for subject in &subjects {
            store.expect_material(subject, m.references().blobs.iter().cloned());
            store.hold_material(subject, blob(m));
        }
        if !subjects.is_empty() {
            return;
        }
        if store.has_blob(digest) {
            store.touch(digest);
        } else if store.is_expected_child(digest) {
            self.keep(digest, m.bytes()).await;
        } else {
            store.hold_material(digest, blob(m));
        }
    }

    /// A signature manifest found under a tag named after its subject:
    /// held for that subject, with the blobs it names expected as its
    /// material. Tags not named after a digest are not kept.
    fn hold_tagged(&self, repository: &Repository, tag: &Tag, m: &Manifest) {
        let Some(store) = self.writable() else {
            return;
        };
        let Some(subject) = material_subject(tag.as_str()) else {
            return;
        };
        let refs = m.references();
        store.expect_material(&subject, refs.blobs.iter().chain(&refs.children).cloned());
        store.hold_material(
            &subject,
            Material::Tagged {
                registry: self.name.clone(),
                repository: repository.clone(),
                tag: tag.clone(),
                descriptor: descriptor(m),
                bytes: m.bytes().clone(),
            },
        );
    }

    /// A payload discovery fetched: held for the subjects whose material
    /// names it, and otherwise not kept.
    fn hold_blob(&self, digest: &Digest, bytes: &Bytes) {
        let Some(store) = self.writable() else {
            return;
        };
        for subject in store.material_subjects(digest) {
            store.hold_material(
                &subject,
                Material::Blob {
                    digest: digest.clone(),
                    bytes: bytes.clone(),
                },
            );
        }
    }
}

/// Write what was held for an admitted digest, best effort.
async fn commit(store: &Store, digest: &Digest) {
    if let Err(e) = store.commit_material(digest).await {
        tracing::warn!(%digest, error = %e, "could not keep signature material in the store");
    }
}

fn blob(m: &Manifest) -> Material {
    Material::Blob {
        digest: m.digest().clone(),
        bytes: m.bytes().clone(),
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
        let store = self.writable()?;
        if store.has_blob(digest) {
            store.touch(digest);
            return None;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(KEEP_QUEUE);
        let store = store.clone();
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
