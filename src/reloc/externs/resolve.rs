//! The entry point: which externs the programs refer to, as the object declares them,
//! and what each referring instruction becomes once they are resolved.

use std::collections::{BTreeMap, HashMap};

use crate::btf::fixup::KCONFIG_SEC;
use crate::btf::{Btf, BtfError, Kind};
use crate::insn::op;
use crate::object::{ExternKind, ObjectSpec};

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
