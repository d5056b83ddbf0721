//! Proof that a "signature artifact" is inert: what a manifest's labels
//! claim is checked against its bytes.
//!
//! A manifest whose layers all carry signature media types is served
//! without a signature of its own (clients fetch signatures through
//! signgate to verify them). Labels prove nothing — containers/image sniffs
//! layer compression from the bytes and would unpack a relabelled tarball —
//! so an artifact passes only once its config and every layer were fetched
//! (small, bounded as discovery is) and every layer parsed as the kind its
//! media type declares. A JSON document of those kinds cannot be unpacked
//! as a filesystem, whatever a runtime sniffs.
//!
//! Architecture invariant: no I/O here; the gate fetches, this judges.

use serde::Deserialize;

use crate::oci::json::Document;
use crate::oci::{
    layer_kind, Digest, LayerKind, BUNDLE_MEDIA_TYPE_PREFIX, DSSE_ENVELOPE_MEDIA_TYPE,
    SIMPLE_SIGNING_MEDIA_TYPE,
};

/// An artifact's config, like a simple-signing payload, is a few hundred
/// bytes; cosign's is an image config listing the payload's diff ID.
const MAX_CONFIG: usize = 256 * 1024;
/// An index artifact lists at most this many manifests.
pub const MAX_ENTRIES: usize = 64;

/// What a blob of an artifact must parse as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// The manifest's config: any JSON value.
    Config,
    SimpleSigning,
    Dsse,
    Bundle,
}

impl BlobKind {
    /// The kind a layer's media type declares; `None` for anything that is
    /// not signature material. The one classifier decides
    /// ([`layer_kind`]): the same that made the manifest a candidate
    /// artifact in the first place (`References::signature_artifact`).
    fn of_layer(media_type: &str) -> Option<BlobKind> {
        layer_kind(media_type).map(|kind| match kind {
            LayerKind::SimpleSigning => BlobKind::SimpleSigning,
            LayerKind::Dsse => BlobKind::Dsse,
            LayerKind::Bundle => BlobKind::Bundle,
        })
    }

    /// The most a blob of this kind may weigh.
    pub fn limit(self) -> usize {
        match self {
            BlobKind::Config => MAX_CONFIG,
            BlobKind::SimpleSigning => super::limit(SIMPLE_SIGNING_MEDIA_TYPE),
            BlobKind::Dsse | BlobKind::Bundle => super::limit(DSSE_ENVELOPE_MEDIA_TYPE),
        }
    }
}

impl std::fmt::Display for BlobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BlobKind::Config => "config",
            BlobKind::SimpleSigning => "simple-signing payload",
            BlobKind::Dsse => "DSSE envelope",
            BlobKind::Bundle => "sigstore bundle",
        })
    }
}

/// One blob an artifact manifest names, with the kind it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactBlob {
    pub digest: Digest,
    pub kind: BlobKind,
    /// The declared size, checked against the kind's limit: the fetch bound.
    pub size: usize,
}

/// What an artifact manifest claims, read from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// An image manifest: its config and layers, each to be proven.
    Image(Vec<ArtifactBlob>),
    /// An index: every listed manifest must prove inert on its own.
    Index(Vec<Digest>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    manifests: Option<Vec<Desc>>,
    config: Option<Desc>,
    layers: Option<Vec<Desc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Desc {
    #[serde(default)]
    media_type: String,
    /// Parsed at the read: an invalid digest makes the manifest unreadable.
    #[serde(deserialize_with = "crate::oci::deserialize_digest")]
    digest: Digest,
    size: u64,
}

/// Read what an artifact manifest lists. Refused (with the reason) when it
/// is not an artifact of signature material at all.
pub fn claim(manifest: &[u8]) -> Result<Claim, String> {
    let shape: Shape =
        read_json(manifest, Document::Manifest).map_err(|e| format!("unreadable manifest: {e}"))?;
    if let Some(entries) = shape.manifests {
        if shape.layers.is_some() || shape.config.is_some() {
            return Err("an index that also lists layers".into());
        }
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(format!(
                "an index artifact lists {} manifests (1 to {MAX_ENTRIES} allowed)",
                entries.len()
            ));
        }
        return Ok(Claim::Index(
            entries.into_iter().map(|d| d.digest).collect(),
        ));
    }
    let layers = shape.layers.unwrap_or_default();
    if layers.is_empty() {
        return Err("an artifact with no layers".into());
    }
    let mut blobs = Vec::with_capacity(layers.len() + 1);
    if let Some(config) = &shape.config {
        blobs.push(blob(config, BlobKind::Config)?);
    }
    for layer in &layers {
        let kind = BlobKind::of_layer(&layer.media_type).ok_or_else(|| {
            format!(
                "layer {} is '{}', not signature material",
                layer.digest, layer.media_type
            )
        })?;
        blobs.push(blob(layer, kind)?);
    }
    Ok(Claim::Image(blobs))
}

fn blob(desc: &Desc, kind: BlobKind) -> Result<ArtifactBlob, String> {
    let digest = desc.digest.clone();
    let size = usize::try_from(desc.size)
        .ok()
        .filter(|s| *s <= kind.limit())
        .ok_or_else(|| {
            format!(
                "{kind} {digest} declares {} bytes, more than the {}-byte limit",
                desc.size,
                kind.limit()
            )
        })?;
    Ok(ArtifactBlob { digest, kind, size })
}

/// Check fetched bytes are what their kind says: the proof itself.
pub fn check(kind: BlobKind, bytes: &[u8]) -> Result<(), String> {
    // Belt and braces: a JSON document could in principle be laid out so
    // its first block is a valid tar header; refuse that shape outright.
    if looks_like_tar(bytes) {
        return Err(format!("the {kind} is laid out as a tar archive"));
    }
    let parsed = match kind {
        BlobKind::Config => read_json::<serde_json::Value>(bytes, Document::Other).map(drop),
        BlobKind::SimpleSigning => read_json::<SimpleSigning>(bytes, Document::Other).map(drop),
        BlobKind::Dsse => read_json::<Envelope>(bytes, Document::DsseEnvelope).and_then(|e| {
            if e.signatures.is_empty() {
                Err("a DSSE envelope without signatures".to_owned())
            } else {
                Ok(())
            }
        }),
        BlobKind::Bundle => read_json::<Bundle>(bytes, Document::Other).and_then(|b| {
            if !b.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) {
                return Err(format!("bundle media type '{}'", b.media_type));
            }
            match (b.message_signature.is_some(), b.dsse_envelope.is_some()) {
                (true, false) | (false, true) => Ok(()),
                _ => Err("a bundle needs exactly one of messageSignature and dsseEnvelope".into()),
            }
        }),
    };
    parsed.map_err(|e| format!("not a valid {kind}: {e}"))
}

/// The JSON reader for artifact documents: the strict one, with the shape
/// of the kind (a runtime or verifier must not read them differently).
fn read_json<T: serde::de::DeserializeOwned>(bytes: &[u8], doc: Document) -> Result<T, String> {
    crate::oci::json::read(bytes, doc).map_err(|e| e.to_string())
}

/// cosign's simple-signing payload: the fields it must have.
#[derive(Deserialize)]
#[allow(dead_code)] // read to prove the shape
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Critical {
    identity: serde_json::Map<String, serde_json::Value>,
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct CriticalImage {
    // cosign's spec example spells it with a capital (Go reads both).
    #[serde(rename = "docker-manifest-digest", alias = "Docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Envelope {
    payload_type: String,
    payload: String,
    signatures: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Bundle {
    media_type: String,
    verification_material: serde_json::Map<String, serde_json::Value>,
    message_signature: Option<serde_json::Map<String, serde_json::Value>>,
    dsse_envelope: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Whether the first 512 bytes carry a valid tar header checksum.
fn looks_like_tar(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..512) else {
        return false;
    };
    let Some(field) = header.get(148..156) else {
        return false;
    };
    let digits: String = field
        .iter()
        .map(|b| *b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const SS: &[u8] = br#"{"critical":{"identity":{"docker-reference":"r/app"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"cosign container image signature"},"optional":null}"#;

    #[test]
    fn layers_are_judged_by_their_bytes_not_their_labels() {
        let cases: &[(BlobKind, &[u8], bool)] = &[
            (BlobKind::SimpleSigning, SS, true),
            (BlobKind::SimpleSigning, b"\x1f\x8b\x08\x00rest-of-a-gzip", false),
            (BlobKind::SimpleSigning, br#"{"critical":{}}"#, false),
            (BlobKind::SimpleSigning, b"{}", false),
            (BlobKind::Dsse, br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}"#, true),
            (BlobKind::Dsse, br#"{"payloadType":"x","payload":"e30=","signatures":[]}"#, false),
            (BlobKind::Bundle, br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"messageSignature":{}}"#, true),
            (BlobKind::Bundle, br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#, false),
            (BlobKind::Bundle, br#"{"mediaType":"text/plain","verificationMaterial":{},"dsseEnvelope":{}}"#, false),
            (BlobKind::Config, br#"{"rootfs":{"type":"layers","diff_ids":["sha256:ab"]}}"#, true),
            (BlobKind::Config, b"\x00\x01", false),
        ];
        for (kind, bytes, ok) in cases {
            assert_eq!(
                check(*kind, bytes).is_ok(),
                *ok,
                "{kind}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn a_real_tar_is_refused_even_inside_a_label() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o755);
        header.set_cksum();
        builder
            .append_data(&mut header, "entrypoint", &b"run"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        assert!(looks_like_tar(&tar));
        assert!(check(BlobKind::Config, &tar).is_err());
        assert!(!looks_like_tar(SS));
    }

    #[test]
    fn claims_name_every_blob_with_its_kind_and_refuse_non_material() {
        let sig = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":233}},"layers":[{{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","digest":"{D2}","size":250}}]}}"#
        );
        assert_eq!(
            claim(sig.as_bytes()).unwrap(),
            Claim::Image(vec![
                ArtifactBlob {
                    digest: D1.parse().unwrap(),
                    kind: BlobKind::Config,
                    size: 233
                },
                ArtifactBlob {
                    digest: D2.parse().unwrap(),
                    kind: BlobKind::SimpleSigning,
                    size: 250
                },
            ])
        );
        let tarball = sig.replace(
            SIMPLE_SIGNING_MEDIA_TYPE,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        );
        assert!(claim(tarball.as_bytes())
            .unwrap_err()
            .contains("not signature material"));
        let huge = sig.replace("\"size\":250", "\"size\":30000000");
        assert!(claim(huge.as_bytes()).unwrap_err().contains("limit"));
        let both = format!(r#"{{"manifests":[{{"digest":"{D1}","size":1}}],"layers":[]}}"#);
        assert!(claim(both.as_bytes()).is_err());
        let index = format!(
            r#"{{"manifests":[{{"digest":"{D1}","size":1}},{{"digest":"{D2}","size":1}}]}}"#
        );
        assert_eq!(
            claim(index.as_bytes()).unwrap(),
            Claim::Index(vec![D1.parse().unwrap(), D2.parse().unwrap()])
        );
        assert!(claim(br#"{"layers":[]}"#).is_err());
    }
}
