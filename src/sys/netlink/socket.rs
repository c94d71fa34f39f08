//! A `NETLINK_ROUTE` socket and the request/reply exchange over it.
//!
//! The socket calls go through nix (safe) and one `setsockopt` here; they are not
//! behind the `syscall` chokepoint. What tests need to inject is the kernel's *reply*,
//! so [`exchange`] runs over a [`Transport`]: the socket for real, a replay of recorded
//! datagrams in tests.
//!
//! A socket belongs to the network namespace of the thread that opened it, and its
//! requests act there whatever thread sends them later: an attachment keeps the socket
//! it attached with, so its detach reaches the same namespace.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

use super::wire::{self, msg_type, MessageBuilder};
use super::{NetlinkError, NetlinkResult};

/// Sends a request and receives the kernel's datagrams.
pub trait Transport {
    /// Sends one message.
    fn send(&mut self, message: &[u8]) -> io::Result<()>;
    /// Receives one datagram (one or more messages).
    fn recv(&mut self) -> io::Result<Vec<u8>>;
    /// The sequence number for the next request.
    fn next_seq(&mut self) -> u32;
}

/// Sends `request` (named `name` in errors) with the transport's next sequence number
/// and collects the reply messages up to the acknowledgement, or up to `NLMSG_DONE`
/// for a dump (see [`exchange`]).
pub fn request(
    transport: &mut impl Transport,
    name: &'static str,
    request: &MessageBuilder,
) -> NetlinkResult<Vec<Reply>> {
    let seq = transport.next_seq();
    exchange(transport, name, request, seq)
}

/// A bound `NETLINK_ROUTE` socket asking for extended acks.
#[derive(Debug)]
pub struct NetlinkSocket {
    fd: OwnedFd,
    /// The next request's sequence number.
    seq: u32,
}

/// `SOL_NETLINK` options.
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

impl NetlinkSocket {
    /// Opens and binds a socket in the calling thread's network namespace, with
    /// extended acks (the kernel's error messages) and capped acks (errors don't echo
    /// the request back) where the kernel has them.
    pub fn open() -> NetlinkResult<NetlinkSocket> {
        let sock_err = |call| {
            move |e: Errno| NetlinkError::Socket {
                call,
                source: io::Error::from(e),
            }
        };
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(sock_err("socket"))?;
        for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            // Kernels before 4.12 / 4.3 lack these options: replies then carry no
            // message, or echo the request, which the decoder reads past.
            if let Err(e) = set_int_option(fd.as_fd(), option, 1) {
                log::debug!("netlink socket option {option}: {e}");
            }
        }
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(sock_err("bind"))?;
        // Sequence numbers only need to differ between this socket's requests; starting
        // from the descriptor number keeps two sockets' requests apart in a capture.
        let seq = (fd.as_raw_fd() as u32).wrapping_shl(16) | 1;
        Ok(NetlinkSocket { fd, seq })
    }
}

impl AsFd for NetlinkSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `setsockopt(fd, SOL_NETLINK, option, &value, 4)`.
fn set_int_option(fd: BorrowedFd<'_>, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size; the kernel
    // only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_NETLINK,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Transport for NetlinkSocket {
    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        let kernel = NetlinkAddr::new(0, 0);
        let sent = sendto(self.fd.as_raw_fd(), message, &kernel, MsgFlags::empty())?;
        if sent != message.len() {
            return Err(io::Error::other(format!(
                "sent {sent} of {} bytes",
                message.len()
            )));
        }
        Ok(())
    }

    fn recv(&mut self) -> io::Result<Vec<u8>> {
        let fd = self.fd.as_raw_fd();
        // The datagram's real size first (MSG_TRUNC reports it even past the buffer),
        // then a buffer that holds all of it: a dump's datagrams can exceed a page.
        let size = loop {
            match recv(fd, &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC) {
                Err(Errno::EINTR) => continue,
                other => break other?,
            }
        };
        let mut buf = vec![0u8; size];
        let got = loop {
            match recv(fd, &mut buf, MsgFlags::empty()) {
                Err(Errno::EINTR) => continue,
                other => break other?,
            }
        };
        buf.truncate(got);
        Ok(buf)
    }

    fn next_seq(&mut self) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        seq
    }
}

/// One reply message other than the acknowledgement: its type and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// `nlmsg_type` (`RTM_NEWLINK`, `RTM_NEWTFILTER`, …).
    pub ty: u16,
    /// The payload after the netlink header.
    pub payload: Vec<u8>,
}

/// Sends `request` with sequence number `seq` over `transport` and reads the reply:
/// every message of that sequence up to the acknowledgement (an `NLMSG_ERROR` with
/// error 0) or `NLMSG_DONE`, which end it; an error ends it with
/// [`NetlinkError::Refused`]. Messages of other sequences (stale replies) are skipped.
pub fn exchange(
    transport: &mut impl Transport,
    name: &'static str,
    request: &MessageBuilder,
    seq: u32,
) -> NetlinkResult<Vec<Reply>> {
    let bytes = request.finish(seq).map_err(|attr| NetlinkError::TooLong {
        request: name,
        attr,
    })?;
    transport
        .send(&bytes)
        .map_err(|source| NetlinkError::Socket {
            call: "sendto",
            source,
        })?;
    let mut replies = Vec::new();
    loop {
        let datagram = transport.recv().map_err(|source| NetlinkError::Socket {
            call: "recv",
            source,
        })?;
        if datagram.is_empty() {
            return Err(NetlinkError::Malformed {
                request: name,
                reason: "empty datagram before the acknowledgement".into(),
            });
        }
        if let Some(end) = take_messages(name, seq, &datagram, &mut replies)? {
            return end.map(|()| replies);
        }
    }
}

/// Adds the messages of one datagram to `replies`; `Some` once the reply is complete
/// (`Ok`) or refused (`Err`).
fn take_messages(
    name: &'static str,
    seq: u32,
    datagram: &[u8],
    replies: &mut Vec<Reply>,
) -> NetlinkResult<Option<NetlinkResult<()>>> {
    for msg in wire::messages(datagram) {
        let msg = msg.map_err(|e| NetlinkError::malformed(name, e))?;
        if msg.seq != seq {
            log::debug!(
                "{name}: skipping a message of sequence {} (ours: {seq})",
                msg.seq
            );
            continue;
        }
        let status = match msg.ty {
            msg_type::NOOP => continue,
            msg_type::ERROR => wire::parse_error(&msg),
            msg_type::DONE => wire::parse_done(&msg),
            msg_type::OVERRUN => {
                return Err(NetlinkError::Malformed {
                    request: name,
                    reason: "the kernel reported an overrun (data lost)".into(),
                })
            }
            ty => {
                replies.push(Reply {
                    ty,
                    payload: msg.payload.to_vec(),
                });
                continue;
            }
        };
        let status = status.map_err(|e| NetlinkError::malformed(name, e))?;
        if status.error != 0 {
            return Ok(Some(Err(NetlinkError::Refused {
                request: name,
                message: status.message,
                bad_attr_offset: status.bad_attr_offset,
                source: io::Error::from_raw_os_error(status.error.saturating_abs()),
            })));
        }
        if let Some(warning) = status.message {
            log::warn!("{name}: the kernel says: {warning}");
        }
        return Ok(Some(Ok(())));
    }
    Ok(None)
}
