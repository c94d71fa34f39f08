//! Relocated values: `bpf_core_calc_field_relo`, `bpf_core_calc_type_relo`,
//! `bpf_core_calc_enumval_relo` and `bpf_core_calc_relo`.

use crate::btf::{int_enc, Btf, BtfError, Kind, MAX_RESOLVE_DEPTH};

use super::compat::resolve;
use super::spec::Spec;
use super::CoreReloKind;

/// Internal failures, turned into [`super::CoreError`] with context by the caller.
#[derive(Debug)]
pub(super) enum CalcFail {
    Btf(BtfError),
    /// Spec nesting or type recursion past libbpf's limits.
    TooDeep,
    /// A kind other than offset/size on an array element.
    ArrayAccess,
    BitfieldTooBig {
        local: bool,
        bit_offset: u64,
        bit_size: u32,
    },
}

impl From<BtfError> for CalcFail {
    fn from(e: BtfError) -> Self {
        CalcFail::Btf(e)
    }
}

/// A bound on the work of one comparison or member search, so that hostile BTF (shared
/// anonymous members, huge enums, deeply shared struct graphs) can't make matching take
/// exponential time. Legitimate kernel types need a tiny fraction of it.
pub(super) struct Work(pub(super) u32);

/// Members one field search may visit (kernel structs, flattened, have a few thousand).
pub(super) const MEMBER_WORK: u32 = 1 << 16;
/// Steps one type comparison may take.
pub(super) const TYPE_WORK: u32 = 1 << 20;

impl Work {
    pub(super) fn new(budget: u32) -> Self {
        Work(budget)
    }

    pub(super) fn spend(&mut self, n: u32) -> Result<(), CalcFail> {
        self.0 = self.0.checked_sub(n).ok_or(CalcFail::TooDeep)?;
        Ok(())
    }
}

/// `struct bpf_core_relo_res`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RelRes {
    /// Value the local BTF gives (what clang compiled in).
    pub orig_val: u64,
    /// Value for the target.
    pub new_val: u64,
    /// Replace the instruction by `call 0xbad2310`.
    pub poison: bool,
    /// Check the instruction holds `orig_val` before patching.
    pub validate: bool,
    /// A load/store size change that would misread the value: poison if the
    /// instruction is a load or store.
    pub fail_memsz_adjust: bool,
    /// Field sizes for load/store size adjustment (0 when not applicable).
    pub orig_sz: u32,
    pub new_sz: u32,
    pub orig_type_id: u32,
    pub new_type_id: u32,
    /// The field is an array: `orig_sz`/`new_sz` are the sizes of its innermost
    /// elements, which is what one load or store moves.
    pub array_elems: bool,
}

/// A field value with the load size information of `FIELD_BYTE_OFFSET`.
struct FieldVal {
    val: u64,
    field_sz: u32,
    type_id: u32,
    /// `type_id` is an array and `field_sz` the size of its innermost element.
    array: bool,
}

/// What one load or store of a field of type `id` moves, in bytes, and whether the
/// field is an array: for an array (of arrays, ...) the size of its innermost element,
/// modifiers and typedefs skipped on the way down. libbpf compares these since 1.6
/// ("fix LDX/STX/ST CO-RE relocation size adjustment logic"); before, it compared the
/// sizes of whole arrays, so `int a[5]` against `int a[7]` could not be read.
fn access_size(btf: &Btf, id: u32) -> Result<(u32, bool), CalcFail> {
    let mut t = resolve(btf, id)?;
    let array = t.kind == Kind::Array;
    for _ in 0..MAX_RESOLVE_DEPTH {
        if t.kind != Kind::Array {
            let sz = btf.resolve_size(t.id)?;
            return Ok((u32::try_from(sz).map_err(|_| too_big(sz))?, array));
        }
        t = resolve(btf, t.array()?.elem_type)?;
    }
    Err(CalcFail::Btf(BtfError::Loop(id)))
}

fn too_big(sz: u64) -> CalcFail {
    CalcFail::Btf(BtfError::Invalid(format!("field size {sz} too large")))
}

/// Poison request (libbpf's `-EUCLEAN`).
struct Poison;

/// `bpf_core_calc_field_relo`. `validate` is set from the local spec only.
fn calc_field(
    kind: CoreReloKind,
    spec: Option<&Spec<'_>>,
    validate: Option<&mut bool>,
    is_local: bool,
) -> Result<Result<FieldVal, Poison>, CalcFail> {
    let mut out = FieldVal {
        val: 0,
        field_sz: 0,
        type_id: 0,
        array: false,
    };
    if kind == CoreReloKind::FieldExists {
        out.val = u64::from(spec.is_some());
        return Ok(Ok(out));
    }
    let Some(spec) = spec else {
        return Ok(Err(Poison));
    };
    let btf = spec.btf;
    let Some(acc) = spec.len.checked_sub(1).and_then(|i| spec.acc.get(i)) else {
        return Ok(Err(Poison));
    };

    // The last step is an array index (or the root itself): sizes of whole elements.
    if !acc.named {
        match kind {
            CoreReloKind::FieldByteOffset => {
                out.val = spec.bit_offset / 8;
                (out.field_sz, out.array) = access_size(btf, acc.type_id)?;
                out.type_id = acc.type_id;
            }
            CoreReloKind::FieldByteSize => out.val = btf.resolve_size(acc.type_id)?,
            _ => return Err(CalcFail::ArrayAccess),
        }
        if let Some(v) = validate {
            *v = true;
        }
        return Ok(Ok(out));
    }

    let mt = resolve(btf, acc.member_type)?;
    let field_type_id = mt.id;
    let bit_off = spec.bit_offset;
    let mut bit_sz = acc.bitfield_size;
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz): (u64, u64);
    if bitfield {
        // The smallest naturally aligned load, starting at the field's own size, that
        // covers every bit of the bitfield.
        let mut sz = u64::from(mt.size());
        if sz == 0 {
            return Err(CalcFail::Btf(BtfError::Invalid(format!(
                "bitfield of zero-sized type [{field_type_id}]"
            ))));
        }
        let mut off = bit_off / 8 / sz * sz;
        while bit_off.saturating_add(u64::from(bit_sz)) - off * 8 > sz * 8 {
            if sz >= 8 {
                return Err(CalcFail::BitfieldTooBig {
                    local: is_local,
                    bit_offset: bit_off,
                    bit_size: bit_sz,
                });
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        byte_off = off;
        byte_sz = sz;
    } else {
        byte_sz = btf.resolve_size(field_type_id)?;
        byte_off = bit_off / 8;
        bit_sz = u32::try_from(byte_sz.saturating_mul(8)).unwrap_or(u32::MAX);
    }

    // For bitfields the compiler's choice of load may differ from ours: don't validate,
    // except for signedness and the right shift, which are never ambiguous.
    let mut val_validate = !bitfield;
    match kind {
        CoreReloKind::FieldByteOffset => {
            out.val = byte_off;
            if !bitfield {
                (out.field_sz, out.array) = access_size(btf, field_type_id)?;
                out.type_id = field_type_id;
            }
        }
        CoreReloKind::FieldByteSize => out.val = byte_sz,
        CoreReloKind::FieldSigned => {
            let signed = (matches!(mt.kind, Kind::Enum | Kind::Enum64) && mt.kflag())
                || (mt.kind == Kind::Int && mt.int()?.encoding & int_enc::SIGNED != 0);
            out.val = u64::from(signed);
            val_validate = true;
        }
        CoreReloKind::FieldLShiftU64 => {
            // libbpf computes this in 32-bit unsigned arithmetic.
            let used = (bit_off.saturating_add(u64::from(bit_sz)) - byte_off * 8) as u32;
            out.val = u64::from(64u32.wrapping_sub(used));
        }
        CoreReloKind::FieldRShiftU64 => {
            out.val = u64::from(64u32.wrapping_sub(bit_sz));
            val_validate = true;
        }
        _ => return Err(CalcFail::ArrayAccess),
    }
    if let Some(v) = validate {
        *v = val_validate;
    }
    Ok(Ok(out))
}

/// `bpf_core_calc_type_relo`.
fn calc_type(
    kind: CoreReloKind,
    spec: Option<&Spec<'_>>,
    validate: Option<&mut bool>,
) -> Result<u64, CalcFail> {
    let mut v = true;
    let val = match spec {
        None => 0,
        Some(spec) => match kind {
            CoreReloKind::TypeIdTarget => {
                // Type ids may change when objects are linked: don't check them.
                v = false;
                u64::from(spec.root_type_id)
            }
            CoreReloKind::TypeExists | CoreReloKind::TypeMatches => 1,
            CoreReloKind::TypeSize => spec.btf.resolve_size(spec.root_type_id)?,
            _ => 0,
        },
    };
    if let Some(p) = validate {
        *p = v;
    }
    Ok(val)
}

/// `bpf_core_calc_enumval_relo`.
fn calc_enumval(
    kind: CoreReloKind,
    spec: Option<&Spec<'_>>,
) -> Result<Result<u64, Poison>, CalcFail> {
    match kind {
        CoreReloKind::EnumvalExists => Ok(Ok(u64::from(spec.is_some()))),
        _ => {
            let Some(spec) = spec else {
                return Ok(Err(Poison));
            };
            let acc = &spec.acc[0];
            let t = spec.btf.type_by_id(acc.type_id)?;
            // Unsigned 32-bit enumerators are zero-extended, signed ones sign-extended
            // (libbpf sign-extends both).
            let v = t
                .enum_values()
                .nth(acc.idx as usize)
                .ok_or(CalcFail::Btf(BtfError::NoSuchType(acc.type_id)))?;
            Ok(Ok(v.value))
        }
    }
}

/// `bpf_core_calc_relo`: local and target values of one relocation for one candidate
/// (`targ` = `None`: no candidate matched).
pub(super) fn calc_relo(
    kind: CoreReloKind,
    local: &Spec<'_>,
    targ: Option<&Spec<'_>>,
) -> Result<RelRes, CalcFail> {
    let mut res = RelRes {
        validate: true,
        ..RelRes::default()
    };
    if kind.is_field_based() {
        let l = match calc_field(kind, Some(local), Some(&mut res.validate), true)? {
            Ok(v) => v,
            Err(Poison) => {
                res.poison = true;
                return Ok(res);
            }
        };
        res.orig_val = l.val;
        res.orig_sz = l.field_sz;
        res.orig_type_id = l.type_id;
        res.array_elems = l.array;
        let t = match calc_field(kind, targ, None, false)? {
            Ok(v) => v,
            Err(Poison) => {
                res.poison = true;
                return Ok(res);
            }
        };
        res.new_val = t.val;
        res.new_sz = t.field_sz;
        res.new_type_id = t.type_id;
        if res.orig_sz != res.new_sz {
            // Resizing a load is only safe for pointers (a 32-bit kernel's pointers) and
            // unsigned integers, whose zero extension preserves the value. The kinds
            // checked are the fields' own: an array field whose elements changed size
            // is never resized, whatever its elements are (as libbpf does).
            let ok = match (
                local.btf.type_by_id(res.orig_type_id),
                targ.map(|s| s.btf.type_by_id(res.new_type_id)),
            ) {
                (Ok(o), Some(Ok(n))) => {
                    (o.kind == Kind::Ptr && n.kind == Kind::Ptr)
                        || (o.kind == Kind::Int
                            && n.kind == Kind::Int
                            && o.int()?.encoding != int_enc::SIGNED
                            && n.int()?.encoding != int_enc::SIGNED)
                }
                _ => false,
            };
            res.fail_memsz_adjust = !ok;
        }
    } else if kind.is_type_based() {
        res.orig_val = calc_type(kind, Some(local), Some(&mut res.validate))?;
        res.new_val = calc_type(kind, targ, None)?;
    } else {
        match (calc_enumval(kind, Some(local))?, calc_enumval(kind, targ)?) {
            (Ok(o), Ok(n)) => {
                res.orig_val = o;
                res.new_val = n;
            }
            (Ok(o), Err(Poison)) => {
                res.orig_val = o;
                res.poison = true;
            }
            _ => res.poison = true,
        }
    }
    Ok(res)
}
