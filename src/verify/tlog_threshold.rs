//! Several transparency-log entries in one bundle (a signature logged to
//! more than one log, as with Rekor shards): every entry present must
//! describe *this* signature, and at least [`THRESHOLD`] must verify.
//!
//! `sigstore-verify` checks an entry's body against the bundle only once
//! the entry's own proof verified, so each entry is verified alone; for one
//! that does not verify (a log this root does not know), signgate reads its
//! body here: the same signature bytes, the same signed content and the
//! same signing certificate, or the bundle is refused. Kinds whose body is
//! not read here (`intoto`) must verify.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sigstore_verify::types::{Bundle, TransparencyLogEntry};

/// Entries that must verify (policy-controller's and sigstore-go's default).
pub(super) const THRESHOLD: usize = 1;

/// Whether `entry`'s body describes `bundle`'s signature; why not.
pub(super) fn describes(bundle: &Bundle, entry: &TransparencyLogEntry) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bundle = serde_json::to_value(bundle).map_err(|e| e.to_string())?;
    let entry = serde_json::to_value(entry).map_err(|e| e.to_string())?;
    let body: Value = entry
        .get("canonicalizedBody")
        .and_then(Value::as_str)
        .and_then(|b| b64.decode(b).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("its body is not base64 JSON")?;
    let str_at = |v: &Value, path: &[&str]| -> Option<String> {
        let mut v = v;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_owned)
    };
    let decode = |s: Option<String>| s.and_then(|s| b64.decode(s).ok());
    let material = bundle
        .get("verificationMaterial")
        .ok_or("no verification material")?;
    let leaf = decode(str_at(material, &["certificate", "rawBytes"]))
        .or_else(|| {
            material
                .get("x509CertificateChain")
                .and_then(|c| c.get("certificates"))
                .and_then(|c| c.get(0))
                .and_then(|c| decode(str_at(c, &["rawBytes"])))
        })
        .ok_or("the bundle has no certificate")?;
    // A body names its signer by PEM, base64-encoded.
    let same_signer = |pem_b64: Option<String>| {
        decode(pem_b64)
            .and_then(|pem| {
                rustls_pemfile::certs(&mut pem.as_slice())
                    .next()
                    .and_then(Result::ok)
            })
            .is_some_and(|c| c.as_ref() == leaf.as_slice())
    };
    let kind = (
        str_at(&body, &["kind"]).unwrap_or_default(),
        str_at(&body, &["apiVersion"]).unwrap_or_default(),
    );
    let spec = body.get("spec").ok_or("its body has no spec")?;
    match (kind.0.as_str(), kind.1.as_str()) {
        ("hashedrekord", "0.0.1") => {
            let signature = decode(str_at(&bundle, &["messageSignature", "signature"]))
                .ok_or("a hashedrekord entry for a bundle without a message signature")?;
            let digest = decode(str_at(
                &bundle,
                &["messageSignature", "messageDigest", "digest"],
            ))
            .ok_or("the bundle has no message digest")?;
            if decode(str_at(spec, &["signature", "content"])) != Some(signature) {
                return Err("it logs another signature".into());
            }
            if str_at(spec, &["data", "hash", "value"]) != Some(hex::encode(digest)) {
                return Err("it logs another artifact".into());
            }
            if !same_signer(str_at(spec, &["signature", "publicKey", "content"])) {
                return Err("it logs another signing certificate".into());
            }
            Ok(())
        }
        ("dsse", "0.0.1") => {
            let envelope = bundle
                .get("dsseEnvelope")
                .ok_or("a dsse entry for a bundle without a DSSE envelope")?;
            let payload =
                decode(str_at(envelope, &["payload"])).ok_or("the envelope has no payload")?;
            let sigs: Vec<Vec<u8>> = envelope
                .get("signatures")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| decode(str_at(s, &["sig"])))
                        .collect()
                })
                .unwrap_or_default();
            if str_at(spec, &["payloadHash", "value"])
                != Some(hex::encode(Sha256::digest(&payload)))
            {
                return Err("it logs another payload".into());
            }
            let logged = spec
                .get("signatures")
                .and_then(Value::as_array)
                .ok_or("it lists no signatures")?;
            if logged.len() != sigs.len() {
                return Err("it logs another set of signatures".into());
            }
            let all = logged.iter().all(|l| {
                decode(str_at(l, &["signature"])).is_some_and(|s| sigs.contains(&s))
                    && same_signer(str_at(l, &["verifier"]))
            });
            if !all {
                return Err("it logs another signature or signer".into());
            }
            Ok(())
        }
        (k, v) => Err(format!("a {k} {v} entry is only accepted once it verifies")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sigstore-conformance/bundle-verify"
    );

    fn bundle(case: &str) -> Bundle {
        let text = std::fs::read_to_string(format!("{CASES}/{case}/bundle.sigstore.json")).unwrap();
        Bundle::from_json(&text).unwrap()
    }

    fn first(b: &Bundle) -> TransparencyLogEntry {
        b.verification_material
            .tlog_entries
            .first()
            .unwrap()
            .clone()
    }

    /// `entry` with its body's JSON changed by `edit`.
    fn edited(entry: &TransparencyLogEntry, edit: impl Fn(&mut Value)) -> TransparencyLogEntry {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut json = serde_json::to_value(entry).unwrap();
        let mut body: Value = serde_json::from_slice(
            &b64.decode(json["canonicalizedBody"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        edit(&mut body);
        json["canonicalizedBody"] = b64.encode(body.to_string()).into();
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_hashedrekord_body_describes_its_own_signature_only() {
        let b = bundle("happy-path-v0.3");
        let entry = first(&b);
        assert_eq!(describes(&b, &entry), Ok(()));
        let other_sig = edited(&entry, |body| {
            body["spec"]["signature"]["content"] = "AAAA".into();
        });
        assert_eq!(
            describes(&b, &other_sig),
            Err("it logs another signature".into())
        );
        let other_hash = edited(&entry, |body| {
            body["spec"]["data"]["hash"]["value"] = "00".repeat(32).into();
        });
        assert_eq!(
            describes(&b, &other_hash),
            Err("it logs another artifact".into())
        );
        // The conformance suite's entries for another certificate and
        // signature, and for another artifact.
        for case in [
            "wrong-hashedrekord-cert-and-sig_fail",
            "wrong-hashedrekord-artifact_fail",
        ] {
            let b = bundle(case);
            assert!(describes(&b, &first(&b)).is_err(), "{case}");
        }
    }

    #[test]
    fn a_dsse_body_describes_its_own_envelope_only_and_other_kinds_must_verify() {
        let b = bundle("happy-path-intoto-in-dsse-v3");
        let entry = first(&b);
        assert_eq!(describes(&b, &entry), Ok(()));
        let other_payload = edited(&entry, |body| {
            body["spec"]["payloadHash"]["value"] = "00".repeat(32).into();
        });
        assert_eq!(
            describes(&b, &other_payload),
            Err("it logs another payload".into())
        );
        let other_sig = edited(&entry, |body| {
            body["spec"]["signatures"][0]["signature"] = "AAAA".into();
        });
        assert_eq!(
            describes(&b, &other_sig),
            Err("it logs another signature or signer".into())
        );
        let intoto = edited(&entry, |body| {
            body["kind"] = "intoto".into();
            body["apiVersion"] = "0.0.2".into();
        });
        let e = describes(&b, &intoto).unwrap_err();
        assert_eq!(e, "a intoto 0.0.2 entry is only accepted once it verifies");
    }
}
