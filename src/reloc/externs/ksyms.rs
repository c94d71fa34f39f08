//! `__ksym` externs: untyped ones by address from kallsyms, typed variables and kfuncs
//! by BTF id from the kernel's BTF (vmlinux first, then modules), their types checked
//! against the object's.

use crate::btf::{Btf, Kind};
use crate::object::ExternKind;

use super::resolve::Ext;
use super::{essential_name_len, types_are_compat, ExternEnv, ExternError, ExternValue};

/// Resolves the `__ksym` externs of `exts` against `env`'s kallsyms and BTF; the kernel
/// modules whose BTF they are found in are added to `modules`.
pub(super) fn resolve_ksyms(
    btf: &Btf,
    exts: &mut [Ext],
    env: &dyn ExternEnv,
    modules: &mut Vec<String>,
) -> Result<(), ExternError> {
    for e in exts.iter_mut().filter(|e| e.kind == ExternKind::Ksym) {
        if !e.is_func && e.type_id == 0 {
            resolve_untyped(e, env)?;
        } else {
            resolve_typed(btf, e, env, modules)?;
        }
    }
    Ok(())
}

/// `what`, which extern `e` needs, is unavailable for `reason`.
fn unavailable(e: &Ext, what: &'static str, reason: String) -> ExternError {
    ExternError::Source {
        name: e.name.clone(),
        what,
        reason,
    }
}

/// An untyped ksym: its address from kallsyms (a weak one may be absent).
fn resolve_untyped(e: &mut Ext, env: &dyn ExternEnv) -> Result<(), ExternError> {
    let ks = env
        .kallsyms()
        .map_err(|r| unavailable(e, "/proc/kallsyms", r))?;
    if ks.addresses_hidden() {
        return Err(unavailable(
            e,
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
    Ok(())
}

/// A typed ksym (a kernel variable) or a kfunc: its BTF id in vmlinux or a module, its
/// type checked against the object's `btf` (a weak one may be absent).
fn resolve_typed(
    btf: &Btf,
    e: &mut Ext,
    env: &dyn ExternEnv,
    modules: &mut Vec<String>,
) -> Result<(), ExternError> {
    let vmlinux = env
        .vmlinux_btf()
        .map_err(|r| unavailable(e, "the kernel's BTF", r))?;
    let Some(found) = find_in_kernel_btf(e, vmlinux, env)? else {
        if e.weak {
            return Ok(());
        }
        return Err(ExternError::Unresolved {
            name: e.name.clone(),
            kind: e.ksym_kind(),
            reason: "not found in the kernel's or its modules' BTF".into(),
        });
    };
    if !kernel_type_matches(btf, e, &found)? {
        return Ok(());
    }
    let module = match found.module {
        Some(name) => Some(module_slot(modules, name, e)?),
        None => None,
    };
    log::debug!(
        "extern ({}) '{}': resolved to {} [{}]",
        e.ksym_kind(),
        e.name,
        found.btf_name(),
        found.id
    );
    let btf_id = found.id;
    e.value = Some(if e.is_func {
        ExternValue::Func { btf_id, module }
    } else {
        ExternValue::Var { btf_id, module }
    });
    Ok(())
}

/// Where in the kernel's BTF a ksym was found.
struct Found<'k> {
    /// Its VAR or FUNC id.
    id: u32,
    /// The module whose BTF has it, `None` for vmlinux.
    module: Option<&'k str>,
    /// That BTF.
    btf: &'k Btf,
}

impl Found<'_> {
    /// `vmlinux` or the module's name, for messages.
    fn btf_name(&self) -> &str {
        self.module.unwrap_or("vmlinux")
    }
}

/// Looks `e` up (a kfunc by its name without a `___flavor` suffix) in vmlinux's BTF,
/// then in the modules' own types; `None` when neither has it.
fn find_in_kernel_btf<'k>(
    e: &Ext,
    vmlinux: &'k Btf,
    env: &'k dyn ExternEnv,
) -> Result<Option<Found<'k>>, ExternError> {
    let (kind, lookup) = if e.is_func {
        (Kind::Func, &e.name[..essential_name_len(&e.name)])
    } else {
        (Kind::Var, e.name.as_str())
    };
    if let Some(id) = vmlinux.find_by_name_kind(lookup, kind) {
        return Ok(Some(Found {
            id,
            module: None,
            btf: vmlinux,
        }));
    }
    let mods = env
        .module_btfs()
        .map_err(|r| unavailable(e, "the kernel modules' BTF", r))?;
    Ok(mods.iter().find_map(|(name, b)| {
        b.ids_by_name_kind(lookup, kind)
            .find(|&id| id >= b.start_id())
            .map(|id| Found {
                id,
                module: Some(name.as_str()),
                btf: b,
            })
    }))
}

/// Whether the kernel's type of `found` is compatible with `e`'s in the object's `btf`.
/// An incompatible weak kfunc is `Ok(false)`: libbpf leaves it unresolved. Any other
/// mismatch is an error naming both types.
fn kernel_type_matches(btf: &Btf, e: &Ext, found: &Found) -> Result<bool, ExternError> {
    let berr = |source| ExternError::Btf {
        name: e.name.clone(),
        source,
    };
    let tt = found.btf.type_by_id(found.id).map_err(berr)?;
    let targ_type = if e.is_func {
        tt.ref_type()
    } else {
        found
            .btf
            .skip_mods_and_typedefs(tt.ref_type())
            .map_err(berr)?
    };
    if types_are_compat(btf, e.type_id, found.btf, targ_type) {
        return Ok(true);
    }
    if e.is_func && e.weak {
        return Ok(false);
    }
    Err(ExternError::Incompatible {
        name: e.name.clone(),
        kind: e.ksym_kind(),
        local: describe(btf, e.type_id),
        target: describe(found.btf, targ_type),
        btf: found.btf_name().to_string(),
    })
}

/// The index of `module` in `modules` (added when new), for extern `e`.
fn module_slot(modules: &mut Vec<String>, module: &str, e: &Ext) -> Result<usize, ExternError> {
    if let Some(i) = modules.iter().position(|m| m == module) {
        return Ok(i);
    }
    // fd_array index i + 1 must fit the instruction's 16-bit offset.
    if modules.len() + 1 >= i16::MAX as usize {
        return Err(ExternError::TooManyModules {
            name: e.name.clone(),
        });
    }
    modules.push(module.to_string());
    Ok(modules.len() - 1)
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::btf::linkage;
    use crate::insn::{op, pseudo, Insn};
    use crate::object::ObjectSpec;
    use crate::reloc::externs::fixtures::*;
    use crate::reloc::externs::{
        apply_patches, resolve, Kallsyms, Patch, PatchAction, Resolution, POISON_CALL_KFUNC_BASE,
    };

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
        let hidden =
            Kallsyms::parse("0000000000000000 T schedule\n0000000000000000 T x\n").unwrap();
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
