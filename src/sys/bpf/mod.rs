//! `bpf(2)`: one typed attribute struct and one function per command.
//!
//! Each command's attribute struct (`#[repr(C)]`, private) holds only the fields that
//! command uses, laid out as in the kernel's `union bpf_attr`, and the size passed to
//! the kernel is that struct's size (for `BPF_PROG_LOAD`: up to the last field in use).
//! A kernel that does not know a later field therefore never sees it; one that does
//! sees zeros, which is what the kernel requires ("zeroed tail": nonzero bytes past
//! what it knows fail with `E2BIG`).
//!
//! Map element access goes through [`MapAccess`], a borrowed map descriptor together
//! with the key and value sizes the kernel reported for it, so buffer lengths are
//! checked before the kernel copies into them.
//!
//! One file per command family: `consts` (the uapi numbers), `attr` (the attribute
//! struct macro), `btf` (`BPF_BTF_LOAD`), `map` (map creation and element/batch access),
//! `prog` (`BPF_PROG_LOAD`, test runs, the verifier log), `pin` (`BPF_OBJ_PIN` /
//! `BPF_OBJ_GET`), `link` (links, raw tracepoints, kprobe_multi), `attach`
//! (`BPF_PROG_ATTACH` / `BPF_PROG_DETACH` / `BPF_PROG_QUERY`), `iter` (iterator links,
//! `BPF_ITER_CREATE`), `info` (`BPF_OBJ_GET_INFO_BY_FD`, ids) and `link_info` (link
//! info decoded per link type). Everything public is re-exported here.

mod attach;
mod attr;
mod btf;
mod consts;
mod info;
mod iter;
mod link;
mod link_info;
mod map;
mod pin;
mod prog;

// Each family's public items, under `sys::bpf::` (globs: what nothing uses yet is no
// unused import).
pub use self::{
    attach::*, btf::*, consts::*, info::*, iter::*, link::*, link_info::*, map::*, pin::*, prog::*,
};

use super::caps::{self, Capability, Check};
use super::{owned_fd, syscall, SysError, SysResult, Syscall};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `bpf(2)` commands (`enum bpf_cmd`).
#[allow(dead_code)] // every command, as the kernel numbers them, used yet or not
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BpfCmd {
    /// `BPF_MAP_CREATE`
    MapCreate = 0,
    /// `BPF_MAP_LOOKUP_ELEM`
    MapLookupElem = 1,
    /// `BPF_MAP_UPDATE_ELEM`
    MapUpdateElem = 2,
    /// `BPF_MAP_DELETE_ELEM`
    MapDeleteElem = 3,
    /// `BPF_MAP_GET_NEXT_KEY`
    MapGetNextKey = 4,
    /// `BPF_PROG_LOAD`
    ProgLoad = 5,
    /// `BPF_OBJ_PIN`
    ObjPin = 6,
    /// `BPF_OBJ_GET`
    ObjGet = 7,
    /// `BPF_PROG_ATTACH`
    ProgAttach = 8,
    /// `BPF_PROG_DETACH`
    ProgDetach = 9,
    /// `BPF_PROG_TEST_RUN` (alias `BPF_PROG_RUN`)
    ProgTestRun = 10,
    /// `BPF_PROG_GET_NEXT_ID`
    ProgGetNextId = 11,
    /// `BPF_MAP_GET_NEXT_ID`
    MapGetNextId = 12,
    /// `BPF_PROG_GET_FD_BY_ID`
    ProgGetFdById = 13,
    /// `BPF_MAP_GET_FD_BY_ID`
    MapGetFdById = 14,
    /// `BPF_OBJ_GET_INFO_BY_FD`
    ObjGetInfoByFd = 15,
    /// `BPF_PROG_QUERY`
    ProgQuery = 16,
    /// `BPF_RAW_TRACEPOINT_OPEN`
    RawTracepointOpen = 17,
    /// `BPF_BTF_LOAD`
    BtfLoad = 18,
    /// `BPF_BTF_GET_FD_BY_ID`
    BtfGetFdById = 19,
    /// `BPF_TASK_FD_QUERY`
    TaskFdQuery = 20,
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`
    MapLookupAndDeleteElem = 21,
    /// `BPF_MAP_FREEZE`
    MapFreeze = 22,
    /// `BPF_BTF_GET_NEXT_ID`
    BtfGetNextId = 23,
    /// `BPF_MAP_LOOKUP_BATCH`
    MapLookupBatch = 24,
    /// `BPF_MAP_LOOKUP_AND_DELETE_BATCH`
    MapLookupAndDeleteBatch = 25,
    /// `BPF_MAP_UPDATE_BATCH`
    MapUpdateBatch = 26,
    /// `BPF_MAP_DELETE_BATCH`
    MapDeleteBatch = 27,
    /// `BPF_LINK_CREATE`
    LinkCreate = 28,
    /// `BPF_LINK_UPDATE`
    LinkUpdate = 29,
    /// `BPF_LINK_GET_FD_BY_ID`
    LinkGetFdById = 30,
    /// `BPF_LINK_GET_NEXT_ID`
    LinkGetNextId = 31,
    /// `BPF_ENABLE_STATS`
    EnableStats = 32,
    /// `BPF_ITER_CREATE`
    IterCreate = 33,
    /// `BPF_LINK_DETACH`
    LinkDetach = 34,
    /// `BPF_PROG_BIND_MAP`
    ProgBindMap = 35,
    /// `BPF_TOKEN_CREATE`
    TokenCreate = 36,
}

impl BpfCmd {
    /// The kernel's name of the command, e.g. `"BPF_PROG_LOAD"`.
    pub fn name(self) -> &'static str {
        use BpfCmd::*;
        match self {
            MapCreate => "BPF_MAP_CREATE",
            MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            ProgLoad => "BPF_PROG_LOAD",
            ObjPin => "BPF_OBJ_PIN",
            ObjGet => "BPF_OBJ_GET",
            ProgAttach => "BPF_PROG_ATTACH",
            ProgDetach => "BPF_PROG_DETACH",
            ProgTestRun => "BPF_PROG_TEST_RUN",
            ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            ProgQuery => "BPF_PROG_QUERY",
            RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            BtfLoad => "BPF_BTF_LOAD",
            BtfGetFdById => "BPF_BTF_GET_FD_BY_ID",
            TaskFdQuery => "BPF_TASK_FD_QUERY",
            MapLookupAndDeleteElem => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
            MapFreeze => "BPF_MAP_FREEZE",
            BtfGetNextId => "BPF_BTF_GET_NEXT_ID",
            MapLookupBatch => "BPF_MAP_LOOKUP_BATCH",
            MapLookupAndDeleteBatch => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
            MapUpdateBatch => "BPF_MAP_UPDATE_BATCH",
            MapDeleteBatch => "BPF_MAP_DELETE_BATCH",
            LinkCreate => "BPF_LINK_CREATE",
            LinkUpdate => "BPF_LINK_UPDATE",
            LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            LinkGetNextId => "BPF_LINK_GET_NEXT_ID",
            EnableStats => "BPF_ENABLE_STATS",
            IterCreate => "BPF_ITER_CREATE",
            LinkDetach => "BPF_LINK_DETACH",
            ProgBindMap => "BPF_PROG_BIND_MAP",
            TokenCreate => "BPF_TOKEN_CREATE",
        }
    }

    /// True when the command's success value is a new file descriptor.
    pub fn creates_fd(self) -> bool {
        use BpfCmd::*;
        matches!(
            self,
            MapCreate
                | ProgLoad
                | ObjGet
                | ProgGetFdById
                | MapGetFdById
                | RawTracepointOpen
                | BtfLoad
                | BtfGetFdById
                | LinkCreate
                | LinkGetFdById
                | EnableStats
                | IterCreate
                | TokenCreate
        )
    }
}

/// Calls `bpf(cmd, attr, attr.len())`.
///
/// # Safety
///
/// Every pointer stored in `attr` must be valid for the kernel's accesses, as described
/// on [`syscall`].
// Inlined down to the system call, as `syscall` is (see there): map element access is
// one call per element.
#[inline(always)]
unsafe fn bpf(cmd: BpfCmd, attr: &mut [u8]) -> SysResult<i64> {
    // SAFETY: forwarded from this function's contract.
    match unsafe {
        syscall(Syscall::Bpf {
            cmd,
            attr: &mut *attr,
        })
    } {
        Ok(ret) => Ok(ret),
        Err(e) => Err(refused(cmd, attr, e)),
    }
}

/// The error of a failed `bpf(2)` call, naming the capabilities the command needs
/// when the kernel said `EPERM`.
#[cold]
#[inline(never)]
fn refused(cmd: BpfCmd, attr: &[u8], e: std::io::Error) -> SysError {
    // The map or program type, for the commands whose capabilities depend on it: the
    // first field of both attribute structs, which the kernel does not write.
    let kind = attr
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes);
    let needed = needed_capabilities(cmd, kind);
    SysError::refused(cmd.name(), e, &[libc::EPERM], &needed, Check::Bpf)
}

/// The capabilities the kernel checks before `cmd` (`kind`: the map type of
/// `BPF_MAP_CREATE`, the program type of `BPF_PROG_LOAD`), in the order it checks
/// them. Empty for the commands whose `EPERM` is not about capabilities (a frozen or
/// read-only map refuses updates with `EPERM` too), so that nothing is claimed there.
fn needed_capabilities(cmd: BpfCmd, kind: u32) -> Vec<Capability> {
    use BpfCmd::*;
    match cmd {
        MapCreate => caps::to_create_map(kind),
        BtfLoad => vec![Capability::Bpf],
        ProgLoad => caps::to_load_program(kind),
        ProgGetNextId | MapGetNextId | BtfGetNextId | LinkGetNextId | ProgGetFdById
        | MapGetFdById | BtfGetFdById | LinkGetFdById | EnableStats | TaskFdQuery => {
            vec![Capability::SysAdmin]
        }
        ProgQuery => vec![Capability::NetAdmin],
        _ => Vec::new(),
    }
}

/// Calls a command that creates a descriptor.
///
/// # Safety
///
/// As for [`bpf`].
unsafe fn bpf_fd(cmd: BpfCmd, attr: &mut [u8]) -> SysResult<OwnedFd> {
    debug_assert!(cmd.creates_fd());
    // SAFETY: forwarded from this function's contract.
    let ret = unsafe { bpf(cmd, attr) }?;
    owned_fd(cmd.name(), ret)
}

/// A pointer as the kernel's `__aligned_u64`.
#[inline]
fn ptr_u64<T>(p: *const T) -> u64 {
    p as usize as u64
}

/// A descriptor as the kernel's `__u32` fd field.
#[inline]
fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // A live descriptor is never negative.
    fd.as_raw_fd() as u32
}

/// A length as the kernel's `__u32`, or an error naming `what`.
fn len_u32(call: &'static str, what: &str, len: usize) -> SysResult<u32> {
    u32::try_from(len).map_err(|_| SysError::invalid(call, format!("{what} too long ({len})")))
}

/// Builds an object name the kernel accepts: only `[A-Za-z0-9_.]` kept, truncated to
/// 15 bytes, NUL-padded.
pub fn obj_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    let valid = name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.');
    for (slot, b) in out.iter_mut().take(BPF_OBJ_NAME_LEN - 1).zip(valid) {
        *slot = b;
    }
    out
}

/// The bytes of a NUL-padded name, up to the first NUL.
fn name_bytes(name: &[u8]) -> &[u8] {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    &name[..end]
}

/// Helpers shared by the families' unit tests.
#[cfg(test)]
mod test_util {
    use std::io;
    use std::os::fd::OwnedFd;

    pub(super) fn errno(e: i32) -> Option<io::Result<i64>> {
        Some(Err(io::Error::from_raw_os_error(e)))
    }

    /// A descriptor for injection tests (never reaches the kernel as a map).
    pub(super) fn devnull() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obj_name_sanitizes_and_truncates() {
        assert_eq!(&obj_name("my_map.bss")[..11], b"my_map.bss\0");
        let n = obj_name("a-b c/d!e");
        assert_eq!(name_bytes(&n), b"abcde");
        let n = obj_name("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(name_bytes(&n), b"abcdefghijklmno");
        assert_eq!(n[15], 0);
        assert_eq!(obj_name("ü€"), [0; 16]);
    }
}
