//! Probes of program types, map types, helpers and link types: what `bpftool feature
//! probe` asks (through libbpf's `libbpf_probe_bpf_prog_type`, `_map_type` and
//! `_helper`, whose rules these follow), and link types, which it does not ask about.
//!
//! Each probe loads the smallest thing of its kind (`r0 = 0; exit` of a program type,
//! a one-entry map, `call helper; exit`) and closes it at once. A type the kernel knows
//! but cannot load without a real target (tracing, extension, LSM, struct_ops) is
//! recognised by the error it then gives. As in libbpf, a refusal for any other reason
//! (`EPERM` under a lockdown or a security policy) reads as "unsupported"; it is logged
//! at debug level.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

use super::btf_kinds::local_storage_btf;
use super::kinds::{LinkType, ProgramType};
use super::probes::with_memlock_retry;
use crate::btf::Kind;
use crate::insn::{op, Insn};
use crate::map::MapType;
use crate::sys::bpf::{self as sysbpf, attach_type, log_level, map_flags, map_type, prog_flags};
use crate::sys::{self, SysError, SysResult};

/// `ENOTSUPP`, the kernel-internal errno (524) some paths return to user space.
const ENOTSUPP: i32 = 524;

const EXIT: Insn = Insn::new(op::EXIT, 0, 0, 0, 0);
const RETURN_0: [Insn; 2] = [Insn::new(op::MOV64_IMM, 0, 0, 0, 0), EXIT];

/// How to load a probe program of one type, and how to read the answer.
#[derive(Default)]
struct ProgProbe {
    expected_attach_type: u32,
    attach_btf_id: u32,
    prog_flags: u32,
    kern_version: u32,
    /// A type that cannot load without a target: the errno, and the verifier's words,
    /// that show the kernel knows it.
    expect: Option<(i32, Option<&'static str>)>,
}

/// libbpf's attributes for each program type's probe.
fn prog_probe(t: ProgramType) -> ProgProbe {
    let attach = |a| ProgProbe {
        expected_attach_type: a,
        ..Default::default()
    };
    match t {
        ProgramType::CGROUP_SOCK_ADDR => attach(attach_type::CGROUP_INET4_CONNECT),
        ProgramType::CGROUP_SOCKOPT => attach(attach_type::CGROUP_GETSOCKOPT),
        ProgramType::SK_LOOKUP => attach(attach_type::SK_LOOKUP),
        ProgramType::LIRC_MODE2 => attach(attach_type::LIRC_MODE2),
        ProgramType::NETFILTER => attach(attach_type::NETFILTER),
        // Kernels before 5.0 want LINUX_VERSION_CODE for kprobes.
        ProgramType::KPROBE => ProgProbe {
            kern_version: crate::loader::externs::running_kernel_version().unwrap_or(0),
            ..Default::default()
        },
        // Type id 1 of vmlinux is no function: a kernel with the type says so.
        ProgramType::TRACING | ProgramType::LSM => ProgProbe {
            expected_attach_type: if t == ProgramType::TRACING {
                attach_type::TRACE_FENTRY
            } else {
                attach_type::MODIFY_RETURN
            },
            attach_btf_id: 1,
            expect: Some((libc::EINVAL, Some("attach_btf_id 1 is not a function"))),
            ..Default::default()
        },
        ProgramType::EXT => ProgProbe {
            attach_btf_id: 1,
            expect: Some((libc::EINVAL, Some("Cannot replace kernel functions"))),
            ..Default::default()
        },
        ProgramType::SYSCALL => ProgProbe {
            prog_flags: prog_flags::SLEEPABLE,
            ..Default::default()
        },
        // Without a struct_ops map behind it.
        ProgramType::STRUCT_OPS => ProgProbe {
            expect: Some((ENOTSUPP, None)),
            ..Default::default()
        },
        _ => ProgProbe::default(),
    }
}

/// Loads `insns` as a probe program of type `t` (with a verifier log when `log` is
/// given); returns the result and the log's text.
fn load(
    t: ProgramType,
    probe: &ProgProbe,
    insns: &[Insn],
    log: Option<&mut [u8]>,
) -> (SysResult<OwnedFd>, String) {
    const GPL: &CStr = c"GPL";
    let mut log = log;
    let mut text = String::new();
    let result = with_memlock_retry(|| {
        let mut attr = sysbpf::ProgLoadAttr::new(t.0, insns, GPL);
        attr.expected_attach_type = probe.expected_attach_type;
        attr.attach_btf_id = probe.attach_btf_id;
        attr.prog_flags = probe.prog_flags;
        attr.kern_version = probe.kern_version;
        if let Some(buf) = log.as_deref_mut() {
            buf.fill(0);
            attr.log_level = log_level::LEVEL1;
            attr.log_buf = Some(buf);
        }
        let r = sysbpf::prog_load(&mut attr);
        text = String::from_utf8_lossy(attr.log()).into_owned();
        r
    });
    (result, text)
}

/// Whether the kernel loads programs of type `t`.
pub(super) fn prog_type(t: ProgramType) -> bool {
    let probe = prog_probe(t);
    let mut log = vec![0u8; 4096];
    let log = probe.expect.is_some().then_some(log.as_mut_slice());
    let (result, text) = load(t, &probe, &RETURN_0, log);
    if let (Err(e), None) = (&result, probe.expect) {
        unexpected(e, &[libc::EINVAL, libc::E2BIG], || {
            format!("program type {t}")
        });
    }
    let supported = prog_verdict(
        result.as_ref().err().map(SysError::errno),
        &text,
        probe.expect,
    );
    log::debug!("kernel feature: program type {t}: {}", yes(supported));
    supported
}

/// A program type probe's answer: it loaded, or, for a type that cannot load without a
/// target, it failed with the `expect`ed errno and words.
pub(super) fn prog_verdict(
    errno: Option<i32>,
    log: &str,
    expect: Option<(i32, Option<&str>)>,
) -> bool {
    match (errno, expect) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(e), Some((want, words))) => e == want && words.map_or(true, |w| log.contains(w)),
    }
}

/// Whether programs of type `t` may call helper `id`: `None` for the types whose probe
/// programs cannot load without a target (tracing, ext, lsm, struct_ops), as libbpf.
///
/// The verifier names a helper it does not know (`invalid func unknown#212`) or one the
/// type may not call (`unknown func bpf_sys_bpf#166` before 6.2, `program of this type
/// cannot use helper bpf_sys_bpf#166` since); any other outcome, even a refusal of the
/// arguments, means the type may call it.
pub(super) fn helper(t: ProgramType, id: u32) -> Option<bool> {
    if matches!(
        t,
        ProgramType::TRACING | ProgramType::EXT | ProgramType::LSM | ProgramType::STRUCT_OPS
    ) {
        return None;
    }
    let probe = prog_probe(t);
    let insns = [Insn::new(op::CALL, 0, 0, 0, id as i32), EXIT];
    let mut log = vec![0u8; 4096];
    let (result, text) = load(t, &probe, &insns, Some(&mut log));
    Some(helper_verdict(result.is_ok(), &text))
}

/// A helper probe's answer from whether it loaded and the verifier's log.
pub(super) fn helper_verdict(loaded: bool, log: &str) -> bool {
    loaded
        || ![
            "invalid func ",
            "unknown func ",
            "program of this type cannot use helper ",
        ]
        .iter()
        .any(|m| log.contains(m))
}

/// Whether the kernel creates maps of type `t`, with libbpf's attributes for each type.
pub(super) fn map_type(t: MapType) -> bool {
    let supported = match create_probe_map(t) {
        Ok(true) => true,
        Ok(false) => false,
        Err(e) => {
            unexpected(&e, &[libc::EINVAL, libc::E2BIG], || {
                format!("map type {}", t.name())
            });
            false
        }
    };
    log::debug!("kernel feature: map type {}: {}", t.name(), yes(supported));
    supported
}

fn create_probe_map(t: MapType) -> Result<bool, SysError> {
    let mut attr = sysbpf::MapCreateAttr {
        map_type: t.0,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    let mut expect = None;
    let mut btf: Option<OwnedFd> = None;
    let mut inner: Option<OwnedFd> = None;
    match t.0 {
        map_type::UNSPEC => return Ok(false),
        map_type::STACK_TRACE => attr.value_size = 8,
        map_type::LPM_TRIE => {
            attr.key_size = 8;
            attr.value_size = 8;
            attr.map_flags = map_flags::NO_PREALLOC;
        }
        map_type::CGROUP_STORAGE | map_type::PERCPU_CGROUP_STORAGE => {
            // struct bpf_cgroup_storage_key { __u64 cgroup_inode_id; __u32 attach_type; }
            attr.key_size = 16;
            attr.value_size = 8;
            attr.max_entries = 0;
        }
        map_type::QUEUE | map_type::STACK => attr.key_size = 0,
        map_type::SK_STORAGE
        | map_type::INODE_STORAGE
        | map_type::TASK_STORAGE
        | map_type::CGRP_STORAGE => {
            // Local storage wants BTF for its value: `struct val { int cnt; struct
            // bpf_spin_lock l; }`.
            attr.btf_key_type_id = 1;
            attr.btf_value_type_id = 3;
            attr.value_size = 8;
            attr.max_entries = 0;
            attr.map_flags = map_flags::NO_PREALLOC;
            match sysbpf::btf_load(&local_storage_btf(), None, 0) {
                Ok(fd) => btf = Some(fd),
                Err(e) if e.errno() == libc::EINVAL => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        map_type::RINGBUF | map_type::USER_RINGBUF => {
            attr.key_size = 0;
            attr.value_size = 0;
            attr.max_entries = u32::try_from(sys::page_size()).unwrap_or(4096);
        }
        // No struct_ops type has vmlinux id 1: a kernel with the map type says so.
        map_type::STRUCT_OPS => {
            attr.btf_vmlinux_value_type_id = 1;
            expect = Some(ENOTSUPP);
        }
        map_type::BLOOM_FILTER => attr.key_size = 0,
        map_type::ARENA => {
            attr.key_size = 0;
            attr.value_size = 0;
            attr.map_flags = map_flags::MMAPABLE;
        }
        map_type::ARRAY_OF_MAPS | map_type::HASH_OF_MAPS => {
            let template = sysbpf::MapCreateAttr {
                map_type: map_type::HASH,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
                ..Default::default()
            };
            inner = Some(with_memlock_retry(|| sysbpf::map_create(&template))?);
        }
        _ => {}
    }
    attr.btf_fd = btf.as_ref().map(|f| f.as_fd());
    attr.inner_map_fd = inner.as_ref().map(|f| f.as_fd());
    match (with_memlock_retry(|| sysbpf::map_create(&attr)), expect) {
        (Ok(_), None) => Ok(true),
        (Ok(_), Some(_)) => Ok(false),
        (Err(e), Some(errno)) => Ok(e.errno() == errno),
        (Err(e), None) if matches!(e.errno(), libc::EINVAL | libc::E2BIG) => Ok(false),
        (Err(e), None) => Err(e),
    }
}

/// Whether the kernel makes links of type `t`. Where a link can be asked for without
/// attaching anything (an invalid target: the kernel that knows the link type looks
/// the target up and fails with `EBADF`/`ENODEV`, one that does not refuses the attach
/// type with `EINVAL`), that is the probe; for the others (raw_tracepoint, tracing,
/// iter, xdp, struct_ops, uprobe_multi) the running kernel's BTF says whether its
/// `enum bpf_link_type` has the type.
pub(super) fn link_type(t: LinkType) -> bool {
    let supported = match probe_link(t) {
        Some(Ok(answer)) => answer,
        Some(Err(e)) => {
            unexpected(&e, &[libc::EINVAL], || format!("link type {t}"));
            false
        }
        None => btf_knows_link_type(t),
    };
    log::debug!("kernel feature: link type {t}: {}", yes(supported));
    supported
}

/// The target of `BPF_LINK_CREATE` as a raw u32: fd -1 (no such descriptor).
const BAD_FD: sysbpf::LinkTarget<'static> = sysbpf::LinkTarget::Ifindex(u32::MAX);
/// Interface index 0 (no such device).
const NO_DEV: sysbpf::LinkTarget<'static> = sysbpf::LinkTarget::Ifindex(0);

/// The link probe of `t`, if it has one: a program of the right type, and a link on a
/// target that does not exist.
fn probe_link(t: LinkType) -> Option<Result<bool, SysError>> {
    let (prog, expected, attach, target, found) = match t {
        LinkType::CGROUP => (
            ProgramType::CGROUP_SKB,
            attach_type::CGROUP_INET_INGRESS,
            attach_type::CGROUP_INET_INGRESS,
            BAD_FD,
            libc::EBADF,
        ),
        LinkType::NETNS => (
            ProgramType::FLOW_DISSECTOR,
            attach_type::FLOW_DISSECTOR,
            attach_type::FLOW_DISSECTOR,
            BAD_FD,
            libc::EBADF,
        ),
        LinkType::PERF_EVENT => (
            ProgramType::TRACEPOINT,
            0,
            attach_type::PERF_EVENT,
            BAD_FD,
            libc::EBADF,
        ),
        LinkType::TCX => (
            ProgramType::SCHED_CLS,
            attach_type::TCX_INGRESS,
            attach_type::TCX_INGRESS,
            NO_DEV,
            libc::ENODEV,
        ),
        LinkType::NETKIT => (
            ProgramType::SCHED_CLS,
            attach_type::NETKIT_PRIMARY,
            attach_type::NETKIT_PRIMARY,
            NO_DEV,
            libc::ENODEV,
        ),
        LinkType::SOCKMAP => (
            ProgramType::SK_SKB,
            attach_type::SK_SKB_VERDICT,
            attach_type::SK_SKB_VERDICT,
            BAD_FD,
            libc::EBADF,
        ),
        // Protocol family 0 is none the netfilter hooks take.
        LinkType::NETFILTER => (
            ProgramType::NETFILTER,
            attach_type::NETFILTER,
            attach_type::NETFILTER,
            sysbpf::LinkTarget::None,
            libc::EAFNOSUPPORT,
        ),
        LinkType::KPROBE_MULTI => return Some(probe_kprobe_multi()),
        _ => return None,
    };
    let probe = ProgProbe {
        expected_attach_type: expected,
        ..Default::default()
    };
    let (prog_fd, _) = load(prog, &probe, &RETURN_0, None);
    let prog_fd = match prog_fd {
        Ok(fd) => fd,
        // No program of that type or attach type: no link either.
        Err(e) if e.errno() == libc::EINVAL => return Some(Ok(false)),
        Err(e) => return Some(Err(e)),
    };
    let link = sysbpf::link_create(
        prog_fd.as_fd(),
        target,
        attach,
        0,
        sysbpf::LinkCreateExtra::None,
    );
    Some(match link {
        Ok(_) => Err(SysError::invalid(
            "BPF_LINK_CREATE",
            "a link on a target that does not exist succeeded",
        )),
        Err(e) if e.errno() == found => Ok(true),
        Err(e) if e.errno() == libc::EINVAL => Ok(false),
        Err(e) => Err(e),
    })
}

/// A `kprobe_multi` link on a function that does not exist: the kernel with such links
/// looks the name up and finds nothing (`ESRCH`, `ENOENT`); one without them, or
/// without fprobe, refuses the link (`EINVAL`, `EOPNOTSUPP`).
fn probe_kprobe_multi() -> Result<bool, SysError> {
    let probe = ProgProbe {
        expected_attach_type: attach_type::TRACE_KPROBE_MULTI,
        ..Default::default()
    };
    let prog_fd = match load(ProgramType::KPROBE, &probe, &RETURN_0, None).0 {
        Ok(fd) => fd,
        Err(e) if e.errno() == libc::EINVAL => return Ok(false),
        Err(e) => return Err(e),
    };
    let name: &CStr = c"corebpf_feature_probe_no_such_function";
    let link = sysbpf::link_create_kprobe_multi(
        prog_fd.as_fd(),
        0,
        sysbpf::KprobeMultiTargets::Symbols(&[name]),
        None,
    );
    match link {
        Ok(_) => Err(SysError::invalid(
            "BPF_LINK_CREATE",
            "a kprobe_multi link on a function that does not exist succeeded",
        )),
        Err(e) if matches!(e.errno(), libc::ESRCH | libc::ENOENT) => Ok(true),
        Err(e) if matches!(e.errno(), libc::EINVAL | libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the running kernel's BTF has `BPF_LINK_TYPE_<T>` in `enum bpf_link_type`.
fn btf_knows_link_type(t: LinkType) -> bool {
    let Ok(btf) = crate::btf::kernel::vmlinux_btf() else {
        log::debug!("kernel feature: link type {t}: no kernel BTF to look it up in");
        return false;
    };
    let Some(id) = btf.find_by_name_kind("bpf_link_type", Kind::Enum) else {
        return false;
    };
    let want = format!("BPF_LINK_TYPE_{}", t.name().to_ascii_uppercase());
    btf.type_by_id(id).is_ok_and(|e| {
        e.enum_values()
            .any(|v| btf.str_at(v.name_off).is_ok_and(|n| n == want) && v.value == u64::from(t.0))
    })
}

/// Logs an error other than the `missing` ones that mean "unsupported".
fn unexpected(e: &SysError, missing: &[i32], what: impl FnOnce() -> String) {
    if !missing.contains(&e.errno()) {
        log::debug!(
            "probing {}: unexpected failure ({}); reporting it unsupported",
            what(),
            crate::util::Chain(e)
        );
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "supported"
    } else {
        "missing"
    }
}
