//! BTF-based tracing programs: `fentry`, `fexit`, `fmod_ret`, `lsm` and `tp_btf`.
//!
//! Their target (kernel function, LSM hook, BTF tracepoint) is fixed when they are
//! loaded: the loader resolves it in the kernel's BTF and passes its id as
//! `attach_btf_id`. Attaching just creates the link: `BPF_LINK_CREATE` with the
//! program's attach type, or, on kernels whose `BPF_LINK_CREATE` doesn't take tracing
//! programs yet (it answers `EINVAL`), `BPF_RAW_TRACEPOINT_OPEN` with a NULL name, as
//! libbpf's `bpf_link_create()` falls back. Either way the result is a BPF link fd:
//! closing it (dropping the [`Link`]) detaches the program.

use super::{Program, ProgramError};
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys;
use crate::sys::bpf::attach_type;

/// Attaches a program whose target was given at load time.
pub(super) fn attach_btf(
    prog: &Program,
    attach_type: u32,
    kind: &str,
) -> Result<Link, ProgramError> {
    let target = match prog.kind.attach_target() {
        Some(t) if !t.is_empty() => format!("{kind} {t}"),
        _ => format!("{kind} (target given at load time)"),
    };
    let err = |source| ProgramError::Attach {
        program: prog.name.clone(),
        target: target.clone(),
        source,
    };
    match sys::bpf::link_create(
        prog.fd(),
        sys::bpf::LinkTarget::None,
        attach_type,
        0,
        sys::bpf::LinkCreateExtra::None,
    ) {
        Ok(fd) => Ok(Link::from_link_fd(fd, target)),
        Err(e) if e.errno() == libc::EINVAL => {
            log::debug!(
                "BPF_LINK_CREATE refused {target} ({}); attaching with BPF_RAW_TRACEPOINT_OPEN",
                crate::util::Chain(&e)
            );
            let fd = sys::bpf::raw_tracepoint_open(None, prog.fd()).map_err(err)?;
            Ok(Link::from_link_fd(fd, target))
        }
        Err(e) => Err(err(e)),
    }
}

macro_rules! tracing_program {
    (
        $(#[$doc:meta])*
        $name:ident, $kind:pat, $expected:literal, $attach_type:expr
    ) => {
        program_view!($(#[$doc])* $name, $kind, $expected);

        impl $name<'_> {
            /// Attaches to the target the program was loaded for (the one its section
            /// names); dropping the returned link detaches it.
            pub fn attach(&self) -> Result<Link, ProgramError> {
                attach_btf(self.prog, $attach_type, $expected)
            }
        }
    };
}

tracing_program!(
    /// An `fentry` program (`SEC("fentry/FN")`, `SEC("fentry.s/FN")`): runs when kernel
    /// function `FN` is entered, with its arguments.
    FEntry,
    ProgramKind::Fentry { .. },
    "fentry",
    attach_type::TRACE_FENTRY
);

tracing_program!(
    /// An `fexit` program (`SEC("fexit/FN")`, `SEC("fexit.s/FN")`): runs when kernel
    /// function `FN` returns, with its arguments and return value.
    FExit,
    ProgramKind::Fexit { .. },
    "fexit",
    attach_type::TRACE_FEXIT
);

tracing_program!(
    /// An `fmod_ret` program (`SEC("fmod_ret/FN")`): runs before kernel function `FN`
    /// and, by returning non-zero, skips it and makes that its return value. Only
    /// functions allowed for error injection and `security_*` functions qualify.
    FModRet,
    ProgramKind::FmodRet { .. },
    "fmod_ret",
    attach_type::MODIFY_RETURN
);

tracing_program!(
    /// A BPF LSM program (`SEC("lsm/HOOK")`, `SEC("lsm.s/HOOK")`): runs at LSM hook
    /// `HOOK`; a non-zero (negative errno) return denies the operation. Needs a kernel
    /// booted with `bpf` among its LSMs (`lsm=...,bpf`).
    Lsm,
    ProgramKind::Lsm { .. },
    "lsm",
    attach_type::LSM_MAC
);

tracing_program!(
    /// A BTF-enabled raw tracepoint program (`SEC("tp_btf/NAME")`): runs at tracepoint
    /// `NAME` with typed arguments.
    TpBtf,
    ProgramKind::TpBtf { .. },
    "tp_btf",
    attach_type::TRACE_RAW_TP
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};
    use std::io;
    use std::os::fd::OwnedFd;

    fn dummy_program(section: &str) -> Program {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let kind = ProgramKind::from_section(section).unwrap();
        Program::new("trace_me".into(), section.into(), kind, fd)
    }

    /// `BPF_LINK_CREATE` with the program's attach type first; on `EINVAL` (kernels
    /// before tracing links), `BPF_RAW_TRACEPOINT_OPEN` with a NULL name.
    #[test]
    fn link_create_then_raw_tracepoint_fallback() {
        for (section, at) in [
            ("fentry/do_unlinkat", attach_type::TRACE_FENTRY),
            ("fexit/do_unlinkat", attach_type::TRACE_FEXIT),
            ("fmod_ret/security_file_open", attach_type::MODIFY_RETURN),
            ("lsm/file_open", attach_type::LSM_MAC),
            ("tp_btf/sched_switch", attach_type::TRACE_RAW_TP),
        ] {
            let prog = dummy_program(section);
            let mut calls = Vec::new();
            let e = with_syscall_override(
                |c| match c {
                    Syscall::Bpf {
                        cmd: BpfCmd::LinkCreate,
                        attr,
                    } => {
                        calls.push(("link_create", attr[8..12].to_vec(), attr.len()));
                        Some(Err(io::Error::from_raw_os_error(libc::EINVAL)))
                    }
                    Syscall::Bpf {
                        cmd: BpfCmd::RawTracepointOpen,
                        attr,
                    } => {
                        // The name pointer is NULL.
                        calls.push(("raw_tp_open", attr[0..8].to_vec(), attr.len()));
                        Some(Err(io::Error::from_raw_os_error(libc::EPERM)))
                    }
                    _ => None,
                },
                || match prog.kind() {
                    ProgramKind::Fentry { .. } => FEntry::try_from(&prog)?.attach(),
                    ProgramKind::Fexit { .. } => FExit::try_from(&prog)?.attach(),
                    ProgramKind::FmodRet { .. } => FModRet::try_from(&prog)?.attach(),
                    ProgramKind::Lsm { .. } => Lsm::try_from(&prog)?.attach(),
                    _ => TpBtf::try_from(&prog)?.attach(),
                },
            )
            .unwrap_err();
            assert_eq!(
                calls,
                [
                    ("link_create", at.to_ne_bytes().to_vec(), 16),
                    ("raw_tp_open", vec![0; 8], 16)
                ],
                "{section}"
            );
            let text = e.to_string();
            let target = section.replace('/', " ");
            assert!(
                text.contains("trace_me") && text.contains(&target),
                "{section}: {text}"
            );
            assert!(
                matches!(e, ProgramError::Attach { ref source, .. } if source.errno() == libc::EPERM)
            );
        }
    }

    /// Errors other than `EINVAL` are the answer; no fallback is tried.
    #[test]
    fn other_errors_do_not_fall_back() {
        let prog = dummy_program("fentry/do_unlinkat");
        let mut raw_tp = 0;
        let e = with_syscall_override(
            |c| match c {
                Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    ..
                } => Some(Err(io::Error::from_raw_os_error(libc::EBUSY))),
                Syscall::Bpf {
                    cmd: BpfCmd::RawTracepointOpen,
                    ..
                } => {
                    raw_tp += 1;
                    None
                }
                _ => None,
            },
            || FEntry::try_from(&prog).unwrap().attach(),
        )
        .unwrap_err();
        assert_eq!(raw_tp, 0);
        assert!(
            matches!(e, ProgramError::Attach { ref source, .. } if source.errno() == libc::EBUSY)
        );
    }

    /// Auto-attach covers each new kind whose section names its target, as libbpf's.
    #[test]
    fn auto_attach_follows_the_section() {
        for (section, auto) in [
            ("kprobe/do_unlinkat", true),
            ("kprobe/do_unlinkat+0x10", true),
            ("kretprobe/do_unlinkat", true),
            ("ksyscall/unlinkat", true),
            ("kretsyscall/unlinkat", true),
            ("kprobe.multi/vfs_*", true),
            ("kretprobe.multi/vfs_*", true),
            ("fentry/do_unlinkat", true),
            ("fentry.s/do_unlinkat", true),
            ("fexit/do_unlinkat", true),
            ("fmod_ret/security_file_open", true),
            ("lsm/file_open", true),
            ("lsm.s/file_open", true),
            ("tp_btf/sys_enter", true),
            ("tracepoint/syscalls/sys_enter_execve", true),
            ("raw_tp/sys_enter", true),
            ("kprobe", false),
            ("kretprobe", false),
            ("ksyscall", false),
            ("kprobe.multi", false),
            ("fentry", false),
            ("lsm", false),
            ("tp_btf", false),
            ("xdp", false),
        ] {
            assert_eq!(dummy_program(section).can_auto_attach(), auto, "{section}");
        }
        let e = dummy_program("fentry").attach().unwrap_err();
        assert!(matches!(e, ProgramError::NoAutoAttach { .. }), "{e:?}");
        // A malformed target is reported as such, without a syscall.
        let e = dummy_program("kprobe/do_unlinkat+x").attach().unwrap_err();
        assert!(matches!(e, ProgramError::BadTarget { .. }), "{e:?}");
        let e = dummy_program("kretprobe/do_unlinkat+8")
            .attach()
            .unwrap_err();
        assert!(
            matches!(
                e,
                ProgramError::Kprobe {
                    source: crate::program::KprobeError::ReturnOffset { offset: 8, .. },
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn typed_views_check_the_kind() {
        let p = dummy_program("fexit/do_unlinkat");
        assert!(FExit::try_from(&p).is_ok());
        let e = FEntry::try_from(&p).unwrap_err();
        assert!(e.to_string().contains("is not a fentry program"), "{e}");
        assert!(Lsm::try_from(&dummy_program("lsm.s/file_open")).is_ok());
        assert!(FEntry::try_from(&dummy_program("fentry.s/f")).is_ok());
        assert!(Lsm::try_from(&p).is_err());
        assert!(FModRet::try_from(&p).is_err());
        assert!(TpBtf::try_from(&p).is_err());
    }
}
