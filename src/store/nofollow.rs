//! Opening files in a directory someone else controls: never through a
//! symbolic link, never waiting on a FIFO, and only the very file an
//! earlier check saw.
//!
//! The final path component is opened with `O_NOFOLLOW | O_NONBLOCK`: a
//! link there fails to open (ELOOP) instead of being followed, and a FIFO
//! or device opens without waiting for a writer. The open file is then
//! `fstat`ed: it must be a regular file with the device, inode and size the
//! walk recorded, which also catches a directory above it swapped for a
//! link after the walk (the file reached through it is another inode).
//!
//! std has no `O_NOFOLLOW` constant and the crate takes no `libc`
//! dependency, so the values are the kernel's, per architecture (checked
//! against the `libc` crate). On a target not listed the flags are 0 and
//! only the `lstat` before and `fstat` after the open guard it.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::error::StoreError;

#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "riscv32",
        target_arch = "riscv64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )
))]
const NOFOLLOW_NONBLOCK: i32 = 0x20000 | 0x800;
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "powerpc",
        target_arch = "powerpc64"
    )
))]
const NOFOLLOW_NONBLOCK: i32 = 0x8000 | 0x800;
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
const NOFOLLOW_NONBLOCK: i32 = 0x0100 | 0x0004;
#[cfg(not(any(
    all(
        target_os = "linux",
        any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "riscv32",
            target_arch = "riscv64",
            target_arch = "s390x",
            target_arch = "loongarch64",
            target_arch = "arm",
            target_arch = "aarch64",
            target_arch = "powerpc",
            target_arch = "powerpc64"
        )
    ),
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
const NOFOLLOW_NONBLOCK: i32 = 0;

/// Which file a path named when it was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
    pub size: u64,
}

impl FileId {
    pub(super) fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
        }
    }
}

/// What a non-regular, non-directory entry is, for messages; `None` for
/// directories and regular files.
pub(super) fn odd_kind(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_dir() || file_type.is_file() {
        None
    } else if file_type.is_symlink() {
        Some("symbolic link")
    } else if file_type.is_fifo() {
        Some("FIFO")
    } else if file_type.is_socket() {
        Some("socket")
    } else if file_type.is_block_device() {
        Some("block device")
    } else if file_type.is_char_device() {
        Some("character device")
    } else {
        Some("file of an unknown type")
    }
}

/// Open `path` for reading, refusing anything but the regular file `id`
/// names. Blocking (one `lstat`, one `open`, one `fstat`).
pub(super) fn open_checked(path: &Path, id: FileId) -> Result<File, StoreError> {
    let changed = |reason: String| StoreError::Changed {
        path: path.to_path_buf(),
        reason,
    };
    let before = std::fs::symlink_metadata(path).map_err(StoreError::io("stat", path))?;
    if let Some(kind) = odd_kind(before.file_type()) {
        return Err(changed(format!("it is now a {kind}")));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(NOFOLLOW_NONBLOCK)
        .open(path)
        .map_err(|e| {
            // ELOOP when the last component became a link meanwhile.
            match lstat(path).ok().and_then(|m| odd_kind(m.file_type())) {
                Some(kind) => changed(format!("it is now a {kind}")),
                None => StoreError::io("open", path)(e),
            }
        })?;
    let meta = file.metadata().map_err(StoreError::io("stat", path))?;
    if let Some(kind) = odd_kind(meta.file_type()) {
        return Err(changed(format!("it is now a {kind}")));
    }
    if !meta.is_file() {
        return Err(changed("it is now a directory".into()));
    }
    let now = FileId::of(&meta);
    if now != id {
        return Err(changed(if now.size != id.size {
            format!("its size went from {} to {} bytes", id.size, now.size)
        } else {
            "it is now another file".into()
        }));
    }
    Ok(file)
}

/// The whole content of the checked file `id`, which must not exceed
/// `limit` bytes and must be exactly as long as it was. Blocking.
pub(super) fn read_checked(path: &Path, id: FileId, limit: u64) -> Result<Vec<u8>, StoreError> {
    if id.size > limit {
        return Err(StoreError::InvalidLayout {
            path: path.to_path_buf(),
            reason: format!("{} bytes, more than the {limit} allowed", id.size),
        });
    }
    let file = open_checked(path, id)?;
    let mut bytes = Vec::with_capacity(usize::try_from(id.size).unwrap_or(0));
    file.take(id.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(StoreError::io("read", path))?;
    if bytes.len() as u64 != id.size {
        return Err(StoreError::Changed {
            path: path.to_path_buf(),
            reason: format!("{} bytes read where {} were checked", bytes.len(), id.size),
        });
    }
    Ok(bytes)
}

/// `lstat` of `path`, for a walk: never follows a link.
pub(super) fn lstat(path: &Path) -> io::Result<Metadata> {
    std::fs::symlink_metadata(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn id(path: &Path) -> FileId {
        FileId::of(&lstat(path).unwrap())
    }

    #[test]
    fn a_regular_file_opens_and_reads_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"content").unwrap();
        assert_eq!(read_checked(&path, id(&path), 100).unwrap(), b"content");
        let err = read_checked(&path, id(&path), 3).unwrap_err();
        assert!(err.to_string().contains("more than the 3 allowed"), "{err}");
    }

    #[test]
    fn a_file_swapped_for_a_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, outside) = (dir.path().join("f"), dir.path().join("outside"));
        std::fs::write(&path, b"checked").unwrap();
        std::fs::write(&outside, b"secret!").unwrap();
        let checked = id(&path);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        let err = open_checked(&path, checked).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // The flags themselves refuse the link (the lstat is not all there is).
        let raw = OpenOptions::new()
            .read(true)
            .custom_flags(NOFOLLOW_NONBLOCK)
            .open(&path)
            .unwrap_err();
        assert_eq!(raw.raw_os_error(), Some(40), "{raw}");
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"checked").unwrap();
        let checked = id(&path);
        std::fs::remove_file(&path).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let started = Instant::now();
        let err = open_checked(&path, checked).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        // Opened directly, it must not block either.
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(NOFOLLOW_NONBLOCK)
            .open(&path)
            .unwrap();
        assert!(file.metadata().unwrap().file_type().is_fifo());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn another_file_or_a_grown_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"checked").unwrap();
        let checked = id(&path);
        std::fs::write(&path, b"checked, and then some").unwrap();
        let err = read_checked(&path, checked, 100).unwrap_err();
        assert!(err.to_string().contains("size went from 7"), "{err}");
        // Kept alive under another name, so its inode is not reused.
        std::fs::rename(&path, dir.path().join("old")).unwrap();
        std::fs::write(&path, b"CHECKED").unwrap();
        let err = open_checked(&path, checked).unwrap_err();
        assert!(matches!(err, StoreError::Changed { .. }), "{err}");
    }
}
