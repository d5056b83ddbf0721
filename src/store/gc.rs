//! Garbage collection: mark what `index.json`'s roots reach, then sweep
//! the rest, least recently used first.
//!
//! The mark phase reads each reachable manifest from disk (re-hashed, so a
//! corrupt manifest cannot hide references) and follows `refs::references`.
//! A manifest that cannot be read aborts the collection: not knowing what a
//! root references means not knowing what is safe to delete. The index
//! writer lock is held throughout, so no root appears between mark and
//! sweep; each victim's digest lock is taken (or the victim skipped), so no
//! write of the same digest interleaves with its deletion.

use std::collections::HashSet;
use std::io;

use super::layout::sync_dir;
use super::{Store, StoreError};
use crate::oci::{Digest, MAX_MANIFEST_BYTES};

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed_blobs: usize,
    pub freed_bytes: u64,
    /// Bytes still stored afterwards.
    pub kept_bytes: u64,
    /// Bytes of stored blobs reachable from a root.
    pub referenced_bytes: u64,
    /// Unreferenced blobs kept because they were used within the grace
    /// period or were being written.
    pub skipped_recent: usize,
    /// The store is still over budget: what remains is referenced (or
    /// recent), and only forgetting roots can shrink it.
    pub over_budget_but_referenced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Stop as soon as the store fits its budget.
    ToBudget,
    /// Remove every unreferenced blob.
    All,
}

impl Store {
    /// If the store is over budget, remove unreferenced blobs, least
    /// recently used first, until it fits. Never removes what a root reaches.
    pub async fn gc(&self) -> Result<GcReport, StoreError> {
        self.collect(Sweep::ToBudget).await
    }

    /// Remove every unreferenced blob regardless of budget (after
    /// [`Store::forget`]).
    pub async fn gc_unreferenced(&self) -> Result<GcReport, StoreError> {
        self.collect(Sweep::All).await
    }

    async fn collect(&self, sweep: Sweep) -> Result<GcReport, StoreError> {
        let _roots_fixed = self.inner.index_writer.lock().await;
        let budget = self.inner.options.budget_bytes;
        let mut report = GcReport::default();
        if sweep == Sweep::ToBudget && self.used_bytes() <= budget {
            report.kept_bytes = self.used_bytes();
            return Ok(report);
        }
        let reachable = self.mark().await?;
        let candidates = self.accounting().by_recency();
        report.referenced_bytes = candidates
            .iter()
            .filter(|c| reachable.contains(&c.digest))
            .map(|c| c.size)
            .sum();
        let grace = self.inner.options.gc_grace;
        let mut dirs = Vec::new();
        for candidate in candidates {
            if sweep == Sweep::ToBudget && self.used_bytes() <= budget {
                break;
            }
            if reachable.contains(&candidate.digest) {
                continue;
            }
            let recent = candidate.touched_at.is_some_and(|t| t.elapsed() < grace);
            let Some(_guard) = (!recent)
                .then(|| self.inner.in_flight.try_lock(&candidate.digest))
                .flatten()
            else {
                report.skipped_recent += 1;
                continue;
            };
            let path = self.blob_path(&candidate.digest);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {
                    report.removed_blobs += 1;
                    report.freed_bytes += candidate.size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", path)(e)),
            }
            self.accounting().remove(&candidate.digest);
            if let Some(dir) = path.parent().filter(|d| !dirs.iter().any(|x| x == d)) {
                dirs.push(dir.to_path_buf());
            }
        }
        tokio::task::spawn_blocking(move || dirs.iter().try_for_each(|d| sync_dir(d)))
            .await?
            .map_err(StoreError::io("sync", self.inner.layout.index_path()))?;
        report.kept_bytes = self.used_bytes();
        report.over_budget_but_referenced = report.kept_bytes > budget;
        tracing::info!(?report, "store: garbage collected");
        Ok(report)
    }

    /// Every digest reachable from a root: the roots, manifests they lead
    /// to (index children, referrer subjects), and those manifests' blobs.
    /// Missing content is skipped (a partially stored image is normal).
    pub(super) async fn mark(&self) -> Result<HashSet<Digest>, StoreError> {
        let mut queue = self.index().root_digests();
        let mut reachable = HashSet::new();
        let mut walked = HashSet::new();
        while let Some(digest) = queue.pop() {
            reachable.insert(digest.clone());
            if !walked.insert(digest.clone()) {
                continue;
            }
            // Only manifest-sized blobs can be manifests worth parsing.
            match self.blob_size(&digest) {
                Some(size) if size <= MAX_MANIFEST_BYTES as u64 => {}
                _ => continue,
            }
            let Some(bytes) = self.read_verified(&digest).await? else {
                continue;
            };
            let refs = super::references(&bytes);
            reachable.extend(refs.blobs);
            queue.extend(refs.manifests);
        }
        Ok(reachable)
    }
}
