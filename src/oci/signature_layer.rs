//! A signature layer as discovery hands it to verification: vocabulary
//! both sides share (verify reads them and must not depend on discovery).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Digest;

/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// One signature layer: the signed payload (fetched and digest-checked, or
/// empty until the gate fetches it) and its annotations.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    pub media_type: String,
    pub digest: Digest,
    /// The size its manifest declares; payloads are fetched with this bound.
    pub size: u64,
    pub payload: Bytes,
    pub annotations: BTreeMap<String, String>,
    /// Where it was found (`registry/repo:sha256-….sig`), for messages.
    pub found_at: String,
}
