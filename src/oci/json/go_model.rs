//! A model of how Go's `encoding/json` reads these documents, written apart
//! from the strict reader, for the differential tests: the property test in
//! `tests.rs` and the fuzz target `fuzz/fuzz_targets/strict_json.rs`, which
//! includes this file by path (so it uses only `serde`, `serde_json` and
//! `std`).
//!
//! The model: a key is matched to a struct field exactly, else by Go's fold
//! (ASCII case, plus `ſ`~`s` and `K`~`k`); keys are applied in order, so the
//! last one wins; a struct, map or slice element decoded again is decoded
//! *into* what is there (Go merges, it does not reset); `null` leaves a
//! scalar or struct as it is and sets a slice, map, pointer or interface to
//! nil. Each of these was checked against Go 1.19's `encoding/json`. (One
//! liberty: a `null` map element is kept as `null`, where Go stores the
//! element type's zero value; serde's `Value` reads it as `null` too.) What
//! Go assigned is rendered as a JSON value with the fields' own names, as
//! serde's reading of the union types below renders.
//!
//! It also generates documents from the same Go types, with keys mutated in
//! case, long s, Kelvin sign, escapes and duplicates, driven by a byte
//! string (so proptest and libFuzzer can both shrink and mutate it).

#![allow(dead_code)] // each includer uses its part

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Number, Value};

// === The Go types, as the image-spec, distribution, sigstore and DSSE
// === Go packages declare them ===

/// A Go type, as far as decoding JSON into it goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum GoType {
    Struct(&'static [(&'static str, GoType)]),
    Slice(&'static GoType),
    /// `map[string]T`.
    Map(&'static GoType),
    /// `*T`: like `T`, but `null` sets it to nil.
    Ptr(&'static GoType),
    /// `string`, `int64`, `digest.Digest`, `[]byte`.
    Scalar,
    /// `interface{}`.
    Interface,
}

use GoType::{Interface, Map as GoMap, Ptr, Scalar, Slice, Struct};

const PLATFORM: GoType = Struct(&[
    ("architecture", Scalar),
    ("os", Scalar),
    ("os.version", Scalar),
    ("os.features", Slice(&Scalar)),
    ("variant", Scalar),
    ("features", Slice(&Scalar)),
]);

const DESCRIPTOR: GoType = Struct(&[
    ("mediaType", Scalar),
    ("digest", Scalar),
    ("size", Scalar),
    ("urls", Slice(&Scalar)),
    ("annotations", GoMap(&Scalar)),
    ("data", Scalar),
    ("platform", Ptr(&PLATFORM)),
    ("artifactType", Scalar),
]);

/// The union of `v1.Manifest`, `v1.Index`, `schema2.Manifest`,
/// `manifestlist.ManifestList` and `schema1.SignedManifest`.
pub(super) const MANIFEST: GoType = Struct(&[
    ("schemaVersion", Scalar),
    ("mediaType", Scalar),
    ("artifactType", Scalar),
    ("config", DESCRIPTOR),
    ("layers", Slice(&DESCRIPTOR)),
    ("manifests", Slice(&DESCRIPTOR)),
    ("subject", Ptr(&DESCRIPTOR)),
    ("annotations", GoMap(&Scalar)),
    ("name", Scalar),
    ("tag", Scalar),
    ("architecture", Scalar),
    ("fsLayers", Slice(&Struct(&[("blobSum", Scalar)]))),
    ("history", Slice(&Struct(&[("v1Compatibility", Scalar)]))),
    (
        "signatures",
        Slice(&Struct(&[
            (
                "header",
                Struct(&[("jwk", Interface), ("alg", Scalar), ("x5c", Slice(&Scalar))]),
            ),
            ("signature", Scalar),
            ("protected", Scalar),
        ])),
    ),
]);

/// sigstore's `payload.SimpleContainerImage`.
pub(super) const SIMPLE_SIGNING: GoType = Struct(&[
    (
        "critical",
        Struct(&[
            ("identity", Struct(&[("docker-reference", Scalar)])),
            ("image", Struct(&[("docker-manifest-digest", Scalar)])),
            ("type", Scalar),
        ]),
    ),
    ("optional", GoMap(&Interface)),
]);

/// `dsse.Envelope`.
pub(super) const DSSE_ENVELOPE: GoType = Struct(&[
    ("payloadType", Scalar),
    ("payload", Scalar),
    (
        "signatures",
        Slice(&Struct(&[("keyid", Scalar), ("sig", Scalar)])),
    ),
]);

// === An ordered JSON tree: duplicates and key order kept ===

/// JSON as written: objects keep every key, in order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
                Number::from_f64(v)
                    .map(Node::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::String(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Node::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Node>()? {
                    out.push((k, v));
                }
                Ok(Node::Object(out))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

impl Node {
    /// A plain JSON value (for `interface{}`): objects are Go maps, so the
    /// last of duplicate keys wins.
    fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.clone()),
            Node::Array(a) => Value::Array(a.iter().map(Node::to_value).collect()),
            Node::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o {
                    m.insert(k.clone(), v.to_value());
                }
                Value::Object(m)
            }
        }
    }
}

// === Go's decoding ===

/// Go's `foldName`, for every rune whose fold can reach ASCII.
pub(super) fn go_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{17F}' => 'S',
            '\u{212A}' => 'K',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Why the model has no reading.
#[derive(Debug)]
pub(super) enum GoError {
    /// Not JSON to serde_json's tokenizer (which the model parses with).
    Unparsable(String),
    /// Go's `encoding/json` reports a type mismatch: a runtime fails the
    /// pull, so there is nothing to disagree on.
    Type(&'static str),
}

/// Decode `node` into `slot` (what is there already), as Go does.
fn decode_into(slot: &mut Option<Value>, node: &Node, ty: GoType) -> Result<(), GoError> {
    match (ty, node) {
        // null: no effect on scalars and structs; nil for slices, maps,
        // pointers and interfaces.
        (Scalar | Struct(_), Node::Null) => Ok(()),
        (Slice(_) | GoMap(_) | Ptr(_) | Interface, Node::Null) => {
            *slot = None;
            Ok(())
        }
        (Ptr(inner), _) => decode_into(slot, node, *inner),
        (Interface, _) => {
            *slot = Some(node.to_value());
            Ok(())
        }
        (Scalar, Node::Array(_) | Node::Object(_)) => Err(GoError::Type("container into scalar")),
        (Scalar, _) => {
            *slot = Some(node.to_value());
            Ok(())
        }
        (Struct(fields), Node::Object(pairs)) => {
            let mut current = match slot.take() {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for (key, value) in pairs {
                let field = fields.iter().find(|(name, _)| name == key).or_else(|| {
                    fields
                        .iter()
                        .find(|(name, _)| go_fold(name) == go_fold(key))
                });
                let Some((name, field_ty)) = field else {
                    continue; // unknown fields are ignored
                };
                let mut field_slot = current.remove(*name);
                decode_into(&mut field_slot, value, *field_ty)?;
                if let Some(v) = field_slot {
                    current.insert((*name).to_owned(), v);
                }
            }
            *slot = Some(Value::Object(current));
            Ok(())
        }
        (GoMap(element), Node::Object(pairs)) => {
            let mut current = match slot.take() {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for (key, value) in pairs {
                // Each map element is decoded into a fresh zero value.
                let mut element_slot = None;
                decode_into(&mut element_slot, value, *element)?;
                current.insert(key.clone(), element_slot.unwrap_or(Value::Null));
            }
            *slot = Some(Value::Object(current));
            Ok(())
        }
        (Slice(element), Node::Array(items)) => {
            // The backing array is reused: element i is decoded into the
            // old element i.
            let mut old = match slot.take() {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let mut element_slot = if i < old.len() {
                    Some(std::mem::take(&mut old[i]))
                } else {
                    None
                };
                decode_into(&mut element_slot, item, *element)?;
                out.push(element_slot.unwrap_or_else(|| zero(*element)));
            }
            *slot = Some(Value::Array(out));
            Ok(())
        }
        (Struct(_) | Slice(_) | GoMap(_), _) => Err(GoError::Type("type mismatch")),
    }
}

/// A zero element, as a `null` array item leaves it.
fn zero(ty: GoType) -> Value {
    match ty {
        Struct(_) => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

/// What Go assigns to each known field of `ty` from `bytes`. `Err` when
/// Go would report an error (or the bytes are not JSON to serde_json).
pub(super) fn go_read(bytes: &[u8], ty: GoType) -> Result<Value, GoError> {
    let node: Node =
        serde_json::from_slice(bytes).map_err(|e| GoError::Unparsable(e.to_string()))?;
    let mut slot = None;
    decode_into(&mut slot, &node, ty)?;
    Ok(slot.unwrap_or_else(|| Value::Object(Map::new())))
}

// === The union types, read by serde (exact keys) ===

macro_rules! union_struct {
    ($name:ident { $($field:ident : $ty:ty = $json:literal),* $(,)? }) => {
        #[derive(Debug, serde::Deserialize, Serialize)]
        pub(super) struct $name {
            $(
                #[serde(rename = $json, default, skip_serializing_if = "Option::is_none")]
                pub(super) $field: Option<$ty>,
            )*
        }
    };
}

type Annotations = BTreeMap<String, Value>;

union_struct!(UPlatform {
    architecture: Value = "architecture",
    os: Value = "os",
    os_version: Value = "os.version",
    os_features: Vec<Value> = "os.features",
    variant: Value = "variant",
    features: Vec<Value> = "features",
});
union_struct!(UDescriptor {
    media_type: Value = "mediaType",
    digest: Value = "digest",
    size: Value = "size",
    urls: Vec<Value> = "urls",
    annotations: Annotations = "annotations",
    data: Value = "data",
    platform: UPlatform = "platform",
    artifact_type: Value = "artifactType",
});
union_struct!(UFsLayer {
    blob_sum: Value = "blobSum"
});
union_struct!(UHistory {
    v1: Value = "v1Compatibility"
});
union_struct!(UJwsHeader {
    jwk: Value = "jwk",
    alg: Value = "alg",
    x5c: Vec<Value> = "x5c",
});
union_struct!(UJwsSignature {
    header: UJwsHeader = "header",
    signature: Value = "signature",
    protected: Value = "protected",
});
union_struct!(UManifest {
    schema_version: Value = "schemaVersion",
    media_type: Value = "mediaType",
    artifact_type: Value = "artifactType",
    config: UDescriptor = "config",
    layers: Vec<UDescriptor> = "layers",
    manifests: Vec<UDescriptor> = "manifests",
    subject: UDescriptor = "subject",
    annotations: Annotations = "annotations",
    name: Value = "name",
    tag: Value = "tag",
    architecture: Value = "architecture",
    fs_layers: Vec<UFsLayer> = "fsLayers",
    history: Vec<UHistory> = "history",
    signatures: Vec<UJwsSignature> = "signatures",
});
union_struct!(UIdentity {
    reference: Value = "docker-reference"
});
union_struct!(UImage {
    digest: Value = "docker-manifest-digest"
});
union_struct!(UCritical {
    identity: UIdentity = "identity",
    image: UImage = "image",
    kind: Value = "type",
});
union_struct!(USimpleSigning {
    critical: UCritical = "critical",
    optional: BTreeMap<String, Value> = "optional",
});
union_struct!(UDsseSignature {
    keyid: Value = "keyid",
    sig: Value = "sig",
});
union_struct!(UDsseEnvelope {
    payload_type: Value = "payloadType",
    payload: Value = "payload",
    signatures: Vec<UDsseSignature> = "signatures",
});

/// `Err` describing the disagreement when signgate accepted `bytes` (its
/// reading rendered as `signgate`) and Go would have read something else.
pub(super) fn compare(bytes: &[u8], ty: GoType, signgate: &impl Serialize) -> Result<(), String> {
    let ours = serde_json::to_value(signgate).map_err(|e| e.to_string())?;
    let go = match go_read(bytes, ty) {
        Ok(go) => go,
        Err(GoError::Type(_)) => return Ok(()),
        Err(GoError::Unparsable(e)) => {
            return Err(format!(
                "signgate accepted what the model cannot parse ({e}): {}",
                String::from_utf8_lossy(bytes)
            ))
        }
    };
    if go == ours {
        Ok(())
    } else {
        Err(format!(
            "signgate and Go disagree on {}\n  signgate: {ours}\n  go:       {go}",
            String::from_utf8_lossy(bytes)
        ))
    }
}

// === Generating documents from the Go types ===

/// A finite source of choices; zeros once exhausted (so any byte string
/// is a document, and shorter strings are simpler documents).
pub(super) struct Choices<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Choices<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Choices<'a> {
        Choices { bytes, pos: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn exhausted(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

const MAP_KEYS: [&str; 6] = [
    "a",
    "A",
    "org.opencontainers.image.title",
    "\u{17F}",
    "k",
    "\u{212A}",
];
const STRINGS: [&str; 6] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
    "x",
    "\u{1F600}",
];

/// A key for `name`: mostly itself, else mutated as an attacker would.
fn mutate(name: &str, c: &mut Choices) -> String {
    match c.below(8) {
        0 => name.to_ascii_uppercase(),
        1 => {
            // Flip the case of one letter.
            let i = c.below(name.len());
            name.char_indices()
                .map(|(j, ch)| {
                    if j == i {
                        if ch.is_ascii_lowercase() {
                            ch.to_ascii_uppercase()
                        } else {
                            ch.to_ascii_lowercase()
                        }
                    } else {
                        ch
                    }
                })
                .collect()
        }
        2 => name.replacen('s', "\u{17F}", 1).replacen('S', "\u{17F}", 1),
        3 => name
            .replacen('k', "\u{212A}", 1)
            .replacen('K', "\u{212A}", 1),
        4 => format!("{name}x"),
        _ => name.to_owned(),
    }
}

/// A document of type `ty`.
pub(super) fn generate(ty: GoType, c: &mut Choices, depth: usize) -> Node {
    if depth > 6 || (c.exhausted() && depth > 1) {
        return Node::Null;
    }
    // Now and then a value of the wrong type, or null.
    match c.below(16) {
        0 => return Node::Null,
        1 if depth > 1 => return scalar(c),
        _ => {}
    }
    match ty {
        Struct(fields) => {
            let n = c.below(fields.len() + 2);
            let mut pairs: Vec<(String, Node)> = Vec::new();
            for _ in 0..n {
                if !pairs.is_empty() && c.below(8) == 0 {
                    // A duplicate of an earlier key.
                    let (k, _) = &pairs[c.below(pairs.len())];
                    let k = k.clone();
                    let (_, t) = fields
                        .iter()
                        .find(|(f, _)| go_fold(f) == go_fold(&k))
                        .copied()
                        .unwrap_or(("", Scalar));
                    pairs.push((k, generate(t, c, depth + 1)));
                    continue;
                }
                let (name, t) = fields[c.below(fields.len())];
                let key = mutate(name, c);
                pairs.push((key, generate(t, c, depth + 1)));
            }
            Node::Object(pairs)
        }
        Slice(element) => {
            let n = c.below(3);
            Node::Array((0..n).map(|_| generate(*element, c, depth + 1)).collect())
        }
        GoMap(element) => {
            let n = c.below(4);
            Node::Object(
                (0..n)
                    .map(|_| {
                        let k = MAP_KEYS[c.below(MAP_KEYS.len())].to_owned();
                        (k, generate(*element, c, depth + 1))
                    })
                    .collect(),
            )
        }
        Scalar => scalar(c),
        Ptr(inner) => generate(*inner, c, depth),
        Interface => match c.below(3) {
            0 => generate(GoMap(&Interface), c, depth + 1),
            1 => generate(Slice(&Interface), c, depth + 1),
            _ => scalar(c),
        },
    }
}

fn scalar(c: &mut Choices) -> Node {
    match c.below(5) {
        0 => Node::Number(c.byte().into()),
        1 => Node::Bool(c.byte() % 2 == 0),
        2 => Node::Null,
        _ => Node::String(STRINGS[c.below(STRINGS.len())].to_owned()),
    }
}

/// The JSON text of `node`, with key characters now and then written as
/// `\u` escapes (surrogate pairs beyond the BMP).
pub(super) fn write(node: &Node, c: &mut Choices, out: &mut String) {
    match node {
        Node::Object(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key(k, c, out);
                out.push(':');
                write(v, c, out);
            }
            out.push('}');
        }
        Node::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, c, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_value().to_string()),
    }
}

fn write_key(key: &str, c: &mut Choices, out: &mut String) {
    out.push('"');
    for ch in key.chars() {
        if c.below(6) == 0 || ch == '"' || ch == '\\' || ch < ' ' {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(ch);
        }
    }
    out.push('"');
}

/// A generated document's bytes.
pub(super) fn document(ty: GoType, choices: &[u8]) -> Vec<u8> {
    let mut c = Choices::new(choices);
    let node = generate(ty, &mut c, 1);
    let node = match node {
        Node::Object(_) => node,
        _ => Node::Object(Vec::new()),
    };
    let mut out = String::new();
    write(&node, &mut c, &mut out);
    out.into_bytes()
}
