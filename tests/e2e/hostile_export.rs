//! Hostile export directories (issue 10, class 3), end to end with the real
//! binary: a real registry, images signed with the real cosign, exported
//! by `signgate mirror`, then altered the way whoever hands an export to a
//! site could alter it before `signgate mirror import` reads it.
//!
//! What must hold: the export is only ever read (read-only media work, a
//! link planted in it redirects nothing), anything in it that is not a
//! directory or a regular file refuses it whole naming the path, before
//! anything is copied and without waiting on a FIFO; only what verified
//! reaches the site's store, signature tags only as material of an
//! admitted image; the exit code says something was refused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::cosign::KeyPair;
use crate::support::image::{self, Layout};
use crate::support::registry::{Registry, RegistryAuth};

/// A pristine export of two signed images, made once; tests alter copies.
struct Exported {
    _work: tempfile::TempDir,
    export: PathBuf,
    key: KeyPair,
    /// Never signs anything: policies naming it refuse.
    stranger: KeyPair,
}

fn exported() -> &'static Exported {
    static EXPORTED: OnceLock<Exported> = OnceLock::new();
    EXPORTED.get_or_init(|| {
        let registry = Registry::start(RegistryAuth::None);
        let host = registry.host();
        let work = tempfile::tempdir().unwrap();
        let (key, stranger) = (KeyPair::generate(), KeyPair::generate());
        for repo in ["mir/app", "mir/other"] {
            let dir = work.path().join(repo.replace('/', "-"));
            let mut layout = Layout::new(&dir);
            let m = layout.image(
                "amd64",
                &[
                    ("c.txt", repo.as_bytes()),
                    ("n.bin", &image::noise(64 * 1024, repo.len() as u64)),
                ],
            );
            layout.tag(&m, "v1");
            image::push(&dir, "v1", &format!("{host}/{repo}:v1"), None);
            key.sign(&format!("{host}/{repo}@{}", m.digest), false);
        }
        let policies = work.path().join("export-policies");
        write_policies(&policies, &key, &key);
        let config = work.path().join("export.yaml");
        std::fs::write(
            &config,
            format!(
                "upstreams:\n  - name: registry.test\n    url: \"{}\"\n    insecure: true\n    default: true\npolicies: {}\nno-match-policy: deny\n",
                registry.url(),
                policies.display()
            ),
        )
        .unwrap();
        let export = work.path().join("export");
        let (code, out, _) = signgate(&[
            "mirror",
            "--config",
            config.to_str().unwrap(),
            "--to",
            export.to_str().unwrap(),
            "registry.test/mir/app:v1",
            "registry.test/mir/other:v1",
        ]);
        assert_eq!(code, Some(0), "{out}");
        assert!(export.join("tmp").is_dir(), "an export has a tmp/ to abuse");
        registry.stop();
        Exported {
            _work: work,
            export,
            key,
            stranger,
        }
    })
}

/// Policies for the site: `app` must be signed by `app_key`, `other` by
/// `other_key`.
fn write_policies(dir: &Path, app_key: &KeyPair, other_key: &KeyPair) {
    std::fs::create_dir_all(dir).unwrap();
    let key = |k: &KeyPair| -> String {
        k.public_pem()
            .lines()
            .map(|l| format!("          {l}\n"))
            .collect()
    };
    let policy = |name: &str, glob: &str, k: &KeyPair| {
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: {name}}}\nspec:\n  images: [{{glob: \"{glob}\"}}]\n  authorities:\n    - key:\n        data: |\n{}",
            key(k)
        )
    };
    std::fs::write(
        dir.join("policies.yaml"),
        format!(
            "{}---\n{}",
            policy("app", "registry.test/mir/app", app_key),
            policy("other", "registry.test/mir/other", other_key)
        ),
    )
    .unwrap();
}

/// A site: offline, its own policies, its own store; the upstream is a
/// port nothing listens on.
struct Site {
    config: PathBuf,
    store: PathBuf,
}

fn site(dir: &Path, app_key: &KeyPair, other_key: &KeyPair) -> Site {
    std::fs::create_dir_all(dir).unwrap();
    let policies = dir.join("policies");
    write_policies(&policies, app_key, other_key);
    let store = dir.join("store");
    let config = dir.join("site.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams:\n  - name: registry.test\n    url: \"http://127.0.0.1:9\"\n    insecure: true\n    default: true\npolicies: {}\nno-match-policy: deny\nmode: offline\nstore:\n  path: {}\n",
            policies.display(),
            store.display()
        ),
    )
    .unwrap();
    Site { config, store }
}

/// Run the signgate binary; exit code, output, and how long it took. A
/// run longer than 30 s is killed and fails the test (a hang).
fn signgate(args: &[&str]) -> (Option<i32>, String, Duration) {
    run(Command::new(env!("CARGO_BIN_EXE_signgate")).args(args))
}

fn run(command: &mut Command) -> (Option<i32>, String, Duration) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::from(out.reopen().unwrap()))
        .stderr(Stdio::from(out.reopen().unwrap()))
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{command:?} hung for 30 s: {}",
                std::fs::read_to_string(out.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        std::fs::read_to_string(out.path()).unwrap(),
        started.elapsed(),
    )
}

fn import(export: &Path, site: &Site) -> (Option<i32>, String, Duration) {
    signgate(&[
        "mirror",
        "import",
        export.to_str().unwrap(),
        "--config",
        site.config.to_str().unwrap(),
    ])
}

/// A copy of the pristine export to alter.
fn copy_of_export(dir: &Path) -> PathBuf {
    let to = dir.join("export");
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(&exported().export)
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success());
    to
}

/// The blob names in a store, and its index.json ("" before it exists).
fn contents(store: &Path) -> (BTreeSet<String>, String) {
    let blobs = std::fs::read_dir(store.join("blobs/sha256"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let index = std::fs::read_to_string(store.join("index.json")).unwrap_or_default();
    (blobs, index)
}

fn index_of(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

/// The index entry named `name`, if any.
fn entry<'a>(index: &'a Value, name: &str) -> Option<&'a Value> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
}

fn names(index: &Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// Every digest the export's root `name` reaches (its manifest, config,
/// layers), as hex.
fn closure(export: &Path, name: &str) -> BTreeSet<String> {
    let index = index_of(export);
    let root = entry(&index, name).unwrap_or_else(|| panic!("{name} in the export"));
    let digest = root["digest"].as_str().unwrap().to_owned();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_owned();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(export.join("blobs/sha256").join(hex(&digest))).unwrap(),
    )
    .unwrap();
    let mut out = BTreeSet::from([hex(&digest)]);
    for d in std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
        .filter_map(|d| d["digest"].as_str())
    {
        if export.join("blobs/sha256").join(hex(d)).exists() {
            out.insert(hex(d));
        }
    }
    out
}

fn sig_name(export: &Path, repo: &str) -> String {
    let index = index_of(export);
    let digest = entry(&index, &format!("registry.test/{repo}:v1")).unwrap()["digest"]
        .as_str()
        .unwrap()
        .replace(':', "-");
    format!("registry.test/{repo}:{digest}.sig")
}

/// Every path under `dir` with its type, size, mode and mtime.
fn snapshot(dir: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(dir)
        .args(["-printf", "%p %y %s %m %T@\n"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn an_export_on_read_only_media_imports_and_is_never_written() {
    let e = exported();
    let work = tempfile::tempdir().unwrap();
    let export = copy_of_export(work.path());
    let site = site(&work.path().join("site"), &e.key, &e.key);
    let before = snapshot(&export);
    // The export mounted read-only (a bind mount in a private mount
    // namespace): a write of any kind would fail the import.
    let (code, out, _) = run(Command::new("unshare").args([
        "-m",
        "sh",
        "-c",
        r#"mount --bind -o ro "$0" "$0" && exec "$1" mirror import "$0" --config "$2""#,
        export.to_str().unwrap(),
        env!("CARGO_BIN_EXE_signgate"),
        site.config.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("imported 2 image(s), refused 0"), "{out}");
    assert_eq!(snapshot(&export), before, "the export was changed");
    let index = index_of(&site.store);
    for repo in ["mir/app", "mir/other"] {
        let image = entry(&index, &format!("registry.test/{repo}:v1")).unwrap();
        assert!(image["annotations"]["dev.signgate.verified-at"].is_string());
        let name = sig_name(&export, repo);
        let sig = entry(&index, &name).unwrap_or_else(|| panic!("{name}: {:?}", names(&index)));
        assert_eq!(
            sig["annotations"]["dev.signgate.material-of"], image["digest"],
            "{sig}"
        );
        assert!(sig["annotations"].get("dev.signgate.verified-at").is_none());
    }
    // Sanity of the mechanism: the same mount refuses a write.
    let (code, _, _) = run(Command::new("unshare").args([
        "-m",
        "sh",
        "-c",
        r#"mount --bind -o ro "$0" "$0" && touch "$0/written""#,
        export.to_str().unwrap(),
    ]));
    assert_ne!(code, Some(0));
    assert!(!export.join("written").exists());
}

#[test]
fn a_tmp_link_is_refused_before_anything_and_its_target_survives() {
    let e = exported();
    let work = tempfile::tempdir().unwrap();
    let site = site(&work.path().join("site"), &e.key, &e.key);
    let (code, out, _) = import(&e.export, &site);
    assert_eq!(code, Some(0), "{out}");
    let before = contents(&site.store);

    let export = copy_of_export(&work.path().join("hostile"));
    let victim = work.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("canary"), b"must survive").unwrap();
    std::fs::remove_dir_all(export.join("tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, export.join("tmp")).unwrap();
    let (code, out, _) = import(&export, &site);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("{}/tmp is a symbolic link", export.display()))
            && out.contains("nothing of it was read"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(victim.join("canary")).unwrap(),
        b"must survive"
    );
    assert_eq!(contents(&site.store), before, "the site's store changed");
}

#[test]
fn a_blob_linked_to_a_file_outside_is_refused_and_not_copied() {
    let e = exported();
    let work = tempfile::tempdir().unwrap();
    let export = copy_of_export(&work.path().join("hostile"));
    // The biggest layer moves out; a link to it, content intact (it would
    // hash to its name), takes its place.
    let app = closure(&export, "registry.test/mir/app:v1");
    let layer = app
        .iter()
        .max_by_key(|h| {
            std::fs::metadata(export.join("blobs/sha256").join(h.as_str()))
                .unwrap()
                .len()
        })
        .unwrap()
        .clone();
    let blob = export.join("blobs/sha256").join(&layer);
    let outside = work.path().join("outside");
    std::fs::rename(&blob, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &blob).unwrap();
    let site = site(&work.path().join("site"), &e.key, &e.key);
    let (code, out, _) = import(&export, &site);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("{} is a symbolic link", blob.display())),
        "{out}"
    );
    let (blobs, index) = contents(&site.store);
    assert!(blobs.is_empty() && index.is_empty(), "{blobs:?} {index}");
    assert!(outside.is_file());
}

#[test]
fn a_fifo_among_the_blobs_is_refused_within_seconds() {
    let e = exported();
    let work = tempfile::tempdir().unwrap();
    let export = copy_of_export(&work.path().join("hostile"));
    let fifo = export
        .join("blobs/sha256")
        .join(image::sha256(b"no writer will ever come").trim_start_matches("sha256:"));
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let site = site(&work.path().join("site"), &e.key, &e.key);
    let (code, out, took) = import(&export, &site);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("{} is a FIFO", fifo.display())),
        "{out}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    eprintln!("NOTE: the export with a FIFO was refused in {took:?}");
    assert!(contents(&site.store).0.is_empty());
}

#[test]
fn a_signature_tag_of_a_digest_never_admitted_is_not_a_root() {
    let e = exported();
    let work = tempfile::tempdir().unwrap();
    let export = copy_of_export(&work.path().join("hostile"));
    // Two unverified `sha256-<hex>.sig` roots pointing at the app's real
    // signature manifest: one plain, one claiming (by the export's own
    // annotation) to be material of the admitted app.
    let mut index = index_of(&export);
    let app_digest = entry(&index, "registry.test/mir/app:v1").unwrap()["digest"].clone();
    let real_sig = entry(&index, &sig_name(&export, "mir/app"))
        .unwrap()
        .clone();
    let mut bogus = Vec::new();
    for (n, claim) in [(1, None), (2, Some(app_digest))] {
        let subject = image::sha256(format!("never admitted {n}").as_bytes());
        let name = format!("registry.test/mir/app:{}.sig", subject.replace(':', "-"));
        let mut root = real_sig.clone();
        root["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        if let Some(claim) = claim {
            root["annotations"]["dev.signgate.material-of"] = claim;
        }
        index["manifests"].as_array_mut().unwrap().push(root);
        bogus.push(name);
    }
    std::fs::write(
        export.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let site = site(&work.path().join("site"), &e.key, &e.key);
    let (code, out, _) = import(&export, &site);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("imported 2 image(s), refused 2"), "{out}");
    let stored = index_of(&site.store);
    for name in &bogus {
        assert!(
            out.contains(&format!("refused  {name}: signature material of"))
                && out.contains("which no admitted image of this export is"),
            "{out}"
        );
        assert!(entry(&stored, name).is_none(), "{name} became a root");
    }
    assert!(entry(&stored, &sig_name(&export, "mir/app")).is_some());
}

#[test]
fn a_refused_image_leaves_nothing_of_it_in_the_site_store() {
    let e = exported();
    let work = tempfile::tempdir().unwrap();
    // This site trusts the key for the app only.
    let site = site(&work.path().join("site"), &e.key, &e.stranger);
    let (code, out, _) = import(&e.export, &site);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("imported 1 image(s), refused 2"), "{out}");
    assert!(
        out.contains("refused  registry.test/mir/other:v1") && out.contains("untrusted key"),
        "{out}"
    );
    let other_sig = sig_name(&e.export, "mir/other");
    assert!(out.contains(&format!("refused  {other_sig}")), "{out}");
    let (blobs, _) = contents(&site.store);
    let app = closure(&e.export, "registry.test/mir/app:v1");
    let app_sig = closure(&e.export, &sig_name(&e.export, "mir/app"));
    let other: BTreeSet<String> = closure(&e.export, "registry.test/mir/other:v1")
        .union(&closure(&e.export, &other_sig))
        .filter(|d| !app.contains(*d) && !app_sig.contains(*d))
        .cloned()
        .collect();
    assert!(!other.is_empty());
    for d in &other {
        assert!(!blobs.contains(d), "{d} of the refused image was kept");
    }
    assert_eq!(
        blobs,
        app.union(&app_sig).cloned().collect::<BTreeSet<_>>(),
        "exactly what was admitted"
    );
    let index = index_of(&site.store);
    assert!(
        names(&index).iter().all(|n| !n.contains("mir/other")),
        "{:?}",
        names(&index)
    );

    // A site that trusts neither: the whole import is refused and the
    // store is exactly as it was.
    let before = contents(&site.store);
    write_policies(&work.path().join("site/policies"), &e.stranger, &e.stranger);
    let (code, out, _) = import(&e.export, &site);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("imported 0 image(s), refused 4"), "{out}");
    assert_eq!(contents(&site.store), before);
}
