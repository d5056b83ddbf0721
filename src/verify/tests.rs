//! Verifier tests on real cosign signatures (containers/image fixtures) and
//! on generated P-384, Ed25519 and RSA keys. Every check has a negative.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;

use super::payload::PayloadError;
use super::*;
use crate::oci::{Digest, SIMPLE_SIGNING_MEDIA_TYPE};
use crate::signature::{SignatureLayer, SIGNATURE_ANNOTATION};

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
            size: 0,
            payload: Bytes::from(payload),
            annotations,
            found_at: format!("{name}/signature-{i}"),
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
        media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
        digest: Digest::sha256_of(&payload),
        size: 0,
        payload: Bytes::from(payload),
        annotations,
        found_at: "generated".into(),
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

mod anchors;
mod claims;
mod key_tlog;
mod trust_detail;

mod keyless_legacy {
    //! The real 2023 public-good keyless signature (containers/image
    //! fixture) against the pinned public-good trusted root.

    use std::sync::Arc;

    use super::*;

    pub(super) fn pinned_root() -> Arc<TrustRoot> {
        Arc::new(
            TrustRoot::from_json(
                "pinned",
                &std::fs::read_to_string(fixtures().join("sigstore/sigstore_trusted_root.json"))
                    .unwrap(),
            )
            .unwrap(),
        )
    }

    pub(super) fn exact(subject: &str, issuer: &str) -> Identity {
        Identity {
            subject: Some(Matcher::Exact(subject.into())),
            issuer: Some(Matcher::Exact(issuer.into())),
            claims: Vec::new(),
        }
    }

    pub(super) fn requirement(identities: Vec<Identity>) -> Requirement {
        Requirement::Keyless(Keyless {
            trust: TrustSource::Sigstore(pinned_root()),
            identities,
            strictness: Strictness::default(),
        })
    }

    /// The verifier under the pinned root, for one exact identity.
    fn keyless(
        digest: &Digest,
        layers: &[SignatureLayer],
        subject: &str,
        issuer: &str,
    ) -> Result<Verified, Vec<RejectReason>> {
        verify_signature(
            digest,
            layers,
            "k",
            &requirement(vec![exact(subject, issuer)]),
        )
    }

    const SUBJECT: &str = "mitr@redhat.com";
    const ISSUER: &str = "https://github.com/login/oauth";

    #[test]
    fn the_real_keyless_signature_verifies_for_its_identity() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let v = keyless(&digest, &layers, SUBJECT, ISSUER).unwrap();
        assert_eq!(v.digest(), &digest);
        assert_eq!(
            v.signer(),
            "mitr@redhat.com (https://github.com/login/oauth)"
        );
        let e = v.evidence().unwrap();
        assert_eq!(e.log_index, Some(11605770));
        assert_eq!(e.time, Some(1674247893));
        assert!(e.tlog_verified && e.sct_verified);
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
                matches!(&r[..], [RejectReason::Identity(_)]),
                "{subject} {issuer}: {r:?}"
            );
        }
    }

    #[test]
    fn regular_expressions_are_anchored() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let with = |subject: &str, issuer: &str| {
            let id = Identity {
                subject: Some(Matcher::regex(subject).unwrap()),
                issuer: Some(Matcher::regex(issuer).unwrap()),
                claims: Vec::new(),
            };
            verify_signature(&digest, &layers, "k", &requirement(vec![id]))
        };
        assert!(with(".*@redhat\\.com", "https://github\\.com/login/oauth").is_ok());
        // Unanchored, these would match: cosign's regexps are.
        assert!(with("mitr@redhat", ".*").is_err());
        assert!(with("itr@redhat\\.com", ".*").is_err());
        assert!(with(".*", "https://github\\.com").is_err());
        // Any one of several identities suffices.
        let ids = vec![exact("eve@example.com", ISSUER), exact(SUBJECT, ISSUER)];
        assert!(verify_signature(&digest, &layers, "k", &requirement(ids)).is_ok());
    }

    /// `rfc3161timestamp`: a verified timestamp is required even where a
    /// Rekor entry would give the time, and the chain-only path of
    /// `insecureIgnoreTlog` does not stand in for it.
    #[test]
    fn a_timestamp_only_authority_requires_a_timestamp() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let with = |tlog: bool| {
            Requirement::Keyless(Keyless {
                trust: TrustSource::Sigstore(pinned_root()),
                identities: vec![exact(SUBJECT, ISSUER)],
                strictness: Strictness {
                    sct: true,
                    tlog,
                    timestamp: true,
                },
            })
        };
        assert!(verify_signature(
            &digest,
            &layers,
            "k",
            &requirement(vec![exact(SUBJECT, ISSUER)])
        )
        .is_ok());
        let r = verify_signature(&digest, &layers, "k", &with(true)).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("no RFC 3161 timestamp")),
            "{r:?}"
        );
        let mut bare = layers[0].clone();
        bare.annotations.remove("dev.sigstore.cosign/bundle");
        for tlog in [true, false] {
            let r = verify_signature(&digest, &[bare.clone()], "k", &with(tlog)).unwrap_err();
            assert!(
                matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("no Rekor bundle and no RFC 3161 timestamp annotation")),
                "{r:?}"
            );
        }
    }

    #[test]
    fn claims_must_be_present_and_equal() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let mut id = exact(SUBJECT, ISSUER);
        id.claims = vec![(Claim::GithubWorkflowRepository, "org/repo".into())];
        let r = verify_signature(&digest, &layers, "k", &requirement(vec![id])).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Identity(m)] if m.contains("githubWorkflowRepository is absent")),
            "{r:?}"
        );
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
    fn a_rekor_body_from_another_entry_is_refused() {
        // The key-signed+Rekor fixture's body and SET are genuine, but
        // describe another signature.
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let mut forged = layers[0].clone();
        let mut rekor: serde_json::Value =
            serde_json::from_str(&forged.annotations["dev.sigstore.cosign/bundle"]).unwrap();
        // A body describing a different hash (same shape), SET kept.
        let body = base64::engine::general_purpose::STANDARD
            .decode(rekor["Payload"]["body"].as_str().unwrap())
            .unwrap();
        let mut body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        body["spec"]["data"]["hash"]["value"] = serde_json::json!("00".repeat(32));
        rekor["Payload"]["body"] =
            serde_json::json!(base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&body).unwrap()));
        forged
            .annotations
            .insert("dev.sigstore.cosign/bundle".into(), rekor.to_string());
        let r = keyless(&digest, &[forged], SUBJECT, ISSUER).unwrap_err();
        assert!(matches!(&r[..], [RejectReason::Keyless(_)]), "{r:?}");
    }

    #[test]
    fn a_rekor_entry_of_another_kind_is_refused() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let b64 = base64::engine::general_purpose::STANDARD;
        for (kind, version) in [
            ("rekord", "0.0.1"),
            ("dsse", "0.0.1"),
            ("hashedrekord", "0.0.2"),
        ] {
            let mut forged = layers[0].clone();
            let mut rekor: serde_json::Value =
                serde_json::from_str(&forged.annotations["dev.sigstore.cosign/bundle"]).unwrap();
            let mut body: serde_json::Value = serde_json::from_slice(
                &b64.decode(rekor["Payload"]["body"].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap();
            body["kind"] = serde_json::json!(kind);
            body["apiVersion"] = serde_json::json!(version);
            rekor["Payload"]["body"] =
                serde_json::json!(b64.encode(serde_json::to_vec(&body).unwrap()));
            forged
                .annotations
                .insert("dev.sigstore.cosign/bundle".into(), rekor.to_string());
            let r = keyless(&digest, &[forged], SUBJECT, ISSUER).unwrap_err();
            assert!(
                matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("cannot vouch")),
                "{kind} {version}: {r:?}"
            );
        }
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
        let r = keyless(&digest, &[missing.clone()], SUBJECT, ISSUER).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("Rekor bundle")),
            "{r:?}"
        );
        // insecureIgnoreTlog: the chain alone, checked now; the 2023 leaf
        // expired ten minutes after it was issued.
        let lax = Requirement::Keyless(Keyless {
            trust: TrustSource::Sigstore(pinned_root()),
            identities: vec![exact(SUBJECT, ISSUER)],
            strictness: Strictness {
                sct: true,
                tlog: false,
                timestamp: false,
            },
        });
        let r = verify_signature(&digest, &[missing], "k", &lax).unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("chain")),
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

    #[test]
    fn another_trust_root_does_not_vouch_for_public_good_signatures() {
        let (digest, layers) = image("dir-img-cosign-fulcio-rekor-valid");
        let conformance_root = std::fs::read_to_string(fixtures().join(
            "sigstore-conformance/bundle-verify/intoto-with-custom-trust-root/trusted_root.json",
        ))
        .unwrap();
        let req = Requirement::Keyless(Keyless {
            trust: TrustSource::Sigstore(Arc::new(
                TrustRoot::from_json("custom", &conformance_root).unwrap(),
            )),
            identities: vec![exact(SUBJECT, ISSUER)],
            strictness: Strictness::default(),
        });
        assert!(verify_signature(&digest, &layers, "k", &req).is_err());
    }
}

mod private_pki {
    //! containers/image's private-PKI signature: a certificate from a CA of
    //! its own, no Fulcio, no Rekor.

    use std::sync::Arc;

    use super::*;

    fn ca(files: &[&str]) -> Arc<PrivateCa> {
        let pem: String = files
            .iter()
            .map(|f| std::fs::read_to_string(fixtures().join("containers-image").join(f)).unwrap())
            .collect();
        Arc::new(PrivateCa::from_pem(&pem).unwrap())
    }

    fn requirement(ca: Arc<PrivateCa>, subject: &str) -> Requirement {
        Requirement::Keyless(Keyless {
            trust: TrustSource::PrivateCa(ca),
            identities: vec![Identity {
                subject: Some(Matcher::Exact(subject.into())),
                issuer: None,
                claims: Vec::new(),
            }],
            strictness: Strictness {
                sct: false,
                tlog: false,
                timestamp: false,
            },
        })
    }

    #[test]
    fn a_private_pki_signature_verifies_for_its_identity() {
        let (digest, layers) = image("dir-img-cosign-pki-valid");
        let ca = ca(&["pki_root_crts.pem", "pki_intermediate_crts.pem"]);
        let v = verify_signature(
            &digest,
            &layers,
            "pki",
            &requirement(ca.clone(), "qiwan@redhat.com"),
        )
        .unwrap();
        assert!(v.signer().starts_with("qiwan@redhat.com"));
        assert!(
            verify_signature(&digest, &layers, "pki", &requirement(ca, "eve@redhat.com")).is_err()
        );
    }

    #[test]
    fn another_ca_or_a_forged_signature_is_refused() {
        let (digest, layers) = image("dir-img-cosign-pki-valid");
        // The public-good Fulcio root is a CA, but not this one.
        let other = ca(&["fulcio_v1.crt.pem"]);
        let r = verify_signature(
            &digest,
            &layers,
            "pki",
            &requirement(other, "qiwan@redhat.com"),
        )
        .unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("chain")),
            "{r:?}"
        );

        let ca = ca(&["pki_root_crts.pem", "pki_intermediate_crts.pem"]);
        let (_, key_signed) = image("dir-img-cosign-valid");
        let mut forged = layers[0].clone();
        forged.annotations.insert(
            SIGNATURE_ANNOTATION.into(),
            key_signed[0].annotations[SIGNATURE_ANNOTATION].clone(),
        );
        let r = verify_signature(
            &digest,
            &[forged],
            "pki",
            &requirement(ca, "qiwan@redhat.com"),
        )
        .unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::SignatureInvalid(_)]),
            "{r:?}"
        );
    }
}

mod bundles {
    //! cosign v3: a real sigstore bundle (kubewarden-controller v1.34.0,
    //! public-good, Rekor v1 dsse entry with proof, TSA timestamp).

    use super::keyless_legacy::{exact, requirement};
    use super::*;

    const SUBJECT: &str =
        "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";

    fn layer() -> (Digest, SignatureLayer) {
        let json = std::fs::read(fixtures().join("sigstore-rs/bundle_v03.json")).unwrap();
        let digest: Digest =
            "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172"
                .parse()
                .unwrap();
        let layer = SignatureLayer {
            media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".into(),
            digest: Digest::sha256_of(&json),
            size: 0,
            payload: Bytes::from(json),
            annotations: Default::default(),
            found_at: "referrer".into(),
        };
        (digest, layer)
    }

    #[test]
    fn the_real_cosign_v3_bundle_verifies_as_a_signature() {
        let (digest, layer) = layer();
        let v = verify_signature(
            &digest,
            std::slice::from_ref(&layer),
            "k",
            &requirement(vec![exact(SUBJECT, ISSUER)]),
        )
        .unwrap();
        assert_eq!(v.statement().unwrap().predicate_type, COSIGN_SIGN_PREDICATE);
        assert!(v.evidence().unwrap().tlog_verified);
        // A signature is not an attestation.
        let (att, _) = verify_attestations(
            &digest,
            std::slice::from_ref(&layer),
            "k",
            &requirement(vec![exact(SUBJECT, ISSUER)]),
        );
        assert!(att.is_empty());
    }

    #[test]
    fn wrong_identity_issuer_or_image_is_refused() {
        let (digest, layer) = layer();
        for (s, i) in [
            (SUBJECT, "https://accounts.google.com"),
            (
                "https://github.com/evil/x/.github/workflows/release.yml@refs/tags/v1.34.0",
                ISSUER,
            ),
        ] {
            let r = verify_signature(
                &digest,
                std::slice::from_ref(&layer),
                "k",
                &requirement(vec![exact(s, i)]),
            )
            .unwrap_err();
            assert!(matches!(&r[..], [RejectReason::Identity(_)]), "{r:?}");
        }
        let (other, _) = image("dir-img-cosign-valid");
        let r = verify_signature(
            &other,
            std::slice::from_ref(&layer),
            "k",
            &requirement(vec![exact(SUBJECT, ISSUER)]),
        )
        .unwrap_err();
        assert!(matches!(&r[..], [RejectReason::OtherImage(_)]), "{r:?}");
    }

    #[test]
    fn a_tampered_bundle_is_refused() {
        let (digest, layer) = layer();
        let mut json: serde_json::Value = serde_json::from_slice(&layer.payload).unwrap();
        // Swap the DSSE signature for another valid-looking one.
        let sig = json["dsseEnvelope"]["signatures"][0]["sig"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(&sig)
            .unwrap();
        let n = raw.len();
        raw[n - 2] ^= 1;
        json["dsseEnvelope"]["signatures"][0]["sig"] =
            serde_json::json!(base64::engine::general_purpose::STANDARD.encode(raw));
        let mut forged = layer.clone();
        forged.payload = Bytes::from(serde_json::to_vec(&json).unwrap());
        let r = verify_signature(
            &digest,
            &[forged],
            "k",
            &requirement(vec![exact(SUBJECT, ISSUER)]),
        )
        .unwrap_err();
        assert!(matches!(&r[..], [RejectReason::Keyless(_)]), "{r:?}");
    }

    #[test]
    fn a_bundle_listing_its_log_entry_twice_is_refused() {
        let (digest, layer) = layer();
        let mut json: serde_json::Value = serde_json::from_slice(&layer.payload).unwrap();
        let entry = json["verificationMaterial"]["tlogEntries"][0].clone();
        json["verificationMaterial"]["tlogEntries"]
            .as_array_mut()
            .unwrap()
            .push(entry);
        let mut doubled = layer.clone();
        doubled.payload = Bytes::from(serde_json::to_vec(&json).unwrap());
        let r = verify_signature(
            &digest,
            &[doubled],
            "k",
            &requirement(vec![exact(SUBJECT, ISSUER)]),
        )
        .unwrap_err();
        assert!(
            matches!(&r[..], [RejectReason::Keyless(m)] if m.contains("twice")),
            "{r:?}"
        );
    }

    #[test]
    fn a_key_does_not_verify_a_certificate_bundle() {
        let (digest, layer) = layer();
        assert!(verify_with_key(&digest, &[layer], "k", &key("cosign.pub")).is_err());
    }
}
