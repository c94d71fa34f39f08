//! Turning text into the bytes of a BTF-typed value: what `corebpf run --set NAME=VALUE`
//! writes into a global variable before load.
//!
//! | type (typedefs and modifiers looked through) | accepted text |
//! |---|---|
//! | integers of 1, 2, 4, 8 or 16 bytes, signed or not | `42`, `-7`, `0x2a`, `0o52`, `0b101010`, with `_` between digits allowed; the value must fit the type |
//! | `_Bool` | `true`, `false`, `1`, `0` |
//! | enums (32- and 64-bit) | an enumerator's name, or a number that fits the enum |
//! | `float`, `double` | a Rust float literal (`1.5`, `-2e3`, `inf`) |
//! | arrays of one-byte integers (`char[16]`, `u8[4]`) | a string of fewer bytes than the array (room is kept for the NUL), zero-padded |
//!
//! Everything else (structs, unions, pointers, other arrays) is refused with
//! [`ValueErrorKind::Unsupported`]. Values are little endian, as BPF objects are.
//!
//! # Examples
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = corebpf::ObjectSpec::from_file("bpf-progs/hello.bpf.o".as_ref())?;
//! let btf = spec.btf.as_ref().expect("hello has BTF");
//! let u32_id = btf.ids_by_name("u32").next().expect("hello's u32 typedef");
//! assert_eq!(corebpf::btf::value::encode(btf, u32_id, "0x10")?, 16u32.to_le_bytes());
//! assert!(corebpf::btf::value::encode(btf, u32_id, "-1").is_err());
//! # Ok(())
//! # }
//! ```

use super::{format, int_enc, Btf, BtfError, Kind};

/// Text that is not a value of a BTF type.
#[derive(Debug)]
pub struct ValueError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub kind: ValueErrorKind,
}

/// What is wrong with a value's text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueErrorKind {
    /// Not a number (an integer or enum type).
    NotANumber,
    /// A number outside the type's range, which is given in words (`0..=255`).
    OutOfRange {
        /// The type's range.
        range: String,
    },
    /// Not `true`, `false`, `1` or `0`.
    NotABool,
    /// Neither an enumerator nor a number; the enum's enumerators are listed.
    NoSuchEnumerator {
        /// The enumerators.
        enumerators: Vec<String>,
    },
    /// A string that does not fit the array with its terminating NUL.
    TooLong {
        /// Bytes given.
        len: usize,
        /// Most bytes accepted.
        max: usize,
    },
    /// A type no text is read as (struct, union, pointer, ...), named by its kind.
    Unsupported {
        /// The type's kind in words.
        what: String,
    },
    /// The BTF itself is inconsistent.
    Btf(String),
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.text;
        match &self.kind {
            ValueErrorKind::NotANumber => write!(f, "'{t}' is not a number"),
            ValueErrorKind::OutOfRange { range } => {
                write!(f, "{t} is out of range (the type holds {range})")
            }
            ValueErrorKind::NotABool => write!(f, "'{t}' is not true, false, 1 or 0"),
            ValueErrorKind::NoSuchEnumerator { enumerators } => write!(
                f,
                "'{t}' is not an enumerator (the enum has {}) nor a number",
                enumerators.join(", ")
            ),
            ValueErrorKind::TooLong { len, max } => write!(
                f,
                "the string is {len} bytes long; at most {max} fit with the terminating NUL"
            ),
            ValueErrorKind::Unsupported { what } => {
                write!(f, "a value of {what} cannot be given as text")
            }
            ValueErrorKind::Btf(reason) => write!(f, "inconsistent BTF: {reason}"),
        }
    }
}

impl std::error::Error for ValueError {}

/// The bytes of `text` read as a value of BTF type `type_id` (see the module docs for
/// what each type accepts); as many bytes as the type's size.
pub fn encode(btf: &Btf, type_id: u32, text: &str) -> Result<Vec<u8>, ValueError> {
    let err = |kind| ValueError {
        text: text.to_string(),
        kind,
    };
    let bad_btf = |e: BtfError| err(ValueErrorKind::Btf(e.to_string()));
    let id = btf.skip_mods_and_typedefs(type_id).map_err(bad_btf)?;
    let t = btf.type_by_id(id).map_err(bad_btf)?;
    let size = t.size() as usize;
    match t.kind {
        Kind::Int => {
            let int = t.int().map_err(bad_btf)?;
            if int.encoding & int_enc::BOOL != 0 {
                return boolean(text, size).map_err(err);
            }
            let bits = u32::from(int.bits).min(size as u32 * 8);
            integer(text, bits, int.encoding & int_enc::SIGNED != 0, size).map_err(err)
        }
        Kind::Enum | Kind::Enum64 => enumeration(btf, &t, text, size).map_err(err),
        Kind::Float => float(text, size).map_err(err),
        Kind::Array => string(btf, &t, text).map_err(err),
        _ => Err(err(unsupported(btf, id))),
    }
}

/// "struct event", "a pointer", ... for [`ValueErrorKind::Unsupported`].
fn unsupported(btf: &Btf, id: u32) -> ValueErrorKind {
    ValueErrorKind::Unsupported {
        what: format::format_type_name(btf, id),
    }
}

/// An integer literal: sign, then decimal or `0x`/`0o`/`0b` digits, `_` allowed.
/// Returns (negative, magnitude).
fn parse_integer(text: &str) -> Option<(bool, u128)> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(p, r)| lower.strip_prefix(p).map(|d| (*r, d)))
        .unwrap_or((10, lower.as_str()));
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u128::from_str_radix(&digits, radix)
        .ok()
        .map(|m| (neg && m != 0, m))
}

/// Range of a `bits`-wide integer, as text and as (most negative magnitude, max).
fn int_range(bits: u32, signed: bool) -> (String, u128, u128) {
    let full = |b: u32| {
        if b >= 128 {
            u128::MAX
        } else {
            (1u128 << b) - 1
        }
    };
    if signed {
        let max = full(bits - 1);
        (format!("-{}..={max}", max + 1), max + 1, max)
    } else {
        (format!("0..={}", full(bits)), 0, full(bits))
    }
}

/// `size` little-endian bytes of the two's complement of (neg, mag).
fn int_bytes(neg: bool, mag: u128, size: usize) -> Vec<u8> {
    let v = if neg { mag.wrapping_neg() } else { mag };
    v.to_le_bytes()[..size.min(16)].to_vec()
}

fn integer(text: &str, bits: u32, signed: bool, size: usize) -> Result<Vec<u8>, ValueErrorKind> {
    if bits == 0 || size == 0 || size > 16 {
        return Err(ValueErrorKind::Unsupported {
            what: format!("a {size}-byte integer"),
        });
    }
    let (neg, mag) = parse_integer(text).ok_or(ValueErrorKind::NotANumber)?;
    let (range, min_mag, max) = int_range(bits, signed);
    if (neg && mag > min_mag) || (!neg && mag > max) {
        return Err(ValueErrorKind::OutOfRange { range });
    }
    Ok(int_bytes(neg, mag, size))
}

fn boolean(text: &str, size: usize) -> Result<Vec<u8>, ValueErrorKind> {
    let v = match text.trim() {
        "true" | "1" => 1,
        "false" | "0" => 0,
        _ => return Err(ValueErrorKind::NotABool),
    };
    let mut out = vec![0; size.max(1)];
    out[0] = v;
    Ok(out)
}

fn enumeration(
    btf: &Btf,
    t: &super::Type<'_>,
    text: &str,
    size: usize,
) -> Result<Vec<u8>, ValueErrorKind> {
    let name = text.trim();
    let mut names = Vec::new();
    for v in t.enum_values() {
        let n = btf
            .str_at(v.name_off)
            .map_err(|e| ValueErrorKind::Btf(e.to_string()))?;
        if n == name {
            return Ok(v.value.to_le_bytes()[..size.min(8)].to_vec());
        }
        names.push(n.to_string());
    }
    match integer(text, size as u32 * 8, t.kflag(), size) {
        Err(ValueErrorKind::NotANumber) => {
            Err(ValueErrorKind::NoSuchEnumerator { enumerators: names })
        }
        other => other,
    }
}

fn float(text: &str, size: usize) -> Result<Vec<u8>, ValueErrorKind> {
    let t = text.trim();
    match size {
        4 => t.parse::<f32>().map(|v| v.to_le_bytes().to_vec()),
        8 => t.parse::<f64>().map(|v| v.to_le_bytes().to_vec()),
        _ => {
            return Err(ValueErrorKind::Unsupported {
                what: format!("a {size}-byte float"),
            })
        }
    }
    .map_err(|_| ValueErrorKind::NotANumber)
}

/// A string into an array of one-byte integers, NUL-padded.
fn string(btf: &Btf, t: &super::Type<'_>, text: &str) -> Result<Vec<u8>, ValueErrorKind> {
    let a = t.array().map_err(|e| ValueErrorKind::Btf(e.to_string()))?;
    let elem = btf
        .skip_mods_and_typedefs(a.elem_type)
        .and_then(|id| btf.type_by_id(id))
        .map_err(|e| ValueErrorKind::Btf(e.to_string()))?;
    if elem.kind != Kind::Int || elem.size() != 1 {
        return Err(unsupported(btf, t.id));
    }
    let n = a.nelems as usize;
    if text.len() >= n {
        return Err(ValueErrorKind::TooLong {
            len: text.len(),
            max: n.saturating_sub(1),
        });
    }
    let mut out = vec![0; n];
    out[..text.len()].copy_from_slice(text.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests;
