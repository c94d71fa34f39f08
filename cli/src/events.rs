//! What `run` needs to make sense of events: decoding records through the object's BTF,
//! finding the struct a program sends through a perf buffer, and reading the
//! drop counter an object keeps for its ring buffers.

use std::fmt::Write as _;

use anyhow::{bail, Context as _};

use corebpf::btf::{Btf, Kind};
use corebpf::map::MapType;
use corebpf::{Map, MapFlags, ObjectSpec};

/// Decodes records through a BTF type, or as hex.
pub struct EventDecoder {
    btf: Option<Btf>,
    type_id: Option<u32>,
}

impl EventDecoder {
    /// Decodes ring buffer records through `name`, or struct `event` when not given; an
    /// explicit name that isn't there is an error, a missing default means hex.
    pub fn new(spec: &ObjectSpec, name: Option<&str>) -> anyhow::Result<EventDecoder> {
        Self::with_default(spec, name, None)
    }

    /// Decodes perf buffer samples through `name`; when not given, through the struct
    /// the object's programs pass to `bpf_perf_event_output` when its size is known and
    /// one named struct has it ([`perf_output_type`]); else struct `event`; else hex.
    pub fn for_perf(spec: &ObjectSpec, name: Option<&str>) -> anyhow::Result<EventDecoder> {
        let found = match (name, &spec.btf) {
            (None, Some(btf)) => perf_output_type(spec, btf),
            _ => None,
        };
        Self::with_default(spec, name, found)
    }

    fn with_default(
        spec: &ObjectSpec,
        name: Option<&str>,
        found: Option<u32>,
    ) -> anyhow::Result<EventDecoder> {
        let Some(btf) = &spec.btf else {
            return match name {
                Some(n) => bail!("--event-type {n}: the object has no BTF"),
                None => Ok(EventDecoder {
                    btf: None,
                    type_id: None,
                }),
            };
        };
        let wanted = name.unwrap_or("event");
        let id = found.or_else(|| {
            btf.find_by_name_kind(wanted, Kind::Struct)
                .or_else(|| btf.find_by_name_kind(wanted, Kind::Union))
                .or_else(|| btf.find_by_name_kind(wanted, Kind::Typedef))
        });
        if id.is_none() && name.is_some() {
            bail!("--event-type {wanted}: no struct, union or typedef of that name in the object's BTF");
        }
        // Keep a private copy of the BTF so the decoder doesn't borrow the spec.
        let btf = Btf::parse(btf.raw().to_vec()).context("copying the object's BTF")?;
        Ok(EventDecoder {
            btf: Some(btf),
            type_id: id,
        })
    }

    /// The name of the type records are decoded through, if any.
    pub fn type_name(&self) -> Option<String> {
        let (btf, id) = (self.btf.as_ref()?, self.type_id?);
        Some(corebpf::btf::format::format_type_name(btf, id))
    }

    /// One line for one record (bytes past the type's size, such as the padding of a
    /// perf sample, are ignored).
    pub fn decode(&self, rec: &[u8]) -> String {
        if let (Some(btf), Some(id)) = (&self.btf, self.type_id) {
            if let Ok(s) = corebpf::btf::format::format_value(btf, id, rec) {
                return s;
            }
        }
        let mut s = String::with_capacity(rec.len() * 2);
        for b in rec {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

/// Helpers that write into a perf event array: `bpf_perf_event_output`,
/// `bpf_skb_output`, `bpf_xdp_output`. The size is their fifth argument (r5).
const PERF_OUTPUT_HELPERS: [i32; 3] = [25, 111, 121];

/// How far before a helper call we look for the instruction that sets r5.
const LOOKBACK: usize = 32;

/// The struct the object sends through perf buffers, found from the calls' size
/// argument: when every call's r5 is set to the same constant just before it, and one
/// named struct or union of the object's BTF has that size (`event` first if several
/// do). `None` when that is not so: then the caller falls back to a name.
pub fn perf_output_type(spec: &ObjectSpec, btf: &Btf) -> Option<u32> {
    let mut size = None;
    for p in &spec.programs {
        for (i, insn) in p.insns.iter().enumerate() {
            if !(insn.is_helper_call() && PERF_OUTPUT_HELPERS.contains(&insn.imm)) {
                continue;
            }
            let this = r5_constant(&p.insns[..i])?;
            if *size.get_or_insert(this) != this {
                return None;
            }
        }
    }
    let size = u32::try_from(size?).ok()?;
    let candidates: Vec<u32> = btf
        .types()
        .filter(|t| t.kind.is_composite() && t.size() == size)
        .filter(|t| btf.name_of(t).is_ok_and(|n| !n.is_empty()))
        .map(|t| t.id)
        .collect();
    let named_event = candidates
        .iter()
        .copied()
        .find(|&id| btf.type_name(id).is_ok_and(|n| n == "event"));
    match (named_event, candidates.as_slice()) {
        (Some(id), _) => Some(id),
        (None, [only]) => Some(*only),
        _ => None,
    }
}

/// The constant r5 holds at the end of `before` (the instructions before a call): the
/// last write to r5 must be `r5 = imm` (64- or 32-bit move), with no jump or call in
/// between, and within [`LOOKBACK`] instructions.
fn r5_constant(before: &[corebpf::Insn]) -> Option<i64> {
    const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const MOV32_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
    const JMP: u8 = 0x05;
    const JMP32: u8 = 0x06;
    for insn in before.iter().rev().take(LOOKBACK) {
        if matches!(insn.class(), JMP | JMP32) {
            return None;
        }
        if insn.dst() == 5 && !insn.is_ld_imm64() {
            return matches!(insn.code, MOV64_K | MOV32_K).then_some(i64::from(insn.imm));
        }
    }
    None
}

/// The sum of the object's drop counter, a map named `dropped` whose values are u64s
/// (per CPU or not) that programs bump when a ring buffer reservation fails:
/// `Ok(None)` when the object has no such map.
pub fn dropped_total(maps: &[Map]) -> anyhow::Result<Option<u64>> {
    let Some(map) = maps.iter().find(|m| m.name() == "dropped") else {
        return Ok(None);
    };
    let counts = [
        MapType::ARRAY,
        MapType::PERCPU_ARRAY,
        MapType::HASH,
        MapType::PERCPU_HASH,
    ];
    if !counts.contains(&map.map_type()) || map.def().value_size != 8 {
        log::warn!(
            "map 'dropped' is a {} map of {}-byte values, not u64 counters: not read",
            map.map_type().name(),
            map.def().value_size
        );
        return Ok(None);
    }
    let mut total = 0u64;
    for key in map.keys() {
        let key = key.context("listing the keys of map 'dropped'")?;
        let Some(value) = map.lookup(&key, MapFlags::ANY)? else {
            continue; // deleted meanwhile
        };
        // One u64 per possible CPU for per-CPU maps, one otherwise.
        for slot in value.chunks_exact(8) {
            total = total.wrapping_add(u64::from_ne_bytes(slot.try_into()?));
        }
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corebpf::Insn;

    fn insn(code: u8, regs: u8, imm: i32) -> Insn {
        // `regs`: the destination in the low nibble, the source in the high one.
        Insn {
            code,
            regs,
            off: 0,
            imm,
        }
    }

    #[test]
    fn r5_is_the_last_constant_move_before_the_call() {
        let mov5 = |imm| insn(0xb7, 5, imm);
        assert_eq!(r5_constant(&[mov5(24)]), Some(24));
        assert_eq!(r5_constant(&[mov5(24), insn(0xb7, 1, 3)]), Some(24));
        assert_eq!(r5_constant(&[mov5(8), mov5(24)]), Some(24));
        assert_eq!(r5_constant(&[insn(0xb4, 5, 36)]), Some(36));
        // r5 from another register, or after a jump: unknown.
        assert_eq!(r5_constant(&[insn(0xbf, 0x15, 0)]), None);
        assert_eq!(r5_constant(&[mov5(24), insn(0x05, 0, 0)]), None);
        assert_eq!(r5_constant(&[]), None);
    }
}
