//! Attachments of loaded programs. A [`Link`] owns whatever keeps a program attached;
//! dropping it detaches the program, unless the link was pinned to bpffs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys::{self, SysError};

/// Errors from operating on a link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Pinning needs a BPF link; attachments made through `PERF_EVENT_IOC_SET_BPF`,
    /// netlink or `BPF_PROG_ATTACH` have none.
    #[error("this attachment has no BPF link to pin; it lives as long as the process")]
    NotPinnable,
    /// A syscall failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// The pin path is not on a bpf filesystem.
    #[error("{path} is not on a bpf filesystem (mount one with `mount -t bpf bpf /sys/fs/bpf`)")]
    NotBpffs {
        /// The path.
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

/// An attached program. Dropping it detaches the program (unless pinned).
#[derive(Debug)]
#[must_use = "dropping a Link detaches the program"]
pub struct Link {
    inner: Inner,
    description: String,
}

impl Link {
    /// A link owning a BPF link fd.
    pub(crate) fn from_link_fd(fd: OwnedFd, description: String) -> Link {
        Link {
            inner: Inner::Fd(fd),
            description,
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
        }
    }

    /// A link owning another kind of attachment, detached when `attachment` drops.
    #[allow(dead_code)] // the first users are the attach paths being added
    pub(crate) fn from_attachment(attachment: Box<dyn Attachment>, description: String) -> Link {
        Link {
            inner: Inner::Other(attachment),
            description,
        }
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

    /// Kernel id of the BPF link, when there is one.
    pub fn id(&self) -> Result<Option<u32>, LinkError> {
        match self.link_fd() {
            Some(fd) => Ok(Some(sys::bpf::link_info(fd)?.id)),
            None => Ok(None),
        }
    }

    /// Pins the link at `path` on a bpf filesystem: the program stays attached after
    /// this process exits, until the pin is removed.
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<(), LinkError> {
        let fd = self.link_fd().ok_or(LinkError::NotPinnable)?;
        crate::map::check_bpffs(path.as_ref()).map_err(|_| LinkError::NotBpffs {
            path: path.as_ref().to_path_buf(),
        })?;
        sys::bpf::obj_pin(fd, path.as_ref())?;
        Ok(())
    }

    /// Detaches now (the same as dropping the link).
    pub fn detach(self) {
        drop(self)
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
        log::debug!("detaching {}", self.description);
        // The fds close as fields drop: link first, then the perf event, then any tracefs
        // probe; another attachment detaches in its own Drop.
    }
}
