//! What a stored manifest references, for GC's reachability walk.
//!
//! `oci::References` answers a different question (what a decision may
//! admit) and ignores `subject`; GC must keep everything a root can lead to,
//! so it reads every descriptor: an index's `manifests`, an image's `config`,
//! `layers` and `subject`, an artifact manifest's `blobs`, and schema 1's
//! `fsLayers`. Parsing is deliberately lenient: unknown fields are ignored
//! and unusable digests skipped, since a missed reference can only make GC
//! keep less, and a manifest that is not JSON has no references at all.

use serde::Deserialize;

use crate::oci::Digest;

/// The digests one manifest points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestRefs {
    /// Further manifests to walk: an index's children and a referrer's subject.
    pub manifests: Vec<Digest>,
    /// Leaves: config and layer blobs.
    pub blobs: Vec<Digest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    #[serde(default)]
    manifests: Vec<Desc>,
    config: Option<Desc>,
    #[serde(default)]
    layers: Vec<Desc>,
    #[serde(default)]
    blobs: Vec<Desc>,
    subject: Option<Desc>,
    #[serde(default)]
    fs_layers: Vec<FsLayer>,
}

#[derive(Deserialize)]
struct Desc {
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FsLayer {
    blob_sum: String,
}

/// Parse the references of an OCI or Docker image manifest or index.
pub fn references(manifest: &[u8]) -> ManifestRefs {
    match serde_json::from_slice::<Shape>(manifest) {
        Ok(shape) => shape.refs(),
        Err(_) => ManifestRefs::default(),
    }
}

impl Shape {
    fn refs(self) -> ManifestRefs {
        let shape = self;
        let parse = |s: &str| s.parse::<Digest>().ok();
        ManifestRefs {
            manifests: shape
                .manifests
                .iter()
                .chain(&shape.subject)
                .filter_map(|d| parse(&d.digest))
                .collect(),
            blobs: shape
                .config
                .iter()
                .chain(&shape.layers)
                .chain(&shape.blobs)
                .filter_map(|d| parse(&d.digest))
                .chain(shape.fs_layers.iter().filter_map(|l| parse(&l.blob_sum)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn strs(v: &[Digest]) -> Vec<&str> {
        v.iter().map(Digest::as_str).collect()
    }

    #[test]
    fn image_manifests_reference_config_layers_and_subject() {
        let json = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":1}},"layers":[{{"digest":"{D2}","size":1}},{{"digest":"md5:x","size":1}}],"subject":{{"digest":"{D3}","size":1}}}}"#
        );
        let r = references(json.as_bytes());
        assert_eq!(strs(&r.blobs), [D1, D2]);
        assert_eq!(strs(&r.manifests), [D3]);
    }

    #[test]
    fn indexes_reference_their_children_and_junk_references_nothing() {
        let json = format!(r#"{{"manifests":[{{"digest":"{D1}"}},{{"digest":"{D2}"}}]}}"#);
        assert_eq!(strs(&references(json.as_bytes()).manifests), [D1, D2]);
        let v1 = format!(r#"{{"schemaVersion":1,"fsLayers":[{{"blobSum":"{D3}"}}]}}"#);
        assert_eq!(strs(&references(v1.as_bytes()).blobs), [D3]);
        assert_eq!(references(b"\x00not json"), ManifestRefs::default());
        assert_eq!(references(b"[1]"), ManifestRefs::default());
    }
}
