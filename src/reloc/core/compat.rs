//! Type compatibility rules: names with flavors, `bpf_core_fields_are_compat`,
//! `bpf_core_types_are_compat` and `bpf_core_types_match`.

use crate::btf::{int_enc, Btf, BtfError, Kind, Type};

use super::calc::{CalcFail, Work, TYPE_WORK};

/// Recursion budget of the type comparisons (libbpf's depth and level limits).
const MAX_DEPTH: i32 = 32;

/// `bpf_core_essential_name_len`: the length of `name` without its `___flavor` suffix.
/// The separator is the last `X___Y` with X and Y not underscores.
pub(crate) fn essential_name_len(name: &[u8]) -> usize {
    let n = name.len();
    if n < 5 {
        return n;
    }
    for i in (0..=n - 5).rev() {
        if is_flavor_sep(&name[i..i + 5]) {
            return i + 1;
        }
    }
    n
}

fn is_flavor_sep(s: &[u8]) -> bool {
    s[0] != b'_' && s[1] == b'_' && s[2] == b'_' && s[3] == b'_' && s[4] != b'_'
}

fn is_any_enum(k: Kind) -> bool {
    matches!(k, Kind::Enum | Kind::Enum64)
}

/// `btf_kind_core_compat`: same kind, or both enums (32- or 64-bit).
pub(super) fn kind_core_compat(a: Kind, b: Kind) -> bool {
    a == b || (is_any_enum(a) && is_any_enum(b))
}

fn skip(btf: &Btf, id: u32) -> Result<Type<'_>, CalcFail> {
    Ok(resolve(btf, id)?)
}

/// The type `id` with modifiers and typedefs skipped (one lookup per step; its `id` is
/// the resolved type's).
pub(super) fn resolve(btf: &Btf, id: u32) -> Result<Type<'_>, BtfError> {
    let mut t = btf.type_by_id(id)?;
    for _ in 0..crate::btf::MAX_RESOLVE_DEPTH {
        if t.kind.is_modifier() || t.kind == Kind::Typedef {
            t = btf.type_by_id(t.ref_type())?;
        } else {
            return Ok(t);
        }
    }
    Err(BtfError::Loop(id))
}

fn name(btf: &Btf, off: u32) -> Result<&[u8], BtfError> {
    btf.str_bytes_at(off)
}

/// True if both names are equal once their flavors are dropped, or one is anonymous.
fn essential_eq_or_anon(lname: &[u8], tname: &[u8]) -> bool {
    let l = essential_name_len(lname);
    let t = essential_name_len(tname);
    l == 0 || t == 0 || (l == t && lname[..l] == tname[..t])
}

/// `bpf_core_fields_are_compat`: may a local field of type `lid` be relocated to a
/// target field of type `tid`? Modifiers and typedefs are skipped; structs/unions mix
/// freely; pointers and floats always match; enums and forward declarations need equal
/// essential names (or an anonymous side); ints match whatever their size and sign;
/// arrays compare their element types.
pub(super) fn fields_are_compat(
    local: &Btf,
    mut lid: u32,
    targ: &Btf,
    mut tid: u32,
) -> Result<bool, CalcFail> {
    for _ in 0..MAX_DEPTH {
        let lt = skip(local, lid)?;
        let tt = skip(targ, tid)?;
        if lt.kind.is_composite() && tt.kind.is_composite() {
            return Ok(true);
        }
        if !kind_core_compat(lt.kind, tt.kind) {
            return Ok(false);
        }
        match lt.kind {
            Kind::Ptr | Kind::Float => return Ok(true),
            Kind::Fwd | Kind::Enum | Kind::Enum64 => {
                return Ok(essential_eq_or_anon(
                    name(local, lt.name_off)?,
                    name(targ, tt.name_off)?,
                ))
            }
            Kind::Int => return Ok(lt.int()?.offset == 0 && tt.int()?.offset == 0),
            Kind::Array => {
                lid = lt.array()?.elem_type;
                tid = tt.array()?.elem_type;
            }
            _ => return Ok(false),
        }
    }
    Err(CalcFail::Btf(BtfError::Loop(lid)))
}

/// `bpf_core_types_are_compat` (libbpf's level 32): the rule behind TYPE_EXISTS,
/// TYPE_SIZE and TYPE_ID_TARGET. Names of the roots were matched by the caller.
pub(super) fn types_are_compat(
    local: &Btf,
    lid: u32,
    targ: &Btf,
    tid: u32,
) -> Result<bool, CalcFail> {
    types_are_compat_level(local, lid, targ, tid, MAX_DEPTH, &mut Work::new(TYPE_WORK))
}

fn types_are_compat_level(
    local: &Btf,
    mut lid: u32,
    targ: &Btf,
    mut tid: u32,
    level: i32,
    work: &mut Work,
) -> Result<bool, CalcFail> {
    let lt = local.type_by_id(lid)?;
    let tt = targ.type_by_id(tid)?;
    if !kind_core_compat(lt.kind, tt.kind) {
        return Ok(false);
    }
    for _ in 0..MAX_DEPTH {
        work.spend(1)?;
        let lt = skip(local, lid)?;
        let tt = skip(targ, tid)?;
        if !kind_core_compat(lt.kind, tt.kind) {
            return Ok(false);
        }
        match lt.kind {
            Kind::Void | Kind::Struct | Kind::Union | Kind::Enum | Kind::Fwd | Kind::Enum64 => {
                return Ok(true)
            }
            Kind::Int => return Ok(lt.int()?.offset == 0 && tt.int()?.offset == 0),
            Kind::Ptr => {
                lid = lt.ref_type();
                tid = tt.ref_type();
            }
            Kind::Array => {
                lid = lt.array()?.elem_type;
                tid = tt.array()?.elem_type;
            }
            Kind::FuncProto => {
                if lt.vlen() != tt.vlen() {
                    return Ok(false);
                }
                for (lp, tp) in lt.params().zip(tt.params()) {
                    if level <= 0 {
                        return Err(CalcFail::TooDeep);
                    }
                    let l = local.skip_mods_and_typedefs(lp.type_id)?;
                    let t = targ.skip_mods_and_typedefs(tp.type_id)?;
                    if !types_are_compat_level(local, l, targ, t, level - 1, work)? {
                        return Ok(false);
                    }
                }
                lid = local.skip_mods_and_typedefs(lt.ref_type())?;
                tid = targ.skip_mods_and_typedefs(tt.ref_type())?;
            }
            k => {
                log::warn!(
                    "CO-RE: unexpected kind {} relocated, local [{lid}], target [{tid}]",
                    k.name()
                );
                return Ok(false);
            }
        }
    }
    Err(CalcFail::TooDeep)
}

/// `bpf_core_names_match`: anonymous only matches anonymous; otherwise essential names.
fn names_match(local: &Btf, loff: u32, targ: &Btf, toff: u32) -> Result<bool, BtfError> {
    let l = name(local, loff)?;
    let t = name(targ, toff)?;
    if t.is_empty() {
        return Ok(l.is_empty());
    }
    let le = essential_name_len(l);
    let te = essential_name_len(t);
    Ok(le == te && l[..le] == t[..te])
}

/// `bpf_core_types_match` (TYPE_MATCHES): stricter than compatibility — ints need equal
/// size and signedness, arrays equal length, structs/unions every local member (by name,
/// recursively matching) in the target, enums every local enumerator name in the target
/// and equal size; behind a pointer a struct/union also matches a forward declaration.
pub(super) fn types_match(local: &Btf, lid: u32, targ: &Btf, tid: u32) -> Result<bool, CalcFail> {
    types_match_with(local, lid, targ, tid, &mut Work::new(TYPE_WORK))
}

pub(super) fn types_match_with(
    local: &Btf,
    lid: u32,
    targ: &Btf,
    tid: u32,
    work: &mut Work,
) -> Result<bool, CalcFail> {
    types_match_level(local, lid, targ, tid, false, MAX_DEPTH, work)
}

fn types_match_level(
    local: &Btf,
    mut lid: u32,
    targ: &Btf,
    mut tid: u32,
    mut behind_ptr: bool,
    level: i32,
    work: &mut Work,
) -> Result<bool, CalcFail> {
    if level <= 0 {
        return Err(CalcFail::TooDeep);
    }
    for _ in 0..MAX_DEPTH {
        work.spend(1)?;
        let lt = skip(local, lid)?;
        let tt = skip(targ, tid)?;
        if !names_match(local, lt.name_off, targ, tt.name_off)? {
            return Ok(false);
        }
        let (lk, tk) = (lt.kind, tt.kind);
        match lk {
            Kind::Void => return Ok(lk == tk),
            Kind::Fwd => {
                let lf = lt.kflag();
                if behind_ptr {
                    if lk == tk {
                        return Ok(lf == tt.kflag());
                    }
                    // A forward declaration's kind flag says union (1) or struct (0).
                    return Ok((tk == Kind::Struct && !lf) || (tk == Kind::Union && lf));
                }
                return Ok(lk == tk && lf == tt.kflag());
            }
            Kind::Enum | Kind::Enum64 => {
                if !is_any_enum(tk) {
                    return Ok(false);
                }
                return enums_match(local, &lt, targ, &tt, work);
            }
            Kind::Struct | Kind::Union => {
                if behind_ptr {
                    if lk == tk {
                        return Ok(true);
                    }
                    if tk != Kind::Fwd {
                        return Ok(false);
                    }
                    return Ok((lk == Kind::Union) == tt.kflag());
                }
                if lk != tk {
                    return Ok(false);
                }
                return composites_match(local, &lt, targ, &tt, behind_ptr, level, work);
            }
            Kind::Int => {
                if tk != Kind::Int {
                    return Ok(false);
                }
                let ls = lt.int()?.encoding & int_enc::SIGNED;
                let ts = tt.int()?.encoding & int_enc::SIGNED;
                return Ok(lt.size() == tt.size() && ls == ts);
            }
            Kind::Ptr => {
                if tk != Kind::Ptr {
                    return Ok(false);
                }
                behind_ptr = true;
                lid = lt.ref_type();
                tid = tt.ref_type();
            }
            Kind::Array => {
                if tk != Kind::Array {
                    return Ok(false);
                }
                let la = lt.array()?;
                let ta = tt.array()?;
                if la.nelems != ta.nelems {
                    return Ok(false);
                }
                lid = la.elem_type;
                tid = ta.elem_type;
            }
            Kind::FuncProto => {
                if tk != Kind::FuncProto || lt.vlen() != tt.vlen() {
                    return Ok(false);
                }
                for (lp, tp) in lt.params().zip(tt.params()) {
                    if !types_match_level(
                        local,
                        lp.type_id,
                        targ,
                        tp.type_id,
                        behind_ptr,
                        level - 1,
                        work,
                    )? {
                        return Ok(false);
                    }
                }
                lid = lt.ref_type();
                tid = tt.ref_type();
            }
            k => {
                log::warn!(
                    "CO-RE: unexpected kind {} matched, local [{lid}], target [{tid}]",
                    k.name()
                );
                return Ok(false);
            }
        }
    }
    Err(CalcFail::TooDeep)
}

/// `bpf_core_enums_match`.
fn enums_match(
    local: &Btf,
    lt: &Type<'_>,
    targ: &Btf,
    tt: &Type<'_>,
    work: &mut Work,
) -> Result<bool, CalcFail> {
    if lt.size() != tt.size() || lt.vlen() > tt.vlen() {
        return Ok(false);
    }
    for lv in lt.enum_values() {
        let mut found = false;
        for tv in tt.enum_values() {
            work.spend(1)?;
            if names_match(local, lv.name_off, targ, tv.name_off)? {
                found = true;
                break;
            }
        }
        if !found {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `bpf_core_composites_match`.
fn composites_match(
    local: &Btf,
    lt: &Type<'_>,
    targ: &Btf,
    tt: &Type<'_>,
    behind_ptr: bool,
    level: i32,
    work: &mut Work,
) -> Result<bool, CalcFail> {
    if lt.vlen() > tt.vlen() {
        return Ok(false);
    }
    for lm in lt.members() {
        let mut matched = false;
        for tm in tt.members() {
            work.spend(1)?;
            if !names_match(local, lm.name_off, targ, tm.name_off)? {
                continue;
            }
            if types_match_level(
                local,
                lm.type_id,
                targ,
                tm.type_id,
                behind_ptr,
                level - 1,
                work,
            )? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

/// First string offset of `btf` (0 for a base, the base's end for split BTF).
fn start_str(btf: &Btf) -> u32 {
    match btf.base() {
        Some(b) => start_str(b).saturating_add(b.header().str_len),
        None => 0,
    }
}

/// The string table from offset `off` to its end (the string and everything after it),
/// without looking for the terminating NUL; empty if `off` is outside the table.
pub(super) fn str_tail(btf: &Btf, off: u32) -> &[u8] {
    StrTab::new(btf).tail(off)
}

/// A BTF's own string section and where it starts, for repeated lookups.
pub(super) struct StrTab<'a> {
    btf: &'a Btf,
    start: u32,
    own: &'a [u8],
}

impl<'a> StrTab<'a> {
    pub(super) fn new(btf: &'a Btf) -> Self {
        let h = btf.header();
        let sec = h.hdr_len as usize + h.str_off as usize;
        let own = btf.raw().get(sec..sec + h.str_len as usize).unwrap_or(&[]);
        StrTab {
            btf,
            start: start_str(btf),
            own,
        }
    }

    /// See [`str_tail`].
    #[inline]
    pub(super) fn tail(&self, off: u32) -> &'a [u8] {
        match off.checked_sub(self.start) {
            Some(rel) => self.own.get(rel as usize..).unwrap_or(&[]),
            None => match self.btf.base() {
                Some(b) => str_tail(b, off),
                None => &[],
            },
        }
    }
}

/// True if the string at the start of `tail` is `want` (tables end with a NUL).
#[inline]
pub(super) fn tail_is(tail: &[u8], want: &[u8]) -> bool {
    tail.len() > want.len() && tail[want.len()] == 0 && tail.starts_with(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essential_names() {
        assert_eq!(essential_name_len(b"task_struct___old"), 11);
        assert_eq!(essential_name_len(b"task_struct"), 11);
        assert_eq!(essential_name_len(b"a___b___c"), 5); // the last separator counts
        assert_eq!(essential_name_len(b"____fput"), 8); // no X before the underscores
        assert_eq!(essential_name_len(b"x____y"), 6); // four underscores are no separator
        assert_eq!(essential_name_len(b"x___"), 4);
        assert_eq!(essential_name_len(b""), 0);
        assert_eq!(essential_name_len(b"EV_C___old"), 4);
    }

    #[test]
    fn string_tails() {
        use crate::btf::testutil::Builder;
        let mut b = Builder::new();
        let foo = b.s("foo");
        let bar = b.s("barbaz");
        let btf = Btf::parse(b.build()).unwrap();
        assert!(tail_is(str_tail(&btf, foo), b"foo"));
        assert!(!tail_is(str_tail(&btf, foo), b"fo"));
        assert!(!tail_is(str_tail(&btf, foo), b"food"));
        assert!(tail_is(str_tail(&btf, bar), b"barbaz"));
        assert!(tail_is(str_tail(&btf, 0), b""));
        assert!(str_tail(&btf, 1 << 20).is_empty());
    }
}
