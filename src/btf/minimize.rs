//! Minimal BTF ("BTFgen", bpftool's `gen min_core_btf`): the part of a target BTF that
//! some objects' CO-RE relocations use, written as a small standalone BTF that a tool can
//! ship for kernels without `/sys/kernel/btf/vmlinux` and pass as the target BTF.
//!
//! What is kept, as bpftool keeps it:
//!
//! - field relocations (`byte_off`, `field_exists`, ...): every candidate struct or union
//!   with only the members the access path walks (the anonymous members it goes through
//!   included), sizes and offsets unchanged; each walked member's type is kept "shallow":
//!   typedefs, modifiers and array elements followed, a struct or union kept without
//!   members, a pointer kept as a pointer to `void` unless its target is kept anyway;
//! - type relocations (`type_exists`, `type_size`, `target_type_id`): the type shallow,
//!   pointers followed (their targets are compared);
//! - `type_matches`: the whole shape, members and enumerators included, down to what
//!   lies behind pointers (kept by name only);
//! - enumerator relocations: the enum with the enumerators they name.
//!
//! Unlike bpftool, relocations are mirrored against every candidate of the same
//! essential name, not only the one that matched, and candidates that don't match are
//! kept too (as far as the access path goes): relocating against the minimized BTF then
//! decides exactly as against the full one, with the same reasons for poisoned
//! instructions (only type ids differ).
//!
//! This module sits above [`crate::object`] and [`crate::reloc`]: it reads objects and
//! relocates them against the full target first, so that a relocation that can't be done
//! is reported as such instead of producing a BTF missing what it would need.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Btf, BtfError, Kind, BTF_MAGIC};
use crate::btf::ext::CoreRelo;
use crate::object::ObjectSpec;
use crate::reloc::core::{CoreError, CoreReloKind};

/// Why a minimal BTF could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MinimizeError {
    /// A program's CO-RE relocations fail against the full target BTF.
    #[error(
        "object '{object}', program '{program}': relocating against the full target BTF failed"
    )]
    Relocation {
        /// The object's name.
        object: String,
        /// The program's name.
        program: String,
        /// The relocation layer's error.
        #[source]
        source: Box<CoreError>,
    },
    /// The target BTF (or an object's BTF) is malformed where a relocation needs it.
    #[error("object '{object}': the BTF its CO-RE relocations need is invalid")]
    Btf {
        /// The object's name.
        object: String,
        /// What is wrong.
        #[source]
        source: BtfError,
    },
    /// The target BTF is malformed where a kept type needs it.
    #[error("the target BTF is invalid where the relocations need it")]
    Target {
        /// What is wrong.
        #[source]
        source: BtfError,
    },
    /// The minimized BTF would not fit BTF's 32-bit section sizes.
    #[error("the minimized BTF is too large ({types} types)")]
    TooLarge {
        /// Number of types kept.
        types: usize,
    },
}

/// The target BTF minimized for `objects`' CO-RE relocations: raw BTF (header, types,
/// strings) that [`Btf::parse`] reads and the kernel's rules accept, the same bytes for
/// the same inputs.
///
/// Objects without BTF or without CO-RE relocations contribute nothing; a relocation
/// that fails against `target` is an error ([`MinimizeError::Relocation`]).
///
/// # Examples
///
/// ```no_run
/// use corebpf::btf::{kernel, minimize};
///
/// let vmlinux = kernel::load_btf_file("/sys/kernel/btf/vmlinux".as_ref())?;
/// let obj = corebpf::ObjectSpec::from_file("bpf-progs/relo_heavy.bpf.o".as_ref())?;
/// let small = minimize::min_core_btf(&vmlinux, &[&obj])?;
/// std::fs::write("relo_heavy.min.btf", &small)?;
/// // The small BTF relocates the object exactly as the full one does.
/// let min = corebpf::btf::Btf::parse(small)?;
/// let results = corebpf::reloc::relocate_object(&obj, &min);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn min_core_btf(target: &Btf, objects: &[&ObjectSpec]) -> Result<Vec<u8>, MinimizeError> {
    let mut marks = Marks::new(target);
    // The objects' records, with the local BTF they refer to.
    let mut all: Vec<(&ObjectSpec, &Btf, &CoreRelo)> = Vec::new();
    for obj in objects {
        let Some(local) = obj.btf.as_ref() else {
            continue;
        };
        for p in crate::reloc::relocate_object(obj, target) {
            if let Err(source) = p.result {
                return Err(MinimizeError::Relocation {
                    object: obj.name.clone(),
                    program: p.program,
                    source: Box::new(source),
                });
            }
        }
        for p in &obj.programs {
            all.extend(p.core_relos.iter().map(|r| (*obj, local, r)));
        }
    }
    let cands = find_candidates(target, all.iter().map(|(_, l, r)| (*l, *r)));
    for (obj, local, relo) in all {
        let btf_err = |source| MinimizeError::Btf {
            object: obj.name.clone(),
            source,
        };
        let Some(key) = relo_key(local, relo) else {
            continue;
        };
        let Some(list) = cands.get(key.ess) else {
            continue;
        };
        for &c in list {
            let ck = target.type_by_id(c).map_err(btf_err)?.kind;
            if !kind_core_compat(ck, key.kind) {
                continue;
            }
            marks.relo(local, relo, c).map_err(btf_err)?;
        }
    }
    marks
        .keep_flex_array_tails()
        .map_err(|source| MinimizeError::Target { source })?;
    marks.encode()
}

/// A local type a record relocates: its kind and essential name.
struct ReloKey<'l> {
    kind: Kind,
    ess: &'l [u8],
}

/// The local root type of `relo` when it looks at the target at all.
fn relo_key<'l>(local: &'l Btf, relo: &CoreRelo) -> Option<ReloKey<'l>> {
    let kind = CoreReloKind::from_u32(relo.kind)?;
    if kind == CoreReloKind::TypeIdLocal {
        return None;
    }
    let t = local.type_by_id(relo.type_id).ok()?;
    let name = local.str_bytes_at(t.name_off).ok()?;
    let ess = &name[..essential_len(name)];
    (!ess.is_empty()).then_some(ReloKey { kind: t.kind, ess })
}

/// Length of `name` without a `___flavor` suffix: the last `X___Y` with X and Y not
/// underscores separates them (libbpf's rule).
fn essential_len(name: &[u8]) -> usize {
    name.windows(5)
        .rposition(|w| w[0] != b'_' && w[1..4] == *b"___" && w[4] != b'_')
        .map_or(name.len(), |i| i + 1)
}

/// Kinds a candidate may have: the same, or both enums (32- or 64-bit).
fn kind_core_compat(a: Kind, b: Kind) -> bool {
    let is_enum = |k| matches!(k, Kind::Enum | Kind::Enum64);
    a == b || (is_enum(a) && is_enum(b))
}

/// Target type ids by essential name, for the names the records relocate: one pass over
/// the target, in id order.
fn find_candidates<'l>(
    target: &Btf,
    relos: impl Iterator<Item = (&'l Btf, &'l CoreRelo)>,
) -> HashMap<Vec<u8>, Vec<u32>> {
    let mut wanted: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
    let mut kinds = 0u32;
    for (local, relo) in relos {
        if let Some(k) = relo_key(local, relo) {
            kinds |= 1 << (k.kind as u32);
            if matches!(k.kind, Kind::Enum | Kind::Enum64) {
                kinds |= (1 << Kind::Enum as u32) | (1 << Kind::Enum64 as u32);
            }
            wanted.entry(k.ess.to_vec()).or_default();
        }
    }
    if wanted.is_empty() {
        return wanted;
    }
    for id in 1..target.len() {
        let Ok(t) = target.type_by_id(id) else {
            continue;
        };
        if kinds & (1 << (t.kind as u32)) == 0 || t.name_off == 0 {
            continue;
        }
        let Ok(name) = target.str_bytes_at(t.name_off) else {
            continue;
        };
        if let Some(list) = wanted.get_mut(&name[..essential_len(name)]) {
            list.push(id);
        }
    }
    wanted
}

/// What of a kept type is kept.
#[derive(Debug)]
enum Keep {
    /// The type itself; a struct, union or enum without members or enumerators.
    Shell,
    /// These members (struct, union) or enumerators (enum), by index.
    Some(BTreeSet<u32>),
    /// Everything.
    All,
}

/// How deep anonymous members may nest before the walk gives up (libbpf's spec length).
const MAX_NESTING: usize = 64;

/// The marks on the target's types.
struct Marks<'t> {
    target: &'t Btf,
    keep: BTreeMap<u32, Keep>,
    /// `(id, flag)` pairs already marked by [`Marks::shallow`] / [`Marks::shape`].
    seen_shallow: HashSet<(u32, bool)>,
    seen_shape: HashSet<(u32, bool)>,
}

/// One step of a local access path after the root.
enum Step<'l> {
    /// A named member (anonymous ones are skipped: the target is searched by name).
    Named(&'l [u8]),
    /// An array element.
    Index,
}

impl<'t> Marks<'t> {
    fn new(target: &'t Btf) -> Self {
        Marks {
            target,
            keep: BTreeMap::new(),
            seen_shallow: HashSet::new(),
            seen_shape: HashSet::new(),
        }
    }

    /// Keeps at least the shell of `id`.
    fn keep_type(&mut self, id: u32) {
        self.keep.entry(id).or_insert(Keep::Shell);
    }

    /// Keeps member (or enumerator) `idx` of `id`.
    fn keep_member(&mut self, id: u32, idx: u32) {
        let k = self.keep.entry(id).or_insert(Keep::Shell);
        match k {
            Keep::All => {}
            Keep::Some(set) => {
                set.insert(idx);
            }
            Keep::Shell => *k = Keep::Some(BTreeSet::from([idx])),
        }
    }

    /// Marks what relocating `relo` against candidate `cand` looks at.
    fn relo(&mut self, local: &Btf, relo: &CoreRelo, cand: u32) -> Result<(), BtfError> {
        let Some(kind) = CoreReloKind::from_u32(relo.kind) else {
            return Ok(());
        };
        if kind == CoreReloKind::TypeMatches {
            return self.shape(cand);
        }
        if kind.is_type_based() {
            // Compatibility compares what pointers point to (not members): following
            // them keeps every candidate exactly as (in)compatible as in the full BTF.
            return self.shallow(cand, true);
        }
        self.shallow(cand, false)?;
        if kind.is_enumval_based() {
            return self.enumerator(local, relo, cand);
        }
        let steps = local_steps(local, relo)?;
        let mut cur = vec![cand];
        for step in steps {
            let mut next = Vec::new();
            for id in cur {
                let rid = self.target.skip_mods_and_typedefs(id)?;
                let t = self.target.type_by_id(rid)?;
                match step {
                    Step::Named(name) if t.kind.is_composite() => {
                        self.find_member(rid, name, &mut next, 0)?;
                    }
                    Step::Index if t.kind == Kind::Array => next.push(t.array()?.elem_type),
                    _ => {}
                }
            }
            if next.is_empty() {
                break;
            }
            next.sort_unstable();
            next.dedup();
            cur = next;
        }
        Ok(())
    }

    /// Keeps the enumerator of candidate `cand` that `relo` names (the first with the
    /// same essential name, as matching takes it).
    fn enumerator(&mut self, local: &Btf, relo: &CoreRelo, cand: u32) -> Result<(), BtfError> {
        let lid = local.skip_mods_and_typedefs(relo.type_id)?;
        let lt = local.type_by_id(lid)?;
        let access = local.str_at(relo.access_str_off)?;
        let Some(v) = access
            .parse::<usize>()
            .ok()
            .and_then(|i| lt.enum_values().nth(i))
        else {
            return Ok(());
        };
        let lname = local.str_bytes_at(v.name_off)?;
        let lname = &lname[..essential_len(lname)];
        let tid = self.target.skip_mods_and_typedefs(cand)?;
        let t = self.target.type_by_id(tid)?;
        for (i, tv) in t.enum_values().enumerate() {
            let tname = self.target.str_bytes_at(tv.name_off)?;
            if &tname[..essential_len(tname)] == lname {
                self.keep_member(tid, i as u32);
                break;
            }
        }
        Ok(())
    }

    /// Keeps the members of composite `id` that a search for `name` examines: the first
    /// member so named, and before it every anonymous member holding one (at any depth);
    /// pushes the types of the members found.
    fn find_member(
        &mut self,
        id: u32,
        name: &[u8],
        found: &mut Vec<u32>,
        depth: usize,
    ) -> Result<(), BtfError> {
        if depth > MAX_NESTING {
            return Ok(());
        }
        let t = self.target.type_by_id(id)?;
        for (i, m) in t.members().enumerate() {
            let mname = self.target.str_bytes_at(m.name_off)?;
            if mname.is_empty() {
                let sub = self.target.skip_mods_and_typedefs(m.type_id)?;
                if !self.target.type_by_id(sub)?.kind.is_composite() {
                    continue;
                }
                let before = found.len();
                self.find_member(sub, name, found, depth + 1)?;
                if found.len() > before {
                    self.keep_member(id, i as u32);
                    self.shallow(m.type_id, false)?;
                }
            } else if mname == name {
                self.keep_member(id, i as u32);
                self.shallow(m.type_id, false)?;
                found.push(m.type_id);
                return Ok(());
            }
        }
        Ok(())
    }

    /// Keeps `id` and what it refers to, structs, unions and enums without members;
    /// pointers to `void` unless `follow_ptrs`.
    fn shallow(&mut self, id: u32, follow_ptrs: bool) -> Result<(), BtfError> {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            if id == 0 || !self.seen_shallow.insert((id, follow_ptrs)) {
                continue;
            }
            let t = self.target.type_by_id(id)?;
            match t.kind {
                Kind::DeclTag | Kind::Datasec | Kind::Var | Kind::Func => continue,
                Kind::Ptr if follow_ptrs => work.push(t.ref_type()),
                Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
                    work.push(t.ref_type())
                }
                Kind::Array => {
                    let a = t.array()?;
                    work.extend([a.elem_type, a.index_type]);
                }
                Kind::FuncProto => {
                    work.push(t.ref_type());
                    work.extend(t.params().map(|p| p.type_id));
                }
                _ => {}
            }
            self.keep_type(id);
        }
        Ok(())
    }

    /// Keeps `id` whole for `type_matches`: every member and enumerator, recursively,
    /// except that behind a pointer a struct or union is kept by name only.
    fn shape(&mut self, id: u32) -> Result<(), BtfError> {
        let mut work = vec![(id, false)];
        while let Some((id, behind_ptr)) = work.pop() {
            if id == 0 || !self.seen_shape.insert((id, behind_ptr)) {
                continue;
            }
            let t = self.target.type_by_id(id)?;
            match t.kind {
                Kind::DeclTag | Kind::Datasec | Kind::Var | Kind::Func => continue,
                Kind::Struct | Kind::Union if !behind_ptr => {
                    work.extend(t.members().map(|m| (m.type_id, false)));
                    self.keep.insert(id, Keep::All);
                    continue;
                }
                Kind::Enum | Kind::Enum64 => {
                    self.keep.insert(id, Keep::All);
                    continue;
                }
                Kind::Ptr => work.push((t.ref_type(), true)),
                Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
                    work.push((t.ref_type(), behind_ptr))
                }
                Kind::Array => {
                    let a = t.array()?;
                    work.extend([(a.elem_type, false), (a.index_type, false)]);
                }
                Kind::FuncProto => {
                    work.push((t.ref_type(), false));
                    work.extend(t.params().map(|p| (p.type_id, false)));
                }
                _ => {}
            }
            self.keep_type(id);
        }
        Ok(())
    }

    /// A zero-length array member is a flexible array (indexable past its end) only as
    /// its struct's last member: where one is kept and isn't last, the last member is
    /// kept too, so that it stays not last.
    fn keep_flex_array_tails(&mut self) -> Result<(), BtfError> {
        let mut add = Vec::new();
        for (&id, k) in &self.keep {
            let Keep::Some(set) = k else { continue };
            let t = self.target.type_by_id(id)?;
            let last = t.vlen().saturating_sub(1) as u32;
            if set.contains(&last) {
                continue;
            }
            for &i in set {
                let Some(m) = t.member(i as usize) else {
                    continue;
                };
                let mt = self
                    .target
                    .type_by_id(self.target.skip_mods_and_typedefs(m.type_id)?)?;
                if mt.kind == Kind::Array && mt.array()?.nelems == 0 {
                    if let Some(lm) = t.member(last as usize) {
                        add.push((id, last, lm.type_id));
                    }
                    break;
                }
            }
        }
        for (id, last, ty) in add {
            self.keep_member(id, last);
            self.shallow(ty, false)?;
        }
        Ok(())
    }

    /// Writes the kept types, renumbered in their original order, as raw BTF.
    fn encode(&self) -> Result<Vec<u8>, MinimizeError> {
        let too_large = || MinimizeError::TooLarge {
            types: self.keep.len(),
        };
        let err = |source| MinimizeError::Target { source };
        let new_ids: HashMap<u32, u32> = self
            .keep
            .keys()
            .enumerate()
            .map(|(i, &id)| (id, i as u32 + 1))
            .collect();
        let remap = |id: u32| new_ids.get(&id).copied().unwrap_or(0);
        let mut strs = Strings::new();
        let mut types: Vec<u8> = Vec::new();
        let put = |v: &mut Vec<u8>, w: u32| v.extend_from_slice(&w.to_le_bytes());
        for (&id, keep) in &self.keep {
            let t = self.target.type_by_id(id).map_err(err)?;
            let kept = |i: usize| match keep {
                Keep::All => true,
                Keep::Shell => false,
                Keep::Some(set) => set.contains(&(i as u32)),
            };
            let name = strs.add(self.target.str_bytes_at(t.name_off).map_err(err)?)?;
            let mut extra: Vec<u8> = Vec::new();
            let mut vlen = t.vlen() as u32;
            let mut size_or_type = t.size_or_type;
            match t.kind {
                Kind::Int => {
                    let i = t.int().map_err(err)?;
                    put(
                        &mut extra,
                        (u32::from(i.encoding) << 24)
                            | (u32::from(i.offset) << 16)
                            | u32::from(i.bits),
                    );
                }
                Kind::Ptr
                | Kind::Typedef
                | Kind::Const
                | Kind::Volatile
                | Kind::Restrict
                | Kind::TypeTag => size_or_type = remap(t.ref_type()),
                Kind::Array => {
                    let a = t.array().map_err(err)?;
                    put(&mut extra, remap(a.elem_type));
                    put(&mut extra, remap(a.index_type));
                    put(&mut extra, a.nelems);
                }
                Kind::Struct | Kind::Union => {
                    vlen = 0;
                    for (_, m) in t.members().enumerate().filter(|(i, _)| kept(*i)) {
                        put(
                            &mut extra,
                            strs.add(self.target.str_bytes_at(m.name_off).map_err(err)?)?,
                        );
                        put(&mut extra, remap(m.type_id));
                        let off = if t.kflag() {
                            (m.bitfield_size << 24) | m.bit_offset
                        } else {
                            m.bit_offset
                        };
                        put(&mut extra, off);
                        vlen += 1;
                    }
                }
                Kind::Enum | Kind::Enum64 => {
                    vlen = 0;
                    for (_, v) in t.enum_values().enumerate().filter(|(i, _)| kept(*i)) {
                        put(
                            &mut extra,
                            strs.add(self.target.str_bytes_at(v.name_off).map_err(err)?)?,
                        );
                        put(&mut extra, v.value as u32);
                        if t.kind == Kind::Enum64 {
                            put(&mut extra, (v.value >> 32) as u32);
                        }
                        vlen += 1;
                    }
                }
                Kind::FuncProto => {
                    size_or_type = remap(t.ref_type());
                    for p in t.params() {
                        put(
                            &mut extra,
                            strs.add(self.target.str_bytes_at(p.name_off).map_err(err)?)?,
                        );
                        put(&mut extra, remap(p.type_id));
                    }
                }
                // Never marked (see `shallow`); floats, forward declarations and void
                // have nothing after the header.
                _ => {}
            }
            put(&mut types, name);
            put(&mut types, (t.info & !0xffff) | vlen);
            put(&mut types, size_or_type);
            types.extend_from_slice(&extra);
        }
        let type_len = u32::try_from(types.len()).map_err(|_| too_large())?;
        let str_len = u32::try_from(strs.bytes.len()).map_err(|_| too_large())?;
        let mut out = Vec::with_capacity(24 + types.len() + strs.bytes.len());
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(1); // version
        out.push(0); // flags
        put(&mut out, 24); // hdr_len
        put(&mut out, 0); // type_off
        put(&mut out, type_len);
        put(&mut out, type_len); // str_off
        put(&mut out, str_len);
        out.extend_from_slice(&types);
        out.extend_from_slice(&strs.bytes);
        Ok(out)
    }
}

/// The access path of a field relocation after its root index, in the local BTF.
fn local_steps<'l>(local: &'l Btf, relo: &CoreRelo) -> Result<Vec<Step<'l>>, BtfError> {
    let access = local.str_at(relo.access_str_off)?;
    let mut steps = Vec::new();
    let mut id = relo.type_id;
    // Malformed strings were reported by the relocation layer already.
    for idx in access
        .split(':')
        .skip(1)
        .map_while(|s| s.parse::<usize>().ok())
    {
        let rid = local.skip_mods_and_typedefs(id)?;
        let t = local.type_by_id(rid)?;
        if t.kind.is_composite() {
            let Some(m) = t.member(idx) else { break };
            let name = local.str_bytes_at(m.name_off)?;
            if !name.is_empty() {
                steps.push(Step::Named(name));
            }
            id = m.type_id;
        } else if t.kind == Kind::Array {
            steps.push(Step::Index);
            id = t.array()?.elem_type;
        } else {
            break;
        }
    }
    Ok(steps)
}

/// The new string section: the empty string, then each distinct string once, in order
/// of first use.
struct Strings {
    bytes: Vec<u8>,
    offsets: HashMap<Vec<u8>, u32>,
}

impl Strings {
    fn new() -> Self {
        Strings {
            bytes: vec![0],
            offsets: HashMap::new(),
        }
    }

    fn add(&mut self, s: &[u8]) -> Result<u32, MinimizeError> {
        if s.is_empty() {
            return Ok(0);
        }
        if let Some(&off) = self.offsets.get(s) {
            return Ok(off);
        }
        let off = u32::try_from(self.bytes.len()).map_err(|_| MinimizeError::TooLarge {
            types: self.offsets.len(),
        })?;
        self.bytes.extend_from_slice(s);
        self.bytes.push(0);
        self.offsets.insert(s.to_vec(), off);
        Ok(off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essential_names() {
        assert_eq!(essential_len(b"task_struct___old"), 11);
        assert_eq!(essential_len(b"task_struct"), 11);
        assert_eq!(essential_len(b"a___b___c"), 5);
        assert_eq!(essential_len(b"____x"), 5);
        assert_eq!(essential_len(b"abc"), 3);
    }
}
