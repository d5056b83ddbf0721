//! Media types: which manifests signgate serves, the limits the spec sets
//! on them, and the one classifier of signature-material layers
//! ([`layer_kind`]).

/// Manifests larger than this are refused, as containerd and the
/// distribution spec do: a manifest is metadata, never bulk data.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// An OCI image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// cosign's simple-signing payload (a signature layer).
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// A DSSE envelope: cosign's legacy attestation layer (`.att`).
pub const DSSE_ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Every sigstore bundle media type starts with this (v0.1–v0.3).
pub const BUNDLE_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// The `Accept` header of a signature manifest fetch: signature manifests
/// are images, never indexes.
pub const SIGNATURE_MANIFEST_ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Manifest types signgate serves.
const MANIFEST_MEDIA_TYPES: [&str; 5] = [
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The `Accept` header sent upstream when a client sends none.
pub const DEFAULT_MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Whether `content_type` (parameters ignored) is a manifest type.
pub fn is_manifest_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    MANIFEST_MEDIA_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(essence))
}

/// What a signature-material layer is, by its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// cosign's simple-signing payload.
    SimpleSigning,
    /// A DSSE envelope (cosign's legacy attestation layer; in-toto inside).
    Dsse,
    /// A sigstore bundle, v0.2 or v0.3.
    Bundle,
}

/// Layer media types of signatures and attestations, with their kind.
/// Sigstore bundle v0.1 is not listed: it is not what cosign writes as a
/// layer, and a manifest of such layers was never served as a signature
/// artifact (it must be signed itself).
const SIGNATURE_LAYER_TYPES: [(&str, LayerKind); 5] = [
    (SIMPLE_SIGNING_MEDIA_TYPE, LayerKind::SimpleSigning),
    (DSSE_ENVELOPE_MEDIA_TYPE, LayerKind::Dsse),
    (
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        LayerKind::Bundle,
    ),
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        LayerKind::Bundle,
    ),
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        LayerKind::Bundle,
    ),
];

/// The kind of signature material a layer (or an index entry's
/// `artifactType`) of this media type is; `None` for anything else. The
/// one classifier: a manifest's references, the inert-artifact proof and
/// `signature::is_material` all ask here, so they cannot disagree.
///
/// The comparison ignores ASCII case, as signgate always has for these
/// types; containers/image and containerd compare media types exactly, so a
/// differently-cased label is one they treat as an unknown layer — whose
/// bytes the inert proof still requires to parse as the kind named here.
pub fn layer_kind(media_type: &str) -> Option<LayerKind> {
    SIGNATURE_LAYER_TYPES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(media_type))
        .map(|(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_media_type_signgate_knows_has_one_kind() {
        use LayerKind::*;
        let table: &[(&str, Option<LayerKind>)] = &[
            (
                "application/vnd.dev.cosign.simplesigning.v1+json",
                Some(SimpleSigning),
            ),
            (
                "APPLICATION/VND.DEV.COSIGN.SIMPLESIGNING.V1+JSON",
                Some(SimpleSigning),
            ),
            ("application/vnd.dsse.envelope.v1+json", Some(Dsse)),
            ("application/vnd.in-toto+json", None),
            (
                "application/vnd.dev.sigstore.bundle.v0.3+json",
                Some(Bundle),
            ),
            (
                "application/vnd.dev.sigstore.bundle+json;version=0.3",
                Some(Bundle),
            ),
            (
                "application/vnd.dev.sigstore.bundle+json;version=0.2",
                Some(Bundle),
            ),
            ("application/vnd.dev.sigstore.bundle+json;version=0.1", None),
            ("application/vnd.dev.sigstore.bundle+json", None),
            ("application/vnd.dev.sigstore.bundlex", None),
            ("application/vnd.dev.cosign.artifact.sig.v1+json", None),
            ("application/vnd.dev.cosign.artifact.sbom.v1+json", None),
            (" application/vnd.dsse.envelope.v1+json", None),
            (INDEX_MEDIA_TYPE, None),
            (MANIFEST_MEDIA_TYPE, None),
            ("application/vnd.oci.image.config.v1+json", None),
            ("application/vnd.oci.image.layer.v1.tar+gzip", None),
            ("application/vnd.oci.empty.v1+json", None),
            ("application/vnd.docker.distribution.manifest.v2+json", None),
            (
                "application/vnd.docker.distribution.manifest.list.v2+json",
                None,
            ),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", None),
            ("application/vnd.docker.container.image.v1+json", None),
            ("", None),
        ];
        for (media_type, kind) in table {
            assert_eq!(layer_kind(media_type), *kind, "{media_type:?}");
        }
    }

    #[test]
    fn manifest_types_are_recognised_with_parameters() {
        assert!(is_manifest_media_type(
            "application/vnd.oci.image.manifest.v1+json"
        ));
        assert!(is_manifest_media_type(
            "application/vnd.oci.image.index.v1+json; charset=utf-8"
        ));
        assert!(!is_manifest_media_type("text/html"));
        assert!(!is_manifest_media_type("application/json"));
    }
}
