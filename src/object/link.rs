//! Relocations and static linking of programs with their `.text` subprograms.
//!
//! Two steps, as libbpf's `bpf_object__collect_relos()` and
//! `bpf_object__relocate_calls()`/`bpf_object__reloc_code()`:
//!
//! 1. [`resolve`]: every relocation record of a code section is checked and
//!    classified (map, global data, extern, call, subprogram address), so errors
//!    surface at parse time even in subprograms no program calls;
//! 2. [`Linker::link`]: each program gets its own copy of every `.text` function it
//!    reaches, appended after its body in depth-first order of first use (the
//!    order libbpf appends them in), with calls and callback addresses rewritten
//!    to be relative and the subprograms' relocations and `.BTF.ext` records
//!    copied with shifted offsets.

use std::collections::{BTreeMap, HashMap};

use crate::btf::ext::{CoreRelo, FuncInfo, LineInfo};
use crate::insn::{op, pseudo, Insn};

use super::elf::{Elf, RelocSection, SymSection, Symbol, R_BPF_64_32, R_BPF_64_64};
use super::{ExternKind, ExternReloc, MapKind, MapReloc, MapRelocKind, MapSpec, ObjectError};

/// The kernel's limit on instructions in one program (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const MAX_PROGRAM_INSNS: usize = 1_000_000;
/// Limit on instructions plus `.BTF.ext` records produced for all programs together,
/// so that many programs sharing a huge `.text` cannot exhaust memory.
pub const MAX_TOTAL_LINKED: usize = 1 << 25;

/// A function: a program or a `.text` subprogram.
#[derive(Clone, Debug)]
pub struct Func {
    /// Symbol name.
    pub name: String,
    /// Index into the code section list.
    pub code: usize,
    /// First instruction, within its section.
    pub start: usize,
    /// Number of instructions.
    pub len: usize,
}

/// What a relocated instruction refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `ld_imm64` of a map (its fd).
    Map(usize),
    /// `ld_imm64` of an address within a global data map.
    Data {
        /// Map index.
        map: usize,
        /// Byte offset within the map value.
        offset: u32,
    },
    /// `ld_imm64` or `call` of an extern.
    Extern {
        /// Symbol name.
        symbol: String,
        /// `.kconfig` or `.ksyms`.
        kind: ExternKind,
        /// Declared `__weak` (the symbol is `STB_WEAK`).
        weak: bool,
    },
    /// `call` of a `.text` function: the symbol's value (bytes into `.text`).
    Call(u64),
    /// `ld_imm64` of a `.text` function's address: the symbol's value.
    SubprogAddr(u64),
}

/// One section holding code, with everything the linker needs from it.
#[derive(Debug)]
pub struct CodeSection {
    /// ELF section index.
    pub index: usize,
    /// ELF section name, as written (with a leading `?` if there is one).
    pub name: String,
    /// Its instructions.
    pub insns: Vec<Insn>,
    /// Resolved relocations by instruction index within the section.
    pub relocs: BTreeMap<usize, Target>,
    /// `.BTF.ext` function info, `insn_off` in instructions within the section, sorted.
    pub func_info: Vec<FuncInfo>,
    /// Line info, likewise.
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocations, likewise.
    pub core_relos: Vec<CoreRelo>,
}

/// Context for [`resolve`].
pub struct ResolveCtx<'e, 'a> {
    /// The ELF container.
    pub elf: &'e Elf<'a>,
    /// All maps so far.
    pub maps: &'e [MapSpec],
    /// Externs declared in `.kconfig`/`.ksyms` (from BTF), by name.
    pub externs: &'e HashMap<String, ExternKind>,
    /// Index of `.text` in the ELF, if any.
    pub text: Option<usize>,
    /// Index of `.maps` and of legacy `maps` in the ELF, if any.
    pub map_sections: [Option<usize>; 2],
}

fn reloc_err(section: &str, offset: u64, reason: impl Into<String>) -> ObjectError {
    ObjectError::BadReloc {
        section: section.to_string(),
        offset,
        reason: reason.into(),
    }
}

/// The function of `funcs` (sorted by start, one code section) containing instruction `idx`.
fn containing<'f>(funcs: &'f [&Func], idx: usize) -> Option<&'f Func> {
    let pos = funcs.partition_point(|f| f.start <= idx);
    let f = funcs.get(pos.checked_sub(1)?)?;
    (idx < f.start + f.len).then_some(*f)
}

/// Checks and classifies the relocations `rel_secs` of code section `sec`, whose
/// functions (sorted by start) are `funcs`.
pub fn resolve(
    ctx: &ResolveCtx<'_, '_>,
    sec: &mut CodeSection,
    funcs: &[Func],
    rel_secs: &[&RelocSection],
) -> Result<(), ObjectError> {
    let sec_name = sec.name.as_str();
    let mine: Vec<&Func> = funcs.iter().collect();
    let mut out = BTreeMap::new();
    for r in rel_secs.iter().flat_map(|rs| rs.relocs.iter()) {
        let insns = &sec.insns;
        if r.kind != R_BPF_64_64 && r.kind != R_BPF_64_32 {
            return Err(reloc_err(
                sec_name,
                r.offset,
                format!(
                    "unknown relocation type {} (expected R_BPF_64_64 or R_BPF_64_32)",
                    r.kind
                ),
            ));
        }
        if r.offset % 8 != 0 || r.offset / 8 >= insns.len() as u64 {
            return Err(reloc_err(
                sec_name,
                r.offset,
                format!(
                    "offset is not on one of the section's {} instructions",
                    insns.len()
                ),
            ));
        }
        let idx = (r.offset / 8) as usize;
        let sym = ctx
            .elf
            .symbols
            .get(r.symbol)
            .filter(|_| r.symbol != 0)
            .ok_or_else(|| {
                reloc_err(
                    sec_name,
                    r.offset,
                    if r.symbol == 0 {
                        "symbol index 0 is the null symbol, which names nothing".to_string()
                    } else {
                        format!(
                            "symbol index {} is out of range ({} symbols)",
                            r.symbol,
                            ctx.elf.symbols.len()
                        )
                    },
                )
            })?;
        let Some(func) = containing(&mine, idx) else {
            // libbpf: "probably overridden weak function, skipping".
            log::debug!(
                "section '{sec_name}': relocation at {:#x} is outside every function",
                r.offset
            );
            continue;
        };
        let target = classify(ctx, sec_name, r.offset, insns, idx, func, sym)?;
        out.insert(idx, target);
    }
    sec.relocs = out;
    Ok(())
}

/// The name libbpf prints for a relocation's symbol: the section's name for section symbols.
fn sym_display(ctx: &ResolveCtx<'_, '_>, sym: &Symbol) -> String {
    match (sym.is_section() && sym.name.is_empty(), sym.section) {
        (true, SymSection::Section(s)) => ctx.elf.sections[s].name.clone(),
        _ => sym.name.clone(),
    }
}

fn classify(
    ctx: &ResolveCtx<'_, '_>,
    sec_name: &str,
    offset: u64,
    insns: &[Insn],
    idx: usize,
    func: &Func,
    sym: &Symbol,
) -> Result<Target, ObjectError> {
    let insn = insns[idx];
    let name = sym_display(ctx, sym);
    let rel_insn = idx - func.start;
    let is_call = insn.code == op::CALL;
    if !is_call && !insn.is_ld_imm64() {
        return Err(reloc_err(
            sec_name,
            offset,
            format!(
                "relocation against '{name}' is on instruction {rel_insn} of '{}' (opcode {:#04x}), neither ld_imm64 nor call",
                func.name, insn.code
            ),
        ));
    }
    if insn.is_ld_imm64() && idx + 1 >= func.start + func.len {
        return Err(reloc_err(
            sec_name,
            offset,
            format!(
                "ld_imm64 at instruction {rel_insn} of '{}' is cut off by the function's end",
                func.name
            ),
        ));
    }
    if sym.section == SymSection::Undefined {
        if let Some(kind) = ctx.externs.get(&sym.name) {
            return Ok(Target::Extern {
                symbol: sym.name.clone(),
                kind: *kind,
                weak: sym.bind == object::elf::STB_WEAK,
            });
        }
        return Err(if is_call {
            ObjectError::MissingFunction {
                program: func.name.clone(),
                symbol: name,
                insn: rel_insn,
            }
        } else {
            ObjectError::MissingMap {
                program: func.name.clone(),
                symbol: name,
                insn: rel_insn,
            }
        });
    }
    let SymSection::Section(sym_sec) = sym.section else {
        return Err(reloc_err(
            sec_name,
            offset,
            format!("relocation against '{name}' in a special section (an uninitialized global needs `= 0`?)"),
        ));
    };
    if is_call {
        if insn.src() != pseudo::CALL {
            return Err(reloc_err(
                sec_name,
                offset,
                format!(
                    "call of '{name}' at instruction {rel_insn} of '{}' is not a bpf-to-bpf call",
                    func.name
                ),
            ));
        }
        if Some(sym_sec) != ctx.text {
            return Err(ObjectError::BadCall {
                program: func.name.clone(),
                insn: rel_insn,
                reason: format!(
                    "it calls '{name}' in section '{}'; subprograms must be in .text",
                    ctx.elf.sections[sym_sec].name
                ),
            });
        }
        if sym.value % 8 != 0 {
            return Err(reloc_err(
                sec_name,
                offset,
                format!("call target '{name}' is not instruction-aligned"),
            ));
        }
        return Ok(Target::Call(sym.value));
    }
    if Some(sym_sec) == ctx.text && (sym.is_section() || sym.is_func()) {
        if sym.value % 8 != 0 || insn.imm % 8 != 0 {
            return Err(reloc_err(
                sec_name,
                offset,
                format!(
                    "address of '{name}' + {} is not instruction-aligned",
                    insn.imm
                ),
            ));
        }
        return Ok(Target::SubprogAddr(sym.value));
    }
    if ctx.map_sections.contains(&Some(sym_sec)) {
        return ctx
            .maps
            .iter()
            .position(|m| {
                matches!(m.kind, MapKind::Btf | MapKind::Legacy)
                    && m.section_index == sym_sec
                    && m.symbol_offset == sym.value
            })
            .map(Target::Map)
            .ok_or_else(|| ObjectError::MissingMap {
                program: func.name.clone(),
                symbol: name,
                insn: rel_insn,
            });
    }
    let data_map = ctx
        .maps
        .iter()
        .position(|m| matches!(m.kind, MapKind::GlobalData(_)) && m.section_index == sym_sec);
    let Some(map) = data_map else {
        return Err(reloc_err(
            sec_name,
            offset,
            format!(
                "'{name}' (instruction {rel_insn} of '{}') is in section '{}', which is neither maps nor global data",
                func.name, ctx.elf.sections[sym_sec].name
            ),
        ));
    };
    // Section symbols have value 0 and the offset in imm; named variables have it in
    // the value (and imm 0 or a field offset): the address is always value + imm.
    let off = i128::from(sym.value) + i128::from(insn.imm);
    let size = ctx.elf.sections[sym_sec].size;
    match u32::try_from(off) {
        Ok(o) if u64::from(o) <= size => Ok(Target::Data { map, offset: o }),
        _ => Err(reloc_err(
            sec_name,
            offset,
            format!(
                "'{name}' + {} (instruction {rel_insn} of '{}') points outside section '{}' of {size} bytes",
                insn.imm, func.name, ctx.elf.sections[sym_sec].name
            ),
        )),
    }
}

/// One linked program.
#[derive(Debug, Default)]
pub struct Linked {
    /// Instructions: body, then subprograms.
    pub insns: Vec<Insn>,
    /// Map relocations, sorted by instruction.
    pub map_relocs: Vec<MapReloc>,
    /// Extern relocations, sorted by instruction.
    pub extern_relocs: Vec<ExternReloc>,
    /// Function info, instruction offsets, sorted.
    pub func_info: Vec<FuncInfo>,
    /// Line info, sorted.
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocations, sorted.
    pub core_relos: Vec<CoreRelo>,
}

/// The linker's view of the object.
pub struct Linker<'s> {
    /// Code sections.
    pub sections: &'s [CodeSection],
    /// All functions.
    pub funcs: &'s [Func],
    /// Index of `.text` within `sections`.
    pub text: Option<usize>,
    /// `.text` functions by first instruction.
    pub text_starts: HashMap<usize, usize>,
    /// What all programs linked so far cost (see [`MAX_TOTAL_LINKED`]).
    pub spent: usize,
}

/// Range of records of a sorted list whose `insn_off` lies in `[start, end)`.
fn in_range<T>(v: &[T], off: impl Fn(&T) -> u32, start: usize, end: usize) -> &[T] {
    let lo = v.partition_point(|r| (off(r) as usize) < start);
    let hi = v.partition_point(|r| (off(r) as usize) < end);
    &v[lo..hi.max(lo)]
}

impl Linker<'_> {
    fn charge(&mut self, program: &str, n: usize) -> Result<(), ObjectError> {
        self.spent = self.spent.saturating_add(n);
        if self.spent > MAX_TOTAL_LINKED {
            return Err(ObjectError::TooLarge {
                program: program.to_string(),
                reason: format!("the object's programs link to more than {MAX_TOTAL_LINKED} instructions and records"),
            });
        }
        Ok(())
    }

    /// Appends function `f`'s relocations and `.BTF.ext` records, shifted to `base`.
    fn copy_func_data(
        &mut self,
        program: &str,
        out: &mut Linked,
        f: &Func,
        base: usize,
    ) -> Result<(), ObjectError> {
        let sections = self.sections;
        let sec = &sections[f.code];
        let (start, end) = (f.start, f.start + f.len);
        let shift = |i: usize| base + (i - start);
        for (&i, t) in sec.relocs.range(start..end) {
            match t {
                Target::Map(map) => out.map_relocs.push(MapReloc {
                    insn: shift(i),
                    map: *map,
                    kind: MapRelocKind::Fd,
                }),
                Target::Data { map, offset } => out.map_relocs.push(MapReloc {
                    insn: shift(i),
                    map: *map,
                    kind: MapRelocKind::Value { offset: *offset },
                }),
                Target::Extern { symbol, kind, weak } => out.extern_relocs.push(ExternReloc {
                    insn: shift(i),
                    symbol: symbol.clone(),
                    is_call: sec.insns[i].code == op::CALL,
                    kind: *kind,
                    weak: *weak,
                }),
                Target::Call(_) | Target::SubprogAddr(_) => {}
            }
        }
        let fi = in_range(&sec.func_info, |r| r.insn_off, start, end);
        let li = in_range(&sec.line_info, |r| r.insn_off, start, end);
        let cr = in_range(&sec.core_relos, |r| r.insn_off, start, end);
        self.charge(program, fi.len() + li.len() + cr.len())?;
        let sh = |off: u32| shift(off as usize) as u32;
        out.func_info.extend(fi.iter().map(|r| FuncInfo {
            insn_off: sh(r.insn_off),
            ..*r
        }));
        out.line_info.extend(li.iter().map(|r| LineInfo {
            insn_off: sh(r.insn_off),
            ..*r
        }));
        out.core_relos.extend(cr.iter().map(|r| CoreRelo {
            insn_off: sh(r.insn_off),
            ..*r
        }));
        Ok(())
    }

    /// Links program `main` (index into `funcs`).
    pub fn link(&mut self, main: usize) -> Result<Linked, ObjectError> {
        let (funcs, sections) = (self.funcs, self.sections);
        let m = &funcs[main];
        let program = m.name.clone();
        if m.len > MAX_PROGRAM_INSNS {
            return Err(ObjectError::TooLarge {
                program,
                reason: format!("more than {MAX_PROGRAM_INSNS} instructions"),
            });
        }
        let mut out = Linked {
            insns: sections[m.code].insns[m.start..m.start + m.len].to_vec(),
            ..Linked::default()
        };
        self.charge(&program, m.len)?;
        self.copy_func_data(&program, &mut out, m, 0)?;
        // Position of each appended subprogram (by function index).
        let mut placed: HashMap<usize, usize> = HashMap::new();
        // (function, its base in `out.insns`, next instruction to look at): an explicit
        // stack, so that a long chain of calls cannot overflow ours.
        let mut stack = vec![(main, 0usize, 0usize)];
        while let Some((fi, base, mut next)) = stack.pop() {
            let f = &funcs[fi];
            let sec = &sections[f.code];
            while next < f.len {
                let i = next;
                next += 1;
                let pos = base + i;
                let sec_idx = f.start + i;
                let insn = out.insns[pos];
                let reloc = sec.relocs.get(&sec_idx);
                let err = |reason: String| ObjectError::BadCall {
                    program: program.clone(),
                    insn: pos,
                    reason,
                };
                // Target instruction index within .text.
                let target: i64 = if insn.is_pseudo_call() {
                    match reloc {
                        Some(Target::Extern { .. }) => continue,
                        Some(Target::Call(value)) => (*value / 8) as i64 + i64::from(insn.imm) + 1,
                        None if Some(f.code) == self.text => {
                            sec_idx as i64 + i64::from(insn.imm) + 1
                        }
                        None => {
                            return Err(err(format!(
                            "call without relocation in section '{}'; subprograms must be in .text",
                            sec.name
                        )))
                        }
                        Some(other) => {
                            return Err(err(format!("call has an unexpected relocation {other:?}")))
                        }
                    }
                } else if let (true, Some(Target::SubprogAddr(value))) = (insn.is_ld_imm64(), reloc)
                {
                    let t = (i128::from(*value) + i128::from(insn.imm)) / 8;
                    i64::try_from(t).unwrap_or(-1)
                } else if insn.is_pseudo_func() {
                    return Err(err(
                        "ld_imm64 of a function address without relocation".to_string()
                    ));
                } else {
                    continue;
                };
                let callee = usize::try_from(target)
                    .ok()
                    .and_then(|t| self.text_starts.get(&t).copied())
                    .ok_or_else(|| {
                        err(format!(
                            "target .text instruction {target} is not the start of a function"
                        ))
                    })?;
                let callee_base = match placed.get(&callee) {
                    Some(&b) => b,
                    None => {
                        let c = &funcs[callee];
                        let b = out.insns.len();
                        if b + c.len > MAX_PROGRAM_INSNS {
                            return Err(ObjectError::TooLarge {
                                program: program.clone(),
                                reason: format!("more than {MAX_PROGRAM_INSNS} instructions with its subprograms"),
                            });
                        }
                        self.charge(&program, c.len)?;
                        let csec = &sections[c.code];
                        out.insns
                            .extend_from_slice(&csec.insns[c.start..c.start + c.len]);
                        self.copy_func_data(&program, &mut out, c, b)?;
                        placed.insert(callee, b);
                        // Resume this function after the callee (and what it calls) is done.
                        stack.push((fi, base, next));
                        stack.push((callee, b, 0));
                        next = f.len; // leave the inner loop once the imm is fixed below
                        b
                    }
                };
                let rel = callee_base as i64 - pos as i64 - 1;
                let slot = &mut out.insns[pos];
                slot.imm = i32::try_from(rel)
                    .map_err(|_| err(format!("relative target {rel} does not fit")))?;
                if slot.is_ld_imm64() {
                    slot.set_src(pseudo::FUNC);
                }
            }
        }
        crate::util::sort_by_key(&mut out.map_relocs, |r| r.insn);
        crate::util::sort_by_key(&mut out.extern_relocs, |r| r.insn);
        crate::util::sort_by_key(&mut out.func_info, |r| r.insn_off);
        crate::util::sort_by_key(&mut out.line_info, |r| r.insn_off);
        crate::util::sort_by_key(&mut out.core_relos, |r| r.insn_off);
        Ok(out)
    }
}
