//! Attachments of loaded programs. A [`Link`] owns whatever keeps a program attached;
//! dropping it detaches the program, unless the link is pinned to bpffs.
//!
//! # Pinned links
//!
//! A BPF link lives as long as something holds it: a file descriptor, or a pin (a
//! path on a bpf filesystem). [`Link::pin`] adds a pin, so the program stays attached
//! after the process exits; [`Link::from_pin`] opens a pinned link again, from any
//! process. As with libbpf (`bpf_link__pin`, `bpf_link__open`, `bpf_link__destroy`),
//! dropping a `Link` only closes its descriptor and never removes a pin: a pinned
//! link stays attached until its pin is removed ([`Link::unpin`], or `rm` of the path)
//! and no descriptor is left. [`Link::detach`] detaches at once, pinned or not, where
//! the link type allows it (`BPF_LINK_DETACH`, as libbpf's `bpf_link__detach`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::program::Program;
use crate::sys::{self, SysError};

pub use crate::sys::bpf::{IterParam, LinkInfo, LinkKind, PerfEventLink};

/// Errors from operating on a link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Pinning needs a BPF link; attachments made through `PERF_EVENT_IOC_SET_BPF`,
    /// netlink or `BPF_PROG_ATTACH` have none.
    #[error("this attachment has no BPF link to pin; it lives as long as the process")]
    NotPinnable,
    /// The operation needs a BPF link, and this attachment has none.
    #[error("{operation} needs a BPF link, and {description} has none")]
    NoBpfLink {
        /// What was asked (`link info`, `BPF_LINK_UPDATE`).
        operation: &'static str,
        /// The attachment, in words.
        description: String,
    },
    /// A syscall failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// The pin path is not on a bpf filesystem.
    #[error("{path} is not on a bpf filesystem (mount one with `mount -t bpf bpf /sys/fs/bpf`)")]
    NotBpffs {
        /// The path.
        path: PathBuf,
    },
    /// What is pinned at the path (or has the id) can't be opened as a link.
    #[error("opening the link {what}")]
    Open {
        /// `pinned at PATH` or `with id N`.
        what: String,
        /// The failure: `ENOENT` for nothing there, `EINVAL` for another kind of object.
        #[source]
        source: SysError,
    },
    /// Removing the pin failed.
    #[error("removing the pin {path}")]
    Unpin {
        /// The pin.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused to swap the link's program: the link type does not allow it
    /// (`EOPNOTSUPP`, `EINVAL`), the new program's type or attach type differs
    /// (`EINVAL`), or the link no longer runs the expected old program (`EPERM`).
    #[error("replacing the program of {description} with '{program}'")]
    Update {
        /// The link, in words.
        description: String,
        /// The new program.
        program: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// A pinned link whose type can't be detached by `BPF_LINK_DETACH` stays attached
    /// while its pin exists.
    #[error("{description} can't be detached while pinned at {path}: unpin it (the kernel has no BPF_LINK_DETACH for this link type)")]
    PinnedUndetachable {
        /// The link, in words.
        description: String,
        /// Its pin.
        path: PathBuf,
    },
}

#[derive(Debug)]
enum Inner {
    /// A BPF link (`BPF_LINK_CREATE`, `BPF_RAW_TRACEPOINT_OPEN`): closing it detaches.
    Fd(OwnedFd),
    /// A perf event with the program attached, optionally through a perf link.
    PerfEvent {
        link: Option<OwnedFd>,
        perf: OwnedFd,
        /// A kprobe/uprobe created through tracefs, removed after the perf event closes.
        _probe: Option<TracefsProbe>,
    },
    /// Any other attachment (netlink XDP/TC, `BPF_PROG_ATTACH`, a socket option): the
    /// boxed value detaches the program when it drops.
    #[allow(dead_code)] // held for its Drop
    Other(Box<dyn Attachment>),
}

/// An attachment that is neither a BPF link nor a perf event: its `Drop` detaches the
/// program (removes the netlink filter, calls `BPF_PROG_DETACH`, …). Implemented by the
/// attach paths in `program/`; a [`Link`] owns one through [`Link::from_attachment`].
pub(crate) trait Attachment: std::fmt::Debug + Send {}

/// A dynamic tracefs probe (`kprobe_events`/`uprobe_events`) to remove when the link goes.
#[derive(Debug)]
pub(crate) struct TracefsProbe {
    /// The events file the probe was written to.
    pub events_file: PathBuf,
    /// The probe's `group/name`, as written after `-:` to remove it.
    pub name: String,
}

impl Drop for TracefsProbe {
    fn drop(&mut self) {
        use std::io::Write;
        let removed = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.events_file)
            .and_then(|mut f| f.write_all(format!("-:{}\n", self.name).as_bytes()));
        if let Err(e) = removed {
            log::warn!(
                "removing probe {} from {}: {e}",
                self.name,
                self.events_file.display()
            );
        }
    }
}

/// An attached program. Dropping it detaches the program, unless the link is pinned
/// (see the [module documentation](self)).
///
/// # Examples
///
/// Keep a program attached after the process exits, then reopen and remove it from
/// another one (needs root and bpffs at `/sys/fs/bpf`):
///
/// ```no_run
/// use corebpf::{Link, Loader};
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
/// let mut link = obj.program("handle_execve").expect("hello's program").attach()?;
/// link.pin("/sys/fs/bpf/hello_link")?;
/// drop(link); // still attached: the pin holds it
///
/// // Later, perhaps in another process:
/// let mut link = Link::from_pin("/sys/fs/bpf/hello_link")?;
/// println!("{:?}", link.info()?.kind); // PerfEvent(Tracepoint { name: "sys_enter_execve", .. })
/// link.unpin()?; // dropping `link` now detaches the program
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping a Link detaches the program"]
pub struct Link {
    inner: Inner,
    description: String,
    /// The pin this handle made or was opened from.
    pinned: Option<PathBuf>,
}

impl Link {
    /// A link owning a BPF link fd.
    pub(crate) fn from_link_fd(fd: OwnedFd, description: String) -> Link {
        Link {
            inner: Inner::Fd(fd),
            description,
            pinned: None,
        }
    }

    /// A link owning a perf event (and the perf link, when the kernel made one).
    pub(crate) fn from_perf_event(
        perf: OwnedFd,
        link: Option<OwnedFd>,
        cleanup: Option<TracefsProbe>,
        description: String,
    ) -> Link {
        Link {
            inner: Inner::PerfEvent {
                link,
                perf,
                _probe: cleanup,
            },
            description,
            pinned: None,
        }
    }

    /// A link owning another kind of attachment, detached when `attachment` drops.
    pub(crate) fn from_attachment(attachment: Box<dyn Attachment>, description: String) -> Link {
        Link {
            inner: Inner::Other(attachment),
            description,
            pinned: None,
        }
    }

    /// Opens the link pinned at `path` (libbpf's `bpf_link__open`). Dropping the
    /// returned `Link` leaves the program attached as long as the pin exists; after
    /// [`Link::unpin`] it detaches the program once no other descriptor holds the link.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Link, LinkError> {
        let path = path.as_ref();
        let what = format!("pinned at {}", path.display());
        let fd = sys::bpf::obj_get(path, 0).map_err(|source| LinkError::Open {
            what: what.clone(),
            source,
        })?;
        let mut link = Link::reopened(fd, what)?;
        link.pinned = Some(path.to_path_buf());
        Ok(link)
    }

    /// Opens the link with kernel id `id` (`BPF_LINK_GET_FD_BY_ID`). The returned `Link`
    /// is one more holder of a link someone else made: dropping it detaches the program
    /// only if it was the last one (the creator dropped theirs and nothing pins it).
    pub fn from_id(id: u32) -> Result<Link, LinkError> {
        let what = format!("with id {id}");
        let fd = sys::bpf::link_get_fd_by_id(id).map_err(|source| LinkError::Open {
            what: what.clone(),
            source,
        })?;
        Link::reopened(fd, what)
    }

    /// A link from a descriptor of another holder's link, described by its info; an fd
    /// that is not a link (a pinned map or program) is refused.
    fn reopened(fd: OwnedFd, what: String) -> Result<Link, LinkError> {
        // Maps and programs answer BPF_OBJ_GET_INFO_BY_FD too, with another layout: tell
        // them apart by the kind of file the descriptor is.
        if !is_link_fd(fd.as_fd()) {
            return Err(LinkError::Open {
                what,
                source: SysError::new("BPF_OBJ_GET", libc::EINVAL),
            });
        }
        let info = sys::bpf::link_info_decoded(fd.as_fd()).map_err(|source| LinkError::Open {
            what: what.clone(),
            source,
        })?;
        let description = format!("{} link {} ({what})", info.type_name(), info.id);
        Ok(Link::from_link_fd(fd, description))
    }

    /// What this link attaches, in words (`tracepoint syscalls/sys_enter_execve`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The BPF link fd, when the attachment is a BPF link.
    pub fn link_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            Inner::Fd(fd) => Some(fd.as_fd()),
            Inner::PerfEvent { link, .. } => link.as_ref().map(|l| l.as_fd()),
            Inner::Other(_) => None,
        }
    }

    /// The perf event fd, for perf-event based attachments.
    pub fn perf_event_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            Inner::PerfEvent { perf, .. } => Some(perf.as_fd()),
            Inner::Fd(_) | Inner::Other(_) => None,
        }
    }

    fn require_link(&self, operation: &'static str) -> Result<BorrowedFd<'_>, LinkError> {
        self.link_fd().ok_or_else(|| LinkError::NoBpfLink {
            operation,
            description: self.description.clone(),
        })
    }

    /// Kernel id of the BPF link, when there is one.
    pub fn id(&self) -> Result<Option<u32>, LinkError> {
        match self.link_fd() {
            Some(fd) => Ok(Some(sys::bpf::link_info(fd)?.id)),
            None => Ok(None),
        }
    }

    /// The kernel's view of the link (`BPF_OBJ_GET_INFO_BY_FD`): its id, its program's
    /// id, and what it attaches to, decoded per link type ([`LinkKind`]), with the
    /// names and arrays the kernel returns through buffers (tracepoint and iterator
    /// names, probed files, kprobe_multi addresses). What a kernel does not report
    /// reads as zero or empty (perf event links say what they attach to from 6.6).
    pub fn info(&self) -> Result<LinkInfo, LinkError> {
        let fd = self.require_link("link info")?;
        Ok(sys::bpf::link_info_decoded(fd)?)
    }

    /// Pins the link at `path` on a bpf filesystem: the program stays attached after
    /// this handle drops and the process exits, until the pin is removed.
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), LinkError> {
        let path = path.as_ref();
        let fd = self.link_fd().ok_or(LinkError::NotPinnable)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !sys::is_bpffs(dir) {
            return Err(LinkError::NotBpffs {
                path: path.to_path_buf(),
            });
        }
        sys::bpf::obj_pin(fd, path)?;
        self.pinned = Some(path.to_path_buf());
        Ok(())
    }

    /// The pin this handle made ([`Link::pin`]) or was opened from ([`Link::from_pin`]).
    pub fn pin_path(&self) -> Option<&Path> {
        self.pinned.as_deref()
    }

    /// Removes the pin this handle made or was opened from (nothing to do without
    /// one): dropping the link then detaches the program, unless another descriptor
    /// or pin still holds it.
    pub fn unpin(&mut self) -> Result<(), LinkError> {
        if let Some(path) = self.pinned.take() {
            if let Err(source) = std::fs::remove_file(&path) {
                let err = LinkError::Unpin {
                    path: path.clone(),
                    source,
                };
                self.pinned = Some(path);
                return Err(err);
            }
        }
        Ok(())
    }

    /// Makes the link run `program` instead of its current program (`BPF_LINK_UPDATE`),
    /// without a moment where neither runs. With `expected_old`, only if the link
    /// still runs that program (`BPF_F_REPLACE`; otherwise the kernel answers `EPERM`).
    /// The new program must have the old one's type and attach type; cgroup, iterator,
    /// netns, XDP, tcx and netkit links allow it, tracing, raw tracepoint, perf event
    /// and kprobe_multi links do not.
    pub fn update_program(
        &self,
        program: &Program,
        expected_old: Option<&Program>,
    ) -> Result<(), LinkError> {
        let fd = self.require_link("BPF_LINK_UPDATE")?;
        sys::bpf::link_update(fd, program.fd(), expected_old.map(Program::fd)).map_err(|source| {
            LinkError::Update {
                description: self.description.clone(),
                program: program.name().to_string(),
                source,
            }
        })
    }

    /// For an iterator link, a new pass of the iterator (`BPF_ITER_CREATE`): reading the
    /// returned file runs the program over the iterator's objects and yields what it
    /// printed (`bpf_seq_printf`, `bpf_seq_write`), to the end of the walk.
    pub fn open_iter(&self) -> Result<std::fs::File, LinkError> {
        let fd = self.require_link("BPF_ITER_CREATE")?;
        Ok(std::fs::File::from(sys::bpf::iter_create(fd)?))
    }

    /// Detaches now, even a pinned link, where the link type allows it
    /// (`BPF_LINK_DETACH`, 5.9+; libbpf's `bpf_link__detach`): the link and its pin
    /// stay, defunct. A link type without `BPF_LINK_DETACH` (tracing, raw tracepoint,
    /// perf event, …) detaches when its last holder goes: an unpinned one here, as
    /// dropping it does; a pinned one is refused ([`LinkError::PinnedUndetachable`]).
    /// Attachments without a BPF link detach as they drop.
    pub fn detach(self) -> Result<(), LinkError> {
        let Some(fd) = self.link_fd() else {
            return Ok(());
        };
        match sys::bpf::link_detach(fd) {
            Ok(()) => Ok(()),
            Err(e) if [libc::EOPNOTSUPP, libc::EINVAL, 524].contains(&e.errno()) => {
                match &self.pinned {
                    Some(path) => Err(LinkError::PinnedUndetachable {
                        description: self.description.clone(),
                        path: path.clone(),
                    }),
                    // The last holder: closing it (as `self` drops) detaches.
                    None => Ok(()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether `fd` is a BPF link: its file is `anon_inode:bpf_link` (a link as made) or
/// `anon_inode:bpf-link` (one reopened from a pin or an id), not a map's or a
/// program's. Without `/proc` to ask, it is taken to be one.
fn is_link_fd(fd: BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    match std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
        Ok(target) => ["anon_inode:bpf_link", "anon_inode:bpf-link"]
            .iter()
            .any(|name| target.as_os_str() == *name),
        Err(e) => {
            log::debug!(
                "can't tell what fd {} is ({e}); taking it for a link",
                fd.as_raw_fd()
            );
            true
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Inner::PerfEvent {
            link: None, perf, ..
        } = &self.inner
        {
            // Without a perf link the program stays attached as long as the event is
            // enabled; disable before the fd closes so no event races the close.
            if let Err(e) = sys::perf::perf_event_ioc_disable(perf.as_fd()) {
                log::debug!(
                    "disabling perf event of {}: {}",
                    self.description,
                    crate::util::Chain(&e)
                );
            }
        }
        match &self.pinned {
            Some(path) => log::debug!(
                "closing {} (still attached while pinned at {})",
                self.description,
                path.display()
            ),
            None => log::debug!("detaching {}", self.description),
        }
        // The fds close as fields drop: link first, then the perf event, then any tracefs
        // probe; another attachment detaches in its own Drop.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};
    use std::io;

    fn devnull_link() -> Link {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        Link::from_link_fd(fd, "test link".into())
    }

    #[test]
    fn operations_needing_a_bpf_link_say_so() {
        let perf: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let link = Link::from_perf_event(perf, None, None, "tracepoint a/b".into());
        let e = link.info().unwrap_err();
        assert!(
            matches!(&e, LinkError::NoBpfLink { operation: "link info", description } if description == "tracepoint a/b"),
            "{e:?}"
        );
        assert!(matches!(
            link.open_iter().unwrap_err(),
            LinkError::NoBpfLink { .. }
        ));
        // Disabling the fake perf event fails quietly; detaching it is dropping it.
        link.detach().unwrap();
    }

    #[test]
    fn pin_refuses_a_path_off_bpffs_without_a_syscall() {
        let mut link = devnull_link();
        let mut calls = 0;
        let e = with_syscall_override(
            |_| {
                calls += 1;
                None
            },
            || link.pin("/tmp/not-bpffs/link"),
        )
        .unwrap_err();
        assert!(matches!(e, LinkError::NotBpffs { .. }), "{e:?}");
        assert_eq!(calls, 0);
        assert!(link.pin_path().is_none());
    }

    #[test]
    fn from_pin_and_from_id_name_what_they_opened() {
        let e = with_syscall_override(
            |c| match c {
                Syscall::Bpf {
                    cmd: BpfCmd::ObjGet | BpfCmd::LinkGetFdById,
                    ..
                } => Some(Err(io::Error::from_raw_os_error(libc::ENOENT))),
                _ => None,
            },
            || (Link::from_pin("/sys/fs/bpf/nothing"), Link::from_id(123)),
        );
        let (a, b) = (e.0.unwrap_err(), e.1.unwrap_err());
        assert_eq!(
            a.to_string(),
            "opening the link pinned at /sys/fs/bpf/nothing"
        );
        assert_eq!(b.to_string(), "opening the link with id 123");
        let LinkError::Open { source, .. } = a else {
            panic!("{a:?}")
        };
        assert_eq!(source.errno(), libc::ENOENT);
    }

    #[test]
    fn detach_of_an_undetachable_link_type() {
        let refuse = |c: &Syscall<'_>| match c {
            Syscall::Bpf {
                cmd: BpfCmd::LinkDetach,
                ..
            } => Some(Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))),
            _ => None,
        };
        // Unpinned: closing it is the detach.
        with_syscall_override(refuse, || devnull_link().detach()).unwrap();
        // Pinned: it would stay attached, so say so.
        let mut link = devnull_link();
        link.pinned = Some(PathBuf::from("/sys/fs/bpf/x"));
        let e = with_syscall_override(refuse, || link.detach()).unwrap_err();
        assert!(matches!(e, LinkError::PinnedUndetachable { .. }), "{e}");
    }

    #[test]
    fn unpin_without_a_pin_does_nothing() {
        let mut link = devnull_link();
        link.unpin().unwrap();
        link.pinned = Some(PathBuf::from("/nonexistent/corebpf/pin"));
        let e = link.unpin().unwrap_err();
        assert!(matches!(e, LinkError::Unpin { .. }));
        assert!(link.pin_path().is_some(), "a failed unpin keeps the path");
    }
}
