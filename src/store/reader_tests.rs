//! The export reader against hostile trees on a real filesystem.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::store::Store;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A small valid export, written by the store itself: one tagged manifest
/// and its layer.
async fn export(dir: &Path) -> (Digest, Digest) {
    let store = Store::open(dir, u64::MAX).unwrap();
    let layer = Bytes::from_static(b"layer bytes");
    let layer_d = Digest::sha256_of(&layer);
    store.put_blob(&layer_d, layer).await.unwrap();
    let manifest = Bytes::from(format!(
        r#"{{"schemaVersion":2,"layers":[{{"mediaType":"x","digest":"{layer_d}","size":11}}]}}"#
    ));
    let manifest_d = Digest::sha256_of(&manifest);
    store.put_blob(&manifest_d, manifest.clone()).await.unwrap();
    store
        .set_tag(
            &"registry.test".parse().unwrap(),
            &"team/app".parse().unwrap(),
            &"v1".parse().unwrap(),
            Descriptor {
                media_type: OCI_MANIFEST.into(),
                digest: manifest_d.clone(),
                size: manifest.len() as u64,
                annotations: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
    (manifest_d, layer_d)
}

/// Every path under `dir` with its type, size and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut queue = vec![dir.to_path_buf()];
    while let Some(d) = queue.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                queue.push(e.path());
            }
            out.push((
                e.path(),
                format!("{:?}", m.file_type()),
                m.len(),
                m.modified().ok(),
            ));
        }
    }
    out.sort();
    out
}

fn refusal(dir: &Path) -> String {
    match ExportReader::open(dir) {
        Ok(_) => panic!("{} was accepted", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_valid_export_is_read_without_a_single_write() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, layer) = export(dir.path()).await;
    std::fs::remove_dir(dir.path().join("tmp")).unwrap();
    let before = snapshot(dir.path());
    let reader = ExportReader::open(dir.path()).unwrap();
    let d = reader
        .resolve_tag(
            &"registry.test".parse().unwrap(),
            &"team/app".parse().unwrap(),
            &"v1".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(d.digest, manifest);
    assert!(reader.get_blob(&manifest, 4096).await.unwrap().is_some());
    assert_eq!(reader.hash_blob(&layer).await.unwrap(), Some(layer.clone()));
    assert!(reader.open_blob(&layer).await.unwrap().is_some());
    assert_eq!(reader.blob_digests().len(), 2);
    assert_eq!(
        snapshot(dir.path()),
        before,
        "nothing created, changed or removed"
    );
    assert!(!dir.path().join("tmp").exists(), "no tmp/ made");
}

#[tokio::test]
async fn a_tmp_link_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path()).await;
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("canary"), b"still here").unwrap();
    std::fs::remove_dir_all(dir.path().join("tmp")).unwrap();
    symlink(victim.path(), dir.path().join("tmp")).unwrap();
    let message = refusal(dir.path());
    assert!(
        message.contains(&format!("{}/tmp is a symbolic link", dir.path().display())),
        "{message}"
    );
    assert_eq!(
        std::fs::read(victim.path().join("canary")).unwrap(),
        b"still here"
    );
}

#[tokio::test]
async fn links_fifos_and_devices_anywhere_are_refused_all_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, layer) = export(dir.path()).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    let blobs = dir.path().join("blobs/sha256");
    let link = blobs.join(Digest::sha256_of(b"secret").hex());
    symlink(outside.path().join("secret"), &link).unwrap();
    let fifo = blobs.join(Digest::sha256_of(b"fifo").hex());
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let nested = dir.path().join("signgate/policies");
    std::fs::create_dir_all(&nested).unwrap();
    symlink("/etc/passwd", nested.join("p.yaml")).unwrap();
    let started = Instant::now();
    let message = refusal(dir.path());
    assert!(started.elapsed() < Duration::from_secs(5));
    for (path, kind) in [
        (&link, "symbolic link"),
        (&fifo, "FIFO"),
        (&nested.join("p.yaml"), "symbolic link"),
    ] {
        assert!(
            message.contains(&format!("{} is a {kind}", path.display())),
            "{message}"
        );
    }
    assert!(message.contains("nothing of it was read"), "{message}");
    // The layer beside them was never the problem.
    assert!(!message.contains(layer.hex()), "{message}");
    let null = dir.path().join("null");
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_file(nested.join("p.yaml")).unwrap();
    // A character device (/dev/null's numbers; the suite runs as root).
    let made = std::process::Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success(), "mknod needs root, as the e2e suite does");
    let message = refusal(dir.path());
    assert!(
        message.contains(&format!("{} is a character device", null.display())),
        "{message}"
    );
    std::fs::remove_file(&null).unwrap();
    assert!(ExportReader::open(dir.path()).is_ok());
}

#[tokio::test]
async fn the_export_root_itself_must_not_be_a_link() {
    let dir = tempfile::tempdir().unwrap();
    export(&dir.path().join("real")).await;
    symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    let message = refusal(&dir.path().join("link"));
    assert!(message.contains("is a symbolic link"), "{message}");
    assert!(ExportReader::open(&dir.path().join("real")).is_ok());
}

#[tokio::test]
async fn whole_reads_are_bounded_and_re_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, layer) = export(dir.path()).await;
    let reader = ExportReader::open(dir.path()).unwrap();
    let err = reader.get_blob(&layer, 4).await.unwrap_err();
    assert!(err.to_string().contains("more than the 4 allowed"), "{err}");
    // Altered after the check (same size): refused, never returned.
    let path = dir.path().join("blobs/sha256").join(manifest.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = b'[';
    std::fs::write(&path, &bytes).unwrap();
    let err = reader.get_blob(&manifest, 4096).await.unwrap_err();
    assert!(err.to_string().contains("not to its name"), "{err}");
    assert_eq!(
        reader
            .get_blob(&Digest::sha256_of(b"absent"), 9)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn blobs_hold_only_digest_named_files() {
    for junk in ["blobs/sha256/not-a-digest", "blobs/md5/00", "blobs/stray"] {
        let dir = tempfile::tempdir().unwrap();
        export(dir.path()).await;
        let path = dir.path().join(junk);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"junk").unwrap();
        let message = refusal(dir.path());
        assert!(
            message.contains(&path.display().to_string()) && message.contains("not a blob name"),
            "{junk}: {message}"
        );
    }
}
