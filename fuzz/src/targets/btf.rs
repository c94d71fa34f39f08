//! Object BTF: `Btf::parse`, the DATASEC/VAR fixups the object layer applies, and every
//! accessor a reader of an object's types uses — members, enumerators, parameters,
//! section variables, sizes, alignment, modifier chains, C declarations, and formatting a
//! value of each type (what `corebpf map dump` prints).

use std::path::Path;

use corebpf::btf::fixup::{align_of, fixup_datasecs, VarSymbol};
use corebpf::btf::format::{declaration, format_type_name, format_value, is_char_type};
use corebpf::btf::{Btf, Kind};

use crate::{chain, seeds, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = "object BTF -> parse, DATASEC fixups, every accessor, value formatting";

/// Types visited per input (formatting is the costly part).
const MAX_TYPES: u32 = 2048;

/// One input: raw BTF.
pub fn run(data: &[u8]) -> Outcome {
    let mut btf = Btf::parse(data.to_vec()).map_err(|e| chain(&e))?;
    // Stand-ins for the ELF facts: every section exists with a size, every global has a
    // symbol; derived from the names so the fixups take varied paths.
    let section_size =
        |name: &str| (!name.len().is_multiple_of(3)).then_some(name.len() as u64 * 64);
    let global_symbol = |name: &str| {
        (!name.is_empty()).then_some(VarSymbol {
            value: name.len() as u64 * 8,
            hidden: name.len() % 2 == 1,
        })
    };
    if let Err(e) = fixup_datasecs(&mut btf, &section_size, &global_symbol) {
        let _ = chain(&e);
    }
    walk(&btf, data);
    Ok(())
}

/// Reads every type through every accessor; a value of each is formatted from `bytes`.
pub fn walk(btf: &Btf, bytes: &[u8]) {
    let end = btf.len().min(btf.start_id().saturating_add(MAX_TYPES));
    for id in btf.start_id()..end {
        let Ok(t) = btf.type_by_id(id) else {
            panic!("type [{id}] is in range but does not read");
        };
        let _ = btf.name_of(&t);
        let _ = (t.vlen(), t.kflag(), t.size(), t.ref_type());
        match t.kind {
            Kind::Int => drop(t.int()),
            Kind::Array => drop(t.array()),
            Kind::Struct | Kind::Union => {
                for m in t.members() {
                    let _ = btf.str_at(m.name_off);
                }
                let _ = t.member(t.vlen().saturating_sub(1));
            }
            Kind::Enum | Kind::Enum64 => t.enum_values().for_each(|v| drop(btf.str_at(v.name_off))),
            Kind::FuncProto => t.params().for_each(|p| drop(btf.str_at(p.name_off))),
            Kind::Func | Kind::Var => drop(t.linkage()),
            Kind::DeclTag => drop(t.decl_tag_component()),
            Kind::Datasec => t.datasec_vars().for_each(drop),
            _ => {}
        }
        let _ = btf.resolve_size(id);
        let _ = btf.skip_mods(id);
        let _ = btf.skip_mods_and_typedefs(id);
        let _ = align_of(btf, id);
        let _ = is_char_type(btf, id);
        let _ = format_type_name(btf, id);
        let _ = declaration(btf, id, "x");
        let _ = format_value(btf, id, bytes);
    }
}

/// The `.BTF` of every object of the repository.
pub fn seeds(repo: &Path) -> Vec<Seed> {
    seeds::sections(repo, ".BTF", ".BTF")
}
