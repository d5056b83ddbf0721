//! Signature material: any layer (media type, payload, annotations) run
//! through `verify::check` under a key and a keyless requirement never
//! panics, and never verifies (nothing here is signed by those).
#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use signgate::oci::Digest;
use signgate::signature::SignatureLayer;
use signgate::verify::{
    check, Identity, Keyless, Matcher, PublicKey, Requirement, Strictness, TrustRoot, TrustSource,
    Want,
};

const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDWeWCVKhSgxaA+jFTUcjhzKpEXNN\nRuvXZDUbVdg6X+Ts1mspXFWVJqRs7Gqb4u9srJr1ww+RbNxmEuwUKAsNaw==\n-----END PUBLIC KEY-----\n";
const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.cosign.simplesigning.v1+json",
    "application/vnd.dsse.envelope.v1+json",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];

fn requirements() -> &'static [Requirement; 2] {
    static R: OnceLock<[Requirement; 2]> = OnceLock::new();
    R.get_or_init(|| {
        [
            Requirement::Key(PublicKey::from_pem(KEY).unwrap()),
            Requirement::Keyless(Keyless {
                trust: TrustSource::Sigstore(Arc::new(TrustRoot::public_good().unwrap())),
                identities: vec![Identity {
                    subject: Some(Matcher::regex(".*").unwrap()),
                    issuer: Some(Matcher::regex(".*").unwrap()),
                    claims: Vec::new(),
                }],
                strictness: Strictness::default(),
            }),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    // `payload \0 annotations-json`
    let (payload, annotations) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let annotations = serde_json::from_slice(annotations).unwrap_or_default();
    let layer = SignatureLayer {
        media_type: MEDIA_TYPES[usize::from(selector) % MEDIA_TYPES.len()].to_owned(),
        digest: Digest::sha256_of(payload),
        size: 0,
        payload: Bytes::copy_from_slice(payload),
        annotations,
        found_at: "fuzz".into(),
    };
    let digest = Digest::sha256_of(b"image");
    for requirement in requirements() {
        for want in [Want::Signature, Want::Attestation] {
            assert!(check(&digest, &layer, "fuzz", requirement, want).is_err());
        }
    }
});
