//! Gzip (RFC 1952) framing around `miniz_oxide`'s DEFLATE decoder, for one file:
//! `/proc/config.gz`, the running kernel's configuration (`__kconfig` externs).
//!
//! `miniz_oxide` decodes raw DEFLATE and nothing more; the gzip header, the CRC-32 and
//! length trailer of each member, and what may follow the last member are checked here,
//! so corrupt data is an error, never wrong text. Hostile input is expected: every
//! field is bounds-checked and the output never grows past the caller's limit.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// Why gzip data could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GzipError {
    /// The input ended in the middle of a member.
    #[error("compressed data is truncated")]
    Truncated,
    /// Not a gzip file (magic number, compression method or reserved flags).
    #[error("not gzip data: {0}")]
    NotGzip(&'static str),
    /// The DEFLATE data is invalid (a bad block type, code, length or distance).
    #[error("invalid DEFLATE data")]
    Deflate,
    /// The output would exceed the caller's limit.
    #[error("decompressed data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// A member's CRC-32 differs from the one computed over its output.
    #[error("gzip CRC-32 mismatch: trailer says {expected:#010x}, data has {actual:#010x}")]
    Crc {
        /// From the trailer.
        expected: u32,
        /// Computed.
        actual: u32,
    },
    /// A member's length trailer (`ISIZE`) differs from its output's length.
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
    /// Bytes after the last member that are neither another member nor zero padding.
    #[error("{0} bytes of trailing garbage after the gzip data")]
    TrailingGarbage(usize),
}

/// True when `data` starts with the gzip magic number.
pub(crate) fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

/// Decodes gzip data: one or more members, each checked against its CRC-32 and length
/// trailer; at most `limit` output bytes in all. Zero padding after the last member is
/// accepted (tape and block devices add it); anything else is an error.
pub(crate) fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, GzipError> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let body = member_header(data, at)?;
        let (member, used) = inflate_raw(&data[body..], limit - out.len())?;
        at = body + used;
        check_trailer(data.get(at..at + 8).ok_or(GzipError::Truncated)?, &member)?;
        out.extend_from_slice(&member);
        at += 8;
        let rest = &data[at..];
        if is_gzip(rest) {
            continue;
        }
        if rest.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        return Err(GzipError::TrailingGarbage(rest.len()));
    }
}

/// Checks a member's decoded `output` against its 8-byte trailer (CRC-32, `ISIZE`).
fn check_trailer(trailer: &[u8], output: &[u8]) -> Result<(), GzipError> {
    let expected = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    let actual = crc32(output);
    if expected != actual {
        return Err(GzipError::Crc { expected, actual });
    }
    let len = output.len() as u32; // ISIZE is the length modulo 2^32
    if size != len {
        return Err(GzipError::Length {
            expected: size,
            actual: len,
        });
    }
    Ok(())
}

/// Decodes the raw DEFLATE stream at the start of `input`, at most `limit` bytes of
/// output; returns the output and the number of input bytes the stream took.
fn inflate_raw(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), GzipError> {
    // The whole output is the window, so it grows (doubling) instead of wrapping.
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let mut out = vec![
        0;
        input
            .len()
            .saturating_mul(4)
            .clamp(1024, 1 << 20)
            .min(limit)
    ];
    let mut state = Box::<DecompressorOxide>::default();
    let (mut in_pos, mut out_pos) = (0, 0);
    loop {
        let (status, used, written) =
            decompress(&mut state, &input[in_pos..], &mut out, out_pos, flags);
        in_pos += used;
        out_pos += written;
        match status {
            TINFLStatus::Done => {
                out.truncate(out_pos);
                return Ok((out, in_pos));
            }
            TINFLStatus::HasMoreOutput if out.len() < limit => {
                out.resize(out.len().saturating_mul(2).min(limit), 0);
            }
            TINFLStatus::HasMoreOutput => return Err(GzipError::TooLarge { limit }),
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return Err(GzipError::Truncated)
            }
            _ => return Err(GzipError::Deflate),
        }
    }
}

/// The CRC-32 (IEEE 802.3, as gzip and zlib use) of `data`.
fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
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

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// Parses the member header at `pos`; returns the offset of its DEFLATE data.
fn member_header(data: &[u8], pos: usize) -> Result<usize, GzipError> {
    let h = data.get(pos..pos + 10).ok_or(GzipError::Truncated)?;
    if !is_gzip(h) {
        return Err(GzipError::NotGzip("bad magic number"));
    }
    if h[2] != 8 {
        return Err(GzipError::NotGzip("compression method is not DEFLATE"));
    }
    let flags = h[3];
    if flags & FRESERVED != 0 {
        return Err(GzipError::NotGzip("reserved header flags are set"));
    }
    let mut at = pos + 10;
    if flags & FEXTRA != 0 {
        let x = data.get(at..at + 2).ok_or(GzipError::Truncated)?;
        at += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let nul = data
                .get(at..)
                .and_then(|s| s.iter().position(|&b| b == 0))
                .ok_or(GzipError::Truncated)?;
            at += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        let c = data.get(at..at + 2).ok_or(GzipError::Truncated)?;
        if (crc32(&data[pos..at]) & 0xffff) as u16 != u16::from_le_bytes([c[0], c[1]]) {
            return Err(GzipError::HeaderCrc);
        }
        at += 2;
    }
    if at > data.len() {
        return Err(GzipError::Truncated);
    }
    Ok(at)
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
            Err(GzipError::TrailingGarbage(3))
        );
    }

    #[test]
    fn header_fields_and_header_crc() {
        // A hand-made member: FEXTRA, FNAME, FCOMMENT and FHCRC, then a stored block.
        let mut h = vec![0x1f, 0x8b, 8, FEXTRA | FNAME | FCOMMENT | FHCRC];
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
        assert!(matches!(gunzip(&bad, 100), Err(GzipError::Crc { .. })));
        let mut bad = h.clone();
        let n = bad.len();
        bad[n - 4] ^= 1;
        assert!(matches!(gunzip(&bad, 100), Err(GzipError::Length { .. })));
    }

    #[test]
    fn a_corrupt_config_gz_is_an_error_not_wrong_text() {
        let text = texty(&mut Rng(7), 50_000);
        let Some(gz) = gzip(&text, &["-9"]) else {
            return;
        };
        assert_eq!(gunzip(&gz, 1 << 20).unwrap(), text);
        let n = gz.len();
        let mut bad = gz.clone();
        bad[n - 8] ^= 0x10; // the trailer's CRC-32
        assert!(matches!(gunzip(&bad, 1 << 20), Err(GzipError::Crc { .. })));
        let mut bad = gz.clone();
        bad[n - 2] ^= 0x01; // the trailer's ISIZE
        assert!(matches!(
            gunzip(&bad, 1 << 20),
            Err(GzipError::Length { .. })
        ));
        assert_eq!(gunzip(&gz[..n - 3], 1 << 20), Err(GzipError::Truncated));
        assert_eq!(gunzip(&gz[..n / 2], 1 << 20), Err(GzipError::Truncated));
        let mut bad = gz.clone();
        bad[2] = 7; // not DEFLATE
        assert!(matches!(gunzip(&bad, 1 << 20), Err(GzipError::NotGzip(_))));
    }

    #[test]
    fn limit_is_enforced() {
        let data = vec![7u8; 10_000];
        let Some(gz) = gzip(&data, &[]) else { return };
        assert_eq!(
            gunzip(&gz, 9_999),
            Err(GzipError::TooLarge { limit: 9_999 })
        );
        assert_eq!(gunzip(&gz, 10_000).unwrap(), data);
    }

    /// Raw DEFLATE through `miniz_oxide`, and how its failures are reported.
    fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, GzipError> {
        inflate_raw(data, limit).map(|(out, _)| out)
    }

    #[test]
    fn raw_deflate_blocks() {
        // Fixed block: literal 'a' (0x61 -> code 0x30+0x61 = 0x91, 8 bits), end (7 zero bits).
        // Written LSB-first with Huffman codes MSB-first: hand-assembled "a" = 4b 04 00.
        assert_eq!(
            inflate_raw(&[0x4b, 0x04, 0x00, 0xee], 10),
            Ok((b"a".to_vec(), 3))
        );
        // Stored, empty, final.
        assert_eq!(inflate(&[0x01, 0x00, 0x00, 0xff, 0xff], 10).unwrap(), b"");
        // Reserved block type.
        assert_eq!(inflate(&[0x07], 10), Err(GzipError::Deflate));
        // Stored length mismatch.
        assert_eq!(
            inflate(&[0x01, 0x01, 0x00, 0x00, 0x00, 0x41], 10),
            Err(GzipError::Deflate)
        );
        // A stream that stops before its final block.
        assert_eq!(
            inflate(&[0x00, 0x01, 0x00, 0xfe, 0xff, 0x41], 10),
            Err(GzipError::Truncated)
        );
        // A distance before the start: fixed block, length 3 (sym 257), distance 1, no output yet.
        // bits: BFINAL=1, BTYPE=01, then 7-bit code 0000001 for 257, then 5-bit dist code 00000.
        let mut w = BitWriter::default();
        w.put(1, 1);
        w.put(1, 2);
        w.put_rev(0b0000001, 7);
        w.put_rev(0, 5);
        w.put_rev(0, 7);
        assert_eq!(inflate(&w.finish(), 10), Err(GzipError::Deflate));
        // Invalid fixed distance symbol 30.
        let mut w = BitWriter::default();
        w.put(1, 1);
        w.put(1, 2);
        w.put_rev(0x91, 8); // literal 'a': 8-bit code 0x30 + 0x61
        w.put_rev(0b0000001, 7); // length 3
        w.put_rev(30, 5);
        assert_eq!(inflate(&w.finish(), 10), Err(GzipError::Deflate));
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
