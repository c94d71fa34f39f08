//! `corebpf btf dump` against bpftool: the kernel's BTF, a file, split BTF on a base,
//! and the BTF of a program another process (bpftool) loaded, by id; text and --json.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use corebpf::btf::{kernel, Btf, Kind};

fn dump(args: &[&str]) -> String {
    ok(corebpf().args(["btf", "dump"]).args(args).output().unwrap())
}

fn bpftool(args: &[&str]) -> String {
    ok(Command::new("bpftool").args(args).output().unwrap())
}

/// Removes a path when dropped (a pin, a directory), also when an assertion fails.
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_kernels_btf_as_bpftool_lists_it() {
    if !Path::new(kernel::SYSFS_VMLINUX).exists() || !have_bpftool() {
        return;
    }
    let ours = dump(&["--kernel"]);
    assert_eq!(
        ours,
        bpftool(&["btf", "dump", "file", kernel::SYSFS_VMLINUX])
    );
    // --id 1 is vmlinux; the kernel gives vmlinux's BTF an id since 5.11.
    if kernel_at_least((5, 11)) {
        assert_eq!(dump(&["--id", "1"]), ours);
    } else {
        println!("SKIP: btf dump --id 1: vmlinux BTF ids are new in 5.11");
    }
    let json: serde_json::Value = serde_json::from_str(&dump(&["--kernel", "--json"])).unwrap();
    let types = json["types"].as_array().unwrap();
    let btf = kernel::load_btf_file(Path::new(kernel::SYSFS_VMLINUX)).unwrap();
    assert_eq!(types.len() as u32, btf.len() - 1);
    let id = btf.find_by_name_kind("list_head", Kind::Struct).unwrap();
    let t = &types[id as usize - 1];
    assert_eq!(t["id"], id);
    assert_eq!(t["kind"], "STRUCT");
    assert_eq!(t["name"], "list_head");
    assert_eq!(t["size"], 16);
    assert_eq!(t["members"][1]["name"], "prev");
    assert_eq!(t["members"][1]["bits_offset"], 64);
}

#[test]
fn a_header_and_one_type_with_what_it_needs() {
    if !Path::new(kernel::SYSFS_VMLINUX).exists() {
        println!("SKIP: the kernel has no BTF");
        return;
    }
    let btf = kernel::vmlinux_btf().unwrap();
    let header = dump(&["--kernel", "--format", "c"]);
    assert_eq!(header, corebpf::btf::dump::dump_c(&btf));
    assert!(header.starts_with("#ifndef __VMLINUX_H__\n"));
    assert!(header.contains("\nstruct task_struct {\n"));

    // One type: its definition, what it embeds, declarations of what it points to.
    let one = dump(&["--kernel", "--format", "c", "--type", "list_head"]);
    assert!(
        one.contains(
            "struct list_head {\n\tstruct list_head *next;\n\tstruct list_head *prev;\n};"
        ),
        "{one}"
    );
    assert!(!one.contains("struct task_struct"), "{one}");
    let raw = dump(&["--kernel", "--type", "list_head"]);
    let id = btf.find_by_name_kind("list_head", Kind::Struct).unwrap();
    let lines: Vec<&str> = raw.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 2, "the struct and its pointer:\n{raw}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("[{id}] STRUCT 'list_head' size=16"))),
        "{raw}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&dump(&["--kernel", "--type", "list_head", "--json"])).unwrap();
    assert_eq!(json["types"].as_array().unwrap().len(), 2);
}

/// Split BTF on the 6.1 fixture, as a module's: a struct pointing at the base's
/// task_struct, the pointer, a typedef of the struct.
fn split_blob(base: &Btf) -> Vec<u8> {
    let task = base.find_by_name_kind("task_struct", Kind::Struct).unwrap();
    let int = base.find_by_name_kind("int", Kind::Int).unwrap();
    let first = base.len();
    let str0 = base.header().str_len;
    let strs = b"corebpf_split\0task\0n\0corebpf_split_t\0";
    let off = |s: &str| {
        let pos = strs
            .windows(s.len() + 1)
            .position(|w| &w[..s.len()] == s.as_bytes() && w[s.len()] == 0)
            .unwrap();
        str0 + pos as u32
    };
    let info = |kind: u32, vlen: u32| (kind << 24) | vlen;
    let words: Vec<u32> = vec![
        // [first] struct corebpf_split { struct task_struct *task; int n; }
        off("corebpf_split"),
        info(4, 2),
        16,
        off("task"),
        first + 1,
        0,
        off("n"),
        int,
        64,
        // [first + 1] pointer to task_struct
        0,
        info(2, 0),
        task,
        // [first + 2] typedef struct corebpf_split corebpf_split_t
        off("corebpf_split_t"),
        info(8, 0),
        first,
    ];
    let types: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut blob = Vec::new();
    blob.extend_from_slice(&0xeb9fu16.to_le_bytes());
    blob.extend_from_slice(&[1, 0]);
    for w in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strs.len() as u32,
    ] {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    blob.extend_from_slice(&types);
    blob.extend_from_slice(strs);
    blob
}

#[test]
fn split_btf_on_a_base() {
    if !have_bpftool() {
        return;
    }
    let base_path = btf_6_1();
    let base = Btf::parse(std::fs::read(&base_path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("split.btf");
    std::fs::write(&split, split_blob(&base)).unwrap();
    let (s, b) = (split.to_str().unwrap(), base_path.to_str().unwrap());
    let ours = dump(&[s, "--base", b]);
    assert_eq!(ours, bpftool(&["btf", "dump", "file", s, "-B", b]));
    assert_eq!(
        ours.lines().filter(|l| l.starts_with('[')).count(),
        3,
        "{ours}"
    );
    assert!(
        ours.contains("STRUCT 'corebpf_split' size=16 vlen=2"),
        "{ours}"
    );
    let header = dump(&[s, "-B", b, "--format", "c"]);
    assert!(
        header.contains("struct corebpf_split {\n\tstruct task_struct *task;\n\tint n;\n};"),
        "{}",
        &header[header.len().saturating_sub(500)..]
    );
    assert!(header.contains("typedef struct corebpf_split corebpf_split_t;"));
    // Without its base the split BTF's strings point nowhere.
    let out = corebpf().args(["btf", "dump", s]).output().unwrap();
    assert!(!out.status.success());
}

/// A program bpftool loads and pins, unpinned (and so unloaded) on drop.
struct BpftoolProg {
    _pin: Remove,
}

fn bpftool_load(object: &str) -> Option<(BpftoolProg, u32)> {
    setup();
    let pin = PathBuf::from(format!(
        "/sys/fs/bpf/corebpf-btf-test-{}",
        std::process::id()
    ));
    let guard = BpftoolProg {
        _pin: Remove(pin.clone()),
    };
    let load = Command::new("bpftool")
        .args(["prog", "load"])
        .arg(prog(object))
        .arg(&pin)
        .output()
        .unwrap();
    if !load.status.success() {
        panic!(
            "bpftool prog load: {}",
            String::from_utf8_lossy(&load.stderr)
        );
    }
    let show = bpftool(&["-j", "prog", "show", "pinned", pin.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_str(&show).unwrap();
    let btf_id = info["btf_id"].as_u64()? as u32;
    Some((guard, btf_id))
}

#[test]
fn the_btf_of_a_program_bpftool_loaded_by_id() {
    if !have_bpftool() {
        return;
    }
    let Some((_prog, id)) = bpftool_load("hello.bpf.o") else {
        panic!("bpftool's program has no BTF id");
    };
    let s = id.to_string();
    let ours = dump(&["--id", &s]);
    assert_eq!(ours, bpftool(&["btf", "dump", "id", &s]));
    assert!(ours.contains("STRUCT 'event'"), "{ours}");
    let header = dump(&["--id", &s, "--format", "c"]);
    assert_eq!(header, bpftool(&["btf", "dump", "id", &s, "format", "c"]));
}

#[test]
fn errors_say_what_is_wrong() {
    for (args, says) in [
        (&["/etc/hostname"][..], "neither raw BTF nor an ELF file"),
        (&["/nonexistent/btf"], "/nonexistent/btf"),
        (
            &["--kernel", "--format", "c", "--json"],
            "--json is for raw records",
        ),
        (
            &["--kernel", "--type", "corebpf_no_such_type"],
            "no type named 'corebpf_no_such_type'",
        ),
        (&["--id", "4000000000"], "opening BTF object 4000000000"),
        (&["--kernel", "--base", "/etc/hostname"], "/etc/hostname"),
    ] {
        let out = corebpf().args(["btf", "dump"]).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
