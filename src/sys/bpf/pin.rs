//! `BPF_OBJ_PIN` and `BPF_OBJ_GET`: pinning objects on a bpffs and opening them again.

use super::attr::{attr_struct, AttrBytes};
use super::{bpf, bpf_fd, fd_u32, ptr_u64, BpfCmd};
use crate::sys::{SysError, SysResult};
use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

attr_struct! {
    /// `BPF_OBJ_PIN`, `BPF_OBJ_GET`.
    struct ObjRaw {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
    }
}

fn path_cstring(call: &'static str, path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        SysError::invalid(call, format!("path {} contains a NUL byte", path.display()))
    })
}

/// `BPF_OBJ_PIN`: pins a map, program, link or BTF at `path` on a bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> SysResult<()> {
    const CMD: BpfCmd = BpfCmd::ObjPin;
    let path = path_cstring(CMD.name(), path)?;
    let mut raw = ObjRaw {
        pathname: ptr_u64(path.as_ptr()),
        bpf_fd: fd_u32(fd),
        file_flags: 0,
    };
    // SAFETY: `pathname` is a NUL-terminated string that outlives the call.
    unsafe { bpf(CMD, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`; `flags` are `map_flags::RDONLY` /
/// `WRONLY` or 0.
pub fn obj_get(path: &Path, flags: u32) -> SysResult<OwnedFd> {
    const CMD: BpfCmd = BpfCmd::ObjGet;
    let path = path_cstring(CMD.name(), path)?;
    let mut raw = ObjRaw {
        pathname: ptr_u64(path.as_ptr()),
        bpf_fd: 0,
        file_flags: flags,
    };
    // SAFETY: `pathname` is a NUL-terminated string that outlives the call.
    unsafe { bpf_fd(CMD, raw.bytes_mut()) }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::devnull;
    use super::*;
    use std::mem::offset_of;
    use std::os::fd::AsFd;

    #[test]
    fn attr_layout_matches_uapi() {
        // Offsets checked against include/uapi/linux/bpf.h (gcc offsetof on the 6.1
        // header; log_true_size and later fields from the 6.14+ header).
        assert_eq!(offset_of!(ObjRaw, file_flags), 12);
    }

    #[test]
    fn path_with_nul_is_rejected() {
        let null = devnull();
        let p = Path::new("/sys/fs/bpf/a\0b");
        assert_eq!(obj_pin(null.as_fd(), p).unwrap_err().errno(), 0);
        assert_eq!(obj_get(p, 0).unwrap_err().call, "BPF_OBJ_GET");
    }
}
