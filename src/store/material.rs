//! Signature material in and out of the pending buffer: held while the
//! gate decides, written only for a digest it admitted.

use super::index::RootMark;
use super::pending::Material;
use super::{Descriptor, RootRef, Store, StoreError};
use crate::oci::{Digest, RegistryName, Repository, Tag};

impl Store {
    /// Hold material discovery fetched for `subject` until the gate's
    /// verdict on it; false when it does not fit (it is then not kept).
    pub fn hold_material(&self, subject: &Digest, item: Material) -> bool {
        self.pending().hold(subject, item)
    }

    /// `digests` (a signature manifest's layers, a referrer list's
    /// manifests) are `subject`'s material when they are fetched.
    pub fn expect_material(&self, subject: &Digest, digests: impl IntoIterator<Item = Digest>) {
        self.pending().expect(subject, digests);
    }

    /// The subjects whose held material names `digest`.
    pub fn material_subjects(&self, digest: &Digest) -> Vec<Digest> {
        self.pending().subjects_of(digest)
    }

    /// The platform manifests of an index the gate admitted: kept as they
    /// are fetched (the index's root reaches them).
    pub fn expect_children(&self, children: impl IntoIterator<Item = Digest>) {
        self.pending().expect_children(children);
    }

    pub fn is_expected_child(&self, digest: &Digest) -> bool {
        self.pending().is_child(digest)
    }

    /// The gate admitted `subject`: write the material held for it (blobs,
    /// then its tags as material roots) and stop holding it. Call it after
    /// the subject's own root is recorded, so GC never sees the material
    /// without its image. How many pieces were written.
    pub async fn commit_material(&self, subject: &Digest) -> Result<usize, StoreError> {
        let items = self.pending().take(subject);
        let count = items.len();
        let mut roots = Vec::new();
        for item in items {
            match item {
                Material::Blob { digest, bytes } => {
                    self.put_blob(&digest, bytes).await?;
                }
                Material::Tagged {
                    registry,
                    repository,
                    tag,
                    descriptor,
                    bytes,
                } => {
                    self.put_blob(&descriptor.digest, bytes).await?;
                    roots.push((
                        RootRef::Tag(registry, repository, tag),
                        descriptor,
                        RootMark::MaterialOf(subject.clone()),
                    ));
                }
            }
        }
        if !roots.is_empty() {
            self.record_roots(roots).await?;
        }
        Ok(count)
    }

    /// Record `registry/repository:tag` → `descriptor` as signature
    /// material of `subject`, an admitted digest: marked
    /// `dev.signgate.material-of`, never `verified-at`, and dropped by GC
    /// once no root reaches `subject`. The manifest must be stored.
    pub async fn record_material(
        &self,
        registry: &RegistryName,
        repository: &Repository,
        tag: &Tag,
        descriptor: Descriptor,
        subject: &Digest,
    ) -> Result<(), StoreError> {
        let root = RootRef::Tag(registry.clone(), repository.clone(), tag.clone());
        self.record_roots(vec![(
            root,
            descriptor,
            RootMark::MaterialOf(subject.clone()),
        )])
        .await
    }
}
