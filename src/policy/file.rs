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
    /// What a cluster reports back (`kubectl get -o yaml`): accepted, so
    /// exported objects load; it decides nothing.
    #[allow(dead_code)]
    pub status: Option<Value>,
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
    /// A Rego condition over the authorities' results (policy-controller's
    /// ClusterImagePolicy-level policy).
    pub policy: Option<RawAttestationPolicy>,
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
    pub keyless: Option<RawKeyless>,
    #[serde(rename = "static")]
    pub static_: Option<RawStatic>,
    #[serde(default)]
    pub source: Vec<RawSource>,
    /// The transparency log (policy-controller's historical name).
    pub ctlog: Option<RawTlog>,
    #[serde(default)]
    pub attestations: Vec<RawAttestation>,
    pub rfc3161timestamp: Option<RawTimestamp>,
    /// `legacy` or `bundle`: which signature format counts.
    pub signature_format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawKeyless {
    /// The Fulcio URL: informational, signgate never contacts Fulcio.
    #[allow(dead_code)]
    pub url: Option<String>,
    #[serde(default)]
    pub identities: Vec<RawIdentity>,
    /// A private PKI's CA certificates (PEM), instead of a Fulcio root.
    #[serde(rename = "ca-cert")]
    pub ca_cert: Option<RawKey>,
    pub trust_root_ref: Option<String>,
    #[serde(rename = "insecureIgnoreSCT")]
    pub insecure_ignore_sct: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawIdentity {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub issuer_reg_exp: Option<String>,
    pub subject_reg_exp: Option<String>,
    /// signgate's extension: Fulcio certificate claims that must be equal.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTlog {
    /// The Rekor URL: informational, signgate verifies offline.
    #[allow(dead_code)]
    pub url: Option<String>,
    pub trust_root_ref: Option<String>,
    /// signgate's extension (cosign's `--insecure-ignore-tlog`).
    pub insecure_ignore_tlog: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTimestamp {
    pub trust_root_ref: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAttestation {
    pub name: String,
    pub predicate_type: String,
    pub policy: Option<RawAttestationPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawAttestationPolicy {
    #[serde(rename = "type")]
    pub type_: String,
    pub data: Option<String>,
    pub config_map_ref: Option<Value>,
    pub remote: Option<Value>,
    pub url: Option<String>,
    pub sha256sum: Option<String>,
    pub fetch_config_map: Option<Value>,
    /// `spec.policy` only (policy-controller's `Policy` type serves both).
    pub fetch_config_file: Option<bool>,
    pub include_spec: Option<bool>,
    pub include_object_meta: Option<bool>,
    pub include_type_meta: Option<bool>,
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
