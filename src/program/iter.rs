//! BPF iterators (`SEC("iter/TARGET")`): programs the kernel runs once per object of a
//! kind (task, open file, map, map element, socket, …) when user space reads the
//! iterator; what they print with `bpf_seq_printf()` is what the read returns.
//!
//! The loader resolves the target's `bpf_iter_TARGET` function in the kernel's BTF
//! (`attach_btf_id`). [`Iter::attach`] creates the iterator link (`BPF_LINK_CREATE`
//! with `BPF_TRACE_ITER`); each [`Link::open_iter`] starts a walk and returns it as a
//! file to read. A link pinned on bpffs reads as a file too: every `open` of the pin
//! is a new walk (`cat /sys/fs/bpf/NAME`).

use std::os::fd::BorrowedFd;

use super::ProgramError;
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys;
use crate::sys::bpf::IterLinkInfo;

/// What an iterator link walks, for targets that take a parameter.
///
/// Most targets (`task`, `bpf_map`, `bpf_prog`, `tcp`, …) walk everything and take
/// [`IterScope::All`]; map element iterators (`bpf_map_elem`, `bpf_sk_storage_map`,
/// `sockmap`) need the map; task iterators (`task`, `task_file`, `task_vma`) may be
/// narrowed to a thread or a process (6.1+); cgroup iterators need their cgroup.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum IterScope<'a> {
    /// No parameter.
    All,
    /// The map whose elements the iterator walks.
    Map(BorrowedFd<'a>),
    /// Only the thread with this id.
    Thread(u32),
    /// Only the threads of the process with this id.
    Process(u32),
    /// Only the threads of the process behind this pidfd.
    ProcessFd(BorrowedFd<'a>),
    /// A cgroup iterator starting at the cgroup `cgroup` (its directory), walking in
    /// `order` (`enum bpf_cgroup_iter_order`: 1 self only, 2 descendants pre-order,
    /// 3 descendants post-order, 4 ancestors up).
    Cgroup {
        /// The cgroup directory.
        cgroup: BorrowedFd<'a>,
        /// Walk order.
        order: u32,
    },
}

impl<'a> IterScope<'a> {
    fn link_info(self) -> IterLinkInfo<'a> {
        match self {
            IterScope::All => IterLinkInfo::None,
            IterScope::Map(fd) => IterLinkInfo::Map(fd),
            IterScope::Thread(tid) => IterLinkInfo::Task {
                tid,
                pid: 0,
                pid_fd: None,
            },
            IterScope::Process(pid) => IterLinkInfo::Task {
                tid: 0,
                pid,
                pid_fd: None,
            },
            IterScope::ProcessFd(fd) => IterLinkInfo::Task {
                tid: 0,
                pid: 0,
                pid_fd: Some(fd),
            },
            IterScope::Cgroup { cgroup, order } => IterLinkInfo::Cgroup {
                order,
                cgroup_fd: Some(cgroup),
                cgroup_id: 0,
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            IterScope::All => String::new(),
            IterScope::Map(_) => " of a map".into(),
            IterScope::Thread(t) => format!(" of thread {t}"),
            IterScope::Process(p) => format!(" of process {p}"),
            IterScope::ProcessFd(_) => " of a pidfd's process".into(),
            IterScope::Cgroup { .. } => " of a cgroup".into(),
        }
    }
}

program_view!(
    /// An iterator program (`SEC("iter/TARGET")`, `SEC("iter.s/TARGET")`).
    ///
    /// # Examples
    ///
    /// List every process with `bpf-progs/iter.bpf.o`'s `dump_task` (needs root):
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use corebpf::{program::Iter, Loader};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/iter.bpf.o")?;
    /// let iter = Iter::try_from(obj.program("dump_task").expect("the program"))?;
    /// let link = iter.attach()?;
    /// let mut text = String::new();
    /// link.open_iter()?.read_to_string(&mut text)?;
    /// print!("{text}"); // "pid comm", then "1 systemd", ...
    /// # Ok(())
    /// # }
    /// ```
    Iter,
    ProgramKind::Iter { .. },
    "iter"
);

impl Iter<'_> {
    /// The iterator target the section names (`task`, `bpf_map_elem`).
    pub fn target(&self) -> Option<&str> {
        self.prog.kind.attach_target()
    }

    /// Creates the iterator link for a target without a parameter (what auto-attach
    /// does, as libbpf's `bpf_program__attach_iter` without options).
    pub fn attach(&self) -> Result<Link, ProgramError> {
        self.attach_scoped(IterScope::All)
    }

    /// Creates the iterator link for a map element iterator over `map`.
    pub fn attach_map(&self, map: &crate::Map) -> Result<Link, ProgramError> {
        self.attach_scoped(IterScope::Map(map.fd()))
    }

    /// Creates the iterator link with the target's parameter `scope`.
    pub fn attach_scoped(&self, scope: IterScope<'_>) -> Result<Link, ProgramError> {
        let target = format!(
            "iter {}{}",
            self.target().unwrap_or("(target given at load time)"),
            scope.describe()
        );
        let fd =
            sys::bpf::link_create_iter(self.prog.fd(), scope.link_info()).map_err(|source| {
                ProgramError::Attach {
                    program: self.prog.name.clone(),
                    target: target.clone(),
                    source,
                }
            })?;
        Ok(Link::from_link_fd(fd, target))
    }
}
