//! Notes of gcc-built programs (checked against binutils' `readelf -n`), truncated and
//! garbage notes, every argument form libbpf accepts on x86-64, and the encoded spec
//! against the layout clang gives `usdt.bpf.h`'s structures.

use super::*;
use crate::program::uprobe_elf::ElfFile;
use std::path::Path;
use std::process::Command;

const LE64: Layout = Layout {
    is_64: true,
    little_endian: true,
};

/// One note, as the linker writes it (4-byte aligned).
fn note(layout: Layout, owner: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
    let u32b = |v: u32| {
        if layout.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let mut n = Vec::new();
    n.extend_from_slice(&u32b(owner.len() as u32 + 1));
    n.extend_from_slice(&u32b(desc.len() as u32));
    n.extend_from_slice(&u32b(kind));
    n.extend_from_slice(owner);
    n.push(0);
    n.resize(n.len().next_multiple_of(4), 0);
    n.extend_from_slice(desc);
    n.resize(n.len().next_multiple_of(4), 0);
    n
}

fn desc(layout: Layout, addrs: [u64; 3], strings: &[&str]) -> Vec<u8> {
    let mut d = Vec::new();
    for a in addrs {
        match (layout.is_64, layout.little_endian) {
            (true, true) => d.extend_from_slice(&a.to_le_bytes()),
            (true, false) => d.extend_from_slice(&a.to_be_bytes()),
            (false, true) => d.extend_from_slice(&(a as u32).to_le_bytes()),
            (false, false) => d.extend_from_slice(&(a as u32).to_be_bytes()),
        }
    }
    for s in strings {
        d.extend_from_slice(s.as_bytes());
        d.push(0);
    }
    d
}

fn section(layout: Layout) -> Vec<u8> {
    let mut s = note(
        layout,
        NOTE_NAME,
        NOTE_TYPE,
        &desc(
            layout,
            [0x1130, 0x2004, 0],
            &["prov", "one", "-4@%edi 8@-8(%rbp)"],
        ),
    );
    s.extend(note(
        layout,
        NOTE_NAME,
        NOTE_TYPE,
        &desc(layout, [0x1150, 0x2004, 0x4010], &["prov", "two", ""]),
    ));
    s
}

#[test]
fn notes_of_every_layout_are_parsed() {
    for (is_64, little_endian) in [(true, true), (true, false), (false, true), (false, false)] {
        let l = Layout {
            is_64,
            little_endian,
        };
        let notes = parse_notes(&section(l), l, 4).unwrap();
        assert_eq!(
            notes,
            vec![
                UsdtNote {
                    provider: "prov".into(),
                    name: "one".into(),
                    args: "-4@%edi 8@-8(%rbp)".into(),
                    location: 0x1130,
                    base: 0x2004,
                    semaphore: 0,
                },
                UsdtNote {
                    provider: "prov".into(),
                    name: "two".into(),
                    args: "".into(),
                    location: 0x1150,
                    base: 0x2004,
                    semaphore: 0x4010,
                },
            ],
            "{l:?}"
        );
    }
    // 8-byte aligned notes.
    let d = desc(LE64, [1, 2, 3], &["p", "n", ":x"]);
    let mut n = Vec::new();
    n.extend_from_slice(&8u32.to_le_bytes());
    n.extend_from_slice(&(d.len() as u32).to_le_bytes());
    n.extend_from_slice(&3u32.to_le_bytes());
    n.extend_from_slice(b"stapsdt\0");
    n.resize(24, 0);
    n.extend_from_slice(&d);
    let notes = parse_notes(&n, LE64, 8).unwrap();
    assert_eq!(notes.len(), 1);
    // An argument string starting with ':' reads as none (libbpf).
    assert_eq!(notes[0].args, "");
}

#[test]
fn bad_notes_are_errors() {
    let other = note(LE64, b"GNU", 3, &[0; 32]);
    assert!(matches!(
        parse_notes(&other, LE64, 4),
        Err(UsdtSpecError::NotStapsdt { owner, kind: 3, .. }) if owner == "GNU"
    ));
    let wrong_type = note(LE64, NOTE_NAME, 4, &desc(LE64, [1, 2, 3], &["p", "n", ""]));
    assert!(matches!(
        parse_notes(&wrong_type, LE64, 4),
        Err(UsdtSpecError::NotStapsdt { kind: 4, .. })
    ));
    for (strings, why) in [
        (&["p", "", "x"][..], "empty"),
        (&["p"][..], "missing"),
        (&["p", "n"][..], "argument"),
    ] {
        let n = note(LE64, NOTE_NAME, NOTE_TYPE, &desc(LE64, [1, 2, 3], strings));
        match parse_notes(&n, LE64, 4) {
            Err(UsdtSpecError::BadNote { reason, .. }) => assert!(reason.contains(why), "{reason}"),
            other => panic!("{strings:?}: {other:?}"),
        }
    }
    let mut unterminated = desc(LE64, [1, 2, 3], &[]);
    unterminated.extend_from_slice(b"provider-without-nul");
    let n = note(LE64, NOTE_NAME, NOTE_TYPE, &unterminated);
    assert!(matches!(
        parse_notes(&n, LE64, 4),
        Err(UsdtSpecError::BadNote { .. })
    ));
    let short = note(LE64, NOTE_NAME, NOTE_TYPE, &[0; 20]);
    assert!(matches!(
        parse_notes(&short, LE64, 4),
        Err(UsdtSpecError::BadNote { .. })
    ));
    // Sizes far beyond the section.
    let mut huge = section(LE64);
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        parse_notes(&huge, LE64, 4),
        Err(UsdtSpecError::Truncated { offset: 0 })
    ));
    huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        parse_notes(&huge, LE64, 4),
        Err(UsdtSpecError::Truncated { .. })
    ));
    assert_eq!(parse_notes(&[], LE64, 4).unwrap(), vec![]);
}

/// Every prefix of a note section, and many garbled copies, parse to notes or to an
/// error; the notes found never outnumber what the input could hold.
#[test]
fn truncated_and_garbage_notes_never_panic() {
    let good = section(LE64);
    for cut in 0..good.len() {
        let r = parse_notes(&good[..cut], LE64, 4);
        if let Ok(n) = r {
            assert!(n.len() <= cut / 12 + 1);
        }
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..5000 {
        let mut data = good.clone();
        for _ in 0..1 + round % 6 {
            let at = next() as usize % data.len();
            data[at] = next() as u8;
        }
        if let Ok(notes) = parse_notes(&data, LE64, 4) {
            assert!(notes.len() <= data.len() / 12 + 1);
            for n in &notes {
                let _ = parse_args(&n.args);
            }
        }
        let garbage: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
        let _ = parse_notes(&garbage, LE64, 4);
        let _ = parse_notes(&garbage, LE64, 8);
        let _ = parse_args(&String::from_utf8_lossy(&garbage));
    }
}

/// The notes gcc writes for `DTRACE_PROBEn`, read from the built program as
/// `readelf -n` lists them.
#[test]
fn gcc_notes_match_readelf() {
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
__extension__ unsigned short corebpf_gated_semaphore __attribute__((unused))
	__attribute__((section(".probes")));
__extension__ unsigned short corebpf_plain_semaphore __attribute__((unused))
	__attribute__((section(".probes")));
int main(int argc, char **argv)
{
	long big = argc * 100000000000L;
	DTRACE_PROBE3(corebpf, plain, argc, big, (char)argc);
	if (corebpf_gated_semaphore)
		DTRACE_PROBE1(corebpf, gated, argv[0]);
	return 0;
}
"#;
    std::fs::write(dir.path().join("n.c"), src).unwrap();
    let out = dir.path().join("n");
    let status = Command::new("gcc")
        .args(["-O2", "n.c", "-o"])
        .arg(&out)
        .current_dir(dir.path())
        .status()
        .expect("running gcc");
    assert!(status.success());
    let elf = ElfFile::open(&out).unwrap();
    let sh = *elf.section_by_name(NOTE_SECTION).unwrap();
    let data = elf.section_data(&sh).unwrap();
    let notes = parse_notes(&data, elf.layout(), sh.addralign).unwrap();

    let text = Command::new("readelf")
        .arg("-n")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    let mut listed = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        for key in ["Provider: ", "Name: ", "Location: ", "Arguments: "] {
            if let Some(v) = line.strip_prefix(key) {
                current.push(v.to_string());
            }
        }
        if line.starts_with("Arguments:") {
            listed.push(std::mem::take(&mut current));
        }
    }
    assert_eq!(notes.len(), 2);
    assert_eq!(listed.len(), 2, "{text}");
    for (n, l) in notes.iter().zip(&listed) {
        assert_eq!(n.provider, l[0]);
        assert_eq!(n.name, l[1]);
        let addr = |key: &str| {
            let v = l[2].split(", ").find_map(|p| p.strip_prefix(key)).unwrap();
            u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap()
        };
        assert_eq!(n.location, addr("0x"));
        assert_eq!(n.base, addr("Base: "));
        assert_eq!(n.semaphore, addr("Semaphore: "));
        assert_eq!(n.args, l[3]);
        parse_args(&n.args).unwrap_or_else(|e| panic!("{}: {e}", n.args));
    }
    assert!(
        notes.iter().all(|n| n.semaphore != 0),
        "both have semaphores"
    );
}

fn arg(size: u8, signed: bool, location: ArgLocation) -> UsdtArg {
    UsdtArg {
        size,
        signed,
        location,
    }
}

#[test]
fn every_x86_64_argument_form_is_parsed() {
    use ArgLocation as L;
    let reg = |reg_off| L::Reg { reg_off };
    let deref = |reg_off, offset| L::Deref { reg_off, offset };
    let cases: Vec<(&str, Vec<UsdtArg>)> = vec![
        ("", vec![]),
        ("   ", vec![]),
        ("-4@%edi", vec![arg(4, true, reg(112))]),
        (
            "8@%rsi -8@%r9 2@%cx -1@%sil",
            vec![
                arg(8, false, reg(104)),
                arg(8, true, reg(64)),
                arg(2, false, reg(88)),
                arg(1, true, reg(104)),
            ],
        ),
        (
            "-4@$5 -4@$-9 8@$0",
            vec![
                arg(4, true, L::Const(5)),
                arg(4, true, L::Const(-9)),
                arg(8, false, L::Const(0)),
            ],
        ),
        (
            "-4@-1204(%rbp) 8@(%rsp) 8@16(%rsp)",
            vec![
                arg(4, true, deref(32, -1204)),
                arg(8, false, deref(152, 0)),
                arg(8, false, deref(152, 16)),
            ],
        ),
        (
            "-1@-96(%rbp,%rax,8)",
            vec![arg(
                1,
                true,
                L::Sib {
                    base_off: 32,
                    index_off: 80,
                    scale_shift: 3,
                    offset: -96,
                },
            )],
        ),
        (
            "8@(%rdx,%rax,8) 4@(%r8,%r9) -2@12(%r15,%r14)",
            vec![
                arg(
                    8,
                    false,
                    L::Sib {
                        base_off: 96,
                        index_off: 80,
                        scale_shift: 3,
                        offset: 0,
                    },
                ),
                arg(
                    4,
                    false,
                    L::Sib {
                        base_off: 72,
                        index_off: 64,
                        scale_shift: 0,
                        offset: 0,
                    },
                ),
                arg(
                    2,
                    true,
                    L::Sib {
                        base_off: 0,
                        index_off: 8,
                        scale_shift: 0,
                        offset: 12,
                    },
                ),
            ],
        ),
        (
            " 8 @ %rip  -4 @ 4(%r12) ",
            vec![arg(8, false, reg(128)), arg(4, true, deref(24, 4))],
        ),
        (
            "8@%r10b 8@%r11w 8@%r13d",
            vec![
                arg(8, false, reg(56)),
                arg(8, false, reg(48)),
                arg(8, false, reg(16)),
            ],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(parse_args(spec).unwrap(), want, "'{spec}'");
    }
}

#[test]
fn bad_arguments_are_errors_naming_the_argument() {
    for (spec, index, words) in [
        ("4", 0, "'@'"),
        ("@%rax", 0, "SIZE@LOCATION"),
        ("3@%rax", 0, "size 3"),
        ("-16@%rax", 0, "size 16"),
        ("4@%xmm0", 0, "unrecognized register 'xmm0'"),
        ("4@%rax 4@%ah", 1, "unrecognized register 'ah'"),
        ("4@$x", 0, "number"),
        ("4@8(%rbp", 0, "')'"),
        // As libbpf's sscanf: the register name runs up to ')' or ','.
        ("4@8( %rbp )", 0, "unrecognized register 'rbp '"),
        ("4@(%rbp,%rax,3)", 0, "scale 3"),
        ("4@(%rbp,%rax,8", 0, "')'"),
        ("4@8", 0, "expected $CONST"),
        ("4@%", 0, "register ''"),
        ("4@$99999999999999999999", 0, "number"),
    ] {
        match parse_args(spec) {
            Err(UsdtSpecError::BadArg {
                index: i, reason, ..
            }) => {
                assert_eq!(i, index, "{spec}");
                assert!(reason.contains(words), "'{spec}': {reason}");
            }
            other => panic!("'{spec}': {other:?}"),
        }
    }
    let many = ["8@%rax"; 13].join(" ");
    assert_eq!(
        parse_args(&many),
        Err(UsdtSpecError::TooManyArgs { count: 13 })
    );
    assert_eq!(parse_args(&["8@%rax"; 12].join(" ")).unwrap().len(), 12);
}

#[cfg(all(target_arch = "x86_64", target_endian = "little"))]
#[test]
fn specs_encode_at_usdt_bpf_h_offsets() {
    let args = parse_args("-4@%edi 8@-24(%rbp) -2@$-7 1@-96(%rbp,%rax,8)").unwrap();
    let v2 = SpecLayout::V2.encode(&args, 0x1122_3344).unwrap();
    assert_eq!(v2.len(), 304);
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap());
    // arg 0: register
    assert_eq!((v2[8], u16_at(&v2, 14), v2[16], v2[17]), (1, 112, 1, 32));
    // arg 1: memory, offset -24 as u64
    assert_eq!(u64_at(&v2, 24), (-24i64) as u64);
    assert_eq!((v2[32], u16_at(&v2, 38), v2[40], v2[41]), (2, 32, 0, 0));
    // arg 2: constant
    assert_eq!(u64_at(&v2, 48), (-7i64) as u64);
    assert_eq!((v2[56], v2[64], v2[65]), (0, 1, 48));
    // arg 3: SIB: base rbp, index rax (80) in the low 12 bits, scale 3 in the top 4.
    assert_eq!(u64_at(&v2, 72), (-96i64) as u64);
    assert_eq!(
        (v2[80], u16_at(&v2, 82), u16_at(&v2, 86)),
        (3, 80 | (3 << 12), 32)
    );
    assert_eq!((u64_at(&v2, 288), u16_at(&v2, 296)), (0x1122_3344, 4));

    let three = &args[..3];
    let v1 = SpecLayout::V1.encode(three, 9).unwrap();
    assert_eq!(v1.len(), 208);
    assert_eq!((v1[8], u16_at(&v1, 12), v1[14], v1[15]), (1, 112, 1, 32));
    assert_eq!(u64_at(&v1, 16), (-24i64) as u64);
    assert_eq!((v1[24], u16_at(&v1, 28)), (2, 32));
    assert_eq!((v1[40], v1[46], v1[47]), (0, 1, 48));
    assert_eq!((u64_at(&v1, 192), u16_at(&v1, 200)), (9, 3));
    assert_eq!(
        SpecLayout::V1.encode(&args, 0),
        Err(UsdtSpecError::SibUnsupported { index: 3 })
    );
    assert_eq!(SpecLayout::for_value_size(208), Ok(SpecLayout::V1));
    assert_eq!(SpecLayout::for_value_size(304), Ok(SpecLayout::V2));
    assert_eq!(
        SpecLayout::for_value_size(200),
        Err(UsdtSpecError::UnknownLayout(200))
    );
}

/// Where clang puts the fields of `usdt.bpf.h`'s structures, from the BTF of an object
/// built with the header: `(spec size, cookie offset, arg_cnt offset, arg size,
/// [(member, bit offset, bitfield size)])`.
type Members = Vec<(String, u32, u32)>;

fn clang_layout(include_dir: &Path) -> (u32, u32, u32, u32, Members) {
    use crate::btf::{Btf, Kind};
    let dir = tempfile::tempdir().unwrap();
    let src = "#include <stdbool.h>\n#include <linux/types.h>\n#include <linux/bpf.h>\n\
               #include <linux/ptrace.h>\n#include <bpf/usdt.bpf.h>\n\
               struct __bpf_usdt_spec corebpf_spec;\n";
    std::fs::write(dir.path().join("l.c"), src).unwrap();
    let out = dir.path().join("l.o");
    let status = Command::new("clang-19")
        .args([
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-g",
            "-O2",
            "-c",
            "l.c",
            "-I",
        ])
        .arg(include_dir)
        .args(["-I", "/usr/include/x86_64-linux-gnu", "-o"])
        .arg(&out)
        .current_dir(dir.path())
        .status()
        .expect("running clang-19");
    assert!(status.success(), "clang-19 with {}", include_dir.display());
    let spec = crate::ObjectSpec::from_file(&out).unwrap();
    let btf: &Btf = spec.btf.as_ref().unwrap();
    let find = |name: &str| {
        let id = btf.find_by_name_kind(name, Kind::Struct).unwrap();
        btf.type_by_id(id).unwrap()
    };
    let spec_t = find("__bpf_usdt_spec");
    let arg_t = find("__bpf_usdt_arg_spec");
    let off = |t: &crate::btf::Type<'_>, m: &str| {
        t.members()
            .find(|x| btf.str_at(x.name_off).unwrap() == m)
            .map(|x| x.bit_offset / 8)
            .unwrap()
    };
    let members = arg_t
        .members()
        .map(|m| {
            (
                btf.str_at(m.name_off).unwrap().to_string(),
                m.bit_offset,
                m.bitfield_size,
            )
        })
        .collect();
    (
        spec_t.size(),
        off(&spec_t, "usdt_cookie"),
        off(&spec_t, "arg_cnt"),
        arg_t.size(),
        members,
    )
}

/// The layouts against what clang makes of the headers: the installed libbpf's
/// (Debian's 1.1, the first layout) and libbpf 1.7's (vendored by libbpf-sys, which
/// the benchmarks build; the second layout), when its source is on this machine.
#[test]
fn layouts_match_what_clang_makes_of_usdt_bpf_h() {
    let (size, cookie, cnt, arg_size, members) = clang_layout(Path::new("/usr/include"));
    assert_eq!(
        (
            size as usize,
            cookie as usize,
            cnt as usize,
            arg_size as usize
        ),
        (
            SpecLayout::V1.size,
            SpecLayout::V1.cookie,
            SpecLayout::V1.arg_cnt,
            SpecLayout::V1.arg_size
        )
    );
    let bits = |m: &Members, name: &str| {
        m.iter()
            .find(|(n, _, _)| n == name)
            .map(|&(_, off, size)| (off, size))
    };
    assert_eq!(bits(&members, "arg_type"), Some((64, 0)));
    assert_eq!(
        bits(&members, "reg_off"),
        Some((8 * SpecLayout::V1.reg_off as u32, 0))
    );
    assert_eq!(bits(&members, "arg_signed"), Some((112, 0)));
    assert_eq!(bits(&members, "arg_bitshift"), Some((120, 0)));

    let registry = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|c| c.join("registry/src"));
    let vendored = registry.and_then(|r| {
        std::fs::read_dir(r).ok()?.flatten().find_map(|index| {
            let d = index.path().join("libbpf-sys-1.7.0+v1.7.0/libbpf/src");
            d.join("usdt.bpf.h").exists().then_some(d)
        })
    });
    let Some(src) = vendored else {
        println!("SKIP: layouts_match_what_clang_makes_of_usdt_bpf_h: libbpf 1.7's usdt.bpf.h (libbpf-sys 1.7.0 source) is not on this machine; the 1.7 layout is unchecked");
        return;
    };
    // `#include <bpf/usdt.bpf.h>` needs a `bpf/` directory: link one to the source.
    let inc = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&src, inc.path().join("bpf")).unwrap();
    let (size, cookie, cnt, arg_size, members) = clang_layout(inc.path());
    assert_eq!(
        (
            size as usize,
            cookie as usize,
            cnt as usize,
            arg_size as usize
        ),
        (
            SpecLayout::V2.size,
            SpecLayout::V2.cookie,
            SpecLayout::V2.arg_cnt,
            SpecLayout::V2.arg_size
        )
    );
    assert_eq!(bits(&members, "arg_type"), Some((64, 8)));
    assert_eq!(bits(&members, "idx_reg_off"), Some((80, 12)));
    assert_eq!(bits(&members, "scale_bitshift"), Some((92, 4)));
    assert_eq!(
        bits(&members, "reg_off"),
        Some((8 * SpecLayout::V2.reg_off as u32, 0))
    );
    assert_eq!(bits(&members, "arg_signed"), Some((128, 0)));
    assert_eq!(bits(&members, "arg_bitshift"), Some((136, 0)));
}
