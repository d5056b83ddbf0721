//! The strict JSON reader against a model of Go's `encoding/json` (case
//! folding with `ſ` and the Kelvin sign, last key wins, merging): on every
//! input the reader accepts, Go would assign every known field exactly what
//! serde read. Each input is tried as raw bytes and as the seed of a
//! generated document (known field names with mutated keys), for each of
//! the three document kinds. Never panics otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use signgate::oci::json::{check, read, Document};

#[path = "../../src/oci/json/go_model.rs"]
mod go_model;

use go_model::{GoType, UDsseEnvelope, UManifest, USimpleSigning};

fn agree<T: DeserializeOwned + Serialize>(bytes: &[u8], doc: Document, ty: GoType) {
    let accepted = read::<T>(bytes, doc);
    if let Ok(ours) = &accepted {
        assert!(check(bytes, doc).is_ok());
        if let Err(disagreement) = go_model::compare(bytes, ty, ours) {
            panic!("{disagreement}");
        }
    }
}

fn all(bytes: &[u8]) {
    agree::<UManifest>(bytes, Document::Manifest, go_model::MANIFEST);
    agree::<USimpleSigning>(bytes, Document::SimpleSigning, go_model::SIMPLE_SIGNING);
    agree::<UDsseEnvelope>(bytes, Document::DsseEnvelope, go_model::DSSE_ENVELOPE);
}

fuzz_target!(|data: &[u8]| {
    all(data);
    for ty in [go_model::MANIFEST, go_model::SIMPLE_SIGNING, go_model::DSSE_ENVELOPE] {
        all(&go_model::document(ty, data));
    }
});
