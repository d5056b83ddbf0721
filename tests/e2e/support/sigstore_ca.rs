//! A private, offline "Fulcio + Rekor + CT log" for tests: real keyless
//! sigstore material from a CA and transparency logs of the test's own.
//!
//! - [`TestSigstore::new`] makes a root CA and an intermediate (P-384, like
//!   Fulcio's chain), a Rekor-style log key (P-256) and a CT log key (P-256).
//! - [`TestSigstore::issue`] issues a Fulcio-profile leaf for a fresh P-256
//!   key (with an embedded SCT from the CT log, RFC 6962 precertificate
//!   signing), [`TestSigstore::issue_for_public_key`] for a key someone else
//!   holds (e.g. `cosign generate-key-pair`'s `cosign.pub`).
//! - A [`Signer`] writes what cosign writes: a legacy `.sig` layer
//!   (simple signing + Rekor `hashedrekord` 0.0.1 entry), a legacy `.att`
//!   layer (DSSE + Rekor `dsse` 0.0.1 entry) and a sigstore bundle v0.3
//!   (DSSE + Rekor `dsse` 0.0.1 entry with SET, RFC 6962 inclusion proof and
//!   signed checkpoint), each logged in the test's own Merkle log.
//! - [`TestSigstore::trusted_root_json`] is the matching `trusted_root.json`;
//!   [`TestSigstore::ca_chain_pem`], [`TestSigstore::rekor_public_pem`] and
//!   [`TestSigstore::ctlog_public_pem`] are what the real cosign takes
//!   (`--certificate-chain`, `SIGSTORE_REKOR_PUBLIC_KEY`,
//!   `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`).
//!
//! Formats: shared FORMATS.md §1.2, §1.3, §1.5, §2.1–2.7.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// Media type of a legacy cosign signature layer.
pub(crate) const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Media type of a legacy cosign attestation layer.
pub(crate) const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Media type of a sigstore bundle v0.3 (cosign v3 referrer layer).
pub(crate) const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// DSSE payload type of in-toto statements.
pub(crate) const IN_TOTO: &str = "application/vnd.in-toto+json";
/// Predicate type cosign v3 uses for an image signature.
pub(crate) const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Annotation keys of legacy layers (FORMATS.md §1.2).
pub(crate) const ANN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
pub(crate) const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub(crate) const ANN_CHAIN: &str = "dev.sigstore.cosign/chain";
pub(crate) const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// The Rekor log's name: the checkpoint origin is `"<name> - <tree id>"`
/// and the checkpoint signature line is `"— <name> <b64(hint || sig)>"`
/// (as on rekor.sigstore.dev: a note key name cannot hold spaces).
pub(crate) const REKOR_NAME: &str = "rekor.signgate.test";
/// Global `logIndex` of the first leaf of the (single) log shard; the
/// inclusion proof's `logIndex` is shard-local (rekor-spec §9.3).
pub(crate) const SHARD_START: u64 = 1_000_000;
/// Filler leaves logged at start, so every inclusion proof has hashes.
const FILLER_LEAVES: usize = 3;

const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1";
const OID_SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];
const OID_SAN: &[u64] = &[2, 5, 29, 17];
const OID_SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];

/// The subject alternative name of a leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum San {
    Email(String),
    Uri(String),
}

impl San {
    /// The SAN value, as `--certificate-identity` matches it.
    pub(crate) fn value(&self) -> &str {
        match self {
            San::Email(s) | San::Uri(s) => s,
        }
    }
}

/// Who a leaf certificate says signed.
#[derive(Clone, Debug)]
pub(crate) struct LeafIdentity {
    pub san: San,
    /// OIDC issuer, written to 1.3.6.1.4.1.57264.1.1 (raw) and .1.8 (DER
    /// UTF8String).
    pub issuer: String,
    /// Extra Fulcio claims: (OID, value). OIDs under 1.3.6.1.4.1.57264.1
    /// with last arc 1–6 are written raw, every other OID as a DER
    /// UTF8String. A claim for .1.1 or .1.8 replaces the one from `issuer`.
    pub claims: Vec<(String, String)>,
    /// notBefore relative to now, in seconds (usually -60).
    pub not_before_offset_secs: i64,
    /// notAfter − notBefore, in seconds (usually 600, as Fulcio).
    pub lifetime_secs: i64,
    /// Embed an SCT from the CT log (as Fulcio always does).
    pub sct: bool,
}

impl LeafIdentity {
    /// An email identity, issuer `issuer`, the usual 10-minute window.
    pub(crate) fn email(email: &str, issuer: &str) -> LeafIdentity {
        LeafIdentity::new(San::Email(email.to_owned()), issuer)
    }

    /// A URI identity (e.g. a GitHub workflow), the usual 10-minute window.
    pub(crate) fn uri(uri: &str, issuer: &str) -> LeafIdentity {
        LeafIdentity::new(San::Uri(uri.to_owned()), issuer)
    }

    pub(crate) fn new(san: San, issuer: &str) -> LeafIdentity {
        LeafIdentity {
            san,
            issuer: issuer.to_owned(),
            claims: Vec::new(),
            not_before_offset_secs: -60,
            lifetime_secs: 600,
            sct: true,
        }
    }

    /// A leaf with no SCT: what Fulcio never issues, a forger might.
    pub(crate) fn without_sct(mut self) -> LeafIdentity {
        self.sct = false;
        self
    }

    /// Add a Fulcio claim (`"1.3.6.1.4.1.57264.1.12"`, value).
    pub(crate) fn claim(mut self, oid: &str, value: &str) -> LeafIdentity {
        self.claims.push((oid.to_owned(), value.to_owned()));
        self
    }
}

/// A layer of a legacy cosign `.sig`/`.att` manifest: blob and annotations.
#[derive(Clone, Debug)]
pub(crate) struct LegacyLayer {
    pub media_type: String,
    pub payload: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

impl LegacyLayer {
    /// `sha256:<hex>` of the payload blob.
    pub(crate) fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.payload)))
    }

    /// The OCI descriptor of this layer (with its annotations).
    pub(crate) fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "size": self.payload.len(),
            "digest": self.digest(),
            "annotations": self.annotations,
        })
    }

    pub(crate) fn annotation(&self, key: &str) -> &str {
        self.annotations.get(key).map(String::as_str).unwrap_or("")
    }
}

/// What the Rekor entry of a key-signed `.sig` logs
/// ([`Signer::sign_legacy_key`]).
#[derive(Clone, Debug)]
pub(crate) enum KeyEntry {
    /// This payload's hash, this signature, this key.
    Honest,
    /// The hash of another payload.
    OtherHash,
    /// Another public key (PEM).
    OtherKey(String),
    /// A signature over another payload.
    OtherSignature,
    /// Honest, with the SET removed from the annotation.
    NoSet,
}

/// A Fulcio-style leaf and the private key that goes with it.
pub(crate) struct Signer {
    /// The leaf certificate (PEM).
    pub cert_pem: String,
    /// The leaf certificate (DER).
    pub cert_der: Vec<u8>,
    /// Intermediate + root (PEM), as in `dev.sigstore.cosign/chain`.
    pub chain_pem: String,
    key: SigningKey,
}

struct LogState {
    leaves: Vec<[u8; 32]>,
}

/// What the log returns for one entry.
struct Logged {
    body_b64: String,
    global_index: u64,
    local_index: u64,
    integrated_time: i64,
    set_b64: String,
    proof: Vec<[u8; 32]>,
    root: [u8; 32],
    tree_size: u64,
    checkpoint: String,
}

/// A CA (root + intermediate), a Rekor log and a CT log of the test's own.
pub(crate) struct TestSigstore {
    root_key: KeyPair,
    root: Certificate,
    inter_key: KeyPair,
    inter: Certificate,
    rekor_key: SigningKey,
    ctlog_key: SigningKey,
    tree_id: u64,
    created: i64,
    serial: Mutex<u64>,
    log: Mutex<LogState>,
}

impl Default for TestSigstore {
    fn default() -> Self {
        TestSigstore::new()
    }
}

impl TestSigstore {
    /// A fresh root CA ("signgate-test-root"), intermediate
    /// ("signgate-test-intermediate"), Rekor key and CT log key. The CA
    /// certificates are valid from a day ago for ten years; the trust
    /// root's `validFor.start` values are an hour ago.
    pub(crate) fn new() -> TestSigstore {
        let now = unix_now();
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut params = ca_params("signgate-test-root", now);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root = params.self_signed(&root_key).unwrap();

        let inter_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut params = ca_params("signgate-test-intermediate", now);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.use_authority_key_identifier_extension = true;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let inter = params.signed_by(&inter_key, &root, &root_key).unwrap();

        let ts = TestSigstore {
            root_key,
            root,
            inter_key,
            inter,
            rekor_key: p256_key(),
            ctlog_key: p256_key(),
            tree_id: (now as u64).wrapping_mul(2_654_435_761) % 9_000_000_000_000_000_000,
            created: now,
            serial: Mutex::new(0),
            log: Mutex::new(LogState { leaves: Vec::new() }),
        };
        for i in 0..FILLER_LEAVES {
            let filler = format!("{{\"filler\":{i}}}");
            ts.append(filler.as_bytes());
        }
        ts
    }

    /// `trusted_root.json` (v0.1) for this CA and these logs: one CA
    /// (`certChain` intermediate then root), one tlog (the Rekor key), one
    /// ctlog (the CT key), no timestamp authorities.
    pub(crate) fn trusted_root_json(&self) -> String {
        let start = rfc3339(self.created - 3600);
        let log = |key: &SigningKey, url: &str| {
            json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(spki_der(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": B64.encode(Sha256::digest(spki_der(key)))},
            })
        };
        let root = json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(&self.rekor_key, &format!("https://{REKOR_NAME}"))],
            "certificateAuthorities": [{
                "subject": {"organization": "signgate", "commonName": "signgate-test-root"},
                "uri": "https://fulcio.signgate.test",
                "certChain": {"certificates": [
                    {"rawBytes": B64.encode(self.inter.der())},
                    {"rawBytes": B64.encode(self.root.der())},
                ]},
                "validFor": {"start": start},
            }],
            "ctlogs": [log(&self.ctlog_key, "https://ctfe.signgate.test")],
            "timestampAuthorities": [],
        });
        serde_json::to_string_pretty(&root).unwrap()
    }

    /// Intermediate then root (PEM): `cosign verify --certificate-chain`.
    pub(crate) fn ca_chain_pem(&self) -> String {
        format!("{}{}", self.inter.pem(), self.root.pem())
    }

    /// The root CA alone (PEM).
    pub(crate) fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// The Rekor log's public key (PKIX PEM): `SIGSTORE_REKOR_PUBLIC_KEY`.
    pub(crate) fn rekor_public_pem(&self) -> String {
        public_pem(&self.rekor_key)
    }

    /// The CT log's public key (PKIX PEM): `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`.
    /// Always `Some`: leaves carry a real embedded SCT.
    pub(crate) fn ctlog_public_pem(&self) -> Option<String> {
        Some(public_pem(&self.ctlog_key))
    }

    /// The Rekor log ID: sha256 of the log key's DER SPKI.
    pub(crate) fn rekor_log_id(&self) -> [u8; 32] {
        Sha256::digest(spki_der(&self.rekor_key)).into()
    }

    /// A Fulcio-style leaf (P-256, `id`'s window, SCT embedded) for a fresh
    /// key, signed by the intermediate.
    pub(crate) fn issue(&self, id: &LeafIdentity) -> Signer {
        let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = SigningKey::from_pkcs8_der(&pair.serialize_der()).unwrap();
        let cert_der = self.leaf(&pair, id);
        Signer {
            cert_pem: pem("CERTIFICATE", &cert_der),
            cert_der,
            chain_pem: self.ca_chain_pem(),
            key,
        }
    }

    /// The same leaf for a P-256 key someone else holds (`spki_pem`: a PKIX
    /// `PUBLIC KEY` PEM such as cosign's `cosign.pub`). Returns the leaf PEM,
    /// for `cosign sign --certificate`.
    pub(crate) fn issue_for_public_key(&self, spki_pem: &str, id: &LeafIdentity) -> String {
        let public = p256::PublicKey::from_public_key_pem(spki_pem.trim()).unwrap();
        let key = ForeignP256(public.to_encoded_point(false).as_bytes().to_vec());
        pem("CERTIFICATE", &self.leaf(&key, id))
    }

    fn leaf(&self, subject_key: &impl PublicKeyData, id: &LeafIdentity) -> Vec<u8> {
        let now = unix_now();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let not_before = now + id.not_before_offset_secs;
        set_validity(&mut params, not_before, not_before + id.lifetime_secs);
        params.serial_number = Some(self.next_serial());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        // rcgen writes SAN non-critical; Fulcio (empty subject) marks it
        // critical, so write it ourselves.
        let mut san = CustomExtension::from_oid_content(OID_SAN, general_names(&id.san));
        san.set_criticality(true);
        params.custom_extensions.push(san);
        let key_id = Sha256::digest(subject_key.der_bytes());
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                OID_SUBJECT_KEY_ID,
                der_tlv(0x04, &key_id[..20]),
            ));
        for (oid, value) in fulcio_extensions(id) {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(&parse_oid(&oid), value));
        }

        if !id.sct {
            let cert = params
                .signed_by(subject_key, &self.inter, &self.inter_key)
                .unwrap();
            return cert.der().to_vec();
        }
        // RFC 6962 §3.2: the CT log signs the precertificate TBS (the final
        // TBS without the SCT list extension), then the SCT goes in.
        let precert = params
            .clone()
            .signed_by(subject_key, &self.inter, &self.inter_key)
            .unwrap();
        let tbs = first_tlv_inside(precert.der()).to_vec();
        let sct_list = self.sct_list(&tbs);
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                OID_SCT_LIST,
                der_tlv(0x04, &sct_list),
            ));
        let cert = params
            .signed_by(subject_key, &self.inter, &self.inter_key)
            .unwrap();
        cert.der().to_vec()
    }

    /// A TLS-encoded `SignedCertificateTimestampList` with one SCT over the
    /// precertificate `tbs`.
    fn sct_list(&self, tbs: &[u8]) -> Vec<u8> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let issuer_key_hash = Sha256::digest(self.inter_key.public_key_der());
        let mut signed = vec![0u8, 0u8]; // version v1, certificate_timestamp
        signed.extend_from_slice(&timestamp.to_be_bytes());
        signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]); // u24
        signed.extend_from_slice(tbs);
        signed.extend_from_slice(&0u16.to_be_bytes()); // no extensions
        let sig = sign_der(&self.ctlog_key, &signed);

        let mut sct = vec![0u8]; // v1
        sct.extend_from_slice(&Sha256::digest(spki_der(&self.ctlog_key)));
        sct.extend_from_slice(&timestamp.to_be_bytes());
        sct.extend_from_slice(&0u16.to_be_bytes());
        sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
        sct.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        sct.extend_from_slice(&sig);

        let mut list = ((sct.len() + 2) as u16).to_be_bytes().to_vec();
        list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
        list.extend_from_slice(&sct);
        list
    }

    fn next_serial(&self) -> SerialNumber {
        let mut n = self.serial.lock().unwrap();
        *n += 1;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut h = Sha256::new();
        h.update(self.tree_id.to_be_bytes());
        h.update(n.to_be_bytes());
        h.update(nanos.to_be_bytes());
        let mut bytes = h.finalize()[..16].to_vec();
        bytes[0] &= 0x7f;
        bytes[0] |= 0x01;
        SerialNumber::from_slice(&bytes)
    }

    /// Log `body` (a canonical Rekor entry): a new leaf, its SET, an
    /// inclusion proof against the tree that now ends with it, and a signed
    /// checkpoint for that tree.
    fn append(&self, body: &[u8]) -> Logged {
        let mut log = self.log.lock().unwrap();
        let local = log.leaves.len();
        log.leaves.push(leaf_hash(body));
        let tree_size = log.leaves.len();
        let root = mth(&log.leaves);
        let proof = path(local, &log.leaves);
        drop(log);

        let global_index = SHARD_START + local as u64;
        let integrated_time = unix_now();
        let body_b64 = B64.encode(body);
        let log_id = hex::encode(self.rekor_log_id());
        // RFC 8785: keys sorted, integers as numbers, no whitespace.
        let set_payload = format!(
            r#"{{"body":"{body_b64}","integratedTime":{integrated_time},"logID":"{log_id}","logIndex":{global_index}}}"#
        );
        let set_b64 = B64.encode(sign_der(&self.rekor_key, set_payload.as_bytes()));

        let note = format!(
            "{REKOR_NAME} - {}\n{tree_size}\n{}\n",
            self.tree_id,
            B64.encode(root)
        );
        let mut keyed = self.rekor_log_id()[..4].to_vec();
        keyed.extend_from_slice(&sign_der(&self.rekor_key, note.as_bytes()));
        let checkpoint = format!("{note}\n\u{2014} {REKOR_NAME} {}\n", B64.encode(keyed));

        Logged {
            body_b64,
            global_index,
            local_index: local as u64,
            integrated_time,
            set_b64,
            proof,
            root,
            tree_size: tree_size as u64,
            checkpoint,
        }
    }

    /// The `dev.sigstore.cosign/bundle` annotation for a logged entry.
    fn rekor_bundle(&self, logged: &Logged) -> String {
        format!(
            r#"{{"SignedEntryTimestamp":"{}","Payload":{{"body":"{}","integratedTime":{},"logIndex":{},"logID":"{}"}}}}"#,
            logged.set_b64,
            logged.body_b64,
            logged.integrated_time,
            logged.global_index,
            hex::encode(self.rekor_log_id())
        )
    }
}

impl Signer {
    /// A legacy cosign `.sig` layer for `image_digest` (`sha256:…`): the
    /// simple-signing payload exactly as cosign writes it, signed (ECDSA
    /// P-256, DER, base64) with the leaf key, logged in `log` as a
    /// `hashedrekord` 0.0.1 entry; annotations signature, certificate,
    /// chain and bundle (the RekorBundle with its SET).
    pub(crate) fn sign_legacy(
        &self,
        log: &TestSigstore,
        image_digest: &str,
        docker_reference: &str,
    ) -> LegacyLayer {
        let payload = simple_signing_payload(image_digest, docker_reference);
        let sig_b64 = B64.encode(sign_der(&self.key, &payload));
        let body = canonical(&json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))}},
                "signature": {
                    "content": sig_b64,
                    "publicKey": {"content": B64.encode(&self.cert_pem)},
                },
            },
        }));
        let logged = log.append(body.as_bytes());
        LegacyLayer {
            media_type: SIMPLE_SIGNING.to_owned(),
            payload,
            annotations: self.annotations(sig_b64, log.rekor_bundle(&logged)),
        }
    }

    /// A legacy `.sig` layer as `cosign sign --key` writes it with a Rekor
    /// upload: the signature annotation and the RekorBundle, whose
    /// `hashedrekord` 0.0.1 body logs the PEM public key (no certificate).
    /// `entry` chooses what the log is told; every variant gets a valid
    /// SET over the body it logs (the hostile cases no honest Rekor makes).
    pub(crate) fn sign_legacy_key(
        &self,
        log: &TestSigstore,
        image_digest: &str,
        docker_reference: &str,
        entry: KeyEntry,
    ) -> LegacyLayer {
        let payload = simple_signing_payload(image_digest, docker_reference);
        let sig_b64 = B64.encode(sign_der(&self.key, &payload));
        let (hash, logged_sig, key_pem) = match &entry {
            KeyEntry::OtherHash => (
                Sha256::digest(b"another payload").to_vec(),
                sig_b64.clone(),
                self.public_pem(),
            ),
            KeyEntry::OtherKey(pem) => (
                Sha256::digest(&payload).to_vec(),
                sig_b64.clone(),
                pem.clone(),
            ),
            KeyEntry::OtherSignature => (
                Sha256::digest(&payload).to_vec(),
                B64.encode(sign_der(&self.key, b"another payload")),
                self.public_pem(),
            ),
            KeyEntry::Honest | KeyEntry::NoSet => (
                Sha256::digest(&payload).to_vec(),
                sig_b64.clone(),
                self.public_pem(),
            ),
        };
        let body = canonical(&json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(hash)}},
                "signature": {
                    "content": logged_sig,
                    "publicKey": {"content": B64.encode(key_pem)},
                },
            },
        }));
        let logged = log.append(body.as_bytes());
        let mut rekor: Value = serde_json::from_str(&log.rekor_bundle(&logged)).unwrap();
        if matches!(entry, KeyEntry::NoSet) {
            rekor
                .as_object_mut()
                .unwrap()
                .remove("SignedEntryTimestamp");
        }
        LegacyLayer {
            media_type: SIMPLE_SIGNING.to_owned(),
            payload,
            annotations: BTreeMap::from([
                (ANN_SIGNATURE.to_owned(), sig_b64),
                (ANN_BUNDLE.to_owned(), rekor.to_string()),
            ]),
        }
    }

    /// A legacy cosign `.att` layer: the DSSE envelope over `statement`
    /// (payloadType in-toto; the blob is the key-sorted compact envelope
    /// with `keyid: ""`, as cosign writes it), logged as a `dsse` 0.0.1
    /// entry (payloadHash, envelopeHash = sha256 of the blob, signature,
    /// verifier = base64 PEM leaf); annotations signature `""`, certificate,
    /// chain, bundle, and `predicateType` when the statement has one.
    pub(crate) fn attest_legacy(&self, log: &TestSigstore, statement: &Value) -> LegacyLayer {
        let payload = serde_json::to_vec(statement).unwrap();
        let sig_b64 = B64.encode(sign_der(&self.key, &pae(IN_TOTO, &payload)));
        let envelope = canonical(&json!({
            "payloadType": IN_TOTO,
            "payload": B64.encode(&payload),
            "signatures": [{"keyid": "", "sig": sig_b64}],
        }));
        let body = self.dsse_body(&payload, envelope.as_bytes(), &sig_b64);
        let logged = log.append(body.as_bytes());
        let mut annotations = self.annotations(String::new(), log.rekor_bundle(&logged));
        if let Some(p) = statement["predicateType"].as_str() {
            annotations.insert("predicateType".to_owned(), p.to_owned());
        }
        LegacyLayer {
            media_type: DSSE_ENVELOPE.to_owned(),
            payload: envelope.into_bytes(),
            annotations,
        }
    }

    /// A sigstore bundle v0.3 (what cosign v3 pushes as a referrer): leaf
    /// in `verificationMaterial.certificate`, one `dsse` 0.0.1 tlog entry
    /// with integratedTime, inclusionPromise (SET) and inclusionProof (RFC
    /// 6962 path, root, tree size, shard-local index, signed checkpoint),
    /// and the DSSE envelope over `statement`.
    pub(crate) fn bundle_v03(&self, log: &TestSigstore, statement: &Value) -> String {
        let payload = serde_json::to_vec(statement).unwrap();
        let sig_b64 = B64.encode(sign_der(&self.key, &pae(IN_TOTO, &payload)));
        let envelope = json!({
            "payload": B64.encode(&payload),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": sig_b64}],
        });
        let compact = canonical(&envelope);
        let body = self.dsse_body(&payload, compact.as_bytes(), &sig_b64);
        let logged = log.append(body.as_bytes());
        let bundle = json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {
                "certificate": {"rawBytes": B64.encode(&self.cert_der)},
                "tlogEntries": [{
                    "logIndex": logged.global_index.to_string(),
                    "logId": {"keyId": B64.encode(log.rekor_log_id())},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": logged.integrated_time.to_string(),
                    "inclusionPromise": {"signedEntryTimestamp": logged.set_b64},
                    "inclusionProof": {
                        "logIndex": logged.local_index.to_string(),
                        "rootHash": B64.encode(logged.root),
                        "treeSize": logged.tree_size.to_string(),
                        "hashes": logged.proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
                        "checkpoint": {"envelope": logged.checkpoint},
                    },
                    "canonicalizedBody": logged.body_b64,
                }],
            },
            "dsseEnvelope": envelope,
        });
        serde_json::to_string(&bundle).unwrap()
    }

    /// A DSSE envelope over `statement` (payloadType in-toto), signed with
    /// the leaf key and logged nowhere: the envelope and the raw (DER)
    /// signature bytes, which an RFC 3161 timestamp's imprint covers.
    pub(crate) fn dsse_unlogged(&self, statement: &Value) -> (Value, Vec<u8>) {
        let payload = serde_json::to_vec(statement).unwrap();
        let sig = sign_der(&self.key, &pae(IN_TOTO, &payload));
        let envelope = json!({
            "payload": B64.encode(&payload),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": B64.encode(&sig)}],
        });
        (envelope, sig)
    }

    /// A legacy `.att` layer as `cosign attest --key` with a log upload
    /// writes it: the DSSE envelope over `statement`, logged as a `dsse`
    /// 0.0.1 entry whose verifier is the PEM public key (`other_key`
    /// logs that one instead, with a valid SET); annotations signature
    /// `""`, bundle, and `predicateType`.
    pub(crate) fn attest_legacy_key(
        &self,
        log: &TestSigstore,
        statement: &Value,
        other_key: Option<&str>,
    ) -> LegacyLayer {
        let payload = serde_json::to_vec(statement).unwrap();
        let sig_b64 = B64.encode(sign_der(&self.key, &pae(IN_TOTO, &payload)));
        let envelope = canonical(&json!({
            "payloadType": IN_TOTO,
            "payload": B64.encode(&payload),
            "signatures": [{"keyid": "", "sig": sig_b64}],
        }));
        let verifier = other_key.map_or_else(|| self.public_pem(), str::to_owned);
        let body = canonical(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope.as_bytes()))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload))},
                "signatures": [{"signature": sig_b64, "verifier": B64.encode(verifier)}],
            },
        }));
        let logged = log.append(body.as_bytes());
        let mut annotations = BTreeMap::from([
            (ANN_SIGNATURE.to_owned(), String::new()),
            (ANN_BUNDLE.to_owned(), log.rekor_bundle(&logged)),
        ]);
        if let Some(p) = statement["predicateType"].as_str() {
            annotations.insert("predicateType".to_owned(), p.to_owned());
        }
        LegacyLayer {
            media_type: DSSE_ENVELOPE.to_owned(),
            payload: envelope.into_bytes(),
            annotations,
        }
    }

    /// A cosign v3 bundle as `cosign sign --key` with a log upload writes
    /// it: `publicKey` material, the DSSE envelope over `statement`, one
    /// `dsse` 0.0.1 entry whose verifier is the PEM public key, with SET,
    /// inclusion proof and checkpoint. `entry` chooses what the log is told
    /// (a valid SET over it either way); `NoSet` here means no entry at all.
    pub(crate) fn bundle_v03_key(
        &self,
        log: &TestSigstore,
        statement: &Value,
        entry: KeyEntry,
    ) -> String {
        let payload = serde_json::to_vec(statement).unwrap();
        let sig_b64 = B64.encode(sign_der(&self.key, &pae(IN_TOTO, &payload)));
        let envelope = json!({
            "payload": B64.encode(&payload),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": sig_b64}],
        });
        let compact = canonical(&envelope);
        let (logged_payload, logged_sig, verifier) = match &entry {
            KeyEntry::OtherHash => (
                b"another payload".to_vec(),
                sig_b64.clone(),
                self.public_pem(),
            ),
            KeyEntry::OtherKey(pem) => (payload.clone(), sig_b64.clone(), pem.clone()),
            KeyEntry::OtherSignature => (
                payload.clone(),
                B64.encode(sign_der(&self.key, b"another payload")),
                self.public_pem(),
            ),
            KeyEntry::Honest | KeyEntry::NoSet => {
                (payload.clone(), sig_b64.clone(), self.public_pem())
            }
        };
        let body = canonical(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(compact.as_bytes()))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&logged_payload))},
                "signatures": [{"signature": logged_sig, "verifier": B64.encode(verifier)}],
            },
        }));
        let logged = log.append(body.as_bytes());
        let entries = if matches!(entry, KeyEntry::NoSet) {
            json!([])
        } else {
            json!([{
                "logIndex": logged.global_index.to_string(),
                "logId": {"keyId": B64.encode(log.rekor_log_id())},
                "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                "integratedTime": logged.integrated_time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": logged.set_b64},
                "inclusionProof": {
                    "logIndex": logged.local_index.to_string(),
                    "rootHash": B64.encode(logged.root),
                    "treeSize": logged.tree_size.to_string(),
                    "hashes": logged.proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
                    "checkpoint": {"envelope": logged.checkpoint},
                },
                "canonicalizedBody": logged.body_b64,
            }])
        };
        serde_json::to_string(&json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": entries},
            "dsseEnvelope": envelope,
        }))
        .unwrap()
    }

    /// The leaf's public key (PKIX PEM).
    pub(crate) fn public_pem(&self) -> String {
        public_pem(&self.key)
    }

    fn dsse_body(&self, payload: &[u8], envelope: &[u8], sig_b64: &str) -> String {
        canonical(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))},
                "signatures": [{"signature": sig_b64, "verifier": B64.encode(&self.cert_pem)}],
            },
        }))
    }

    fn annotations(&self, signature: String, bundle: String) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ANN_SIGNATURE.to_owned(), signature),
            (ANN_CERTIFICATE.to_owned(), self.cert_pem.clone()),
            (ANN_CHAIN.to_owned(), self.chain_pem.clone()),
            (ANN_BUNDLE.to_owned(), bundle),
        ])
    }
}

/// The in-toto Statement v1 cosign v3 signs for an image: subject
/// `[{digest: {sha256: <hex>}}]`, predicateType
/// `https://sigstore.dev/cosign/sign/v1`, predicate `{}`.
pub(crate) fn cosign_sign_statement(image_digest: &str) -> Value {
    let hex = image_digest.strip_prefix("sha256:").unwrap_or(image_digest);
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": hex}}],
        "predicateType": COSIGN_SIGN_PREDICATE,
        "predicate": {},
    })
}

/// The simple-signing payload bytes exactly as cosign writes them.
pub(crate) fn simple_signing_payload(image_digest: &str, docker_reference: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{docker_reference}"}},"image":{{"docker-manifest-digest":"{image_digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// DSSE pre-authentication encoding.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// RFC 8785-style canonical JSON for the values used here (keys sorted, no
/// whitespace; strings and integers as serde_json writes them).
pub(crate) fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let fields: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

// ---- pushing legacy signature manifests into a registry ----

/// Upload `bytes` as a blob of `repo` (POST, then PUT with the digest).
pub(crate) async fn push_blob(registry_url: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let start = super::http::send(
        http::Method::POST,
        &format!("{registry_url}/v2/{repo}/blobs/uploads/"),
        &[],
    )
    .await;
    assert_eq!(start.status, 202, "start upload to {repo}");
    let location = start
        .header("location")
        .expect("upload location")
        .to_owned();
    let location = if location.starts_with('/') {
        format!("{registry_url}{location}")
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let status = super::http::put(
        &format!("{location}{sep}digest={digest}"),
        "application/octet-stream",
        bytes.to_vec(),
    )
    .await;
    assert_eq!(status, 201, "upload blob {digest} to {repo}");
    digest
}

/// PUT a manifest under `reference` (tag or digest); returns its digest.
pub(crate) async fn put_manifest(
    registry_url: &str,
    repo: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> String {
    let status = super::http::put(
        &format!("{registry_url}/v2/{repo}/manifests/{reference}"),
        media_type,
        body.to_vec(),
    )
    .await;
    assert_eq!(status, 201, "put manifest {repo}:{reference}");
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// Push `layers` as cosign does: an OCI image manifest tagged
/// `sha256-<hex>.<suffix>` (`suffix` = `sig` or `att`) for `image_digest`,
/// config `application/vnd.oci.image.config.v1+json`. Returns the
/// signature manifest's digest.
pub(crate) async fn push_legacy(
    registry_url: &str,
    repo: &str,
    image_digest: &str,
    suffix: &str,
    layers: &[LegacyLayer],
) -> String {
    let diff_ids: Vec<String> = layers.iter().map(LegacyLayer::digest).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))
    .unwrap();
    let config_digest = push_blob(registry_url, repo, &config).await;
    for layer in layers {
        push_blob(registry_url, repo, &layer.payload).await;
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": super::image::OCI_MANIFEST,
        "config": {
            "mediaType": super::image::OCI_CONFIG,
            "size": config.len(),
            "digest": config_digest,
        },
        "layers": layers.iter().map(LegacyLayer::descriptor).collect::<Vec<_>>(),
    }))
    .unwrap();
    let tag = format!("{}.{suffix}", image_digest.replace(':', "-"));
    put_manifest(
        registry_url,
        repo,
        &tag,
        super::image::OCI_MANIFEST,
        &manifest,
    )
    .await
}

// ---- keys, certificates, DER ----

/// A P-256 public key held elsewhere, for rcgen to certify.
struct ForeignP256(Vec<u8>);

impl PublicKeyData for ForeignP256 {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

fn p256_key() -> SigningKey {
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    SigningKey::from_pkcs8_der(&pair.serialize_der()).unwrap()
}

fn spki_der(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn public_pem(key: &SigningKey) -> String {
    pem("PUBLIC KEY", &spki_der(key))
}

/// ECDSA P-256 / SHA-256, ASN.1 DER.
fn sign_der(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(message);
    sig.to_der().as_bytes().to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn ca_params(cn: &str, now: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "signgate");
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    set_validity(&mut params, now - 86_400, now + 10 * 365 * 86_400);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Fulcio's extensions for `id`: .1.1 (raw issuer), .1.8 (DER issuer),
/// then the claims.
fn fulcio_extensions(id: &LeafIdentity) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let overridden = |suffix: &str| {
        id.claims
            .iter()
            .any(|(oid, _)| *oid == format!("{FULCIO_ARC}.{suffix}"))
    };
    if !overridden("1") {
        out.push((format!("{FULCIO_ARC}.1"), id.issuer.clone().into_bytes()));
    }
    if !overridden("8") {
        out.push((
            format!("{FULCIO_ARC}.8"),
            der_tlv(0x0c, id.issuer.as_bytes()),
        ));
    }
    for (oid, value) in &id.claims {
        let raw = oid
            .strip_prefix(FULCIO_ARC)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|last| last.parse::<u32>().ok())
            .is_some_and(|n| (1..=6).contains(&n));
        let content = if raw {
            value.clone().into_bytes()
        } else {
            der_tlv(0x0c, value.as_bytes())
        };
        out.push((oid.clone(), content));
    }
    out
}

/// `GeneralNames` holding one rfc822Name ([1]) or URI ([6]).
fn general_names(san: &San) -> Vec<u8> {
    let name = match san {
        San::Email(e) => der_tlv(0x81, e.as_bytes()),
        San::Uri(u) => der_tlv(0x86, u.as_bytes()),
    };
    der_tlv(0x30, &name)
}

fn parse_oid(oid: &str) -> Vec<u64> {
    oid.split('.').map(|c| c.parse().unwrap()).collect()
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The first TLV inside the outer SEQUENCE of `der` (a certificate's TBS).
fn first_tlv_inside(der: &[u8]) -> &[u8] {
    let (header, _) = tlv_lengths(der);
    let inner = &der[header..];
    let (h, len) = tlv_lengths(inner);
    &inner[..h + len]
}

/// (header length, content length) of the TLV at the start of `der`.
fn tlv_lengths(der: &[u8]) -> (usize, usize) {
    let first = der[1];
    if first < 0x80 {
        (2, first as usize)
    } else {
        let n = (first & 0x7f) as usize;
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (2 + n, len)
    }
}

// ---- RFC 6962 Merkle tree ----

fn leaf_hash(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]), leaf to root (RFC 6962 §2.1.1).
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

// ---- time ----

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Set a certificate's validity to [not_before, not_after] (Unix seconds),
/// without naming rcgen's `time` types.
fn set_validity(params: &mut CertificateParams, not_before: i64, not_after: i64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(not_before.max(0) as u64);
    params.not_after = epoch + Duration::from_secs(not_after.max(0) as u64);
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
