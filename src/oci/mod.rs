//! Pure OCI vocabulary: digests, registry and repository names, tags, references,
//! media types, descriptors, digest-checked manifests, distribution header
//! names, the OCI error envelope, and [`json`], the one strict reader every
//! JSON document signgate interprets goes through.
//!
//! Everything here is a value type validated at construction against the
//! distribution-spec grammar, so code further down the request path never
//! re-parses strings. Architecture invariant: this module does no I/O and
//! depends on nothing else in the crate.

mod descriptor;
mod digest;
mod error;
pub mod header;
mod image_ref;
pub mod json;
mod manifest;
mod media_type;
mod name;
mod reference;
mod signature_layer;

pub use descriptor::{deserialize_digest, Descriptor};
pub use digest::{Digest, DigestAlgorithm, DigestError, DigestHasher};
pub use error::{ErrorCode, ErrorEnvelope};
pub use image_ref::ImageRef;
pub use manifest::{Manifest, ManifestError, References};
pub use media_type::{
    is_manifest_media_type, layer_kind, LayerKind, BUNDLE_MEDIA_TYPE_PREFIX,
    DEFAULT_MANIFEST_ACCEPT, DSSE_ENVELOPE_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
    MAX_MANIFEST_BYTES, SIGNATURE_MANIFEST_ACCEPT, SIMPLE_SIGNING_MEDIA_TYPE,
};
pub use name::{NameError, RegistryName, Repository};
pub use reference::{Reference, ReferenceError, Tag, TagError};
pub use signature_layer::{SignatureLayer, SIGNATURE_ANNOTATION};
