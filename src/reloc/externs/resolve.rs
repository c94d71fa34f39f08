//! The entry point: which externs the programs refer to, as the object declares them,
//! and what each referring instruction becomes once they are resolved.

use std::collections::{BTreeMap, HashMap};

use crate::btf::fixup::KCONFIG_SEC;
use crate::btf::{Btf, BtfError, Kind, Type};
use crate::insn::op;
use crate::object::{ExternDecl, ExternKind, ExternReloc, ObjectSpec, ProgramSpec};

use super::kconfig::{kconfig_type, KconfigType};
use super::kconfig_map::resolve_kconfig;
use super::ksyms::resolve_ksyms;
use super::{
    ExternEnv, ExternError, ExternValue, KernelConfig, Patch, PatchAction, ProgramPatches,
    Resolution, ResolvedExtern,
};

/// An extern as the object declares it.
pub(super) struct Ext {
    pub(super) name: String,
    pub(super) kind: ExternKind,
    pub(super) weak: bool,
    pub(super) is_func: bool,
    /// Ksym: the local type after modifiers and typedefs (0 = untyped); for a FUNC, its
    /// FUNC_PROTO.
    pub(super) type_id: u32,
    /// Kconfig: where it lives in the map and how to fill it.
    pub(super) offset: u32,
    pub(super) size: u32,
    pub(super) kcfg: Option<KconfigType>,
    /// Outcome.
    pub(super) value: Option<ExternValue>,
}

impl Ext {
    pub(super) fn ksym_kind(&self) -> &'static str {
        if self.is_func {
            "func ksym"
        } else if self.type_id != 0 {
            "var ksym"
        } else {
            "ksym"
        }
    }

    /// The outcome, for [`Resolution::externs`]: a weak extern nothing set is
    /// [`ExternValue::Unresolved`].
    fn resolved(&self) -> ResolvedExtern {
        let value = self.value.clone().unwrap_or(ExternValue::Unresolved);
        if value == ExternValue::Unresolved {
            log::debug!(
                "extern '{}' (weak): not resolved, defaulting to zero",
                self.name
            );
        }
        ResolvedExtern {
            name: self.name.clone(),
            kind: self.kind,
            weak: self.weak,
            value,
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
        programs: spec.programs.iter().map(no_patches).collect(),
        ..Default::default()
    };
    let used = referred_externs(spec);
    let Some(first) = used.keys().next() else {
        return Ok(res);
    };
    let btf = spec.btf.as_ref().ok_or_else(|| ExternError::NoBtf {
        name: first.to_string(),
    })?;
    let mut exts = collect(btf, &used, weak)?;
    if exts.iter().any(|e| e.kind == ExternKind::Kconfig) {
        res.kconfig = Some(resolve_kconfig(spec, &mut exts, user_config, env)?);
    }
    resolve_ksyms(btf, &mut exts, env, &mut res.modules)?;
    res.externs = exts.iter().map(Ext::resolved).collect();
    plan_patches(spec, &exts, &mut res)?;
    Ok(res)
}

/// Program `p`, with no patches yet.
fn no_patches(p: &ProgramSpec) -> ProgramPatches {
    ProgramPatches {
        program: p.name.clone(),
        patches: Vec::new(),
    }
}

/// Fills `res.programs` with the patch of every extern reference, in program and
/// reference order, once `res.externs` holds what `exts` resolved to.
fn plan_patches(spec: &ObjectSpec, exts: &[Ext], res: &mut Resolution) -> Result<(), ExternError> {
    let index: HashMap<&str, usize> = exts
        .iter()
        .enumerate()
        .map(|(i, e)| (e.name.as_str(), i))
        .collect();
    for (patches, p) in res.programs.iter_mut().zip(&spec.programs) {
        patches.patches = p
            .extern_relocs
            .iter()
            .map(|r| patch_for(p, r, &index, exts, &res.externs))
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

/// The externs some instruction of some program refers to, by name.
fn referred_externs(spec: &ObjectSpec) -> BTreeMap<&str, ExternKind> {
    // Inserted one by one: collecting into a BTreeMap would sort with one more
    // instantiation of the standard sort, code that every loading process maps.
    let mut used = BTreeMap::new();
    for r in spec.programs.iter().flat_map(|p| &p.extern_relocs) {
        used.insert(r.symbol.as_str(), r.kind);
    }
    used
}

/// The patch for extern reference `r` of program `p`: `index` finds the extern in
/// `exts`, and `resolved` holds what each became.
fn patch_for(
    p: &ProgramSpec,
    r: &ExternReloc,
    index: &HashMap<&str, usize>,
    exts: &[Ext],
    resolved: &[ResolvedExtern],
) -> Result<Patch, ExternError> {
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
    let is_call = referring_insn_is_call(p, r).map_err(bad)?;
    let action = action_for(&exts[i], i, &resolved[i].value, is_call).map_err(bad)?;
    Ok(Patch {
        insn: r.insn,
        action,
    })
}

/// Checks that `r`'s instruction is what the relocation says it is, a `call` or an
/// `ld_imm64` (both of its slots in the program), and says which.
fn referring_insn_is_call(p: &ProgramSpec, r: &ExternReloc) -> Result<bool, &'static str> {
    let insn = p.insns.get(r.insn).ok_or("no such instruction")?;
    let is_call = insn.code == op::CALL;
    if is_call != r.is_call {
        return Err("the instruction is not what the relocation says");
    }
    let ld_imm64 = insn.is_ld_imm64() && r.insn + 1 < p.insns.len();
    if !is_call && !ld_imm64 {
        return Err("an extern reference must be an ld_imm64 or a call");
    }
    Ok(is_call)
}

/// What a `call` (`is_call`) or `ld_imm64` referring to extern `e` becomes, `e` being
/// extern number `i` and resolved to `value`.
fn action_for(
    e: &Ext,
    i: usize,
    value: &ExternValue,
    is_call: bool,
) -> Result<PatchAction, &'static str> {
    Ok(match (e.kind, is_call) {
        (ExternKind::Kconfig, true) => return Err("a .kconfig extern cannot be called"),
        (ExternKind::Kconfig, false) => PatchAction::KconfigValue { offset: e.offset },
        (ExternKind::Ksym, true) if !e.is_func => return Err("a call of a kernel variable"),
        (ExternKind::Ksym, true) => match value {
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
    })
}

/// The referred-to externs, from the `.kconfig`/`.ksyms` DATASECs, sorted as libbpf
/// sorts them (kconfig first; then by name).
fn collect(
    btf: &Btf,
    used: &BTreeMap<&str, ExternKind>,
    weak: &dyn Fn(&str) -> bool,
) -> Result<Vec<Ext>, ExternError> {
    // The first declaration of a name wins, as before.
    let mut declared: HashMap<&str, ExternDecl> = HashMap::new();
    for d in crate::object::extern_decls(btf) {
        declared.entry(d.name).or_insert(d);
    }
    let mut exts = used
        .iter()
        .map(|(&name, &kind)| declared_extern(btf, &declared, name, kind, weak))
        .collect::<Result<Vec<_>, _>>()?;
    crate::util::sort_by(&mut exts, |a, b| {
        let ka = a.kind != ExternKind::Kconfig;
        let kb = b.kind != ExternKind::Kconfig;
        ka.cmp(&kb).then_with(|| a.name.cmp(&b.name))
    });
    Ok(exts)
}

/// Extern `name`, which instructions refer to as a `kind` extern, as the object's BTF
/// declares it.
fn declared_extern(
    btf: &Btf,
    declared: &HashMap<&str, ExternDecl>,
    name: &str,
    kind: ExternKind,
    weak: &dyn Fn(&str) -> bool,
) -> Result<Ext, ExternError> {
    let not_declared = || ExternError::NotDeclared {
        name: name.to_string(),
    };
    let d = declared.get(name).ok_or_else(not_declared)?;
    let berr = |source| ExternError::Btf {
        name: name.to_string(),
        source,
    };
    if d.kind != kind {
        return Err(not_declared());
    }
    let t = btf.type_by_id(d.type_id).map_err(berr)?;
    let is_func = declares_func(&t, d.type_id).map_err(berr)?;
    let mut e = Ext {
        name: name.to_string(),
        kind,
        weak: weak(name),
        is_func,
        type_id: 0,
        offset: d.offset,
        size: d.size,
        kcfg: None,
        value: None,
    };
    match kind {
        ExternKind::Kconfig => e.kcfg = Some(kconfig_extern_type(btf, &e, t.ref_type())?),
        ExternKind::Ksym => {
            e.type_id = btf.skip_mods_and_typedefs(t.ref_type()).map_err(berr)?;
        }
    }
    Ok(e)
}

/// Whether extern type `t` (id `id`) is a FUNC rather than a VAR; another kind is an
/// error.
fn declares_func(t: &Type, id: u32) -> Result<bool, BtfError> {
    match t.kind {
        Kind::Var => Ok(false),
        Kind::Func => Ok(true),
        found => Err(BtfError::WrongKind {
            id,
            found,
            expected: "a VAR or FUNC extern",
        }),
    }
}

/// How `__kconfig` extern `e`, of type `type_id`, is filled: an error for a type libbpf
/// cannot fill, and when the DATASEC lays out a size other than the type's.
fn kconfig_extern_type(btf: &Btf, e: &Ext, type_id: u32) -> Result<KconfigType, ExternError> {
    if e.is_func {
        return Err(ExternError::UnsupportedType {
            name: e.name.clone(),
            reason: format!("a function under {KCONFIG_SEC}"),
        });
    }
    let ty = kconfig_type(btf, type_id).map_err(|reason| ExternError::UnsupportedType {
        name: e.name.clone(),
        reason,
    })?;
    let berr = |source| ExternError::Btf {
        name: e.name.clone(),
        source,
    };
    let sz = btf.resolve_size(type_id).map_err(berr)?;
    if u64::from(e.size) != sz {
        return Err(berr(BtfError::Invalid(format!(
            "{KCONFIG_SEC} lays out {} bytes for a {sz}-byte value",
            e.size
        ))));
    }
    Ok(ty)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::btf::Btf;
    use crate::reloc::externs::fixtures::*;
    use crate::reloc::externs::{FixedEnv, Kallsyms};

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
}
