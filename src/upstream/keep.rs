//! What the registry answered, kept in the store behind it: nothing is kept
//! before the gate's verdict. Signature material discovery fetches
//! (signature tags, referrer lists and manifests, payloads) and fetched
//! manifests are held in memory per subject digest by the store, and
//! written only when the proxy calls `Upstream::remember_admitted` for that
//! digest; what is never admitted ages out. A streamed blob is kept as it
//! passes ([`Keeper`]).

use bytes::Bytes;

use super::fallback::Fallback;
use crate::oci::{Digest, Manifest, Repository, Tag, MANIFEST_MEDIA_TYPE};
use crate::store::{material_subject, Descriptor, Keeper, Material, Store};

impl Fallback<'_> {
    /// The gate admitted `manifest`: record `repository:tag` (or the
    /// digest) → it, the last verified mapping answered when the upstream
    /// is unreachable; then keep the signature material held for it, and
    /// for an index, the platform manifests it lists (now and as they are
    /// fetched).
    pub(super) async fn remember_admitted(
        &self,
        repository: &Repository,
        tag: Option<&Tag>,
        manifest: &Manifest,
    ) {
        let Some(store) = self.writable() else {
            return;
        };
        let name = &self.remote.name;
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
            Some(tag) => store.resolve_tag(name, repository, tag),
            None => store.retained(name, repository, digest),
        };
        if current.is_none_or(|d| &d.digest != digest) {
            self.keep(digest, manifest.bytes()).await;
            let descriptor = descriptor(manifest);
            let result = match tag {
                Some(tag) => store.set_tag(name, repository, tag, descriptor).await,
                None => store.retain(name, repository, descriptor).await,
            };
            if let Err(e) = result {
                tracing::warn!(upstream = %name, %repository, error = %e, "could not record the admitted manifest in the store");
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

    /// A keeper for `digest`, if this upstream keeps content and the store
    /// lacks it.
    pub(super) fn blob_keeper(&self, digest: &Digest) -> Option<Keeper> {
        let store = self.writable()?;
        if store.has_blob(digest) {
            store.touch(digest);
            return None;
        }
        Some(store.keeper(digest))
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
    pub(super) async fn hold_manifest(&self, m: &Manifest) {
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
    pub(super) fn hold_tagged(&self, repository: &Repository, tag: &Tag, m: &Manifest) {
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
                registry: self.remote.name.clone(),
                repository: repository.clone(),
                tag: tag.clone(),
                descriptor: descriptor(m),
                bytes: m.bytes().clone(),
            },
        );
    }

    /// A payload discovery fetched: held for the subjects whose material
    /// names it, and otherwise not kept.
    pub(super) fn hold_blob(&self, digest: &Digest, bytes: &Bytes) {
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
            .unwrap_or(MANIFEST_MEDIA_TYPE)
            .to_owned(),
        digest: manifest.digest().clone(),
        size: manifest.bytes().len() as u64,
        annotations: Default::default(),
    }
}
