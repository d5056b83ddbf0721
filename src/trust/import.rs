//! `signgate trust import DIR`: an air-gapped site's trusted root, from a
//! TUF repository copy (verified offline against the bootstrap root, and
//! written into the cache directory the way a refresh writes it) or from a
//! plain `trusted_root.json`. The next start (or refresh) uses it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sigstore_tuf::{FileStore, MemoryStore, MetadataStore};

use super::source::{SourceState, LAST_GOOD, STATE};
use super::tuf;
use crate::verify::TrustRoot;

/// The largest file an import reads.
const MAX_FILE: u64 = 16 << 20;
/// The most files an import reads.
const MAX_FILES: usize = 10_000;

/// What an import wrote, for the CLI to print.
#[derive(Debug)]
pub struct Imported {
    pub name: String,
    /// `TUF repository copy (root vN, targets vM)` or `trusted_root.json`.
    pub what: String,
    pub cache: std::path::PathBuf,
}

/// Import `dir` for the source `name` into `cache/<name>`, bootstrapped
/// from `bootstrap` (a TUF `root.json`) when it is a repository copy.
pub(super) fn import(
    cache: &Path,
    name: &str,
    dir: &Path,
    bootstrap: Option<&[u8]>,
    target: &str,
) -> Result<Imported, String> {
    let cache = cache.join(name);
    let files = read_tree(dir)?;
    let is_repository = files.contains_key("timestamp.json");
    let (bytes, state, what) = if is_repository {
        let bootstrap = bootstrap.ok_or("a TUF repository copy needs a bootstrap root: give --root, or --name of a configured or embedded TUF source")?;
        let memory = MemoryStore::new();
        for (file, bytes) in &files {
            memory.store(file, bytes).map_err(|e| e.to_string())?;
        }
        let verified = tuf::run_copy(
            Arc::new(memory),
            Arc::new(FileStore::new(&cache)),
            bootstrap,
            target,
        )
        .map_err(|e| format!("the repository copy does not verify: {e}"))?;
        let what = format!(
            "TUF repository copy (root v{}, targets v{})",
            verified.root_version, verified.targets_version
        );
        let state = SourceState {
            from: "import".into(),
            root_version: Some(verified.root_version),
            targets_version: Some(verified.targets_version),
            expires: Some(verified.expires.as_second()),
            ..SourceState::default()
        };
        (verified.target, state, what)
    } else {
        let bytes = files.get(target).cloned().ok_or_else(|| {
            format!(
                "'{}' holds neither timestamp.json (a TUF repository) nor {target}",
                dir.display()
            )
        })?;
        let state = SourceState {
            from: "import".into(),
            ..SourceState::default()
        };
        (bytes, state, target.to_owned())
    };
    let json = std::str::from_utf8(&bytes).map_err(|e| format!("{target}: {e}"))?;
    TrustRoot::from_json(name, json)?;
    let store = FileStore::new(&cache);
    store.store(LAST_GOOD, &bytes).map_err(|e| e.to_string())?;
    let state = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
    store.store(STATE, &state).map_err(|e| e.to_string())?;
    Ok(Imported {
        name: name.to_owned(),
        what,
        cache,
    })
}

/// The files of `dir` and of `dir/targets`, by relative name, bounded.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    for (sub, prefix) in [(dir.to_path_buf(), ""), (dir.join("targets"), "targets/")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(|e| format!("'{}': {e}", sub.display()))?;
            let meta = entry.metadata().map_err(|e| e.to_string())?;
            if !meta.is_file() {
                continue;
            }
            if meta.len() > MAX_FILE || files.len() >= MAX_FILES {
                return Err(format!("'{}': too large", entry.path().display()));
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path())
                .map_err(|e| format!("'{}': {e}", entry.path().display()))?;
            files.insert(format!("{prefix}{name}"), bytes);
        }
    }
    Ok(files)
}
