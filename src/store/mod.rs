//! A verified, content-addressed local store: an OCI image layout on disk
//! (`oci-layout`, `index.json`, `blobs/<algorithm>/<hex>`), the foundation
//! for serving pulls without the upstream (air gap, edge).
//!
//! The guarantees, and where each is kept:
//! - A file exists under a digest's name only if its content hashes to that
//!   digest: content is hashed before it is published, and published by
//!   rename after an fsync (`layout`, `blob`); a blob streamed to a client
//!   is written as it passes and published only once it verified (`tee`).
//!   Reads of whole blobs re-hash (`get_blob`); streamed reads (`open_blob`,
//!   served as a `FileBody`) trust the write-time check.
//! - A crash leaves at most files under `tmp/`, removed on the next open.
//! - Concurrent writes of one digest write it once (`inflight`).
//! - GC never removes what an `index.json` root reaches (each root's
//!   manifest, recursively its children and subject, and their config and
//!   layer blobs: `gc`, `refs`) while the store is within its budget; over
//!   it, the least recently used roots go too (`budget`).
//! - Only what the gate admitted becomes a root. Signature material is
//!   held in memory per subject digest until the gate admits that digest
//!   (`pending`), then kept under its tag (cosign's `sha256-<hex>.sig` is
//!   simply a tag) marked as material of that digest, never as verified.
//! - An export someone else wrote is read through [`ExportReader`], which
//!   never writes and refuses links, FIFOs and devices (`reader`).
//!
//! One process owns a store directory at a time (opening it removes the
//! temp files of any other writer).

mod accounting;
mod blob;
mod budget;
mod error;
mod file_body;
mod gc;
mod index;
mod inflight;
mod layout;
mod material;
mod nofollow;
mod pending;
mod reader;
mod refs;
mod tee;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

pub use blob::{BlobWriter, PutOutcome};
pub use error::StoreError;
pub use file_body::FileBody;
pub use gc::GcReport;
pub use index::{
    material_subject, Descriptor, IndexEntry, RootRef, MATERIAL_OF_ANNOTATION, REF_NAME_ANNOTATION,
    VERIFIED_AT_ANNOTATION,
};
pub use pending::Material;
pub use reader::{parse_export_json, ExportDocument, ExportReader};
pub use refs::{references, ManifestRefs};
pub use tee::Keeper;

use self::accounting::Accounting;
use self::index::{Index, RootMark};
use self::inflight::InFlight;
use self::layout::{write_durably, Layout};
use self::pending::Pending;
use crate::oci::{Digest, Reference, RegistryName, Repository, Tag};

/// How a store is sized and collected.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// GC removes unreferenced blobs until the store holds at most this much.
    pub budget_bytes: u64,
    /// GC leaves alone blobs this process wrote or read more recently than
    /// this: a caller stores an image's blobs and manifest before it records
    /// the tag that makes them reachable, and GC must not win that race.
    pub gc_grace: Duration,
}

impl StoreOptions {
    const DEFAULT_GC_GRACE: Duration = Duration::from_secs(300);
}

/// A handle to one store directory. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    options: StoreOptions,
    accounting: Mutex<Accounting>,
    /// The current `index.json`, for lock-free-ish reads (never held across
    /// an `.await`); replaced whole after each durable rewrite.
    index: RwLock<Index>,
    /// Serialises `index.json` rewrites, and keeps roots fixed while GC runs.
    index_writer: tokio::sync::Mutex<()>,
    in_flight: InFlight,
    /// Signature material awaiting its subject's verdict (never held
    /// across an `.await`).
    pending: Mutex<Pending>,
}

impl Store {
    /// Open (creating if needed) the store at `dir`, with the default GC
    /// grace period.
    pub fn open(dir: &Path, budget_bytes: u64) -> Result<Store, StoreError> {
        Store::open_with(
            dir,
            StoreOptions {
                budget_bytes,
                gc_grace: StoreOptions::DEFAULT_GC_GRACE,
            },
        )
    }

    /// Create the layout where missing, remove a crashed writer's temp
    /// files, load `index.json` and rebuild size accounting from the disk.
    /// Blocking: call it at startup, not on the request path.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let layout = Layout::open(dir)?;
        let index = Index::load(&layout.index_path())?;
        let accounting = Accounting::from_scan(layout.scan()?);
        Ok(Store {
            inner: Arc::new(Inner {
                layout,
                options,
                accounting: Mutex::new(accounting),
                index: RwLock::new(index),
                index_writer: tokio::sync::Mutex::new(()),
                in_flight: InFlight::default(),
                pending: Mutex::new(Pending::default()),
            }),
        })
    }

    pub fn budget_bytes(&self) -> u64 {
        self.inner.options.budget_bytes
    }

    /// Total size of the blobs on disk.
    pub fn used_bytes(&self) -> u64 {
        self.accounting().used()
    }

    /// Mark a blob as just used, for GC's recency (a pull of an image whose
    /// manifest was served from memory).
    pub fn touch(&self, digest: &Digest) {
        self.accounting().touch(digest);
    }

    /// Record `registry/repository:tag` → `descriptor` in `index.json`,
    /// replacing an earlier value. The manifest must already be stored, with
    /// the descriptor's size; the caller records a tag only once the gate
    /// admitted the manifest (the time is kept as `dev.signgate.verified-at`).
    /// Signature material is recorded with [`Store::record_material`].
    pub async fn set_tag(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        tag: &Tag,
        descriptor: Descriptor,
    ) -> Result<(), StoreError> {
        let root = RootRef::Tag(registry.clone(), repository.clone(), tag.clone());
        self.record_roots(vec![(root, descriptor, verified_now())])
            .await
    }

    pub fn resolve_tag(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        tag: &Tag,
    ) -> Option<Descriptor> {
        let root = RootRef::Tag(registry.clone(), repository.clone(), tag.clone());
        self.index().get(&root)
    }

    /// Keep `descriptor`'s manifest (and all it references) as a root
    /// without a tag: images pulled by digest, referrers, signatures found
    /// through the referrers API.
    pub async fn retain(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        descriptor: Descriptor,
    ) -> Result<(), StoreError> {
        let root = RootRef::Digest(
            registry.clone(),
            repository.clone(),
            descriptor.digest.clone(),
        );
        self.record_roots(vec![(root, descriptor, verified_now())])
            .await
    }

    /// The descriptor recorded by [`Store::retain`] for this digest.
    pub fn retained(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        digest: &Digest,
    ) -> Option<Descriptor> {
        let root = RootRef::Digest(registry.clone(), repository.clone(), digest.clone());
        self.index().get(&root)
    }

    /// Drop a tag or a retained digest from `index.json`; whether it was
    /// there. Its content stays until [`Store::gc`] or
    /// [`Store::gc_unreferenced`] finds it unreachable.
    pub async fn forget(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        reference: &Reference,
    ) -> Result<bool, StoreError> {
        let root = match reference {
            Reference::Tag(tag) => RootRef::Tag(registry.clone(), repository.clone(), tag.clone()),
            Reference::Digest(digest) => {
                RootRef::Digest(registry.clone(), repository.clone(), digest.clone())
            }
        };
        self.update_index(|index| Ok(index.remove(&root))).await
    }

    /// Every root in `index.json`, with its annotations.
    pub fn roots(&self) -> Vec<Descriptor> {
        self.index().descriptors()
    }

    /// Record roots in one `index.json` rewrite; each manifest must be
    /// stored with its descriptor's size (checked under the writer lock, so
    /// GC cannot remove it in between). Nothing is recorded if one fails.
    async fn record_roots(
        &self,
        roots: Vec<(RootRef, Descriptor, RootMark)>,
    ) -> Result<(), StoreError> {
        let stored = |digest: &Digest| self.accounting().size(digest);
        self.update_index(move |index| {
            for (root, descriptor, mark) in roots {
                let digest = &descriptor.digest;
                match stored(digest) {
                    Some(size) if size == descriptor.size => {}
                    Some(size) => {
                        return Err(StoreError::BadRoot {
                            digest: digest.clone(),
                            reason: format!(
                                "stored size {size} but descriptor says {}",
                                descriptor.size
                            ),
                        })
                    }
                    None => {
                        return Err(StoreError::BadRoot {
                            digest: digest.clone(),
                            reason: "the manifest is not in the store".into(),
                        })
                    }
                }
                index.set(root, descriptor, mark);
            }
            Ok(())
        })
        .await
    }

    /// Apply `change` to a copy of the index, write it durably, then make it
    /// current. Checks inside `change` run under the writer lock, so GC (which
    /// holds it too) cannot remove what they just checked.
    async fn update_index<T>(
        &self,
        change: impl FnOnce(&mut Index) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _writer = self.inner.index_writer.lock().await;
        let mut next = self.index().clone();
        let out = change(&mut next)?;
        self.write_index(next).await?;
        Ok(out)
    }

    /// Write `next` durably as `index.json`, then make it current. The
    /// caller holds the index writer lock.
    async fn write_index(&self, next: Index) -> Result<(), StoreError> {
        let path = self.inner.layout.index_path();
        let json = next.to_json().map_err(|e| StoreError::InvalidLayout {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self.inner.layout.temp_path("index");
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_durably(&tmp, &target, &json))
            .await?
            .map_err(StoreError::io("write", path))?;
        *self
            .inner
            .index
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
        Ok(())
    }

    fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.inner
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn accounting(&self) -> MutexGuard<'_, Accounting> {
        self.inner
            .accounting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.inner.layout.blob_path(digest)
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The mark of a root the gate admitted just now.
fn verified_now() -> RootMark {
    RootMark::Verified(humantime::format_rfc3339_seconds(SystemTime::now()).to_string())
}
