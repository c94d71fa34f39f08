//! BPF iterators: `BPF_LINK_CREATE` with `BPF_TRACE_ITER` and its `bpf_iter_link_info`,
//! and `BPF_ITER_CREATE`, which opens one pass of an iterator link as a readable fd.

use super::attr::{attr_struct, AttrBytes};
use super::consts::attach_type;
use super::{bpf_fd, fd_u32, ptr_u64, BpfCmd};
use crate::sys::SysResult;
use std::os::fd::{BorrowedFd, OwnedFd};

attr_struct! {
    /// `BPF_LINK_CREATE` for an iterator: the common head, then the union's
    /// `{ __aligned_u64 iter_info; __u32 iter_info_len; }` member.
    struct IterLinkCreateRaw {
        prog_fd: u32,
        target_fd: u32,
        attach_type: u32,
        flags: u32,
        iter_info: u64,
        iter_info_len: u32,
        _pad: u32,
    }
}

attr_struct! {
    /// `union bpf_iter_link_info` (16 bytes: its largest member is `cgroup`).
    struct IterLinkInfoRaw {
        /// `map.map_fd`, `cgroup.order` or `task.tid`.
        word0: u32,
        /// `cgroup.cgroup_fd` or `task.pid`.
        word1: u32,
        /// `cgroup.cgroup_id`, or `task.pid_fd` in its low half.
        word2: u64,
    }
}

attr_struct! {
    /// `BPF_ITER_CREATE`.
    struct IterCreateRaw {
        link_fd: u32,
        flags: u32,
    }
}

/// What an iterator link walks, for the targets that take a parameter
/// (`union bpf_iter_link_info`).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum IterLinkInfo<'a> {
    /// No parameter (`task`, `bpf_map`, `bpf_prog`, `tcp`, …): the info is not passed.
    None,
    /// The map whose elements a map iterator walks (`bpf_map_elem`,
    /// `bpf_sk_storage_map`, `sockmap`; 5.9+).
    Map(BorrowedFd<'a>),
    /// The tasks of one thread (`tid`), one process (`pid`) or the process behind a
    /// pidfd (`pid_fd`): exactly one is non-zero (6.1+).
    Task {
        /// Thread id, or 0.
        tid: u32,
        /// Process id, or 0.
        pid: u32,
        /// A pidfd, or none.
        pid_fd: Option<BorrowedFd<'a>>,
    },
    /// A cgroup iterator (6.1+): the cgroup (by fd, or by id when `cgroup_fd` is none)
    /// and the walk order (`enum bpf_cgroup_iter_order`).
    Cgroup {
        /// Walk order.
        order: u32,
        /// The cgroup directory, or none to use `cgroup_id`.
        cgroup_fd: Option<BorrowedFd<'a>>,
        /// The cgroup id, when no fd is given.
        cgroup_id: u64,
    },
}

impl IterLinkInfo<'_> {
    fn encode(&self) -> Option<IterLinkInfoRaw> {
        match *self {
            IterLinkInfo::None => None,
            IterLinkInfo::Map(fd) => Some(IterLinkInfoRaw {
                word0: fd_u32(fd),
                ..Default::default()
            }),
            IterLinkInfo::Task { tid, pid, pid_fd } => Some(IterLinkInfoRaw {
                word0: tid,
                word1: pid,
                word2: low_half_u32(pid_fd.map_or(0, fd_u32)),
            }),
            IterLinkInfo::Cgroup {
                order,
                cgroup_fd,
                cgroup_id,
            } => Some(IterLinkInfoRaw {
                word0: order,
                word1: cgroup_fd.map_or(0, fd_u32),
                word2: cgroup_id,
            }),
        }
    }
}

/// A u32 placed where the low 4 bytes of a u64 field would be in memory.
fn low_half_u32(v: u32) -> u64 {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_ne_bytes());
    u64::from_ne_bytes(b)
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_ITER` (5.8): creates an iterator link for
/// `prog_fd` (an `iter/` program), with the target's parameter `info`.
pub fn link_create_iter(prog_fd: BorrowedFd<'_>, info: IterLinkInfo<'_>) -> SysResult<OwnedFd> {
    let encoded = info.encode();
    let (ptr, len) = match &encoded {
        Some(raw) => (ptr_u64(raw as *const IterLinkInfoRaw), raw.bytes().len()),
        None => (0, 0),
    };
    let mut raw = IterLinkCreateRaw {
        prog_fd: fd_u32(prog_fd),
        target_fd: 0,
        attach_type: attach_type::TRACE_ITER,
        flags: 0,
        iter_info: ptr,
        // A 16-byte struct.
        iter_info_len: len as u32,
        _pad: 0,
    };
    // SAFETY: `iter_info` is null or points to `encoded`, `iter_info_len` readable
    // bytes that outlive the call; the kernel only reads them.
    unsafe { bpf_fd(BpfCmd::LinkCreate, raw.bytes_mut()) }
}

/// `BPF_ITER_CREATE` (5.8): a new pass of the iterator link `link_fd`, as a file
/// descriptor whose `read(2)` runs the program over the target's objects.
pub fn iter_create(link_fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let mut raw = IterCreateRaw {
        link_fd: fd_u32(link_fd),
        flags: 0,
    };
    // SAFETY: no pointers.
    unsafe { bpf_fd(BpfCmd::IterCreate, raw.bytes_mut()) }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{devnull, errno};
    use super::*;
    use crate::sys::{with_syscall_override, Syscall};
    use std::mem::offset_of;
    use std::os::fd::{AsFd, AsRawFd};

    #[test]
    fn attr_layout_matches_uapi() {
        // link_create.iter_info is the union's first member (offset 16), iter_info_len
        // follows it; bpf_iter_link_info.cgroup.cgroup_id is at 8 (6.18 BTF).
        assert_eq!(offset_of!(IterLinkCreateRaw, iter_info), 16);
        assert_eq!(offset_of!(IterLinkCreateRaw, iter_info_len), 24);
        assert_eq!(size_of::<IterLinkInfoRaw>(), 16);
        assert_eq!(offset_of!(IterLinkInfoRaw, word2), 8);
    }

    #[test]
    fn iter_link_passes_the_info_only_when_there_is_one() {
        let (prog, map) = (devnull(), devnull());
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    attr,
                } = c
                {
                    let ptr = u64::from_ne_bytes(attr[16..24].try_into().unwrap());
                    let len = u32::from_ne_bytes(attr[24..28].try_into().unwrap());
                    let info = if ptr == 0 {
                        Vec::new()
                    } else {
                        // SAFETY: the function under test passed a live info of `len` bytes.
                        unsafe {
                            std::slice::from_raw_parts(ptr as usize as *const u8, len as usize)
                        }
                        .to_vec()
                    };
                    seen.push((attr[8..12].to_vec(), len, info));
                }
                errno(libc::EINVAL)
            },
            || {
                let p = prog.as_fd();
                let e = link_create_iter(p, IterLinkInfo::None).unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_LINK_CREATE", libc::EINVAL));
                let _ = link_create_iter(p, IterLinkInfo::Map(map.as_fd()));
                let _ = link_create_iter(
                    p,
                    IterLinkInfo::Task {
                        tid: 0,
                        pid: 77,
                        pid_fd: None,
                    },
                );
            },
        );
        assert_eq!(seen.len(), 3);
        for (at, _, _) in &seen {
            assert_eq!(at, &attach_type::TRACE_ITER.to_ne_bytes());
        }
        assert_eq!((seen[0].1, seen[0].2.len()), (0, 0));
        assert_eq!(seen[1].1, 16);
        assert_eq!(&seen[1].2[..4], &(map.as_raw_fd() as u32).to_ne_bytes());
        assert_eq!(&seen[1].2[4..], &[0; 12]);
        assert_eq!(&seen[2].2[4..8], &77u32.to_ne_bytes());
    }

    #[test]
    fn iter_create_names_its_command() {
        let link = devnull();
        let e = with_syscall_override(|_| errno(libc::EINVAL), || iter_create(link.as_fd()))
            .unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_ITER_CREATE", libc::EINVAL));
    }
}
