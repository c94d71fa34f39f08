//! Registration with tokio's reactor (the `tokio` feature): the one `unsafe` call it
//! takes, `AsyncFd::register_with_interest`, whose contract is I/O safety.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

/// A value registered with the reactor through a descriptor of its own: a duplicate of
/// the value's readiness descriptor (an epoll set), owned here, so that it stays open
/// and the same for as long as the registration lasts, whatever the value does.
#[derive(Debug)]
pub struct WithFd<T> {
    fd: OwnedFd,
    /// The registered value.
    pub inner: T,
}

impl<T> AsRawFd for WithFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Registers `inner` for the readability of its descriptor (duplicated) with the
/// current runtime's reactor; must be called within a runtime whose I/O driver is
/// enabled.
pub fn register_readable<T: AsFd>(inner: T) -> io::Result<AsyncFd<WithFd<T>>> {
    let fd = inner.as_fd().try_clone_to_owned()?;
    let value = WithFd { fd, inner };
    // SAFETY: the descriptor registered is `value.fd`, an `OwnedFd` that the AsyncFd
    // owns with `value`: it is open, it is closed only when `value` is dropped, which
    // the AsyncFd does after deregistering (or hands `value` back deregistered, from
    // `into_inner`), and `as_raw_fd` always returns that same descriptor.
    unsafe { AsyncFd::register_with_interest(value, Interest::READABLE) }.map_err(io::Error::from)
}
