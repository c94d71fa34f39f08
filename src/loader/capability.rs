//! What `BPF_PROG_LOAD` asks of the caller before its verifier runs.
//!
//! The kernel's `bpf_prog_load()` refuses with `EPERM`, and writes no verifier log, when
//! the caller lacks a capability the program type needs: `CAP_BPF` for every type
//! (unprivileged BPF is disabled on most systems), `CAP_PERFMON` in addition for the
//! types that read kernel memory (tracing), `CAP_NET_ADMIN` for the networking types
//! that can change traffic. `CAP_SYS_ADMIN` stands in for all three. A security policy
//! (an LSM's `bpf_prog` hook, lockdown) answers `EPERM` the same way.
//!
//! Which types need what is the sys layer's table (`sys::caps`), which also names the
//! capability this process lacks on the `BPF_PROG_LOAD` error itself; this module
//! puts the whole requirement in words for [`LoadError::NotPermitted`].
//!
//! [`LoadError::NotPermitted`]: super::LoadError::NotPermitted

use crate::sys::caps::{needs_net_admin, needs_perfmon};

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
