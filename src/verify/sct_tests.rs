//! SCT checks on the real 2023 public-good Fulcio leaf
//! (containers/image `dir-img-cosign-fulcio-rekor-valid`) and the pinned
//! public-good trusted root: it verifies; any change to what the log
//! signed, another issuer, an unknown log, a key outside its validity or a
//! certificate without an SCT is refused.

use std::path::Path;

use base64::Engine as _;
use sigstore_verify::crypto::parse_certificate_info;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::DerCertificate;

use super::*;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .map(|c| c.unwrap().as_ref().to_vec())
        .collect()
}

/// The leaf, from the layer's certificate annotation.
fn leaf() -> Vec<u8> {
    let raw = std::fs::read(
        fixtures().join("containers-image/dir-img-cosign-fulcio-rekor-valid/signature-1"),
    )
    .unwrap();
    let sig: serde_json::Value =
        serde_json::from_slice(raw.strip_prefix(b"\x00sigstore-json\n").unwrap()).unwrap();
    let pem = sig["annotations"]["dev.sigstore.cosign/certificate"]
        .as_str()
        .unwrap();
    pem_certs(pem).remove(0)
}

fn root() -> TrustedRoot {
    TrustedRoot::from_json(
        &std::fs::read_to_string(fixtures().join("sigstore/sigstore_trusted_root.json")).unwrap(),
    )
    .unwrap()
}

fn spki(cert: &[u8]) -> Vec<u8> {
    parse_certificate_info(&DerCertificate::new(cert.to_vec()))
        .unwrap()
        .public_key
        .as_bytes()
        .to_vec()
}

/// Every CA certificate of the root, with its SPKI.
fn ca_spkis(root: &TrustedRoot) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let json = serde_json::to_value(root).unwrap();
    json["certificateAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|ca| ca["certChain"]["certificates"].as_array().unwrap().clone())
        .map(|c| spki(&b64.decode(c["rawBytes"].as_str().unwrap()).unwrap()))
        .collect()
}

/// The issuer's SPKI: the one CA key the real SCT verifies with.
fn issuer() -> Vec<u8> {
    let logs = ct_logs(&root());
    let found: Vec<Vec<u8>> = ca_spkis(&root())
        .into_iter()
        .filter(|s| verify(&leaf(), s, &logs).is_ok())
        .collect();
    assert_eq!(found.len(), 1, "exactly one CA issued the leaf");
    found[0].clone()
}

/// The extnValue content of the leaf's SCT list (its offset and length).
fn sct_extension(leaf: &[u8]) -> (usize, usize) {
    let oid = der::write(0x06, &SCT_LIST);
    let at = leaf.windows(oid.len()).position(|w| w == oid).unwrap();
    let (value, _) = der::read(&leaf[at + oid.len()..]).unwrap();
    (
        at + oid.len() + (value.whole.len() - value.content.len()),
        value.content.len(),
    )
}

#[test]
fn the_real_public_good_sct_verifies() {
    let logs = ct_logs(&root());
    assert_eq!(logs.len(), 2);
    assert_eq!(verify(&leaf(), &issuer(), &logs), Ok(()));
}

#[test]
fn a_changed_certificate_or_sct_is_refused() {
    let (logs, issuer, leaf) = (ct_logs(&root()), issuer(), leaf());
    let (start, len) = sct_extension(&leaf);
    // The last byte of the SCT list is the SCT signature's.
    let mut signature = leaf.clone();
    signature[start + len - 1] ^= 1;
    // The leaf's own key: not the precertificate the log signed.
    let key = spki(&leaf);
    let key_at = leaf.windows(key.len()).position(|w| w == key).unwrap();
    let mut other_key = leaf.clone();
    other_key[key_at + key.len() - 1] ^= 1;
    for (what, cert) in [("signature", signature), ("key", other_key)] {
        let e = verify(&cert, &issuer, &logs).unwrap_err();
        assert!(e.contains("SCT signature does not verify"), "{what}: {e}");
    }
    // Another issuer's key hash.
    let e = verify(&leaf, &spki(&leaf), &logs).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
}

#[test]
fn an_sct_from_an_unlisted_log_or_outside_its_key_validity_is_refused() {
    let (logs, issuer, leaf) = (ct_logs(&root()), issuer(), leaf());
    let e = verify(&leaf, &issuer, &[]).unwrap_err();
    assert!(e.contains("CT log the trusted root does not list"), "{e}");
    // The SCT is from 2023-01-20.
    let expired: Vec<CtLog> = logs
        .iter()
        .map(|l| CtLog {
            until_ms: Some(1_600_000_000_000),
            ..l.clone()
        })
        .collect();
    let e = verify(&leaf, &issuer, &expired).unwrap_err();
    assert!(e.contains("outside its CT log key's validity"), "{e}");
    let not_yet: Vec<CtLog> = logs
        .iter()
        .map(|l| CtLog {
            from_ms: Some(1_700_000_000_000),
            ..l.clone()
        })
        .collect();
    let e = verify(&leaf, &issuer, &not_yet).unwrap_err();
    assert!(e.contains("outside its CT log key's validity"), "{e}");
}

#[test]
fn a_certificate_without_an_sct_is_refused() {
    let logs = ct_logs(&root());
    // containers/image's private-PKI leaf, and a CA certificate: no SCTs.
    for pem in ["pki_intermediate_crts.pem", "fulcio_v1.crt.pem"] {
        for cert in pem_certs(
            &std::fs::read_to_string(fixtures().join("containers-image").join(pem)).unwrap(),
        ) {
            let e = verify(&cert, &issuer(), &logs).unwrap_err();
            assert!(e.contains("no embedded SCT"), "{pem}: {e}");
        }
    }
    for garbage in [&[][..], &[0x30, 0x00], &[0x30, 0x03, 0x30, 0x01, 0x00]] {
        assert!(verify(garbage, &issuer(), &logs).is_err());
    }
}

#[test]
fn sct_lists_with_more_than_one_sct_or_trailing_bytes_are_refused() {
    let sct = {
        let mut s = vec![0u8];
        s.extend_from_slice(&[9; 32]);
        s.extend_from_slice(&1u64.to_be_bytes());
        s.extend_from_slice(&0u16.to_be_bytes());
        s.extend_from_slice(&[4, 3]);
        s.extend_from_slice(&2u16.to_be_bytes());
        s.extend_from_slice(&[1, 2]);
        s
    };
    let item = [(sct.len() as u16).to_be_bytes().to_vec(), sct.clone()].concat();
    let list = |items: &[Vec<u8>]| {
        let body = items.concat();
        [(body.len() as u16).to_be_bytes().to_vec(), body].concat()
    };
    assert!(single_sct(&list(std::slice::from_ref(&item))).is_ok());
    let e = single_sct(&list(&[item.clone(), item.clone()]))
        .err()
        .unwrap();
    assert!(e.contains("more than one SCT"), "{e}");
    assert!(single_sct(&[list(std::slice::from_ref(&item)), vec![0]].concat()).is_err());
    assert!(single_sct(&list(&[])).is_err());
    let mut v2 = item.clone();
    v2[2] = 1;
    assert!(single_sct(&list(&[v2])).err().unwrap().contains("not v1"));
}
