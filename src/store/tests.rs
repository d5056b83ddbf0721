//! Store behaviour on a real filesystem (temp dirs), and interoperability
//! with a standard OCI layout reader (skopeo).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::oci::{Digest, Reference};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn options(budget_bytes: u64) -> StoreOptions {
    StoreOptions {
        budget_bytes,
        gc_grace: Duration::ZERO,
    }
}

fn open(dir: &Path, budget: u64) -> Store {
    Store::open_with(dir, options(budget)).unwrap()
}

fn reg() -> RegistryName {
    "registry.example:5000".parse().unwrap()
}

fn repo(s: &str) -> Repository {
    s.parse().unwrap()
}

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

fn tmp_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: Digest::sha256_of(bytes),
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
    }
}

fn desc_json(media_type: &str, bytes: &[u8]) -> String {
    format!(
        r#"{{"mediaType":"{media_type}","digest":"{}","size":{}}}"#,
        Digest::sha256_of(bytes),
        bytes.len()
    )
}

/// An image manifest referencing `config` and `layers` (and `subject`).
fn image_manifest(config: &[u8], layers: &[&[u8]], subject: Option<&[u8]>) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|l| desc_json("application/vnd.oci.image.layer.v1.tar", l))
        .collect();
    let subject = subject
        .map(|s| format!(r#","subject":{}"#, desc_json(OCI_MANIFEST, s)))
        .unwrap_or_default();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{},"layers":[{}]{subject}}}"#,
        desc_json("application/vnd.oci.image.config.v1+json", config),
        layers.join(",")
    )
    .into_bytes()
}

async fn put(store: &Store, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256_of(bytes);
    store
        .put_blob(&digest, Bytes::copy_from_slice(bytes))
        .await
        .unwrap();
    digest
}

#[test]
fn the_store_and_its_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    send_sync(&store);
    let d = Digest::sha256_of(b"");
    let desc = descriptor(OCI_MANIFEST, b"");
    send(store.put_blob(&d, Bytes::new()));
    send(store.blob_writer(&d));
    send(store.get_blob(&d));
    send(store.open_blob(&d));
    send(store.set_tag(&reg(), &repo("a"), &tag("t"), desc.clone()));
    send(store.retain(&reg(), &repo("a"), desc));
    send(store.forget(&reg(), &repo("a"), &Reference::Digest(d.clone())));
    send(store.gc());
    send(store.gc_unreferenced());
}

#[tokio::test]
async fn a_new_store_is_an_oci_layout() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(dir.path(), 0);
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"], serde_json::json!([]));
    assert!(dir.path().join("blobs/sha256").is_dir());
}

#[tokio::test]
async fn a_foreign_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"9"}"#,
    )
    .unwrap();
    let err = Store::open_with(dir.path(), options(0)).err().unwrap();
    assert!(matches!(err, StoreError::InvalidLayout { .. }), "{err}");
}

#[tokio::test]
async fn put_get_and_open_round_trip_for_sha256_and_sha512() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let data = Bytes::from_static(b"hello blob");
    let sha512: Digest = {
        let mut h = crate::oci::DigestHasher::new(crate::oci::DigestAlgorithm::Sha512);
        h.update(&data);
        h.finish()
    };
    for digest in [Digest::sha256_of(&data), sha512] {
        assert!(!store.has_blob(&digest));
        assert_eq!(store.get_blob(&digest).await.unwrap(), None);
        let first = store.put_blob(&digest, data.clone()).await.unwrap();
        let again = store.put_blob(&digest, data.clone()).await.unwrap();
        assert_eq!(
            (first, again),
            (PutOutcome::Written, PutOutcome::AlreadyPresent)
        );
        assert_eq!(store.get_blob(&digest).await.unwrap(), Some(data.clone()));
        assert_eq!(store.blob_size(&digest), Some(data.len() as u64));
        let (mut file, size) = store.open_blob(&digest).await.unwrap().unwrap();
        assert_eq!(size, data.len() as u64);
        let mut read = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut file, &mut read)
            .await
            .unwrap();
        assert_eq!(read, data);
        let path = dir
            .path()
            .join("blobs")
            .join(layout::algorithm_name(digest.algorithm()))
            .join(digest.hex());
        assert_eq!(std::fs::read(path).unwrap(), data);
    }
    assert_eq!(store.used_bytes(), 2 * data.len() as u64);
    assert!(tmp_entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_digest_mismatch_is_refused_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let claimed = Digest::sha256_of(b"what was promised");
    let err = store
        .put_blob(&claimed, Bytes::from_static(b"what arrived"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");

    let mut writer = store.blob_writer(&claimed).await.unwrap();
    assert!(writer.is_writing());
    writer.write(b"what ").await.unwrap();
    writer.write(b"arrived").await.unwrap();
    assert_eq!(tmp_entries(dir.path()).len(), 1, "writes go to tmp/");
    let err = writer.commit().await.unwrap_err();
    assert!(err.to_string().contains("refusing to store"), "{err}");

    assert!(!store.has_blob(&claimed));
    assert!(!dir.path().join("blobs/sha256").join(claimed.hex()).exists());
    assert!(tmp_entries(dir.path()).is_empty());
    assert_eq!(store.used_bytes(), 0);
    assert_eq!(store.inner.in_flight.len(), 0);
}

#[tokio::test]
async fn an_abandoned_writer_removes_its_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let digest = Digest::sha256_of(b"never finished");
    let mut writer = store.blob_writer(&digest).await.unwrap();
    writer.write(b"never").await.unwrap();
    drop(writer);
    assert!(tmp_entries(dir.path()).is_empty());
    assert!(!store.has_blob(&digest));
    // The digest is free again.
    let mut writer = store.blob_writer(&digest).await.unwrap();
    writer.write(b"never finished").await.unwrap();
    assert_eq!(writer.commit().await.unwrap(), PutOutcome::Written);
    assert!(store.has_blob(&digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_one_digest_write_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::sha256_of(&data);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, digest, data) = (store.clone(), digest.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                return store.put_blob(&digest, Bytes::from(data)).await.unwrap();
            }
            let mut writer = store.blob_writer(&digest).await.unwrap();
            for chunk in data.chunks(16 * 1024) {
                writer.write(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
            writer.commit().await.unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let written = outcomes
        .iter()
        .filter(|o| **o == PutOutcome::Written)
        .count();
    assert_eq!(written, 1, "{outcomes:?}");
    assert_eq!(store.get_blob(&digest).await.unwrap().unwrap(), data);
    assert_eq!(store.used_bytes(), data.len() as u64);
    assert!(tmp_entries(dir.path()).is_empty());
    assert_eq!(
        store.inner.in_flight.len(),
        0,
        "lock entries are cleaned up"
    );
}

#[tokio::test]
async fn a_writer_of_a_present_blob_still_checks_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let digest = put(&store, b"present").await;
    let mut writer = store.blob_writer(&digest).await.unwrap();
    assert!(!writer.is_writing());
    writer.write(b"tampered").await.unwrap();
    assert!(writer.commit().await.is_err());
    assert_eq!(
        store.get_blob(&digest).await.unwrap().unwrap(),
        &b"present"[..]
    );
}

#[tokio::test]
async fn a_corrupt_blob_is_an_error_never_wrong_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let digest = put(&store, br#"{"schemaVersion":2}"#).await;
    let path = dir.path().join("blobs/sha256").join(digest.hex());
    std::fs::write(&path, br#"{"schemaVersion":3}"#).unwrap();
    let err = store.get_blob(&digest).await.unwrap_err();
    match &err {
        StoreError::Corrupt { digest: d, .. } => assert_eq!(d, &digest),
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert!(!path.exists(), "the corrupt file is removed");
    assert!(!store.has_blob(&digest));
    assert_eq!(store.get_blob(&digest).await.unwrap(), None);
    put(&store, br#"{"schemaVersion":2}"#).await;
    assert!(store.get_blob(&digest).await.unwrap().is_some());
}

#[tokio::test]
async fn tags_and_retained_roots_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let manifest = image_manifest(b"{}", &[b"layer"], None);
    put(&store, &manifest).await;
    let desc = descriptor(OCI_MANIFEST, &manifest);
    let (r, app) = (reg(), repo("team/app"));
    store
        .set_tag(&r, &app, &tag("v1"), desc.clone())
        .await
        .unwrap();
    store.retain(&r, &app, desc.clone()).await.unwrap();
    let sig_tag = tag(&format!("{}.sig", desc.digest.to_tag_form()));
    store
        .set_tag(&r, &app, &sig_tag, desc.clone())
        .await
        .unwrap();

    let reopened = open(dir.path(), 0);
    let got = reopened.resolve_tag(&r, &app, &tag("v1")).unwrap();
    assert_eq!(
        (got.digest.clone(), got.size, got.media_type.as_str()),
        (desc.digest.clone(), desc.size, OCI_MANIFEST)
    );
    assert_eq!(
        got.annotations[REF_NAME_ANNOTATION],
        "registry.example:5000/team/app:v1"
    );
    let verified_at = &got.annotations[VERIFIED_AT_ANNOTATION];
    assert!(
        humantime::parse_rfc3339(verified_at).is_ok(),
        "{verified_at}"
    );
    assert!(reopened.resolve_tag(&r, &app, &sig_tag).is_some());
    assert!(reopened.resolve_tag(&r, &app, &tag("v2")).is_none());
    assert!(reopened
        .resolve_tag(&r, &repo("other"), &tag("v1"))
        .is_none());
    let retained = reopened.retained(&r, &app, &desc.digest).unwrap();
    assert_eq!(
        retained.annotations[REF_NAME_ANNOTATION],
        format!("registry.example:5000/team/app@{}", desc.digest)
    );
    assert_eq!(reopened.roots().len(), 3);

    // Re-tagging replaces; forgetting removes, durably.
    reopened
        .set_tag(&r, &app, &tag("v1"), desc.clone())
        .await
        .unwrap();
    assert_eq!(reopened.roots().len(), 3);
    let v1 = Reference::Tag(tag("v1"));
    assert!(reopened.forget(&r, &app, &v1).await.unwrap());
    assert!(!reopened.forget(&r, &app, &v1).await.unwrap());
    let digest_ref = Reference::Digest(desc.digest.clone());
    assert!(reopened.forget(&r, &app, &digest_ref).await.unwrap());
    let again = open(dir.path(), 0);
    assert!(again.resolve_tag(&r, &app, &tag("v1")).is_none());
    assert!(again.retained(&r, &app, &desc.digest).is_none());
    assert!(again.resolve_tag(&r, &app, &sig_tag).is_some());
    assert!(tmp_entries(dir.path()).is_empty());
}

#[tokio::test]
async fn a_tag_must_point_at_a_stored_manifest_of_the_right_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let manifest = image_manifest(b"{}", &[], None);
    let desc = descriptor(OCI_MANIFEST, &manifest);
    let err = store
        .set_tag(&reg(), &repo("a"), &tag("t"), desc.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in the store"), "{err}");
    put(&store, &manifest).await;
    let wrong_size = Descriptor {
        size: desc.size + 1,
        ..desc.clone()
    };
    let err = store
        .set_tag(&reg(), &repo("a"), &tag("t"), wrong_size)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stored size"), "{err}");
    assert!(store.roots().is_empty());
}

#[tokio::test]
async fn foreign_index_entries_are_kept_and_count_as_roots() {
    let dir = tempfile::tempdir().unwrap();
    let layer = b"foreign layer";
    let manifest = image_manifest(b"{}", &[layer], None);
    {
        let store = open(dir.path(), 0);
        put(&store, &manifest).await;
        put(&store, layer).await;
        put(&store, b"{}").await;
    }
    let foreign = format!(
        r#"{{"schemaVersion":2,"annotations":{{"x":"y"}},"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"arm64"}},"annotations":{{"{REF_NAME_ANNOTATION}":"latest"}}}}]}}"#,
        Digest::sha256_of(&manifest),
        manifest.len()
    );
    std::fs::write(dir.path().join("index.json"), foreign).unwrap();
    let store = open(dir.path(), 0);
    let other = image_manifest(b"{}", &[], None);
    put(&store, &other).await;
    store
        .set_tag(
            &reg(),
            &repo("a"),
            &tag("t"),
            descriptor(OCI_MANIFEST, &other),
        )
        .await
        .unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["annotations"]["x"], "y");
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "arm64");
    assert_eq!(
        index["manifests"][1]["annotations"][REF_NAME_ANNOTATION],
        "registry.example:5000/a:t"
    );
    let report = store.gc_unreferenced().await.unwrap();
    assert_eq!(report.removed_blobs, 0, "{report:?}");
    assert!(store.has_blob(&Digest::sha256_of(layer)));
}

/// A store holding: image `app:v1` (index → platform manifest → config +
/// 2 layers), its cosign signature tag (manifest + payload layer), a
/// referrer retained by digest whose subject is another manifest, and
/// three unreferenced blobs used in a known order.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    referenced: Vec<Digest>,
    /// Unreferenced, least recently used first.
    unreferenced: Vec<Digest>,
}

const KIB: usize = 1024;

async fn fixture(budget: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), budget);
    let (r, app) = (reg(), repo("team/app"));
    let mut referenced = Vec::new();

    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let (layer1, layer2) = (vec![1u8; 10 * KIB], vec![2u8; 10 * KIB]);
    let platform = image_manifest(&config, &[&layer1, &layer2], None);
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#,
        desc_json(OCI_MANIFEST, &platform),
        // A child that was never pulled: skipped, not an error.
        desc_json(OCI_MANIFEST, b"absent child")
    )
    .into_bytes();
    for blob in [&config, &layer1, &layer2, &platform, &index] {
        referenced.push(put(&store, blob).await);
    }
    store
        .set_tag(&r, &app, &tag("v1"), descriptor(OCI_INDEX, &index))
        .await
        .unwrap();

    let payload = br#"{"critical":{}}"#.to_vec();
    let sig = image_manifest(b"{}", &[&payload], None);
    for blob in [&payload[..], b"{}", &sig] {
        referenced.push(put(&store, blob).await);
    }
    let sig_tag = tag(&format!("{}.sig", Digest::sha256_of(&index).to_tag_form()));
    store
        .set_tag(&r, &app, &sig_tag, descriptor(OCI_MANIFEST, &sig))
        .await
        .unwrap();

    let subject = image_manifest(b"{}", &[], None);
    let referrer = image_manifest(b"{}", &[], Some(&subject));
    referenced.push(put(&store, &subject).await);
    referenced.push(put(&store, &referrer).await);
    store
        .retain(&r, &repo("team/other"), descriptor(OCI_MANIFEST, &referrer))
        .await
        .unwrap();

    let mut unreferenced = Vec::new();
    for n in 0..3u8 {
        unreferenced.push(put(&store, &vec![100 + n; 20 * KIB]).await);
    }
    // Reading the oldest makes it the most recently used.
    store.get_blob(&unreferenced[0]).await.unwrap();
    unreferenced.rotate_left(1);
    Fixture {
        _dir: dir,
        store,
        referenced,
        unreferenced,
    }
}

#[tokio::test]
async fn gc_within_budget_removes_nothing() {
    let f = fixture(u64::MAX).await;
    let used = f.store.used_bytes();
    let report = f.store.gc().await.unwrap();
    assert_eq!((report.removed_blobs, report.kept_bytes), (0, used));
    assert!(!report.over_budget_but_referenced);
}

#[tokio::test]
async fn gc_removes_unreferenced_blobs_lru_first_down_to_budget() {
    let probe = fixture(u64::MAX).await;
    let referenced_bytes: u64 = probe
        .referenced
        .iter()
        .map(|d| probe.store.blob_size(d).unwrap())
        .sum();
    // Room for what is referenced plus one 20 KiB unreferenced blob.
    let f = fixture(referenced_bytes + 20 * KIB as u64).await;
    let report = f.store.gc().await.unwrap();
    assert_eq!(report.removed_blobs, 2, "{report:?}");
    assert_eq!(report.freed_bytes, 40 * KIB as u64);
    assert_eq!(report.referenced_bytes, referenced_bytes);
    assert!(!report.over_budget_but_referenced);
    assert!(
        !f.store.has_blob(&f.unreferenced[0]),
        "least recently used goes first"
    );
    assert!(!f.store.has_blob(&f.unreferenced[1]));
    assert!(
        f.store.has_blob(&f.unreferenced[2]),
        "most recently used stays"
    );
    for d in &f.referenced {
        assert!(f.store.has_blob(d), "{d} is referenced");
    }
    assert_eq!(f.store.used_bytes(), report.kept_bytes);
}

#[tokio::test]
async fn gc_drops_every_root_when_one_image_alone_exceeds_the_budget() {
    let f = fixture(1).await;
    let report = f.store.gc().await.unwrap();
    assert_eq!(report.dropped_roots, 3, "{report:?}");
    assert!(!report.over_budget_but_referenced, "{report:?}");
    assert!(f.store.roots().is_empty());
    assert_eq!(f.store.used_bytes(), 0);
    for d in f.referenced.iter().chain(&f.unreferenced) {
        assert!(!f.store.has_blob(d), "{d} is gone");
    }
    // The disk agrees with the accounting after a reopen.
    let reopened = open(f._dir.path(), 1);
    assert_eq!(reopened.used_bytes(), 0);
    assert!(reopened.roots().is_empty());
}

#[tokio::test]
async fn gc_drops_the_least_recently_used_root_and_its_signature_first() {
    let probe = fixture(u64::MAX).await;
    let referenced_bytes: u64 = probe
        .referenced
        .iter()
        .map(|d| probe.store.blob_size(d).unwrap())
        .sum();
    // One byte short of what the roots reach.
    let f = fixture(referenced_bytes - 1).await;
    let (r, app) = (reg(), repo("team/app"));
    let index = f.store.resolve_tag(&r, &app, &tag("v1")).unwrap();
    let sig_tag = tag(&format!("{}.sig", index.digest.to_tag_form()));
    let report = f.store.gc().await.unwrap();
    assert_eq!(report.removed_blobs, 3 + 7, "{report:?}");
    assert_eq!(report.dropped_roots, 2, "{report:?}");
    assert!(f.store.used_bytes() < referenced_bytes);
    assert!(
        f.store.resolve_tag(&r, &app, &tag("v1")).is_none(),
        "least recently used"
    );
    assert!(
        f.store.resolve_tag(&r, &app, &sig_tag).is_none(),
        "goes with its image"
    );
    let referrer = &f.referenced[f.referenced.len() - 1];
    assert!(f
        .store
        .retained(&r, &repo("team/other"), referrer)
        .is_some());
    assert!(f.store.get_blob(referrer).await.unwrap().is_some());
    let reopened = open(f._dir.path(), 1);
    assert_eq!(reopened.used_bytes(), f.store.used_bytes());
    assert_eq!(reopened.roots().len(), 1);
}

/// Several pulls of signed images into a 1,000-byte store: every root
/// recorded as the proxy records them (the image, then its signature
/// material once admitted), each pull over budget on its own.
#[tokio::test]
async fn a_thousand_byte_budget_holds_after_several_pulls() {
    let dir = tempfile::tempdir().unwrap();
    // The default grace period: what GC drops it may remove at once.
    let store = Store::open(dir.path(), 1000).unwrap();
    let r = reg();
    for n in 0..5u8 {
        let app = repo(&format!("team/app{n}"));
        let layer = vec![n; 100];
        let config = format!(r#"{{"n":{n}}}"#).into_bytes();
        let manifest = image_manifest(&config, &[&layer], None);
        for blob in [&layer, &config, &manifest] {
            put(&store, blob).await;
        }
        let desc = descriptor(OCI_MANIFEST, &manifest);
        store
            .set_tag(&r, &app, &tag("v1"), desc.clone())
            .await
            .unwrap();
        let payload = format!(r#"{{"critical":{{"n":{n}}}}}"#).into_bytes();
        let sig = image_manifest(b"{}", &[&payload], None);
        let sig_tag = tag(&format!("{}.sig", desc.digest.to_tag_form()));
        let held = |digest: Digest, bytes: &[u8]| Material::Blob {
            digest,
            bytes: Bytes::copy_from_slice(bytes),
        };
        store.hold_material(&desc.digest, held(Digest::sha256_of(&payload), &payload));
        store.hold_material(&desc.digest, held(Digest::sha256_of(b"{}"), b"{}"));
        store.hold_material(
            &desc.digest,
            Material::Tagged {
                registry: r.clone(),
                repository: app.clone(),
                tag: sig_tag,
                descriptor: descriptor(OCI_MANIFEST, &sig),
                bytes: Bytes::from(sig),
            },
        );
        assert_eq!(store.commit_material(&desc.digest).await.unwrap(), 3);
        let report = store.gc().await.unwrap();
        assert!(store.used_bytes() <= 1000, "pull {n}: {report:?}");
        assert!(!report.over_budget_but_referenced, "{report:?}");
        // One pull fits: the newest image stays, with its signature.
        assert!(
            store.resolve_tag(&r, &app, &tag("v1")).is_some(),
            "pull {n}"
        );
        assert_eq!(store.roots().len(), 2, "pull {n}: {report:?}");
        if n > 0 {
            assert!(report.dropped_roots >= 2, "pull {n}: {report:?}");
        }
    }
    let on_disk: u64 = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 1000, "{on_disk} bytes on disk");
}

#[tokio::test]
async fn material_is_kept_only_for_an_admitted_subject_and_never_marked_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), u64::MAX);
    let (r, app) = (reg(), repo("team/app"));
    let admitted = image_manifest(b"{}", &[b"admitted layer"], None);
    let denied = image_manifest(b"{}", &[b"denied layer"], None);
    let (admitted_d, denied_d) = (Digest::sha256_of(&admitted), Digest::sha256_of(&denied));
    let mut sigs = Vec::new();
    for subject in [&admitted_d, &denied_d] {
        let payload = format!(r#"{{"critical":"{subject}"}}"#).into_bytes();
        let sig = image_manifest(b"{}", &[&payload], None);
        store.expect_material(subject, [Digest::sha256_of(&payload)]);
        assert_eq!(
            store.material_subjects(&Digest::sha256_of(&payload)),
            vec![subject.clone()]
        );
        store.hold_material(
            subject,
            Material::Blob {
                digest: Digest::sha256_of(&payload),
                bytes: Bytes::from(payload),
            },
        );
        let mut desc = descriptor(OCI_MANIFEST, &sig);
        // Whatever a caller passes, only the store writes its own marks.
        desc.annotations
            .insert(VERIFIED_AT_ANNOTATION.into(), "2020-01-01T00:00:00Z".into());
        store.hold_material(
            subject,
            Material::Tagged {
                registry: r.clone(),
                repository: app.clone(),
                tag: tag(&format!("{}.sig", subject.to_tag_form())),
                descriptor: desc,
                bytes: Bytes::from(sig.clone()),
            },
        );
        sigs.push(sig);
    }
    put(&store, &admitted).await;
    store
        .set_tag(&r, &app, &tag("v1"), descriptor(OCI_MANIFEST, &admitted))
        .await
        .unwrap();
    assert_eq!(store.commit_material(&admitted_d).await.unwrap(), 2);
    assert_eq!(
        store.commit_material(&admitted_d).await.unwrap(),
        0,
        "taken once"
    );
    let sig_root = store
        .resolve_tag(&r, &app, &tag(&format!("{}.sig", admitted_d.to_tag_form())))
        .unwrap();
    assert_eq!(
        sig_root.annotations[MATERIAL_OF_ANNOTATION],
        admitted_d.as_str()
    );
    assert!(
        !sig_root.annotations.contains_key(VERIFIED_AT_ANNOTATION),
        "{sig_root:?}"
    );
    assert!(store.has_blob(&Digest::sha256_of(&sigs[0])));
    // The denied digest's material never reached the disk.
    assert!(store
        .resolve_tag(&r, &app, &tag(&format!("{}.sig", denied_d.to_tag_form())))
        .is_none());
    assert!(!store.has_blob(&Digest::sha256_of(&sigs[1])));
    assert_eq!(store.roots().len(), 2);
    let image = store.resolve_tag(&r, &app, &tag("v1")).unwrap();
    assert!(image.annotations.contains_key(VERIFIED_AT_ANNOTATION));
    assert!(!image.annotations.contains_key(MATERIAL_OF_ANNOTATION));
}

#[tokio::test]
async fn forgetting_a_tag_then_collecting_removes_only_what_it_alone_reached() {
    let f = fixture(u64::MAX).await;
    let (r, app) = (reg(), repo("team/app"));
    assert!(f
        .store
        .forget(&r, &app, &Reference::Tag(tag("v1")))
        .await
        .unwrap());
    let report = f.store.gc_unreferenced().await.unwrap();
    // The index, its platform manifest, the config and two layers, and the
    // three unreferenced blobs. The signature's "{}" config is shared with
    // the referrer's, which stays retained.
    assert_eq!(report.removed_blobs, 5 + 3, "{report:?}");
    assert!(f.store.resolve_tag(&r, &app, &tag("v1")).is_none());
    for d in &f.referenced[5..] {
        assert!(f.store.has_blob(d), "{d} is still referenced");
    }
}

#[tokio::test]
async fn gc_spares_blobs_used_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 0).unwrap();
    let digest = put(&store, b"just written, not yet tagged").await;
    let report = store.gc().await.unwrap();
    assert_eq!((report.removed_blobs, report.skipped_recent), (0, 1));
    assert!(store.has_blob(&digest));
    // After a restart nothing is recent: the blob is fair game.
    drop(store);
    let store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(store.gc().await.unwrap().removed_blobs, 1);
}

#[tokio::test]
async fn gc_aborts_when_a_root_manifest_is_unreadable() {
    let f = fixture(1).await;
    let root = f
        .store
        .resolve_tag(&reg(), &repo("team/app"), &tag("v1"))
        .unwrap();
    let path = f._dir.path().join("blobs/sha256").join(root.digest.hex());
    std::fs::write(&path, b"garbage").unwrap();
    let err = f.store.gc().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    for d in &f.unreferenced {
        assert!(
            f.store.has_blob(d),
            "nothing removed by an aborted collection"
        );
    }
}

#[tokio::test]
async fn opening_cleans_temp_files_and_rebuilds_accounting() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 0);
        put(&store, &[7u8; 1000]).await;
        put(&store, &[8u8; 500]).await;
        let mut writer = store.blob_writer(&Digest::sha256_of(b"x")).await.unwrap();
        writer.write(b"partial").await.unwrap();
        std::mem::forget(writer); // as if the process died
    }
    std::fs::write(dir.path().join("blobs/sha256/not-a-digest"), b"junk").unwrap();
    assert_eq!(tmp_entries(dir.path()).len(), 1);
    let store = open(dir.path(), 0);
    assert!(tmp_entries(dir.path()).is_empty());
    assert_eq!(store.used_bytes(), 1500);
    assert!(store.has_blob(&Digest::sha256_of(&[7u8; 1000])));
}

/// The layout must be readable by a standard OCI layout reader. skopeo is
/// installed on CI; elsewhere this one check is skipped with a note.
#[tokio::test]
async fn skopeo_reads_a_tagged_image_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0);
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"hello from the store\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", &content[..])
        .unwrap();
    let layer = tar.into_inner().unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        Digest::sha256_of(&layer)
    )
    .into_bytes();
    let manifest = image_manifest(&config, &[&layer], None);
    for blob in [&layer, &config, &manifest] {
        put(&store, blob).await;
    }
    let desc = descriptor(OCI_MANIFEST, &manifest);
    store
        .set_tag(&reg(), &repo("team/app"), &tag("v1"), desc.clone())
        .await
        .unwrap();
    // A second root, so the reader must pick by name.
    let other = image_manifest(&config, &[], None);
    put(&store, &other).await;
    store
        .retain(&reg(), &repo("team/app"), descriptor(OCI_MANIFEST, &other))
        .await
        .unwrap();

    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("NOTE: skopeo is not installed; skipping the OCI layout reader check");
        return;
    }
    let reference = format!(
        "oci:{}:registry.example:5000/team/app:v1",
        dir.path().display()
    );
    let out = Command::new("skopeo")
        .args(["inspect", &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspected["Digest"], desc.digest.as_str());
    assert_eq!(inspected["Architecture"], "amd64");

    let copy = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", &reference])
        .arg(format!("dir:{}", copy.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = std::fs::read(copy.path().join(Digest::sha256_of(&layer).hex())).unwrap();
    assert_eq!(copied, layer);
}
