//! Type-based, size and enumerator relocations against clang's output: the fixtures
//! and helpers of [`super::tests`], split from it by relocation family.

use super::tests::{is_poison, local, run, target, tid};
use super::*;
use crate::insn::op;
use CoreReloKind::*;
// ------------------------------------------------------------------------- sizes

#[test]
fn sizes_of_fields_and_types() {
    let obj = local();
    let r = run(&obj, "core/sizes", "sizes_base");
    r.patched("struct sizes.i", FieldByteSize, 4, 8);
    r.patched("struct sizes.s", FieldByteSize, 16, 24);
    r.patched("struct sizes.u", FieldByteSize, 12, 20);
    r.patched("struct sizes.e", FieldByteSize, 4, 8); // enum -> enum64
    r.patched("struct sizes.p", FieldByteSize, 8, 8);
    r.patched("struct sizes.f", FieldByteSize, 8, 8);
    r.patched("struct sizes.arr", FieldByteSize, 7, 9);
    // target: i 0..8, s 8..32, u 32..52, e 56..64, p 64, f 72, arr 80..89 -> 96.
    r.patched("struct sizes", TypeSize, 64, 96);
    r.patched("typedef sz_t", TypeSize, 16, 24);
    r.patched("union sz_u", TypeSize, 12, 20);
    r.patched("enum sz_e", TypeSize, 4, 8);
    r.patched("typedef sz_fn", TypeSize, 8, 8);
}

#[test]
fn sizes_missing_types_are_zero_missing_fields_poison() {
    let obj = local();
    let r = run(&obj, "core/sizes", "sizes_missing");
    for f in ["i", "s", "u", "e", "p", "f", "arr"] {
        r.poisoned(&format!("struct sizes.{f}"), FieldByteSize);
    }
    r.patched("struct sizes", TypeSize, 64, 0);
    r.patched("typedef sz_t", TypeSize, 16, 0);
    r.patched("union sz_u", TypeSize, 12, 0);
    r.patched("enum sz_e", TypeSize, 4, 0);
    r.patched("typedef sz_fn", TypeSize, 8, 0);
}

// ------------------------------------------------------------------------- type-based

const TB: [&str; 7] = [
    "struct tb_s",
    "union tb_u",
    "enum tb_e",
    "typedef tb_int",
    "typedef tb_s_t",
    "typedef tb_fn",
    "typedef tb_uint",
];

#[test]
fn type_exists_and_matches_identical_types() {
    let obj = local();
    let r = run(&obj, "core/type_based", "type_based_match");
    for t in TB {
        r.patched(t, TypeExists, 1, 1);
        r.patched(t, TypeMatches, 1, 1);
    }
}

#[test]
fn type_exists_but_does_not_match_changed_types() {
    let obj = local();
    let r = run(&obj, "core/type_based", "type_based_differ");
    // Compatible (exists): ints of any size, structs/unions/enums by name; the function
    // pointer lost a parameter, so it isn't even compatible.
    for (t, exists) in [
        ("struct tb_s", 1),
        ("union tb_u", 1),
        ("enum tb_e", 1),
        ("typedef tb_int", 1),
        ("typedef tb_s_t", 1),
        ("typedef tb_fn", 0),
        ("typedef tb_uint", 1), // unsigned int -> int: compatible, doesn't match
    ] {
        r.patched(t, TypeExists, 1, exists);
        // Matches needs members, enumerators, int sizes and parameters to line up.
        r.patched(t, TypeMatches, 1, 0);
    }
}

#[test]
fn type_exists_and_matches_missing_types() {
    let obj = local();
    let r = run(&obj, "core/type_based", "type_based_missing");
    for t in TB {
        r.patched(t, TypeExists, 1, 0);
        r.patched(t, TypeMatches, 1, 0);
    }
}

#[test]
fn type_ids_local_and_target() {
    let obj = local();
    let tb_s = obj.btf.find_by_name_kind("tb_s", Kind::Struct).unwrap();
    let tb_int = obj.btf.find_by_name_kind("tb_int", Kind::Typedef).unwrap();
    let tb_fn = obj.btf.find_by_name_kind("tb_fn", Kind::Typedef).unwrap();
    let r = run(&obj, "core/type_id", "type_based_match");
    let l = r.patched("struct tb_s", TypeIdLocal, tb_s.into(), tb_s.into());
    assert_eq!(l.target, None);
    r.patched("typedef tb_fn", TypeIdLocal, tb_fn.into(), tb_fn.into());
    let t = r.patched(
        "struct tb_s",
        TypeIdTarget,
        tb_s.into(),
        tid("type_based_match", "tb_s", Kind::Struct).into(),
    );
    assert!(t.target.is_some());
    r.patched(
        "typedef tb_int",
        TypeIdTarget,
        tb_int.into(),
        tid("type_based_match", "tb_int", Kind::Typedef).into(),
    );

    let r = run(&obj, "core/type_id", "type_based_missing");
    r.patched("struct tb_s", TypeIdLocal, tb_s.into(), tb_s.into());
    r.patched("struct tb_s", TypeIdTarget, tb_s.into(), 0);
    r.patched("typedef tb_int", TypeIdTarget, tb_int.into(), 0);
}

// ------------------------------------------------------------------------- enumerators

#[test]
fn enum_values_change() {
    let obj = local();
    let r = run(&obj, "core/enumval", "enumval_base");
    r.patched("enum ev::EV_A", EnumvalValue, 1, 11);
    r.patched("enum ev::EV_C", EnumvalValue, 3, 10);
    r.patched("enum ev::EV_B", EnumvalExists, 1, 0);
    // An unsigned 32-bit enumerator is zero-extended, as clang compiled it.
    r.patched("enum ev::EV_BIG", EnumvalValue, 0xffff_ffff, 7);
    // Enumerator flavors: EV_C___old is EV_C.
    r.patched("enum ev___old::EV_C___old", EnumvalValue, 30, 10);
    r.patched("enum ev___old::EV_GONE___old", EnumvalExists, 1, 0);
    r.patched("enum ev64::EV64_A", EnumvalValue, 0x1_0000_0000, 6);
    r.patched("enum ev64::EV64_B", EnumvalValue, 5, 0x2_0000_0000);
    r.patched("enum ev64::EV64_B", EnumvalExists, 1, 1);
}

#[test]
fn enum_and_enum64_interchange() {
    let obj = local();
    let r = run(&obj, "core/enumval", "enumval_kind");
    r.patched("enum ev::EV_A", EnumvalValue, 1, 0x5_0000_0000);
    r.patched("enum ev::EV_C", EnumvalValue, 3, 2);
    r.patched("enum ev::EV_B", EnumvalExists, 1, 1);
    r.patched("enum ev::EV_BIG", EnumvalValue, 0xffff_ffff, 3);
    r.patched("enum ev___old::EV_C___old", EnumvalValue, 30, 2);
    r.patched("enum ev64::EV64_A", EnumvalValue, 0x1_0000_0000, 6);
    r.patched("enum ev64::EV64_B", EnumvalValue, 5, 7);
}

#[test]
fn enum_signed_values_are_sign_extended() {
    let obj = local();
    let r = run(&obj, "core/enumval", "enumval_signed");
    r.patched("enum ev::EV_A", EnumvalValue, 1, u64::MAX);
    r.patched("enum ev::EV_C", EnumvalValue, 3, 3);
    r.patched("enum ev::EV_BIG", EnumvalValue, 0xffff_ffff, -5i64 as u64);
    r.patched(
        "enum ev64::EV64_A",
        EnumvalValue,
        0x1_0000_0000,
        -6i64 as u64,
    );
    r.patched("enum ev64::EV64_B", EnumvalValue, 5, i64::MAX as u64);
}

#[test]
fn enum_missing_values_poison_both_ld_imm64_slots() {
    let obj = local();
    let r = run(&obj, "core/enumval", "enumval_missing");
    for e in [
        "enum ev::EV_A",
        "enum ev::EV_C",
        "enum ev::EV_BIG",
        "enum ev64::EV64_A",
    ] {
        let why = r.poisoned(e, EnumvalValue);
        assert!(why.starts_with("the target has no enum named ev"), "{why}");
        let i = r.one(e, EnumvalValue).insn;
        assert!(r.before[i].is_ld_imm64());
        assert_eq!(
            r.after[i + 1],
            r.after[i],
            "second slot poisoned the same way"
        );
    }
    r.patched("enum ev::EV_B", EnumvalExists, 1, 0);
    r.patched("enum ev64::EV64_B", EnumvalExists, 1, 0);
    // In a target that has the enum, a missing enumerator says so.
    let r = run(&obj, "core/enumval", "enumval_base");
    let _ = r;
    let t = target("enumval_base");
    let p = &obj.progs["core/enumval"];
    let b_exists = p.relos.iter().find(|x| x.kind == 10).copied().unwrap();
    let as_value = CoreRelo {
        kind: 11,
        ..b_exists
    };
    let mut insns = p.insns.clone();
    // Put an ld_imm64 carrying EV_B's local value (2) where the relocation points.
    let i = as_value.insn_off as usize;
    insns[i] = Insn::new(op::LD_IMM64, 1, 0, 0, 2);
    insns[i + 1] = Insn::new(0, 0, 0, 0, 0);
    let res = relocate(
        &obj.btf,
        &Targets::vmlinux(&t),
        &mut insns,
        &[as_value],
        &mut CandidateCache::new(),
    )
    .unwrap();
    match &res[0].outcome {
        Outcome::Poisoned { reason } => {
            assert!(reason.contains("has no enumerator EV_B"), "{reason}")
        }
        o => panic!("{o:?}"),
    }
    assert!(is_poison(insns[i]) && is_poison(insns[i + 1]));
}
