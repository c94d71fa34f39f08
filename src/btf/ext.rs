//! `.BTF.ext`: per-section function info, line info and CO-RE relocation records.
//!
//! Record offsets (`insn_off`) are kept as the file states them: bytes from the
//! start of the ELF section. The object layer converts them to instruction indexes
//! when it splits sections into programs.

use super::{rd_u32, Btf, BtfError, BTF_MAGIC};

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

impl BtfExt {
    /// Parses `.BTF.ext` bytes; section names are looked up in the object's `btf`.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        if data.len() < 8 {
            return Err(BtfError::Truncated(".BTF.ext header"));
        }
        let magic = u16::from_le_bytes([data[0], data[1]]);
        if magic != BTF_MAGIC || data[2] != 1 {
            return Err(BtfError::BadMagic {
                magic,
                version: data[2],
            });
        }
        let hdr_len = rd_u32(data, 4).unwrap_or(0) as usize;
        if hdr_len < EXT_HDR_MIN || hdr_len > data.len() {
            return Err(BtfError::BadHeader(format!(
                ".BTF.ext header length {hdr_len}"
            )));
        }
        let field = |o: usize| rd_u32(data, o).unwrap_or(0);
        let mut ext = BtfExt::default();
        let sub = |off: u32, len: u32, what: &str| -> Result<&[u8], BtfError> {
            let start = hdr_len.checked_add(off as usize);
            let end = start.and_then(|s| s.checked_add(len as usize));
            match (start, end) {
                (Some(s), Some(e)) if e <= data.len() => Ok(&data[s..e]),
                _ => Err(BtfError::BadHeader(format!(
                    ".BTF.ext {what} {off}+{len} past the end of {} bytes",
                    data.len()
                ))),
            }
        };
        ext.func_info = parse_info(
            sub(field(8), field(12), "func_info")?,
            btf,
            "func_info",
            FUNC_INFO_REC_SIZE,
            |r| FuncInfo {
                insn_off: rd_u32(r, 0).unwrap_or(0),
                type_id: rd_u32(r, 4).unwrap_or(0),
            },
        )?;
        ext.line_info = parse_info(
            sub(field(16), field(20), "line_info")?,
            btf,
            "line_info",
            LINE_INFO_REC_SIZE,
            |r| LineInfo {
                insn_off: rd_u32(r, 0).unwrap_or(0),
                file_name_off: rd_u32(r, 4).unwrap_or(0),
                line_off: rd_u32(r, 8).unwrap_or(0),
                line_col: rd_u32(r, 12).unwrap_or(0),
            },
        )?;
        if hdr_len >= EXT_HDR_CORE {
            ext.core_relos = parse_info(
                sub(field(24), field(28), "core_relo")?,
                btf,
                "core_relo",
                CORE_RELO_REC_SIZE,
                |r| CoreRelo {
                    insn_off: rd_u32(r, 0).unwrap_or(0),
                    type_id: rd_u32(r, 4).unwrap_or(0),
                    access_str_off: rd_u32(r, 8).unwrap_or(0),
                    kind: rd_u32(r, 12).unwrap_or(0),
                },
            )?;
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

/// Parses one info block: a u32 record size, then per section
/// `{sec_name_off, num_info, records[num_info]}`.
fn parse_info<T>(
    block: &[u8],
    btf: &Btf,
    what: &'static str,
    min_rec: u32,
    read: impl Fn(&[u8]) -> T,
) -> Result<Vec<ExtSection<T>>, BtfError> {
    if block.is_empty() {
        return Ok(Vec::new());
    }
    let rec_size = rd_u32(block, 0).ok_or(BtfError::Truncated(".BTF.ext record size"))?;
    if rec_size < min_rec || rec_size % 4 != 0 {
        return Err(BtfError::Invalid(format!(
            ".BTF.ext {what} record size {rec_size} (need a multiple of 4, at least {min_rec})"
        )));
    }
    let rec = rec_size as usize;
    let mut out = Vec::new();
    let mut off = 4;
    while off < block.len() {
        let (Some(name_off), Some(n)) = (rd_u32(block, off), rd_u32(block, off + 4)) else {
            return Err(BtfError::Truncated(".BTF.ext section header"));
        };
        off += 8;
        let section = btf.str_at(name_off)?.to_string();
        if n == 0 {
            return Err(BtfError::Invalid(format!(
                ".BTF.ext {what} for section {section} has no records"
            )));
        }
        let bytes = (n as usize)
            .checked_mul(rec)
            .filter(|&len| off + len <= block.len())
            .ok_or(BtfError::Truncated(".BTF.ext records"))?;
        let records = block[off..off + bytes]
            .chunks_exact(rec)
            .map(&read)
            .collect();
        off += bytes;
        out.push(ExtSection { section, records });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Builder;
    use super::*;

    fn ext_bytes(sec_off: u32) -> Vec<u8> {
        let mut fi = Vec::new();
        for w in [8u32, sec_off, 2, 0, 5, 16, 6] {
            fi.extend_from_slice(&w.to_le_bytes());
        }
        let mut li = Vec::new();
        for w in [16u32, sec_off, 1, 0, 1, 1, (7 << 10) | 3] {
            li.extend_from_slice(&w.to_le_bytes());
        }
        let mut cr = Vec::new();
        for w in [16u32, sec_off, 1, 8, 2, 1, 0] {
            cr.extend_from_slice(&w.to_le_bytes());
        }
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        let fl = fi.len() as u32;
        let ll = li.len() as u32;
        let cl = cr.len() as u32;
        for w in [32u32, 0, fl, fl, ll, fl + ll, cl] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend(fi);
        out.extend(li);
        out.extend(cr);
        out
    }

    #[test]
    fn parses_all_three_blocks() {
        let mut b = Builder::new();
        let sec = b.s("tracepoint/x/y");
        b.int("int", 4, 32, true);
        let btf = Btf::parse(b.build()).unwrap();
        let ext = BtfExt::parse(&ext_bytes(sec), &btf).unwrap();
        let fi = ext.func_info_for("tracepoint/x/y");
        assert_eq!(
            fi,
            &[
                FuncInfo {
                    insn_off: 0,
                    type_id: 5
                },
                FuncInfo {
                    insn_off: 16,
                    type_id: 6
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
                type_id: 2,
                access_str_off: 1,
                kind: 0
            }
        );
        assert!(ext.func_info_for("other").is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut b = Builder::new();
        let sec = b.s("s");
        let btf = Btf::parse(b.build()).unwrap();
        let good = ext_bytes(sec);
        for n in 0..good.len() {
            // Cutting at a record boundary of the last block can still be consistent
            // with a shorter header length only if the header says so; it doesn't.
            assert!(BtfExt::parse(&good[..n], &btf).is_err(), "len {n}");
        }
        let mut bad = good.clone();
        bad[32] = 3; // func_info rec size 3
        assert!(BtfExt::parse(&bad, &btf).is_err());
    }
}
