//! Tests on hand-built BTF: malformed records, instructions CO-RE can't patch, module
//! targets, limits (nesting depth, loops), and a no-panic sweep over random records.

use super::tests::{is_poison, load_obj, target};
use super::*;
use crate::btf::testutil::Builder;
use crate::insn::{class, op};

const K_STRUCT: u32 = 4;
const K_PTR: u32 = 2;
const K_TYPEDEF: u32 = 8;
const K_FWD: u32 = 7;
const K_ENUM64: u32 = 19;

fn ldx_w(off: i16) -> Insn {
    Insn::new(class::LDX | op::MODE_MEM | op::SIZE_W, 0, 1, off, 0)
}

fn mov(imm: i32) -> Insn {
    Insn::new(op::MOV64_IMM, 0, 0, 0, imm)
}

fn relo(insn: u32, type_id: u32, access_str_off: u32, kind: CoreReloKind) -> CoreRelo {
    CoreRelo {
        insn_off: insn,
        type_id,
        access_str_off,
        kind: kind as u32,
    }
}

/// Local BTF: [1] int, [2] struct pt { int x; int y; }, [3] anonymous struct { int z; },
/// [4] enum64 e64 { BIG = 1 }; plus access strings. Returns the BTF and string offsets.
fn local_btf(extra_strings: &[&str]) -> (Btf, Vec<u32>) {
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
    let x = b.s("x");
    let y = b.s("y");
    b.raw("pt", K_STRUCT, 2, false, 8, &[x, 1, 0, y, 1, 32]); // 2
    let z = b.s("z");
    b.raw("", K_STRUCT, 1, false, 4, &[z, 1, 0]); // 3
    let big = b.s("BIG");
    b.raw("e64", K_ENUM64, 1, false, 8, &[big, 1, 0]); // 4
    let offs = extra_strings.iter().map(|s| b.s(s)).collect();
    (Btf::parse(b.build()).unwrap(), offs)
}

/// Target BTF: [1] int, [2] struct pt { int pad; int y; int x; }, [3] enum64 e64 { BIG = 2^32 }.
fn target_btf() -> Btf {
    let mut b = Builder::new();
    b.int("int", 4, 32, true);
    let pad = b.s("pad");
    let y = b.s("y");
    let x = b.s("x");
    b.raw(
        "pt",
        K_STRUCT,
        3,
        false,
        12,
        &[pad, 1, 0, y, 1, 32, x, 1, 64],
    );
    let big = b.s("BIG");
    b.raw("e64", K_ENUM64, 1, false, 8, &[big, 0, 1]);
    Btf::parse(b.build()).unwrap()
}

fn reloc1(local: &Btf, t: &Btf, insns: &mut [Insn], r: CoreRelo) -> Result<RelocResult, CoreError> {
    relocate(
        local,
        &Targets::vmlinux(t),
        insns,
        &[r],
        &mut CandidateCache::new(),
    )
    .map(|mut v| v.remove(0))
}

#[test]
fn kinds_round_trip() {
    for v in 0..13 {
        let k = CoreReloKind::from_u32(v).unwrap();
        assert_eq!(k as u32, v);
        assert!(!k.name().is_empty());
    }
    assert_eq!(CoreReloKind::from_u32(13), None);
    assert_eq!(CoreReloKind::FieldByteOffset.to_string(), "byte_off");
}

#[test]
fn synthetic_baseline_relocates() {
    let (l, s) = local_btf(&["0:0"]);
    let t = target_btf();
    let mut insns = [ldx_w(0), mov(0)];
    let r = reloc1(
        &l,
        &t,
        &mut insns,
        relo(0, 2, s[0], CoreReloKind::FieldByteOffset),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 0, new: 8 });
    assert_eq!(r.local, "struct pt.x");
    assert_eq!(insns[0].off, 8);
}

#[test]
fn candidates_are_known_even_when_none_matches() {
    // Local pt.x against a target whose `pt` has only `w` (a candidate that doesn't
    // match), then against a target without any `pt`.
    let (l, s) = local_btf(&["0:0"]);
    let target = |with_pt: bool| {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        if with_pt {
            let w = b.s("w");
            b.raw("pt", K_STRUCT, 1, false, 4, &[w, 1, 0]);
        }
        Btf::parse(b.build()).unwrap()
    };
    for with_pt in [true, false] {
        let t = target(with_pt);
        let mut cache = CandidateCache::new();
        let mut insns = [ldx_w(0), mov(1)];
        let r = relocate(
            &l,
            &Targets::vmlinux(&t),
            &mut insns,
            &[relo(1, 2, s[0], CoreReloKind::FieldExists)],
            &mut cache,
        )
        .unwrap();
        assert!(r[0].target.is_none(), "pt.x matches nothing");
        assert_eq!(cache.has_candidates(2), with_pt);
        assert!(!cache.has_candidates(4), "never searched");
    }
}

#[test]
fn malformed_access_strings_are_errors() {
    let bad = [
        "",
        ":0",
        "0:",
        "0::1",
        "a",
        "-1",
        "0:-1",
        "0 1",
        "+1",
        "0:99",
        "0:0:0",
        "2147483648",
        "1:0x",
    ];
    let (l, s) = local_btf(&bad);
    let t = target_btf();
    for (i, a) in bad.iter().enumerate() {
        let mut insns = [ldx_w(0)];
        let e = reloc1(
            &l,
            &t,
            &mut insns,
            relo(0, 2, s[i], CoreReloKind::FieldByteOffset),
        )
        .unwrap_err();
        assert!(matches!(e, CoreError::BadAccess { .. }), "{a:?}: {e}");
        assert_eq!(insns[0], ldx_w(0), "{a:?}: untouched");
    }
    // More than 64 steps.
    let long = vec!["0"; 65].join(":");
    let (l, s) = local_btf(&[&long]);
    let e = reloc1(
        &l,
        &t,
        &mut [ldx_w(0)],
        relo(0, 2, s[0], CoreReloKind::FieldByteOffset),
    )
    .unwrap_err();
    assert!(
        matches!(&e, CoreError::BadAccess { reason, .. } if reason.contains("more than 64")),
        "{e}"
    );
    // Type-based kinds take "0" only; enumerator kinds one index within the enum.
    let (l, s) = local_btf(&["1", "0:0", "5"]);
    let e = reloc1(
        &l,
        &t,
        &mut [mov(0)],
        relo(0, 2, s[0], CoreReloKind::TypeSize),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::BadAccess { .. }), "{e}");
    let e = reloc1(
        &l,
        &t,
        &mut [mov(0)],
        relo(0, 4, s[1], CoreReloKind::EnumvalValue),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::BadAccess { .. }), "{e}");
    let e = reloc1(
        &l,
        &t,
        &mut [mov(0)],
        relo(0, 4, s[2], CoreReloKind::EnumvalValue),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::BadAccess { .. }), "{e}");
    // An enumerator relocation on a struct.
    let (l, s) = local_btf(&["0"]);
    let e = reloc1(
        &l,
        &t,
        &mut [mov(0)],
        relo(0, 2, s[0], CoreReloKind::EnumvalExists),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::BadAccess { .. }), "{e}");
    // A string offset outside the string table.
    let e = reloc1(
        &l,
        &t,
        &mut [mov(0)],
        relo(0, 2, 1 << 30, CoreReloKind::FieldExists),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::BadAccess { .. }), "{e}");
}

#[test]
fn bad_record_fields_are_errors() {
    let (l, s) = local_btf(&["0:0"]);
    let t = target_btf();
    let e = reloc1(
        &l,
        &t,
        &mut [ldx_w(0)],
        relo(0, 99, s[0], CoreReloKind::FieldByteOffset),
    )
    .unwrap_err();
    assert!(
        matches!(e, CoreError::LocalTypeOutOfRange { type_id: 99, .. }),
        "{e}"
    );
    let mut r = relo(0, 2, s[0], CoreReloKind::FieldByteOffset);
    r.kind = 13;
    let e = reloc1(&l, &t, &mut [ldx_w(0)], r).unwrap_err();
    assert!(matches!(e, CoreError::UnknownKind { kind: 13, .. }), "{e}");
    let e = reloc1(
        &l,
        &t,
        &mut [ldx_w(0)],
        relo(1, 2, s[0], CoreReloKind::FieldByteOffset),
    )
    .unwrap_err();
    match e {
        CoreError::InsnOutOfRange { ctx, len } => {
            assert_eq!((ctx.insn, len, ctx.local.as_str()), (1, 1, "struct pt"));
        }
        e => panic!("{e}"),
    }
    // Relocations of anonymous types need a name to find candidates ...
    let (l, s) = local_btf(&["0:0", "0"]);
    let e = reloc1(
        &l,
        &t,
        &mut [ldx_w(0)],
        relo(0, 3, s[0], CoreReloKind::FieldByteOffset),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::AnonymousType { .. }), "{e}");
    // ... except TYPE_ID_LOCAL, which never looks at the target.
    let mut insns = [Insn::new(op::LD_IMM64, 1, 0, 0, 3), Insn::default()];
    let r = reloc1(
        &l,
        &t,
        &mut insns,
        relo(0, 3, s[1], CoreReloKind::TypeIdLocal),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 3, new: 3 });
}

#[test]
fn instructions_that_cannot_be_patched() {
    let (l, s) = local_btf(&["0:0", "0"]);
    let t = target_btf();
    let byte_off = relo(0, 2, s[0], CoreReloKind::FieldByteOffset);
    let not_patchable = |insns: &mut [Insn], r: CoreRelo| {
        let e = reloc1(&l, &t, insns, r).unwrap_err();
        assert!(matches!(e, CoreError::NotPatchable { .. }), "{e}");
    };
    // exit, a jump, a call.
    not_patchable(&mut [Insn::new(op::EXIT, 0, 0, 0, 0)], byte_off);
    not_patchable(&mut [Insn::new(class::JMP | 0x10, 1, 0, 3, 0)], byte_off);
    // ALU with a register source.
    not_patchable(&mut [Insn::new(class::ALU64 | 0x08, 1, 2, 0, 0)], byte_off);
    // ld_imm64 without its second slot, or with a pseudo source, or a broken second slot.
    not_patchable(&mut [Insn::new(op::LD_IMM64, 1, 0, 0, 0)], byte_off);
    not_patchable(
        &mut [Insn::new(op::LD_IMM64, 1, 1, 0, 0), Insn::default()],
        byte_off,
    );
    not_patchable(
        &mut [
            Insn::new(op::LD_IMM64, 1, 0, 0, 0),
            Insn::new(0, 1, 0, 0, 0),
        ],
        byte_off,
    );
    // Poisoning an ld_imm64 needs the second slot too.
    let e64_value = relo(0, 4, s[1], CoreReloKind::EnumvalValue);
    let empty = Btf::parse(Builder::new().build()).unwrap();
    let mut one = [Insn::new(op::LD_IMM64, 1, 0, 0, 1)];
    let e = reloc1(&l, &empty, &mut one, e64_value).unwrap_err();
    assert!(matches!(e, CoreError::NotPatchable { .. }), "{e}");
    // A well-formed ld_imm64 is poisoned in both slots.
    let mut two = [Insn::new(op::LD_IMM64, 1, 0, 0, 1), Insn::default()];
    let r = reloc1(&l, &empty, &mut two, e64_value).unwrap();
    assert!(matches!(r.outcome, Outcome::Poisoned { .. }));
    assert!(is_poison(two[0]) && is_poison(two[1]));
}

#[test]
fn alu_immediate_that_does_not_fit_is_an_error() {
    // ENUMVAL_VALUE into a 32-bit mov: the target's 2^32 doesn't fit (libbpf would truncate).
    let (l, s) = local_btf(&["0"]);
    let t = target_btf();
    let e = reloc1(
        &l,
        &t,
        &mut [mov(1)],
        relo(0, 4, s[0], CoreReloKind::EnumvalValue),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            CoreError::ValueTooBig {
                value: 0x1_0000_0000,
                ..
            }
        ),
        "{e}"
    );
    // The same into an ld_imm64 is fine.
    let mut insns = [Insn::new(op::LD_IMM64, 1, 0, 0, 1), Insn::default()];
    let r = reloc1(
        &l,
        &t,
        &mut insns,
        relo(0, 4, s[0], CoreReloKind::EnumvalValue),
    )
    .unwrap();
    assert_eq!(
        r.outcome,
        Outcome::Patched {
            old: 1,
            new: 0x1_0000_0000
        }
    );
    assert_eq!((insns[0].imm, insns[1].imm), (0, 1));
}

/// vmlinux base: [1] int, [2] struct other; module (split): struct modthing { int x; int y; }.
fn module_setup(vmlinux_has_it: bool) -> (std::sync::Arc<Btf>, Btf) {
    let mut b = Builder::new();
    b.int("int", 4, 32, true);
    let q = b.s("q");
    b.raw("other", K_STRUCT, 1, false, 4, &[q, 1, 0]);
    if vmlinux_has_it {
        let y = b.s("y");
        b.raw("modthing", K_STRUCT, 1, false, 4, &[y, 1, 0]); // y at 0
    }
    let base = std::sync::Arc::new(Btf::parse(b.build()).unwrap());
    let sbase = base.header().str_len;
    let mut m = Builder::new();
    m.strs.clear();
    let name = m.s("modthing") + sbase;
    let x = m.s("x") + sbase;
    let y = m.s("y") + sbase;
    for w in [name, (K_STRUCT << 24) | 2, 8, x, 1, 0, y, 1, 32] {
        m.types.extend_from_slice(&w.to_le_bytes());
    }
    let module = Btf::parse_split(m.build(), base.clone()).unwrap();
    (base, module)
}

fn local_modthing() -> (Btf, u32) {
    let mut b = Builder::new();
    b.int("int", 4, 32, true);
    let y = b.s("y");
    b.raw("modthing", K_STRUCT, 1, false, 4, &[y, 1, 0]); // 2
    let a = b.s("0:0");
    (Btf::parse(b.build()).unwrap(), a)
}

#[test]
fn module_btf_is_searched_only_when_vmlinux_has_no_candidate() {
    let (l, a) = local_modthing();
    let (base, module) = module_setup(false);
    let mods = [("mymod".to_string(), &module)];
    let targets = Targets::with_modules(&base, &mods);
    let mut insns = [ldx_w(0)];
    let mut cache = CandidateCache::new();
    let r = relocate(
        &l,
        &targets,
        &mut insns,
        &[relo(0, 2, a, CoreReloKind::FieldByteOffset)],
        &mut cache,
    )
    .unwrap();
    assert_eq!(r[0].outcome, Outcome::Patched { old: 0, new: 4 });
    assert_eq!(
        r[0].target,
        Some(TargetRef {
            module: Some("mymod".into()),
            type_id: base.len()
        })
    );
    assert_eq!(
        r[0].target.as_ref().unwrap().to_string(),
        format!("module mymod [{}]", base.len())
    );

    // vmlinux has a candidate: modules are not consulted.
    let (base, module) = module_setup(true);
    let mods = [("mymod".to_string(), &module)];
    let targets = Targets::with_modules(&base, &mods);
    let mut insns = [ldx_w(0)];
    let r = relocate(
        &l,
        &targets,
        &mut insns,
        &[relo(0, 2, a, CoreReloKind::FieldByteOffset)],
        &mut cache,
    )
    .unwrap();
    assert_eq!(r[0].outcome, Outcome::Patched { old: 0, new: 0 });
    assert_eq!(
        r[0].target,
        Some(TargetRef {
            module: None,
            type_id: 3
        })
    );
    // The cache was rebound to the new targets (else it would still point at the module).
    assert_eq!(
        cache.candidates(2).unwrap(),
        vec![TargetRef {
            module: None,
            type_id: 3
        }]
    );

    // Only a module's own types are its candidates (base types aren't found twice), and
    // a module is searched for each local type vmlinux has nothing for.
    let (base, module) = module_setup(false);
    let found = cands::search_candidates(
        &l,
        &Targets::with_modules(&base, &[("m".into(), &module)]),
        &[2, 1, 2],
        &mut [],
    );
    assert_eq!(
        found[0],
        (
            2,
            vec![Candidate {
                target: 1,
                id: base.len()
            }]
        )
    );
    // "int" (local id 1) is in vmlinux: modules aren't asked.
    assert_eq!(found[1], (1, vec![Candidate { target: 0, id: 1 }]));
}

#[test]
fn target_nesting_deeper_than_a_spec_is_an_error() {
    // struct deep { struct { struct { ... { int field; } ... } } }: 70 anonymous levels.
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
    let f = b.s("field");
    b.raw("", K_STRUCT, 1, false, 4, &[f, 1, 0]); // 2
    let mut prev = 2;
    for _ in 0..70 {
        b.raw("", K_STRUCT, 1, false, 4, &[0, prev, 0]);
        prev += 1;
    }
    b.raw("deep", K_STRUCT, 1, false, 4, &[0, prev, 0]);
    let t = Btf::parse(b.build()).unwrap();

    let mut lb = Builder::new();
    lb.int("int", 4, 32, true);
    let f = lb.s("field");
    lb.raw("deep", K_STRUCT, 1, false, 4, &[f, 1, 0]);
    let a = lb.s("0:0");
    let l = Btf::parse(lb.build()).unwrap();
    let e = reloc1(
        &l,
        &t,
        &mut [ldx_w(0)],
        relo(0, 2, a, CoreReloKind::FieldByteOffset),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::TooDeep { .. }), "{e}");
}

#[test]
fn typedef_loops_are_errors_not_hangs() {
    // Target: struct pt { loop_a x; int y; } with typedef loop_a -> loop_b -> loop_a.
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
    let x = b.s("x");
    let y = b.s("y");
    b.raw("pt", K_STRUCT, 2, false, 8, &[x, 3, 0, y, 1, 32]); // 2
    b.raw("loop_a", K_TYPEDEF, 0, false, 4, &[]); // 3 -> 4
    b.raw("loop_b", K_TYPEDEF, 0, false, 3, &[]); // 4 -> 3
    let t = Btf::parse(b.build()).unwrap();
    let (l, s) = local_btf(&["0:0", "0"]);
    let e = reloc1(
        &l,
        &t,
        &mut [ldx_w(0)],
        relo(0, 2, s[0], CoreReloKind::FieldByteOffset),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::Btf { .. }), "{e}");
    // TYPE_MATCHES walks members too.
    let e = reloc1(
        &l,
        &t,
        &mut [mov(1)],
        relo(0, 2, s[1], CoreReloKind::TypeMatches),
    )
    .unwrap_err();
    assert!(
        matches!(e, CoreError::Btf { .. } | CoreError::TooDeep { .. }),
        "{e}"
    );
}

#[test]
fn types_match_a_forward_declaration_behind_a_pointer() {
    // Local: struct s { struct inner *p; } with struct inner defined; target: same with
    // struct inner only forward-declared.
    let build = |fwd: bool| {
        let mut b = Builder::new();
        let p = b.s("p");
        b.raw("s", K_STRUCT, 1, false, 8, &[p, 2, 0]); // 1
        b.raw("", K_PTR, 0, false, 3, &[]); // 2
        if fwd {
            b.raw("inner", K_FWD, 0, false, 0, &[]); // 3
        } else {
            b.raw("inner", K_STRUCT, 0, false, 0, &[]); // 3
        }
        let a = b.s("0");
        (Btf::parse(b.build()).unwrap(), a)
    };
    let (l, a) = build(false);
    let (t, _) = build(true);
    let r = reloc1(
        &l,
        &t,
        &mut [mov(1)],
        relo(0, 1, a, CoreReloKind::TypeMatches),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 1 });
    // Not behind a pointer, a struct doesn't match a forward declaration: struct inner
    // itself (root) vs fwd inner — kinds differ, so it isn't even a candidate.
    let r = reloc1(
        &l,
        &t,
        &mut [mov(1)],
        relo(0, 3, a, CoreReloKind::TypeMatches),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 0 });
}

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn random_records_never_panic() {
    let obj = load_obj("local.bpf.o");
    let targets: Vec<Btf> = [
        "nesting_base",
        "arrays_wrong",
        "bitfields_base",
        "enumval_kind",
        "type_based_differ",
    ]
    .iter()
    .map(|t| target(t))
    .collect();
    // Every access string clang emitted, plus random offsets.
    let mut strs: Vec<u32> = obj
        .progs
        .values()
        .flat_map(|p| p.relos.iter().map(|r| r.access_str_off))
        .collect();
    strs.sort_unstable();
    strs.dedup();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let n_types = obj.btf.len();
    for round in 0..20_000 {
        let t = &targets[round % targets.len()];
        let n = 1 + rng.below(4) as usize;
        let mut insns: Vec<Insn> = (0..n + 2)
            .map(|_| {
                let codes = [
                    0x61, 0x69, 0x71, 0x79, 0x62, 0x63, 0x07, 0xb7, 0x0f, 0x18, 0x00, 0x85, 0x95,
                    0xe1,
                ];
                Insn::new(
                    codes[rng.below(codes.len() as u64) as usize],
                    rng.below(16) as u8,
                    rng.below(16) as u8,
                    rng.next() as i16,
                    if rng.below(2) == 0 {
                        rng.below(70) as i32
                    } else {
                        rng.next() as i32
                    },
                )
            })
            .collect();
        let relos: Vec<CoreRelo> = (0..n)
            .map(|_| CoreRelo {
                insn_off: rng.below(insns.len() as u64 + 1) as u32,
                type_id: rng.below(u64::from(n_types) + 3) as u32,
                access_str_off: if rng.below(8) == 0 {
                    rng.below(10_000) as u32
                } else {
                    strs[rng.below(strs.len() as u64) as usize]
                },
                kind: rng.below(14) as u32,
            })
            .collect();
        let _ = relocate(
            &obj.btf,
            &Targets::vmlinux(t),
            &mut insns,
            &relos,
            &mut CandidateCache::new(),
        );
    }
}

#[test]
fn ints_with_a_bit_offset_are_incompatible() {
    // Old-style bitfield ints (BTF_INT_OFFSET != 0) are rejected by the field rules.
    let mut b = Builder::new();
    b.raw("int", 1, 0, false, 4, &[(1 << 24) | (3 << 16) | 29]); // 1: int, offset 3
    let pad = b.s("pad");
    let y = b.s("y");
    let x = b.s("x");
    b.raw(
        "pt",
        K_STRUCT,
        3,
        false,
        12,
        &[pad, 1, 0, y, 1, 32, x, 1, 64],
    );
    let t = Btf::parse(b.build()).unwrap();
    let (l, s) = local_btf(&["0:0", "0"]);
    let mut insns = [ldx_w(0)];
    let r = reloc1(
        &l,
        &t,
        &mut insns,
        relo(0, 2, s[0], CoreReloKind::FieldByteOffset),
    )
    .unwrap();
    assert!(matches!(r.outcome, Outcome::Poisoned { .. }), "{r:?}");
    // Structs are compatible by name alone, so TYPE_EXISTS of struct pt still says 1.
    let r = reloc1(
        &l,
        &t,
        &mut [mov(1)],
        relo(0, 2, s[1], CoreReloKind::TypeExists),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 1 });
    // The int itself: a plain local int vs the target's int with a bit offset.
    let mut lb = Builder::new();
    lb.int("int", 4, 32, true);
    let a = lb.s("0");
    let l2 = Btf::parse(lb.build()).unwrap();
    let r = reloc1(
        &l2,
        &t,
        &mut [mov(1)],
        relo(0, 1, a, CoreReloKind::TypeExists),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 0 });
}

#[test]
fn types_match_needs_equal_signedness() {
    // "char" is signed on x86 and unsigned on arm64: same name and size, other sign.
    let build = |signed: bool| {
        let mut b = Builder::new();
        b.int("char", 1, 8, signed); // 1
        let a = b.s("0");
        (Btf::parse(b.build()).unwrap(), a)
    };
    let (l, a) = build(true);
    let (t_same, _) = build(true);
    let (t_other, _) = build(false);
    let r = reloc1(
        &l,
        &t_same,
        &mut [mov(1)],
        relo(0, 1, a, CoreReloKind::TypeMatches),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 1 });
    let r = reloc1(
        &l,
        &t_other,
        &mut [mov(1)],
        relo(0, 1, a, CoreReloKind::TypeMatches),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 0 });
    // Compatibility ignores signedness.
    let r = reloc1(
        &l,
        &t_other,
        &mut [mov(1)],
        relo(0, 1, a, CoreReloKind::TypeExists),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 1 });
}

/// Struct graph where every level holds two members of the next level's type (named
/// `m0`/`m1`, or anonymous): 2^depth paths through `depth + 1` types. Also returns the
/// offset of the string `access`.
fn doubling(depth: u32, anonymous: bool, leaf_field: &str, access: &str) -> (Btf, u32) {
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
    let f = b.s(leaf_field);
    b.raw("leaf", K_STRUCT, 1, false, 4, &[f, 1, 0]); // 2
    let (n0, n1) = if anonymous {
        (0, 0)
    } else {
        (b.s("m0"), b.s("m1"))
    };
    for i in 0..depth {
        let name = if i + 1 == depth {
            "root".to_string()
        } else {
            format!("l{i}")
        };
        let prev = 2 + i; // the previous level's id
        b.raw(&name, K_STRUCT, 2, false, 4, &[n0, prev, 0, n1, prev, 0]);
    }
    let a = b.s(access);
    (Btf::parse(b.build()).unwrap(), a)
}

#[test]
fn exponential_member_search_is_cut_off() {
    // Target: 40 levels of two anonymous members sharing one type; the field isn't there.
    let (t, _) = doubling(40, true, "nope", "0");
    let mut lb = Builder::new();
    lb.int("int", 4, 32, true);
    let f = lb.s("field");
    lb.raw("root", K_STRUCT, 1, false, 4, &[f, 1, 0]);
    let a = lb.s("0:0");
    let l = Btf::parse(lb.build()).unwrap();
    let e = reloc1(
        &l,
        &t,
        &mut [ldx_w(0)],
        relo(0, 2, a, CoreReloKind::FieldByteOffset),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::TooDeep { .. }), "{e}");
}

#[test]
fn exponential_type_match_is_cut_off() {
    // Local and target: the same 25-level doubling graph; TYPE_MATCHES compares every
    // path (2^25), well within the recursion limit of 32 levels.
    let (l, z) = doubling(25, false, "x", "0");
    let (t, _) = doubling(25, false, "x", "0");
    let root = l.find_by_name_kind("root", Kind::Struct).unwrap();
    let e = reloc1(
        &l,
        &t,
        &mut [mov(1)],
        relo(0, root, z, CoreReloKind::TypeMatches),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::TooDeep { .. }), "{e}");
    // A shallow version of the same graph matches.
    let (l, z) = doubling(4, false, "x", "0");
    let (t, _) = doubling(4, false, "x", "0");
    let root = l.find_by_name_kind("root", Kind::Struct).unwrap();
    let r = reloc1(
        &l,
        &t,
        &mut [mov(1)],
        relo(0, root, z, CoreReloKind::TypeMatches),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Patched { old: 1, new: 1 });
}
