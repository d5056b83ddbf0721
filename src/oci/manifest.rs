//! `Manifest`: manifest bytes whose digest signgate computed itself.

use bytes::Bytes;
use http::HeaderValue;
use serde::de::IgnoredAny;

use super::json::{self, Document, StrictJsonError};
use super::media_type::{layer_kind, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use super::{is_manifest_media_type, Descriptor, Digest, DigestAlgorithm, DigestHasher};

/// Manifest bytes exactly as the upstream sent them, with the digest
/// signgate computed over them. There is no other way to build one, so any
/// `Manifest` in hand has a trustworthy digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    digest: Digest,
    media_type: HeaderValue,
    bytes: Bytes,
    /// Read once at fetch time: decisions consult it on every request.
    references: References,
    /// Read from the local store, not from the upstream.
    stored: bool,
}

/// The fields signgate reads from a manifest, read once through the strict
/// reader (which also refuses a document with both `manifests` and
/// `layers`/`config`). Every descriptor is typed: one with an invalid
/// digest makes the manifest unreadable.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    fs_layers: Option<IgnoredAny>,
    /// Read only to be checked: its digest must be valid too.
    #[serde(rename = "subject")]
    _subject: Option<Descriptor>,
}

/// Why bytes are not a [`Manifest`]. The upstream client words these as
/// its own errors (`UpstreamErrorKind`), so the texts stay its texts.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("content for {expected} has sha256 {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// The strict reader refused it (`MANIFEST_INVALID`).
    #[error("manifest {digest} is not a JSON manifest signgate can read: {error}")]
    Unreadable {
        digest: Digest,
        error: StrictJsonError,
    },
    /// Readable JSON, but not a manifest signgate serves.
    #[error("{0}")]
    Invalid(String),
}

impl Manifest {
    /// Check bytes (from an upstream or the store): they must hash to
    /// `expected` (when the request named a digest) and be a manifest of a
    /// type signgate serves. The only constructor: it hashes.
    pub fn from_upstream(
        expected: Option<&Digest>,
        content_type: Option<&HeaderValue>,
        bytes: Bytes,
    ) -> Result<Manifest, ManifestError> {
        let algorithm = expected.map_or(DigestAlgorithm::Sha256, Digest::algorithm);
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(&bytes);
        let digest = hasher.finish();
        if let Some(expected) = expected {
            if &digest != expected {
                return Err(ManifestError::DigestMismatch {
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let shape: Shape =
            json::read(&bytes, Document::Manifest).map_err(|error| ManifestError::Unreadable {
                digest: digest.clone(),
                error,
            })?;
        let header_type = content_type
            .and_then(|v| v.to_str().ok())
            .map(|t| t.split(';').next().unwrap_or_default().trim())
            .filter(|t| is_manifest_media_type(t));
        let body_type = shape.media_type.as_deref();
        if let (Some(h), Some(b)) = (header_type, body_type) {
            if !h.eq_ignore_ascii_case(b) {
                return Err(ManifestError::Invalid(format!(
                    "manifest {digest} was sent as '{h}' but says it is '{b}'"
                )));
            }
        }
        let media_type = match (header_type, body_type) {
            (Some(t), _) => t.to_owned(),
            (None, Some(t)) if is_manifest_media_type(t) => t.to_owned(),
            // OCI allows omitting mediaType; the shape says which it is.
            (None, None) if shape.manifests.is_some() => INDEX_MEDIA_TYPE.to_owned(),
            (None, None) if shape.layers.is_some() => MANIFEST_MEDIA_TYPE.to_owned(),
            (None, None) if shape.fs_layers.is_some() => {
                "application/vnd.docker.distribution.manifest.v1+prettyjws".to_owned()
            }
            _ => {
                return Err(ManifestError::Invalid(format!(
                    "manifest {digest} has no manifest media type"
                )))
            }
        };
        let media_type = HeaderValue::from_str(&media_type)
            .map_err(|_| ManifestError::Invalid("invalid media type".into()))?;
        let references = References::from_shape(shape);
        Ok(Manifest {
            digest,
            media_type,
            bytes,
            references,
            stored: false,
        })
    }

    /// The same manifest, marked as read from the local store.
    pub fn from_store(mut self) -> Manifest {
        self.stored = true;
        self
    }

    /// Whether it was read from the local store (the upstream could not be
    /// asked): responses say so, and decisions are made afresh.
    pub fn is_from_store(&self) -> bool {
        self.stored
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

/// What a manifest points at, read when a decision needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// Manifests an index lists.
    pub children: Vec<Digest>,
    /// Config and layer blobs an image manifest uses.
    pub blobs: Vec<Digest>,
    /// Every layer (or every listed artifact) is a signature or attestation:
    /// served unverified so clients can verify signatures themselves.
    pub signature_artifact: bool,
}

/// Whether a layer (or an index entry's `artifactType`) of this media type
/// is signature material: the one classifier, [`layer_kind`].
fn is_signature_type(media_type: &str) -> bool {
    layer_kind(media_type).is_some()
}

impl Manifest {
    /// The digests this manifest references.
    pub fn references(&self) -> &References {
        &self.references
    }
}

impl References {
    /// Every descriptor is read typed; nothing is skipped.
    fn from_shape(shape: Shape) -> References {
        let manifests = shape.manifests.unwrap_or_default();
        let layers = shape.layers.unwrap_or_default();
        let children = manifests.iter().map(|d| d.digest.clone()).collect();
        let blobs = shape
            .config
            .iter()
            .chain(&layers)
            .map(|d| d.digest.clone())
            .collect();
        let signature_artifact = if manifests.is_empty() {
            !layers.is_empty()
                && layers
                    .iter()
                    .all(|l| l.media_type.as_deref().is_some_and(is_signature_type))
        } else {
            manifests
                .iter()
                .all(|m| m.artifact_type.as_deref().is_some_and(is_signature_type))
        };
        References {
            children,
            blobs,
            signature_artifact,
        }
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
            r#"{{"schemaVersion":2,{mt}"config":{{"digest":"sha256:{}","size":2}},"layers":[]}}"#,
            "1".repeat(64)
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
        assert!(matches!(err, ManifestError::DigestMismatch { .. }), "{err}");
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

#[cfg(test)]
mod references_tests {
    use super::*;

    fn manifest(json: &str) -> Manifest {
        Manifest::from_upstream(None, None, Bytes::from(json.to_owned())).unwrap()
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn images_reference_config_and_layers_and_indexes_their_children() {
        let image = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":1}}]}}"#
        ));
        let r = image.references();
        assert_eq!(
            r.blobs.iter().map(Digest::as_str).collect::<Vec<_>>(),
            [D1, D2]
        );
        assert!(r.children.is_empty());
        assert!(!r.signature_artifact);
        let index = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D1}","size":1}}]}}"#
        ));
        assert_eq!(index.references().children.len(), 1);
        assert!(!index.references().signature_artifact);
    }

    fn refusal(json: &str) -> String {
        match Manifest::from_upstream(None, None, Bytes::from(json.to_owned())) {
            Err(e @ ManifestError::Unreadable { .. }) => e.to_string(),
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn manifests_go_would_read_otherwise_are_refused_naming_the_key() {
        let layer = format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":1}}"#
        );
        let sig = layer.replace(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.dev.cosign.simplesigning.v1+json",
        );
        let e = refusal(&format!(
            r#"{{"schemaVersion":2,"layers":[{sig}],"Layers":[{layer}]}}"#
        ));
        assert!(e.contains("is not a JSON manifest signgate can read: key `Layers` at `$` would be read as `layers` by Go"), "{e}");
        let e = refusal(&format!(
            r#"{{"schemaVersion":2,"config":{layer},"manifests":[{layer}]}}"#
        ));
        assert!(e.contains("keys `manifests` and `config` at `$`"), "{e}");
    }

    #[test]
    fn a_descriptor_with_an_invalid_digest_refuses_the_manifest() {
        for (json, path) in [
            (
                format!(
                    r#"{{"schemaVersion":2,"layers":[{{"digest":"{D1}"}},{{"digest":"sha256:zz"}}]}}"#
                ),
                "`$.layers[1].digest`",
            ),
            (
                r#"{"schemaVersion":2,"manifests":[{"digest":"md5:00"}]}"#.to_owned(),
                "`$.manifests[0].digest`",
            ),
            (
                r#"{"schemaVersion":2,"layers":[],"config":{"size":1}}"#.to_owned(),
                "`$.config`: missing field `digest`",
            ),
            (
                format!(r#"{{"schemaVersion":2,"layers":[],"subject":{{"digest":"{D1}x"}}}}"#),
                "`$.subject.digest`",
            ),
        ] {
            let e = refusal(&json);
            assert!(e.contains(path), "{e}");
        }
    }

    #[test]
    fn signature_artifacts_are_recognised_by_every_layer_not_by_name() {
        let sig = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":1}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{D2}","size":1}}]}}"#
        ));
        assert!(sig.references().signature_artifact);
        let mixed = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":1}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{D2}","size":1}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":1}}]}}"#
        ));
        assert!(!mixed.references().signature_artifact);
        let empty = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":1}},"layers":[]}}"#
        ));
        assert!(!empty.references().signature_artifact);
    }
}
