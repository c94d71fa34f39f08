//! The few `bpf(2)` commands the tests ask the kernel directly, never through the
//! library under test: the feature probes (so a library bug can't pass for a missing
//! feature) and the leak check's by-id lookups (so the library can't vouch for itself).
//!
//! Each attribute is a zeroed byte buffer with the fields the command needs written at
//! their `union bpf_attr` offsets (`include/uapi/linux/bpf.h`); the kernel accepts a
//! buffer longer than it knows as long as the tail is zero.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `enum bpf_cmd` values used here.
const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_MAP_GET_FD_BY_ID: libc::c_int = 14;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_int = 17;
const BPF_BTF_LOAD: libc::c_int = 18;
const BPF_LINK_CREATE: libc::c_int = 28;

/// `enum bpf_prog_type` values used by the probes.
pub mod prog_type {
    pub const SCHED_CLS: u32 = 3;
    pub const XDP: u32 = 6;
    pub const KPROBE: u32 = 2;
    pub const TRACING: u32 = 26;
    pub const LSM: u32 = 29;
    pub const SOCKET_FILTER: u32 = 1;
    pub const EXT: u32 = 28;
    pub const SYSCALL: u32 = 31;
    pub const NETFILTER: u32 = 32;
}

/// `enum bpf_map_type` values used by the probes.
pub mod map_type {
    pub const STRUCT_OPS: u32 = 26;
}

/// `BPF_PROG_LOAD` and `BPF_MAP_CREATE` flags used by the probes.
pub mod flags {
    /// `BPF_F_SLEEPABLE`.
    pub const SLEEPABLE: u32 = 1 << 4;
    /// `BPF_F_LINK` (a struct_ops map registered through a link).
    pub const LINK: u32 = 1 << 13;
}

/// `enum bpf_attach_type` values used by the probes.
pub mod attach_type {
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const MODIFY_RETURN: u32 = 26;
    pub const LSM_MAC: u32 = 27;
    pub const TRACE_ITER: u32 = 28;
    pub const XDP: u32 = 37;
    pub const PERF_EVENT: u32 = 41;
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    pub const LSM_CGROUP: u32 = 43;
    pub const NETFILTER: u32 = 45;
    pub const TCX_INGRESS: u32 = 46;
    pub const TRACE_UPROBE_MULTI: u32 = 48;
    pub const NETKIT_PRIMARY: u32 = 54;
    pub const TRACE_KPROBE_SESSION: u32 = 56;
    pub const TRACE_UPROBE_SESSION: u32 = 57;
    pub const SK_MSG_VERDICT: u32 = 7;
}

/// `BPF_F_XDP_HAS_FRAGS`, a `prog_flags` bit.
pub const XDP_HAS_FRAGS: u32 = 1 << 5;

/// `BPF_F_SLEEPABLE`.
pub const PROG_SLEEPABLE: u32 = flags::SLEEPABLE;

/// One `struct bpf_insn`: opcode, `dst_reg` in the low nibble of the register byte,
/// `src_reg` in the high one, 16-bit offset, 32-bit immediate.
const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let o = off.to_ne_bytes();
    let i = imm.to_ne_bytes();
    [
        code,
        (src << 4) | (dst & 0xf),
        o[0],
        o[1],
        i[0],
        i[1],
        i[2],
        i[3],
    ]
}

/// `r0 = 0; exit`.
const RETURN_0: [[u8; 8]; 2] = [
    insn(0xb7, 0, 0, 0, 0), // BPF_ALU64 | BPF_MOV | BPF_K
    insn(0x95, 0, 0, 0, 0), // BPF_JMP | BPF_EXIT
];

/// A zeroed `union bpf_attr` prefix of `N` bytes with setters for its fields.
struct Attr<const N: usize>([u8; N]);

impl<const N: usize> Attr<N> {
    fn new() -> Self {
        Attr([0; N])
    }

    fn u32(mut self, off: usize, v: u32) -> Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn u64(mut self, off: usize, v: u64) -> Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
}

/// A pointer as the kernel's `__aligned_u64`.
fn ptr<T>(p: *const T) -> u64 {
    p as usize as u64
}

/// A descriptor as the kernel's `__u32` fd field.
fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

/// `bpf(cmd, attr, N)` for a command whose success value is a new descriptor.
///
/// # Safety
///
/// Every pointer stored in `attr` must point to memory that stays valid, and is as long
/// as the length stored beside it, for the duration of the call.
unsafe fn bpf_fd<const N: usize>(cmd: libc::c_int, attr: &mut Attr<N>) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a live, writable buffer of N bytes; the pointers inside it are
    // valid per this function's contract.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), N as libc::c_uint) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the command succeeded, so `r` is a descriptor it just created for us.
    Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) })
}

/// The `errno` of a failed call (0 if it has none).
pub fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// `BPF_PROG_LOAD` of a GPL `return 0` program, retried on `EAGAIN` as libbpf does.
pub fn prog_load(
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
) -> io::Result<OwnedFd> {
    prog_load_flags(prog_type, expected_attach_type, attach_btf_id, 0)
}

/// [`prog_load`] with `prog_flags` (`BPF_F_SLEEPABLE`, …).
pub fn prog_load_flags(
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    prog_flags: u32,
) -> io::Result<OwnedFd> {
    const LICENSE: &CStr = c"GPL";
    let mut attr = Attr::<120>::new()
        .u32(0, prog_type)
        .u32(44, prog_flags)
        .u32(4, RETURN_0.len() as u32) // insn_cnt
        .u64(8, ptr(RETURN_0.as_ptr())) // insns
        .u64(16, ptr(LICENSE.as_ptr())) // license
        .u32(44, prog_flags)
        .u32(68, expected_attach_type)
        .u32(108, attach_btf_id);
    let mut attempts = 5;
    loop {
        // SAFETY: `insns` points to the static RETURN_0 (insn_cnt instructions) and
        // `license` to a static NUL-terminated string.
        let r = unsafe { bpf_fd(BPF_PROG_LOAD, &mut attr) };
        attempts -= 1;
        match r {
            Err(e) if errno(&e) == libc::EAGAIN && attempts > 0 => continue,
            r => return r,
        }
    }
}

/// `BPF_PROG_LOAD` of `call helper; exit` as a `prog_type` program, with the verifier
/// log: whether it loaded, and the log.
pub fn helper_call_log(prog_type: u32, helper: i32) -> (bool, String) {
    const LICENSE: &CStr = c"GPL";
    let insns = [insn(0x85, 0, 0, 0, helper), insn(0x95, 0, 0, 0, 0)]; // call; exit
    let mut log = vec![0u8; 4096];
    let mut attr = Attr::<120>::new()
        .u32(0, prog_type)
        .u32(4, insns.len() as u32)
        .u64(8, ptr(insns.as_ptr()))
        .u64(16, ptr(LICENSE.as_ptr()))
        .u32(24, 1) // log_level
        .u32(28, log.len() as u32) // log_size
        .u64(32, ptr(log.as_mut_ptr())); // log_buf
                                         // SAFETY: `insns` (insn_cnt instructions), the license and the log buffer (log_size
                                         // bytes) outlive the call.
    let loaded = unsafe { bpf_fd(BPF_PROG_LOAD, &mut attr) }.is_ok();
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    (loaded, String::from_utf8_lossy(&log[..end]).into_owned())
}

/// `BPF_LINK_CREATE` of `prog` with no target and no attach-type-specific attributes
/// (fentry/fexit/fmod_ret/lsm/tp_btf links).
pub fn link_create(prog: BorrowedFd<'_>, attach_type: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::<16>::new().u32(0, fd_u32(prog)).u32(8, attach_type);
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` of `prog` on interface `ifindex` (XDP, tcx, netkit links).
pub fn link_create_ifindex(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: u32,
) -> io::Result<OwnedFd> {
    let mut attr = Attr::<16>::new()
        .u32(0, fd_u32(prog))
        .u32(4, ifindex)
        .u32(8, attach_type);
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` of a kprobe program (loaded for `TRACE_KPROBE_MULTI`) on the
/// functions named `syms`.
pub fn link_create_kprobe_multi(prog: BorrowedFd<'_>, syms: &[&CStr]) -> io::Result<OwnedFd> {
    link_create_kprobe_multi_as(prog, attach_type::TRACE_KPROBE_MULTI, syms)
}

/// [`link_create_kprobe_multi`] with another attach type (`TRACE_KPROBE_SESSION`).
pub fn link_create_kprobe_multi_as(
    prog: BorrowedFd<'_>,
    attach: u32,
    syms: &[&CStr],
) -> io::Result<OwnedFd> {
    let names: Vec<u64> = syms.iter().map(|s| ptr(s.as_ptr())).collect();
    // kprobe_multi { u32 flags; u32 cnt; u64 syms; u64 addrs; u64 cookies; } at 16.
    let mut attr = Attr::<48>::new()
        .u32(0, fd_u32(prog))
        .u32(8, attach)
        .u32(20, names.len() as u32)
        .u64(24, ptr(names.as_ptr()));
    // SAFETY: `syms` points to `cnt` pointers (`names`), each to a NUL-terminated
    // string borrowed from `syms`; all outlive the call.
    unsafe { bpf_fd(BPF_LINK_CREATE, &mut attr) }
}

/// Raw BTF of two global functions `int m(void)` and `int f(void)`: type 1 `int`, 2
/// their prototype, 3 the FUNC `m`, 4 the FUNC `f` (what [`prog_load_calling_f`] and
/// [`prog_load_extension`] name in their func_info).
pub fn btf_two_functions() -> Vec<u8> {
    const STRINGS: &[u8] = b"\0int\0m\0f\0";
    let words: [u32; 13] = [
        1,            // INT: name "int"
        1 << 24,      // kind INT
        4,            // size
        1 << 24 | 32, // BTF_INT_SIGNED, 32 bits
        0,            // FUNC_PROTO: no name
        13 << 24,     // kind FUNC_PROTO, no parameters
        1,            // returns int
        5,            // FUNC: name "m"
        12 << 24 | 1, // kind FUNC, global linkage
        2,            // its prototype
        7,            // FUNC: name "f"
        12 << 24 | 1, // kind FUNC, global linkage
        2,            // its prototype
    ];
    let types: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let mut btf = Vec::new();
    btf.extend_from_slice(&0xeb9fu16.to_ne_bytes()); // magic
    btf.extend_from_slice(&[1, 0]); // version, flags
    for w in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        STRINGS.len() as u32,
    ] {
        btf.extend_from_slice(&w.to_ne_bytes()); // hdr_len, type_off/len, str_off/len
    }
    btf.extend_from_slice(&types);
    btf.extend_from_slice(STRINGS);
    btf
}

/// `BPF_BTF_LOAD` of raw BTF.
pub fn btf_load(btf: &[u8]) -> io::Result<OwnedFd> {
    let mut attr = Attr::<28>::new()
        .u64(0, ptr(btf.as_ptr()))
        .u32(16, btf.len() as u32);
    // SAFETY: `btf` points to `btf_size` readable bytes that outlive the call.
    unsafe { bpf_fd(BPF_BTF_LOAD, &mut attr) }
}

/// `m`: `call f; exit`, then `f`: `r0 = 0; exit`.
const CALLS_F: [[u8; 8]; 4] = [
    insn(0x85, 0, 1, 0, 1), // BPF_JMP | BPF_CALL, src BPF_PSEUDO_CALL, to insn 2
    insn(0x95, 0, 0, 0, 0), // exit
    RETURN_0[0],
    RETURN_0[1],
];

/// `BPF_PROG_LOAD` of `prog_type` with `insns`, BTF `btf` and `func_info` records
/// (`insn_off`, `type_id` pairs), extending `attach_btf_id` of `attach_prog` when given;
/// the verifier's log goes to `log` when it is not empty.
fn prog_load_btf(
    prog_type: u32,
    insns: &[[u8; 8]],
    btf: BorrowedFd<'_>,
    func_info: &[[u32; 2]],
    attach: Option<(BorrowedFd<'_>, u32)>,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    const LICENSE: &CStr = c"GPL";
    let mut attr = Attr::<120>::new()
        .u32(0, prog_type)
        .u32(4, insns.len() as u32)
        .u64(8, ptr(insns.as_ptr()))
        .u64(16, ptr(LICENSE.as_ptr()))
        .u32(24, u32::from(!log.is_empty())) // log_level
        .u32(28, log.len() as u32)
        .u64(32, if log.is_empty() { 0 } else { ptr(log.as_ptr()) })
        .u32(72, fd_u32(btf)) // prog_btf_fd
        .u32(76, 8) // func_info_rec_size
        .u64(80, ptr(func_info.as_ptr()))
        .u32(88, func_info.len() as u32)
        .u32(108, attach.map_or(0, |(_, id)| id))
        .u32(112, attach.map_or(0, |(fd, _)| fd_u32(fd)));
    // SAFETY: `insns`, `license` and `func_info` point to live arrays of the counts
    // beside them, `log_buf` to `log_size` writable bytes.
    unsafe { bpf_fd(BPF_PROG_LOAD, &mut attr) }
}

/// A socket filter whose main function `m` calls the global function `f` of
/// [`btf_two_functions`]: a program with a function an extension may replace.
pub fn prog_load_calling_f(btf: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    prog_load_btf(
        prog_type::SOCKET_FILTER,
        &CALLS_F,
        btf,
        &[[0, 3], [2, 4]],
        None,
        &mut [],
    )
}

/// An extension (`r0 = 0; exit` as `f`) of function `f` of `target`.
pub fn prog_load_extension(
    btf: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    prog_load_btf(
        prog_type::EXT,
        &RETURN_0,
        btf,
        &[[0, 4]],
        Some((target, 4)),
        log,
    )
}

/// `BPF_MAP_CREATE` of a struct_ops map for the kernel value type `value_type_id`
/// (`struct bpf_struct_ops_NAME`, `value_size` bytes) with `map_flags`; the kernel
/// wants some BTF of the object's beside it (`btf`).
pub fn map_create_struct_ops(
    btf: BorrowedFd<'_>,
    value_type_id: u32,
    value_size: u32,
    map_flags: u32,
) -> io::Result<OwnedFd> {
    // map_type, key_size, value_size, max_entries, map_flags at 0..20; btf_fd at 48;
    // btf_vmlinux_value_type_id at 60.
    let mut attr = Attr::<64>::new()
        .u32(48, fd_u32(btf))
        .u32(0, map_type::STRUCT_OPS)
        .u32(4, 4)
        .u32(8, value_size)
        .u32(12, 1)
        .u32(16, map_flags)
        .u32(60, value_type_id);
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BPF_MAP_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` of `prog` on the perf event fd -1 (`BPF_PERF_EVENT`): a kernel
/// with perf links (and BPF cookies, 5.15) looks the fd up (`EBADF`).
pub fn link_create_perf_event_bad_fd(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = Attr::<24>::new()
        .u32(0, fd_u32(prog))
        .u32(4, u32::MAX)
        .u32(8, attach_type::PERF_EVENT);
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_LINK_CREATE` of an uprobe_multi (or session) link on offset 0 of `path`.
pub fn link_create_uprobe_multi(
    prog: BorrowedFd<'_>,
    attach_type: u32,
    path: &CStr,
) -> io::Result<OwnedFd> {
    let offsets = [0u64];
    // uprobe_multi { u64 path; u64 offsets; u64 ref_ctr_offsets; u64 cookies;
    // u32 cnt; u32 flags; u32 pid; } at 16.
    let mut attr = Attr::<64>::new()
        .u32(0, fd_u32(prog))
        .u32(8, attach_type)
        .u64(16, ptr(path.as_ptr()))
        .u64(24, ptr(offsets.as_ptr()))
        .u32(48, 1);
    // SAFETY: `path` is NUL-terminated and `offsets` holds `cnt` (1) u64s; both outlive
    // the call.
    unsafe { bpf_fd(BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_RAW_TRACEPOINT_OPEN` with no name: attaches a tracing program to the target it
/// was loaded for (the pre-5.8 way, before tracing links).
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = Attr::<16>::new().u32(8, fd_u32(prog));
    // SAFETY: the name pointer is null; nothing else is a pointer.
    unsafe { bpf_fd(BPF_RAW_TRACEPOINT_OPEN, &mut attr) }
}

/// `BPF_PROG_ATTACH` of `prog` to `target` (a cgroup, or a socket map for sk_msg and
/// sk_skb programs), which then holds the program until it is detached or freed.
pub fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = Attr::<16>::new()
        .u32(0, fd_u32(target))
        .u32(4, fd_u32(prog))
        .u32(8, attach_type);
    // SAFETY: the attribute holds no pointers; the command returns 0, not a descriptor.
    let r = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, attr.0.as_mut_ptr(), 16u32) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `BPF_PROG_GET_FD_BY_ID`: fails with `ENOENT` once the kernel has freed the program.
pub fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::<12>::new().u32(0, id);
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BPF_PROG_GET_FD_BY_ID, &mut attr) }
}

/// `BPF_MAP_GET_FD_BY_ID`: fails with `ENOENT` once the kernel has freed the map.
pub fn map_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::<12>::new().u32(0, id);
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BPF_MAP_GET_FD_BY_ID, &mut attr) }
}

/// `BPF_MAP_CREATE` without BTF: `map_type`, sizes, `max_entries`, `map_flags`.
pub fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> io::Result<OwnedFd> {
    let mut attr = Attr::<72>::new()
        .u32(0, map_type)
        .u32(4, key_size)
        .u32(8, value_size)
        .u32(12, max_entries)
        .u32(16, map_flags);
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BPF_MAP_CREATE, &mut attr) }
}

/// `BPF_MAP_CREATE` of a keyless, valueless map of `map_type` with `max_entries` (a
/// ring buffer's size in bytes).
pub fn map_create_sized(map_type: u32, max_entries: u32) -> io::Result<OwnedFd> {
    map_create(map_type, 0, 0, max_entries, 0)
}
