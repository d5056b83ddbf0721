//! Distribution-spec header names: vocabulary shared by the upstream
//! client, which reads them, and the response module, which writes them.

use http::HeaderName;

/// The `Docker-Content-Digest` header.
pub const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
/// The referrers API's `OCI-Filters-Applied` header: which filters the
/// registry applied (`artifactType`).
pub const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");
