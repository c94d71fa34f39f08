//! The section-name table: which program type a `SEC("...")` name means.
//!
//! Mirrors libbpf's `section_defs[]`: the first entry that matches wins, and
//! entries match in three ways, as in libbpf's `sec_def_matches()`:
//!
//! - `"xdp"`: the name must be exactly `xdp`;
//! - `"kprobe+"`: exactly `kprobe`, or `kprobe/` followed by an attach target.
//!
//! Parsing is pure: [`ProgramKind::from_section`] never fails on a well-known
//! type with an odd attach target; the target is kept as text and parsed into
//! its parts (function and offset, binary path, ...) by the helpers here when
//! the program is attached, as libbpf does at attach time.

// The uapi numbers are plain constants shared with `sys`; nothing here calls the kernel.
use crate::sys::bpf::{attach_type as at, prog_type as pt};

/// Where an XDP program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum XdpAttach {
    /// A network interface (`xdp`, `xdp.frags`).
    Interface,
    /// A devmap entry (`xdp/devmap`, `xdp.frags/devmap`).
    Devmap,
    /// A cpumap entry (`xdp/cpumap`, `xdp.frags/cpumap`).
    Cpumap,
}

/// How a `SCHED_CLS` program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcAttach {
    /// `tc` or `classifier`: the netlink clsact path, no expected attach type.
    Classic,
    /// `tcx/ingress` (also `tc/ingress`).
    TcxIngress,
    /// `tcx/egress` (also `tc/egress`).
    TcxEgress,
    /// `netkit/primary`.
    NetkitPrimary,
    /// `netkit/peer`.
    NetkitPeer,
}

/// Light-weight tunnel program flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LwtKind {
    /// `lwt_in`.
    In,
    /// `lwt_out`.
    Out,
    /// `lwt_xmit`.
    Xmit,
    /// `lwt_seg6local`.
    Seg6Local,
}

/// What a program is, as its section name says: program type, expected attach type,
/// flags (sleepable, XDP frags) and attach target.
///
/// Attach targets are the text after the type prefix and its `/`, `None` when the
/// section has no target (`SEC("kprobe")`: the program is attached by hand).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProgramKind {
    /// `socket`.
    SocketFilter,
    /// `sk_reuseport` and `sk_reuseport/migrate`.
    SkReuseport {
        /// `sk_reuseport/migrate`.
        migrate: bool,
    },
    /// `kprobe[/FN[+OFF]]`: see [`KprobeTarget::parse`].
    Kprobe {
        /// `FN[+OFF]`.
        target: Option<String>,
    },
    /// `kretprobe[/FN]`.
    Kretprobe {
        /// `FN`.
        target: Option<String>,
    },
    /// `ksyscall[/NAME]` and `kretsyscall[/NAME]`.
    Ksyscall {
        /// Syscall name without the arch prefix (`openat`).
        syscall: Option<String>,
        /// `kretsyscall`.
        ret: bool,
    },
    /// `kprobe.multi[/GLOB]` and `kretprobe.multi[/GLOB]`.
    KprobeMulti {
        /// Function name pattern.
        pattern: Option<String>,
        /// `kretprobe.multi`.
        ret: bool,
    },
    /// `kprobe.session[/GLOB]`.
    KprobeSession {
        /// Function name pattern.
        pattern: Option<String>,
    },
    /// `uprobe[.s][/PATH:FN[+OFF]]` and `uretprobe[.s][/...]`: see [`UprobeTarget::parse`].
    Uprobe {
        /// `PATH:FN[+OFF]`.
        target: Option<String>,
        /// `uretprobe`.
        ret: bool,
        /// `.s` (sleepable).
        sleepable: bool,
    },
    /// `uprobe.multi[.s][/PATH:GLOB]`, `uretprobe.multi[.s][/...]` and
    /// `uprobe.session[.s][/...]`.
    UprobeMulti {
        /// `PATH:GLOB`.
        target: Option<String>,
        /// `uretprobe.multi`.
        ret: bool,
        /// `.s` (sleepable).
        sleepable: bool,
        /// `uprobe.session`: `BPF_TRACE_UPROBE_SESSION` (6.13).
        session: bool,
    },
    /// `usdt[.s][/PATH:PROVIDER:NAME]`: see [`UsdtTarget::parse`].
    Usdt {
        /// `PATH:PROVIDER:NAME`.
        target: Option<String>,
        /// `.s` (sleepable).
        sleepable: bool,
    },
    /// `tracepoint[/CAT/NAME]` and `tp[/CAT/NAME]`: see [`TracepointTarget::parse`].
    Tracepoint {
        /// `CAT/NAME`.
        target: Option<String>,
    },
    /// `raw_tracepoint[/NAME]`, `raw_tp[/NAME]` and their `.w` (writable) forms.
    RawTracepoint {
        /// Tracepoint name.
        target: Option<String>,
        /// `.w`: `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`.
        writable: bool,
    },
    /// `tp_btf[/NAME]`: BTF-enabled raw tracepoint (`TRACING`, `BPF_TRACE_RAW_TP`).
    TpBtf {
        /// Tracepoint name.
        target: Option<String>,
    },
    /// `fentry[.s][/FN]`.
    Fentry {
        /// Kernel function.
        target: Option<String>,
        /// `.s` (sleepable).
        sleepable: bool,
    },
    /// `fexit[.s][/FN]`.
    Fexit {
        /// Kernel function.
        target: Option<String>,
        /// `.s` (sleepable).
        sleepable: bool,
    },
    /// `fmod_ret[.s][/FN]`.
    FmodRet {
        /// Kernel function.
        target: Option<String>,
        /// `.s` (sleepable).
        sleepable: bool,
    },
    /// `freplace[/FN]` (`BPF_PROG_TYPE_EXT`).
    Freplace {
        /// Function of the target program.
        target: Option<String>,
    },
    /// `lsm[/HOOK]` and `lsm.s[/HOOK]`.
    Lsm {
        /// LSM hook.
        hook: Option<String>,
        /// `lsm.s` (sleepable).
        sleepable: bool,
    },
    /// `lsm_cgroup[/HOOK]`.
    LsmCgroup {
        /// LSM hook.
        hook: Option<String>,
    },
    /// `iter[.s][/NAME]`.
    Iter {
        /// Iterator target (`task`, `bpf_map_elem`, ...).
        target: Option<String>,
        /// `iter.s` (sleepable).
        sleepable: bool,
    },
    /// `syscall` (always sleepable).
    Syscall,
    /// `xdp`, `xdp.frags`, `xdp[.frags]/devmap`, `xdp[.frags]/cpumap`.
    Xdp {
        /// `.frags`: the program handles multi-buffer packets (`BPF_F_XDP_HAS_FRAGS`).
        frags: bool,
        /// Where it attaches.
        attach: XdpAttach,
    },
    /// `tc`, `classifier`, `tc/ingress`, `tc/egress`, `tcx/ingress`, `tcx/egress`,
    /// `netkit/primary`, `netkit/peer`.
    SchedCls {
        /// Attach path.
        attach: TcAttach,
    },
    /// `action`.
    SchedAct,
    /// `perf_event`.
    PerfEvent,
    /// `lwt_in`, `lwt_out`, `lwt_xmit`, `lwt_seg6local`.
    Lwt(LwtKind),
    /// `sockops`.
    SockOps,
    /// `sk_skb`, `sk_skb/stream_parser`, `sk_skb/stream_verdict`, `sk_skb/verdict`;
    /// the attach type is 0 for plain `sk_skb`.
    SkSkb {
        /// Expected attach type.
        attach_type: u32,
    },
    /// `sk_msg`.
    SkMsg,
    /// `lirc_mode2`.
    LircMode2,
    /// `flow_dissector`.
    FlowDissector,
    /// `cgroup_skb/ingress`, `cgroup_skb/egress`, `cgroup/skb` (attach type 0).
    CgroupSkb {
        /// Expected attach type.
        attach_type: u32,
    },
    /// `cgroup/sock_create`, `cgroup/sock_release`, `cgroup/sock`, `cgroup/post_bind4|6`.
    CgroupSock {
        /// Expected attach type.
        attach_type: u32,
    },
    /// `cgroup/bind4`, `cgroup/connect6`, `cgroup/sendmsg_unix`, ... (socket address hooks).
    CgroupSockAddr {
        /// Expected attach type.
        attach_type: u32,
    },
    /// `cgroup/sysctl`.
    CgroupSysctl,
    /// `cgroup/getsockopt` and `cgroup/setsockopt`.
    CgroupSockopt {
        /// Expected attach type.
        attach_type: u32,
    },
    /// `cgroup/dev`.
    CgroupDevice,
    /// `struct_ops[.s][/NAME]`.
    StructOps {
        /// Member of the ops struct.
        target: Option<String>,
        /// `.s` (sleepable).
        sleepable: bool,
    },
    /// `sk_lookup`.
    SkLookup,
    /// `netfilter`.
    Netfilter,
}

/// How a table entry's name is matched (libbpf's `sec_def_matches`).
#[derive(Clone, Copy)]
enum Match {
    /// The section name equals the pattern.
    Exact,
    /// The section name equals the pattern or continues with `/` and a target.
    Target,
}

type Build = fn(Option<&str>) -> ProgramKind;

fn own(t: Option<&str>) -> Option<String> {
    t.map(str::to_string)
}

/// libbpf's `section_defs[]`, in its order (first match wins).
#[rustfmt::skip]
const SECTION_DEFS: &[(&str, Match, Build)] = {
    use Match::*;
    use ProgramKind as K;
    &[
        ("socket", Exact, |_| K::SocketFilter),
        ("sk_reuseport/migrate", Exact, |_| K::SkReuseport { migrate: true }),
        ("sk_reuseport", Exact, |_| K::SkReuseport { migrate: false }),
        ("kprobe", Target, |t| K::Kprobe { target: own(t) }),
        ("uprobe", Target, |t| K::Uprobe { target: own(t), ret: false, sleepable: false }),
        ("uprobe.s", Target, |t| K::Uprobe { target: own(t), ret: false, sleepable: true }),
        ("kretprobe", Target, |t| K::Kretprobe { target: own(t) }),
        ("uretprobe", Target, |t| K::Uprobe { target: own(t), ret: true, sleepable: false }),
        ("uretprobe.s", Target, |t| K::Uprobe { target: own(t), ret: true, sleepable: true }),
        ("kprobe.multi", Target, |t| K::KprobeMulti { pattern: own(t), ret: false }),
        ("kretprobe.multi", Target, |t| K::KprobeMulti { pattern: own(t), ret: true }),
        ("kprobe.session", Target, |t| K::KprobeSession { pattern: own(t) }),
        ("uprobe.multi", Target, |t| K::UprobeMulti { target: own(t), ret: false, sleepable: false, session: false }),
        ("uretprobe.multi", Target, |t| K::UprobeMulti { target: own(t), ret: true, sleepable: false, session: false }),
        ("uprobe.session", Target, |t| K::UprobeMulti { target: own(t), ret: false, sleepable: false, session: true }),
        ("uprobe.multi.s", Target, |t| K::UprobeMulti { target: own(t), ret: false, sleepable: true, session: false }),
        ("uretprobe.multi.s", Target, |t| K::UprobeMulti { target: own(t), ret: true, sleepable: true, session: false }),
        ("uprobe.session.s", Target, |t| K::UprobeMulti { target: own(t), ret: false, sleepable: true, session: true }),
        ("ksyscall", Target, |t| K::Ksyscall { syscall: own(t), ret: false }),
        ("kretsyscall", Target, |t| K::Ksyscall { syscall: own(t), ret: true }),
        ("usdt", Target, |t| K::Usdt { target: own(t), sleepable: false }),
        ("usdt.s", Target, |t| K::Usdt { target: own(t), sleepable: true }),
        ("tc/ingress", Exact, |_| K::SchedCls { attach: TcAttach::TcxIngress }),
        ("tc/egress", Exact, |_| K::SchedCls { attach: TcAttach::TcxEgress }),
        ("tcx/ingress", Exact, |_| K::SchedCls { attach: TcAttach::TcxIngress }),
        ("tcx/egress", Exact, |_| K::SchedCls { attach: TcAttach::TcxEgress }),
        ("netkit/primary", Exact, |_| K::SchedCls { attach: TcAttach::NetkitPrimary }),
        ("netkit/peer", Exact, |_| K::SchedCls { attach: TcAttach::NetkitPeer }),
        ("tc", Exact, |_| K::SchedCls { attach: TcAttach::Classic }),
        ("classifier", Exact, |_| K::SchedCls { attach: TcAttach::Classic }),
        ("action", Exact, |_| K::SchedAct),
        ("tracepoint", Target, |t| K::Tracepoint { target: own(t) }),
        ("tp", Target, |t| K::Tracepoint { target: own(t) }),
        ("raw_tracepoint", Target, |t| K::RawTracepoint { target: own(t), writable: false }),
        ("raw_tp", Target, |t| K::RawTracepoint { target: own(t), writable: false }),
        ("raw_tracepoint.w", Target, |t| K::RawTracepoint { target: own(t), writable: true }),
        ("raw_tp.w", Target, |t| K::RawTracepoint { target: own(t), writable: true }),
        ("tp_btf", Target, |t| K::TpBtf { target: own(t) }),
        ("fentry", Target, |t| K::Fentry { target: own(t), sleepable: false }),
        ("fmod_ret", Target, |t| K::FmodRet { target: own(t), sleepable: false }),
        ("fexit", Target, |t| K::Fexit { target: own(t), sleepable: false }),
        ("fentry.s", Target, |t| K::Fentry { target: own(t), sleepable: true }),
        ("fmod_ret.s", Target, |t| K::FmodRet { target: own(t), sleepable: true }),
        ("fexit.s", Target, |t| K::Fexit { target: own(t), sleepable: true }),
        ("freplace", Target, |t| K::Freplace { target: own(t) }),
        ("lsm", Target, |t| K::Lsm { hook: own(t), sleepable: false }),
        ("lsm.s", Target, |t| K::Lsm { hook: own(t), sleepable: true }),
        ("lsm_cgroup", Target, |t| K::LsmCgroup { hook: own(t) }),
        ("iter", Target, |t| K::Iter { target: own(t), sleepable: false }),
        ("iter.s", Target, |t| K::Iter { target: own(t), sleepable: true }),
        ("syscall", Exact, |_| K::Syscall),
        ("xdp.frags/devmap", Exact, |_| K::Xdp { frags: true, attach: XdpAttach::Devmap }),
        ("xdp/devmap", Exact, |_| K::Xdp { frags: false, attach: XdpAttach::Devmap }),
        ("xdp.frags/cpumap", Exact, |_| K::Xdp { frags: true, attach: XdpAttach::Cpumap }),
        ("xdp/cpumap", Exact, |_| K::Xdp { frags: false, attach: XdpAttach::Cpumap }),
        ("xdp.frags", Exact, |_| K::Xdp { frags: true, attach: XdpAttach::Interface }),
        ("xdp", Exact, |_| K::Xdp { frags: false, attach: XdpAttach::Interface }),
        ("perf_event", Exact, |_| K::PerfEvent),
        ("lwt_in", Exact, |_| K::Lwt(LwtKind::In)),
        ("lwt_out", Exact, |_| K::Lwt(LwtKind::Out)),
        ("lwt_xmit", Exact, |_| K::Lwt(LwtKind::Xmit)),
        ("lwt_seg6local", Exact, |_| K::Lwt(LwtKind::Seg6Local)),
        ("sockops", Exact, |_| K::SockOps),
        ("sk_skb/stream_parser", Exact, |_| K::SkSkb { attach_type: at::SK_SKB_STREAM_PARSER }),
        ("sk_skb/stream_verdict", Exact, |_| K::SkSkb { attach_type: at::SK_SKB_STREAM_VERDICT }),
        ("sk_skb/verdict", Exact, |_| K::SkSkb { attach_type: at::SK_SKB_VERDICT }),
        ("sk_skb", Exact, |_| K::SkSkb { attach_type: 0 }),
        ("sk_msg", Exact, |_| K::SkMsg),
        ("lirc_mode2", Exact, |_| K::LircMode2),
        ("flow_dissector", Exact, |_| K::FlowDissector),
        ("cgroup_skb/ingress", Exact, |_| K::CgroupSkb { attach_type: at::CGROUP_INET_INGRESS }),
        ("cgroup_skb/egress", Exact, |_| K::CgroupSkb { attach_type: at::CGROUP_INET_EGRESS }),
        ("cgroup/skb", Exact, |_| K::CgroupSkb { attach_type: 0 }),
        ("cgroup/sock_create", Exact, |_| K::CgroupSock { attach_type: at::CGROUP_INET_SOCK_CREATE }),
        ("cgroup/sock_release", Exact, |_| K::CgroupSock { attach_type: at::CGROUP_INET_SOCK_RELEASE }),
        ("cgroup/sock", Exact, |_| K::CgroupSock { attach_type: at::CGROUP_INET_SOCK_CREATE }),
        ("cgroup/post_bind4", Exact, |_| K::CgroupSock { attach_type: at::CGROUP_INET4_POST_BIND }),
        ("cgroup/post_bind6", Exact, |_| K::CgroupSock { attach_type: at::CGROUP_INET6_POST_BIND }),
        ("cgroup/bind4", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET4_BIND }),
        ("cgroup/bind6", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET6_BIND }),
        ("cgroup/connect4", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET4_CONNECT }),
        ("cgroup/connect6", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET6_CONNECT }),
        ("cgroup/connect_unix", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UNIX_CONNECT }),
        ("cgroup/sendmsg4", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UDP4_SENDMSG }),
        ("cgroup/sendmsg6", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UDP6_SENDMSG }),
        ("cgroup/sendmsg_unix", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UNIX_SENDMSG }),
        ("cgroup/recvmsg4", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UDP4_RECVMSG }),
        ("cgroup/recvmsg6", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UDP6_RECVMSG }),
        ("cgroup/recvmsg_unix", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UNIX_RECVMSG }),
        ("cgroup/getpeername4", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET4_GETPEERNAME }),
        ("cgroup/getpeername6", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET6_GETPEERNAME }),
        ("cgroup/getpeername_unix", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UNIX_GETPEERNAME }),
        ("cgroup/getsockname4", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET4_GETSOCKNAME }),
        ("cgroup/getsockname6", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_INET6_GETSOCKNAME }),
        ("cgroup/getsockname_unix", Exact, |_| K::CgroupSockAddr { attach_type: at::CGROUP_UNIX_GETSOCKNAME }),
        ("cgroup/sysctl", Exact, |_| K::CgroupSysctl),
        ("cgroup/getsockopt", Exact, |_| K::CgroupSockopt { attach_type: at::CGROUP_GETSOCKOPT }),
        ("cgroup/setsockopt", Exact, |_| K::CgroupSockopt { attach_type: at::CGROUP_SETSOCKOPT }),
        ("cgroup/dev", Exact, |_| K::CgroupDevice),
        ("struct_ops", Target, |t| K::StructOps { target: own(t), sleepable: false }),
        ("struct_ops.s", Target, |t| K::StructOps { target: own(t), sleepable: true }),
        ("sk_lookup", Exact, |_| K::SkLookup),
        ("netfilter", Exact, |_| K::Netfilter),
    ]
};

/// Matches `name` against one table entry; on a match returns the attach target
/// (`None` when there is none).
fn matches<'a>(pattern: &str, how: Match, name: &'a str) -> Option<Option<&'a str>> {
    match how {
        Match::Exact => (name == pattern).then_some(None),
        Match::Target => {
            let rest = name.strip_prefix(pattern)?;
            if rest.is_empty() {
                Some(None)
            } else {
                rest.strip_prefix('/').map(Some)
            }
        }
    }
}

impl ProgramKind {
    /// The program kind a section name (without a leading `?`) stands for, or `None`
    /// when no entry of the table matches (libbpf: "missing BPF prog type").
    pub fn from_section(name: &str) -> Option<ProgramKind> {
        SECTION_DEFS
            .iter()
            .find_map(|(pattern, how, build)| matches(pattern, *how, name).map(build))
    }

    /// The kernel's program type (`BPF_PROG_TYPE_*`).
    pub fn prog_type(&self) -> u32 {
        use ProgramKind as K;
        match self {
            K::SocketFilter => pt::SOCKET_FILTER,
            K::SkReuseport { .. } => pt::SK_REUSEPORT,
            K::Kprobe { .. }
            | K::Kretprobe { .. }
            | K::Ksyscall { .. }
            | K::KprobeMulti { .. }
            | K::KprobeSession { .. }
            | K::Uprobe { .. }
            | K::UprobeMulti { .. }
            | K::Usdt { .. } => pt::KPROBE,
            K::Tracepoint { .. } => pt::TRACEPOINT,
            K::RawTracepoint {
                writable: false, ..
            } => pt::RAW_TRACEPOINT,
            K::RawTracepoint { writable: true, .. } => pt::RAW_TRACEPOINT_WRITABLE,
            K::TpBtf { .. }
            | K::Fentry { .. }
            | K::Fexit { .. }
            | K::FmodRet { .. }
            | K::Iter { .. } => pt::TRACING,
            K::Freplace { .. } => pt::EXT,
            K::Lsm { .. } | K::LsmCgroup { .. } => pt::LSM,
            K::Syscall => pt::SYSCALL,
            K::Xdp { .. } => pt::XDP,
            K::SchedCls { .. } => pt::SCHED_CLS,
            K::SchedAct => pt::SCHED_ACT,
            K::PerfEvent => pt::PERF_EVENT,
            K::Lwt(LwtKind::In) => pt::LWT_IN,
            K::Lwt(LwtKind::Out) => pt::LWT_OUT,
            K::Lwt(LwtKind::Xmit) => pt::LWT_XMIT,
            K::Lwt(LwtKind::Seg6Local) => pt::LWT_SEG6LOCAL,
            K::SockOps => pt::SOCK_OPS,
            K::SkSkb { .. } => pt::SK_SKB,
            K::SkMsg => pt::SK_MSG,
            K::LircMode2 => pt::LIRC_MODE2,
            K::FlowDissector => pt::FLOW_DISSECTOR,
            K::CgroupSkb { .. } => pt::CGROUP_SKB,
            K::CgroupSock { .. } => pt::CGROUP_SOCK,
            K::CgroupSockAddr { .. } => pt::CGROUP_SOCK_ADDR,
            K::CgroupSysctl => pt::CGROUP_SYSCTL,
            K::CgroupSockopt { .. } => pt::CGROUP_SOCKOPT,
            K::CgroupDevice => pt::CGROUP_DEVICE,
            K::StructOps { .. } => pt::STRUCT_OPS,
            K::SkLookup => pt::SK_LOOKUP,
            K::Netfilter => pt::NETFILTER,
        }
    }

    /// The `expected_attach_type` for `BPF_PROG_LOAD` (0 where libbpf passes none).
    pub fn expected_attach_type(&self) -> u32 {
        use ProgramKind as K;
        match self {
            K::SkReuseport { migrate: true } => at::SK_REUSEPORT_SELECT_OR_MIGRATE,
            K::SkReuseport { migrate: false } => at::SK_REUSEPORT_SELECT,
            K::KprobeMulti { .. } => at::TRACE_KPROBE_MULTI,
            K::KprobeSession { .. } => at::TRACE_KPROBE_SESSION,
            K::UprobeMulti { session: true, .. } => at::TRACE_UPROBE_SESSION,
            K::UprobeMulti { .. } => at::TRACE_UPROBE_MULTI,
            K::TpBtf { .. } => at::TRACE_RAW_TP,
            K::Fentry { .. } => at::TRACE_FENTRY,
            K::Fexit { .. } => at::TRACE_FEXIT,
            K::FmodRet { .. } => at::MODIFY_RETURN,
            K::Lsm { .. } => at::LSM_MAC,
            K::LsmCgroup { .. } => at::LSM_CGROUP,
            K::Iter { .. } => at::TRACE_ITER,
            K::Xdp {
                attach: XdpAttach::Interface,
                ..
            } => at::XDP,
            K::Xdp {
                attach: XdpAttach::Devmap,
                ..
            } => at::XDP_DEVMAP,
            K::Xdp {
                attach: XdpAttach::Cpumap,
                ..
            } => at::XDP_CPUMAP,
            K::SchedCls { attach } => match attach {
                TcAttach::Classic => 0,
                TcAttach::TcxIngress => at::TCX_INGRESS,
                TcAttach::TcxEgress => at::TCX_EGRESS,
                TcAttach::NetkitPrimary => at::NETKIT_PRIMARY,
                TcAttach::NetkitPeer => at::NETKIT_PEER,
            },
            K::SockOps => at::CGROUP_SOCK_OPS,
            K::SkSkb { attach_type }
            | K::CgroupSkb { attach_type }
            | K::CgroupSock { attach_type }
            | K::CgroupSockAddr { attach_type }
            | K::CgroupSockopt { attach_type } => *attach_type,
            K::SkMsg => at::SK_MSG_VERDICT,
            K::LircMode2 => at::LIRC_MODE2,
            K::FlowDissector => at::FLOW_DISSECTOR,
            K::CgroupSysctl => at::CGROUP_SYSCTL,
            K::CgroupDevice => at::CGROUP_DEVICE,
            K::SkLookup => at::SK_LOOKUP,
            K::Netfilter => at::NETFILTER,
            _ => 0,
        }
    }

    /// True for sleepable programs (`BPF_F_SLEEPABLE` at load): the `.s` forms and `syscall`.
    pub fn is_sleepable(&self) -> bool {
        use ProgramKind as K;
        match self {
            K::Syscall => true,
            K::Uprobe { sleepable, .. }
            | K::UprobeMulti { sleepable, .. }
            | K::Usdt { sleepable, .. }
            | K::Fentry { sleepable, .. }
            | K::Fexit { sleepable, .. }
            | K::FmodRet { sleepable, .. }
            | K::Lsm { sleepable, .. }
            | K::Iter { sleepable, .. }
            | K::StructOps { sleepable, .. } => *sleepable,
            _ => false,
        }
    }

    /// True for `xdp.frags` programs (`BPF_F_XDP_HAS_FRAGS` at load).
    pub fn xdp_has_frags(&self) -> bool {
        matches!(self, ProgramKind::Xdp { frags: true, .. })
    }

    /// True when the kernel needs a BTF id of the attach target at load
    /// (`attach_btf_id`: fentry/fexit/fmod_ret, tp_btf, lsm, iter, freplace).
    pub fn needs_attach_btf_id(&self) -> bool {
        use ProgramKind as K;
        matches!(
            self,
            K::TpBtf { .. }
                | K::Fentry { .. }
                | K::Fexit { .. }
                | K::FmodRet { .. }
                | K::Freplace { .. }
                | K::Lsm { .. }
                | K::LsmCgroup { .. }
                | K::Iter { .. }
        )
    }

    /// The attach target written in the section name, if any: the text after
    /// `type/` (`"do_sys_open+16"`, `"syscalls/sys_enter_execve"`, `"/bin/sh:main"`).
    pub fn attach_target(&self) -> Option<&str> {
        use ProgramKind as K;
        match self {
            K::Kprobe { target }
            | K::Kretprobe { target }
            | K::Uprobe { target, .. }
            | K::UprobeMulti { target, .. }
            | K::Usdt { target, .. }
            | K::Tracepoint { target }
            | K::RawTracepoint { target, .. }
            | K::TpBtf { target }
            | K::Fentry { target, .. }
            | K::Fexit { target, .. }
            | K::FmodRet { target, .. }
            | K::Freplace { target }
            | K::Iter { target, .. }
            | K::StructOps { target, .. } => target.as_deref(),
            K::Ksyscall { syscall, .. } => syscall.as_deref(),
            K::KprobeMulti { pattern, .. } | K::KprobeSession { pattern } => pattern.as_deref(),
            K::Lsm { hook, .. } | K::LsmCgroup { hook } => hook.as_deref(),
            _ => None,
        }
    }
}

/// Why an attach target in a section name could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("attach target '{target}' is malformed: {reason}")]
pub struct TargetError {
    /// The target text.
    pub target: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn terr<T>(target: &str, reason: &'static str) -> Result<T, TargetError> {
    Err(TargetError {
        target: target.to_string(),
        reason,
    })
}

/// Parses an offset as C's `strtol(.., 0)` would: `0x` hex, leading-`0` octal, or decimal.
fn parse_c_number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// A kprobe target: `FN` or `FN+OFF` (libbpf: `%m[a-zA-Z0-9_.]+%li`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KprobeTarget {
    /// Kernel function (symbol) name.
    pub function: String,
    /// Offset into it.
    pub offset: u64,
}

impl KprobeTarget {
    /// Parses `FN[+OFF]`.
    pub fn parse(target: &str) -> Result<KprobeTarget, TargetError> {
        let (function, offset) = match target.split_once('+') {
            Some((f, o)) => match parse_c_number(o) {
                Some(o) => (f, o),
                None => return terr(target, "the offset after '+' is not a number"),
            },
            None => (target, 0),
        };
        if function.is_empty()
            || !function
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            return terr(target, "the function name must be [a-zA-Z0-9_.]+");
        }
        Ok(KprobeTarget {
            function: function.to_string(),
            offset,
        })
    }
}

/// A uprobe target: `PATH:FN[+OFF]` or `PATH:OFFSET` (libbpf's `attach_uprobe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UprobeTarget {
    /// Binary or library path (may be a bare library name).
    pub path: String,
    /// Function name; `None` when the target is a bare offset.
    pub function: Option<String>,
    /// Offset (into the function, or into the file when `function` is `None`).
    pub offset: u64,
}

impl UprobeTarget {
    /// Parses `PATH:FN[+OFF]` or `PATH:OFFSET`.
    pub fn parse(target: &str) -> Result<UprobeTarget, TargetError> {
        let Some((path, rest)) = target.split_once(':') else {
            return terr(target, "expected PATH:FUNCTION[+OFFSET]");
        };
        if path.is_empty() || rest.is_empty() {
            return terr(target, "expected PATH:FUNCTION[+OFFSET]");
        }
        if let Some(off) = parse_c_number(rest) {
            return Ok(UprobeTarget {
                path: path.to_string(),
                function: None,
                offset: off,
            });
        }
        let (function, offset) = match rest.split_once('+') {
            Some((f, o)) => match parse_c_number(o) {
                Some(o) => (f, o),
                None => return terr(target, "the offset after '+' is not a number"),
            },
            None => (rest, 0),
        };
        if function.is_empty()
            || !function
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'@')
        {
            return terr(target, "the function name must be [a-zA-Z0-9_.@]+");
        }
        Ok(UprobeTarget {
            path: path.to_string(),
            function: Some(function.to_string()),
            offset,
        })
    }
}

/// A USDT target: `PATH:PROVIDER:NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtTarget {
    /// Binary path.
    pub path: String,
    /// Provider.
    pub provider: String,
    /// Probe name.
    pub name: String,
}

impl UsdtTarget {
    /// Parses `PATH:PROVIDER:NAME`.
    pub fn parse(target: &str) -> Result<UsdtTarget, TargetError> {
        let mut parts = target.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(p), Some(v), Some(n), None)
                if !p.is_empty() && !v.is_empty() && !n.is_empty() =>
            {
                Ok(UsdtTarget {
                    path: p.to_string(),
                    provider: v.to_string(),
                    name: n.to_string(),
                })
            }
            _ => terr(target, "expected PATH:PROVIDER:NAME"),
        }
    }
}

/// A tracepoint target: `CATEGORY/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointTarget {
    /// Category (`syscalls`).
    pub category: String,
    /// Name (`sys_enter_execve`).
    pub name: String,
}

impl TracepointTarget {
    /// Parses `CATEGORY/NAME`.
    pub fn parse(target: &str) -> Result<TracepointTarget, TargetError> {
        match target.split_once('/') {
            Some((c, n)) if !c.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(TracepointTarget {
                    category: c.to_string(),
                    name: n.to_string(),
                })
            }
            _ => terr(target, "expected CATEGORY/NAME"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProgramKind as K;

    fn kind(s: &str) -> ProgramKind {
        ProgramKind::from_section(s).unwrap_or_else(|| panic!("no kind for {s}"))
    }

    #[test]
    fn table_matches_like_libbpf() {
        assert_eq!(kind("socket"), K::SocketFilter);
        assert_eq!(ProgramKind::from_section("socket/foo"), None);
        assert_eq!(
            kind("kprobe/do_sys_open+16"),
            K::Kprobe {
                target: Some("do_sys_open+16".into())
            }
        );
        assert_eq!(kind("kprobe"), K::Kprobe { target: None });
        // "kprobe+" needs a '/' separator: "kprobex" is not a kprobe.
        assert_eq!(ProgramKind::from_section("kprobex"), None);
        assert_eq!(
            kind("kretprobe/f"),
            K::Kretprobe {
                target: Some("f".into())
            }
        );
        assert_eq!(
            kind("ksyscall/openat"),
            K::Ksyscall {
                syscall: Some("openat".into()),
                ret: false
            }
        );
        assert_eq!(
            kind("kretsyscall/openat"),
            K::Ksyscall {
                syscall: Some("openat".into()),
                ret: true
            }
        );
        assert_eq!(
            kind("kprobe.multi/tcp_*"),
            K::KprobeMulti {
                pattern: Some("tcp_*".into()),
                ret: false
            }
        );
        assert_eq!(
            kind("kretprobe.multi/x").expected_attach_type(),
            at::TRACE_KPROBE_MULTI
        );
        assert_eq!(
            kind("uprobe//bin/bash:readline"),
            K::Uprobe {
                target: Some("/bin/bash:readline".into()),
                ret: false,
                sleepable: false
            }
        );
        assert_eq!(
            kind("uretprobe.s"),
            K::Uprobe {
                target: None,
                ret: true,
                sleepable: true
            }
        );
        assert!(kind("uprobe.s/x:y").is_sleepable());
        assert_eq!(
            kind("usdt/p:prov:name"),
            K::Usdt {
                target: Some("p:prov:name".into()),
                sleepable: false
            }
        );
        for s in [
            "tracepoint/syscalls/sys_enter_execve",
            "tp/syscalls/sys_enter_execve",
        ] {
            let k = kind(s);
            assert_eq!(k.prog_type(), pt::TRACEPOINT);
            assert_eq!(k.attach_target(), Some("syscalls/sys_enter_execve"));
        }
        assert_eq!(kind("raw_tp/sched_switch").prog_type(), pt::RAW_TRACEPOINT);
        assert_eq!(kind("raw_tracepoint/x").prog_type(), pt::RAW_TRACEPOINT);
        assert_eq!(kind("raw_tp.w/x").prog_type(), pt::RAW_TRACEPOINT_WRITABLE);
        assert_eq!(
            kind("raw_tracepoint.w").prog_type(),
            pt::RAW_TRACEPOINT_WRITABLE
        );
        let t = kind("tp_btf/sched_switch");
        assert_eq!(
            (t.prog_type(), t.expected_attach_type()),
            (pt::TRACING, at::TRACE_RAW_TP)
        );
        assert_eq!(
            kind("fentry/do_unlinkat").expected_attach_type(),
            at::TRACE_FENTRY
        );
        assert_eq!(
            kind("fexit/do_unlinkat").expected_attach_type(),
            at::TRACE_FEXIT
        );
        assert_eq!(kind("fmod_ret/f").expected_attach_type(), at::MODIFY_RETURN);
        let s = kind("fentry.s/f");
        assert!(s.is_sleepable() && s.needs_attach_btf_id());
        assert_eq!(
            kind("lsm/file_open"),
            K::Lsm {
                hook: Some("file_open".into()),
                sleepable: false
            }
        );
        assert_eq!(
            kind("lsm.s/bprm_committed_creds").expected_attach_type(),
            at::LSM_MAC
        );
        assert_eq!(kind("iter/task").expected_attach_type(), at::TRACE_ITER);
        let x = kind("xdp");
        assert_eq!(
            (x.prog_type(), x.expected_attach_type(), x.xdp_has_frags()),
            (pt::XDP, at::XDP, false)
        );
        assert!(kind("xdp.frags").xdp_has_frags());
        assert_eq!(kind("xdp/devmap").expected_attach_type(), at::XDP_DEVMAP);
        assert_eq!(ProgramKind::from_section("xdp/foo"), None);
        assert_eq!(
            kind("tc"),
            K::SchedCls {
                attach: TcAttach::Classic
            }
        );
        assert_eq!(kind("classifier").prog_type(), pt::SCHED_CLS);
        assert_eq!(kind("tcx/ingress").expected_attach_type(), at::TCX_INGRESS);
        assert_eq!(kind("tc/egress").expected_attach_type(), at::TCX_EGRESS);
        assert_eq!(kind("action").prog_type(), pt::SCHED_ACT);
        assert_eq!(
            kind("cgroup_skb/ingress").expected_attach_type(),
            at::CGROUP_INET_INGRESS
        );
        assert_eq!(
            kind("cgroup_skb/egress").expected_attach_type(),
            at::CGROUP_INET_EGRESS
        );
        assert_eq!(kind("cgroup/skb"), K::CgroupSkb { attach_type: 0 });
        assert_eq!(kind("cgroup/sock_create").prog_type(), pt::CGROUP_SOCK);
        assert_eq!(kind("cgroup/connect4").prog_type(), pt::CGROUP_SOCK_ADDR);
        assert_eq!(
            kind("cgroup/connect4").expected_attach_type(),
            at::CGROUP_INET4_CONNECT
        );
        assert_eq!(
            kind("cgroup/setsockopt").expected_attach_type(),
            at::CGROUP_SETSOCKOPT
        );
        assert_eq!(kind("cgroup/dev").prog_type(), pt::CGROUP_DEVICE);
        assert_eq!(kind("sockops").expected_attach_type(), at::CGROUP_SOCK_OPS);
        assert_eq!(
            kind("sk_skb/stream_parser").expected_attach_type(),
            at::SK_SKB_STREAM_PARSER
        );
        assert_eq!(
            kind("sk_skb/stream_verdict").expected_attach_type(),
            at::SK_SKB_STREAM_VERDICT
        );
        assert_eq!(kind("sk_msg").expected_attach_type(), at::SK_MSG_VERDICT);
        assert_eq!(kind("sk_lookup").prog_type(), pt::SK_LOOKUP);
        assert_eq!(kind("flow_dissector").prog_type(), pt::FLOW_DISSECTOR);
        assert_eq!(kind("perf_event").prog_type(), pt::PERF_EVENT);
        assert!(kind("syscall").is_sleepable());
        assert_eq!(kind("struct_ops/init").prog_type(), pt::STRUCT_OPS);
        assert_eq!(kind("lwt_xmit").prog_type(), pt::LWT_XMIT);
        assert_eq!(kind("lwt_seg6local").prog_type(), pt::LWT_SEG6LOCAL);
        assert_eq!(kind("netfilter").prog_type(), pt::NETFILTER);
        for bad in [
            "",
            "foo",
            "maps",
            ".text",
            "tracepointx",
            "xdp_foo",
            "socket2",
        ] {
            assert_eq!(ProgramKind::from_section(bad), None, "{bad}");
        }
    }

    #[test]
    fn attach_targets_parse() {
        assert_eq!(
            KprobeTarget::parse("do_sys_open+16").unwrap(),
            KprobeTarget {
                function: "do_sys_open".into(),
                offset: 16
            }
        );
        assert_eq!(KprobeTarget::parse("f.isra.0+0x10").unwrap().offset, 16);
        assert_eq!(KprobeTarget::parse("f").unwrap().offset, 0);
        assert!(KprobeTarget::parse("f+x").is_err());
        assert!(KprobeTarget::parse("+1").is_err());
        let u = UprobeTarget::parse("/usr/lib/libc.so.6:malloc+4").unwrap();
        assert_eq!(
            (u.path.as_str(), u.function.as_deref(), u.offset),
            ("/usr/lib/libc.so.6", Some("malloc"), 4)
        );
        let u = UprobeTarget::parse("/bin/x:0x1234").unwrap();
        assert_eq!((u.function, u.offset), (None, 0x1234));
        assert!(UprobeTarget::parse("nocolon").is_err());
        let d = UsdtTarget::parse("/bin/x:prov:probe").unwrap();
        assert_eq!((d.provider.as_str(), d.name.as_str()), ("prov", "probe"));
        assert!(UsdtTarget::parse("a:b").is_err());
        let t = TracepointTarget::parse("syscalls/sys_enter_execve").unwrap();
        assert_eq!(
            (t.category.as_str(), t.name.as_str()),
            ("syscalls", "sys_enter_execve")
        );
        assert!(TracepointTarget::parse("syscalls").is_err());
    }
}
