//! Self-tests of `support::sigstore_ca`: the test's own Fulcio, Rekor and
//! CT log produce material that `sigstore-verify` accepts (and rejects
//! when it should), and that the real cosign 2.5 verifies.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Bundle, Sha256Hash};
use sigstore_verify::{
    CertificateError, Error, TransparencyLogError, VerificationPolicy, VerificationResult, Verifier,
};

use crate::support::cosign::{cosign_verify, cosign_with as run_cosign, KeyPair, Trust};
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::sigstore_ca::{
    self, cosign_sign_statement, LeafIdentity, LegacyLayer, TestSigstore, ANN_BUNDLE,
    ANN_CERTIFICATE, ANN_SIGNATURE,
};

const EMAIL: &str = "signer@signgate.test";
const ISSUER: &str = "https://issuer.signgate.test";
const WORKFLOW: &str =
    "https://github.com/signgate/app/.github/workflows/release.yml@refs/tags/v1.0.0";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const DIGEST_A: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const DIGEST_B: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn verifier(ts: &TestSigstore) -> Verifier {
    let root = TrustedRoot::from_json(&ts.trusted_root_json()).unwrap();
    Verifier::new(&root).unwrap()
}

fn digest(d: &str) -> Sha256Hash {
    Sha256Hash::from_hex(d.trim_start_matches("sha256:")).unwrap()
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .take_while(|l| !l.starts_with("-----END"))
        .filter(|l| !l.starts_with("-----"))
        .collect();
    B64.decode(b64).unwrap()
}

/// A legacy `.sig`/`.att` layer as a bundle v0.1 (FORMATS.md §6.2): the
/// leaf only as certificate material, the RekorBundle as a tlog entry with
/// its inclusion promise, and a message signature or the DSSE envelope.
fn legacy_to_bundle(layer: &LegacyLayer) -> Bundle {
    let rb: Value = serde_json::from_str(layer.annotation(ANN_BUNDLE)).unwrap();
    let p = &rb["Payload"];
    let body: Value =
        serde_json::from_slice(&B64.decode(p["body"].as_str().unwrap()).unwrap()).unwrap();
    let content_key;
    let content = match body["kind"].as_str().unwrap() {
        "hashedrekord" => {
            content_key = "messageSignature";
            json!({
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": B64.encode(Sha256::digest(&layer.payload)),
                },
                "signature": layer.annotation(ANN_SIGNATURE),
            })
        }
        "dsse" => {
            content_key = "dsseEnvelope";
            let env: Value = serde_json::from_slice(&layer.payload).unwrap();
            json!({
                "payload": env["payload"],
                "payloadType": env["payloadType"],
                "signatures": [{"sig": env["signatures"][0]["sig"]}],
            })
        }
        other => panic!("unexpected Rekor kind {other}"),
    };
    let bundle = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [
                {"rawBytes": B64.encode(pem_to_der(layer.annotation(ANN_CERTIFICATE)))}
            ]},
            "tlogEntries": [{
                "logIndex": p["logIndex"].as_u64().unwrap().to_string(),
                "logId": {"keyId": B64.encode(hex::decode(p["logID"].as_str().unwrap()).unwrap())},
                "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
                "integratedTime": p["integratedTime"].as_i64().unwrap().to_string(),
                "inclusionPromise": {"signedEntryTimestamp": rb["SignedEntryTimestamp"]},
                "canonicalizedBody": p["body"],
            }],
        },
        content_key: content,
    });
    Bundle::from_json(&bundle.to_string()).unwrap()
}

/// Flip a bit in the last byte of a base64 DER ECDSA signature (inside `s`:
/// still valid DER, no longer a valid signature).
fn flip_b64(sig: &str) -> String {
    let mut bytes = B64.decode(sig).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    B64.encode(bytes)
}

fn policy(identity: &str, issuer: &str) -> VerificationPolicy {
    VerificationPolicy::new(identity, issuer)
}

fn assert_full(result: &VerificationResult) {
    assert!(result.certificate_verified(), "chain checked");
    assert!(result.sct_verified(), "SCT checked");
    assert!(result.tlog_verified(), "log checked");
    assert!(result.identity_policy_checked());
}

#[test]
fn sig_layer_verifies_with_sigstore_verify() {
    let ts = TestSigstore::new();
    let v = verifier(&ts);
    let signer = ts.issue(&LeafIdentity::email(EMAIL, ISSUER));
    let layer = signer.sign_legacy(&ts, DIGEST_A, "registry.test/app");
    assert_eq!(layer.media_type, sigstore_ca::SIMPLE_SIGNING);
    assert_eq!(
        String::from_utf8(layer.payload.clone()).unwrap(),
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"registry.test/app"}},"image":{{"docker-manifest-digest":"{DIGEST_A}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    );
    let rb: Value = serde_json::from_str(layer.annotation(ANN_BUNDLE)).unwrap();
    assert_eq!(
        rb["Payload"]["logID"].as_str().unwrap(),
        hex::encode(ts.rekor_log_id())
    );
    let bundle = legacy_to_bundle(&layer);

    let ok = v
        .verify(&layer.payload, &bundle, &policy(EMAIL, ISSUER))
        .unwrap();
    assert_full(&ok);
    assert_eq!(ok.issuer(), Some(ISSUER));
    // The layer digest works as the artifact too.
    v.verify(digest(&layer.digest()), &bundle, &policy(EMAIL, ISSUER))
        .unwrap();

    let err = v
        .verify(
            &layer.payload,
            &bundle,
            &policy("other@signgate.test", ISSUER),
        )
        .unwrap_err();
    assert!(matches!(err, Error::IdentityMismatch { .. }), "{err}");
    let err = v
        .verify(
            &layer.payload,
            &bundle,
            &policy(EMAIL, "https://other.test"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::IssuerMismatch { .. }), "{err}");

    // A flipped signature byte: the layer no longer verifies.
    let mut forged = layer.clone();
    let flipped = flip_b64(layer.annotation(ANN_SIGNATURE));
    forged.annotations.insert(ANN_SIGNATURE.to_owned(), flipped);
    let err = v
        .verify(
            &forged.payload,
            &legacy_to_bundle(&forged),
            &policy(EMAIL, ISSUER),
        )
        .unwrap_err();
    assert!(matches!(err, Error::SignatureInvalid(_)), "{err}");

    // Another image's payload under this layer's signature and log entry.
    let other = sigstore_ca::simple_signing_payload(DIGEST_B, "registry.test/app");
    let err = v
        .verify(&other, &bundle, &policy(EMAIL, ISSUER))
        .unwrap_err();
    assert!(matches!(err, Error::ArtifactMismatch(_)), "{err}");
    let mut swapped = layer.clone();
    swapped.payload = other;
    let err = v
        .verify(
            &swapped.payload,
            &legacy_to_bundle(&swapped),
            &policy(EMAIL, ISSUER),
        )
        .unwrap_err();
    assert!(matches!(err, Error::SignatureInvalid(_)), "{err}");

    // Another trust root (another CA, logs and CT log): nothing verifies.
    let stranger = verifier(&TestSigstore::new());
    let err = stranger
        .verify(&layer.payload, &bundle, &policy(EMAIL, ISSUER))
        .unwrap_err();
    assert!(matches!(err, Error::TransparencyLog(_)), "{err}");
}

#[test]
fn att_layer_verifies_with_sigstore_verify() {
    let ts = TestSigstore::new();
    let v = verifier(&ts);
    let id = LeafIdentity::uri(WORKFLOW, GITHUB)
        .claim("1.3.6.1.4.1.57264.1.12", "https://github.com/signgate/app")
        .claim("1.3.6.1.4.1.57264.1.5", "signgate/app");
    let signer = ts.issue(&id);
    let statement = cosign_sign_statement(DIGEST_A);
    let layer = signer.attest_legacy(&ts, &statement);
    assert_eq!(layer.media_type, sigstore_ca::DSSE_ENVELOPE);
    assert_eq!(layer.annotation(ANN_SIGNATURE), "");
    let rb: Value = serde_json::from_str(layer.annotation(ANN_BUNDLE)).unwrap();
    let body: Value =
        serde_json::from_slice(&B64.decode(rb["Payload"]["body"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(body["kind"], "dsse");
    assert_eq!(
        body["spec"]["envelopeHash"]["value"].as_str().unwrap(),
        hex::encode(Sha256::digest(&layer.payload))
    );
    let bundle = legacy_to_bundle(&layer);

    let ok = v
        .verify(digest(DIGEST_A), &bundle, &policy(WORKFLOW, GITHUB))
        .unwrap();
    assert_full(&ok);
    let claims = &ok.certificate().unwrap().ci_claims;
    assert_eq!(
        claims.source_repository_uri.as_deref(),
        Some("https://github.com/signgate/app")
    );

    assert!(matches!(
        v.verify(
            digest(DIGEST_A),
            &bundle,
            &policy("https://github.com/other", GITHUB)
        ),
        Err(Error::IdentityMismatch { .. })
    ));
    assert!(matches!(
        v.verify(digest(DIGEST_A), &bundle, &policy(WORKFLOW, ISSUER)),
        Err(Error::IssuerMismatch { .. })
    ));
    let err = v
        .verify(digest(DIGEST_B), &bundle, &policy(WORKFLOW, GITHUB))
        .unwrap_err();
    assert!(matches!(err, Error::ArtifactMismatch(_)), "{err}");

    let mut env: Value = serde_json::from_slice(&layer.payload).unwrap();
    let flipped = flip_b64(env["signatures"][0]["sig"].as_str().unwrap());
    env["signatures"][0]["sig"] = flipped.into();
    let mut forged = layer.clone();
    forged.payload = serde_json::to_vec(&env).unwrap();
    let err = v
        .verify(
            digest(DIGEST_A),
            &legacy_to_bundle(&forged),
            &policy(WORKFLOW, GITHUB),
        )
        .unwrap_err();
    assert!(matches!(err, Error::SignatureInvalid(_)), "{err}");
}

#[test]
fn bundle_v03_verifies_with_sigstore_verify() {
    let ts = TestSigstore::new();
    let v = verifier(&ts);
    let signer = ts.issue(&LeafIdentity::email(EMAIL, ISSUER));
    // A few entries first: the proof then has several hashes.
    let _ = signer.bundle_v03(&ts, &cosign_sign_statement(DIGEST_B));
    let json = signer.bundle_v03(&ts, &cosign_sign_statement(DIGEST_A));
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["mediaType"], sigstore_ca::BUNDLE_V03);
    let entry = &doc["verificationMaterial"]["tlogEntries"][0];
    let proof = &entry["inclusionProof"];
    assert!(!proof["hashes"].as_array().unwrap().is_empty());
    assert_ne!(
        entry["logIndex"], proof["logIndex"],
        "global vs shard index"
    );
    assert!(proof["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .contains("\n\n\u{2014} "));
    let bundle = Bundle::from_json(&json).unwrap();

    let ok = v
        .verify(digest(DIGEST_A), &bundle, &policy(EMAIL, ISSUER))
        .unwrap();
    assert_full(&ok);

    assert!(matches!(
        v.verify(
            digest(DIGEST_A),
            &bundle,
            &policy("other@signgate.test", ISSUER)
        ),
        Err(Error::IdentityMismatch { .. })
    ));
    assert!(matches!(
        v.verify(digest(DIGEST_A), &bundle, &policy(EMAIL, GITHUB)),
        Err(Error::IssuerMismatch { .. })
    ));
    let err = v
        .verify(digest(DIGEST_B), &bundle, &policy(EMAIL, ISSUER))
        .unwrap_err();
    assert!(matches!(err, Error::ArtifactMismatch(_)), "{err}");

    let tamper = |f: &dyn Fn(&mut Value)| -> Error {
        let mut d = doc.clone();
        f(&mut d);
        let b = Bundle::from_json(&d.to_string()).unwrap();
        v.verify(digest(DIGEST_A), &b, &policy(EMAIL, ISSUER))
            .unwrap_err()
    };
    let err = tamper(&|d| {
        let s = flip_b64(d["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap());
        d["dsseEnvelope"]["signatures"][0]["sig"] = s.into();
    });
    assert!(matches!(err, Error::SignatureInvalid(_)), "{err}");
    let err = tamper(&|d| {
        let p = &mut d["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
        let mut h = B64.decode(p["hashes"][0].as_str().unwrap()).unwrap();
        h[0] ^= 1;
        p["hashes"][0] = B64.encode(h).into();
    });
    assert!(
        matches!(
            err,
            Error::TransparencyLog(TransparencyLogError::InclusionProof(_))
        ),
        "{err}"
    );
    let err = tamper(&|d| {
        let p = &mut d["verificationMaterial"]["tlogEntries"][0]["inclusionProof"];
        let note = p["checkpoint"]["envelope"].as_str().unwrap().to_owned();
        let (body, sig_line) = note.rsplit_once(' ').unwrap();
        p["checkpoint"]["envelope"] = format!("{body} {}\n", flip_b64(sig_line.trim())).into();
    });
    assert!(
        matches!(
            err,
            Error::TransparencyLog(TransparencyLogError::Checkpoint(_))
        ),
        "{err}"
    );
    let err = tamper(&|d| {
        let e = &mut d["verificationMaterial"]["tlogEntries"][0];
        let t: i64 = e["integratedTime"].as_str().unwrap().parse().unwrap();
        e["integratedTime"] = (t - 1).to_string().into();
    });
    assert!(
        matches!(
            err,
            Error::TransparencyLog(TransparencyLogError::InclusionPromise(_))
        ),
        "{err}"
    );
}

/// The SCTs are real: under a trust root whose CT log key is another log's,
/// the chain and the SET still verify but the SCT does not.
#[test]
fn sct_from_another_ct_log_is_rejected() {
    let ts = TestSigstore::new();
    let signer = ts.issue(&LeafIdentity::email(EMAIL, ISSUER));
    let bundle =
        Bundle::from_json(&signer.bundle_v03(&ts, &cosign_sign_statement(DIGEST_A))).unwrap();
    let mut root: Value = serde_json::from_str(&ts.trusted_root_json()).unwrap();
    let stranger: Value = serde_json::from_str(&TestSigstore::new().trusted_root_json()).unwrap();
    root["ctlogs"] = stranger["ctlogs"].clone();
    let v = Verifier::new(&TrustedRoot::from_json(&root.to_string()).unwrap()).unwrap();
    let err = v
        .verify(digest(DIGEST_A), &bundle, &policy(EMAIL, ISSUER))
        .unwrap_err();
    assert!(
        matches!(err, Error::Certificate(CertificateError::Sct(_))),
        "{err}"
    );
    let ok = v
        .verify(digest(DIGEST_A), &bundle, &policy(EMAIL, ISSUER).skip_sct())
        .unwrap();
    assert!(!ok.sct_verified());
}

/// A leaf for an already-expired window: the SET's time falls outside it.
#[test]
fn expired_leaf_is_rejected() {
    let ts = TestSigstore::new();
    let mut id = LeafIdentity::email(EMAIL, ISSUER);
    id.not_before_offset_secs = -1200;
    id.lifetime_secs = 600;
    let signer = ts.issue(&id);
    let bundle =
        Bundle::from_json(&signer.bundle_v03(&ts, &cosign_sign_statement(DIGEST_A))).unwrap();
    let err = verifier(&ts)
        .verify(digest(DIGEST_A), &bundle, &policy(EMAIL, ISSUER))
        .unwrap_err();
    assert!(matches!(err, Error::Certificate(_)), "{err}");
}

// ---- the real cosign ----

#[tokio::test(flavor = "multi_thread")]
async fn real_cosign_verifies_keyless_sig_layer() {
    let registry = Registry::start(RegistryAuth::None);
    let ts = TestSigstore::new();
    let repo = "keyless/app";
    let image_digest = push_image(&registry, repo, "keyless legacy .sig");
    let docker_reference = format!("{}/{repo}", registry.host());
    let signer = ts.issue(&LeafIdentity::email(EMAIL, ISSUER));
    let layer = signer.sign_legacy(&ts, &image_digest, &docker_reference);
    sigstore_ca::push_legacy(
        &registry.url(),
        repo,
        &image_digest,
        "sig",
        std::slice::from_ref(&layer),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let reference = format!("{docker_reference}@{image_digest}");
    let trust = Trust::of(&ts);
    let (ok, out) = cosign_verify(&trust, dir, &reference, EMAIL, ISSUER, &[]);
    assert!(ok, "cosign verify (chain, SCT, SET): {out}");

    let (ok, out) = cosign_verify(&trust, dir, &reference, "other@signgate.test", ISSUER, &[]);
    assert!(
        !ok && out.contains("none of the expected identities matched"),
        "wrong identity: {out}"
    );
    let (ok, out) = cosign_verify(&trust, dir, &reference, EMAIL, GITHUB, &[]);
    assert!(
        !ok && out.contains("none of the expected identities matched"),
        "wrong issuer: {out}"
    );

    // Another CT log's key: the SCT is checked, and fails.
    let stranger = TestSigstore::new();
    let wrong_ct = Trust {
        ctlog: stranger.ctlog_public_pem().unwrap(),
        ..Trust::of(&ts)
    };
    let (ok, out) = cosign_verify(&wrong_ct, dir, &reference, EMAIL, ISSUER, &[]);
    assert!(
        !ok && out.contains("ctfe public key not found"),
        "SCT from an untrusted CT log: {out}"
    );
    // Another Rekor key: the SET is checked, and fails.
    let wrong_rekor = Trust {
        rekor: stranger.rekor_public_pem(),
        ..Trust::of(&ts)
    };
    let (ok, out) = cosign_verify(&wrong_rekor, dir, &reference, EMAIL, ISSUER, &[]);
    assert!(
        !ok && out.contains("rekor log public key not found"),
        "SET from an untrusted log: {out}"
    );
    // Another CA: the chain is checked, and fails.
    let wrong_ca = Trust {
        chain: stranger.ca_chain_pem(),
        ..Trust::of(&ts)
    };
    let (ok, out) = cosign_verify(&wrong_ca, dir, &reference, EMAIL, ISSUER, &[]);
    assert!(
        !ok && out.contains("signed by unknown authority"),
        "foreign CA: {out}"
    );
}

/// `issue_for_public_key`: a leaf for cosign's own key, cosign signs with
/// `--certificate`, and cosign verifies the chain and the SCT.
#[tokio::test(flavor = "multi_thread")]
async fn real_cosign_signs_with_issued_certificate() {
    let registry = Registry::start(RegistryAuth::None);
    let ts = TestSigstore::new();
    let repo = "keyless/byokey";
    let image_digest = push_image(&registry, repo, "cosign's key, our certificate");
    let reference = format!("{}/{repo}@{image_digest}", registry.host());
    let keys = KeyPair::generate();
    let id = LeafIdentity::uri(WORKFLOW, GITHUB);
    let leaf = ts.issue_for_public_key(&keys.public_pem(), &id);
    let dir = keys.dir.path();
    std::fs::write(dir.join("leaf.pem"), &leaf).unwrap();
    std::fs::write(dir.join("chain.pem"), ts.ca_chain_pem()).unwrap();
    // cosign checks the leaf's SCT at signing time too.
    let ctlog = dir.join("ctlog.pub");
    std::fs::write(&ctlog, ts.ctlog_public_pem().unwrap()).unwrap();
    let (ok, out) = run_cosign(
        dir,
        &[
            "sign",
            "--key",
            "cosign.key",
            "--certificate",
            "leaf.pem",
            "--certificate-chain",
            "chain.pem",
            "--tlog-upload=false",
            "--allow-http-registry",
            "--yes",
            &reference,
        ],
        &[("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", ctlog.to_str().unwrap())],
    );
    assert!(ok, "cosign sign --certificate: {out}");

    let (ok, out) = cosign_verify(
        &Trust::of(&ts),
        dir,
        &reference,
        WORKFLOW,
        GITHUB,
        &["--insecure-ignore-tlog"],
    );
    assert!(ok, "cosign verify (chain, SCT): {out}");
    let (ok, out) = cosign_verify(
        &Trust::of(&ts),
        dir,
        &reference,
        "https://github.com/other",
        GITHUB,
        &["--insecure-ignore-tlog"],
    );
    assert!(
        !ok && out.contains("none of the expected identities matched"),
        "wrong identity: {out}"
    );
}

/// Shareable across tests (e.g. in a `OnceLock` static).
#[test]
fn test_sigstore_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TestSigstore>();
    shareable::<sigstore_ca::Signer>();
}
