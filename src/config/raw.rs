//! The file's shape, as serde sees it. Only `validate` reads these.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawUpstream {
    pub name: String,
    /// Required unless `mode: offline`.
    pub url: Option<String>,
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub insecure: bool,
    pub ca_file: Option<String>,
    pub auth: Option<RawAuth>,
    /// Keep admitted content of this upstream in the store (default: yes,
    /// when a store is configured).
    pub store: Option<bool>,
    /// Token services (besides the upstream's own host) that may receive
    /// the configured credentials.
    pub token_realms: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    /// A Docker `config.json` to look this upstream's credentials up in.
    pub docker_config: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawCache {
    pub manifest_bytes: Option<u64>,
    pub tag_ttl: Option<String>,
    pub decision_ttl: Option<String>,
    pub denial_ttl: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTimeouts {
    pub connect: Option<String>,
    pub response: Option<String>,
    pub idle: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTls {
    pub cert: String,
    pub key: String,
    pub client_ca: Option<String>,
}

/// Docker's `~/.docker/config.json`, the part signgate reads.
#[derive(Debug, Deserialize)]
pub(super) struct RawDockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, RawDockerAuth>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawDockerAuth {
    pub auth: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTrust {
    pub trusted_root: Option<String>,
    #[serde(default)]
    pub roots: BTreeMap<String, String>,
    pub tuf: Option<RawTuf>,
}

/// `trust.tuf`: trusted roots kept current from TUF repositories.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTuf {
    pub cache_dir: Option<String>,
    pub refresh: Option<String>,
    /// Read on their own, so one bad entry does not hide the others.
    pub on_expired: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub repositories: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTufRepository {
    pub mirror: String,
    pub root: String,
    pub target: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawStore {
    pub path: String,
    pub budget_bytes: Option<u64>,
}
