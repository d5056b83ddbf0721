//! `Manifest`: manifest bytes whose digest signgate computed itself.

use bytes::Bytes;
use http::HeaderValue;
use serde::de::IgnoredAny;

use super::error::UpstreamErrorKind;
use crate::oci::{is_manifest_media_type, Digest, DigestAlgorithm, DigestHasher};

/// Manifest bytes exactly as the upstream sent them, with the digest
/// signgate computed over them. There is no other way to build one, so any
/// `Manifest` in hand has a trustworthy digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    digest: Digest,
    media_type: HeaderValue,
    bytes: Bytes,
}

/// The fields signgate reads to tell what a manifest is.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestShape {
    media_type: Option<String>,
    manifests: Option<IgnoredAny>,
    layers: Option<IgnoredAny>,
    fs_layers: Option<IgnoredAny>,
}

impl Manifest {
    /// Check bytes from upstream: they must hash to `expected` (when the
    /// request named a digest) and be a manifest of a type signgate serves.
    pub(super) fn from_upstream(
        expected: Option<&Digest>,
        content_type: Option<&HeaderValue>,
        bytes: Bytes,
    ) -> Result<Manifest, UpstreamErrorKind> {
        let algorithm = expected.map_or(DigestAlgorithm::Sha256, Digest::algorithm);
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(&bytes);
        let digest = hasher.finish();
        if let Some(expected) = expected {
            if &digest != expected {
                return Err(UpstreamErrorKind::DigestMismatch {
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let shape: ManifestShape = serde_json::from_slice(&bytes).map_err(|e| {
            UpstreamErrorKind::BadResponse(format!("manifest {digest} is not a JSON manifest: {e}"))
        })?;
        let header_type = content_type
            .and_then(|v| v.to_str().ok())
            .map(|t| t.split(';').next().unwrap_or_default().trim())
            .filter(|t| is_manifest_media_type(t));
        let body_type = shape.media_type.as_deref();
        if let (Some(h), Some(b)) = (header_type, body_type) {
            if !h.eq_ignore_ascii_case(b) {
                return Err(UpstreamErrorKind::BadResponse(format!(
                    "manifest {digest} was sent as '{h}' but says it is '{b}'"
                )));
            }
        }
        let media_type = match (header_type, body_type) {
            (Some(t), _) => t.to_owned(),
            (None, Some(t)) if is_manifest_media_type(t) => t.to_owned(),
            // OCI allows omitting mediaType; the shape says which it is.
            (None, None) if shape.manifests.is_some() => {
                "application/vnd.oci.image.index.v1+json".to_owned()
            }
            (None, None) if shape.layers.is_some() => {
                "application/vnd.oci.image.manifest.v1+json".to_owned()
            }
            (None, None) if shape.fs_layers.is_some() => {
                "application/vnd.docker.distribution.manifest.v1+prettyjws".to_owned()
            }
            _ => {
                return Err(UpstreamErrorKind::BadResponse(format!(
                    "manifest {digest} has no manifest media type"
                )))
            }
        };
        let media_type = HeaderValue::from_str(&media_type)
            .map_err(|_| UpstreamErrorKind::BadResponse("invalid media type".into()))?;
        Ok(Manifest {
            digest,
            media_type,
            bytes,
        })
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn media_type(&self) -> &HeaderValue {
        &self.media_type
    }

    /// The bytes to serve: cheap to clone (shared).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

    fn body(media_type: Option<&str>) -> Bytes {
        let mt = media_type
            .map(|m| format!(r#""mediaType":"{m}","#))
            .unwrap_or_default();
        Bytes::from(format!(
            r#"{{"schemaVersion":2,{mt}"config":{{}},"layers":[]}}"#
        ))
    }

    #[test]
    fn the_digest_is_computed_not_believed() {
        let b = body(Some(OCI));
        let right = Digest::sha256_of(&b);
        let m = Manifest::from_upstream(
            Some(&right),
            Some(&HeaderValue::from_static(OCI)),
            b.clone(),
        )
        .unwrap();
        assert_eq!(m.digest(), &right);
        assert_eq!(m.media_type(), OCI);
        let wrong = Digest::sha256_of(b"other");
        let err = Manifest::from_upstream(Some(&wrong), None, b).unwrap_err();
        assert!(
            matches!(err, UpstreamErrorKind::DigestMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn media_type_comes_from_header_or_body_and_must_agree() {
        let m = Manifest::from_upstream(
            None,
            Some(&HeaderValue::from_static("application/json")),
            body(Some(OCI)),
        )
        .unwrap();
        assert_eq!(m.media_type(), OCI);
        let m = Manifest::from_upstream(None, None, body(None)).unwrap();
        assert_eq!(m.media_type(), OCI);
        let index = HeaderValue::from_static("application/vnd.oci.image.index.v1+json");
        let err = Manifest::from_upstream(None, Some(&index), body(Some(OCI))).unwrap_err();
        assert!(err.to_string().contains("says it is"), "{err}");
    }

    #[test]
    fn non_manifests_are_refused() {
        for bad in [
            &b"<html>"[..],
            b"{}",
            br#"{"mediaType":"text/plain"}"#,
            b"[1,2]",
        ] {
            assert!(Manifest::from_upstream(None, None, Bytes::from_static(bad)).is_err());
        }
    }
}
