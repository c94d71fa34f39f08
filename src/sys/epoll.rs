//! A small owned epoll instance, for waiting on ring buffers and perf buffers.

use super::{owned_fd, syscall, SysError, SysResult, Syscall};
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// One readiness event: the token given to [`Epoll::add`] and the ready mask.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct Event(libc::epoll_event);

impl Event {
    /// An empty event, to fill an output buffer with.
    pub const fn empty() -> Self {
        Event(libc::epoll_event { events: 0, u64: 0 })
    }

    /// The token the descriptor was registered with.
    pub fn token(&self) -> u64 {
        self.0.u64
    }

    /// The ready mask (`EPOLLIN`, `EPOLLERR`, …).
    pub fn events(&self) -> u32 {
        self.0.events
    }

    /// True if the descriptor is readable.
    pub fn is_readable(&self) -> bool {
        self.events() & libc::EPOLLIN as u32 != 0
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token())
            .field("events", &format_args!("{:#x}", self.events()))
            .finish()
    }
}

/// An epoll instance (`epoll_create1(EPOLL_CLOEXEC)`), closed on drop.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// Creates an epoll instance.
    pub fn new() -> SysResult<Self> {
        // SAFETY: no pointers.
        let ret = unsafe { syscall(Syscall::EpollCreate) }
            .map_err(|e| SysError::from_io("epoll_create1", e))?;
        Ok(Epoll {
            fd: owned_fd("epoll_create1", ret)?,
        })
    }

    fn ctl(
        &self,
        op: libc::c_int,
        fd: BorrowedFd<'_>,
        event: Option<&mut libc::epoll_event>,
    ) -> SysResult<()> {
        let call = Syscall::EpollCtl {
            epfd: self.fd.as_fd(),
            op,
            fd,
            event,
        };
        // SAFETY: `event` is None or a live `epoll_event`.
        unsafe { syscall(call) }
            .map(|_| ())
            .map_err(|e| SysError::from_io("epoll_ctl", e))
    }

    /// Watches `fd` for readability (`EPOLLIN`), reporting `token` when it is ready.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> SysResult<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        self.ctl(libc::EPOLL_CTL_ADD, fd, Some(&mut ev))
    }

    /// Stops watching `fd`.
    pub fn remove(&self, fd: BorrowedFd<'_>) -> SysResult<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, None)
    }

    /// Waits up to `timeout_ms` milliseconds (-1 = forever, 0 = poll) for ready
    /// descriptors, filling `events`; returns how many were filled. An interrupted wait
    /// (`EINTR`, e.g. a signal handler ran) returns `Ok(0)` so the caller can check for
    /// shutdown.
    pub fn wait(&self, events: &mut [Event], timeout_ms: i32) -> SysResult<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let max = events.len();
        let call = Syscall::EpollWait {
            epfd: self.fd.as_fd(),
            events,
            timeout_ms,
        };
        // SAFETY: `events` is a live buffer of `Event`s, transparent over
        // `epoll_event`.
        match unsafe { syscall(call) } {
            Ok(n) => Ok(usize::try_from(n).unwrap_or(0).min(max)),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
            Err(e) => Err(SysError::from_io("epoll_wait", e)),
        }
    }
}

impl Epoll {
    /// The epoll descriptor, to nest it in another event loop.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for Epoll {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::with_syscall_override;
    use std::io::{self, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn wait_reports_readable_fd_with_token() {
        let ep = Epoll::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        ep.add(b.as_fd(), 77).unwrap();
        let mut events = [Event::empty(); 4];
        assert_eq!(ep.wait(&mut events, 0).unwrap(), 0);
        a.write_all(b"x").unwrap();
        assert_eq!(ep.wait(&mut events, 1000).unwrap(), 1);
        assert_eq!(events[0].token(), 77);
        assert!(events[0].is_readable());
        ep.remove(b.as_fd()).unwrap();
        assert_eq!(ep.wait(&mut events, 0).unwrap(), 0);
        assert_eq!(ep.remove(b.as_fd()).unwrap_err().errno(), libc::ENOENT);
        assert_eq!(ep.wait(&mut [], 0).unwrap(), 0);
    }

    #[test]
    fn eintr_is_zero_and_counts_are_clamped() {
        let ep = Epoll::new().unwrap();
        let mut events = [Event::empty(); 2];
        let r = with_syscall_override(
            |_| Some(Err(io::Error::from_raw_os_error(libc::EINTR))),
            || ep.wait(&mut events, -1),
        );
        assert_eq!(r.unwrap(), 0);
        let r = with_syscall_override(|_| Some(Ok(1000)), || ep.wait(&mut events, -1));
        assert_eq!(r.unwrap(), 2);
        let e = with_syscall_override(
            |_| Some(Err(io::Error::from_raw_os_error(libc::EBADF))),
            || ep.wait(&mut events, -1),
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("epoll_wait", libc::EBADF));
        let e = with_syscall_override(
            |_| Some(Err(io::Error::from_raw_os_error(libc::EMFILE))),
            Epoll::new,
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("epoll_create1", libc::EMFILE));
    }
}
