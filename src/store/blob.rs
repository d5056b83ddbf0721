//! Blobs in and out: whole-buffer puts, streamed writes, verified reads.
//!
//! Every write goes to a fresh file under `tmp/`, is hashed as it goes,
//! and is renamed to `blobs/<algorithm>/<hex>` only if the hash matches and
//! after an fsync; the directory is fsynced after the rename. Writers of one
//! digest take its lock in `inflight` first and re-check the disk under it,
//! so the second of two concurrent pulls finds the blob present and writes
//! nothing.

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::error::StoreError;
use super::inflight::DigestGuard;
use super::layout::{publish, write_durably};
use super::Store;
use crate::oci::{Digest, DigestHasher};

/// Buffers up to this size are hashed on the async thread; larger ones on
/// the blocking pool, so a big put does not stall other tasks.
const INLINE_HASH_LIMIT: usize = 256 * 1024;

/// What a successful write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// This call wrote the blob.
    Written,
    /// The blob was already stored (possibly by a concurrent writer this
    /// call waited for); nothing was written.
    AlreadyPresent,
}

/// A streamed write of one blob. Hashes everything written; `commit`
/// publishes it only if the hash is the digest. Dropping it without
/// committing (an abandoned transfer) deletes the temp file.
pub struct BlobWriter {
    store: Store,
    digest: Digest,
    hasher: DigestHasher,
    written: u64,
    /// `None` when the blob was already stored: the bytes are still hashed
    /// (so `commit` can report a bad stream) but not written.
    temp: Option<TempBlob>,
}

struct TempBlob {
    file: tokio::fs::File,
    path: PathBuf,
    /// Held until commit or drop: concurrent writers of this digest wait.
    _guard: DigestGuard,
}

impl Store {
    /// Store `bytes` as `digest`, after checking that they hash to it.
    /// Idempotent: storing a present blob writes nothing.
    pub async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> Result<PutOutcome, StoreError> {
        let actual = if bytes.len() <= INLINE_HASH_LIMIT {
            digest.recompute(&bytes)
        } else {
            let (expected, shared) = (digest.clone(), bytes.clone());
            tokio::task::spawn_blocking(move || expected.recompute(&shared)).await?
        };
        if &actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let _guard = self.inner.in_flight.lock(digest).await;
        if self.on_disk(digest).await? {
            self.accounting().touch(digest);
            return Ok(PutOutcome::AlreadyPresent);
        }
        let tmp = self.inner.layout.temp_path("blob");
        let dest = self.blob_path(digest);
        let size = bytes.len() as u64;
        let target = dest.clone();
        tokio::task::spawn_blocking(move || write_durably(&tmp, &target, &bytes))
            .await?
            .map_err(StoreError::io("write blob", dest))?;
        self.accounting().insert(digest, size);
        Ok(PutOutcome::Written)
    }

    /// Start a streamed write of `digest`. Waits while another writer of
    /// the same digest is active; if that one (or anyone earlier) stored
    /// it, the returned writer only hashes ([`BlobWriter::is_writing`] is
    /// false). Do not hold two writers of one digest in the same task.
    pub async fn blob_writer(&self, digest: &Digest) -> Result<BlobWriter, StoreError> {
        let guard = self.inner.in_flight.lock(digest).await;
        let temp = if self.on_disk(digest).await? {
            self.accounting().touch(digest);
            None
        } else {
            let path = self.inner.layout.temp_path("blob");
            let file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
                .map_err(StoreError::io("create", &path))?;
            Some(TempBlob {
                file,
                path,
                _guard: guard,
            })
        };
        Ok(BlobWriter {
            store: self.clone(),
            digest: digest.clone(),
            hasher: DigestHasher::new(digest.algorithm()),
            written: 0,
            temp,
        })
    }

    /// A whole blob, re-hashed before it is returned: meant for manifests,
    /// configs and signature payloads, where hashing is cheap. A blob that
    /// no longer matches its name is an error (and is removed), never bytes.
    pub async fn get_blob(&self, digest: &Digest) -> Result<Option<Bytes>, StoreError> {
        let bytes = self.read_verified(digest).await?;
        if bytes.is_some() {
            self.accounting().touch(digest);
        }
        Ok(bytes)
    }

    /// A stored blob opened for streaming, with its size. Not re-hashed:
    /// it was hashed when written, and layers can be gigabytes.
    pub async fn open_blob(
        &self,
        digest: &Digest,
    ) -> Result<Option<(tokio::fs::File, u64)>, StoreError> {
        let path = self.blob_path(digest);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.accounting().remove(digest);
                return Ok(None);
            }
            Err(e) => return Err(StoreError::io("open", path)(e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(StoreError::io("stat", &path))?
            .len();
        self.accounting().touch(digest);
        Ok(Some((file, size)))
    }

    /// Whether the store holds `digest` (from memory, no disk access).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.accounting().size(digest).is_some()
    }

    /// The stored size of `digest` (from memory, no disk access).
    pub fn blob_size(&self, digest: &Digest) -> Option<u64> {
        self.accounting().size(digest)
    }

    /// Read and re-hash a blob without counting it as a use (GC reads
    /// manifests this way). A mismatch removes the file and is an error.
    pub(super) async fn read_verified(&self, digest: &Digest) -> Result<Option<Bytes>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.accounting().remove(digest);
                return Ok(None);
            }
            Err(e) => return Err(StoreError::io("read", path)(e)),
        };
        let actual = digest.recompute(&bytes);
        if &actual == digest {
            return Ok(Some(Bytes::from(bytes)));
        }
        self.remove_corrupt(digest).await?;
        Err(StoreError::Corrupt {
            digest: digest.clone(),
            actual,
        })
    }

    /// Remove a blob found corrupt, unless a writer replaced it meanwhile:
    /// under the digest's lock no one can, so re-check there first. If the
    /// digest is busy the file is left for the next read to deal with:
    /// waiting here could deadlock GC (which calls this holding the index
    /// lock) against a writer about to record a tag.
    async fn remove_corrupt(&self, digest: &Digest) -> Result<(), StoreError> {
        let Some(_guard) = self.inner.in_flight.try_lock(digest) else {
            return Ok(());
        };
        let path = self.blob_path(digest);
        let still_bad = match tokio::fs::read(&path).await {
            Ok(bytes) => &digest.recompute(&bytes) != digest,
            Err(_) => false,
        };
        if still_bad {
            tracing::warn!(%digest, "store: removing a blob that no longer matches its digest");
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", path)(e)),
            }
            self.accounting().remove(digest);
        }
        Ok(())
    }

    /// Whether `digest`'s file exists, keeping accounting in step with the
    /// disk. Called under the digest's lock.
    async fn on_disk(&self, digest: &Digest) -> Result<bool, StoreError> {
        let path = self.blob_path(digest);
        match tokio::fs::metadata(&path).await {
            Ok(meta) => {
                if !self.has_blob(digest) {
                    self.accounting().insert(digest, meta.len());
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.accounting().remove(digest);
                Ok(false)
            }
            Err(e) => Err(StoreError::io("stat", path)(e)),
        }
    }
}

impl BlobWriter {
    /// False when the blob was already stored and this writer only hashes.
    pub fn is_writing(&self) -> bool {
        self.temp.is_some()
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(chunk);
        self.written += chunk.len() as u64;
        if let Some(temp) = &mut self.temp {
            temp.file
                .write_all(chunk)
                .await
                .map_err(StoreError::io("write", &temp.path))?;
        }
        Ok(())
    }

    /// Check the digest of everything written and, if it matches, publish
    /// the blob durably. On mismatch nothing is stored and the temp file is
    /// gone.
    pub async fn commit(mut self) -> Result<PutOutcome, StoreError> {
        let hasher =
            std::mem::replace(&mut self.hasher, DigestHasher::new(self.digest.algorithm()));
        let actual = hasher.finish();
        let temp = self.temp.take();
        if actual != self.digest {
            if let Some(temp) = temp {
                drop(temp.file);
                let _ = tokio::fs::remove_file(&temp.path).await;
            }
            return Err(StoreError::DigestMismatch {
                expected: self.digest.clone(),
                actual,
            });
        }
        let Some(TempBlob {
            mut file,
            path,
            _guard,
        }) = temp
        else {
            self.store.accounting().touch(&self.digest);
            return Ok(PutOutcome::AlreadyPresent);
        };
        let dest = self.store.blob_path(&self.digest);
        let synced = async {
            file.flush().await?;
            file.sync_all().await
        }
        .await;
        drop(file);
        if let Err(e) = synced {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(StoreError::io("sync", path)(e));
        }
        let target = dest.clone();
        tokio::task::spawn_blocking(move || publish(&path, &target))
            .await?
            .map_err(StoreError::io("publish blob", dest))?;
        self.store.accounting().insert(&self.digest, self.written);
        Ok(PutOutcome::Written)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // An abandoned transfer: the partial file must not outlive it. A
        // synchronous unlink is a single cheap syscall.
        if let Some(temp) = self.temp.take() {
            drop(temp.file);
            let _ = std::fs::remove_file(&temp.path);
        }
    }
}
