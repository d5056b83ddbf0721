//! The service without a network: seeds, registration, unavailable roots,
//! a repository copy that does not verify.

use std::path::Path;

use super::*;

fn config(cache: Option<PathBuf>) -> TrustConfig {
    let mut config = TrustConfig::default();
    config.tuf.cache_dir = cache;
    config
}

#[test]
fn the_embedded_roots_start_from_their_seeds() {
    let trust = Trust::load(&config(None)).unwrap();
    let roots = trust.roots();
    for name in ["public-good", "github"] {
        let root = roots.get(Some(name)).unwrap();
        assert!(root.unavailable_reason().is_none(), "{name}");
        assert!(root.detail().contains("seed for TUF"), "{}", root.detail());
    }
    assert_eq!(roots.default.name(), "public-good");
    let status = trust.status();
    assert!(status
        .iter()
        .all(|s| s.tuf.as_ref().is_some_and(|t| t.from == "seed")));
}

#[test]
fn a_registered_source_gets_the_seed_of_an_embedded_mirror_or_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let trust = Trust::load(&config(Some(dir.path().to_path_buf()))).unwrap();
    let source = |mirror: &str| TufSource {
        mirror: Url::parse(mirror).unwrap(),
        root: GITHUB_ROOT.to_vec(),
        target: DEFAULT_TARGET.into(),
    };
    let gh = trust.tuf_root("gh", source("https://tuf-repo.github.com/"));
    assert!(gh.unavailable_reason().is_none());
    // Idempotent: the same source gives the same root.
    let again = trust.tuf_root("gh", source("https://tuf-repo.github.com/"));
    assert!(Arc::ptr_eq(&gh, &again));
    let corp = trust.tuf_root("corp", source("http://127.0.0.1:9/"));
    let why = corp.unavailable_reason().unwrap();
    assert!(
        why.contains("not yet fetched from http://127.0.0.1:9/"),
        "{why}"
    );
    assert!(trust.roots().named.contains_key("corp"));
}

#[test]
fn a_repository_copy_that_does_not_verify_is_refused() {
    let files = BTreeMap::from([
        ("timestamp.json".to_owned(), b"{}".to_vec()),
        ("1.root.json".to_owned(), PUBLIC_GOOD_ROOT.to_vec()),
    ]);
    let e = Trust::offline_repository("x", PUBLIC_GOOD_ROOT, files, DEFAULT_TARGET).unwrap_err();
    assert!(e.starts_with("trusted root 'x': "), "{e}");
    let e =
        Trust::offline_repository("x", b"not json", BTreeMap::new(), DEFAULT_TARGET).unwrap_err();
    assert!(e.contains("bootstrap root"), "{e}");
}

#[test]
fn an_import_of_a_plain_trusted_root_is_used_at_the_next_start() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("trusted_root.json"),
        crate::verify::trust::GITHUB,
    )
    .unwrap();
    let mut cfg = config(Some(cache.path().to_path_buf()));
    let root = dir.path().join("root.json");
    std::fs::write(&root, GITHUB_ROOT).unwrap();
    cfg.tuf.repositories.insert(
        "corp".into(),
        crate::config::TufRepositoryConfig {
            mirror: Url::parse("http://127.0.0.1:9").unwrap(),
            root,
            target: DEFAULT_TARGET.into(),
        },
    );
    let trust = Trust::load(&cfg).unwrap();
    assert!(trust
        .roots()
        .get(Some("corp"))
        .unwrap()
        .unavailable_reason()
        .is_some());
    let imported = trust.import(dir.path(), "corp", None).unwrap();
    assert_eq!(imported.what, "trusted_root.json");
    let trust = Trust::load(&cfg).unwrap();
    let corp = trust.roots().get(Some("corp")).unwrap();
    assert!(corp.unavailable_reason().is_none());
    assert!(
        corp.detail().contains("import for TUF"),
        "{}",
        corp.detail()
    );
    // Something that is not a trusted root is refused.
    std::fs::write(dir.path().join("trusted_root.json"), "{}").unwrap();
    assert!(trust.import(dir.path(), "corp", None).is_err());
}

/// The checked-in python-tuf repository (tests/fixtures/tuf), as the files
/// of a `spec.repository` tarball.
fn fixture_files() -> BTreeMap<String, Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tuf/repo");
    let mut files = BTreeMap::new();
    for (sub, prefix) in [(dir.clone(), ""), (dir.join("targets"), "targets/")] {
        for entry in std::fs::read_dir(sub).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                files.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

fn fixture_root() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tuf/root.json"))
        .unwrap()
}

#[test]
fn a_python_tuf_repository_copy_verifies_offline_and_tampering_is_refused() {
    let root =
        Trust::offline_repository("gh-copy", &fixture_root(), fixture_files(), DEFAULT_TARGET)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(root.name(), "gh-copy");
    assert!(
        root.detail()
            .contains("TUF repository copy (root v1, targets v1)"),
        "{}",
        root.detail()
    );

    // The target's bytes changed: its hash no longer matches targets.json.
    let mut files = fixture_files();
    let target = files
        .keys()
        .find(|k| k.starts_with("targets/"))
        .cloned()
        .unwrap();
    files.insert(
        target,
        crate::verify::trust::PUBLIC_GOOD.as_bytes().to_vec(),
    );
    let e =
        Trust::offline_repository("gh-copy", &fixture_root(), files, DEFAULT_TARGET).unwrap_err();
    assert!(e.contains("trusted_root.json"), "{e}");

    // targets.json re-written (a byte of its signed part): signature fails.
    let mut files = fixture_files();
    let targets = String::from_utf8(files["1.targets.json"].clone()).unwrap();
    files.insert(
        "1.targets.json".into(),
        targets
            .replacen("\"version\": 1", "\"version\": 2", 1)
            .into_bytes(),
    );
    assert!(Trust::offline_repository("gh-copy", &fixture_root(), files, DEFAULT_TARGET).is_err());

    // Another bootstrap root does not vouch for this repository.
    let e = Trust::offline_repository("gh-copy", PUBLIC_GOOD_ROOT, fixture_files(), DEFAULT_TARGET)
        .unwrap_err();
    assert!(e.starts_with("trusted root 'gh-copy': "), "{e}");

    // A target the repository does not list.
    let e = Trust::offline_repository("gh-copy", &fixture_root(), fixture_files(), "other.json")
        .unwrap_err();
    assert!(e.contains("other.json"), "{e}");
}
