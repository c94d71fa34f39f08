//! Tests of the object layer on objects compiled from `testdata/*.bpf.c`
//! (committed; rebuild them with `testdata/build.sh`).
//!
//! Instruction numbers below come from `llvm-objdump-19 -d -r testdata/progs.bpf.o`.

use super::*;
use crate::insn::{op, pseudo};
use crate::sys::bpf::{attach_type, prog_type};

const PROGS: &[u8] = include_bytes!("testdata/progs.bpf.o");
const MISMATCH: &[u8] = include_bytes!("testdata/mismatch.bpf.o");
const MISSING: &[u8] = include_bytes!("testdata/missing.bpf.o");
const MISSING_FUNC: &[u8] = include_bytes!("testdata/missing_func.bpf.o");
const UNKNOWN_SEC: &[u8] = include_bytes!("testdata/unknown_sec.bpf.o");
const LEGACY: &[u8] = include_bytes!("testdata/legacy.bpf.o");
const PLAIN: &[u8] = include_bytes!("testdata/plain.bpf.o");
const UNKNOWN_FIELD: &[u8] = include_bytes!("testdata/unknown_field.bpf.o");
const VALUES: &[u8] = include_bytes!("testdata/values.bpf.o");
const CORE: &[u8] = include_bytes!("testdata/core.bpf.o");

fn progs() -> ObjectSpec {
    ObjectSpec::parse(PROGS, "progs").unwrap()
}

/// A section header, read by hand so tests can patch objects.
#[derive(Debug)]
struct Shdr {
    offset: usize,
    size: usize,
}

fn rd(d: &[u8], off: usize, n: usize) -> u64 {
    let mut v = 0u64;
    for i in (0..n).rev() {
        v = (v << 8) | u64::from(d[off + i]);
    }
    v
}

fn section(d: &[u8], name: &str) -> Shdr {
    let shoff = rd(d, 0x28, 8) as usize;
    let shnum = rd(d, 0x3c, 2) as usize;
    let shstrndx = rd(d, 0x3e, 2) as usize;
    let hdr = |i: usize| shoff + 64 * i;
    let strtab = rd(d, hdr(shstrndx) + 24, 8) as usize;
    for i in 0..shnum {
        let h = hdr(i);
        let n = strtab + rd(d, h, 4) as usize;
        let end = d[n..].iter().position(|&c| c == 0).unwrap();
        let sname = String::from_utf8_lossy(&d[n..n + end]).into_owned();
        if sname == name {
            return Shdr {
                offset: rd(d, h + 24, 8) as usize,
                size: rd(d, h + 32, 8) as usize,
            };
        }
    }
    panic!("no section {name}");
}

/// The instructions of a section of the raw object.
fn raw_insns(d: &[u8], name: &str) -> Vec<Insn> {
    let s = section(d, name);
    Insn::decode_all(&d[s.offset..s.offset + s.size]).unwrap()
}

/// Instructions equal apart from the immediates of calls and `ld_imm64`s (which linking rewrites).
fn same_code(a: &[Insn], b: &[Insn]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            if x.code == op::CALL || x.is_ld_imm64() {
                x.code == y.code && x.dst() == y.dst()
            } else {
                x == y
            }
        })
}

#[test]
fn programs_sections_license_version() {
    let o = progs();
    assert_eq!(o.name, "progs");
    assert_eq!(o.license, "Dual BSD/GPL");
    assert_eq!(o.kernel_version, Some(0x060100));
    let names: Vec<_> = o.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["prog_a", "prog_b", "prog_c", "sock_one", "sock_two"]
    );

    let a = o.program("prog_a").unwrap();
    assert_eq!(a.section, "tracepoint/syscalls/sys_enter_execve");
    assert!(a.autoload);
    assert_eq!(a.kind.prog_type(), prog_type::TRACEPOINT);
    assert_eq!(a.kind.attach_target(), Some("syscalls/sys_enter_execve"));

    let b = o.program("prog_b").unwrap();
    assert_eq!(
        b.kind,
        ProgramKind::Kprobe {
            target: Some("do_sys_open+16".into())
        }
    );

    // SEC("?xdp"): the '?' only turns autoload off.
    let c = o.program("prog_c").unwrap();
    assert_eq!(c.section, "xdp");
    assert!(!c.autoload);
    assert_eq!(c.kind.expected_attach_type(), attach_type::XDP);

    // Two programs in one section, each with its own range of instructions.
    let s1 = o.program("sock_one").unwrap();
    let s2 = o.program("sock_two").unwrap();
    assert_eq!(
        (s1.section.as_str(), s2.section.as_str()),
        ("socket", "socket")
    );
    let raw = raw_insns(PROGS, "socket");
    assert_eq!(s1.insns, raw[..21]);
    assert_eq!(s2.insns, raw[21..]);
    assert!(
        o.program("leaf").is_none(),
        ".text functions are not programs"
    );
}

#[test]
fn subprograms_are_appended_once_in_first_use_order() {
    let o = progs();
    let text = raw_insns(PROGS, ".text");
    // .text: global_helper 0..13, middle 13..28, leaf 28..35, loop_cb 35..43.
    let (global_helper, middle, leaf, loop_cb) =
        (&text[0..13], &text[13..28], &text[28..35], &text[35..43]);

    // prog_a (12 insns) calls middle (static, via the .text section symbol: imm 12 =
    // 13 - 0 - 1), middle calls leaf twice (no relocation, imm relative in .text), then
    // prog_a calls global_helper (global: relocation against its symbol, imm -1).
    let a = o.program("prog_a").unwrap();
    let main = raw_insns(PROGS, "tracepoint/syscalls/sys_enter_execve");
    assert_eq!(main.len(), 12);
    assert_eq!(a.insns.len(), 12 + 15 + 7 + 13);
    assert!(same_code(&a.insns[..12], &main));
    assert!(same_code(&a.insns[12..27], middle));
    assert!(same_code(&a.insns[27..34], leaf));
    assert!(same_code(&a.insns[34..47], global_helper));
    let call = |p: &ProgramSpec, i: usize| {
        assert!(p.insns[i].is_pseudo_call(), "insn {i} is no call");
        i as i64 + 1 + i64::from(p.insns[i].imm)
    };
    assert_eq!(call(a, 3), 12); // middle
    assert_eq!(call(a, 12 + 9), 27); // middle -> leaf
    assert_eq!(call(a, 12 + 13), 27); // middle -> leaf again, same copy
    assert_eq!(call(a, 10), 34); // global_helper

    // prog_b shares leaf: its own copy, right after its 24 instructions.
    let b = o.program("prog_b").unwrap();
    assert_eq!(b.insns.len(), 24 + 7);
    assert!(same_code(&b.insns[24..], leaf));
    assert_eq!(call(b, 10), 24);

    // prog_c passes loop_cb to bpf_loop: ld_imm64 of its address becomes BPF_PSEUDO_FUNC.
    let c = o.program("prog_c").unwrap();
    assert_eq!(c.insns.len(), 8 + 8);
    assert!(same_code(&c.insns[8..], loop_cb));
    assert!(c.insns[1].is_pseudo_func());
    assert_eq!(c.insns[1].src(), pseudo::FUNC);
    assert_eq!(1 + 1 + c.insns[1].imm, 8);
    assert_eq!(c.insns[2].imm, 0);

    // Programs that call nothing get nothing.
    assert_eq!(o.program("sock_two").unwrap().insns.len(), 12);
}

#[test]
fn func_and_line_info_follow_the_subprograms() {
    let o = progs();
    let btf = o.btf.as_ref().unwrap();
    let funcs = |p: &ProgramSpec| -> Vec<(u32, String)> {
        p.func_info
            .iter()
            .map(|f| (f.insn_off, btf.type_name(f.type_id).unwrap().to_string()))
            .collect()
    };
    let a = o.program("prog_a").unwrap();
    assert_eq!(
        funcs(a),
        [
            (0, "prog_a"),
            (12, "middle"),
            (27, "leaf"),
            (34, "global_helper")
        ]
        .map(|(o, n)| (o, n.to_string()))
    );
    let b = o.program("prog_b").unwrap();
    assert_eq!(
        funcs(b),
        [(0, "prog_b"), (24, "leaf")].map(|(o, n)| (o, n.to_string()))
    );
    let c = o.program("prog_c").unwrap();
    assert_eq!(
        funcs(c),
        [(0, "prog_c"), (8, "loop_cb")].map(|(o, n)| (o, n.to_string()))
    );

    // Line info: sorted, inside the program, and leaf's records are the same source
    // lines in both copies, shifted by where each copy starts.
    for p in &o.programs {
        assert!(
            p.line_info
                .windows(2)
                .all(|w| w[0].insn_off < w[1].insn_off),
            "{}",
            p.name
        );
        assert!(p
            .line_info
            .iter()
            .all(|l| (l.insn_off as usize) < p.insns.len()));
        assert_eq!(
            p.line_info.first().map(|l| l.insn_off),
            Some(0),
            "{}",
            p.name
        );
    }
    let leaf_lines = |p: &ProgramSpec, start: u32, end: u32| -> Vec<(u32, u32, u32)> {
        p.line_info
            .iter()
            .filter(|l| (start..end).contains(&l.insn_off))
            .map(|l| (l.insn_off - start, l.line_off, l.line_col))
            .collect()
    };
    let in_a = leaf_lines(a, 27, 34);
    assert!(!in_a.is_empty());
    assert_eq!(in_a, leaf_lines(b, 24, 31));
    // The file's .BTF.ext line info for .text, as instructions, equals the union of
    // the .text parts of the programs that use every function.
    let ext = o.btf_ext.as_ref().unwrap();
    let text_lines: Vec<u32> = ext
        .line_info_for(".text")
        .iter()
        .map(|l| l.insn_off / 8)
        .collect();
    let leaf_in_text: Vec<u32> = text_lines
        .iter()
        .copied()
        .filter(|&i| (28..35).contains(&i))
        .map(|i| i - 28)
        .collect();
    assert_eq!(leaf_in_text, in_a.iter().map(|l| l.0).collect::<Vec<_>>());
}

#[test]
fn core_relos_are_kept_per_program_and_shifted() {
    let o = ObjectSpec::parse(CORE, "core").unwrap();
    let btf = o.btf.as_ref().unwrap();
    let relos = |name: &str| -> Vec<(u32, String, String, u32)> {
        o.program(name)
            .unwrap()
            .core_relos
            .iter()
            .map(|r| {
                (
                    r.insn_off,
                    btf.type_name(r.type_id).unwrap().to_string(),
                    btf.str_at(r.access_str_off).unwrap().to_string(),
                    r.kind,
                )
            })
            .collect()
    };
    // `one`: its own load of t->pid at 2, and get_tgid's t->tgid appended at 6 + 0.
    // get_tgid is called with `call -1` against the .text section symbol:
    // st_value / 8 + imm + 1 = 0.
    assert_eq!(
        relos("one"),
        [
            (2, "task".into(), "0:0".into(), 0),
            (6, "task".into(), "0:1".into(), 0)
        ]
    );
    assert_eq!(relos("two"), [(2, "task".into(), "0:1".into(), 0)]);
    let one = o.program("one").unwrap();
    assert_eq!(one.insns.len(), 8);
    assert_eq!(one.insns[1].imm, 6 - 1 - 1);
    let two = o.program("two").unwrap();
    assert_eq!(two.insns.len(), 4);
    // Callee at 2, call at 0: imm = 2 - 0 - 1.
    assert_eq!(two.insns[0].imm, 1);
    // The insns still carry clang's offsets: CO-RE is applied later.
    assert_eq!(one.insns[6].off, 4);
}

#[test]
fn btf_maps_with_every_field() {
    let o = progs();
    let btf = o.btf.as_ref().unwrap();
    let counts = o.map("counts").unwrap();
    assert_eq!(counts.kind, MapKind::Btf);
    assert_eq!(counts.map_type, 1); // HASH
    assert_eq!((counts.key_size, counts.value_size), (4, 16));
    assert_eq!(counts.max_entries, 128);
    assert_eq!(counts.map_flags, 1); // BPF_F_NO_PREALLOC
    assert_eq!(counts.numa_node, 0);
    assert_eq!(counts.pinning, Pinning::ByName);
    assert_eq!(btf.type_name(counts.btf_value_type_id).unwrap(), "value_t");
    assert_eq!(btf.type_name(counts.btf_key_type_id).unwrap(), "u32");
    assert!(counts.data.is_empty());

    // key_size/value_size given as numbers: no BTF types.
    let sizes = o.map("sizes").unwrap();
    assert_eq!(
        (
            sizes.map_type,
            sizes.key_size,
            sizes.value_size,
            sizes.max_entries
        ),
        (2, 4, 8, 4)
    );
    assert_eq!((sizes.btf_key_type_id, sizes.btf_value_type_id), (0, 0));
    assert_eq!(sizes.pinning, Pinning::None);

    let bloom = o.map("bloom").unwrap();
    assert_eq!(
        (
            bloom.map_type,
            bloom.key_size,
            bloom.value_size,
            bloom.map_extra
        ),
        (30, 0, 4, 3)
    );

    // Offsets within .maps match the symbols (and so the relocations).
    let maps_sec = section(PROGS, ".maps");
    assert_eq!(maps_sec.size, 120);
    let mut offs: Vec<_> = o
        .maps
        .iter()
        .filter(|m| m.kind == MapKind::Btf)
        .map(|m| m.symbol_offset)
        .collect();
    offs.sort();
    assert_eq!(offs, [0, 32, 64]);
    assert!(o
        .maps
        .iter()
        .filter(|m| m.kind == MapKind::Btf)
        .all(|m| m.section_index == o.maps[0].section_index));
}

#[test]
fn global_data_maps_and_their_relocations() {
    let o = progs();
    let kinds: Vec<_> = o.maps.iter().map(|m| (m.name.as_str(), m.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("sizes", MapKind::Btf),
            ("bloom", MapKind::Btf),
            ("counts", MapKind::Btf),
            (".data", MapKind::GlobalData(GlobalKind::Data)),
            (".rodata", MapKind::GlobalData(GlobalKind::Rodata)),
            (".bss", MapKind::GlobalData(GlobalKind::Bss)),
            (".rodata.str1.1", MapKind::GlobalData(GlobalKind::Rodata)),
            (".kconfig", MapKind::GlobalData(GlobalKind::Kconfig)),
        ]
    );
    let data = o.map(".data").unwrap();
    // data_first, data_second, then the static sock_one.hits.
    let mut want = 0x1111111111111111u64.to_le_bytes().to_vec();
    want.extend(0x22222222u32.to_le_bytes());
    want.extend(5u32.to_le_bytes());
    assert_eq!(data.data, want);
    assert_eq!(
        (
            data.map_type,
            data.key_size,
            data.value_size,
            data.max_entries
        ),
        (2, 4, 16, 1)
    );
    assert_eq!(data.map_flags, BPF_F_MMAPABLE);
    let rodata = o.map(".rodata").unwrap();
    assert_eq!(rodata.data, 42u32.to_le_bytes());
    assert_eq!(rodata.map_flags, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE);
    let bss = o.map(".bss").unwrap();
    assert!(bss.data.is_empty());
    assert_eq!(bss.value_size, 8);
    let strs = o.map(".rodata.str1.1").unwrap();
    assert_eq!(strs.data, b"literal\0");
    // No DATASEC for string literals: no BTF, not mmapable (libbpf's rule).
    assert_eq!(
        (strs.btf_value_type_id, strs.map_flags),
        (0, BPF_F_RDONLY_PROG)
    );

    let btf = o.btf.as_ref().unwrap();
    assert_eq!(btf.type_name(data.btf_value_type_id).unwrap(), ".data");
    let idx = |n: &str| o.maps.iter().position(|m| m.name == n).unwrap();

    // prog_b: `sizes` by fd at 4, `data_second` (named symbol at .data+8) at 18, and
    // leaf's `data_second` in the appended copy at 24 + 2.
    let b = o.program("prog_b").unwrap();
    assert_eq!(
        b.map_relocs,
        [
            MapReloc {
                insn: 4,
                map: idx("sizes"),
                kind: MapRelocKind::Fd
            },
            MapReloc {
                insn: 18,
                map: idx(".data"),
                kind: MapRelocKind::Value { offset: 8 }
            },
            MapReloc {
                insn: 26,
                map: idx(".data"),
                kind: MapRelocKind::Value { offset: 8 }
            },
        ]
    );
    // prog_a reaches `counts` only through middle (.text): shifted to 12 + 4.
    let a = o.program("prog_a").unwrap();
    assert!(a.map_relocs.contains(&MapReloc {
        insn: 16,
        map: idx("counts"),
        kind: MapRelocKind::Fd
    }));
    assert!(a.map_relocs.contains(&MapReloc {
        insn: 0,
        map: idx(".data"),
        kind: MapRelocKind::Value { offset: 0 }
    }));
    // sock_one: static `hits` through the .data section symbol (imm 12), the literal,
    // and .rodata through the named `ro_value`.
    let s1 = o.program("sock_one").unwrap();
    assert_eq!(
        s1.map_relocs,
        [
            MapReloc {
                insn: 0,
                map: idx(".data"),
                kind: MapRelocKind::Value { offset: 12 }
            },
            MapReloc {
                insn: 8,
                map: idx(".rodata.str1.1"),
                kind: MapRelocKind::Value { offset: 0 }
            },
            MapReloc {
                insn: 11,
                map: idx(".rodata"),
                kind: MapRelocKind::Value { offset: 0 }
            },
        ]
    );
    for p in &o.programs {
        for r in &p.map_relocs {
            assert!(p.insns[r.insn].is_ld_imm64(), "{} {}", p.name, r.insn);
        }
    }
}

#[test]
fn kconfig_externs() {
    let o = progs();
    let b = o.program("prog_b").unwrap();
    assert_eq!(
        b.extern_relocs,
        [ExternReloc {
            insn: 14,
            symbol: "LINUX_KERNEL_VERSION".into(),
            is_call: false,
            kind: ExternKind::Kconfig,
            weak: false,
        }]
    );
    let k = o.map(".kconfig").unwrap();
    assert_eq!(
        (k.value_size, k.key_size, k.max_entries, k.section_index),
        (4, 4, 1, 0)
    );
    assert_eq!(k.map_flags & BPF_F_RDONLY_PROG, BPF_F_RDONLY_PROG);
    assert!(k.data.is_empty());
    let btf = o.btf.as_ref().unwrap();
    assert_eq!(btf.type_name(k.btf_value_type_id).unwrap(), ".kconfig");
}

#[test]
fn datasecs_are_fixed_up() {
    let o = progs();
    let btf = o.btf.as_ref().unwrap();
    let dsec = |name: &str| {
        let id = btf
            .find_by_name_kind(name, crate::btf::Kind::Datasec)
            .unwrap();
        let t = btf.type_by_id(id).unwrap();
        let vars: Vec<_> = t
            .datasec_vars()
            .map(|v| (btf.type_name(v.type_id).unwrap().to_string(), v.offset))
            .collect();
        (t.size(), vars)
    };
    let (size, vars) = dsec(".data");
    assert_eq!(size, 16);
    assert_eq!(
        vars,
        [("data_first", 0), ("data_second", 8), ("sock_one.hits", 12)]
            .map(|(n, o)| (n.to_string(), o))
    );
    let (size, vars) = dsec(".maps");
    assert_eq!(size, 120);
    assert_eq!(
        vars,
        [("sizes", 0), ("bloom", 32), ("counts", 64)].map(|(n, o)| (n.to_string(), o))
    );
    assert_eq!(dsec(".bss").0, 8);
    assert_eq!(dsec("license").0, 13);
}

#[test]
fn key_and_key_size_mismatch_is_an_error() {
    let err = ObjectSpec::parse(MISMATCH, "mismatch").unwrap_err();
    match &err {
        ObjectError::BadMap { map, reason } => {
            assert_eq!(map, "bad_map");
            assert!(reason.contains("conflicting key size: 8 != 4"), "{reason}");
        }
        e => panic!("unexpected {e}"),
    }
    assert!(err.to_string().contains("bad_map"));
}

#[test]
fn unknown_map_field_is_refused() {
    let err = ObjectSpec::parse(UNKNOWN_FIELD, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadMap { map, reason } if map == "odd" && reason.contains("'colour'")),
        "{err}"
    );
}

/// `__array(values, struct inner)` declares the inner map; `.values = { &inner_a }`
/// fills slot 0 (read from `.rel.maps`, as libbpf does).
#[test]
fn map_in_map_inner_definition_and_initial_slots() {
    let spec = ObjectSpec::parse(VALUES, "x").unwrap();
    let outer = spec.map("outer").unwrap();
    assert_eq!(
        (outer.map_type, outer.key_size, outer.value_size),
        (12, 4, 4)
    );
    let inner = outer.inner.as_deref().expect("the inner definition");
    assert_eq!(inner.name, "outer.inner");
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (2, 4, 4, 1)
    );
    assert!(inner.inner.is_none() && inner.init_slots.is_empty());
    assert_eq!(
        outer.init_slots,
        [(0, crate::object::SlotValue::Map("inner_a".into()))]
    );
    assert!(spec.map("inner_a").unwrap().init_slots.is_empty());
}

#[test]
fn missing_map_names_program_symbol_and_instruction() {
    let err = ObjectSpec::parse(MISSING, "missing").unwrap_err();
    match &err {
        ObjectError::MissingMap {
            program,
            symbol,
            insn,
        } => {
            assert_eq!(
                (program.as_str(), symbol.as_str(), *insn),
                ("use_ghost", "ghost", 12)
            );
        }
        e => panic!("unexpected {e}"),
    }
    assert_eq!(
        err.to_string(),
        "program 'use_ghost' references 'ghost' at instruction 12, which the object does not define"
    );
}

#[test]
fn missing_function_is_an_error() {
    let err = ObjectSpec::parse(MISSING_FUNC, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::MissingFunction { program, symbol, insn: 1 } if program == "prog" && symbol == "not_here"),
        "{err}"
    );
}

#[test]
fn unknown_executable_section_is_an_error() {
    let err = ObjectSpec::parse(UNKNOWN_SEC, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::UnknownSection { name } if name == "not_a_type/foo"),
        "{err}"
    );
}

#[test]
fn legacy_maps_and_kfunc_externs() {
    let o = ObjectSpec::parse(LEGACY, "legacy").unwrap();
    let maps: Vec<_> = o
        .maps
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.kind,
                m.map_type,
                m.key_size,
                m.value_size,
                m.max_entries,
                m.map_flags,
            )
        })
        .collect();
    assert_eq!(
        maps,
        [
            ("first", MapKind::Legacy, 2, 4, 8, 2, 0),
            ("second", MapKind::Legacy, 1, 8, 16, 64, 1)
        ]
    );
    let p = o.program("prog").unwrap();
    assert_eq!(
        p.map_relocs,
        [
            MapReloc {
                insn: 5,
                map: 1,
                kind: MapRelocKind::Fd
            },
            MapReloc {
                insn: 13,
                map: 0,
                kind: MapRelocKind::Fd
            },
        ]
    );
    assert_eq!(
        p.extern_relocs,
        [ExternReloc {
            insn: 2,
            symbol: "bpf_rcu_read_lock".into(),
            is_call: true,
            kind: ExternKind::Ksym,
            weak: false,
        }]
    );
    // A kfunc call is left for the extern pass: not linked as a subprogram.
    assert_eq!(p.insns[2].imm, -1);
    assert_eq!(p.insns.len(), 21);
}

#[test]
fn wrong_machine_type_and_endianness() {
    let mut x86 = PROGS.to_vec();
    x86[18..20].copy_from_slice(&62u16.to_le_bytes());
    let err = ObjectSpec::parse(&x86, "x").unwrap_err();
    assert!(
        matches!(
            err,
            ObjectError::WrongMachine {
                machine: 62,
                name: "x86_64"
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("x86_64"));

    let mut exec = PROGS.to_vec();
    exec[16] = 2; // ET_EXEC
    assert!(matches!(
        ObjectSpec::parse(&exec, "x"),
        Err(ObjectError::NotRelocatable { e_type: 2 })
    ));

    let mut be = PROGS.to_vec();
    be[5] = 2; // ELFDATA2MSB
    assert!(matches!(
        ObjectSpec::parse(&be, "x"),
        Err(ObjectError::BigEndian)
    ));

    let mut c32 = PROGS.to_vec();
    c32[4] = 1; // ELFCLASS32
    assert!(matches!(
        ObjectSpec::parse(&c32, "x"),
        Err(ObjectError::Elf { .. })
    ));

    let err = ObjectSpec::parse(b"#!/bin/sh\n", "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::Elf { reason, .. } if reason.contains("magic")),
        "{err}"
    );
}

#[test]
fn real_x86_object_is_refused_when_a_c_compiler_exists() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("t.c");
    std::fs::write(&src, "int f(void) { return 1; }\n").unwrap();
    let obj = dir.path().join("t.o");
    let ok = std::process::Command::new("cc")
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: no working `cc`");
        return;
    }
    let err = ObjectSpec::from_file(&obj).unwrap_err();
    if cfg!(target_arch = "x86_64") {
        assert!(
            matches!(
                err,
                ObjectError::WrongMachine {
                    machine: 62,
                    name: "x86_64"
                }
            ),
            "{err}"
        );
    } else {
        assert!(matches!(err, ObjectError::WrongMachine { .. }), "{err}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for n in 0..PROGS.len() {
        let r = ObjectSpec::parse(&PROGS[..n], "x");
        assert!(r.is_err(), "truncated to {n} bytes parsed");
    }
    assert!(matches!(
        ObjectSpec::parse(&PROGS[..40], "x"),
        Err(ObjectError::Elf { reason, .. }) if reason.contains("truncated")
    ));
}

/// Property test: flipping or overwriting bytes anywhere never panics.
#[test]
fn corrupted_objects_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for base in [PROGS, LEGACY, MISSING, PLAIN, CORE] {
        // Every byte of the richest object, every other byte of the others.
        let step = if base == PROGS { 1 } else { 2 };
        for pos in (0..base.len()).step_by(step) {
            let mut d = base.to_vec();
            d[pos] ^= 0xff;
            let _ = ObjectSpec::parse(&d, "x");
        }
        // Random multi-byte corruptions, sometimes truncated too.
        for _ in 0..300 {
            let mut d = base.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let pos = (next() % d.len() as u64) as usize;
                d[pos] = next() as u8;
            }
            let cut = if next() % 4 == 0 {
                (next() % d.len() as u64) as usize
            } else {
                d.len()
            };
            let _ = ObjectSpec::parse(&d[..cut], "x");
        }
    }
}

#[test]
fn misaligned_input_parses() {
    let mut buf = vec![0u8; PROGS.len() + 1];
    buf[1..].copy_from_slice(PROGS);
    let o = ObjectSpec::parse(&buf[1..], "x").unwrap();
    assert_eq!(o.programs.len(), 5);
}

#[test]
fn parsing_is_deterministic() {
    let a = progs();
    let b = progs();
    assert_eq!(a.maps, b.maps);
    assert_eq!(a.programs, b.programs);
}

#[test]
fn from_file_names_the_object_after_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (file, want) in [("hello.bpf.o", "hello"), ("x.o", "x"), ("noext", "noext")] {
        let p = dir.path().join(file);
        std::fs::write(&p, PLAIN).unwrap();
        assert_eq!(ObjectSpec::from_file(&p).unwrap().name, want);
    }
    let err = ObjectSpec::from_file(&dir.path().join("absent.o")).unwrap_err();
    assert!(
        matches!(&err, ObjectError::Io { path, .. } if path.ends_with("absent.o")),
        "{err}"
    );
}

#[test]
fn invalid_btf_is_dropped_unless_maps_need_it() {
    // No .maps: a broken .BTF is ignored, as libbpf does.
    let mut d = PLAIN.to_vec();
    let s = section(&d, ".BTF");
    d[s.offset] ^= 0xff; // magic
    let o = ObjectSpec::parse(&d, "plain").unwrap();
    assert!(o.btf.is_none() && o.btf_ext.is_none());
    let p = o.program("prog").unwrap();
    assert!(p.func_info.is_empty());
    assert!(p.kind.xdp_has_frags());
    let data = o.map(".data").unwrap();
    assert_eq!((data.btf_value_type_id, data.map_flags), (0, 0));
    assert_eq!(
        p.map_relocs,
        [MapReloc {
            insn: 0,
            map: 0,
            kind: MapRelocKind::Value { offset: 0 }
        }]
    );

    // With .maps, the same damage is an error.
    let mut d = PROGS.to_vec();
    let s = section(&d, ".BTF");
    d[s.offset] ^= 0xff;
    let err = ObjectSpec::parse(&d, "progs").unwrap_err();
    assert!(
        matches!(&err, ObjectError::Btf { what, .. } if what.contains(".maps")),
        "{err}"
    );

    // Without a .BTF section at all (renamed), .maps is an error naming the section.
    let mut d = PROGS.to_vec();
    rename_section(&mut d, ".BTF", ".XTF");
    let err = ObjectSpec::parse(&d, "progs").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadSection { section, .. } if section == ".maps"),
        "{err}"
    );
}

/// Renames a section in place (same length). The string table may share the name's
/// bytes with a longer name ending the same way (`.rel.BTF`); that one changes too.
fn rename_section(d: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let strtab = section(d, ".strtab");
    let hay = &d[strtab.offset..strtab.offset + strtab.size];
    let mut pat = from.as_bytes().to_vec();
    pat.push(0);
    let at = hay.windows(pat.len()).position(|w| w == pat).unwrap() + strtab.offset;
    d[at..at + to.len()].copy_from_slice(to.as_bytes());
}

/// Finds relocation `n` of a `.rel*` section: (offset of the record in the file).
fn reloc_record(d: &[u8], rel_section: &str, n: usize) -> usize {
    let s = section(d, rel_section);
    assert!(16 * (n + 1) <= s.size);
    s.offset + 16 * n
}

#[test]
fn bad_relocations_are_typed_errors() {
    // .relsocket: #0 `.data` at 0x0, #1 `.rodata.str1.1`, ...
    let rec = reloc_record(PROGS, ".relsocket", 0);

    let mut d = PROGS.to_vec();
    d[rec + 8] = 5; // r_type 5: unknown
    let err = ObjectSpec::parse(&d, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadReloc { section, offset: 0, reason } if section == "socket" && reason.contains("type 5")),
        "{err}"
    );

    let mut d = PROGS.to_vec();
    d[rec] = 3; // r_offset 3: not on an instruction
    let err = ObjectSpec::parse(&d, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadReloc { section, offset: 3, .. } if section == "socket"),
        "{err}"
    );

    let mut d = PROGS.to_vec();
    d[rec + 12..rec + 16].copy_from_slice(&0x00ff_ffffu32.to_le_bytes()); // r_sym
    let err = ObjectSpec::parse(&d, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadReloc { reason, .. } if reason.contains("symbol index")),
        "{err}"
    );

    let mut d = PROGS.to_vec();
    d[rec..rec + 8].copy_from_slice(&0x10u64.to_le_bytes()); // onto a load, not ld_imm64
    let err = ObjectSpec::parse(&d, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadReloc { offset: 0x10, .. }),
        "{err}"
    );
}

#[test]
fn bad_calls_are_typed_errors() {
    // prog_a's call of middle: `call 12` at instruction 3, relocated against `.text`.
    let sec = section(PROGS, "tracepoint/syscalls/sys_enter_execve");
    let imm_at = sec.offset + 3 * 8 + 4;
    assert_eq!(PROGS[imm_at], 12);

    // One instruction further is inside middle, not its start.
    let mut d = PROGS.to_vec();
    d[imm_at] = 13;
    let err = ObjectSpec::parse(&d, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadCall { program, insn: 3, reason } if program == "prog_a" && reason.contains("start of a function")),
        "{err}"
    );

    // A call relocated against the program's own section symbol: not .text.
    let mut d = PROGS.to_vec();
    let rec = reloc_record(PROGS, ".reltracepoint/syscalls/sys_enter_execve", 1);
    assert_eq!(
        rd(PROGS, rec + 12, 4),
        1,
        "relocation #1 is against symbol 1, .text"
    );
    d[rec + 12] = 2; // symbol 2: section symbol of tracepoint/...
    let err = ObjectSpec::parse(&d, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadCall { reason, .. } if reason.contains("must be in .text")),
        "{err}"
    );
}

#[test]
fn bad_sections_are_typed_errors() {
    // A code section whose size is not whole instructions: shrink .text's sh_size by 1.
    let mut d = PROGS.to_vec();
    let shoff = rd(&d, 0x28, 8) as usize;
    // .text is section 2 in this object.
    let size_at = shoff + 64 * 2 + 32;
    assert_eq!(rd(&d, size_at, 8), section(PROGS, ".text").size as u64);
    d[size_at] -= 1;
    let err = ObjectSpec::parse(&d, "x").unwrap_err();
    assert!(
        matches!(&err, ObjectError::BadSection { section, .. } if section == ".text")
            || matches!(&err, ObjectError::BadProgram { section, .. } if section == ".text"),
        "{err}"
    );

    // Without a license section the license is empty.
    let mut d = PLAIN.to_vec();
    rename_section(&mut d, "license", "licensf");
    assert_eq!(ObjectSpec::parse(&d, "x").unwrap().license, "");
}

/// A longer run of the corruption property test: `cargo test --release -- --ignored fuzz_long`.
#[test]
#[ignore]
fn fuzz_long() {
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let bases = [
        PROGS,
        LEGACY,
        MISSING,
        PLAIN,
        MISMATCH,
        VALUES,
        UNKNOWN_FIELD,
        MISSING_FUNC,
    ];
    for i in 0..500_000u64 {
        let mut d = bases[(i % bases.len() as u64) as usize].to_vec();
        for _ in 0..(next() % 4 + 1) {
            let pos = (next() % d.len() as u64) as usize;
            match next() % 3 {
                0 => d[pos] = next() as u8,
                1 => d[pos] ^= 1 << (next() % 8),
                _ => d[pos] = [0u8, 0xff, 0x7f, 0x80][(next() % 4) as usize],
            }
        }
        let _ = ObjectSpec::parse(&d, "x");
    }
}

/// The project's own test objects, when they are there (another engineer builds them).
#[test]
fn project_objects_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs");
    let load = |name: &str| {
        let p = dir.join(format!("{name}.bpf.o"));
        if !p.exists() {
            eprintln!("skipping {name}: {} is not built", p.display());
            return None;
        }
        Some(ObjectSpec::from_file(&p))
    };
    for name in ["hello", "hello_buffer_config", "bad_deref"] {
        if let Some(o) = load(name) {
            let o = o.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(o.name, name);
            assert!(!o.programs.is_empty(), "{name}");
            assert!(o.btf.is_some() && o.btf_ext.is_some(), "{name}");
            for p in &o.programs {
                assert_eq!(p.func_info.first().map(|f| f.insn_off), Some(0), "{name}");
                for r in &p.map_relocs {
                    assert!(p.insns[r.insn].is_ld_imm64());
                    assert!(r.map < o.maps.len());
                }
            }
        }
    }
    if let Some(r) = load("missing_map") {
        let err = r.unwrap_err();
        assert!(
            matches!(&err, ObjectError::MissingMap { symbol, .. } if symbol == "ghost"),
            "{err}"
        );
    }
}

/// Kernel names of global-data maps, as libbpf named them: an object with `.data`,
/// `.rodata`, `.bss`, `.kconfig`, `.data.counters_per_cpu`, `.rodata.cfg` and
/// `.data.my-var` was loaded under each file name below by libbpf 1.1 (`bpftool prog
/// loadall`, then `bpftool map show`) and by libbpf 1.7 (`bpf_object__load`, then each
/// map's `bpf_map_info.name`); both created exactly these names.
const LIBBPF_MAP_NAMES: [(&str, [&str; 4]); 13] = [
    // file: .data, .rodata, .bss, .kconfig
    (
        "biolatency.bpf.o",
        [
            "biolaten.data",
            "biolaten.rodata",
            "biolaten.bss",
            "biolate.kconfig",
        ],
    ),
    (
        "xdp.bpf.o",
        ["xdp.data", "xdp.rodata", "xdp.bss", "xdp.kconfig"],
    ),
    (
        "tcp-conn.bpf.o",
        [
            "tcp_conn.data",
            "tcp_conn.rodata",
            "tcp_conn.bss",
            "tcp_con.kconfig",
        ],
    ),
    (
        "my-tool-v2.bpf.o",
        [
            "my_tool_.data",
            "my_tool_.rodata",
            "my_tool_.bss",
            "my_tool.kconfig",
        ],
    ),
    (
        "hello_buffer_config.bpf.o",
        [
            "hello_bu.data",
            "hello_bu.rodata",
            "hello_bu.bss",
            "hello_b.kconfig",
        ],
    ),
    (
        "runqlat_histogram_v2.bpf.o",
        [
            "runqlat_.data",
            "runqlat_.rodata",
            "runqlat_.bss",
            "runqlat.kconfig",
        ],
    ),
    (
        "runqlat.v2.bpf.o",
        [
            "runqlat.data",
            "runqlat.rodata",
            "runqlat.bss",
            "runqlat.kconfig",
        ],
    ),
    (
        "prof.ile.bpf.o",
        ["prof.data", "prof.rodata", "prof.bss", "prof.kconfig"],
    ),
    (
        "abc.o",
        ["abc.data", "abc.rodata", "abc.bss", "abc.kconfig"],
    ),
    (
        "net-tc_ingress.bpf.o",
        [
            "net_tc_i.data",
            "net_tc_i.rodata",
            "net_tc_i.bss",
            "net_tc_.kconfig",
        ],
    ),
    (
        "x-y.bpf.o",
        ["x_y.data", "x_y.rodata", "x_y.bss", "x_y.kconfig"],
    ),
    (".hidden.bpf.o", [".data", ".rodata", ".bss", ".kconfig"]),
    (
        "tcpconnect.bpf.o",
        [
            "tcpconne.data",
            "tcpconne.rodata",
            "tcpconne.bss",
            "tcpconn.kconfig",
        ],
    ),
];

/// Custom sections are named by themselves, whatever the object (same load).
const LIBBPF_CUSTOM_NAMES: [(&str, &str); 3] = [
    (".data.counters_per_cpu", ".data.counters_"),
    (".rodata.cfg", ".rodata.cfg"),
    (".data.my-var", ".data.my_var"),
];

#[test]
fn global_data_maps_get_libbpfs_kernel_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (file, names) in LIBBPF_MAP_NAMES {
        let path = dir.path().join(file);
        std::fs::write(&path, PLAIN).unwrap();
        let spec = ObjectSpec::from_file(&path).unwrap();
        let sections = [".data", ".rodata", ".bss", ".kconfig"];
        let custom = LIBBPF_CUSTOM_NAMES.iter().map(|&(s, n)| (s, n));
        for (section, want) in sections.into_iter().zip(names).chain(custom) {
            assert_eq!(
                maps::internal_map_name(&spec.name, section),
                want,
                "{file}: {section}"
            );
            assert!(want.len() < 16 && want.bytes().all(|b| b.is_ascii()));
            checked += 1;
        }
        // Through the map itself: a declared map keeps its C name.
        let data = spec.map(".data").unwrap();
        assert_eq!(data.kernel_name(&spec.name), names[0], "{file}");
    }
    assert_eq!(checked, 13 * 7);
    let o = progs();
    let declared = o.maps.iter().find(|m| m.kind == MapKind::Btf).unwrap();
    assert_eq!(declared.kernel_name("my-tool-v2"), declared.name);
    // Object names of 3 to 20 characters, with '-', '_' and '.'.
    let lens: Vec<usize> = LIBBPF_MAP_NAMES
        .iter()
        .map(|(f, _)| {
            f.split(".bpf.o")
                .next()
                .unwrap()
                .trim_end_matches(".o")
                .len()
        })
        .collect();
    assert_eq!(
        (lens.iter().min(), lens.iter().max()),
        (Some(&3), Some(&20))
    );
}
