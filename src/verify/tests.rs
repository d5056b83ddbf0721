//! Verifier tests on real cosign signatures (containers/image fixtures) and
//! on generated P-384, Ed25519 and RSA keys. Every check has a negative.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn key(name: &str) -> PublicKey {
    let dir = if name.starts_with("cosign") || name == "some-rsa-key.pub" {
        fixtures().join("containers-image")
    } else {
        fixtures().join("keys")
    };
    PublicKey::from_pem(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

/// A containers/image fixture: the image digest and its signature layers.
fn image(name: &str) -> (Digest, Vec<SignatureLayer>) {
    let dir = fixtures().join("containers-image").join(name);
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    let mut layers = Vec::new();
    for i in 1.. {
        let Ok(raw) = std::fs::read(dir.join(format!("signature-{i}"))) else {
            break;
        };
        let json = raw
            .strip_prefix(b"\x00sigstore-json\n")
            .expect("containers/image signature prefix");
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(v["payload"].as_str().unwrap())
            .unwrap();
        let annotations = v["annotations"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        layers.push(SignatureLayer {
            media_type: v["mimeType"].as_str().unwrap().to_owned(),
            digest: Digest::sha256_of(&payload),
            payload: Bytes::from(payload),
            annotations,
        });
    }
    assert!(!layers.is_empty(), "{name} has signatures");
    (Digest::sha256_of(&manifest), layers)
}

#[test]
fn real_key_signed_images_verify_with_their_key() {
    for name in [
        "dir-img-cosign-valid",
        "dir-img-cosign-valid-2",
        "dir-img-cosign-valid-with-tag",
        "dir-img-cosign-mixed",
    ] {
        let (digest, layers) = image(name);
        let v = verify_with_key(&digest, &layers, "a", &key("cosign.pub"))
            .unwrap_or_else(|r| panic!("{name}: {r:?}"));
        assert_eq!(v.digest(), &digest);
        assert_eq!(v.authority(), "a");
        assert!(v.docker_reference().is_some());
    }
}

#[test]
fn another_key_is_an_untrusted_signature() {
    let (digest, layers) = image("dir-img-cosign-valid");
    for other in ["cosign2.pub", "some-rsa-key.pub", "p384.pub", "ed25519.pub"] {
        let reasons = verify_with_key(&digest, &layers, "a", &key(other)).unwrap_err();
        assert!(
            matches!(reasons[..], [RejectReason::SignatureInvalid(_)]),
            "{other}: {reasons:?}"
        );
    }
}

#[test]
fn a_modified_manifest_is_another_image() {
    // The signature is genuine; the payload names the digest before the change.
    let (digest, layers) = image("dir-img-cosign-modified-manifest");
    let reasons = verify_with_key(&digest, &layers, "a", &key("cosign.pub")).unwrap_err();
    assert!(
        matches!(&reasons[..], [RejectReason::OtherImage(d)] if d != digest.as_str()),
        "{reasons:?}"
    );
    let (digest, layers) = image("dir-img-cosign-manifest-digest-error");
    assert!(verify_with_key(&digest, &layers, "a", &key("cosign.pub")).is_err());
}

#[test]
fn a_genuine_signature_replayed_onto_another_image_is_refused() {
    let (_, layers) = image("dir-img-cosign-valid");
    let (other_digest, _) = image("dir-img-cosign-fulcio-rekor-valid");
    let reasons = verify_with_key(&other_digest, &layers, "a", &key("cosign.pub")).unwrap_err();
    assert!(
        matches!(reasons[..], [RejectReason::OtherImage(_)]),
        "{reasons:?}"
    );
}

#[test]
fn attachments_that_are_not_signatures_are_unsupported() {
    let (digest, layers) = image("dir-img-cosign-other-attachment");
    let reasons = verify_with_key(&digest, &layers, "a", &key("cosign.pub")).unwrap_err();
    assert!(
        matches!(&reasons[..], [RejectReason::NotASignature { .. }]),
        "{reasons:?}"
    );
}

#[test]
fn a_keyless_signature_is_not_accepted_by_a_key_authority() {
    let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
    assert!(verify_with_key(&digest, &layers, "a", &key("cosign.pub")).is_err());
}

#[test]
fn corrupted_missing_and_badly_encoded_signatures_are_refused() {
    let (digest, layers) = image("dir-img-cosign-valid");
    let k = key("cosign.pub");
    let mut corrupted = layers[0].clone();
    let sig = corrupted
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .unwrap()
        .clone();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(&sig)
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    corrupted.annotations.insert(
        SIGNATURE_ANNOTATION.into(),
        base64::engine::general_purpose::STANDARD.encode(raw),
    );
    assert!(matches!(
        verify_with_key(&digest, &[corrupted], "a", &k).unwrap_err()[..],
        [RejectReason::SignatureInvalid(_)]
    ));

    let mut missing = layers[0].clone();
    missing.annotations.remove(SIGNATURE_ANNOTATION);
    assert_eq!(
        verify_with_key(&digest, &[missing], "a", &k).unwrap_err(),
        [RejectReason::MissingSignature]
    );

    let mut empty = layers[0].clone();
    empty
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), String::new());
    assert_eq!(
        verify_with_key(&digest, &[empty], "a", &k).unwrap_err(),
        [RejectReason::MissingSignature]
    );

    let mut garbage = layers[0].clone();
    garbage
        .annotations
        .insert(SIGNATURE_ANNOTATION.into(), "not base64!".into());
    assert_eq!(
        verify_with_key(&digest, &[garbage], "a", &k).unwrap_err(),
        [RejectReason::SignatureEncoding]
    );

    let mut tampered = layers[0].clone();
    let mut payload = tampered.payload.to_vec();
    payload.push(b' ');
    tampered.payload = Bytes::from(payload);
    assert!(matches!(
        verify_with_key(&digest, &[tampered], "a", &k).unwrap_err()[..],
        [RejectReason::SignatureInvalid(_)]
    ));

    assert!(verify_with_key(&digest, &[], "a", &k)
        .unwrap_err()
        .is_empty());
}

/// A layer over the generated payload, signed by a generated key.
fn generated(sig_file: &str) -> (Digest, SignatureLayer) {
    let dir = fixtures().join("keys");
    let payload = std::fs::read(dir.join("payload.json")).unwrap();
    let sig = std::fs::read(dir.join(sig_file)).unwrap();
    let digest: Digest = "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"
        .parse()
        .unwrap();
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        SIGNATURE_ANNOTATION.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(sig),
    );
    let layer = SignatureLayer {
        media_type: SIMPLE_SIGNING.into(),
        digest: Digest::sha256_of(&payload),
        payload: Bytes::from(payload),
        annotations,
    };
    (digest, layer)
}

#[test]
fn p384_ed25519_and_rsa_pkcs1_and_pss_keys_verify_and_reject_each_other() {
    let cases = [
        ("p384.pub", "p384.sig"),
        ("ed25519.pub", "ed25519.sig"),
        ("rsa.pub", "rsa-pkcs1.sig"),
        ("rsa.pub", "rsa-pss.sig"),
    ];
    for (pubkey, sig) in cases {
        let (digest, layer) = generated(sig);
        assert!(
            verify_with_key(&digest, std::slice::from_ref(&layer), "a", &key(pubkey)).is_ok(),
            "{pubkey} {sig}"
        );
        for (other, _) in cases.iter().filter(|(k, _)| *k != pubkey) {
            assert!(
                verify_with_key(&digest, std::slice::from_ref(&layer), "a", &key(other)).is_err(),
                "{other} must not verify {sig}"
            );
        }
    }
}

#[test]
fn payload_type_and_digest_are_checked() {
    let digest: Digest = "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"
        .parse()
        .unwrap();
    let payload = |kind: &str, d: &str| {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"{kind}"}},"optional":null}}"#
        )
    };
    assert!(payload::check(
        payload(COSIGN_SIGNATURE_TYPE, digest.as_str()).as_bytes(),
        &digest
    )
    .is_ok());
    assert!(matches!(
        payload::check(
            payload("cosign container image attestation", digest.as_str()).as_bytes(),
            &digest
        ),
        Err(PayloadError::WrongType(_))
    ));
    let other = Digest::sha256_of(b"x");
    assert!(matches!(
        payload::check(
            payload(COSIGN_SIGNATURE_TYPE, other.as_str()).as_bytes(),
            &digest
        ),
        Err(PayloadError::OtherImage(_))
    ));
    assert!(matches!(
        payload::check(b"{}", &digest),
        Err(PayloadError::Unreadable(_))
    ));
    // The spelling of cosign's spec example is accepted too.
    let capital = payload(COSIGN_SIGNATURE_TYPE, digest.as_str())
        .replace("docker-manifest-digest", "Docker-manifest-digest");
    assert!(payload::check(capital.as_bytes(), &digest).is_ok());
}

#[test]
fn admissions_bind_to_one_digest() {
    let (digest, layers) = image("dir-img-cosign-valid");
    let v = verify_with_key(&digest, &layers, "a", &key("cosign.pub")).unwrap();
    assert!(Admission::signed(&digest, vec![v.clone()]).is_some());
    assert!(Admission::signed(&Digest::sha256_of(b"other"), vec![v]).is_none());
    assert!(Admission::signed(&digest, vec![]).is_none());
}

#[test]
fn keys_that_are_not_public_keys_are_refused() {
    assert!(PublicKey::from_pem("").is_err());
    assert!(
        PublicKey::from_pem("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")
            .is_err()
    );
    assert!(
        PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
}

mod keyless_legacy {
    //! The real 2023 public-good keyless signature (containers/image
    //! fixture) against the pinned public-good trusted root.

    use super::*;
    use crate::verify::keyless::{verify_keyless, Identity, TrustRoot};

    fn trust() -> TrustRoot {
        TrustRoot::from_json(
            &std::fs::read_to_string(fixtures().join("sigstore/sigstore_trusted_root.json"))
                .unwrap(),
        )
        .unwrap()
    }

    fn identity(subject: &str, issuer: &str) -> Vec<Identity> {
        vec![Identity {
            subject: subject.into(),
            issuer: issuer.into(),
        }]
    }

    /// The verifier under the pinned root, for one exact identity.
    fn keyless(
        digest: &Digest,
        layers: &[SignatureLayer],
        subject: &str,
        issuer: &str,
    ) -> Result<Verified, Vec<RejectReason>> {
        verify_keyless(digest, layers, "k", &trust(), &identity(subject, issuer))
    }

    const SUBJECT: &str = "mitr@redhat.com";
    const ISSUER: &str = "https://github.com/login/oauth";

    #[test]
    fn the_real_keyless_signature_verifies_for_its_identity() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let v = keyless(&digest, &layers, SUBJECT, ISSUER).unwrap();
        assert_eq!(v.digest(), &digest);
        assert_eq!(v.key_id(), "keyless:mitr@redhat.com");
    }

    #[test]
    fn another_identity_or_issuer_is_refused() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        for (subject, issuer) in [
            ("someone@redhat.com", ISSUER),
            ("mitr@redhat.co", ISSUER),
            (SUBJECT, "https://accounts.google.com"),
            (SUBJECT, "https://github.com/login/oauth/"),
        ] {
            let r = keyless(&digest, &layers, subject, issuer).unwrap_err();
            assert!(
                matches!(&r[..], [RejectReason::Keyless(_)]),
                "{subject} {issuer}: {r:?}"
            );
        }
    }

    #[test]
    fn a_replaced_signature_is_refused() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let (_, key_signed) = image("dir-img-cosign-valid");
        let mut forged = layers[0].clone();
        forged.annotations.insert(
            SIGNATURE_ANNOTATION.into(),
            key_signed[0].annotations[SIGNATURE_ANNOTATION].clone(),
        );
        let r = keyless(&digest, &[forged], SUBJECT, ISSUER).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("signature")),
            "{r:?}"
        );
    }

    #[test]
    fn certificate_and_bundle_copied_onto_another_signature_are_refused() {
        let (_, genuine) = image("dir-img-cosign-fulcio-rekor-valid");
        let (other_digest, key_signed) = image("dir-img-cosign-valid");
        let mut forged = key_signed[0].clone();
        for a in [
            "dev.sigstore.cosign/certificate",
            "dev.sigstore.cosign/chain",
            "dev.sigstore.cosign/bundle",
        ] {
            forged
                .annotations
                .insert(a.into(), genuine[0].annotations[a].clone());
        }
        let r = keyless(&other_digest, &[forged], SUBJECT, ISSUER).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if !m.contains("not a valid bundle")),
            "{r:?}"
        );
    }

    #[test]
    fn a_genuine_keyless_signature_replayed_onto_another_image_is_refused() {
        let (_, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let (other_digest, _) = image("dir-img-cosign-valid");
        let r = keyless(&other_digest, &layers, SUBJECT, ISSUER).unwrap_err();
        assert!(matches!(&r[..], [RejectReason::OtherImage(_)]), "{r:?}");
    }

    #[test]
    fn a_tampered_or_missing_log_entry_is_refused() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let mut tampered = layers[0].clone();
        let mut rekor: serde_json::Value =
            serde_json::from_str(&tampered.annotations["dev.sigstore.cosign/bundle"]).unwrap();
        let t = rekor["Payload"]["integratedTime"].as_i64().unwrap();
        rekor["Payload"]["integratedTime"] = serde_json::json!(t + 1);
        tampered
            .annotations
            .insert("dev.sigstore.cosign/bundle".into(), rekor.to_string());
        let r = keyless(&digest, &[tampered], SUBJECT, ISSUER).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("SET") || m.contains("promise")),
            "{r:?}"
        );

        let mut missing = layers[0].clone();
        missing.annotations.remove("dev.sigstore.cosign/bundle");
        let r = keyless(&digest, &[missing], SUBJECT, ISSUER).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("Rekor bundle")),
            "{r:?}"
        );
    }

    #[test]
    fn a_key_signed_layer_is_not_a_keyless_signature() {
        let (digest, layers) = image("dir-img-cosign-valid");
        let r = keyless(&digest, &layers, SUBJECT, ISSUER).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("certificate")),
            "{r:?}"
        );
    }
}
