//! `.BTF.ext`: per-section function info, line info and CO-RE relocation records.
//!
//! Record offsets (`insn_off`) are kept as the file states them: bytes from the
//! start of the ELF section. The object layer converts them to instruction indexes
//! when it splits sections into programs.

use super::{rd_u32, Btf, BTF_MAGIC};

/// Size of the `.BTF.ext` header up to and including the line info fields.
const EXT_HDR_MIN: usize = 24;
/// Size once the CO-RE relocation fields are present.
const EXT_HDR_CORE: usize = 32;

/// Smallest record sizes we can read (the kernel's and libbpf's current ones).
pub const FUNC_INFO_REC_SIZE: u32 = 8;
/// Line info record size.
pub const LINE_INFO_REC_SIZE: u32 = 16;
/// CO-RE relocation record size.
pub const CORE_RELO_REC_SIZE: u32 = 16;

/// `bpf_func_info`: which BTF FUNC starts at an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// Instruction offset (bytes in the file; instructions once the object layer converts it).
    pub insn_off: u32,
    /// BTF FUNC type id.
    pub type_id: u32,
}

/// `bpf_line_info`: source line of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Instruction offset (bytes in the file; instructions once converted).
    pub insn_off: u32,
    /// String offset of the file name in `.BTF`.
    pub file_name_off: u32,
    /// String offset of the source line in `.BTF`.
    pub line_off: u32,
    /// Line number in the upper 22 bits, column in the lower 10.
    pub line_col: u32,
}

impl LineInfo {
    /// Line number.
    pub fn line(&self) -> u32 {
        self.line_col >> 10
    }
    /// Column.
    pub fn col(&self) -> u32 {
        self.line_col & 0x3ff
    }
}

/// `bpf_core_relo`: one CO-RE relocation recorded by clang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Instruction offset (bytes in the file; instructions once converted).
    pub insn_off: u32,
    /// Local (object) BTF type id of the root type.
    pub type_id: u32,
    /// String offset of the access string ("0:1:2") in `.BTF`.
    pub access_str_off: u32,
    /// Relocation kind (`bpf_core_relo_kind`).
    pub kind: u32,
}

/// Records for one ELF section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtSection<T> {
    /// ELF section name the records belong to.
    pub section: String,
    /// The records, in file order.
    pub records: Vec<T>,
    /// Byte offset of the first record within `.BTF.ext`.
    pub offset: usize,
    /// Size of one record in the file (at least the size read).
    pub record_size: usize,
}

impl<T> ExtSection<T> {
    /// Byte offset within `.BTF.ext` of record `i`, for messages.
    pub fn record_offset(&self, i: usize) -> usize {
        self.offset + i * self.record_size
    }
}

/// Parsed `.BTF.ext`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfExt {
    /// Function info per section.
    pub func_info: Vec<ExtSection<FuncInfo>>,
    /// Line info per section.
    pub line_info: Vec<ExtSection<LineInfo>>,
    /// CO-RE relocations per section.
    pub core_relos: Vec<ExtSection<CoreRelo>>,
}

/// The part of `.BTF.ext` a record (or a problem) belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExtPart {
    /// The header, which says where the three blocks are.
    Header,
    /// `bpf_func_info` records.
    FuncInfo,
    /// `bpf_line_info` records.
    LineInfo,
    /// `bpf_core_relo` records.
    CoreRelo,
}

impl ExtPart {
    /// libbpf's name for the part: `func_info`, `line_info`, `core_relo`.
    pub fn name(self) -> &'static str {
        match self {
            ExtPart::Header => "header",
            ExtPart::FuncInfo => "func_info",
            ExtPart::LineInfo => "line_info",
            ExtPart::CoreRelo => "core_relo",
        }
    }
}

impl std::fmt::Display for ExtPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `.BTF.ext` that does not parse or validate: which part, where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(".BTF.ext {part} at byte offset {offset}: {reason}")]
pub struct ExtError {
    /// The part the bytes belong to.
    pub part: ExtPart,
    /// Byte offset within `.BTF.ext` of the header field, block, section entry or
    /// record that is wrong.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

fn ext_err(part: ExtPart, offset: usize, reason: impl Into<String>) -> ExtError {
    ExtError {
        part,
        offset,
        reason: reason.into(),
    }
}

/// Header fields: (part, offset of the block's `off` field; `len` follows it).
const BLOCKS: [(ExtPart, usize); 3] = [
    (ExtPart::FuncInfo, 8),
    (ExtPart::LineInfo, 16),
    (ExtPart::CoreRelo, 24),
];

/// The header's length, checked against the data.
fn header_len(data: &[u8]) -> Result<usize, ExtError> {
    let header = |reason: String| ext_err(ExtPart::Header, 0, reason);
    if data.len() < 8 {
        return Err(header(format!(
            "{} bytes is shorter than a header",
            data.len()
        )));
    }
    let magic = u16::from_le_bytes([data[0], data[1]]);
    if magic != BTF_MAGIC || data[2] != 1 {
        return Err(header(format!(
            "bad magic {magic:#06x} or version {} (want {BTF_MAGIC:#06x}, 1)",
            data[2]
        )));
    }
    let hdr_len = rd_u32(data, 4).unwrap_or(0) as usize;
    if hdr_len < EXT_HDR_MIN || hdr_len > data.len() {
        return Err(ext_err(
            ExtPart::Header,
            4,
            format!(
                "header length {hdr_len} is not between {EXT_HDR_MIN} and the section's {} bytes",
                data.len()
            ),
        ));
    }
    Ok(hdr_len)
}

/// Whether a `.BTF.ext` header declares CO-RE relocation records, read without the BTF
/// they refer to (false when the header itself is unreadable).
pub fn declares_core_relos(data: &[u8]) -> bool {
    header_len(data).is_ok_and(|h| h >= EXT_HDR_CORE && rd_u32(data, 28).is_some_and(|l| l > 0))
}

impl BtfExt {
    /// Parses and validates `.BTF.ext` bytes against the object's `btf`: every block
    /// within the section, record sizes libbpf accepts, section names, and in every
    /// record the fields that refer to the BTF (FUNC types, strings, root types) and an
    /// instruction offset that is a whole instruction. The first problem is an
    /// [`ExtError`] naming the part and byte offset.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, ExtError> {
        let hdr_len = header_len(data)?;
        let mut ext = BtfExt::default();
        for (part, field) in BLOCKS {
            if field + 8 > hdr_len {
                continue;
            }
            let (off, len) = (rd_u32(data, field), rd_u32(data, field + 4));
            let (off, len) = (off.unwrap_or(0) as usize, len.unwrap_or(0) as usize);
            let start = hdr_len.checked_add(off);
            let end = start.and_then(|s| s.checked_add(len));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(ext_err(part, field, "block offset overflows"));
            };
            if end > data.len() {
                return Err(ext_err(
                    part,
                    field,
                    format!(
                        "the block ({len} bytes at {off} after the header) ends past the section's {} bytes",
                        data.len()
                    )
                ));
            }
            if len > 0 && off % 4 != 0 {
                return Err(ext_err(
                    part,
                    field,
                    format!("the header puts the block at {off}, which is not 4-byte aligned"),
                ));
            }
            let block = Block {
                data: &data[start..end],
                start,
                part,
            };
            match part {
                ExtPart::FuncInfo => {
                    ext.func_info = block.parse(btf, FUNC_INFO_REC_SIZE, func_info)?
                }
                ExtPart::LineInfo => {
                    ext.line_info = block.parse(btf, LINE_INFO_REC_SIZE, line_info)?
                }
                _ => ext.core_relos = block.parse(btf, CORE_RELO_REC_SIZE, core_relo)?,
            }
        }
        Ok(ext)
    }

    /// Function info records of ELF section `section`.
    pub fn func_info_for(&self, section: &str) -> &[FuncInfo] {
        find(&self.func_info, section)
    }

    /// Line info records of ELF section `section`.
    pub fn line_info_for(&self, section: &str) -> &[LineInfo] {
        find(&self.line_info, section)
    }

    /// CO-RE relocation records of ELF section `section`.
    pub fn core_relos_for(&self, section: &str) -> &[CoreRelo] {
        find(&self.core_relos, section)
    }
}

fn find<'a, T>(v: &'a [ExtSection<T>], section: &str) -> &'a [T] {
    v.iter()
        .find(|s| s.section == section)
        .map(|s| s.records.as_slice())
        .unwrap_or(&[])
}

/// Words of a record.
fn words<const N: usize>(r: &[u8]) -> [u32; N] {
    std::array::from_fn(|i| rd_u32(r, 4 * i).unwrap_or(0))
}

fn string(btf: &Btf, off: u32, what: &str) -> Result<(), String> {
    btf.str_at(off)
        .map(drop)
        .map_err(|_| format!("{what} {off} is not a string of the object's BTF"))
}

fn whole_insn(insn_off: u32) -> Result<(), String> {
    if insn_off % 8 == 0 {
        Ok(())
    } else {
        Err(format!(
            "insn_off {insn_off} is not a multiple of an instruction's 8 bytes"
        ))
    }
}

fn func_info(r: &[u8], btf: &Btf) -> Result<FuncInfo, String> {
    let [insn_off, type_id] = words(r);
    whole_insn(insn_off)?;
    match btf.type_by_id(type_id) {
        Ok(t) if t.kind == crate::btf::Kind::Func => Ok(FuncInfo { insn_off, type_id }),
        Ok(t) => Err(format!("type [{type_id}] is a {:?}, not a FUNC", t.kind)),
        Err(_) => Err(format!("type [{type_id}] is not in the object's BTF")),
    }
}

fn line_info(r: &[u8], btf: &Btf) -> Result<LineInfo, String> {
    let [insn_off, file_name_off, line_off, line_col] = words(r);
    whole_insn(insn_off)?;
    string(btf, file_name_off, "file_name_off")?;
    string(btf, line_off, "line_off")?;
    Ok(LineInfo {
        insn_off,
        file_name_off,
        line_off,
        line_col,
    })
}

fn core_relo(r: &[u8], btf: &Btf) -> Result<CoreRelo, String> {
    let [insn_off, type_id, access_str_off, kind] = words(r);
    whole_insn(insn_off)?;
    btf.type_by_id(type_id)
        .map_err(|_| format!("type [{type_id}] is not in the object's BTF"))?;
    string(btf, access_str_off, "access_str_off")?;
    Ok(CoreRelo {
        insn_off,
        type_id,
        access_str_off,
        kind,
    })
}

/// One info block: a u32 record size, then per section
/// `{sec_name_off, num_info, records[num_info]}`.
struct Block<'a> {
    data: &'a [u8],
    /// Its offset within `.BTF.ext`.
    start: usize,
    part: ExtPart,
}

impl Block<'_> {
    fn err(&self, at: usize, reason: impl Into<String>) -> ExtError {
        ext_err(self.part, self.start + at, reason)
    }

    fn parse<T>(
        &self,
        btf: &Btf,
        min_rec: u32,
        read: impl Fn(&[u8], &Btf) -> Result<T, String>,
    ) -> Result<Vec<ExtSection<T>>, ExtError> {
        let block = self.data;
        if block.is_empty() {
            return Ok(Vec::new());
        }
        let rec_size = rd_u32(block, 0).ok_or_else(|| self.err(0, "no record size"))?;
        if rec_size < min_rec || rec_size % 4 != 0 {
            return Err(self.err(
                0,
                format!("record size {rec_size} is not a multiple of 4 of at least {min_rec}"),
            ));
        }
        let rec = rec_size as usize;
        let mut out = Vec::new();
        let mut off = 4;
        while off < block.len() {
            let (Some(name_off), Some(n)) = (rd_u32(block, off), rd_u32(block, off + 4)) else {
                return Err(self.err(off, "section entry cut short by the end of the block"));
            };
            let section = btf
                .str_at(name_off)
                .map_err(|_| {
                    self.err(
                        off,
                        format!("sec_name_off {name_off} is not a string of the object's BTF"),
                    )
                })?
                .to_string();
            if n == 0 {
                return Err(self.err(off, format!("section '{section}' has no records")));
            }
            let first = off + 8;
            let bytes = (n as usize)
                .checked_mul(rec)
                .filter(|&len| first + len <= block.len())
                .ok_or_else(|| {
                    self.err(
                        off,
                        format!(
                            "section '{section}': {n} records of {rec} bytes run past the end of the block"
                        ),
                    )
                })?;
            let records = block[first..first + bytes]
                .chunks_exact(rec)
                .enumerate()
                .map(|(i, r)| {
                    read(r, btf).map_err(|why| {
                        self.err(first + i * rec, format!("section '{section}': {why}"))
                    })
                })
                .collect::<Result<_, _>>()?;
            out.push(ExtSection {
                section,
                records,
                offset: self.start + first,
                record_size: rec,
            });
            off = first + bytes;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Builder;
    use super::*;

    /// BTF with `int` [1], a prototype [2], FUNCs `f` [3] and `g` [4], the section
    /// name and an access string; returns it and the name's offset.
    fn btf() -> (Btf, u32, u32) {
        let mut b = Builder::new();
        let sec = b.s("tracepoint/x/y");
        let acc = b.s("0:1");
        b.int("int", 4, 32, true);
        b.raw("", 13, 0, false, 1, &[]);
        b.raw("f", 12, 0, false, 2, &[]);
        b.raw("g", 12, 0, false, 2, &[]);
        (Btf::parse(b.build()).unwrap(), sec, acc)
    }

    /// Header (32 bytes), then func_info at 32, line_info at 60, core_relo at 88, each
    /// block: record size, one section entry (name, count) and its records.
    fn ext_bytes(sec_off: u32, acc: u32) -> Vec<u8> {
        let block =
            |words: &[u32]| -> Vec<u8> { words.iter().flat_map(|w| w.to_le_bytes()).collect() };
        let fi = block(&[8, sec_off, 2, 0, 3, 16, 4]);
        let li = block(&[16, sec_off, 1, 0, sec_off, sec_off, (7 << 10) | 3]);
        let cr = block(&[16, sec_off, 1, 8, 1, acc, 0]);
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        let fl = fi.len() as u32;
        let ll = li.len() as u32;
        let cl = cr.len() as u32;
        out.extend(block(&[32, 0, fl, fl, ll, fl + ll, cl]));
        out.extend(fi);
        out.extend(li);
        out.extend(cr);
        out
    }

    #[test]
    fn parses_all_three_blocks() {
        let (btf, sec, acc) = btf();
        let data = ext_bytes(sec, acc);
        let ext = BtfExt::parse(&data, &btf).unwrap();
        let fi = ext.func_info_for("tracepoint/x/y");
        assert_eq!(
            fi,
            &[
                FuncInfo {
                    insn_off: 0,
                    type_id: 3
                },
                FuncInfo {
                    insn_off: 16,
                    type_id: 4
                }
            ]
        );
        let li = ext.line_info_for("tracepoint/x/y");
        assert_eq!((li[0].line(), li[0].col()), (7, 3));
        let cr = ext.core_relos_for("tracepoint/x/y");
        assert_eq!(
            cr[0],
            CoreRelo {
                insn_off: 8,
                type_id: 1,
                access_str_off: acc,
                kind: 0
            }
        );
        assert!(ext.func_info_for("other").is_empty());
        // Where the records are, for messages.
        assert_eq!(ext.func_info[0].record_offset(1), 32 + 12 + 8);
        assert_eq!(ext.line_info[0].offset, 60 + 12);
        assert_eq!(ext.core_relos[0].record_size, 16);
        assert!(declares_core_relos(&data));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (btf, sec, acc) = btf();
        let good = ext_bytes(sec, acc);
        for n in 0..good.len() {
            // The header's lengths always reach the end, so any cut is seen.
            assert!(BtfExt::parse(&good[..n], &btf).is_err(), "len {n}");
        }
    }

    /// One 4-byte word changed at a time: each names the part and the offset of what
    /// is wrong (the header field, block, section entry or record).
    #[test]
    fn each_bad_word_names_its_part_and_offset() {
        use ExtPart::*;
        let (btf, sec, acc) = btf();
        let good = ext_bytes(sec, acc);
        let cases: [(usize, u32, ExtPart, usize, &str); 14] = [
            (0, 0xdead, Header, 0, "bad magic"),
            (4, 7, Header, 4, "header length 7"),
            (8, 2, FuncInfo, 8, "not 4-byte aligned"),
            (16, 1000, LineInfo, 16, "ends past the section"),
            (28, 1000, CoreRelo, 24, "ends past the section"),
            (32, 4, FuncInfo, 32, "record size 4"),
            (48, 1, FuncInfo, 44, "type [1] is a Int, not a FUNC"),
            (60, 12, LineInfo, 60, "record size 12"),
            (64, 9999, LineInfo, 64, "sec_name_off 9999"),
            (68, 0, LineInfo, 64, "has no records"),
            (68, 5, LineInfo, 64, "run past the end"),
            (72, 3, LineInfo, 72, "insn_off 3"),
            (76, 9999, LineInfo, 72, "file_name_off 9999"),
            (104, 99, CoreRelo, 100, "type [99] is not in"),
        ];
        for (at, word, part, offset, why) in cases {
            let mut bad = good.clone();
            bad[at..at + 4].copy_from_slice(&word.to_le_bytes());
            let e = BtfExt::parse(&bad, &btf).unwrap_err();
            assert_eq!((e.part, e.offset), (part, offset), "word at {at}: {e}");
            assert!(e.reason.contains(why), "word at {at}: {e}");
            let text = e.to_string();
            assert!(
                text.starts_with(&format!(
                    ".BTF.ext {} at byte offset {offset}: ",
                    part.name()
                )),
                "{text}"
            );
        }
        let mut bad = good.clone();
        bad[108..112].copy_from_slice(&9999u32.to_le_bytes());
        let e = BtfExt::parse(&bad, &btf).unwrap_err();
        assert!(
            e.part == CoreRelo && e.reason.contains("access_str_off 9999"),
            "{e}"
        );
    }

    #[test]
    fn core_relos_are_seen_without_the_btf() {
        let (_, sec, acc) = btf();
        let mut data = ext_bytes(sec, acc);
        assert!(declares_core_relos(&data));
        data[28..32].copy_from_slice(&0u32.to_le_bytes());
        assert!(!declares_core_relos(&data));
        assert!(!declares_core_relos(&data[..20]));
    }
}
