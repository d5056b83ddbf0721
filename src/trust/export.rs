//! The TUF metadata in force, written out as a repository copy in the
//! mirror layout (`N.root.json`, `timestamp.json`, `V.snapshot.json`,
//! `V.targets.json`, `targets/<sha256>.<name>`, and the unversioned names
//! too) — what `signgate mirror export` carries across an air gap, and what
//! `signgate trust import` verifies on the other side. Nothing is trusted
//! for being copied: the importer re-verifies from its bootstrap root.

use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Copy the verified metadata a source's cache directory holds (as the
/// TUF client's `FileStore` wrote it) to `to`, in the mirror layout.
pub(super) fn repository_copy(cache: &Path, to: &Path) -> Result<(), String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    std::fs::create_dir_all(to.join("targets")).map_err(|e| io("create", to, e))?;
    let read = |name: &str| {
        let p = cache.join(name);
        std::fs::read(&p).map_err(|e| io("read", &p, e))
    };
    let write = |name: &str, bytes: &[u8]| {
        let p = to.join(name);
        std::fs::write(&p, bytes).map_err(|e| io("write", &p, e))
    };
    let history = cache.join("root_history");
    let mut roots = 0;
    for entry in std::fs::read_dir(&history).map_err(|e| io("read", &history, e))? {
        let path = entry.map_err(|e| io("read", &history, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".root.json") {
            write(
                name,
                &std::fs::read(&path).map_err(|e| io("read", &path, e))?,
            )?;
            roots += 1;
        }
    }
    if roots == 0 {
        return Err(format!("{}: no verified root", cache.display()));
    }
    write("timestamp.json", &read("timestamp.json")?)?;
    for role in ["snapshot", "targets"] {
        let bytes = read(&format!("{role}.json"))?;
        write(&format!("{}.{role}.json", version(&bytes, role)?), &bytes)?;
        write(&format!("{role}.json"), &bytes)?;
    }
    let targets = cache.join("targets");
    for entry in std::fs::read_dir(&targets).map_err(|e| io("read", &targets, e))? {
        let path = entry.map_err(|e| io("read", &targets, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| io("read", &path, e))?;
        let hash = hex::encode(Sha256::digest(&bytes));
        write(&format!("targets/{hash}.{name}"), &bytes)?;
        write(&format!("targets/{name}"), &bytes)?;
    }
    Ok(())
}

/// `signed.version` of a metadata file.
fn version(bytes: &[u8], role: &str) -> Result<u64, String> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("signed")?.get("version")?.as_u64())
        .ok_or_else(|| format!("cached {role}.json has no version"))
}
