//! BTF as text: a compilable C header (`vmlinux.h`) and bpftool's raw listing.
//!
//! - [`dump_c`] writes every struct, union, enum and typedef of a BTF as C that clang
//!   (`-target bpf`) compiles, with the layout the BTF describes: member offsets and
//!   sizes are kept with explicit padding bitfields and `__attribute__((packed))` where
//!   natural alignment would not give them. Types come in the order libbpf's `btf_dump`
//!   (and so `bpftool btf dump file … format c`) writes them, dependencies first, with
//!   the same `___2` suffixes for names C would otherwise see twice. Functions,
//!   variables and data sections are not written. [`dump_c_types`] writes chosen types
//!   and what they need; [`c_names`] tells which C name each type got.
//! - [`dump_raw`] lists the types one record each, as `bpftool btf dump file …` does;
//!   [`dump_raw_json`] is the same in bpftool's `-j` JSON. [`dependencies`] finds what a
//!   set of types refers to, for a listing of just those.
//!
//! All of it is pure: BTF in, text out.
//!
//! # Examples
//!
//! ```no_run
//! use corebpf::btf::{dump, kernel};
//!
//! let btf = kernel::vmlinux_btf()?;
//! std::fs::write("vmlinux.h", dump::dump_c(&btf))?;
//! // One type and what it needs (including, here, `struct list_head`).
//! let id = btf.find_by_name_kind("task_struct", corebpf::btf::Kind::Struct).unwrap();
//! let header = dump::dump_c_types(&btf, &[id]);
//! assert!(header.contains("struct list_head {"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod c;
mod raw;
#[cfg(test)]
mod tests;

pub use raw::kind_label;

use super::{Btf, Kind};

/// Writes all types of `btf` (a split BTF's base too) as a C header, wrapped in an
/// include guard and in clang's `preserve_access_index` pragma so that field accesses
/// through these types are CO-RE relocatable. This is `bpftool btf dump file … format c`.
pub fn dump_c(btf: &Btf) -> String {
    c::dump(btf, None)
}

/// Like [`dump_c`], but only `ids` (in that order) and the types they need: whatever
/// their definitions embed, and forward declarations for what they reach through
/// pointers. Ids outside the BTF are skipped.
pub fn dump_c_types(btf: &Btf, ids: &[u32]) -> String {
    c::dump(btf, Some(ids))
}

/// The C name [`dump_c`] gives each named struct, union, enum and typedef, indexed by
/// type id (`None` for other types): `foo___2` for the second `foo`. For code that
/// includes the header and refers to BTF types by name.
pub fn c_names(btf: &Btf) -> Vec<Option<String>> {
    c::dump_with_names(btf).1
}

/// Lists this blob's own types (for split BTF not the base's), one record per type, as
/// `bpftool btf dump file …` does: `[ID] KIND 'NAME'` and the kind's fields, then one
/// tab-indented line per member, enumerator, parameter or section variable.
pub fn dump_raw(btf: &Btf) -> String {
    raw::text(btf, None)
}

/// Like [`dump_raw`], for the types `ids` (in that order).
pub fn dump_raw_types(btf: &Btf, ids: &[u32]) -> String {
    raw::text(btf, Some(ids))
}

/// [`dump_raw`] as bpftool's JSON: `{"types":[{"id":1,"kind":"INT","name":…,…},…]}`.
pub fn dump_raw_json(btf: &Btf) -> String {
    raw::json(btf, None)
}

/// [`dump_raw_types`] as bpftool's JSON.
pub fn dump_raw_json_types(btf: &Btf, ids: &[u32]) -> String {
    raw::json(btf, Some(ids))
}

/// `roots` and every type they refer to, directly or not (members, pointees, elements,
/// parameters, return types, variables), sorted by id, without `void`. Ids outside the
/// BTF are left out.
pub fn dependencies(btf: &Btf, roots: &[u32]) -> Vec<u32> {
    let mut seen = vec![false; btf.len() as usize];
    let mut todo: Vec<u32> = roots.to_vec();
    while let Some(id) = todo.pop() {
        let Ok(t) = btf.type_by_id(id) else { continue };
        match seen.get_mut(id as usize) {
            Some(s) if !*s && id != 0 => *s = true,
            _ => continue,
        }
        match t.kind {
            Kind::Ptr
            | Kind::Typedef
            | Kind::Const
            | Kind::Volatile
            | Kind::Restrict
            | Kind::TypeTag
            | Kind::Func
            | Kind::Var
            | Kind::DeclTag => todo.push(t.ref_type()),
            Kind::Array => {
                if let Ok(a) = t.array() {
                    todo.extend([a.elem_type, a.index_type]);
                }
            }
            Kind::Struct | Kind::Union => todo.extend(t.members().map(|m| m.type_id)),
            Kind::FuncProto => {
                todo.push(t.ref_type());
                todo.extend(t.params().map(|p| p.type_id));
            }
            Kind::Datasec => todo.extend(t.datasec_vars().map(|v| v.type_id)),
            Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Fwd | Kind::Float | Kind::Void => {}
        }
    }
    (1..btf.len()).filter(|&id| seen[id as usize]).collect()
}
