//! Loaded programs and how they attach.
//!
//! A [`Program`] owns its fd. Typed views per kind ([`TracePoint`], [`RawTracePoint`],
//! [`KProbe`], [`KProbeMulti`], [`UProbe`], [`UProbeMulti`], [`Usdt`], [`FEntry`],
//! [`FExit`], [`FModRet`], [`Lsm`], [`TpBtf`], [`Iter`], [`PerfEvent`], [`FReplace`],
//! [`SyscallProgram`]; the cgroup kinds [`CgroupSkb`], [`CgroupSock`],
//! [`CgroupSockAddr`], [`CgroupSockopt`], [`CgroupSysctl`], [`CgroupDevice`],
//! [`SockOps`], [`LsmCgroup`]; the socket kinds [`SocketFilter`], [`SkReuseport`],
//! [`SkSkb`], [`SkMsg`], [`SkLookup`], [`FlowDissector`]; [`Netfilter`]; and for
//! networking [`Xdp`], [`SchedClassifier`], [`Netkit`], which take an [`Interface`])
//! come from a `&Program` by `TryFrom` and offer `attach(..) -> Link` (a `syscall`
//! program is run instead); struct_ops programs are registered together, through their
//! map ([`StructOps`]);
//! [`Program::attach`] attaches from the section name alone, as libbpf's auto-attach,
//! following the one dispatch from kind to [`AttachPlan`] (`plan.rs`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys::{self, SysError};

/// Declares a typed view of a [`Program`] for the kinds `$kind` matches: the struct
/// borrowing the program, and its `TryFrom<&Program>` (naming `$expected` when the
/// kind differs). The view's `impl` with its `attach(..)` follows in the kind's file.
macro_rules! program_view {
    ($(#[$doc:meta])* $name:ident, $kind:pat, $expected:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<'a> {
            prog: &'a $crate::program::Program,
        }

        impl<'a> TryFrom<&'a $crate::program::Program> for $name<'a> {
            type Error = $crate::program::ProgramError;

            fn try_from(prog: &'a $crate::program::Program) -> Result<Self, Self::Error> {
                match prog.kind {
                    $kind => Ok($name { prog }),
                    _ => Err(prog.wrong_kind($expected)),
                }
            }
        }
    };
}

pub mod cgroup;
pub mod freplace;
pub mod iter;
pub mod kprobe;
pub mod netdev;
pub mod netfilter;
pub mod netkit;
pub mod netns;
pub mod perf_event;
pub mod plan;
mod prog_attach;
pub mod sk_skb;
pub mod socket;
pub mod struct_ops;
pub mod syscall;
pub mod tc;
pub mod tracefs;
pub mod tracing;
pub mod uprobe;
pub mod uprobe_elf;
pub mod uprobe_multi;
pub mod uprobe_path;
pub mod usdt;
pub mod usdt_spec;
pub mod xdp;

pub use crate::sys::netlink::NetlinkError;
pub use cgroup::{
    CgroupAttachMode, CgroupDevice, CgroupSkb, CgroupSkbDirection, CgroupSock, CgroupSockAddr,
    CgroupSockopt, CgroupSysctl, LsmCgroup, SockOps,
};
pub use freplace::FReplace;
pub use iter::{Iter, IterScope};
pub use kprobe::{KProbe, KProbeMulti, KprobeError, KprobeMode};
pub use netdev::Interface;
pub use netfilter::{Netfilter, NetfilterFamily, NetfilterHook, NetfilterHookPoint};
pub use netkit::{Netkit, NetkitAttachType};
pub use netns::{FlowDissector, SkLookup};
pub use perf_event::{PerfEvent, PerfEventConfig, PerfEventScope, Sample};
pub use plan::AttachPlan;
pub use sk_skb::{SkMsg, SkSkb, SkSkbKind};
pub use socket::{SkReuseport, SocketFilter};
pub use struct_ops::StructOps;
pub use syscall::SyscallProgram;
pub use tc::{SchedClassifier, TcAttachType, TcOptions};
pub use tracing::{FEntry, FExit, FModRet, Lsm, TpBtf};
pub use uprobe::{UProbe, UprobeError, UprobeLocation, UprobeMode, UprobeOptions};
pub use uprobe_multi::UProbeMulti;
pub use usdt::{Usdt, UsdtError};
pub use xdp::{Xdp, XdpMode};

/// Errors from attaching or inspecting a program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// The program's kind doesn't match the typed view asked for.
    #[error("program '{program}' (section '{section}') is not a {expected} program")]
    WrongKind {
        /// Program name.
        program: String,
        /// Its section.
        section: String,
        /// The kind wanted.
        expected: &'static str,
    },
    /// The section doesn't say where to attach, so auto-attach can't.
    #[error("program '{program}' (section '{section}') can't be auto-attached: {reason}; attach it explicitly")]
    NoAutoAttach {
        /// Program name.
        program: String,
        /// Its section.
        section: String,
        /// Why ([`AttachPlan::NoAutoAttach`]).
        reason: &'static str,
    },
    /// The section's attach target can't be parsed.
    #[error("program '{program}': {reason}")]
    BadTarget {
        /// Program name.
        program: String,
        /// What is wrong.
        reason: String,
    },
    /// tracefs is missing or the event doesn't exist.
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    /// A kprobe could not be created (no kprobe support, a refused probe definition, a
    /// `kprobe.multi` pattern that matches nothing, ...).
    #[error("attaching program '{program}' to {target}")]
    Kprobe {
        /// Program name.
        program: String,
        /// The target in words (`kprobe do_unlinkat`).
        target: String,
        /// What went wrong.
        #[source]
        source: KprobeError,
    },
    /// A uprobe could not be created, or its file or function not found.
    #[error("attaching program '{program}' to {target}")]
    Uprobe {
        /// Program name.
        program: String,
        /// The target in words (`uprobe /usr/lib/x86_64-linux-gnu/libc.so.6:malloc`).
        target: String,
        /// What went wrong.
        #[source]
        source: Box<UprobeError>,
    },
    /// A USDT probe could not be found or attached.
    #[error("attaching program '{program}' to {target}")]
    Usdt {
        /// Program name.
        program: String,
        /// The target in words (`usdt /usr/bin/app:provider:name`).
        target: String,
        /// What went wrong.
        #[source]
        source: Box<UsdtError>,
    },
    /// A BPF cookie was asked for on a kernel without perf links (before 5.15), where
    /// a program is attached to a perf event by ioctl and can't be given one.
    #[error(
        "attaching program '{program}' to {target}: this kernel has no perf links \
         (5.15+), so it can't pass a BPF cookie"
    )]
    NoCookie {
        /// Program name.
        program: String,
        /// The target in words.
        target: String,
    },
    /// A syscall failed while attaching.
    #[error("attaching program '{program}' to {target}")]
    Attach {
        /// Program name.
        program: String,
        /// The target in words.
        target: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// Registering a struct_ops map failed (writing its value, creating its link).
    #[error("registering struct_ops map '{map}'")]
    StructOps {
        /// The map (variable) name.
        map: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// A netlink request failed while attaching (XDP or TC the classic way); the
    /// source carries the kernel's explanation when it gave one.
    #[error("attaching program '{program}' to {target}")]
    Netlink {
        /// Program name.
        program: String,
        /// The target in words (`xdp generic mode on ifindex 5 (veth0), netlink`).
        target: String,
        /// The failure.
        #[source]
        source: NetlinkError,
    },
    /// The network interface can't take the program: there is none of that name in
    /// this network namespace, or it is not the device the program needs.
    #[error("program '{program}': network interface {interface}: {reason}")]
    Interface {
        /// Program name.
        program: String,
        /// The interface as given (`'veth0'`, `ifindex 5`).
        interface: String,
        /// What is wrong.
        reason: String,
    },
    /// A syscall failed.
    #[error("operation on program '{program}' failed")]
    Sys {
        /// Program name.
        program: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// The attach target (a cgroup directory, a network namespace file) could not be
    /// opened.
    #[error("program '{program}': opening {path}")]
    OpenTarget {
        /// Program name.
        program: String,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The pin path is not on a bpf filesystem.
    #[error("{path} is not on a bpf filesystem; mount one with `mount -t bpf bpf /sys/fs/bpf`")]
    NotBpffs {
        /// The directory checked.
        path: PathBuf,
    },
}

/// A loaded program. Dropping it closes the fd; the kernel frees the program once no
/// link, pin or map holds it either.
#[derive(Debug)]
pub struct Program {
    name: String,
    section: String,
    kind: ProgramKind,
    fd: OwnedFd,
    /// For USDT programs: the object's USDT maps and spec ids.
    usdt: Option<usdt::UsdtContext>,
}

impl Program {
    pub(crate) fn new(name: String, section: String, kind: ProgramKind, fd: OwnedFd) -> Program {
        Program {
            name,
            section,
            kind,
            fd,
            usdt: None,
        }
    }

    /// Gives a USDT program its object's USDT state (set by the loader).
    pub(crate) fn set_usdt(&mut self, context: usdt::UsdtContext) {
        self.usdt = Some(context);
    }

    /// The program's function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The section it came from (without a leading `?`).
    pub fn section(&self) -> &str {
        &self.section
    }

    /// What the section says the program is.
    pub fn kind(&self) -> &ProgramKind {
        &self.kind
    }

    /// The program fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn sys_err(&self) -> impl FnOnce(SysError) -> ProgramError + '_ {
        move |source| ProgramError::Sys {
            program: self.name.clone(),
            source,
        }
    }

    /// The kernel's view of the program: id, tag, instruction counts, verified instructions.
    pub fn info(&self) -> Result<sys::bpf::ProgInfo, ProgramError> {
        sys::bpf::prog_info(self.fd()).map_err(self.sys_err())
    }

    /// Pins the program at `path` on a bpf filesystem.
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<(), ProgramError> {
        let path = path.as_ref();
        crate::map::check_bpffs(path).map_err(|_| ProgramError::NotBpffs {
            path: path.parent().unwrap_or(Path::new("/")).to_path_buf(),
        })?;
        sys::bpf::obj_pin(self.fd(), path).map_err(self.sys_err())
    }

    /// How [`Program::attach`] attaches this program, as its section name says
    /// ([`AttachPlan::for_kind`]).
    pub fn attach_plan(&self) -> AttachPlan {
        AttachPlan::for_kind(&self.kind)
    }

    /// Attaches where the section name says, as libbpf's auto-attach does:
    /// `tracepoint/CAT/NAME`, `raw_tp/NAME`, `kprobe/FN[+OFF]`, `kretprobe/FN`,
    /// `ksyscall/NAME`, `kretsyscall/NAME`, `kprobe.multi/GLOB`, `kretprobe.multi/GLOB`,
    /// `uprobe/PATH:FN[+OFF]`, `uretprobe/PATH:FN`, `uprobe.multi/PATH:GLOB`,
    /// `uretprobe.multi/PATH:GLOB`, `uprobe.session/PATH:GLOB`,
    /// `usdt/PATH:PROVIDER:NAME`, `kprobe.session/GLOB`, `fentry/FN`, `fexit/FN`,
    /// `fmod_ret/FN`, `lsm/HOOK`, `tp_btf/NAME`, `iter/TARGET`, `freplace/FUNC` (target
    /// program given at load) and `raw_tp.w/NAME` (and the sleepable `.s` forms).
    /// [`Program::attach_plan`] says which, before trying.
    ///
    /// # Examples
    ///
    /// Attach hello's program to `syscalls/sys_enter_execve`, as its section says
    /// (needs root):
    ///
    /// ```no_run
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), corebpf::Error> {
    /// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
    /// let program = obj.program("handle_execve").expect("hello's program");
    /// let link = program.attach()?;
    /// println!("attached: {}", link.description()); // tracepoint syscalls/sys_enter_execve
    /// drop(link); // detaches
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach(&self) -> Result<Link, ProgramError> {
        use AttachPlan as P;
        match self.attach_plan() {
            P::Tracepoint(t) => TracePoint::try_from(self)?.attach(&t.category, &t.name),
            P::RawTracepoint { name } => RawTracePoint::try_from(self)?.attach(&name),
            P::Kprobe(t) => KProbe::try_from(self)?.attach(&t.function, t.offset),
            P::Ksyscall { syscall } => KProbe::try_from(self)?.attach_syscall(&syscall),
            P::KprobeMulti { pattern } => KProbeMulti::try_from(self)?.attach(&pattern),
            P::Uprobe(t) => {
                let location = match &t.function {
                    Some(f) => UprobeLocation::FunctionOffset(f, t.offset),
                    None => UprobeLocation::Offset(t.offset),
                };
                UProbe::try_from(self)?.attach(&t.path, location, None, None)
            }
            P::UprobeMulti { path, pattern } => {
                UProbeMulti::try_from(self)?.attach(&path, &pattern, None)
            }
            P::Usdt(t) => Usdt::try_from(self)?.attach(&t.path, &t.provider, &t.name, None, None),
            P::Fentry => FEntry::try_from(self)?.attach(),
            P::Fexit => FExit::try_from(self)?.attach(),
            P::FmodRet => FModRet::try_from(self)?.attach(),
            P::Lsm => Lsm::try_from(self)?.attach(),
            P::TpBtf => TpBtf::try_from(self)?.attach(),
            P::Iter => Iter::try_from(self)?.attach(),
            P::Freplace => FReplace::try_from(self)?.attach(),
            P::BadTarget(e) => Err(ProgramError::BadTarget {
                program: self.name.clone(),
                reason: e.to_string(),
            }),
            P::NoAutoAttach { reason } => Err(ProgramError::NoAutoAttach {
                program: self.name.clone(),
                section: self.section.clone(),
                reason,
            }),
        }
    }

    /// True when [`Program::attach`] will try to attach: the plan is not
    /// [`AttachPlan::NoAutoAttach`] (a malformed target is tried, and reported).
    pub fn can_auto_attach(&self) -> bool {
        self.attach_plan().is_auto()
    }

    /// Runs the program once with `BPF_PROG_TEST_RUN` on `data`; returns its return value.
    pub fn test_run(&self, data: &[u8], repeat: u32) -> Result<u32, ProgramError> {
        let r = sys::bpf::prog_test_run(self.fd(), data, None, None, None, repeat, 0)
            .map_err(self.sys_err())?;
        Ok(r.retval)
    }

    /// Runs the program with `BPF_PROG_TEST_RUN` on the context `ctx` and no packet
    /// data (the way `syscall` and raw tracepoint programs are run: `ctx` is what the
    /// program's argument points to); returns its return value. `repeat` 0 runs once.
    pub fn test_run_with_context(&self, ctx: &[u8], repeat: u32) -> Result<u32, ProgramError> {
        let r = sys::bpf::prog_test_run(self.fd(), &[], None, Some(ctx), None, repeat, 0)
            .map_err(self.sys_err())?;
        Ok(r.retval)
    }

    /// A program of the kind `section` says, whose fd is `/dev/null`: for unit tests
    /// that inject the syscalls.
    #[cfg(test)]
    pub(crate) fn fake(section: &str) -> Program {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let kind = ProgramKind::from_section(section).unwrap_or_else(|| panic!("{section}"));
        Program::new("p".into(), section.into(), kind, fd)
    }

    fn wrong_kind(&self, expected: &'static str) -> ProgramError {
        ProgramError::WrongKind {
            program: self.name.clone(),
            section: self.section.clone(),
            expected,
        }
    }
}

/// A tracepoint program (`SEC("tracepoint/CAT/NAME")` or `SEC("tp/CAT/NAME")`).
#[derive(Debug, Clone, Copy)]
pub struct TracePoint<'a> {
    prog: &'a Program,
}

impl<'a> TryFrom<&'a Program> for TracePoint<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match prog.kind {
            ProgramKind::Tracepoint { .. } => Ok(TracePoint { prog }),
            _ => Err(prog.wrong_kind("tracepoint")),
        }
    }
}

impl TracePoint<'_> {
    /// Attaches to tracepoint `category/name`: a perf event for the tracepoint, then a
    /// perf link (`BPF_LINK_CREATE`), or `PERF_EVENT_IOC_SET_BPF` + enable on kernels
    /// without perf links.
    pub fn attach(&self, category: &str, name: &str) -> Result<Link, ProgramError> {
        let id = tracefs::tracepoint_id(category, name)?;
        let target = format!("tracepoint {category}/{name}");
        let attr = sys::perf::PerfEventAttr::tracepoint(id);
        let err = |source| ProgramError::Attach {
            program: self.prog.name.clone(),
            target: target.clone(),
            source,
        };
        let perf = sys::perf::perf_event_open(&attr, -1, 0, None, 0).map_err(err)?;
        attach_perf_event(self.prog, perf, None, target.clone())
    }
}

/// Attaches `prog` to an open perf event: perf link first, ioctl fallback.
pub(crate) fn attach_perf_event(
    prog: &Program,
    perf: OwnedFd,
    cleanup: Option<crate::link::TracefsProbe>,
    target: String,
) -> Result<Link, ProgramError> {
    attach_perf_event_with_cookie(prog, perf, cleanup, target, 0)
}

/// [`attach_perf_event`] with a BPF cookie; a kernel without perf links can't take a
/// cookie other than 0 ([`ProgramError::NoCookie`]).
pub(crate) fn attach_perf_event_with_cookie(
    prog: &Program,
    perf: OwnedFd,
    cleanup: Option<crate::link::TracefsProbe>,
    target: String,
    bpf_cookie: u64,
) -> Result<Link, ProgramError> {
    let err = |source| ProgramError::Attach {
        program: prog.name.clone(),
        target: target.clone(),
        source,
    };
    match sys::bpf::link_create(
        prog.fd(),
        sys::bpf::LinkTarget::Fd(perf.as_fd()),
        sys::bpf::attach_type::PERF_EVENT,
        0,
        sys::bpf::LinkCreateExtra::PerfEvent { bpf_cookie },
    ) {
        Ok(link) => Ok(Link::from_perf_event(perf, Some(link), cleanup, target)),
        Err(e) if [libc::EINVAL, libc::EOPNOTSUPP, libc::ENOTSUP].contains(&e.errno()) => {
            if bpf_cookie != 0 {
                return Err(ProgramError::NoCookie {
                    program: prog.name.clone(),
                    target,
                });
            }
            log::debug!(
                "perf link unavailable ({}); attaching {target} with PERF_EVENT_IOC_SET_BPF",
                crate::util::Chain(&e)
            );
            sys::perf::perf_event_ioc_set_bpf(perf.as_fd(), prog.fd()).map_err(err)?;
            sys::perf::perf_event_ioc_enable(perf.as_fd()).map_err(err)?;
            Ok(Link::from_perf_event(perf, None, cleanup, target))
        }
        Err(e) => Err(err(e)),
    }
}

/// A raw tracepoint program (`SEC("raw_tp/NAME")` or `SEC("raw_tracepoint/NAME")`).
#[derive(Debug, Clone, Copy)]
pub struct RawTracePoint<'a> {
    prog: &'a Program,
}

impl<'a> TryFrom<&'a Program> for RawTracePoint<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match prog.kind {
            ProgramKind::RawTracepoint { .. } => Ok(RawTracePoint { prog }),
            _ => Err(prog.wrong_kind("raw tracepoint")),
        }
    }
}

impl RawTracePoint<'_> {
    /// Attaches to raw tracepoint `name` (`BPF_RAW_TRACEPOINT_OPEN`).
    pub fn attach(&self, name: &str) -> Result<Link, ProgramError> {
        let target = format!("raw tracepoint {name}");
        let cname = std::ffi::CString::new(name).map_err(|_| ProgramError::Attach {
            program: self.prog.name.clone(),
            target: target.clone(),
            source: SysError::new("BPF_RAW_TRACEPOINT_OPEN", libc::EINVAL),
        })?;
        let fd = sys::bpf::raw_tracepoint_open(Some(&cname), self.prog.fd()).map_err(|source| {
            ProgramError::Attach {
                program: self.prog.name.clone(),
                target: target.clone(),
                source,
            }
        })?;
        Ok(Link::from_link_fd(fd, target))
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::Path;

    use crate::sys::{bpf::BpfCmd, with_syscall_override, Syscall};
    use crate::Loader;

    fn counts_for_uid0(obj: &crate::Object) -> u64 {
        let counts: crate::map::HashMap<u32, u64> = obj.map("counts").unwrap().try_into().unwrap();
        counts.get(&0).unwrap().unwrap_or(0)
    }

    fn exec_true() {
        std::process::Command::new("/bin/true")
            .status()
            .expect("running /bin/true");
    }

    /// Kernels without perf links refuse `BPF_LINK_CREATE` for perf events; the attach
    /// must then go through `PERF_EVENT_IOC_SET_BPF` and still deliver events, and
    /// dropping the link must stop them.
    #[test]
    fn tracepoint_falls_back_to_ioctl_attach_and_detaches_on_drop() {
        if super::tracefs::tracefs_root().is_err() {
            crate::sys::fs::mount_fs("tracefs", Path::new("/sys/kernel/tracing"))
                .expect("mounting tracefs");
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs/hello.bpf.o");
        let obj = Loader::new().load_file(path).unwrap();
        let mut refused = 0;
        let link = with_syscall_override(
            |call| match call {
                Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    ..
                } => {
                    refused += 1;
                    Some(Err(io::Error::from_raw_os_error(libc::EINVAL)))
                }
                _ => None,
            },
            || obj.programs()[0].attach(),
        )
        .expect("attach through the ioctl fallback");
        assert_eq!(refused, 1);
        assert!(
            link.link_fd().is_none(),
            "fallback must not have a BPF link"
        );
        assert!(link.perf_event_fd().is_some());
        let before = counts_for_uid0(&obj);
        exec_true();
        let attached = counts_for_uid0(&obj);
        assert!(
            attached > before,
            "no exec counted through the ioctl attachment"
        );
        drop(link);
        // Other processes may exec too, but only while attached can the count move;
        // several execs of ours after the drop must leave it where it was. Runs already
        // in flight on another CPU at the drop may still finish: wait until it is still.
        let mut detached = counts_for_uid0(&obj);
        for _ in 0..40 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let now = counts_for_uid0(&obj);
            if now == detached {
                break;
            }
            detached = now;
        }
        for _ in 0..3 {
            exec_true();
        }
        assert_eq!(
            counts_for_uid0(&obj),
            detached,
            "events still counted after the link was dropped"
        );
    }

    /// `produce` (a `syscall` program using `bpf_loop`, 5.17+) writes the number of
    /// records its context asks for and returns that number.
    #[test]
    fn test_run_with_context_passes_the_context() {
        let uts = nix::sys::utsname::uname().expect("uname");
        let release = uts.release().to_string_lossy().into_owned();
        let mut v = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse().ok());
        if (v.next().flatten(), v.next().flatten()) < (Some(5u32), Some(17u32)) {
            println!("SKIP: test_run_with_context: kernel {release} predates bpf_loop (5.17)");
            return;
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs/ringbuf_bench.bpf.o");
        let obj = Loader::new().load_file(path).unwrap();
        let prog = obj.program("produce").unwrap();
        for (count, base) in [(3u32, 10u32), (7, 0)] {
            let mut ctx = [0u8; 8];
            ctx[..4].copy_from_slice(&count.to_ne_bytes());
            ctx[4..].copy_from_slice(&base.to_ne_bytes());
            assert_eq!(prog.test_run_with_context(&ctx, 0).unwrap(), count);
        }
    }
}
