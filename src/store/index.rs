//! `index.json`: the store's roots, as an OCI image index any layout reader
//! (skopeo, oras, containerd's importer) understands.
//!
//! Each root is a manifest descriptor annotated with
//! `org.opencontainers.image.ref.name` = `<registry>/<repository>:<tag>` for
//! tags, or `<registry>/<repository>@<digest>` for digests retained without a
//! tag, plus `dev.signgate.verified-at` (RFC 3339). Both forms match the
//! layout spec's `ref` grammar, and neither is ambiguous: a registry has no
//! `/`, a repository no `:` or `@`, a tag no `:` or `/`. Entries signgate did
//! not write are kept verbatim (and still count as GC roots).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::StoreError;
use crate::oci::{Digest, RegistryName, Repository, Tag};

/// The standard annotation naming an index entry.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// When signgate verified the root it recorded.
pub const VERIFIED_AT_ANNOTATION: &str = "dev.signgate.verified-at";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// An OCI content descriptor: what a tag or root points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
}

/// What an index entry is the root for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RootRef {
    Tag(RegistryName, Repository, Tag),
    Digest(RegistryName, Repository, Digest),
}

/// The parsed `index.json`. Cloned, changed and swapped in whole on every
/// update, so readers never see a half-applied change.
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    entries: Vec<Entry>,
    /// Top-level fields other than the ones signgate writes.
    other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
struct Entry {
    raw: RawDescriptor,
    /// `None` when the entry's digest is not one signgate can use.
    digest: Option<Digest>,
    /// `None` for entries signgate did not write.
    root: Option<RootRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIndex {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    /// `platform`, `artifactType`, `urls`…: kept as they were.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

// === impl RootRef ===

impl fmt::Display for RootRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootRef::Tag(registry, repository, tag) => write!(f, "{registry}/{repository}:{tag}"),
            RootRef::Digest(registry, repository, digest) => {
                write!(f, "{registry}/{repository}@{digest}")
            }
        }
    }
}

impl RootRef {
    /// The inverse of `Display`; `None` for names signgate did not write.
    fn parse(name: &str) -> Option<RootRef> {
        let (registry, rest) = name.split_once('/')?;
        let registry: RegistryName = registry.parse().ok()?;
        let root = if let Some((repository, digest)) = rest.split_once('@') {
            RootRef::Digest(registry, repository.parse().ok()?, digest.parse().ok()?)
        } else {
            let (repository, tag) = rest.rsplit_once(':')?;
            RootRef::Tag(registry, repository.parse().ok()?, tag.parse().ok()?)
        };
        // Only canonical spellings are ours (e.g. not an un-folded Docker Hub alias).
        (root.to_string() == name).then_some(root)
    }
}

// === impl Index ===

impl Index {
    pub fn load(path: &Path) -> Result<Index, StoreError> {
        let bytes = std::fs::read(path).map_err(StoreError::io("read", path))?;
        let raw: RawIndex =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::InvalidLayout {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        if raw.schema_version != 2 {
            return Err(StoreError::InvalidLayout {
                path: path.to_path_buf(),
                reason: format!("schemaVersion is {}, expected 2", raw.schema_version),
            });
        }
        let entries = raw
            .manifests
            .into_iter()
            .map(|raw| Entry {
                digest: raw.digest.parse().ok(),
                root: raw
                    .annotations
                    .get(REF_NAME_ANNOTATION)
                    .and_then(|n| RootRef::parse(n)),
                raw,
            })
            .collect();
        Ok(Index {
            entries,
            other: raw.other,
        })
    }

    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let raw = RawIndex {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_owned()),
            manifests: self.entries.iter().map(|e| e.raw.clone()).collect(),
            other: self.other.clone(),
        };
        serde_json::to_vec_pretty(&raw)
    }

    pub fn get(&self, root: &RootRef) -> Option<Descriptor> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.root.as_ref() == Some(root))?;
        Some(Descriptor {
            media_type: entry.raw.media_type.clone(),
            digest: entry.digest.clone()?,
            size: entry.raw.size,
            annotations: entry.raw.annotations.clone(),
        })
    }

    /// Point `root` at `descriptor`, replacing what it pointed at before.
    pub fn set(&mut self, root: RootRef, descriptor: Descriptor, verified_at: String) {
        let mut annotations = descriptor.annotations;
        annotations.insert(REF_NAME_ANNOTATION.to_owned(), root.to_string());
        annotations.insert(VERIFIED_AT_ANNOTATION.to_owned(), verified_at);
        let entry = Entry {
            raw: RawDescriptor {
                media_type: descriptor.media_type,
                digest: descriptor.digest.to_string(),
                size: descriptor.size,
                annotations,
                other: serde_json::Map::new(),
            },
            digest: Some(descriptor.digest),
            root: Some(root),
        };
        match self.entries.iter_mut().find(|e| e.root == entry.root) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    /// Whether an entry for `root` existed.
    pub fn remove(&mut self, root: &RootRef) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.root.as_ref() != Some(root));
        self.entries.len() != before
    }

    /// Every entry's digest, ours or not: GC starts its walk here.
    pub fn root_digests(&self) -> Vec<Digest> {
        self.entries
            .iter()
            .filter_map(|e| e.digest.clone())
            .collect()
    }

    /// Every entry with a usable digest, as recorded.
    pub fn descriptors(&self) -> Vec<Descriptor> {
        self.entries
            .iter()
            .filter_map(|e| {
                Some(Descriptor {
                    media_type: e.raw.media_type.clone(),
                    digest: e.digest.clone()?,
                    size: e.raw.size,
                    annotations: e.raw.annotations.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_names_round_trip_and_foreign_names_are_not_ours() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let roots = [
            RootRef::Tag(
                "127.0.0.1:5000".parse().unwrap(),
                "team/app".parse().unwrap(),
                "v1.2".parse().unwrap(),
            ),
            RootRef::Digest(
                "ghcr.io".parse().unwrap(),
                "a/b".parse().unwrap(),
                d.clone(),
            ),
        ];
        for root in roots {
            assert_eq!(RootRef::parse(&root.to_string()), Some(root));
        }
        for foreign in [
            "latest",
            "v1",
            "INDEX.docker.io/a:b",
            "ghcr.io/a",
            "x/y@sha256:zz",
        ] {
            assert_eq!(RootRef::parse(foreign), None, "{foreign}");
        }
    }
}
