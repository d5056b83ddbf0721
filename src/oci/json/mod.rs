//! The one strict JSON reader: every JSON document signgate interprets
//! (manifests, indexes, descriptors, referrer lists, signature payloads)
//! goes through [`read`].
//!
//! Runtimes written in Go read JSON with `encoding/json`: a key matches a
//! struct field when it equals the field's name under case folding, and
//! the last of several matching keys wins. serde matches keys exactly. A
//! document carrying `"layers"` for signgate and `"Layers"` for containerd
//! would be two different images. So a document is refused, before serde
//! sees it, when Go and serde could read it differently:
//!
//! - a duplicate key in any object (struct or map), at any depth;
//! - in a struct object, a key that folds to a known field without being
//!   it (`Layers`, `layer\u{17f}`, `\u{212a}eyid`), or two keys that fold to
//!   each other;
//! - a manifest that is an index and an image manifest at once;
//! - anything that is not RFC 8259 JSON as both read it: invalid UTF-8,
//!   unpaired surrogate escapes (Go reads U+FFFD, serde refuses), nesting
//!   deeper than [`MAX_DEPTH`], data after the document.
//!
//! Keys are compared after unescaping (`"l\u0061yers"` is `layers`).

mod error;
mod fold;
#[cfg(test)]
mod go_model;
mod scan;
mod schema;
#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;

pub use error::{StrictJsonError, StrictJsonErrorKind};
pub use scan::MAX_DEPTH;

use error::key_segment;
use schema::Shape;

/// Which document shape is being read: tells struct objects (known fields)
/// from maps (annotations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// OCI image manifest and index (also referrers responses and an OCI
    /// layout's `index.json`), Docker schema2 manifest and manifest list,
    /// Docker schema1.
    Manifest,
    /// cosign's simple-signing payload.
    SimpleSigning,
    /// A DSSE envelope.
    DsseEnvelope,
    /// Any other document signgate reads (an artifact's config, a sigstore
    /// bundle): no duplicate keys and no two keys Go folds together, at any
    /// depth.
    Other,
}

impl Document {
    fn shape(self) -> Shape {
        match self {
            Document::Manifest => schema::MANIFEST_SHAPE,
            Document::SimpleSigning => schema::SIMPLE_SIGNING_SHAPE,
            Document::DsseEnvelope => schema::DSSE_ENVELOPE_SHAPE,
            Document::Other => Shape::Unknown,
        }
    }
}

/// Parse `bytes` strictly, then deserialize with serde. Err names the
/// offending key path.
pub fn read<T: DeserializeOwned>(bytes: &[u8], doc: Document) -> Result<T, StrictJsonError> {
    check(bytes, doc)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let mut path = String::from("$");
        for segment in e.path().iter() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                Segment::Map { key } => path.push_str(&key_segment(key)),
                Segment::Enum { variant } => path.push_str(&key_segment(variant)),
                Segment::Unknown => path.push_str(".?"),
            }
        }
        let message = cut(&e.into_inner().to_string());
        StrictJsonError::new(path.clone(), path, StrictJsonErrorKind::Type { message })
    })
}

/// Only the strictness check.
pub fn check(bytes: &[u8], doc: Document) -> Result<(), StrictJsonError> {
    let present = scan::scan(bytes, doc.shape())?;
    if doc == Document::Manifest {
        let groups: Vec<&'static str> = schema::KIND_GROUPS
            .iter()
            .filter_map(|group| present.iter().find(|k| group.contains(k)).copied())
            .collect();
        if let [first, key, ..] = groups[..] {
            return Err(StrictJsonError::new(
                format!("$.{key}"),
                "$".into(),
                StrictJsonErrorKind::Ambiguous { first, key },
            ));
        }
    }
    Ok(())
}

/// serde's messages quote values from the document: at most this many
/// characters of one reach a response.
const MESSAGE_CHARS: usize = 160;

fn cut(message: &str) -> String {
    match message.char_indices().nth(MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", message.get(..i).unwrap_or_default()),
        None => message.to_owned(),
    }
}
