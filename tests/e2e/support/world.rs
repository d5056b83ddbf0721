//! The shared worlds: one plain registry and one behind token auth, each
//! filled once per test binary and shared by tests that only read.

use std::sync::OnceLock;

use super::image::{self, Blob, Layout};
use super::registry::{Registry, RegistryAuth};
use super::token::TokenService;

/// The shared plain registry and what was pushed into it.
pub(crate) struct World {
    pub registry: Registry,
    pub single: Blob,
    pub multi: Blob,
    pub multi_children: Vec<Blob>,
    pub big_manifest: Blob,
    pub big_layer: Blob,
    pub tags: Vec<String>,
    pub _layouts: tempfile::TempDir,
}

/// Size of the big layer's file: the issue's 64 MiB streaming case.
pub(crate) const BIG: usize = 64 * 1024 * 1024;

pub(crate) fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let host = registry.host();
        let layouts = tempfile::tempdir().unwrap();

        let dir = layouts.path().join("single");
        let mut layout = Layout::new(&dir);
        let single = layout.image(
            "amd64",
            &[
                ("hello.txt", b"hello from signgate's tests\n"),
                ("b.txt", b"second layer\n"),
            ],
        );
        layout.tag(&single, "v1");
        image::push(&dir, "v1", &format!("{host}/test/single:v1"), None);

        let dir = layouts.path().join("multi");
        let mut layout = Layout::new(&dir);
        let amd64 = layout.image("amd64", &[("arch.txt", b"amd64\n")]);
        let arm64 = layout.image("arm64", &[("arch.txt", b"arm64\n")]);
        let multi = layout.index(&[(&amd64, "amd64"), (&arm64, "arm64")]);
        layout.tag(&multi, "v1");
        image::push(&dir, "v1", &format!("{host}/test/multi:v1"), None);

        let dir = layouts.path().join("big");
        let mut layout = Layout::new(&dir);
        let noise = image::noise(BIG, 42);
        let big_layer = layout.blob(image::OCI_LAYER_GZIP, &image::tar_gz("noise.bin", &noise));
        let diff_id = image::sha256(&image::tar("noise.bin", &noise));
        drop(noise);
        let big_manifest =
            layout.image_with_layers("amd64", std::slice::from_ref(&big_layer), &[diff_id]);
        layout.tag(&big_manifest, "v1");
        image::push(&dir, "v1", &format!("{host}/test/big:v1"), None);

        let dir = layouts.path().join("tags");
        let mut layout = Layout::new(&dir);
        let tagged = layout.image("amd64", &[("t.txt", b"tags\n")]);
        let tags: Vec<String> = ["a1", "a2", "b1", "b2", "c1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for t in &tags {
            layout.tag(&tagged, t);
        }
        for t in &tags {
            image::push(&dir, t, &format!("{host}/test/tags:{t}"), None);
        }

        World {
            registry,
            single,
            multi,
            multi_children: vec![amd64, arm64],
            big_manifest,
            big_layer,
            tags,
            _layouts: layouts,
        }
    })
}

/// A registry behind token auth, its token service, and two pushed images:
/// `public/app:v1` (anonymous pull allowed) and `private/app:v1`.
pub(crate) struct TokenWorld {
    pub tokens: TokenService,
    pub registry: Registry,
    pub image: Blob,
    /// `private/multi:v1`, a two-platform index.
    pub multi: Blob,
    pub _layouts: tempfile::TempDir,
}

pub(crate) fn token_world() -> &'static TokenWorld {
    static WORLD: OnceLock<TokenWorld> = OnceLock::new();
    WORLD.get_or_init(|| {
        let tokens = TokenService::start();
        let realm = tokens.realm();
        let registry = Registry::start(RegistryAuth::Token {
            realm: &realm,
            service: super::token::SERVICE,
            issuer: super::token::ISSUER,
            cert_pem: &tokens.cert_pem,
        });
        let layouts = tempfile::tempdir().unwrap();
        let dir = layouts.path().join("app");
        let mut layout = Layout::new(&dir);
        let image = layout.image("amd64", &[("app.txt", b"behind token auth\n")]);
        layout.tag(&image, "v1");
        let creds = format!("{}:{}", super::token::USER, super::token::PASSWORD);
        for repo in ["public/app", "private/app"] {
            image::push(
                &dir,
                "v1",
                &format!("{}/{repo}:v1", registry.host()),
                Some(&creds),
            );
        }
        let dir = layouts.path().join("multi");
        let mut layout = Layout::new(&dir);
        let amd64 = layout.image("amd64", &[("arch.txt", b"token amd64\n")]);
        let arm64 = layout.image("arm64", &[("arch.txt", b"token arm64\n")]);
        let multi = layout.index(&[(&amd64, "amd64"), (&arm64, "arm64")]);
        layout.tag(&multi, "v1");
        image::push(
            &dir,
            "v1",
            &format!("{}/private/multi:v1", registry.host()),
            Some(&creds),
        );
        TokenWorld {
            tokens,
            registry,
            image,
            multi,
            _layouts: layouts,
        }
    })
}
