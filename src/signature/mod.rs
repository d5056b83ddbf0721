//! Signature discovery: given an image digest, find the signature material
//! the upstream holds for it.
//!
//! Sources are tried in order and their findings combined. Today: the
//! cosign tag scheme (`sha256-<hex>.sig`, simple-signing layers). OCI 1.1
//! referrers and sigstore bundles add as further sources.
//!
//! Architecture invariant: input is a digest, never a tag; this module
//! decides nothing about trust. "Nothing found" and "could not look" are
//! different answers: an upstream error is an error, not "unsigned".

use std::collections::BTreeMap;

use bytes::Bytes;
use http::HeaderValue;
use serde::Deserialize;

use crate::oci::{Digest, Repository, Tag};
use crate::upstream::{Upstream, UpstreamError, UpstreamErrorKind};

/// cosign's simple-signing payload media type.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Signature manifests with more layers than this are refused.
const MAX_LAYERS: usize = 64;
/// Simple-signing payloads are a few hundred bytes.
const MAX_PAYLOAD: usize = 256 * 1024;

/// One signature layer: the signed payload (fetched and digest-checked)
/// and its annotations.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    pub media_type: String,
    pub digest: Digest,
    pub payload: Bytes,
    pub annotations: BTreeMap<String, String>,
}

/// What discovery found for one digest in one repository.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Where it looked (`library/app:sha256-….sig`), for messages.
    pub looked_at: Vec<String>,
    pub layers: Vec<SignatureLayer>,
}

#[derive(Deserialize)]
struct SigManifest {
    #[serde(default)]
    layers: Vec<SigDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Find every signature layer for `digest` in `repository` on `upstream`.
pub async fn discover(
    upstream: &Upstream,
    repository: &Repository,
    digest: &Digest,
) -> Result<Discovered, UpstreamError> {
    let mut found = Discovered {
        looked_at: Vec::new(),
        layers: Vec::new(),
    };
    sig_tag(upstream, repository, digest, &mut found).await?;
    Ok(found)
}

/// The cosign tag scheme: `<repo>:sha256-<hex>.sig`.
async fn sig_tag(
    upstream: &Upstream,
    repository: &Repository,
    digest: &Digest,
    found: &mut Discovered,
) -> Result<(), UpstreamError> {
    let tag: Tag = format!("{}.sig", digest.to_tag_form())
        .parse()
        .map_err(|_| {
            UpstreamError::new(
                upstream.name(),
                UpstreamErrorKind::BadResponse("signature tag".into()),
            )
        })?;
    found
        .looked_at
        .push(format!("{}/{repository}:{tag}", upstream.name()));
    let accept = HeaderValue::from_static(
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    );
    let Some(manifest) = upstream
        .fetch_tagged_manifest(repository, &tag, &accept)
        .await?
    else {
        return Ok(());
    };
    let bad =
        |what: String| UpstreamError::new(upstream.name(), UpstreamErrorKind::BadResponse(what));
    let parsed: SigManifest = serde_json::from_slice(manifest.bytes())
        .map_err(|e| bad(format!("signature manifest {tag} is unreadable: {e}")))?;
    if parsed.layers.len() > MAX_LAYERS {
        return Err(bad(format!(
            "signature manifest {tag} has more than {MAX_LAYERS} layers"
        )));
    }
    for layer in parsed.layers {
        let layer_digest: Digest = layer
            .digest
            .parse()
            .map_err(|e| bad(format!("signature manifest {tag}: {e}")))?;
        // Only simple-signing payloads are signatures; anything else is
        // kept (without payload) so the verifier can say what it was.
        let payload = if layer.media_type == SIMPLE_SIGNING && layer.size <= MAX_PAYLOAD as u64 {
            upstream
                .fetch_blob(repository, &layer_digest, MAX_PAYLOAD)
                .await?
        } else {
            Bytes::new()
        };
        found.layers.push(SignatureLayer {
            media_type: layer.media_type,
            digest: layer_digest,
            payload,
            annotations: layer.annotations,
        });
    }
    Ok(())
}
