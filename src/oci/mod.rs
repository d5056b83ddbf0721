//! Pure OCI vocabulary: digests, registry and repository names, tags, references,
//! media types, descriptors, the OCI error envelope, and [`json`], the one
//! strict reader every JSON document signgate interprets goes through.
//!
//! Everything here is a value type validated at construction against the
//! distribution-spec grammar, so code further down the request path never
//! re-parses strings. Architecture invariant: this module does no I/O and
//! depends on nothing else in the crate.

mod descriptor;
mod digest;
mod error;
mod image_ref;
pub mod json;
mod media_type;
mod name;
mod reference;

pub use descriptor::{deserialize_digest, Descriptor};
pub use digest::{Digest, DigestAlgorithm, DigestError, DigestHasher};
pub use error::{ErrorCode, ErrorEnvelope};
pub use image_ref::ImageRef;
pub use media_type::{is_manifest_media_type, DEFAULT_MANIFEST_ACCEPT, MAX_MANIFEST_BYTES};
pub use name::{NameError, RegistryName, Repository};
pub use reference::{Reference, ReferenceError, Tag, TagError};
