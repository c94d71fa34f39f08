//! Loads and stores of whole array fields: the `core/arrload_*` sections of
//! `btf-fixtures/core/local.bpf.c` relocated against `target_arrload_*.btf`.
//!
//! clang folds the offset of an array field into the load or store of its element 0
//! (`int *a = __builtin_preserve_access_index(({ p->a; })); a[0]`), so the instruction
//! carries the `byte_off` relocation of the whole array. libbpf since 1.6
//! (`bpf_core_calc_field_relo`, "fix LDX/STX/ST CO-RE relocation size adjustment
//! logic") compares the sizes of the arrays' innermost elements, modifiers and typedefs
//! skipped — what the instruction moves — where it used to compare the whole arrays.
//! When the element sizes differ, the instruction is poisoned whatever the elements
//! are, because the kinds it checks (pointer, unsigned integer) are those of the
//! fields, which are arrays.
//!
//! libbpf 1.7 (built from libbpf-sys 1.7.1's vendored source), loading
//! `bpf-progs/core_families.bpf.o`'s `arrload_*` programs with each of these targets as
//! `btf_custom_path`, loaded and refused exactly the same programs and gave the same
//! offsets as these tests expect.
//!
//! Local layout: pad 0, a `int[5]` 8, m `u16[2][3]` 28, c `struct{int x, y}[3]` 40,
//! s `int[4]` 64, u `u32[4]` 80, g `int[4]` 96.

use super::tests::{insn_value, is_poison, load_obj, run, Run};
use super::*;
use crate::insn::class;
use CoreReloKind::FieldByteOffset;

const OBJECTS: [&str; 2] = ["local.bpf.o", "local_v4.bpf.o"];

fn is_mem(i: Insn) -> bool {
    matches!(i.class(), class::LDX | class::ST | class::STX)
}

/// The one load/store among the relocations of `local`.
#[track_caller]
fn mem_result<'r>(r: &'r Run, local: &str) -> &'r RelocResult {
    let v: Vec<_> = r
        .all(local, FieldByteOffset)
        .into_iter()
        .filter(|x| is_mem(r.before[x.insn]))
        .collect();
    assert_eq!(v.len(), 1, "one load/store relocation of {local}");
    v[0]
}

/// Asserts every relocation of `local` moved it from `old` to `new`, and that its
/// load/store kept its size.
#[track_caller]
fn moved(r: &Run, local: &str, old: u64, new: u64) {
    for x in r.all(local, FieldByteOffset) {
        assert_eq!(x.outcome, Outcome::Patched { old, new }, "{local}");
        assert_eq!(insn_value(&r.after, x.insn), Some(new), "{local}");
        assert_eq!(insn_value(&r.before, x.insn), Some(old), "{local}");
    }
    let m = mem_result(r, local);
    assert_eq!(m.mem_size, None, "{local}: same element size");
    assert_eq!(r.after[m.insn].code, r.before[m.insn].code, "{local}");
}

/// Asserts the load/store of `local` was poisoned; returns why.
#[track_caller]
fn refused(r: &Run, local: &str) -> String {
    let m = mem_result(r, local);
    let Outcome::Poisoned { reason } = &m.outcome else {
        panic!("{local} not poisoned: {:?}", m.outcome)
    };
    assert!(is_poison(r.after[m.insn]), "{local}: {:?}", r.after[m.insn]);
    reason.clone()
}

/// (section, access, local offset)
const ACCESSES: [(&str, &str, u64); 7] = [
    ("core/arrload_a", "struct arrload.a", 8),
    ("core/arrload_m", "struct arrload.m", 28),
    ("core/arrload_m_row", "struct arrload.m[1]", 34),
    ("core/arrload_c", "struct arrload.c", 40),
    ("core/arrload_s", "struct arrload.s", 64),
    ("core/arrload_u", "struct arrload.u", 80),
    ("core/arrload_g", "struct arrload.g", 96),
];

/// Relocates each section against `target` and checks `want(access)`: `Some(offset)`
/// for a moved access, `None` for a refused one (returning the reasons).
#[track_caller]
fn check(target: &str, want: impl Fn(&str) -> Option<u64>) -> Vec<(String, String)> {
    let mut refusals = Vec::new();
    for file in OBJECTS {
        let obj = load_obj(file);
        for (sec, local, old) in ACCESSES {
            let r = run(&obj, sec, target);
            match want(local) {
                Some(new) => moved(&r, local, old, new),
                None => refusals.push((local.to_string(), refused(&r, local))),
            }
        }
    }
    refusals
}

#[test]
fn array_fields_of_the_same_layout_stay() {
    assert!(check("arrload_same", |l| Some(
        ACCESSES.iter().find(|a| a.1 == l).unwrap().2
    ))
    .is_empty());
}

#[test]
fn array_fields_grown_longer_are_read_at_their_new_offsets() {
    // target: m u16[3][4] 8, a int[7] 32, c [5] 60, s 100, u 124, g 148.
    let refusals = check("arrload_longer", |l| {
        Some(match l {
            "struct arrload.a" => 32,
            "struct arrload.m" => 8,
            // Row 1 of rows of 4 u16.
            "struct arrload.m[1]" => 8 + 8,
            "struct arrload.c" => 60,
            "struct arrload.s" => 100,
            "struct arrload.u" => 124,
            _ => 148,
        })
    });
    assert!(refusals.is_empty(), "{refusals:?}");
}

#[test]
fn array_fields_grown_shorter_are_read_at_their_new_offsets() {
    // target: a int[3] 0, c [2] 12, m u16[1][2] 28, pad 32, s 36, u 44, g 52.
    let refusals = check("arrload_shorter", |l| match l {
        "struct arrload.a" => Some(0),
        "struct arrload.m" => Some(28),
        "struct arrload.m[1]" => None,
        "struct arrload.c" => Some(12),
        "struct arrload.s" => Some(36),
        "struct arrload.u" => Some(44),
        _ => Some(52),
    });
    // An explicit index is still checked against the target's bounds.
    for (local, why) in &refusals {
        assert_eq!(local, "struct arrload.m[1]");
        assert!(
            why.starts_with("index 1 is out of bounds of the target's array of 1 elements"),
            "{why}"
        );
    }
    assert_eq!(refusals.len(), OBJECTS.len());
}

#[test]
fn array_elements_of_another_size_are_refused_of_the_same_size_kept() {
    // target: a long[5], m u8[2][3], c struct{int x, y, z}[3], s short[4], u u16[4],
    // g u32[4] at 108: only g keeps its element size (its signedness changed).
    let refusals = check("arrload_elems", |l| {
        (l == "struct arrload.g").then_some(108)
    });
    let sizes = |local: &str| match local {
        "struct arrload.a" => (4, 8),
        "struct arrload.m" | "struct arrload.m[1]" => (2, 1),
        "struct arrload.c" => (8, 12),
        _ => (4, 2),
    };
    assert_eq!(refusals.len(), 6 * OBJECTS.len());
    for (local, why) in &refusals {
        let (from, to) = sizes(local);
        assert!(
            why.starts_with(&format!(
                "{local} is an array whose elements changed size from {from} to {to} bytes"
            )),
            "{why}"
        );
    }
    // u32 -> u16 elements are refused too, unlike a u32 -> u16 field: libbpf checks
    // the kinds of the fields, and an array is neither a pointer nor an integer.
    assert!(refusals.iter().any(|(l, _)| l == "struct arrload.u"));
    // The ALU relocation of the same access (the address of a[i > 0]) is patched.
    let r = run(&load_obj("local.bpf.o"), "core/arrload_a", "arrload_elems");
    let alu = r
        .all("struct arrload.a", FieldByteOffset)
        .into_iter()
        .find(|x| !is_mem(r.before[x.insn]))
        .expect("an ALU relocation");
    assert_eq!(alu.outcome, Outcome::Patched { old: 8, new: 8 });
}

#[test]
fn stores_into_array_fields_follow_the_same_rule() {
    for file in OBJECTS {
        let obj = load_obj(file);
        let r = run(&obj, "core/arrload_store", "arrload_longer");
        moved(&r, "struct arrload.a", 8, 32);
        moved(&r, "struct arrload.g", 96, 148);
        let r = run(&obj, "core/arrload_store", "arrload_elems");
        let why = refused(&r, "struct arrload.a");
        assert!(why.contains("changed size from 4 to 8 bytes"), "{why}");
        moved(&r, "struct arrload.g", 96, 108);
    }
    // Not vacuous: v4 stores the immediate with ST, v3 with STX.
    let classes = |file| {
        let obj = load_obj(file);
        let r = run(&obj, "core/arrload_store", "arrload_same");
        r.before[mem_result(&r, "struct arrload.a").insn].class()
    };
    assert_eq!(
        (classes("local.bpf.o"), classes("local_v4.bpf.o")),
        (class::STX, class::ST)
    );
}
