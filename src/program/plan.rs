//! The one dispatch from a program's kind to how it attaches.
//!
//! [`AttachPlan::for_kind`] reads a [`ProgramKind`] (what the section name says) and
//! answers how [`Program::attach`](super::Program::attach) attaches it: which typed view
//! does the work and with which parsed target, or why the section alone is not enough.
//! Auto-attach ([`Program::attach`](super::Program::attach)) and
//! [`Program::can_auto_attach`](super::Program::can_auto_attach) both go through it, so a
//! new kind is made auto-attachable here and nowhere else.

use crate::object::section::{
    KprobeTarget, TargetError, TracepointTarget, UprobeTarget, UsdtTarget, XdpAttach,
};
use crate::object::ProgramKind;

/// Why a section name can't be auto-attached, in words for [`AttachPlan::NoAutoAttach`].
const NO_TARGET: &str = "the section names no attach target";
/// The words for kinds that are never attached from their section alone.
const NOT_FROM_SECTION: &str =
    "programs of this kind are not attached from their section name alone";
/// Cgroup kinds (and `sockops`, `lsm_cgroup`): libbpf doesn't auto-attach them either.
const NEEDS_CGROUP: &str =
    "the section names no cgroup; attach with the typed program's attach(cgroup, mode)";
/// Socket filters and reuseport selectors.
const NEEDS_SOCKET: &str =
    "the section names no socket; attach with the typed program's attach(socket)";
/// `sk_skb`, `sk_msg`.
const NEEDS_SOCKMAP: &str =
    "the section names no sockmap or sockhash; attach with the typed program's attach(map)";
/// `sk_lookup`, `flow_dissector`.
const NEEDS_NETNS: &str =
    "the section names no network namespace; attach with the typed program's attach(netns)";
/// `netfilter`.
const NEEDS_NF_HOOK: &str =
    "the section names no netfilter hook; attach with Netfilter::attach(hook)";

/// The words for XDP, TC and netkit programs: the section names no interface.
const NEEDS_INTERFACE: &str = "XDP, TC and netkit programs attach to a network interface the \
     section doesn't name: use Xdp::attach, SchedClassifier::attach or Netkit::attach";
/// The words for `xdp/devmap` and `xdp/cpumap` programs.
const FROM_MAP_ENTRY: &str =
    "xdp/devmap and xdp/cpumap programs run from a devmap or cpumap entry, not an attachment";

/// How a program attaches, as its section name says.
///
/// # Examples
///
/// ```
/// use corebpf::object::ProgramKind;
/// use corebpf::program::AttachPlan;
///
/// let kind = ProgramKind::from_section("kprobe/do_unlinkat+0x10").unwrap();
/// match AttachPlan::for_kind(&kind) {
///     AttachPlan::Kprobe(t) => assert_eq!((t.function.as_str(), t.offset), ("do_unlinkat", 16)),
///     other => panic!("unexpected plan {other:?}"),
/// }
/// let xdp = ProgramKind::from_section("xdp").unwrap();
/// assert!(!AttachPlan::for_kind(&xdp).is_auto());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachPlan {
    /// `tracepoint/CAT/NAME`, `tp/CAT/NAME`: [`TracePoint::attach`](super::TracePoint::attach).
    Tracepoint(TracepointTarget),
    /// `raw_tp/NAME`, `raw_tracepoint/NAME` (and `.w`):
    /// [`RawTracePoint::attach`](super::RawTracePoint::attach).
    RawTracepoint {
        /// The tracepoint.
        name: String,
    },
    /// `kprobe/FN[+OFF]`, `kretprobe/FN`: [`KProbe::attach`](super::KProbe::attach).
    Kprobe(KprobeTarget),
    /// `ksyscall/NAME`, `kretsyscall/NAME`:
    /// [`KProbe::attach_syscall`](super::KProbe::attach_syscall).
    Ksyscall {
        /// The syscall, without the arch prefix.
        syscall: String,
    },
    /// `kprobe.multi/GLOB`, `kretprobe.multi/GLOB`, `kprobe.session/GLOB`:
    /// [`KProbeMulti::attach`](super::KProbeMulti::attach).
    KprobeMulti {
        /// The function name pattern.
        pattern: String,
    },
    /// `uprobe[.s]/PATH:FN[+OFF]`, `uretprobe[.s]/PATH:FN` (or `PATH:OFFSET`):
    /// [`UProbe::attach`](super::UProbe::attach).
    Uprobe(UprobeTarget),
    /// `uprobe.multi/PATH:GLOB`, `uretprobe.multi/PATH:GLOB`, `uprobe.session/PATH:GLOB`
    /// (and `.s`): [`UProbeMulti::attach`](super::UProbeMulti::attach).
    UprobeMulti {
        /// The file (a path, or a bare library or program name).
        path: String,
        /// The function name pattern.
        pattern: String,
    },
    /// `usdt[.s]/PATH:PROVIDER:NAME`: [`Usdt::attach`](super::Usdt::attach).
    Usdt(UsdtTarget),
    /// `fentry[.s]/FN`: [`FEntry::attach`](super::FEntry::attach) (target fixed at load).
    Fentry,
    /// `fexit[.s]/FN`: [`FExit::attach`](super::FExit::attach) (target fixed at load).
    Fexit,
    /// `fmod_ret[.s]/FN`: [`FModRet::attach`](super::FModRet::attach) (target fixed at load).
    FmodRet,
    /// `lsm[.s]/HOOK`: [`Lsm::attach`](super::Lsm::attach) (hook fixed at load).
    Lsm,
    /// `tp_btf/NAME`: [`TpBtf::attach`](super::TpBtf::attach) (tracepoint fixed at load).
    TpBtf,
    /// `iter[.s]/TARGET`: [`Iter::attach`](super::Iter::attach) (target fixed at load;
    /// no parameter, so map element iterators need
    /// [`Iter::attach_map`](super::Iter::attach_map)).
    Iter,
    /// `freplace/FUNC`: [`FReplace::attach`](super::FReplace::attach) (target program
    /// and function fixed at load, with
    /// [`Loader::attach_target`](crate::Loader::attach_target)).
    Freplace,
    /// The section names a target, but it doesn't parse: auto-attach reports
    /// [`ProgramError::BadTarget`](super::ProgramError::BadTarget).
    BadTarget(TargetError),
    /// The section alone doesn't say where to attach: attach the program explicitly.
    NoAutoAttach {
        /// Why, in words.
        reason: &'static str,
    },
}

impl AttachPlan {
    /// How a program of `kind` auto-attaches. Pure: nothing is asked of the kernel.
    pub fn for_kind(kind: &ProgramKind) -> AttachPlan {
        use AttachPlan as P;
        use ProgramKind as K;
        let none = |reason| P::NoAutoAttach { reason };
        match kind {
            K::Tracepoint { target: Some(t) } => parsed(TracepointTarget::parse(t), P::Tracepoint),
            K::RawTracepoint {
                target: Some(name), ..
            } => P::RawTracepoint { name: name.clone() },
            K::Kprobe { target: Some(t) } | K::Kretprobe { target: Some(t) } => {
                parsed(KprobeTarget::parse(t), P::Kprobe)
            }
            K::Ksyscall {
                syscall: Some(s), ..
            } if !s.is_empty() => P::Ksyscall { syscall: s.clone() },
            K::KprobeMulti {
                pattern: Some(p), ..
            }
            | K::KprobeSession { pattern: Some(p) }
                if !p.is_empty() =>
            {
                P::KprobeMulti { pattern: p.clone() }
            }
            K::Uprobe {
                target: Some(t), ..
            } => parsed(UprobeTarget::parse(t), P::Uprobe),
            K::UprobeMulti {
                target: Some(t), ..
            } => parsed(uprobe_multi_target(t), |(path, pattern)| P::UprobeMulti {
                path,
                pattern,
            }),
            K::Usdt {
                target: Some(t), ..
            } => parsed(UsdtTarget::parse(t), P::Usdt),
            K::Fentry {
                target: Some(_), ..
            } => P::Fentry,
            K::Fexit {
                target: Some(_), ..
            } => P::Fexit,
            K::FmodRet {
                target: Some(_), ..
            } => P::FmodRet,
            K::Lsm { hook: Some(_), .. } => P::Lsm,
            K::TpBtf { target: Some(_) } => P::TpBtf,
            K::Iter {
                target: Some(_), ..
            } => P::Iter,
            K::Freplace { target: Some(_) } => P::Freplace,
            K::Tracepoint { .. }
            | K::RawTracepoint { .. }
            | K::Kprobe { .. }
            | K::Kretprobe { .. }
            | K::Ksyscall { .. }
            | K::KprobeMulti { .. }
            | K::KprobeSession { .. }
            | K::Uprobe { .. }
            | K::UprobeMulti { .. }
            | K::Usdt { .. }
            | K::Fentry { .. }
            | K::Fexit { .. }
            | K::FmodRet { .. }
            | K::Lsm { .. }
            | K::TpBtf { .. }
            | K::Iter { .. }
            | K::Freplace { .. } => none(NO_TARGET),
            K::CgroupSkb { .. }
            | K::CgroupSock { .. }
            | K::CgroupSockAddr { .. }
            | K::CgroupSysctl
            | K::CgroupSockopt { .. }
            | K::CgroupDevice
            | K::SockOps
            | K::LsmCgroup { .. } => none(NEEDS_CGROUP),
            K::SocketFilter | K::SkReuseport { .. } => none(NEEDS_SOCKET),
            K::SkSkb { .. } | K::SkMsg => none(NEEDS_SOCKMAP),
            K::SkLookup | K::FlowDissector => none(NEEDS_NETNS),
            K::Netfilter => none(NEEDS_NF_HOOK),
            K::Xdp {
                attach: XdpAttach::Interface,
                ..
            }
            | K::SchedCls { .. } => none(NEEDS_INTERFACE),
            K::Xdp { .. } => none(FROM_MAP_ENTRY),
            K::Syscall
            | K::SchedAct
            | K::PerfEvent
            | K::Lwt(_)
            | K::LircMode2
            | K::StructOps { .. } => none(NOT_FROM_SECTION),
        }
    }

    /// True unless the plan is [`AttachPlan::NoAutoAttach`]: auto-attach will try (a
    /// malformed target is then reported, not skipped).
    pub fn is_auto(&self) -> bool {
        !matches!(self, AttachPlan::NoAutoAttach { .. })
    }
}

/// `PATH:GLOB` of a multi-uprobe section, split at the first `:` (libbpf's
/// `%m[^:]:%m[^\n]`).
fn uprobe_multi_target(target: &str) -> Result<(String, String), TargetError> {
    match target.split_once(':') {
        Some((path, pattern)) if !path.is_empty() && !pattern.is_empty() => {
            Ok((path.to_string(), pattern.to_string()))
        }
        _ => Err(TargetError {
            target: target.to_string(),
            reason: "expected PATH:PATTERN",
        }),
    }
}

/// The plan for a parsed target, or [`AttachPlan::BadTarget`].
fn parsed<T>(target: Result<T, TargetError>, plan: impl FnOnce(T) -> AttachPlan) -> AttachPlan {
    target.map_or_else(AttachPlan::BadTarget, plan)
}

#[cfg(test)]
mod tests {
    use super::super::{
        FEntry, FExit, FModRet, FReplace, Iter, KProbe, KProbeMulti, Lsm, Program, ProgramError,
        RawTracePoint, TpBtf, TracePoint, UProbe, UProbeMulti, Usdt,
    };
    use super::*;
    use crate::sys::with_syscall_override;
    use std::os::fd::OwnedFd;
    use AttachPlan as P;

    fn program(section: &str) -> Program {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let kind = ProgramKind::from_section(section).unwrap_or_else(|| panic!("{section}"));
        Program::new("prog".into(), section.into(), kind, fd)
    }

    fn tp(category: &str, name: &str) -> AttachPlan {
        P::Tracepoint(TracepointTarget {
            category: category.into(),
            name: name.into(),
        })
    }

    fn kp(function: &str, offset: u64) -> AttachPlan {
        P::Kprobe(KprobeTarget {
            function: function.into(),
            offset,
        })
    }

    fn bad(target: &str, reason: &'static str) -> AttachPlan {
        P::BadTarget(TargetError {
            target: target.into(),
            reason,
        })
    }

    const NO_TARGET_PLAN: AttachPlan = P::NoAutoAttach { reason: NO_TARGET };
    const NOT_FROM_SECTION_PLAN: AttachPlan = P::NoAutoAttach {
        reason: NOT_FROM_SECTION,
    };
    const CGROUP_PLAN: AttachPlan = P::NoAutoAttach {
        reason: NEEDS_CGROUP,
    };
    const SOCKET_PLAN: AttachPlan = P::NoAutoAttach {
        reason: NEEDS_SOCKET,
    };
    const SOCKMAP_PLAN: AttachPlan = P::NoAutoAttach {
        reason: NEEDS_SOCKMAP,
    };
    const NETNS_PLAN: AttachPlan = P::NoAutoAttach {
        reason: NEEDS_NETNS,
    };
    const NEEDS_INTERFACE_PLAN: AttachPlan = P::NoAutoAttach {
        reason: NEEDS_INTERFACE,
    };
    const FROM_MAP_ENTRY_PLAN: AttachPlan = P::NoAutoAttach {
        reason: FROM_MAP_ENTRY,
    };

    /// Every section form of the table, the object tests and `bpf-progs/`, with the plan
    /// it must get.
    fn samples() -> Vec<(&'static str, AttachPlan)> {
        let raw = |n: &str| P::RawTracepoint { name: n.into() };
        let sys = |s: &str| P::Ksyscall { syscall: s.into() };
        let multi = |p: &str| P::KprobeMulti { pattern: p.into() };
        let up = |path: &str, function: Option<&str>, offset| {
            P::Uprobe(UprobeTarget {
                path: path.into(),
                function: function.map(Into::into),
                offset,
            })
        };
        let umulti = |path: &str, pattern: &str| P::UprobeMulti {
            path: path.into(),
            pattern: pattern.into(),
        };
        let usdt = |path: &str, provider: &str, name: &str| {
            P::Usdt(UsdtTarget {
                path: path.into(),
                provider: provider.into(),
                name: name.into(),
            })
        };
        vec![
            (
                "tracepoint/syscalls/sys_enter_read",
                tp("syscalls", "sys_enter_read"),
            ),
            (
                "tracepoint/syscalls/sys_exit_read",
                tp("syscalls", "sys_exit_read"),
            ),
            (
                "tracepoint/syscalls/sys_enter_execve",
                tp("syscalls", "sys_enter_execve"),
            ),
            (
                "tracepoint/syscalls/sys_enter_unlinkat",
                tp("syscalls", "sys_enter_unlinkat"),
            ),
            (
                "tracepoint/sched/sched_process_exit",
                tp("sched", "sched_process_exit"),
            ),
            (
                "tracepoint/sched/sched_process_exec",
                tp("sched", "sched_process_exec"),
            ),
            (
                "tracepoint/syscalls/sys_enter_openat",
                tp("syscalls", "sys_enter_openat"),
            ),
            (
                "tracepoint/syscalls/sys_enter_write",
                tp("syscalls", "sys_enter_write"),
            ),
            (
                "tracepoint/syscalls/sys_enter_getpid",
                tp("syscalls", "sys_enter_getpid"),
            ),
            (
                "tracepoint/syscalls/sys_enter_getppid",
                tp("syscalls", "sys_enter_getppid"),
            ),
            ("tracepoint/x/y", tp("x", "y")),
            (
                "tracepoint/syscalls/sys_enter_getpgid",
                tp("syscalls", "sys_enter_getpgid"),
            ),
            (
                "tracepoint/syscalls/sys_enter_getgid",
                tp("syscalls", "sys_enter_getgid"),
            ),
            (
                "tracepoint/syscalls/sys_enter_getsid",
                tp("syscalls", "sys_enter_getsid"),
            ),
            (
                "tp/syscalls/sys_enter_getpid",
                tp("syscalls", "sys_enter_getpid"),
            ),
            (
                "tp/syscalls/sys_enter_getppid",
                tp("syscalls", "sys_enter_getppid"),
            ),
            (
                "tracepoint/syscalls",
                bad("syscalls", "expected CATEGORY/NAME"),
            ),
            ("tracepoint/a/b/c", bad("a/b/c", "expected CATEGORY/NAME")),
            ("tracepoint", NO_TARGET_PLAN),
            ("tp", NO_TARGET_PLAN),
            ("raw_tp/sys_enter", raw("sys_enter")),
            ("raw_tp/sys_exit", raw("sys_exit")),
            ("raw_tp/sched_switch", raw("sched_switch")),
            ("raw_tp/kfree_skb", raw("kfree_skb")),
            ("raw_tracepoint/sched_switch", raw("sched_switch")),
            ("raw_tp.w/sys_enter", raw("sys_enter")),
            ("raw_tp.w/bpf_test_finish", raw("bpf_test_finish")),
            ("raw_tracepoint.w/sys_exit", raw("sys_exit")),
            ("raw_tp", NO_TARGET_PLAN),
            ("raw_tracepoint.w", NO_TARGET_PLAN),
            ("kprobe/do_unlinkat", kp("do_unlinkat", 0)),
            ("kprobe/do_sys_openat2", kp("do_sys_openat2", 0)),
            ("kprobe/vfs_read", kp("vfs_read", 0)),
            ("kprobe/one", kp("one", 0)),
            ("kprobe/two", kp("two", 0)),
            ("kprobe/do_sys_open+16", kp("do_sys_open", 16)),
            ("kprobe/do_unlinkat+0x10", kp("do_unlinkat", 16)),
            ("kretprobe/vfs_read", kp("vfs_read", 0)),
            ("kretprobe/do_unlinkat", kp("do_unlinkat", 0)),
            ("kretprobe/do_unlinkat+8", kp("do_unlinkat", 8)),
            (
                "kprobe/do_unlinkat+x",
                bad("do_unlinkat+x", "the offset after '+' is not a number"),
            ),
            (
                "kprobe/",
                bad("", "the function name must be [a-zA-Z0-9_.]+"),
            ),
            ("kprobe", NO_TARGET_PLAN),
            ("kretprobe", NO_TARGET_PLAN),
            ("ksyscall/unlinkat", sys("unlinkat")),
            ("kretsyscall/unlinkat", sys("unlinkat")),
            ("ksyscall", NO_TARGET_PLAN),
            ("kretsyscall/", NO_TARGET_PLAN),
            ("kprobe.multi/*unlinkat", multi("*unlinkat")),
            ("kretprobe.multi/do_unlinkat", multi("do_unlinkat")),
            ("kprobe.multi", NO_TARGET_PLAN),
            ("kretprobe.multi/", NO_TARGET_PLAN),
            ("fentry/do_unlinkat", P::Fentry),
            ("fentry.s/do_unlinkat", P::Fentry),
            ("fentry", NO_TARGET_PLAN),
            ("fexit/do_unlinkat", P::Fexit),
            ("fexit.s/do_unlinkat", P::Fexit),
            ("fexit", NO_TARGET_PLAN),
            ("fmod_ret/security_file_open", P::FmodRet),
            ("fmod_ret.s/security_file_open", P::FmodRet),
            ("fmod_ret", NO_TARGET_PLAN),
            ("lsm/file_open", P::Lsm),
            ("lsm.s/file_open", P::Lsm),
            ("lsm", NO_TARGET_PLAN),
            ("tp_btf/sched_switch", P::TpBtf),
            ("tp_btf/sys_enter", P::TpBtf),
            ("tp_btf/sched_process_fork", P::TpBtf),
            ("tp_btf", NO_TARGET_PLAN),
            ("socket", SOCKET_PLAN),
            ("sk_reuseport", SOCKET_PLAN),
            ("sk_reuseport/migrate", SOCKET_PLAN),
            ("kprobe.session/vfs_*", multi("vfs_*")),
            ("kprobe.session/do_unlinkat", multi("do_unlinkat")),
            ("kprobe.session", NO_TARGET_PLAN),
            (
                "uprobe/bin/bash:readline",
                up("bin/bash", Some("readline"), 0),
            ),
            (
                "uretprobe.s/bin/bash:readline",
                up("bin/bash", Some("readline"), 0),
            ),
            (
                "uretprobe//bin/bash:readline",
                up("/bin/bash", Some("readline"), 0),
            ),
            (
                "uprobe/libc.so.6:getpid",
                up("libc.so.6", Some("getpid"), 0),
            ),
            (
                "uprobe/libc.so.6:malloc+0x4",
                up("libc.so.6", Some("malloc"), 4),
            ),
            ("uprobe//bin/true:0x1040", up("/bin/true", None, 0x1040)),
            (
                "uprobe.s/libc.so.6:getpid",
                up("libc.so.6", Some("getpid"), 0),
            ),
            ("uprobe", NO_TARGET_PLAN),
            ("uretprobe", NO_TARGET_PLAN),
            ("uprobe.s", NO_TARGET_PLAN),
            ("uretprobe.s", NO_TARGET_PLAN),
            ("uretprobe.multi", NO_TARGET_PLAN),
            (
                "uprobe//bin/bash",
                bad("/bin/bash", "expected PATH:FUNCTION[+OFFSET]"),
            ),
            (
                "uprobe.multi/libc.so.6:malloc*",
                umulti("libc.so.6", "malloc*"),
            ),
            ("uretprobe.multi//bin/x:f?", umulti("/bin/x", "f?")),
            ("uprobe.session//bin/x:f*", umulti("/bin/x", "f*")),
            ("uprobe.session.s/libc.so.6:f", umulti("libc.so.6", "f")),
            ("uprobe.multi.s/libc.so.6:f", umulti("libc.so.6", "f")),
            ("uprobe.multi", NO_TARGET_PLAN),
            ("uprobe.session", NO_TARGET_PLAN),
            (
                "uprobe.multi//bin/x",
                bad("/bin/x", "expected PATH:PATTERN"),
            ),
            (
                "usdt/bin/app:provider:name",
                usdt("bin/app", "provider", "name"),
            ),
            ("usdt.s//bin/app:p:n", usdt("/bin/app", "p", "n")),
            (
                "usdt/libc.so.6:libc:setjmp",
                usdt("libc.so.6", "libc", "setjmp"),
            ),
            ("usdt", NO_TARGET_PLAN),
            (
                "usdt//bin/app:p",
                bad("/bin/app:p", "expected PATH:PROVIDER:NAME"),
            ),
            // A function or probe without its binary, as libbpf-tools write them
            // (`corebpf run --binary` supplies it).
            (
                "uprobe/getppid",
                bad("getppid", "expected PATH:FUNCTION[+OFFSET]"),
            ),
            (
                "usdt/corebpf_cli:tick",
                bad("corebpf_cli:tick", "expected PATH:PROVIDER:NAME"),
            ),
            ("freplace/handler", P::Freplace),
            ("freplace/choose", P::Freplace),
            ("freplace", NO_TARGET_PLAN),
            ("lsm_cgroup/socket_bind", CGROUP_PLAN),
            ("iter/task", P::Iter),
            ("iter.s/task", P::Iter),
            ("iter/task_file", P::Iter),
            ("iter/bpf_map", P::Iter),
            ("iter/bpf_map_elem", P::Iter),
            ("iter", NO_TARGET_PLAN),
            ("syscall", NOT_FROM_SECTION_PLAN),
            ("xdp", NEEDS_INTERFACE_PLAN),
            ("xdp.frags", NEEDS_INTERFACE_PLAN),
            ("xdp/devmap", FROM_MAP_ENTRY_PLAN),
            ("xdp/cpumap", FROM_MAP_ENTRY_PLAN),
            ("xdp.frags/devmap", FROM_MAP_ENTRY_PLAN),
            ("tc", NEEDS_INTERFACE_PLAN),
            ("classifier", NEEDS_INTERFACE_PLAN),
            ("tc/ingress", NEEDS_INTERFACE_PLAN),
            ("tcx/ingress", NEEDS_INTERFACE_PLAN),
            ("tcx/egress", NEEDS_INTERFACE_PLAN),
            ("netkit/primary", NEEDS_INTERFACE_PLAN),
            ("netkit/peer", NEEDS_INTERFACE_PLAN),
            ("action", NOT_FROM_SECTION_PLAN),
            ("perf_event", NOT_FROM_SECTION_PLAN),
            ("lwt_xmit", NOT_FROM_SECTION_PLAN),
            ("sockops", CGROUP_PLAN),
            ("sk_skb/stream_verdict", SOCKMAP_PLAN),
            ("sk_msg", SOCKMAP_PLAN),
            ("lirc_mode2", NOT_FROM_SECTION_PLAN),
            ("flow_dissector", NETNS_PLAN),
            ("cgroup_skb/ingress", CGROUP_PLAN),
            ("cgroup_skb/egress", CGROUP_PLAN),
            ("cgroup/sock_create", CGROUP_PLAN),
            ("cgroup/connect4", CGROUP_PLAN),
            ("cgroup/sysctl", CGROUP_PLAN),
            ("cgroup/getsockopt", CGROUP_PLAN),
            ("cgroup/setsockopt", CGROUP_PLAN),
            ("cgroup/sock_release", CGROUP_PLAN),
            ("cgroup/post_bind4", CGROUP_PLAN),
            ("cgroup/bind4", CGROUP_PLAN),
            ("cgroup/bind6", CGROUP_PLAN),
            ("cgroup/connect6", CGROUP_PLAN),
            ("cgroup/sendmsg4", CGROUP_PLAN),
            ("cgroup/sendmsg6", CGROUP_PLAN),
            ("cgroup/recvmsg4", CGROUP_PLAN),
            ("cgroup/recvmsg6", CGROUP_PLAN),
            ("cgroup/getpeername4", CGROUP_PLAN),
            ("cgroup/getpeername6", CGROUP_PLAN),
            ("cgroup/getsockname4", CGROUP_PLAN),
            ("cgroup/getsockname6", CGROUP_PLAN),
            ("cgroup/connect_unix", CGROUP_PLAN),
            ("cgroup/sendmsg_unix", CGROUP_PLAN),
            ("cgroup/recvmsg_unix", CGROUP_PLAN),
            ("cgroup/getpeername_unix", CGROUP_PLAN),
            ("cgroup/getsockname_unix", CGROUP_PLAN),
            ("sk_skb/stream_parser", SOCKMAP_PLAN),
            ("cgroup/dev", CGROUP_PLAN),
            ("struct_ops/init", NOT_FROM_SECTION_PLAN),
            ("struct_ops/reno_init", NOT_FROM_SECTION_PLAN),
            ("struct_ops/reno_ssthresh", NOT_FROM_SECTION_PLAN),
            ("struct_ops/reno_cong_avoid", NOT_FROM_SECTION_PLAN),
            ("struct_ops/reno_undo_cwnd", NOT_FROM_SECTION_PLAN),
            ("struct_ops/reno_cwnd_event", NOT_FROM_SECTION_PLAN),
            ("sk_lookup", NETNS_PLAN),
            (
                "netfilter",
                P::NoAutoAttach {
                    reason: NEEDS_NF_HOOK,
                },
            ),
        ]
    }

    /// A number per [`ProgramKind`] variant; the match has no wildcard, so a new variant
    /// doesn't compile until it is given a sample here.
    fn variant(kind: &ProgramKind) -> usize {
        use ProgramKind as K;
        match kind {
            K::SocketFilter => 0,
            K::SkReuseport { .. } => 1,
            K::Kprobe { .. } => 2,
            K::Kretprobe { .. } => 3,
            K::Ksyscall { .. } => 4,
            K::KprobeMulti { .. } => 5,
            K::KprobeSession { .. } => 6,
            K::Uprobe { .. } => 7,
            K::UprobeMulti { .. } => 8,
            K::Usdt { .. } => 9,
            K::Tracepoint { .. } => 10,
            K::RawTracepoint { .. } => 11,
            K::TpBtf { .. } => 12,
            K::Fentry { .. } => 13,
            K::Fexit { .. } => 14,
            K::FmodRet { .. } => 15,
            K::Freplace { .. } => 16,
            K::Lsm { .. } => 17,
            K::LsmCgroup { .. } => 18,
            K::Iter { .. } => 19,
            K::Syscall => 20,
            K::Xdp { .. } => 21,
            K::SchedCls { .. } => 22,
            K::SchedAct => 23,
            K::PerfEvent => 24,
            K::Lwt(_) => 25,
            K::SockOps => 26,
            K::SkSkb { .. } => 27,
            K::SkMsg => 28,
            K::LircMode2 => 29,
            K::FlowDissector => 30,
            K::CgroupSkb { .. } => 31,
            K::CgroupSock { .. } => 32,
            K::CgroupSockAddr { .. } => 33,
            K::CgroupSysctl => 34,
            K::CgroupSockopt { .. } => 35,
            K::CgroupDevice => 36,
            K::StructOps { .. } => 37,
            K::SkLookup => 38,
            K::Netfilter => 39,
        }
    }
    const VARIANTS: usize = 40;

    #[test]
    fn every_section_form_maps_to_its_plan() {
        for (section, want) in samples() {
            let kind = ProgramKind::from_section(section).unwrap_or_else(|| panic!("{section}"));
            assert_eq!(AttachPlan::for_kind(&kind), want, "{section}");
        }
    }

    /// Every section of the committed objects (`bpf-progs/`, the object tests'
    /// `testdata/`) is among the samples, so each gets the plan checked above.
    #[test]
    fn the_committed_objects_sections_are_all_sampled() {
        let samples = samples();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for dir in ["bpf-progs", "src/object/testdata"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if !path.to_string_lossy().ends_with(".bpf.o") {
                    continue;
                }
                // Some test objects are broken on purpose; their programs aren't read.
                let Ok(spec) = crate::ObjectSpec::from_file(&path) else {
                    continue;
                };
                for p in &spec.programs {
                    seen += 1;
                    assert!(
                        samples.iter().any(|(s, _)| *s == p.section),
                        "{}: section '{}' has no sample",
                        path.display(),
                        p.section
                    );
                }
            }
        }
        assert!(seen > 30, "only {seen} programs found");
    }

    #[test]
    fn the_samples_cover_every_kind() {
        let mut covered = [false; VARIANTS];
        for (section, _) in samples() {
            covered[variant(&ProgramKind::from_section(section).unwrap())] = true;
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|&i| !covered[i]).collect();
        assert!(missing.is_empty(), "variants without a sample: {missing:?}");
    }

    /// The typed view a plan dispatches to accepts the program.
    fn view_accepts(prog: &Program, plan: &AttachPlan) -> Result<(), ProgramError> {
        match plan {
            P::Tracepoint(_) => TracePoint::try_from(prog).map(drop),
            P::RawTracepoint { .. } => RawTracePoint::try_from(prog).map(drop),
            P::Kprobe(_) | P::Ksyscall { .. } => KProbe::try_from(prog).map(drop),
            P::KprobeMulti { .. } => KProbeMulti::try_from(prog).map(drop),
            P::Uprobe(_) => UProbe::try_from(prog).map(drop),
            P::UprobeMulti { .. } => UProbeMulti::try_from(prog).map(drop),
            P::Usdt(_) => Usdt::try_from(prog).map(drop),
            P::Fentry => FEntry::try_from(prog).map(drop),
            P::Fexit => FExit::try_from(prog).map(drop),
            P::FmodRet => FModRet::try_from(prog).map(drop),
            P::Lsm => Lsm::try_from(prog).map(drop),
            P::TpBtf => TpBtf::try_from(prog).map(drop),
            P::Iter => Iter::try_from(prog).map(drop),
            P::Freplace => FReplace::try_from(prog).map(drop),
            P::BadTarget(_) | P::NoAutoAttach { .. } => Ok(()),
        }
    }

    /// `can_auto_attach` and `attach` agree with the plan for every kind: no plan, no
    /// auto-attach (and `attach` says so without a syscall); a bad target is attempted
    /// and reported without a syscall; any other plan names a typed view that takes
    /// the program.
    #[test]
    fn auto_attach_and_attach_follow_the_plan() {
        for (section, _) in samples() {
            let prog = program(section);
            let plan = prog.attach_plan();
            assert_eq!(prog.can_auto_attach(), plan.is_auto(), "{section}");
            view_accepts(&prog, &plan).unwrap_or_else(|e| panic!("{section}: {e}"));
            if !matches!(plan, P::BadTarget(_) | P::NoAutoAttach { .. }) {
                continue;
            }
            let mut syscalls = 0;
            let e = with_syscall_override(
                |_| {
                    syscalls += 1;
                    None
                },
                || prog.attach(),
            )
            .unwrap_err();
            assert_eq!(syscalls, 0, "{section}");
            match (&plan, &e) {
                (P::NoAutoAttach { reason }, ProgramError::NoAutoAttach { reason: r, .. }) => {
                    assert_eq!(reason, r, "{section}");
                }
                (P::BadTarget(t), ProgramError::BadTarget { reason, .. }) => {
                    assert_eq!(*reason, t.to_string(), "{section}");
                }
                _ => panic!("{section}: plan {plan:?} but attach said {e:?}"),
            }
        }
    }
}
