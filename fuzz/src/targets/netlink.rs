//! Netlink replies: the kernel's datagrams split into messages, `NLMSG_ERROR` (with its
//! extended ack) and `NLMSG_DONE` decoded, `RTM_NEWLINK`'s `IFLA_XDP` nest and
//! `RTM_NEWTFILTER`'s `cls_bpf` filter read; then the same datagrams answering one of the
//! library's real requests through a replaying transport, so the whole exchange runs
//! (sequence matching, multi-part dumps, acknowledgements, refusals).
//!
//! Input: one byte choosing the request (its value modulo 7: `RTM_GETLINK` for the XDP
//! state, a filter dump, a filter get, a filter add, a `clsact` add, a filter delete, an
//! XDP attach), then the datagrams, each a little-endian `u16` length and that many
//! bytes (the last one takes what is left when it says more). The request's sequence
//! number is the first message's.
//!
//! Properties: messages lie inside their datagram, in order, their header fields read
//! from where the message is; an error or done reply's errno is the one its payload
//! starts with, its extended ack only there when the flags say so; a filter's fields are
//! its `tcmsg`'s, its strings hold no NUL and no more characters than the reply has
//! bytes; the filters of a dump are the handle-bearing `RTM_NEWTFILTER` messages; a
//! refusal carries a non-zero errno.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use corebpf::fuzz_internals::netlink::{
    self as nl, flags, msg_type, rtm, ErrorReply, Message, MessageBuilder, NetlinkError, Reply,
    TcFilter, Transport, NLMSG_HDRLEN,
};

use crate::{Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str =
    "request byte + datagrams -> messages, errors, XDP state, filters, exchange";

/// The requests, by the input's first byte.
const REQUESTS: [&str; 7] = [
    "xdp_query",
    "filter_list",
    "filter_get",
    "filter_add",
    "clsact_add",
    "filter_del",
    "xdp_attach",
];

/// `IFLA_XDP` and the attributes of its nest.
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_IFNAME: u16 = 3;
/// `TCA_*` and `TCA_BPF_*`.
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_CHAIN: u16 = 11;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
const TCA_BPF_TAG: u16 = 10;
/// `NLMSGERR_ATTR_MSG`, `NLMSGERR_ATTR_OFFS`.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;

/// One input (see the module documentation).
pub fn run(data: &[u8]) -> Outcome {
    let Some((&which, rest)) = data.split_first() else {
        return Err("empty input".into());
    };
    let datagrams = split_datagrams(rest);
    for d in &datagrams {
        check_datagram(d);
    }
    let seq = datagrams
        .first()
        .and_then(|d| d.get(8..12))
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let mut t = Replay {
        seq,
        datagrams: datagrams.into_iter().collect(),
    };
    let result = match which % REQUESTS.len() as u8 {
        0 => nl::xdp_query(&mut t, 7).map(drop),
        1 => nl::filter_list(&mut t, 7, 0xffff_fff2).map(|filters| {
            for f in &filters {
                assert_ne!(f.handle, 0, "a dump's filter without a handle: {f:?}");
                check_filter_strings(f, rest.len());
            }
        }),
        2 => nl::filter_get(&mut t, 7, 0xffff_fff2, 1, 1).map(|f| {
            if let Some(f) = f {
                check_filter_strings(&f, rest.len());
            }
        }),
        3 => {
            let fd = io::stdin();
            nl::filter_add(&mut t, 7, 0xffff_fff2, 0, 0, fd.as_fd(), "fuzz")
                .map(|f| check_filter_strings(&f, rest.len()))
        }
        4 => nl::clsact_add(&mut t, 7).map(drop),
        5 => nl::filter_del(&mut t, 7, 0xffff_fff2, 1, 1),
        _ => {
            let fd = io::stdin();
            nl::xdp_attach(&mut t, 7, fd.as_fd(), 0)
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            if let NetlinkError::Refused { .. } = e {
                assert_ne!(e.errno(), 0, "a refusal without an errno: {e}");
                if let Some(m) = e.kernel_message() {
                    assert!(!m.contains('\0'), "the kernel's message holds a NUL");
                }
            }
            Err(crate::chain(&e))
        }
    }
}

/// The datagrams of an input (see the module documentation).
fn split_datagrams(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let (d, after) = body.split_at(len.min(body.len()));
        out.push(d);
        rest = after;
    }
    out
}

/// A transport answering with the input's datagrams, then an empty one (end of file).
struct Replay<'a> {
    seq: u32,
    datagrams: VecDeque<&'a [u8]>,
}

impl Transport for Replay<'_> {
    fn send(&mut self, _message: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn recv(&mut self) -> io::Result<Vec<u8>> {
        Ok(self
            .datagrams
            .pop_front()
            .map(<[u8]>::to_vec)
            .unwrap_or_default())
    }

    fn next_seq(&mut self) -> u32 {
        self.seq
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

/// Every message of `datagram`, and every decoder on each (see the module documentation).
fn check_datagram(datagram: &[u8]) {
    let start = datagram.as_ptr() as usize;
    let mut next = 0;
    let mut replies = Vec::new();
    for msg in nl::messages(datagram) {
        let Ok(msg) = msg else { break };
        // Where the message is: its payload is a part of the datagram.
        let payload_at = (msg.payload.as_ptr() as usize).wrapping_sub(start);
        assert!(
            payload_at >= NLMSG_HDRLEN && payload_at + msg.payload.len() <= datagram.len(),
            "a payload of {} bytes at {payload_at} in a datagram of {}",
            msg.payload.len(),
            datagram.len()
        );
        let at = payload_at - NLMSG_HDRLEN;
        assert_eq!(at, next, "a message at {at}, expected at {next}");
        assert_eq!(
            u32_at(datagram, at) as usize,
            NLMSG_HDRLEN + msg.payload.len(),
            "nlmsg_len at {at}"
        );
        assert_eq!(msg.ty, u16_at(datagram, at + 4), "nlmsg_type at {at}");
        assert_eq!(msg.flags, u16_at(datagram, at + 6), "nlmsg_flags at {at}");
        assert_eq!(msg.seq, u32_at(datagram, at + 8), "nlmsg_seq at {at}");
        assert_eq!(msg.pid, u32_at(datagram, at + 12), "nlmsg_pid at {at}");
        next = nl::align4(at + NLMSG_HDRLEN + msg.payload.len());
        check_message(&msg);
        if msg.ty >= 16 {
            replies.push(Reply {
                ty: msg.ty,
                payload: msg.payload.to_vec(),
            });
        }
    }
    if let Ok(filters) = nl::parse_filters(&replies) {
        let expected: Vec<TcFilter> = (replies.iter())
            .filter(|r| r.ty == rtm::NEWTFILTER)
            .filter_map(|r| nl::parse_filter(&r.payload).ok())
            .filter(|f| f.handle != 0)
            .collect();
        assert_eq!(filters, expected, "parse_filters differs from parse_filter");
    }
}

/// Every decoder on one message, whatever its type.
fn check_message(msg: &Message<'_>) {
    let p = msg.payload;
    match nl::parse_error(msg) {
        Ok(reply) => {
            assert!(p.len() >= 4, "an error code from {} bytes", p.len());
            assert_eq!(
                reply.error,
                u32_at(p, 0) as i32,
                "the errno is not the header's"
            );
            check_ext_ack(msg, &reply);
        }
        Err(_) => assert!(
            p.len() < 4 || msg.flags & flags::ACK_TLVS != 0,
            "an error code without extended ack does not read"
        ),
    }
    match nl::parse_done(msg) {
        Ok(reply) => {
            let code = if p.len() >= 4 { u32_at(p, 0) as i32 } else { 0 };
            assert_eq!(reply.error, code, "NLMSG_DONE's errno is not the payload's");
            assert!(reply.bad_attr_offset.is_none(), "NLMSG_DONE with an offset");
            check_ext_ack(msg, &reply);
        }
        Err(_) => {
            assert!(p.len() >= 4, "NLMSG_DONE without a code is a success");
        }
    }
    if nl::parse_xdp_state(p).is_ok() {
        assert!(p.len() >= 16, "an XDP state from {} bytes", p.len());
    }
    if let Ok(f) = nl::parse_filter(p) {
        assert!(p.len() >= 20, "a filter from {} bytes", p.len());
        assert_eq!(f.ifindex, u32_at(p, 4), "tcm_ifindex");
        assert_eq!(f.handle, u32_at(p, 8), "tcm_handle");
        assert_eq!(f.parent, u32_at(p, 12), "tcm_parent");
        assert_eq!(u32::from(f.priority), u32_at(p, 16) >> 16, "priority");
        check_filter_strings(&f, p.len());
        if f.kind != "bpf" {
            assert!(
                f.prog_id.is_none() && f.name.is_none() && !f.direct_action,
                "cls_bpf options read for a '{}' filter",
                f.kind
            );
        }
    }
}

fn check_ext_ack(msg: &Message<'_>, reply: &ErrorReply) {
    if msg.flags & flags::ACK_TLVS == 0 {
        assert!(
            reply.message.is_none() && reply.bad_attr_offset.is_none(),
            "an extended ack without NLM_F_ACK_TLVS"
        );
    }
    if let Some(m) = &reply.message {
        assert!(!m.contains('\0'), "the extended ack's message holds a NUL");
        assert!(
            m.chars().count() <= msg.payload.len(),
            "a message longer than its payload"
        );
    }
}

/// A filter's strings: no NUL, no more characters than there were bytes.
fn check_filter_strings(f: &TcFilter, len: usize) {
    for s in std::iter::once(&f.kind).chain(&f.name) {
        assert!(!s.contains('\0'), "filter {f:?}: a NUL in a string");
        assert!(
            s.chars().count() <= len,
            "filter {f:?}: a string longer than the reply"
        );
    }
}

/// One reply message.
fn message(ty: u16, msg_flags: u16, seq: u32, build: impl FnOnce(&mut MessageBuilder)) -> Vec<u8> {
    let mut b = MessageBuilder::new(ty, msg_flags);
    build(&mut b);
    b.finish(seq).expect("short attributes")
}

/// An input: the request byte and the datagrams, each of the given messages.
fn input(request: u8, datagrams: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut out = vec![request];
    for d in datagrams {
        let bytes: Vec<u8> = d.concat();
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// An `NLMSG_ERROR` with `error` for a request of type `ty`, sequence `seq`; with
/// `ext` (message, offset) an extended ack, `capped` or with the request echoed.
fn error(seq: u32, error: i32, ext: Option<(&str, u32)>, capped: bool) -> Vec<u8> {
    let request = message(rtm::NEWLINK + 3, flags::REQUEST | flags::ACK, seq, |b| {
        b.family_header(&[0; 16]).attr_u32(IFLA_XDP, 1);
    });
    let mut f = 0;
    if ext.is_some() {
        f |= flags::ACK_TLVS;
    }
    if capped {
        f |= flags::CAPPED;
    }
    message(msg_type::ERROR, f, seq, |b| {
        let mut header = error.to_ne_bytes().to_vec();
        header.extend_from_slice(if capped {
            &request[..NLMSG_HDRLEN]
        } else {
            &request
        });
        b.family_header(&header);
        if let Some((text, offset)) = ext {
            b.attr_str(NLMSGERR_ATTR_MSG, text)
                .attr_u32(NLMSGERR_ATTR_OFFS, offset);
        }
    })
}

fn done(seq: u32) -> Vec<u8> {
    message(msg_type::DONE, flags::MULTI, seq, |b| {
        b.family_header(&0i32.to_ne_bytes());
    })
}

/// `RTM_NEWLINK` for interface 7 with an `IFLA_XDP` nest.
fn newlink(seq: u32, attached: u8, ids: &[(u16, u32)]) -> Vec<u8> {
    message(rtm::NEWLINK, 0, seq, |b| {
        let mut ifinfo = [0u8; 16];
        ifinfo[4..8].copy_from_slice(&7u32.to_ne_bytes());
        b.family_header(&ifinfo).attr_str(IFLA_IFNAME, "veth0");
        b.begin_nested(IFLA_XDP)
            .attr(IFLA_XDP_ATTACHED, &[attached])
            .attr_u32(IFLA_XDP_FLAGS, 0);
        for &(ty, id) in ids {
            b.attr_u32(ty, id);
        }
        b.end_nested();
    })
}

/// `RTM_NEWTFILTER` for a `cls_bpf` filter (handle 0: the per-priority entry).
fn newtfilter(seq: u32, msg_flags: u16, handle: u32, name: &str, id: u32) -> Vec<u8> {
    message(rtm::NEWTFILTER, msg_flags, seq, |b| {
        let mut tcmsg = [0u8; 20];
        tcmsg[4..8].copy_from_slice(&7u32.to_ne_bytes());
        tcmsg[8..12].copy_from_slice(&handle.to_ne_bytes());
        tcmsg[12..16].copy_from_slice(&0xffff_fff2u32.to_ne_bytes());
        tcmsg[16..20].copy_from_slice(&((1u32 << 16) | 0x0300).to_ne_bytes());
        b.family_header(&tcmsg)
            .attr_str(TCA_KIND, "bpf")
            .attr_u32(TCA_CHAIN, 0);
        if handle != 0 {
            b.begin_nested(TCA_OPTIONS)
                .attr_u32(TCA_BPF_ID, id)
                .attr_str(TCA_BPF_NAME, name)
                .attr(TCA_BPF_TAG, &[0xab; 8])
                .attr_u32(TCA_BPF_FLAGS, 1)
                .end_nested();
        }
    })
}

/// The request a recording (`src/sys/netlink/testdata/NAME.nlrec`) answered.
fn request_of(name: &str) -> Option<u8> {
    let prefixes = [
        ("link_get", 0),
        ("filter_dump", 1),
        ("filter_get", 2),
        ("filter_add", 3),
        ("clsact_add", 4),
        ("filter_del", 5),
        ("xdp_", 6),
    ];
    prefixes
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|&(_, r)| r)
}

/// The datagrams a recording received: records of a kind byte, a little-endian `u32`
/// length and the bytes; kind 2 is a received datagram.
fn recorded(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 5 {
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(bytes) = rest.get(5..5 + len) else {
            break;
        };
        if rest[0] == 2 {
            out.push(bytes.to_vec());
        }
        rest = &rest[5 + len..];
    }
    out
}

/// The replies recorded from a real kernel (`src/sys/netlink/testdata/`), and replies
/// built with the library's encoder: an ack, refusals with and without an extended ack
/// (capped and with the request echoed), an XDP state in each mode, a filter dump over
/// two datagrams, a filter echoed back, a warning with an ack, a stale refusal (of an
/// earlier sequence) skipped.
pub fn seeds(repo: &Path) -> Vec<Seed> {
    let mut out = Vec::new();
    let dir = repo.join("src/sys/netlink/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.sort();
    for path in files {
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let (Some(request), Ok(data)) = (request_of(name), std::fs::read(&path)) else {
            continue;
        };
        let datagrams = recorded(&data);
        let mut bytes = vec![request];
        for d in &datagrams {
            bytes.extend_from_slice(&(d.len() as u16).to_le_bytes());
            bytes.extend_from_slice(d);
        }
        out.push(Seed {
            name: format!("recorded-{name}"),
            data: bytes,
        });
    }
    let s = 0x6502;
    let ack = || error(s, 0, None, true);
    let built = [
        ("ack-clsact", input(4, &[vec![ack()]])),
        ("ack-filter-del", input(5, &[vec![ack()]])),
        (
            "ack-xdp-attach-warning",
            input(
                6,
                &[vec![error(s, 0, Some(("XDP program replaced", 0)), true)]],
            ),
        ),
        (
            "eexist-clsact",
            input(
                4,
                &[vec![error(
                    s,
                    -17,
                    Some(("Exclusivity flag on, cannot modify", 0)),
                    true,
                )]],
            ),
        ),
        (
            "ebusy-xdp-echoed",
            input(
                6,
                &[vec![error(
                    s,
                    -16,
                    Some(("XDP program already attached", 36)),
                    false,
                )]],
            ),
        ),
        (
            "einval-xdp-plain",
            input(6, &[vec![error(s, -22, None, false)]]),
        ),
        (
            "enoent-filter-get",
            input(
                2,
                &[vec![error(
                    s,
                    -2,
                    Some(("Filter with specified priority/protocol not found", 0)),
                    true,
                )]],
            ),
        ),
        ("xdp-none", input(0, &[vec![newlink(s, 0, &[]), ack()]])),
        (
            "xdp-native",
            input(0, &[vec![newlink(s, 1, &[(IFLA_XDP_PROG_ID, 42)]), ack()]]),
        ),
        (
            "xdp-multi",
            input(
                0,
                &[vec![
                    newlink(s, 4, &[(IFLA_XDP_DRV_PROG_ID, 42), (6, 43), (7, 44)]),
                    ack(),
                ]],
            ),
        ),
        (
            "filter-dump-two-datagrams",
            input(
                1,
                &[
                    vec![
                        newtfilter(s, flags::MULTI, 0, "", 0),
                        newtfilter(s, flags::MULTI, 1, "tc_ingress", 42),
                    ],
                    vec![newtfilter(s, flags::MULTI, 2, "classifier", 43), done(s)],
                ],
            ),
        ),
        ("filter-dump-empty", input(1, &[vec![done(s)]])),
        (
            "filter-get",
            input(2, &[vec![newtfilter(s, 0, 1, "tc_ingress", 42), ack()]]),
        ),
        (
            "filter-add-echo",
            input(3, &[vec![newtfilter(s, 0, 1, "fuzz", 42), ack()]]),
        ),
        (
            "stale-then-ack",
            input(
                5,
                &[
                    vec![
                        message(msg_type::NOOP, 0, s, |_| {}),
                        error(s - 1, -1, None, true),
                    ],
                    vec![ack()],
                ],
            ),
        ),
    ];
    out.extend(built.into_iter().map(|(name, data)| Seed {
        name: name.into(),
        data,
    }));
    out
}
