//! Where corebpf deliberately matches libbpf, or is stricter, on real objects:
//! the kernel names of global-data maps, and a `.BTF.ext` that does not parse.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use corebpf::object::ExtPart;
use corebpf::{Loader, ObjectError, ObjectSpec};
use object::{Object as _, ObjectSection as _};

// ------------------------------------------------------------------------- map names

/// The kernel's own name for each global-data map of `core_families.bpf.o` loaded from
/// a copy named `file`: what `bpftool map show` lists.
fn kernel_names(dir: &Path, file: &str) -> Vec<(String, String)> {
    setup();
    let path = dir.join(file);
    std::fs::copy(prog("core_families.bpf.o"), &path).unwrap();
    let spec = ObjectSpec::from_file(&path).unwrap();
    // Every program is `?`: only the maps are created.
    let obj = Loader::new().load(&spec).unwrap();
    let mut names: Vec<(String, String)> = obj
        .maps()
        .iter()
        .filter(|m| m.name().starts_with('.'))
        .map(|m| {
            let info = m.info().unwrap();
            (m.name().to_string(), info.name())
        })
        .collect();
    names.sort();
    names
}

/// libbpf 1.1 and 1.7 give these kernel names to the global data of an object loaded
/// from a file of that name (checked with `bpftool prog loadall` and with libbpf 1.7's
/// `bpf_object__load`; see also the object layer's table test).
#[test]
fn global_data_maps_have_libbpfs_names_in_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "my-tool-v2.bpf.o",
            ["my_tool_.bss", "my_tool_.data", "my_tool_.rodata"],
        ),
        (
            "runqlat.v2.bpf.o",
            ["runqlat.bss", "runqlat.data", "runqlat.rodata"],
        ),
        (
            "biolatency.bpf.o",
            ["biolaten.bss", "biolaten.data", "biolaten.rodata"],
        ),
    ];
    for (file, want) in cases {
        let got = kernel_names(dir.path(), file);
        let sections: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sections, [".bss", ".data", ".rodata"], "{file}");
        let names: Vec<&str> = got.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(names, want, "{file}");
    }
}

// ------------------------------------------------------------------------- .BTF.ext

/// The object the `.BTF.ext` tests damage: it reads `task_struct` through CO-RE.
const CORE_OBJ: &str = "task_state.bpf.o";

/// Where `.BTF.ext` is in the file, and its line_info block.
struct ExtLayout {
    /// File offset of the section.
    start: usize,
    /// Section size.
    size: usize,
    /// File offset of the section's header entry `sh_size` field.
    sh_size_at: usize,
    /// Offset within the section of the line_info block and of the core_relo block.
    line_info: usize,
    core_relo: usize,
}

fn rd32(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}

fn wr32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn layout(data: &[u8]) -> ExtLayout {
    let elf = object::File::parse(data).unwrap();
    let sec = elf.section_by_name(".BTF.ext").unwrap();
    let (start, size) = sec.file_range().unwrap();
    let (start, size) = (start as usize, size as usize);
    // ELF64: e_shoff at 0x28, e_shentsize at 0x3a; sh_size at 0x20 of an entry.
    let shoff = u64::from_le_bytes(data[0x28..0x30].try_into().unwrap()) as usize;
    let shentsize = usize::from(u16::from_le_bytes([data[0x3a], data[0x3b]]));
    let sh_size_at = shoff + sec.index().0 * shentsize + 0x20;
    let ext = &data[start..start + size];
    let hdr = rd32(ext, 4) as usize;
    ExtLayout {
        start,
        size,
        sh_size_at,
        line_info: hdr + rd32(ext, 16) as usize,
        core_relo: hdr + rd32(ext, 24) as usize,
    }
}

fn original() -> Vec<u8> {
    std::fs::read(prog(CORE_OBJ)).unwrap()
}

/// Writes `data` as an object file in `dir` and parses it as a loader does.
fn parse(dir: &Path, data: &[u8]) -> (PathBuf, Result<ObjectSpec, ObjectError>) {
    let path = dir.join("task_state.bpf.o");
    std::fs::write(&path, data).unwrap();
    let r = ObjectSpec::from_file(&path);
    (path, r)
}

/// The object must be refused, naming `.BTF.ext`, `part` and `offset`.
#[track_caller]
fn refused(dir: &Path, data: &[u8], part: ExtPart, offset: usize) -> String {
    let (path, r) = parse(dir, data);
    let e = match r {
        Ok(_) => panic!("a damaged .BTF.ext was accepted"),
        Err(e) => e,
    };
    let text = e.to_string();
    match e {
        ObjectError::BadBtfExt {
            part: p, offset: o, ..
        } => assert_eq!((p, o), (part, offset), "{text}"),
        e => panic!("expected a .BTF.ext error, got {e}"),
    }
    assert!(
        text.starts_with(&format!(
            "section '.BTF.ext': {} at byte offset {offset}: ",
            part.name()
        )),
        "{text}"
    );
    // Loading goes through the same parse: nothing reaches the kernel.
    assert!(Loader::new().load_file(&path).is_err());
    text
}

#[test]
fn the_undamaged_object_relocates() {
    let dir = tempfile::tempdir().unwrap();
    let (_, r) = parse(dir.path(), &original());
    let spec = r.unwrap();
    let ext = spec.btf_ext.as_ref().unwrap();
    assert!(!ext.line_info.is_empty() && !ext.core_relos.is_empty());
    assert!(spec.programs.iter().any(|p| !p.core_relos.is_empty()));
}

#[test]
fn a_changed_line_info_offset_fails_instead_of_dropping_core() {
    let dir = tempfile::tempdir().unwrap();
    let data = original();
    let l = layout(&data);

    // The header's line_info_off, pointing past the section.
    let mut bad = data.clone();
    wr32(&mut bad, l.start + 16, l.size as u32);
    let why = refused(dir.path(), &bad, ExtPart::LineInfo, 16);
    assert!(why.contains("ends past the section"), "{why}");

    // The first line_info record's insn_off (after the record size and the first
    // section's name and count), moved past the section's instructions.
    let rec = l.line_info + 12;
    let mut bad = data.clone();
    wr32(&mut bad, l.start + rec, 0x7fff_fff8);
    let why = refused(dir.path(), &bad, ExtPart::LineInfo, rec);
    assert!(why.contains("insn_off 2147483640 is past the"), "{why}");

    // Its line_off, to no string.
    let mut bad = data.clone();
    wr32(&mut bad, l.start + rec + 8, 0x00ff_ffff);
    let why = refused(dir.path(), &bad, ExtPart::LineInfo, rec);
    assert!(why.contains("line_off 16777215"), "{why}");
}

#[test]
fn a_truncated_btf_ext_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = original();
    let l = layout(&data);
    // The ELF says the section is 8 bytes shorter: the last block (core_relo) no
    // longer fits where the header puts it.
    let mut bad = data.clone();
    let size = u64::from_le_bytes(bad[l.sh_size_at..l.sh_size_at + 8].try_into().unwrap());
    assert_eq!(size as usize, l.size);
    bad[l.sh_size_at..l.sh_size_at + 8].copy_from_slice(&(size - 8).to_le_bytes());
    let why = refused(dir.path(), &bad, ExtPart::CoreRelo, 24);
    assert!(why.contains("ends past the section"), "{why}");
}

#[test]
fn a_wrong_record_size_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = original();
    let l = layout(&data);
    assert_eq!(rd32(&data, l.start + l.core_relo), 16);
    for size in [12, 18] {
        let mut bad = data.clone();
        wr32(&mut bad, l.start + l.core_relo, size);
        let why = refused(dir.path(), &bad, ExtPart::CoreRelo, l.core_relo);
        assert!(why.contains(&format!("record size {size}")), "{why}");
    }
    // A bigger multiple of 4 is legal (newer record layouts): it then misreads the
    // records, which validation catches at the first one that doesn't hold up.
    let mut bad = data.clone();
    wr32(&mut bad, l.start + l.core_relo, 20);
    let (_, r) = parse(dir.path(), &bad);
    assert!(
        matches!(
            r,
            Err(ObjectError::BadBtfExt {
                part: ExtPart::CoreRelo,
                ..
            })
        ),
        "{r:?}"
    );
}
