//! The air-gap round trip: `signgate mirror` exports signed images (a cosign
//! key, and keyless with the test Fulcio/Rekor) with their signatures from
//! the real registry into a directory; the registry goes away; `signgate
//! mirror import` re-verifies the export offline into a fresh store; a
//! signgate in offline mode serves it to skopeo and containerd, contacting
//! nothing (a sentinel listener stands where the upstream was configured and
//! must see no connection). A tampered blob or signature in the export is
//! refused at import with the path or reason named.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::support::containerd::{hosts_dir, Containerd};
use crate::support::cosign::KeyPair;
use crate::support::image::{self, sha256, try_skopeo, Layout};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::Signgate;
use crate::support::sigstore_ca::{push_legacy, LeafIdentity, TestSigstore};

fn signgate(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn policies(dir: &Path, key_pem: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let key: String = key_pem
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    std::fs::write(
        dir.join("policies.yaml"),
        format!(
            r#"apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: release-key}}
spec:
  images: [{{glob: "registry.test/mir/app"}}, {{glob: "registry.test/mir/multi"}}, {{glob: "registry.test/mir/unsigned"}}]
  authorities:
    - key:
        data: |
{key}---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {{name: release-keyless}}
spec:
  images: [{{glob: "registry.test/mir/keyless"}}]
  authorities:
    - keyless:
        trustRootRef: test
        identities: [{{issuer: "https://issuer.example.test", subject: "builder@example.test"}}]
"#
        ),
    )
    .unwrap();
}

/// A config for registry.test at `url`; offline ones carry a store.
fn config(dir: &Path, url: &str, offline: Option<&Path>) -> PathBuf {
    let mut yaml = format!(
        "upstreams:\n  - name: registry.test\n    url: \"{url}\"\n    insecure: true\n    default: true\npolicies: {}\nno-match-policy: deny\ntrust:\n  roots:\n    test: {}\n",
        dir.join("policies").display(),
        dir.join("trusted_root.json").display()
    );
    if let Some(store) = offline {
        yaml.push_str(&format!(
            "mode: offline\nstore:\n  path: {}\n",
            store.display()
        ));
    }
    let path = dir.join(if offline.is_some() {
        "site.yaml"
    } else {
        "export.yaml"
    });
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The export's index root for `name` (an `org.opencontainers.image.ref.name`).
fn root<'a>(index: &'a mut Value, name: &str) -> &'a mut Value {
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} in the export"))
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_images_cross_the_air_gap_verified_on_both_sides() {
    let registry = Registry::start(RegistryAuth::None);
    let host = registry.host();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let key = KeyPair::generate();
    let ca = TestSigstore::new();
    std::fs::write(w.join("trusted_root.json"), ca.trusted_root_json()).unwrap();
    policies(&w.join("policies"), &key.public_pem());

    // The connected side: images, signed.
    let mut originals = std::collections::BTreeMap::new();
    let mut digests = std::collections::BTreeMap::new();
    for repo in ["mir/app", "mir/keyless", "mir/unsigned"] {
        let dir = w.join(repo.replace('/', "-"));
        let mut layout = Layout::new(&dir);
        let m = layout.image(
            "amd64",
            &[
                ("c.txt", repo.as_bytes()),
                ("big.bin", &image::noise(2 << 20, 3)),
            ],
        );
        layout.tag(&m, "v1");
        image::push(&dir, "v1", &format!("{host}/{repo}:v1"), None);
        originals.insert(repo, image::layout_blobs(&dir));
        digests.insert(repo, m.digest);
    }
    let dir = w.join("multi");
    let mut layout = Layout::new(&dir);
    let amd64 = layout.image("amd64", &[("arch.txt", b"multi amd64")]);
    let arm64 = layout.image("arm64", &[("arch.txt", b"multi arm64")]);
    let index = layout.index(&[(&amd64, "amd64"), (&arm64, "arm64")]);
    layout.tag(&index, "v1");
    image::push(&dir, "v1", &format!("{host}/mir/multi:v1"), None);
    key.sign(&format!("{host}/mir/app@{}", digests["mir/app"]), false);
    key.sign(&format!("{host}/mir/multi@{}", index.digest), false);
    let builder = ca.issue(&LeafIdentity::email(
        "builder@example.test",
        "https://issuer.example.test",
    ));
    let layer = builder.sign_legacy(&ca, &digests["mir/keyless"], "registry.test/mir/keyless");
    push_legacy(
        &registry.url(),
        "mir/keyless",
        &digests["mir/keyless"],
        "sig",
        &[layer],
    )
    .await;

    // Export: what the policies admit, and nothing else.
    let export = w.join("export");
    let export_config = config(w, &registry.url(), None);
    let images = [
        "registry.test/mir/app:v1",
        "registry.test/mir/multi:v1",
        "registry.test/mir/keyless:v1",
    ];
    let mut args = vec![
        "mirror",
        "--config",
        export_config.to_str().unwrap(),
        "--to",
        export.to_str().unwrap(),
    ];
    args.extend(images);
    args.push("registry.test/mir/unsigned:v1");
    let (code, out) = signgate(&args);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("exported 3 image(s)") && out.contains("refused 1"),
        "{out}"
    );
    assert!(
        out.contains("refused  registry.test/mir/unsigned:v1")
            && out.contains("no signatures found"),
        "{out}"
    );
    let record: Value =
        serde_json::from_slice(&std::fs::read(export.join("signgate/export.json")).unwrap())
            .unwrap();
    assert_eq!(record["images"].as_array().unwrap().len(), 4, "{record}");
    assert!(export.join("signgate/policies/policies.yaml").is_file());
    assert!(export
        .join("signgate/trust/test.trusted_root.json")
        .is_file());
    // Resumable: a second run (from a list file) fetches no blob again.
    std::fs::write(
        w.join("images.txt"),
        format!("# the release\n{}\n", images.join("\n")),
    )
    .unwrap();
    let (code, out) = signgate(&[
        "mirror",
        "--config",
        export_config.to_str().unwrap(),
        "--to",
        export.to_str().unwrap(),
        "--from",
        w.join("images.txt").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("exported 3 image(s) (0 bytes fetched)"),
        "{out}"
    );

    // The gap: the registry is gone.
    registry.stop();

    // A sentinel where the site's config says the upstream is.
    let sentinel = TcpListener::bind("127.0.0.1:0").unwrap();
    let sentinel_url = format!("http://{}", sentinel.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    {
        let connections = connections.clone();
        std::thread::spawn(move || {
            for _ in sentinel.incoming() {
                connections.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    // Tampered exports are refused at import.
    let bad_blob = w.join("bad-blob");
    copy_dir(&export, &bad_blob);
    let layer_hex = originals["mir/app"]
        .iter()
        .max_by_key(|(_, b)| b.len())
        .map(|(d, _)| d.trim_start_matches("sha256:").to_owned())
        .unwrap();
    let path = bad_blob.join("blobs/sha256").join(&layer_hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let bad_site = config(w, &sentinel_url, Some(&w.join("bad-store")));
    let (code, out) = signgate(&[
        "mirror",
        "import",
        bad_blob.to_str().unwrap(),
        "--config",
        bad_site.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(path.to_str().unwrap()) && out.contains("does not match its name"),
        "{out}"
    );

    let bad_sig = w.join("bad-sig");
    copy_dir(&export, &bad_sig);
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(bad_sig.join("index.json")).unwrap()).unwrap();
    let sig_name = format!(
        "registry.test/mir/app:{}.sig",
        digests["mir/app"].replace(':', "-")
    );
    let sig_root = root(&mut index, &sig_name);
    let sig_digest = sig_root["digest"].as_str().unwrap().to_owned();
    let mut sig: Value = serde_json::from_slice(
        &std::fs::read(
            bad_sig
                .join("blobs/sha256")
                .join(sig_digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    let annotation = sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut chars: Vec<char> = annotation.chars().collect();
    let n = chars.len() / 2;
    chars[n] = if chars[n] == 'A' { 'B' } else { 'A' };
    sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] =
        json!(chars.into_iter().collect::<String>());
    let forged = serde_json::to_vec(&sig).unwrap();
    let forged_digest = sha256(&forged);
    std::fs::write(
        bad_sig
            .join("blobs/sha256")
            .join(forged_digest.trim_start_matches("sha256:")),
        &forged,
    )
    .unwrap();
    sig_root["digest"] = json!(forged_digest);
    sig_root["size"] = json!(forged.len());
    std::fs::write(
        bad_sig.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let (code, out) = signgate(&[
        "mirror",
        "import",
        bad_sig.to_str().unwrap(),
        "--config",
        bad_site.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("refused  registry.test/mir/app:v1") && out.contains("untrusted key"),
        "{out}"
    );

    // The disconnected side: import into a fresh store, verified offline.
    let store = w.join("site-store");
    let site = config(w, &sentinel_url, Some(&store));
    let (code, out) = signgate(&[
        "mirror",
        "import",
        export.to_str().unwrap(),
        "--config",
        site.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("imported 3 image(s), refused 0"), "{out}");

    // Served offline, to skopeo and to containerd.
    let sg = Signgate::start_yaml(&std::fs::read_to_string(&site).unwrap());
    for (repo, all) in [
        ("mir/app", false),
        ("mir/keyless", false),
        ("mir/multi", true),
    ] {
        let dest = w.join(format!("pulled-{}", repo.replace('/', "-")));
        let mut args = vec!["copy".to_owned(), "--src-tls-verify=false".to_owned()];
        if all {
            args.push("--all".into());
        }
        args.push(format!("docker://{}/registry.test/{repo}:v1", sg.host()));
        args.push(format!("oci:{}:v1", dest.display()));
        let (ok, out) = try_skopeo(&args);
        assert!(ok, "{repo}: {out}");
        if let Some(original) = originals.get(repo) {
            assert_eq!(
                &image::layout_blobs(&dest),
                original,
                "{repo} byte-identical"
            );
        }
    }
    let (ok, _) = try_skopeo(&[
        "inspect".into(),
        "--tls-verify=false".into(),
        format!("docker://{}/registry.test/mir/unsigned:v1", sg.host()),
    ]);
    assert!(!ok, "never exported, never served");
    let containerd = Containerd::start();
    let hosts = hosts_dir(
        "registry.test",
        &format!("server = \"http://{0}\"\n\n[host.\"http://{0}\"]\n  capabilities = [\"pull\", \"resolve\"]\n", sg.host()),
    );
    let (ok, out) = containerd.pull(hosts.path(), "registry.test/mir/app:v1");
    assert!(ok, "containerd: {out}");
    // What the store cannot answer (a tag list) fails without a connection.
    let tags = crate::support::http::get(&sg.url("/v2/registry.test/mir/app/tags/list")).await;
    assert!(tags.status.is_server_error(), "{}", tags.status);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "offline signgate contacted the upstream"
    );
}
