//! The signed world: one registry holding images signed (and not) with
//! the real cosign, pushed once per test binary and shared by the
//! enforcement tests.

use std::sync::OnceLock;

use http::Method;

use super::block_on;
use super::cosign::KeyPair;
use super::http::{put, send};
use super::image::{self, Blob, Layout, OCI_MANIFEST};
use super::registry::{Registry, RegistryAuth};

pub(crate) struct Signed {
    pub registry: Registry,
    pub trusted: KeyPair,
    pub other: KeyPair,
    /// repo → the manifest (or index) pushed as `:v1`.
    pub signed: Blob,
    pub unsigned: Blob,
    pub other_key: Blob,
    /// `enf/moved:v1` now points at `moved_unsigned`; `moved_signed` was
    /// signed while it held the tag.
    pub moved_signed: Blob,
    pub moved_unsigned: Blob,
    /// `enf/copied`: B carries a copy of A's signature manifest.
    pub copied_a: Blob,
    pub copied_b: Blob,
    pub corrupted: Blob,
    pub index: Blob,
    pub index_children: Vec<Blob>,
    /// Signed with `--recursive`: index and each child.
    pub recursive: Blob,
    pub recursive_children: Vec<Blob>,
    pub cache_probe: Blob,
    pub concurrent: Blob,
    /// Signed with its signature in `enf/signatures` (`COSIGN_REPOSITORY`).
    pub elsewhere: Blob,
    pub _layouts: tempfile::TempDir,
}

pub(crate) fn signed_world() -> &'static Signed {
    static WORLD: OnceLock<Signed> = OnceLock::new();
    WORLD.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let host = registry.host();
        let trusted = KeyPair::generate();
        let other = KeyPair::generate();
        let layouts = tempfile::tempdir().unwrap();
        let mut n = 0;
        let mut push = |repo: &str, tag: &str, content: &str| -> Blob {
            n += 1;
            let dir = layouts.path().join(format!("l{n}"));
            let mut layout = Layout::new(&dir);
            let m = layout.image("amd64", &[("c.txt", content.as_bytes())]);
            layout.tag(&m, tag);
            image::push(&dir, tag, &format!("{host}/{repo}:{tag}"), None);
            m
        };
        let by_digest = |repo: &str, b: &Blob| format!("{host}/{repo}@{}", b.digest);

        let signed = push("enf/signed", "v1", "signed");
        trusted.sign(&by_digest("enf/signed", &signed), false);
        let unsigned = push("enf/unsigned", "v1", "unsigned");
        let other_key = push("enf/otherkey", "v1", "other key");
        other.sign(&by_digest("enf/otherkey", &other_key), false);

        let moved_signed = push("enf/moved", "v1", "moved: signed");
        trusted.sign(&by_digest("enf/moved", &moved_signed), false);
        let moved_unsigned = push("enf/moved", "v1", "moved: unsigned");

        let copied_a = push("enf/copied", "a", "copied: A");
        trusted.sign(&by_digest("enf/copied", &copied_a), false);
        let copied_b = push("enf/copied", "b", "copied: B");
        let sig_a = raw_manifest(
            &registry,
            "enf/copied",
            &format!("{}.sig", copied_a.digest.replace(':', "-")),
        );
        put_manifest(
            &registry,
            "enf/copied",
            &format!("{}.sig", copied_b.digest.replace(':', "-")),
            sig_a,
        );

        let corrupted = push("enf/corrupted", "v1", "corrupted");
        trusted.sign(&by_digest("enf/corrupted", &corrupted), false);
        let sig_tag = format!("{}.sig", corrupted.digest.replace(':', "-"));
        let mut sig: serde_json::Value =
            serde_json::from_slice(&raw_manifest(&registry, "enf/corrupted", &sig_tag)).unwrap();
        let annotation = &mut sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"];
        let text = annotation.as_str().unwrap().to_owned();
        // Swap two base64 characters in the middle: still base64, no longer the signature.
        let mut chars: Vec<char> = text.chars().collect();
        let mid = chars.len() / 2;
        let swap = chars
            .iter()
            .skip(mid + 1)
            .position(|c| *c != chars[mid])
            .unwrap()
            + mid
            + 1;
        chars.swap(mid, swap);
        *annotation = serde_json::Value::String(chars.into_iter().collect());
        put_manifest(
            &registry,
            "enf/corrupted",
            &sig_tag,
            serde_json::to_vec(&sig).unwrap(),
        );

        let (index, index_children) = push_index(&layouts, &host, "enf/index", "index");
        trusted.sign(&by_digest("enf/index", &index), false);
        let (recursive, recursive_children) =
            push_index(&layouts, &host, "enf/recursive", "recursive");
        trusted.sign(&by_digest("enf/recursive", &recursive), true);

        let cache_probe = push("enf/cacheprobe", "v1", "cache probe");
        trusted.sign(&by_digest("enf/cacheprobe", &cache_probe), false);
        let concurrent = push("enf/concurrent", "v1", "concurrent");
        trusted.sign(&by_digest("enf/concurrent", &concurrent), false);
        let elsewhere = push("enf/elsewhere", "v1", "signature elsewhere");
        trusted.sign_into(
            &by_digest("enf/elsewhere", &elsewhere),
            &format!("{host}/enf/signatures"),
        );

        Signed {
            registry,
            trusted,
            other,
            signed,
            unsigned,
            other_key,
            moved_signed,
            moved_unsigned,
            copied_a,
            copied_b,
            corrupted,
            index,
            index_children,
            recursive,
            recursive_children,
            cache_probe,
            concurrent,
            elsewhere,
            _layouts: layouts,
        }
    })
}

fn push_index(
    layouts: &tempfile::TempDir,
    host: &str,
    repo: &str,
    name: &str,
) -> (Blob, Vec<Blob>) {
    let dir = layouts.path().join(name);
    let mut layout = Layout::new(&dir);
    let amd64 = layout.image("amd64", &[("arch.txt", format!("{name} amd64").as_bytes())]);
    let arm64 = layout.image("arm64", &[("arch.txt", format!("{name} arm64").as_bytes())]);
    let index = layout.index(&[(&amd64, "amd64"), (&arm64, "arm64")]);
    layout.tag(&index, "v1");
    image::push(&dir, "v1", &format!("{host}/{repo}:v1"), None);
    (index, vec![amd64, arm64])
}

/// A manifest's bytes as the registry stores them.
pub(crate) fn raw_manifest(registry: &Registry, repo: &str, reference: &str) -> Vec<u8> {
    let url = format!("{}/v2/{repo}/manifests/{reference}", registry.url());
    let what = format!("{repo}:{reference}");
    block_on(async move {
        let r = send(Method::GET, &url, &[("accept", OCI_MANIFEST)]).await;
        assert_eq!(r.status, 200, "{what}");
        r.body.to_vec()
    })
}

/// Push `body` as the manifest `repo:tag`.
pub(crate) fn put_manifest(registry: &Registry, repo: &str, tag: &str, body: Vec<u8>) {
    let url = format!("{}/v2/{repo}/manifests/{tag}", registry.url());
    let status = block_on(async move { put(&url, OCI_MANIFEST, body).await });
    assert_eq!(status, 201);
}
