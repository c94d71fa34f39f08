//! Tests against clang's own output: `btf-fixtures/core/local.bpf.c` compiled by clang
//! (the records and instructions are exactly clang's) relocated against target BTFs
//! compiled from `btf-fixtures/core/t_*.c`. Expected values are computed here from the
//! C layouts, independently of the engine.

use std::collections::HashMap;
use std::path::PathBuf;

use object::{Object, ObjectSection};

use super::*;
use crate::btf::ext::BtfExt;
use crate::insn::{class, op};

pub(super) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("btf-fixtures/core")
        .join(name)
}

/// One program section: its instructions and CO-RE records (`insn_off` as an index).
#[derive(Clone)]
pub(super) struct Prog {
    pub insns: Vec<Insn>,
    pub relos: Vec<CoreRelo>,
}

pub(super) struct Obj {
    pub btf: Btf,
    pub progs: HashMap<String, Prog>,
}

/// Reads a BPF ELF object the way the object layer will: `.BTF`, `.BTF.ext` CO-RE
/// records, and each record's section bytes, converting byte offsets to indexes.
pub(super) fn load_obj(name: &str) -> Obj {
    let data =
        std::fs::read(fixture(name)).expect("fixture object (run btf-fixtures/core/build.sh)");
    let file = object::File::parse(&*data).expect("ELF");
    let sec = |n: &str| {
        file.section_by_name(n)
            .and_then(|s| s.data().ok())
            .unwrap_or_else(|| panic!("no {n}"))
    };
    let btf = Btf::parse(sec(".BTF").to_vec()).expect(".BTF");
    let ext = BtfExt::parse(sec(".BTF.ext"), &btf).expect(".BTF.ext");
    let mut progs = HashMap::new();
    for s in &ext.core_relos {
        let insns = Insn::decode_all(sec(&s.section)).expect("whole instructions");
        let relos = s
            .records
            .iter()
            .map(|r| {
                assert_eq!(r.insn_off % 8, 0);
                CoreRelo {
                    insn_off: r.insn_off / 8,
                    ..*r
                }
            })
            .collect();
        progs.insert(s.section.clone(), Prog { insns, relos });
    }
    Obj { btf, progs }
}

pub(super) fn target(name: &str) -> Btf {
    Btf::from_file(&fixture(&format!("target_{name}.btf"))).expect("target BTF")
}

/// Relocation of one section against one target.
pub(super) struct Run {
    pub before: Vec<Insn>,
    pub after: Vec<Insn>,
    pub res: Result<Vec<RelocResult>, CoreError>,
}

impl Run {
    pub fn ok(&self) -> &[RelocResult] {
        match &self.res {
            Ok(r) => r,
            Err(e) => panic!("relocation failed: {e}"),
        }
    }

    pub fn err(&self) -> &CoreError {
        match &self.res {
            Ok(r) => panic!("expected an error, got {r:#?}"),
            Err(e) => e,
        }
    }

    /// All results for the access `local` of kind `kind`.
    pub fn all(&self, local: &str, kind: CoreReloKind) -> Vec<&RelocResult> {
        let v: Vec<_> = self
            .ok()
            .iter()
            .filter(|r| r.local == local && r.kind == kind)
            .collect();
        assert!(
            !v.is_empty(),
            "no {kind} relocation of {local}; have {:#?}",
            self.ok()
        );
        v
    }

    pub fn one(&self, local: &str, kind: CoreReloKind) -> &RelocResult {
        let v = self.all(local, kind);
        assert_eq!(v.len(), 1, "{kind} of {local}");
        v[0]
    }

    /// Asserts `local`/`kind` was patched from `old` to `new`, and that the
    /// instruction(s) carry `new`.
    #[track_caller]
    pub fn patched(&self, local: &str, kind: CoreReloKind, old: u64, new: u64) -> &RelocResult {
        let rs = self.all(local, kind);
        for r in &rs {
            assert_eq!(
                r.outcome,
                Outcome::Patched { old, new },
                "{kind} of {local}"
            );
            assert_eq!(
                insn_value(&self.after, r.insn),
                Some(new),
                "{kind} of {local}: instruction"
            );
            assert_eq!(
                insn_value(&self.before, r.insn),
                Some(old),
                "{kind} of {local}: clang's value"
            );
        }
        rs[0]
    }

    /// Asserts `local`/`kind` was poisoned and returns the reason.
    #[track_caller]
    pub fn poisoned(&self, local: &str, kind: CoreReloKind) -> String {
        let r = self.one(local, kind);
        let Outcome::Poisoned { reason } = &r.outcome else {
            panic!("{kind} of {local} not poisoned: {:?}", r.outcome)
        };
        assert!(
            is_poison(self.after[r.insn]),
            "instruction not poisoned: {:?}",
            self.after[r.insn]
        );
        if self.before[r.insn].is_ld_imm64() {
            assert!(
                is_poison(self.after[r.insn + 1]),
                "second ld_imm64 slot not poisoned"
            );
        }
        reason.clone()
    }
}

pub(super) fn is_poison(i: Insn) -> bool {
    // libbpf's "bad relo" helper id: the verifier says "invalid func unknown#195896080".
    const _: () = assert!(patch::POISON_HELPER == 195_896_080);
    i.code == op::CALL && i.regs == 0 && i.off == 0 && i.imm == 195_896_080
}

/// The value an instruction carries for CO-RE: imm, off or the 64-bit ld_imm64 value.
pub(super) fn insn_value(insns: &[Insn], i: usize) -> Option<u64> {
    let x = insns[i];
    match x.class() {
        class::ALU | class::ALU64 => Some(x.imm as u32 as u64),
        class::LDX | class::ST | class::STX => Some(x.off as u64),
        class::LD if x.is_ld_imm64() => {
            Some(u64::from(x.imm as u32) | (u64::from(insns[i + 1].imm as u32) << 32))
        }
        _ => None,
    }
}

/// Memory access size in bytes of a load/store.
pub(super) fn mem_size(i: Insn) -> u32 {
    match i.code & 0x18 {
        op::SIZE_B => 1,
        op::SIZE_H => 2,
        op::SIZE_W => 4,
        _ => 8,
    }
}

pub(super) fn run_with(
    obj: &Obj,
    sec: &str,
    targets: &Targets<'_>,
    cache: &mut CandidateCache,
) -> Run {
    let p = obj
        .progs
        .get(sec)
        .unwrap_or_else(|| panic!("no section {sec}"));
    let mut after = p.insns.clone();
    let res = relocate(&obj.btf, targets, &mut after, &p.relos, cache);
    Run {
        before: p.insns.clone(),
        after,
        res,
    }
}

pub(super) fn run(obj: &Obj, sec: &str, target_name: &str) -> Run {
    let t = target(target_name);
    run_with(obj, sec, &Targets::vmlinux(&t), &mut CandidateCache::new())
}

pub(super) fn local() -> Obj {
    load_obj("local.bpf.o")
}

use CoreReloKind::*;

pub(super) fn vm() -> Option<Arc<str>> {
    None
}

/// The target type id of `name` (kind `kind`) in a fixture target.
pub(super) fn tid(t: &str, name: &str, kind: Kind) -> u32 {
    target(t)
        .find_by_name_kind(name, kind)
        .unwrap_or_else(|| panic!("{name} in {t}"))
}

// ------------------------------------------------------------------------- flavors

#[test]
fn flavors_local_flavor_matches_plain_target() {
    let obj = local();
    let r = run(&obj, "core/flavors", "flavors_base");
    // target: struct flv { int a; long b; int c; }: a 0, b 8, c 16.
    let c = r.patched("struct flv.c", FieldByteOffset, 8, 16);
    assert_eq!(
        c.target,
        Some(TargetRef {
            module: vm(),
            type_id: tid("flavors_base", "flv", Kind::Struct)
        })
    );
    // struct flv___rev is "flv" too: its a (local 8) is the target's a at 0.
    r.patched("struct flv___rev.a", FieldByteOffset, 8, 0);
    r.patched("struct flv___rev.b", FieldExists, 1, 1);
}

#[test]
fn flavors_target_flavor_is_a_candidate() {
    let obj = local();
    let r = run(&obj, "core/flavors", "flavors_tflavor");
    // target: struct flv___v2 { int c; int a; }.
    let c = r.patched("struct flv.c", FieldByteOffset, 8, 0);
    assert_eq!(
        c.target.as_ref().unwrap().type_id,
        tid("flavors_tflavor", "flv___v2", Kind::Struct)
    );
    r.patched("struct flv___rev.a", FieldByteOffset, 8, 4);
    r.patched("struct flv___rev.b", FieldExists, 1, 0);
}

#[test]
fn flavors_disagreeing_candidates_are_ambiguous() {
    let obj = local();
    let r = run(&obj, "core/flavors_c", "flavors_dup");
    match r.err() {
        CoreError::Ambiguous {
            ctx,
            first,
            first_value,
            second,
            second_value,
            what,
        } => {
            assert_eq!(ctx.local, "struct flv.c");
            assert_eq!(ctx.kind, FieldByteOffset);
            assert_eq!(*what, Disagreement::BitOffset);
            // flv (declared first, lower id) has c at byte 8, flv___v2 at 0.
            assert_eq!((*first_value, *second_value), (64, 0));
            assert!(first.ends_with("struct flv"), "{first}");
            assert!(second.ends_with("struct flv___v2"), "{second}");
        }
        e => panic!("{e}"),
    }
    // Two compatible candidates with different ids: TYPE_ID_TARGET is ambiguous too.
    let r = run(&obj, "core/flavors_type", "flavors_dup");
    assert!(
        matches!(
            r.err(),
            CoreError::Ambiguous {
                what: Disagreement::Value,
                ..
            }
        ),
        "{}",
        r.err()
    );
    assert!(r.err().to_string().contains("ambiguous"));
}

#[test]
fn flavors_agreeing_candidates_are_fine() {
    let obj = local();
    let r = run(&obj, "core/flavors_c", "flavors_dup_same");
    let c = r.patched("struct flv.c", FieldByteOffset, 8, 8);
    // The first candidate in id order answers.
    assert_eq!(
        c.target.as_ref().unwrap().type_id,
        tid("flavors_dup_same", "flv", Kind::Struct)
    );
}

#[test]
fn flavors_candidates_are_pruned_across_programs() {
    let obj = local();
    let t = target("flavors_dup");
    let targets = Targets::vmlinux(&t);
    let mut cache = CandidateCache::new();
    // Only struct flv has b: the cached candidates of flv shrink to it ...
    let r = run_with(&obj, "core/flavors_b", &targets, &mut cache);
    r.patched("struct flv.b", FieldByteOffset, 4, 4);
    let flv_local = obj.btf.find_by_name_kind("flv", Kind::Struct).unwrap();
    assert_eq!(cache.candidates(flv_local).unwrap().len(), 1);
    // ... so c, ambiguous with a fresh cache, now resolves (libbpf behaves the same).
    let r = run_with(&obj, "core/flavors_c", &targets, &mut cache);
    r.patched("struct flv.c", FieldByteOffset, 8, 8);
}

#[test]
fn flavors_no_candidate_poisons() {
    let obj = local();
    let r = run(&obj, "core/flavors", "flavors_none");
    let why = r.poisoned("struct flv.c", FieldByteOffset);
    assert_eq!(why, "the target has no struct named flv");
    let why = r.poisoned("struct flv___rev.a", FieldByteOffset);
    assert_eq!(why, "the target has no struct named flv");
    r.patched("struct flv___rev.b", FieldExists, 1, 0);
    assert_eq!(r.one("struct flv.c", FieldByteOffset).target, None);
}

// ------------------------------------------------------------------------- nesting

#[test]
fn nesting_through_anonymous_members() {
    let obj = local();
    let r = run(&obj, "core/nesting", "nesting_base");
    // target: pad 0; union at 8 { c 8; struct { b 8; a 12 } }; outer 16 { z 16; in 24 { q 24; deep 32 } }.
    r.patched("struct nest.a", FieldByteOffset, 4, 12);
    r.patched("struct nest.b", FieldByteOffset, 8, 8);
    r.patched("struct nest.c", FieldByteOffset, 8, 8);
    r.patched("struct nest.outer.in.deep", FieldByteOffset, 12, 32);
    r.patched("struct nest.c", FieldExists, 1, 1);
}

#[test]
fn nesting_missing_field_poisons() {
    let obj = local();
    let r = run(&obj, "core/nesting", "nesting_missing");
    r.patched("struct nest.a", FieldByteOffset, 4, 4);
    let why = r.poisoned("struct nest.b", FieldByteOffset);
    assert!(
        why.starts_with("no field b in struct nest of the target"),
        "{why}"
    );
    r.poisoned("struct nest.c", FieldByteOffset);
    r.patched("struct nest.outer.in.deep", FieldByteOffset, 12, 8);
    r.patched("struct nest.c", FieldExists, 1, 0);
}

#[test]
fn nesting_too_shallow_target_poisons_the_deep_access() {
    let obj = local();
    let r = run(&obj, "core/nesting", "nesting_shallow");
    // target: struct nest { int x; int a; int b; int c; int outer; }.
    r.patched("struct nest.a", FieldByteOffset, 4, 4);
    r.patched("struct nest.b", FieldByteOffset, 8, 8);
    r.patched("struct nest.c", FieldByteOffset, 8, 12);
    let why = r.poisoned("struct nest.outer.in.deep", FieldByteOffset);
    assert!(
        why.contains("field outer of struct nest has an incompatible type"),
        "{why}"
    );
    r.patched("struct nest.c", FieldExists, 1, 1);
}

#[test]
fn nesting_incompatible_field_poisons() {
    let obj = local();
    let r = run(&obj, "core/nesting", "nesting_incompat");
    // target: x 0; struct { int *a 8; union { b, c 16 } }; outer.in.deep 24.
    let why = r.poisoned("struct nest.a", FieldByteOffset);
    assert!(
        why.contains("field a of struct <anon>")
            && why.contains("int int locally, ptr <anon> in the target"),
        "{why}"
    );
    r.patched("struct nest.b", FieldByteOffset, 8, 16);
    r.patched("struct nest.c", FieldByteOffset, 8, 16);
    r.patched("struct nest.outer.in.deep", FieldByteOffset, 12, 24);
}

// ------------------------------------------------------------------------- arrays

#[test]
fn arrays_dimensions_and_element_sizes_change() {
    let obj = local();
    let r = run(&obj, "core/arrays", "arrays_base");
    // target: pad 0 (long); a int[6] at 8; b u16[3][4] at 32; c arr_elem{long x; int b; int a}[4] at 56.
    r.patched("struct arrs.a[2]", FieldByteOffset, 12, 8 + 2 * 4);
    // b[1][2]: 32 + 1 * (4 * 2) + 2 * 2 = 44 (an address computed by ALU: no size).
    let b = r.patched("struct arrs.b[1][2]", FieldByteOffset, 29, 44);
    assert_eq!(b.mem_size, None);
    assert_eq!(r.before[b.insn].class(), class::ALU64);
    // c[2].b: 56 + 2 * 16 + 8 = 96.
    let c = r.patched("struct arrs.c[2].b", FieldByteOffset, 52, 96);
    assert_eq!(c.mem_size, None);

    let r = run(&obj, "core/arrays_info", "arrays_base");
    r.patched("struct arrs.c[1]", FieldByteSize, 8, 16);
    let b1 = r.patched("struct arrs.b[1]", FieldByteOffset, 27, 32 + 8);
    assert_eq!(b1.mem_size, None, "an ALU instruction has no access size");
    r.patched("struct arrs.a", FieldByteSize, 20, 24);
    r.patched("struct arrs.d[3]", FieldExists, 1, 1);

    let r = run(&obj, "core/arrays_flex", "arrays_base");
    // A flexible array (last member, no elements) takes any index: 8 + 3 * 4.
    r.patched("struct arrs_flex.d[3]", FieldByteOffset, 16, 20);
}

#[test]
fn arrays_index_out_of_bounds() {
    let obj = local();
    let r = run(&obj, "core/arrays", "arrays_small");
    let why = r.poisoned("struct arrs.a[2]", FieldByteOffset);
    assert!(
        why.starts_with("index 2 is out of bounds of the target's array of 2 elements"),
        "{why}"
    );
    // target: pad 0, a[2] 4, b u8[2][3] 12, c 20, d[3] 44.
    r.patched("struct arrs.b[1][2]", FieldByteOffset, 29, 12 + 3 + 2);
    r.patched("struct arrs.c[2].b", FieldByteOffset, 52, 20 + 16 + 4);

    let r = run(&obj, "core/arrays_info", "arrays_small");
    r.patched("struct arrs.c[1]", FieldByteSize, 8, 8);
    r.patched("struct arrs.b[1]", FieldByteOffset, 27, 15);
    r.patched("struct arrs.a", FieldByteSize, 20, 8);
    r.patched("struct arrs.d[3]", FieldExists, 1, 0);

    // A zero-length array that isn't the last member is not flexible.
    let r = run(&obj, "core/arrays_flex", "arrays_small");
    let why = r.poisoned("struct arrs_flex.d[3]", FieldByteOffset);
    assert!(why.contains("array of 0 elements"), "{why}");
}

#[test]
fn arrays_wrong_kinds_poison() {
    let obj = local();
    let r = run(&obj, "core/arrays", "arrays_wrong");
    let why = r.poisoned("struct arrs.a[2]", FieldByteOffset);
    assert!(why.contains("has an incompatible type"), "{why}");
    let why = r.poisoned("struct arrs.b[1][2]", FieldByteOffset);
    assert!(
        why.contains("field b of struct arrs has an incompatible type"),
        "{why}"
    );
    r.poisoned("struct arrs.c[2].b", FieldByteOffset);

    let r = run(&obj, "core/arrays_info", "arrays_wrong");
    r.poisoned("struct arrs.c[1]", FieldByteSize);
    r.poisoned("struct arrs.b[1]", FieldByteOffset);
    r.poisoned("struct arrs.a", FieldByteSize);
    r.patched("struct arrs.d[3]", FieldExists, 1, 1);

    let r = run(&obj, "core/arrays_flex", "arrays_wrong");
    r.patched("struct arrs_flex.d[3]", FieldByteOffset, 16, 16);
}

#[test]
fn arrays_signedness_of_an_element_is_an_error() {
    let obj = local();
    let r = run(&obj, "core/arrays_signed_elem", "arrays_base");
    match r.err() {
        CoreError::ArrayAccess { ctx } => {
            assert_eq!(ctx.local, "struct arrs.a[2]");
            assert_eq!(ctx.kind, FieldSigned);
        }
        e => panic!("{e}"),
    }
}

// ------------------------------------------------------------------------- primitives

#[test]
fn primitives_move_and_stay_compatible() {
    let obj = local();
    let r = run(&obj, "core/primitives", "primitives_base");
    // target: void *d 0; int b 8; anonymous enum c 12; char a 16; fn ptr f 24.
    r.patched("struct prims.a", FieldByteOffset, 0, 16);
    r.patched("struct prims.b", FieldByteOffset, 4, 8);
    r.patched("struct prims.c", FieldByteOffset, 8, 12);
    r.patched("struct prims.d", FieldByteOffset, 16, 0);
    r.patched("struct prims.f", FieldByteOffset, 24, 24);
}

#[test]
fn primitives_enum_int_pointer_mismatches_poison() {
    let obj = local();
    let r = run(&obj, "core/primitives", "primitives_err1");
    r.patched("struct prims.a", FieldByteOffset, 0, 0);
    r.patched("struct prims.b", FieldByteOffset, 4, 4);
    let why = r.poisoned("struct prims.c", FieldByteOffset);
    assert!(
        why.contains("enum prim_e locally, int int in the target"),
        "{why}"
    );
    let why = r.poisoned("struct prims.d", FieldByteOffset);
    assert!(
        why.contains("ptr <anon> locally, int long in the target"),
        "{why}"
    );
    r.patched("struct prims.f", FieldByteOffset, 24, 24);

    let r = run(&obj, "core/primitives", "primitives_err2");
    let why = r.poisoned("struct prims.c", FieldByteOffset);
    assert!(
        why.contains("enum prim_e locally, enum other_e in the target"),
        "{why}"
    );
    r.patched("struct prims.d", FieldByteOffset, 16, 16);
    r.poisoned("struct prims.f", FieldByteOffset);
}

// ------------------------------------------------------------------------- modifiers

#[test]
fn mods_and_typedef_chains_are_skipped() {
    let obj = local();
    let r = run(&obj, "core/mods", "mods_base");
    // The root is the typedef: its candidates are typedefs named mods_t.
    // target: char *d 0; cvint_t arr[4] 8; c 24; b 28; a 32.
    let a = r.patched("typedef mods_t.a", FieldByteOffset, 0, 32);
    assert_eq!(
        a.target.as_ref().unwrap().type_id,
        tid("mods_base", "mods_t", Kind::Typedef)
    );
    r.patched("typedef mods_t.b", FieldByteOffset, 4, 28);
    r.patched("typedef mods_t.c", FieldByteOffset, 8, 24);
    r.patched("typedef mods_t.d", FieldByteOffset, 16, 0);
    r.patched("typedef mods_t.arr[1]", FieldByteOffset, 28, 12);
    r.patched("struct mods.c", FieldByteOffset, 8, 24);
}

#[test]
fn mods_typedef_root_needs_a_target_typedef() {
    let obj = local();
    let r = run(&obj, "core/mods", "mods_no_typedef");
    let why = r.poisoned("typedef mods_t.a", FieldByteOffset);
    assert_eq!(why, "the target has no typedef named mods_t");
    r.patched("struct mods.c", FieldByteOffset, 8, 24);
}

// ------------------------------------------------------------------------- pointer as array

#[test]
fn ptr_as_array_scales_by_the_target_size() {
    let obj = local();
    let r = run(&obj, "core/ptr_as_array", "ptr_as_array_base");
    // target: struct pa { long x; int a; int b; }: sizeof 16, a 8, b 12.
    r.patched("struct pa.b", FieldByteOffset, 4, 12);
    r.patched("struct pa[2].b", FieldByteOffset, 20, 2 * 16 + 12);
    r.patched("struct pa[1].a", FieldByteOffset, 8, 16 + 8);

    let r = run(&obj, "core/ptr_as_array", "ptr_as_array_err");
    r.poisoned("struct pa.b", FieldByteOffset);
    r.poisoned("struct pa[2].b", FieldByteOffset);
    r.patched("struct pa[1].a", FieldByteOffset, 8, 4);
}

// ------------------------------------------------------------------------- ints

#[test]
fn ints_sizes_and_signedness() {
    for file in ["local.bpf.o", "local_v4.bpf.o"] {
        let obj = load_obj(file);
        let r = run(&obj, "core/ints", "ints_base");
        // u8 -> u32 at 8: unsigned, so the load widens to 4 bytes.
        let u8f = r.patched("struct ints.u8f", FieldByteOffset, 0, 8);
        assert_eq!(u8f.mem_size, Some((1, 4)));
        assert_eq!(mem_size(r.after[u8f.insn]), 4);
        // s8 -> s32: a resized load would lose the sign: poisoned, as libbpf does.
        let why = r.poisoned("struct ints.s8f", FieldByteOffset);
        assert!(why.contains("changed size from 1 to 4 bytes"), "{why}");
        r.patched("struct ints.u16f", FieldByteOffset, 2, 14);
        let s16 = r.patched("struct ints.s16f", FieldByteOffset, 4, 20);
        assert_eq!(
            r.after[s16.insn].code, r.before[s16.insn].code,
            "{file}: same size, same load"
        );
        // u32 -> u8 at 12: narrows to a byte load.
        let u32f = r.patched("struct ints.u32f", FieldByteOffset, 8, 12);
        assert_eq!(mem_size(r.after[u32f.insn]), 1);
        // The mode (plain or sign-extending load) and class are kept.
        assert_eq!(
            r.after[u32f.insn].code & 0xe7,
            r.before[u32f.insn].code & 0xe7
        );
        r.patched("struct ints.s32f", FieldByteOffset, 12, 24);
        r.patched("struct ints.u64f", FieldByteOffset, 16, 0);
        r.patched("struct ints.s64f", FieldByteOffset, 24, 32);
        r.patched("struct ints.u32f", FieldByteSize, 4, 1);
        r.patched("struct ints.s32f", FieldSigned, 1, 0);
        r.patched("struct ints.u32f", FieldSigned, 0, 0);

        // Stores are resized like loads (STX at v3; ST with an immediate at v4).
        let r = run(&obj, "core/ints_store", "ints_base");
        let u8f = r.patched("struct ints.u8f", FieldByteOffset, 0, 8);
        assert_eq!(
            (mem_size(r.before[u8f.insn]), mem_size(r.after[u8f.insn])),
            (1, 4)
        );
        let u32f = r.patched("struct ints.u32f", FieldByteOffset, 8, 12);
        assert_eq!(
            (mem_size(r.before[u32f.insn]), mem_size(r.after[u32f.insn])),
            (4, 1)
        );
    }
    // v4 really exercised ST and sign-extending loads.
    let obj = load_obj("local_v4.bpf.o");
    let st = &obj.progs["core/ints_store"];
    assert!(st
        .relos
        .iter()
        .any(|r| st.insns[r.insn_off as usize].class() == class::ST));
    let ld = &obj.progs["core/ints"];
    assert!(ld
        .relos
        .iter()
        .any(|r| ld.insns[r.insn_off as usize].code & 0xe0 == 0x80));
}

#[test]
fn ints_field_wider_than_any_load_is_an_error() {
    let obj = local();
    let r = run(&obj, "core/ints", "ints_i128");
    match r.err() {
        CoreError::MemSize { ctx, reason } => {
            assert_eq!(ctx.local, "struct ints.u32f");
            assert!(reason.contains("16 bytes"), "{reason}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn ints_offset_beyond_s16_is_an_error() {
    let obj = local();
    let r = run(&obj, "core/ints", "ints_far");
    match r.err() {
        CoreError::ValueTooBig { ctx, value, .. } => {
            assert_eq!(ctx.local, "struct ints.u8f");
            assert_eq!(*value, 40000);
        }
        e => panic!("{e}"),
    }
}

#[test]
fn ints_unexpected_instruction_contents_are_errors() {
    let obj = local();
    let t = target("ints_base");
    let targets = Targets::vmlinux(&t);
    let p = &obj.progs["core/ints"];
    let idx = |field: u32| {
        p.relos
            .iter()
            .find(|r| {
                r.kind == 0 && obj.btf.str_at(r.access_str_off).unwrap() == format!("0:{field}")
            })
            .unwrap()
            .insn_off as usize
    };

    // The offset clang wrote is not the local layout's (libbpf: "unexpected insn value").
    let mut insns = p.insns.clone();
    insns[idx(2)].off = 3;
    let e = relocate(
        &obj.btf,
        &targets,
        &mut insns,
        &p.relos,
        &mut CandidateCache::new(),
    )
    .unwrap_err();
    match e {
        CoreError::UnexpectedValue {
            ctx,
            class,
            got,
            expected,
            new,
        } => {
            assert_eq!(
                (ctx.local.as_str(), class, got, expected, new),
                ("struct ints.u16f", "LDX/ST/STX", 3, 2, 14)
            );
        }
        e => panic!("{e}"),
    }

    // The load's size doesn't match the local field's (1 byte) while the size must change.
    let mut insns = p.insns.clone();
    insns[idx(0)].code = (insns[idx(0)].code & !0x18) | op::SIZE_H;
    let e = relocate(
        &obj.btf,
        &targets,
        &mut insns,
        &p.relos,
        &mut CandidateCache::new(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CoreError::MemSize { ctx, .. } if ctx.local == "struct ints.u8f"),
        "{e}"
    );

    // An ALU immediate that disagrees with the local value.
    let size_relo = p.relos.iter().find(|r| r.kind == 1).unwrap();
    let mut insns = p.insns.clone();
    insns[size_relo.insn_off as usize].imm = 5;
    let e = relocate(
        &obj.btf,
        &targets,
        &mut insns,
        &p.relos,
        &mut CandidateCache::new(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            CoreError::UnexpectedValue {
                class: "ALU/ALU64",
                got: 5,
                expected: 4,
                new: 1,
                ..
            }
        ),
        "{e}"
    );
}

// ------------------------------------------------------------------------- existence

#[test]
fn existence_of_fields() {
    let obj = local();
    let r = run(&obj, "core/existence", "existence_base");
    r.patched("struct ex.a", FieldExists, 1, 1); // int -> long: ints are compatible
    r.patched("struct ex.b", FieldExists, 1, 1);
    r.patched("struct ex.b[3]", FieldExists, 1, 0); // b has 2 elements now
    r.patched("struct ex.s", FieldExists, 1, 1);
    r.patched("struct ex.s.x", FieldExists, 1, 1);
    r.patched("struct ex.d", FieldExists, 1, 1);
    let gone = r.patched("struct ex.gone", FieldExists, 1, 0);
    assert_eq!(gone.target, None);
    r.patched("struct ex.e[1]", FieldExists, 1, 0); // char[2] -> char *

    let r = run(&obj, "core/existence", "existence_none");
    for f in ["a", "b", "b[3]", "s", "s.x", "d", "gone", "e[1]"] {
        r.patched(&format!("struct ex.{f}"), FieldExists, 1, 0);
    }
}

// ------------------------------------------------------------------------- bitfields

/// What a BPF_CORE_READ_BITFIELD reads with relocated values from `mem`.
fn read_bitfield(mem: &[u8], off: u64, size: u64, lshift: u64, rshift: u64, signed: bool) -> u64 {
    let mut b = [0u8; 8];
    b[..size as usize].copy_from_slice(&mem[off as usize..(off + size) as usize]);
    let v = u64::from_le_bytes(b) << lshift;
    if signed {
        ((v as i64) >> rshift) as u64
    } else {
        v >> rshift
    }
}

/// Writes `value` into bits `bit..bit + bits` of `mem` (little-endian bit order).
fn write_bits(mem: &mut [u8], bit: u64, bits: u64, value: u64) {
    for i in 0..bits {
        let pos = bit + i;
        let on = (value >> i) & 1 == 1;
        let byte = &mut mem[(pos / 8) as usize];
        if on {
            *byte |= 1 << (pos % 8);
        } else {
            *byte &= !(1 << (pos % 8));
        }
    }
}

/// (field, local (off, size, lshift, rshift, signed), target (...), target bit offset, bits)
type BitfieldCase = (
    &'static str,
    (u64, u64, u64, u64, u64),
    (u64, u64, u64, u64, u64),
    u64,
    u64,
);

/// Local layout of struct bfs (see local.bpf.c): recipe for each field.
const BF_LOCAL: [(u64, u64, u64, u64, u64); 7] = [
    (0, 4, 63, 63, 0),  // ub1: bit 0 of a u32
    (0, 4, 61, 62, 0),  // ub2: bits 1..3
    (0, 4, 54, 57, 0),  // ub7: bits 3..10
    (0, 4, 50, 60, 1),  // sb4: bits 10..14
    (4, 4, 44, 44, 1),  // sb20: bits 32..52, the int at 4
    (8, 4, 32, 32, 0),  // u32: plain at 8
    (12, 4, 32, 32, 1), // s32: plain at 12
];

fn check_bitfields(target_name: &str, cases: [BitfieldCase; 7]) {
    let obj = local();
    let r = run(&obj, "core/bitfields", target_name);
    for (i, (f, l, t, tbit, tbits)) in cases.into_iter().enumerate() {
        assert_eq!(l, BF_LOCAL[i]);
        let d = format!("struct bfs.{f}");
        r.patched(&d, FieldByteOffset, l.0, t.0);
        r.patched(&d, FieldByteSize, l.1, t.1);
        r.patched(&d, FieldLShiftU64, l.2, t.2);
        // BPF_CORE_READ_BITFIELD has two right shifts (signed and unsigned paths).
        assert_eq!(r.all(&d, FieldRShiftU64).len(), 2);
        r.patched(&d, FieldRShiftU64, l.3, t.3);
        r.patched(&d, FieldSigned, l.4, t.4);

        // Independent check: the relocated recipe reads back what a target struct holds.
        let signed = t.4 == 1;
        for value in [1u64, 0x5a5a_5a5a_5a5a, u64::MAX] {
            let mask = if tbits == 64 {
                u64::MAX
            } else {
                (1u64 << tbits) - 1
            };
            let v = value & mask;
            let mut mem = [0xa5u8; 24];
            write_bits(&mut mem, tbit, tbits, v);
            let expect = if signed && (v >> (tbits - 1)) & 1 == 1 {
                v | !mask
            } else {
                v
            };
            assert_eq!(
                read_bitfield(&mem, t.0, t.1, t.2, t.3, signed),
                expect,
                "{target_name}: {f} = {v:#x}"
            );
        }
    }
}

#[test]
fn bitfields_change_width_and_kind() {
    let l = BF_LOCAL;
    check_bitfields(
        "bitfields_base",
        [
            // ub1: target bit 5 of a u64 unit.
            ("ub1", l[0], (0, 8, 64 - 6, 63, 0), 5, 1),
            // ub2: target bits 6..14 (8 wide).
            ("ub2", l[1], (0, 8, 64 - 14, 56, 0), 6, 8),
            // ub7: target a plain byte at offset 2.
            ("ub7", l[2], (2, 1, 56, 56, 0), 16, 8),
            // sb4: target bits 32..44 of an int at 4.
            ("sb4", l[3], (4, 4, 64 - 12, 52, 1), 32, 12),
            // sb20: target 40 bits of a long long at 8.
            ("sb20", l[4], (8, 8, 24, 24, 1), 64, 40),
            // u32: target a 20-bit field at bit 104: u32 unit at 12, bits 8..28 of it.
            ("u32", l[5], (12, 4, 64 - 28, 44, 0), 104, 20),
            // s32: plain int, 12 -> 16.
            ("s32", l[6], (16, 4, 32, 32, 1), 128, 32),
        ],
    );
}

#[test]
fn bitfields_straddling_their_unit_widen_the_load() {
    let l = BF_LOCAL;
    check_bitfields(
        "bitfields_widen",
        [
            // ub1: bit 12 of a u8: the byte at 1 (bits 4..5 of it).
            ("ub1", l[0], (1, 1, 64 - 5, 63, 0), 12, 1),
            // ub2: bits 6..12 of a u8 unit: no byte holds it, a u16 at 0 does.
            ("ub2", l[1], (0, 2, 64 - 12, 58, 0), 6, 6),
            // ub7: bits 13..20 of a u16 unit: widened to a u32 at 0.
            ("ub7", l[2], (0, 4, 64 - 20, 57, 0), 13, 7),
            // sb4: bits 20..24 of the int at 0.
            ("sb4", l[3], (0, 4, 64 - 24, 60, 1), 20, 4),
            // sb20: bits 24..44: widened from int to a u64 at 0.
            ("sb20", l[4], (0, 8, 64 - 44, 44, 1), 24, 20),
            // u32: packed, plain at byte 6.
            ("u32", l[5], (6, 4, 32, 32, 0), 48, 32),
            // s32: plain at byte 10.
            ("s32", l[6], (10, 4, 32, 32, 1), 80, 32),
        ],
    );
}

#[test]
fn bitfields_too_big_for_one_load_is_an_error() {
    let obj = local();
    let r = run(&obj, "core/bitfields", "bitfields_too_big");
    match r.err() {
        CoreError::BitfieldTooBig {
            ctx,
            side,
            bit_offset,
            bit_size,
        } => {
            assert_eq!(ctx.local, "struct bfs.ub2");
            assert_eq!((*side, *bit_offset, *bit_size), ("target", 60, 10));
        }
        e => panic!("{e}"),
    }
}

// ------------------------------------------------------------------------- misc

#[test]
fn anonymous_local_type_is_an_error() {
    let obj = local();
    let r = run(&obj, "core/anon", "flavors_base");
    assert!(
        matches!(r.err(), CoreError::AnonymousType { ctx } if ctx.local == "struct <anon>.y"),
        "{}",
        r.err()
    );
}

#[test]
fn every_fixture_relocates_without_panicking_against_every_target() {
    let obj = local();
    let names: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            Some(n.strip_prefix("target_")?.strip_suffix(".btf")?.to_string())
        })
        .collect();
    assert!(names.len() >= 30, "{names:?}");
    for t in &names {
        let tb = target(t);
        let targets = Targets::vmlinux(&tb);
        let mut cache = CandidateCache::new();
        for sec in obj.progs.keys() {
            // Errors are fine here; panics are not.
            let _ = run_with(&obj, sec, &targets, &mut cache);
        }
    }
}

#[test]
fn bucketed_search_agrees_with_the_scan() {
    // A cache's second search in a target uses buckets instead of a scan: both must
    // find the same candidates, so every section against every target relocates alike.
    let obj = local();
    for t in [
        "flavors_base",
        "flavors_tflavor",
        "flavors_dup",
        "nesting_base",
        "arrays_base",
        "primitives_base",
        "mods_base",
        "ints_base",
        "existence_base",
        "bitfields_base",
        "sizes_base",
        "type_based_match",
        "type_based_differ",
        "enumval_base",
        "enumval_kind",
    ] {
        let tb = target(t);
        let targets = Targets::vmlinux(&tb);
        for sec in obj.progs.keys() {
            let scan = run_with(&obj, sec, &targets, &mut CandidateCache::new());
            let mut cache = CandidateCache::new();
            cache.bind(&targets);
            cache.index[0] = TargetIndex::Scanned;
            let bucketed = run_with(&obj, sec, &targets, &mut cache);
            assert!(
                matches!(cache.index[0], TargetIndex::Bucketed(_))
                    || obj.progs[sec].relos.iter().all(|r| r.kind == 6)
            );
            assert_eq!(scan.after, bucketed.after, "{sec} on {t}");
            match (&scan.res, &bucketed.res) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{sec} on {t}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{sec} on {t}"),
                (a, b) => panic!("{sec} on {t}: {a:?} vs {b:?}"),
            }
        }
    }
}

#[test]
fn results_and_errors_name_the_access() {
    let obj = local();
    let r = run(&obj, "core/flavors", "flavors_base");
    let c = r.one("struct flv.c", FieldByteOffset);
    assert_eq!(c.insn, 0);
    let e = run(&obj, "core/flavors_c", "flavors_dup");
    let msg = e.err().to_string();
    assert!(
        msg.starts_with("CO-RE relocation <byte_off> of struct flv.c at insn #0: ambiguous"),
        "{msg}"
    );
}
