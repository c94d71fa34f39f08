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
        apply_patch(p, insns, kconfig_map_fd, module_fds).map_err(|reason| {
            ExternError::BadReloc {
                program: program.to_string(),
                insn: p.insn,
                name: String::new(),
                reason,
            }
        })?;
    }
    Ok(())
}

/// Rewrites the instruction (both slots of an `ld_imm64`) that `p` is about; `Err` says
/// why it cannot.
fn apply_patch(
    p: &Patch,
    insns: &mut [Insn],
    kconfig_map_fd: Option<i32>,
    module_fds: &[i32],
) -> Result<(), String> {
    if !patch_fits(p, insns) {
        return Err(format!("{:?} does not fit the instruction", p.action));
    }
    let at = p.insn;
    match p.action {
        PatchAction::KconfigValue { offset } => {
            let fd = kconfig_map_fd.ok_or("no .kconfig map fd")?;
            set_ld_imm64(insns, at, Some(pseudo::MAP_VALUE), fd, offset as i32);
        }
        PatchAction::BtfId { btf_id, module } => {
            let fd = module_fd(module_fds, module)?;
            set_ld_imm64(insns, at, Some(pseudo::BTF_ID), btf_id as i32, fd);
        }
        PatchAction::Address(a) => {
            set_ld_imm64(insns, at, None, a as u32 as i32, (a >> 32) as u32 as i32);
        }
        PatchAction::KfuncCall { btf_id, module } => {
            // The fd itself goes into fd_array; check it exists all the same.
            module_fd(module_fds, module)?;
            let off = fd_array_index(module)?;
            insns[at].set_src(pseudo::KFUNC_CALL);
            insns[at].imm = btf_id as i32;
            insns[at].off = off;
        }
        PatchAction::PoisonKfuncCall { extern_index } => {
            let imm = POISON_CALL_KFUNC_BASE.saturating_add(extern_index as i32);
            insns[at] = Insn::new(op::CALL, 0, 0, 0, imm);
        }
    }
    Ok(())
}

/// Whether `p`'s instruction has the shape its action rewrites: a `call`, or an
/// `ld_imm64` with both slots in `insns`.
fn patch_fits(p: &Patch, insns: &[Insn]) -> bool {
    match p.action {
        PatchAction::KfuncCall { .. } | PatchAction::PoisonKfuncCall { .. } => {
            insns.get(p.insn).is_some_and(|i| i.code == op::CALL)
        }
        _ => p.insn + 1 < insns.len() && insns[p.insn].is_ld_imm64(),
    }
}

/// Sets the immediates of the `ld_imm64` at `at` (and its `src_reg`, when given).
fn set_ld_imm64(insns: &mut [Insn], at: usize, src: Option<u8>, imm: i32, next_imm: i32) {
    if let Some(src) = src {
        insns[at].set_src(src);
    }
    insns[at].imm = imm;
    insns[at + 1].imm = next_imm;
}

/// The BTF fd of module `module` (an index into [`Resolution::modules`]), 0 for vmlinux.
fn module_fd(module_fds: &[i32], module: Option<usize>) -> Result<i32, String> {
    match module {
        None => Ok(0),
        Some(i) => module_fds
            .get(i)
            .copied()
            .ok_or_else(|| format!("no fd for module #{i}")),
    }
}

/// A kfunc call's `off`: module `i`'s fd is at `fd_array[i + 1]`; 0 means vmlinux.
fn fd_array_index(module: Option<usize>) -> Result<i16, String> {
    match module {
        None => Ok(0),
        Some(i) => {
            i16::try_from(i + 1).map_err(|_| format!("module #{i} has no 16-bit fd_array index"))
        }
    }
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
