//! `index.json`: the store's roots, as an OCI image index any layout reader
//! (skopeo, oras, containerd's importer) understands.
//!
//! Each root is a manifest descriptor annotated with
//! `org.opencontainers.image.ref.name` = `<registry>/<repository>:<tag>` for
//! tags, or `<registry>/<repository>@<digest>` for digests retained without a
//! tag, plus one mark of why it is there: `dev.signgate.verified-at` (RFC
//! 3339) on what the gate admitted, or `dev.signgate.material-of` (the
//! subject digest) on signature material kept for an admitted image, which
//! is not itself "verified" and must never say so. Both name forms match the
//! layout spec's `ref` grammar, and neither is ambiguous: a registry has no
//! `/`, a repository no `:` or `@`, a tag no `:` or `/`. Entries signgate did
//! not write are kept verbatim (and still count as GC roots).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::StoreError;
use crate::oci::{Digest, RegistryName, Repository, Tag, INDEX_MEDIA_TYPE};

/// The standard annotation naming an index entry.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// When the gate admitted the root signgate recorded.
pub const VERIFIED_AT_ANNOTATION: &str = "dev.signgate.verified-at";
/// The admitted digest a signature-material root was kept for.
pub const MATERIAL_OF_ANNOTATION: &str = "dev.signgate.material-of";
/// Annotations only signgate may write: stripped from descriptors it is
/// handed (an export's index.json), so no one else can claim a mark.
const OWN_ANNOTATION_PREFIX: &str = "dev.signgate.";

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
pub enum RootRef {
    Tag(RegistryName, Repository, Tag),
    Digest(RegistryName, Repository, Digest),
}

/// Why a root is recorded: the one mark signgate writes on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RootMark {
    /// The gate admitted it, at this time (RFC 3339).
    Verified(String),
    /// Signature material of this admitted digest; not itself verified.
    MaterialOf(Digest),
}

/// One entry of an index, as GC and import see it.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// `None` for entries signgate did not write.
    pub root: Option<RootRef>,
    /// The entry's `org.opencontainers.image.ref.name`, if any.
    pub name: Option<String>,
    /// `None` when the entry's digest is not one signgate can use.
    pub descriptor: Option<Descriptor>,
    /// The subject this entry is signature material of: its
    /// `dev.signgate.material-of`, else derived from a `sha256-<hex>[.…]`
    /// tag (stores written before the mark existed).
    pub material_of: Option<Digest>,
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
    pub fn registry(&self) -> &RegistryName {
        match self {
            RootRef::Tag(registry, ..) | RootRef::Digest(registry, ..) => registry,
        }
    }

    pub fn repository(&self) -> &Repository {
        match self {
            RootRef::Tag(_, repository, _) | RootRef::Digest(_, repository, _) => repository,
        }
    }

    /// The inverse of `Display`; `None` for names signgate did not write.
    pub fn parse(name: &str) -> Option<RootRef> {
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
    pub(super) fn load(path: &Path) -> Result<Index, StoreError> {
        let bytes = std::fs::read(path).map_err(StoreError::io("read", path))?;
        Index::parse(&bytes, path)
    }

    /// An `index.json` read by the caller (`path` names it in errors).
    pub(super) fn parse(bytes: &[u8], path: &Path) -> Result<Index, StoreError> {
        let raw: RawIndex =
            super::reader::parse_export_json(bytes, super::reader::ExportDocument::Index).map_err(
                |reason| StoreError::InvalidLayout {
                    path: path.to_path_buf(),
                    reason,
                },
            )?;
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

    pub(super) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let raw = RawIndex {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_owned()),
            manifests: self.entries.iter().map(|e| e.raw.clone()).collect(),
            other: self.other.clone(),
        };
        serde_json::to_vec_pretty(&raw)
    }

    pub(super) fn get(&self, root: &RootRef) -> Option<Descriptor> {
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
    /// The descriptor's own name and signgate marks are dropped: the root's
    /// name and `mark` are the only ones it carries.
    pub(super) fn set(&mut self, root: RootRef, descriptor: Descriptor, mark: RootMark) {
        let mut annotations = descriptor.annotations;
        annotations
            .retain(|k, _| k != REF_NAME_ANNOTATION && !k.starts_with(OWN_ANNOTATION_PREFIX));
        annotations.insert(REF_NAME_ANNOTATION.to_owned(), root.to_string());
        match mark {
            RootMark::Verified(at) => annotations.insert(VERIFIED_AT_ANNOTATION.to_owned(), at),
            RootMark::MaterialOf(subject) => {
                annotations.insert(MATERIAL_OF_ANNOTATION.to_owned(), subject.to_string())
            }
        };
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
    pub(super) fn remove(&mut self, root: &RootRef) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.root.as_ref() != Some(root));
        self.entries.len() != before
    }

    /// Every entry's digest, ours or not: GC starts its walk here.
    pub(super) fn root_digests(&self) -> Vec<Digest> {
        self.entries
            .iter()
            .filter_map(|e| e.digest.clone())
            .collect()
    }

    /// Every entry, in order, with what it is a root for.
    pub(super) fn entries(&self) -> Vec<IndexEntry> {
        self.entries
            .iter()
            .map(|e| {
                let material_of = e
                    .raw
                    .annotations
                    .get(MATERIAL_OF_ANNOTATION)
                    .and_then(|d| d.parse().ok())
                    .or_else(|| match &e.root {
                        Some(RootRef::Tag(_, _, tag)) => material_subject(tag.as_str()),
                        _ => None,
                    });
                IndexEntry {
                    root: e.root.clone(),
                    name: e.raw.annotations.get(REF_NAME_ANNOTATION).cloned(),
                    descriptor: e.digest.clone().map(|digest| Descriptor {
                        media_type: e.raw.media_type.clone(),
                        digest,
                        size: e.raw.size,
                        annotations: e.raw.annotations.clone(),
                    }),
                    material_of,
                }
            })
            .collect()
    }

    /// Keep only the entries whose position `keep` answers true for (the
    /// positions of [`Index::entries`]); how many were dropped.
    pub(super) fn retain_positions(&mut self, keep: impl Fn(usize) -> bool) -> usize {
        let before = self.entries.len();
        let mut position = 0;
        self.entries.retain(|_| {
            let kept = keep(position);
            position += 1;
            kept
        });
        before - self.entries.len()
    }

    /// Every entry with a usable digest, as recorded.
    pub(super) fn descriptors(&self) -> Vec<Descriptor> {
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

/// The digest a signature-material tag is named after: cosign's
/// `sha256-<hex>.sig`/`.att`/`.sbom` and the referrers tag schema's
/// `sha256-<hex>`. `None` for any other tag.
pub fn material_subject(tag: &str) -> Option<Digest> {
    let stem = tag.split_once('.').map_or(tag, |(stem, _)| stem);
    let (algorithm, hex) = stem.split_once('-')?;
    format!("{algorithm}:{hex}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_tags_name_their_subject_and_other_tags_do_not() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        for tag in [
            format!("sha256-{hex}"),
            format!("sha256-{hex}.sig"),
            format!("sha256-{hex}.att"),
        ] {
            assert_eq!(material_subject(&tag), Some(d.clone()), "{tag}");
        }
        for tag in [
            "v1",
            "sha256-abc.sig",
            "latest.sig",
            "sha256-",
            "md5-00.sig",
        ] {
            assert_eq!(material_subject(tag), None, "{tag}");
        }
    }

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
