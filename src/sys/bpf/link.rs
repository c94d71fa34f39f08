//! `BPF_LINK_CREATE` (including kprobe_multi and uprobe_multi), `BPF_LINK_UPDATE`,
//! `BPF_LINK_DETACH` and `BPF_RAW_TRACEPOINT_OPEN`.

use super::attr::{attr_struct, AttrBytes};
use super::consts::attach_type;
use super::{bpf, bpf_fd, fd_u32, len_u32, ptr_u64, BpfCmd};
use crate::sys::{SysError, SysResult};
use std::ffi::CStr;
use std::mem::offset_of;
use std::os::fd::{BorrowedFd, OwnedFd};

attr_struct! {
    /// `BPF_RAW_TRACEPOINT_OPEN`.
    struct RawTracepointRaw {
        name: u64,
        prog_fd: u32,
        _pad: u32,
    }
}

attr_struct! {
    /// `BPF_LINK_CREATE`: the common head and the per-attach-type union (48 bytes, the
    /// size of its largest member, `uprobe_multi`).
    struct LinkCreateRaw {
        prog_fd: u32,
        /// `target_fd` or `target_ifindex`.
        target: u32,
        attach_type: u32,
        flags: u32,
        extra: [u64; 6],
    }
}

attr_struct! {
    /// `BPF_LINK_UPDATE`.
    struct LinkUpdateRaw {
        link_fd: u32,
        /// `new_prog_fd` or `new_map_fd`.
        new_fd: u32,
        flags: u32,
        /// `old_prog_fd` or `old_map_fd`.
        old_fd: u32,
    }
}

attr_struct! {
    /// `BPF_LINK_DETACH`.
    struct LinkDetachRaw {
        link_fd: u32,
    }
}

/// What a `BPF_LINK_CREATE` attaches to.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum LinkTarget<'a> {
    /// Nothing (fentry/fexit/lsm on vmlinux, iterators, kprobe_multi): target 0.
    None,
    /// A descriptor: perf event, cgroup, netns, target program, ….
    Fd(BorrowedFd<'a>),
    /// A network interface (XDP, tcx, netkit).
    Ifindex(u32),
}

/// The attach-type-specific part of `BPF_LINK_CREATE`.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub enum LinkCreateExtra {
    /// No extra attributes.
    #[default]
    None,
    /// `BPF_PERF_EVENT`: a cookie for `bpf_get_attach_cookie()`.
    PerfEvent {
        /// The cookie.
        bpf_cookie: u64,
    },
    /// fentry/fexit/fmod_ret/lsm/freplace: the BTF id of the target and a cookie
    /// (the cookie needs 6.6+; leave 0 otherwise).
    Tracing {
        /// BTF id of the target function within the target object.
        target_btf_id: u32,
        /// The cookie.
        cookie: u64,
    },
    /// `BPF_NETFILTER` (6.4+): the netfilter hook to run at.
    Netfilter {
        /// Protocol family (`NFPROTO_IPV4` 2, `NFPROTO_IPV6` 10).
        pf: u32,
        /// Hook (`NF_INET_PRE_ROUTING` 0 ... `NF_INET_POST_ROUTING` 4).
        hooknum: u32,
        /// Priority among the hook's functions (lower runs first).
        priority: i32,
        /// `BPF_F_NETFILTER_IP_DEFRAG` (6.6+) or 0.
        flags: u32,
    },
}

impl LinkCreateExtra {
    /// The union bytes as 8-byte words, and how many bytes of the union are in use.
    fn encode(&self) -> ([u64; 6], usize) {
        let mut words = [0u64; 6];
        match *self {
            LinkCreateExtra::None => (words, 0),
            LinkCreateExtra::PerfEvent { bpf_cookie } => {
                words[0] = bpf_cookie;
                (words, 8)
            }
            LinkCreateExtra::Tracing {
                target_btf_id,
                cookie,
            } => {
                // `target_btf_id` is a u32 at union offset 0, then 4 bytes of padding.
                let mut first = [0u8; 8];
                first[..4].copy_from_slice(&target_btf_id.to_ne_bytes());
                words[0] = u64::from_ne_bytes(first);
                words[1] = cookie;
                (words, if cookie != 0 { 16 } else { 4 })
            }
            LinkCreateExtra::Netfilter {
                pf,
                hooknum,
                priority,
                flags,
            } => {
                // `struct { u32 pf; u32 hooknum; s32 priority; u32 flags; }`.
                let mut bytes = [0u8; 16];
                for (slot, v) in
                    bytes
                        .chunks_exact_mut(4)
                        .zip([pf, hooknum, priority as u32, flags])
                {
                    slot.copy_from_slice(&v.to_ne_bytes());
                }
                for (word, b) in words.iter_mut().zip(bytes.chunks_exact(8)) {
                    *word = u64::from_ne_bytes(b.try_into().expect("8 bytes"));
                }
                (words, 16)
            }
        }
    }
}

/// `BPF_LINK_CREATE`: attaches `prog_fd` to `target` as `attach_type` and returns the
/// link. The size passed covers the common fields and the part of the union `extra`
/// uses.
pub fn link_create(
    prog_fd: BorrowedFd<'_>,
    target: LinkTarget<'_>,
    attach_type: u32,
    flags: u32,
    extra: LinkCreateExtra,
) -> SysResult<OwnedFd> {
    let (words, extra_len) = extra.encode();
    let mut raw = LinkCreateRaw {
        prog_fd: fd_u32(prog_fd),
        target: match target {
            LinkTarget::None => 0,
            LinkTarget::Fd(fd) => fd_u32(fd),
            LinkTarget::Ifindex(i) => i,
        },
        attach_type,
        flags,
        extra: words,
    };
    let size = offset_of!(LinkCreateRaw, extra) + extra_len;
    // SAFETY: none of the supported union members holds a pointer.
    unsafe { bpf_fd(BpfCmd::LinkCreate, &mut raw.bytes_mut()[..size]) }
}

/// `BPF_F_KPROBE_MULTI_RETURN`: a `kprobe_multi` link on function returns.
pub const KPROBE_MULTI_RETURN: u32 = 1 << 0;

/// The functions of a `kprobe_multi` link: by name or by address.
#[derive(Clone, Copy, Debug)]
pub enum KprobeMultiTargets<'a> {
    /// Kernel function names (`kprobe_multi.syms`); the kernel sorts and resolves them.
    Symbols(&'a [&'a CStr]),
    /// Kernel function addresses (`kprobe_multi.addrs`).
    Addresses(&'a [u64]),
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_KPROBE_MULTI` (5.18): attaches `prog_fd` (loaded
/// with that expected attach type) to every function of `targets` at once. `flags` is 0
/// or [`KPROBE_MULTI_RETURN`]; `cookies`, when given, has one entry per function.
///
/// The union part is `kprobe_multi { u32 flags; u32 cnt; u64 syms; u64 addrs;
/// u64 cookies; }` at offset 16 of the attribute: 48 bytes are passed.
pub fn link_create_kprobe_multi(
    prog_fd: BorrowedFd<'_>,
    flags: u32,
    targets: KprobeMultiTargets<'_>,
    cookies: Option<&[u64]>,
) -> SysResult<OwnedFd> {
    kprobe_multi_link(
        prog_fd,
        attach_type::TRACE_KPROBE_MULTI,
        flags,
        targets,
        cookies,
    )
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_KPROBE_SESSION` (6.10): as
/// [`link_create_kprobe_multi`], for a program (loaded with that expected attach type)
/// that runs at both entry and return of each function, `bpf_session_is_return()`
/// telling which; an entry run returning non-zero skips that call's return run.
pub fn link_create_kprobe_session(
    prog_fd: BorrowedFd<'_>,
    targets: KprobeMultiTargets<'_>,
    cookies: Option<&[u64]>,
) -> SysResult<OwnedFd> {
    kprobe_multi_link(
        prog_fd,
        attach_type::TRACE_KPROBE_SESSION,
        0,
        targets,
        cookies,
    )
}

fn kprobe_multi_link(
    prog_fd: BorrowedFd<'_>,
    link_attach_type: u32,
    flags: u32,
    targets: KprobeMultiTargets<'_>,
    cookies: Option<&[u64]>,
) -> SysResult<OwnedFd> {
    const CALL: &str = "BPF_LINK_CREATE";
    // The name pointers, kept alive (with the names they point to) until the call returns.
    let sym_ptrs: Vec<u64>;
    let (count, syms, addrs) = match targets {
        KprobeMultiTargets::Symbols(names) => {
            sym_ptrs = names.iter().map(|n| ptr_u64(n.as_ptr())).collect();
            (names.len(), ptr_u64(sym_ptrs.as_ptr()), 0)
        }
        KprobeMultiTargets::Addresses(a) => (a.len(), 0, ptr_u64(a.as_ptr())),
    };
    if count == 0 {
        return Err(SysError::invalid(
            CALL,
            "kprobe_multi needs at least one function",
        ));
    }
    let cnt = len_u32(CALL, "kprobe_multi function list", count)?;
    let cookies = match cookies {
        Some(c) if c.len() != count => {
            return Err(SysError::invalid(
                CALL,
                format!("{} cookies for {count} functions", c.len()),
            ))
        }
        Some(c) => ptr_u64(c.as_ptr()),
        None => 0,
    };
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&flags.to_ne_bytes());
    head[4..].copy_from_slice(&cnt.to_ne_bytes());
    let mut raw = LinkCreateRaw {
        prog_fd: fd_u32(prog_fd),
        target: 0,
        attach_type: link_attach_type,
        flags: 0,
        extra: [u64::from_ne_bytes(head), syms, addrs, cookies, 0, 0],
    };
    let size = offset_of!(LinkCreateRaw, extra) + 32;
    // SAFETY: `syms` points to `cnt` pointers to NUL-terminated strings (`sym_ptrs` and
    // the borrowed names), or `addrs` to `cnt` u64s; `cookies` is null or points to `cnt`
    // u64s. The kernel only reads them, and all outlive the call.
    unsafe { bpf_fd(BpfCmd::LinkCreate, &mut raw.bytes_mut()[..size]) }
}

/// `BPF_F_REPLACE`: `BPF_LINK_UPDATE` only if the link still runs the old program.
pub const LINK_UPDATE_REPLACE: u32 = 1 << 2;

/// `BPF_LINK_UPDATE`: makes `link_fd` run `new_fd` (a program, or for a struct_ops
/// link a struct_ops map) instead of what it runs now; with `old_fd`, only if that is
/// what it runs (`BPF_F_REPLACE`), else the kernel answers `EPERM`.
pub fn link_update(
    link_fd: BorrowedFd<'_>,
    new_fd: BorrowedFd<'_>,
    old_fd: Option<BorrowedFd<'_>>,
) -> SysResult<()> {
    let mut raw = LinkUpdateRaw {
        link_fd: fd_u32(link_fd),
        new_fd: fd_u32(new_fd),
        flags: if old_fd.is_some() {
            LINK_UPDATE_REPLACE
        } else {
            0
        },
        old_fd: old_fd.map_or(0, fd_u32),
    };
    // SAFETY: no pointers.
    unsafe { bpf(BpfCmd::LinkUpdate, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_F_UPROBE_MULTI_RETURN`: an `uprobe_multi` link on function returns.
pub const UPROBE_MULTI_RETURN: u32 = 1 << 0;

/// The probes of an `uprobe_multi` link (6.6): one file, its offsets, and per offset an
/// optional semaphore reference counter and cookie.
#[derive(Clone, Copy, Debug)]
pub struct UprobeMultiTargets<'a> {
    /// The file (`uprobe_multi.path`).
    pub path: &'a CStr,
    /// File offsets of the probes.
    pub offsets: &'a [u64],
    /// File offsets of their reference counters (USDT semaphores), or none.
    pub ref_ctr_offsets: Option<&'a [u64]>,
    /// Their cookies, or none.
    pub cookies: Option<&'a [u64]>,
    /// Only this process (0: every process).
    pub pid: u32,
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_UPROBE_MULTI` or `BPF_TRACE_UPROBE_SESSION`
/// (`attach_type`): attaches `prog_fd` (loaded with that expected attach type) to every
/// probe of `targets` at once. `flags` is 0 or [`UPROBE_MULTI_RETURN`].
///
/// The union part is `uprobe_multi { u64 path; u64 offsets; u64 ref_ctr_offsets;
/// u64 cookies; u32 cnt; u32 flags; u32 pid; }` at offset 16 of the attribute: 60
/// bytes are passed.
pub fn link_create_uprobe_multi(
    prog_fd: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
    targets: &UprobeMultiTargets<'_>,
) -> SysResult<OwnedFd> {
    const CALL: &str = "BPF_LINK_CREATE";
    let count = targets.offsets.len();
    if count == 0 {
        return Err(SysError::invalid(
            CALL,
            "uprobe_multi needs at least one offset",
        ));
    }
    let cnt = len_u32(CALL, "uprobe_multi offsets", count)?;
    let per_offset = |what: &str, v: Option<&[u64]>| match v {
        Some(v) if v.len() != count => Err(SysError::invalid(
            CALL,
            format!("{} {what} for {count} offsets", v.len()),
        )),
        Some(v) => Ok(ptr_u64(v.as_ptr())),
        None => Ok(0),
    };
    let ref_ctrs = per_offset("reference counter offsets", targets.ref_ctr_offsets)?;
    let cookies = per_offset("cookies", targets.cookies)?;
    let pack = |lo: u32, hi: u32| {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&lo.to_ne_bytes());
        b[4..].copy_from_slice(&hi.to_ne_bytes());
        u64::from_ne_bytes(b)
    };
    let mut raw = LinkCreateRaw {
        prog_fd: fd_u32(prog_fd),
        target: 0,
        attach_type,
        flags: 0,
        extra: [
            ptr_u64(targets.path.as_ptr()),
            ptr_u64(targets.offsets.as_ptr()),
            ref_ctrs,
            cookies,
            pack(cnt, flags),
            pack(targets.pid, 0),
        ],
    };
    let size = offset_of!(LinkCreateRaw, extra) + 44;
    // SAFETY: `path` is a NUL-terminated string; `offsets` points to `cnt` u64s, and
    // `ref_ctr_offsets` and `cookies` are null or point to `cnt` u64s (checked above).
    // The kernel only reads them, and all outlive the call.
    unsafe { bpf_fd(BpfCmd::LinkCreate, &mut raw.bytes_mut()[..size]) }
}

/// `BPF_LINK_DETACH`: detaches the link from its target, leaving the link fd defunct.
pub fn link_detach(link_fd: BorrowedFd<'_>) -> SysResult<()> {
    let mut raw = LinkDetachRaw {
        link_fd: fd_u32(link_fd),
    };
    // SAFETY: no pointers.
    unsafe { bpf(BpfCmd::LinkDetach, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw tracepoint program to the tracepoint
/// `name`, or (with `None`) a tp_btf/fentry/fexit/lsm program to the target it was
/// loaded for.
pub fn raw_tracepoint_open(name: Option<&CStr>, prog_fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let mut raw = RawTracepointRaw {
        name: name.map_or(0, |n| ptr_u64(n.as_ptr())),
        prog_fd: fd_u32(prog_fd),
        _pad: 0,
    };
    // SAFETY: `name` is null or a NUL-terminated string that outlives the call.
    unsafe { bpf_fd(BpfCmd::RawTracepointOpen, raw.bytes_mut()) }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{devnull, errno};
    use super::*;
    use crate::sys::{with_syscall_override, Syscall};
    use std::os::fd::{AsFd, AsRawFd};

    #[test]
    fn attr_layout_matches_uapi() {
        // Offsets checked against include/uapi/linux/bpf.h (gcc offsetof on the 6.1
        // header; log_true_size and later fields from the 6.14+ header).
        assert_eq!(offset_of!(RawTracepointRaw, prog_fd), 8);
        assert_eq!(offset_of!(LinkUpdateRaw, old_fd), 12);
        assert_eq!(offset_of!(LinkCreateRaw, extra), 16);
        assert_eq!(size_of::<LinkCreateRaw>(), 64);
    }

    #[test]
    fn link_create_sizes_and_encoding() {
        let null = devnull();
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    attr,
                } = c
                {
                    seen.push(attr.to_vec());
                }
                errno(libc::EOPNOTSUPP)
            },
            || {
                let p = null.as_fd();
                let e = link_create(
                    p,
                    LinkTarget::Fd(p),
                    attach_type::PERF_EVENT,
                    0,
                    LinkCreateExtra::PerfEvent { bpf_cookie: 0x1122 },
                )
                .unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_LINK_CREATE", libc::EOPNOTSUPP));
                let _ = link_create(
                    p,
                    LinkTarget::Ifindex(7),
                    attach_type::XDP,
                    0,
                    LinkCreateExtra::None,
                );
                let _ = link_create(
                    p,
                    LinkTarget::None,
                    attach_type::TRACE_FENTRY,
                    0,
                    LinkCreateExtra::Tracing {
                        target_btf_id: 99,
                        cookie: 5,
                    },
                );
                let _ = link_create(
                    p,
                    LinkTarget::None,
                    attach_type::NETFILTER,
                    0,
                    LinkCreateExtra::Netfilter {
                        pf: 2,
                        hooknum: 3,
                        priority: -128,
                        flags: 1,
                    },
                );
            },
        );
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].len(), 24);
        assert_eq!(&seen[0][8..12], &attach_type::PERF_EVENT.to_ne_bytes());
        assert_eq!(&seen[0][16..24], &0x1122u64.to_ne_bytes());
        assert_eq!(seen[1].len(), 16);
        assert_eq!(&seen[1][4..8], &7u32.to_ne_bytes());
        assert_eq!(seen[2].len(), 32);
        assert_eq!(&seen[2][16..20], &99u32.to_ne_bytes());
        assert_eq!(&seen[2][24..32], &5u64.to_ne_bytes());
        // netfilter { pf, hooknum, priority, flags } at 16 (gcc offsetof, 6.4+ header).
        assert_eq!(seen[3].len(), 32);
        assert_eq!(&seen[3][16..20], &2u32.to_ne_bytes());
        assert_eq!(&seen[3][20..24], &3u32.to_ne_bytes());
        assert_eq!(&seen[3][24..28], &(-128i32).to_ne_bytes());
        assert_eq!(&seen[3][28..32], &1u32.to_ne_bytes());
    }

    #[test]
    fn link_update_sets_replace_only_with_an_old_program() {
        let (link, new, old) = (devnull(), devnull(), devnull());
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::LinkUpdate,
                    attr,
                } = c
                {
                    seen.push(attr.to_vec());
                }
                errno(libc::EPERM)
            },
            || {
                let e = link_update(link.as_fd(), new.as_fd(), None).unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_LINK_UPDATE", libc::EPERM));
                let _ = link_update(link.as_fd(), new.as_fd(), Some(old.as_fd()));
            },
        );
        let word = |a: &[u8], i: usize| u32::from_ne_bytes(a[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].len(), 16);
        assert_eq!(word(&seen[0], 0), link.as_raw_fd() as u32);
        assert_eq!(word(&seen[0], 1), new.as_raw_fd() as u32);
        assert_eq!((word(&seen[0], 2), word(&seen[0], 3)), (0, 0));
        assert_eq!(word(&seen[1], 2), LINK_UPDATE_REPLACE);
        assert_eq!(word(&seen[1], 3), old.as_raw_fd() as u32);
    }

    /// The `uprobe_multi` member of `link_create` (the 6.6 uapi header): path at 16,
    /// offsets at 24, ref_ctr_offsets at 32, cookies at 40, cnt at 48, flags at 52,
    /// pid at 56; 60 bytes in all.
    #[test]
    fn link_create_uprobe_multi_layout() {
        let null = devnull();
        let offsets = [0x1000u64, 0x2000];
        let refs = [0u64, 0x40];
        let cookies = [7u64, 9];
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    attr,
                } = c
                {
                    seen.push(attr.to_vec());
                }
                errno(libc::EOPNOTSUPP)
            },
            || {
                let t = UprobeMultiTargets {
                    path: c"/bin/true",
                    offsets: &offsets,
                    ref_ctr_offsets: Some(&refs),
                    cookies: Some(&cookies),
                    pid: 4242,
                };
                let e = link_create_uprobe_multi(
                    null.as_fd(),
                    attach_type::TRACE_UPROBE_SESSION,
                    0,
                    &t,
                )
                .unwrap_err();
                assert_eq!(e.errno(), libc::EOPNOTSUPP);
                let plain = UprobeMultiTargets {
                    ref_ctr_offsets: None,
                    cookies: None,
                    pid: 0,
                    ..t
                };
                let _ = link_create_uprobe_multi(
                    null.as_fd(),
                    attach_type::TRACE_UPROBE_MULTI,
                    UPROBE_MULTI_RETURN,
                    &plain,
                );
            },
        );
        let word = |a: &[u8], off: usize| u64::from_ne_bytes(a[off..off + 8].try_into().unwrap());
        let half = |a: &[u8], off: usize| u32::from_ne_bytes(a[off..off + 4].try_into().unwrap());
        assert_eq!(seen.len(), 2);
        let a = &seen[0];
        assert_eq!(a.len(), 60);
        assert_eq!(half(a, 8), attach_type::TRACE_UPROBE_SESSION);
        assert_eq!(word(a, 24), offsets.as_ptr() as usize as u64);
        assert_eq!(word(a, 32), refs.as_ptr() as usize as u64);
        assert_eq!(word(a, 40), cookies.as_ptr() as usize as u64);
        assert_eq!((half(a, 48), half(a, 52), half(a, 56)), (2, 0, 4242));
        let b = &seen[1];
        assert_eq!(half(b, 8), attach_type::TRACE_UPROBE_MULTI);
        assert_eq!((word(b, 32), word(b, 40)), (0, 0));
        assert_eq!(
            (half(b, 48), half(b, 52), half(b, 56)),
            (2, UPROBE_MULTI_RETURN, 0)
        );

        // Checked before the kernel is asked.
        let bad = UprobeMultiTargets {
            path: c"/bin/true",
            offsets: &offsets,
            ref_ctr_offsets: None,
            cookies: Some(&[1]),
            pid: 0,
        };
        let e = link_create_uprobe_multi(null.as_fd(), 0, 0, &bad).unwrap_err();
        assert_eq!(e.errno(), 0);
        let empty = UprobeMultiTargets {
            offsets: &[],
            cookies: None,
            ..bad
        };
        assert_eq!(
            link_create_uprobe_multi(null.as_fd(), 0, 0, &empty)
                .unwrap_err()
                .errno(),
            0
        );
    }

    /// The `kprobe_multi` member of `link_create` (gcc offsetof on the uapi header):
    /// flags at 16, cnt at 20, syms at 24, addrs at 32, cookies at 40; 48 bytes in all.
    #[test]
    fn link_create_kprobe_multi_layout() {
        let null = devnull();
        let names = [c"do_unlinkat", c"vfs_unlink"];
        let cookies = [7u64, 9];
        let addrs = [0xffff_ffff_8100_0000u64];
        let mut seen = Vec::new();
        let mut strings = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    attr,
                } = c
                {
                    let word =
                        |off: usize| u64::from_ne_bytes(attr[off..off + 8].try_into().unwrap());
                    let syms = word(24) as usize as *const u64;
                    if !syms.is_null() {
                        for i in 0..2 {
                            // SAFETY: the function under test passed a live array of two
                            // pointers to NUL-terminated names.
                            let name = unsafe {
                                CStr::from_ptr(*syms.add(i) as usize as *const std::ffi::c_char)
                            };
                            strings.push(name.to_owned());
                        }
                    }
                    seen.push(attr.to_vec());
                }
                errno(libc::EOPNOTSUPP)
            },
            || {
                let p = null.as_fd();
                let e = link_create_kprobe_multi(
                    p,
                    KPROBE_MULTI_RETURN,
                    KprobeMultiTargets::Symbols(&names),
                    Some(&cookies),
                )
                .unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_LINK_CREATE", libc::EOPNOTSUPP));
                let _ = link_create_kprobe_multi(p, 0, KprobeMultiTargets::Addresses(&addrs), None);
            },
        );
        assert_eq!(seen.len(), 2);
        let a = &seen[0];
        assert_eq!(a.len(), 48);
        assert_eq!(&a[0..4], &(null.as_raw_fd() as u32).to_ne_bytes());
        assert_eq!(&a[4..8], &0u32.to_ne_bytes(), "no target fd");
        assert_eq!(&a[8..12], &attach_type::TRACE_KPROBE_MULTI.to_ne_bytes());
        assert_eq!(&a[12..16], &0u32.to_ne_bytes(), "link flags");
        assert_eq!(&a[16..20], &KPROBE_MULTI_RETURN.to_ne_bytes());
        assert_eq!(&a[20..24], &2u32.to_ne_bytes(), "cnt");
        assert_eq!(&a[32..40], &0u64.to_ne_bytes(), "no addrs with syms");
        assert_eq!(
            &a[40..48],
            &(cookies.as_ptr() as usize as u64).to_ne_bytes()
        );
        assert_eq!(
            strings,
            [c"do_unlinkat".to_owned(), c"vfs_unlink".to_owned()]
        );
        let b = &seen[1];
        assert_eq!(b.len(), 48);
        assert_eq!(&b[16..20], &0u32.to_ne_bytes());
        assert_eq!(&b[20..24], &1u32.to_ne_bytes());
        assert_eq!(&b[24..32], &0u64.to_ne_bytes(), "no syms with addrs");
        assert_eq!(&b[32..40], &(addrs.as_ptr() as usize as u64).to_ne_bytes());
        assert_eq!(&b[40..48], &0u64.to_ne_bytes(), "no cookies");

        // Rejected before the kernel is asked: nothing to attach, cookie count mismatch.
        let e = link_create_kprobe_multi(null.as_fd(), 0, KprobeMultiTargets::Symbols(&[]), None)
            .unwrap_err();
        assert_eq!(e.errno(), 0);
        let e = link_create_kprobe_multi(
            null.as_fd(),
            0,
            KprobeMultiTargets::Symbols(&names),
            Some(&[1]),
        )
        .unwrap_err();
        assert_eq!(e.errno(), 0);
    }
}
