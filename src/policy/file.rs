//! The policy file format: sigstore policy-controller's `ClusterImagePolicy`
//! (`policy.sigstore.dev/v1beta1`), as serde sees it.
//!
//! Fields signgate cannot honour yet are still listed here, so a file that
//! uses them fails to load with a message naming the key, instead of the
//! field being silently ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawPolicy {
    pub api_version: String,
    pub kind: String,
    pub metadata: RawMetadata,
    pub spec: RawSpec,
}

/// Kubernetes metadata: only `name` is used; the rest is accepted so
/// manifests written for a cluster load unchanged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct RawMetadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSpec {
    pub images: Vec<RawImage>,
    #[serde(default)]
    pub authorities: Vec<RawAuthority>,
    pub mode: Option<String>,
    /// signgate's extension: which signatures admit a platform manifest.
    pub platform_manifests: Option<String>,
    /// CUE/Rego policies (the attestation issue).
    pub policy: Option<Value>,
    /// Kubernetes resource matching: meaningless at a registry.
    #[serde(rename = "match")]
    pub match_: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawImage {
    pub glob: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAuthority {
    pub name: Option<String>,
    pub key: Option<RawKey>,
    pub keyless: Option<Value>,
    #[serde(rename = "static")]
    pub static_: Option<RawStatic>,
    #[serde(default)]
    pub source: Vec<RawSource>,
    pub ctlog: Option<Value>,
    pub attestations: Option<Value>,
    pub rfc3161timestamp: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawKey {
    pub data: Option<String>,
    /// signgate's extension: a PEM file, relative to the policy file.
    pub path: Option<String>,
    pub kms: Option<Value>,
    pub secret_ref: Option<Value>,
    pub hash_algorithm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawStatic {
    pub action: String,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSource {
    pub oci: Option<String>,
    pub signature_pull_secrets: Option<Value>,
    pub tag_prefix: Option<String>,
}
