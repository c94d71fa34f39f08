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
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_MAP_GET_FD_BY_ID: libc::c_int = 14;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_int = 17;
const BPF_LINK_CREATE: libc::c_int = 28;

/// `enum bpf_prog_type` values used by the probes.
pub mod prog_type {
    pub const KPROBE: u32 = 2;
    pub const TRACING: u32 = 26;
    pub const LSM: u32 = 29;
}

/// `enum bpf_attach_type` values used by the probes.
pub mod attach_type {
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const MODIFY_RETURN: u32 = 26;
    pub const LSM_MAC: u32 = 27;
    pub const TRACE_KPROBE_MULTI: u32 = 42;
}

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
    const LICENSE: &CStr = c"GPL";
    let mut attr = Attr::<120>::new()
        .u32(0, prog_type)
        .u32(4, RETURN_0.len() as u32) // insn_cnt
        .u64(8, ptr(RETURN_0.as_ptr())) // insns
        .u64(16, ptr(LICENSE.as_ptr())) // license
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

/// `BPF_LINK_CREATE` of a kprobe program (loaded for `TRACE_KPROBE_MULTI`) on the
/// functions named `syms`.
pub fn link_create_kprobe_multi(prog: BorrowedFd<'_>, syms: &[&CStr]) -> io::Result<OwnedFd> {
    let names: Vec<u64> = syms.iter().map(|s| ptr(s.as_ptr())).collect();
    // kprobe_multi { u32 flags; u32 cnt; u64 syms; u64 addrs; u64 cookies; } at 16.
    let mut attr = Attr::<48>::new()
        .u32(0, fd_u32(prog))
        .u32(8, attach_type::TRACE_KPROBE_MULTI)
        .u32(20, names.len() as u32)
        .u64(24, ptr(names.as_ptr()));
    // SAFETY: `syms` points to `cnt` pointers (`names`), each to a NUL-terminated
    // string borrowed from `syms`; all outlive the call.
    unsafe { bpf_fd(BPF_LINK_CREATE, &mut attr) }
}

/// `BPF_RAW_TRACEPOINT_OPEN` with no name: attaches a tracing program to the target it
/// was loaded for (the pre-5.8 way, before tracing links).
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = Attr::<16>::new().u32(8, fd_u32(prog));
    // SAFETY: the name pointer is null; nothing else is a pointer.
    unsafe { bpf_fd(BPF_RAW_TRACEPOINT_OPEN, &mut attr) }
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
