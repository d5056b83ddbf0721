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
    /// Where it was found (`registry/repo:sha256-….sig`), for messages.
    pub found_at: String,
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

/// cosign's legacy attestation layer: a DSSE envelope.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Sigstore bundle layers: every version's media type starts so.
pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// DSSE envelopes and bundles carry statements; SBOM attestations can be
/// large.
const MAX_ENVELOPE: usize = 16 * 1024 * 1024;
/// Referrer manifests examined per digest.
const MAX_REFERRERS: usize = 64;

/// Whether a layer of this media type is signature material.
fn is_material(media_type: &str) -> bool {
    media_type == SIMPLE_SIGNING
        || media_type == DSSE_ENVELOPE
        || media_type.starts_with(BUNDLE_PREFIX)
}

/// The most a layer of this media type may weigh.
fn limit(media_type: &str) -> usize {
    if media_type == SIMPLE_SIGNING {
        MAX_PAYLOAD
    } else {
        MAX_ENVELOPE
    }
}

/// Find every signature and attestation layer for `digest` in `repository`
/// on `upstream`, in every place cosign writes them: OCI 1.1 referrers
/// (API or tag schema; sigstore bundles, cosign v3's default), the
/// `sha256-<hex>.sig` tag and the `sha256-<hex>.att` tag.
pub async fn discover(
    upstream: &Upstream,
    repository: &Repository,
    digest: &Digest,
) -> Result<Discovered, UpstreamError> {
    let mut found = Discovered {
        looked_at: Vec::new(),
        layers: Vec::new(),
    };
    referrers(upstream, repository, digest, &mut found).await?;
    for suffix in ["sig", "att"] {
        suffixed_tag(upstream, repository, digest, suffix, &mut found).await?;
    }
    Ok(found)
}

/// OCI 1.1 referrers: every referrer manifest's bundle, DSSE and
/// simple-signing layers. The index entries' `artifactType` is not trusted
/// (tag-schema indexes often say `application/vnd.oci.empty.v1+json`):
/// layers are recognised by their own media type.
async fn referrers(
    upstream: &Upstream,
    repository: &Repository,
    digest: &Digest,
    found: &mut Discovered,
) -> Result<(), UpstreamError> {
    found.looked_at.push(format!(
        "{}/{repository} referrers of {digest}",
        upstream.name()
    ));
    let bad =
        |what: String| UpstreamError::new(upstream.name(), UpstreamErrorKind::BadResponse(what));
    let descriptors = upstream.referrer_descriptors(repository, digest).await?;
    if descriptors.len() > MAX_REFERRERS {
        return Err(bad(format!(
            "{digest} has more than {MAX_REFERRERS} referrers"
        )));
    }
    let accept = HeaderValue::from_static(
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    );
    for descriptor in descriptors {
        let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
        if media_type.contains("index") || media_type.contains("manifest.list") {
            continue;
        }
        let Some(referrer) = descriptor["digest"]
            .as_str()
            .and_then(|d| d.parse::<Digest>().ok())
        else {
            return Err(bad(format!("a referrer of {digest} has no valid digest")));
        };
        let manifest = upstream
            .fetch_manifest(repository, &referrer, &accept)
            .await?;
        let found_at = format!("{}/{repository}@{referrer} (referrer)", upstream.name());
        read_layers(upstream, repository, manifest.bytes(), &found_at, found).await?;
    }
    Ok(())
}

/// The cosign tag scheme: `<repo>:sha256-<hex>.sig` / `.att`.
async fn suffixed_tag(
    upstream: &Upstream,
    repository: &Repository,
    digest: &Digest,
    suffix: &str,
    found: &mut Discovered,
) -> Result<(), UpstreamError> {
    let tag: Tag = format!("{}.{suffix}", digest.to_tag_form())
        .parse()
        .map_err(|_| {
            UpstreamError::new(
                upstream.name(),
                UpstreamErrorKind::BadResponse("signature tag".into()),
            )
        })?;
    let found_at = format!("{}/{repository}:{tag}", upstream.name());
    found.looked_at.push(found_at.clone());
    let accept = HeaderValue::from_static(
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    );
    let Some(manifest) = upstream
        .fetch_tagged_manifest(repository, &tag, &accept)
        .await?
    else {
        return Ok(());
    };
    read_layers(upstream, repository, manifest.bytes(), &found_at, found).await
}

/// The layers of one signature manifest, with their blobs when they are
/// signature material (fetched, bounded, digest-checked). Other layers are
/// kept without payload so the verifier can say what they were.
async fn read_layers(
    upstream: &Upstream,
    repository: &Repository,
    manifest: &[u8],
    found_at: &str,
    found: &mut Discovered,
) -> Result<(), UpstreamError> {
    let bad =
        |what: String| UpstreamError::new(upstream.name(), UpstreamErrorKind::BadResponse(what));
    let parsed: SigManifest = serde_json::from_slice(manifest)
        .map_err(|e| bad(format!("signature manifest {found_at} is unreadable: {e}")))?;
    if parsed.layers.len() > MAX_LAYERS || found.layers.len() + parsed.layers.len() > 4 * MAX_LAYERS
    {
        return Err(bad(format!(
            "signature manifest {found_at} has too many layers"
        )));
    }
    for layer in parsed.layers {
        let layer_digest: Digest = layer
            .digest
            .parse()
            .map_err(|e| bad(format!("signature manifest {found_at}: {e}")))?;
        let bound = limit(&layer.media_type);
        let payload = if is_material(&layer.media_type) && layer.size <= bound as u64 {
            upstream
                .fetch_blob(repository, &layer_digest, bound)
                .await?
        } else {
            Bytes::new()
        };
        found.layers.push(SignatureLayer {
            media_type: layer.media_type,
            digest: layer_digest,
            payload,
            annotations: layer.annotations,
            found_at: found_at.to_owned(),
        });
    }
    Ok(())
}
