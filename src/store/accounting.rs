//! Size accounting and recency, in memory: what GC needs to pick victims
//! without walking the disk. Rebuilt from a directory scan on open (recency
//! then follows file modification times, the best the disk remembers).

use std::collections::HashMap;
use std::time::Instant;

use super::layout::ScannedBlob;
use crate::oci::Digest;

#[derive(Debug, Default)]
pub(super) struct Accounting {
    blobs: HashMap<Digest, BlobMeta>,
    used: u64,
    /// A logical clock: a larger value is a more recent use. Cheaper and
    /// tie-free compared with timestamps.
    clock: u64,
}

#[derive(Debug, Clone, Copy)]
struct BlobMeta {
    size: u64,
    last_use: u64,
    /// When this process last wrote or read the blob; `None` for blobs only
    /// seen by the scan on open. GC's grace period reads it.
    touched_at: Option<Instant>,
}

/// A blob GC may consider, in least-recently-used order.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub digest: Digest,
    pub size: u64,
    pub touched_at: Option<Instant>,
}

impl Accounting {
    pub(super) fn from_scan(mut scanned: Vec<ScannedBlob>) -> Accounting {
        scanned.sort_by_key(|b| b.modified);
        let mut accounting = Accounting::default();
        for blob in scanned {
            accounting.clock += 1;
            accounting.used += blob.size;
            accounting.blobs.insert(
                blob.digest,
                BlobMeta {
                    size: blob.size,
                    last_use: accounting.clock,
                    touched_at: None,
                },
            );
        }
        accounting
    }

    /// Record a blob now on disk (new or rewritten) as just used.
    pub(super) fn insert(&mut self, digest: &Digest, size: u64) {
        self.clock += 1;
        let meta = BlobMeta {
            size,
            last_use: self.clock,
            touched_at: Some(Instant::now()),
        };
        if let Some(old) = self.blobs.insert(digest.clone(), meta) {
            self.used -= old.size;
        }
        self.used += size;
    }

    /// Mark a blob as just used (LRU).
    pub(super) fn touch(&mut self, digest: &Digest) {
        self.clock += 1;
        if let Some(meta) = self.blobs.get_mut(digest) {
            meta.last_use = self.clock;
            meta.touched_at = Some(Instant::now());
        }
    }

    pub(super) fn remove(&mut self, digest: &Digest) {
        if let Some(old) = self.blobs.remove(digest) {
            self.used -= old.size;
        }
    }

    pub(super) fn size(&self, digest: &Digest) -> Option<u64> {
        self.blobs.get(digest).map(|m| m.size)
    }

    /// The logical time of a blob's last use (larger is more recent).
    pub(super) fn last_use(&self, digest: &Digest) -> Option<u64> {
        self.blobs.get(digest).map(|m| m.last_use)
    }

    pub(super) fn used(&self) -> u64 {
        self.used
    }

    /// Every blob, least recently used first.
    pub(super) fn by_recency(&self) -> Vec<Candidate> {
        let mut all: Vec<(u64, Candidate)> = self
            .blobs
            .iter()
            .map(|(digest, meta)| {
                (
                    meta.last_use,
                    Candidate {
                        digest: digest.clone(),
                        size: meta.size,
                        touched_at: meta.touched_at,
                    },
                )
            })
            .collect();
        all.sort_by_key(|(last_use, _)| *last_use);
        all.into_iter().map(|(_, c)| c).collect()
    }
}
