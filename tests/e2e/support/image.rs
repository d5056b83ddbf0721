//! Test images written as OCI layouts (deterministic content, so
//! deterministic digests) and pushed with the real `skopeo`.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::json;
use sha2::Digest as _;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A blob written into a layout.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub digest: String,
    pub size: usize,
    pub media_type: String,
}

impl Blob {
    pub(crate) fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// An OCI image layout being written.
pub(crate) struct Layout<'a> {
    pub dir: &'a Path,
    refs: Vec<serde_json::Value>,
}

impl<'a> Layout<'a> {
    pub(crate) fn new(dir: &'a Path) -> Layout<'a> {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir,
            refs: Vec::new(),
        }
    }

    pub(crate) fn blob(&self, media_type: &str, bytes: &[u8]) -> Blob {
        let digest = sha256(bytes);
        let hex = digest.trim_start_matches("sha256:");
        std::fs::write(self.dir.join("blobs/sha256").join(hex), bytes).unwrap();
        Blob {
            digest,
            size: bytes.len(),
            media_type: media_type.to_owned(),
        }
    }

    /// A single-platform image with the given layer contents (each a tar.gz
    /// holding one file). Returns the manifest blob.
    pub(crate) fn image(&self, arch: &str, files: &[(&str, &[u8])]) -> Blob {
        let layers: Vec<Blob> = files
            .iter()
            .map(|(name, content)| self.blob(OCI_LAYER_GZIP, &tar_gz(name, content)))
            .collect();
        let diff_ids: Vec<String> = files
            .iter()
            .map(|(name, content)| sha256(&tar(name, content)))
            .collect();
        self.image_with_layers(arch, &layers, &diff_ids)
    }

    /// An index over per-platform manifests.
    pub(crate) fn index(&self, children: &[(&Blob, &str)]) -> Blob {
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .map(|(b, arch)| {
                let mut d = b.descriptor();
                d["platform"] = json!({"architecture": arch, "os": "linux"});
                d
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.blob(OCI_INDEX, &serde_json::to_vec(&index).unwrap())
    }

    /// Name `blob` as `tag` in index.json.
    pub(crate) fn tag(&mut self, blob: &Blob, tag: &str) {
        let mut d = blob.descriptor();
        d["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.refs.push(d);
        let index = json!({"schemaVersion": 2, "manifests": self.refs});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// A tar archive holding one file, with fixed metadata.
pub(crate) fn tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, name, content).unwrap();
    builder.into_inner().unwrap()
}

/// `tar` gzipped. Stored blocks for big inputs keep test setup fast.
pub(crate) fn tar_gz(name: &str, content: &[u8]) -> Vec<u8> {
    let level = if content.len() > 1 << 20 {
        flate2::Compression::none()
    } else {
        flate2::Compression::default()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), level);
    gz.write_all(&tar(name, content)).unwrap();
    gz.finish().unwrap()
}

/// Deterministic incompressible bytes.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `skopeo copy` an OCI layout tag (all platforms) into a registry.
pub(crate) fn push(layout: &Path, tag: &str, dest: &str, creds: Option<&str>) {
    let mut args = vec![
        "copy".to_owned(),
        "--all".to_owned(),
        "--preserve-digests".to_owned(),
        "--dest-tls-verify=false".to_owned(),
    ];
    if let Some(c) = creds {
        args.push(format!("--dest-creds={c}"));
    }
    args.push(format!("oci:{}:{tag}", layout.display()));
    args.push(format!("docker://{dest}"));
    skopeo(&args);
}

/// Run skopeo, panicking with its output on failure.
pub(crate) fn skopeo(args: &[String]) -> String {
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "--override-os", "linux"])
        .args(args)
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run skopeo and return (success, stdout + stderr).
pub(crate) fn try_skopeo(args: &[String]) -> (bool, String) {
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "--override-os", "linux"])
        .args(args)
        .output()
        .expect("skopeo runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every file of an OCI layout's blob store, by name → bytes.
pub(crate) fn layout_blobs(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

impl Layout<'_> {
    /// A single-platform image over layer blobs already written.
    /// `diff_ids` are the digests of the uncompressed layers.
    pub(crate) fn image_with_layers(
        &self,
        arch: &str,
        layers: &[Blob],
        diff_ids: &[String],
    ) -> Blob {
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = self.blob(OCI_CONFIG, &serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        self.blob(OCI_MANIFEST, &serde_json::to_vec(&manifest).unwrap())
    }
}

/// Push a one-layer image holding `content` as `repo:v1`; its digest.
pub(crate) fn push_image(
    registry: &super::registry::Registry,
    repo: &str,
    content: &str,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(dir.path());
    let m = layout.image("amd64", &[("c.txt", content.as_bytes())]);
    layout.tag(&m, "v1");
    push(
        dir.path(),
        "v1",
        &format!("{}/{repo}:v1", registry.host()),
        None,
    );
    m.digest
}
