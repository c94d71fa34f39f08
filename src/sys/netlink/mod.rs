//! rtnetlink: the requests that attach XDP and TC programs the classic way.
//!
//! XDP programs attach to an interface with `RTM_SETLINK` + `IFLA_XDP` (before BPF
//! links, 5.9, the only way; still the way to replace a program atomically); TC
//! programs with a `clsact` qdisc (`RTM_NEWQDISC`) and a `cls_bpf` filter in
//! direct-action mode (`RTM_NEWTFILTER`, `RTM_DELTFILTER`, `RTM_GETTFILTER`) before tcx
//! links (6.6). That is all this module speaks; it is hand-written (see below) in
//! three parts:
//!
//! - `wire`: the message format, pure: building requests, taking replies apart with
//!   every length checked (hostile or truncated replies are errors, never panics);
//! - `socket`: a `NETLINK_ROUTE` socket and the request/reply exchange (sequence
//!   numbers, multi-part dumps, acknowledgements, extended-ack error messages), over a
//!   [`Transport`] so tests can replay recorded kernel replies;
//! - `route`: the requests themselves, and the decoding of what comes back.
//!
//! The kernel explains most refusals in an extended ack (`NETLINK_EXT_ACK`, 4.12):
//! "Peer MTU is too large to set XDP", "Exclusivity flag on, cannot modify", …; a
//! [`NetlinkError::Refused`] carries that text, so a user sees why and not only
//! `EINVAL`.
//!
//! Why hand-written (measured here, release profile as the workspace's, same other
//! dependencies): netlink-packet-route 0.34 + netlink-packet-core 0.9 + netlink-sys
//! 0.9 cover every message here, but a program sending these requests through them
//! took 32.6 s of CPU to build from clean against 8.4 s without them (they bring two
//! dozen kernel families' types, zerocopy and its proc macro, bytes), and its
//! stripped binary grew by 565 KB (431 KB of text); this module adds 0.7 s and 36 KB
//! (24 KB of text). And netlink-packet-core does not parse extended acks (its
//! `ErrorMessage` is the errno and the raw bytes after it), which is the one thing a
//! user needs from a refusal here. The wire format is small and stable; the decoder
//! is tested on replies recorded from real exchanges and on truncated and lying ones.

pub mod route;
pub mod socket;
pub mod wire;

#[cfg(test)]
mod tests;

pub use route::*;
pub use socket::NetlinkSocket;

use std::io;

use super::caps::{self, Capability, Check};

/// A failed netlink request: the kernel refused it (with its explanation when it gave
/// one), the socket failed, or the reply did not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    /// The kernel answered the request with an error. An `EPERM` while this process
    /// lacks `CAP_NET_ADMIN` (which rtnetlink checks before anything else) says so.
    #[error(
        "{request} refused by the kernel{}{}",
        explanation(.message, .bad_attr_offset),
        needs_net_admin(.source)
    )]
    Refused {
        /// The request, as the kernel names it (`"RTM_SETLINK"`) with what it set
        /// (`"RTM_SETLINK IFLA_XDP"`).
        request: &'static str,
        /// The extended ack's message (`NLMSGERR_ATTR_MSG`), if the kernel gave one.
        message: Option<String>,
        /// The offset in the request of the attribute the kernel blamed, if it said.
        bad_attr_offset: Option<u32>,
        /// The errno the kernel answered.
        #[source]
        source: io::Error,
    },
    /// A socket call failed (`socket`, `bind`, `sendto`, `recv`, `setsockopt`).
    #[error("netlink {call} failed")]
    Socket {
        /// The call.
        call: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The kernel's reply could not be taken apart.
    #[error("reply to {request} is malformed: {reason}")]
    Malformed {
        /// The request.
        request: &'static str,
        /// What is wrong, and where.
        reason: String,
    },
    /// A request could not be encoded (an attribute too long for netlink's 16-bit
    /// lengths, such as a name of 64 KiB).
    #[error("{request}: attribute {attr} is too long for a netlink attribute")]
    TooLong {
        /// The request.
        request: &'static str,
        /// The attribute type.
        attr: u16,
    },
}

impl NetlinkError {
    /// The errno of a refusal or a failed socket call; 0 for a malformed reply.
    pub fn errno(&self) -> i32 {
        match self {
            NetlinkError::Refused { source, .. } | NetlinkError::Socket { source, .. } => {
                source.raw_os_error().unwrap_or(0)
            }
            NetlinkError::Malformed { .. } | NetlinkError::TooLong { .. } => 0,
        }
    }

    /// The kernel's explanation of a refusal, if it gave one.
    pub fn kernel_message(&self) -> Option<&str> {
        match self {
            NetlinkError::Refused { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The capability a refusal needed and this process lacks: `CAP_NET_ADMIN` when
    /// the kernel answered `EPERM` and this process does not hold it (judged when
    /// asked: a process that dropped it since is judged as it is now). `None`
    /// otherwise: an `EPERM` to a process that holds it is a policy's.
    pub fn missing_capability(&self) -> Option<Capability> {
        match self {
            NetlinkError::Refused { source, .. } => missing_net_admin(source),
            _ => None,
        }
    }

    fn malformed(request: &'static str, e: wire::DecodeError) -> Self {
        NetlinkError::Malformed {
            request,
            reason: e.to_string(),
        }
    }
}

/// `: "message"` (and the blamed attribute's offset) for a refusal's `Display`.
fn explanation(message: &Option<String>, offset: &Option<u32>) -> String {
    match (message, offset) {
        (Some(m), Some(o)) => format!(": \"{m}\" (attribute at offset {o})"),
        (Some(m), None) => format!(": \"{m}\""),
        (None, Some(o)) => format!(" (attribute at offset {o})"),
        (None, None) => String::new(),
    }
}

/// `CAP_NET_ADMIN` when `source` is `EPERM` and this process lacks it.
fn missing_net_admin(source: &io::Error) -> Option<Capability> {
    if source.raw_os_error() != Some(libc::EPERM) {
        return None;
    }
    caps::lacking(&[Capability::NetAdmin], Check::Namespaced)
}

/// ` (needs CAP_NET_ADMIN, which this process lacks)` for a refusal's `Display`.
fn needs_net_admin(source: &io::Error) -> String {
    match missing_net_admin(source) {
        Some(cap) => format!(" (needs {cap}, which this process lacks)"),
        None => String::new(),
    }
}

/// The result of a netlink request.
pub type NetlinkResult<T> = Result<T, NetlinkError>;
