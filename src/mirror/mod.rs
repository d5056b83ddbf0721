//! `signgate mirror`: carry verified images across an air gap.
//!
//! `export` runs each image through the proxy's own pipeline (the same
//! gate, policies and trusted roots) with a store in the export directory:
//! what the gate admits is kept there — index, the selected platform
//! manifests, configs, layers, and every signature and attestation artifact
//! discovery fetched — with the policy and trust files in force and a
//! manifest of what was exported. What would be denied is not exported.
//!
//! `import` checks every blob of an export against its name, then runs
//! every image through the gate again, offline, with the importing site's
//! own policies and roots, reading only the export; only what passes is
//! copied into the site's store and becomes servable.
//!
//! Not on the request path; it drives `App::handle` like a client would.

mod export;
mod import;
mod progress;

pub use export::{export, ExportOptions};
pub use import::import;

use http_body_util::BodyExt;

use crate::oci::DEFAULT_MANIFEST_ACCEPT;
use crate::proxy::App;

/// Where an export keeps what is not image content.
pub const META_DIR: &str = "signgate";
/// The export's own record: images, digests, verdicts.
pub const EXPORT_FILE: &str = "export.json";

/// `registry/repository[:tag|@digest]` → (`registry/repository`, reference).
pub fn split_image(image: &str) -> (String, String) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name.to_owned(), digest.to_owned());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    let last = image.get(last_slash..).unwrap_or_default();
    match last.rsplit_once(':') {
        Some((name, tag)) => {
            let at = last_slash + name.len();
            (
                image.get(..at).unwrap_or_default().to_owned(),
                tag.to_owned(),
            )
        }
        None => (image.to_owned(), "latest".to_owned()),
    }
}

/// What `App::handle` answered for one GET.
pub(crate) struct Got {
    pub status: u16,
    pub digest: Option<String>,
    /// Admitted as signature material, not as an image.
    pub artifact: bool,
    pub body: bytes::Bytes,
}

impl Got {
    /// The signgate error message of a refused request.
    pub fn reason(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["errors"][0]["message"]
            .as_str()
            .map_or_else(|| format!("HTTP {}", self.status), str::to_owned)
    }
}

/// GET `path` through the proxy pipeline, reading the whole body.
pub(crate) async fn get(app: &App, path: &str) -> Result<Got, String> {
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, DEFAULT_MANIFEST_ACCEPT)
        .body(())
        .map_err(|e| e.to_string())?;
    let response = app.handle(request, None).await;
    let status = response.status().as_u16();
    let digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let artifact = response
        .headers()
        .contains_key(crate::respond::ADMISSION_HEADER);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{path}: {e}"))?
        .to_bytes();
    Ok(Got {
        status,
        digest,
        artifact,
        body,
    })
}

/// GET a blob through the pipeline, discarding its bytes as they stream
/// (the store keeps them); returns the byte count.
pub(crate) async fn drain(
    app: &App,
    path: &str,
    progress: &progress::Progress,
) -> Result<u64, String> {
    let request = http::Request::get(path)
        .body(())
        .map_err(|e| e.to_string())?;
    let response = app.handle(request, None).await;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(Got {
            status,
            digest: None,
            artifact: false,
            body,
        }
        .reason());
    }
    let mut body = std::pin::pin!(response.into_body());
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("{path}: {e}"))?;
        if let Some(data) = frame.data_ref() {
            n += data.len() as u64;
            progress.bytes(data.len() as u64);
        }
    }
    Ok(n)
}
