//! What each document looks like to its Go readers: which objects are
//! structs (fields matched by Go under case folding) and which are maps
//! (keys matched exactly), at every level.
//!
//! `Document::Manifest` is the union of every field the OCI image-spec and
//! distribution structs define (image manifest, index, Docker schema2
//! manifest and manifest list, Docker schema1): a key is checked against
//! every field any of them could read at that place.

/// How the value at one place in a document is read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A Go struct: these fields, matched under Go's case folding.
    Struct(&'static [Field]),
    /// A map (`annotations`): exact keys, each value of this shape.
    Map(&'static Shape),
    /// An array whose elements have this shape.
    Array(&'static Shape),
    /// A string, number or boolean.
    Scalar,
    /// Read into Go's `interface{}` / serde's `Value`: objects at any depth
    /// are maps.
    Any,
    /// Not read by signgate. Some Go reader may read it as a struct, so
    /// keys that fold-equal each other are refused as well as duplicates.
    Unknown,
}

/// One known struct field.
#[derive(Debug)]
pub(super) struct Field {
    pub name: &'static str,
    pub shape: Shape,
}

const fn field(name: &'static str, shape: Shape) -> Field {
    Field { name, shape }
}

const SCALAR: Shape = Shape::Scalar;
const SCALARS: Shape = Shape::Array(&Shape::Scalar);
const ANNOTATIONS: Shape = Shape::Map(&Shape::Scalar);

/// OCI `Platform` and Docker's `PlatformSpec`.
static PLATFORM: [Field; 6] = [
    field("architecture", SCALAR),
    field("os", SCALAR),
    field("os.version", SCALAR),
    field("os.features", SCALARS),
    field("variant", SCALAR),
    field("features", SCALARS),
];

/// OCI `Descriptor`, distribution's `Descriptor` and manifest-list entry.
static DESCRIPTOR: [Field; 8] = [
    field("mediaType", SCALAR),
    field("digest", SCALAR),
    field("size", SCALAR),
    field("urls", SCALARS),
    field("annotations", ANNOTATIONS),
    field("data", SCALAR),
    field("platform", Shape::Struct(&PLATFORM)),
    field("artifactType", SCALAR),
];

const DESCRIPTORS: Shape = Shape::Array(&Shape::Struct(&DESCRIPTOR));

static FS_LAYER: [Field; 1] = [field("blobSum", SCALAR)];
static HISTORY: [Field; 1] = [field("v1Compatibility", SCALAR)];
/// libtrust's JWS header, in Docker schema1 `signatures`.
static JWS_HEADER: [Field; 3] = [
    field("jwk", Shape::Unknown),
    field("alg", SCALAR),
    field("x5c", SCALARS),
];
static JWS_SIGNATURE: [Field; 3] = [
    field("header", Shape::Struct(&JWS_HEADER)),
    field("signature", SCALAR),
    field("protected", SCALAR),
];

/// Every top-level field of an image manifest, an index (referrers
/// responses and an OCI layout's `index.json` are indexes), a Docker
/// schema2 manifest or manifest list, and a Docker schema1 manifest.
static MANIFEST: [Field; 14] = [
    field("schemaVersion", SCALAR),
    field("mediaType", SCALAR),
    field("artifactType", SCALAR),
    field("config", Shape::Struct(&DESCRIPTOR)),
    field("layers", DESCRIPTORS),
    field("manifests", DESCRIPTORS),
    field("subject", Shape::Struct(&DESCRIPTOR)),
    field("annotations", ANNOTATIONS),
    field("name", SCALAR),
    field("tag", SCALAR),
    field("architecture", SCALAR),
    field("fsLayers", Shape::Array(&Shape::Struct(&FS_LAYER))),
    field("history", Shape::Array(&Shape::Struct(&HISTORY))),
    field("signatures", Shape::Array(&Shape::Struct(&JWS_SIGNATURE))),
];

static IDENTITY: [Field; 1] = [field("docker-reference", SCALAR)];
static IMAGE: [Field; 1] = [field("docker-manifest-digest", SCALAR)];
static CRITICAL: [Field; 3] = [
    field("identity", Shape::Struct(&IDENTITY)),
    field("image", Shape::Struct(&IMAGE)),
    field("type", SCALAR),
];
/// cosign's simple-signing payload.
static SIMPLE_SIGNING: [Field; 2] = [
    field("critical", Shape::Struct(&CRITICAL)),
    field("optional", Shape::Map(&Shape::Any)),
];

static DSSE_SIGNATURE: [Field; 2] = [field("keyid", SCALAR), field("sig", SCALAR)];
/// A DSSE envelope.
static DSSE_ENVELOPE: [Field; 3] = [
    field("payloadType", SCALAR),
    field("payload", SCALAR),
    field("signatures", Shape::Array(&Shape::Struct(&DSSE_SIGNATURE))),
];

pub(super) const MANIFEST_SHAPE: Shape = Shape::Struct(&MANIFEST);
pub(super) const SIMPLE_SIGNING_SHAPE: Shape = Shape::Struct(&SIMPLE_SIGNING);
pub(super) const DSSE_ENVELOPE_SHAPE: Shape = Shape::Struct(&DSSE_ENVELOPE);

/// Top-level keys of a manifest that say what kind of manifest it is; a
/// document with keys of more than one group is ambiguous to runtimes.
pub(super) const KIND_GROUPS: [&[&str]; 3] = [&["manifests"], &["layers", "config"], &["fsLayers"]];

#[cfg(test)]
mod tests {
    use super::super::fold::fold;
    use super::*;

    fn structs(shape: &Shape, out: &mut Vec<&'static [Field]>) {
        match shape {
            Shape::Struct(fields) => {
                out.push(fields);
                for f in fields.iter() {
                    structs(&f.shape, out);
                }
            }
            Shape::Map(s) | Shape::Array(s) => structs(s, out),
            Shape::Scalar | Shape::Any | Shape::Unknown => {}
        }
    }

    /// Go would resolve two fields that fold-equal each other by its own
    /// rules; the schema must never need that.
    #[test]
    fn no_two_fields_of_a_struct_fold_equal() {
        let mut all = Vec::new();
        for shape in [MANIFEST_SHAPE, SIMPLE_SIGNING_SHAPE, DSSE_ENVELOPE_SHAPE] {
            structs(&shape, &mut all);
        }
        for fields in all {
            for (i, a) in fields.iter().enumerate() {
                assert!(a.name.is_ascii(), "{}", a.name);
                for b in &fields[i + 1..] {
                    assert_ne!(fold(a.name), fold(b.name), "{} / {}", a.name, b.name);
                }
            }
        }
    }
}
