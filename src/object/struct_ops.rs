//! struct_ops variables: `SEC(".struct_ops")` and `SEC(".struct_ops.link")` globals
//! of a kernel ops struct type (`struct tcp_congestion_ops`, …), each becoming a
//! struct_ops map.
//!
//! The section holds the variables' initial bytes; the DATASEC of the same name in
//! the object's BTF says where each variable starts and what its (local) type is;
//! the section's relocations point function-pointer members at programs
//! (`.init = (void *)my_init` relocates the member's 8 bytes against the symbol
//! `my_init`, a `struct_ops/...` program). What the kernel's type looks like is
//! decided at load time, against the running kernel's BTF.

use std::collections::HashMap;

use super::elf::{self, Elf, Section};
use super::{MapKind, MapSpec, ObjectError, Pinning};
use crate::btf::{Btf, Kind};

/// `BPF_MAP_TYPE_STRUCT_OPS`.
const BPF_MAP_TYPE_STRUCT_OPS: u32 = 26;
/// `BPF_F_LINK`: the map is registered through a link (`.struct_ops.link`).
pub(crate) const BPF_F_LINK: u32 = 1 << 13;

/// A struct_ops variable: which map holds it, its type, and which program each
/// function-pointer member points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructOpsSpec {
    /// Index into [`ObjectSpec::maps`](super::ObjectSpec::maps) of its map (named as
    /// the variable).
    pub map: usize,
    /// The struct's name (`tcp_congestion_ops`): the kernel type it implements.
    pub type_name: String,
    /// BTF id of the struct in the object's BTF.
    pub type_id: u32,
    /// Function-pointer members set to programs, by byte offset within the struct.
    pub funcs: Vec<StructOpsFunc>,
}

/// One function-pointer member set to a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructOpsFunc {
    /// Byte offset of the member within the struct.
    pub offset: u32,
    /// The program's name.
    pub program: String,
}

fn bad(sec: &Section<'_>, reason: String) -> ObjectError {
    ObjectError::BadSection {
        section: sec.name.clone(),
        reason,
    }
}

/// The struct_ops variables of section `sec` (`.struct_ops` or `.struct_ops.link`):
/// their maps, to be appended to the object's maps from index `first_map`, and their
/// specs.
pub(super) fn parse(
    elf: &Elf<'_>,
    sec: &Section<'_>,
    btf: Option<&Btf>,
    first_map: usize,
) -> Result<(Vec<MapSpec>, Vec<StructOpsSpec>), ObjectError> {
    let btf = btf.ok_or_else(|| {
        bad(
            sec,
            "struct_ops variables need BTF, and the object has no .BTF section".into(),
        )
    })?;
    let btf_err = |e: crate::btf::BtfError| bad(sec, format!("its BTF: {e}"));
    let dsec = btf
        .find_by_name_kind(&sec.name, Kind::Datasec)
        .ok_or_else(|| bad(sec, "no DATASEC of that name in the object's BTF".into()))?;
    let link = sec.name == ".struct_ops.link";
    let mut maps = Vec::new();
    let mut specs = Vec::new();
    for v in btf.type_by_id(dsec).map_err(btf_err)?.datasec_vars() {
        let name = btf.type_name(v.type_id).map_err(btf_err)?.to_string();
        let var = btf.type_by_id(v.type_id).map_err(btf_err)?;
        let type_id = btf
            .skip_mods_and_typedefs(var.ref_type())
            .map_err(btf_err)?;
        let t = btf.type_by_id(type_id).map_err(btf_err)?;
        if var.kind != Kind::Var || t.kind != Kind::Struct {
            return Err(bad(
                sec,
                format!("'{name}' is not a variable of a struct type"),
            ));
        }
        let end = v.offset as usize + v.size as usize;
        let data = sec
            .data
            .get(v.offset as usize..end)
            .filter(|d| d.len() == t.size() as usize)
            .ok_or_else(|| {
                bad(
                    sec,
                    format!(
                        "'{name}' ({} bytes at {}) does not fit the section's {} bytes or its type's {}",
                        v.size,
                        v.offset,
                        sec.data.len(),
                        t.size()
                    ),
                )
            })?;
        maps.push(MapSpec {
            name: name.clone(),
            kind: MapKind::StructOps,
            map_type: BPF_MAP_TYPE_STRUCT_OPS,
            key_size: 4,
            value_size: t.size(),
            max_entries: 1,
            map_flags: if link { BPF_F_LINK } else { 0 },
            numa_node: 0,
            map_extra: 0,
            pinning: Pinning::None,
            btf_key_type_id: 0,
            btf_value_type_id: type_id,
            data: data.to_vec(),
            section_index: sec.index,
            symbol_offset: u64::from(v.offset),
            inner: None,
            init_slots: Vec::new(),
        });
        specs.push(StructOpsSpec {
            map: first_map + specs.len(),
            type_name: btf.name_of(&t).map_err(btf_err)?.to_string(),
            type_id,
            funcs: Vec::new(),
        });
    }
    let starts: Vec<(u64, u64)> = maps
        .iter()
        .map(|m| (m.symbol_offset, m.symbol_offset + u64::from(m.value_size)))
        .collect();
    let mut seen = HashMap::new();
    for r in elf.relocs.iter().filter(|r| r.target == sec.index) {
        for rel in &r.relocs {
            let sym = elf
                .symbols
                .get(rel.symbol)
                .ok_or_else(|| bad(sec, format!("relocation names symbol #{}", rel.symbol)))?;
            if rel.kind != elf::R_BPF_64_ABS64 {
                return Err(bad(
                    sec,
                    format!(
                        "relocation at {} to '{}' is of type {}, not R_BPF_64_ABS64",
                        rel.offset, sym.name, rel.kind
                    ),
                ));
            }
            let which = starts
                .iter()
                .position(|&(s, e)| rel.offset >= s && rel.offset.saturating_add(8) <= e)
                .ok_or_else(|| {
                    bad(
                        sec,
                        format!(
                            "relocation at {} to '{}' is outside every variable",
                            rel.offset, sym.name
                        ),
                    )
                })?;
            let is_prog = sym.is_func()
                && matches!(sym.section, elf::SymSection::Section(i)
                    if elf.sections.get(i).is_some_and(Section::is_exec));
            if !is_prog {
                return Err(bad(
                    sec,
                    format!(
                        "'{}' sets a member to '{}', which is not a program",
                        maps[which].name, sym.name
                    ),
                ));
            }
            let offset = (rel.offset - starts[which].0) as u32;
            if seen.insert((which, offset), ()).is_some() {
                return Err(bad(
                    sec,
                    format!("two relocations at {} in '{}'", offset, maps[which].name),
                ));
            }
            specs[which].funcs.push(StructOpsFunc {
                offset,
                program: sym.name.clone(),
            });
        }
    }
    for s in &mut specs {
        s.funcs.sort_by_key(|f| f.offset);
    }
    Ok((maps, specs))
}
