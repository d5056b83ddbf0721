//! A read-only view of an OCI image layout signgate did not write: an
//! export directory handed to a site. Whoever wrote it is presumed hostile.
//!
//! - Nothing is ever created, written, renamed or removed under it (no
//!   `tmp/` handling, no `index.json` initialisation, unlike [`Store`]):
//!   read-only media work, and a link planted in it has nothing to redirect.
//! - Before anything is read, the whole tree is walked without following
//!   links; any entry that is not a directory or a regular file (symbolic
//!   link, FIFO, socket, device) refuses the export whole, naming each path.
//! - Every file is opened through `nofollow` (no link followed, no FIFO
//!   waited on, and only the very file the walk saw), and every read is
//!   bounded: the walk by entries and depth, `index.json` and `oci-layout`
//!   by size, whole blobs by the caller's limit, checked before reading.
//! - Whole blobs are re-hashed on every read; streamed ones by whoever
//!   consumes them (the site store's writer hashes again).
//!
//! [`Store`]: super::Store

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::StoreError;
use super::index::{Index, IndexEntry, RootRef};
use super::layout::{
    algorithm_name, check_layout_version, ALGORITHMS, BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE,
};
use super::nofollow::{lstat, odd_kind, open_checked, read_checked, FileId};
use super::Descriptor;
use crate::oci::{Digest, DigestHasher, RegistryName, Repository, Tag};

/// Entries (files and directories) an export may hold. An image is a few
/// dozen blobs; this is thousands of images.
const MAX_ENTRIES: usize = 200_000;
/// Directory depth below the export root (the layout itself needs 3).
const MAX_DEPTH: usize = 8;
/// `index.json` lists roots only; 16 MiB is some 50,000 of them.
const MAX_INDEX_BYTES: u64 = 16 * 1024 * 1024;
const MAX_LAYOUT_FILE_BYTES: u64 = 4096;
/// Odd entries named in one refusal; the count says if there were more.
const MAX_NAMED: usize = 32;
const HASH_CHUNK: usize = 256 * 1024;

/// Which JSON document of a layout is being read, for the one parsing
/// function below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportDocument {
    /// `oci-layout`.
    LayoutFile,
    /// `index.json`.
    Index,
    /// A manifest or index blob import interprets.
    Manifest,
}

/// The one place JSON read from an OCI layout on disk (an export's or the
/// store's own `index.json` and `oci-layout`, and every manifest import
/// interprets) becomes a typed value.
///
/// serde today. At merge, switch the body to the strict reader,
/// `crate::oci::json::read(bytes, Document::…)` (refusing duplicate keys and
/// keys that match a known field only under Go's case folding), then
/// deserialise: every caller goes through here.
pub fn parse_export_json<T: DeserializeOwned>(
    bytes: &[u8],
    document: ExportDocument,
) -> Result<T, String> {
    // An export is hostile input: read as strictly as an upstream manifest.
    crate::oci::json::read(bytes, crate::oci::json::Document::Manifest).map_err(|e| {
        let what = match document {
            ExportDocument::LayoutFile => "oci-layout",
            ExportDocument::Index => "index.json",
            ExportDocument::Manifest => "manifest",
        };
        format!("{what} is not valid: {e}")
    })
}

/// An export directory, checked and open for reading. Cheap to clone.
#[derive(Clone)]
pub struct ExportReader {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    blobs: HashMap<Digest, Blob>,
    index: Index,
}

struct Blob {
    path: PathBuf,
    id: FileId,
}

/// What the walk found.
#[derive(Default)]
struct Walk {
    files: HashMap<PathBuf, FileId>,
    odd: Vec<(PathBuf, &'static str)>,
    odd_count: usize,
    entries: usize,
}

impl ExportReader {
    /// Walk and check `dir`, then read its `oci-layout` and `index.json`.
    /// Blocking. `dir` itself must be a directory, not a link to one (pass
    /// the resolved path); nothing under it may be anything else than a
    /// directory or a regular file.
    pub fn open(dir: &Path) -> Result<ExportReader, StoreError> {
        let meta = lstat(dir).map_err(StoreError::io("stat", dir))?;
        if let Some(kind) = odd_kind(meta.file_type()) {
            return Err(StoreError::NotRegular {
                found: vec![(dir.to_path_buf(), kind)],
            });
        }
        if !meta.is_dir() {
            return Err(StoreError::InvalidLayout {
                path: dir.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        let mut walk = Walk::default();
        walk.dir(dir, Path::new(""), 0)?;
        if !walk.odd.is_empty() {
            if walk.odd_count > walk.odd.len() {
                let more = walk.odd_count - walk.odd.len();
                walk.odd
                    .push((dir.join(format!("… {more} more")), "such entry"));
            }
            return Err(StoreError::NotRegular { found: walk.odd });
        }
        let file = |name: &str, limit: u64| -> Result<Vec<u8>, StoreError> {
            let path = dir.join(name);
            let id = walk.files.get(Path::new(name)).copied().ok_or_else(|| {
                StoreError::InvalidLayout {
                    path: path.clone(),
                    reason: "missing: not an OCI layout export".into(),
                }
            })?;
            read_checked(&path, id, limit)
        };
        let layout_path = dir.join(OCI_LAYOUT_FILE);
        check_layout_version(&file(OCI_LAYOUT_FILE, MAX_LAYOUT_FILE_BYTES)?, &layout_path)?;
        let index = Index::parse(&file(INDEX_FILE, MAX_INDEX_BYTES)?, &dir.join(INDEX_FILE))?;
        let blobs = blobs(dir, &walk.files)?;
        Ok(ExportReader {
            inner: Arc::new(Inner {
                root: dir.to_path_buf(),
                blobs,
                index,
            }),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Every entry of the export's `index.json`.
    pub fn entries(&self) -> Vec<IndexEntry> {
        self.inner.index.entries()
    }

    /// The manifest the export's `index.json` records for a tag.
    pub fn resolve_tag(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        tag: &Tag,
    ) -> Option<Descriptor> {
        let root = RootRef::Tag(registry.clone(), repository.clone(), tag.clone());
        self.inner.index.get(&root)
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.inner.blobs.contains_key(digest)
    }

    /// The size the walk saw.
    pub fn blob_size(&self, digest: &Digest) -> Option<u64> {
        self.inner.blobs.get(digest).map(|b| b.id.size)
    }

    /// Where a blob lives, for messages.
    pub fn blob_path(&self, digest: &Digest) -> Option<&Path> {
        self.inner.blobs.get(digest).map(|b| b.path.as_path())
    }

    /// Every blob of the export.
    pub fn blob_digests(&self) -> Vec<Digest> {
        self.inner.blobs.keys().cloned().collect()
    }

    /// A whole blob of at most `limit` bytes, re-hashed; `None` when the
    /// export lacks it. Larger blobs are an error, and are not read.
    pub async fn get_blob(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>, StoreError> {
        let Some((path, id)) = self.locate(digest) else {
            return Ok(None);
        };
        let expected = digest.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = read_checked(&path, id, limit)?;
            let actual = expected.recompute(&bytes);
            if actual != expected {
                return Err(StoreError::Changed {
                    path,
                    reason: format!("it hashes to {actual}, not to its name"),
                });
            }
            Ok(Some(Bytes::from(bytes)))
        })
        .await?
    }

    /// A blob opened for streaming, with the size the walk saw. Not
    /// re-hashed here: the consumer hashes what it reads.
    pub async fn open_blob(
        &self,
        digest: &Digest,
    ) -> Result<Option<(tokio::fs::File, u64)>, StoreError> {
        let Some((path, id)) = self.locate(digest) else {
            return Ok(None);
        };
        let file = tokio::task::spawn_blocking(move || open_checked(&path, id)).await??;
        Ok(Some((tokio::fs::File::from_std(file), id.size)))
    }

    /// What a blob's content hashes to (reading exactly the size the walk
    /// saw); `None` when the export lacks it.
    pub async fn hash_blob(&self, digest: &Digest) -> Result<Option<Digest>, StoreError> {
        let Some((path, id)) = self.locate(digest) else {
            return Ok(None);
        };
        let algorithm = digest.algorithm();
        tokio::task::spawn_blocking(move || {
            let file = open_checked(&path, id)?;
            let mut hasher = DigestHasher::new(algorithm);
            let mut reader = file.take(id.size);
            let mut buffer = vec![0u8; HASH_CHUNK];
            let mut read = 0u64;
            loop {
                let n = reader
                    .read(&mut buffer)
                    .map_err(StoreError::io("read", &path))?;
                if n == 0 {
                    break;
                }
                read += n as u64;
                hasher.update(buffer.get(..n).unwrap_or_default());
            }
            if read != id.size {
                return Err(StoreError::Changed {
                    path,
                    reason: format!("{read} bytes read where {} were checked", id.size),
                });
            }
            Ok(Some(hasher.finish()))
        })
        .await?
    }

    fn locate(&self, digest: &Digest) -> Option<(PathBuf, FileId)> {
        self.inner.blobs.get(digest).map(|b| (b.path.clone(), b.id))
    }
}

impl Walk {
    /// Record every entry below `dir` (`rel` from the root), never
    /// following a link. Odd entries are collected, not fatal here, so one
    /// refusal can name them all.
    fn dir(&mut self, dir: &Path, rel: &Path, depth: usize) -> Result<(), StoreError> {
        let listing = std::fs::read_dir(dir).map_err(StoreError::io("read directory", dir))?;
        for entry in listing {
            let entry = entry.map_err(StoreError::io("read directory", dir))?;
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return Err(StoreError::InvalidLayout {
                    path: dir.to_path_buf(),
                    reason: format!("the export holds more than {MAX_ENTRIES} entries"),
                });
            }
            let path = entry.path();
            let rel = rel.join(entry.file_name());
            // DirEntry::metadata is an lstat: a link is reported as a link.
            let meta = entry.metadata().map_err(StoreError::io("stat", &path))?;
            if let Some(kind) = odd_kind(meta.file_type()) {
                self.odd_count += 1;
                if self.odd.len() < MAX_NAMED {
                    self.odd.push((path, kind));
                }
            } else if meta.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    return Err(StoreError::InvalidLayout {
                        path,
                        reason: format!("nested deeper than {MAX_DEPTH} directories"),
                    });
                }
                self.dir(&path, &rel, depth + 1)?;
                // Still the directory that was listed, not a link put there
                // while it was read.
                let after = lstat(&path).map_err(StoreError::io("stat", &path))?;
                if !after.is_dir() || FileId::of(&after) != FileId::of(&meta) {
                    return Err(StoreError::Changed {
                        path,
                        reason: "the directory was replaced while it was checked".into(),
                    });
                }
            } else {
                self.files.insert(rel, FileId::of(&meta));
            }
        }
        Ok(())
    }
}

/// The blob files of the walk, by digest. Anything under `blobs/` that is
/// not `blobs/<sha256|sha512>/<hex>` makes the export invalid, named.
fn blobs(
    root: &Path,
    files: &HashMap<PathBuf, FileId>,
) -> Result<HashMap<Digest, Blob>, StoreError> {
    let mut found = HashMap::new();
    for (rel, id) in files {
        let mut parts = rel.iter();
        if parts.next() != Some(BLOBS_DIR.as_ref()) {
            continue;
        }
        let path = root.join(rel);
        let invalid = |reason: &str| StoreError::InvalidLayout {
            path: path.clone(),
            reason: reason.into(),
        };
        let (Some(algorithm), Some(hex), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid(
                "not a blob name: blobs hold only <algorithm>/<hex>",
            ));
        };
        let algorithm = algorithm.to_str().unwrap_or_default();
        if !ALGORITHMS.iter().any(|a| algorithm_name(*a) == algorithm) {
            return Err(invalid(
                "not a blob name: the algorithm is not sha256 or sha512",
            ));
        }
        let hex = hex.to_str().unwrap_or_default();
        let digest: Digest = format!("{algorithm}:{hex}")
            .parse()
            .map_err(|e| invalid(&format!("not a blob name: {e}")))?;
        found.insert(digest, Blob { path, id: *id });
    }
    Ok(found)
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
