//! Access specs: `bpf_core_parse_spec` and its data (`struct bpf_core_spec`).

use crate::btf::{Btf, Kind};

use super::compat::resolve;
use super::CoreReloKind;

/// Most levels an access spec (or a target spec, with anonymous members) may have.
pub(super) const SPEC_MAX_LEN: usize = 64;

/// One high-level step: a named member, an array index, the root index, or an enumerator.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Accessor {
    /// For a member: the (modifier-free) struct/union holding it. For an array index:
    /// the element type. For the root: the root type. For an enumerator: the enum.
    pub type_id: u32,
    /// Member index, array index, or enumerator index.
    pub idx: u32,
    /// Name offset of the member/enumerator (meaningful when `named`).
    pub name_off: u32,
    /// True for members and enumerators, false for array (and root) indexes.
    pub named: bool,
    /// For a member: its type (as recorded, modifiers included).
    pub member_type: u32,
    /// For a member: its bitfield width (0 for a plain member).
    pub bitfield_size: u32,
}

/// A parsed access against one BTF (`struct bpf_core_spec`).
#[derive(Clone, Copy)]
pub(super) struct Spec<'a> {
    pub btf: &'a Btf,
    pub root_type_id: u32,
    pub kind: CoreReloKind,
    /// High-level accessors.
    pub acc: [Accessor; SPEC_MAX_LEN],
    pub len: usize,
    /// Every step, anonymous members included.
    pub raw: [u32; SPEC_MAX_LEN],
    pub raw_len: usize,
    /// Bit offset of the accessed field from the root pointer.
    pub bit_offset: u64,
}

impl<'a> Spec<'a> {
    pub fn new(btf: &'a Btf, root_type_id: u32, kind: CoreReloKind) -> Self {
        Spec {
            btf,
            root_type_id,
            kind,
            acc: [Accessor::default(); SPEC_MAX_LEN],
            len: 0,
            raw: [0; SPEC_MAX_LEN],
            raw_len: 0,
            bit_offset: 0,
        }
    }

    /// Empties the spec for reuse (the arrays are overwritten as it fills up again).
    pub fn reset(&mut self, btf: &'a Btf, root_type_id: u32, kind: CoreReloKind) {
        self.btf = btf;
        self.root_type_id = root_type_id;
        self.kind = kind;
        self.len = 0;
        self.raw_len = 0;
        self.bit_offset = 0;
    }

    /// Appends a raw step; false when the spec is full.
    pub fn push_raw(&mut self, idx: u32) -> bool {
        match self.raw.get_mut(self.raw_len) {
            Some(slot) => {
                *slot = idx;
                self.raw_len += 1;
                true
            }
            None => false,
        }
    }

    /// Appends a high-level accessor; false when the spec is full.
    pub fn push_acc(&mut self, a: Accessor) -> bool {
        match self.acc.get_mut(self.len) {
            Some(slot) => {
                *slot = a;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The name of accessor `i` ("" for array indexes).
    pub fn acc_name(&self, i: usize) -> String {
        match self.acc.get(i) {
            Some(a) if a.named => {
                String::from_utf8_lossy(self.btf.str_bytes_at(a.name_off).unwrap_or(b"?"))
                    .into_owned()
            }
            _ => String::new(),
        }
    }

    /// The access in words: `struct foo.a[3].b`, `enum e::VAL`, `struct foo`.
    pub fn describe(&self) -> String {
        let btf = self.btf;
        let mut s = String::with_capacity(64);
        match btf.type_by_id(self.root_type_id) {
            Ok(t) => super::push_type(&mut s, btf, &t),
            Err(_) => s.push_str(&format!("type [{}]", self.root_type_id)),
        }
        if self.kind.is_type_based() {
            return s;
        }
        if self.kind.is_enumval_based() {
            s.push_str("::");
            s.push_str(&self.acc_name(0));
            return s;
        }
        for (i, a) in self.acc[..self.len].iter().enumerate() {
            if a.named {
                s.push('.');
                s.push_str(&String::from_utf8_lossy(
                    btf.str_bytes_at(a.name_off).unwrap_or(b"?"),
                ));
            } else if i > 0 || a.idx > 0 {
                s.push('[');
                s.push_str(&a.idx.to_string());
                s.push(']');
            }
        }
        s
    }
}

/// libbpf's `is_flex_arr`: a zero-length array that is the last member of its struct,
/// reached through the named accessor `prev`.
pub(super) fn is_flex_arr(btf: &Btf, prev: &Accessor, nelems: u32) -> bool {
    if !prev.named || nelems > 0 {
        return false;
    }
    match btf.type_by_id(prev.type_id) {
        Ok(t) => t.vlen() > 0 && prev.idx as usize == t.vlen() - 1,
        Err(_) => false,
    }
}

/// Parses `"0:1:2"` (decimal indexes separated by single colons) into `out`.
fn parse_indexes(access: &[u8], spec: &mut Spec<'_>) -> Result<(), String> {
    if access.is_empty() {
        return Err("empty".into());
    }
    for part in access.split(|&c| c == b':') {
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err("expected decimal indexes separated by ':'".into());
        }
        let mut v: u32 = 0;
        for &d in part {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u32::from(d - b'0')))
                .filter(|&v| v <= i32::MAX as u32)
                .ok_or_else(|| "index too large".to_string())?;
        }
        if !spec.push_raw(v) {
            return Err(format!("more than {SPEC_MAX_LEN} indexes"));
        }
    }
    Ok(())
}

/// `bpf_core_parse_spec`: validates the access against the local type and computes the
/// local bit offset and accessors. Errors are reasons in words.
pub(super) fn parse_spec<'a>(
    btf: &'a Btf,
    type_id: u32,
    access: &[u8],
    kind: CoreReloKind,
    spec: &mut Spec<'a>,
) -> Result<(), String> {
    spec.reset(btf, type_id, kind);
    if access.first() == Some(&b':') {
        return Err("starts with ':'".into());
    }
    if kind.is_type_based() {
        if access != b"0" {
            return Err("a type-based relocation's access string must be \"0\"".into());
        }
        return Ok(());
    }
    parse_indexes(access, spec)?;

    let bad = |e: crate::btf::BtfError| e.to_string();
    let t = resolve(btf, type_id).map_err(bad)?;
    let mut id = t.id;
    let first = spec.raw[0];
    spec.push_acc(Accessor {
        type_id: id,
        idx: first,
        ..Accessor::default()
    });

    if kind.is_enumval_based() {
        if !matches!(t.kind, Kind::Enum | Kind::Enum64) {
            return Err(format!("{} is not an enum", super::describe_type(btf, &t)));
        }
        if spec.raw_len > 1 {
            return Err("an enumerator relocation takes a single index".into());
        }
        let Some(v) = t.enum_values().nth(first as usize) else {
            return Err(format!(
                "enumerator index {first} out of range ({} enumerators)",
                t.vlen()
            ));
        };
        spec.acc[0].name_off = v.name_off;
        spec.acc[0].named = true;
        return Ok(());
    }
    if !kind.is_field_based() {
        return Err("not a field relocation".into());
    }

    let sz = btf.resolve_size(id).map_err(bad)?;
    spec.bit_offset = mul_bits(first, sz).ok_or("offset overflows")?;

    for i in 1..spec.raw_len {
        let t = resolve(btf, id).map_err(bad)?;
        id = t.id;
        let idx = spec.raw[i];
        if t.kind.is_composite() {
            let Some(m) = t.member(idx as usize) else {
                return Err(format!(
                    "member index {idx} out of range for {} ({} members)",
                    super::describe_type(btf, &t),
                    t.vlen()
                ));
            };
            spec.bit_offset = spec
                .bit_offset
                .checked_add(u64::from(m.bit_offset))
                .ok_or("offset overflows")?;
            if m.name_off != 0 {
                let name = btf.str_bytes_at(m.name_off).map_err(bad)?;
                if name.is_empty() {
                    return Err("member with an empty name".into());
                }
                spec.push_acc(Accessor {
                    type_id: id,
                    idx,
                    name_off: m.name_off,
                    named: true,
                    member_type: m.type_id,
                    bitfield_size: m.bitfield_size,
                });
            }
            id = m.type_id;
        } else if t.kind == Kind::Array {
            let a = t.array().map_err(bad)?;
            id = resolve(btf, a.elem_type).map_err(bad)?.id;
            let flex = is_flex_arr(btf, &spec.acc[spec.len - 1], a.nelems);
            if !flex && idx >= a.nelems {
                return Err(format!(
                    "index {idx} out of bounds of an array of {}",
                    a.nelems
                ));
            }
            spec.push_acc(Accessor {
                type_id: id,
                idx,
                ..Accessor::default()
            });
            let sz = btf.resolve_size(id).map_err(bad)?;
            spec.bit_offset = mul_bits(idx, sz)
                .and_then(|b| b.checked_add(spec.bit_offset))
                .ok_or("offset overflows")?;
        } else {
            return Err(format!(
                "index {i} steps into {}, which is neither a struct, a union nor an array",
                super::describe_type(btf, &t)
            ));
        }
    }
    Ok(())
}

/// `idx * size * 8`, checked.
pub(super) fn mul_bits(idx: u32, size: u64) -> Option<u64> {
    u64::from(idx).checked_mul(size)?.checked_mul(8)
}
