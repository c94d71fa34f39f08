//! Kernel configuration text (`.config`, `/proc/config.gz` decoded) and how a
//! `__kconfig` extern's BTF type decides which values it takes.

use std::collections::HashMap;

use crate::btf::{int_enc, Btf, Kind, Type};

use super::ExternError;

/// One entry of a kernel configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigEntry {
    /// `CONFIG_NAME=value`: the value text as written (`y`, `m`, `"str"`, `250`, `0x1f`).
    Value(String),
    /// `# CONFIG_NAME is not set`.
    NotSet,
}

/// A parsed kernel configuration (`.config` text): `CONFIG_*` names to their values.
///
/// Values keep their text; they are typed only when an extern asks for them, by the
/// extern's BTF type, as libbpf does. The first occurrence of a name wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelConfig {
    entries: HashMap<String, ConfigEntry>,
}

impl KernelConfig {
    /// Parses configuration text. Lines `CONFIG_NAME=value` and `# CONFIG_NAME is not
    /// set` count; other lines (comments, blank lines) are ignored. A `CONFIG_` line
    /// without `=` or without a value is an error, as in libbpf.
    pub fn parse(text: &str) -> Result<KernelConfig, ExternError> {
        let mut entries = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            let err = |reason| ExternError::ConfigSyntax {
                line: i + 1,
                text: line.to_string(),
                reason,
            };
            if line.starts_with("CONFIG_") {
                let (name, value) = line.split_once('=').ok_or_else(|| err("no '='"))?;
                if value.is_empty() {
                    return Err(err("no value after '='"));
                }
                entries
                    .entry(name.to_string())
                    .or_insert_with(|| ConfigEntry::Value(value.to_string()));
            } else if let Some(rest) = line.strip_prefix("# ") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    if name.starts_with("CONFIG_") && !name.contains(char::is_whitespace) {
                        entries
                            .entry(name.to_string())
                            .or_insert(ConfigEntry::NotSet);
                    }
                }
            }
        }
        Ok(KernelConfig { entries })
    }

    /// The entry for `name` (`CONFIG_HZ`).
    pub fn get(&self, name: &str) -> Option<&ConfigEntry> {
        self.entries.get(name)
    }

    /// The value text of `name`, if it is set.
    pub fn value(&self, name: &str) -> Option<&str> {
        match self.entries.get(name) {
            Some(ConfigEntry::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// Number of entries (set and not set).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A configuration value, typed by its first character as libbpf types it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Typed {
    /// `y`, `m` or `n`.
    Tri(u8),
    /// A quoted string, unquoted and unescaped.
    Str(Vec<u8>),
    /// An integer (C `strtoull` syntax: decimal, `0x` hex, `0` octal, optional sign).
    Num(u64),
}

pub(super) fn type_value(value: &str) -> Result<Typed, String> {
    let b = value.as_bytes();
    match b.first() {
        Some(&c @ (b'y' | b'n' | b'm')) => Ok(Typed::Tri(c)),
        Some(b'"') => {
            if b.len() < 2 || b[b.len() - 1] != b'"' {
                return Err("is an invalid string (no closing quote)".into());
            }
            Ok(Typed::Str(unescape(&b[1..b.len() - 1])))
        }
        _ => parse_c_u64(value)
            .map(Typed::Num)
            .ok_or_else(|| "isn't a valid integer".into()),
    }
}

/// Undoes Kconfig's string escaping (`\"` and `\\`); other backslashes stay.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() && matches!(s[i + 1], b'"' | b'\\') {
            out.push(s[i + 1]);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `strtoull(s, &end, 0)` that must consume all of `s`: optional leading whitespace and
/// sign, then `0x`/`0X` hex, `0` octal or decimal. A minus sign negates modulo 2^64 (as
/// C does); overflow is an error.
fn parse_c_u64(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// How a `__kconfig` extern's BTF type lets it be filled (libbpf's `enum kcfg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KconfigType {
    /// `bool` (1-byte int with the BOOL encoding).
    Bool,
    /// A 1-byte integer (`char`, `u8`, ...): takes `y`/`m`/`n` as characters, or numbers.
    Char,
    /// A 2-, 4- or 8-byte integer.
    Int {
        /// Signed (range checks differ).
        signed: bool,
    },
    /// `enum libbpf_tristate`.
    Tristate,
    /// An array of 1-byte integers: a NUL-terminated string.
    CharArray,
}

impl KconfigType {
    pub(super) fn name(self) -> &'static str {
        match self {
            KconfigType::Bool => "bool",
            KconfigType::Char => "char",
            KconfigType::Int { .. } => "integer",
            KconfigType::Tristate => "tristate",
            KconfigType::CharArray => "char array",
        }
    }
}

/// libbpf's `find_kcfg_type`: `Err` explains an unsupported type.
pub(super) fn kconfig_type(btf: &Btf, id: u32) -> Result<KconfigType, String> {
    let id = btf.skip_mods_and_typedefs(id).map_err(|e| e.to_string())?;
    let t = btf.type_by_id(id).map_err(|e| e.to_string())?;
    match t.kind {
        Kind::Int => int_kconfig_type(&t),
        Kind::Enum | Kind::Enum64 => enum_kconfig_type(btf, &t),
        Kind::Array => {
            let a = t.array().map_err(|e| e.to_string())?;
            if a.nelems == 0 {
                return Err("an empty array".into());
            }
            match kconfig_type(btf, a.elem_type) {
                Ok(KconfigType::Char) => Ok(KconfigType::CharArray),
                _ => Err("an array of something other than 1-byte integers".into()),
            }
        }
        k => Err(format!("a {}", k.name())),
    }
}

/// An integer takes configuration values as a 1-byte bool, a char or a 2-, 4- or
/// 8-byte integer.
fn int_kconfig_type(t: &Type) -> Result<KconfigType, String> {
    let int = t.int().map_err(|e| e.to_string())?;
    if int.encoding & int_enc::BOOL != 0 {
        return if t.size() == 1 {
            Ok(KconfigType::Bool)
        } else {
            Err(format!("a {}-byte bool", t.size()))
        };
    }
    match t.size() {
        1 => Ok(KconfigType::Char),
        2 | 4 | 8 => Ok(KconfigType::Int {
            signed: int.encoding & int_enc::SIGNED != 0,
        }),
        n => Err(format!("a {n}-byte integer")),
    }
}

/// The one enum that takes configuration values is a 4-byte `enum libbpf_tristate`
/// (or its ENUM64 form).
fn enum_kconfig_type(btf: &Btf, t: &Type) -> Result<KconfigType, String> {
    let name = btf.name_of(t).unwrap_or("");
    if name != "libbpf_tristate" {
        return Err(format!("enum '{name}' (only enum libbpf_tristate is)"));
    }
    if t.kind == Kind::Enum && t.size() != 4 {
        return Err(format!("a {}-byte enum libbpf_tristate", t.size()));
    }
    Ok(KconfigType::Tristate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parsing() {
        let c = KernelConfig::parse(
            "#\n# comment\n\nCONFIG_A=y\r\nCONFIG_B=m\nCONFIG_S=\"a \\\"q\\\" \\\\ b\"\n\
             CONFIG_H=0x1f\nCONFIG_N=-12\n# CONFIG_X is not set\nCONFIG_A=n\n\
             # CONFIG_Y is not set really\nNOT_CONFIG=1\n",
        )
        .unwrap();
        assert_eq!(c.value("CONFIG_A"), Some("y"), "the first occurrence wins");
        assert_eq!(c.value("CONFIG_B"), Some("m"));
        assert_eq!(c.value("CONFIG_S"), Some("\"a \\\"q\\\" \\\\ b\""));
        assert_eq!(c.value("CONFIG_H"), Some("0x1f"));
        assert_eq!(c.value("CONFIG_N"), Some("-12"));
        assert_eq!(c.get("CONFIG_X"), Some(&ConfigEntry::NotSet));
        assert_eq!(c.get("CONFIG_Y"), None);
        assert_eq!(c.get("NOT_CONFIG"), None);
        assert_eq!(c.len(), 6);

        for (bad, reason) in [("CONFIG_A\n", "no '='"), ("CONFIG_A=\n", "no value")] {
            match KernelConfig::parse(bad) {
                Err(ExternError::ConfigSyntax {
                    line: 1, reason: r, ..
                }) => {
                    assert!(r.contains(reason), "{r}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn value_typing() {
        assert_eq!(type_value("y"), Ok(Typed::Tri(b'y')));
        assert_eq!(type_value("m"), Ok(Typed::Tri(b'm')));
        assert_eq!(
            type_value("no"),
            Ok(Typed::Tri(b'n')),
            "libbpf looks at the first char"
        );
        assert_eq!(type_value("\"\""), Ok(Typed::Str(Vec::new())));
        assert_eq!(
            type_value(r#""a \"b\" \\ \n""#),
            Ok(Typed::Str(br#"a "b" \ \n"#.to_vec()))
        );
        assert!(type_value("\"open").is_err());
        assert!(type_value("\"").is_err());
        assert_eq!(type_value("250"), Ok(Typed::Num(250)));
        assert_eq!(type_value("0x1F"), Ok(Typed::Num(31)));
        assert_eq!(type_value("017"), Ok(Typed::Num(15)), "leading 0 is octal");
        assert_eq!(type_value("0"), Ok(Typed::Num(0)));
        assert_eq!(type_value("-1"), Ok(Typed::Num(u64::MAX)));
        assert_eq!(type_value("+7"), Ok(Typed::Num(7)));
        assert_eq!(type_value("18446744073709551615"), Ok(Typed::Num(u64::MAX)));
        for bad in [
            "18446744073709551616",
            "0x",
            "12a",
            "08",
            "0x1g",
            "-",
            "1 2",
            "abc",
        ] {
            assert!(type_value(bad).is_err(), "{bad}");
        }
    }
}
