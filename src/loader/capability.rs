//! What `BPF_PROG_LOAD` asks of the caller before its verifier runs.
//!
//! The kernel's `bpf_prog_load()` refuses with `EPERM`, and writes no verifier log, when
//! the caller lacks a capability the program type needs: `CAP_BPF` for every type
//! (unprivileged BPF is disabled on most systems), `CAP_PERFMON` in addition for the
//! types that read kernel memory (tracing), `CAP_NET_ADMIN` for the networking types
//! that can change traffic. `CAP_SYS_ADMIN` stands in for all three. A security policy
//! (an LSM's `bpf_prog` hook, lockdown) answers `EPERM` the same way.

use crate::sys::bpf::prog_type as pt;

/// Types that need `CAP_PERFMON` (the kernel's `is_perfmon_prog_type`).
fn needs_perfmon(prog_type: u32) -> bool {
    matches!(
        prog_type,
        pt::KPROBE
            | pt::TRACEPOINT
            | pt::PERF_EVENT
            | pt::RAW_TRACEPOINT
            | pt::RAW_TRACEPOINT_WRITABLE
            | pt::TRACING
            | pt::LSM
            | pt::STRUCT_OPS
            | pt::EXT
    )
}

/// Types that need `CAP_NET_ADMIN` (the kernel's `is_net_admin_prog_type`).
fn needs_net_admin(prog_type: u32) -> bool {
    matches!(
        prog_type,
        pt::SCHED_CLS
            | pt::SCHED_ACT
            | pt::XDP
            | pt::LWT_IN
            | pt::LWT_OUT
            | pt::LWT_XMIT
            | pt::LWT_SEG6LOCAL
            | pt::SK_SKB
            | pt::SK_MSG
            | pt::LIRC_MODE2
            | pt::FLOW_DISSECTOR
            | pt::CGROUP_DEVICE
            | pt::CGROUP_SOCK
            | pt::CGROUP_SOCK_ADDR
            | pt::CGROUP_SOCKOPT
            | pt::CGROUP_SYSCTL
            | pt::SOCK_OPS
            | pt::EXT
            | pt::NETFILTER
    )
}

/// The capabilities loading a program of `prog_type` needs, in words.
pub(crate) fn needed_to_load(prog_type: u32) -> &'static str {
    match (needs_perfmon(prog_type), needs_net_admin(prog_type)) {
        (true, true) => "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN",
        (true, false) => "CAP_BPF and CAP_PERFMON",
        (false, true) => "CAP_BPF and CAP_NET_ADMIN",
        (false, false) => "CAP_BPF",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ProgramKind;

    #[test]
    fn capabilities_follow_the_kernels_checks() {
        for (section, caps) in [
            ("socket", "CAP_BPF"),
            ("cgroup_skb/ingress", "CAP_BPF"),
            ("sk_reuseport", "CAP_BPF"),
            ("syscall", "CAP_BPF"),
            ("kprobe/f", "CAP_BPF and CAP_PERFMON"),
            ("tracepoint/a/b", "CAP_BPF and CAP_PERFMON"),
            ("raw_tp.w/x", "CAP_BPF and CAP_PERFMON"),
            ("fentry/f", "CAP_BPF and CAP_PERFMON"),
            ("fmod_ret/f", "CAP_BPF and CAP_PERFMON"),
            ("lsm/file_open", "CAP_BPF and CAP_PERFMON"),
            ("perf_event", "CAP_BPF and CAP_PERFMON"),
            ("struct_ops/init", "CAP_BPF and CAP_PERFMON"),
            ("xdp", "CAP_BPF and CAP_NET_ADMIN"),
            ("tc", "CAP_BPF and CAP_NET_ADMIN"),
            ("cgroup/connect4", "CAP_BPF and CAP_NET_ADMIN"),
            ("sockops", "CAP_BPF and CAP_NET_ADMIN"),
            ("netfilter", "CAP_BPF and CAP_NET_ADMIN"),
            ("freplace/f", "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"),
        ] {
            let kind = ProgramKind::from_section(section).unwrap();
            assert_eq!(needed_to_load(kind.prog_type()), caps, "{section}");
        }
    }
}
