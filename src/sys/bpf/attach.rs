//! `BPF_PROG_ATTACH`, `BPF_PROG_DETACH` and `BPF_PROG_QUERY`: the attachments that are
//! not links (cgroups before 5.7, sockmap/sockhash programs before 6.10, the flow
//! dissector before 5.8) and the question "what is attached here?".
//!
//! The three commands share one attribute layout in `union bpf_attr`:
//!
//! ```text
//! attach/detach: u32 target_fd | u32 attach_bpf_fd | u32 attach_type | u32 attach_flags
//!                u32 replace_bpf_fd | u32 relative_fd/id | u64 expected_revision   (32 bytes)
//! query:         u32 target_fd | u32 attach_type | u32 query_flags | u32 attach_flags
//!                u64 prog_ids | u32 prog_cnt | u32 pad | u64 prog_attach_flags
//!                u64 link_ids | u64 link_attach_flags | u64 revision             (64 bytes)
//! ```
//!
//! The whole struct is always passed, as libbpf does: the kernel writes some query
//! outputs (`revision`, 6.6+ for tcx, 6.16+ for cgroups) at their offsets whatever size
//! it was given, so a shorter attribute would let it write past the buffer. Kernels
//! that predate a field see zeros there, which they accept.

use super::attr::{attr_struct, AttrBytes};
use super::consts::attach_flags;
use super::{bpf, fd_u32, len_u32, ptr_u64, BpfCmd};
use crate::sys::{SysError, SysResult};
use std::os::fd::BorrowedFd;

attr_struct! {
    /// `BPF_PROG_ATTACH` and `BPF_PROG_DETACH`.
    struct ProgAttachRaw {
        /// `target_fd` or `target_ifindex`.
        target: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
        /// `relative_fd` or `relative_id`.
        relative: u32,
        expected_revision: u64,
    }
}

attr_struct! {
    /// `BPF_PROG_QUERY`.
    struct ProgQueryRaw {
        /// `target_fd` or `target_ifindex`.
        target: u32,
        attach_type: u32,
        query_flags: u32,
        attach_flags: u32,
        prog_ids: u64,
        /// `prog_cnt` (alias `count`): in, the room in `prog_ids`; out, how many there are.
        prog_cnt: u32,
        _pad: u32,
        prog_attach_flags: u64,
        link_ids: u64,
        link_attach_flags: u64,
        revision: u64,
    }
}

/// What a `BPF_PROG_ATTACH`, `BPF_PROG_DETACH` or `BPF_PROG_QUERY` acts on.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum AttachTarget<'a> {
    /// A descriptor: a cgroup directory, a sockmap/sockhash, a network namespace, a
    /// lirc device.
    Fd(BorrowedFd<'a>),
    /// Target 0: the flow dissector of the caller's network namespace on kernels
    /// before 5.8, which ignore the field.
    None,
}

impl AttachTarget<'_> {
    fn raw(self) -> u32 {
        match self {
            AttachTarget::Fd(fd) => fd_u32(fd),
            AttachTarget::None => 0,
        }
    }
}

/// `BPF_PROG_ATTACH`: attaches `prog_fd` to `target` as `attach_type` with
/// `flags` ([`attach_flags`]); with [`attach_flags::REPLACE`], `replace` is the
/// program it replaces.
pub fn prog_attach(
    target: AttachTarget<'_>,
    prog_fd: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
    replace: Option<BorrowedFd<'_>>,
) -> SysResult<()> {
    const CMD: BpfCmd = BpfCmd::ProgAttach;
    if replace.is_some() != (flags & attach_flags::REPLACE != 0) {
        return Err(SysError::invalid(
            CMD.name(),
            "a program to replace goes with BPF_F_REPLACE, and only with it",
        ));
    }
    let mut raw = ProgAttachRaw {
        target: target.raw(),
        attach_bpf_fd: fd_u32(prog_fd),
        attach_type,
        attach_flags: flags,
        replace_bpf_fd: replace.map_or(0, fd_u32),
        ..Default::default()
    };
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf(CMD, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_PROG_DETACH`: detaches `prog_fd` (or, for single-program attach points, whatever
/// program is attached, when `None`) from `target`'s `attach_type`.
pub fn prog_detach(
    target: AttachTarget<'_>,
    prog_fd: Option<BorrowedFd<'_>>,
    attach_type: u32,
) -> SysResult<()> {
    let mut raw = ProgAttachRaw {
        target: target.raw(),
        attach_bpf_fd: prog_fd.map_or(0, fd_u32),
        attach_type,
        ..Default::default()
    };
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf(BpfCmd::ProgDetach, raw.bytes_mut()) }.map(|_| ())
}

/// What `BPF_PROG_QUERY` answered besides the ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgQuery {
    /// The attach point's flags (`BPF_F_ALLOW_MULTI`, ...; 0 for links and effective
    /// queries).
    pub attach_flags: u32,
    /// How many programs are attached: may exceed the room given, in which case only
    /// that many ids were written.
    pub count: u32,
    /// The attach point's revision (tcx 6.6+, cgroups 6.16+; 0 before).
    pub revision: u64,
}

/// `BPF_PROG_QUERY`: the ids of the programs attached to `target` as `attach_type`,
/// written into `prog_ids`; with `flags` [`attach_flags::QUERY_EFFECTIVE`], those that
/// run there, inherited ones included. An empty `prog_ids` asks only for the count.
///
/// A `prog_ids` too short for all of them is not an error: the kernel writes as many
/// as fit and answers `ENOSPC`, which this function turns into a [`ProgQuery`] whose
/// `count` exceeds `prog_ids.len()`.
pub fn prog_query(
    target: AttachTarget<'_>,
    attach_type: u32,
    flags: u32,
    prog_ids: &mut [u32],
) -> SysResult<ProgQuery> {
    const CMD: BpfCmd = BpfCmd::ProgQuery;
    let mut raw = ProgQueryRaw {
        target: target.raw(),
        attach_type,
        query_flags: flags,
        prog_ids: if prog_ids.is_empty() {
            0
        } else {
            ptr_u64(prog_ids.as_mut_ptr())
        },
        prog_cnt: len_u32(CMD.name(), "program id buffer", prog_ids.len())?,
        ..Default::default()
    };
    // SAFETY: `prog_ids` is null (count 0) or a writable array of `prog_cnt` u32s; the
    // kernel writes at most `prog_cnt` ids. Every output field lies inside `raw`, which
    // is passed whole.
    let result = unsafe { bpf(CMD, raw.bytes_mut()) };
    match result {
        Ok(_) => {}
        Err(e) if e.errno() == libc::ENOSPC && !prog_ids.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(ProgQuery::from_raw(&raw))
}

impl ProgQuery {
    fn from_raw(raw: &ProgQueryRaw) -> ProgQuery {
        ProgQuery {
            attach_flags: raw.attach_flags,
            count: raw.prog_cnt,
            revision: raw.revision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::consts::attach_type;
    use super::super::test_util::{devnull, errno};
    use super::*;
    use crate::sys::{with_syscall_override, Syscall};
    use std::mem::{offset_of, size_of};
    use std::os::fd::{AsFd, AsRawFd};

    /// Offsets from `include/uapi/linux/bpf.h` (gcc `offsetof` on the 6.18 header: the
    /// attach struct ends with `expected_revision`, the query struct with `revision`).
    #[test]
    fn attr_layout_matches_uapi() {
        assert_eq!(offset_of!(ProgAttachRaw, attach_bpf_fd), 4);
        assert_eq!(offset_of!(ProgAttachRaw, attach_type), 8);
        assert_eq!(offset_of!(ProgAttachRaw, attach_flags), 12);
        assert_eq!(offset_of!(ProgAttachRaw, replace_bpf_fd), 16);
        assert_eq!(offset_of!(ProgAttachRaw, relative), 20);
        assert_eq!(offset_of!(ProgAttachRaw, expected_revision), 24);
        assert_eq!(size_of::<ProgAttachRaw>(), 32);
        assert_eq!(offset_of!(ProgQueryRaw, attach_type), 4);
        assert_eq!(offset_of!(ProgQueryRaw, query_flags), 8);
        assert_eq!(offset_of!(ProgQueryRaw, attach_flags), 12);
        assert_eq!(offset_of!(ProgQueryRaw, prog_ids), 16);
        assert_eq!(offset_of!(ProgQueryRaw, prog_cnt), 24);
        assert_eq!(offset_of!(ProgQueryRaw, prog_attach_flags), 32);
        assert_eq!(offset_of!(ProgQueryRaw, link_ids), 40);
        assert_eq!(offset_of!(ProgQueryRaw, link_attach_flags), 48);
        assert_eq!(offset_of!(ProgQueryRaw, revision), 56);
        assert_eq!(size_of::<ProgQueryRaw>(), 64);
    }

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn attach_and_detach_encode_their_fields() {
        let target = devnull();
        let prog = devnull();
        let old = devnull();
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf { cmd, attr } = c {
                    seen.push((*cmd, attr.to_vec()));
                }
                errno(libc::EBADF)
            },
            || {
                let t = AttachTarget::Fd(target.as_fd());
                let e = prog_attach(
                    t,
                    prog.as_fd(),
                    attach_type::CGROUP_INET_EGRESS,
                    attach_flags::ALLOW_MULTI | attach_flags::REPLACE,
                    Some(old.as_fd()),
                )
                .unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_PROG_ATTACH", libc::EBADF));
                let e =
                    prog_detach(t, Some(prog.as_fd()), attach_type::SK_MSG_VERDICT).unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_PROG_DETACH", libc::EBADF));
                let _ = prog_detach(AttachTarget::None, None, attach_type::FLOW_DISSECTOR);
            },
        );
        assert_eq!(seen.len(), 3);
        let (cmd, a) = &seen[0];
        assert_eq!((*cmd, a.len()), (BpfCmd::ProgAttach, 32));
        assert_eq!(u32_at(a, 0), target.as_raw_fd() as u32);
        assert_eq!(u32_at(a, 4), prog.as_raw_fd() as u32);
        assert_eq!(u32_at(a, 8), attach_type::CGROUP_INET_EGRESS);
        assert_eq!(u32_at(a, 12), 2 | 4);
        assert_eq!(u32_at(a, 16), old.as_raw_fd() as u32);
        assert_eq!(&a[20..], &[0; 12]);
        let (cmd, d) = &seen[1];
        assert_eq!((*cmd, d.len()), (BpfCmd::ProgDetach, 32));
        assert_eq!(u32_at(d, 4), prog.as_raw_fd() as u32);
        assert_eq!(u32_at(d, 8), attach_type::SK_MSG_VERDICT);
        assert_eq!(&d[12..], &[0; 20]);
        let (_, n) = &seen[2];
        assert_eq!((u32_at(n, 0), u32_at(n, 4)), (0, 0));
        assert_eq!(u32_at(n, 8), attach_type::FLOW_DISSECTOR);
    }

    /// A replacement program without `BPF_F_REPLACE`, or the flag without one, is
    /// refused before the kernel is asked.
    #[test]
    fn replace_needs_its_flag_and_the_flag_its_program() {
        let fd = devnull();
        let mut calls = 0;
        with_syscall_override(
            |_| {
                calls += 1;
                None
            },
            || {
                let t = AttachTarget::Fd(fd.as_fd());
                let e = prog_attach(t, fd.as_fd(), 0, 0, Some(fd.as_fd())).unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_PROG_ATTACH", 0));
                let e = prog_attach(t, fd.as_fd(), 0, attach_flags::REPLACE, None).unwrap_err();
                assert_eq!(e.errno(), 0);
            },
        );
        assert_eq!(calls, 0);
    }

    /// The query passes the whole attribute with the target, type, flags, buffer and
    /// its room; `ENOSPC` (a buffer too short) still answers, other errors don't.
    #[test]
    fn query_encodes_its_fields_and_tolerates_a_short_buffer() {
        let cg = devnull();
        let mut ids = [0u32; 2];
        let ids_addr = ids.as_ptr() as usize as u64;
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                let Syscall::Bpf {
                    cmd: BpfCmd::ProgQuery,
                    attr,
                } = c
                else {
                    return None;
                };
                seen.push(attr.to_vec());
                match seen.len() {
                    1 => Some(Ok(0)),
                    2 => errno(libc::ENOSPC),
                    _ => errno(libc::EINVAL),
                }
            },
            || {
                let t = AttachTarget::Fd(cg.as_fd());
                let at = attach_type::CGROUP_INET_INGRESS;
                let q = prog_query(t, at, 0, &mut []).unwrap();
                assert_eq!(q, ProgQuery::default(), "nothing written, nothing read");
                let q = prog_query(t, at, attach_flags::QUERY_EFFECTIVE, &mut ids).unwrap();
                assert_eq!(q.count, 2, "the room given, as the kernel left it");
                let e = prog_query(t, at, 0, &mut ids).unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_PROG_QUERY", libc::EINVAL));
            },
        );
        assert_eq!(seen.len(), 3);
        for a in &seen {
            assert_eq!(a.len(), 64, "the whole attribute, always");
            assert_eq!(u32_at(a, 0), cg.as_raw_fd() as u32);
            assert_eq!(u32_at(a, 4), attach_type::CGROUP_INET_INGRESS);
        }
        assert_eq!(&seen[0][8..32], &[0; 24], "no flags, no buffer, no room");
        assert_eq!(u32_at(&seen[1], 8), attach_flags::QUERY_EFFECTIVE);
        assert_eq!(&seen[1][16..24], &ids_addr.to_ne_bytes());
        assert_eq!(u32_at(&seen[1], 24), 2);
    }

    /// The answer is read from the fields the kernel writes.
    #[test]
    fn query_answer_comes_from_the_output_fields() {
        let raw = ProgQueryRaw {
            attach_flags: attach_flags::ALLOW_MULTI,
            prog_cnt: 3,
            revision: 9,
            ..Default::default()
        };
        assert_eq!(
            ProgQuery::from_raw(&raw),
            ProgQuery {
                attach_flags: attach_flags::ALLOW_MULTI,
                count: 3,
                revision: 9
            }
        );
    }

    /// `ENOSPC` with no buffer is the kernel's error, not a short buffer.
    #[test]
    fn query_without_buffer_reports_enospc() {
        let cg = devnull();
        let e = with_syscall_override(
            |_| errno(libc::ENOSPC),
            || prog_query(AttachTarget::Fd(cg.as_fd()), 0, 0, &mut []),
        )
        .unwrap_err();
        assert_eq!(e.errno(), libc::ENOSPC);
    }
}
