//! Manifest media types and the limits the spec sets on manifests.

/// Manifests larger than this are refused, as containerd and the
/// distribution spec do: a manifest is metadata, never bulk data.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Manifest types signgate serves.
const MANIFEST_MEDIA_TYPES: [&str; 5] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
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

#[cfg(test)]
mod tests {
    use super::*;

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
