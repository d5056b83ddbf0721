//! `signgate mirror IMAGE… --to DIR`: export what the gate admits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::progress::Progress;
use super::{admitted, drain, platforms, EXPORT_FILE, META_DIR};
use crate::config::{Config, Mode, PolicySource, StoreConfig};
use crate::oci::{ImageRef, Reference};
use crate::policy::PolicySet;
use crate::proxy::App;
use crate::route::Router;

/// What to export.
pub struct ExportOptions {
    pub images: Vec<String>,
    pub to: PathBuf,
    /// `os/arch[/variant]` of the platform manifests to take from an index;
    /// empty: all.
    pub platforms: Vec<String>,
    /// The roots in force: their TUF metadata travels with the images.
    pub trust: Option<std::sync::Arc<crate::trust::Trust>>,
}

/// Per image: its digest and verdict; the export's totals.
pub struct ExportReport {
    pub exported: Vec<(String, String)>,
    pub refused: Vec<(String, String)>,
    pub bytes: u64,
}

/// How long a blob that streamed through may take to land in the store.
const KEEP_WAIT: Duration = Duration::from_secs(60);

pub async fn export(
    config: &Config,
    policies: PolicySet,
    options: &ExportOptions,
) -> Result<ExportReport, String> {
    let mut config = config.clone();
    config.mode = Mode::Online;
    config.store = Some(StoreConfig {
        path: options.to.clone(),
        budget_bytes: u64::MAX,
    });
    for u in &mut config.upstreams {
        u.store = true;
    }
    let app = App::new(&config, policies)?;
    let router = Router::new(&config.upstreams);
    let store = app
        .store()
        .cloned()
        .ok_or("internal: export without a store")?;
    let progress = Progress::new(options.images.len() as u64);
    let mut report = ExportReport {
        exported: Vec::new(),
        refused: Vec::new(),
        bytes: 0,
    };
    let mut records = Vec::new();
    for image in &options.images {
        progress.image(image);
        match export_one(&app, &router, &store, image, &options.platforms, &progress).await {
            Ok((digest, bytes, children)) => {
                progress.done(image, &format!("exported {digest}"));
                records.push(json!({"image": image, "digest": digest, "status": "exported", "platform-manifests": children}));
                report.exported.push((image.clone(), digest));
                report.bytes += bytes;
            }
            Err(reason) => {
                progress.done(image, &format!("REFUSED: {reason}"));
                records.push(json!({"image": image, "status": "refused", "reason": reason}));
                report.refused.push((image.clone(), reason));
            }
        }
    }
    progress.finish();
    write_meta(&config, options.trust.as_deref(), &options.to, records)?;
    Ok(report)
}

/// One image: admitted manifest(s), then every blob they reference.
async fn export_one(
    app: &App,
    router: &Router,
    store: &crate::store::Store,
    image: &str,
    platforms: &[String],
    progress: &Progress,
) -> Result<(String, u64, Vec<String>), String> {
    let typed = router.image_ref(image).map_err(|e| e.to_string())?;
    let top = admitted(app, &typed).await?;
    if top.admission.is_signature_artifact() {
        return Err("signature material, not an image: it travels with the image it signs".into());
    }
    let digest = top.admission.digest().to_string();
    // The manifests whose blobs are exported: the platform manifests an
    // index lists (the chosen ones), or the image manifest itself.
    let mut manifests = Vec::new();
    let mut children = Vec::new();
    if let Some(entries) = platforms::entries(top.manifest.bytes())? {
        for entry in entries {
            let platform = entry.platform;
            if !platforms.is_empty() && !platforms.contains(&platform) {
                continue;
            }
            let child_digest = entry.digest.ok_or("index entry without digest")?;
            let child = ImageRef {
                reference: Reference::Digest(child_digest.clone()),
                ..typed.clone()
            };
            let got = admitted(app, &child).await.map_err(|reason| {
                format!("platform manifest {platform} ({child_digest}): {reason}")
            })?;
            children.push(format!("{platform} {child_digest}"));
            manifests.push(got.manifest);
        }
        if children.is_empty() {
            return Err(format!(
                "no platform manifest matches {}",
                platforms.join(", ")
            ));
        }
    } else {
        manifests.push(top.manifest);
    }
    let mut bytes = 0;
    for manifest in &manifests {
        // Config and layers, typed when the gate read the manifest.
        for d in &manifest.references().blobs {
            // Resumable: what an earlier run kept is not fetched again.
            for _attempt in 0..2 {
                if store.has_blob(d) {
                    break;
                }
                let path = format!("/v2/{}/blobs/{d}?ns={}", typed.repository, typed.registry);
                bytes += drain(app, &path, progress).await?;
                // The bytes were kept as they streamed; the writer publishes
                // once they verified.
                let deadline = tokio::time::Instant::now() + KEEP_WAIT;
                while !store.has_blob(d) && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            if !store.has_blob(d) {
                return Err(format!("blob {d} could not be kept"));
            }
        }
    }
    Ok((digest, bytes, children))
}

/// The policy and trust files in force, and the export record.
fn write_meta(
    config: &Config,
    trust_in_force: Option<&crate::trust::Trust>,
    to: &Path,
    records: Vec<Value>,
) -> Result<(), String> {
    let meta = to.join(META_DIR);
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    std::fs::create_dir_all(meta.join("policies")).map_err(|e| io("create", &meta, e))?;
    std::fs::create_dir_all(meta.join("trust")).map_err(|e| io("create", &meta, e))?;
    if let Some(PolicySource::Dir(dir)) = &config.policies {
        for entry in std::fs::read_dir(dir).map_err(|e| io("read", dir, e))? {
            let path = entry.map_err(|e| io("read", dir, e))?.path();
            if let (true, Some(file)) = (path.is_file(), path.file_name()) {
                std::fs::copy(&path, meta.join("policies").join(file))
                    .map_err(|e| io("copy", &path, e))?;
            }
        }
    }
    let mut trust = Vec::new();
    if let Some(p) = &config.trust.trusted_root {
        trust.push(("default".to_owned(), p.clone()));
    }
    for (name, p) in &config.trust.roots {
        trust.push((name.clone(), p.clone()));
    }
    let mut roots = serde_json::Map::new();
    for (name, path) in trust {
        let file = format!("{name}.trusted_root.json");
        std::fs::copy(&path, meta.join("trust").join(&file)).map_err(|e| io("copy", &path, e))?;
        roots.insert(name, json!(format!("trust/{file}")));
    }
    std::fs::write(
        meta.join("trust").join("public-good.trusted_root.json"),
        crate::verify::trust::PUBLIC_GOOD,
    )
    .map_err(|e| io("write", &meta, e))?;
    // TUF repository copies of the roots in force, for `signgate trust
    // import` at the site (verified there from its own bootstrap roots).
    let tuf = match trust_in_force {
        Some(t) => t.export_repositories(&meta.join("trust").join("tuf"))?,
        None => Vec::new(),
    };
    let tuf: serde_json::Map<String, Value> = tuf
        .into_iter()
        .map(|name| {
            let dir = format!("trust/tuf/{name}");
            (name, json!(dir))
        })
        .collect();
    let record = json!({
        "signgate": env!("CARGO_PKG_VERSION"),
        "created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "images": records,
        "trust": roots,
        "tuf": tuf,
    });
    let path = meta.join(EXPORT_FILE);
    let text = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| io("write", &path, e))
}
