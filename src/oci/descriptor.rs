//! `Descriptor`: a content descriptor as signgate reads one, digest
//! validated. Read through `oci::json::read`, never `serde_json` directly.

use serde::{Deserialize, Deserializer};

use super::Digest;

/// The descriptor fields decisions use. A descriptor whose digest is not
/// one signgate can check makes the whole document unreadable: nothing in
/// it is silently skipped.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(deserialize_with = "deserialize_digest")]
    pub digest: Digest,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// A `Digest` from a JSON string (for `#[serde(deserialize_with)]`).
pub fn deserialize_digest<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}
