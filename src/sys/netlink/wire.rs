//! The netlink wire format: building requests and taking replies apart.
//!
//! Pure functions over byte slices, no system calls: a message is a 16-byte
//! `struct nlmsghdr` (length, type, flags, sequence, port id) followed by its payload,
//! padded to 4 bytes; a payload is a fixed family header (`ifinfomsg`, `tcmsg`, …)
//! followed by attributes, each a 4-byte `struct nlattr` (length, type) and its value,
//! padded to 4 bytes, nested attributes carrying attributes as their value.
//!
//! Every length read from a reply is checked against the bytes that are really there
//! before it is used: a truncated or lying reply is a [`DecodeError`], never a panic or
//! a read past the end.

use std::fmt;

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct nlattr)`.
pub const NLA_HDRLEN: usize = 4;
/// The largest attribute (header included): `nla_len` is a `u16`.
const NLA_MAX_LEN: usize = u16::MAX as usize;

/// `NLMSG_*` message types of the netlink core.
pub mod msg_type {
    /// Nothing: skip it.
    pub const NOOP: u16 = 1;
    /// An error or, with error 0, an acknowledgement.
    pub const ERROR: u16 = 2;
    /// The end of a multi-part (dump) reply.
    pub const DONE: u16 = 3;
    /// Data lost.
    pub const OVERRUN: u16 = 4;
}

/// `NLM_F_*` header flags.
pub mod flags {
    /// A request.
    pub const REQUEST: u16 = 0x1;
    /// Part of a multi-part reply, ended by `NLMSG_DONE`.
    pub const MULTI: u16 = 0x2;
    /// Acknowledge the request (an `NLMSG_ERROR` with error 0).
    pub const ACK: u16 = 0x4;
    /// Send the resulting object back to the requester.
    pub const ECHO: u16 = 0x8;
    /// Dump every object (`NLM_F_ROOT | NLM_F_MATCH`).
    pub const DUMP: u16 = 0x300;
    /// Fail if the object exists.
    pub const EXCL: u16 = 0x200;
    /// Create the object if it does not exist.
    pub const CREATE: u16 = 0x400;
    /// In an `NLMSG_ERROR`: the request's payload is not echoed back.
    pub const CAPPED: u16 = 0x100;
    /// In an `NLMSG_ERROR` or `NLMSG_DONE`: extended-ack attributes follow.
    pub const ACK_TLVS: u16 = 0x200;
}

/// `NLA_F_NESTED`: the attribute's value is attributes.
pub const NLA_F_NESTED: u16 = 0x8000;
/// The type bits of `nla_type` (without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `NLMSGERR_ATTR_*`: the extended-ack attributes after an `NLMSG_ERROR`.
mod ext_ack {
    /// The kernel's message, a NUL-terminated string.
    pub const MSG: u16 = 1;
    /// Offset of the offending attribute in the request, a `u32`.
    pub const OFFS: u16 = 2;
}

/// `NLMSG_ALIGN`/`NLA_ALIGN`: rounds up to 4 bytes.
pub const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Why a reply could not be taken apart: what was being read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What was being read (`"nlmsghdr"`, `"nlattr"`, `"tcmsg"`, …).
    pub what: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl DecodeError {
    pub(crate) fn new(what: &'static str, reason: impl Into<String>) -> Self {
        DecodeError {
            what,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {}: {}", self.what, self.reason)
    }
}

/// A request under construction: header, family header, attributes.
///
/// Lengths are patched in as nests close and when the message is finished; an
/// attribute too long for its `u16` length poisons the builder, and [`finish`]
/// reports it (requests carry short names and integers, so it is a caller's bug).
///
/// [`finish`]: MessageBuilder::finish
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    /// Offsets of the open nests' headers.
    open: Vec<usize>,
    /// The first attribute that did not fit, if any.
    overflow: Option<u16>,
}

impl MessageBuilder {
    /// Starts a message of `msg_type` with header flags `flags`; its sequence number is
    /// set by [`finish`](Self::finish).
    pub fn new(msg_type: u16, flags: u16) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, patched by finish
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq, set by finish
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it in
        MessageBuilder {
            buf,
            open: Vec::new(),
            overflow: None,
        }
    }

    /// Appends the family header (`ifinfomsg`, `tcmsg`), padded to 4 bytes.
    pub fn family_header(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len());
        self.buf.resize(padded, 0);
    }

    /// Appends attribute `ty` with value `value`.
    pub fn attr(&mut self, ty: u16, value: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + value.len();
        let Ok(len16) = u16::try_from(len) else {
            self.overflow.get_or_insert(ty);
            return self;
        };
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    /// Appends a `u32` attribute.
    pub fn attr_u32(&mut self, ty: u16, value: u32) -> &mut Self {
        self.attr(ty, &value.to_ne_bytes())
    }

    /// Appends an `s32` attribute.
    pub fn attr_i32(&mut self, ty: u16, value: i32) -> &mut Self {
        self.attr(ty, &value.to_ne_bytes())
    }

    /// Appends a NUL-terminated string attribute (`NLA_STRING`/`NLA_NUL_STRING`).
    pub fn attr_str(&mut self, ty: u16, value: &str) -> &mut Self {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        self.attr(ty, &bytes)
    }

    /// Opens nested attribute `ty` (`NLA_F_NESTED` is set); close it with
    /// [`end_nested`](Self::end_nested).
    pub fn begin_nested(&mut self, ty: u16) -> &mut Self {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// Closes the innermost open nest, writing its length.
    pub fn end_nested(&mut self) -> &mut Self {
        if let Some(start) = self.open.pop() {
            let len = self.buf.len() - start;
            match u16::try_from(len) {
                Ok(len) => self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes()),
                Err(_) => {
                    let ty = u16::from_ne_bytes([self.buf[start + 2], self.buf[start + 3]]);
                    self.overflow.get_or_insert(ty & NLA_TYPE_MASK);
                }
            }
        }
        self
    }

    /// The finished message with sequence number `seq`, or the type of the attribute
    /// whose value was longer than a netlink attribute can be.
    pub fn finish(&self, seq: u32) -> Result<Vec<u8>, u16> {
        if let Some(ty) = self.overflow {
            return Err(ty);
        }
        let mut buf = self.buf.clone();
        // Nests left open are closed here, so a message is always well-formed.
        let mut open = self.open.clone();
        while let Some(start) = open.pop() {
            let len = u16::try_from(buf.len() - start).map_err(|_| 0u16)?;
            buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        let len = u32::try_from(buf.len()).map_err(|_| 0u16)?;
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        Ok(buf)
    }
}

/// One message of a reply, borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// The payload: `nlmsg_len` minus the header.
    pub payload: &'a [u8],
}

/// The messages of one datagram, in order; a message whose length doesn't fit the
/// datagram ends the iteration with an error.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

/// Iterator returned by [`messages`].
#[derive(Clone, Debug)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = parse_message(self.rest);
        match &result {
            Ok((_, consumed)) => self.rest = &self.rest[*consumed..],
            Err(_) => self.rest = &[],
        }
        Some(result.map(|(m, _)| m))
    }
}

/// Reads the message at the start of `buf`; returns it and how many bytes it takes
/// (its length aligned, capped at what is there: the last message may be unpadded).
fn parse_message(buf: &[u8]) -> Result<(Message<'_>, usize), DecodeError> {
    const WHAT: &str = "nlmsghdr";
    if buf.len() < NLMSG_HDRLEN {
        return Err(DecodeError::new(
            WHAT,
            format!("{} bytes left, a header takes {NLMSG_HDRLEN}", buf.len()),
        ));
    }
    let len = read_u32(buf, 0) as usize;
    if len < NLMSG_HDRLEN || len > buf.len() {
        return Err(DecodeError::new(
            WHAT,
            format!("nlmsg_len {len} with {} bytes left", buf.len()),
        ));
    }
    let message = Message {
        ty: read_u16(buf, 4),
        flags: read_u16(buf, 6),
        seq: read_u32(buf, 8),
        pid: read_u32(buf, 12),
        payload: &buf[NLMSG_HDRLEN..len],
    };
    Ok((message, align4(len).min(buf.len())))
}

/// `u16` at `off`; the caller has checked `off + 2 <= buf.len()`.
fn read_u16(buf: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([buf[off], buf[off + 1]])
}

/// `u32` at `off`; the caller has checked `off + 4 <= buf.len()`.
fn read_u32(buf: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

/// A `u32` value of exactly 4 bytes.
pub fn u32_value(what: &'static str, value: &[u8]) -> Result<u32, DecodeError> {
    let bytes: [u8; 4] = value
        .try_into()
        .map_err(|_| DecodeError::new(what, format!("{} bytes, expected 4", value.len())))?;
    Ok(u32::from_ne_bytes(bytes))
}

/// A `u8` value (at least 1 byte; the kernel pads attributes).
pub fn u8_value(what: &'static str, value: &[u8]) -> Result<u8, DecodeError> {
    value
        .first()
        .copied()
        .ok_or_else(|| DecodeError::new(what, "empty value, expected 1 byte"))
}

/// A string value: up to the first NUL (all of it if none), lossily decoded.
pub fn str_value(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

/// One attribute, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type, without the `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER` bits.
    pub ty: u16,
    /// The value (`nla_len` minus the header, unpadded).
    pub value: &'a [u8],
}

/// The attributes in `buf`, in order; one whose length doesn't fit ends the iteration
/// with an error.
pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { rest: buf }
}

/// Iterator returned by [`attrs`].
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Fewer than a header's bytes left: padding at most, as the kernel's nla_for_each
        // treats it.
        if self.rest.len() < NLA_HDRLEN {
            self.rest = &[];
            return None;
        }
        let len = read_u16(self.rest, 0) as usize;
        if len < NLA_HDRLEN || len > self.rest.len() {
            let e = DecodeError::new(
                "nlattr",
                format!("nla_len {len} with {} bytes left", self.rest.len()),
            );
            self.rest = &[];
            return Some(Err(e));
        }
        let attr = Attr {
            ty: read_u16(self.rest, 2) & NLA_TYPE_MASK,
            value: &self.rest[NLA_HDRLEN..len],
        };
        let consumed = align4(len).min(self.rest.len());
        self.rest = &self.rest[consumed..];
        Some(Ok(attr))
    }
}

/// The first attribute of type `ty` in `buf` (attributes before it must parse).
pub fn find_attr(buf: &[u8], ty: u16) -> Result<Option<&[u8]>, DecodeError> {
    for attr in attrs(buf) {
        let attr = attr?;
        if attr.ty == ty {
            return Ok(Some(attr.value));
        }
    }
    Ok(None)
}

/// An `NLMSG_ERROR` payload: the error (0 for an acknowledgement) and what the kernel
/// said about it in extended-ack attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorReply {
    /// The negated errno, or 0 for an ACK.
    pub error: i32,
    /// `NLMSGERR_ATTR_MSG`: the kernel's explanation, if it gave one.
    pub message: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: the offset in the request of the attribute it blamed.
    pub bad_attr_offset: Option<u32>,
}

/// `sizeof(struct nlmsgerr)`: the error and the request's header.
const NLMSGERR_LEN: usize = 4 + NLMSG_HDRLEN;

/// Takes an `NLMSG_ERROR` message apart: `struct nlmsgerr`, the request's payload unless
/// `NLM_F_CAPPED`, then the extended-ack attributes if `NLM_F_ACK_TLVS`.
pub fn parse_error(msg: &Message<'_>) -> Result<ErrorReply, DecodeError> {
    const WHAT: &str = "nlmsgerr";
    let p = msg.payload;
    if p.len() < 4 {
        return Err(DecodeError::new(
            WHAT,
            format!("{} bytes, the error code takes 4", p.len()),
        ));
    }
    let error = read_u32(p, 0) as i32;
    let mut reply = ErrorReply {
        error,
        ..ErrorReply::default()
    };
    if msg.flags & flags::ACK_TLVS == 0 {
        return Ok(reply);
    }
    if p.len() < NLMSGERR_LEN {
        return Err(DecodeError::new(
            WHAT,
            format!(
                "{} bytes with extended-ack attributes, the header takes {NLMSGERR_LEN}",
                p.len()
            ),
        ));
    }
    let tlv_start = if msg.flags & flags::CAPPED != 0 {
        NLMSGERR_LEN
    } else {
        // The request follows in full: its own nlmsg_len says how long it is.
        let request_len = read_u32(p, 4) as usize;
        if request_len < NLMSG_HDRLEN {
            return Err(DecodeError::new(
                WHAT,
                format!("echoed request length {request_len} is shorter than its header"),
            ));
        }
        4 + align4(request_len)
    };
    let Some(tlvs) = p.get(tlv_start..) else {
        return Err(DecodeError::new(
            WHAT,
            format!(
                "extended-ack attributes at {tlv_start} past the end ({})",
                p.len()
            ),
        ));
    };
    for attr in attrs(tlvs) {
        let attr = attr?;
        match attr.ty {
            ext_ack::MSG => reply.message = Some(str_value(attr.value)),
            ext_ack::OFFS => {
                reply.bad_attr_offset = Some(u32_value("NLMSGERR_ATTR_OFFS", attr.value)?)
            }
            _ => {}
        }
    }
    Ok(reply)
}

/// The error code of an `NLMSG_DONE` payload (0 when absent: kernels before 4.x send
/// none for an empty dump), and the extended-ack message after it.
pub fn parse_done(msg: &Message<'_>) -> Result<ErrorReply, DecodeError> {
    let p = msg.payload;
    let Some(code) = p.get(..4) else {
        return Ok(ErrorReply::default());
    };
    let mut reply = ErrorReply {
        error: read_u32(code, 0) as i32,
        ..ErrorReply::default()
    };
    if msg.flags & flags::ACK_TLVS != 0 {
        for attr in attrs(&p[4..]) {
            let attr = attr?;
            if attr.ty == ext_ack::MSG {
                reply.message = Some(str_value(attr.value));
            }
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_lays_out_header_attrs_and_nests() {
        let mut b = MessageBuilder::new(19, flags::REQUEST | flags::ACK);
        b.family_header(&[1, 2, 3]) // padded to 4
            .begin_nested(43)
            .attr_i32(1, -1)
            .attr_u32(3, 2)
            .end_nested()
            .attr_str(7, "ab");
        let m = b.finish(9).unwrap();
        // 16 header + 4 family + (4 + 8 + 8) nest + 8 string ("ab\0" padded).
        assert_eq!(m.len(), 16 + 4 + 20 + 8);
        assert_eq!(read_u32(&m, 0) as usize, m.len());
        assert_eq!(read_u16(&m, 4), 19);
        assert_eq!(read_u16(&m, 6), flags::REQUEST | flags::ACK);
        assert_eq!(read_u32(&m, 8), 9);
        assert_eq!(&m[16..20], &[1, 2, 3, 0]);
        assert_eq!(read_u16(&m, 20), 20, "nest length covers its attributes");
        assert_eq!(read_u16(&m, 22), 43 | NLA_F_NESTED);
        assert_eq!(&m[28..32], &(-1i32).to_ne_bytes());
        assert_eq!(
            read_u16(&m, 40),
            7,
            "string length counts the NUL, not the padding"
        );
        assert_eq!(&m[44..48], b"ab\0\0");

        // The decoder reads back what the builder wrote.
        let msg = messages(&m).next().unwrap().unwrap();
        assert_eq!((msg.ty, msg.seq), (19, 9));
        let top: Vec<_> = attrs(&msg.payload[4..]).map(Result::unwrap).collect();
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].ty, 43, "NLA_F_NESTED is masked off");
        let inner: Vec<_> = attrs(top[0].value).map(Result::unwrap).collect();
        assert_eq!(
            inner[1],
            Attr {
                ty: 3,
                value: &2u32.to_ne_bytes()
            }
        );
        assert_eq!(str_value(top[1].value), "ab");
    }

    #[test]
    fn builder_refuses_an_attribute_longer_than_u16() {
        let mut b = MessageBuilder::new(44, flags::REQUEST);
        b.attr(7, &vec![b'x'; NLA_MAX_LEN]);
        assert_eq!(b.finish(1), Err(7));
        let mut b = MessageBuilder::new(44, flags::REQUEST);
        b.begin_nested(2);
        for _ in 0..20 {
            b.attr(7, &[0; 4000]);
        }
        b.end_nested();
        assert_eq!(b.finish(1), Err(2));
    }

    #[test]
    fn open_nests_are_closed_by_finish() {
        let mut b = MessageBuilder::new(44, flags::REQUEST);
        b.begin_nested(2).attr_u32(6, 5);
        let m = b.finish(1).unwrap();
        assert_eq!(read_u16(&m, 16), 12);
    }

    fn header(len: u32, ty: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&7u32.to_ne_bytes());
        v
    }

    #[test]
    fn messages_split_a_datagram_and_stop_at_a_bad_length() {
        let mut d = header(20, 16, 0, 1);
        d.extend_from_slice(&[1, 2, 3, 4]);
        d.extend(header(18, 16, 0, 2)); // unaligned: 2 bytes of padding follow
        d.extend_from_slice(&[5, 6, 0, 0]);
        d.extend(header(16, msg_type::DONE, flags::MULTI, 3));
        let all: Vec<_> = messages(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].payload, &[5, 6]);
        assert_eq!(all[2].ty, msg_type::DONE);

        let mut bad = header(200, 16, 0, 1);
        bad.extend_from_slice(&[0; 8]);
        let r: Vec<_> = messages(&bad).collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
        for len in [0u32, 15] {
            assert!(messages(&header(len, 16, 0, 1)).next().unwrap().is_err());
        }
        assert!(messages(&d[..10]).next().unwrap().is_err());
    }

    #[test]
    fn attrs_reject_lengths_that_do_not_fit() {
        let mut a = Vec::new();
        a.extend_from_slice(&8u16.to_ne_bytes());
        a.extend_from_slice(&1u16.to_ne_bytes());
        a.extend_from_slice(&5u32.to_ne_bytes());
        a.extend_from_slice(&100u16.to_ne_bytes()); // claims 100 bytes
        a.extend_from_slice(&2u16.to_ne_bytes());
        let r: Vec<_> = attrs(&a).collect();
        assert_eq!(r.len(), 2);
        assert!(r[0].is_ok() && r[1].is_err());
        let mut z = Vec::new();
        z.extend_from_slice(&2u16.to_ne_bytes()); // shorter than its own header
        z.extend_from_slice(&1u16.to_ne_bytes());
        assert!(attrs(&z).next().unwrap().is_err());
        assert!(
            attrs(&[0, 0]).next().is_none(),
            "trailing padding ends the list"
        );
        assert!(u32_value("x", &[1, 2, 3]).is_err());
        assert!(u8_value("x", &[]).is_err());
    }

    fn error_message(error: i32, flags_: u16, request: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&error.to_ne_bytes());
        p.extend_from_slice(request);
        p.resize(align4(p.len()), 0);
        p.extend_from_slice(tlvs);
        let mut m = header((NLMSG_HDRLEN + p.len()) as u32, msg_type::ERROR, flags_, 1);
        m.extend(p);
        m
    }

    fn tlvs(message: &str, offset: u32) -> Vec<u8> {
        let mut b = MessageBuilder::new(0, 0);
        b.attr_str(ext_ack::MSG, message)
            .attr_u32(ext_ack::OFFS, offset);
        b.finish(0).unwrap()[NLMSG_HDRLEN..].to_vec()
    }

    #[test]
    fn error_with_extended_ack_capped_and_not() {
        let request = header(24, 19, flags::REQUEST, 1)
            .into_iter()
            .chain([9u8; 8])
            .collect::<Vec<_>>();
        let t = tlvs("Peer MTU is too large to set XDP", 36);
        for (flags_, echoed) in [
            (flags::CAPPED | flags::ACK_TLVS, &request[..16]),
            (flags::ACK_TLVS, &request[..]),
        ] {
            let m = error_message(-95, flags_, echoed, &t);
            let msg = messages(&m).next().unwrap().unwrap();
            let e = parse_error(&msg).unwrap();
            assert_eq!(e.error, -95);
            assert_eq!(
                e.message.as_deref(),
                Some("Peer MTU is too large to set XDP")
            );
            assert_eq!(e.bad_attr_offset, Some(36));
        }
        // No TLVs flag: the attributes are not looked for.
        let m = error_message(-22, 0, &request, &t);
        let e = parse_error(&messages(&m).next().unwrap().unwrap()).unwrap();
        assert_eq!((e.error, e.message), (-22, None));
        // An ACK.
        let m = error_message(0, flags::CAPPED, &request[..16], &[]);
        assert_eq!(
            parse_error(&messages(&m).next().unwrap().unwrap())
                .unwrap()
                .error,
            0
        );
    }

    #[test]
    fn error_with_lying_lengths_is_an_error_not_a_panic() {
        // The echoed request claims to be longer than what follows.
        let mut request = header(4000, 19, flags::REQUEST, 1);
        request.extend_from_slice(&[0; 4]);
        let m = error_message(-22, flags::ACK_TLVS, &request, &[]);
        assert!(parse_error(&messages(&m).next().unwrap().unwrap()).is_err());
        // Shorter than its own header.
        let m = error_message(-22, flags::ACK_TLVS, &header(3, 19, 0, 1), &[]);
        assert!(parse_error(&messages(&m).next().unwrap().unwrap()).is_err());
        // Too short for nlmsgerr.
        let m = header(18, msg_type::ERROR, flags::ACK_TLVS, 1)
            .into_iter()
            .chain([0, 0])
            .collect::<Vec<_>>();
        assert!(parse_error(&messages(&m).next().unwrap().unwrap()).is_err());
        let m = header(16, msg_type::ERROR, 0, 1);
        assert!(parse_error(&messages(&m).next().unwrap().unwrap()).is_err());
    }

    #[test]
    fn done_carries_the_dump_error() {
        let mut m = header(20, msg_type::DONE, flags::MULTI, 1);
        m.extend_from_slice(&(-4i32).to_ne_bytes());
        assert_eq!(
            parse_done(&messages(&m).next().unwrap().unwrap())
                .unwrap()
                .error,
            -4
        );
        let m = header(16, msg_type::DONE, flags::MULTI, 1);
        assert_eq!(
            parse_done(&messages(&m).next().unwrap().unwrap())
                .unwrap()
                .error,
            0
        );
    }
}
