//! Where things live in the OCI image layout on disk, and the one durable
//! write primitive every change goes through.
//!
//! ```text
//! <root>/oci-layout          {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json          the roots (tags and retained digests)
//! <root>/blobs/sha256/<hex>  content, named by its digest
//! <root>/blobs/sha512/<hex>
//! <root>/tmp/                writes in progress; emptied on open
//! ```
//!
//! A file appears under a digest name only by `rename` from `tmp/`, after
//! its content was hashed and fsynced, so a crash at any point leaves either
//! nothing or the complete blob under that name. `tmp/` is inside the root
//! (same filesystem, so `rename` is atomic) and is not an OCI path, so layout
//! readers ignore it.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::error::StoreError;
use crate::oci::{Digest, DigestAlgorithm};

pub(super) const OCI_LAYOUT_FILE: &str = "oci-layout";
const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
pub(super) const INDEX_FILE: &str = "index.json";
const EMPTY_INDEX: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
pub(super) const BLOBS_DIR: &str = "blobs";
const TMP_DIR: &str = "tmp";
pub(super) const ALGORITHMS: [DigestAlgorithm; 2] =
    [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512];

/// Paths inside one store directory.
#[derive(Debug)]
pub(super) struct Layout {
    root: PathBuf,
    /// Makes temp names unique within this process; the pid makes them
    /// unique between processes.
    temp_counter: AtomicU64,
}

/// A blob found on disk when the store was opened.
pub(super) struct ScannedBlob {
    pub digest: Digest,
    pub size: u64,
    pub modified: SystemTime,
}

impl Layout {
    /// Create the layout where it is missing, check it where it exists, and
    /// delete what a crashed writer left in `tmp/`.
    pub(super) fn open(root: &Path) -> Result<Layout, StoreError> {
        let layout = Layout {
            root: root.to_path_buf(),
            temp_counter: AtomicU64::new(0),
        };
        let dirs = [root.to_path_buf(), layout.tmp_dir()]
            .into_iter()
            .chain(ALGORITHMS.map(|a| layout.algorithm_dir(a)));
        for dir in dirs {
            fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
        }
        layout.clean_tmp()?;
        layout.ensure_file(&layout.oci_layout_path(), OCI_LAYOUT_CONTENT)?;
        layout.check_oci_layout()?;
        layout.ensure_file(&layout.index_path(), EMPTY_INDEX)?;
        Ok(layout)
    }

    pub(super) fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    fn oci_layout_path(&self) -> PathBuf {
        self.root.join(OCI_LAYOUT_FILE)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    pub(super) fn algorithm_dir(&self, algorithm: DigestAlgorithm) -> PathBuf {
        self.root.join(BLOBS_DIR).join(algorithm_name(algorithm))
    }

    /// `blobs/<algorithm>/<hex>`: the OCI layout's blob path.
    pub(super) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.algorithm_dir(digest.algorithm()).join(digest.hex())
    }

    /// A fresh path under `tmp/`; never a digest name, never reused.
    pub(super) fn temp_path(&self, kind: &str) -> PathBuf {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        self.tmp_dir()
            .join(format!("{kind}-{}-{n}", std::process::id()))
    }

    /// Every blob under `blobs/`, for rebuilding size accounting. Files whose
    /// names are not digests are not ours and are left alone.
    pub(super) fn scan(&self) -> Result<Vec<ScannedBlob>, StoreError> {
        let mut found = Vec::new();
        for algorithm in ALGORITHMS {
            let dir = self.algorithm_dir(algorithm);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("read directory", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(StoreError::io("read directory", &dir))?;
                let name = entry.file_name();
                let Some(hex) = name.to_str() else { continue };
                let Ok(digest) = format!("{}:{hex}", algorithm_name(algorithm)).parse() else {
                    continue;
                };
                let meta = entry
                    .metadata()
                    .map_err(StoreError::io("stat", entry.path()))?;
                if !meta.is_file() {
                    continue;
                }
                found.push(ScannedBlob {
                    digest,
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(found)
    }

    /// Remove everything under `tmp/`: only unfinished writes live there.
    /// Assumes one process owns the store, as the proxy does.
    fn clean_tmp(&self) -> Result<(), StoreError> {
        let dir = self.tmp_dir();
        let entries = fs::read_dir(&dir).map_err(StoreError::io("read directory", &dir))?;
        for entry in entries {
            let path = entry
                .map_err(StoreError::io("read directory", &dir))?
                .path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "store: removed an unfinished write")
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", &path)(e)),
            }
        }
        Ok(())
    }

    /// Write `content` to `path` durably unless the file already exists.
    fn ensure_file(&self, path: &Path, content: &[u8]) -> Result<(), StoreError> {
        if path.exists() {
            return Ok(());
        }
        let tmp = self.temp_path("init");
        write_durably(&tmp, path, content).map_err(StoreError::io("write", path))
    }

    fn check_oci_layout(&self) -> Result<(), StoreError> {
        let path = self.oci_layout_path();
        let bytes = fs::read(&path).map_err(StoreError::io("read", &path))?;
        check_layout_version(&bytes, &path)
    }
}

/// `oci-layout` must say `imageLayoutVersion` 1.0.0, the only version
/// signgate reads and writes.
pub(super) fn check_layout_version(bytes: &[u8], path: &Path) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidLayout {
        path: path.to_path_buf(),
        reason,
    };
    // A map, not a struct: serde would read a struct from an array too.
    let mut fields: HashMap<String, Text> =
        super::reader::parse_export_json(bytes, super::reader::ExportDocument::LayoutFile)
            .map_err(invalid)?;
    let version = match fields.remove("imageLayoutVersion") {
        Some(Text::Text(version)) => Some(version),
        Some(Text::Other(_)) | None => None,
    };
    match version.as_deref() {
        Some("1.0.0") => Ok(()),
        other => Err(invalid(format!(
            "imageLayoutVersion is {other:?}, expected \"1.0.0\""
        ))),
    }
}

/// A field of `oci-layout`: a string, or any other value (no version).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Text {
    Text(String),
    Other(serde::de::IgnoredAny),
}

pub(super) fn algorithm_name(algorithm: DigestAlgorithm) -> &'static str {
    match algorithm {
        DigestAlgorithm::Sha256 => "sha256",
        DigestAlgorithm::Sha512 => "sha512",
    }
}

/// Write `content` to `tmp`, fsync it, rename it to `dest` and fsync
/// `dest`'s directory: after this returns, `dest` holds `content` even across
/// a power cut, and before it returns `dest` is untouched. Blocking.
pub(super) fn write_durably(tmp: &Path, dest: &Path, content: &[u8]) -> io::Result<()> {
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(tmp)?;
        file.write_all(content)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    publish(tmp, dest)
}

/// Rename a complete, fsynced temp file to its final name and make the
/// rename durable. Blocking.
pub(super) fn publish(tmp: &Path, dest: &Path) -> io::Result<()> {
    if let Err(e) = fs::rename(tmp, dest) {
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    match dest.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// fsync a directory, so renames and unlinks in it survive a crash.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
