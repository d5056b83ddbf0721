//! policy-controller's `kind: TrustRoot` documents (`v1alpha1`/`v1beta1`)
//! in the policy directory → named trusted roots that authorities reference
//! with `trustRootRef`, exactly as policy-controller resolves them.
//!
//! `spec.sigstoreKeys` is turned into a trusted root here (pure);
//! `spec.remote` (a TUF mirror) and `spec.repository` (a TUF repository as a
//! base64 tarball) need a TUF client, which only the caller has: they go
//! out through [`ResolveTuf`], the one capability the loader is handed for
//! them (the tarball is unpacked here, in memory, bounded).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;
use serde_yaml_ng::Value;

use super::error::Problems;
use super::file::RawMetadata;
use crate::verify::sigstore_keys::{CertificateAuthority, LogInstance, SigstoreKeys};
use crate::verify::TrustRoot;

mod mirror_fs;

/// What a `TrustRoot` document asks of a TUF client.
#[derive(Debug)]
pub enum TufRequest<'a> {
    /// `spec.remote`: refresh from `mirror`, starting from `root`.
    Remote {
        name: &'a str,
        mirror: &'a url::Url,
        root: &'a [u8],
        target: &'a str,
    },
    /// `spec.repository`: a repository copy, verified offline from `root`;
    /// `files` are its paths (`1.root.json`, `timestamp.json`,
    /// `targets/<hash>.trusted_root.json`, …).
    Repository {
        name: &'a str,
        root: &'a [u8],
        files: &'a BTreeMap<String, Vec<u8>>,
        target: &'a str,
    },
}

/// Resolves a TUF form to the root in force for it, the error as text.
pub type ResolveTuf<'a> = &'a dyn Fn(TufRequest<'_>) -> Result<Arc<TrustRoot>, String>;

/// For loaders that have no TUF client: every TUF form is a load error.
pub fn no_tuf(request: TufRequest<'_>) -> Result<Arc<TrustRoot>, String> {
    let _ = request;
    Err("TUF repositories cannot be resolved here".into())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTrustRoot {
    pub api_version: String,
    /// Always `TrustRoot`: [`is_trust_root`] routed the document here.
    #[allow(dead_code)]
    pub kind: String,
    pub metadata: RawMetadata,
    pub spec: RawTrustRootSpec,
    /// What a cluster reports back: accepted so exported objects load.
    #[allow(dead_code)]
    pub status: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawTrustRootSpec {
    pub remote: Option<RawRemote>,
    pub repository: Option<RawRepository>,
    pub sigstore_keys: Option<RawSigstoreKeys>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawRemote {
    pub root: String,
    pub mirror: String,
    pub targets: Option<String>,
    pub trusted_root_target: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawRepository {
    pub root: String,
    #[serde(rename = "mirrorFS")]
    pub mirror_fs: String,
    pub targets: Option<String>,
    pub trusted_root_target: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSigstoreKeys {
    #[serde(default)]
    pub certificate_authorities: Vec<RawCertificateAuthority>,
    #[serde(default, rename = "tLogs")]
    pub t_logs: Vec<RawLog>,
    #[serde(default, rename = "ctLogs")]
    pub ct_logs: Vec<RawLog>,
    #[serde(default)]
    pub timestamp_authorities: Vec<RawCertificateAuthority>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawCertificateAuthority {
    #[serde(default)]
    pub subject: RawSubject,
    #[serde(default)]
    pub uri: String,
    pub cert_chain: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawSubject {
    #[serde(default)]
    pub organization: String,
    #[serde(default)]
    pub common_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawLog {
    #[serde(default, rename = "baseURL")]
    pub base_url: String,
    #[serde(default)]
    pub hash_algorithm: String,
    pub public_key: String,
}

/// Whether a parsed document is a `TrustRoot` (rather than a policy).
pub(super) fn is_trust_root(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("TrustRoot")
}

/// A `TrustRoot` document → its name and root, or `None` with the problems
/// recorded.
pub(super) fn load(
    problems: &mut Problems<'_>,
    value: Value,
    api_versions: &[&str],
    resolve: ResolveTuf<'_>,
) -> Option<(String, Arc<TrustRoot>)> {
    let raw: RawTrustRoot = match serde_path_to_error::deserialize(value) {
        Ok(raw) => raw,
        Err(e) => {
            let path = e.path().to_string();
            problems.push(
                if path == "." { "" } else { &path },
                e.into_inner().to_string(),
            );
            return None;
        }
    };
    if !api_versions.contains(&raw.api_version.as_str()) {
        problems.push(
            "apiVersion",
            format!("'{}' is not {}", raw.api_version, api_versions.join(" or ")),
        );
        return None;
    }
    let name = raw.metadata.name;
    if name.is_empty() {
        problems.push("metadata.name", "must not be empty");
        return None;
    }
    let spec = raw.spec;
    let forms = usize::from(spec.remote.is_some())
        + usize::from(spec.repository.is_some())
        + usize::from(spec.sigstore_keys.is_some());
    if forms != 1 {
        problems.push(
            "spec",
            "exactly one of 'remote', 'repository' or 'sigstoreKeys' is required",
        );
        return None;
    }
    let origin = format!("TrustRoot document in {}", problems.file.display());
    let result = if let Some(keys) = spec.sigstore_keys {
        sigstore_keys(keys).and_then(|json| {
            TrustRoot::from_json(&name, &json)
                .map(|r| Arc::new(r.with_origin(origin)))
                .map_err(|e| ("spec.sigstoreKeys".to_owned(), e))
        })
    } else if let Some(remote) = spec.remote {
        remote_root(&name, remote, resolve)
    } else if let Some(repository) = spec.repository {
        repository_root(&name, repository, resolve)
    } else {
        return None;
    };
    match result {
        Ok(root) => Some((name, root)),
        Err((path, message)) => {
            problems.push(&path, message);
            None
        }
    }
}

type Failure = (String, String);

fn remote_root(
    name: &str,
    raw: RawRemote,
    resolve: ResolveTuf<'_>,
) -> Result<Arc<TrustRoot>, Failure> {
    let fail = |key: &str, m: String| (format!("spec.remote.{key}"), m);
    let root = base64_field(&raw.root).map_err(|e| fail("root", e))?;
    let mirror = url::Url::parse(&raw.mirror)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| fail("mirror", format!("'{}' is not an http(s) URL", raw.mirror)))?;
    targets_dir(raw.targets.as_deref()).map_err(|e| fail("targets", e))?;
    let target = raw
        .trusted_root_target
        .unwrap_or_else(|| "trusted_root.json".into());
    resolve(TufRequest::Remote {
        name,
        mirror: &mirror,
        root: &root,
        target: &target,
    })
    .map_err(|e| ("spec.remote".to_owned(), e))
}

fn repository_root(
    name: &str,
    raw: RawRepository,
    resolve: ResolveTuf<'_>,
) -> Result<Arc<TrustRoot>, Failure> {
    let fail = |key: &str, m: String| (format!("spec.repository.{key}"), m);
    let root = base64_field(&raw.root).map_err(|e| fail("root", e))?;
    let tarball = base64_field(&raw.mirror_fs).map_err(|e| fail("mirrorFS", e))?;
    let files = mirror_fs::unpack(&tarball).map_err(|e| fail("mirrorFS", e))?;
    targets_dir(raw.targets.as_deref()).map_err(|e| fail("targets", e))?;
    let target = raw
        .trusted_root_target
        .unwrap_or_else(|| "trusted_root.json".into());
    resolve(TufRequest::Repository {
        name,
        root: &root,
        files: &files,
        target: &target,
    })
    .map_err(|e| ("spec.repository".to_owned(), e))
}

/// Targets live under `targets/` in every repository sigstore publishes;
/// another layout is refused rather than guessed.
fn targets_dir(targets: Option<&str>) -> Result<(), String> {
    match targets {
        None | Some("targets") | Some("targets/") => Ok(()),
        Some(other) => Err(format!(
            "'{other}': only the standard 'targets' directory is supported"
        )),
    }
}

/// A Go `[]byte` field: standard base64; Go's decoder skips line breaks.
fn base64_field(text: &str) -> Result<Vec<u8>, String> {
    let clean: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean.trim())
        .map_err(|e| format!("not base64: {e}"))
}

fn sigstore_keys(raw: RawSigstoreKeys) -> Result<String, Failure> {
    let pem = |path: String, b64: &str| -> Result<String, Failure> {
        let bytes = base64_field(b64).map_err(|e| (path.clone(), e))?;
        String::from_utf8(bytes).map_err(|_| (path, "not PEM text".to_owned()))
    };
    let cas = |key: &str, list: Vec<RawCertificateAuthority>| {
        list.into_iter()
            .enumerate()
            .map(|(i, ca)| {
                Ok(CertificateAuthority {
                    organization: ca.subject.organization,
                    common_name: ca.subject.common_name,
                    uri: ca.uri,
                    cert_chain_pem: pem(
                        format!("spec.sigstoreKeys.{key}[{i}].certChain"),
                        &ca.cert_chain,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, Failure>>()
    };
    let logs = |key: &str, list: Vec<RawLog>| {
        list.into_iter()
            .enumerate()
            .map(|(i, log)| {
                Ok(LogInstance {
                    base_url: log.base_url,
                    hash_algorithm: log.hash_algorithm,
                    public_key_pem: pem(
                        format!("spec.sigstoreKeys.{key}[{i}].publicKey"),
                        &log.public_key,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, Failure>>()
    };
    let keys = SigstoreKeys {
        certificate_authorities: cas("certificateAuthorities", raw.certificate_authorities)?,
        tlogs: logs("tLogs", raw.t_logs)?,
        ctlogs: logs("ctLogs", raw.ct_logs)?,
        timestamp_authorities: cas("timestampAuthorities", raw.timestamp_authorities)?,
    };
    keys.trusted_root_json()
        .map_err(|e| ("spec.sigstoreKeys".to_owned(), e))
}
