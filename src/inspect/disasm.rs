//! BPF instructions as text, in the notation of the kernel's verifier log and of
//! `bpftool prog dump xlated`: `(b7) r1 = 0`, `(85) call bpf_map_lookup_elem#1`,
//! `(15) if r0 == 0x0 goto pc+1`, `(db) lock *(u64 *)(r0 +0) += r1`.
//!
//! The opcode in parentheses, then C-like pseudo code; 32-bit operations name their
//! registers `w`. What the encoding alone cannot name — call targets and the operand of
//! a 64-bit immediate load — is asked of a [`Symbolizer`], as the kernel's disassembler
//! asks its callbacks; [`NoSymbols`] gives the verifier log's spelling.

use std::fmt::Write as _;

use crate::features::helper_name;
use crate::insn::{class, pseudo, Insn};

/// Names what an instruction's encoding does not: call targets and 64-bit immediates.
///
/// The default methods spell them as the kernel's verifier log does.
pub trait Symbolizer {
    /// The name of the target of a `call` that is not a known helper id (`src_reg`
    /// 0 with an id in the helper table): a bpf-to-bpf call's `+N`, a kfunc's name, a
    /// kernel address's symbol. `None` falls back to `unknown`, `+imm` (bpf-to-bpf) or
    /// `kernel-function` (kfunc).
    fn call_target(&self, insn: Insn) -> Option<String> {
        let _ = insn;
        None
    }

    /// The operand of an `ld_imm64` (`insn` its first slot, `next` its second, `value`
    /// the 64-bit immediate): `0x…` by default.
    fn imm64(&self, insn: Insn, next: Insn, value: u64) -> String {
        let _ = (insn, next);
        format!("{value:#x}")
    }
}

/// The verifier log's spelling: helper names from the helper table, everything else
/// as numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSymbols;

impl Symbolizer for NoSymbols {}

// Opcode fields.
const SRC_X: u8 = 0x08;
const OP_NEG: u8 = 0x80;
const OP_MOV: u8 = 0xb0;
const OP_END: u8 = 0xd0;
const OP_DIV: u8 = 0x30;
const OP_MOD: u8 = 0x90;
const OP_JA: u8 = 0x00;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
const OP_JCOND: u8 = 0xe0;
const MODE_IMM: u8 = 0x00;
const MODE_ABS: u8 = 0x20;
const MODE_IND: u8 = 0x40;
const MODE_MEM: u8 = 0x60;
const MODE_MEMSX: u8 = 0x80;
const MODE_ATOMIC: u8 = 0xc0;
const SIZE_DW: u8 = 0x18;

// Atomic operations (in `imm`).
const ATOMIC_FETCH: i32 = 0x01;
const ATOMIC_XCHG: i32 = 0xe0 | ATOMIC_FETCH;
const ATOMIC_CMPXCHG: i32 = 0xf0 | ATOMIC_FETCH;
const ATOMIC_LOAD_ACQ: i32 = 0x100;
const ATOMIC_STORE_REL: i32 = 0x110;

/// `off` of `r = r` marking an arena address-space cast.
const ADDR_SPACE_CAST: i16 = 1;
/// `off` of the kernel-internal `r = r + per-CPU base` move.
const ADDR_PERCPU: i16 = -1;

/// How printf prints a null `%s`: the kernel's tables have holes for opcodes that do
/// not exist, and bpftool prints those this way.
const NULL_STR: &str = "(null)";

/// Assignment operators by ALU operation (`op >> 4`).
const ALU_OPS: [&str; 16] = [
    "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian",
    NULL_STR, NULL_STR,
];

/// Comparison (and other) names by jump operation (`op >> 4`).
const JMP_OPS: [&str; 16] = [
    "jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<=",
    NULL_STR, NULL_STR,
];

/// Atomic read-modify-write operation names by `imm & 0xf0 >> 4`.
fn atomic_op(imm: i32) -> &'static str {
    match imm & 0xf0 {
        0x00 => "add",
        0x40 => "or",
        0x50 => "and",
        0xa0 => "xor",
        _ => NULL_STR,
    }
}

/// `u8`…`u64` by the size bits of `code`.
fn size_name(code: u8) -> &'static str {
    ["u32", "u16", "u8", "u64"][usize::from((code >> 3) & 3)]
}

/// `s8`…`s32` for sign-extending loads (there is no 64-bit one).
fn signed_size_name(code: u8) -> &'static str {
    ["s32", "s16", "s8", NULL_STR][usize::from((code >> 3) & 3)]
}

/// `w` for 32-bit classes, `r` for 64-bit ones.
fn reg_prefix(c: u8) -> char {
    if c == class::ALU || c == class::JMP32 {
        'w'
    } else {
        'r'
    }
}

/// One instruction as text, without its index: `(b7) r1 = 0`. `next` is the following
/// slot, read by `ld_imm64` (missing: taken as zero).
///
/// # Examples
///
/// ```
/// use corebpf::inspect::disasm::{insn_text, NoSymbols};
/// use corebpf::Insn;
///
/// assert_eq!(insn_text(Insn::new(0xb7, 1, 0, 0, 0), None, &NoSymbols), "(b7) r1 = 0");
/// assert_eq!(
///     insn_text(Insn::new(0x85, 0, 0, 0, 1), None, &NoSymbols),
///     "(85) call bpf_map_lookup_elem#1"
/// );
/// ```
pub fn insn_text(insn: Insn, next: Option<Insn>, sym: &dyn Symbolizer) -> String {
    let mut body = String::with_capacity(40);
    match insn.class() {
        class::ALU | class::ALU64 => alu(&mut body, insn),
        class::STX => stx(&mut body, insn),
        class::ST => st(&mut body, insn),
        class::LDX => ldx(&mut body, insn),
        class::LD => ld(&mut body, insn, next.unwrap_or_default(), sym),
        _ => jmp(&mut body, insn, sym),
    }
    // The kernel prints its markers for encodings it does not know without the opcode.
    if body.starts_with("BUG_") {
        return body;
    }
    format!("({:02x}) {body}", insn.code)
}

/// Every instruction of a program as `(index, text)`, the second slot of each
/// `ld_imm64` skipped (its index is not listed), as bpftool lists them.
pub fn disassemble(insns: &[Insn], sym: &dyn Symbolizer) -> Vec<(usize, String)> {
    let mut out = Vec::with_capacity(insns.len());
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        out.push((i, insn_text(insn, insns.get(i + 1).copied(), sym)));
        i += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

fn alu(s: &mut String, i: Insn) {
    let c = i.class();
    let w = reg_prefix(c);
    let op = i.code & 0xf0;
    let (dst, src) = (i.dst(), i.src());
    let _ = if op == OP_END {
        if c == class::ALU64 {
            write!(s, "r{dst} = bswap{} r{dst}", i.imm)
        } else {
            let order = if i.code & SRC_X != 0 { "be" } else { "le" };
            write!(s, "r{dst} = {order}{} r{dst}", i.imm)
        }
    } else if op == OP_NEG {
        write!(s, "{w}{dst} = -{w}{dst}")
    } else if i.code == class::ALU64 | OP_MOV | SRC_X && i.off == ADDR_SPACE_CAST {
        let imm = i.imm as u32;
        write!(
            s,
            "r{dst} = addr_space_cast(r{src}, {}, {})",
            imm >> 16,
            imm & 0xffff
        )
    } else if i.code == class::ALU64 | OP_MOV | SRC_X && i.off == ADDR_PERCPU {
        write!(s, "r{dst} = &(void __percpu *)(r{src})")
    } else {
        let name = if (op == OP_DIV || op == OP_MOD) && i.off == 1 {
            if op == OP_DIV {
                "s/="
            } else {
                "s%="
            }
        } else {
            ALU_OPS[usize::from(op >> 4)]
        };
        if i.code & SRC_X != 0 {
            let cast = if op == OP_MOV {
                match i.off {
                    8 => "(s8)",
                    16 => "(s16)",
                    32 => "(s32)",
                    _ => "",
                }
            } else {
                ""
            };
            write!(s, "{w}{dst} {name} {cast}{w}{src}")
        } else {
            write!(s, "{w}{dst} {name} {}", i.imm)
        }
    };
}

fn stx(s: &mut String, i: Insn) {
    let (dst, src, off, size) = (i.dst(), i.src(), i.off, size_name(i.code));
    let mode = i.code & 0xe0;
    let bits = if i.code & 0x18 == SIZE_DW { "64" } else { "" };
    let imm = i.imm;
    let _ = if mode == MODE_MEM {
        write!(s, "*({size} *)(r{dst} {off:+}) = r{src}")
    } else if mode != MODE_ATOMIC {
        write!(s, "BUG_{:02x}", i.code)
    } else if matches!(imm, 0x00 | 0x40 | 0x50 | 0xa0) {
        let op = ALU_OPS[(imm >> 4) as usize];
        write!(s, "lock *({size} *)(r{dst} {off:+}) {op} r{src}")
    } else if matches!(imm, 0x01 | 0x41 | 0x51 | 0xa1) {
        let op = atomic_op(imm);
        write!(
            s,
            "r{src} = atomic{bits}_fetch_{op}(({size} *)(r{dst} {off:+}), r{src})"
        )
    } else if imm == ATOMIC_CMPXCHG {
        write!(
            s,
            "r0 = atomic{bits}_cmpxchg(({size} *)(r{dst} {off:+}), r0, r{src})"
        )
    } else if imm == ATOMIC_XCHG {
        write!(
            s,
            "r{src} = atomic{bits}_xchg(({size} *)(r{dst} {off:+}), r{src})"
        )
    } else if imm == ATOMIC_LOAD_ACQ {
        write!(s, "r{dst} = load_acquire(({size} *)(r{src} {off:+}))")
    } else if imm == ATOMIC_STORE_REL {
        write!(s, "store_release(({size} *)(r{dst} {off:+}), r{src})")
    } else {
        write!(s, "BUG_{:02x}", i.code)
    };
}

fn st(s: &mut String, i: Insn) {
    let mode = i.code & 0xe0;
    let _ = if mode == MODE_MEM {
        write!(
            s,
            "*({} *)(r{} {:+}) = {}",
            size_name(i.code),
            i.dst(),
            i.off,
            i.imm
        )
    } else if mode == 0xc0 {
        // BPF_NOSPEC, a kernel-internal speculation barrier.
        write!(s, "nospec")
    } else {
        write!(s, "BUG_st_{:02x}", i.code)
    };
}

fn ldx(s: &mut String, i: Insn) {
    let mode = i.code & 0xe0;
    let size = match mode {
        MODE_MEM => size_name(i.code),
        MODE_MEMSX => signed_size_name(i.code),
        _ => {
            let _ = write!(s, "BUG_ldx_{:02x}", i.code);
            return;
        }
    };
    let _ = write!(s, "r{} = *({size} *)(r{} {:+})", i.dst(), i.src(), i.off);
}

fn ld(s: &mut String, i: Insn, next: Insn, sym: &dyn Symbolizer) {
    let mode = i.code & 0xe0;
    let size = size_name(i.code);
    let _ = match mode {
        MODE_ABS => write!(s, "r0 = *({size} *)skb[{}]", i.imm),
        MODE_IND => write!(s, "r0 = *({size} *)skb[r{} + {}]", i.src(), i.imm),
        MODE_IMM if i.code & 0x18 == SIZE_DW => {
            let value = (u64::from(next.imm as u32) << 32) | u64::from(i.imm as u32);
            write!(s, "r{} = {}", i.dst(), sym.imm64(i, next, value))
        }
        _ => write!(s, "BUG_ld_{:02x}", i.code),
    };
}

fn jmp(s: &mut String, i: Insn, sym: &dyn Symbolizer) {
    let c = i.class();
    let op = i.code & 0xf0;
    let w = reg_prefix(c);
    let (dst, src, off) = (i.dst(), i.src(), i.off);
    let _ = if op == OP_CALL {
        let name = call_name(i, sym);
        if src == pseudo::CALL {
            write!(s, "call pc{name}")
        } else {
            write!(s, "call {name}#{}", i.imm)
        }
    } else if i.code == class::JMP | OP_JA {
        write!(s, "goto pc{off:+}")
    } else if i.code == class::JMP | OP_JA | SRC_X {
        write!(s, "gotox r{dst}")
    } else if i.code == class::JMP | OP_JCOND && src == 0 {
        write!(s, "may_goto pc{off:+}")
    } else if i.code == class::JMP32 | OP_JA {
        write!(s, "gotol pc{:+}", i.imm)
    } else if i.code == class::JMP | OP_EXIT {
        write!(s, "exit")
    } else {
        let cmp = JMP_OPS[usize::from(op >> 4)];
        if i.code & SRC_X != 0 {
            write!(s, "if {w}{dst} {cmp} {w}{src} goto pc{off:+}")
        } else {
            write!(s, "if {w}{dst} {cmp} {:#x} goto pc{off:+}", i.imm as u32)
        }
    };
}

/// A call's target: the helper table for plain helper ids, then the symbolizer, then
/// the fallbacks of the kernel's disassembler.
fn call_name(i: Insn, sym: &dyn Symbolizer) -> String {
    if i.src() == 0 && i.imm >= 0 {
        // Id 0 has a name in the kernel's table too.
        let known = if i.imm == 0 {
            Some("bpf_unspec")
        } else {
            helper_name(i.imm as u32)
        };
        if let Some(n) = known {
            return n.to_owned();
        }
    }
    if let Some(n) = sym.call_target(i) {
        return n;
    }
    match i.src() {
        pseudo::CALL => format!("{:+}", i.imm),
        pseudo::KFUNC_CALL => "kernel-function".to_owned(),
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> String {
        insn_text(Insn::new(code, dst, src, off, imm), None, &NoSymbols)
    }

    #[test]
    fn alu_64_and_32() {
        assert_eq!(t(0xb7, 1, 0, 0, 0), "(b7) r1 = 0");
        assert_eq!(t(0xbf, 6, 1, 0, 0), "(bf) r6 = r1");
        assert_eq!(t(0x07, 2, 0, 0, -4), "(07) r2 += -4");
        assert_eq!(t(0x77, 7, 0, 0, 32), "(77) r7 >>= 32");
        assert_eq!(t(0xc7, 1, 0, 0, 3), "(c7) r1 s>>= 3");
        assert_eq!(t(0xb4, 0, 0, 0, 0), "(b4) w0 = 0");
        assert_eq!(t(0xbc, 3, 7, 0, 0), "(bc) w3 = w7");
        assert_eq!(t(0x5c, 3, 7, 0, 0), "(5c) w3 &= w7");
        assert_eq!(t(0xac, 1, 2, 0, 0), "(ac) w1 ^= w2");
        assert_eq!(t(0x87, 4, 0, 0, 0), "(87) r4 = -r4");
        assert_eq!(t(0x84, 4, 0, 0, 0), "(84) w4 = -w4");
        assert_eq!(t(0x9f, 1, 2, 0, 0), "(9f) r1 %= r2");
    }

    #[test]
    fn cpu_v4_alu() {
        assert_eq!(t(0x3f, 1, 2, 1, 0), "(3f) r1 s/= r2");
        assert_eq!(t(0x94, 1, 0, 1, 7), "(94) w1 s%= 7");
        assert_eq!(t(0xbf, 1, 2, 8, 0), "(bf) r1 = (s8)r2");
        assert_eq!(t(0xbc, 1, 2, 16, 0), "(bc) w1 = (s16)w2");
        assert_eq!(t(0xbf, 1, 2, 32, 0), "(bf) r1 = (s32)r2");
        assert_eq!(t(0xd4, 1, 0, 0, 16), "(d4) r1 = le16 r1");
        assert_eq!(t(0xdc, 1, 0, 0, 32), "(dc) r1 = be32 r1");
        assert_eq!(t(0xd7, 1, 0, 0, 64), "(d7) r1 = bswap64 r1");
        assert_eq!(
            t(0xbf, 1, 1, 1, 1 << 16),
            "(bf) r1 = addr_space_cast(r1, 1, 0)"
        );
        assert_eq!(t(0xbf, 0, 0, -1, 0), "(bf) r0 = &(void __percpu *)(r0)");
    }

    #[test]
    fn loads_and_stores() {
        assert_eq!(t(0x61, 2, 1, 0, 0), "(61) r2 = *(u32 *)(r1 +0)");
        assert_eq!(t(0x79, 2, 6, 16, 0), "(79) r2 = *(u64 *)(r6 +16)");
        assert_eq!(t(0x91, 2, 6, -2, 0), "(91) r2 = *(s8 *)(r6 -2)");
        assert_eq!(t(0x63, 10, 8, -4, 0), "(63) *(u32 *)(r10 -4) = r8");
        assert_eq!(t(0x73, 6, 1, 0, 0), "(73) *(u8 *)(r6 +0) = r1");
        assert_eq!(t(0x6a, 10, 0, -8, 7), "(6a) *(u16 *)(r10 -8) = 7");
        assert_eq!(t(0x7a, 10, 0, -8, -1), "(7a) *(u64 *)(r10 -8) = -1");
        assert_eq!(t(0x30, 0, 0, 0, 12), "(30) r0 = *(u8 *)skb[12]");
        assert_eq!(t(0x48, 0, 3, 0, 2), "(48) r0 = *(u16 *)skb[r3 + 2]");
        assert_eq!(t(0xc2, 0, 0, 0, 0), "(c2) nospec");
        assert_eq!(t(0x21, 0, 0, 0, 0), "BUG_ldx_21");
    }

    #[test]
    fn atomics() {
        assert_eq!(t(0xdb, 0, 9, 0, 0), "(db) lock *(u64 *)(r0 +0) += r9");
        assert_eq!(t(0xc3, 1, 2, 4, 0x50), "(c3) lock *(u32 *)(r1 +4) &= r2");
        assert_eq!(
            t(0xdb, 1, 2, 8, 0x01),
            "(db) r2 = atomic64_fetch_add((u64 *)(r1 +8), r2)"
        );
        assert_eq!(
            t(0xc3, 1, 2, 0, 0xa1),
            "(c3) r2 = atomic_fetch_xor((u32 *)(r1 +0), r2)"
        );
        assert_eq!(
            t(0xdb, 1, 2, 0, 0xf1),
            "(db) r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)"
        );
        assert_eq!(
            t(0xc3, 1, 2, -4, 0xe1),
            "(c3) r2 = atomic_xchg((u32 *)(r1 -4), r2)"
        );
        assert_eq!(
            t(0xdb, 3, 1, 0, 0x100),
            "(db) r3 = load_acquire((u64 *)(r1 +0))"
        );
        assert_eq!(
            t(0xd3, 1, 2, 0, 0x110),
            "(d3) store_release((u8 *)(r1 +0), r2)"
        );
        assert_eq!(t(0xdb, 1, 2, 0, 0x33), "BUG_db");
        assert_eq!(t(0x3b, 1, 2, 0, 0), "BUG_3b");
        assert_eq!(t(0x22, 1, 0, 0, 0), "BUG_st_22");
        assert_eq!(t(0x08, 1, 0, 0, 0), "BUG_ld_08");
    }

    #[test]
    fn jumps_calls_exit() {
        assert_eq!(t(0x15, 0, 0, 1, 0), "(15) if r0 == 0x0 goto pc+1");
        assert_eq!(t(0x65, 0, 0, 2, -1), "(65) if r0 s> 0xffffffff goto pc+2");
        assert_eq!(t(0x5d, 1, 2, -7, 0), "(5d) if r1 != r2 goto pc-7");
        assert_eq!(t(0xa6, 1, 0, 3, 9), "(a6) if w1 < 0x9 goto pc+3");
        assert_eq!(t(0x1e, 1, 2, 3, 0), "(1e) if w1 == w2 goto pc+3");
        assert_eq!(t(0x05, 0, 0, 8, 0), "(05) goto pc+8");
        assert_eq!(t(0x06, 0, 0, 0, -300), "(06) gotol pc-300");
        assert_eq!(t(0xe5, 0, 0, 4, 0), "(e5) may_goto pc+4");
        assert_eq!(t(0x0d, 3, 0, 0, 0), "(0d) gotox r3");
        assert_eq!(t(0x95, 0, 0, 0, 0), "(95) exit");
        assert_eq!(t(0x85, 0, 0, 0, 1), "(85) call bpf_map_lookup_elem#1");
        assert_eq!(
            t(0x85, 0, 0, 0, 211),
            "(85) call bpf_cgrp_storage_delete#211"
        );
        assert_eq!(t(0x85, 0, 0, 0, 5000), "(85) call unknown#5000");
        assert_eq!(t(0x85, 0, 1, 0, 9), "(85) call pc+9");
        assert_eq!(t(0x85, 0, 2, 0, 77), "(85) call kernel-function#77");
    }

    struct Named;

    impl Symbolizer for Named {
        fn call_target(&self, insn: Insn) -> Option<String> {
            Some(format!("sym_{}", insn.imm))
        }
        fn imm64(&self, insn: Insn, next: Insn, _: u64) -> String {
            format!("map[id:{}][0]+{}", insn.imm, next.imm)
        }
    }

    #[test]
    fn ld_imm64_and_symbols() {
        let lo = Insn::new(0x18, 1, 0, 0, 0x89ab_cdefu32 as i32);
        let hi = Insn::new(0, 0, 0, 0, 0x0123_4567);
        assert_eq!(
            insn_text(lo, Some(hi), &NoSymbols),
            "(18) r1 = 0x123456789abcdef"
        );
        assert_eq!(insn_text(lo, None, &NoSymbols), "(18) r1 = 0x89abcdef");
        let m = Insn::new(0x18, 2, pseudo::MAP_VALUE, 0, 5);
        let v = Insn::new(0, 0, 0, 0, 8);
        assert_eq!(insn_text(m, Some(v), &Named), "(18) r2 = map[id:5][0]+8");
        // Helper ids in the table win over the symbolizer, as in the kernel.
        assert_eq!(
            insn_text(Insn::new(0x85, 0, 0, 0, 14), None, &Named),
            "(85) call bpf_get_current_pid_tgid#14"
        );
        assert_eq!(
            insn_text(Insn::new(0x85, 0, 0, 0, 280_992), None, &Named),
            "(85) call sym_280992#280992"
        );
        assert_eq!(
            insn_text(Insn::new(0x85, 0, 1, 9, 1), None, &Named),
            "(85) call pcsym_1"
        );
    }

    #[test]
    fn a_program_skips_the_second_ld_imm64_slot() {
        let prog = [
            Insn::new(0x18, 1, 0, 0, 7),
            Insn::new(0, 0, 0, 0, 0),
            Insn::new(0xb7, 0, 0, 0, 0),
            Insn::new(0x95, 0, 0, 0, 0),
        ];
        let lines = disassemble(&prog, &NoSymbols);
        let idx: Vec<usize> = lines.iter().map(|l| l.0).collect();
        assert_eq!(idx, [0, 2, 3]);
        assert_eq!(lines[0].1, "(18) r1 = 0x7");
    }
}
