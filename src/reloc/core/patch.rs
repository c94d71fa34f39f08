//! Writing a relocation into its instruction: `bpf_core_patch_insn` and
//! `bpf_core_poison_insn`.

use crate::insn::{class, op, Insn};

use super::calc::RelRes;
use super::{CoreError, Outcome, RelocCtx};

/// The helper id of a poisoned instruction: `0xbad2310`, "bad relo". If the verifier
/// reaches it, it reports "invalid func unknown#195896080".
pub const POISON_HELPER: i32 = 0x0bad_2310;

/// `BPF_X`: the source operand is a register.
const SRC_X: u8 = 0x08;

/// Turns `insn` into `call 0xbad2310`.
pub(super) fn poison(insn: &mut Insn) {
    *insn = Insn::new(class::JMP | 0x80, 0, 0, 0, POISON_HELPER);
}

fn size_to_bytes(code: u8) -> u32 {
    match code & 0x18 {
        op::SIZE_DW => 8,
        op::SIZE_W => 4,
        op::SIZE_H => 2,
        _ => 1,
    }
}

fn bytes_to_size(sz: u32) -> Option<u8> {
    Some(match sz {
        8 => op::SIZE_DW,
        4 => op::SIZE_W,
        2 => op::SIZE_H,
        1 => op::SIZE_B,
        _ => return None,
    })
}

/// Poisons instruction `idx` (both slots of an `ld_imm64`).
fn poison_at(insns: &mut [Insn], idx: usize, ctx: &RelocCtx) -> Result<(), CoreError> {
    if insns[idx].is_ld_imm64() {
        // Poison the second slot too, or the verifier complains about "unknown opcode 00".
        let Some(next) = insns.get_mut(idx + 1) else {
            return Err(CoreError::NotPatchable {
                ctx: ctx.clone(),
                code: op::LD_IMM64,
                reason: "ld_imm64 without its second slot",
            });
        };
        poison(next);
    }
    poison(&mut insns[idx]);
    Ok(())
}

/// Applies `res` to instruction `idx` (which the caller checked is in range).
/// `reason` explains a poisoning.
pub(super) fn patch_insn(
    insns: &mut [Insn],
    idx: usize,
    res: &RelRes,
    ctx: &RelocCtx,
    reason: impl FnOnce() -> String,
) -> Result<Outcome, CoreError> {
    let insn = insns[idx];
    let unexpected = |class: &'static str, got: u64| CoreError::UnexpectedValue {
        ctx: ctx.clone(),
        class,
        got,
        expected: res.orig_val,
        new: res.new_val,
    };
    if res.poison {
        poison_at(insns, idx, ctx)?;
        return Ok(Outcome::Poisoned { reason: reason() });
    }
    let (orig, new) = (res.orig_val, res.new_val);
    match insn.class() {
        class::ALU | class::ALU64 => {
            if insn.code & SRC_X != 0 {
                return Err(CoreError::NotPatchable {
                    ctx: ctx.clone(),
                    code: insn.code,
                    reason: "ALU instruction with a register source",
                });
            }
            // C compares the sign-extended immediate with the 64-bit value.
            let got = insn.imm as i64 as u64;
            if res.validate && got != orig {
                return Err(unexpected("ALU/ALU64", got));
            }
            // The value must survive the 32-bit immediate: any u32, or a sign-extended i32.
            if new > u64::from(u32::MAX) && new < (i32::MIN as i64 as u64) {
                return Err(CoreError::ValueTooBig {
                    ctx: ctx.clone(),
                    value: new,
                    field: "32-bit immediate",
                });
            }
            insns[idx].imm = new as u32 as i32;
        }
        class::LDX | class::ST | class::STX => {
            let got = insn.off as i64 as u64;
            if res.validate && got != orig {
                return Err(unexpected("LDX/ST/STX", got));
            }
            if new > i16::MAX as u64 {
                return Err(CoreError::ValueTooBig {
                    ctx: ctx.clone(),
                    value: new,
                    field: "16-bit offset",
                });
            }
            if res.fail_memsz_adjust {
                poison_at(insns, idx, ctx)?;
                return Ok(Outcome::Poisoned { reason: reason() });
            }
            let mut code = insn.code;
            if res.new_sz != res.orig_sz {
                let have = size_to_bytes(code);
                if have != res.orig_sz {
                    return Err(CoreError::MemSize {
                        ctx: ctx.clone(),
                        reason: format!(
                            "LDX/ST/STX accesses {have} bytes, but the local field has {} bytes",
                            res.orig_sz
                        ),
                    });
                }
                let Some(sz) = bytes_to_size(res.new_sz) else {
                    return Err(CoreError::MemSize {
                        ctx: ctx.clone(),
                        reason: format!(
                            "the target field has {} bytes, which no single load or store can access",
                            res.new_sz
                        ),
                    });
                };
                code = (code & 0xe0) | sz | insn.class();
            }
            insns[idx].off = new as i16;
            insns[idx].code = code;
        }
        class::LD => {
            let second = insns.get(idx + 1).copied();
            let well_formed = insn.is_ld_imm64()
                && insn.src() == 0
                && insn.off == 0
                && matches!(second, Some(s) if s.code == 0 && s.regs == 0 && s.off == 0);
            let Some(second) = second.filter(|_| well_formed) else {
                return Err(CoreError::NotPatchable {
                    ctx: ctx.clone(),
                    code: insn.code,
                    reason: "LD instruction that is not a plain ld_imm64",
                });
            };
            let got = u64::from(insn.imm as u32) | (u64::from(second.imm as u32) << 32);
            if res.validate && got != orig {
                return Err(unexpected("LDIMM64", got));
            }
            insns[idx].imm = new as u32 as i32;
            insns[idx + 1].imm = (new >> 32) as u32 as i32;
        }
        _ => {
            return Err(CoreError::NotPatchable {
                ctx: ctx.clone(),
                code: insn.code,
                reason: "not an ALU/ALU64 with an immediate, a load/store, or an ld_imm64",
            })
        }
    }
    Ok(Outcome::Patched { old: orig, new })
}
