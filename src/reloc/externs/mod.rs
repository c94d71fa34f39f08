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
//!
//! The parts: `kconfig` parses configuration text and says which values an extern's
//! type takes; `kallsyms` parses the symbol table; `resolve` is the entry point (which
//! externs the programs use, what each referring instruction becomes), with
//! `kconfig_map` filling the `.kconfig` map and `ksyms` finding ksyms and kfuncs in
//! kallsyms and the kernel's BTF; `patch` turns patches into instructions.

#[cfg(test)]
mod fixtures;
pub(crate) mod kallsyms;
mod kconfig;
mod kconfig_map;
mod ksyms;
mod patch;
mod resolve;

use std::sync::Arc;

use crate::btf::{Btf, BtfError};
use crate::object::ExternKind;

pub use super::core::{essential_name_len, types_are_compat};
pub use kallsyms::{Kallsyms, Ksym};
pub use kconfig::{ConfigEntry, KconfigType, KernelConfig};
pub use patch::{apply_patches, poisoned_kfunc_in_log};
pub use resolve::resolve;

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
    /// Index of the map in [`ObjectSpec::maps`](crate::object::ObjectSpec::maps).
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
    /// Per program (as in [`ObjectSpec::programs`](crate::object::ObjectSpec::programs)), the instructions to rewrite.
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
