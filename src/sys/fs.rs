//! Filesystem facts the loader needs: bpffs, tracefs and cgroup2 mounts.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

/// `BPF_FS_MAGIC` from `linux/magic.h`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// `TRACEFS_MAGIC`.
const TRACEFS_MAGIC: i64 = 0x7472_6163;
/// `CGROUP2_SUPER_MAGIC`.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

fn fs_type(path: &Path) -> Option<i64> {
    // `f_type` is i64 on x86_64 but narrower on some other targets.
    #[allow(clippy::unnecessary_cast)]
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|s| s.filesystem_type().0 as i64)
}

/// True when `path` lies on a bpf filesystem.
pub fn is_bpffs(path: &Path) -> bool {
    fs_type(path) == Some(BPF_FS_MAGIC)
}

/// True when `path` is (on) a tracefs mount.
pub fn is_tracefs(path: &Path) -> bool {
    fs_type(path) == Some(TRACEFS_MAGIC)
}

/// True when `fd` is a directory of a cgroup2 hierarchy: what cgroup attach points
/// must be (the kernel answers `EBADF` for anything else).
pub fn is_cgroup2_dir(fd: BorrowedFd<'_>) -> bool {
    // `f_type` is i64 on x86_64 but narrower on some other targets.
    #[allow(clippy::unnecessary_cast)]
    let on_cgroup2 = nix::sys::statfs::fstatfs(fd)
        .is_ok_and(|s| s.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC);
    let is_dir = nix::sys::stat::fstat(fd.as_raw_fd())
        .is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
    on_cgroup2 && is_dir
}

/// Mounts a filesystem of type `fstype` at `target` (used by the CLI and test setup).
///
/// Mounting needs `CAP_SYS_ADMIN`; on `EPERM`, [`Capability::is_effective`] tells a
/// caller whether this process lacks it (else a policy refused).
///
/// [`Capability::is_effective`]: super::Capability::is_effective
pub fn mount_fs(fstype: &str, target: &Path) -> nix::Result<()> {
    nix::mount::mount(
        Some(fstype),
        target,
        Some(fstype),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
}
