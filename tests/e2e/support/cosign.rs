//! The real cosign (2.5, from Debian trixie): key pairs, signing by digest
//! into the test registry, and `cosign verify` as the reference verdict.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::sigstore_ca::TestSigstore;

pub(crate) const PASSWORD: &str = "signgate-test";

/// The cosign binary: `$COSIGN`, else fetched once by `tests/tools/fetch-deb`.
pub(crate) fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("COSIGN") {
            return PathBuf::from(path);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/fetch-deb");
        let out = Command::new(script)
            .args(["trixie", "cosign", "usr/bin/cosign"])
            .output()
            .expect("tests/tools/fetch-deb runs");
        assert!(
            out.status.success(),
            "fetching cosign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

fn cosign(dir: &Path, args: &[&str]) -> (bool, String) {
    cosign_with(dir, args, &[])
}

/// Run cosign in `dir` (its HOME and TUF root too, so nothing outside is read).
pub(crate) fn cosign_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(binary())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("HOME", dir)
        .env("TUF_ROOT", dir.join(".sigstore"))
        .output()
        .expect("cosign runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A cosign key pair in its own directory.
pub(crate) struct KeyPair {
    pub dir: tempfile::TempDir,
}

impl KeyPair {
    pub(crate) fn generate() -> KeyPair {
        let dir = tempfile::tempdir().unwrap();
        let (ok, out) = cosign(dir.path(), &["generate-key-pair"]);
        assert!(ok, "cosign generate-key-pair: {out}");
        KeyPair { dir }
    }

    pub(crate) fn public_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cosign.pub")).unwrap()
    }

    /// `cosign sign --key … --tlog-upload=false` by digest; `recursive`
    /// also signs each child of an index.
    pub(crate) fn sign(&self, image_by_digest: &str, recursive: bool) {
        self.sign_with(image_by_digest, recursive, &[]);
    }

    /// Sign with the signature stored in another repository
    /// (`COSIGN_REPOSITORY`).
    pub(crate) fn sign_into(&self, image_by_digest: &str, signature_repository: &str) {
        self.sign_with(
            image_by_digest,
            false,
            &[("COSIGN_REPOSITORY", signature_repository)],
        );
    }

    fn sign_with(&self, image_by_digest: &str, recursive: bool, env: &[(&str, &str)]) {
        let mut args = vec![
            "sign",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--allow-http-registry",
            "--yes",
        ];
        if recursive {
            args.push("--recursive");
        }
        args.push(image_by_digest);
        let (ok, out) = cosign_with(self.dir.path(), &args, env);
        assert!(ok, "cosign sign {image_by_digest} {env:?}: {out}");
    }

    /// `cosign verify` looking for signatures in another repository.
    pub(crate) fn verify_from(&self, image: &str, signature_repository: &str) -> (bool, String) {
        self.verify_with(image, &[("COSIGN_REPOSITORY", signature_repository)])
    }

    /// The reference verdict: `cosign verify --key … --insecure-ignore-tlog`.
    pub(crate) fn verify(&self, image: &str) -> (bool, String) {
        self.verify_with(image, &[])
    }

    fn verify_with(&self, image: &str, env: &[(&str, &str)]) -> (bool, String) {
        let args = [
            "verify",
            "--key",
            "cosign.pub",
            "--insecure-ignore-tlog",
            "--allow-http-registry",
            image,
        ];
        cosign_with(self.dir.path(), &args, env)
    }
}

/// What `cosign verify` is told to trust: CA chain, Rekor key, CT log key.
pub(crate) struct Trust {
    pub chain: String,
    pub rekor: String,
    pub ctlog: String,
}

impl Trust {
    pub(crate) fn of(ts: &TestSigstore) -> Trust {
        Trust {
            chain: ts.ca_chain_pem(),
            rekor: ts.rekor_public_pem(),
            ctlog: ts.ctlog_public_pem().unwrap(),
        }
    }
}

/// `cosign verify` offline and in full (chain, SCT, SET) against `trust`.
pub(crate) fn cosign_verify(
    trust: &Trust,
    dir: &Path,
    reference: &str,
    identity: &str,
    issuer: &str,
    extra: &[&str],
) -> (bool, String) {
    std::fs::write(dir.join("chain.pem"), &trust.chain).unwrap();
    std::fs::write(dir.join("rekor.pub"), &trust.rekor).unwrap();
    std::fs::write(dir.join("ctlog.pub"), &trust.ctlog).unwrap();
    let rekor = dir.join("rekor.pub");
    let ctlog = dir.join("ctlog.pub");
    let mut args = vec![
        "verify",
        "--certificate-chain",
        "chain.pem",
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        "--allow-http-registry",
    ];
    args.extend_from_slice(extra);
    args.push(reference);
    cosign_with(
        dir,
        &args,
        &[
            ("SIGSTORE_REKOR_PUBLIC_KEY", rekor.to_str().unwrap()),
            ("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", ctlog.to_str().unwrap()),
        ],
    )
}
