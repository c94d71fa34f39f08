//! Programs attached to a cgroup (v2): `cgroup_skb`, `cgroup/sock*`, the socket address
//! hooks (`cgroup/connect4`, `bind6`, `sendmsg4`, ...), `cgroup/{get,set}sockopt`,
//! `cgroup/sysctl`, `cgroup/dev`, `sockops` and `lsm_cgroup`.
//!
//! Each typed program attaches with `attach(cgroup, mode)` (an open cgroup directory)
//! or `attach_path(path, mode)`. With the default [`CgroupAttachMode::AllowMultiple`]
//! the attachment is a BPF link (`BPF_LINK_CREATE`, 5.7+), falling back to
//! `BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI` on older kernels, as aya does; libbpf's
//! `bpf_program__attach_cgroup` makes the link only. The other modes are
//! `BPF_PROG_ATTACH` semantics a link can't express, so they always use it. Either way
//! dropping the [`Link`] detaches the program (`BPF_PROG_DETACH` for the fallback).
//!
//! libbpf does not auto-attach these kinds (a section names no cgroup), and neither
//! does [`Program::attach`](super::Program::attach).
//!
//! # Examples
//!
//! Count the packets a cgroup's sockets send (needs root and a cgroup2 mount):
//!
//! ```no_run
//! use corebpf::program::{CgroupAttachMode, CgroupSkb};
//! use corebpf::Loader;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let obj = Loader::new().load_file("bpf-progs/cg_skb.bpf.o")?;
//! let egress = CgroupSkb::try_from(obj.program("count_egress").unwrap())?;
//! let link = egress.attach_path("/sys/fs/cgroup/my.service", CgroupAttachMode::default())?;
//! // ... the cgroup's processes send packets; the program counts them ...
//! drop(link); // detaches
//! # Ok(())
//! # }
//! ```

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::prog_attach::{attached_ids, describe_fd, link_or_prog_attach, prog_attach};
use super::{Program, ProgramError};
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys::bpf::{attach_flags, attach_type};

/// How a program shares its cgroup attach point with others (the `BPF_PROG_ATTACH`
/// flags; `man bpf`, `BPF_F_ALLOW_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CgroupAttachMode {
    /// The only program at this attach point; programs in sub-cgroups don't run
    /// (flags 0). Always `BPF_PROG_ATTACH`.
    Single,
    /// The only program here, and a sub-cgroup's program replaces it for that
    /// sub-cgroup (`BPF_F_ALLOW_OVERRIDE`). Always `BPF_PROG_ATTACH`.
    AllowOverride,
    /// One of several programs here, all of which run, as do those of parent cgroups
    /// (`BPF_F_ALLOW_MULTI`): a BPF link where the kernel has one (5.7+), else
    /// `BPF_PROG_ATTACH` with this flag.
    #[default]
    AllowMultiple,
}

impl CgroupAttachMode {
    fn flags(self) -> u32 {
        match self {
            CgroupAttachMode::Single => 0,
            CgroupAttachMode::AllowOverride => attach_flags::ALLOW_OVERRIDE,
            CgroupAttachMode::AllowMultiple => attach_flags::ALLOW_MULTI,
        }
    }
}

/// Attaches `prog` to `cgroup` as `attach_type`; `what` names the hook in the link's
/// description.
fn attach_cgroup(
    prog: &Program,
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
    mode: CgroupAttachMode,
    what: &str,
) -> Result<Link, ProgramError> {
    let description = format!("{what} on cgroup {}", describe_fd(cgroup));
    let attached = match mode {
        CgroupAttachMode::AllowMultiple => {
            link_or_prog_attach(prog, cgroup, attach_type, mode.flags(), description)
        }
        _ => prog_attach(prog, Some(cgroup), attach_type, mode.flags(), description),
    };
    attached.map_err(|e| not_a_cgroup(prog, cgroup).unwrap_or(e))
}

/// The error for a target that is no cgroup2 directory (a plain directory, a file, a
/// cgroup v1 directory), which the kernel reports only as `EBADF`; `None` when `cgroup`
/// is one, and the kernel's error stands.
fn not_a_cgroup(prog: &Program, cgroup: BorrowedFd<'_>) -> Option<ProgramError> {
    (!crate::sys::fs::is_cgroup2_dir(cgroup)).then(|| ProgramError::BadTarget {
        program: prog.name.clone(),
        reason: format!(
            "{} is not a cgroup2 directory; attach to one under the cgroup2 mount",
            describe_fd(cgroup)
        ),
    })
}

/// Opens the cgroup directory at `path` and attaches `prog` to it.
fn attach_cgroup_path(
    prog: &Program,
    path: &Path,
    attach_type: u32,
    mode: CgroupAttachMode,
    what: &str,
) -> Result<Link, ProgramError> {
    let dir = std::fs::File::open(path).map_err(|source| ProgramError::OpenTarget {
        program: prog.name.clone(),
        path: path.to_path_buf(),
        source,
    })?;
    attach_cgroup(prog, dir.as_fd(), attach_type, mode, what)
}

/// The hook a cgroup program attaches to, as its section says; `None` for `cgroup/skb`,
/// which names none (it loads, as `cgroup_skb/ingress` does, with attach type 0, which
/// is also `BPF_CGROUP_INET_INGRESS`: only the section tells them apart).
fn section_attach_type(prog: &Program) -> Option<u32> {
    match prog.kind {
        ProgramKind::CgroupSkb { .. } if prog.section == "cgroup/skb" => None,
        ref k => Some(k.expected_attach_type()),
    }
}

/// The hook's name for descriptions: the section (`cgroup/connect4`, `lsm_cgroup/HOOK`).
fn hook_name(prog: &Program) -> &str {
    &prog.section
}

macro_rules! cgroup_program {
    (
        $(#[$doc:meta])*
        $name:ident, $kind:pat, $expected:literal
    ) => {
        program_view!($(#[$doc])* $name, $kind, $expected);

        impl $name<'_> {
            /// Attaches to the cgroup open at `cgroup` (a directory of the cgroup2
            /// hierarchy), at the hook the section names; dropping the returned link
            /// detaches the program.
            pub fn attach(
                &self,
                cgroup: impl AsFd,
                mode: CgroupAttachMode,
            ) -> Result<Link, ProgramError> {
                let at = self.section_attach_type()?;
                attach_cgroup(self.prog, cgroup.as_fd(), at, mode, hook_name(self.prog))
            }

            /// Attaches to the cgroup directory at `path`, as [`Self::attach`].
            pub fn attach_path(
                &self,
                path: impl AsRef<Path>,
                mode: CgroupAttachMode,
            ) -> Result<Link, ProgramError> {
                let at = self.section_attach_type()?;
                attach_cgroup_path(self.prog, path.as_ref(), at, mode, hook_name(self.prog))
            }

            /// The ids of the programs attached to the cgroup open at `cgroup` at this
            /// program's hook (`BPF_PROG_QUERY`; not those inherited from parent
            /// cgroups). Compare with [`Program::info`]'s `id`.
            pub fn attached(&self, cgroup: impl AsFd) -> Result<Vec<u32>, ProgramError> {
                let at = self.section_attach_type()?;
                attached_ids(self.prog, cgroup.as_fd(), at)
            }

            fn section_attach_type(&self) -> Result<u32, ProgramError> {
                section_attach_type(self.prog).ok_or_else(|| ProgramError::BadTarget {
                    program: self.prog.name.clone(),
                    reason: format!(
                        "section '{}' names no {} hook; say which when attaching",
                        self.prog.section, $expected
                    ),
                })
            }
        }
    };
}

cgroup_program!(
    /// A `cgroup_skb` program (`SEC("cgroup_skb/ingress")`, `SEC("cgroup_skb/egress")`,
    /// `SEC("cgroup/skb")`): runs for each packet a socket of the cgroup receives or
    /// sends; returning 1 lets it through, 0 drops it. A `cgroup/skb` section names no
    /// direction: attach it with [`CgroupSkb::attach_direction`].
    CgroupSkb,
    ProgramKind::CgroupSkb { .. },
    "cgroup_skb"
);

/// Which packets a [`CgroupSkb`] program sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CgroupSkbDirection {
    /// Packets the cgroup's sockets receive (`BPF_CGROUP_INET_INGRESS`).
    Ingress,
    /// Packets they send (`BPF_CGROUP_INET_EGRESS`).
    Egress,
}

impl CgroupSkb<'_> {
    /// Attaches a `cgroup/skb` program to `cgroup` for the packets of `direction`. A
    /// `cgroup_skb/DIR` program was loaded for its own direction: any other is a
    /// [`ProgramError::BadTarget`], as the kernel would refuse it.
    pub fn attach_direction(
        &self,
        cgroup: impl AsFd,
        direction: CgroupSkbDirection,
        mode: CgroupAttachMode,
    ) -> Result<Link, ProgramError> {
        let (at, what) = match direction {
            CgroupSkbDirection::Ingress => (attach_type::CGROUP_INET_INGRESS, "cgroup_skb/ingress"),
            CgroupSkbDirection::Egress => (attach_type::CGROUP_INET_EGRESS, "cgroup_skb/egress"),
        };
        if section_attach_type(self.prog).is_some_and(|loaded| loaded != at) {
            return Err(ProgramError::BadTarget {
                program: self.prog.name.clone(),
                reason: format!(
                    "section '{}' was loaded for its own direction; it can't attach as {what}",
                    self.prog.section
                ),
            });
        }
        attach_cgroup(self.prog, cgroup.as_fd(), at, mode, what)
    }
}

cgroup_program!(
    /// A `cgroup_sock` program (`SEC("cgroup/sock_create")`, `cgroup/sock_release`,
    /// `cgroup/post_bind4`, `cgroup/post_bind6`): runs when a socket of the cgroup is
    /// created, released or bound; returning 0 refuses the operation (`EPERM`).
    CgroupSock,
    ProgramKind::CgroupSock { .. },
    "cgroup_sock"
);

cgroup_program!(
    /// A `cgroup_sock_addr` program (`SEC("cgroup/connect4")`, `connect6`, `bind4`,
    /// `bind6`, `sendmsg4`, `sendmsg6`, `recvmsg4`, `recvmsg6`, `getpeername4/6`,
    /// `getsockname4/6` and the `_unix` forms): sees, and may rewrite, the address of
    /// a `connect`, `bind`, UDP `sendmsg`/`recvmsg` or name query; returning 0 refuses
    /// the call (`EPERM`).
    CgroupSockAddr,
    ProgramKind::CgroupSockAddr { .. },
    "cgroup_sock_addr"
);

cgroup_program!(
    /// A `cgroup_sockopt` program (`SEC("cgroup/getsockopt")`, `SEC("cgroup/setsockopt")`):
    /// sees, and may change, the option values of `getsockopt`/`setsockopt` calls made
    /// in the cgroup; returning 0 refuses the call (`EPERM`).
    CgroupSockopt,
    ProgramKind::CgroupSockopt { .. },
    "cgroup_sockopt"
);

cgroup_program!(
    /// A `cgroup_sysctl` program (`SEC("cgroup/sysctl")`): runs when a process of the
    /// cgroup reads or writes a file under `/proc/sys`; returning 0 refuses it (`EPERM`).
    CgroupSysctl,
    ProgramKind::CgroupSysctl,
    "cgroup_sysctl"
);

cgroup_program!(
    /// A `cgroup_device` program (`SEC("cgroup/dev")`): runs when a process of the
    /// cgroup opens or creates (`mknod`) a device node; returning 0 refuses it (`EPERM`).
    CgroupDevice,
    ProgramKind::CgroupDevice,
    "cgroup_device"
);

cgroup_program!(
    /// A `sock_ops` program (`SEC("sockops")`): runs at the TCP events of the cgroup's
    /// sockets (connection established, retransmits, RTT samples, ... as enabled by
    /// `bpf_sock_ops_cb_flags_set`), and may set socket options or add the socket to a
    /// sockmap/sockhash.
    SockOps,
    ProgramKind::SockOps,
    "sockops"
);

cgroup_program!(
    /// An `lsm_cgroup` program (`SEC("lsm_cgroup/HOOK")`, 6.0+): a BPF LSM program that
    /// runs at `HOOK` only for the processes (or sockets) of the cgroup it is attached
    /// to. The hook is resolved at load (`attach_btf_id`); the kernel must run the BPF
    /// LSM (`lsm=...,bpf`). Returning 0 refuses the operation; 1 allows it.
    LsmCgroup,
    ProgramKind::LsmCgroup { .. },
    "lsm_cgroup"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};

    /// The attach type and flags each section and mode reach the kernel with.
    fn attached(prog: &Program, mode: CgroupAttachMode) -> Vec<(BpfCmd, u32, u32)> {
        let cgroup = std::fs::File::open("/dev/null").unwrap();
        let mut seen = Vec::new();
        let _ = with_syscall_override(
            |c| {
                if let Syscall::Bpf { cmd, attr } = c {
                    let w = |o: usize| u32::from_ne_bytes(attr[o..o + 4].try_into().unwrap());
                    seen.push((*cmd, w(8), w(12)));
                }
                Some(Err(std::io::Error::from_raw_os_error(libc::EBADF)))
            },
            || {
                macro_rules! try_attach {
                    ($($t:ident),*) => {
                        $(if let Ok(v) = $t::try_from(prog) {
                            return v.attach(&cgroup, mode);
                        })*
                    };
                }
                try_attach!(
                    CgroupSkb,
                    CgroupSock,
                    CgroupSockAddr,
                    CgroupSockopt,
                    CgroupSysctl,
                    CgroupDevice,
                    SockOps,
                    LsmCgroup
                );
                panic!("no cgroup view takes {}", prog.section);
            },
        );
        seen
    }

    #[test]
    fn each_section_attaches_at_its_hook() {
        let link = BpfCmd::LinkCreate;
        for (section, at) in [
            ("cgroup_skb/ingress", attach_type::CGROUP_INET_INGRESS),
            ("cgroup_skb/egress", attach_type::CGROUP_INET_EGRESS),
            ("cgroup/sock_create", attach_type::CGROUP_INET_SOCK_CREATE),
            ("cgroup/sock_release", attach_type::CGROUP_INET_SOCK_RELEASE),
            ("cgroup/post_bind4", attach_type::CGROUP_INET4_POST_BIND),
            ("cgroup/connect6", attach_type::CGROUP_INET6_CONNECT),
            ("cgroup/recvmsg4", attach_type::CGROUP_UDP4_RECVMSG),
            ("cgroup/getsockname6", attach_type::CGROUP_INET6_GETSOCKNAME),
            ("cgroup/setsockopt", attach_type::CGROUP_SETSOCKOPT),
            ("cgroup/sysctl", attach_type::CGROUP_SYSCTL),
            ("cgroup/dev", attach_type::CGROUP_DEVICE),
            ("sockops", attach_type::CGROUP_SOCK_OPS),
            ("lsm_cgroup/socket_bind", attach_type::LSM_CGROUP),
        ] {
            let p = Program::fake(section);
            assert_eq!(
                attached(&p, CgroupAttachMode::AllowMultiple),
                [(link, at, 0)],
                "{section}: a link, no flags"
            );
            assert_eq!(
                attached(&p, CgroupAttachMode::AllowOverride),
                [(BpfCmd::ProgAttach, at, attach_flags::ALLOW_OVERRIDE)],
                "{section}: override is BPF_PROG_ATTACH's"
            );
            assert_eq!(
                attached(&p, CgroupAttachMode::Single),
                [(BpfCmd::ProgAttach, at, 0)],
                "{section}"
            );
        }
    }

    #[test]
    fn a_section_without_direction_needs_one() {
        let p = Program::fake("cgroup/skb");
        assert!(attached(&p, CgroupAttachMode::default()).is_empty());
        let e = CgroupSkb::try_from(&p)
            .unwrap()
            .attach(
                std::fs::File::open("/dev/null").unwrap(),
                Default::default(),
            )
            .unwrap_err();
        assert!(matches!(e, ProgramError::BadTarget { .. }), "{e:?}");
        assert!(e.to_string().contains("names no cgroup_skb hook"), "{e}");
    }

    /// Runs `f` with every bpf(2) call answering `errno`; returns `f`'s result and the
    /// attach types the calls carried.
    fn with_kernel_answering<T>(errno: i32, f: impl FnOnce() -> T) -> (T, Vec<u32>) {
        let mut seen = Vec::new();
        let r = with_syscall_override(
            |c| {
                if let Syscall::Bpf { attr, .. } = c {
                    seen.push(u32::from_ne_bytes(attr[8..12].try_into().unwrap()));
                }
                Some(Err(std::io::Error::from_raw_os_error(errno)))
            },
            f,
        );
        (r, seen)
    }

    #[test]
    fn a_direction_is_checked_against_the_section() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let mode = CgroupAttachMode::default();
        let p = Program::fake("cgroup_skb/egress");
        let skb = CgroupSkb::try_from(&p).unwrap();
        let (r, seen) = with_kernel_answering(libc::EPERM, || {
            skb.attach_direction(&null, CgroupSkbDirection::Ingress, mode)
        });
        let e = r.unwrap_err();
        assert!(seen.is_empty(), "refused before the kernel: {seen:?}");
        assert_eq!(
            e.to_string(),
            "program 'p': section 'cgroup_skb/egress' was loaded for its own direction; \
             it can't attach as cgroup_skb/ingress"
        );
        let p = Program::fake("cgroup/skb");
        let skb = CgroupSkb::try_from(&p).unwrap();
        let (_, seen) = with_kernel_answering(libc::EPERM, || {
            skb.attach_direction(&null, CgroupSkbDirection::Ingress, mode)
        });
        assert_eq!(seen, [attach_type::CGROUP_INET_INGRESS]);
    }

    /// The kernel's `EBADF` for a target that is no cgroup becomes an error naming it.
    #[test]
    fn a_target_that_is_no_cgroup_is_named() {
        let p = Program::fake("cgroup/sysctl");
        let sysctl = CgroupSysctl::try_from(&p).unwrap();
        for mode in [CgroupAttachMode::AllowMultiple, CgroupAttachMode::Single] {
            let (r, _) =
                with_kernel_answering(libc::EBADF, || sysctl.attach_path("/dev/null", mode));
            let e = r.unwrap_err();
            assert!(matches!(e, ProgramError::BadTarget { .. }), "{e:?}");
            assert_eq!(
                e.to_string(),
                "program 'p': /dev/null is not a cgroup2 directory; \
                 attach to one under the cgroup2 mount"
            );
        }
    }

    #[test]
    fn views_take_only_their_kind() {
        let p = Program::fake("cgroup/connect4");
        assert!(CgroupSockAddr::try_from(&p).is_ok());
        let e = CgroupSkb::try_from(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "program 'p' (section 'cgroup/connect4') is not a cgroup_skb program"
        );
    }

    #[test]
    fn a_missing_cgroup_directory_is_named() {
        let p = Program::fake("cgroup/dev");
        let e = CgroupDevice::try_from(&p)
            .unwrap()
            .attach_path("/nonexistent/cgroup", Default::default())
            .unwrap_err();
        assert_eq!(e.to_string(), "program 'p': opening /nonexistent/cgroup");
        assert!(std::error::Error::source(&e).is_some());
    }
}
