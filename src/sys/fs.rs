//! Filesystem facts the loader needs: bpffs and tracefs mounts.

use std::path::Path;

/// `BPF_FS_MAGIC` from `linux/magic.h`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// `TRACEFS_MAGIC`.
const TRACEFS_MAGIC: i64 = 0x7472_6163;

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

/// Mounts a filesystem of type `fstype` at `target` (used by the CLI and test setup).
pub fn mount_fs(fstype: &str, target: &Path) -> nix::Result<()> {
    nix::mount::mount(
        Some(fstype),
        target,
        Some(fstype),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
}
