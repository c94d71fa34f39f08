//! Extern resolution: `__kconfig` and `__ksym` externs, as libbpf resolves them.
//!
//! A BPF object may use three kinds of extern, all declared in C and left undefined:
//!
//! - `extern int CONFIG_HZ __kconfig;` — a value of the running kernel's configuration
//!   (or one of libbpf's virtual `LINUX_*` values), read from the `.kconfig` map;
//! - `extern const int bpf_prog_active __ksym;` — a kernel variable, by BTF type
//!   (`ld_imm64` with `BPF_PSEUDO_BTF_ID`), or `extern const void sym __ksym;` — an
//!   untyped kernel symbol, by address from `/proc/kallsyms`;
//! - `extern struct task_struct *bpf_task_from_pid(s32) __ksym;` — a kernel function
//!   (kfunc), called with `BPF_PSEUDO_KFUNC_CALL`.
//!
//! Semantics follow libbpf: `bpf_object__collect_externs` (extern types),
//! `bpf_object__resolve_externs` (which source answers which extern, weak versus
//! strong), `bpf_object__process_kconfig_line`/`set_kcfg_value_*` (value encoding and
//! range checks), `bpf_object__resolve_ksym_var_btf_id`/`_func_btf_id` and
//! `find_ksym_btf_id` (vmlinux first, then modules; type compatibility as
//! `bpf_core_types_are_compat`), `kallsyms_cb` (ambiguity) and the extern cases of
//! `bpf_object__relocate_data` (what each instruction becomes, including
//! `POISON_CALL_KFUNC_BASE + index` for an unresolved weak kfunc call). Deliberate
//! differences are listed on [`resolve`].
//!
//! This module is pure: whatever comes from the running kernel (its configuration,
//! `/proc/kallsyms`, its BTF, feature probes) is asked of an [`ExternEnv`], and only when
//! an extern needs it; `crate::loader::externs` implements it for the running kernel,
//! [`FixedEnv`] for tests and offline use. The result is a [`Resolution`]: the `.kconfig`
//! map's initial bytes, per program a list of instruction [`Patch`]es, and the kernel
//! modules whose BTF descriptors the patched instructions refer to. [`apply_patches`] turns
//! patches into instructions once those descriptors exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::btf::fixup::KCONFIG_SEC;
use crate::btf::{int_enc, Btf, BtfError, Kind};
use crate::insn::{op, pseudo, Insn};
use crate::object::{ExternKind, GlobalKind, MapKind, ObjectSpec};

/// Base of the immediate of a poisoned kfunc call: `call POISON_CALL_KFUNC_BASE + i`
/// (an invalid helper number) replaces a call of unresolved weak kfunc number `i`, so a
/// reachable one fails verification with `invalid func unknown#2002000000+i` (libbpf's
/// constant, so logs read the same).
pub const POISON_CALL_KFUNC_BASE: i32 = 2_002_000_000;

/// libbpf's `enum libbpf_tristate` values.
pub mod tristate {
    /// `TRI_NO` (`n`, and `# CONFIG_X is not set`).
    pub const NO: u32 = 0;
    /// `TRI_YES` (`y`).
    pub const YES: u32 = 1;
    /// `TRI_MODULE` (`m`).
    pub const MODULE: u32 = 2;
}

/// Errors from resolving externs. Each names the extern (or the configuration line, or
/// the program and instruction) involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExternError {
    /// The object uses externs but has no (valid) BTF to describe them.
    #[error("extern '{name}': the object has no BTF, which externs need")]
    NoBtf {
        /// The first extern referenced.
        name: String,
    },
    /// An instruction refers to an extern that neither `.kconfig` nor `.ksyms` declares.
    #[error("extern '{name}' is not declared in the object's .kconfig or .ksyms BTF")]
    NotDeclared {
        /// The extern.
        name: String,
    },
    /// The object's BTF for an extern is invalid.
    #[error("extern '{name}': the BTF describing it is invalid")]
    Btf {
        /// The extern.
        name: String,
        /// The BTF error.
        #[source]
        source: BtfError,
    },
    /// A `__kconfig` extern of a type libbpf cannot fill (or a function).
    #[error("extern (kconfig) '{name}': unsupported type: {reason}")]
    UnsupportedType {
        /// The extern.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A `__kconfig` extern named neither `CONFIG_*` nor a known `LINUX_*` value
    /// (unknown `LINUX_*` externs are fine when `__weak`: they are zero).
    #[error("extern (kconfig) '{name}': unrecognized virtual extern (only CONFIG_* and LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER exist)")]
    UnknownVirtual {
        /// The extern.
        name: String,
    },
    /// A configuration value that does not suit the extern's type, or does not fit it.
    #[error("extern (kconfig) '{name}': value '{value}' {reason}")]
    BadValue {
        /// The extern.
        name: String,
        /// The value as the configuration wrote it.
        value: String,
        /// Why it does not fit.
        reason: String,
    },
    /// A line of kernel configuration text that is not `CONFIG_NAME=value`.
    #[error("kernel configuration line {line} ('{text}'): {reason}")]
    ConfigSyntax {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A line of kallsyms text that is not `ADDR TYPE NAME [\[MODULE\]]`.
    #[error("kallsyms line {line} ('{text}') is not 'ADDR TYPE NAME [[MODULE]]'")]
    KallsymsSyntax {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// A strong extern that nothing resolves.
    #[error("extern ({kind}) '{name}' (strong): {reason}")]
    Unresolved {
        /// The extern.
        name: String,
        /// `kconfig`, `var ksym`, `func ksym` or `ksym`.
        kind: &'static str,
        /// Where it was looked for.
        reason: String,
    },
    /// A typed `__ksym` whose type differs from the kernel's.
    #[error(
        "extern ({kind}) '{name}': incompatible types: the object has {local}, {btf} has {target}"
    )]
    Incompatible {
        /// The extern.
        name: String,
        /// `var ksym` or `func ksym`.
        kind: &'static str,
        /// The object's type, described.
        local: String,
        /// The kernel's type, described.
        target: String,
        /// `vmlinux` or the module's name.
        btf: String,
    },
    /// An untyped `__ksym` that `/proc/kallsyms` lists at more than one address.
    #[error("extern (ksym) '{name}': resolution is ambiguous: {first:#x} or {second:#x}")]
    Ambiguous {
        /// The extern.
        name: String,
        /// One address.
        first: u64,
        /// Another.
        second: u64,
    },
    /// Something the resolution needs from the kernel is unavailable (its configuration,
    /// kallsyms, its BTF), said for the first extern that needed it.
    #[error("extern '{name}': {what} is unavailable: {reason}")]
    Source {
        /// The extern.
        name: String,
        /// What was needed.
        what: &'static str,
        /// Why it could not be had.
        reason: String,
    },
    /// A reference to an extern that the instruction cannot take (a call of a variable, a
    /// `.kconfig` function, an extern reference that is no `ld_imm64` or `call`).
    #[error("program '{program}': instruction {insn} (extern '{name}'): {reason}")]
    BadReloc {
        /// The program.
        program: String,
        /// Instruction index.
        insn: usize,
        /// The extern.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// More kernel modules than an instruction's 16-bit `fd_array` index can address.
    #[error("extern '{name}': too many kernel module BTFs for fd_array indexes")]
    TooManyModules {
        /// The extern whose module did not fit.
        name: String,
    },
    /// Opening the BTF object of a kernel module failed (kernel-facing layer).
    #[error("kernel module '{module}' BTF: {reason}")]
    ModuleBtf {
        /// The module.
        module: String,
        /// What failed.
        reason: String,
    },
    /// A configuration or symbol file could not be read or decoded (kernel-facing layer).
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------
// Kernel configuration
// ---------------------------------------------------------------------------------

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
enum Typed {
    /// `y`, `m` or `n`.
    Tri(u8),
    /// A quoted string, unquoted and unescaped.
    Str(Vec<u8>),
    /// An integer (C `strtoull` syntax: decimal, `0x` hex, `0` octal, optional sign).
    Num(u64),
}

fn type_value(value: &str) -> Result<Typed, String> {
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
    fn name(self) -> &'static str {
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
fn kconfig_type(btf: &Btf, id: u32) -> Result<KconfigType, String> {
    let id = btf.skip_mods_and_typedefs(id).map_err(|e| e.to_string())?;
    let t = btf.type_by_id(id).map_err(|e| e.to_string())?;
    match t.kind {
        Kind::Int => {
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
        Kind::Enum | Kind::Enum64 => {
            let name = btf.name_of(&t).unwrap_or("");
            if name != "libbpf_tristate" {
                return Err(format!("enum '{name}' (only enum libbpf_tristate is)"));
            }
            if t.kind == Kind::Enum && t.size() != 4 {
                return Err(format!("a {}-byte enum libbpf_tristate", t.size()));
            }
            Ok(KconfigType::Tristate)
        }
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

// ---------------------------------------------------------------------------------
// kallsyms
// ---------------------------------------------------------------------------------

/// One `/proc/kallsyms` entry for a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ksym {
    /// Address (0 for every symbol when the kernel hides addresses).
    pub addr: u64,
    /// Symbol type letter (`T`, `t`, `D`, `b`, ...).
    pub kind: u8,
    /// Index into [`Kallsyms::modules`] for a module's symbol, `None` for vmlinux.
    pub module: Option<u32>,
}

/// A parsed `/proc/kallsyms`: symbol names to their entries, module-aware.
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    syms: HashMap<String, Vec<Ksym>>,
    modules: Vec<String>,
    nonzero: bool,
}

impl Kallsyms {
    /// Parses kallsyms text: `ADDR TYPE NAME` lines, with `\t[MODULE]` after a module's
    /// symbols. A line of another shape is an error.
    pub fn parse(text: &str) -> Result<Kallsyms, ExternError> {
        let mut ks = Kallsyms::default();
        let mut module_idx: HashMap<&str, u32> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || ExternError::KallsymsSyntax {
                line: i + 1,
                text: line.to_string(),
            };
            let mut it = line.split_ascii_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else {
                return Err(bad());
            };
            let addr = u64::from_str_radix(addr, 16).map_err(|_| bad())?;
            let &[kind] = kind.as_bytes() else {
                return Err(bad());
            };
            let module = match it.next() {
                Some(m) => {
                    let m = m
                        .strip_prefix('[')
                        .and_then(|m| m.strip_suffix(']'))
                        .ok_or_else(bad)?;
                    let next = module_idx.len() as u32;
                    let idx = *module_idx.entry(m).or_insert(next);
                    if idx == next {
                        ks.modules.push(m.to_string());
                    }
                    Some(idx)
                }
                None => None,
            };
            ks.nonzero |= addr != 0;
            ks.syms
                .entry(name.to_string())
                .or_default()
                .push(Ksym { addr, kind, module });
        }
        Ok(ks)
    }

    /// Every entry named `name`.
    pub fn entries(&self, name: &str) -> &[Ksym] {
        self.syms.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Module names that [`Ksym::module`] indexes.
    pub fn modules(&self) -> &[String] {
        &self.modules
    }

    /// The address of `name`: `Ok(None)` when absent, an error when the entries disagree
    /// (libbpf's "resolution is ambiguous").
    pub fn address(&self, name: &str) -> Result<Option<u64>, ExternError> {
        let e = self.entries(name);
        let Some(first) = e.first() else {
            return Ok(None);
        };
        if let Some(other) = e.iter().find(|k| k.addr != first.addr) {
            return Err(ExternError::Ambiguous {
                name: name.to_string(),
                first: first.addr,
                second: other.addr,
            });
        }
        Ok(Some(first.addr))
    }

    /// True when there are symbols and all of them are at address 0: the kernel hides
    /// addresses from this process (`kptr_restrict`, no `CAP_SYSLOG`).
    pub fn addresses_hidden(&self) -> bool {
        !self.syms.is_empty() && !self.nonzero
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }
}

// ---------------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------------

/// What extern resolution needs from the kernel. Each method is called only when an
/// extern needs its answer, and at most once per [`resolve`]; implementations load
/// lazily. Errors are reasons in words; the resolver names the extern that needed them.
pub trait ExternEnv {
    /// The kernel configuration; `Ok(None)` when the kernel has none to offer.
    fn kernel_config(&self) -> Result<Option<&KernelConfig>, String>;
    /// `LINUX_KERNEL_VERSION`: `KERNEL_VERSION(major, minor, patch)`.
    fn kernel_version(&self) -> Result<u32, String>;
    /// `LINUX_HAS_BPF_COOKIE`: the kernel has `bpf_get_attach_cookie`.
    fn has_bpf_cookie(&self) -> bool;
    /// `LINUX_HAS_SYSCALL_WRAPPER`: syscalls enter through `__<arch>_sys_*` wrappers.
    fn has_syscall_wrapper(&self) -> bool;
    /// `/proc/kallsyms`, for untyped `__ksym`s.
    fn kallsyms(&self) -> Result<&Kallsyms, String>;
    /// The kernel's BTF, for typed `__ksym`s and kfuncs.
    fn vmlinux_btf(&self) -> Result<&Btf, String>;
    /// The modules' BTF (split on [`vmlinux_btf`](Self::vmlinux_btf)), by module name;
    /// asked for only when vmlinux lacks a symbol.
    fn module_btfs(&self) -> Result<&[(String, Arc<Btf>)], String>;
}

/// An [`ExternEnv`] with fixed answers: for tests, and for resolving offline against a
/// given configuration and BTF. What is `None` is "unavailable".
#[derive(Debug, Default)]
pub struct FixedEnv {
    /// The kernel configuration.
    pub config: Option<KernelConfig>,
    /// `LINUX_KERNEL_VERSION`.
    pub version: Option<u32>,
    /// `LINUX_HAS_BPF_COOKIE`.
    pub bpf_cookie: bool,
    /// `LINUX_HAS_SYSCALL_WRAPPER`.
    pub syscall_wrapper: bool,
    /// `/proc/kallsyms`.
    pub kallsyms: Option<Kallsyms>,
    /// vmlinux BTF.
    pub vmlinux: Option<Btf>,
    /// Module BTFs.
    pub modules: Vec<(String, Arc<Btf>)>,
}

impl ExternEnv for FixedEnv {
    fn kernel_config(&self) -> Result<Option<&KernelConfig>, String> {
        Ok(self.config.as_ref())
    }
    fn kernel_version(&self) -> Result<u32, String> {
        self.version.ok_or_else(|| "no kernel version given".into())
    }
    fn has_bpf_cookie(&self) -> bool {
        self.bpf_cookie
    }
    fn has_syscall_wrapper(&self) -> bool {
        self.syscall_wrapper
    }
    fn kallsyms(&self) -> Result<&Kallsyms, String> {
        self.kallsyms
            .as_ref()
            .ok_or_else(|| "no kallsyms given".into())
    }
    fn vmlinux_btf(&self) -> Result<&Btf, String> {
        self.vmlinux
            .as_ref()
            .ok_or_else(|| "no kernel BTF given".into())
    }
    fn module_btfs(&self) -> Result<&[(String, Arc<Btf>)], String> {
        Ok(&self.modules)
    }
}

// ---------------------------------------------------------------------------------
// The resolution
// ---------------------------------------------------------------------------------

/// What an instruction referring to an extern becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchAction {
    /// `ld_imm64` → `BPF_PSEUDO_MAP_VALUE` of the `.kconfig` map: `imm` = its fd, next
    /// `imm` = `offset`.
    KconfigValue {
        /// Byte offset of the extern in the map value.
        offset: u32,
    },
    /// `ld_imm64` → `BPF_PSEUDO_BTF_ID`: `imm` = the kernel's type id of the variable (or
    /// function), next `imm` = the module's BTF fd (0 for vmlinux).
    BtfId {
        /// Type id in the kernel's (or the module's split) BTF.
        btf_id: u32,
        /// Index into [`Resolution::modules`], `None` for vmlinux.
        module: Option<usize>,
    },
    /// `ld_imm64` of a constant (the instruction's `src_reg` stays 0): the address of an
    /// untyped ksym, or 0 for an unresolved weak one.
    Address(u64),
    /// `call` → `BPF_PSEUDO_KFUNC_CALL`: `imm` = the kfunc's BTF id, `off` = the module's
    /// `fd_array` index (0 for vmlinux).
    KfuncCall {
        /// FUNC id in the kernel's (or the module's split) BTF.
        btf_id: u32,
        /// Index into [`Resolution::modules`], `None` for vmlinux.
        module: Option<usize>,
    },
    /// `call` of an unresolved weak kfunc → `call POISON_CALL_KFUNC_BASE + extern_index`
    /// (a helper call the verifier rejects if the code is reachable).
    PoisonKfuncCall {
        /// Index into [`Resolution::externs`].
        extern_index: usize,
    },
}

/// One instruction to rewrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    /// Instruction index in the program (`ld_imm64` first slot or `call`).
    pub insn: usize,
    /// What it becomes.
    pub action: PatchAction,
}

/// How an extern was resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternValue {
    /// A `.kconfig` value, encoded at `offset` (`size` bytes) of the map's value.
    Kconfig {
        /// Offset in the `.kconfig` map value.
        offset: u32,
        /// Size in bytes.
        size: u32,
    },
    /// A kernel variable (typed ksym), by BTF id.
    Var {
        /// Kernel BTF id of the VAR.
        btf_id: u32,
        /// Index into [`Resolution::modules`], `None` for vmlinux.
        module: Option<usize>,
    },
    /// A kernel function (kfunc), by BTF id.
    Func {
        /// Kernel BTF id of the FUNC.
        btf_id: u32,
        /// Index into [`Resolution::modules`], `None` for vmlinux.
        module: Option<usize>,
    },
    /// An untyped ksym's address from kallsyms.
    Address(u64),
    /// A weak extern nothing resolved: zero (and a poisoned call for a kfunc).
    Unresolved,
}

/// One extern the programs refer to, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedExtern {
    /// Its name.
    pub name: String,
    /// `.kconfig` or `.ksyms`.
    pub kind: ExternKind,
    /// Declared `__weak`.
    pub weak: bool,
    /// What it resolved to.
    pub value: ExternValue,
}

/// The `.kconfig` map's initial value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KconfigData {
    /// Index of the map in [`ObjectSpec::maps`].
    pub map: usize,
    /// Its value (the map's `value_size` bytes).
    pub data: Vec<u8>,
}

/// The outcome of [`resolve`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// The `.kconfig` map's contents, when the object has one.
    pub kconfig: Option<KconfigData>,
    /// Kernel modules whose BTF objects the patches refer to, by name. Module `i` is at
    /// `fd_array[i + 1]` for kfunc calls (index 0 means vmlinux), and its fd goes into
    /// the second slot of a `BPF_PSEUDO_BTF_ID` `ld_imm64`.
    pub modules: Vec<String>,
    /// The externs referred to, in libbpf's order (kconfig first, then by name).
    pub externs: Vec<ResolvedExtern>,
    /// Per program (as in [`ObjectSpec::programs`]), the instructions to rewrite.
    pub programs: Vec<ProgramPatches>,
}

/// The instruction patches of one program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramPatches {
    /// The program's name.
    pub program: String,
    /// Its patches, by instruction.
    pub patches: Vec<Patch>,
}

impl Resolution {
    /// The patches of the program named `program` (empty when it has none).
    pub fn patches(&self, program: &str) -> &[Patch] {
        self.programs
            .iter()
            .find(|p| p.program == program)
            .map_or(&[], |p| p.patches.as_slice())
    }

    /// True when some kfunc call of `program` refers to a module, so its load needs an
    /// `fd_array` of `modules.len() + 1` descriptors.
    pub fn needs_fd_array(&self, program: &str) -> bool {
        self.patches(program).iter().any(|x| {
            matches!(
                x.action,
                PatchAction::KfuncCall {
                    module: Some(_),
                    ..
                }
            )
        })
    }

    /// The resolved extern named `name`.
    pub fn get(&self, name: &str) -> Option<&ResolvedExtern> {
        self.externs.iter().find(|e| e.name == name)
    }
}

/// An extern as the object declares it.
struct Ext {
    name: String,
    kind: ExternKind,
    weak: bool,
    is_func: bool,
    /// Ksym: the local type after modifiers and typedefs (0 = untyped); for a FUNC, its
    /// FUNC_PROTO.
    type_id: u32,
    /// Kconfig: where it lives in the map and how to fill it.
    offset: u32,
    size: u32,
    kcfg: Option<KconfigType>,
    /// Outcome.
    value: Option<ExternValue>,
}

impl Ext {
    fn ksym_kind(&self) -> &'static str {
        if self.is_func {
            "func ksym"
        } else if self.type_id != 0 {
            "var ksym"
        } else {
            "ksym"
        }
    }
}

/// Resolves the externs that `spec`'s programs refer to.
///
/// `weak(name)` says whether extern `name` is declared `__weak` (its ELF symbol is
/// `STB_WEAK`); `user_config` is configuration text the caller supplied (libbpf's
/// `kconfig` open option), consulted before the kernel's. Everything else comes from
/// `env`, asked only when needed.
///
/// The externs of every program count, loaded or not, as in libbpf.
///
/// Differences from libbpf, on purpose:
/// - only externs some instruction refers to are resolved (libbpf resolves every
///   declared one, and fails on an unused strong extern it cannot resolve);
/// - `# CONFIG_X is not set` gives `bool`/tristate/`char` externs `n` (libbpf leaves
///   them unset: an error if strong); integer and string externs stay unset;
/// - string values are unescaped (`\"`, `\\`), as the kernel's own `autoconf.h` sees
///   them; libbpf copies the text between the quotes as it is;
/// - a missing kernel configuration is an error only for a strong `CONFIG_` extern that
///   nothing else set; weak ones are zero (libbpf fails whenever it must read the file);
/// - kallsyms whose addresses are all zero (hidden) is an error rather than address 0.
pub fn resolve(
    spec: &ObjectSpec,
    weak: &dyn Fn(&str) -> bool,
    user_config: Option<&KernelConfig>,
    env: &dyn ExternEnv,
) -> Result<Resolution, ExternError> {
    let mut res = Resolution {
        programs: spec
            .programs
            .iter()
            .map(|p| ProgramPatches {
                program: p.name.clone(),
                patches: Vec::new(),
            })
            .collect(),
        ..Default::default()
    };
    // The externs referred to, by name.
    let mut used: BTreeMap<&str, ExternKind> = BTreeMap::new();
    for p in &spec.programs {
        for r in &p.extern_relocs {
            used.insert(&r.symbol, r.kind);
        }
    }
    let Some(first) = used.keys().next() else {
        return Ok(res);
    };
    let btf = spec.btf.as_ref().ok_or_else(|| ExternError::NoBtf {
        name: first.to_string(),
    })?;
    let mut exts = collect(btf, &used, weak)?;

    // .kconfig
    if exts.iter().any(|e| e.kind == ExternKind::Kconfig) {
        res.kconfig = Some(resolve_kconfig(spec, &mut exts, user_config, env)?);
    }
    // .ksyms
    resolve_ksyms(btf, &mut exts, env, &mut res.modules)?;

    for e in &exts {
        let value = e.value.clone().unwrap_or(ExternValue::Unresolved);
        if value == ExternValue::Unresolved {
            log::debug!(
                "extern '{}' (weak): not resolved, defaulting to zero",
                e.name
            );
        }
        res.externs.push(ResolvedExtern {
            name: e.name.clone(),
            kind: e.kind,
            weak: e.weak,
            value,
        });
    }

    // Instruction patches.
    let index: HashMap<&str, usize> = exts
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.as_str(), i))
        .collect();
    for (pi, p) in spec.programs.iter().enumerate() {
        for r in &p.extern_relocs {
            let bad = |reason: &str| ExternError::BadReloc {
                program: p.name.clone(),
                insn: r.insn,
                name: r.symbol.clone(),
                reason: reason.to_string(),
            };
            let &i = index
                .get(r.symbol.as_str())
                .ok_or_else(|| ExternError::NotDeclared {
                    name: r.symbol.clone(),
                })?;
            let e = &exts[i];
            let insn = p
                .insns
                .get(r.insn)
                .copied()
                .ok_or_else(|| bad("no such instruction"))?;
            let is_call = insn.code == op::CALL;
            if is_call != r.is_call {
                return Err(bad("the instruction is not what the relocation says"));
            }
            let ld_imm64 = insn.is_ld_imm64() && r.insn + 1 < p.insns.len();
            if !is_call && !ld_imm64 {
                return Err(bad("an extern reference must be an ld_imm64 or a call"));
            }
            let value = &res.externs[i].value;
            let action = match (e.kind, is_call) {
                (ExternKind::Kconfig, true) => {
                    return Err(bad("a .kconfig extern cannot be called"))
                }
                (ExternKind::Kconfig, false) => PatchAction::KconfigValue { offset: e.offset },
                (ExternKind::Ksym, true) => match value {
                    _ if !e.is_func => return Err(bad("a call of a kernel variable")),
                    ExternValue::Func { btf_id, module } => PatchAction::KfuncCall {
                        btf_id: *btf_id,
                        module: *module,
                    },
                    _ => PatchAction::PoisonKfuncCall { extern_index: i },
                },
                (ExternKind::Ksym, false) => match value {
                    ExternValue::Var { btf_id, module } | ExternValue::Func { btf_id, module } => {
                        PatchAction::BtfId {
                            btf_id: *btf_id,
                            module: *module,
                        }
                    }
                    ExternValue::Address(a) => PatchAction::Address(*a),
                    _ => PatchAction::Address(0),
                },
            };
            res.programs[pi].patches.push(Patch {
                insn: r.insn,
                action,
            });
        }
    }
    Ok(res)
}

/// The referred-to externs, from the `.kconfig`/`.ksyms` DATASECs, sorted as libbpf
/// sorts them (kconfig first; then by name).
fn collect(
    btf: &Btf,
    used: &BTreeMap<&str, ExternKind>,
    weak: &dyn Fn(&str) -> bool,
) -> Result<Vec<Ext>, ExternError> {
    // The first declaration of a name wins, as before.
    let mut declared: HashMap<&str, (ExternKind, u32, u32, u32)> = HashMap::new();
    for d in crate::object::extern_decls(btf) {
        declared
            .entry(d.name)
            .or_insert((d.kind, d.type_id, d.offset, d.size));
    }
    let mut exts = Vec::with_capacity(used.len());
    for (&name, &kind) in used {
        let &(dkind, btf_id, offset, size) =
            declared.get(name).ok_or_else(|| ExternError::NotDeclared {
                name: name.to_string(),
            })?;
        let berr = |source| ExternError::Btf {
            name: name.to_string(),
            source,
        };
        if dkind != kind {
            return Err(ExternError::NotDeclared {
                name: name.to_string(),
            });
        }
        let t = btf.type_by_id(btf_id).map_err(berr)?;
        let is_func = match t.kind {
            Kind::Var => false,
            Kind::Func => true,
            k => {
                return Err(berr(BtfError::WrongKind {
                    id: btf_id,
                    found: k,
                    expected: "a VAR or FUNC extern",
                }))
            }
        };
        let mut e = Ext {
            name: name.to_string(),
            kind,
            weak: weak(name),
            is_func,
            type_id: 0,
            offset,
            size,
            kcfg: None,
            value: None,
        };
        match kind {
            ExternKind::Kconfig => {
                if is_func {
                    return Err(ExternError::UnsupportedType {
                        name: e.name,
                        reason: format!("a function under {KCONFIG_SEC}"),
                    });
                }
                let ty = kconfig_type(btf, t.ref_type()).map_err(|reason| {
                    ExternError::UnsupportedType {
                        name: name.to_string(),
                        reason,
                    }
                })?;
                let sz = btf.resolve_size(t.ref_type()).map_err(berr)?;
                if u64::from(size) != sz {
                    return Err(berr(BtfError::Invalid(format!(
                        "{KCONFIG_SEC} lays out {size} bytes for a {sz}-byte value"
                    ))));
                }
                e.kcfg = Some(ty);
            }
            ExternKind::Ksym => {
                e.type_id = btf.skip_mods_and_typedefs(t.ref_type()).map_err(berr)?;
            }
        }
        exts.push(e);
    }
    crate::util::sort_by(&mut exts, |a, b| {
        let ka = a.kind != ExternKind::Kconfig;
        let kb = b.kind != ExternKind::Kconfig;
        ka.cmp(&kb).then_with(|| a.name.cmp(&b.name))
    });
    Ok(exts)
}

fn resolve_kconfig(
    spec: &ObjectSpec,
    exts: &mut [Ext],
    user_config: Option<&KernelConfig>,
    env: &dyn ExternEnv,
) -> Result<KconfigData, ExternError> {
    let first = exts
        .iter()
        .find(|e| e.kind == ExternKind::Kconfig)
        .map(|e| e.name.clone())
        .unwrap_or_default();
    let map = spec
        .maps
        .iter()
        .position(|m| m.kind == MapKind::GlobalData(GlobalKind::Kconfig))
        .ok_or_else(|| ExternError::Btf {
            name: first.clone(),
            source: BtfError::Invalid(format!("the object has no {KCONFIG_SEC} map")),
        })?;
    let mut data = vec![0u8; spec.maps[map].value_size as usize];

    let mut need_config = false;
    for e in exts.iter_mut().filter(|e| e.kind == ExternKind::Kconfig) {
        let (start, end) = (e.offset as usize, e.offset as usize + e.size as usize);
        if end > data.len() {
            return Err(ExternError::Btf {
                name: e.name.clone(),
                source: BtfError::Invalid(format!(
                    "at {start}..{end}, past the {} bytes of {KCONFIG_SEC}",
                    data.len()
                )),
            });
        }
        if e.name.starts_with("CONFIG_") {
            need_config = true;
            continue;
        }
        let value = match e.name.as_str() {
            "LINUX_KERNEL_VERSION" => env
                .kernel_version()
                .map_err(|reason| ExternError::Source {
                    name: e.name.clone(),
                    what: "the kernel version",
                    reason,
                })?
                .into(),
            "LINUX_HAS_BPF_COOKIE" => u64::from(env.has_bpf_cookie()),
            "LINUX_HAS_SYSCALL_WRAPPER" => u64::from(env.has_syscall_wrapper()),
            n if n.starts_with("LINUX_") && e.weak => 0,
            _ => {
                return Err(ExternError::UnknownVirtual {
                    name: e.name.clone(),
                })
            }
        };
        set_num(e, &mut data[start..end], value, &value.to_string(), true)?;
    }

    if need_config {
        if let Some(cfg) = user_config {
            apply_config(exts, &mut data, cfg)?;
        }
        let unset = |exts: &[Ext]| {
            exts.iter()
                .any(|e| e.kind == ExternKind::Kconfig && e.value.is_none())
        };
        let mut unavailable = None;
        if unset(exts) {
            match env.kernel_config() {
                Ok(Some(cfg)) => apply_config(exts, &mut data, cfg)?,
                Ok(None) => unavailable = Some("the kernel offers no configuration".to_string()),
                Err(reason) => unavailable = Some(reason),
            }
        }
        for e in exts.iter_mut().filter(|e| e.kind == ExternKind::Kconfig) {
            if e.value.is_some() {
                continue;
            }
            if e.weak {
                e.value = Some(ExternValue::Unresolved);
                continue;
            }
            return Err(match &unavailable {
                Some(reason) => ExternError::Source {
                    name: e.name.clone(),
                    what: "the kernel configuration",
                    reason: reason.clone(),
                },
                None => ExternError::Unresolved {
                    name: e.name.clone(),
                    kind: "kconfig",
                    reason: "not set in the kernel configuration".into(),
                },
            });
        }
    }
    Ok(KconfigData { map, data })
}

/// Sets the still-unset `CONFIG_` externs that `cfg` has values for.
fn apply_config(exts: &mut [Ext], data: &mut [u8], cfg: &KernelConfig) -> Result<(), ExternError> {
    for e in exts.iter_mut() {
        if e.kind != ExternKind::Kconfig || e.value.is_some() || !e.name.starts_with("CONFIG_") {
            continue;
        }
        let slot = &mut data[e.offset as usize..(e.offset + e.size) as usize];
        let Some(entry) = cfg.get(&e.name) else {
            continue;
        };
        let name = e.name.clone();
        let bad = |value: &str, reason: String| ExternError::BadValue {
            name: name.clone(),
            value: value.to_string(),
            reason,
        };
        match entry {
            ConfigEntry::NotSet => {
                if matches!(
                    e.kcfg,
                    Some(KconfigType::Bool | KconfigType::Tristate | KconfigType::Char)
                ) {
                    set_tri(e, slot, b'n', "n")?;
                }
            }
            ConfigEntry::Value(v) => match type_value(v).map_err(|r| bad(v, r))? {
                Typed::Tri(c) => set_tri(e, slot, c, v)?,
                Typed::Str(s) => set_str(e, slot, &s, v)?,
                Typed::Num(n) => {
                    if !matches!(e.kcfg, Some(KconfigType::Int { .. } | KconfigType::Char)) {
                        return Err(bad(
                            v,
                            format!(
                                "implies an integer type, but the extern is a {}",
                                e.kcfg.map_or("?", KconfigType::name)
                            ),
                        ));
                    }
                    set_num(e, slot, n, v, false)?
                }
            },
        }
    }
    Ok(())
}

fn kconfig_done(e: &mut Ext) {
    e.value = Some(ExternValue::Kconfig {
        offset: e.offset,
        size: e.size,
    });
}

fn set_tri(e: &mut Ext, slot: &mut [u8], c: u8, text: &str) -> Result<(), ExternError> {
    let bad = |reason: &str| ExternError::BadValue {
        name: e.name.clone(),
        value: text.to_string(),
        reason: reason.to_string(),
    };
    match e.kcfg {
        Some(KconfigType::Bool) => {
            if c == b'm' {
                return Err(bad(
                    "implies a tristate or char type, but the extern is a bool",
                ));
            }
            slot[0] = u8::from(c == b'y');
        }
        Some(KconfigType::Tristate) => {
            let v = match c {
                b'y' => tristate::YES,
                b'm' => tristate::MODULE,
                _ => tristate::NO,
            };
            let n = slot.len().min(4);
            slot[..n].copy_from_slice(&v.to_le_bytes()[..n]);
        }
        Some(KconfigType::Char) => slot[0] = c,
        _ => return Err(bad("implies a bool, tristate or char type")),
    }
    kconfig_done(e);
    Ok(())
}

fn set_str(e: &mut Ext, slot: &mut [u8], s: &[u8], text: &str) -> Result<(), ExternError> {
    if e.kcfg != Some(KconfigType::CharArray) {
        return Err(ExternError::BadValue {
            name: e.name.clone(),
            value: text.to_string(),
            reason: "implies a char array type".into(),
        });
    }
    let mut len = s.len();
    if len >= slot.len() {
        log::warn!(
            "extern (kconfig) '{}': long string '{text}' of {len} bytes truncated to {} bytes",
            e.name,
            slot.len() - 1
        );
        len = slot.len() - 1;
    }
    slot[..len].copy_from_slice(&s[..len]);
    slot[len] = 0;
    kconfig_done(e);
    Ok(())
}

/// libbpf's `set_kcfg_value_num`; `virtual_` allows bool (0/1) as libbpf does for the
/// `LINUX_*` values.
fn set_num(
    e: &mut Ext,
    slot: &mut [u8],
    v: u64,
    text: &str,
    virtual_: bool,
) -> Result<(), ExternError> {
    let bad = |reason: String| ExternError::BadValue {
        name: e.name.clone(),
        value: text.to_string(),
        reason,
    };
    let signed = match e.kcfg {
        Some(KconfigType::Int { signed }) => signed,
        Some(KconfigType::Char) => false,
        Some(KconfigType::Bool) if virtual_ => {
            if v > 1 {
                return Err(bad("isn't boolean compatible".into()));
            }
            false
        }
        other => {
            return Err(bad(format!(
                "implies an integer, char or bool type, but the extern is a {}",
                other.map_or("?", KconfigType::name)
            )))
        }
    };
    let sz = slot.len();
    if !fits(v, sz, signed) {
        return Err(bad(format!(
            "doesn't fit in {sz} {}byte{}",
            if signed { "signed " } else { "" },
            if sz == 1 { "" } else { "s" }
        )));
    }
    slot.copy_from_slice(&v.to_le_bytes()[..sz]);
    kconfig_done(e);
    Ok(())
}

/// Whether `v` (a u64, negative values as two's complement) fits `sz` bytes.
fn fits(v: u64, sz: usize, signed: bool) -> bool {
    if sz >= 8 {
        return true;
    }
    let bits = sz as u32 * 8;
    if signed {
        v.wrapping_add(1u64 << (bits - 1)) < (1u64 << bits)
    } else {
        v >> bits == 0
    }
}

fn resolve_ksyms(
    btf: &Btf,
    exts: &mut [Ext],
    env: &dyn ExternEnv,
    modules: &mut Vec<String>,
) -> Result<(), ExternError> {
    let mut module_index: HashMap<String, usize> = HashMap::new();
    for e in exts.iter_mut().filter(|e| e.kind == ExternKind::Ksym) {
        let name = e.name.clone();
        let source = |what, reason| ExternError::Source {
            name: name.clone(),
            what,
            reason,
        };
        if !e.is_func && e.type_id == 0 {
            // Untyped: by address.
            let ks = env.kallsyms().map_err(|r| source("/proc/kallsyms", r))?;
            if ks.addresses_hidden() {
                return Err(source(
                    "/proc/kallsyms",
                    "the kernel hides symbol addresses (kptr_restrict; CAP_SYSLOG needed)".into(),
                ));
            }
            match ks.address(&e.name)? {
                Some(a) => e.value = Some(ExternValue::Address(a)),
                None if e.weak => {}
                None => {
                    return Err(ExternError::Unresolved {
                        name: e.name.clone(),
                        kind: "ksym",
                        reason: "not in /proc/kallsyms".into(),
                    })
                }
            }
            continue;
        }
        let vmlinux = env
            .vmlinux_btf()
            .map_err(|r| source("the kernel's BTF", r))?;
        let kind = if e.is_func { Kind::Func } else { Kind::Var };
        let lookup = if e.is_func {
            &e.name[..essential_name_len(&e.name)]
        } else {
            e.name.as_str()
        };
        let mut found: Option<(u32, Option<(&str, &Btf)>)> =
            vmlinux.find_by_name_kind(lookup, kind).map(|id| (id, None));
        if found.is_none() {
            let mods = env
                .module_btfs()
                .map_err(|r| source("the kernel modules' BTF", r))?;
            found = mods.iter().find_map(|(name, b)| {
                b.ids_by_name_kind(lookup, kind)
                    .find(|&id| id >= b.start_id())
                    .map(|id| (id, Some((name.as_str(), &**b))))
            });
        }
        let Some((id, module)) = found else {
            if e.weak {
                continue;
            }
            return Err(ExternError::Unresolved {
                name: e.name.clone(),
                kind: e.ksym_kind(),
                reason: "not found in the kernel's or its modules' BTF".into(),
            });
        };
        let (tbtf, tname) = match module {
            Some((n, b)) => (b, n),
            None => (vmlinux, "vmlinux"),
        };
        let tt = tbtf.type_by_id(id).map_err(|s| ExternError::Btf {
            name: e.name.clone(),
            source: s,
        })?;
        let targ_type = if e.is_func {
            tt.ref_type()
        } else {
            tbtf.skip_mods_and_typedefs(tt.ref_type())
                .map_err(|s| ExternError::Btf {
                    name: e.name.clone(),
                    source: s,
                })?
        };
        if !types_are_compat(btf, e.type_id, tbtf, targ_type) {
            if e.is_func && e.weak {
                // libbpf: an incompatible weak kfunc is simply not resolved.
                continue;
            }
            return Err(ExternError::Incompatible {
                name: e.name.clone(),
                kind: e.ksym_kind(),
                local: describe(btf, e.type_id),
                target: describe(tbtf, targ_type),
                btf: tname.to_string(),
            });
        }
        let module = match module {
            Some((n, _)) => Some(match module_index.get(n) {
                Some(&i) => i,
                None => {
                    // fd_array index i + 1 must fit the instruction's 16-bit offset.
                    if modules.len() + 1 >= i16::MAX as usize {
                        return Err(ExternError::TooManyModules {
                            name: e.name.clone(),
                        });
                    }
                    modules.push(n.to_string());
                    module_index.insert(n.to_string(), modules.len() - 1);
                    modules.len() - 1
                }
            }),
            None => None,
        };
        log::debug!(
            "extern ({}) '{}': resolved to {tname} [{id}]",
            e.ksym_kind(),
            e.name
        );
        e.value = Some(if e.is_func {
            ExternValue::Func { btf_id: id, module }
        } else {
            ExternValue::Var { btf_id: id, module }
        });
    }
    Ok(())
}

/// `[id] kind name`, for messages.
fn describe(btf: &Btf, id: u32) -> String {
    match btf.type_by_id(id) {
        Ok(t) => {
            let name = btf.name_of(&t).unwrap_or("");
            if name.is_empty() {
                format!("[{id}] {}", t.kind.name())
            } else {
                format!("[{id}] {} {name}", t.kind.name())
            }
        }
        Err(_) => format!("[{id}] (invalid)"),
    }
}

pub use super::core::{essential_name_len, types_are_compat};

// ---------------------------------------------------------------------------------
// Applying patches
// ---------------------------------------------------------------------------------

/// Rewrites `insns` (a program's instructions, map references already applied or not)
/// by `patches`. `kconfig_map_fd` is the `.kconfig` map's fd; `module_fds[i]` the BTF
/// fd of [`Resolution::modules`]`[i]`. Instruction shapes were checked by [`resolve`];
/// they are checked again here so that mismatched inputs give errors, not bad programs.
pub fn apply_patches(
    program: &str,
    patches: &[Patch],
    insns: &mut [Insn],
    kconfig_map_fd: Option<i32>,
    module_fds: &[i32],
) -> Result<(), ExternError> {
    for p in patches {
        let bad = |reason: String| ExternError::BadReloc {
            program: program.to_string(),
            insn: p.insn,
            name: String::new(),
            reason,
        };
        let is_call = matches!(
            p.action,
            PatchAction::KfuncCall { .. } | PatchAction::PoisonKfuncCall { .. }
        );
        let ok = if is_call {
            insns.get(p.insn).is_some_and(|i| i.code == op::CALL)
        } else {
            p.insn + 1 < insns.len() && insns[p.insn].is_ld_imm64()
        };
        if !ok {
            return Err(bad(format!("{:?} does not fit the instruction", p.action)));
        }
        let module_fd = |m: Option<usize>| -> Result<i32, ExternError> {
            match m {
                None => Ok(0),
                Some(i) => module_fds
                    .get(i)
                    .copied()
                    .ok_or_else(|| bad(format!("no fd for module #{i}"))),
            }
        };
        match p.action {
            PatchAction::KconfigValue { offset } => {
                let fd = kconfig_map_fd.ok_or_else(|| bad("no .kconfig map fd".into()))?;
                insns[p.insn].set_src(pseudo::MAP_VALUE);
                insns[p.insn].imm = fd;
                insns[p.insn + 1].imm = offset as i32;
            }
            PatchAction::BtfId { btf_id, module } => {
                insns[p.insn].set_src(pseudo::BTF_ID);
                insns[p.insn].imm = btf_id as i32;
                insns[p.insn + 1].imm = module_fd(module)?;
            }
            PatchAction::Address(a) => {
                insns[p.insn].imm = a as u32 as i32;
                insns[p.insn + 1].imm = (a >> 32) as u32 as i32;
            }
            PatchAction::KfuncCall { btf_id, module } => {
                // The fd itself goes into fd_array; check it exists all the same.
                module_fd(module)?;
                let off = match module {
                    None => 0,
                    Some(i) => i16::try_from(i + 1)
                        .map_err(|_| bad(format!("module #{i} has no 16-bit fd_array index")))?,
                };
                insns[p.insn].set_src(pseudo::KFUNC_CALL);
                insns[p.insn].imm = btf_id as i32;
                insns[p.insn].off = off;
            }
            PatchAction::PoisonKfuncCall { extern_index } => {
                insns[p.insn] = Insn::new(
                    op::CALL,
                    0,
                    0,
                    0,
                    POISON_CALL_KFUNC_BASE.saturating_add(extern_index as i32),
                );
            }
        }
    }
    Ok(())
}

/// A poisoned kfunc call the verifier reached, found in its log: the log's last lines
/// read `123: (85) call unknown#2002000004` then `invalid func unknown#2002000004`
/// (libbpf's `fixup_log_missing_kfunc_call` looks for the same). Returns the
/// instruction index and the unresolved extern, so the error can name the kfunc.
pub fn poisoned_kfunc_in_log<'r>(
    log: &str,
    res: &'r Resolution,
) -> Option<(usize, &'r ResolvedExtern)> {
    let lines: Vec<&str> = log.lines().rev().take(10).collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(num) = line.trim().strip_prefix("invalid func unknown#") else {
            continue;
        };
        let imm: i64 = num.trim().parse().ok()?;
        let idx = usize::try_from(imm - i64::from(POISON_CALL_KFUNC_BASE)).ok()?;
        let ext = res.externs.get(idx)?;
        let insn = lines
            .get(i + 1)
            .and_then(|prev| prev.split(':').next())
            .and_then(|n| n.trim().parse().ok())?;
        return Some((insn, ext));
    }
    None
}

#[cfg(test)]
mod tests {
    //! Unit tests of extern resolution: configuration parsing and encoding, kallsyms,
    //! typed ksyms and kfuncs against a stand-in kernel BTF (`testdata/fake_kernel.bpf.c`),
    //! module kfuncs, weak handling, patches and the `.ksyms` BTF rewrite. No kernel needed.

    use super::*;
    use crate::btf::linkage;
    use crate::object::ObjectSpec;

    fn testdata(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/reloc/testdata")
            .join(name)
    }

    fn object(name: &str) -> ObjectSpec {
        ObjectSpec::from_file(&testdata(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn weak_of(spec: &ObjectSpec) -> impl Fn(&str) -> bool + '_ {
        move |n: &str| {
            spec.programs
                .iter()
                .flat_map(|p| &p.extern_relocs)
                .any(|r| r.weak && r.symbol == n)
        }
    }

    fn fake_kernel(name: &str) -> Btf {
        object(name).btf.expect("fake kernel has BTF")
    }

    /// The configuration lines `externs.bpf.c` reads, as this machine's kernel has them.
    const CONFIG: &str = "\
# Automatically generated file; DO NOT EDIT.
CONFIG_ILLEGAL_POINTER_VALUE=0xdead000000000000
CONFIG_HZ=250
# CONFIG_MODULES is not set
CONFIG_TCP_CONG_CUBIC=y
CONFIG_BPF_SYSCALL=y
# CONFIG_KPROBES is not set
CONFIG_LOCALVERSION=\"-fc-v445\"
";

    /// The `.kconfig` map libbpf 1.1 (bpftool v7.1.0) built for `externs.bpf.o` on a 6.18.44
    /// kernel with [`CONFIG`] (`bpftool map dump name externs.kconfig`), where it reported
    /// `LINUX_HAS_SYSCALL_WRAPPER` as 0 (no kprobes to probe with).
    const LIBBPF_KCONFIG: &str = "000000000000addefa0000000000000000000000010000002c12060000000000010001002d66632d763434350000000000000000";

    fn kallsyms() -> Kallsyms {
        Kallsyms::parse(
            "ffffffff81000000 T _stext\n\
             ffffffff821f5f60 T schedule\n\
             ffffffff81377b60 T __x64_sys_getpid\n\
             ffffffffc0025500 t bpf_dispatcher_xdp\t[bpf]\n\
             ffffffffc0030000 t helper\t[mod_a]\n\
             ffffffffc0040000 t helper\t[mod_b]\n\
             ffffffff81400000 t same\n\
             ffffffff81400000 t same\n",
        )
        .unwrap()
    }

    fn env(config: Option<&str>) -> FixedEnv {
        FixedEnv {
            config: config.map(|c| KernelConfig::parse(c).unwrap()),
            version: Some(kernel_version_6_18_44()),
            bpf_cookie: true,
            syscall_wrapper: false,
            kallsyms: Some(kallsyms()),
            vmlinux: Some(fake_kernel("fake_kernel.bpf.o")),
            modules: Vec::new(),
        }
    }

    fn kernel_version_6_18_44() -> u32 {
        (6 << 16) + (18 << 8) + 44
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Offset and size of `name` in the `.kconfig` DATASEC.
    fn kconfig_slot(spec: &ObjectSpec, name: &str) -> (usize, usize) {
        let btf = spec.btf.as_ref().unwrap();
        let sec = btf.find_by_name_kind(KCONFIG_SEC, Kind::Datasec).unwrap();
        let v = btf
            .type_by_id(sec)
            .unwrap()
            .datasec_vars()
            .find(|v| btf.type_name(v.type_id).unwrap() == name)
            .unwrap();
        (v.offset as usize, v.size as usize)
    }

    fn kconfig_value<'a>(spec: &ObjectSpec, res: &'a Resolution, name: &str) -> &'a [u8] {
        let (off, size) = kconfig_slot(spec, name);
        &res.kconfig.as_ref().unwrap().data[off..off + size]
    }

    fn resolve_with_config(text: &str) -> Result<(ObjectSpec, Resolution), ExternError> {
        let spec = object("externs.bpf.o");
        let res = resolve(&spec, &weak_of(&spec), None, &env(Some(text)))?;
        Ok((spec, res))
    }

    // ---- configuration text ----

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

    #[test]
    fn range_checks() {
        assert!(fits(255, 1, false) && !fits(256, 1, false));
        assert!(fits(127, 1, true) && !fits(128, 1, true));
        assert!(fits((-128i64) as u64, 1, true) && !fits((-129i64) as u64, 1, true));
        assert!(!fits((-1i64) as u64, 4, false));
        assert!(fits(u32::MAX.into(), 4, false) && !fits(1 << 32, 4, false));
        assert!(fits(i32::MAX as u64, 4, true) && !fits(1 << 31, 4, true));
        assert!(fits(u64::MAX, 8, false) && fits(u64::MAX, 8, true));
    }

    // ---- .kconfig encoding ----

    #[test]
    fn kconfig_bytes_match_libbpf() {
        let spec = object("externs.bpf.o");
        let res = resolve(&spec, &weak_of(&spec), None, &env(Some(CONFIG))).unwrap();
        let k = res.kconfig.as_ref().unwrap();
        assert_eq!(spec.maps[k.map].name, ".kconfig");
        assert_eq!(hex(&k.data), LIBBPF_KCONFIG);
        // Every kconfig extern is described.
        let hz = res.get("CONFIG_HZ").unwrap();
        assert!(!hz.weak);
        assert!(matches!(hz.value, ExternValue::Kconfig { size: 4, .. }));
        assert_eq!(
            res.get("CONFIG_NOT_THERE_XYZ").unwrap().value,
            ExternValue::Unresolved
        );
        assert!(res.get("CONFIG_NOT_THERE_XYZ").unwrap().weak);
        // libbpf's order: kconfig externs first, each group by name.
        let names: Vec<&str> = res.externs.iter().map(|e| e.name.as_str()).collect();
        let (k, s) = names.split_at(12);
        assert!(k
            .iter()
            .all(|n| n.starts_with("CONFIG_") || n.starts_with("LINUX_")));
        assert!(k.windows(2).all(|w| w[0] < w[1]) && s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn kconfig_value_kinds() {
        let (spec, res) = resolve_with_config(
            "CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=-5\nCONFIG_TCP_CONG_CUBIC=m\nCONFIG_MODULES=y\n\
             CONFIG_KPROBES=n\nCONFIG_LOCALVERSION=\"0123456789abcdefXYZ\"\n\
             CONFIG_ILLEGAL_POINTER_VALUE=-1\nCONFIG_NOT_THERE_XYZ=017\n",
        )
        .unwrap();
        let v = |n| kconfig_value(&spec, &res, n);
        assert_eq!(
            v("CONFIG_HZ"),
            (-5i32).to_le_bytes(),
            "negative into a signed int"
        );
        assert_eq!(v("CONFIG_TCP_CONG_CUBIC"), tristate::MODULE.to_le_bytes());
        assert_eq!(v("CONFIG_MODULES"), tristate::YES.to_le_bytes());
        assert_eq!(v("CONFIG_KPROBES"), [0]);
        assert_eq!(v("CONFIG_BPF_SYSCALL"), [1]);
        assert_eq!(v("CONFIG_LOCALVERSION"), b"0123456789abcde\0", "truncated");
        assert_eq!(v("CONFIG_ILLEGAL_POINTER_VALUE"), u64::MAX.to_le_bytes());
        assert_eq!(v("CONFIG_NOT_THERE_XYZ"), 15i32.to_le_bytes());
        assert_eq!(
            v("LINUX_KERNEL_VERSION"),
            kernel_version_6_18_44().to_le_bytes()
        );
        assert_eq!(v("LINUX_HAS_BPF_COOKIE"), [1]);
        assert_eq!(v("LINUX_HAS_SYSCALL_WRAPPER"), [0]);
        assert_eq!(v("LINUX_UNKNOWN_BUT_WEAK"), [0; 4]);
    }

    #[test]
    fn kconfig_not_set_is_n_for_bool_and_tristate_only() {
        let (spec, res) = resolve_with_config(
            "CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=100\n# CONFIG_TCP_CONG_CUBIC is not set\n\
             # CONFIG_KPROBES is not set\n# CONFIG_LOCALVERSION is not set\n",
        )
        .unwrap();
        assert_eq!(kconfig_value(&spec, &res, "CONFIG_TCP_CONG_CUBIC"), [0; 4]);
        assert!(matches!(
            res.get("CONFIG_TCP_CONG_CUBIC").unwrap().value,
            ExternValue::Kconfig { .. }
        ));
        assert!(matches!(
            res.get("CONFIG_KPROBES").unwrap().value,
            ExternValue::Kconfig { .. }
        ));
        // A string extern is left unset (weak: zero), not given "n".
        assert_eq!(
            res.get("CONFIG_LOCALVERSION").unwrap().value,
            ExternValue::Unresolved
        );
    }

    #[test]
    fn kconfig_errors_name_the_extern() {
        let cases: [(&str, &str, &str); 8] = [
            (
                "CONFIG_HZ=4294967296",
                "CONFIG_HZ",
                "doesn't fit in 4 signed bytes",
            ),
            ("CONFIG_HZ=2147483648", "CONFIG_HZ", "doesn't fit"),
            (
                "CONFIG_HZ=y",
                "CONFIG_HZ",
                "implies a bool, tristate or char",
            ),
            ("CONFIG_HZ=\"250\"", "CONFIG_HZ", "implies a char array"),
            ("CONFIG_HZ=25O", "CONFIG_HZ", "isn't a valid integer"),
            (
                "CONFIG_BPF_SYSCALL=m",
                "CONFIG_BPF_SYSCALL",
                "tristate or char",
            ),
            (
                "CONFIG_BPF_SYSCALL=1",
                "CONFIG_BPF_SYSCALL",
                "implies an integer type",
            ),
            (
                "CONFIG_LOCALVERSION=5",
                "CONFIG_LOCALVERSION",
                "implies an integer type",
            ),
        ];
        for (line, name, reason) in cases {
            let text = format!("CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=100\n{line}\n");
            // The bad line must come first to win: put it at the top.
            let text = format!("{line}\n{text}");
            match resolve_with_config(&text) {
                Err(e @ ExternError::BadValue { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(name) && msg.contains(reason), "{line}: {msg}");
                }
                other => panic!("{line}: {:?}", other.map(|(_, r)| r)),
            }
        }
    }

    #[test]
    fn strong_kconfig_missing() {
        // Present configuration without the value: unresolved, named.
        let err = resolve_with_config("CONFIG_BPF_SYSCALL=y\n").unwrap_err();
        assert!(
            matches!(&err, ExternError::Unresolved { name, kind: "kconfig", .. } if name == "CONFIG_HZ"),
            "{err}"
        );
        // No configuration at all: the first strong CONFIG_ extern says so.
        let spec = object("externs.bpf.o");
        let err = resolve(&spec, &weak_of(&spec), None, &env(None)).unwrap_err();
        assert!(
            matches!(&err, ExternError::Source { name, .. } if name == "CONFIG_BPF_SYSCALL"),
            "{err}"
        );
        // The user's text is enough when it sets the strong ones; the rest stay zero.
        let user = KernelConfig::parse("CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=1000\n").unwrap();
        let res = resolve(&spec, &weak_of(&spec), Some(&user), &env(None)).unwrap();
        assert_eq!(
            kconfig_value(&spec, &res, "CONFIG_HZ"),
            1000i32.to_le_bytes()
        );
        assert_eq!(
            res.get("CONFIG_TCP_CONG_CUBIC").unwrap().value,
            ExternValue::Unresolved
        );
        // And it wins over the kernel's.
        let res = resolve(&spec, &weak_of(&spec), Some(&user), &env(Some(CONFIG))).unwrap();
        assert_eq!(
            kconfig_value(&spec, &res, "CONFIG_HZ"),
            1000i32.to_le_bytes()
        );
        assert_eq!(
            kconfig_value(&spec, &res, "CONFIG_TCP_CONG_CUBIC"),
            tristate::YES.to_le_bytes()
        );
    }

    #[test]
    fn strong_missing_objects() {
        let cases = [
            (
                "strong_missing_kconfig.bpf.o",
                "CONFIG_DEFINITELY_NOT_THERE_XYZ",
                "kconfig",
            ),
            (
                "strong_missing_var.bpf.o",
                "definitely_not_a_kernel_var_xyz",
                "var ksym",
            ),
            (
                "strong_missing_untyped.bpf.o",
                "definitely_not_a_kernel_symbol_xyz",
                "ksym",
            ),
            (
                "strong_missing_kfunc.bpf.o",
                "definitely_not_a_kfunc_xyz",
                "func ksym",
            ),
        ];
        for (file, name, kind) in cases {
            let spec = object(file);
            let err = resolve(&spec, &weak_of(&spec), None, &env(Some(CONFIG))).unwrap_err();
            match &err {
                ExternError::Unresolved {
                    name: n, kind: k, ..
                } => {
                    assert_eq!((n.as_str(), *k), (name, kind), "{file}")
                }
                other => panic!("{file}: {other}"),
            }
            assert!(err.to_string().contains(name) && err.to_string().contains("strong"));
        }
    }

    // ---- ksyms ----

    fn patches_by_insn(res: &Resolution) -> BTreeMap<usize, PatchAction> {
        res.programs[0]
            .patches
            .iter()
            .map(|p| (p.insn, p.action))
            .collect()
    }

    fn reloc_insn(spec: &ObjectSpec, name: &str, call: bool) -> Vec<usize> {
        spec.programs[0]
            .extern_relocs
            .iter()
            .filter(|r| r.symbol == name && r.is_call == call)
            .map(|r| r.insn)
            .collect()
    }

    #[test]
    fn ksyms_and_kfuncs_against_vmlinux() {
        let spec = object("externs.bpf.o");
        let kernel = fake_kernel("fake_kernel.bpf.o");
        let res = resolve(&spec, &weak_of(&spec), None, &env(Some(CONFIG))).unwrap();
        let from_pid = kernel
            .find_by_name_kind("bpf_task_from_pid", Kind::Func)
            .unwrap();
        let release = kernel
            .find_by_name_kind("bpf_task_release", Kind::Func)
            .unwrap();
        assert_eq!(
            res.get("bpf_task_from_pid").unwrap().value,
            ExternValue::Func {
                btf_id: from_pid,
                module: None
            }
        );
        assert_eq!(
            res.get("schedule").unwrap().value,
            ExternValue::Address(0xffff_ffff_821f_5f60)
        );
        assert_eq!(
            res.get("bpf_this_kfunc_does_not_exist_xyz").unwrap().value,
            ExternValue::Unresolved
        );
        assert_eq!(
            res.get("this_var_does_not_exist_xyz").unwrap().value,
            ExternValue::Unresolved
        );
        assert!(res.modules.is_empty());
        assert!(!res.needs_fd_array("record"));

        let p = patches_by_insn(&res);
        for i in reloc_insn(&spec, "bpf_task_from_pid", true) {
            assert_eq!(
                p[&i],
                PatchAction::KfuncCall {
                    btf_id: from_pid,
                    module: None
                }
            );
        }
        for i in reloc_insn(&spec, "bpf_task_from_pid", false) {
            assert_eq!(
                p[&i],
                PatchAction::BtfId {
                    btf_id: from_pid,
                    module: None
                }
            );
        }
        for i in reloc_insn(&spec, "bpf_task_release", true) {
            assert_eq!(
                p[&i],
                PatchAction::KfuncCall {
                    btf_id: release,
                    module: None
                }
            );
        }
        let missing = res
            .externs
            .iter()
            .position(|e| e.name == "bpf_this_kfunc_does_not_exist_xyz")
            .unwrap();
        let calls = reloc_insn(&spec, "bpf_this_kfunc_does_not_exist_xyz", true);
        assert_eq!(calls.len(), 1);
        assert_eq!(
            p[&calls[0]],
            PatchAction::PoisonKfuncCall {
                extern_index: missing
            }
        );
        for i in reloc_insn(&spec, "bpf_this_kfunc_does_not_exist_xyz", false) {
            assert_eq!(p[&i], PatchAction::Address(0));
        }
        for i in reloc_insn(&spec, "this_var_does_not_exist_xyz", false) {
            assert_eq!(p[&i], PatchAction::Address(0));
        }
        for i in reloc_insn(&spec, "CONFIG_HZ", false) {
            let (off, _) = kconfig_slot(&spec, "CONFIG_HZ");
            assert_eq!(p[&i], PatchAction::KconfigValue { offset: off as u32 });
        }

        // Applying them.
        let mut insns = spec.programs[0].insns.clone();
        apply_patches(
            "record",
            &res.programs[0].patches,
            &mut insns,
            Some(77),
            &[],
        )
        .unwrap();
        let c = calls[0];
        assert_eq!(
            insns[c],
            Insn::new(op::CALL, 0, 0, 0, POISON_CALL_KFUNC_BASE + missing as i32)
        );
        let k = reloc_insn(&spec, "bpf_task_from_pid", true)[0];
        assert_eq!(
            (insns[k].src(), insns[k].imm, insns[k].off),
            (pseudo::KFUNC_CALL, from_pid as i32, 0)
        );
        let l = reloc_insn(&spec, "bpf_task_from_pid", false)[0];
        assert_eq!(
            (insns[l].src(), insns[l].imm, insns[l + 1].imm),
            (pseudo::BTF_ID, from_pid as i32, 0)
        );
        let s = reloc_insn(&spec, "schedule", false)[0];
        assert_eq!(
            (insns[s].src(), insns[s].imm as u32, insns[s + 1].imm as u32),
            (0, 0x821f_5f60, 0xffff_ffff)
        );
        let h = reloc_insn(&spec, "CONFIG_HZ", false)[0];
        assert_eq!((insns[h].src(), insns[h].imm), (pseudo::MAP_VALUE, 77));
        // Without the .kconfig fd, or on the wrong instruction: errors, not bad programs.
        let mut again = spec.programs[0].insns.clone();
        assert!(apply_patches("record", &res.programs[0].patches, &mut again, None, &[]).is_err());
        let wrong = [Patch {
            insn: h,
            action: PatchAction::KfuncCall {
                btf_id: 1,
                module: None,
            },
        }];
        assert!(apply_patches("record", &wrong, &mut again, Some(1), &[]).is_err());
    }

    #[test]
    fn typed_var_ksym() {
        let spec = object("ksym_var.bpf.o");
        let kernel = fake_kernel("fake_kernel.bpf.o");
        let var = kernel
            .find_by_name_kind("bpf_prog_active", Kind::Var)
            .unwrap();
        let res = resolve(&spec, &weak_of(&spec), None, &env(None)).unwrap();
        assert_eq!(
            res.get("bpf_prog_active").unwrap().value,
            ExternValue::Var {
                btf_id: var,
                module: None
            }
        );
        assert!(res.kconfig.is_none());
        assert!(res.programs[0].patches.iter().all(|p| p.action
            == PatchAction::BtfId {
                btf_id: var,
                module: None
            }));
        assert_eq!(res.programs[0].patches.len(), 2);
    }

    #[test]
    fn incompatible_kfunc_proto() {
        let spec = object("externs.bpf.o");
        let mut e = env(Some(CONFIG));
        e.vmlinux = Some(fake_kernel("fake_kernel_incompatible.bpf.o"));
        // bpf_task_from_pid is __weak in externs.bpf.c: incompatible means unresolved.
        let res = resolve(&spec, &weak_of(&spec), None, &e).unwrap();
        assert_eq!(
            res.get("bpf_task_from_pid").unwrap().value,
            ExternValue::Unresolved
        );
        // Strong, it is an error naming both types.
        let weak = weak_of(&spec);
        let strong = |n: &str| n != "bpf_task_from_pid" && weak(n);
        let err = resolve(&spec, &strong, None, &e).unwrap_err();
        match &err {
            ExternError::Incompatible { name, btf, .. } => {
                assert_eq!(
                    (name.as_str(), btf.as_str()),
                    ("bpf_task_from_pid", "vmlinux")
                )
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("func_proto"), "{err}");
    }

    /// Split BTF on `base` for a module holding `void bpf_task_release(struct task_struct *p)`.
    fn module_btf(base: Arc<Btf>) -> Btf {
        let task = base.find_by_name_kind("task_struct", Kind::Struct).unwrap();
        let so = base.header().str_len;
        let mut strs: Vec<u8> = Vec::new();
        let mut s = |n: &str| {
            let off = so + strs.len() as u32;
            strs.extend_from_slice(n.as_bytes());
            strs.push(0);
            off
        };
        let (fname, pname) = (s("bpf_task_release"), s("p"));
        let first = base.len();
        let mut types: Vec<u8> = Vec::new();
        let words: [u32; 11] = [
            0,
            (Kind::Ptr as u32) << 24,
            task, // [first] struct task_struct *
            0,
            ((Kind::FuncProto as u32) << 24) | 1,
            0,
            pname,
            first, // [first+1] void (*)(p)
            fname,
            ((Kind::Func as u32) << 24) | linkage::GLOBAL,
            first + 1, // [first+2]
        ];
        for w in words {
            types.extend_from_slice(&w.to_le_bytes());
        }
        Btf::parse_split(split_raw(&types, &strs), base).unwrap()
    }

    fn split_raw(types: &[u8], strs: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
        for w in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strs.len() as u32,
        ] {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        raw.extend_from_slice(types);
        raw.extend_from_slice(strs);
        raw
    }

    #[test]
    fn module_kfunc_gets_an_fd_array_slot() {
        let spec = object("externs.bpf.o");
        let base = Arc::new(fake_kernel("fake_kernel_no_release.bpf.o"));
        let module = Arc::new(module_btf(base.clone()));
        let mut e = env(Some(CONFIG));
        e.vmlinux = Some(fake_kernel("fake_kernel_no_release.bpf.o"));
        e.modules = vec![
            (
                "other_mod".into(),
                Arc::new(Btf::parse_split(split_raw(&[], &[]), base.clone()).unwrap()),
            ),
            ("task_mod".into(), module.clone()),
        ];
        let res = resolve(&spec, &weak_of(&spec), None, &e).unwrap();
        let id = base.len() + 2;
        assert_eq!(
            res.get("bpf_task_release").unwrap().value,
            ExternValue::Func {
                btf_id: id,
                module: Some(0)
            }
        );
        assert_eq!(res.modules, ["task_mod"]);
        assert!(res.needs_fd_array("record"));
        let mut insns = spec.programs[0].insns.clone();
        apply_patches(
            "record",
            &res.programs[0].patches,
            &mut insns,
            Some(3),
            &[42],
        )
        .unwrap();
        let c = reloc_insn(&spec, "bpf_task_release", true)[0];
        assert_eq!(
            (insns[c].src(), insns[c].imm, insns[c].off),
            (pseudo::KFUNC_CALL, id as i32, 1)
        );
        // Missing the module's fd is an error.
        let mut insns = spec.programs[0].insns.clone();
        assert!(
            apply_patches("record", &res.programs[0].patches, &mut insns, Some(3), &[]).is_err()
        );
    }

    #[test]
    fn untyped_ksyms_and_kallsyms() {
        let k = kallsyms();
        assert_eq!(k.address("schedule").unwrap(), Some(0xffff_ffff_821f_5f60));
        assert_eq!(k.address("nope").unwrap(), None);
        assert_eq!(
            k.address("same").unwrap(),
            Some(0xffff_ffff_8140_0000),
            "same address twice is fine"
        );
        assert!(matches!(
            k.address("helper"),
            Err(ExternError::Ambiguous { .. })
        ));
        let e = k.entries("bpf_dispatcher_xdp");
        assert_eq!(k.modules()[e[0].module.unwrap() as usize], "bpf");
        assert_eq!(e[0].kind, b't');
        assert!(!k.addresses_hidden());
        let hidden =
            Kallsyms::parse("0000000000000000 T schedule\n0000000000000000 T x\n").unwrap();
        assert!(hidden.addresses_hidden());
        assert!(Kallsyms::parse("zz T x\n").is_err());
        assert!(Kallsyms::parse("ffff T x junk\n").is_err());

        // An object with an untyped ksym under hidden addresses: an error, not address 0.
        let spec = object("externs.bpf.o");
        let mut e = env(Some(CONFIG));
        e.kallsyms = Some(hidden);
        let err = resolve(&spec, &weak_of(&spec), None, &e).unwrap_err();
        assert!(
            matches!(&err, ExternError::Source { name, .. } if name == "schedule"),
            "{err}"
        );
        // Ambiguous names are errors too.
        let mut e = env(Some(CONFIG));
        e.kallsyms = Some(Kallsyms::parse("1000 T schedule\n2000 t schedule\n").unwrap());
        assert!(matches!(
            resolve(&spec, &weak_of(&spec), None, &e),
            Err(ExternError::Ambiguous { .. })
        ));
    }

    #[test]
    fn no_externs_asks_nothing() {
        struct Panics;
        impl ExternEnv for Panics {
            fn kernel_config(&self) -> Result<Option<&KernelConfig>, String> {
                panic!("asked for the config")
            }
            fn kernel_version(&self) -> Result<u32, String> {
                panic!()
            }
            fn has_bpf_cookie(&self) -> bool {
                panic!()
            }
            fn has_syscall_wrapper(&self) -> bool {
                panic!()
            }
            fn kallsyms(&self) -> Result<&Kallsyms, String> {
                panic!()
            }
            fn vmlinux_btf(&self) -> Result<&Btf, String> {
                panic!()
            }
            fn module_btfs(&self) -> Result<&[(String, Arc<Btf>)], String> {
                panic!()
            }
        }
        let spec = object("fake_kernel.bpf.o");
        let res = resolve(&spec, &|_| false, None, &Panics).unwrap();
        assert!(res.externs.is_empty() && res.kconfig.is_none());
        assert_eq!(res.programs.len(), spec.programs.len());
        // The kconfig-only object never asks for BTF or kallsyms.
        struct ConfigOnly(FixedEnv);
        impl ExternEnv for ConfigOnly {
            fn kernel_config(&self) -> Result<Option<&KernelConfig>, String> {
                self.0.kernel_config()
            }
            fn kernel_version(&self) -> Result<u32, String> {
                self.0.kernel_version()
            }
            fn has_bpf_cookie(&self) -> bool {
                self.0.has_bpf_cookie()
            }
            fn has_syscall_wrapper(&self) -> bool {
                self.0.has_syscall_wrapper()
            }
            fn kallsyms(&self) -> Result<&Kallsyms, String> {
                panic!("kallsyms")
            }
            fn vmlinux_btf(&self) -> Result<&Btf, String> {
                panic!("btf")
            }
            fn module_btfs(&self) -> Result<&[(String, Arc<Btf>)], String> {
                panic!("modules")
            }
        }
        let spec = object("strong_missing_kconfig.bpf.o");
        let cfg = KernelConfig::parse("CONFIG_DEFINITELY_NOT_THERE_XYZ=3\n").unwrap();
        let res = resolve(&spec, &|_| false, Some(&cfg), &ConfigOnly(env(None))).unwrap();
        assert_eq!(res.kconfig.unwrap().data, 3i32.to_le_bytes());
    }

    // ---- helpers ----

    #[test]
    fn poisoned_kfunc_found_in_a_verifier_log() {
        let spec = object("externs.bpf.o");
        let res = resolve(&spec, &weak_of(&spec), None, &env(Some(CONFIG))).unwrap();
        let idx = res
            .externs
            .iter()
            .position(|e| e.name == "bpf_this_kfunc_does_not_exist_xyz")
            .unwrap();
        let imm = POISON_CALL_KFUNC_BASE + idx as i32;
        let log = format!(
            "0: R1=ctx() R10=fp0\n; bpf_this_kfunc_does_not_exist_xyz(); @ externs.bpf.c:1\n\
             157: (85) call unknown#{imm}\ninvalid func unknown#{imm}\n\
             processed 158 insns (limit 1000000)\n"
        );
        let (insn, ext) = poisoned_kfunc_in_log(&log, &res).unwrap();
        assert_eq!(
            (insn, ext.name.as_str()),
            (157, "bpf_this_kfunc_does_not_exist_xyz")
        );
        assert!(poisoned_kfunc_in_log("invalid func unknown#212\n", &res).is_none());
        assert!(poisoned_kfunc_in_log("", &res).is_none());
    }

    #[test]
    fn essential_names() {
        assert_eq!(essential_name_len("bpf_task_acquire"), 16);
        assert_eq!(essential_name_len("bpf_task_acquire___v2"), 16);
        assert_eq!(essential_name_len("a___b"), 1);
        assert_eq!(
            essential_name_len("a____b"),
            6,
            "four underscores are no flavor separator"
        );
        assert_eq!(essential_name_len("___b"), 4);
        assert_eq!(essential_name_len("ab"), 2);
    }

    #[test]
    fn compat_rules() {
        let local = object("externs.bpf.o").btf.unwrap();
        let kernel = fake_kernel("fake_kernel.bpf.o");
        let lk = |n| local.find_by_name_kind(n, Kind::Func).unwrap();
        let kk = |n| kernel.find_by_name_kind(n, Kind::Func).unwrap();
        let proto = |b: &Btf, id| b.type_by_id(id).unwrap().ref_type();
        let (l, k) = (lk("bpf_task_from_pid"), kk("bpf_task_from_pid"));
        assert!(types_are_compat(
            &local,
            proto(&local, l),
            &kernel,
            proto(&kernel, k)
        ));
        let r = kk("bpf_task_release");
        assert!(!types_are_compat(
            &local,
            proto(&local, l),
            &kernel,
            proto(&kernel, r)
        ));
        let int_l = local.find_by_name_kind("int", Kind::Int).unwrap();
        let st = kernel
            .find_by_name_kind("task_struct", Kind::Struct)
            .unwrap();
        assert!(!types_are_compat(&local, int_l, &kernel, st));
        assert!(types_are_compat(&local, 0, &kernel, 0), "void is void");
    }
}
