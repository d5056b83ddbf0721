//! The strict reader: what it refuses (table), and the differential
//! against the Go model (property test).

use proptest::prelude::*;

use super::go_model::{self, GoType, UDsseEnvelope, UManifest, USimpleSigning};
use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn layer(extra: &str) -> String {
    format!(
        r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":1{extra}}}"#
    )
}

fn image(extra: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":1}},"layers":[{}]{extra}}}"#,
        layer("")
    )
}

/// One case: a document, and what the reader must say about it.
struct Case {
    name: &'static str,
    doc: Document,
    json: String,
    /// `None`: accepted. `Some((message, key path))`: refused so.
    refused: Option<(&'static str, &'static str)>,
}

fn case(
    name: &'static str,
    json: impl Into<String>,
    refused: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        doc: Document::Manifest,
        json: json.into(),
        refused,
    }
}

fn cases() -> Vec<Case> {
    let long_s = "layer\u{17F}";
    let mut cases = vec![
        case("a plain image manifest", image(""), None),
        case(
            "duplicate layers",
            image(r#","layers":[]"#),
            Some(("duplicate key `layers` at `$`", "$.layers")),
        ),
        case(
            "Layers beside layers",
            image(&format!(r#","Layers":[{}]"#, layer(""))),
            Some((
                "key `Layers` at `$` would be read as `layers` by Go",
                "$.Layers",
            )),
        ),
        case(
            "Layers alone",
            format!(r#"{{"schemaVersion":2,"Layers":[{}]}}"#, layer("")),
            Some((
                "key `Layers` at `$` would be read as `layers` by Go",
                "$.Layers",
            )),
        ),
        case(
            "long s",
            image(&format!(r#","{long_s}":[]"#)),
            Some((
                "key `layer\\u{17f}` at `$` would be read as `layers` by Go",
                "$[\"layer\\u{17f}\"]",
            )),
        ),
        case(
            "long s, escaped",
            image(r#","layer\u017f":[]"#),
            Some(("would be read as `layers` by Go", "$[\"layer\\u{17f}\"]")),
        ),
        case(
            "a lone Kelvin sign key matches no field",
            format!(
                "{{\"schemaVersion\":2,\"manifests\":[{{\"digest\":\"{D1}\",\"\u{212A}\"  :1}}]}}"
            ),
            None,
        ),
        case(
            "nested descriptor MediaType",
            image("").replacen(r#""config":{"mediaType""#, r#""config":{"MediaType""#, 1),
            Some((
                "key `MediaType` at `$.config` would be read as `mediaType` by Go",
                "$.config.MediaType",
            )),
        ),
        case(
            "Digest in the second layer",
            format!(
                r#"{{"schemaVersion":2,"layers":[{},{}]}}"#,
                layer(""),
                layer(&format!(r#","Digest":"{D1}""#))
            ),
            Some((
                "key `Digest` at `$.layers[1]` would be read as `digest` by Go",
                "$.layers[1].Digest",
            )),
        ),
        case(
            "platform os.version in another case",
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"digest":"{D1}","platform":{{"os":"windows","OS.Version":"10"}}}}]}}"#
            ),
            Some((
                "key `OS.Version` at `$.manifests[0].platform` would be read as `os.version` by Go",
                "$.manifests[0].platform[\"OS.Version\"]",
            )),
        ),
        case(
            "platform Architecture",
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"digest":"{D1}","platform":{{"Architecture":"arm64"}}}}]}}"#
            ),
            Some((
                "would be read as `architecture` by Go",
                "$.manifests[0].platform.Architecture",
            )),
        ),
        case(
            "platform os.features, exactly",
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"digest":"{D1}","platform":{{"os":"windows","os.version":"10","os.features":["win32k"],"variant":"v8"}}}}]}}"#
            ),
            None,
        ),
        case(
            "duplicate annotation",
            image(r#","annotations":{"a":"1","a":"2"}"#),
            Some(("duplicate key `a` at `$.annotations`", "$.annotations.a")),
        ),
        case(
            "annotations are a map: keys differing in case are distinct",
            image(r#","annotations":{"a":"1","A":"2","Layers":"3"}"#),
            None,
        ),
        case(
            "duplicate annotation in a descriptor, escaped",
            image("").replacen(
                r#""size":1}]"#,
                r#""size":1,"annotations":{"k":"1","\u006b":"2"}}]"#,
                1,
            ),
            Some((
                "duplicate key `k` at `$.layers[0].annotations`",
                "$.layers[0].annotations.k",
            )),
        ),
        case(
            "an escaped layers twice",
            image(r#","l\u0061yers":[]"#),
            Some(("duplicate key `layers` at `$`", "$.layers")),
        ),
        case(
            "an escaped Layers",
            image(r#","\u004cayers":[]"#),
            Some((
                "key `Layers` at `$` would be read as `layers` by Go",
                "$.Layers",
            )),
        ),
        case(
            "manifests and layers",
            format!(
                r#"{{"schemaVersion":2,"manifests":[],"layers":[{}]}}"#,
                layer("")
            ),
            Some(("keys `manifests` and `layers` at `$`", "$.layers")),
        ),
        case(
            "manifests and config",
            format!(r#"{{"schemaVersion":2,"config":{{"digest":"{D1}"}},"manifests":[]}}"#),
            Some(("keys `manifests` and `config` at `$`", "$.config")),
        ),
        case(
            "fsLayers and layers",
            r#"{"schemaVersion":1,"fsLayers":[],"layers":[]}"#,
            Some(("keys `layers` and `fsLayers` at `$`", "$.fsLayers")),
        ),
        case(
            "manifests beside a null layers (null is absent to both)",
            r#"{"schemaVersion":2,"manifests":[],"layers":null}"#,
            None,
        ),
        case(
            "schema1 BlobSum",
            format!(r#"{{"schemaVersion":1,"fsLayers":[{{"BlobSum":"{D1}"}}]}}"#),
            Some((
                "key `BlobSum` at `$.fsLayers[0]` would be read as `blobSum` by Go",
                "$.fsLayers[0].BlobSum",
            )),
        ),
        case(
            "schema1 signature header Alg",
            r#"{"schemaVersion":1,"signatures":[{"header":{"jwk":{},"Alg":"ES256"}}]}"#,
            Some(("would be read as `alg` by Go", "$.signatures[0].header.Alg")),
        ),
        case(
            "schema1, exactly",
            format!(
                r#"{{"schemaVersion":1,"name":"a/b","tag":"v1","architecture":"amd64","fsLayers":[{{"blobSum":"{D1}"}}],"history":[{{"v1Compatibility":"{{}}"}}],"signatures":[{{"header":{{"jwk":{{"crv":"P-256","kty":"EC"}},"alg":"ES256"}},"signature":"x","protected":"y"}}]}}"#
            ),
            None,
        ),
        case(
            "two unknown keys Go folds together",
            image(r#","foo":1,"FOO":2"#),
            Some(("keys `foo` and `FOO` at `$` are one key to Go", "$.FOO")),
        ),
        case(
            "fold-equal keys in an object signgate does not read",
            image(r#","x":{"kty":1,"KTY":2}"#),
            Some(("keys `kty` and `KTY` at `$.x` are one key to Go", "$.x.KTY")),
        ),
        case(
            "a delimiter-blind near miss",
            image(r#","media_type":"x""#),
            Some((
                "key `media_type` at `$` would be read as `mediaType` by Go",
                "$.media_type",
            )),
        ),
        case(
            "lone high surrogate in a key",
            image(r#","\ud800":1"#),
            Some(("unpaired UTF-16 surrogate escape", "$")),
        ),
        case(
            "lone low surrogate in a value",
            image(r#","x":"\udc00""#),
            Some(("unpaired UTF-16 surrogate escape", "$.x")),
        ),
        case(
            "surrogates in the wrong order",
            image(r#","x":"\udc00\ud800""#),
            Some(("unpaired UTF-16 surrogate escape", "$.x")),
        ),
        case(
            "a surrogate pair is one character",
            image(r#","x":"\ud83d\ude00","\ud83d\ude00":1"#),
            None,
        ),
        case(
            "as deep as allowed",
            image(&format!(r#","x":{}1{}"#, "[".repeat(31), "]".repeat(31))),
            None,
        ),
        case(
            "trailing data",
            format!("{} {{}}", image("")),
            Some(("data after the document", "$")),
        ),
        case("trailing whitespace", format!("{} \r\n\t", image("")), None),
        case(
            "not an object",
            "[1,2]",
            Some(("the document is not a JSON object", "$")),
        ),
        case(
            "a byte order mark",
            format!("\u{FEFF}{}", image("")),
            Some(("not a JSON object", "$")),
        ),
        case(
            "a leading zero",
            image(r#","x":01"#),
            Some(("invalid JSON", "$")),
        ),
        case(
            "a trailing comma",
            image(","),
            Some(("expected a key", "$")),
        ),
        case("a comment", image("/*x*/"), Some(("invalid JSON", "$"))),
        case(
            "NaN",
            image(r#","x":NaN"#),
            Some(("expected a value", "$.x")),
        ),
        case(
            "a raw control character",
            image(",\"x\":\"a\u{1}\""),
            Some(("control character in a string", "$.x")),
        ),
        case(
            "a bad escape",
            image(r#","x":"\q""#),
            Some(("invalid escape", "$.x")),
        ),
        case("numbers", image(r#","x":[-0,0.5,1e9,-1.5E-3,2e+2]"#), None),
        // serde reads a struct from an array, field by position; Go refuses.
        case(
            "a config written as an array",
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":["application/vnd.oci.image.config.v1+json","{D1}",1],"layers":[]}}"#
            ),
            Some(("an array where Go reads an object", "$.config")),
        ),
        case(
            "a layer written as an array",
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":1}},"layers":[["application/vnd.oci.image.layer.v1.tar+gzip","{D2}",1]]}}"#
            ),
            Some(("an array where Go reads an object", "$.layers[0]")),
        ),
        case(
            "unterminated",
            image("").trim_end_matches('}').to_owned(),
            Some(("invalid JSON", "$")),
        ),
    ];
    // A Kelvin sign in a DSSE signature's key.
    cases.push(Case {
        name: "Kelvin keyid",
        doc: Document::DsseEnvelope,
        json: "{\"payloadType\":\"x\",\"payload\":\"\",\"signatures\":[{\"\u{212A}eyid\":\"evil\",\"sig\":\"\"}]}".into(),
        refused: Some((
            "key `\\u{212a}eyid` at `$.signatures[0]` would be read as `keyid` by Go",
            "$.signatures[0][\"\\u{212a}eyid\"]",
        )),
    });
    cases.push(Case {
        name: "DSSE PayloadType",
        doc: Document::DsseEnvelope,
        json: r#"{"payloadType":"a","PayloadType":"b","payload":"","signatures":[]}"#.into(),
        refused: Some((
            "key `PayloadType` at `$` would be read as `payloadType` by Go",
            "$.PayloadType",
        )),
    });
    cases.push(Case {
        name: "simple signing, exactly",
        doc: Document::SimpleSigning,
        json: format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r/a"}},"image":{{"docker-manifest-digest":"{D1}"}},"type":"cosign container image signature"}},"optional":{{"a":{{"x":1,"X":2}},"A":null}}}}"#
        ),
        refused: None,
    });
    cases.push(Case {
        name: "simple signing Docker-Manifest-Digest",
        doc: Document::SimpleSigning,
        json: format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r/a"}},"image":{{"docker-manifest-digest":"{D1}","Docker-Manifest-Digest":"{D2}"}},"type":"t"}}}}"#
        ),
        refused: Some((
            "key `Docker-Manifest-Digest` at `$.critical.image` would be read as `docker-manifest-digest` by Go",
            "$.critical.image.Docker-Manifest-Digest",
        )),
    });
    cases.push(Case {
        name: "simple signing duplicate optional",
        doc: Document::SimpleSigning,
        json: r#"{"critical":{},"optional":{"o":{"k":1,"k":2}}}"#.into(),
        refused: Some(("duplicate key `k` at `$.optional.o`", "$.optional.o.k")),
    });
    cases.push(Case {
        name: "a long s key that matches no field",
        doc: Document::SimpleSigning,
        json: "{\"critical\":{\"identity\":{\"docker-reference\":\"a\"},\"type\":\"t\",\"\u{17F}ignature\":1}}".into(),
        refused: None,
    });
    cases.push(Case {
        name: "a delimiter-blind docker-reference",
        doc: Document::SimpleSigning,
        json: r#"{"critical":{"type":"t","identity":{"dockerreference":"a"}}}"#.into(),
        refused: Some((
            "key `dockerreference` at `$.critical.identity` would be read as `docker-reference` by Go",
            "$.critical.identity.dockerreference",
        )),
    });
    cases
}

#[test]
fn the_table() {
    let mut failures = Vec::new();
    for c in cases() {
        let got = check(c.json.as_bytes(), c.doc);
        match (&c.refused, &got) {
            (None, Ok(())) => {}
            (Some((message, path)), Err(e)) => {
                if !e.to_string().contains(message) || e.key_path() != *path {
                    failures.push(format!(
                        "{}: want `{message}` at {path}, got `{e}` at {}",
                        c.name,
                        e.key_path()
                    ));
                }
            }
            (want, got) => failures.push(format!("{}: want {want:?}, got {got:?}", c.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nesting_is_bounded() {
    let deep = image(&format!(r#","x":{}1{}"#, "[".repeat(40), "]".repeat(40)));
    let e = check(deep.as_bytes(), Document::Manifest).unwrap_err();
    assert_eq!(e.kind(), &StrictJsonErrorKind::TooDeep { limit: MAX_DEPTH });
    assert_eq!(e.key_path(), format!("$.x{}", "[0]".repeat(MAX_DEPTH - 1)));
    assert!(
        e.to_string().contains("nested deeper than 32 levels"),
        "{e}"
    );
}

#[test]
fn bytes_that_are_not_utf8_are_refused_where_they_are() {
    let mut bytes = image("").into_bytes();
    let at = bytes.len() - 2;
    bytes.insert(at, 0xff);
    let e = check(&bytes, Document::Manifest).unwrap_err();
    assert_eq!(e.kind(), &StrictJsonErrorKind::InvalidUtf8 { offset: at });
    // Overlong and surrogate encodings are not UTF-8 either.
    for bad in [&b"{\"\xc0\xaf\":1}"[..], b"{\"\xed\xa0\x80\":1}"] {
        assert!(matches!(
            check(bad, Document::Manifest).unwrap_err().kind(),
            StrictJsonErrorKind::InvalidUtf8 { .. }
        ));
    }
}

#[test]
fn a_key_of_a_kelvin_sign_folds_to_k() {
    // Go reads `{"\u212A":…}` as a field named `k` or `K`: in a struct with
    // such a field it would be refused; annotations keep it as a key.
    assert!(check(
        "{\"annotations\":{\"\u{212A}\":\"1\",\"k\":\"2\"}}".as_bytes(),
        Document::Manifest
    )
    .is_ok());
    let e = check(
        "{\"x\":{\"\u{212A}\":1,\"k\":2}}".as_bytes(),
        Document::Manifest,
    )
    .unwrap_err();
    assert!(e.to_string().contains("are one key to Go"), "{e}");
}

#[test]
fn read_names_the_path_of_a_value_serde_refuses() {
    #[derive(Debug, serde::Deserialize)]
    struct Shape {
        #[allow(dead_code)]
        layers: Vec<crate::oci::Descriptor>,
    }
    let bad = format!(
        r#"{{"layers":[{},{{"digest":"md5:00","size":1}}]}}"#,
        layer("")
    );
    let e = read::<Shape>(bad.as_bytes(), Document::Manifest).unwrap_err();
    assert_eq!(e.key_path(), "$.layers[1].digest");
    assert!(
        e.to_string().contains("unsupported digest algorithm 'md5'"),
        "{e}"
    );
    let missing = r#"{"layers":[{"size":1}]}"#;
    let e = read::<Shape>(missing.as_bytes(), Document::Manifest).unwrap_err();
    assert_eq!(e.key_path(), "$.layers[0]");
    assert!(e.to_string().contains("missing field `digest`"), "{e}");
    // Strictness comes first: serde never sees a refused document.
    let e = read::<Shape>(image(r#","Layers":[]"#).as_bytes(), Document::Manifest).unwrap_err();
    assert!(e.to_string().contains("by Go"), "{e}");
}

#[test]
fn messages_show_keys_escaped_and_cut() {
    let key = format!("{}`\u{1}", "A".repeat(100));
    let json =
        format!(r#"{{"annotations":{{"{key}":"1","{key}":"2"}}}}"#).replace('\u{1}', "\\u0001");
    let e = check(json.as_bytes(), Document::Manifest).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains(&format!("duplicate key `{}…`", "A".repeat(64))),
        "{message}"
    );
    assert!(!message.contains('\u{1}'));
}

#[test]
fn real_documents_are_accepted_and_read_as_go_reads_them() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut manifests = 0;
    for dir in std::fs::read_dir(fixtures.join("containers-image")).unwrap() {
        let path = dir.unwrap().path().join("manifest.json");
        if !path.exists() {
            continue; // keys and certificates beside the images
        }
        let bytes = std::fs::read(&path).unwrap();
        // Strict JSON, all of them; one (`"signatures": 1`) is of the wrong
        // type for Go and serde alike.
        assert_eq!(
            check(&bytes, Document::Manifest),
            Ok(()),
            "{}",
            path.display()
        );
        if differential(&bytes, Document::Manifest).map_err(|e| panic!("{e}")) == Ok(true) {
            manifests += 1;
        }
    }
    assert!(manifests >= 8, "{manifests}");
    let payload = std::fs::read(fixtures.join("keys/payload.json")).unwrap();
    assert_eq!(differential(&payload, Document::SimpleSigning), Ok(true));
    let bundle: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures.join("sigstore-rs/npm_slsa_bundle_v03.json")).unwrap(),
    )
    .unwrap();
    let envelope = serde_json::to_vec(&bundle["dsseEnvelope"]).unwrap();
    assert_eq!(differential(&envelope, Document::DsseEnvelope), Ok(true));
    let read: UDsseEnvelope = read(&envelope, Document::DsseEnvelope).unwrap();
    assert_eq!(read.signatures.map(|s| s.len()), Some(1));
}

// === The differential: signgate against the Go model ===

/// What signgate's reader gives for `bytes`, compared with the Go model.
fn differential(bytes: &[u8], doc: Document) -> Result<bool, String> {
    fn one<T: serde::de::DeserializeOwned + serde::Serialize>(
        bytes: &[u8],
        doc: Document,
        ty: GoType,
    ) -> Result<bool, String> {
        match read::<T>(bytes, doc) {
            Ok(ours) => go_model::compare(bytes, ty, &ours).map(|()| true),
            Err(_) => Ok(false),
        }
    }
    match doc {
        Document::Manifest => one::<UManifest>(bytes, doc, go_model::MANIFEST),
        Document::SimpleSigning => one::<USimpleSigning>(bytes, doc, go_model::SIMPLE_SIGNING),
        Document::DsseEnvelope => one::<UDsseEnvelope>(bytes, doc, go_model::DSSE_ENVELOPE),
        // No known fields: Go and serde both read maps, and duplicates are
        // refused, so acceptance is the whole answer.
        Document::Other => Ok(read::<serde_json::Value>(bytes, doc).is_ok()),
    }
}

#[test]
fn other_documents_refuse_duplicates_and_fold_pairs_at_any_depth() {
    for (doc, ok) in [
        (&br#"{"a":{"b":1,"c":[{"d":2}]},"mediaType":"x"}"#[..], true),
        (br#"{"a":1,"a":2}"#, false),
        (
            br#"{"x":{"verificationMaterial":1,"VerificationMaterial":2}}"#,
            false,
        ),
        (br#"{"x":[{"s":1,"\u017f":2}]}"#, false),
    ] {
        assert_eq!(
            read::<serde_json::Value>(doc, Document::Other).is_ok(),
            ok,
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
}

const DOCUMENTS: [(Document, GoType); 3] = [
    (Document::Manifest, go_model::MANIFEST),
    (Document::SimpleSigning, go_model::SIMPLE_SIGNING),
    (Document::DsseEnvelope, go_model::DSSE_ENVELOPE),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Documents built from the known field names, keys mutated in case,
    /// long s, Kelvin sign, escapes and duplicates: whatever `read` accepts,
    /// Go assigns the same value to every known field.
    #[test]
    fn signgate_never_disagrees_with_go_on_what_it_accepts(choices in prop::collection::vec(any::<u8>(), 0..600)) {
        for (doc, ty) in DOCUMENTS {
            let bytes = go_model::document(ty, &choices);
            if let Err(e) = differential(&bytes, doc) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

/// Inputs the fuzz target found where the model, not the reader, was wrong.
#[test]
fn model_regressions() {
    let jwk_null = r#"{"config":{},"signatures":[{"header":{"jwk":null}}]}"#;
    assert_eq!(
        differential(jwk_null.as_bytes(), Document::Manifest),
        Ok(true)
    );
}

/// The property above is not vacuous: the generator makes documents the
/// reader accepts and documents it refuses, and the model tells serde's
/// exact-key reading from Go's when the strict check is skipped.
#[test]
fn the_differential_can_fail() {
    let mut accepted = 0;
    let mut refused = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2000 {
        let choices: Vec<u8> = (0..300)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_le_bytes()[0]
            })
            .collect();
        let bytes = go_model::document(go_model::MANIFEST, &choices);
        match differential(&bytes, Document::Manifest) {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        accepted > 200 && refused > 200,
        "accepted {accepted}, refused {refused}"
    );

    // Without the strict check, serde and Go read the key-case image apart.
    let attack = format!(
        r#"{{"schemaVersion":2,"layers":[],"Layers":[{}]}}"#,
        layer("")
    );
    let serde_only: UManifest = serde_json::from_slice(attack.as_bytes()).unwrap();
    let e = go_model::compare(attack.as_bytes(), go_model::MANIFEST, &serde_only).unwrap_err();
    assert!(e.contains("disagree"), "{e}");
    assert!(differential(attack.as_bytes(), Document::Manifest) == Ok(false));
}
