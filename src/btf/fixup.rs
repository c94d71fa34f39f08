//! DATASEC fixups of an object's BTF, as libbpf's `btf_fixup_datasec()` and
//! `bpf_object__collect_externs()` do them before anything reads the BTF.
//!
//! clang leaves every DATASEC's size at 0 and the offsets of global variables
//! at 0 (it fills in the offsets of static ones); the ELF object knows both.
//! The fixups rewrite the records in place (no record changes length):
//!
//! - each DATASEC's size becomes the size of the ELF section of the same name;
//! - each global VAR's offset becomes its ELF symbol's value, and a global with
//!   hidden or internal visibility becomes static (libbpf does this so such
//!   variables don't make a map mmap-able);
//! - `.kconfig` has no ELF section: its extern VARs are laid out as libbpf lays
//!   them out (by alignment descending, size ascending, then name), their
//!   linkage becomes global-allocated and the DATASEC size their total;
//! - `.ksyms` is left as it is (its sanitization needs new types; the loader's job);
//! - separately ([`mark_hidden_funcs_static`]), global `.text` functions with hidden
//!   visibility become static FUNCs;
//! - the entries of every DATASEC are sorted by offset.
//!
//! The BTF layer knows nothing of ELF: the caller answers by name.

use super::{linkage, Btf, BtfError, Kind, VarSecInfo};

/// The ELF facts a global variable's fixup needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarSymbol {
    /// The symbol's value: its offset within its section.
    pub value: u64,
    /// Visibility is `STV_HIDDEN` or `STV_INTERNAL`.
    pub hidden: bool,
}

/// Name of the DATASEC of Kconfig externs.
pub const KCONFIG_SEC: &str = ".kconfig";
/// Name of the DATASEC of kernel symbol externs.
pub const KSYMS_SEC: &str = ".ksyms";

/// Budget of type visits for one alignment computation (hostile BTF can nest wide structs).
const ALIGN_BUDGET: usize = 1 << 16;

/// Applies the DATASEC fixups to `btf` in place.
///
/// `section_size(name)` gives the size of the ELF section `name`, `None` if the
/// object has none; `global_symbol(name)` gives the global (or weak) `STT_OBJECT`
/// symbol named `name`, `None` if there is none. A non-extern DATASEC without an
/// ELF section, or a global VAR without a symbol, is an error, as in libbpf.
pub fn fixup_datasecs(
    btf: &mut Btf,
    section_size: &dyn Fn(&str) -> Option<u64>,
    global_symbol: &dyn Fn(&str) -> Option<VarSymbol>,
) -> Result<(), BtfError> {
    let datasecs: Vec<u32> = btf
        .types()
        .filter(|t| t.kind == Kind::Datasec)
        .map(|t| t.id)
        .collect();
    for id in datasecs {
        fixup_one(btf, id, section_size, global_symbol)?;
    }
    Ok(())
}

fn fixup_one(
    btf: &mut Btf,
    id: u32,
    section_size: &dyn Fn(&str) -> Option<u64>,
    global_symbol: &dyn Fn(&str) -> Option<VarSymbol>,
) -> Result<(), BtfError> {
    let t = btf.type_by_id(id)?;
    let name = btf.str_at(t.name_off)?.to_string();
    let mut vars: Vec<VarSecInfo> = t.datasec_vars().collect();
    let mut size = t.size();
    // (VAR type id, new linkage) pairs to write.
    let mut linkages: Vec<(u32, u32)> = Vec::new();

    if name == KCONFIG_SEC {
        size = layout_kconfig(btf, &name, &mut vars, &mut linkages)?;
    } else if name != KSYMS_SEC {
        let fixup_offsets = size == 0;
        if fixup_offsets {
            let sz = section_size(&name).ok_or_else(|| {
                BtfError::Invalid(format!("DATASEC '{name}' has no ELF section of that name"))
            })?;
            size = u32::try_from(sz).map_err(|_| {
                BtfError::Invalid(format!(
                    "section '{name}' is too large for BTF ({sz} bytes)"
                ))
            })?;
        }
        for v in vars.iter_mut() {
            let vt = btf.type_by_id(v.type_id)?;
            if vt.kind != Kind::Var {
                return Err(BtfError::Invalid(format!(
                    "DATASEC '{name}' lists type [{}], a {}, where a VAR belongs",
                    v.type_id,
                    vt.kind.name()
                )));
            }
            let l = vt.linkage();
            if l == linkage::STATIC || l == linkage::EXTERN {
                continue;
            }
            let var_name = btf.str_at(vt.name_off)?;
            let sym = global_symbol(var_name).ok_or_else(|| {
                BtfError::Invalid(format!(
                    "DATASEC '{name}': no ELF symbol for global variable '{var_name}'"
                ))
            })?;
            if fixup_offsets {
                v.offset = u32::try_from(sym.value).map_err(|_| {
                    BtfError::Invalid(format!(
                        "DATASEC '{name}': variable '{var_name}' at offset {} is out of range",
                        sym.value
                    ))
                })?;
            }
            if sym.hidden {
                linkages.push((v.type_id, linkage::STATIC));
            }
        }
    }
    crate::util::sort_by_key(&mut vars, |v| v.offset);

    // Write back: DATASEC size, its entries, then VAR linkages.
    let dsec_off = btf
        .type_offset(id)
        .ok_or_else(|| BtfError::Invalid(format!("DATASEC [{id}] is not in this BTF")))?;
    let mut var_offs = Vec::with_capacity(linkages.len());
    for (vid, l) in &linkages {
        let off = btf.type_offset(*vid).ok_or_else(|| {
            BtfError::Invalid(format!(
                "VAR [{vid}] of DATASEC '{name}' is not in this BTF"
            ))
        })?;
        var_offs.push((off, *l));
    }
    let bytes = btf.bytes_mut();
    put_u32(bytes, dsec_off + 8, size)?;
    for (i, v) in vars.iter().enumerate() {
        let at = dsec_off + 12 + 12 * i;
        put_u32(bytes, at, v.type_id)?;
        put_u32(bytes, at + 4, v.offset)?;
        put_u32(bytes, at + 8, v.size)?;
    }
    for (off, l) in var_offs {
        put_u32(bytes, off + 12, l)?;
    }
    Ok(())
}

/// Gives static linkage to the global FUNCs `hidden(name)` names, as libbpf does for
/// `.text` subprograms with hidden or internal visibility (`mark_btf_static`): the
/// verifier then checks them in their callers' context instead of on their own. This is
/// what lets `__weak __hidden` helpers such as `bpf_usdt_arg()` in libbpf's
/// `usdt.bpf.h` write through their pointer arguments.
pub fn mark_hidden_funcs_static(
    btf: &mut Btf,
    hidden: &dyn Fn(&str) -> bool,
) -> Result<(), BtfError> {
    let mut offsets = Vec::new();
    for t in btf.types() {
        if t.kind == Kind::Func && t.linkage() == linkage::GLOBAL && hidden(btf.str_at(t.name_off)?)
        {
            offsets.push(
                btf.type_offset(t.id)
                    .ok_or(BtfError::Truncated("type data"))?,
            );
        }
    }
    for off in offsets {
        let bytes = btf.bytes_mut();
        let info = bytes
            .get(off + 4..off + 8)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(BtfError::Truncated("type data"))?;
        // A FUNC keeps its linkage in vlen, the low 16 bits of info.
        put_u32(bytes, off + 4, (info & !0xffff) | linkage::STATIC)?;
    }
    Ok(())
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) -> Result<(), BtfError> {
    bytes
        .get_mut(at..at + 4)
        .ok_or(BtfError::Truncated("type data"))?
        .copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Lays out the `.kconfig` externs as libbpf does; returns the DATASEC size.
fn layout_kconfig(
    btf: &Btf,
    name: &str,
    vars: &mut [VarSecInfo],
    linkages: &mut Vec<(u32, u32)>,
) -> Result<u32, BtfError> {
    struct Ext<'a> {
        idx: usize,
        name: &'a str,
        size: u64,
        align: u64,
    }
    let mut exts = Vec::with_capacity(vars.len());
    for (idx, v) in vars.iter().enumerate() {
        let vt = btf.type_by_id(v.type_id)?;
        if vt.kind != Kind::Var {
            return Err(BtfError::Invalid(format!(
                "DATASEC '{name}' lists type [{}], a {}, where a VAR belongs",
                v.type_id,
                vt.kind.name()
            )));
        }
        let var_name = btf.str_at(vt.name_off)?;
        let size = btf.resolve_size(vt.ref_type())?;
        let align = align_of(btf, vt.ref_type())?;
        exts.push(Ext {
            idx,
            name: var_name,
            size,
            align,
        });
    }
    crate::util::sort_by(&mut exts, |a, b| {
        b.align
            .cmp(&a.align)
            .then(a.size.cmp(&b.size))
            .then(a.name.cmp(b.name))
    });
    let mut off: u64 = 0;
    for e in &exts {
        let start = off.div_ceil(e.align) * e.align;
        let end = start
            .checked_add(e.size)
            .filter(|&x| x <= u64::from(u32::MAX));
        let (Some(end), Ok(start32), Ok(size32)) =
            (end, u32::try_from(start), u32::try_from(e.size))
        else {
            return Err(BtfError::Invalid(format!(
                "DATASEC '{name}' grows past 4 GiB"
            )));
        };
        vars[e.idx].offset = start32;
        vars[e.idx].size = size32;
        linkages.push((vars[e.idx].type_id, linkage::GLOBAL));
        off = end;
    }
    // `off` was checked against u32::MAX above.
    Ok(off as u32)
}

/// Alignment of a type as libbpf's `btf__align_of` computes it (8-byte pointers;
/// 1 for packed structs and unions).
pub fn align_of(btf: &Btf, id: u32) -> Result<u64, BtfError> {
    let mut budget = ALIGN_BUDGET;
    align_rec(btf, id, 0, &mut budget)
}

fn align_rec(btf: &Btf, id: u32, depth: usize, budget: &mut usize) -> Result<u64, BtfError> {
    if depth > super::MAX_RESOLVE_DEPTH || *budget == 0 {
        return Err(BtfError::Loop(id));
    }
    *budget -= 1;
    let t = btf.type_by_id(id)?;
    match t.kind {
        Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Float => Ok(u64::from(t.size()).clamp(1, 8)),
        Kind::Ptr => Ok(8),
        Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => {
            align_rec(btf, t.ref_type(), depth + 1, budget)
        }
        Kind::Array => align_rec(btf, t.array()?.elem_type, depth + 1, budget),
        Kind::Struct | Kind::Union => {
            let mut max_align = 1;
            for m in t.members() {
                let a = align_rec(btf, m.type_id, depth + 1, budget)?;
                max_align = max_align.max(a);
                // A member off its natural alignment means the struct is packed.
                if m.bitfield_size == 0 && u64::from(m.bit_offset) % (8 * a) != 0 {
                    return Ok(1);
                }
            }
            if u64::from(t.size()) % max_align != 0 {
                return Ok(1);
            }
            Ok(max_align)
        }
        k => Err(BtfError::WrongKind {
            id,
            found: k,
            expected: "a type with an alignment",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Builder;
    use super::*;

    /// int; VAR a (global); VAR b (static, offset set by clang); VAR c (global, hidden);
    /// DATASEC .data {a@0, b@8, c@0} size 0; kconfig externs; ksyms.
    fn sample() -> Vec<u8> {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.raw("a", 14, 0, false, 1, &[linkage::GLOBAL]); // 2
        b.raw("b", 14, 0, false, 1, &[linkage::STATIC]); // 3
        b.raw("c", 14, 0, false, 1, &[linkage::GLOBAL]); // 4
        b.raw(".data", 15, 3, false, 0, &[2, 0, 4, 3, 8, 4, 4, 0, 4]); // 5
        b.int("char", 1, 8, true); // 6
        b.raw("", 3, 0, false, 0, &[6, 1, 3]); // 7: char[3]
        b.int("long", 8, 64, true); // 8
        b.raw("CONFIG_STR", 14, 0, false, 7, &[linkage::EXTERN]); // 9
        b.raw("LINUX_KERNEL_VERSION", 14, 0, false, 1, &[linkage::EXTERN]); // 10
        b.raw("CONFIG_HZ", 14, 0, false, 8, &[linkage::EXTERN]); // 11
        b.raw("CONFIG_A", 14, 0, false, 1, &[linkage::EXTERN]); // 12
        b.raw(
            ".kconfig",
            15,
            4,
            false,
            0,
            &[9, 0, 3, 10, 0, 4, 11, 0, 8, 12, 0, 4],
        ); // 13
        b.raw("ksym", 14, 0, false, 1, &[linkage::EXTERN]); // 14
        b.raw(".ksyms", 15, 1, false, 0, &[14, 0, 4]); // 15
        b.build()
    }

    fn vars(btf: &Btf, id: u32) -> Vec<(String, u32, u32)> {
        btf.type_by_id(id)
            .unwrap()
            .datasec_vars()
            .map(|v| {
                (
                    btf.type_name(v.type_id).unwrap().to_string(),
                    v.offset,
                    v.size,
                )
            })
            .collect()
    }

    #[test]
    fn fixes_sizes_offsets_and_linkage() {
        let mut btf = Btf::parse(sample()).unwrap();
        let sizes = |n: &str| (n == ".data").then_some(16);
        let syms = |n: &str| match n {
            "a" => Some(VarSymbol {
                value: 12,
                hidden: false,
            }),
            "c" => Some(VarSymbol {
                value: 4,
                hidden: true,
            }),
            _ => None,
        };
        fixup_datasecs(&mut btf, &sizes, &syms).unwrap();
        assert_eq!(btf.type_by_id(5).unwrap().size(), 16);
        assert_eq!(
            vars(&btf, 5),
            vec![("c".into(), 4, 4), ("b".into(), 8, 4), ("a".into(), 12, 4)]
        );
        assert_eq!(btf.type_by_id(4).unwrap().linkage(), linkage::STATIC);
        assert_eq!(btf.type_by_id(2).unwrap().linkage(), linkage::GLOBAL);
        // .kconfig: align 8 first (CONFIG_HZ), then align 4 by size then name, then char[3].
        assert_eq!(
            vars(&btf, 13),
            vec![
                ("CONFIG_HZ".into(), 0, 8),
                ("CONFIG_A".into(), 8, 4),
                ("LINUX_KERNEL_VERSION".into(), 12, 4),
                ("CONFIG_STR".into(), 16, 3)
            ]
        );
        assert_eq!(btf.type_by_id(13).unwrap().size(), 19);
        assert_eq!(btf.type_by_id(9).unwrap().linkage(), linkage::GLOBAL);
        // .ksyms untouched.
        assert_eq!(btf.type_by_id(15).unwrap().size(), 0);
        assert_eq!(btf.type_by_id(14).unwrap().linkage(), linkage::EXTERN);
    }

    #[test]
    fn missing_section_or_symbol_is_an_error() {
        let mut btf = Btf::parse(sample()).unwrap();
        let none = |_: &str| None;
        assert!(fixup_datasecs(&mut btf, &none, &|_| None).is_err());
        let mut btf = Btf::parse(sample()).unwrap();
        let sizes = |n: &str| (n == ".data").then_some(16);
        let err = fixup_datasecs(&mut btf, &sizes, &|_| None).unwrap_err();
        assert!(err.to_string().contains("'a'"), "{err}");
    }

    #[test]
    fn align_of_packed_struct_is_one() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.int("char", 1, 8, true); // 2
        let x = b.s("x");
        let y = b.s("y");
        // struct { char x; int y; } __packed: y at bit 8.
        b.raw("p", 4, 2, false, 5, &[x, 2, 0, y, 1, 8]); // 3
                                                         // struct { char x; int y; }: y at bit 32.
        b.raw("q", 4, 2, false, 8, &[x, 2, 0, y, 1, 32]); // 4
        let btf = Btf::parse(b.build()).unwrap();
        assert_eq!(align_of(&btf, 3).unwrap(), 1);
        assert_eq!(align_of(&btf, 4).unwrap(), 4);
        assert_eq!(align_of(&btf, 2).unwrap(), 1);
    }

    /// usdt.bpf.h's `__weak __hidden` helpers become static FUNCs; the programs that
    /// call them (global, default visibility) stay global.
    #[test]
    fn hidden_subprograms_become_static() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs/usdt.bpf.o");
        let spec = crate::ObjectSpec::from_file(&path).unwrap();
        let btf = spec.btf.as_ref().unwrap();
        let linkage_of = |name: &str| {
            let id = btf.find_by_name_kind(name, Kind::Func).unwrap();
            btf.type_by_id(id).unwrap().linkage()
        };
        assert_eq!(linkage_of("bpf_usdt_arg"), linkage::STATIC);
        assert_eq!(linkage_of("bpf_usdt_cookie"), linkage::STATIC);
        assert_eq!(linkage_of("record"), linkage::GLOBAL);
    }
}
