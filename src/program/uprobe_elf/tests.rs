//! The ELF reader against real binaries (the system's libc and bash, this test
//! binary, programs and libraries gcc builds here), checked against binutils'
//! `readelf` and against where the running process mapped its own code; and against
//! synthetic files of every class and byte order, truncated and garbled ones.

use super::*;
use std::path::PathBuf;
use std::process::Command;

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

/// A function symbol as `readelf -W --dyn-syms`/`--syms` prints it.
#[derive(Debug)]
struct ReadelfSym {
    /// With its version (`realpath@@GLIBC_2.3`).
    name: String,
    value: u64,
    kind: String,
    bind: String,
    ndx: String,
}

fn readelf(args: &[&str], path: &Path) -> String {
    let out = Command::new("readelf")
        .args(args)
        .arg(path)
        .output()
        .expect("running readelf (binutils)");
    assert!(out.status.success(), "readelf {args:?} {}", path.display());
    String::from_utf8(out.stdout).unwrap()
}

/// The symbols of `.dynsym` (`dynamic`) or `.symtab`.
fn readelf_syms(path: &Path, dynamic: bool) -> Vec<ReadelfSym> {
    let flag = if dynamic { "--dyn-syms" } else { "--syms" };
    let text = readelf(&["-W", flag], path);
    let table = if dynamic { "'.dynsym'" } else { "'.symtab'" };
    let mut in_table = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("Symbol table") {
            in_table = line.contains(table);
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if !in_table || f.len() < 8 || f[0].trim_end_matches(':').parse::<usize>().is_err() {
            continue;
        }
        out.push(ReadelfSym {
            name: f[7].to_string(),
            value: u64::from_str_radix(f[1], 16).unwrap(),
            kind: f[3].to_string(),
            bind: f[4].to_string(),
            ndx: f[6].to_string(),
        });
    }
    out
}

/// (address, file offset) of each section, by index, from `readelf -S`.
fn readelf_sections(path: &Path) -> Vec<(u64, u64)> {
    let text = readelf(&["-W", "-S"], path);
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix('[') else {
            continue;
        };
        let Some((idx, rest)) = rest.split_once(']') else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<usize>() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // [Nr] Name Type Address Off ...; section 0 has no name.
        let (addr, off) = if idx == 0 { (f[1], f[2]) } else { (f[2], f[3]) };
        assert_eq!(out.len(), idx);
        out.push((
            u64::from_str_radix(addr, 16).unwrap(),
            u64::from_str_radix(off, 16).unwrap(),
        ));
    }
    out
}

/// readelf's file offset of a symbol: its value relative to its section.
fn expected_offset(sections: &[(u64, u64)], s: &ReadelfSym) -> u64 {
    let (addr, off) = sections[s.ndx.parse::<usize>().unwrap()];
    s.value - addr + off
}

fn open(path: &Path) -> ElfFile<'static> {
    ElfFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn libc_functions_resolve_as_readelf_says() {
    let path = Path::new(LIBC);
    let elf = open(path);
    assert!(elf.is_dyn());
    let syms = readelf_syms(path, true);
    let sections = readelf_sections(path);
    let func = |name: &str| {
        syms.iter()
            .find(|s| s.name == name && s.kind == "FUNC")
            .unwrap_or_else(|| panic!("readelf has no FUNC {name}"))
    };
    for (asked, listed) in [
        ("malloc", "malloc@@GLIBC_2.2.5"),
        ("getpid", "getpid@@GLIBC_2.2.5"),
        ("realpath@@GLIBC_2.3", "realpath@@GLIBC_2.3"),
        ("realpath@GLIBC_2.3", "realpath@@GLIBC_2.3"),
        ("realpath@GLIBC_2.2.5", "realpath@GLIBC_2.2.5"),
        (
            "pthread_cond_wait@GLIBC_2.3.2",
            "pthread_cond_wait@@GLIBC_2.3.2",
        ),
        (
            "pthread_cond_wait@@GLIBC_2.2.5",
            "pthread_cond_wait@GLIBC_2.2.5",
        ),
        // memcpy@@GLIBC_2.14 is an IFUNC, which libbpf doesn't take: the FUNC wins.
        ("memcpy", "memcpy@GLIBC_2.2.5"),
    ] {
        let want = expected_offset(&sections, func(listed));
        assert_eq!(elf.function_offset(asked).unwrap(), want, "{asked}");
    }
    // Two non-weak versions at different addresses, and no version asked.
    assert!(matches!(
        elf.function_offset("realpath"),
        Err(ElfError::Ambiguous { first, second, .. }) if first != second
    ));
    for missing in [
        "corebpf_no_such_function",
        "mallo",
        "malloc2",
        "realpath@GLIBC_9",
    ] {
        assert!(
            matches!(elf.function_offset(missing), Err(ElfError::NoSymbol { .. })),
            "{missing}"
        );
    }

    // A sweep: every FUNC whose bare name is listed once agrees with readelf.
    let bare = |n: &str| n.split('@').next().unwrap().to_string();
    let mut counts = std::collections::HashMap::new();
    for s in syms.iter().filter(|s| s.ndx != "UND") {
        *counts.entry(bare(&s.name)).or_insert(0) += 1;
    }
    let mut checked = 0;
    for s in syms
        .iter()
        .filter(|s| s.kind == "FUNC" && s.ndx != "UND")
        .step_by(7)
    {
        let name = bare(&s.name);
        if counts[&name] != 1 {
            continue;
        }
        assert_eq!(
            elf.function_offset(&name).unwrap(),
            expected_offset(&sections, s),
            "{}",
            s.name
        );
        checked += 1;
    }
    assert!(checked > 200, "only {checked} functions checked");
}

#[test]
fn stripped_bash_has_readline_in_dynsym() {
    let path = Path::new("/bin/bash");
    let elf = open(path);
    assert!(
        elf.sections().iter().all(|s| s.kind != E::SHT_SYMTAB),
        "stripped"
    );
    let syms = readelf_syms(path, true);
    let sections = readelf_sections(path);
    let rl = syms.iter().find(|s| s.name == "readline").unwrap();
    assert_eq!(
        elf.function_offset("readline").unwrap(),
        expected_offset(&sections, rl)
    );
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_elf_test_probe_me(x: u64) -> u64 {
    std::hint::black_box(x + 1)
}

/// This test binary (PIE, unstripped: the function is only in `.symtab`): the offset
/// found is where the kernel mapped the function's code from, as `/proc/self/maps`
/// shows.
#[test]
fn own_function_offset_matches_the_running_mapping() {
    let exe = std::env::current_exe().unwrap();
    let elf = open(&exe);
    let offset = elf.function_offset("corebpf_elf_test_probe_me").unwrap();
    let addr = corebpf_elf_test_probe_me as *const () as usize as u64;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let real = std::fs::canonicalize(&exe).unwrap();
    let mapped = maps
        .lines()
        .filter(|l| l.ends_with(real.to_str().unwrap()))
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (start, end) = f.next()?.split_once('-')?;
            let (start, end) = (
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
            );
            let file_off = u64::from_str_radix(f.nth(1)?, 16).ok()?;
            (start..end)
                .contains(&addr)
                .then(|| addr - start + file_off)
        })
        .expect("the function's mapping");
    assert_eq!(offset, mapped);
}

const VERSIONED: &str = r#"
__attribute__((noinline)) int vfn_old(void) { return 1; }
__attribute__((noinline)) int vfn_new(void) { return 2; }
__asm__(".symver vfn_old,vfn@V1");
__asm__(".symver vfn_new,vfn@@V2");
__attribute__((weak, noinline)) int weakling(void) { return 3; }
int alias_target(void) { return 4; }
int alias_one(void) __attribute__((alias("alias_target")));
"#;

const VERSION_SCRIPT: &str =
    "V1 { global: vfn; weakling; alias_target; alias_one; local: *; };\nV2 { global: vfn; } V1;\n";

const LOCALS_A: &str = r#"
static __attribute__((noinline, used)) int dup(int x) { return x + 1; }
__attribute__((weak, noinline)) int mixed(int x) { return x + 3; }
int call_a(int x) { return dup(x); }
"#;

const LOCALS_B: &str = r#"
static __attribute__((noinline, used)) int dup(int x) { return x * 2; }
static __attribute__((noinline, used)) int mixed(int x) { return x * 5; }
int call_b(int x) { return dup(x) + mixed(x); }
int main(void) { return call_a(1) + call_b(2) + mixed(3); }
"#;

fn gcc(dir: &Path, out: &str, sources: &[(&str, &str)], args: &[&str]) -> PathBuf {
    let mut cmd = Command::new("gcc");
    cmd.current_dir(dir);
    for (name, text) in sources {
        std::fs::write(dir.join(name), text).unwrap();
        cmd.arg(name);
    }
    let result = cmd
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .expect("running gcc");
    assert!(
        result.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    dir.join(out)
}

/// A shared library with two versions of one function, a weak function and an alias.
#[test]
fn versioned_weak_and_aliased_library_functions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.map"), VERSION_SCRIPT).unwrap();
    let lib = gcc(
        dir.path(),
        "libv.so",
        &[("v.c", VERSIONED)],
        &["-O2", "-shared", "-fPIC", "-Wl,--version-script=v.map"],
    );
    let elf = open(&lib);
    let syms = readelf_syms(&lib, true);
    let sections = readelf_sections(&lib);
    let at =
        |listed: &str| expected_offset(&sections, syms.iter().find(|s| s.name == listed).unwrap());
    assert_eq!(elf.function_offset("vfn@@V2").unwrap(), at("vfn@@V2"));
    assert_eq!(elf.function_offset("vfn@V1").unwrap(), at("vfn@V1"));
    assert_ne!(at("vfn@V1"), at("vfn@@V2"));
    assert!(matches!(
        elf.function_offset("vfn"),
        Err(ElfError::Ambiguous { .. })
    ));
    assert_eq!(elf.function_offset("weakling").unwrap(), at("weakling@@V1"));
    assert_eq!(
        elf.function_offset("alias_one").unwrap(),
        elf.function_offset("alias_target").unwrap()
    );
    // By exact names (uprobe.multi): `vfn` is two symbols at two offsets.
    assert_eq!(
        elf.function_offsets(&["weakling", "alias_one", "weakling"])
            .unwrap(),
        vec![at("weakling@@V1"), at("alias_one@@V1"), at("weakling@@V1")]
    );
    assert!(matches!(
        elf.function_offsets(&["weakling", "nope"]),
        Err(ElfError::NoSymbol { name }) if name == "nope"
    ));
    // Patterns: the alias and its target share an offset and are listed once.
    let found = elf.matching_functions("alias_*").unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, at("alias_one@@V1"));
    let mut all: Vec<u64> = elf
        .matching_functions("*")
        .unwrap()
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "offsets are unique");
    assert!(matches!(
        elf.matching_functions("zz*"),
        Err(ElfError::NoMatch { .. })
    ));
}

/// `.symtab` rules: two local (non-weak) functions of one name at different offsets
/// are ambiguous; a weak and a local one resolve to the local one, in either order.
/// Checked for a PIE and a non-PIE (ET_EXEC, absolute addresses) executable.
#[test]
fn symtab_weak_and_ambiguous_locals_in_pie_and_exec() {
    let dir = tempfile::tempdir().unwrap();
    for (out, flags) in [
        ("pie", &["-O1", "-fPIE", "-pie"][..]),
        ("exec", &["-O1", "-no-pie"][..]),
    ] {
        let bin = gcc(
            dir.path(),
            out,
            &[("a.c", LOCALS_A), ("b.c", LOCALS_B)],
            flags,
        );
        let elf = open(&bin);
        assert_eq!(elf.is_dyn(), out == "pie", "{out}");
        let syms = readelf_syms(&bin, false);
        let sections = readelf_sections(&bin);
        assert!(
            matches!(elf.function_offset("dup"), Err(ElfError::Ambiguous { .. })),
            "{out}"
        );
        let local_mixed = syms
            .iter()
            .find(|s| s.name == "mixed" && s.bind == "LOCAL")
            .unwrap();
        assert_eq!(
            elf.function_offset("mixed").unwrap(),
            expected_offset(&sections, local_mixed),
            "{out}"
        );
        let main = syms.iter().find(|s| s.name == "main").unwrap();
        let off = elf.function_offset("main").unwrap();
        assert_eq!(off, expected_offset(&sections, main), "{out}");
        if out == "exec" {
            // Absolute addresses become small file offsets.
            assert!(main.value >= 0x40_0000 && off < 0x40_0000, "{out}");
        }
        let segments = elf.load_segments().unwrap();
        let text = segments.iter().find(|s| s.contains(main.value)).unwrap();
        assert!(text.executable);
        assert_eq!(text.file_offset(main.value), off);
    }
}

/// Builds a small ELF file: `.text` at address 0x1000 (file offset 0x200), a
/// `.dynsym` with `f` (global), `w` (weak, elsewhere), `u` (undefined) and `o` (an
/// object), its `.dynstr`, and `.shstrtab`.
fn synthetic(layout: Layout) -> Vec<u8> {
    let l = layout;
    let put16 = |b: &mut Vec<u8>, v: u16| {
        b.extend_from_slice(&if l.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        })
    };
    let put32 = |b: &mut Vec<u8>, v: u32| {
        b.extend_from_slice(&if l.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        })
    };
    let put64 = |b: &mut Vec<u8>, v: u64| {
        b.extend_from_slice(&if l.little_endian {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        })
    };
    let word = |b: &mut Vec<u8>, v: u64| {
        if l.is_64 {
            put64(b, v)
        } else {
            put32(b, v as u32)
        }
    };
    let dynstr = b"\0f\0w\0u\0o\0".to_vec();
    let shstrtab = b"\0.text\0.dynsym\0.dynstr\0.shstrtab\0".to_vec();
    // (name, info, shndx, value)
    let syms: [(u32, u8, u16, u64); 5] = [
        (0, 0, 0, 0),
        (1, 0x12, 1, 0x1010),
        (3, 0x22, 1, 0x1080),
        (5, 0x12, 0, 0),
        (7, 0x11, 1, 0x1020),
    ];
    let mut symtab = Vec::new();
    for (name, info, shndx, value) in syms {
        put32(&mut symtab, name);
        if l.is_64 {
            symtab.extend_from_slice(&[info, 0]);
            put16(&mut symtab, shndx);
            put64(&mut symtab, value);
            put64(&mut symtab, 8);
        } else {
            put32(&mut symtab, value as u32);
            put32(&mut symtab, 8);
            symtab.extend_from_slice(&[info, 0]);
            put16(&mut symtab, shndx);
        }
    }
    let ehsize = if l.is_64 { 64 } else { 52 };
    let (sym_off, str_off, shstr_off) = (0x300u64, 0x400u64, 0x480u64);
    let shoff = 0x500u64;
    let mut f = vec![
        0x7f,
        b'E',
        b'L',
        b'F',
        if l.is_64 { 2 } else { 1 },
        if l.little_endian { 1 } else { 2 },
        1,
    ];
    f.resize(16, 0);
    put16(&mut f, E::ET_DYN);
    put16(&mut f, 62);
    put32(&mut f, 1);
    word(&mut f, 0); // entry
    word(&mut f, 0); // phoff
    word(&mut f, shoff);
    put32(&mut f, 0);
    put16(&mut f, ehsize);
    put16(&mut f, if l.is_64 { 56 } else { 32 });
    put16(&mut f, 0);
    put16(&mut f, if l.is_64 { 64 } else { 40 });
    put16(&mut f, 5);
    put16(&mut f, 4);
    assert_eq!(f.len(), usize::from(ehsize));
    f.resize(0x200, 0);
    f.extend_from_slice(&[0xc3; 0x100]);
    f.resize(sym_off as usize, 0);
    f.extend_from_slice(&symtab);
    f.resize(str_off as usize, 0);
    f.extend_from_slice(&dynstr);
    f.resize(shstr_off as usize, 0);
    f.extend_from_slice(&shstrtab);
    f.resize(shoff as usize, 0);
    let entsize = if l.is_64 { 24 } else { 16 };
    // (name, type, addr, offset, size, link, entsize)
    let headers = [
        (0u32, 0u32, 0u64, 0u64, 0u64, 0u32, 0u64),
        (1, E::SHT_PROGBITS, 0x1000, 0x200, 0x100, 0, 0),
        (
            7,
            E::SHT_DYNSYM,
            0,
            sym_off,
            symtab.len() as u64,
            3,
            entsize,
        ),
        (15, E::SHT_STRTAB, 0, str_off, dynstr.len() as u64, 0, 0),
        (23, E::SHT_STRTAB, 0, shstr_off, shstrtab.len() as u64, 0, 0),
    ];
    for (name, kind, addr, offset, size, link, entsize) in headers {
        put32(&mut f, name);
        put32(&mut f, kind);
        word(&mut f, 0); // flags
        word(&mut f, addr);
        word(&mut f, offset);
        word(&mut f, size);
        put32(&mut f, link);
        put32(&mut f, 0); // info
        word(&mut f, 1); // addralign
        word(&mut f, entsize);
    }
    f
}

const LAYOUTS: [Layout; 4] = [
    Layout {
        is_64: true,
        little_endian: true,
    },
    Layout {
        is_64: true,
        little_endian: false,
    },
    Layout {
        is_64: false,
        little_endian: true,
    },
    Layout {
        is_64: false,
        little_endian: false,
    },
];

#[test]
fn every_class_and_byte_order_is_read() {
    for l in LAYOUTS {
        let data = synthetic(l);
        let elf = ElfFile::parse(&data).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        assert_eq!(elf.layout(), l);
        assert_eq!(elf.sections().len(), 5);
        assert_eq!(
            elf.section_by_name(".dynsym").map(|s| s.kind),
            Some(E::SHT_DYNSYM)
        );
        assert_eq!(elf.function_offset("f").unwrap(), 0x210, "{l:?}");
        assert_eq!(elf.function_offset("w").unwrap(), 0x280, "{l:?}");
        // Undefined functions and objects are not functions to probe.
        for not_func in ["u", "o"] {
            assert!(
                matches!(
                    elf.function_offset(not_func),
                    Err(ElfError::NoSymbol { .. })
                ),
                "{l:?} {not_func}"
            );
        }
        assert_eq!(elf.matching_functions("?").unwrap().len(), 2);
        assert_eq!(elf.load_segments().unwrap(), vec![]);
    }
}

/// Every prefix of a file, and many garbled copies, are read without a panic; what is
/// wrong is an error.
#[test]
fn truncated_and_garbled_files_are_errors_not_panics() {
    let probe = |data: &[u8]| {
        if let Ok(elf) = ElfFile::parse(data) {
            let _ = elf.function_offset("f");
            let _ = elf.function_offset("f@@V1");
            let _ = elf.function_offsets(&["f", "w"]);
            let _ = elf.matching_functions("*");
            let _ = elf.load_segments();
            for s in elf.sections() {
                let _ = elf.section_name(s);
                let _ = elf.section_data(s);
            }
        }
    };
    for l in LAYOUTS {
        let data = synthetic(l);
        for cut in 0..data.len() {
            probe(&data[..cut]);
        }
        // xorshift: a fixed sequence of byte changes.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut copy = data.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x as usize) % copy.len();
                copy[at] = (x >> 32) as u8;
            }
            probe(&copy);
        }
    }
    assert!(matches!(ElfFile::parse(b""), Err(ElfError::NotElf)));
    assert!(matches!(
        ElfFile::parse(b"\x7fELF\x09\x01\x01\0\0\0\0\0\0\0\0\0"),
        Err(ElfError::Malformed(_))
    ));
    // A section table that claims 0xffff entries: refused before any allocation.
    let mut data = synthetic(LAYOUTS[0]);
    data[60..62].copy_from_slice(&0xffffu16.to_le_bytes());
    assert!(matches!(ElfFile::parse(&data), Err(ElfError::Malformed(_))));
    // Extended numbering with a huge count in section 0's size.
    let mut data = synthetic(LAYOUTS[0]);
    data[60..62].copy_from_slice(&0u16.to_le_bytes());
    data[0x500 + 32..0x500 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(ElfFile::parse(&data), Err(ElfError::Malformed(_))));
    // A symbol table larger than the file.
    let mut data = synthetic(LAYOUTS[0]);
    data[0x500 + 2 * 64 + 32..0x500 + 2 * 64 + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let elf = ElfFile::parse(&data).unwrap();
    assert!(matches!(
        elf.function_offset("f"),
        Err(ElfError::Malformed(_))
    ));
}

#[test]
fn a_missing_file_is_a_read_error() {
    let e = ElfFile::open(Path::new("/nonexistent/corebpf")).unwrap_err();
    assert!(matches!(e, ElfError::Read { .. }), "{e}");
}
