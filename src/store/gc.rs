//! Garbage collection: mark what `index.json`'s roots reach, then sweep
//! the rest, least recently used first; if what the roots reach alone
//! exceeds the budget, drop the least recently used roots (`budget`) and
//! sweep what they alone reached.
//!
//! The mark phase reads each reachable manifest from disk (re-hashed, so a
//! corrupt manifest cannot hide references) and follows `refs::references`.
//! A manifest that cannot be read aborts the collection: not knowing what a
//! root references means not knowing what is safe to delete. The index
//! writer lock is held throughout, so no root appears between mark and
//! sweep; each victim's digest lock is taken (or the victim skipped), so no
//! write of the same digest interleaves with its deletion. Dropped roots
//! leave `index.json` (durably) before any blob they reached is deleted.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;

use super::budget::{self, Closure};
use super::{ManifestRefs, Store, StoreError};
use crate::oci::{Digest, MAX_MANIFEST_BYTES};

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed_blobs: usize,
    pub freed_bytes: u64,
    /// Bytes still stored afterwards.
    pub kept_bytes: u64,
    /// Bytes of stored blobs reachable from a root (before any was dropped).
    pub referenced_bytes: u64,
    /// Unreferenced blobs kept because they were used within the grace
    /// period or were being written.
    pub skipped_recent: usize,
    /// Roots dropped because what they reached did not fit the budget.
    pub dropped_roots: usize,
    /// The store is still over budget afterwards: what remains was written
    /// within the grace period, or is being written.
    pub over_budget_but_referenced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Stop as soon as the store fits its budget, dropping roots if need be.
    ToBudget,
    /// Remove every unreferenced blob; keep every root.
    All,
}

impl Store {
    /// If the store is over budget, remove unreferenced blobs, least
    /// recently used first, until it fits; if it still does not, drop the
    /// least recently used roots (with their signature material) and remove
    /// what they alone reached.
    pub async fn gc(&self) -> Result<GcReport, StoreError> {
        self.collect(Sweep::ToBudget).await
    }

    /// Remove every unreferenced blob regardless of budget (after
    /// [`Store::forget`]).
    pub async fn gc_unreferenced(&self) -> Result<GcReport, StoreError> {
        self.collect(Sweep::All).await
    }

    /// Remove those of `digests` no root reaches, recent or not: a caller
    /// undoing its own writes (an import that failed half way).
    pub async fn discard_unreferenced(&self, digests: &[Digest]) -> Result<GcReport, StoreError> {
        let _roots_fixed = self.inner.index_writer.lock().await;
        let mut memo = HashMap::new();
        let mut reachable = HashSet::new();
        let roots = self.index().root_digests();
        for root in &roots {
            reachable.extend(self.closure(root, &mut memo).await?.all);
        }
        let mut report = GcReport::default();
        let mut dirs = Vec::new();
        for digest in digests.iter().filter(|d| !reachable.contains(*d)) {
            self.remove_blob(digest, &mut report, &mut dirs).await?;
        }
        tokio::task::spawn_blocking(move || {
            dirs.iter().try_for_each(|d| super::layout::sync_dir(d))
        })
        .await?
        .map_err(StoreError::io("sync", self.inner.layout.index_path()))?;
        report.kept_bytes = self.used_bytes();
        Ok(report)
    }

    async fn collect(&self, sweep: Sweep) -> Result<GcReport, StoreError> {
        let _roots_fixed = self.inner.index_writer.lock().await;
        let budget = self.inner.options.budget_bytes;
        let mut report = GcReport::default();
        if sweep == Sweep::ToBudget && self.used_bytes() <= budget {
            report.kept_bytes = self.used_bytes();
            return Ok(report);
        }
        let mut memo = HashMap::new();
        let roots = self.index().root_digests();
        let mut reachable = HashSet::new();
        for root in &roots {
            reachable.extend(self.closure(root, &mut memo).await?.all);
        }
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
            if recent {
                report.skipped_recent += 1;
                continue;
            }
            if !self
                .remove_blob(&candidate.digest, &mut report, &mut dirs)
                .await?
            {
                report.skipped_recent += 1;
            }
        }
        if sweep == Sweep::ToBudget && self.used_bytes() > budget {
            self.drop_roots(&mut memo, &mut report, &mut dirs).await?;
        }
        tokio::task::spawn_blocking(move || {
            dirs.iter().try_for_each(|d| super::layout::sync_dir(d))
        })
        .await?
        .map_err(StoreError::io("sync", self.inner.layout.index_path()))?;
        report.kept_bytes = self.used_bytes();
        report.over_budget_but_referenced = report.kept_bytes > budget;
        tracing::info!(?report, "store: garbage collected");
        Ok(report)
    }

    /// Over budget on referenced content alone: drop roots as `budget`
    /// plans, record that durably, then remove the blobs freed. Called with
    /// the index writer lock held.
    async fn drop_roots(
        &self,
        memo: &mut HashMap<Digest, Option<ManifestRefs>>,
        report: &mut GcReport,
        dirs: &mut Vec<PathBuf>,
    ) -> Result<(), StoreError> {
        let entries = self.index().entries();
        let mut roots = Vec::with_capacity(entries.len());
        for entry in &entries {
            let closure = match &entry.descriptor {
                Some(d) => self.closure(&d.digest, memo).await?,
                None => Closure::default(),
            };
            let last_use = entry
                .descriptor
                .as_ref()
                .and_then(|d| self.accounting().last_use(&d.digest))
                .unwrap_or(0);
            roots.push(budget::Root {
                closure,
                material_of: entry.material_of.clone(),
                last_use,
            });
        }
        let size = |d: &Digest| self.blob_size(d).unwrap_or(0);
        let plan = budget::plan(
            &roots,
            size,
            self.used_bytes(),
            self.inner.options.budget_bytes,
        );
        if plan.drop.is_empty() {
            return Ok(());
        }
        let mut next = self.index().clone();
        let dropped: HashSet<usize> = plan.drop.iter().copied().collect();
        report.dropped_roots = next.retain_positions(|p| !dropped.contains(&p));
        for position in &plan.drop {
            if let Some(name) = entries.get(*position).and_then(|e| e.name.as_deref()) {
                tracing::info!(
                    root = name,
                    "store: over budget, dropping the least recently used root"
                );
            }
        }
        self.write_index(next).await?;
        for digest in &plan.freed {
            self.remove_blob(digest, report, dirs).await?;
        }
        Ok(())
    }

    /// Delete one blob unless a writer holds it; whether it was deleted.
    async fn remove_blob(
        &self,
        digest: &Digest,
        report: &mut GcReport,
        dirs: &mut Vec<PathBuf>,
    ) -> Result<bool, StoreError> {
        let Some(_guard) = self.inner.in_flight.try_lock(digest) else {
            return Ok(false);
        };
        let Some(size) = self.blob_size(digest) else {
            return Ok(false);
        };
        let path = self.blob_path(digest);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                report.removed_blobs += 1;
                report.freed_bytes += size;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("remove", path)(e)),
        }
        self.accounting().remove(digest);
        if let Some(dir) = path.parent().filter(|d| !dirs.iter().any(|x| x == d)) {
            dirs.push(dir.to_path_buf());
        }
        Ok(true)
    }

    /// Every digest reachable from `root`: the manifests it leads to (index
    /// children, referrer subjects), and those manifests' blobs. Missing
    /// content is skipped (a partially stored image is normal); what each
    /// manifest references is read once per collection (`memo`).
    async fn closure(
        &self,
        root: &Digest,
        memo: &mut HashMap<Digest, Option<ManifestRefs>>,
    ) -> Result<Closure, StoreError> {
        let mut closure = Closure::default();
        let mut queue = vec![root.clone()];
        while let Some(digest) = queue.pop() {
            closure.all.insert(digest.clone());
            if !closure.manifests.insert(digest.clone()) {
                continue;
            }
            if !memo.contains_key(&digest) {
                let refs = self.manifest_refs(&digest).await?;
                memo.insert(digest.clone(), refs);
            }
            if let Some(Some(refs)) = memo.get(&digest) {
                closure.all.extend(refs.blobs.iter().cloned());
                queue.extend(refs.manifests.iter().cloned());
            }
        }
        Ok(closure)
    }

    /// What a stored manifest references; `None` when it is absent or too
    /// big to be a manifest.
    async fn manifest_refs(&self, digest: &Digest) -> Result<Option<ManifestRefs>, StoreError> {
        match self.blob_size(digest) {
            Some(size) if size <= MAX_MANIFEST_BYTES as u64 => {}
            _ => return Ok(None),
        }
        Ok(self
            .read_verified(digest)
            .await?
            .map(|bytes| super::references(&bytes)))
    }
}
