//! `signgate mirror import DIR`: check an export, verify every image in it
//! offline with this site's policies, and keep what passes.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::get;
use super::progress::Progress;
use crate::config::{Config, Mode, StoreConfig};
use crate::oci::{Digest, DigestHasher, RegistryName, Repository, Tag};
use crate::policy::PolicySet;
use crate::proxy::App;
use crate::store::{Descriptor, Store, REF_NAME_ANNOTATION};

/// What an import did.
pub struct ImportReport {
    pub imported: Vec<(String, String)>,
    pub refused: Vec<(String, String)>,
    pub blobs: usize,
}

/// One `index.json` root of the export.
struct Root {
    registry: RegistryName,
    repository: Repository,
    tag: Option<Tag>,
    descriptor: Descriptor,
}

impl Root {
    fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `.sig`, `.att`, `.sbom` and referrers-tag-schema tags: signature
    /// material, not images.
    fn is_material(&self) -> bool {
        self.tag.as_ref().is_some_and(|t| {
            let t = t.as_str();
            t.starts_with("sha256-") || t.starts_with("sha512-")
        })
    }
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
    // 1. Every blob must be what its name says, before anything else.
    let blobs = check_blobs(dir).await?;
    // 2. Every image, verified offline from the export alone.
    let mut source_config = config.clone();
    source_config.mode = Mode::Offline;
    source_config.store = Some(StoreConfig {
        path: dir.to_path_buf(),
        budget_bytes: u64::MAX,
    });
    let app = App::new(&source_config, policies)?;
    let source = app
        .store()
        .cloned()
        .ok_or("internal: import without a source store")?;
    let roots = roots(&source)?;
    let images: Vec<&Root> = roots
        .iter()
        .filter(|r| !r.is_material() && r.tag.is_some())
        .collect();
    let progress = Progress::new(images.len() as u64);
    let mut report = ImportReport {
        imported: Vec::new(),
        refused: Vec::new(),
        blobs: blobs.len(),
    };
    let mut admitted: Vec<&Root> = Vec::new();
    let mut admitted_children: Vec<Digest> = Vec::new();
    for root in images {
        let tag = root.tag.as_ref().map(Tag::as_str).unwrap_or_default();
        let image = format!("{}:{tag}", root.name());
        progress.image(&image);
        match verify_image(&app, &source, root).await {
            Ok(children) => {
                progress.done(&image, "verified");
                report
                    .imported
                    .push((image, root.descriptor.digest.to_string()));
                admitted_children.extend(children);
                admitted.push(root);
            }
            Err(reason) => {
                progress.done(&image, &format!("REFUSED: {reason}"));
                report.refused.push((image, reason));
            }
        }
    }
    progress.finish();
    // 3. Copy, then make the admitted images (and their material) servable.
    let store = Store::open(&target.path, target.budget_bytes).map_err(|e| e.to_string())?;
    for (digest, path) in &blobs {
        copy_blob(&store, digest, path).await?;
    }
    for root in roots.iter() {
        let wanted = admitted.iter().any(|a| std::ptr::eq(*a, root))
            || root.is_material()
            || (root.tag.is_none() && admitted_children.contains(&root.descriptor.digest));
        if !wanted {
            continue;
        }
        let result = match &root.tag {
            Some(tag) => {
                store
                    .set_tag(
                        &root.registry,
                        &root.repository,
                        tag,
                        root.descriptor.clone(),
                    )
                    .await
            }
            None => {
                store
                    .retain(&root.registry, &root.repository, root.descriptor.clone())
                    .await
            }
        };
        result.map_err(|e| format!("recording {}: {e}", root.name()))?;
    }
    // What was copied but not admitted has no root: collect it now.
    store.gc_unreferenced().await.map_err(|e| e.to_string())?;
    Ok(report)
}

/// GET the image (and every platform manifest of it the export holds)
/// through the offline pipeline; the child digests admitted.
async fn verify_image(app: &App, source: &Store, root: &Root) -> Result<Vec<Digest>, String> {
    let name = root.name();
    let tag = root.tag.as_ref().map(Tag::as_str).unwrap_or_default();
    let top = get(app, &format!("/v2/{name}/manifests/{tag}")).await?;
    if top.status != 200 {
        return Err(top.reason());
    }
    let parsed: serde_json::Value = serde_json::from_slice(&top.body).map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for child in parsed["manifests"].as_array().into_iter().flatten() {
        let Some(d) = child["digest"]
            .as_str()
            .and_then(|d| d.parse::<Digest>().ok())
        else {
            continue;
        };
        if !source.has_blob(&d) {
            continue; // not exported (--platform)
        }
        let got = get(app, &format!("/v2/{name}/manifests/{d}")).await?;
        if got.status != 200 {
            return Err(format!("platform manifest {d}: {}", got.reason()));
        }
        children.push(d);
    }
    Ok(children)
}

/// Every root of the export's `index.json`.
fn roots(source: &Store) -> Result<Vec<Root>, String> {
    let mut out = Vec::new();
    for descriptor in source.roots() {
        let Some(name) = descriptor.annotations.get(REF_NAME_ANNOTATION) else {
            continue;
        };
        let (path, tag) = match name.split_once('@') {
            Some((path, _)) => (path.to_owned(), None),
            None => match name.rsplit_once(':') {
                Some((path, tag)) => (
                    path.to_owned(),
                    Some(tag.parse::<Tag>().map_err(|e| format!("{name}: {e}"))?),
                ),
                None => continue,
            },
        };
        let Some((registry, repository)) = path.split_once('/') else {
            continue;
        };
        out.push(Root {
            registry: registry.parse().map_err(|e| format!("{name}: {e}"))?,
            repository: repository.parse().map_err(|e| format!("{name}: {e}"))?,
            tag,
            descriptor,
        });
    }
    Ok(out)
}

/// Hash every blob file of the export; the first whose content is not its
/// name is an error naming the file.
async fn check_blobs(dir: &Path) -> Result<Vec<(Digest, PathBuf)>, String> {
    let blobs_dir = dir.join("blobs");
    let mut found = Vec::new();
    let algorithms = std::fs::read_dir(&blobs_dir)
        .map_err(|e| format!("{}: not an OCI layout export: {e}", blobs_dir.display()))?;
    for algorithm in algorithms {
        let algorithm = algorithm.map_err(|e| e.to_string())?.path();
        let Some(alg) = algorithm
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        for entry in
            std::fs::read_dir(&algorithm).map_err(|e| format!("{}: {e}", algorithm.display()))?
        {
            let path = entry.map_err(|e| e.to_string())?.path();
            let hex = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let digest: Digest = format!("{alg}:{hex}")
                .parse()
                .map_err(|e| format!("{}: not a blob name: {e}", path.display()))?;
            let actual = hash_file(&path, &digest).await?;
            if actual != digest {
                return Err(format!(
                    "{}: content does not match its name (it hashes to {actual}); the export was altered or damaged",
                    path.display()
                ));
            }
            found.push((digest, path));
        }
    }
    Ok(found)
}

async fn hash_file(path: &Path, digest: &Digest) -> Result<Digest, String> {
    let mut hasher = DigestHasher::new(digest.algorithm());
    let mut chunks = Chunks::open(path).await?;
    while let Some(chunk) = chunks.next().await? {
        hasher.update(chunk);
    }
    Ok(hasher.finish())
}

/// Stream one checked blob into the site's store (which hashes it again).
async fn copy_blob(store: &Store, digest: &Digest, path: &Path) -> Result<(), String> {
    if store.has_blob(digest) {
        return Ok(());
    }
    let mut writer = store.blob_writer(digest).await.map_err(|e| e.to_string())?;
    let mut chunks = Chunks::open(path).await?;
    while let Some(chunk) = chunks.next().await? {
        writer.write(chunk).await.map_err(|e| e.to_string())?;
    }
    writer
        .commit()
        .await
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A file read in bounded chunks, errors naming the file.
struct Chunks<'a> {
    path: &'a Path,
    file: tokio::fs::File,
    buffer: Vec<u8>,
}

impl<'a> Chunks<'a> {
    async fn open(path: &'a Path) -> Result<Chunks<'a>, String> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Chunks {
            path,
            file,
            buffer: vec![0u8; 256 * 1024],
        })
    }

    async fn next(&mut self) -> Result<Option<&[u8]>, String> {
        let n = self
            .file
            .read(&mut self.buffer)
            .await
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok((n > 0).then(|| self.buffer.get(..n).unwrap_or_default()))
    }
}
