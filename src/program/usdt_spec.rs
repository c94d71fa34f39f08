//! USDT probe descriptions, kernel-free: the `.note.stapsdt` notes a binary carries
//! ([`parse_notes`]), the argument specifications they hold ([`parse_args`]), and the
//! `struct __bpf_usdt_spec` that libbpf's `usdt.bpf.h` reads them back from
//! ([`SpecLayout::encode`]).
//!
//! A note (`NT_STAPSDT`, type 3, owner `stapsdt`) describes one probe site: its
//! address, the link-time address of `.stapsdt.base` (to undo prelinking), the address
//! of its semaphore (0 when it has none), then the provider, the name and the argument
//! string, each NUL-terminated. An argument is `SIZE@LOCATION`: a size of 1, 2, 4 or 8
//! bytes, negative when signed, and on x86-64 one of `$IMM` (a constant), `%REG` (a
//! register), `OFF(%REG)` (memory at a register plus an offset) or `OFF(%BASE,%INDEX,
//! SCALE)` (scale-index-base), as libbpf's `parse_usdt_arg()` accepts them.
//!
//! Everything here is safe on hostile input: lengths are checked before use, nothing
//! is allocated beyond what the input holds, and bad input is a typed error.

use super::uprobe_elf::{cstr_at, Layout};

/// The owner name of USDT notes.
pub const NOTE_NAME: &[u8] = b"stapsdt";
/// `NT_STAPSDT`.
pub const NOTE_TYPE: u32 = 3;
/// The section holding the notes.
pub const NOTE_SECTION: &str = ".note.stapsdt";
/// The section whose address the notes' base addresses refer to.
pub const BASE_SECTION: &str = ".stapsdt.base";
/// The most arguments a probe may have (`BPF_USDT_MAX_ARG_CNT`).
pub const MAX_ARGS: usize = 12;

/// What is wrong with a note or an argument specification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsdtSpecError {
    /// A note header or body runs past the end of the section.
    #[error("note at offset {offset:#x} is truncated")]
    Truncated {
        /// Where the note starts in the section.
        offset: usize,
    },
    /// A note in `.note.stapsdt` is not a USDT note (libbpf refuses these too).
    #[error("note at offset {offset:#x} is not a stapsdt note (owner {owner:?}, type {kind})")]
    NotStapsdt {
        /// Where the note starts.
        offset: usize,
        /// Its owner name.
        owner: String,
        /// Its type.
        kind: u32,
    },
    /// The note's description is malformed.
    #[error("note at offset {offset:#x}: {reason}")]
    BadNote {
        /// Where the note starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An argument specification can't be parsed.
    #[error("argument #{index} '{spec}': {reason}")]
    BadArg {
        /// Which argument (from 0).
        index: usize,
        /// Its text.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// More than [`MAX_ARGS`] arguments.
    #[error("{count} arguments; usdt.bpf.h handles at most {MAX_ARGS}")]
    TooManyArgs {
        /// How many the specification has.
        count: usize,
    },
    /// The object's `__bpf_usdt_specs` values have a size no known `usdt.bpf.h` uses.
    #[error(
        "__bpf_usdt_specs values are {0} bytes; the usdt.bpf.h of libbpf 0.8-1.6 makes \
         them 208, that of libbpf 1.7 304"
    )]
    UnknownLayout(u32),
    /// A scale-index-base argument with an object built against an older `usdt.bpf.h`.
    #[error(
        "argument #{index} uses scale-index-base addressing, which the object's \
         usdt.bpf.h (before libbpf 1.7) can't read"
    )]
    SibUnsupported {
        /// Which argument.
        index: usize,
    },
    /// Arguments can only be decoded for x86-64 binaries.
    #[error("USDT arguments are only understood on x86-64")]
    UnsupportedArch,
}

/// One probe site, as its note describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtNote {
    /// Provider (`corebpf` in `DTRACE_PROBE2(corebpf, tick, a, b)`).
    pub provider: String,
    /// Probe name (`tick`).
    pub name: String,
    /// The argument specification (`-4@%edi 8@-8(%rbp)`); empty without arguments.
    pub args: String,
    /// Link-time address of the probe's instruction.
    pub location: u64,
    /// Link-time address of `.stapsdt.base` recorded with the probe.
    pub base: u64,
    /// Link-time address of the semaphore, 0 without one.
    pub semaphore: u64,
}

fn round_up(n: usize, align: usize) -> Option<usize> {
    n.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// Parses the notes of a `.note.stapsdt` section whose bytes are `section`, laid out
/// as `layout` says; `align` is the section's alignment (8 makes 8-byte aligned
/// notes, anything else 4). Every note must be a stapsdt note, as libbpf requires.
pub fn parse_notes(
    section: &[u8],
    layout: Layout,
    align: u64,
) -> Result<Vec<UsdtNote>, UsdtSpecError> {
    let align = if align == 8 { 8 } else { 4 };
    let mut notes = Vec::new();
    let mut off = 0usize;
    while off < section.len() {
        let truncated = UsdtSpecError::Truncated { offset: off };
        let (Some(namesz), Some(descsz), Some(kind)) = (
            layout.u32(section, off),
            layout.u32(section, off + 4),
            layout.u32(section, off + 8),
        ) else {
            return Err(truncated);
        };
        let name_start = off + 12;
        let desc_start = name_start
            .checked_add(namesz as usize)
            .and_then(|e| round_up(e, align))
            .ok_or(truncated.clone())?;
        let desc_end = desc_start
            .checked_add(descsz as usize)
            .ok_or(truncated.clone())?;
        let (Some(name), Some(desc)) = (
            section.get(name_start..name_start + namesz as usize),
            section.get(desc_start..desc_end),
        ) else {
            return Err(truncated);
        };
        let owner = name.split(|&c| c == 0).next().unwrap_or_default();
        if owner != NOTE_NAME || kind != NOTE_TYPE {
            return Err(UsdtSpecError::NotStapsdt {
                offset: off,
                owner: String::from_utf8_lossy(owner).into_owned(),
                kind,
            });
        }
        notes.push(parse_desc(desc, layout, off)?);
        off = match round_up(desc_end, align) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(notes)
}

/// The description of one note: three addresses, then provider, name and arguments.
fn parse_desc(desc: &[u8], layout: Layout, offset: usize) -> Result<UsdtNote, UsdtSpecError> {
    let bad = |reason| UsdtSpecError::BadNote { offset, reason };
    let w = layout.word_size();
    let (Some(location), Some(base), Some(semaphore)) = (
        layout.word(desc, 0),
        layout.word(desc, w),
        layout.word(desc, 2 * w),
    ) else {
        return Err(bad("its description is too short for three addresses"));
    };
    let strings = &desc[3 * w..];
    let provider = cstr_at(strings, 0).ok_or_else(|| bad("the provider is not NUL-terminated"))?;
    let name_at = provider.len() + 1;
    let name =
        cstr_at(strings, name_at).ok_or_else(|| bad("the name is missing or unterminated"))?;
    if name.is_empty() {
        return Err(bad("the probe name is empty"));
    }
    let args_at = name_at + name.len() + 1;
    let rest = strings
        .get(args_at..)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("the argument specification is missing"))?;
    let args = rest.split(|&c| c == 0).next().unwrap_or_default();
    // libbpf reads an argument string starting with ':' as none.
    let args = if args.first() == Some(&b':') {
        &[][..]
    } else {
        args
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(UsdtNote {
        provider: text(provider),
        name: text(name),
        args: text(args),
        location,
        base,
        semaphore,
    })
}

/// Where an argument's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgLocation {
    /// A constant (`$-9`).
    Const(i64),
    /// A register, by its offset in `struct pt_regs` (`%edi`).
    Reg {
        /// `offsetof(struct pt_regs, reg)`.
        reg_off: u16,
    },
    /// Memory at a register plus an offset (`-1204(%rbp)`, `(%rsp)`).
    Deref {
        /// The register's offset in `struct pt_regs`.
        reg_off: u16,
        /// Added to the register's value.
        offset: i64,
    },
    /// Memory at base + index × scale + offset (`-96(%rbp,%rax,8)`).
    Sib {
        /// The base register's offset in `struct pt_regs`.
        base_off: u16,
        /// The index register's offset in `struct pt_regs`.
        index_off: u16,
        /// log2 of the scale (1, 2, 4, 8 → 0..=3).
        scale_shift: u8,
        /// Added to the address.
        offset: i64,
    },
}

/// One argument of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    /// Size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Sign-extend the value.
    pub signed: bool,
    /// Where the value is.
    pub location: ArgLocation,
}

/// `offsetof(struct pt_regs, ...)` on x86-64 for every name libbpf accepts (the 64-,
/// 32-, 16- and 8-bit names of each register read the same slot).
fn x86_64_reg_offset(name: &str) -> Option<u16> {
    const REGS: [([&str; 4], u16); 17] = [
        (["rip", "eip", "", ""], 128),
        (["rax", "eax", "ax", "al"], 80),
        (["rbx", "ebx", "bx", "bl"], 40),
        (["rcx", "ecx", "cx", "cl"], 88),
        (["rdx", "edx", "dx", "dl"], 96),
        (["rsi", "esi", "si", "sil"], 104),
        (["rdi", "edi", "di", "dil"], 112),
        (["rbp", "ebp", "bp", "bpl"], 32),
        (["rsp", "esp", "sp", "spl"], 152),
        (["r8", "r8d", "r8w", "r8b"], 72),
        (["r9", "r9d", "r9w", "r9b"], 64),
        (["r10", "r10d", "r10w", "r10b"], 56),
        (["r11", "r11d", "r11w", "r11b"], 48),
        (["r12", "r12d", "r12w", "r12b"], 24),
        (["r13", "r13d", "r13w", "r13b"], 16),
        (["r14", "r14d", "r14w", "r14b"], 8),
        (["r15", "r15d", "r15w", "r15b"], 0),
    ];
    if name.is_empty() {
        return None;
    }
    REGS.iter()
        .find(|(names, _)| names.contains(&name))
        .map(|&(_, off)| off)
}

/// A cursor over one argument's text.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A decimal integer with an optional sign (what `sscanf`'s `%d`/`%ld` read).
    fn int(&mut self) -> Option<i64> {
        self.skip_ws();
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            self.pos = start;
            return None;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()?
            .parse()
            .ok()
    }

    /// `%NAME` up to one of `stop` (or whitespace when `stop` is empty).
    fn register(&mut self, stop: &[u8]) -> Result<u16, String> {
        if !self.eat(b'%') {
            return Err("expected a register (%name)".into());
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if stop.contains(&c) || (stop.is_empty() && c.is_ascii_whitespace()) {
                break;
            }
            self.pos += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.pos]);
        x86_64_reg_offset(&name).ok_or_else(|| format!("unrecognized register '{name}'"))
    }
}

/// Parses one argument at the start of `text`; returns it and the bytes consumed
/// (including the whitespace after it).
fn parse_arg(text: &str) -> Result<(UsdtArg, usize), String> {
    let mut c = Cursor {
        s: text.as_bytes(),
        pos: 0,
    };
    let size = c.int().ok_or("expected SIZE@LOCATION")?;
    if !c.eat(b'@') {
        return Err("expected '@' after the size".into());
    }
    c.skip_ws();
    let location = match c.peek() {
        Some(b'$') => {
            c.pos += 1;
            ArgLocation::Const(c.int().ok_or("expected a number after '$'")?)
        }
        Some(b'%') => ArgLocation::Reg {
            reg_off: c.register(&[])?,
        },
        _ => {
            let offset = c.int().unwrap_or(0);
            if !c.eat(b'(') {
                return Err("expected $CONST, %REG, OFF(%REG) or OFF(%BASE,%INDEX,SCALE)".into());
            }
            c.skip_ws();
            let base = c.register(b",)")?;
            if c.eat(b',') {
                c.skip_ws();
                let index = c.register(b",)")?;
                let scale = if c.eat(b',') {
                    c.int().ok_or("expected a scale")?
                } else {
                    1
                };
                if !c.eat(b')') {
                    return Err("expected ')'".into());
                }
                let scale_shift = match scale {
                    1 => 0,
                    2 => 1,
                    4 => 2,
                    8 => 3,
                    s => return Err(format!("scale {s} is not 1, 2, 4 or 8")),
                };
                ArgLocation::Sib {
                    base_off: base,
                    index_off: index,
                    scale_shift,
                    offset,
                }
            } else if c.eat(b')') {
                ArgLocation::Deref {
                    reg_off: base,
                    offset,
                }
            } else {
                return Err("expected ')' or ','".into());
            }
        }
    };
    let bytes = match size.unsigned_abs() {
        s @ (1 | 2 | 4 | 8) => s as u8,
        s => return Err(format!("size {s} is not 1, 2, 4 or 8")),
    };
    c.skip_ws();
    Ok((
        UsdtArg {
            size: bytes,
            signed: size < 0,
            location,
        },
        c.pos,
    ))
}

/// Parses a note's argument specification (`-4@%edi 8@-8(%rbp) -4@$5`), as libbpf's
/// x86-64 `parse_usdt_arg()` does.
///
/// Every argument is parsed before the count is checked, so that [`TooManyArgs`] says
/// how many there are: arguments need not be separated by whitespace (`8@(%rax)8@$1`
/// is two, as libbpf reads it) and may hold some (`8 @ -8( %rbp )` is one), so the
/// words of the text do not count them. Each takes at least four bytes (`1@$0`), so
/// the list is bounded by the text's length.
///
/// [`TooManyArgs`]: UsdtSpecError::TooManyArgs
pub fn parse_args(spec: &str) -> Result<Vec<UsdtArg>, UsdtSpecError> {
    let mut args = Vec::new();
    let mut rest = spec.trim_start();
    while !rest.is_empty() {
        let (arg, used) = parse_arg(rest).map_err(|reason| UsdtSpecError::BadArg {
            index: args.len(),
            spec: rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
            reason,
        })?;
        args.push(arg);
        // `used` ends on a character boundary: the parser consumed ASCII only.
        rest = rest.get(used..).unwrap_or_default();
    }
    if args.len() > MAX_ARGS {
        return Err(UsdtSpecError::TooManyArgs { count: args.len() });
    }
    Ok(args)
}

/// Where `usdt.bpf.h` reads the fields of `struct __bpf_usdt_spec` and of each
/// `struct __bpf_usdt_arg_spec`, which changed in libbpf 1.7 (scale-index-base
/// arguments): picked by the size of the object's `__bpf_usdt_specs` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecLayout {
    /// `sizeof(struct __bpf_usdt_spec)`.
    pub size: usize,
    /// `sizeof(struct __bpf_usdt_arg_spec)`.
    pub arg_size: usize,
    /// `offsetof(struct __bpf_usdt_arg_spec, reg_off)`.
    reg_off: usize,
    /// `offsetof(struct __bpf_usdt_spec, usdt_cookie)`.
    cookie: usize,
    /// `offsetof(struct __bpf_usdt_spec, arg_cnt)`.
    arg_cnt: usize,
    /// Whether the layout has the scale-index-base fields.
    sib: bool,
}

/// `enum __bpf_usdt_arg_type`.
mod arg_type {
    pub const CONST: u8 = 0;
    pub const REG: u8 = 1;
    pub const REG_DEREF: u8 = 2;
    pub const SIB: u8 = 3;
}

impl SpecLayout {
    /// libbpf 0.8 to 1.6: 16-byte arguments (`val_off`, a 4-byte `arg_type`, `reg_off`,
    /// `arg_signed`, `arg_bitshift`), 208 bytes in all.
    pub const V1: SpecLayout = SpecLayout {
        size: 208,
        arg_size: 16,
        reg_off: 12,
        cookie: 192,
        arg_cnt: 200,
        sib: false,
    };
    /// libbpf 1.7: `arg_type` becomes an 8-bit field, followed by the 12-bit
    /// `idx_reg_off` and the 4-bit `scale_bitshift` (bits 80..96 of the argument), an
    /// 8-bit reserved field, then `reg_off`: 24-byte arguments, 304 bytes in all (as
    /// clang lays the header out for BPF, and gcc for x86-64).
    pub const V2: SpecLayout = SpecLayout {
        size: 304,
        arg_size: 24,
        reg_off: 14,
        cookie: 288,
        arg_cnt: 296,
        sib: true,
    };

    /// The layout of `__bpf_usdt_specs` values of `value_size` bytes.
    pub fn for_value_size(value_size: u32) -> Result<SpecLayout, UsdtSpecError> {
        match value_size {
            208 => Ok(Self::V1),
            304 => Ok(Self::V2),
            n => Err(UsdtSpecError::UnknownLayout(n)),
        }
    }

    /// The map value for a probe site with `args` and the user's `cookie`.
    pub fn encode(&self, args: &[UsdtArg], cookie: u64) -> Result<Vec<u8>, UsdtSpecError> {
        if !cfg!(all(target_arch = "x86_64", target_endian = "little")) {
            return Err(UsdtSpecError::UnsupportedArch);
        }
        if args.len() > MAX_ARGS {
            return Err(UsdtSpecError::TooManyArgs { count: args.len() });
        }
        let mut out = vec![0u8; self.size];
        for (i, arg) in args.iter().enumerate() {
            let a = &mut out[i * self.arg_size..(i + 1) * self.arg_size];
            let (kind, val, reg, index, shift) = match arg.location {
                ArgLocation::Const(v) => (arg_type::CONST, v, 0, 0, 0),
                ArgLocation::Reg { reg_off } => (arg_type::REG, 0, reg_off, 0, 0),
                ArgLocation::Deref { reg_off, offset } => {
                    (arg_type::REG_DEREF, offset, reg_off, 0, 0)
                }
                ArgLocation::Sib {
                    base_off,
                    index_off,
                    scale_shift,
                    offset,
                } => {
                    if !self.sib {
                        return Err(UsdtSpecError::SibUnsupported { index: i });
                    }
                    (arg_type::SIB, offset, base_off, index_off, scale_shift)
                }
            };
            a[..8].copy_from_slice(&val.to_le_bytes());
            a[8] = kind;
            if self.sib {
                // idx_reg_off in the low 12 bits of the 16-bit unit at byte 10,
                // scale_bitshift in its top 4.
                let unit = (index & 0xfff) | (u16::from(shift) << 12);
                a[10..12].copy_from_slice(&unit.to_le_bytes());
            }
            a[self.reg_off..self.reg_off + 2].copy_from_slice(&reg.to_le_bytes());
            a[self.reg_off + 2] = u8::from(arg.signed);
            a[self.reg_off + 3] = 64 - arg.size * 8;
        }
        out[self.cookie..self.cookie + 8].copy_from_slice(&cookie.to_le_bytes());
        // At most MAX_ARGS (12): fits.
        out[self.arg_cnt..self.arg_cnt + 2].copy_from_slice(&(args.len() as u16).to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
