//! Turning [`Patch`]es into instructions once the descriptors they need exist, and
//! finding a poisoned kfunc call in a verifier log.

use crate::insn::{op, pseudo, Insn};

use super::{ExternError, Patch, PatchAction, Resolution, ResolvedExtern, POISON_CALL_KFUNC_BASE};

/// Rewrites `insns` (a program's instructions, map references already applied or not)
/// by `patches`. `kconfig_map_fd` is the `.kconfig` map's fd; `module_fds[i]` the BTF
/// fd of [`Resolution::modules`]`[i]`. Instruction shapes were checked by
/// [`resolve`](super::resolve()); they are checked again here so that mismatched inputs
/// give errors, not bad programs.
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
    use super::*;
    use crate::reloc::externs::fixtures::*;
    use crate::reloc::externs::resolve;

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
}
