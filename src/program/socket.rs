//! Programs attached to one socket with a socket option: socket filters
//! (`SO_ATTACH_BPF`) and reuseport selectors (`SO_ATTACH_REUSEPORT_EBPF`).
//!
//! The [`Link`] these return owns a duplicate of the socket's descriptor, so that it can
//! detach (`SO_DETACH_BPF`, `SO_DETACH_REUSEPORT_BPF`) from the right socket when it
//! drops, whatever became of the caller's descriptor. The consequence to know: the
//! socket stays open until the link is dropped too. libbpf leaves attaching and
//! detaching to the caller's own `setsockopt`; aya returns a link id to detach with;
//! here, as for every other kind, dropping the link detaches.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::prog_attach::{attach_error, describe_fd};
use super::{Program, ProgramError};
use crate::link::{Attachment, Link};
use crate::object::ProgramKind;
use crate::sys::{self, SysError, SysResult};

/// A program attached to a socket by a socket option; the option that detaches it is
/// set when this drops.
#[derive(Debug)]
struct SocketAttachment {
    socket: OwnedFd,
    detach: fn(BorrowedFd<'_>) -> SysResult<()>,
    description: String,
}

impl Attachment for SocketAttachment {}

impl Drop for SocketAttachment {
    fn drop(&mut self) {
        if let Err(e) = (self.detach)(self.socket.as_fd()) {
            log::warn!("detaching {}: {}", self.description, crate::util::Chain(&e));
        }
    }
}

/// Attaches `prog` to `socket` with `attach`; the link detaches it with `detach`.
fn attach_socket(
    prog: &Program,
    socket: BorrowedFd<'_>,
    what: &str,
    attach: fn(BorrowedFd<'_>, BorrowedFd<'_>) -> SysResult<()>,
    detach: fn(BorrowedFd<'_>) -> SysResult<()>,
) -> Result<Link, ProgramError> {
    let description = format!("{what} on {}", describe_fd(socket));
    let err = attach_error(prog, &description);
    let kept = socket
        .try_clone_to_owned()
        .map_err(|e| err(SysError::from_io("dup of the socket", e)))?;
    attach(socket, prog.fd()).map_err(&err)?;
    let attachment = SocketAttachment {
        socket: kept,
        detach,
        description: description.clone(),
    };
    Ok(Link::from_attachment(Box::new(attachment), description))
}

program_view!(
    /// A socket filter (`SEC("socket")`): runs for each packet a socket receives; its
    /// return value is how many bytes of the packet to keep (0 drops it).
    SocketFilter,
    ProgramKind::SocketFilter,
    "socket filter"
);

impl SocketFilter<'_> {
    /// Makes the program `socket`'s filter (`SO_ATTACH_BPF`), replacing the filter it
    /// had. Dropping the link removes the socket's filter (`SO_DETACH_BPF`: whichever
    /// filter it has by then). The link keeps the socket open (see the module docs).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::program::SocketFilter;
    /// use corebpf::Loader;
    /// use std::net::UdpSocket;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/sock_filter.bpf.o")?;
    /// let filter = SocketFilter::try_from(obj.program("keep_short").unwrap())?;
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// let link = filter.attach(&socket)?;
    /// // ... socket.recv() sees what the filter keeps ...
    /// drop(link); // the socket has no filter again
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach(&self, socket: impl AsFd) -> Result<Link, ProgramError> {
        attach_socket(
            self.prog,
            socket.as_fd(),
            "socket filter",
            sys::socket::attach_socket_filter,
            sys::socket::detach_socket_filter,
        )
    }
}

program_view!(
    /// A reuseport selector (`SEC("sk_reuseport")`, `SEC("sk_reuseport/migrate")`): picks,
    /// for each incoming packet or connection, the socket of a `SO_REUSEPORT` group that
    /// gets it (typically with `bpf_sk_select_reuseport` and a `reuseport_sockarray`).
    SkReuseport,
    ProgramKind::SkReuseport { .. },
    "sk_reuseport"
);

impl SkReuseport<'_> {
    /// Attaches to the reuseport group of `socket` (`SO_ATTACH_REUSEPORT_EBPF`; any
    /// socket of the group, with `SO_REUSEPORT` set, bound or not). Dropping the link
    /// removes the group's program (`SO_DETACH_REUSEPORT_BPF`, 5.3+; older kernels
    /// keep it until the group's sockets close). The link keeps the socket open.
    pub fn attach(&self, socket: impl AsFd) -> Result<Link, ProgramError> {
        attach_socket(
            self.prog,
            socket.as_fd(),
            "reuseport program",
            sys::socket::attach_reuseport,
            sys::socket::detach_reuseport,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::with_syscall_override;
    use crate::sys::Syscall;

    /// The option that attaches, then on drop the one that detaches, on the same
    /// socket (through the link's own duplicate).
    #[test]
    fn drop_sets_the_detach_option() {
        for (section, attach, detach) in [("socket", 50, 27), ("sk_reuseport", 52, 68)] {
            let prog = Program::fake(section);
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut names = Vec::new();
            let mut record = |c: &Syscall<'_>| {
                if let Syscall::SetSockopt { name, .. } = c {
                    names.push(*name);
                }
                Some(Ok(0))
            };
            with_syscall_override(&mut record, || {
                let link = match section {
                    "socket" => SocketFilter::try_from(&prog).unwrap().attach(&sock),
                    _ => SkReuseport::try_from(&prog).unwrap().attach(&sock),
                }
                .unwrap();
                assert!(link.link_fd().is_none());
                assert!(
                    link.description().contains("socket:["),
                    "{}",
                    link.description()
                );
            });
            assert_eq!(names, [attach, detach], "{section}");
        }
    }

    #[test]
    fn a_refused_attach_leaves_nothing() {
        let prog = Program::fake("socket");
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut calls = 0;
        let e = with_syscall_override(
            |_| {
                calls += 1;
                Some(Err(std::io::Error::from_raw_os_error(libc::EINVAL)))
            },
            || SocketFilter::try_from(&prog).unwrap().attach(&sock),
        )
        .unwrap_err();
        assert_eq!(calls, 1, "no detach for what never attached");
        assert!(e
            .to_string()
            .starts_with("attaching program 'p' to socket filter on socket:["));
    }
}
