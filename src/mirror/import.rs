//! `signgate mirror import DIR`: check an export, verify every image in it
//! offline with this site's policies, and keep exactly what passes.
//!
//! The export is presumed hostile. It is read only through
//! [`ExportReader`], which never writes to it and refuses it whole if
//! anything in it is not a directory or a regular file. Then, in order,
//! and nothing is written to the site's store before the last step:
//! 1. every blob must hash to its name;
//! 2. every image root (tag or digest) is decided by the site's own
//!    policies and roots, offline, from the export alone;
//! 3. signature-material roots (`sha256-<hex>.sig`, `.att`, the referrers
//!    tag schema) are kept only when their subject was admitted in step 2;
//! 4. exactly what the kept roots reach is copied (hashed again as it is
//!    written) and the roots are recorded. A failure while copying removes
//!    what this import wrote and nothing references.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;

use super::admitted;
use super::progress::Progress;
use crate::config::{Config, Mode};
use crate::oci::{Digest, ImageRef, Reference, MAX_MANIFEST_BYTES};
use crate::policy::PolicySet;
use crate::proxy::App;
use crate::store::{
    material_subject, parse_export_json, references, Descriptor, ExportDocument, ExportReader,
    IndexEntry, ManifestRefs, RootRef, Store,
};

/// What an import did.
pub struct ImportReport {
    pub imported: Vec<(String, String)>,
    pub refused: Vec<(String, String)>,
    pub blobs: usize,
}

/// An image root the site's policies admitted, and every digest of it they
/// admitted (the root, and the platform manifests of an index).
struct Admitted {
    root: RootRef,
    descriptor: Descriptor,
    digests: Vec<Digest>,
}

/// A signature-material root kept for an admitted subject.
struct Material {
    root: RootRef,
    descriptor: Descriptor,
    subject: Digest,
}

pub async fn import(
    config: &Config,
    policies: PolicySet,
    dir: &Path,
) -> Result<ImportReport, String> {
    let target = config
        .store
        .as_ref()
        .ok_or("import needs a 'store' in the configuration: where imported images are kept")?;
    refuse_overlap(dir, &target.path)?;
    // 0. The tree itself: only directories and regular files, read only.
    let owned = dir.to_path_buf();
    let export = tokio::task::spawn_blocking(move || ExportReader::open(&owned))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    // 1. Every blob must be what its name says, before anything else.
    let blobs = check_blobs(&export).await?;
    // 2. Every image, verified offline from the export alone.
    let mut source_config = config.clone();
    source_config.mode = Mode::Offline;
    source_config.store = None;
    let app = App::over_export(&source_config, policies, &export)?;
    let mut report = ImportReport {
        imported: Vec::new(),
        refused: Vec::new(),
        blobs,
    };
    let entries = export.entries();
    let (images, material) = classify(&entries, &mut report);
    let progress = Progress::new(images.len() as u64);
    let mut admitted = Vec::new();
    for (root, descriptor) in images {
        let image = root.to_string();
        progress.image(&image);
        let verdict = match verify_image(&app, &export, &root, &descriptor).await {
            Ok(digests) => complete(&export, &digests).await.map(|()| digests),
            Err(reason) => Err(reason),
        };
        match verdict {
            Ok(digests) => {
                progress.done(&image, "verified");
                report.imported.push((image, descriptor.digest.to_string()));
                admitted.push(Admitted {
                    root,
                    descriptor,
                    digests,
                });
            }
            Err(reason) => {
                progress.done(&image, &format!("REFUSED: {reason}"));
                report.refused.push((image, reason));
            }
        }
    }
    progress.finish();
    // 3. Signature material only for what was admitted.
    let admitted_digests: HashSet<&Digest> =
        admitted.iter().flat_map(|a| a.digests.iter()).collect();
    let mut kept_material = Vec::new();
    for m in material {
        if admitted_digests.contains(&m.subject) {
            kept_material.push(m);
        } else {
            report.refused.push((
                m.root.to_string(),
                format!(
                    "signature material of {}, which no admitted image of this export is; not imported",
                    m.subject
                ),
            ));
        }
    }
    if admitted.is_empty() {
        return Ok(report);
    }
    // 4. Copy exactly what the kept roots reach, then record them.
    let keep = closure(
        &export,
        admitted
            .iter()
            .map(|a| &a.descriptor.digest)
            .chain(kept_material.iter().map(|m| &m.descriptor.digest)),
    )
    .await?;
    let store = Store::open(&target.path, target.budget_bytes).map_err(|e| e.to_string())?;
    let mut written = Vec::new();
    let copied = copy_all(&store, &export, &keep, &mut written).await;
    let recorded = match copied {
        Ok(()) => record(&store, &admitted, &kept_material).await,
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        if let Err(cleanup) = store.discard_unreferenced(&written).await {
            tracing::warn!(error = %cleanup, "could not remove what a failed import wrote");
        }
        return Err(e);
    }
    Ok(report)
}

/// Import reads the export and writes the site's store: they must be
/// different trees, neither inside the other.
fn refuse_overlap(export: &Path, store: &Path) -> Result<(), String> {
    let resolve = |p: &Path| -> PathBuf {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            match (
                p.parent().and_then(|d| std::fs::canonicalize(d).ok()),
                p.file_name(),
            ) {
                (Some(parent), Some(name)) => parent.join(name),
                _ => p.to_path_buf(),
            }
        })
    };
    let (export_abs, store_abs) = (resolve(export), resolve(store));
    if export_abs.starts_with(&store_abs) || store_abs.starts_with(&export_abs) {
        return Err(format!(
            "the export {} and the store {} overlap: import from a separate directory",
            export.display(),
            store.display()
        ));
    }
    Ok(())
}

/// Hash every blob of the export; the first whose content is not its name
/// is an error naming the file.
async fn check_blobs(export: &ExportReader) -> Result<usize, String> {
    let digests: BTreeSet<Digest> = export.blob_digests().into_iter().collect();
    for digest in &digests {
        let path = export
            .blob_path(digest)
            .map_or_else(String::new, |p| p.display().to_string());
        let actual = export.hash_blob(digest).await.map_err(|e| e.to_string())?;
        if actual.as_ref() != Some(digest) {
            let actual = actual.map_or_else(|| "nothing".into(), |d| d.to_string());
            return Err(format!(
                "{path}: content does not match its name (it hashes to {actual}); the export was altered or damaged"
            ));
        }
    }
    Ok(digests.len())
}

/// Image roots to verify (tags first, so an index is decided before a
/// digest root of one of its platform manifests), and material roots to
/// decide after them. Entries signgate would not have written are refused.
fn classify(
    entries: &[IndexEntry],
    report: &mut ImportReport,
) -> (Vec<(RootRef, Descriptor)>, Vec<Material>) {
    let mut tagged = Vec::new();
    let mut by_digest = Vec::new();
    let mut material = Vec::new();
    for entry in entries {
        let (Some(root), Some(descriptor)) = (entry.root.clone(), entry.descriptor.clone()) else {
            let what = entry.name.clone().unwrap_or_else(|| {
                entry
                    .descriptor
                    .as_ref()
                    .map_or_else(|| "an index.json entry".into(), |d| d.digest.to_string())
            });
            report.refused.push((
                what,
                "not a root signgate exports (no usable registry/repository:tag or @digest name, or no usable digest); not imported".into(),
            ));
            continue;
        };
        let descriptor = Descriptor {
            annotations: Default::default(),
            ..descriptor
        };
        // The subject is what the tag's name says: the export's own
        // annotations (a `material-of` claim included) are not believed.
        match &root {
            RootRef::Tag(_, _, tag) => match material_subject(tag.as_str()) {
                Some(subject) => material.push(Material {
                    subject,
                    root,
                    descriptor,
                }),
                None => tagged.push((root, descriptor)),
            },
            RootRef::Digest(..) => by_digest.push((root, descriptor)),
        }
    }
    tagged.extend(by_digest);
    (tagged, material)
}

/// Decide on the image (and every platform manifest of it the export
/// holds) through the offline pipeline; the digests admitted.
async fn verify_image(
    app: &App,
    export: &ExportReader,
    root: &RootRef,
    descriptor: &Descriptor,
) -> Result<Vec<Digest>, String> {
    let reference = match root {
        RootRef::Tag(_, _, tag) => Reference::Tag(tag.clone()),
        RootRef::Digest(_, _, digest) => Reference::Digest(digest.clone()),
    };
    let image = ImageRef::new(
        root.registry().clone(),
        root.repository().clone(),
        reference,
    );
    let top = admitted(app, &image).await?;
    let served = top.admission.digest();
    if served != &descriptor.digest {
        return Err(format!(
            "index.json names {} but {:?} was served",
            descriptor.digest,
            Some(served.as_str())
        ));
    }
    let mut digests = vec![descriptor.digest.clone()];
    for child in manifest_refs(top.manifest.bytes())?.manifests {
        if !export.has_blob(&child) {
            continue; // not exported (--platform)
        }
        let platform = ImageRef {
            reference: Reference::Digest(child.clone()),
            ..image.clone()
        };
        admitted(app, &platform)
            .await
            .map_err(|reason| format!("platform manifest {child}: {reason}"))?;
        digests.push(child);
    }
    Ok(digests)
}

/// What an export's manifest references: refused when the one JSON reader
/// refuses it, and past that read as GC reads a manifest
/// ([`references`]: lenient, every kind of descriptor).
fn manifest_refs(bytes: &[u8]) -> Result<ManifestRefs, String> {
    parse_export_json::<IgnoredAny>(bytes, ExportDocument::Manifest)?;
    Ok(references(bytes))
}

/// Every config and layer of the admitted manifests must be in the export:
/// an image is imported whole or not at all.
async fn complete(export: &ExportReader, manifests: &[Digest]) -> Result<(), String> {
    for digest in manifests {
        let bytes = read_manifest(export, digest).await?;
        for blob in manifest_refs(&bytes)?.blobs {
            if !export.has_blob(&blob) {
                return Err(format!(
                    "blob {blob} of manifest {digest} is not in the export"
                ));
            }
        }
    }
    Ok(())
}

async fn read_manifest(export: &ExportReader, digest: &Digest) -> Result<bytes::Bytes, String> {
    export
        .get_blob(digest, MAX_MANIFEST_BYTES as u64)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("manifest {digest} is not in the export"))
}

/// Every digest the export holds that `roots` reach (manifests, their
/// children and subjects, configs and layers).
async fn closure<'a>(
    export: &ExportReader,
    roots: impl Iterator<Item = &'a Digest>,
) -> Result<BTreeSet<Digest>, String> {
    let mut queue: Vec<Digest> = roots.cloned().collect();
    let mut walked = HashSet::new();
    let mut keep = BTreeSet::new();
    while let Some(digest) = queue.pop() {
        if !export.has_blob(&digest) || !walked.insert(digest.clone()) {
            continue;
        }
        keep.insert(digest.clone());
        if export
            .blob_size(&digest)
            .is_some_and(|s| s <= MAX_MANIFEST_BYTES as u64)
        {
            let refs = manifest_refs(&read_manifest(export, &digest).await?).unwrap_or_default();
            keep.extend(refs.blobs.into_iter().filter(|b| export.has_blob(b)));
            queue.extend(refs.manifests);
        }
    }
    Ok(keep)
}

/// Stream each blob into the site's store (whose writer hashes it again);
/// `written` collects what this call wrote.
async fn copy_all(
    store: &Store,
    export: &ExportReader,
    keep: &BTreeSet<Digest>,
    written: &mut Vec<Digest>,
) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    for digest in keep {
        if store.has_blob(digest) {
            continue;
        }
        let path = export
            .blob_path(digest)
            .map_or_else(String::new, |p| p.display().to_string());
        let (mut file, size) = export
            .open_blob(digest)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{digest} is not in the export"))?;
        let mut writer = store.blob_writer(digest).await.map_err(|e| e.to_string())?;
        let mut buffer = vec![0u8; 256 * 1024];
        let mut remaining = size;
        while remaining > 0 {
            let want = usize::try_from(remaining.min(buffer.len() as u64)).unwrap_or(buffer.len());
            let chunk = buffer.get_mut(..want).unwrap_or_default();
            let n = file.read(chunk).await.map_err(|e| format!("{path}: {e}"))?;
            if n == 0 {
                return Err(format!("{path}: shorter than when it was checked"));
            }
            writer
                .write(chunk.get(..n).unwrap_or_default())
                .await
                .map_err(|e| e.to_string())?;
            remaining -= n as u64;
        }
        if writer.commit().await.map_err(|e| format!("{path}: {e}"))?
            == crate::store::PutOutcome::Written
        {
            written.push(digest.clone());
        }
    }
    Ok(())
}

/// Record the admitted images' roots, then their material's.
async fn record(store: &Store, admitted: &[Admitted], material: &[Material]) -> Result<(), String> {
    for a in admitted {
        let result = match &a.root {
            RootRef::Tag(registry, repository, tag) => {
                store
                    .set_tag(registry, repository, tag, a.descriptor.clone())
                    .await
            }
            RootRef::Digest(registry, repository, _) => {
                store
                    .retain(registry, repository, a.descriptor.clone())
                    .await
            }
        };
        result.map_err(|e| format!("recording {}: {e}", a.root))?;
    }
    for m in material {
        let RootRef::Tag(registry, repository, tag) = &m.root else {
            continue;
        };
        store
            .record_material(registry, repository, tag, m.descriptor.clone(), &m.subject)
            .await
            .map_err(|e| format!("recording {}: {e}", m.root))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_and_a_store_must_not_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let (export, store) = (dir.path().join("export"), dir.path().join("store"));
        std::fs::create_dir(&export).unwrap();
        assert!(refuse_overlap(&export, &store).is_ok());
        for (e, s) in [
            (export.clone(), export.clone()),
            (export.clone(), export.join("store")),
            (export.join("."), dir.path().to_path_buf()),
        ] {
            let err = refuse_overlap(&e, &s).unwrap_err();
            assert!(err.contains("overlap"), "{err}");
        }
    }
}
