//! Crate-private parsers exposed to the fuzz targets (`fuzz/`), behind the
//! `fuzz-internals` feature that only the fuzz crate enables: not part of the API, no
//! stability promised, hidden from the documentation.
//!
//! Only what a target needs to drive the real code on untrusted bytes is here: the
//! netlink reply decoding (`sys::netlink`), which the library otherwise runs only on a
//! kernel's answers.

/// The netlink wire format and the rtnetlink replies, as `sys::netlink` decodes them.
///
/// [`Transport`] lets a target answer the real requests ([`xdp_query`], [`filter_list`],
/// …) with its own datagrams, so the whole exchange (sequence matching, acknowledgements,
/// `NLMSG_DONE`, refusals with their extended ack) runs as it does on a socket.
pub mod netlink {
    pub use crate::sys::netlink::route::{
        clsact_add, filter_add, filter_del, filter_get, filter_list, parse_filter, parse_filters,
        parse_xdp_state, rtm, xdp_attach, xdp_query, TcFilter, XdpState,
    };
    pub use crate::sys::netlink::socket::{Reply, Transport};
    pub use crate::sys::netlink::wire::{
        align4, attrs, flags, messages, msg_type, parse_done, parse_error, DecodeError, ErrorReply,
        Message, MessageBuilder, NLA_HDRLEN, NLMSG_HDRLEN,
    };
    pub use crate::sys::netlink::{NetlinkError, NetlinkResult};
}
