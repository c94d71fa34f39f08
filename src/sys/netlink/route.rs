//! The rtnetlink requests for XDP (`RTM_SETLINK`/`RTM_GETLINK` with `IFLA_XDP`) and TC
//! (`clsact` qdisc, `cls_bpf` filters), and the decoding of their replies.
//!
//! Each request has a pure `*_request` builder (tested byte for byte against requests
//! the kernel accepted) and a function that sends it over a [`Transport`] (a
//! [`NetlinkSocket`](super::NetlinkSocket), or a replay in tests).

use std::os::fd::{AsRawFd, BorrowedFd};

use super::socket::{request, Reply, Transport};
use super::wire::{self, flags, DecodeError, MessageBuilder};
use super::{NetlinkError, NetlinkResult};

/// rtnetlink message types (`RTM_*`).
pub mod rtm {
    /// A link (the reply to `RTM_GETLINK`).
    pub const NEWLINK: u16 = 16;
    /// Ask for a link.
    pub const GETLINK: u16 = 18;
    /// Change a link (XDP).
    pub const SETLINK: u16 = 19;
    /// Add a qdisc.
    pub const NEWQDISC: u16 = 36;
    /// Add a filter (also the echo of one).
    pub const NEWTFILTER: u16 = 44;
    /// Delete a filter.
    pub const DELTFILTER: u16 = 45;
    /// Ask for filters.
    pub const GETTFILTER: u16 = 46;
}

/// `XDP_FLAGS_*` (`include/uapi/linux/if_link.h`).
pub mod xdp_flags {
    /// Fail if a program is attached already.
    pub const UPDATE_IF_NOEXIST: u32 = 1 << 0;
    /// Generic XDP (in the stack, on `sk_buff`s): any device.
    pub const SKB_MODE: u32 = 1 << 1;
    /// Native XDP (in the driver).
    pub const DRV_MODE: u32 = 1 << 2;
    /// Offloaded to the NIC.
    pub const HW_MODE: u32 = 1 << 3;
    /// Replace (or detach) only if the attached program is `IFLA_XDP_EXPECTED_FD` (5.7).
    pub const REPLACE: u32 = 1 << 4;
}

/// `IFLA_XDP` and its nested attributes.
mod ifla {
    pub const XDP: u16 = 43;
    pub const XDP_FD: u16 = 1;
    pub const XDP_ATTACHED: u16 = 2;
    pub const XDP_FLAGS: u16 = 3;
    pub const XDP_PROG_ID: u16 = 4;
    pub const XDP_DRV_PROG_ID: u16 = 5;
    pub const XDP_SKB_PROG_ID: u16 = 6;
    pub const XDP_HW_PROG_ID: u16 = 7;
    pub const XDP_EXPECTED_FD: u16 = 8;
}

/// `TCA_*` attributes of qdiscs and filters, and `TCA_BPF_*` of `cls_bpf`.
mod tca {
    pub const KIND: u16 = 1;
    pub const OPTIONS: u16 = 2;
    pub const BPF_FD: u16 = 6;
    pub const BPF_NAME: u16 = 7;
    pub const BPF_FLAGS: u16 = 8;
    pub const BPF_ID: u16 = 11;
    /// `TCA_BPF_FLAG_ACT_DIRECT`: the program's return value is the TC action.
    pub const BPF_FLAG_ACT_DIRECT: u32 = 1 << 0;
}

/// `TC_H_CLSACT` (= `TC_H_INGRESS`): the parent of a `clsact` qdisc.
pub const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
/// The handle of the `clsact` qdisc, `ffff:`.
pub const CLSACT_HANDLE: u32 = 0xFFFF_0000;
/// The `clsact` ingress hook, `ffff:fff2`: a filter's parent.
pub const CLSACT_INGRESS: u32 = 0xFFFF_FFF2;
/// The `clsact` egress hook, `ffff:fff3`.
pub const CLSACT_EGRESS: u32 = 0xFFFF_FFF3;
/// `ETH_P_ALL`: a filter that sees every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// `struct ifinfomsg` for interface `ifindex`, everything else 0 (`AF_UNSPEC`).
fn ifinfomsg(ifindex: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m
}

/// `struct tcmsg` (`AF_UNSPEC`).
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m[8..12].copy_from_slice(&handle.to_ne_bytes());
    m[12..16].copy_from_slice(&parent.to_ne_bytes());
    m[16..20].copy_from_slice(&info.to_ne_bytes());
    m
}

/// `tcm_info` of a filter: priority in the upper half, protocol (network order) below.
fn filter_info(priority: u16) -> u32 {
    (u32::from(priority) << 16) | u32::from(ETH_P_ALL.to_be())
}

/// `RTM_SETLINK` with `IFLA_XDP`: attach program `fd` (or detach, with -1) to
/// `ifindex`. `flags` are `XDP_FLAGS_*`; with [`xdp_flags::REPLACE`], `expected_fd` is
/// the program that must be attached for the change to happen.
pub fn xdp_set_request(
    ifindex: u32,
    fd: i32,
    flags: u32,
    expected_fd: Option<i32>,
) -> MessageBuilder {
    let mut b = MessageBuilder::new(rtm::SETLINK, flags::REQUEST | flags::ACK);
    b.family_header(&ifinfomsg(ifindex))
        .begin_nested(ifla::XDP)
        .attr_i32(ifla::XDP_FD, fd);
    if flags != 0 {
        b.attr_u32(ifla::XDP_FLAGS, flags);
    }
    if let Some(expected) = expected_fd {
        b.attr_i32(ifla::XDP_EXPECTED_FD, expected);
    }
    b.end_nested();
    b
}

/// The request name used in errors for XDP changes.
const XDP_SETLINK: &str = "RTM_SETLINK (IFLA_XDP)";

/// Attaches `prog` to `ifindex` with `XDP_FLAGS_*` `flags`.
pub fn xdp_attach(
    sock: &mut impl Transport,
    ifindex: u32,
    prog: BorrowedFd<'_>,
    flags: u32,
) -> NetlinkResult<()> {
    let message = xdp_set_request(ifindex, prog.as_raw_fd(), flags, None);
    request(sock, XDP_SETLINK, &message).map(drop)
}

/// Detaches the XDP program of mode `mode_flags` from `ifindex`; with `expected`, only
/// if that program is still the one attached (`XDP_FLAGS_REPLACE`, 5.7).
pub fn xdp_detach(
    sock: &mut impl Transport,
    ifindex: u32,
    mode_flags: u32,
    expected: Option<BorrowedFd<'_>>,
) -> NetlinkResult<()> {
    let (flags, expected) = match expected {
        Some(fd) => (mode_flags | xdp_flags::REPLACE, Some(fd.as_raw_fd())),
        None => (mode_flags, None),
    };
    let message = xdp_set_request(ifindex, -1, flags, expected);
    request(sock, XDP_SETLINK, &message).map(drop)
}

/// `XDP_ATTACHED_*`: how a program is attached.
pub mod xdp_attached {
    /// No program.
    pub const NONE: u8 = 0;
    /// Native (driver).
    pub const DRV: u8 = 1;
    /// Generic (skb).
    pub const SKB: u8 = 2;
    /// Offloaded.
    pub const HW: u8 = 3;
    /// Several modes at once: see the per-mode ids.
    pub const MULTI: u8 = 4;

    /// The mode in words: `"native"`, `"generic"`, `"offload"`, `"several modes"`, or
    /// `None` when nothing (or something unknown) is attached.
    pub fn name(attached: u8) -> Option<&'static str> {
        match attached {
            DRV => Some("native"),
            SKB => Some("generic"),
            HW => Some("offload"),
            MULTI => Some("several modes"),
            NONE | 5.. => None,
        }
    }
}

/// What `RTM_GETLINK` reports about XDP on an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpState {
    /// `XDP_ATTACHED_*`.
    pub attached: u8,
    /// The program's id when one mode is attached.
    pub prog_id: Option<u32>,
    /// The native program's id.
    pub drv_prog_id: Option<u32>,
    /// The generic program's id.
    pub skb_prog_id: Option<u32>,
    /// The offloaded program's id.
    pub hw_prog_id: Option<u32>,
}

impl XdpState {
    /// The ids of every attached program, whatever its mode.
    #[cfg(test)]
    pub fn prog_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = [
            self.prog_id,
            self.drv_prog_id,
            self.skb_prog_id,
            self.hw_prog_id,
        ]
        .into_iter()
        .flatten()
        .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// `RTM_GETLINK` for `ifindex`.
pub fn link_get_request(ifindex: u32) -> MessageBuilder {
    let mut b = MessageBuilder::new(rtm::GETLINK, flags::REQUEST | flags::ACK);
    b.family_header(&ifinfomsg(ifindex));
    b
}

/// The XDP state in an `RTM_NEWLINK` payload (the default state when it has no
/// `IFLA_XDP`).
pub fn parse_xdp_state(payload: &[u8]) -> Result<XdpState, DecodeError> {
    let attrs = payload.get(16..).ok_or_else(|| {
        DecodeError::new("ifinfomsg", format!("{} bytes, expected 16", payload.len()))
    })?;
    let mut state = XdpState::default();
    let Some(xdp) = wire::find_attr(attrs, ifla::XDP)? else {
        return Ok(state);
    };
    for attr in wire::attrs(xdp) {
        let attr = attr?;
        let id = || wire::u32_value("IFLA_XDP prog id", attr.value);
        match attr.ty {
            ifla::XDP_ATTACHED => state.attached = wire::u8_value("IFLA_XDP_ATTACHED", attr.value)?,
            ifla::XDP_PROG_ID => state.prog_id = Some(id()?),
            ifla::XDP_DRV_PROG_ID => state.drv_prog_id = Some(id()?),
            ifla::XDP_SKB_PROG_ID => state.skb_prog_id = Some(id()?),
            ifla::XDP_HW_PROG_ID => state.hw_prog_id = Some(id()?),
            _ => {}
        }
    }
    Ok(state)
}

/// What XDP programs `ifindex` has.
pub fn xdp_query(sock: &mut impl Transport, ifindex: u32) -> NetlinkResult<XdpState> {
    const NAME: &str = "RTM_GETLINK";
    let replies = request(sock, NAME, &link_get_request(ifindex))?;
    let link = only(NAME, &replies, rtm::NEWLINK)?;
    parse_xdp_state(&link.payload).map_err(|e| NetlinkError::malformed(NAME, e))
}

/// The one reply of type `ty`, or a malformed-reply error.
fn only<'a>(request: &'static str, replies: &'a [Reply], ty: u16) -> NetlinkResult<&'a Reply> {
    let mut of_type = replies.iter().filter(|r| r.ty == ty);
    match (of_type.next(), of_type.next()) {
        (Some(r), None) => Ok(r),
        (first, _) => Err(NetlinkError::Malformed {
            request,
            reason: format!(
                "expected one message of type {ty}, got {} ({} messages in all)",
                if first.is_some() { "several" } else { "none" },
                replies.len()
            ),
        }),
    }
}

/// `RTM_NEWQDISC` adding a `clsact` qdisc to `ifindex` (exclusively: an existing one is
/// `EEXIST`).
pub fn clsact_add_request(ifindex: u32) -> MessageBuilder {
    let mut b = MessageBuilder::new(
        rtm::NEWQDISC,
        flags::REQUEST | flags::ACK | flags::CREATE | flags::EXCL,
    );
    b.family_header(&tcmsg(ifindex, CLSACT_HANDLE, TC_H_CLSACT, 0))
        .attr_str(tca::KIND, "clsact");
    b
}

/// Adds a `clsact` qdisc to `ifindex`; `Ok(false)` when it has one already.
pub fn clsact_add(sock: &mut impl Transport, ifindex: u32) -> NetlinkResult<bool> {
    match request(sock, "RTM_NEWQDISC (clsact)", &clsact_add_request(ifindex)) {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == libc::EEXIST => Ok(false),
        Err(e) => Err(e),
    }
}

/// A `cls_bpf` filter as the kernel reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcFilter {
    /// The interface.
    pub ifindex: u32,
    /// The filter's handle.
    pub handle: u32,
    /// The hook it is on ([`CLSACT_INGRESS`], [`CLSACT_EGRESS`]).
    pub parent: u32,
    /// Its priority (`tcm_info` upper half).
    pub priority: u16,
    /// The classifier (`"bpf"`).
    pub kind: String,
    /// The program's id (`TCA_BPF_ID`).
    pub prog_id: Option<u32>,
    /// The name given at attach (`TCA_BPF_NAME`).
    pub name: Option<String>,
    /// Direct-action mode (`TCA_BPF_FLAG_ACT_DIRECT`).
    pub direct_action: bool,
}

/// `RTM_NEWTFILTER` adding a direct-action `cls_bpf` filter running program `prog_fd`
/// (named `name`) on `parent` of `ifindex`; priority and handle 0 let the kernel pick.
/// `NLM_F_ECHO` asks for the created filter back (its handle and priority).
pub fn filter_add_request(
    ifindex: u32,
    parent: u32,
    priority: u16,
    handle: u32,
    prog_fd: i32,
    name: &str,
) -> MessageBuilder {
    let mut b = MessageBuilder::new(
        rtm::NEWTFILTER,
        flags::REQUEST | flags::ACK | flags::CREATE | flags::EXCL | flags::ECHO,
    );
    b.family_header(&tcmsg(ifindex, handle, parent, filter_info(priority)))
        .attr_str(tca::KIND, "bpf")
        .begin_nested(tca::OPTIONS)
        .attr_i32(tca::BPF_FD, prog_fd)
        .attr_str(tca::BPF_NAME, name)
        .attr_u32(tca::BPF_FLAGS, tca::BPF_FLAG_ACT_DIRECT)
        .end_nested();
    b
}

/// Adds a direct-action `cls_bpf` filter for `prog` (see [`filter_add_request`]) and
/// returns it as the kernel created it.
pub fn filter_add(
    sock: &mut impl Transport,
    ifindex: u32,
    parent: u32,
    priority: u16,
    handle: u32,
    prog: BorrowedFd<'_>,
    name: &str,
) -> NetlinkResult<TcFilter> {
    const NAME: &str = "RTM_NEWTFILTER (cls_bpf)";
    let message = filter_add_request(ifindex, parent, priority, handle, prog.as_raw_fd(), name);
    let replies = request(sock, NAME, &message)?;
    let echo = only(NAME, &replies, rtm::NEWTFILTER)?;
    parse_filter(&echo.payload).map_err(|e| NetlinkError::malformed(NAME, e))
}

/// `RTM_DELTFILTER` removing the filter `handle` of `priority` on `parent` of `ifindex`.
pub fn filter_del_request(ifindex: u32, parent: u32, priority: u16, handle: u32) -> MessageBuilder {
    let mut b = MessageBuilder::new(rtm::DELTFILTER, flags::REQUEST | flags::ACK);
    b.family_header(&tcmsg(ifindex, handle, parent, filter_info(priority)))
        .attr_str(tca::KIND, "bpf");
    b
}

/// Removes a filter (see [`filter_del_request`]).
pub fn filter_del(
    sock: &mut impl Transport,
    ifindex: u32,
    parent: u32,
    priority: u16,
    handle: u32,
) -> NetlinkResult<()> {
    let message = filter_del_request(ifindex, parent, priority, handle);
    request(sock, "RTM_DELTFILTER (cls_bpf)", &message).map(drop)
}

/// `RTM_GETTFILTER` asking for the filter `handle` of `priority` on `parent` of
/// `ifindex`.
pub fn filter_get_request(ifindex: u32, parent: u32, priority: u16, handle: u32) -> MessageBuilder {
    let mut b = MessageBuilder::new(rtm::GETTFILTER, flags::REQUEST | flags::ACK);
    b.family_header(&tcmsg(ifindex, handle, parent, filter_info(priority)))
        .attr_str(tca::KIND, "bpf");
    b
}

/// The filter `handle` of `priority` on `parent` of `ifindex`; `None` when there is
/// none: `ENOENT`, or `EINVAL` once the last filter of the hook is gone with its
/// chain (the kernel then says "Cannot find specified filter chain").
pub fn filter_get(
    sock: &mut impl Transport,
    ifindex: u32,
    parent: u32,
    priority: u16,
    handle: u32,
) -> NetlinkResult<Option<TcFilter>> {
    const NAME: &str = "RTM_GETTFILTER";
    let message = filter_get_request(ifindex, parent, priority, handle);
    let replies = match request(sock, NAME, &message) {
        Ok(r) => r,
        Err(e) if [libc::ENOENT, libc::EINVAL].contains(&e.errno()) => return Ok(None),
        Err(e) => return Err(e),
    };
    let reply = only(NAME, &replies, rtm::NEWTFILTER)?;
    parse_filter(&reply.payload)
        .map(Some)
        .map_err(|e| NetlinkError::malformed(NAME, e))
}

/// `RTM_GETTFILTER` dumping the filters on `parent` of `ifindex`.
pub fn filter_dump_request(ifindex: u32, parent: u32) -> MessageBuilder {
    let mut b = MessageBuilder::new(rtm::GETTFILTER, flags::REQUEST | flags::DUMP);
    b.family_header(&tcmsg(ifindex, 0, parent, 0));
    b
}

/// The filters on `parent` of `ifindex` (none when it has no `clsact` qdisc).
pub fn filter_list(
    sock: &mut impl Transport,
    ifindex: u32,
    parent: u32,
) -> NetlinkResult<Vec<TcFilter>> {
    const NAME: &str = "RTM_GETTFILTER";
    let replies = request(sock, NAME, &filter_dump_request(ifindex, parent))?;
    parse_filters(&replies).map_err(|e| NetlinkError::malformed(NAME, e))
}

/// The filters among `replies` (`RTM_NEWTFILTER` messages), skipping the per-priority
/// entries that carry no filter (handle 0).
pub fn parse_filters(replies: &[Reply]) -> Result<Vec<TcFilter>, DecodeError> {
    let mut out = Vec::new();
    for r in replies.iter().filter(|r| r.ty == rtm::NEWTFILTER) {
        let f = parse_filter(&r.payload)?;
        if f.handle != 0 {
            out.push(f);
        }
    }
    Ok(out)
}

/// A filter from an `RTM_NEWTFILTER` payload: `tcmsg`, `TCA_KIND`, `TCA_OPTIONS`.
pub fn parse_filter(payload: &[u8]) -> Result<TcFilter, DecodeError> {
    const WHAT: &str = "tcmsg";
    if payload.len() < 20 {
        return Err(DecodeError::new(
            WHAT,
            format!("{} bytes, expected 20", payload.len()),
        ));
    }
    let word = |off: usize| wire::u32_value(WHAT, &payload[off..off + 4]);
    let info = word(16)?;
    let mut filter = TcFilter {
        ifindex: word(4)?,
        handle: word(8)?,
        parent: word(12)?,
        priority: (info >> 16) as u16,
        ..TcFilter::default()
    };
    let mut options = None;
    for attr in wire::attrs(&payload[20..]) {
        let attr = attr?;
        match attr.ty {
            tca::KIND => filter.kind = wire::str_value(attr.value),
            tca::OPTIONS => options = Some(attr.value),
            _ => {}
        }
    }
    // Options are the classifier's own attributes: only cls_bpf's are read.
    if let (Some(options), "bpf") = (options, filter.kind.as_str()) {
        parse_bpf_options(options, &mut filter)?;
    }
    Ok(filter)
}

fn parse_bpf_options(options: &[u8], filter: &mut TcFilter) -> Result<(), DecodeError> {
    for attr in wire::attrs(options) {
        let attr = attr?;
        match attr.ty {
            tca::BPF_ID => filter.prog_id = Some(wire::u32_value("TCA_BPF_ID", attr.value)?),
            tca::BPF_NAME => filter.name = Some(wire::str_value(attr.value)),
            tca::BPF_FLAGS => {
                let f = wire::u32_value("TCA_BPF_FLAGS", attr.value)?;
                filter.direct_action = f & tca::BPF_FLAG_ACT_DIRECT != 0;
            }
            _ => {}
        }
    }
    Ok(())
}
