//! Program, map and link type and helper probes: their verdicts from what the kernel
//! says (pure), their caching (errno injected at the `sys` chokepoint), and their
//! answers on the running kernel for what it has had since a given release.

use super::kinds::{helper_id, LinkType, ProgramType};
use super::type_probes::{helper_verdict, prog_verdict};
use super::KernelFeatures;
use crate::map::MapType;
use crate::sys::bpf::BpfCmd;
use crate::sys::{with_syscall_override, Syscall};
use std::io;

/// The running kernel's (major, minor).
fn kernel_version() -> (u32, u32) {
    let release = crate::btf::kernel::kernel_release().unwrap();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().unwrap().parse().unwrap();
    let minor = parts.next().unwrap().parse().unwrap();
    (major, minor)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn a_helper_is_missing_only_when_the_verifier_says_so() {
    assert!(helper_verdict(true, ""));
    // The helper id is unknown, or the program type may not call it (before and since 6.2).
    assert!(!helper_verdict(
        false,
        "0: R1=ctx() R10=fp0\n0: (85) call unknown#212\ninvalid func unknown#212\n"
    ));
    assert!(!helper_verdict(false, "unknown func bpf_sys_bpf#166\n"));
    assert!(!helper_verdict(
        false,
        "program of this type cannot use helper bpf_xdp_adjust_head#44\n"
    ));
    // Any other refusal is about the arguments of a helper the type may call.
    assert!(helper_verdict(false, "R1 type=ctx expected=fp\n"));
    assert!(helper_verdict(false, ""));
}

#[test]
fn a_type_that_needs_a_target_is_known_by_its_error() {
    let tracing = Some((libc::EINVAL, Some("attach_btf_id 1 is not a function")));
    assert!(prog_verdict(None, "", None));
    assert!(!prog_verdict(Some(libc::EINVAL), "", None));
    assert!(prog_verdict(
        Some(libc::EINVAL),
        "...\nattach_btf_id 1 is not a function\n",
        tracing
    ));
    // An old kernel rejects the type itself, with other words or none.
    assert!(!prog_verdict(
        Some(libc::EINVAL),
        "unknown prog type",
        tracing
    ));
    assert!(!prog_verdict(Some(libc::EPERM), "", tracing));
    // Loading without a target cannot succeed where the kernel has the type.
    assert!(!prog_verdict(None, "", tracing));
    assert!(prog_verdict(Some(524), "", Some((524, None))));
}

#[test]
fn answers_are_cached_and_unexpected_errors_mean_missing() {
    let mut loads = 0;
    let mut creates = 0;
    let fresh = KernelFeatures::new();
    with_syscall_override(
        |call| match call {
            Syscall::Bpf {
                cmd: BpfCmd::ProgLoad,
                ..
            } => {
                loads += 1;
                Some(Err(io::Error::from_raw_os_error(libc::EACCES)))
            }
            Syscall::Bpf {
                cmd: BpfCmd::MapCreate,
                ..
            } => {
                creates += 1;
                Some(Err(io::Error::from_raw_os_error(libc::EINVAL)))
            }
            _ => None,
        },
        || {
            for _ in 0..3 {
                assert!(!fresh.prog_type(ProgramType::XDP));
                assert!(!fresh.map_type(MapType::HASH));
                // Without the program type, no helper is probed.
                assert_eq!(fresh.helper(ProgramType::XDP, 1), Some(false));
            }
        },
    );
    assert_eq!((loads, creates), (1, 1));
}

#[test]
fn the_running_kernel_has_what_it_has_had_for_releases() {
    if !is_root() {
        eprintln!("SKIP: probing program types needs root");
        return;
    }
    let v = kernel_version();
    let k = KernelFeatures::new();
    for (t, since) in [
        (ProgramType::SOCKET_FILTER, (3, 19)),
        (ProgramType::KPROBE, (4, 1)),
        (ProgramType::SCHED_CLS, (4, 1)),
        (ProgramType::TRACEPOINT, (4, 7)),
        (ProgramType::XDP, (4, 8)),
        (ProgramType::CGROUP_SKB, (4, 10)),
        (ProgramType::RAW_TRACEPOINT, (4, 17)),
        (ProgramType::SK_LOOKUP, (5, 9)),
        (ProgramType::SYSCALL, (5, 14)),
    ] {
        if v >= since {
            assert!(k.prog_type(t), "program type {t} on {v:?}");
        }
    }
    assert!(!k.prog_type(ProgramType(200)), "an unknown program type");
    for (t, since) in [
        (MapType::HASH, (3, 19)),
        (MapType::ARRAY, (3, 19)),
        (MapType::PERCPU_HASH, (4, 6)),
        (MapType::LRU_HASH, (4, 10)),
        (MapType(11), (4, 11)), // lpm_trie, with its own key size
        (MapType(24), (5, 2)),  // sk_storage, with BTF
        (MapType::RINGBUF, (5, 8)),
        (MapType(30), (5, 16)), // bloom_filter
    ] {
        if v >= since {
            assert!(k.map_type(t), "map type {} on {v:?}", t.name());
        }
    }
    for (t, since) in [
        (LinkType::CGROUP, (5, 7)),
        (LinkType::NETNS, (5, 8)),
        (LinkType::RAW_TRACEPOINT, (5, 8)),
        (LinkType::PERF_EVENT, (5, 15)),
        (LinkType::NETFILTER, (6, 4)),
        (LinkType::TCX, (6, 6)),
        (LinkType::SOCKMAP, (6, 10)),
    ] {
        assert_eq!(k.link_type(t), v >= since, "link type {t} on {v:?}");
    }
    let h = |name| helper_id(name).unwrap();
    let lookup = h("bpf_map_lookup_elem");
    for t in [
        ProgramType::SOCKET_FILTER,
        ProgramType::XDP,
        ProgramType::TRACEPOINT,
    ] {
        assert_eq!(
            k.helper(t, lookup),
            Some(true),
            "{t} calls bpf_map_lookup_elem"
        );
    }
    // Packet helpers belong to their program types; an unknown id to none.
    assert_eq!(
        k.helper(ProgramType::XDP, h("bpf_xdp_adjust_head")),
        Some(true)
    );
    assert_eq!(
        k.helper(ProgramType::SOCKET_FILTER, h("bpf_xdp_adjust_head")),
        Some(false)
    );
    assert_eq!(
        k.helper(ProgramType::SCHED_CLS, h("bpf_skb_store_bytes")),
        Some(true)
    );
    assert_eq!(
        k.helper(ProgramType::XDP, h("bpf_skb_store_bytes")),
        Some(false)
    );
    assert_eq!(
        k.helper(ProgramType::TRACEPOINT, h("bpf_skb_store_bytes")),
        Some(false)
    );
    assert_eq!(k.helper(ProgramType::XDP, 10_000), Some(false));
    if v >= (5, 6) && k.prog_type(ProgramType::STRUCT_OPS) {
        assert_eq!(
            k.helper(ProgramType::STRUCT_OPS, lookup),
            None,
            "not probed"
        );
    }
}
