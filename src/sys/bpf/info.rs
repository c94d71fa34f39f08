//! `BPF_OBJ_GET_INFO_BY_FD` (program, map, link and BTF info) and the id commands
//! (`BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID`).

use super::attr::{attr_struct, AttrBytes};
use super::consts::{BPF_OBJ_NAME_LEN, BPF_TAG_SIZE};
use super::{bpf, bpf_fd, fd_u32, name_bytes, ptr_u64, BpfCmd};
use crate::sys::SysResult;
use std::mem::size_of;
use std::os::fd::{BorrowedFd, OwnedFd};

attr_struct! {
    /// `BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID`.
    struct IdRaw {
        /// `start_id`, `prog_id`, `map_id`, `btf_id` or `link_id`.
        id: u32,
        next_id: u32,
        open_flags: u32,
    }
}

attr_struct! {
    /// `BPF_OBJ_GET_INFO_BY_FD`.
    struct InfoRaw {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
}

attr_struct! {
    /// The kernel's `struct bpf_prog_info` (through `attach_btf_id`, 5.18+; older
    /// kernels fill a prefix and leave the rest zero).
    ///
    /// Returned by [`Program::info`](crate::Program::info) with every user-pointer field
    /// left zero, so the kernel fills only the scalar fields.
    pub struct ProgInfo {
        /// Program type (`enum bpf_prog_type`).
        pub type_: u32,
        /// Program id.
        pub id: u32,
        /// Program tag (hash of the instructions).
        pub tag: [u8; BPF_TAG_SIZE],
        /// Length of the JITed image.
        pub jited_prog_len: u32,
        /// Length of the translated instructions, in bytes.
        pub xlated_prog_len: u32,
        /// User pointer for the JITed image (zero here).
        pub jited_prog_insns: u64,
        /// User pointer for the translated instructions (zero here).
        pub xlated_prog_insns: u64,
        /// Load time, in ns since boot.
        pub load_time: u64,
        /// Uid of the loader.
        pub created_by_uid: u32,
        /// Number of maps the program uses.
        pub nr_map_ids: u32,
        /// User pointer for map ids (zero here).
        pub map_ids: u64,
        /// Program name, NUL-padded.
        pub name: [u8; BPF_OBJ_NAME_LEN],
        /// Offload device.
        pub ifindex: u32,
        /// Bit 0: the license is GPL-compatible.
        pub gpl_compatible: u32,
        /// Network namespace device of the offload device.
        pub netns_dev: u64,
        /// Network namespace inode of the offload device.
        pub netns_ino: u64,
        /// Number of JITed kernel symbols.
        pub nr_jited_ksyms: u32,
        /// Number of JITed function lengths.
        pub nr_jited_func_lens: u32,
        /// User pointer (zero here).
        pub jited_ksyms: u64,
        /// User pointer (zero here).
        pub jited_func_lens: u64,
        /// BTF object id of the program's BTF.
        pub btf_id: u32,
        /// Size of one func_info record.
        pub func_info_rec_size: u32,
        /// User pointer (zero here).
        pub func_info: u64,
        /// Number of func_info records.
        pub nr_func_info: u32,
        /// Number of line_info records.
        pub nr_line_info: u32,
        /// User pointer (zero here).
        pub line_info: u64,
        /// User pointer (zero here).
        pub jited_line_info: u64,
        /// Number of JITed line_info records.
        pub nr_jited_line_info: u32,
        /// Size of one line_info record.
        pub line_info_rec_size: u32,
        /// Size of one JITed line_info record.
        pub jited_line_info_rec_size: u32,
        /// Number of program tags (subprograms).
        pub nr_prog_tags: u32,
        /// User pointer (zero here).
        pub prog_tags: u64,
        /// Total run time in ns (with stats enabled).
        pub run_time_ns: u64,
        /// Run count (with stats enabled).
        pub run_cnt: u64,
        /// Runs skipped because of recursion.
        pub recursion_misses: u64,
        /// Instructions processed by the verifier.
        pub verified_insns: u32,
        /// BTF object id of the attach target.
        pub attach_btf_obj_id: u32,
        /// BTF type id of the attach target.
        pub attach_btf_id: u32,
        /// Padding.
        pub _pad: u32,
    }
}

impl ProgInfo {
    /// The program name.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(name_bytes(&self.name)).into_owned()
    }

    /// Whether the license is GPL-compatible.
    pub fn is_gpl_compatible(&self) -> bool {
        // A one-bit bitfield: bit 0 on little-endian, the top bit on big-endian.
        let bit = if cfg!(target_endian = "little") {
            1
        } else {
            1 << 31
        };
        self.gpl_compatible & bit != 0
    }
}

attr_struct! {
    /// The kernel's `struct bpf_map_info` (through `map_extra`, 5.16+).
    pub struct MapInfo {
        /// Map type (`enum bpf_map_type`; see [`MapType`](crate::map::MapType)).
        pub type_: u32,
        /// Map id.
        pub id: u32,
        /// Key size.
        pub key_size: u32,
        /// Value size.
        pub value_size: u32,
        /// Maximum entries.
        pub max_entries: u32,
        /// `BPF_F_*` creation flags.
        pub map_flags: u32,
        /// Map name, NUL-padded.
        pub name: [u8; BPF_OBJ_NAME_LEN],
        /// Offload device.
        pub ifindex: u32,
        /// BTF type id of a kernel value type (struct_ops).
        pub btf_vmlinux_value_type_id: u32,
        /// Network namespace device of the offload device.
        pub netns_dev: u64,
        /// Network namespace inode of the offload device.
        pub netns_ino: u64,
        /// BTF object id.
        pub btf_id: u32,
        /// BTF type id of the key.
        pub btf_key_type_id: u32,
        /// BTF type id of the value.
        pub btf_value_type_id: u32,
        /// Padding.
        pub _pad: u32,
        /// Per-type extra.
        pub map_extra: u64,
    }
}

impl MapInfo {
    /// The map name.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(name_bytes(&self.name)).into_owned()
    }
}

attr_struct! {
    /// The kernel's `struct bpf_btf_info`.
    struct BtfInfoRaw {
        btf: u64,
        btf_size: u32,
        id: u32,
        name: u64,
        name_len: u32,
        kernel_btf: u32,
    }
}

/// What the kernel reports about a BTF object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfInfo {
    /// BTF object id.
    pub id: u32,
    /// Size of the raw BTF in bytes.
    pub btf_size: u32,
    /// Name: `"vmlinux"`, a module name, or empty for user-loaded BTF.
    pub name: String,
    /// True for the kernel's own BTF (vmlinux and modules).
    pub kernel_btf: bool,
}

attr_struct! {
    /// The kernel's `struct bpf_link_info`: common fields and the raw per-type union
    /// ([`link_info_decoded`](super::link_info_decoded) reads it per link type).
    ///
    /// Returned with every user-pointer field left zero (no names are copied out).
    pub struct RawLinkInfo {
        /// Link type (`enum bpf_link_type`).
        pub link_type: u32,
        /// Link id.
        pub id: u32,
        /// Id of the attached program.
        pub prog_id: u32,
        /// Padding.
        pub _pad: u32,
        /// The per-type union, raw (e.g. for XDP the first u32 is the ifindex; for
        /// perf events the first u32 is the `bpf_perf_event_type`).
        pub extra: [u64; 6],
    }
}

impl RawLinkInfo {
    /// The first u32 of the per-type union (XDP: ifindex; tracing: attach type; perf
    /// event: event type; raw tracepoint: low half of the name pointer).
    pub fn extra_u32(&self, index: usize) -> Option<u32> {
        let word = *self.extra.get(index / 2)?;
        let b = word.to_ne_bytes();
        let half = if index % 2 == 0 {
            [b[0], b[1], b[2], b[3]]
        } else {
            [b[4], b[5], b[6], b[7]]
        };
        Some(u32::from_ne_bytes(half))
    }
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info`, returning the length the kernel filled.
///
/// # Safety
///
/// Every user pointer inside `info` must be zero or valid for the length beside it.
pub(super) unsafe fn obj_info<T: AttrBytes>(fd: BorrowedFd<'_>, info: &mut T) -> SysResult<u32> {
    let mut raw = InfoRaw {
        bpf_fd: fd_u32(fd),
        info_len: size_of::<T>() as u32,
        info: ptr_u64((info as *mut T).cast::<u8>()),
    };
    // SAFETY: `info` is writable for `info_len` bytes; its own pointers are valid per
    // this function's contract. The kernel writes at most `info_len` bytes.
    unsafe { bpf(BpfCmd::ObjGetInfoByFd, raw.bytes_mut()) }?;
    Ok(raw.info_len)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program.
pub fn prog_info(fd: BorrowedFd<'_>) -> SysResult<ProgInfo> {
    let mut info = ProgInfo::default();
    // SAFETY: all pointer fields are zero.
    unsafe { obj_info(fd, &mut info) }?;
    Ok(info)
}

/// The ids of the maps a program uses.
pub fn prog_map_ids(fd: BorrowedFd<'_>) -> SysResult<Vec<u32>> {
    prog_info_and_map_ids(fd).map(|(_, ids)| ids)
}

/// Map ids asked for with the first `BPF_OBJ_GET_INFO_BY_FD` of
/// [`prog_info_and_map_ids`]: programs rarely use more, so one call usually answers.
const MAP_IDS_GUESS: usize = 64;

/// A program's scalar info and the ids of the maps it uses: one
/// `BPF_OBJ_GET_INFO_BY_FD` when it uses at most 64 maps (the kernel copies the ids
/// into the buffer offered and reports how many there are), two otherwise. The
/// returned info's `map_ids` pointer is cleared.
pub fn prog_info_and_map_ids(fd: BorrowedFd<'_>) -> SysResult<(ProgInfo, Vec<u32>)> {
    let mut ids = vec![0u32; MAP_IDS_GUESS];
    loop {
        let offered = ids.len();
        let mut info = ProgInfo {
            nr_map_ids: offered as u32,
            map_ids: ptr_u64(ids.as_mut_ptr()),
            ..Default::default()
        };
        // SAFETY: `map_ids` points to a writable buffer of `nr_map_ids` u32s; the kernel
        // copies at most that many. No other pointer field is set.
        unsafe { obj_info(fd, &mut info) }?;
        let total = info.nr_map_ids as usize;
        if total <= offered {
            ids.truncate(total);
            info.map_ids = 0;
            return Ok((info, ids));
        }
        // More maps than offered (or added meanwhile): ask again with room for all.
        ids = vec![0u32; total];
    }
}

/// What a program dump reads besides the scalar info: the translated instructions and
/// the records that describe them, each as the kernel copied it out.
#[derive(Clone, Debug, Default)]
pub struct ProgDumpData {
    /// The scalar info of the second call (counts and record sizes as the kernel
    /// reported them; pointer fields are this process's buffers).
    pub info: ProgInfo,
    /// The translated (`xlated`) instructions, raw.
    pub xlated: Vec<u8>,
    /// Kernel addresses of the JITed functions (main program, then subprograms);
    /// empty when the program is not JITed.
    pub jited_ksyms: Vec<u64>,
    /// `struct bpf_func_info` records, `info.func_info_rec_size` bytes each.
    pub func_info: Vec<u8>,
    /// `struct bpf_line_info` records, `info.line_info_rec_size` bytes each.
    pub line_info: Vec<u8>,
}

/// Zero for an empty buffer (the kernel copies nothing then), its address otherwise.
fn buf_u64<T>(buf: &mut [T]) -> u64 {
    if buf.is_empty() {
        0
    } else {
        ptr_u64(buf.as_mut_ptr())
    }
}

/// A program's translated instructions, JITed function addresses, func_info and
/// line_info: a first info call for the sizes, a second with buffers of those sizes.
/// An empty `xlated` means the kernel would not hand the instructions out (no
/// `CAP_BPF`/`CAP_SYS_ADMIN`).
pub fn prog_dump_data(fd: BorrowedFd<'_>) -> SysResult<ProgDumpData> {
    let first = prog_info(fd)?;
    let mut xlated = vec![0u8; first.xlated_prog_len as usize];
    let mut jited_ksyms = vec![0u64; first.nr_jited_ksyms as usize];
    let func_rec = first.func_info_rec_size as usize;
    let line_rec = first.line_info_rec_size as usize;
    let mut func_info = vec![0u8; first.nr_func_info as usize * func_rec];
    let mut line_info = vec![0u8; first.nr_line_info as usize * line_rec];
    let mut info = ProgInfo {
        xlated_prog_len: xlated.len() as u32,
        xlated_prog_insns: buf_u64(&mut xlated),
        nr_jited_ksyms: jited_ksyms.len() as u32,
        jited_ksyms: buf_u64(&mut jited_ksyms),
        nr_func_info: first.nr_func_info,
        func_info_rec_size: first.func_info_rec_size,
        func_info: buf_u64(&mut func_info),
        nr_line_info: first.nr_line_info,
        line_info_rec_size: first.line_info_rec_size,
        line_info: buf_u64(&mut line_info),
        ..Default::default()
    };
    // SAFETY: each non-zero pointer is a live, writable buffer of exactly the length
    // or record count beside it (record size times count for func_info/line_info, as
    // the kernel reported them); the kernel copies at most that much into each.
    unsafe { obj_info(fd, &mut info) }?;
    xlated.truncate((info.xlated_prog_len as usize).min(xlated.len()));
    jited_ksyms.truncate((info.nr_jited_ksyms as usize).min(jited_ksyms.len()));
    let keep = |n: u32, rec: u32, len: usize| (n as usize * rec as usize).min(len);
    func_info.truncate(keep(
        info.nr_func_info,
        info.func_info_rec_size,
        func_info.len(),
    ));
    line_info.truncate(keep(
        info.nr_line_info,
        info.line_info_rec_size,
        line_info.len(),
    ));
    Ok(ProgDumpData {
        info,
        xlated,
        jited_ksyms,
        func_info,
        line_info,
    })
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a map.
pub fn map_info(fd: BorrowedFd<'_>) -> SysResult<MapInfo> {
    let mut info = MapInfo::default();
    // SAFETY: `MapInfo` has no pointer fields.
    unsafe { obj_info(fd, &mut info) }?;
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a link.
pub fn link_info(fd: BorrowedFd<'_>) -> SysResult<RawLinkInfo> {
    let mut info = RawLinkInfo::default();
    // SAFETY: all pointer fields inside the union are zero.
    unsafe { obj_info(fd, &mut info) }?;
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a BTF object (with its name, on kernels that have
/// one: before 5.11 the name is empty and `kernel_btf` false).
pub fn btf_info(fd: BorrowedFd<'_>) -> SysResult<BtfInfo> {
    let mut name = [0u8; 64];
    let mut raw = BtfInfoRaw {
        name: ptr_u64(name.as_mut_ptr()),
        name_len: name.len() as u32,
        ..Default::default()
    };
    // SAFETY: `name` is writable for `name_len` bytes; `btf` is zero.
    match unsafe { obj_info(fd, &mut raw) } {
        // A kernel whose bpf_btf_info ends before `name` (before 5.11) refuses the
        // non-zero tail.
        Err(e) if e.errno() == libc::E2BIG => {
            raw = BtfInfoRaw::default();
            // SAFETY: all pointer fields are zero.
            unsafe { obj_info(fd, &mut raw) }?;
        }
        other => {
            other?;
        }
    }
    Ok(BtfInfo {
        id: raw.id,
        btf_size: raw.btf_size,
        name: String::from_utf8_lossy(name_bytes(&name)).into_owned(),
        kernel_btf: raw.kernel_btf != 0,
    })
}

/// The raw BTF blob of a BTF object (e.g. a module's BTF, by id).
pub fn btf_data(fd: BorrowedFd<'_>) -> SysResult<Vec<u8>> {
    let size = btf_info(fd)?.btf_size;
    let mut data = vec![0u8; size as usize];
    let mut raw = BtfInfoRaw {
        btf: ptr_u64(data.as_mut_ptr()),
        btf_size: size,
        ..Default::default()
    };
    // SAFETY: `btf` is writable for `btf_size` bytes; `name` is zero.
    unsafe { obj_info(fd, &mut raw) }?;
    data.truncate((raw.btf_size as usize).min(data.len()));
    Ok(data)
}

// ---------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------

fn next_id(cmd: BpfCmd, start: u32) -> SysResult<Option<u32>> {
    let mut raw = IdRaw {
        id: start,
        ..Default::default()
    };
    // SAFETY: no pointers.
    match unsafe { bpf(cmd, raw.bytes_mut()) } {
        Ok(_) => Ok(Some(raw.next_id)),
        Err(e) if e.errno() == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

fn fd_by_id(cmd: BpfCmd, id: u32, open_flags: u32) -> SysResult<OwnedFd> {
    let mut raw = IdRaw {
        id,
        next_id: 0,
        open_flags,
    };
    // SAFETY: no pointers.
    unsafe { bpf_fd(cmd, raw.bytes_mut()) }
}

/// `BPF_PROG_GET_NEXT_ID`: the first program id greater than `start`, `None` at the end.
pub fn prog_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::ProgGetNextId, start)
}

/// `BPF_MAP_GET_NEXT_ID`: the first map id greater than `start`, `None` at the end.
pub fn map_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::MapGetNextId, start)
}

/// `BPF_LINK_GET_NEXT_ID`: the first link id greater than `start`, `None` at the end.
pub fn link_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::LinkGetNextId, start)
}

/// `BPF_BTF_GET_NEXT_ID`: the first BTF id greater than `start`, `None` at the end.
pub fn btf_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::BtfGetNextId, start)
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_get_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::ProgGetFdById, id, 0)
}

/// `BPF_MAP_GET_FD_BY_ID`; `open_flags` are `map_flags::RDONLY` / `WRONLY` or 0.
pub fn map_get_fd_by_id(id: u32, open_flags: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::MapGetFdById, id, open_flags)
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub fn btf_get_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::BtfGetFdById, id, 0)
}

/// `BPF_LINK_GET_FD_BY_ID`.
pub fn link_get_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::LinkGetFdById, id, 0)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{devnull, errno};
    use super::*;
    use crate::sys::with_syscall_override;
    use std::mem::offset_of;
    use std::os::fd::AsFd;

    #[test]
    fn attr_layout_matches_uapi() {
        // Offsets checked against include/uapi/linux/bpf.h (gcc offsetof on the 6.1
        // header; log_true_size and later fields from the 6.14+ header).
        assert_eq!(offset_of!(IdRaw, open_flags), 8);
        assert_eq!(offset_of!(InfoRaw, info), 8);
        assert_eq!(offset_of!(ProgInfo, name), 64);
        assert_eq!(offset_of!(ProgInfo, ifindex), 80);
        assert_eq!(offset_of!(ProgInfo, netns_dev), 88);
        assert_eq!(offset_of!(ProgInfo, run_cnt), 200);
        assert_eq!(offset_of!(ProgInfo, verified_insns), 216);
        assert_eq!(offset_of!(ProgInfo, attach_btf_id), 224);
        assert_eq!(size_of::<ProgInfo>(), 232);
        assert_eq!(offset_of!(MapInfo, name), 24);
        assert_eq!(offset_of!(MapInfo, netns_dev), 48);
        assert_eq!(offset_of!(MapInfo, map_extra), 80);
        assert_eq!(size_of::<MapInfo>(), 88);
        assert_eq!(size_of::<BtfInfoRaw>(), 32);
        assert_eq!(offset_of!(RawLinkInfo, extra), 16);
    }

    #[test]
    fn ids_and_info_injected() {
        let null = devnull();
        let r = with_syscall_override(
            |_| errno(libc::ENOENT),
            || {
                (
                    prog_get_next_id(0),
                    map_get_next_id(7),
                    link_get_next_id(0),
                    btf_get_next_id(0),
                )
            },
        );
        assert_eq!(r.0.unwrap(), None);
        assert_eq!(r.1.unwrap(), None);
        assert_eq!(r.2.unwrap(), None);
        assert_eq!(r.3.unwrap(), None);
        let e = with_syscall_override(|_| errno(libc::EPERM), || prog_get_next_id(0)).unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_PROG_GET_NEXT_ID", libc::EPERM));
        let e =
            with_syscall_override(|_| errno(libc::EINVAL), || prog_info(null.as_fd())).unwrap_err();
        assert_eq!(e.call, "BPF_OBJ_GET_INFO_BY_FD");
        let e =
            with_syscall_override(|_| errno(libc::ENOENT), || map_get_fd_by_id(1, 0)).unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_MAP_GET_FD_BY_ID", libc::ENOENT));
    }

    #[test]
    fn link_info_extra_u32() {
        let mut info = RawLinkInfo::default();
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&1u32.to_ne_bytes());
        b[4..].copy_from_slice(&2u32.to_ne_bytes());
        info.extra[0] = u64::from_ne_bytes(b);
        assert_eq!(info.extra_u32(0), Some(1));
        assert_eq!(info.extra_u32(1), Some(2));
        assert_eq!(info.extra_u32(12), None);
    }
}
