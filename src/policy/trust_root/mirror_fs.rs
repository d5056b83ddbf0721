//! `spec.repository.mirrorFS`: a TUF repository as policy-controller packs
//! it (a gzipped tar of `repository/…`), unpacked in memory with every
//! size bounded and every name checked, so a hostile document can neither
//! exhaust memory nor name a path outside the repository.

use std::collections::BTreeMap;
use std::io::Read as _;

/// The most a repository may unpack to: sigstore's is well under 1 MiB.
const MAX_BYTES: u64 = 32 << 20;
/// The most entries it may hold.
const MAX_ENTRIES: usize = 4096;
/// The prefix policy-controller's `CompressFS` writes (and strips).
const PREFIX: &str = "repository/";

/// The regular files of the tarball, by path below `repository/`.
pub(super) fn unpack(tarball: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let gz = flate2::read::GzDecoder::new(tarball);
    // Bounded before tar sees it: a gzip bomb stops at the limit.
    let mut archive = tar::Archive::new(gz.take(MAX_BYTES + 1));
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| format!("not a gzipped tar: {e}"))?;
    for (n, entry) in entries.enumerate() {
        if n >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        let mut entry = entry.map_err(|e| format!("not a gzipped tar: {e}"))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let raw = entry
            .path()
            .map_err(|e| format!("an entry's name is unreadable: {e}"))?
            .to_string_lossy()
            .into_owned();
        if !kind.is_file() {
            return Err(format!("'{raw}' is not a regular file"));
        }
        let name =
            clean(&raw).ok_or_else(|| format!("'{raw}' is not a path inside the repository"))?;
        total = total.saturating_add(entry.size());
        if total > MAX_BYTES {
            return Err(format!("unpacks to more than {MAX_BYTES} bytes"));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading '{raw}': {e}"))?;
        if files.insert(name, bytes).is_some() {
            return Err(format!("'{raw}' appears twice"));
        }
    }
    if files.is_empty() {
        return Err("holds no files".into());
    }
    Ok(files)
}

/// `repository/1.root.json` → `1.root.json`; `None` for anything that is
/// not a plain relative path (`..`, absolute, empty parts).
fn clean(raw: &str) -> Option<String> {
    let path = raw.trim_start_matches("./").trim_start_matches('/');
    let path = path.strip_prefix(PREFIX).unwrap_or(path);
    let ok = !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    ok.then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name as a hostile packer would.
            let bytes = name.as_bytes();
            if let Some(field) = h.as_old_mut().name.get_mut(..bytes.len()) {
                field.copy_from_slice(bytes);
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn files_come_out_below_the_repository_prefix() {
        let t = tarball(&[
            ("repository/1.root.json", b"{}"),
            ("repository/targets/ab.trusted_root.json", b"x"),
        ]);
        let files = unpack(&t).unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["1.root.json", "targets/ab.trusted_root.json"]
        );
    }

    #[test]
    fn hostile_archives_are_refused() {
        let e = unpack(&tarball(&[("repository/../../etc/passwd", b"x")])).unwrap_err();
        assert!(e.contains("not a path inside"), "{e}");
        let e = unpack(&tarball(&[("a", b"1"), ("repository/a", b"2")])).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        assert!(unpack(b"not gzip").is_err());
        // A bomb: 40 MiB of zeros compresses to almost nothing.
        let zeros = vec![0u8; 40 << 20];
        let e = unpack(&tarball(&[("repository/big", &zeros)])).unwrap_err();
        assert!(e.contains("more than"), "{e}");
    }
}
