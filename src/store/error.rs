//! `StoreError`: everything that can go wrong in the local store.

use std::io;
use std::path::PathBuf;

use crate::oci::Digest;

/// Why a store operation failed. Every variant names the digest or path it
/// concerns, so an operator can act on the message alone.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem call failed; `op` says which one.
    #[error("store: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Content offered for writing does not hash to the digest it claims.
    /// Nothing was stored.
    #[error("store: refusing to store {expected}: content hashes to {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// A stored blob no longer hashes to its name (disk corruption or
    /// tampering). The bytes are never returned; the file is removed (unless
    /// a writer holds the digest) so the next pull fetches a good copy.
    #[error("store: blob {digest} is corrupt on disk (content hashes to {actual}); discarding it")]
    Corrupt { digest: Digest, actual: Digest },
    /// `oci-layout` or `index.json` is not what an OCI image layout holds.
    #[error("store: invalid OCI layout at {}: {reason}", path.display())]
    InvalidLayout { path: PathBuf, reason: String },
    /// A tag or root was asked to point at a manifest the store lacks, or
    /// whose size differs from the descriptor's.
    #[error("store: cannot record {digest}: {reason}")]
    BadRoot { digest: Digest, reason: String },
    /// An export holds something other than directories and regular files
    /// (a symbolic link, FIFO, socket or device): refused whole, before any
    /// of it is read, naming every such path found.
    #[error("store: refusing the export: {}; an export may hold only directories and regular files, and nothing of it was read", list(.found))]
    NotRegular { found: Vec<(PathBuf, &'static str)> },
    /// A file of an export is not the one its check saw (replaced by a link,
    /// a FIFO or another file, or grown): it is not read.
    #[error("store: {}: {reason}; the export changed after it was checked, refusing it", path.display())]
    Changed { path: PathBuf, reason: String },
    /// A blocking filesystem task did not complete (runtime shutting down).
    #[error("store: background task failed: {0}")]
    Background(String),
}

fn list(found: &[(PathBuf, &'static str)]) -> String {
    found
        .iter()
        .map(|(path, kind)| format!("{} is a {kind}", path.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl StoreError {
    pub(super) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> Self {
        StoreError::Background(e.to_string())
    }
}
