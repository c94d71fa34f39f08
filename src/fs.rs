//! The pseudo file systems BPF tools rely on: bpffs, where maps, programs and links are
//! pinned, and tracefs, where trace events and legacy kprobes live.
//!
//! The library checks these where it needs them ([`Map::pin`](crate::Map::pin) refuses
//! a directory that is not on a bpffs); these functions are for tools that prepare the
//! system first, as `corebpf load --pin` does.
//!
//! # Examples
//!
//! Make sure `/sys/fs/bpf` is a bpffs before pinning under it (mounting needs
//! `CAP_SYS_ADMIN`):
//!
//! ```no_run
//! use std::path::Path;
//!
//! let root = Path::new("/sys/fs/bpf");
//! if !corebpf::fs::is_bpffs(root) {
//!     corebpf::fs::mount_bpffs(root)?;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::path::Path;

use crate::sys;

/// True when `path` lies on a bpf filesystem (`BPF_FS_MAGIC`); false when it does not
/// or cannot be examined (missing, no permission).
pub fn is_bpffs(path: impl AsRef<Path>) -> bool {
    sys::fs::is_bpffs(path.as_ref())
}

/// True when `path` lies on a tracefs mount (`TRACEFS_MAGIC`); false when it does not
/// or cannot be examined.
pub fn is_tracefs(path: impl AsRef<Path>) -> bool {
    sys::fs::is_tracefs(path.as_ref())
}

/// Mounts a bpf filesystem at `target`, like `mount -t bpf bpf TARGET`. Needs
/// `CAP_SYS_ADMIN`; `target` must exist.
pub fn mount_bpffs(target: impl AsRef<Path>) -> io::Result<()> {
    sys::fs::mount_fs("bpf", target.as_ref()).map_err(io::Error::from)
}

/// Mounts tracefs at `target`, like `mount -t tracefs tracefs TARGET` (usually
/// `/sys/kernel/tracing`). Needs `CAP_SYS_ADMIN`; `target` must exist.
pub fn mount_tracefs(target: impl AsRef<Path>) -> io::Result<()> {
    sys::fs::mount_fs("tracefs", target.as_ref()).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_neither_on_an_ordinary_directory() {
        let dir = std::env::temp_dir();
        assert!(!is_bpffs(&dir));
        assert!(!is_tracefs(&dir));
        assert!(!is_bpffs("/nonexistent/corebpf"));
    }

    #[test]
    fn mounting_on_a_missing_directory_fails_with_its_errno() {
        let missing = Path::new("/nonexistent/corebpf-fs-test");
        let e = mount_bpffs(missing).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
        let e = mount_tracefs(missing).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    }
}
