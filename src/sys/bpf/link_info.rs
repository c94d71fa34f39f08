//! `struct bpf_link_info` decoded per link type, with the names and arrays some types
//! hand back only through user buffers.
//!
//! The first `BPF_OBJ_GET_INFO_BY_FD` passes no buffers: the kernel reports the type,
//! the scalar fields and how long each name or array is. When something is left to
//! fetch, a second call passes buffers of those lengths at the type's pointer fields.
//! Offsets are those of the 6.18 uapi header (`union` at offset 16 of the struct);
//! older kernels fill a prefix and leave the rest zero.

use super::consts::link_type;
use super::info::{obj_info, RawLinkInfo};
use super::ptr_u64;
use crate::sys::SysResult;
use std::os::fd::BorrowedFd;

/// The longest name the kernel reports for a link (a path: `PATH_MAX`).
const NAME_MAX: u32 = 4096;
/// More elements than this in a kprobe_multi/uprobe_multi array are not fetched.
const ARRAY_MAX: u32 = 1 << 20;

/// What the kernel says about a link: its ids and the part particular to its type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkInfo {
    /// Link id.
    pub id: u32,
    /// Id of the program it runs (0 for a struct_ops link).
    pub prog_id: u32,
    /// The link type (`enum bpf_link_type`; [`type_name`](Self::type_name) names it).
    pub link_type: u32,
    /// The type's own fields.
    pub kind: LinkKind,
}

impl LinkInfo {
    /// The link type in words, as bpftool names it (`raw_tracepoint`, `perf_event`).
    pub fn type_name(&self) -> &'static str {
        const NAMES: [&str; 15] = [
            "unspec",
            "raw_tracepoint",
            "tracing",
            "cgroup",
            "iter",
            "netns",
            "xdp",
            "perf_event",
            "kprobe_multi",
            "struct_ops",
            "netfilter",
            "tcx",
            "uprobe_multi",
            "netkit",
            "sockmap",
        ];
        NAMES
            .get(self.link_type as usize)
            .copied()
            .unwrap_or("unknown")
    }
}

/// The type-specific part of [`LinkInfo`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkKind {
    /// `BPF_RAW_TRACEPOINT_OPEN` on a named tracepoint (`raw_tp`, `raw_tp.w`).
    RawTracepoint {
        /// The tracepoint (5.8+; empty before).
        name: String,
        /// The attach cookie (6.10+).
        cookie: u64,
    },
    /// fentry/fexit/fmod_ret/lsm/tp_btf/freplace.
    Tracing {
        /// Attach type (`enum bpf_attach_type`).
        attach_type: u32,
        /// For freplace the target program's id, otherwise the target BTF object's id.
        target_obj_id: u32,
        /// BTF type id of the target within that object.
        target_btf_id: u32,
        /// The attach cookie (6.6+).
        cookie: u64,
    },
    /// A cgroup link.
    Cgroup {
        /// The cgroup's id (its inode number).
        cgroup_id: u64,
        /// Attach type.
        attach_type: u32,
    },
    /// An iterator link.
    Iter {
        /// The iterator target (`task`, `bpf_map_elem`, …).
        target: String,
        /// The target's parameter, as far as the target's name tells how to read it.
        param: IterParam,
    },
    /// A network namespace link (flow dissector, sk_lookup).
    Netns {
        /// The namespace's inode number.
        netns_ino: u32,
        /// Attach type.
        attach_type: u32,
    },
    /// An XDP link.
    Xdp {
        /// The interface.
        ifindex: u32,
    },
    /// A struct_ops link.
    StructOps {
        /// The struct_ops map it registers.
        map_id: u32,
    },
    /// A netfilter link.
    Netfilter {
        /// Protocol family.
        pf: u32,
        /// Hook number.
        hooknum: u32,
        /// Priority.
        priority: i32,
        /// `BPF_F_NETFILTER_*` flags.
        flags: u32,
    },
    /// A kprobe_multi (or kprobe session) link (details 6.6+).
    KprobeMulti {
        /// The probed addresses (zero without `kallsyms` permission).
        addrs: Vec<u64>,
        /// `BPF_F_KPROBE_MULTI_RETURN` and others.
        flags: u32,
        /// Runs missed (6.7+).
        missed: u64,
        /// One cookie per address (6.9+; empty before).
        cookies: Vec<u64>,
    },
    /// A uprobe_multi link (6.8+).
    UprobeMulti {
        /// The probed file.
        path: String,
        /// The probed offsets in it.
        offsets: Vec<u64>,
        /// Reference counter (semaphore) offsets, one per probe, when given.
        ref_ctr_offsets: Vec<u64>,
        /// One cookie per probe, when given.
        cookies: Vec<u64>,
        /// `BPF_F_UPROBE_MULTI_RETURN` and others.
        flags: u32,
        /// The process filter (0: every process).
        pid: u32,
    },
    /// A perf event link (kprobe, uprobe, tracepoint or perf event).
    PerfEvent(PerfEventLink),
    /// A tcx link.
    Tcx {
        /// The interface.
        ifindex: u32,
        /// Attach type (ingress or egress).
        attach_type: u32,
    },
    /// A netkit link.
    Netkit {
        /// The interface.
        ifindex: u32,
        /// Attach type (primary or peer).
        attach_type: u32,
    },
    /// A sockmap link.
    Sockmap {
        /// The sockmap/sockhash.
        map_id: u32,
        /// Attach type.
        attach_type: u32,
    },
    /// A link type this library does not decode: the union's bytes, raw.
    Unknown {
        /// The union (the first 48 bytes after the common fields).
        raw: [u8; 48],
    },
}

/// The parameter of an iterator link, by its target's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IterParam {
    /// None (or one this library does not know how to read).
    None,
    /// A map iterator's map.
    Map {
        /// Its id.
        map_id: u32,
    },
    /// A task iterator's filter (both 0: every task).
    Task {
        /// Thread id.
        tid: u32,
        /// Process id.
        pid: u32,
    },
    /// A cgroup iterator's start and order.
    Cgroup {
        /// The cgroup's id.
        cgroup_id: u64,
        /// Walk order (`enum bpf_cgroup_iter_order`).
        order: u32,
    },
}

/// What a perf event link attaches to (6.6+ report it; older kernels report
/// [`PerfEventLink::Unreported`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PerfEventLink {
    /// A kprobe or kretprobe.
    Kprobe {
        /// The function, when probed by name.
        function: String,
        /// Offset within it.
        offset: u32,
        /// The probed address (zero without `kallsyms` permission).
        addr: u64,
        /// Runs missed (6.7+).
        missed: u64,
        /// The attach cookie (6.9+).
        cookie: u64,
        /// A kretprobe.
        retprobe: bool,
    },
    /// A uprobe or uretprobe.
    Uprobe {
        /// The probed file.
        path: String,
        /// Offset within it.
        offset: u32,
        /// The attach cookie (6.9+).
        cookie: u64,
        /// Reference counter (semaphore) offset (6.11+).
        ref_ctr_offset: u64,
        /// A uretprobe.
        retprobe: bool,
    },
    /// A tracepoint.
    Tracepoint {
        /// Its name (`sys_enter_getppid`).
        name: String,
        /// The attach cookie (6.9+).
        cookie: u64,
    },
    /// Another perf event (software, hardware, …).
    Event {
        /// `perf_event_attr.type`.
        perf_type: u32,
        /// `perf_event_attr.config`.
        config: u64,
        /// The attach cookie (6.9+).
        cookie: u64,
    },
    /// The kernel does not report what the link attaches to (before 6.6), or reports a
    /// kind this library does not know (`bpf_perf_event_type`).
    Unreported {
        /// The reported `bpf_perf_event_type` (0: none).
        event_type: u32,
    },
}

/// `enum bpf_perf_event_type`.
mod perf_event_type {
    pub const UPROBE: u32 = 1;
    pub const URETPROBE: u32 = 2;
    pub const KPROBE: u32 = 3;
    pub const KRETPROBE: u32 = 4;
    pub const TRACEPOINT: u32 = 5;
    pub const EVENT: u32 = 6;
}

/// Reads fields of the union by byte offset (from the start of the union).
struct Union([u8; 48]);

impl Union {
    fn of(raw: &RawLinkInfo) -> Union {
        let mut b = [0u8; 48];
        for (chunk, w) in b.chunks_exact_mut(8).zip(raw.extra) {
            chunk.copy_from_slice(&w.to_ne_bytes());
        }
        Union(b)
    }

    fn u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().expect("4 bytes"))
    }

    fn u64(&self, off: usize) -> u64 {
        u64::from_ne_bytes(self.0[off..off + 8].try_into().expect("8 bytes"))
    }

    /// Stores `v` at `off` of the raw struct's union.
    fn put_u64(raw: &mut RawLinkInfo, off: usize, v: u64) {
        raw.extra[off / 8] = v;
    }

    fn put_u32(raw: &mut RawLinkInfo, off: usize, v: u32) {
        let mut b = raw.extra[off / 8].to_ne_bytes();
        let at = off % 8;
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        raw.extra[off / 8] = u64::from_ne_bytes(b);
    }
}

/// Buffers the second call fills: a name and up to four arrays.
#[derive(Default)]
struct Buffers {
    name: Vec<u8>,
    arrays: [Vec<u64>; 4],
}

/// Where a link type keeps its name buffer (pointer, length) and its arrays
/// (pointer offsets, and the offset of the shared count), in union offsets.
struct Layout {
    name: Option<(usize, usize)>,
    arrays: &'static [usize],
    count: Option<usize>,
}

impl Layout {
    fn of(link_type: u32, u: &Union) -> Layout {
        const NONE: Layout = Layout {
            name: None,
            arrays: &[],
            count: None,
        };
        match link_type {
            link_type::RAW_TRACEPOINT | link_type::ITER => Layout {
                name: Some((0, 8)),
                ..NONE
            },
            // addrs, then cookies; the count at 8.
            link_type::KPROBE_MULTI => Layout {
                arrays: &[0, 24],
                count: Some(8),
                ..NONE
            },
            // path (size at 32); offsets, ref_ctr_offsets, cookies (count at 36).
            link_type::UPROBE_MULTI => Layout {
                name: Some((0, 32)),
                arrays: &[8, 16, 24],
                count: Some(36),
            },
            // perf_event: `type` at 0, the per-kind member at 8; every named kind has
            // its name pointer at 8 and its length at 16.
            link_type::PERF_EVENT if u.u32(0) != perf_event_type::EVENT && u.u32(0) != 0 => {
                Layout {
                    name: Some((8, 16)),
                    ..NONE
                }
            }
            _ => NONE,
        }
    }
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a link, decoded ([`LinkInfo`]).
pub fn link_info_decoded(fd: BorrowedFd<'_>) -> SysResult<LinkInfo> {
    let mut first = RawLinkInfo::default();
    // SAFETY: every pointer field is zero.
    unsafe { obj_info(fd, &mut first) }?;
    let u = Union::of(&first);
    let layout = Layout::of(first.link_type, &u);
    let mut bufs = Buffers::default();
    let mut raw = first;
    let mut wanted = false;
    if let Some((ptr, len)) = layout.name {
        let n = match u.u32(len) {
            0 => NAME_MAX,
            n => n.min(NAME_MAX),
        };
        bufs.name = vec![0u8; n as usize];
        Union::put_u64(&mut raw, ptr, ptr_u64(bufs.name.as_mut_ptr()));
        Union::put_u32(&mut raw, len, n);
        wanted = true;
    }
    if let Some(count_at) = layout.count {
        let count = u.u32(count_at).min(ARRAY_MAX);
        if count > 0 {
            for (buf, &at) in bufs.arrays.iter_mut().zip(layout.arrays) {
                *buf = vec![0u64; count as usize];
                Union::put_u64(&mut raw, at, ptr_u64(buf.as_mut_ptr()));
            }
            Union::put_u32(&mut raw, count_at, count);
            wanted = true;
        }
    }
    if wanted {
        // SAFETY: each pointer set above points to a live buffer (in `bufs`) of the
        // length written beside it (the name in bytes, the arrays in u64s, the count
        // shared by the arrays); the kernel writes at most that much into each.
        if let Err(e) = unsafe { obj_info(fd, &mut raw) } {
            // A kernel that knows the type but not a buffer field refuses it: keep what
            // the first call said.
            log::debug!("link info: second call failed ({e}); names and arrays omitted");
            return Ok(decode(&first, &Buffers::default()));
        }
        // The kernel may have reported fewer elements than it was given room for.
        if let Some(count_at) = layout.count {
            let n = Union::of(&raw).u32(count_at) as usize;
            for buf in &mut bufs.arrays {
                buf.truncate(n);
            }
        }
    }
    Ok(decode(&raw, &bufs))
}

/// The NUL-terminated string at the start of `b`.
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn decode(raw: &RawLinkInfo, bufs: &Buffers) -> LinkInfo {
    let u = Union::of(raw);
    let name = c_string(&bufs.name);
    let [a0, a1, a2, _] = &bufs.arrays;
    let kind = match raw.link_type {
        link_type::RAW_TRACEPOINT => LinkKind::RawTracepoint {
            name,
            cookie: u.u64(16),
        },
        link_type::TRACING => LinkKind::Tracing {
            attach_type: u.u32(0),
            target_obj_id: u.u32(4),
            target_btf_id: u.u32(8),
            cookie: u.u64(16),
        },
        link_type::CGROUP => LinkKind::Cgroup {
            cgroup_id: u.u64(0),
            attach_type: u.u32(8),
        },
        link_type::ITER => LinkKind::Iter {
            param: iter_param(&name, &u),
            target: name,
        },
        link_type::NETNS => LinkKind::Netns {
            netns_ino: u.u32(0),
            attach_type: u.u32(4),
        },
        link_type::XDP => LinkKind::Xdp { ifindex: u.u32(0) },
        link_type::STRUCT_OPS => LinkKind::StructOps { map_id: u.u32(0) },
        link_type::NETFILTER => LinkKind::Netfilter {
            pf: u.u32(0),
            hooknum: u.u32(4),
            priority: u.u32(8) as i32,
            flags: u.u32(12),
        },
        link_type::KPROBE_MULTI => LinkKind::KprobeMulti {
            addrs: a0.clone(),
            flags: u.u32(12),
            missed: u.u64(16),
            cookies: a1.clone(),
        },
        link_type::UPROBE_MULTI => LinkKind::UprobeMulti {
            path: name,
            offsets: a0.clone(),
            ref_ctr_offsets: a1.clone(),
            cookies: a2.clone(),
            flags: u.u32(40),
            pid: u.u32(44),
        },
        link_type::PERF_EVENT => LinkKind::PerfEvent(perf_event(&u, name)),
        link_type::TCX => LinkKind::Tcx {
            ifindex: u.u32(0),
            attach_type: u.u32(4),
        },
        link_type::NETKIT => LinkKind::Netkit {
            ifindex: u.u32(0),
            attach_type: u.u32(4),
        },
        link_type::SOCKMAP => LinkKind::Sockmap {
            map_id: u.u32(0),
            attach_type: u.u32(4),
        },
        _ => LinkKind::Unknown { raw: u.0 },
    };
    LinkInfo {
        id: raw.id,
        prog_id: raw.prog_id,
        link_type: raw.link_type,
        kind,
    }
}

/// The iterator's parameter, read as its target's kind lays it out: the map id at
/// union offset 12, the task's tid and pid at 16 and 20, the cgroup's id and order at
/// 16 and 24.
fn iter_param(target: &str, u: &Union) -> IterParam {
    match target {
        "bpf_map_elem" | "bpf_sk_storage_map" | "sockmap" => IterParam::Map { map_id: u.u32(12) },
        "task" | "task_file" | "task_vma" => IterParam::Task {
            tid: u.u32(16),
            pid: u.u32(20),
        },
        "cgroup" => IterParam::Cgroup {
            cgroup_id: u.u64(16),
            order: u.u32(24),
        },
        _ => IterParam::None,
    }
}

/// The perf_event member: `type` at 0, then at 8 one of
/// `uprobe { file_name; name_len; offset; cookie; ref_ctr_offset }`,
/// `kprobe { func_name; name_len; offset; addr; missed; cookie }`,
/// `tracepoint { tp_name; name_len; cookie }` (cookie at 24), or
/// `event { config; type; cookie }` (cookie at 24).
fn perf_event(u: &Union, name: String) -> PerfEventLink {
    use perf_event_type as t;
    match u.u32(0) {
        ty @ (t::UPROBE | t::URETPROBE) => PerfEventLink::Uprobe {
            path: name,
            offset: u.u32(20),
            cookie: u.u64(24),
            ref_ctr_offset: u.u64(32),
            retprobe: ty == t::URETPROBE,
        },
        ty @ (t::KPROBE | t::KRETPROBE) => PerfEventLink::Kprobe {
            function: name,
            offset: u.u32(20),
            addr: u.u64(24),
            missed: u.u64(32),
            cookie: u.u64(40),
            retprobe: ty == t::KRETPROBE,
        },
        t::TRACEPOINT => PerfEventLink::Tracepoint {
            name,
            cookie: u.u64(24),
        },
        t::EVENT => PerfEventLink::Event {
            config: u.u64(8),
            perf_type: u.u32(16),
            cookie: u.u64(24),
        },
        event_type => PerfEventLink::Unreported { event_type },
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::devnull;
    use super::*;
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};
    use std::os::fd::AsFd;

    /// Fake kernel answers: `first` for the call without buffers; for the second, the
    /// buffers the caller passed are filled by `fill` (given the union bytes).
    fn answer(first: [u8; 64], fill: impl Fn(&[u8]) + Clone) -> LinkInfo {
        let null = devnull();
        let mut calls = 0;
        with_syscall_override(
            |c| {
                let Syscall::Bpf {
                    cmd: BpfCmd::ObjGetInfoByFd,
                    attr,
                } = c
                else {
                    return None;
                };
                calls += 1;
                let ptr = u64::from_ne_bytes(attr[8..16].try_into().unwrap()) as usize;
                // SAFETY: the code under test passed a live, writable 64-byte info.
                let info = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, 64) };
                if calls == 1 {
                    assert!(info.iter().all(|&b| b == 0), "first call passes zeros");
                    info.copy_from_slice(&first);
                } else {
                    fill(&info[16..]);
                }
                Some(Ok(0))
            },
            || link_info_decoded(null.as_fd()),
        )
        .unwrap()
    }

    fn head(link_type: u32) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..4].copy_from_slice(&link_type.to_ne_bytes());
        b[4..8].copy_from_slice(&7u32.to_ne_bytes());
        b[8..12].copy_from_slice(&9u32.to_ne_bytes());
        b
    }

    fn put(b: &mut [u8], off: usize, v: &[u8]) {
        b[16 + off..16 + off + v.len()].copy_from_slice(v);
    }

    /// Writes `s` (with its NUL) where the union's pointer at `ptr_at` points.
    fn write_name(u: &[u8], ptr_at: usize, s: &str) {
        let p = u64::from_ne_bytes(u[ptr_at..ptr_at + 8].try_into().unwrap()) as usize;
        assert_ne!(p, 0, "a name buffer was passed");
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        // SAFETY: the code under test passed a buffer of at least `len` bytes, and
        // these test names are shorter than what it passes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p as *mut u8, bytes.len()) };
    }

    #[test]
    fn raw_tracepoint_name_comes_from_the_second_call() {
        let mut first = head(link_type::RAW_TRACEPOINT);
        put(&mut first, 8, &13u32.to_ne_bytes());
        let info = answer(first, |u| write_name(u, 0, "sys_enter"));
        assert_eq!((info.id, info.prog_id), (7, 9));
        assert_eq!(
            info.kind,
            LinkKind::RawTracepoint {
                name: "sys_enter".into(),
                cookie: 0
            }
        );
    }

    #[test]
    fn scalar_kinds_decode_without_a_second_call() {
        let mut first = head(link_type::TRACING);
        put(&mut first, 0, &24u32.to_ne_bytes());
        put(&mut first, 4, &1u32.to_ne_bytes());
        put(&mut first, 8, &555u32.to_ne_bytes());
        let info = answer(first, |_| panic!("no second call"));
        assert_eq!(
            info.kind,
            LinkKind::Tracing {
                attach_type: 24,
                target_obj_id: 1,
                target_btf_id: 555,
                cookie: 0
            }
        );
        let mut first = head(link_type::NETFILTER);
        put(&mut first, 8, &(-100i32).to_ne_bytes());
        let info = answer(first, |_| panic!("no second call"));
        assert!(matches!(
            info.kind,
            LinkKind::Netfilter { priority: -100, .. }
        ));
        let info = answer(head(99), |_| panic!("no second call"));
        assert!(matches!(info.kind, LinkKind::Unknown { .. }));
    }

    #[test]
    fn kprobe_multi_arrays_are_sized_by_the_first_count() {
        let mut first = head(link_type::KPROBE_MULTI);
        put(&mut first, 8, &2u32.to_ne_bytes());
        put(&mut first, 12, &1u32.to_ne_bytes());
        let info = answer(first, |u| {
            for (ptr_at, vals) in [(0usize, [0x10u64, 0x20]), (24, [5, 6])] {
                let p = u64::from_ne_bytes(u[ptr_at..ptr_at + 8].try_into().unwrap()) as usize;
                // SAFETY: the code under test passed room for the count (2) it read.
                unsafe { std::ptr::copy_nonoverlapping(vals.as_ptr(), p as *mut u64, 2) };
            }
        });
        assert_eq!(
            info.kind,
            LinkKind::KprobeMulti {
                addrs: vec![0x10, 0x20],
                flags: 1,
                missed: 0,
                cookies: vec![5, 6]
            }
        );
    }

    #[test]
    fn perf_event_kinds() {
        let mut first = head(link_type::PERF_EVENT);
        put(&mut first, 0, &perf_event_type::TRACEPOINT.to_ne_bytes());
        put(&mut first, 16, &18u32.to_ne_bytes());
        let info = answer(first, |u| write_name(u, 8, "sys_enter_getppid"));
        assert_eq!(
            info.kind,
            LinkKind::PerfEvent(PerfEventLink::Tracepoint {
                name: "sys_enter_getppid".into(),
                cookie: 0
            })
        );
        let mut first = head(link_type::PERF_EVENT);
        put(&mut first, 0, &perf_event_type::EVENT.to_ne_bytes());
        put(&mut first, 8, &9u64.to_ne_bytes());
        put(&mut first, 16, &1u32.to_ne_bytes());
        let info = answer(first, |_| panic!("no names for an event"));
        assert_eq!(
            info.kind,
            LinkKind::PerfEvent(PerfEventLink::Event {
                perf_type: 1,
                config: 9,
                cookie: 0
            })
        );
        // Before 6.6 the kernel reports nothing for perf links.
        let info = answer(head(link_type::PERF_EVENT), |_| panic!("nothing to fetch"));
        assert_eq!(
            info.kind,
            LinkKind::PerfEvent(PerfEventLink::Unreported { event_type: 0 })
        );
    }

    #[test]
    fn iter_param_follows_the_target() {
        let mut first = head(link_type::ITER);
        put(&mut first, 8, &13u32.to_ne_bytes());
        put(&mut first, 12, &42u32.to_ne_bytes());
        let info = answer(first, |u| write_name(u, 0, "bpf_map_elem"));
        assert_eq!(
            info.kind,
            LinkKind::Iter {
                target: "bpf_map_elem".into(),
                param: IterParam::Map { map_id: 42 }
            }
        );
    }
}
