//! Signature discovery: given an image digest, find the signature material
//! the upstream holds for it.
//!
//! Discovery reads signature *manifests* only (OCI 1.1 referrers, the
//! `sha256-<hex>.sig` and `.att` tags); layer payloads are fetched later, by
//! the gate, and only those a requirement can use ([`plan`]): one request
//! must never make signgate download more than [`MAX_MATERIAL_BYTES`].
//!
//! Architecture invariant: input is a digest, never a tag; this module
//! decides nothing about trust. "Nothing found" and "could not look" are
//! different answers: an upstream error is an error, not "unsigned".

use std::collections::BTreeMap;

use bytes::Bytes;
use http::HeaderValue;
use serde::Deserialize;

use crate::oci::{
    Digest, Repository, Tag, BUNDLE_MEDIA_TYPE_PREFIX, DSSE_ENVELOPE_MEDIA_TYPE,
    SIGNATURE_MANIFEST_ACCEPT, SIMPLE_SIGNING_MEDIA_TYPE,
};
use crate::upstream::{Upstream, UpstreamError, UpstreamErrorKind};
use crate::verify::Want;

pub mod inert;

/// Signature layers are vocabulary (verify reads them, discovery makes
/// them): they live in `oci`.
pub use crate::oci::{SignatureLayer, SIGNATURE_ANNOTATION};
/// Signature manifests with more layers than this are refused.
const MAX_LAYERS: usize = 64;
/// Simple-signing payloads are a few hundred bytes.
const MAX_PAYLOAD: usize = 256 * 1024;

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
    /// Parsed at the read: an invalid digest makes the manifest unreadable.
    #[serde(deserialize_with = "crate::oci::deserialize_digest")]
    digest: Digest,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// DSSE envelopes and bundles carry statements; SBOM attestations can be
/// large.
const MAX_ENVELOPE: usize = 16 * 1024 * 1024;
/// Referrer manifests examined per digest.
const MAX_REFERRERS: usize = 64;
/// All payloads fetched for one digest, counted once per layer digest: far
/// above any real signature set (SBOM attestations included).
pub const MAX_MATERIAL_BYTES: u64 = 64 * 1024 * 1024;

/// Whether a layer of this media type is signature material: the one
/// classifier, [`crate::oci::layer_kind`].
pub fn is_material(media_type: &str) -> bool {
    crate::oci::layer_kind(media_type).is_some()
}

/// The most a layer of this media type may weigh.
pub fn limit(media_type: &str) -> usize {
    if media_type == SIMPLE_SIGNING_MEDIA_TYPE {
        MAX_PAYLOAD
    } else {
        MAX_ENVELOPE
    }
}

/// A discovery that could not complete. `Upstream` is transient (the
/// upstream failed; not cached); `Refused` is definitive: the material
/// itself is unacceptable (too large, too many layers, unreadable), and the
/// same answer would come again.
#[derive(Debug, Clone)]
pub enum DiscoveryError {
    Upstream(std::sync::Arc<UpstreamError>),
    Refused(String),
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiscoveryError::Upstream(e) => {
                write!(f, "upstream error while fetching signatures: {e}")
            }
            DiscoveryError::Refused(why) => write!(f, "signature material refused: {why}"),
        }
    }
}

impl From<UpstreamError> for DiscoveryError {
    fn from(e: UpstreamError) -> Self {
        DiscoveryError::Upstream(std::sync::Arc::new(e))
    }
}

/// Whether a layer of this media type can serve what a requirement wants
/// ([`Want`], verify's own type): payloads of other kinds are never fetched.
pub fn uses(want: Want, media_type: &str) -> bool {
    match want {
        Want::Signature => {
            media_type == SIMPLE_SIGNING_MEDIA_TYPE
                || media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX)
        }
        Want::Attestation => {
            media_type == DSSE_ENVELOPE_MEDIA_TYPE
                || media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX)
        }
    }
}

/// The payloads to fetch for `purpose`: each layer digest once, with the
/// size its manifest declares as the bound. Refused when they add up to more
/// than [`MAX_MATERIAL_BYTES`]. Layers declaring more than their kind's
/// limit are left without payload (the verifier says so).
pub fn plan(found: &Discovered, want: Want) -> Result<Vec<(Digest, usize)>, DiscoveryError> {
    let mut wanted: BTreeMap<Digest, usize> = BTreeMap::new();
    for layer in found.layers.iter().filter(|l| uses(want, &l.media_type)) {
        let bound = limit(&layer.media_type);
        let Ok(size) = usize::try_from(layer.size) else {
            continue;
        };
        if size > bound {
            continue;
        }
        wanted.entry(layer.digest.clone()).or_insert(size);
    }
    let total: u64 = wanted.values().map(|s| *s as u64).sum();
    if total > MAX_MATERIAL_BYTES {
        return Err(DiscoveryError::Refused(format!(
            "{} signature payloads declare {total} bytes in all, more than the {MAX_MATERIAL_BYTES}-byte bound",
            wanted.len()
        )));
    }
    Ok(wanted.into_iter().collect())
}

/// Find every signature and attestation manifest for `digest` in
/// `repository` on `upstream`, in every place cosign writes them: OCI 1.1
/// referrers (API or tag schema; sigstore bundles, cosign v3's default), the
/// `sha256-<hex>.sig` tag and the `sha256-<hex>.att` tag. Layers come back
/// without payloads: see [`plan`].
pub async fn discover(
    upstream: &Upstream,
    repository: &Repository,
    digest: &Digest,
) -> Result<Discovered, DiscoveryError> {
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
) -> Result<(), DiscoveryError> {
    found.looked_at.push(format!(
        "{}/{repository} referrers of {digest}",
        upstream.name()
    ));
    let descriptors = upstream.referrer_descriptors(repository, digest).await?;
    if descriptors.len() > MAX_REFERRERS {
        return Err(DiscoveryError::Refused(format!(
            "{digest} has more than {MAX_REFERRERS} referrers"
        )));
    }
    let accept = HeaderValue::from_static(SIGNATURE_MANIFEST_ACCEPT);
    let mut seen = std::collections::BTreeSet::new();
    for descriptor in descriptors {
        let media_type = descriptor.media_type.as_deref().unwrap_or_default();
        if media_type.contains("index") || media_type.contains("manifest.list") {
            continue;
        }
        // Typed: a referrer without a valid digest refused the whole list.
        let referrer = descriptor.digest;
        // A referrer listed twice is read once.
        if !seen.insert(referrer.clone()) {
            continue;
        }
        let manifest = upstream
            .fetch_manifest(repository, &referrer, &accept)
            .await?;
        let found_at = format!("{}/{repository}@{referrer} (referrer)", upstream.name());
        read_layers(manifest.bytes(), &found_at, found)?;
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
) -> Result<(), DiscoveryError> {
    let tag: Tag = format!("{}.{suffix}", digest.to_tag_form())
        .parse()
        .map_err(|_| {
            DiscoveryError::from(UpstreamError::new(
                upstream.name(),
                UpstreamErrorKind::BadResponse("signature tag".into()),
            ))
        })?;
    let found_at = format!("{}/{repository}:{tag}", upstream.name());
    found.looked_at.push(found_at.clone());
    let accept = HeaderValue::from_static(SIGNATURE_MANIFEST_ACCEPT);
    let Some(manifest) = upstream
        .fetch_tagged_manifest(repository, &tag, &accept)
        .await?
    else {
        return Ok(());
    };
    read_layers(manifest.bytes(), &found_at, found)
}

/// Reads a signature manifest (one reader for every signature manifest).
fn read_signature_manifest(manifest: &[u8]) -> Result<SigManifest, String> {
    crate::oci::json::read(manifest, crate::oci::json::Document::Manifest)
        .map_err(|e| e.to_string())
}

/// The layer descriptors of one signature manifest; payloads come later.
fn read_layers(
    manifest: &[u8],
    found_at: &str,
    found: &mut Discovered,
) -> Result<(), DiscoveryError> {
    let refuse = DiscoveryError::Refused;
    let parsed = read_signature_manifest(manifest)
        .map_err(|e| refuse(format!("signature manifest {found_at} is unreadable: {e}")))?;
    if parsed.layers.len() > MAX_LAYERS || found.layers.len() + parsed.layers.len() > 4 * MAX_LAYERS
    {
        return Err(refuse(format!(
            "signature manifest {found_at} has too many layers"
        )));
    }
    for layer in parsed.layers {
        found.layers.push(SignatureLayer {
            media_type: layer.media_type,
            digest: layer.digest,
            size: layer.size,
            payload: Bytes::new(),
            annotations: layer.annotations,
            found_at: found_at.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(media_type: &str, hex: char, size: u64) -> SignatureLayer {
        SignatureLayer {
            media_type: media_type.to_owned(),
            digest: format!("sha256:{}", hex.to_string().repeat(64))
                .parse()
                .unwrap(),
            size,
            payload: Bytes::new(),
            annotations: BTreeMap::new(),
            found_at: "test".into(),
        }
    }

    fn found(layers: Vec<SignatureLayer>) -> Discovered {
        Discovered {
            looked_at: Vec::new(),
            layers,
        }
    }

    #[test]
    fn a_plan_fetches_each_digest_once_and_only_what_the_purpose_uses() {
        let bundle = "application/vnd.dev.sigstore.bundle.v0.3+json";
        let f = found(vec![
            layer(SIMPLE_SIGNING_MEDIA_TYPE, 'a', 100),
            layer(SIMPLE_SIGNING_MEDIA_TYPE, 'a', 100),
            layer(DSSE_ENVELOPE_MEDIA_TYPE, 'b', 200),
            layer(bundle, 'c', 300),
            layer("application/vnd.oci.image.layer.v1.tar+gzip", 'd', 10),
        ]);
        let sig: Vec<u64> = plan(&f, Want::Signature)
            .unwrap()
            .iter()
            .map(|(_, s)| *s as u64)
            .collect();
        assert_eq!(sig, [100, 300]);
        let att: Vec<u64> = plan(&f, Want::Attestation)
            .unwrap()
            .iter()
            .map(|(_, s)| *s as u64)
            .collect();
        assert_eq!(att, [200, 300]);
    }

    #[test]
    fn a_plan_over_the_byte_bound_is_refused_and_oversized_layers_are_skipped() {
        // 5 × 16 MiB envelopes: 80 MiB > 64 MiB.
        let big = 16 * 1024 * 1024;
        let f = found(
            ['1', '2', '3', '4', '5']
                .iter()
                .map(|h| layer(DSSE_ENVELOPE_MEDIA_TYPE, *h, big))
                .collect(),
        );
        let err = plan(&f, Want::Attestation).unwrap_err();
        assert!(matches!(err, DiscoveryError::Refused(_)), "{err}");
        assert!(err.to_string().contains("67108864-byte bound"), "{err}");
        // The same digest listed five times counts once.
        let f = found(vec![layer(DSSE_ENVELOPE_MEDIA_TYPE, '1', big); 5]);
        assert_eq!(plan(&f, Want::Attestation).unwrap().len(), 1);
        // A simple-signing layer declaring 1 GiB is never fetched.
        let f = found(vec![layer(SIMPLE_SIGNING_MEDIA_TYPE, '1', 1 << 30)]);
        assert!(plan(&f, Want::Signature).unwrap().is_empty());
    }
}
