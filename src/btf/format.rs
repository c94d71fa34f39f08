//! Printing values and type names through BTF, for the CLI's event output.
//!
//! [`format_value`] decodes the bytes of a value (a ring buffer record, a map value) as
//! the BTF type says and prints it on one line:
//!
//! | type | printed as |
//! |---|---|
//! | struct/union at the top | `pid=42 comm="bash" flags=3` |
//! | nested struct/union | `{a=1 b=2}`; an empty one as `{}` |
//! | anonymous struct/union member | its members, inline in the parent (as C accesses them) |
//! | unnamed non-composite member | skipped (unnamed bitfields are padding) |
//! | array of `char`, `signed char`, `unsigned char` (written as such, not through a typedef such as `u8`) | `"text"`: the bytes up to the first NUL, always quoted, with `\"`, `\\`, `\n`, `\t`, `\r` and `\xNN` for bytes outside printable ASCII |
//! | other arrays | `[1,2,3]`, `[{a=1},{a=2}]`, `[[1,2],[3,4]]` |
//! | integers | decimal, signed or unsigned per encoding; 1, 2, 4, 8 and 16 bytes |
//! | `_Bool` | `true` / `false` |
//! | enums | the enumerator's name, or the number if none matches |
//! | pointers | `0x` and lower-case hex (`0x0` for NULL) |
//! | `float`, `double` | Rust's shortest round-trip form (`1.5`, `-0.0`, `NaN`); other float sizes as raw hex |
//! | bitfields | the field's bits, little endian, sign-extended for signed types |
//! | DATASEC (`.data`, `.bss`) | its variables as `name=value` |
//!
//! Typedefs and modifiers are looked through. Bytes beyond the type's size are ignored;
//! fewer bytes than the type's size are an error ([`BtfError::Truncated`]), never a panic.
//! [`format_type_name`] spells a type as C would (`struct event`, `u32`, `char[16]`, `int *`).

use std::fmt::Write as _;

use super::{int_enc, Btf, BtfError, Kind, MAX_RESOLVE_DEPTH};

/// Deepest nesting of structs/arrays we print (also stops self-containing types in bad BTF).
const MAX_NESTING: usize = 64;
/// Longest output we produce; a hostile BTF (many overlapping large arrays) can't make us
/// build an unbounded string.
const MAX_OUTPUT: usize = 1 << 20;

/// Formats `bytes` as a value of BTF type `type_id` on one line (see the module docs for
/// the format). Errors if the bytes are fewer than the type's size, if the type has no
/// size (void, functions, forward declarations), or if the BTF is inconsistent.
pub fn format_value(btf: &Btf, type_id: u32, bytes: &[u8]) -> Result<String, BtfError> {
    let mut f = ValueFormatter {
        btf,
        out: String::new(),
        depth: 0,
    };
    f.top(type_id, bytes)?;
    Ok(f.out)
}

/// True if type `id` (modifiers looked through, typedefs not) is a character type whose
/// arrays print as strings: an int with the `char` encoding, or a one-byte int named
/// `char`, `signed char` or `unsigned char`.
pub fn is_char_type(btf: &Btf, id: u32) -> bool {
    let Ok(id) = btf.skip_mods(id) else {
        return false;
    };
    let Ok(t) = btf.type_by_id(id) else {
        return false;
    };
    let Ok(int) = t.int() else {
        return false;
    };
    if t.size() != 1 {
        return false;
    }
    int.encoding & int_enc::CHAR != 0
        || matches!(
            btf.name_of(&t),
            Ok("char" | "signed char" | "unsigned char")
        )
}

fn short() -> BtfError {
    BtfError::Truncated("value bytes shorter than its BTF type")
}

/// `len` bytes at `off` of `b`, or the too-short error.
fn slice(b: &[u8], off: u64, len: u64) -> Result<&[u8], BtfError> {
    let start = usize::try_from(off).map_err(|_| short())?;
    let len = usize::try_from(len).map_err(|_| short())?;
    let end = start.checked_add(len).ok_or_else(short)?;
    b.get(start..end).ok_or_else(short)
}

/// Little-endian unsigned value of up to 16 bytes.
fn read_le(b: &[u8]) -> u128 {
    b.iter()
        .rev()
        .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u128, bits: u32) -> i128 {
    if bits == 0 || bits >= 128 {
        return v as i128;
    }
    let shift = 128 - bits;
    ((v << shift) as i128) >> shift
}

/// `nbits` bits (at most 64) starting `bit_off` bits into `b`, little endian.
fn read_bits(b: &[u8], bit_off: u64, nbits: u32) -> Result<u128, BtfError> {
    if nbits == 0 || nbits > 64 {
        return Err(BtfError::Invalid(format!("bitfield of {nbits} bits")));
    }
    let first = bit_off / 8;
    let last = (bit_off + u64::from(nbits)).div_ceil(8);
    let v = read_le(slice(b, first, last - first)?) >> (bit_off % 8);
    Ok(v & ((1u128 << nbits) - 1))
}

struct ValueFormatter<'a> {
    btf: &'a Btf,
    out: String,
    depth: usize,
}

impl ValueFormatter<'_> {
    /// The top-level value: composites without braces.
    fn top(&mut self, id: u32, bytes: &[u8]) -> Result<(), BtfError> {
        let rid = self.btf.skip_mods_and_typedefs(id)?;
        let t = self.btf.type_by_id(rid)?;
        match t.kind {
            Kind::Struct | Kind::Union => {
                let size = u64::from(t.size());
                let b = slice(bytes, 0, size)?;
                if t.vlen() == 0 {
                    self.out.push_str("{}");
                    return Ok(());
                }
                let mut first = true;
                self.members(rid, b, &mut first)
            }
            Kind::Datasec => {
                let mut first = true;
                for v in t.datasec_vars() {
                    let var = self.btf.type_by_id(v.type_id)?;
                    if var.kind != Kind::Var {
                        continue; // extern functions in .ksyms
                    }
                    let b = slice(bytes, u64::from(v.offset), u64::from(v.size))?;
                    if !first {
                        self.out.push(' ');
                    }
                    first = false;
                    self.out.push_str(self.btf.name_of(&var)?);
                    self.out.push('=');
                    self.value(var.ref_type(), b)?;
                }
                if first {
                    self.out.push_str("{}");
                }
                Ok(())
            }
            _ => self.value(id, bytes),
        }
    }

    /// Members of the struct/union `id` whose bytes are `b` (exactly its size), as
    /// `name=value` separated by spaces; anonymous composite members inline.
    fn members(&mut self, id: u32, b: &[u8], first: &mut bool) -> Result<(), BtfError> {
        self.enter(id)?;
        let t = self.btf.type_by_id(id)?;
        for m in t.members() {
            let name = self.btf.str_at(m.name_off)?;
            let mid = self.btf.skip_mods_and_typedefs(m.type_id)?;
            let mt = self.btf.type_by_id(mid)?;
            if name.is_empty() {
                if mt.kind.is_composite() && m.bitfield_size == 0 && m.bit_offset % 8 == 0 {
                    let sub = slice(b, u64::from(m.bit_offset / 8), u64::from(mt.size()))?;
                    self.members(mid, sub, first)?;
                }
                continue;
            }
            if !*first {
                self.out.push(' ');
            }
            *first = false;
            self.out.push_str(name);
            self.out.push('=');
            self.member_value(m.type_id, mid, b, u64::from(m.bit_offset), m.bitfield_size)?;
        }
        self.depth -= 1;
        Ok(())
    }

    /// One member's value: a bitfield, or a whole type at a byte offset.
    fn member_value(
        &mut self,
        type_id: u32,
        resolved: u32,
        b: &[u8],
        bit_offset: u64,
        bitfield_size: u32,
    ) -> Result<(), BtfError> {
        let t = self.btf.type_by_id(resolved)?;
        let size = self.btf.resolve_size(resolved)?;
        // Old-style (kind_flag 0) bitfields: an int narrower than its storage.
        let (nbits, extra_off) = match (bitfield_size, t.kind) {
            (0, Kind::Int) => {
                let i = t.int()?;
                if u64::from(i.bits) < size.saturating_mul(8) || i.offset != 0 {
                    (u32::from(i.bits), u64::from(i.offset))
                } else {
                    (0, 0)
                }
            }
            (n, _) => (n, 0),
        };
        let unaligned = bit_offset % 8 != 0;
        if nbits == 0 && !unaligned {
            let sub = slice(b, bit_offset / 8, size)?;
            return self.value(type_id, sub);
        }
        // A bitfield (or an int at a bit offset).
        let nbits = if nbits == 0 {
            u32::try_from(size.saturating_mul(8)).unwrap_or(u32::MAX)
        } else {
            nbits
        };
        let raw = read_bits(b, bit_offset + extra_off, nbits)?;
        match t.kind {
            Kind::Int => {
                let i = t.int()?;
                self.write_int(raw, nbits, i.encoding);
                Ok(())
            }
            Kind::Enum | Kind::Enum64 => self.write_enum(resolved, raw, nbits),
            _ => Err(BtfError::WrongKind {
                id: resolved,
                found: t.kind,
                expected: "an int or enum for a bitfield",
            }),
        }
    }

    fn enter(&mut self, id: u32) -> Result<(), BtfError> {
        if self.depth >= MAX_NESTING {
            return Err(BtfError::Loop(id));
        }
        if self.out.len() > MAX_OUTPUT {
            return Err(BtfError::Invalid(format!(
                "formatted value is longer than {MAX_OUTPUT} bytes"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    /// A value of type `id` whose bytes start at `bytes[0]`.
    fn value(&mut self, id: u32, bytes: &[u8]) -> Result<(), BtfError> {
        let rid = self.btf.skip_mods_and_typedefs(id)?;
        let t = self.btf.type_by_id(rid)?;
        match t.kind {
            Kind::Int => {
                let size = t.size();
                if !matches!(size, 1 | 2 | 4 | 8 | 16) {
                    return Err(BtfError::Invalid(format!("int [{rid}] of {size} bytes")));
                }
                let i = t.int()?;
                let b = slice(bytes, 0, u64::from(size))?;
                let raw = read_le(b);
                if u32::from(i.bits) < size * 8 || i.offset != 0 {
                    let nbits = u32::from(i.bits).min(64);
                    let v = read_bits(b, u64::from(i.offset), nbits)?;
                    self.write_int(v, nbits, i.encoding);
                } else {
                    self.write_int(raw, size * 8, i.encoding);
                }
                Ok(())
            }
            Kind::Ptr => {
                let b = slice(bytes, 0, 8)?;
                let _ = write!(self.out, "{:#x}", read_le(b));
                Ok(())
            }
            Kind::Enum | Kind::Enum64 => {
                let size = t.size();
                if !matches!(size, 1 | 2 | 4 | 8) {
                    return Err(BtfError::Invalid(format!("enum [{rid}] of {size} bytes")));
                }
                let b = slice(bytes, 0, u64::from(size))?;
                self.write_enum(rid, read_le(b), size * 8)
            }
            Kind::Float => {
                let size = t.size();
                let b = slice(bytes, 0, u64::from(size))?;
                match size {
                    4 => {
                        let _ = write!(self.out, "{:?}", f32::from_bits(read_le(b) as u32));
                    }
                    8 => {
                        let _ = write!(self.out, "{:?}", f64::from_bits(read_le(b) as u64));
                    }
                    _ => {
                        self.out.push_str("0x");
                        for x in b.iter().rev() {
                            let _ = write!(self.out, "{x:02x}");
                        }
                    }
                }
                Ok(())
            }
            Kind::Struct | Kind::Union => {
                let b = slice(bytes, 0, u64::from(t.size()))?;
                self.out.push('{');
                let mut first = true;
                self.members(rid, b, &mut first)?;
                self.out.push('}');
                Ok(())
            }
            Kind::Array => self.array(rid, bytes),
            Kind::Var => {
                // A VAR may name another VAR, or itself: bounded like any nesting.
                self.enter(rid)?;
                let r = self.value(t.ref_type(), bytes);
                self.depth -= 1;
                r
            }
            Kind::Datasec => {
                self.enter(rid)?;
                self.out.push('{');
                self.top(rid, bytes)?;
                self.out.push('}');
                self.depth -= 1;
                Ok(())
            }
            k => Err(BtfError::WrongKind {
                id: rid,
                found: k,
                expected: "a type with a value (int, pointer, enum, float, struct, union, array)",
            }),
        }
    }

    fn array(&mut self, id: u32, bytes: &[u8]) -> Result<(), BtfError> {
        let a = self.btf.type_by_id(id)?.array()?;
        let esize = self.btf.resolve_size(a.elem_type)?;
        let total = esize.checked_mul(u64::from(a.nelems)).ok_or_else(short)?;
        let b = slice(bytes, 0, total)?;
        if is_char_type(self.btf, a.elem_type) {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            self.write_str(&b[..end]);
            return Ok(());
        }
        self.enter(id)?;
        self.out.push('[');
        // Zero-sized elements carry no data; don't print a count the BTF made up.
        if esize > 0 {
            let esize = esize as usize; // at most b.len()
            for (i, e) in b.chunks_exact(esize).enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                if self.out.len() > MAX_OUTPUT {
                    return Err(BtfError::Invalid(format!(
                        "formatted value is longer than {MAX_OUTPUT} bytes"
                    )));
                }
                self.value(a.elem_type, e)?;
            }
        }
        self.out.push(']');
        self.depth -= 1;
        Ok(())
    }

    fn write_int(&mut self, raw: u128, bits: u32, encoding: u8) {
        if encoding & int_enc::BOOL != 0 {
            self.out.push_str(if raw != 0 { "true" } else { "false" });
        } else if encoding & int_enc::SIGNED != 0 {
            let _ = write!(self.out, "{}", sign_extend(raw, bits));
        } else {
            let _ = write!(self.out, "{raw}");
        }
    }

    /// An enum's value (the low `bits` bits of `raw`): its enumerator's name, or the number.
    fn write_enum(&mut self, id: u32, raw: u128, bits: u32) -> Result<(), BtfError> {
        let t = self.btf.type_by_id(id)?;
        let signed = t.kflag();
        // Enumerator values are stored 64-bit, sign-extended for signed 32-bit enums.
        let v64 = if signed {
            sign_extend(raw, bits) as i64 as u64
        } else {
            raw as u64
        };
        let want = if t.kind == Kind::Enum && !signed {
            v64 & 0xffff_ffff
        } else {
            v64
        };
        for e in t.enum_values() {
            let ev = if t.kind == Kind::Enum && !signed {
                e.value & 0xffff_ffff
            } else {
                e.value
            };
            if ev == want {
                let name = self.btf.str_at(e.name_off)?;
                if !name.is_empty() {
                    self.out.push_str(name);
                    return Ok(());
                }
            }
        }
        if signed {
            let _ = write!(self.out, "{}", v64 as i64);
        } else {
            let _ = write!(self.out, "{v64}");
        }
        Ok(())
    }

    fn write_str(&mut self, s: &[u8]) {
        self.out.push('"');
        for &c in s {
            match c {
                b'"' => self.out.push_str("\\\""),
                b'\\' => self.out.push_str("\\\\"),
                b'\n' => self.out.push_str("\\n"),
                b'\t' => self.out.push_str("\\t"),
                b'\r' => self.out.push_str("\\r"),
                0x20..=0x7e => self.out.push(c as char),
                _ => {
                    let _ = write!(self.out, "\\x{c:02x}");
                }
            }
        }
        self.out.push('"');
    }
}

/// The C spelling of type `id`: `struct event`, `u32`, `char[16]`, `int *`,
/// `const char *`, `char *const`, `int (*)[4]`, `int (*)(void *, long)`; anonymous
/// composites as `struct {...}`. A FUNC prints as its prototype with the function's name,
/// a VAR as a declaration with its name. Bad ids and loops print as `<bad type N>` /
/// `<loop>` rather than failing.
pub fn format_type_name(btf: &Btf, id: u32) -> String {
    declaration(btf, id, "")
}

/// The C declaration of `inner` (a name, or "" for an abstract declarator) as type `id`:
/// `declaration(btf, id_of_char_array_16, "comm")` is `char comm[16]`.
pub fn declaration(btf: &Btf, id: u32, inner: &str) -> String {
    let mut budget = MAX_DECL_STEPS;
    decl(btf, id, inner.to_string(), 0, &mut budget)
}

/// Types one declaration may visit: a function prototype whose parameters are
/// prototypes again branches at every level, so depth alone does not bound the work
/// (or the text) of a crafted BTF.
const MAX_DECL_STEPS: u32 = 4096;

/// The name a named type is referred to by: `struct foo`, `union foo`, `enum foo`, `foo`
/// for typedefs, ints and floats; `struct {...}` and friends for anonymous ones.
pub fn base_name(btf: &Btf, id: u32) -> String {
    let Ok(t) = btf.type_by_id(id) else {
        return format!("<bad type {id}>");
    };
    let name = btf.name_of(&t).unwrap_or("<bad name>");
    let tag = match t.kind {
        Kind::Struct => "struct",
        Kind::Union => "union",
        Kind::Enum | Kind::Enum64 => "enum",
        Kind::Fwd => {
            if t.kflag() {
                "union"
            } else {
                "struct"
            }
        }
        Kind::Void => return "void".into(),
        _ => return name.to_string(),
    };
    if name.is_empty() {
        format!("{tag} {{...}}")
    } else {
        format!("{tag} {name}")
    }
}

fn join(base: String, inner: &str) -> String {
    if inner.is_empty() {
        base
    } else if inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base} {inner}")
    }
}

fn decl(btf: &Btf, id: u32, inner: String, depth: usize, budget: &mut u32) -> String {
    if depth > MAX_RESOLVE_DEPTH {
        return join("<loop>".into(), &inner);
    }
    if *budget == 0 {
        return join("<too complex>".into(), &inner);
    }
    *budget -= 1;
    let Ok(t) = btf.type_by_id(id) else {
        return join(format!("<bad type {id}>"), &inner);
    };
    match t.kind {
        Kind::Void
        | Kind::Int
        | Kind::Float
        | Kind::Struct
        | Kind::Union
        | Kind::Enum
        | Kind::Enum64
        | Kind::Fwd
        | Kind::Typedef
        | Kind::Datasec => join(base_name(btf, id), &inner),
        Kind::Const | Kind::Volatile | Kind::Restrict => {
            let q = t.kind.name();
            let target_is_ptr = btf
                .type_by_id(t.ref_type())
                .map(|x| x.kind == Kind::Ptr)
                .unwrap_or(false);
            if target_is_ptr {
                // `char *const p`: the qualifier goes after the pointer's star.
                let inner = if inner.is_empty() {
                    q.to_string()
                } else {
                    format!("{q} {inner}")
                };
                decl(btf, t.ref_type(), inner, depth + 1, budget)
            } else {
                format!("{q} {}", decl(btf, t.ref_type(), inner, depth + 1, budget))
            }
        }
        Kind::TypeTag | Kind::DeclTag => decl(btf, t.ref_type(), inner, depth + 1, budget),
        Kind::Ptr => {
            let target = btf.type_by_id(t.ref_type()).map(|x| x.kind);
            let inner = if matches!(target, Ok(Kind::Array | Kind::FuncProto)) {
                format!("(*{inner})")
            } else {
                format!("*{inner}")
            };
            decl(btf, t.ref_type(), inner, depth + 1, budget)
        }
        Kind::Array => match t.array() {
            Ok(a) => decl(
                btf,
                a.elem_type,
                format!("{inner}[{}]", a.nelems),
                depth + 1,
                budget,
            ),
            Err(_) => join(format!("<bad type {id}>"), &inner),
        },
        Kind::FuncProto => {
            let mut params: Vec<String> = Vec::new();
            for p in t.params() {
                if p.type_id == 0 {
                    params.push("...".into());
                } else {
                    let pname = btf.str_at(p.name_off).unwrap_or("");
                    params.push(decl(btf, p.type_id, pname.to_string(), depth + 1, budget));
                }
            }
            let params = if params.is_empty() {
                "void".to_string()
            } else {
                params.join(", ")
            };
            decl(
                btf,
                t.ref_type(),
                format!("{inner}({params})"),
                depth + 1,
                budget,
            )
        }
        Kind::Func => {
            let name = btf.name_of(&t).unwrap_or("");
            let inner = if inner.is_empty() {
                name.to_string()
            } else {
                inner
            };
            decl(btf, t.ref_type(), inner, depth + 1, budget)
        }
        Kind::Var => {
            let name = btf.name_of(&t).unwrap_or("");
            let inner = if inner.is_empty() {
                name.to_string()
            } else {
                inner
            };
            decl(btf, t.ref_type(), inner, depth + 1, budget)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::testutil::Builder;

    /// Kind numbers, for readability.
    const INT: u32 = 1;
    const PTR: u32 = 2;
    const ARRAY: u32 = 3;
    const STRUCT: u32 = 4;
    const UNION: u32 = 5;
    const ENUM: u32 = 6;
    const TYPEDEF: u32 = 8;
    const CONST: u32 = 10;
    const FUNC: u32 = 12;
    const PROTO: u32 = 13;
    const FLOAT: u32 = 16;
    const ENUM64: u32 = 19;

    /// Members as (name, type, bit offset, bitfield size).
    fn members(b: &mut Builder, ms: &[(&str, u32, u32, u32)]) -> Vec<u32> {
        let mut out = Vec::new();
        for &(n, t, off, bits) in ms {
            out.push(b.s(n));
            out.push(t);
            out.push((bits << 24) | off);
        }
        out
    }

    /// A BTF with most kinds:
    ///  1 int, 2 unsigned int, 3 char (CHAR enc), 4 unsigned char, 5 long, 6 _Bool,
    ///  7 u8 (typedef unsigned char), 8 char[8], 9 u8[4], 10 int[2][2] (11 = int[2]),
    ///  12 enum state, 13 struct point {int x; int y;}, 14 int *, 15 struct point[2],
    ///  16 struct event {...}, 17 const char, 18 const char *, 19 double, 20 unsigned __int128,
    ///  21 anonymous union { int a; unsigned int b; }, 22 float, 23 signed enum small (1 byte),
    ///  24 enum64 big, 25 short, 26 typedef struct event event_t
    fn sample() -> Btf {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.int("unsigned int", 4, 32, false); // 2
        b.raw("char", INT, 0, false, 1, &[(2 << 24) | 8]); // 3: CHAR encoding
        b.int("unsigned char", 1, 8, false); // 4
        b.int("long", 8, 64, true); // 5
        b.raw("_Bool", INT, 0, false, 1, &[(4 << 24) | 8]); // 6
        b.raw("u8", TYPEDEF, 0, false, 4, &[]); // 7
        b.raw("", ARRAY, 0, false, 0, &[3, 1, 8]); // 8: char[8]
        b.raw("", ARRAY, 0, false, 0, &[7, 1, 4]); // 9: u8[4]
        b.raw("", ARRAY, 0, false, 0, &[11, 1, 2]); // 10: int[2][2]
        b.raw("", ARRAY, 0, false, 0, &[1, 1, 2]); // 11: int[2]
        let (run, stop) = (b.s("RUNNING"), b.s("STOPPED"));
        b.raw("state", ENUM, 2, false, 4, &[run, 0, stop, 4]); // 12
        let m = members(&mut b, &[("x", 1, 0, 0), ("y", 1, 32, 0)]);
        b.raw("point", STRUCT, 2, false, 8, &m); // 13
        b.raw("", PTR, 0, false, 1, &[]); // 14: int *
        b.raw("", ARRAY, 0, false, 0, &[13, 1, 2]); // 15: struct point[2]
                                                    // 16: struct event, kflag (bitfields), 64 bytes:
                                                    //   int pid @0; char comm[8] @32; unsigned int a:3 @96; int b:5 @99; _Bool ok:1 @104;
                                                    //   enum state st @128; struct point p @160; int *ptr @256; u8 mac[4] @320;
                                                    //   int grid[2][2] @352; union {int a; unsigned int b;} @480 (anonymous);
                                                    //   unsigned int :4 @ 96+16 (unnamed padding bitfield)
        let m = members(
            &mut b,
            &[
                ("pid", 1, 0, 0),
                ("comm", 8, 32, 0),
                ("a", 2, 96, 3),
                ("b", 1, 99, 5),
                ("ok", 6, 104, 1),
                ("", 2, 112, 4),
                ("st", 12, 128, 0),
                ("p", 13, 160, 0),
                ("ptr", 14, 256, 0),
                ("mac", 9, 320, 0),
                ("grid", 10, 352, 0),
                ("", 21, 480, 0),
            ],
        );
        b.raw("event", STRUCT, 12, true, 64, &m); // 16
        b.raw("", CONST, 0, false, 3, &[]); // 17: const char
        b.raw("", PTR, 0, false, 17, &[]); // 18: const char *
        b.raw("double", FLOAT, 0, false, 8, &[]); // 19
        b.int("unsigned __int128", 16, 128, false); // 20
        let m = members(&mut b, &[("ua", 1, 0, 0), ("ub", 2, 0, 0)]);
        b.raw("", UNION, 2, false, 4, &m); // 21
        b.raw("float", FLOAT, 0, false, 4, &[]); // 22
        let (neg, pos) = (b.s("NEG"), b.s("POS"));
        b.raw("small", ENUM, 2, true, 1, &[neg, (-1i32) as u32, pos, 1]); // 23
        let big = b.s("BIG");
        b.raw("wide", ENUM64, 1, false, 8, &[big, 0, 1]); // 24: BIG = 1 << 32
        b.int("short", 2, 16, true); // 25
        b.raw("event_t", TYPEDEF, 0, false, 16, &[]); // 26
        Btf::parse(b.build()).unwrap()
    }

    fn event_bytes() -> Vec<u8> {
        let mut v = vec![0u8; 64];
        v[0..4].copy_from_slice(&(-7i32).to_le_bytes());
        v[4..11].copy_from_slice(b"bash\nX\0"); // comm: a newline to escape, then the NUL
        v[11] = b'Z'; // after the NUL: not printed
                      // a:3 = 5 at bit 96; b:5 = -3 at bit 99; ok:1 = 1 at bit 104; padding bits 112.. = 0xf
        let bits: u32 = 5 | (((-3i32 as u32) & 0x1f) << 3) | (1 << 8) | (0xf << 16);
        v[12..16].copy_from_slice(&bits.to_le_bytes());
        v[16..20].copy_from_slice(&4u32.to_le_bytes()); // STOPPED
        v[20..24].copy_from_slice(&1i32.to_le_bytes());
        v[24..28].copy_from_slice(&(-2i32).to_le_bytes());
        v[32..40].copy_from_slice(&0xffff_8880_1234_5678u64.to_le_bytes());
        v[40..44].copy_from_slice(&[0, 1, 0xab, 255]);
        for (i, x) in [1i32, 2, 3, 4].iter().enumerate() {
            v[44 + 4 * i..48 + 4 * i].copy_from_slice(&x.to_le_bytes());
        }
        v[60..64].copy_from_slice(&(-1i32).to_le_bytes());
        v
    }

    #[test]
    fn struct_with_everything() {
        let btf = sample();
        let s = format_value(&btf, 16, &event_bytes()).unwrap();
        assert_eq!(
            s,
            "pid=-7 comm=\"bash\\nX\" a=5 b=-3 ok=true st=STOPPED p={x=1 y=-2} \
             ptr=0xffff888012345678 mac=[0,1,171,255] grid=[[1,2],[3,4]] ua=-1 ub=4294967295"
        );
        // Through a typedef, the same.
        assert_eq!(format_value(&btf, 26, &event_bytes()).unwrap(), s);
        // Trailing bytes are ignored.
        let mut longer = event_bytes();
        longer.extend_from_slice(&[9; 7]);
        assert_eq!(format_value(&btf, 16, &longer).unwrap(), s);
    }

    #[test]
    fn truncated_input_is_an_error_at_every_length() {
        let btf = sample();
        let v = event_bytes();
        for n in 0..v.len() {
            assert!(
                matches!(format_value(&btf, 16, &v[..n]), Err(BtfError::Truncated(_))),
                "len {n}"
            );
        }
        assert!(format_value(&btf, 1, &[1, 2, 3]).is_err());
        assert!(format_value(&btf, 14, &[0; 7]).is_err());
        assert!(format_value(&btf, 15, &[0; 15]).is_err());
        assert!(format_value(&btf, 8, &[b'a'; 7]).is_err());
    }

    #[test]
    fn scalars() {
        let btf = sample();
        assert_eq!(format_value(&btf, 1, &(-5i32).to_le_bytes()).unwrap(), "-5");
        assert_eq!(
            format_value(&btf, 2, &u32::MAX.to_le_bytes()).unwrap(),
            "4294967295"
        );
        assert_eq!(
            format_value(&btf, 5, &i64::MIN.to_le_bytes()).unwrap(),
            "-9223372036854775808"
        );
        assert_eq!(
            format_value(&btf, 25, &(-300i16).to_le_bytes()).unwrap(),
            "-300"
        );
        assert_eq!(format_value(&btf, 3, &[200]).unwrap(), "200");
        assert_eq!(format_value(&btf, 6, &[0]).unwrap(), "false");
        assert_eq!(format_value(&btf, 6, &[1]).unwrap(), "true");
        assert_eq!(
            format_value(&btf, 20, &u128::MAX.to_le_bytes()).unwrap(),
            u128::MAX.to_string()
        );
        assert_eq!(format_value(&btf, 14, &[0; 8]).unwrap(), "0x0");
        assert_eq!(
            format_value(&btf, 18, &0xdeadu64.to_le_bytes()).unwrap(),
            "0xdead"
        );
        assert_eq!(
            format_value(&btf, 19, &1.5f64.to_le_bytes()).unwrap(),
            "1.5"
        );
        assert_eq!(
            format_value(&btf, 22, &(-0.25f32).to_le_bytes()).unwrap(),
            "-0.25"
        );
        assert_eq!(
            format_value(&btf, 12, &0u32.to_le_bytes()).unwrap(),
            "RUNNING"
        );
        assert_eq!(format_value(&btf, 12, &9u32.to_le_bytes()).unwrap(), "9");
        assert_eq!(format_value(&btf, 23, &[0xff]).unwrap(), "NEG");
        assert_eq!(format_value(&btf, 23, &[1]).unwrap(), "POS");
        assert_eq!(format_value(&btf, 23, &[0xfe]).unwrap(), "-2");
        assert_eq!(
            format_value(&btf, 24, &(1u64 << 32).to_le_bytes()).unwrap(),
            "BIG"
        );
        assert_eq!(format_value(&btf, 24, &7u64.to_le_bytes()).unwrap(), "7");
        // Top-level composites and arrays.
        assert_eq!(
            format_value(&btf, 13, &[1, 0, 0, 0, 2, 0, 0, 0]).unwrap(),
            "x=1 y=2"
        );
        assert_eq!(format_value(&btf, 8, b"hi there").unwrap(), "\"hi there\"");
        assert_eq!(format_value(&btf, 8, b"\0\0\0\0\0\0\0\0").unwrap(), "\"\"");
        assert_eq!(
            format_value(&btf, 8, b"q\"\\\t\x01\xff\0z").unwrap(),
            "\"q\\\"\\\\\\t\\x01\\xff\""
        );
        assert_eq!(
            format_value(&btf, 15, &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]).unwrap(),
            "[{x=1 y=2},{x=3 y=4}]"
        );
        // Things without values.
        assert!(matches!(
            format_value(&btf, 0, &[0; 8]),
            Err(BtfError::WrongKind { .. })
        ));
        assert!(format_value(&btf, 999, &[0; 8]).is_err());
    }

    #[test]
    fn old_style_bitfields_and_unnamed_members() {
        // kflag 0: bitfields are ints narrower than their storage, at a bit offset.
        let mut b = Builder::new();
        b.int("unsigned int", 4, 32, false); // 1
        b.raw("u3", INT, 0, false, 4, &[3]); // 2: 3-bit unsigned
        b.raw("s4", INT, 0, false, 4, &[(1 << 24) | 4]); // 3: 4-bit signed
        let m = members(
            &mut b,
            &[("lo", 2, 0, 0), ("mid", 3, 3, 0), ("rest", 1, 32, 0)],
        );
        b.raw("flags", STRUCT, 3, false, 8, &m); // 4
        let btf = Btf::parse(b.build()).unwrap();
        // lo = 0b110 = 6, mid = 0b1010 = -6 (signed 4 bits), rest = 9
        let w: u32 = 6 | (0b1010 << 3);
        let mut v = w.to_le_bytes().to_vec();
        v.extend_from_slice(&9u32.to_le_bytes());
        assert_eq!(format_value(&btf, 4, &v).unwrap(), "lo=6 mid=-6 rest=9");
    }

    #[test]
    fn bitfield_spanning_bytes_and_enum_bitfield() {
        let mut b = Builder::new();
        b.int("unsigned long", 8, 64, false); // 1
        let (a, c) = (b.s("A"), b.s("C"));
        b.raw("e", ENUM, 2, false, 4, &[a, 1, c, 3]); // 2
        let m = members(
            &mut b,
            &[("x", 1, 5, 20), ("k", 2, 25, 2), ("y", 1, 27, 37)],
        );
        b.raw("s", STRUCT, 3, true, 8, &m); // 3
        let btf = Btf::parse(b.build()).unwrap();
        let x: u64 = 0xabcde;
        let y: u64 = (1 << 36) | 5;
        let w: u64 = (x << 5) | (3 << 25) | (y << 27);
        assert_eq!(
            format_value(&btf, 3, &w.to_le_bytes()).unwrap(),
            format!("x={x} k=C y={y}")
        );
    }

    #[test]
    fn self_containing_struct_is_an_error_not_a_crash() {
        let mut b = Builder::new();
        let m = members(&mut b, &[("me", 1, 0, 0)]);
        b.raw("loop", STRUCT, 1, false, 4, &m); // 1: struct loop { struct loop me; }
        let btf = Btf::parse(b.build()).unwrap();
        assert!(format_value(&btf, 1, &[0; 4]).is_err());
        // Zero-sized elements: a huge count prints as nothing, quickly.
        let mut b = Builder::new();
        b.raw("empty", STRUCT, 0, false, 0, &[]); // 1
        b.raw("", ARRAY, 0, false, 0, &[1, 1, u32::MAX]); // 2
        let btf = Btf::parse(b.build()).unwrap();
        assert_eq!(format_value(&btf, 2, &[]).unwrap(), "[]");
        assert_eq!(format_value(&btf, 1, &[]).unwrap(), "{}");
    }

    #[test]
    fn type_names() {
        let btf = sample();
        let n = |id| format_type_name(&btf, id);
        assert_eq!(n(0), "void");
        assert_eq!(n(1), "int");
        assert_eq!(n(7), "u8");
        assert_eq!(n(8), "char[8]");
        assert_eq!(n(10), "int[2][2]");
        assert_eq!(n(12), "enum state");
        assert_eq!(n(13), "struct point");
        assert_eq!(n(14), "int *");
        assert_eq!(n(15), "struct point[2]");
        assert_eq!(n(17), "const char");
        assert_eq!(n(18), "const char *");
        assert_eq!(n(21), "union {...}");
        assert_eq!(n(26), "event_t");
        assert_eq!(n(9999), "<bad type 9999>");
        assert_eq!(declaration(&btf, 8, "comm"), "char comm[8]");
        assert_eq!(declaration(&btf, 14, "p"), "int *p");

        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.raw("", PTR, 0, false, 1, &[]); // 2 int *
        b.raw("", CONST, 0, false, 2, &[]); // 3 int *const
        b.raw("", PTR, 0, false, 3, &[]); // 4 int *const *
        b.raw("", ARRAY, 0, false, 0, &[1, 1, 4]); // 5 int[4]
        b.raw("", PTR, 0, false, 5, &[]); // 6 int (*)[4]
        let x = b.s("x");
        b.raw("", PROTO, 2, false, 1, &[x, 2, 0, 0]); // 7 int (int *x, ...)
        b.raw("", PTR, 0, false, 7, &[]); // 8 int (*)(int *x, ...)
        b.raw("sum", FUNC, 1, false, 7, &[]); // 9
        b.raw("", PROTO, 0, false, 0, &[]); // 10 void (void)
        b.raw("", ARRAY, 0, false, 0, &[8, 1, 3]); // 11 int (*[3])(int *x, ...)
        b.raw("", PTR, 0, false, 10, &[]); // 12 void (*)(void)
        b.raw("", PTR, 0, false, 12, &[]); // 13 void (**)(void)
        let btf = Btf::parse(b.build()).unwrap();
        let n = |id| format_type_name(&btf, id);
        assert_eq!(n(3), "int *const");
        assert_eq!(n(4), "int *const *");
        assert_eq!(n(6), "int (*)[4]");
        assert_eq!(n(8), "int (*)(int *x, ...)");
        assert_eq!(n(9), "int sum(int *x, ...)");
        assert_eq!(n(11), "int (*[3])(int *x, ...)");
        assert_eq!(n(13), "void (**)(void)");
        assert_eq!(n(10), "void (void)");
        assert_eq!(declaration(&btf, 6, "p"), "int (*p)[4]");
        assert_eq!(declaration(&btf, 3, "p"), "int *const p");
    }

    #[test]
    fn kernel_list_head() {
        let Ok(btf) = crate::btf::kernel::vmlinux_btf() else {
            eprintln!("skipping: no kernel BTF");
            return;
        };
        let id = btf.find_by_name_kind("list_head", Kind::Struct).unwrap();
        assert_eq!(btf.resolve_size(id).unwrap(), 16);
        assert_eq!(
            format_value(&btf, id, &[0; 16]).unwrap(),
            "next=0x0 prev=0x0"
        );
        assert_eq!(format_type_name(&btf, id), "struct list_head");
        let ts = btf.find_by_name_kind("task_struct", Kind::Struct).unwrap();
        let t = btf.type_by_id(ts).unwrap();
        let comm = t
            .members()
            .find(|m| btf.str_at(m.name_off).unwrap() == "comm")
            .unwrap();
        assert_eq!(format_type_name(&btf, comm.type_id), "char[16]");
        // A whole task_struct of zeroes formats without error.
        let size = btf.resolve_size(ts).unwrap() as usize;
        let s = format_value(&btf, ts, &vec![0; size]).unwrap();
        assert!(s.contains("comm=\"\""), "{s}");
        let state = crate::btf::kernel::task_state_field();
        assert!(s.contains(&format!(" {state}=0")), "{s}");
    }
}
