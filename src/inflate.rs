//! A small, safe DEFLATE (RFC 1951) and gzip (RFC 1952) decoder.
//!
//! The loader needs it for one file, `/proc/config.gz` (the running kernel's
//! configuration, for `__kconfig` externs), and the library may not depend on a
//! compression crate. So this is the textbook decoder: canonical Huffman codes decoded
//! bit by bit from per-length counts (the scheme of zlib's `puff.c`), no lookup tables
//! and no `unsafe`. It decodes a few tens of megabytes a second, plenty for a config
//! file of a few hundred kilobytes.
//!
//! Hostile input is expected: every length, distance and code is checked, the output
//! never grows past the caller's limit, and corrupt data gives an [`InflateError`],
//! never a panic. A gzip member's CRC-32 and length trailer are verified.

/// Why a stream could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// The input ended in the middle of the stream.
    #[error("compressed data is truncated")]
    Truncated,
    /// Not a gzip file (magic number, compression method or reserved flags).
    #[error("not gzip data: {0}")]
    NotGzip(&'static str),
    /// A block header with the reserved block type 3.
    #[error("invalid DEFLATE block type 3")]
    BadBlockType,
    /// A stored block whose length and its one's complement disagree.
    #[error("stored block length {len} does not match its complement {nlen:#06x}")]
    StoredLength {
        /// `LEN`.
        len: u16,
        /// `NLEN`.
        nlen: u16,
    },
    /// A dynamic block's code description is invalid (too many codes, over-subscribed
    /// or incomplete code lengths, a repeat with nothing to repeat, no end-of-block code).
    #[error("invalid Huffman code description: {0}")]
    BadCodes(&'static str),
    /// A bit sequence that is no code of the current Huffman table.
    #[error("invalid Huffman code in the compressed data")]
    BadSymbol,
    /// A length or distance symbol outside the ones DEFLATE defines (286/287, 30/31).
    #[error("invalid {0} symbol {1}")]
    BadLengthOrDistance(&'static str, u16),
    /// A back-reference to before the start of the output.
    #[error("back-reference distance {distance} exceeds the {available} bytes written so far")]
    DistanceTooFar {
        /// The distance.
        distance: usize,
        /// Bytes available to refer to.
        available: usize,
    },
    /// The output would exceed the caller's limit.
    #[error("decompressed data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A gzip member's CRC-32 differs from the one computed over its output.
    #[error("gzip CRC-32 mismatch: trailer says {expected:#010x}, data has {actual:#010x}")]
    Crc {
        /// From the trailer.
        expected: u32,
        /// Computed.
        actual: u32,
    },
    /// A gzip member's length trailer (`ISIZE`) differs from its output's length.
    #[error("gzip length mismatch: trailer says {expected}, data has {actual} (mod 2^32)")]
    Length {
        /// From the trailer.
        expected: u32,
        /// Computed, modulo 2^32.
        actual: u32,
    },
    /// The gzip header's own CRC (`FHCRC`) is wrong.
    #[error("gzip header CRC mismatch")]
    HeaderCrc,
    /// Bytes after the last gzip member that are neither another member nor zero padding.
    #[error("{0} bytes of trailing garbage after the gzip data")]
    TrailingGarbage(usize),
}

/// Decodes a raw DEFLATE stream (no zlib or gzip wrapper); at most `limit` output bytes.
/// Bytes after the final block are ignored.
pub fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let mut bits = Bits::new(data);
    inflate_into(&mut bits, &mut out, 0, limit)?;
    Ok(out)
}

/// Decodes gzip data: one or more members, each checked against its CRC-32 and length
/// trailer; at most `limit` output bytes in all. Zero padding after the last member is
/// accepted (tape and block devices add it); anything else is an error.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let start = out.len();
        let body = gzip_header(data, pos)?;
        let mut bits = Bits::new(&data[body..]);
        inflate_into(&mut bits, &mut out, start, limit)?;
        let mut at = body + bits.byte_pos();
        let trailer = data.get(at..at + 8).ok_or(InflateError::Truncated)?;
        let expected = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        let actual = crc32(&out[start..]);
        if expected != actual {
            return Err(InflateError::Crc { expected, actual });
        }
        let len = (out.len() - start) as u32; // ISIZE is the length modulo 2^32
        if size != len {
            return Err(InflateError::Length {
                expected: size,
                actual: len,
            });
        }
        at += 8;
        let rest = &data[at..];
        if rest.is_empty() {
            return Ok(out);
        }
        if rest.len() >= 2 && rest[0] == 0x1f && rest[1] == 0x8b {
            pos = at;
            continue;
        }
        if rest.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        return Err(InflateError::TrailingGarbage(rest.len()));
    }
}

/// True when `data` starts with the gzip magic number.
pub fn is_gzip(data: &[u8]) -> bool {
    data.len() >= 2 && data[0] == 0x1f && data[1] == 0x8b
}

/// The CRC-32 (IEEE 802.3, as gzip and zlib use) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[n] = c;
        n += 1;
    }
    t
};

const FTEXT_FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// Parses the gzip member header at `pos`; returns the offset of its DEFLATE data.
fn gzip_header(data: &[u8], pos: usize) -> Result<usize, InflateError> {
    let h = data.get(pos..pos + 10).ok_or(InflateError::Truncated)?;
    if h[0] != 0x1f || h[1] != 0x8b {
        return Err(InflateError::NotGzip("bad magic number"));
    }
    if h[2] != 8 {
        return Err(InflateError::NotGzip("compression method is not DEFLATE"));
    }
    let flags = h[3];
    if flags & FRESERVED != 0 {
        return Err(InflateError::NotGzip("reserved header flags are set"));
    }
    let mut at = pos + 10;
    if flags & FEXTRA != 0 {
        let x = data.get(at..at + 2).ok_or(InflateError::Truncated)?;
        let xlen = usize::from(u16::from_le_bytes([x[0], x[1]]));
        at += 2;
        if data.len() - at < xlen {
            return Err(InflateError::Truncated);
        }
        at += xlen;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let nul = data
                .get(at..)
                .and_then(|s| s.iter().position(|&b| b == 0))
                .ok_or(InflateError::Truncated)?;
            at += nul + 1;
        }
    }
    if flags & FTEXT_FHCRC != 0 {
        let c = data.get(at..at + 2).ok_or(InflateError::Truncated)?;
        let want = u16::from_le_bytes([c[0], c[1]]);
        if (crc32(&data[pos..at]) & 0xffff) as u16 != want {
            return Err(InflateError::HeaderCrc);
        }
        at += 2;
    }
    Ok(at)
}

/// LSB-first bit reader.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    cnt: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            buf: 0,
            cnt: 0,
        }
    }

    /// `n` (at most 32) bits, first bit in the lowest position.
    fn get(&mut self, n: u32) -> Result<u32, InflateError> {
        debug_assert!(n <= 32);
        while self.cnt < n {
            let b = *self.data.get(self.pos).ok_or(InflateError::Truncated)?;
            self.pos += 1;
            self.buf |= u64::from(b) << self.cnt;
            self.cnt += 8;
        }
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.cnt -= n;
        Ok(v)
    }

    /// Drops the bits left in the current byte.
    fn align(&mut self) {
        let drop = self.cnt % 8;
        self.buf >>= drop;
        self.cnt -= drop;
    }

    /// Offset of the first byte not yet (even partly) consumed.
    fn byte_pos(&self) -> usize {
        self.pos - (self.cnt / 8) as usize
    }

    /// The next `n` whole bytes (after [`align`](Self::align)).
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], InflateError> {
        // Give back whole bytes held in the bit buffer.
        self.pos -= (self.cnt / 8) as usize;
        self.buf = 0;
        self.cnt = 0;
        let s = self
            .data
            .get(self.pos..)
            .and_then(|s| s.get(..n))
            .ok_or(InflateError::Truncated)?;
        self.pos += n;
        Ok(s)
    }
}

const MAX_BITS: usize = 15;
const MAX_LCODES: usize = 286;
const MAX_DCODES: usize = 30;
const FIX_LCODES: usize = 288;

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    count: [u16; MAX_BITS + 1],
    symbol: Vec<u16>,
}

impl Huffman {
    /// Builds the code for `lengths` (one per symbol, 0 = unused). Returns the code and
    /// how many codes are missing to make it complete: 0 for a complete code, positive
    /// for an incomplete one; an over-subscribed set of lengths is an error.
    fn new(lengths: &[u8]) -> Result<(Huffman, i32), InflateError> {
        let mut count = [0u16; MAX_BITS + 1];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        let mut left: i32 = 1;
        if usize::from(count[0]) != lengths.len() {
            for &c in &count[1..] {
                left <<= 1;
                left -= i32::from(c);
                if left < 0 {
                    return Err(InflateError::BadCodes("over-subscribed code lengths"));
                }
            }
        } else {
            left = 0; // no codes at all: complete, in a sense, and decoding anything fails
        }
        let mut offs = [0u16; MAX_BITS + 1];
        for len in 1..MAX_BITS {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                let o = &mut offs[usize::from(l)];
                symbol[usize::from(*o)] = sym as u16;
                *o += 1;
            }
        }
        Ok((Huffman { count, symbol }, left))
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, InflateError> {
        let mut code: i32 = 0;
        let mut first: i32 = 0;
        let mut index: i32 = 0;
        for len in 1..=MAX_BITS {
            code |= bits.get(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                let at = (index + (code - first)) as usize;
                return self.symbol.get(at).copied().ok_or(InflateError::BadSymbol);
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err(InflateError::BadSymbol)
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// Order in which code length code lengths are sent.
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Decodes one DEFLATE stream from `bits`, appending to `out`. Back-references may reach
/// back to `start` (the beginning of this stream's output) but not before it.
fn inflate_into(
    bits: &mut Bits<'_>,
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
) -> Result<(), InflateError> {
    let mut fixed: Option<(Huffman, Huffman)> = None;
    loop {
        let last = bits.get(1)? == 1;
        match bits.get(2)? {
            0 => stored(bits, out, limit)?,
            1 => {
                if fixed.is_none() {
                    fixed = Some(fixed_codes()?);
                }
                if let Some((l, d)) = &fixed {
                    codes(bits, out, start, limit, l, d)?;
                }
            }
            2 => {
                let (l, d) = dynamic_codes(bits)?;
                codes(bits, out, start, limit, &l, &d)?;
            }
            _ => return Err(InflateError::BadBlockType),
        }
        if last {
            return Ok(());
        }
    }
}

fn stored(bits: &mut Bits<'_>, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
    bits.align();
    let h = bits.bytes(4)?;
    let len = u16::from_le_bytes([h[0], h[1]]);
    let nlen = u16::from_le_bytes([h[2], h[3]]);
    if len != !nlen {
        return Err(InflateError::StoredLength { len, nlen });
    }
    let data = bits.bytes(usize::from(len))?;
    if out.len() + data.len() > limit {
        return Err(InflateError::TooLarge { limit });
    }
    out.extend_from_slice(data);
    Ok(())
}

fn fixed_codes() -> Result<(Huffman, Huffman), InflateError> {
    let mut l = [0u8; FIX_LCODES];
    for (i, v) in l.iter_mut().enumerate() {
        *v = match i {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    let (lit, _) = Huffman::new(&l)?;
    // Fixed distance codes 30 and 31 exist in the code but are invalid if used.
    let (dist, _) = Huffman::new(&[5u8; 32])?;
    Ok((lit, dist))
}

fn dynamic_codes(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman), InflateError> {
    let nlen = bits.get(5)? as usize + 257;
    let ndist = bits.get(5)? as usize + 1;
    let ncode = bits.get(4)? as usize + 4;
    if nlen > MAX_LCODES || ndist > MAX_DCODES {
        return Err(InflateError::BadCodes("too many length or distance codes"));
    }
    let mut cl = [0u8; 19];
    for &i in &CL_ORDER[..ncode] {
        cl[i] = bits.get(3)? as u8;
    }
    let (clcode, left) = Huffman::new(&cl)?;
    if left != 0 {
        return Err(InflateError::BadCodes("incomplete code length code"));
    }
    let mut lengths = [0u8; MAX_LCODES + MAX_DCODES];
    let mut i = 0;
    while i < nlen + ndist {
        let sym = clcode.decode(bits)?;
        if sym < 16 {
            lengths[i] = sym as u8;
            i += 1;
            continue;
        }
        let (value, repeat) = match sym {
            16 => {
                if i == 0 {
                    return Err(InflateError::BadCodes("repeat with no first length"));
                }
                (lengths[i - 1], 3 + bits.get(2)? as usize)
            }
            17 => (0, 3 + bits.get(3)? as usize),
            _ => (0, 11 + bits.get(7)? as usize),
        };
        if i + repeat > nlen + ndist {
            return Err(InflateError::BadCodes("too many lengths"));
        }
        lengths[i..i + repeat].fill(value);
        i += repeat;
    }
    if lengths[256] == 0 {
        return Err(InflateError::BadCodes("no end-of-block code"));
    }
    let (lit, left) = Huffman::new(&lengths[..nlen])?;
    // An incomplete code is only allowed when it has a single length-1 code.
    if left > 0 && usize::from(lit.count[0]) + usize::from(lit.count[1]) != nlen {
        return Err(InflateError::BadCodes("incomplete literal/length code"));
    }
    let (dist, left) = Huffman::new(&lengths[nlen..nlen + ndist])?;
    if left > 0 && usize::from(dist.count[0]) + usize::from(dist.count[1]) != ndist {
        return Err(InflateError::BadCodes("incomplete distance code"));
    }
    Ok((lit, dist))
}

fn codes(
    bits: &mut Bits<'_>,
    out: &mut Vec<u8>,
    start: usize,
    limit: usize,
    lit: &Huffman,
    dist: &Huffman,
) -> Result<(), InflateError> {
    loop {
        let sym = lit.decode(bits)?;
        match sym {
            0..=255 => {
                if out.len() >= limit {
                    return Err(InflateError::TooLarge { limit });
                }
                out.push(sym as u8);
            }
            256 => return Ok(()),
            _ => {
                let idx = usize::from(sym - 257);
                let (&base, &extra) = LEN_BASE
                    .get(idx)
                    .zip(LEN_EXTRA.get(idx))
                    .ok_or(InflateError::BadLengthOrDistance("length", sym))?;
                let len = usize::from(base) + bits.get(u32::from(extra))? as usize;
                let dsym = dist.decode(bits)?;
                let didx = usize::from(dsym);
                let (&dbase, &dextra) = DIST_BASE
                    .get(didx)
                    .zip(DIST_EXTRA.get(didx))
                    .ok_or(InflateError::BadLengthOrDistance("distance", dsym))?;
                let distance = usize::from(dbase) + bits.get(u32::from(dextra))? as usize;
                let available = out.len() - start;
                if distance > available {
                    return Err(InflateError::DistanceTooFar {
                        distance,
                        available,
                    });
                }
                if out.len() + len > limit {
                    return Err(InflateError::TooLarge { limit });
                }
                let from = out.len() - distance;
                if distance >= len {
                    out.extend_from_within(from..from + len);
                } else {
                    // Overlapping copy: the bytes repeat with period `distance`.
                    for k in 0..len {
                        let b = out[from + k];
                        out.push(b);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// `gzip -c [args]` of `data`, or `None` when gzip is not installed.
    fn gzip(data: &[u8], args: &[&str]) -> Option<Vec<u8>> {
        let mut child = Command::new("gzip")
            .arg("-c")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take()?;
        let input = data.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().ok()?;
        writer.join().ok()?.ok()?;
        assert!(out.status.success(), "gzip failed");
        Some(out.stdout)
    }

    /// A deterministic pseudo-random generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
        (0..n).map(|_| rng.next() as u8).collect()
    }

    /// Text-like data with repeats near and far (exercises long matches and distances).
    fn texty(rng: &mut Rng, n: usize) -> Vec<u8> {
        let words: [&[u8]; 8] = [
            b"CONFIG_",
            b"=y\n",
            b"# ",
            b" is not set\n",
            b"BPF",
            b"NET_",
            b"=m\n",
            b"\"string\"\n",
        ];
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            match rng.next() % 10 {
                0..=6 => v.extend_from_slice(words[(rng.next() % 8) as usize]),
                7 if v.len() > 300 => {
                    let back = 1 + (rng.next() % 300) as usize;
                    let len = 3 + (rng.next() % 200) as usize;
                    for _ in 0..len {
                        let b = v[v.len() - back];
                        v.push(b);
                    }
                }
                _ => v.push(b'A' + (rng.next() % 26) as u8),
            }
        }
        v.truncate(n);
        v
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }

    #[test]
    fn matches_gzip_on_random_and_text_data() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"a".to_vec(),
            vec![0u8; 100_000],
            b"abcabcabcabcabcabcabcabcabc".repeat(1000),
        ];
        for n in [1, 17, 1000, 65_535, 65_536, 150_000] {
            cases.push(random_bytes(&mut rng, n));
            cases.push(texty(&mut rng, n));
        }
        let mut ran = 0;
        for data in &cases {
            // -1: mostly fixed/dynamic blocks with few matches; -9: lazy matching;
            // random data makes gzip emit stored blocks.
            for level in ["-1", "-6", "-9"] {
                let Some(gz) = gzip(data, &[level, "-n"]) else {
                    println!("SKIP: gzip is not installed");
                    return;
                };
                let got = gunzip(&gz, data.len()).unwrap_or_else(|e| {
                    panic!("{} bytes at {level}: {e}", data.len());
                });
                assert!(
                    got == *data,
                    "{} bytes at {level}: output differs",
                    data.len()
                );
                ran += 1;
            }
        }
        assert!(ran > 0);
    }

    #[test]
    fn gzip_with_a_name_and_multiple_members() {
        let Some(mut a) = gzip(b"first member\n", &[]) else {
            return;
        };
        let Some(b) = gzip(b"second member\n", &["-9"]) else {
            return;
        };
        a.extend_from_slice(&b);
        assert_eq!(
            gunzip(&a, 1 << 20).unwrap(),
            b"first member\nsecond member\n"
        );
        // Zero padding is fine, other trailing bytes are not.
        let mut padded = a.clone();
        padded.extend_from_slice(&[0; 16]);
        assert!(gunzip(&padded, 1 << 20).is_ok());
        let mut garbage = a.clone();
        garbage.extend_from_slice(b"xyz");
        assert_eq!(
            gunzip(&garbage, 1 << 20),
            Err(InflateError::TrailingGarbage(3))
        );
    }

    #[test]
    fn header_fields_and_header_crc() {
        // A hand-made member: FEXTRA, FNAME, FCOMMENT and FHCRC, then a stored block.
        let mut h = vec![0x1f, 0x8b, 8, FEXTRA | FNAME | FCOMMENT | FTEXT_FHCRC];
        h.extend_from_slice(&[0, 0, 0, 0, 0, 3]);
        h.extend_from_slice(&3u16.to_le_bytes());
        h.extend_from_slice(b"xyz");
        h.extend_from_slice(b"name\0comment\0");
        let hcrc = (crc32(&h) & 0xffff) as u16;
        h.extend_from_slice(&hcrc.to_le_bytes());
        let payload = b"hello";
        h.push(1); // final stored block
        h.extend_from_slice(&5u16.to_le_bytes());
        h.extend_from_slice(&(!5u16).to_le_bytes());
        h.extend_from_slice(payload);
        h.extend_from_slice(&crc32(payload).to_le_bytes());
        h.extend_from_slice(&5u32.to_le_bytes());
        assert_eq!(gunzip(&h, 100).unwrap(), payload);

        let mut bad = h.clone();
        bad[10] ^= 1; // XLEN byte: header CRC no longer matches
        assert!(gunzip(&bad, 100).is_err());
        let pos = h.len() - 8 - 5;
        let mut bad = h.clone();
        bad[pos] ^= 1; // payload: data CRC no longer matches
        assert!(matches!(gunzip(&bad, 100), Err(InflateError::Crc { .. })));
        let mut bad = h.clone();
        let n = bad.len();
        bad[n - 4] ^= 1;
        assert!(matches!(
            gunzip(&bad, 100),
            Err(InflateError::Length { .. })
        ));
    }

    #[test]
    fn limit_is_enforced() {
        let data = vec![7u8; 10_000];
        let Some(gz) = gzip(&data, &[]) else { return };
        assert_eq!(
            gunzip(&gz, 9_999),
            Err(InflateError::TooLarge { limit: 9_999 })
        );
        assert_eq!(gunzip(&gz, 10_000).unwrap(), data);
    }

    #[test]
    fn raw_deflate_blocks() {
        // Fixed block: literal 'a' (0x61 -> code 0x30+0x61 = 0x91, 8 bits), end (7 zero bits).
        // Written LSB-first with Huffman codes MSB-first: hand-assembled "a" = 4b 04 00.
        assert_eq!(inflate(&[0x4b, 0x04, 0x00], 10).unwrap(), b"a");
        // Stored, empty, final.
        assert_eq!(inflate(&[0x01, 0x00, 0x00, 0xff, 0xff], 10).unwrap(), b"");
        // Reserved block type.
        assert_eq!(inflate(&[0x07], 10), Err(InflateError::BadBlockType));
        // Stored length mismatch.
        assert!(matches!(
            inflate(&[0x01, 0x01, 0x00, 0x00, 0x00, 0x41], 10),
            Err(InflateError::StoredLength { .. })
        ));
        // A distance before the start: fixed block, length 3 (sym 257), distance 1, no output yet.
        // bits: BFINAL=1, BTYPE=01, then 7-bit code 0000001 for 257, then 5-bit dist code 00000.
        let mut w = BitWriter::default();
        w.put(1, 1);
        w.put(1, 2);
        w.put_rev(0b0000001, 7);
        w.put_rev(0, 5);
        w.put_rev(0, 7);
        assert!(matches!(
            inflate(&w.finish(), 10),
            Err(InflateError::DistanceTooFar { .. })
        ));
        // Invalid fixed distance symbol 30.
        let mut w = BitWriter::default();
        w.put(1, 1);
        w.put(1, 2);
        w.put_rev(0x91, 8); // literal 'a': 8-bit code 0x30 + 0x61
        w.put_rev(0b0000001, 7); // length 3
        w.put_rev(30, 5);
        assert!(matches!(
            inflate(&w.finish(), 10),
            Err(InflateError::BadLengthOrDistance("distance", 30))
        ));
    }

    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        cnt: u32,
    }
    impl BitWriter {
        /// Writes `n` bits of `v`, lowest first (header fields, extra bits).
        fn put(&mut self, v: u32, n: u32) {
            for i in 0..n {
                if self.cnt % 8 == 0 {
                    self.bytes.push(0);
                }
                let bit = ((v >> i) & 1) as u8;
                let last = self.bytes.len() - 1;
                self.bytes[last] |= bit << (self.cnt % 8);
                self.cnt += 1;
            }
        }
        /// Writes a Huffman code of `n` bits, highest first.
        fn put_rev(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                self.put((v >> i) & 1, 1);
            }
        }
        fn finish(self) -> Vec<u8> {
            self.bytes
        }
    }

    #[test]
    fn corrupt_input_never_panics() {
        let mut rng = Rng(42);
        let data = texty(&mut rng, 20_000);
        let Some(gz) = gzip(&data, &["-6"]) else {
            return;
        };
        let mut errors = 0;
        for round in 0..1500 {
            let mut bad = gz.clone();
            match round % 3 {
                0 => {
                    // Flip a few bits.
                    for _ in 0..1 + rng.next() % 4 {
                        let i = (rng.next() as usize) % bad.len();
                        bad[i] ^= 1 << (rng.next() % 8);
                    }
                }
                1 => {
                    // Truncate.
                    let n = (rng.next() as usize) % bad.len();
                    bad.truncate(n);
                }
                _ => {
                    // Random garbage after a valid header.
                    let n = (rng.next() % 2000) as usize;
                    bad.truncate(10);
                    bad.extend(random_bytes(&mut rng, n));
                }
            }
            match gunzip(&bad, 1 << 20) {
                Ok(out) => assert!(out.len() <= 1 << 20),
                Err(_) => errors += 1,
            }
            let _ = inflate(&bad, 1 << 16);
        }
        assert!(
            errors > 1200,
            "only {errors} of 1500 corrupt inputs were rejected"
        );
    }

    #[test]
    fn proc_config_gz_decodes_to_a_kernel_config() {
        let Ok(gz) = std::fs::read("/proc/config.gz") else {
            println!("SKIP: proc_config_gz_decodes_to_a_kernel_config: no /proc/config.gz");
            return;
        };
        let text = gunzip(&gz, 64 << 20).expect("decoding /proc/config.gz");
        let text = String::from_utf8(text).expect("config is text");
        assert!(text.lines().any(|l| l.starts_with("CONFIG_")));
        // Compare with zcat when it is there.
        if let Ok(out) = Command::new("zcat").arg("/proc/config.gz").output() {
            if out.status.success() {
                assert!(out.stdout == text.as_bytes(), "differs from zcat's output");
            }
        }
    }
}
