//! A real RFC 3161 timestamp authority: OpenSSL's `openssl ts -reply`,
//! with a TSA certificate (critical `timeStamping` EKU) under a test root,
//! both made by the `openssl` CLI (shared TOOLS.md, "Timestamp
//! authorities"). [`Tsa::timestamp`] answers a query for some bytes with
//! the DER `TimeStampResp` a sigstore bundle carries in
//! `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

/// One TSA: its root, its signing certificate and key, in a directory of
/// its own.
pub(crate) struct Tsa {
    dir: tempfile::TempDir,
    name: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(b64).unwrap()
}

impl Tsa {
    /// A fresh TSA named `name` (P-256 root valid ten years, TSA
    /// certificate one year, both from now).
    pub(crate) fn new(name: &str) -> Tsa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        )
        .unwrap();
        std::fs::write(d.join("serial"), "01\n").unwrap();
        std::fs::write(
            d.join("tsa.cnf"),
            format!(
                "[tsa]\ndefault_tsa = tsa_config1\n[tsa_config1]\nserial = {}\ncrypto_device = builtin\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\nother_policies = 1.2.3.4.5\ndigests = sha256\naccuracy = secs:1\nordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                d.join("serial").display()
            ),
        )
        .unwrap();
        let root_subject = format!("/O=signgate/CN={name}-root");
        let subject = format!("/O=signgate/CN={name}");
        for args in [
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "root.key",
            ][..],
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "root.key",
                "-subj",
                &root_subject,
                "-days",
                "3650",
                "-out",
                "root.pem",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "tsa.key",
            ],
            &[
                "req", "-new", "-key", "tsa.key", "-subj", &subject, "-out", "tsa.csr",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                "2",
                "-days",
                "365",
                "-extfile",
                "ext.cnf",
                "-out",
                "tsa.pem",
            ],
        ] {
            openssl(d, args);
        }
        Tsa {
            dir,
            name: name.to_owned(),
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The DER `TimeStampResp` for `data` (imprint sha256 of `data`, the
    /// TSA certificate included), as `openssl ts -reply` writes it.
    pub(crate) fn timestamp(&self, data: &[u8]) -> Vec<u8> {
        let n = crate::support::free_port();
        let (data_file, query, reply) = (
            format!("data-{n}.bin"),
            format!("q-{n}.tsq"),
            format!("r-{n}.tsr"),
        );
        std::fs::write(self.path(&data_file), data).unwrap();
        openssl(
            self.dir.path(),
            &[
                "ts", "-query", "-data", &data_file, "-sha256", "-cert", "-out", &query,
            ],
        );
        openssl(
            self.dir.path(),
            &[
                "ts",
                "-reply",
                "-queryfile",
                &query,
                "-inkey",
                "tsa.key",
                "-signer",
                "tsa.pem",
                "-chain",
                "root.pem",
                "-config",
                "tsa.cnf",
                "-out",
                &reply,
            ],
        );
        std::fs::read(self.path(&reply)).unwrap()
    }

    /// TSA certificate then root (PEM): cosign's
    /// `--timestamp-certificate-chain`.
    pub(crate) fn chain_pem(&self) -> String {
        ["tsa.pem", "root.pem"]
            .iter()
            .map(|f| std::fs::read_to_string(self.path(f)).unwrap())
            .collect()
    }

    /// TSA certificate then root (DER).
    pub(crate) fn chain_der(&self) -> Vec<Vec<u8>> {
        ["tsa.pem", "root.pem"]
            .iter()
            .map(|f| pem_to_der(&std::fs::read_to_string(self.path(f)).unwrap()))
            .collect()
    }

    /// This TSA as a `trusted_root.json` `timestampAuthorities[]` entry,
    /// trusted for `valid_for` (`{"start": …, "end": …}`).
    pub(crate) fn authority(&self, valid_for: Value) -> Value {
        json!({
            "subject": {"organization": "signgate", "commonName": self.name},
            "uri": format!("https://{}.signgate.test", self.name),
            "certChain": {"certificates": self
                .chain_der()
                .iter()
                .map(|d| json!({"rawBytes": B64.encode(d)}))
                .collect::<Vec<_>>()},
            "validFor": valid_for,
        })
    }
}
