//! The kernel boundary: typed wrappers for `bpf(2)`, `perf_event_open(2)`, the perf
//! ioctls, `mmap(2)`, `setrlimit(2)` and the socket options that attach programs.
//!
//! This module is the one home of `unsafe` in the crate. Every system call made here
//! goes through one private chokepoint, `syscall`, so that unit tests anywhere in
//! the crate can inject results (`EPERM`, `E2BIG`, `ENOSPC`, …) with
//! `with_syscall_override` (test builds only) instead of needing a kernel. Waiting for
//! readiness is `nix::sys::epoll`'s (safe, and not injectable); [`epoll_wait`] only
//! adds this crate's error and interruption conventions. The chokepoint issues `bpf(2)`
//! itself (inline assembly on x86-64 and arm64, the C library's `syscall` elsewhere) and
//! is inlined into its callers: map element access is a call per element, and each
//! frame between a caller's loop and the kernel costs a mispredicted return.
//!
//! Conventions:
//! - every descriptor returned is an [`OwnedFd`]; descriptors taken as arguments are
//!   [`BorrowedFd`]s;
//! - every failure is a [`SysError`] naming the call (`"BPF_PROG_LOAD"`,
//!   `"perf_event_open"`, …) and carrying the `io::Error`;
//! - buffers the kernel writes into are checked against the sizes the kernel itself
//!   reported before the call, so no safe function here can make the kernel write
//!   past the end of a Rust buffer.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod bpf;
pub mod caps;
pub mod fs;
pub mod mmap;
pub mod netlink;
pub mod perf;
#[cfg(feature = "tokio")]
pub mod reactor;
pub mod socket;

pub use caps::Capability;
pub use fs::is_bpffs;

#[cfg(test)]
mod kernel_tests;

use std::ffi::{c_int, c_void};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollEvent, EpollTimeout};

#[cfg(test)]
pub(crate) use test_override::with_syscall_override;

/// The error of one failed system call: which call, and what the kernel said.
///
/// `call` names the operation the way `strace` would show it: the `bpf(2)` command
/// (`"BPF_MAP_CREATE"`), `"perf_event_open"`, the ioctl (`"PERF_EVENT_IOC_SET_BPF"`),
/// `"mmap"`, `"epoll_wait"`, ….
///
/// When the kernel refused the call for want of a capability (`EPERM`, or `EACCES`
/// from `perf_event_open`) and this process indeed lacks one the call needs, the
/// error says which ([`missing_capability`](Self::missing_capability)), e.g.
/// `BPF_MAP_CREATE failed (needs CAP_BPF, which this process lacks)`. When the process
/// holds every capability the call needs, the refusal is a policy's (an LSM, a
/// sysctl, lockdown) or the object's own, and nothing is claimed.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed{}", needs(.missing))]
#[non_exhaustive]
pub struct SysError {
    /// The system call or `bpf(2)` command that failed.
    pub call: &'static str,
    /// The underlying error; an OS error (`errno`) unless the arguments were rejected
    /// before the kernel was asked.
    pub source: io::Error,
    /// The capability the call needed and this process lacked when it failed.
    missing: Option<Capability>,
}

/// ` (needs CAP_X, which this process lacks)` for a `SysError`'s `Display`.
fn needs(missing: &Option<Capability>) -> String {
    match missing {
        Some(cap) => format!(" (needs {cap}, which this process lacks)"),
        None => String::new(),
    }
}

impl SysError {
    /// An error for `call` with the given `errno`.
    pub fn new(call: &'static str, errno: i32) -> Self {
        Self::from_io(call, io::Error::from_raw_os_error(errno))
    }

    /// Wraps an `io::Error` for `call`.
    pub(crate) fn from_io(call: &'static str, source: io::Error) -> Self {
        SysError {
            call,
            source,
            missing: None,
        }
    }

    /// Wraps the `io::Error` of a call that needs `needed` (checked as `check`):
    /// when it is one of `refusals` (`EPERM`, …) and this process lacks one of
    /// `needed`, the error names it.
    pub(crate) fn refused(
        call: &'static str,
        source: io::Error,
        refusals: &[i32],
        needed: &[Capability],
        check: caps::Check,
    ) -> Self {
        let refused = source
            .raw_os_error()
            .is_some_and(|errno| refusals.contains(&errno));
        let missing = if refused {
            caps::lacking(needed, check)
        } else {
            None
        };
        SysError {
            call,
            source,
            missing,
        }
    }

    /// An error for arguments rejected before the kernel was asked (too-short buffers,
    /// counts that do not fit the kernel's fields, …). Its [`errno`](Self::errno) is 0.
    pub(crate) fn invalid(call: &'static str, msg: impl Into<String>) -> Self {
        Self::from_io(
            call,
            io::Error::new(io::ErrorKind::InvalidInput, msg.into()),
        )
    }

    /// The `errno` the kernel returned, or 0 when the call was rejected before it
    /// reached the kernel.
    pub fn errno(&self) -> i32 {
        self.source.raw_os_error().unwrap_or(0)
    }

    /// The capability the call needed and this process lacked when the kernel refused
    /// it; `None` for other failures, and for refusals while the process held every
    /// capability the call needs (a security policy's, or the object's own).
    pub fn missing_capability(&self) -> Option<Capability> {
        self.missing
    }
}

/// The result of a call in this module.
pub type SysResult<T> = Result<T, SysError>;

/// One system call, as it reaches the chokepoint.
///
/// Test overrides see every call in this shape and may answer it instead of the kernel.
pub(crate) enum Syscall<'a> {
    /// `bpf(cmd, attr, attr.len())`; `attr` is the command's attribute struct viewed as
    /// bytes, exactly as long as the size passed to the kernel.
    Bpf {
        /// The command.
        cmd: bpf::BpfCmd,
        /// The attribute bytes (the kernel may write outputs into them).
        attr: &'a mut [u8],
    },
    /// `perf_event_open(attr, pid, cpu, group_fd, flags)`.
    PerfEventOpen {
        /// The attribute (the kernel may write `size` back on `E2BIG`).
        attr: &'a mut perf::PerfEventAttr,
        /// Process/thread to monitor (0 = calling thread, -1 = all).
        pid: i32,
        /// CPU to monitor (-1 = any).
        cpu: i32,
        /// Group leader, if any.
        group_fd: Option<BorrowedFd<'a>>,
        /// `PERF_FLAG_*` (always includes `PERF_FLAG_FD_CLOEXEC`).
        flags: u64,
    },
    /// An ioctl on a perf event descriptor.
    PerfIoctl {
        /// The perf event.
        fd: BorrowedFd<'a>,
        /// Which ioctl.
        request: perf::PerfIoctl<'a>,
    },
    /// `mmap(addr, len, prot, flags, fd, offset)`.
    Mmap {
        /// Address hint, or the exact address with `MAP_FIXED`.
        addr: *mut c_void,
        /// Length in bytes.
        len: usize,
        /// `PROT_*`.
        prot: c_int,
        /// `MAP_*`.
        flags: c_int,
        /// The mapped file, or `None` for anonymous memory.
        fd: Option<BorrowedFd<'a>>,
        /// Offset into the file.
        offset: i64,
    },
    /// `munmap(addr, len)`.
    Munmap {
        /// Start of the range.
        addr: *mut c_void,
        /// Length in bytes.
        len: usize,
    },
    /// `setrlimit(RLIMIT_MEMLOCK, {cur, max})`.
    SetMemlockRlimit {
        /// Soft limit.
        cur: u64,
        /// Hard limit.
        max: u64,
    },
    /// `setsockopt(fd, level, name, value, value.len())`.
    SetSockopt {
        /// The socket.
        fd: BorrowedFd<'a>,
        /// `SOL_SOCKET`, ….
        level: c_int,
        /// The option.
        name: c_int,
        /// The option's value, as the kernel reads it.
        value: &'a [u8],
    },
}

impl Syscall<'_> {
    /// The name used in [`SysError::call`] for this call.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Syscall::Bpf { cmd, .. } => cmd.name(),
            Syscall::PerfEventOpen { .. } => "perf_event_open",
            Syscall::PerfIoctl { request, .. } => request.name(),
            Syscall::Mmap { .. } => "mmap",
            Syscall::Munmap { .. } => "munmap",
            Syscall::SetMemlockRlimit { .. } => "setrlimit",
            Syscall::SetSockopt { .. } => "setsockopt",
        }
    }

    /// True when a successful result is a new file descriptor owned by the caller.
    #[cfg_attr(not(test), allow(dead_code))]
    fn creates_fd(&self) -> bool {
        match self {
            Syscall::Bpf { cmd, .. } => cmd.creates_fd(),
            Syscall::PerfEventOpen { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Debug for Syscall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Syscall::Bpf { cmd, attr } => f
                .debug_struct("Bpf")
                .field("cmd", cmd)
                .field("size", &attr.len())
                .finish(),
            Syscall::PerfEventOpen {
                attr,
                pid,
                cpu,
                group_fd,
                flags,
            } => f
                .debug_struct("PerfEventOpen")
                .field("type", &attr.type_)
                .field("config", &attr.config)
                .field("pid", pid)
                .field("cpu", cpu)
                .field("group_fd", group_fd)
                .field("flags", flags)
                .finish(),
            Syscall::PerfIoctl { fd, request } => f
                .debug_struct("PerfIoctl")
                .field("fd", fd)
                .field("request", request)
                .finish(),
            Syscall::Mmap {
                addr,
                len,
                prot,
                flags,
                fd,
                offset,
            } => f
                .debug_struct("Mmap")
                .field("addr", addr)
                .field("len", len)
                .field("prot", prot)
                .field("flags", flags)
                .field("fd", fd)
                .field("offset", offset)
                .finish(),
            Syscall::Munmap { addr, len } => f
                .debug_struct("Munmap")
                .field("addr", addr)
                .field("len", len)
                .finish(),
            Syscall::SetMemlockRlimit { cur, max } => f
                .debug_struct("SetMemlockRlimit")
                .field("cur", cur)
                .field("max", max)
                .finish(),
            Syscall::SetSockopt {
                fd,
                level,
                name,
                value,
            } => f
                .debug_struct("SetSockopt")
                .field("fd", fd)
                .field("level", level)
                .field("name", name)
                .field("len", &value.len())
                .finish(),
        }
    }
}

/// The chokepoint: performs `call` and returns the kernel's non-negative result, or the
/// `errno` as an `io::Error`.
///
/// In test builds a hook installed by `with_syscall_override` sees the call first and
/// may answer it.
///
/// # Safety
///
/// Every address the kernel will dereference must be valid for the access the kernel
/// makes: the pointers stored (as `u64`) inside a `bpf(2)` attribute must point to live
/// buffers at least as long as the lengths stored beside them (and writable where the
/// kernel writes); an `Mmap` with `MAP_FIXED` must only replace memory the caller owns;
/// a `Munmap` range must be a mapping the caller owns and no longer uses.
// Inlined into every caller, down to the `syscall` instruction: a map lookup is one
// `bpf(2)` call, and the kernel's own calls leave the CPU's return-address predictor
// holding nothing of ours, so that every frame between the caller's loop and the
// instruction returns mispredicted (about 5 ns each here, measured: four extra frames
// cost 5% of a per-CPU hash map read).
#[inline(always)]
pub(crate) unsafe fn syscall(call: Syscall<'_>) -> io::Result<i64> {
    #[cfg(test)]
    if let Some(result) = test_override::call(&call) {
        return match result {
            // An injected success for a call that creates a descriptor stands for a new
            // descriptor the caller will own. Hand out a real one (of /dev/null) so that
            // wrapping it in an `OwnedFd` can never close somebody else's descriptor.
            Ok(_) if call.creates_fd() => test_override::fresh_fd(),
            // An injected success for `mmap` cannot stand for a real mapping; run the
            // real call instead.
            // SAFETY: the caller upholds this function's contract for `call`.
            Ok(_) if matches!(call, Syscall::Mmap { .. }) => unsafe { raw_syscall(call) },
            other => other,
        };
    }
    match call {
        // SAFETY: the caller upholds this function's contract for `call`.
        Syscall::Bpf { cmd, attr } => unsafe { bpf_syscall(cmd, attr) },
        // SAFETY: the caller upholds this function's contract for `call`.
        other => unsafe { raw_syscall(other) },
    }
}

/// `bpf(cmd, attr, attr.len())`, issued inline (see [`syscall`] for why).
///
/// # Safety
///
/// As for [`syscall`]: the pointers inside `attr` must be valid for the kernel's
/// accesses.
#[inline(always)]
unsafe fn bpf_syscall(cmd: bpf::BpfCmd, attr: &mut [u8]) -> io::Result<i64> {
    let Ok(size) = u32::try_from(attr.len()) else {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    };
    // SAFETY: `attr` is a live, writable buffer of `size` bytes; the pointers inside it
    // are valid per this function's contract.
    let ret = unsafe {
        raw::syscall3(
            libc::SYS_bpf,
            cmd as usize,
            attr.as_mut_ptr() as usize,
            size as usize,
        )
    };
    raw::result(ret)
}

/// Three-argument system calls without the C library's wrapper (one frame less between
/// the caller and the kernel), where the architecture's calling sequence is known.
mod raw {
    use std::io;

    /// The kernel's `-errno` convention turned into a result.
    #[inline(always)]
    pub(super) fn result(ret: isize) -> io::Result<i64> {
        // The kernel reports errors as -4095..=-1 (`MAX_ERRNO`).
        if (-4095..0).contains(&ret) {
            Err(io::Error::from_raw_os_error(-ret as i32))
        } else {
            Ok(ret as i64)
        }
    }

    /// `nr(a, b, c)`; returns the raw kernel result (`-errno` on failure).
    ///
    /// # Safety
    ///
    /// The call must be one whose memory accesses through `a`, `b` and `c` are valid.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) unsafe fn syscall3(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
        let ret: isize;
        // SAFETY: the x86-64 Linux system call sequence: number in rax, arguments in
        // rdi, rsi, rdx, result in rax; the instruction clobbers rcx and r11 and nothing
        // else. The asm is not `nomem`: the kernel may read and write memory through
        // the arguments (valid per this function's contract), so the compiler keeps
        // every store before the call and reloads after it.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack, preserves_flags),
            );
        }
        ret
    }

    /// `nr(a, b, c)`; returns the raw kernel result (`-errno` on failure).
    ///
    /// # Safety
    ///
    /// The call must be one whose memory accesses through `a`, `b` and `c` are valid.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub(super) unsafe fn syscall3(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
        let ret: isize;
        // SAFETY: the arm64 Linux system call sequence: number in x8, arguments in
        // x0..x2, result in x0, nothing else clobbered. Not `nomem`, as on x86-64.
        unsafe {
            std::arch::asm!(
                "svc 0",
                in("x8") nr,
                inlateout("x0") a as isize => ret,
                in("x1") b,
                in("x2") c,
                options(nostack, preserves_flags),
            );
        }
        ret
    }

    /// `nr(a, b, c)` through the C library elsewhere; returns `-errno` on failure.
    ///
    /// # Safety
    ///
    /// The call must be one whose memory accesses through `a`, `b` and `c` are valid.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[inline(always)]
    pub(super) unsafe fn syscall3(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { libc::syscall(nr, a, b, c) };
        if r < 0 {
            -(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as isize)
        } else {
            r as isize
        }
    }
}

/// Performs `call` for real.
///
/// # Safety
///
/// As for [`syscall`].
// `c_long`/`c_int` results widen to i64; on some targets that is the identity.
#[allow(clippy::useless_conversion)]
unsafe fn raw_syscall(call: Syscall<'_>) -> io::Result<i64> {
    let ret: i64 = match call {
        // SAFETY: forwarded from this function's contract.
        Syscall::Bpf { cmd, attr } => return unsafe { bpf_syscall(cmd, attr) },
        Syscall::PerfEventOpen {
            attr,
            pid,
            cpu,
            group_fd,
            flags,
        } => {
            let group = group_fd.map_or(-1, |fd| fd.as_raw_fd());
            let attr: *mut perf::PerfEventAttr = attr;
            // SAFETY: `attr` points to a live, writable `PerfEventAttr` whose `size`
            // field is at most its real size (enforced by `perf_event_open`), so the
            // kernel reads and writes only inside it.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_perf_event_open,
                    attr,
                    pid as c_int,
                    cpu as c_int,
                    group as c_int,
                    flags as libc::c_ulong,
                )
            };
            i64::from(r)
        }
        Syscall::PerfIoctl { fd, request } => {
            let (code, arg) = request.code_and_arg();
            // SAFETY: the perf ioctls issued here take an integer argument (or none);
            // the kernel dereferences no user memory for them.
            let r = unsafe { libc::ioctl(fd.as_raw_fd(), code, arg) };
            i64::from(r)
        }
        Syscall::Mmap {
            addr,
            len,
            prot,
            flags,
            fd,
            offset,
        } => {
            let raw_fd = fd.map_or(-1, |fd| fd.as_raw_fd());
            let offset = libc::off_t::try_from(offset)
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            // SAFETY: per this function's contract, a MAP_FIXED request only replaces
            // memory the caller owns; otherwise the kernel picks a fresh range.
            let p = unsafe { libc::mmap(addr, len, prot, flags, raw_fd, offset) };
            if p == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            return Ok(p as usize as i64);
        }
        Syscall::Munmap { addr, len } => {
            // SAFETY: per this function's contract the range is a mapping the caller
            // owns and no longer references.
            let r = unsafe { libc::munmap(addr, len) };
            i64::from(r)
        }
        Syscall::SetMemlockRlimit { cur, max } => {
            let lim = libc::rlimit {
                rlim_cur: cur as libc::rlim_t,
                rlim_max: max as libc::rlim_t,
            };
            // SAFETY: `lim` is a live `rlimit`.
            let r = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
            i64::from(r)
        }
        Syscall::SetSockopt {
            fd,
            level,
            name,
            value,
        } => {
            let len = libc::socklen_t::try_from(value.len())
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            // SAFETY: `value` is a live buffer of `len` bytes, which the kernel only reads.
            let r = unsafe {
                libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), len)
            };
            i64::from(r)
        }
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Wraps the result of a call that creates a file descriptor.
///
/// Only for results of calls whose success value is a new descriptor owned by the
/// caller (see `Syscall::creates_fd`); that is what makes taking ownership sound.
fn owned_fd(call: &'static str, ret: i64) -> SysResult<OwnedFd> {
    let raw = RawFd::try_from(ret)
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or_else(|| {
            SysError::from_io(
                call,
                io::Error::other(format!("kernel returned invalid fd {ret}")),
            )
        })?;
    // SAFETY: `ret` is the result of a call that just created this descriptor for us
    // (or a fresh /dev/null descriptor substituted by a test hook); nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The size of a memory page, in bytes.
pub fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(r)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// The number of possible CPUs, as the kernel counts them for per-CPU maps
/// (`num_possible_cpus()`), read from `/sys/devices/system/cpu/possible`.
pub fn possible_cpus() -> SysResult<u32> {
    static CPUS: OnceLock<u32> = OnceLock::new();
    if let Some(n) = CPUS.get() {
        return Ok(*n);
    }
    const PATH: &str = "/sys/devices/system/cpu/possible";
    let text =
        std::fs::read_to_string(PATH).map_err(|e| SysError::from_io("read cpu/possible", e))?;
    let n = parse_cpu_list(&text).ok_or_else(|| {
        SysError::from_io(
            "read cpu/possible",
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot parse {PATH}: {text:?}"),
            ),
        )
    })?;
    Ok(*CPUS.get_or_init(|| n))
}

/// `pidfd_open(pid, 0)` (5.3+): a descriptor that refers to process `pid` (the key of
/// a task storage map).
pub fn pidfd_open(pid: u32) -> SysResult<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| SysError::invalid("pidfd_open", format!("pid {pid} is out of range")))?;
    // SAFETY: pidfd_open takes no pointers; on success it returns a new descriptor.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if r < 0 {
        return Err(SysError::from_io("pidfd_open", io::Error::last_os_error()));
    }
    owned_fd("pidfd_open", r)
}

/// `pidfd_getfd(pidfd, fd, 0)` (5.6+): a duplicate, in this process, of descriptor `fd`
/// of the process `pidfd` refers to (it needs ptrace access to that process).
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, fd: RawFd) -> SysResult<OwnedFd> {
    // SAFETY: pidfd_getfd takes two descriptor numbers and flags, no pointers; on
    // success it returns a new descriptor.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            pidfd.as_raw_fd(),
            fd,
            0 as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(SysError::from_io("pidfd_getfd", io::Error::last_os_error()));
    }
    owned_fd("pidfd_getfd", r)
}

/// Counts the CPUs in a kernel CPU list such as `"0-3,5,7-8"`; `None` if malformed or
/// empty.
fn parse_cpu_list(text: &str) -> Option<u32> {
    let mut count: u32 = 0;
    for (lo, hi) in cpu_ranges(text)? {
        count = count.checked_add((hi - lo).checked_add(1)?)?;
    }
    (count > 0).then_some(count)
}

/// The `(first, last)` ranges of a kernel CPU list such as `"0-3,5,7-8"`; `None` if
/// malformed or empty.
fn cpu_ranges(text: &str) -> Option<Vec<(u32, u32)>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    text.split(',')
        .map(|part| {
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
                None => {
                    let v = part.trim().parse::<u32>().ok()?;
                    (v, v)
                }
            };
            (lo <= hi).then_some((lo, hi))
        })
        .collect()
}

/// The most CPUs a kernel CPU list may name here: Linux's `NR_CPUS` is at most 8192,
/// so a larger number is a malformed file, not a machine.
const MAX_CPUS: u32 = 1 << 16;

/// The CPU numbers of a kernel CPU list, in order; `None` if malformed, empty, or
/// naming a CPU at or past [`MAX_CPUS`].
fn parse_cpu_numbers(text: &str) -> Option<Vec<u32>> {
    let ranges = cpu_ranges(text)?;
    if ranges.iter().any(|&(_, hi)| hi >= MAX_CPUS) {
        return None;
    }
    let mut cpus: Vec<u32> = ranges.into_iter().flat_map(|(lo, hi)| lo..=hi).collect();
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// The CPUs online now, from `/sys/devices/system/cpu/online` (read anew on each call:
/// CPUs come and go), as libbpf reads them for a perf buffer.
pub fn online_cpus() -> SysResult<Vec<u32>> {
    const PATH: &str = "/sys/devices/system/cpu/online";
    let text =
        std::fs::read_to_string(PATH).map_err(|e| SysError::from_io("read cpu/online", e))?;
    parse_cpu_numbers(&text).ok_or_else(|| {
        SysError::from_io(
            "read cpu/online",
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot parse {PATH}: {text:?}"),
            ),
        )
    })
}

/// Raises `RLIMIT_MEMLOCK` to infinity.
///
/// Kernels before 5.11 charge BPF maps and programs against the locked-memory limit,
/// whose default (64 KiB or 8 MiB) is easily exceeded; newer kernels use memory cgroups
/// and do not need this.
pub fn bump_memlock_rlimit() -> SysResult<()> {
    let call = Syscall::SetMemlockRlimit {
        cur: libc::RLIM_INFINITY,
        max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit takes no user pointers from us (the struct is built inside).
    unsafe { syscall(call) }
        .map(|_| ())
        .map_err(|e| SysError::from_io("setrlimit", e))
}

/// Waits up to `timeout` (forever when `None`; longer than `i32::MAX` ms is capped) for
/// descriptors of `epoll` to become ready, filling `events`; returns how many were
/// filled. An interrupted wait (`EINTR`: a signal handler ran) returns `Ok(0)`, so a
/// caller's loop can check for shutdown.
pub(crate) fn epoll_wait(
    epoll: &Epoll,
    events: &mut [EpollEvent],
    timeout: Option<Duration>,
) -> SysResult<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let timeout = timeout.map_or(EpollTimeout::NONE, |t| {
        EpollTimeout::try_from(t).unwrap_or(EpollTimeout::MAX)
    });
    match epoll.wait(events, timeout) {
        Ok(n) => Ok(n),
        Err(Errno::EINTR) => Ok(0),
        Err(e) => Err(SysError::new("epoll_wait", e as i32)),
    }
}

#[cfg(test)]
mod test_override {
    //! The thread-local hook behind `with_syscall_override`.

    use super::Syscall;
    use std::cell::Cell;
    use std::io;
    use std::os::fd::IntoRawFd;
    use std::ptr::NonNull;

    type Hook<'f> = dyn FnMut(&Syscall<'_>) -> Option<io::Result<i64>> + 'f;

    thread_local! {
        static HOOK: Cell<Option<NonNull<Hook<'static>>>> = const { Cell::new(None) };
    }

    /// Puts a hook pointer back into `HOOK` when dropped (also on unwinding).
    struct Put(Option<NonNull<Hook<'static>>>);

    impl Drop for Put {
        fn drop(&mut self) {
            HOOK.with(|h| h.set(self.0));
        }
    }

    /// Runs `body` with `hook` answering this thread's system calls.
    ///
    /// For each call made through the chokepoint, `hook` returns `None` to let it reach
    /// the kernel, or `Some(result)` to answer it. An injected `Ok` for a call that
    /// creates a descriptor (`BPF_MAP_CREATE`, `BPF_PROG_LOAD`, `perf_event_open`, …)
    /// yields a fresh descriptor of `/dev/null` owned by the caller, whatever number was
    /// injected; an injected `Ok` for `mmap` is ignored and the real call runs. Calls the
    /// hook itself makes reach the kernel. Overrides nest; the previous one is restored
    /// when `body` returns or unwinds.
    pub(crate) fn with_syscall_override<R>(
        mut hook: impl FnMut(&Syscall<'_>) -> Option<io::Result<i64>>,
        body: impl FnOnce() -> R,
    ) -> R {
        let hook: &mut Hook<'_> = &mut hook;
        let ptr = NonNull::from(hook);
        // SAFETY: only the lifetime bound of the trait object is changed. The pointer is
        // removed from HOOK (by `_restore`) before `hook` goes out of scope, it is only
        // used on this thread, and only while `body` runs.
        let ptr = unsafe { std::mem::transmute::<NonNull<Hook<'_>>, NonNull<Hook<'static>>>(ptr) };
        let prev = HOOK.with(|h| h.replace(Some(ptr)));
        let _restore = Put(prev);
        body()
    }

    /// Asks the installed hook, if any, to answer `call`.
    pub(super) fn call(call: &Syscall<'_>) -> Option<io::Result<i64>> {
        let ptr = HOOK.with(|h| h.take())?;
        let _put_back = Put(Some(ptr));
        // SAFETY: the hook is alive while it is installed (see `with_syscall_override`),
        // and it was taken out of HOOK for the duration of this call, so no other
        // reference to it exists (a syscall made by the hook finds no hook).
        let hook = unsafe { &mut *ptr.as_ptr() };
        hook(call)
    }

    /// A new descriptor the caller owns, standing for an injected successful fd.
    pub(super) fn fresh_fd() -> io::Result<i64> {
        let f = std::fs::File::open("/dev/null")?;
        Ok(i64::from(f.into_raw_fd()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(e: i32) -> Option<io::Result<i64>> {
        Some(Err(io::Error::from_raw_os_error(e)))
    }

    /// The inline `bpf(2)` path turns the kernel's `-errno` into the errno: a command
    /// number the kernel does not have is EINVAL, a descriptor that is not a map EBADF.
    #[test]
    fn raw_bpf_calls_report_the_kernels_errno() {
        assert_eq!(
            raw::result(-libc::ENOENT as isize)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOENT)
        );
        assert_eq!(raw::result(-4095).unwrap_err().raw_os_error(), Some(4095));
        assert_eq!(raw::result(7).unwrap(), 7);
        // map_fd -1, no pointers.
        let mut attr = [0u8; 32];
        attr[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        // SAFETY: the attribute holds no pointers.
        let e = unsafe { bpf_syscall(bpf::BpfCmd::MapLookupElem, &mut attr) }.unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
        let mut attr = [0u8; 8];
        // SAFETY: as above; the kernel rejects the attribute before reading pointers.
        let r = unsafe { raw::syscall3(libc::SYS_bpf, 9999, attr.as_mut_ptr() as usize, 8) };
        assert_eq!(
            raw::result(r).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn cpu_ids_of_a_list() {
        assert_eq!(parse_cpu_numbers("0-2,5\n"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_numbers("3"), Some(vec![3]));
        assert_eq!(parse_cpu_numbers(""), None);
        assert_eq!(parse_cpu_numbers("0-4294967295"), None);
        assert_eq!(parse_cpu_numbers("2-1"), None);
    }

    #[test]
    fn sys_error_display_and_errno() {
        let e = SysError::new("BPF_MAP_CREATE", libc::EPERM);
        assert_eq!(e.errno(), libc::EPERM);
        // The message names the call; the errno is the source, not repeated.
        assert_eq!(e.to_string(), "BPF_MAP_CREATE failed");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(cause.contains("os error 1"), "{cause}");
        let e = SysError::invalid("BPF_MAP_LOOKUP_ELEM", "short buffer");
        assert_eq!(e.errno(), 0);
        assert_eq!(
            crate::util::Chain(&e).to_string(),
            "BPF_MAP_LOOKUP_ELEM failed: short buffer"
        );
        assert!(std::error::Error::source(&e).is_some());
    }

    /// An `EPERM` for `call` while this process (as the test pretends) holds `held`.
    fn refused_holding<T: fmt::Debug>(
        held: &[Capability],
        errno_: i32,
        call: impl FnOnce() -> SysResult<T>,
    ) -> SysError {
        caps::with_capabilities(held, true, || {
            with_syscall_override(|_| errno(errno_), call).unwrap_err()
        })
    }

    #[test]
    fn a_refusal_names_the_capability_the_process_lacks() {
        use Capability::*;
        let map = bpf::MapCreateAttr {
            map_type: bpf::map_type::HASH,
            ..Default::default()
        };
        let e = refused_holding(&[Perfmon, NetAdmin], libc::EPERM, || bpf::map_create(&map));
        assert_eq!(e.missing_capability(), Some(Bpf));
        // Its own words; the errno stays the source, not repeated.
        assert_eq!(
            e.to_string(),
            "BPF_MAP_CREATE failed (needs CAP_BPF, which this process lacks)"
        );
        assert_eq!(
            crate::util::Chain(&e).to_string(),
            "BPF_MAP_CREATE failed (needs CAP_BPF, which this process lacks): \
             Operation not permitted (os error 1)"
        );
        // A device map needs CAP_NET_ADMIN as well.
        let devmap = bpf::MapCreateAttr {
            map_type: bpf::map_type::DEVMAP,
            ..map
        };
        let e = refused_holding(&[Bpf], libc::EPERM, || bpf::map_create(&devmap));
        assert_eq!(e.missing_capability(), Some(NetAdmin));

        // Listing and opening by id: CAP_SYS_ADMIN, which nothing else stands in for.
        let e = refused_holding(&[Bpf, Perfmon, NetAdmin], libc::EPERM, || {
            bpf::prog_get_next_id(0)
        });
        assert_eq!(e.missing_capability(), Some(SysAdmin));
        assert!(e.to_string().contains("needs CAP_SYS_ADMIN"), "{e}");
        let e = refused_holding(&[Bpf], libc::EPERM, || bpf::map_get_fd_by_id(7, 0));
        assert_eq!(e.missing_capability(), Some(SysAdmin));

        // Loading: what the program type needs, the first one missing.
        let insns = [];
        let load = |prog_type| {
            move || bpf::prog_load(&mut bpf::ProgLoadAttr::new(prog_type, &insns, c"GPL"))
        };
        let tp = load(bpf::prog_type::TRACEPOINT);
        let e = refused_holding(&[Bpf, NetAdmin], libc::EPERM, tp);
        assert_eq!(e.missing_capability(), Some(Perfmon));
        let e = refused_holding(&[Bpf, Perfmon], libc::EPERM, load(bpf::prog_type::XDP));
        assert_eq!(e.missing_capability(), Some(NetAdmin));
        let e = refused_holding(&[Perfmon, NetAdmin], libc::EPERM, load(bpf::prog_type::XDP));
        assert_eq!(e.missing_capability(), Some(Bpf));
        let socket = load(bpf::prog_type::SOCKET_FILTER);
        assert_eq!(
            refused_holding(&[Bpf], libc::EPERM, socket).missing_capability(),
            None
        );

        // perf_event_open: CAP_PERFMON, refused with EACCES by the probe PMUs.
        let attr = perf::PerfEventAttr::new(perf::perf_type::TRACEPOINT, 1);
        let open = || perf::perf_event_open(&attr, -1, 0, None, 0);
        let e = refused_holding(&[Bpf], libc::EACCES, open);
        assert_eq!(e.missing_capability(), Some(Perfmon));
        assert_eq!(
            e.to_string(),
            "perf_event_open failed (needs CAP_PERFMON, which this process lacks)"
        );

        // Before 5.8 there is no CAP_BPF: the need is CAP_SYS_ADMIN.
        let e = caps::with_capabilities(&[Bpf, Perfmon], false, || {
            with_syscall_override(|_| errno(libc::EPERM), tp).unwrap_err()
        });
        assert_eq!(e.missing_capability(), Some(SysAdmin));

        // Netlink: CAP_NET_ADMIN, and CAP_SYS_ADMIN does not stand in.
        let refusal = |errno_| netlink::NetlinkError::Refused {
            request: "RTM_SETLINK IFLA_XDP",
            message: None,
            bad_attr_offset: None,
            source: io::Error::from_raw_os_error(errno_),
        };
        caps::with_capabilities(&[SysAdmin, Bpf], true, || {
            let e = refusal(libc::EPERM);
            assert_eq!(e.missing_capability(), Some(NetAdmin));
            assert_eq!(
                e.to_string(),
                "RTM_SETLINK IFLA_XDP refused by the kernel \
                 (needs CAP_NET_ADMIN, which this process lacks)"
            );
            assert_eq!(refusal(libc::EINVAL).missing_capability(), None);
        });
        caps::with_capabilities(&[NetAdmin], true, || {
            let e = refusal(libc::EPERM);
            assert_eq!(e.missing_capability(), None);
            assert_eq!(e.to_string(), "RTM_SETLINK IFLA_XDP refused by the kernel");
        });
    }

    /// A process that holds what a call needs was refused by a policy (or by the
    /// object: a frozen map refuses updates with EPERM): nothing is claimed.
    #[test]
    fn a_refusal_with_the_capability_held_claims_nothing() {
        use Capability::*;
        let map = bpf::MapCreateAttr::default();
        // CAP_SYS_ADMIN stands in for CAP_BPF.
        for held in [&[Bpf][..], &[SysAdmin]] {
            let e = refused_holding(held, libc::EPERM, || bpf::map_create(&map));
            assert_eq!(e.missing_capability(), None, "{held:?}");
            assert_eq!(e.to_string(), "BPF_MAP_CREATE failed");
        }
        // Other errnos are not refusals.
        let e = refused_holding(&[], libc::EINVAL, || bpf::map_create(&map));
        assert_eq!(e.missing_capability(), None);
        // Commands that check no capability claim none, whatever the process holds.
        let fd = std::fs::File::open("/dev/null").unwrap();
        let e = refused_holding(&[], libc::EPERM, || {
            bpf::map_freeze(std::os::fd::AsFd::as_fd(&fd))
        });
        assert_eq!(e.missing_capability(), None);
        assert_eq!(e.to_string(), "BPF_MAP_FREEZE failed");
        // The real process: as root with every capability, an injected EPERM is a
        // policy's.
        let all = [Bpf, Perfmon, NetAdmin, SysAdmin];
        if all.iter().all(|c| c.is_effective()) {
            let e = with_syscall_override(|_| errno(libc::EPERM), || bpf::map_create(&map))
                .unwrap_err();
            assert_eq!(e.missing_capability(), None);
            let e = with_syscall_override(|_| errno(libc::EPERM), || bpf::prog_get_next_id(0))
                .unwrap_err();
            assert_eq!(e.missing_capability(), None);
        }
    }

    #[test]
    fn cpu_list_parsing() {
        assert_eq!(parse_cpu_list("0-7\n"), Some(8));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3,5,7-8"), Some(7));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
        assert_eq!(parse_cpu_list("0-4294967295,1-2"), None);
        assert!(possible_cpus().unwrap() >= 1);
        assert_eq!(parse_cpu_numbers("0-2,5\n"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_numbers("4,0-1,1"), Some(vec![0, 1, 4]));
        assert_eq!(parse_cpu_numbers("0-65536"), None);
        assert_eq!(parse_cpu_numbers(""), None);
        assert_eq!(parse_cpu_numbers("1,,2"), None);
        let online = online_cpus().unwrap();
        assert!(!online.is_empty() && online.len() <= possible_cpus().unwrap() as usize);
    }

    #[test]
    fn page_size_is_sane() {
        assert!(page_size() >= 4096 && page_size().is_power_of_two());
    }

    #[test]
    fn override_injects_and_nests() {
        let mut seen = Vec::new();
        let r = with_syscall_override(
            |c| {
                seen.push(c.name());
                errno(libc::EPERM)
            },
            || {
                let outer = bump_memlock_rlimit().unwrap_err();
                let inner = with_syscall_override(|_| errno(libc::ENOMEM), bump_memlock_rlimit);
                let again = bump_memlock_rlimit().unwrap_err();
                (outer.errno(), inner.unwrap_err().errno(), again.errno())
            },
        );
        assert_eq!(r, (libc::EPERM, libc::ENOMEM, libc::EPERM));
        assert_eq!(seen, vec!["setrlimit", "setrlimit"]);
    }

    #[test]
    fn override_restored_after_panic() {
        let caught = std::panic::catch_unwind(|| {
            with_syscall_override(|_| errno(libc::EPERM), || panic!("boom"))
        });
        assert!(caught.is_err());
        // No hook left behind: the call reaches the kernel (as root it succeeds; as
        // an unprivileged user raising the hard limit fails with EPERM from the kernel,
        // which we cannot tell apart, so only check the hook is gone).
        let mut hits = 0;
        with_syscall_override(
            |_| {
                hits += 1;
                errno(libc::EIO)
            },
            || assert_eq!(bump_memlock_rlimit().unwrap_err().errno(), libc::EIO),
        );
        assert_eq!(hits, 1);
    }

    #[test]
    fn injected_fd_is_a_real_owned_fd() {
        let attr = bpf::MapCreateAttr::default();
        let fd = with_syscall_override(|_| Some(Ok(12345)), || bpf::map_create(&attr));
        let fd = fd.unwrap();
        assert_ne!(fd.as_raw_fd(), 12345);
        // It is a real descriptor: fstat works.
        assert!(std::fs::File::from(fd).metadata().is_ok());
    }

    fn epoll() -> Epoll {
        Epoll::new(nix::sys::epoll::EpollCreateFlags::EPOLL_CLOEXEC).unwrap()
    }

    #[test]
    fn epoll_wait_reports_ready_descriptors_with_their_token() {
        use nix::sys::epoll::EpollFlags;
        use std::io::Write;
        let ep = epoll();
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        ep.add(&b, EpollEvent::new(EpollFlags::EPOLLIN, 77))
            .unwrap();
        let mut events = [EpollEvent::empty(); 4];
        let now = Some(Duration::ZERO);
        assert_eq!(epoll_wait(&ep, &mut events, now).unwrap(), 0);
        a.write_all(b"x").unwrap();
        let n = epoll_wait(&ep, &mut events, Some(Duration::from_secs(1))).unwrap();
        assert_eq!(n, 1);
        assert_eq!(events[0].data(), 77);
        assert!(events[0].events().contains(EpollFlags::EPOLLIN));
        // More than i32::MAX ms is capped, not an error; nothing to fill is no wait.
        let forever = Some(Duration::from_secs(u64::MAX));
        assert_eq!(epoll_wait(&ep, &mut events, forever).unwrap(), 1);
        assert_eq!(epoll_wait(&ep, &mut [], None).unwrap(), 0);
    }

    /// A signal handler running during the wait makes it return 0, not an error: the
    /// caller's loop goes on (and may check for shutdown). epoll_wait is never
    /// restarted after a handler, so a wait forever returns once a signal lands.
    #[test]
    fn epoll_wait_interrupted_by_a_signal_returns_zero() {
        use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
        use std::sync::atomic::{AtomicBool, Ordering};

        extern "C" fn nothing(_: c_int) {}
        let action = SigAction::new(
            SigHandler::Handler(nothing),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing, so it is async-signal-safe; SIGURG is
        // ignored by default and used by nothing else in this test binary.
        let previous = unsafe { sigaction(Signal::SIGURG, &action) }.unwrap();
        // SAFETY: pthread_self has no preconditions.
        let waiter = unsafe { libc::pthread_self() };
        let done = AtomicBool::new(false);
        let ep = epoll();
        let mut events = [EpollEvent::empty(); 1];
        let n = std::thread::scope(|s| {
            // Signal until the wait has returned: one signal may land before it starts.
            s.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    // SAFETY: `waiter` is this scope's owner thread, alive until every
                    // thread of the scope (this one) has been joined.
                    let r = unsafe { libc::pthread_kill(waiter, libc::SIGURG) };
                    assert_eq!(r, 0);
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            let n = epoll_wait(&ep, &mut events, None);
            done.store(true, Ordering::Release);
            n
        });
        // SAFETY: restores the disposition found above.
        unsafe { sigaction(Signal::SIGURG, &previous) }.unwrap();
        assert_eq!(n.unwrap(), 0);
    }

    #[test]
    fn invalid_fd_results_are_errors() {
        assert!(owned_fd("x", -1).is_err());
        assert!(owned_fd("x", i64::from(i32::MAX) + 1).is_err());
    }
}
