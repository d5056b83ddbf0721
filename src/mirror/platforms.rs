//! The entries of an index as export picks platform manifests from them:
//! each child's digest and its `os/arch[/variant]`.
//!
//! The gate read the manifest strictly (`oci::Manifest`), so every entry's
//! digest is already valid; this typed view adds the platform, read as
//! leniently as export always has: a platform field that is not a string
//! is empty, and an entry that is not an object has no platform and no
//! digest.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::oci::json::{self, Document};
use crate::oci::{deserialize_digest, Digest};

/// One index entry: the platform it is for, and its digest (`None` for an
/// entry that is not a descriptor object).
pub(super) struct Entry {
    pub(super) platform: String,
    pub(super) digest: Option<Digest>,
}

/// The entries of the index in `bytes`; `None` when it is not an index
/// (it has no `manifests` list).
pub(super) fn entries(bytes: &[u8]) -> Result<Option<Vec<Entry>>, String> {
    let index: Index = json::read(bytes, Document::Manifest).map_err(|e| e.to_string())?;
    Ok(index
        .manifests
        .map(|list| list.into_iter().map(RawEntry::into_entry).collect()))
}

#[derive(Deserialize)]
struct Index {
    manifests: Option<Vec<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawEntry {
    Object(ObjectOnly<EntryFields>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct EntryFields {
    #[serde(deserialize_with = "deserialize_digest")]
    digest: Digest,
    #[serde(default)]
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPlatform {
    Object(ObjectOnly<BTreeMap<String, Text>>),
    Other(IgnoredAny),
}

/// A platform field: a string, or anything else (read as empty).
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    Text(String),
    Other(IgnoredAny),
}

impl RawEntry {
    fn into_entry(self) -> Entry {
        match self {
            RawEntry::Object(ObjectOnly(fields)) => Entry {
                platform: platform(fields.platform),
                digest: Some(fields.digest),
            },
            RawEntry::Other(_) => Entry {
                platform: platform(None),
                digest: None,
            },
        }
    }
}

/// `os/architecture[/variant]`, each part empty when it is not a string.
fn platform(raw: Option<RawPlatform>) -> String {
    let mut fields = match raw {
        Some(RawPlatform::Object(ObjectOnly(fields))) => fields,
        Some(RawPlatform::Other(_)) | None => BTreeMap::new(),
    };
    let mut text = |key: &str| match fields.remove(key) {
        Some(Text::Text(s)) => Some(s),
        Some(Text::Other(_)) | None => None,
    };
    let os = text("os").unwrap_or_default();
    let architecture = text("architecture").unwrap_or_default();
    let variant = text("variant").map(|v| format!("/{v}")).unwrap_or_default();
    format!("{os}/{architecture}{variant}")
}

/// `T` read only from a JSON object: serde would also read a struct from
/// an array, positionally, which the `Value` reading this replaces never
/// did.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Object(PhantomData))
            .map(ObjectOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn platforms(json: &str) -> Option<Vec<(String, Option<String>)>> {
        entries(json.as_bytes()).unwrap().map(|list| {
            list.into_iter()
                .map(|e| (e.platform, e.digest.map(|d| d.to_string())))
                .collect()
        })
    }

    #[test]
    fn platforms_are_read_leniently_as_export_always_has() {
        let json = format!(
            r#"{{"manifests":[{{"digest":"{D1}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},{{"digest":"{D1}","platform":{{"os":5,"architecture":"amd64"}}}},{{"digest":"{D1}"}}]}}"#
        );
        let d = Some(D1.to_owned());
        assert_eq!(
            platforms(&json).unwrap(),
            [
                ("linux/arm64/v8".to_owned(), d.clone()),
                ("/amd64".to_owned(), d.clone()),
                ("/".to_owned(), d),
            ]
        );
    }

    #[test]
    fn an_entry_or_platform_written_as_an_array_is_refused_as_go_refuses_it() {
        for json in [
            format!(r#"{{"manifests":[{{"digest":"{D1}","platform":["linux","amd64"]}}]}}"#),
            format!(r#"{{"manifests":[["x","{D1}"]]}}"#),
        ] {
            let e = entries(json.as_bytes()).err().unwrap();
            assert!(e.contains("an array where Go reads an object"), "{e}");
        }
    }

    #[test]
    fn an_image_manifest_is_not_an_index_but_an_empty_index_is() {
        let image = format!(r#"{{"config":{{"digest":"{D1}"}},"layers":[]}}"#);
        assert!(platforms(&image).is_none());
        assert!(platforms(r#"{"manifests":null}"#).is_none());
        assert_eq!(platforms(r#"{"manifests":[]}"#).unwrap().len(), 0);
    }
}
