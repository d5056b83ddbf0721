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
//! Not on the request path: manifests are decided through the typed door
//! (`App::decide_image`), and blobs stream through `App::handle` as a
//! client's would.

mod export;
mod import;
mod platforms;
mod progress;

pub use export::{export, ExportOptions};
pub use import::import;

use http_body_util::BodyExt;

use crate::oci::ImageRef;
use crate::proxy::{AdmittedImage, App, ImageVerdict, ProxyError};

/// Where an export keeps what is not image content.
pub const META_DIR: &str = "signgate";
/// The export's own record: images, digests, verdicts.
pub const EXPORT_FILE: &str = "export.json";

/// The admitted manifest of `image`, or why not: the message a client
/// pulling it would be sent.
pub(crate) async fn admitted(app: &App, image: &ImageRef) -> Result<AdmittedImage, String> {
    match app.decide_image(image).await {
        Ok(ImageVerdict::Admitted(admitted)) => Ok(admitted),
        Ok(ImageVerdict::Denied(denial)) => Err(ProxyError::Denied(denial).public_message()),
        Err(e) => Err(e.public_message()),
    }
}

/// The signgate error message of a refused blob request.
fn reason(status: u16, body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v.get("errors")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("message"))
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
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
        return Err(reason(status, &body));
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
