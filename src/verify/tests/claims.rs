//! Every Fulcio claim a policy can pin decodes from a certificate the way
//! Fulcio writes it: the deprecated GitHub OIDs .1.2–.1.6 as raw bytes, .1.9
//! onwards as a DER UTF8String. The certificates are made here (rcgen), one
//! distinct value per OID, so a claim read from the wrong OID shows.

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use sigstore_verify::crypto::parse_certificate_info;
use sigstore_verify::types::DerCertificate;

use super::*;

/// Each claim key, the OID's last arc, and whether Fulcio writes it raw.
const OIDS: [(&str, u64, bool); 21] = [
    ("githubWorkflowTrigger", 2, true),
    ("githubWorkflowSha", 3, true),
    ("githubWorkflowName", 4, true),
    ("githubWorkflowRepository", 5, true),
    ("githubWorkflowRef", 6, true),
    ("buildSignerURI", 9, false),
    ("buildSignerDigest", 10, false),
    ("runnerEnvironment", 11, false),
    ("sourceRepositoryURI", 12, false),
    ("sourceRepositoryDigest", 13, false),
    ("sourceRepositoryRef", 14, false),
    ("sourceRepositoryIdentifier", 15, false),
    ("sourceRepositoryOwnerURI", 16, false),
    ("sourceRepositoryOwnerIdentifier", 17, false),
    ("buildConfigURI", 18, false),
    ("buildConfigDigest", 19, false),
    ("buildTrigger", 20, false),
    ("runInvocationURI", 21, false),
    ("sourceRepositoryVisibility", 22, false),
    ("deploymentEnvironment", 23, false),
    ("tokenSubject", 24, false),
];

fn utf8_string(value: &str) -> Vec<u8> {
    let mut out = vec![0x0c, u8::try_from(value.len()).unwrap()];
    out.extend_from_slice(value.as_bytes());
    out
}

/// A certificate with the given Fulcio extensions (last arc, content).
fn signer_with(extensions: &[(u64, Vec<u8>)]) -> Signer {
    let mut params = CertificateParams::new(vec!["ci@example.com".to_owned()]).unwrap();
    for (arc, content) in extensions {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, *arc],
                content.clone(),
            ));
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let der = DerCertificate::from_pem(&cert.pem()).unwrap();
    Signer::from_certificate(&parse_certificate_info(&der).unwrap())
}

fn value(arc: u64) -> String {
    format!("value-of-1.{arc}")
}

#[test]
fn every_claim_key_decodes_from_its_oid() {
    assert_eq!(OIDS.len(), CLAIM_KEYS.len(), "every claim key is tested");
    let extensions: Vec<(u64, Vec<u8>)> = OIDS
        .iter()
        .map(|&(_, arc, raw)| {
            let v = value(arc);
            (arc, if raw { v.into_bytes() } else { utf8_string(&v) })
        })
        .collect();
    let signer = signer_with(&extensions);
    for (key, arc, _) in OIDS {
        let claim = Claim::from_key(key).unwrap_or_else(|| panic!("{key} is a claim key"));
        assert_eq!(claim.key(), key);
        assert_eq!(signer.claim(claim), Some(value(arc).as_str()), "{key}");
    }
}

#[test]
fn issuer_is_read_from_der_1_8_before_raw_1_1() {
    let signer = signer_with(&[
        (1, b"https://raw.example".to_vec()),
        (8, utf8_string("https://der.example")),
    ]);
    assert_eq!(signer.issuer.as_deref(), Some("https://der.example"));
    let signer = signer_with(&[(1, b"https://raw.example".to_vec())]);
    assert_eq!(signer.issuer.as_deref(), Some("https://raw.example"));
}

#[test]
fn a_claim_written_raw_where_der_is_due_is_not_read() {
    // .1.17 as raw bytes: not a UTF8String, so no claim (a policy pinning
    // it cannot be satisfied by a malformed certificate).
    let signer = signer_with(&[(17, b"1234".to_vec())]);
    assert_eq!(signer.claim(Claim::SourceRepositoryOwnerIdentifier), None);
}

#[test]
fn an_identity_pinning_the_owner_id_matches_only_that_owner() {
    let signer = signer_with(&[(17, utf8_string("71096353"))]);
    let id = |owner: &str| Identity {
        issuer: None,
        subject: None,
        claims: vec![(Claim::SourceRepositoryOwnerIdentifier, owner.to_owned())],
    };
    assert!(id("71096353").check(&signer).is_ok());
    let e = id("1").check(&signer).unwrap_err();
    assert!(
        e.contains("sourceRepositoryOwnerIdentifier is '71096353'"),
        "{e}"
    );
}
