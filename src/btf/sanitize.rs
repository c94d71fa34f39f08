//! Rewriting an object's BTF so that an older kernel accepts it, as libbpf's
//! `bpf_object__sanitize_btf()` does, together with the `.ksyms` fixups libbpf
//! makes in `bpf_object__collect_externs()` / `add_dummy_ksym_var()`.
//!
//! [`sanitize`] returns a rewritten copy: the raw bytes are copied once and the
//! records rewritten in place, every record keeping its length, so type ids,
//! string offsets, `.BTF.ext` records and map key/value type ids stay valid. Only
//! two things are appended after the last type, as libbpf appends them: the
//! `enum64_placeholder` INT that replaced ENUM64s point to, and the `dummy_ksym`
//! VAR that stands for extern functions in `.ksyms`.
//!
//! | kernel lacks | rewrite (libbpf's) |
//! |---|---|
//! | DATASEC (5.2) | VAR → `INT` of 1 byte (8 bits); DATASEC → `STRUCT` of the same size whose members are the variables (names from the VARs, bit offsets from the section offsets), with every `.` in the section name replaced by `_` |
//! | FUNC (4.20) | FUNC_PROTO → `ENUM` of 4 bytes (the parameters become enumerators); FUNC → `TYPEDEF` |
//! | global FUNC (5.6) | FUNC linkage → static |
//! | FLOAT (5.13) | FLOAT → anonymous `STRUCT` of the same size, no members |
//! | DECL_TAG (5.16) | DECL_TAG → `INT` of 1 byte (8 bits) |
//! | TYPE_TAG (5.17) | TYPE_TAG → anonymous `CONST` of the same type |
//! | ENUM64 (6.0) | ENUM64 → `UNION` of the same size whose members (named after the enumerators) are all at offset 0 of type `enum64_placeholder` (a 1-byte INT); the kind flag (signedness) of every ENUM is cleared |
//!
//! Whatever the kernel, the `.ksyms` DATASEC is made acceptable (no kernel takes
//! extern linkage): each extern VAR becomes a global allocated VAR of a 32-bit INT
//! type; each extern FUNC becomes global, its unnamed parameters are named
//! `dummy_ksym`, and its DATASEC entry points to a new global VAR `dummy_ksym`
//! instead; entry `i` is placed at offset `4 * i` with size 4 and the section
//! size becomes `4 * n`.
//!
//! One deliberate addition to libbpf: the feature set is first made
//! [consistent](BtfFeatures::consistent). A kernel with DECL_TAG support always
//! supports FUNC and DATASEC, so a DECL_TAG is also rewritten when either of
//! those is missing; otherwise a tag left pointing at a rewritten FUNC or VAR
//! would make the BTF invalid. Real kernels never differ; forced feature sets
//! (tests, feature overrides) do.
//!
//! Nothing here touches the kernel: the loader decides which features exist.

use super::fixup::KSYMS_SEC;
use super::{int_enc, linkage, Btf, BtfError, Kind, Type, VarSecInfo};

/// Name of the INT the members of a rewritten ENUM64 point to (libbpf's).
pub const ENUM64_PLACEHOLDER: &str = "enum64_placeholder";
/// Name of the VAR that replaces extern functions in `.ksyms` (libbpf's).
pub const DUMMY_KSYM: &str = "dummy_ksym";

const TYPE_HEADER: usize = 12;

/// Which BTF kinds the kernel accepts: each `false` makes [`sanitize`] rewrite
/// what needs that feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BtfFeatures {
    /// `BTF_KIND_FUNC` and `BTF_KIND_FUNC_PROTO` (4.20).
    pub func: bool,
    /// FUNCs with global linkage (5.6).
    pub global_func: bool,
    /// `BTF_KIND_VAR` and `BTF_KIND_DATASEC` (5.2).
    pub datasec: bool,
    /// `BTF_KIND_FLOAT` (5.13).
    pub float: bool,
    /// `BTF_KIND_DECL_TAG` (5.16).
    pub decl_tag: bool,
    /// `BTF_KIND_TYPE_TAG` (5.17).
    pub type_tag: bool,
    /// `BTF_KIND_ENUM64` and signed enums (6.0).
    pub enum64: bool,
}

impl Default for BtfFeatures {
    /// Everything supported.
    fn default() -> Self {
        Self::ALL
    }
}

impl BtfFeatures {
    /// Every feature supported: nothing to rewrite except `.ksyms`.
    pub const ALL: BtfFeatures = BtfFeatures {
        func: true,
        global_func: true,
        datasec: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
    };

    /// No feature supported (a 4.18 kernel's BTF).
    pub const NONE: BtfFeatures = BtfFeatures {
        func: false,
        global_func: false,
        datasec: false,
        float: false,
        decl_tag: false,
        type_tag: false,
        enum64: false,
    };

    /// The features as a real kernel combines them: DECL_TAG support (5.16)
    /// implies FUNC (4.20) and DATASEC (5.2) support, and a tag must go with the
    /// FUNC or VAR it annotates. [`sanitize`] applies this first.
    pub fn consistent(self) -> BtfFeatures {
        BtfFeatures {
            decl_tag: self.decl_tag && self.func && self.datasec,
            ..self
        }
    }

    /// True when [`sanitize`] would change `btf`: it has a type of a kind the kernel
    /// lacks (or a signed ENUM without ENUM64 support, or a global FUNC without
    /// global function support), or a `.ksyms` DATASEC that still lists externs.
    /// A sanitized BTF needs no further sanitization for the same features.
    ///
    /// Unlike libbpf's `btf_needs_sanitization()`, which only looks at the kernel,
    /// this looks at the BTF too, so an object that uses nothing new loads its BTF
    /// as it is, without a copy.
    pub fn needs_sanitization(&self, btf: &Btf) -> bool {
        let f = self.consistent();
        btf.types().any(|t| f.rewrites(btf, &t))
    }

    fn rewrites(&self, btf: &Btf, t: &Type<'_>) -> bool {
        match t.kind {
            Kind::Var => !self.datasec,
            Kind::Datasec => !self.datasec || (is_ksyms(btf, t) && has_externs(btf, t)),
            Kind::FuncProto => !self.func,
            Kind::Func => !self.func || (!self.global_func && t.linkage() != linkage::STATIC),
            Kind::Float => !self.float,
            Kind::DeclTag => !self.decl_tag,
            Kind::TypeTag => !self.type_tag,
            Kind::Enum64 => !self.enum64,
            Kind::Enum => !self.enum64 && t.kflag(),
            _ => false,
        }
    }
}

fn is_ksyms(btf: &Btf, t: &Type<'_>) -> bool {
    t.kind == Kind::Datasec
        && t.vlen() > 0
        && btf.str_bytes_at(t.name_off).ok() == Some(KSYMS_SEC.as_bytes())
}

/// True when a DATASEC lists a FUNC or a VAR that is not global (externs, before
/// the `.ksyms` rewrite).
fn has_externs(btf: &Btf, sec: &Type<'_>) -> bool {
    sec.datasec_vars().any(|v| match btf.type_by_id(v.type_id) {
        Ok(t) if t.kind == Kind::Var => t.linkage() != linkage::GLOBAL,
        Ok(t) => t.kind == Kind::Func,
        Err(_) => true,
    })
}

/// [`sanitize`]s `btf` only if it [needs it](BtfFeatures::needs_sanitization):
/// `Ok(None)` means the original loads as it is.
pub fn sanitize_if_needed(btf: &Btf, features: &BtfFeatures) -> Result<Option<Btf>, BtfError> {
    if features.needs_sanitization(btf) {
        sanitize(btf, features).map(Some)
    } else {
        Ok(None)
    }
}

/// Returns a copy of `btf` rewritten for a kernel with `features` (see the
/// [module documentation](self) for every rewrite). Type ids and string offsets of
/// the original stay valid in the copy. Errors for split BTF, and for a `.ksyms`
/// DATASEC listing something other than VARs and FUNCs.
pub fn sanitize(btf: &Btf, features: &BtfFeatures) -> Result<Btf, BtfError> {
    if btf.base().is_some() {
        return Err(BtfError::Invalid(
            "sanitizing split BTF is not supported".into(),
        ));
    }
    let f = features.consistent();
    let hdr = *btf.header();
    let raw = btf.raw();
    let hl = hdr.hdr_len as usize;
    let types_at = hl + hdr.type_off as usize;
    let strs_at = hl + hdr.str_off as usize;
    let old_types = raw
        .get(types_at..types_at + hdr.type_len as usize)
        .ok_or(BtfError::Truncated("type section"))?;
    let old_strs = raw
        .get(strs_at..strs_at + hdr.str_len as usize)
        .ok_or(BtfError::Truncated("string section"))?;

    // What to append: decided first, so the copy is made once at its final size.
    let mut extra = Appended::new(btf.len(), old_strs);
    let ksyms = plan_ksyms(btf, &mut extra)?;
    let enum64_placeholder = if !f.enum64 && btf.types().any(|t| t.kind == Kind::Enum64) {
        let name = extra.string(ENUM64_PLACEHOLDER);
        Some(extra.int(name, 1, 8, 0))
    } else {
        None
    };

    // The copy: header, types, appended types, strings, appended strings.
    let type_len = u32::try_from(old_types.len() + extra.types.len())
        .map_err(|_| BtfError::Invalid("sanitized BTF is too large".into()))?;
    let str_len = u32::try_from(old_strs.len() + extra.strs.len())
        .map_err(|_| BtfError::Invalid("sanitized BTF is too large".into()))?;
    let total = hl + type_len as usize + str_len as usize;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&raw[..hl]);
    out.extend_from_slice(old_types);
    out.extend_from_slice(&extra.types);
    out.extend_from_slice(old_strs);
    out.extend_from_slice(&extra.strs);
    put(&mut out, 8, 0)?;
    put(&mut out, 12, type_len)?;
    put(&mut out, 16, type_len)?;
    put(&mut out, 20, str_len)?;
    let new_strs_at = hl + type_len as usize;
    // Where type `id` of the original sits in the copy.
    let at = |id: u32| -> Result<usize, BtfError> {
        let off = btf.type_offset(id).ok_or(BtfError::NoSuchType(id))?;
        Ok(hl + (off - types_at))
    };

    if let Some(k) = &ksyms {
        apply_ksyms(btf, k, &mut out, &at)?;
    }

    for t in btf.types() {
        let pos = at(t.id)?;
        match t.kind {
            Kind::Var if !f.datasec => write_int1(&mut out, pos)?,
            Kind::DeclTag if !f.decl_tag => write_int1(&mut out, pos)?,
            Kind::Datasec if !f.datasec => {
                // The entries as they are now: .ksyms's were just rewritten.
                let entries: Vec<VarSecInfo> = match &ksyms {
                    Some(k) if k.sec_id == t.id => k.entries.clone(),
                    _ => t.datasec_vars().collect(),
                };
                rename_dots(&mut out, new_strs_at + t.name_off as usize)?;
                put(&mut out, pos + 4, info(Kind::Struct, t.vlen() as u32))?;
                for (j, v) in entries.iter().enumerate() {
                    let name_off = match &ksyms {
                        Some(k) if Some(v.type_id) == k.dummy.map(|d| d.id) => k.dummy_name,
                        _ => btf.type_by_id(v.type_id)?.name_off,
                    };
                    let bits = v.offset.checked_mul(8).ok_or_else(|| {
                        BtfError::Invalid(format!(
                            "DATASEC [{}]: offset {} does not fit a struct member",
                            t.id, v.offset
                        ))
                    })?;
                    let m = pos + TYPE_HEADER + 12 * j;
                    put(&mut out, m, name_off)?;
                    put(&mut out, m + 4, v.type_id)?;
                    put(&mut out, m + 8, bits)?;
                }
            }
            Kind::FuncProto if !f.func => {
                put(&mut out, pos + 4, info(Kind::Enum, t.vlen() as u32))?;
                put(&mut out, pos + 8, 4)?;
            }
            Kind::Func if !f.func => put(&mut out, pos + 4, info(Kind::Typedef, 0))?,
            Kind::Func if !f.global_func => {
                put(&mut out, pos + 4, info(Kind::Func, linkage::STATIC))?
            }
            Kind::Float if !f.float => {
                put(&mut out, pos, 0)?;
                put(&mut out, pos + 4, info(Kind::Struct, 0))?;
            }
            Kind::TypeTag if !f.type_tag => {
                put(&mut out, pos, 0)?;
                put(&mut out, pos + 4, info(Kind::Const, 0))?;
            }
            Kind::Enum if !f.enum64 => put(&mut out, pos + 4, t.info & !(1 << 31))?,
            Kind::Enum64 if !f.enum64 => {
                let placeholder =
                    enum64_placeholder.ok_or(BtfError::Invalid("no ENUM64 placeholder".into()))?;
                put(&mut out, pos + 4, info(Kind::Union, t.vlen() as u32))?;
                for j in 0..t.vlen() {
                    // Enumerator {name, lo32, hi32} becomes member {name, type, offset}.
                    let m = pos + TYPE_HEADER + 12 * j;
                    put(&mut out, m + 4, placeholder)?;
                    put(&mut out, m + 8, 0)?;
                }
            }
            _ => {}
        }
    }
    // The appended dummy VAR is a VAR like the others.
    if let (Some(k), false) = (&ksyms, f.datasec) {
        if let Some(d) = k.dummy {
            write_int1(&mut out, hl + old_types.len() + d.at)?;
        }
    }
    debug_assert_eq!(out.len(), total);
    Btf::parse(out)
}

/// Types and strings to append, with the ids and offsets they will have.
struct Appended<'a> {
    types: Vec<u8>,
    strs: Vec<u8>,
    next_id: u32,
    old_strs: &'a [u8],
}

/// A type appended: its id and its offset within the appended bytes.
#[derive(Clone, Copy, Debug)]
struct Added {
    id: u32,
    at: usize,
}

impl<'a> Appended<'a> {
    fn new(next_id: u32, old_strs: &'a [u8]) -> Self {
        Appended {
            types: Vec::new(),
            strs: Vec::new(),
            next_id,
            old_strs,
        }
    }

    /// The offset of string `s`: an existing one if the table has it, else a new one.
    fn string(&mut self, s: &str) -> u32 {
        if let Some(off) = find_string(self.old_strs, s.as_bytes()) {
            return off;
        }
        let base = self.old_strs.len();
        if let Some(off) = find_string(&self.strs, s.as_bytes()) {
            return (base + off as usize) as u32;
        }
        let off = (base + self.strs.len()) as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        off
    }

    fn record(&mut self, words: &[u32]) -> Added {
        let added = Added {
            id: self.next_id,
            at: self.types.len(),
        };
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.next_id += 1;
        added
    }

    /// An INT of `size` bytes and `bits` bits; returns its id.
    fn int(&mut self, name_off: u32, size: u32, bits: u32, encoding: u8) -> u32 {
        let enc = (u32::from(encoding) << 24) | bits;
        self.record(&[name_off, info(Kind::Int, 0), size, enc]).id
    }

    fn var(&mut self, name_off: u32, type_id: u32, var_linkage: u32) -> Added {
        self.record(&[name_off, info(Kind::Var, 0), type_id, var_linkage])
    }
}

/// Offset of the NUL-terminated string `s` starting at a string boundary of `strs`.
fn find_string(strs: &[u8], s: &[u8]) -> Option<u32> {
    let mut start = 0;
    while start < strs.len() {
        let end = strs[start..]
            .iter()
            .position(|&b| b == 0)
            .map_or(strs.len(), |n| start + n);
        if &strs[start..end] == s {
            return u32::try_from(start).ok();
        }
        start = end + 1;
    }
    None
}

/// The `.ksyms` rewrite, decided before the copy is made.
struct KsymsPlan {
    sec_id: u32,
    /// The DATASEC's entries after the rewrite.
    entries: Vec<VarSecInfo>,
    /// The 32-bit INT that extern VARs become.
    int_id: u32,
    /// The `dummy_ksym` VAR, if there are extern FUNCs.
    dummy: Option<Added>,
    dummy_name: u32,
}

fn plan_ksyms(btf: &Btf, extra: &mut Appended<'_>) -> Result<Option<KsymsPlan>, BtfError> {
    let mut all = btf.types().filter(|t| is_ksyms(btf, t));
    let Some(sec) = all.next() else {
        return Ok(None);
    };
    if let Some(second) = all.next() {
        return Err(BtfError::Invalid(format!(
            "two DATASECs named '{KSYMS_SEC}' ([{}] and [{}])",
            sec.id, second.id
        )));
    }
    let mut has_func = false;
    for v in sec.datasec_vars() {
        match btf.type_by_id(v.type_id)?.kind {
            Kind::Func => has_func = true,
            Kind::Var => {}
            k => {
                return Err(BtfError::Invalid(format!(
                    "DATASEC '{KSYMS_SEC}' lists type [{}], a {}, where a VAR or FUNC belongs",
                    v.type_id,
                    k.name()
                )))
            }
        }
    }
    // libbpf's find_int_btf_id(): the first INT of 32 bits. Where libbpf would use
    // void if there is none (and the kernel would refuse the VAR), add one.
    let int_id = match btf
        .types()
        .find(|t| t.kind == Kind::Int && t.int().map(|i| i.bits == 32).unwrap_or(false))
    {
        Some(t) => t.id,
        None => {
            let name = extra.string("int");
            extra.int(name, 4, 32, int_enc::SIGNED)
        }
    };
    let (dummy, dummy_name) = if has_func {
        let name = extra.string(DUMMY_KSYM);
        (Some(extra.var(name, int_id, linkage::GLOBAL)), name)
    } else {
        (None, 0)
    };
    let entries = sec
        .datasec_vars()
        .enumerate()
        .map(|(i, v)| {
            let is_func = btf.type_by_id(v.type_id).map(|t| t.kind == Kind::Func);
            VarSecInfo {
                type_id: match (is_func, dummy) {
                    (Ok(true), Some(d)) => d.id,
                    _ => v.type_id,
                },
                offset: (i as u32) * 4,
                size: 4,
            }
        })
        .collect();
    Ok(Some(KsymsPlan {
        sec_id: sec.id,
        entries,
        int_id,
        dummy,
        dummy_name,
    }))
}

fn apply_ksyms(
    btf: &Btf,
    k: &KsymsPlan,
    out: &mut [u8],
    at: &dyn Fn(u32) -> Result<usize, BtfError>,
) -> Result<(), BtfError> {
    let sec = btf.type_by_id(k.sec_id)?;
    for old in sec.datasec_vars() {
        let vt = btf.type_by_id(old.type_id)?;
        let pos = at(vt.id)?;
        if vt.kind == Kind::Func {
            // Extern → global; the kernel requires every typed parameter to be named.
            let proto = btf.type_by_id(vt.ref_type())?;
            if proto.kind != Kind::FuncProto {
                return Err(BtfError::WrongKind {
                    id: proto.id,
                    found: proto.kind,
                    expected: "a FUNC_PROTO",
                });
            }
            let proto_at = at(proto.id)?;
            for (j, p) in proto.params().enumerate() {
                if p.type_id != 0 && p.name_off == 0 {
                    put(out, proto_at + TYPE_HEADER + 8 * j, k.dummy_name)?;
                }
            }
            put(out, pos + 4, (vt.info & !0xffff) | linkage::GLOBAL)?;
        } else {
            put(out, pos + 8, k.int_id)?;
            put(out, pos + TYPE_HEADER, linkage::GLOBAL)?;
        }
    }
    let sec_at = at(k.sec_id)?;
    let size = u32::try_from(k.entries.len() * 4)
        .map_err(|_| BtfError::Invalid("DATASEC '.ksyms' is too large".into()))?;
    put(out, sec_at + 8, size)?;
    for (i, v) in k.entries.iter().enumerate() {
        let e = sec_at + TYPE_HEADER + 12 * i;
        put(out, e, v.type_id)?;
        put(out, e + 4, v.offset)?;
        put(out, e + 8, v.size)?;
    }
    Ok(())
}

/// The info word of a `kind` record with `vlen` and no kind flag.
fn info(kind: Kind, vlen: u32) -> u32 {
    ((kind as u32) << 24) | (vlen & 0xffff)
}

/// Turns the 16-byte record at `pos` (a VAR or DECL_TAG) into a 1-byte INT of 8 bits,
/// keeping its name.
fn write_int1(out: &mut [u8], pos: usize) -> Result<(), BtfError> {
    put(out, pos + 4, info(Kind::Int, 0))?;
    put(out, pos + 8, 1)?;
    put(out, pos + TYPE_HEADER, 8)
}

/// Replaces every `.` of the string at `at` by `_` (libbpf's DATASEC → STRUCT naming).
fn rename_dots(out: &mut [u8], at: usize) -> Result<(), BtfError> {
    let s = out.get_mut(at..).ok_or(BtfError::Truncated("string"))?;
    for b in s.iter_mut().take_while(|b| **b != 0) {
        if *b == b'.' {
            *b = b'_';
        }
    }
    Ok(())
}

fn put(out: &mut [u8], at: usize, v: u32) -> Result<(), BtfError> {
    out.get_mut(at..at + 4)
        .ok_or(BtfError::Truncated("type data"))?
        .copy_from_slice(&v.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::testutil::Builder;

    const INT: u32 = Kind::Int as u32;
    const PTR: u32 = Kind::Ptr as u32;
    const CONST: u32 = Kind::Const as u32;
    const ENUM: u32 = Kind::Enum as u32;
    const FUNC: u32 = Kind::Func as u32;
    const FUNC_PROTO: u32 = Kind::FuncProto as u32;
    const VAR: u32 = Kind::Var as u32;
    const DATASEC: u32 = Kind::Datasec as u32;
    const FLOAT: u32 = Kind::Float as u32;
    const DECL_TAG: u32 = Kind::DeclTag as u32;
    const TYPE_TAG: u32 = Kind::TypeTag as u32;
    const ENUM64: u32 = Kind::Enum64 as u32;

    fn without(f: impl FnOnce(&mut BtfFeatures)) -> BtfFeatures {
        let mut features = BtfFeatures::ALL;
        f(&mut features);
        features
    }

    /// Every single-feature-off set, then none.
    fn one_off_sets() -> Vec<(&'static str, BtfFeatures)> {
        vec![
            ("func", without(|f| f.func = false)),
            ("global_func", without(|f| f.global_func = false)),
            ("datasec", without(|f| f.datasec = false)),
            ("float", without(|f| f.float = false)),
            ("decl_tag", without(|f| f.decl_tag = false)),
            ("type_tag", without(|f| f.type_tag = false)),
            ("enum64", without(|f| f.enum64 = false)),
            ("none", BtfFeatures::NONE),
        ]
    }

    fn kind(btf: &Btf, id: u32) -> Kind {
        btf.type_by_id(id).unwrap().kind
    }

    fn name(btf: &Btf, id: u32) -> &str {
        btf.type_name(id).unwrap()
    }

    /// `int`, `VAR x` (global), `VAR y` (static), DATASEC `.data.rel` of both.
    fn datasec_btf() -> Btf {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.raw("x", VAR, 0, false, 1, &[linkage::GLOBAL]); // 2
        b.raw("y", VAR, 0, false, 1, &[linkage::STATIC]); // 3
        b.raw(".data.rel", DATASEC, 2, false, 8, &[2, 0, 4, 3, 4, 4]); // 4
        Btf::parse(b.build()).unwrap()
    }

    #[test]
    fn datasec_becomes_struct_and_vars_ints() {
        let btf = datasec_btf();
        let f = without(|f| f.datasec = false);
        assert!(f.needs_sanitization(&btf));
        assert!(!BtfFeatures::ALL.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        assert_eq!(s.len(), btf.len());
        for id in [2, 3] {
            let t = s.type_by_id(id).unwrap();
            assert_eq!(t.kind, Kind::Int);
            assert_eq!(t.size(), 1);
            assert_eq!(t.int().unwrap().bits, 8);
            assert_eq!(t.int().unwrap().encoding, 0);
        }
        assert_eq!(name(&s, 2), "x");
        let t = s.type_by_id(4).unwrap();
        assert_eq!(t.kind, Kind::Struct);
        assert!(!t.kflag());
        assert_eq!(t.size(), 8);
        assert_eq!(name(&s, 4), "_data_rel");
        let m: Vec<_> = t.members().collect();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (
                s.str_at(m[0].name_off).unwrap(),
                m[0].type_id,
                m[0].bit_offset
            ),
            ("x", 2, 0)
        );
        assert_eq!(
            (
                s.str_at(m[1].name_off).unwrap(),
                m[1].type_id,
                m[1].bit_offset
            ),
            ("y", 3, 32)
        );
        // The original is untouched.
        assert_eq!(name(&btf, 4), ".data.rel");
        assert_eq!(kind(&btf, 4), Kind::Datasec);
        // Sanitized once is enough.
        assert!(!f.needs_sanitization(&s));
    }

    /// `int`, `int f(int a)` global, `int (*)(int)` unnamed, static `g`.
    fn func_btf() -> Btf {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        let a = b.s("a");
        b.raw("", FUNC_PROTO, 1, false, 1, &[a, 1]); // 2
        b.raw("f", FUNC, linkage::GLOBAL, false, 2, &[]); // 3
        b.raw("g", FUNC, linkage::STATIC, false, 2, &[]); // 4
        Btf::parse(b.build()).unwrap()
    }

    #[test]
    fn func_proto_becomes_enum_and_func_typedef() {
        let btf = func_btf();
        let f = without(|f| f.func = false);
        assert!(f.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        let p = s.type_by_id(2).unwrap();
        assert_eq!(p.kind, Kind::Enum);
        assert_eq!(p.size(), 4);
        assert_eq!(p.vlen(), 1);
        let v: Vec<_> = p.enum_values().collect();
        assert_eq!((s.str_at(v[0].name_off).unwrap(), v[0].value), ("a", 1));
        for id in [3, 4] {
            let t = s.type_by_id(id).unwrap();
            assert_eq!(t.kind, Kind::Typedef);
            assert_eq!(t.vlen(), 0);
            assert_eq!(t.ref_type(), 2);
        }
        assert_eq!(name(&s, 3), "f");
    }

    #[test]
    fn global_func_becomes_static() {
        let btf = func_btf();
        let f = without(|f| f.global_func = false);
        assert!(f.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        assert_eq!(kind(&s, 2), Kind::FuncProto);
        for id in [3, 4] {
            let t = s.type_by_id(id).unwrap();
            assert_eq!(
                (t.kind, t.linkage(), t.ref_type()),
                (Kind::Func, linkage::STATIC, 2)
            );
        }
        // Only static functions: nothing to do.
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        b.raw("", FUNC_PROTO, 0, false, 1, &[]);
        b.raw("g", FUNC, linkage::STATIC, false, 2, &[]);
        assert!(!f.needs_sanitization(&Btf::parse(b.build()).unwrap()));
    }

    #[test]
    fn float_becomes_anonymous_struct_of_same_size() {
        let mut b = Builder::new();
        b.raw("double", FLOAT, 0, false, 8, &[]); // 1
        b.raw("float", FLOAT, 0, false, 4, &[]); // 2
        b.raw("", PTR, 0, false, 1, &[]); // 3
        let btf = Btf::parse(b.build()).unwrap();
        let f = without(|f| f.float = false);
        assert!(f.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        for (id, size) in [(1, 8), (2, 4)] {
            let t = s.type_by_id(id).unwrap();
            assert_eq!(
                (t.kind, t.size(), t.vlen(), t.name_off),
                (Kind::Struct, size, 0, 0)
            );
        }
        assert_eq!(s.resolve_size(1).unwrap(), 8);
        assert_eq!(s.type_by_id(3).unwrap().ref_type(), 1);
    }

    fn decl_tag_btf() -> Btf {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.raw("x", VAR, 0, false, 1, &[linkage::STATIC]); // 2
        b.raw("tag", DECL_TAG, 0, false, 2, &[u32::MAX]); // 3
        Btf::parse(b.build()).unwrap()
    }

    #[test]
    fn decl_tag_becomes_int() {
        let btf = decl_tag_btf();
        let f = without(|f| f.decl_tag = false);
        assert!(f.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        let t = s.type_by_id(3).unwrap();
        assert_eq!((t.kind, t.size(), t.int().unwrap().bits), (Kind::Int, 1, 8));
        assert_eq!(name(&s, 3), "tag");
        assert_eq!(kind(&s, 2), Kind::Var);
    }

    #[test]
    fn decl_tags_go_with_the_funcs_and_vars_they_tag() {
        // A kernel without DATASEC (or FUNC) has no DECL_TAG either.
        assert!(!without(|f| f.datasec = false).consistent().decl_tag);
        assert!(!without(|f| f.func = false).consistent().decl_tag);
        assert!(BtfFeatures::ALL.consistent().decl_tag);
        let s = sanitize(&decl_tag_btf(), &without(|f| f.datasec = false)).unwrap();
        assert_eq!(kind(&s, 2), Kind::Int);
        assert_eq!(kind(&s, 3), Kind::Int);
    }

    #[test]
    fn type_tag_becomes_const() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.raw("user", TYPE_TAG, 0, false, 1, &[]); // 2
        b.raw("", PTR, 0, false, 2, &[]); // 3
        let btf = Btf::parse(b.build()).unwrap();
        let f = without(|f| f.type_tag = false);
        assert!(f.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        let t = s.type_by_id(2).unwrap();
        assert_eq!((t.kind, t.name_off, t.ref_type()), (Kind::Const, 0, 1));
        assert_eq!(s.skip_mods(3).unwrap(), 3);
        assert_eq!(s.skip_mods(2).unwrap(), 1);
    }

    #[test]
    fn enum64_becomes_union_and_enums_lose_their_sign() {
        let mut b = Builder::new();
        let a = b.s("A");
        b.raw("neg", ENUM, 1, true, 4, &[a, u32::MAX]); // 1: signed enum
        let one = b.s("ONE");
        let huge = b.s("HUGE");
        b.raw("big", ENUM64, 2, false, 8, &[one, 1, 0, huge, 0, 1]); // 2
        b.raw("", PTR, 0, false, 2, &[]); // 3
        let btf = Btf::parse(b.build()).unwrap();
        let f = without(|f| f.enum64 = false);
        assert!(f.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        assert_eq!(s.len(), btf.len() + 1);
        let e = s.type_by_id(1).unwrap();
        assert_eq!(
            (e.kind, e.kflag(), e.vlen(), e.size()),
            (Kind::Enum, false, 1, 4)
        );
        let placeholder = btf.len();
        let p = s.type_by_id(placeholder).unwrap();
        assert_eq!(name(&s, placeholder), ENUM64_PLACEHOLDER);
        assert_eq!(
            (
                p.kind,
                p.size(),
                p.int().unwrap().bits,
                p.int().unwrap().encoding
            ),
            (Kind::Int, 1, 8, 0)
        );
        let u = s.type_by_id(2).unwrap();
        assert_eq!(
            (u.kind, u.size(), u.vlen(), u.kflag()),
            (Kind::Union, 8, 2, false)
        );
        let m: Vec<_> = u.members().collect();
        for (m, want) in m.iter().zip(["ONE", "HUGE"]) {
            assert_eq!(s.str_at(m.name_off).unwrap(), want);
            assert_eq!(
                (m.type_id, m.bit_offset, m.bitfield_size),
                (placeholder, 0, 0)
            );
        }
        assert_eq!(name(&s, 2), "big");
        // Only an unsigned 32-bit enum: nothing to do.
        let mut b = Builder::new();
        let a = b.s("A");
        b.raw("e", ENUM, 1, false, 4, &[a, 1]);
        assert!(!f.needs_sanitization(&Btf::parse(b.build()).unwrap()));
    }

    /// `int`, `int kf(int, ...)` extern, `const int`, extern VAR `ks`, `.ksyms`.
    fn ksyms_btf(with_int32: bool) -> Btf {
        let mut b = Builder::new();
        if with_int32 {
            b.int("int", 4, 32, true); // 1
        } else {
            b.int("long", 8, 64, true); // 1
        }
        b.raw("", FUNC_PROTO, 2, false, 1, &[0, 1, 0, 0]); // 2: (int, ...)
        b.raw("kf", FUNC, linkage::EXTERN, false, 2, &[]); // 3
        b.raw("", CONST, 0, false, 0, &[]); // 4: const void
        b.raw("ks", VAR, 0, false, 4, &[linkage::EXTERN]); // 5
        b.raw(".ksyms", DATASEC, 2, false, 0, &[3, 0, 0, 5, 0, 0]); // 6
        Btf::parse(b.build()).unwrap()
    }

    #[test]
    fn ksyms_externs_become_allocated_globals() {
        let btf = ksyms_btf(true);
        let f = BtfFeatures::ALL;
        assert!(f.needs_sanitization(&btf));
        let s = sanitize(&btf, &f).unwrap();
        let dummy = btf.len();
        assert_eq!(s.len(), btf.len() + 1);
        let d = s.type_by_id(dummy).unwrap();
        assert_eq!(
            (d.kind, d.ref_type(), d.linkage()),
            (Kind::Var, 1, linkage::GLOBAL)
        );
        assert_eq!(name(&s, dummy), DUMMY_KSYM);
        // The extern FUNC is global; its typed parameter is named, the `...` is not.
        let kf = s.type_by_id(3).unwrap();
        assert_eq!(
            (kf.kind, kf.linkage(), kf.ref_type()),
            (Kind::Func, linkage::GLOBAL, 2)
        );
        let params: Vec<_> = s.type_by_id(2).unwrap().params().collect();
        assert_eq!(s.str_at(params[0].name_off).unwrap(), DUMMY_KSYM);
        assert_eq!((params[1].name_off, params[1].type_id), (0, 0));
        // The extern VAR is an allocated global int.
        let ks = s.type_by_id(5).unwrap();
        assert_eq!(
            (ks.kind, ks.ref_type(), ks.linkage()),
            (Kind::Var, 1, linkage::GLOBAL)
        );
        let sec = s.type_by_id(6).unwrap();
        assert_eq!(sec.size(), 8);
        let v: Vec<_> = sec
            .datasec_vars()
            .map(|v| (v.type_id, v.offset, v.size))
            .collect();
        assert_eq!(v, vec![(dummy, 0, 4), (5, 4, 4)]);
        assert!(!f.needs_sanitization(&s));
        // Again: a no-op.
        assert_eq!(sanitize(&s, &f).unwrap().raw(), s.raw());
    }

    #[test]
    fn ksyms_without_datasec_support() {
        let btf = ksyms_btf(true);
        let s = sanitize(&btf, &without(|f| f.datasec = false)).unwrap();
        let dummy = btf.len();
        let d = s.type_by_id(dummy).unwrap();
        assert_eq!((d.kind, d.size()), (Kind::Int, 1));
        assert_eq!(name(&s, dummy), DUMMY_KSYM);
        let sec = s.type_by_id(6).unwrap();
        assert_eq!((sec.kind, sec.size()), (Kind::Struct, 8));
        assert_eq!(name(&s, 6), "_ksyms");
        let m: Vec<_> = sec
            .members()
            .map(|m| {
                (
                    s.str_at(m.name_off).unwrap().to_string(),
                    m.type_id,
                    m.bit_offset,
                )
            })
            .collect();
        assert_eq!(
            m,
            vec![
                (DUMMY_KSYM.to_string(), dummy, 0),
                ("ks".to_string(), 5, 32)
            ]
        );
    }

    #[test]
    fn ksyms_without_a_32_bit_int_get_one() {
        let btf = ksyms_btf(false);
        let s = sanitize(&btf, &BtfFeatures::ALL).unwrap();
        let int = btf.len();
        let t = s.type_by_id(int).unwrap();
        assert_eq!(
            (t.kind, t.size(), t.int().unwrap().bits),
            (Kind::Int, 4, 32)
        );
        assert_eq!(name(&s, int), "int");
        assert_eq!(s.type_by_id(int + 1).unwrap().ref_type(), int);
        assert_eq!(s.type_by_id(5).unwrap().ref_type(), int);
    }

    #[test]
    fn bad_ksyms_and_split_btf_are_errors() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        b.raw(".ksyms", DATASEC, 1, false, 0, &[1, 0, 4]);
        let btf = Btf::parse(b.build()).unwrap();
        assert!(matches!(
            sanitize(&btf, &BtfFeatures::ALL),
            Err(BtfError::Invalid(_))
        ));

        let base = std::sync::Arc::new(datasec_btf());
        let mut b = Builder::new();
        b.strs.clear();
        for w in [0u32, INT << 24, 4, 32] {
            b.types.extend_from_slice(&w.to_le_bytes());
        }
        let split = Btf::parse_split(b.build(), base).unwrap();
        assert!(sanitize(&split, &BtfFeatures::NONE).is_err());
    }

    #[test]
    fn sanitize_if_needed_skips_the_copy() {
        let btf = datasec_btf();
        assert!(sanitize_if_needed(&btf, &BtfFeatures::ALL)
            .unwrap()
            .is_none());
        let s = sanitize_if_needed(&btf, &BtfFeatures::NONE)
            .unwrap()
            .unwrap();
        assert_eq!(kind(&s, 4), Kind::Struct);
    }

    /// No type of a kind `f` lacks is left, and every kind that had to change did.
    fn assert_clean(what: &str, orig: &Btf, s: &Btf, f: &BtfFeatures) {
        let f = f.consistent();
        assert!(!f.needs_sanitization(s), "{what}: still needs sanitization");
        assert!(s.len() >= orig.len() && s.len() <= orig.len() + 3, "{what}");
        for t in s.types() {
            let bad = match t.kind {
                Kind::Var | Kind::Datasec => !f.datasec,
                Kind::Func | Kind::FuncProto => !f.func,
                Kind::Float => !f.float,
                Kind::DeclTag => !f.decl_tag,
                Kind::TypeTag => !f.type_tag,
                Kind::Enum64 => !f.enum64,
                _ => false,
            };
            assert!(!bad, "{what}: type [{}] is still a {:?}", t.id, t.kind);
            if t.kind == Kind::Func && !f.global_func {
                assert_eq!(t.linkage(), linkage::STATIC, "{what}: [{}]", t.id);
            }
            // No extern is left in .ksyms (only an object the object layer refuses,
            // missing_map's, has externs elsewhere).
            if is_ksyms(s, &t) {
                for v in t.datasec_vars() {
                    let vt = s.type_by_id(v.type_id).unwrap();
                    assert_eq!(vt.linkage(), linkage::GLOBAL, "{what}: [{}]", vt.id);
                }
            }
        }
        // Types that need no rewrite keep kind and name.
        for t in orig.types() {
            let n = s.type_by_id(t.id).unwrap();
            if matches!(
                t.kind,
                Kind::Int | Kind::Ptr | Kind::Array | Kind::Struct | Kind::Union | Kind::Typedef
            ) {
                assert_eq!(
                    (n.kind, n.name_off, n.size_or_type),
                    (t.kind, t.name_off, t.size_or_type),
                    "{what}: [{}]",
                    t.id
                );
            }
        }
    }

    fn objects() -> Vec<(String, Btf)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths: Vec<_> = std::fs::read_dir(root.join("bpf-progs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
            .collect();
        paths.sort();
        paths.push(root.join("src/btf/testdata/sanitize.bpf.o"));
        assert!(paths.len() >= 5, "{paths:?}");
        paths
            .into_iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                // The loader's view (DATASECs fixed up); an object the object layer
                // refuses on purpose (missing_map) gives its raw `.BTF` instead.
                let btf = match crate::object::ObjectSpec::from_file(&p) {
                    Ok(spec) => spec.btf.unwrap(),
                    Err(_) => {
                        crate::btf::kernel::parse_btf_or_elf(std::fs::read(&p).unwrap()).unwrap()
                    }
                };
                (name, btf)
            })
            .collect()
    }

    #[test]
    fn committed_objects_sanitize_and_parse() {
        for (obj, btf) in objects() {
            for (what, f) in one_off_sets()
                .into_iter()
                .chain([("all", BtfFeatures::ALL)])
            {
                let what = format!("{obj} without {what}");
                let s = sanitize(&btf, &f).unwrap_or_else(|e| panic!("{what}: {e}"));
                // It parses again from its bytes, and dumps as C.
                let again = Btf::parse(s.raw().to_vec()).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(again.len(), s.len());
                assert_clean(&what, &btf, &s, &f);
            }
            // With everything supported only .ksyms changes; without it nothing does.
            let has_ksyms = btf.types().any(|t| is_ksyms(&btf, &t));
            assert_eq!(
                BtfFeatures::ALL.needs_sanitization(&btf),
                has_ksyms,
                "{obj}"
            );
            if !has_ksyms {
                assert_eq!(
                    sanitize(&btf, &BtfFeatures::ALL).unwrap().raw(),
                    btf.raw(),
                    "{obj}"
                );
            }
        }
    }

    #[test]
    fn the_fixture_has_every_kind() {
        let (_, btf) = objects().pop().unwrap();
        for k in [
            Kind::Float,
            Kind::DeclTag,
            Kind::TypeTag,
            Kind::Enum64,
            Kind::Func,
            Kind::Var,
            Kind::Datasec,
        ] {
            assert!(btf.types().any(|t| t.kind == k), "no {k:?}");
        }
        assert!(btf.types().any(|t| t.kind == Kind::Enum && t.kflag()));
        assert!(btf
            .types()
            .any(|t| is_ksyms(&btf, &t) && has_externs(&btf, &t)));
        let s = sanitize(&btf, &BtfFeatures::NONE).unwrap();
        // ENUM64 placeholder + dummy_ksym.
        assert_eq!(s.len(), btf.len() + 2);
        for (_, f) in one_off_sets() {
            assert!(f.needs_sanitization(&btf));
        }
    }
}
