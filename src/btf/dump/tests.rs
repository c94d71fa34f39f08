//! The C dump against clang: headers that compile, with the layouts of the BTF.

use super::c::dump_with_names;
use super::*;
use crate::btf::testutil::Builder;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

fn clang() -> Option<&'static str> {
    let ok = Command::new("clang-19")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: clang-19 is not installed");
    }
    ok.then_some("clang-19")
}

/// Compiles `src` (which may include "vmlinux.h", given as `header`) for BPF.
fn compile(clang: &str, header: &str, src: &str) -> Result<(), String> {
    if let Ok(d) = std::env::var("DUMP_KEEP") {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(Path::new(&d).join("vmlinux.h"), header).unwrap();
        std::fs::write(Path::new(&d).join("prog.bpf.c"), src).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vmlinux.h"), header).unwrap();
    let c = dir.path().join("prog.bpf.c");
    std::fs::write(&c, src).unwrap();
    let out = Command::new(clang)
        .args([
            "-target",
            "bpf",
            "-O2",
            "-g",
            "-Wall",
            "-Werror",
            "-Wno-unused-function",
        ])
        .arg("-I")
        .arg(dir.path())
        .arg("-c")
        .arg(&c)
        .arg("-o")
        .arg(dir.path().join("prog.o"))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .chars()
            .take(6000)
            .collect())
    }
}

/// True if a value of type `id` holds a `__builtin_va_list`, whose size differs between
/// x86-64 (24 bytes) and BPF (8): like libbpf, we leave it to the compiler's definition.
fn holds_va_list(btf: &Btf, id: u32, depth: usize) -> bool {
    let Ok(t) = btf.type_by_id(id) else {
        return false;
    };
    if depth > 64 {
        return false;
    }
    match t.kind {
        Kind::Typedef if btf.name_of(&t).unwrap() == "__builtin_va_list" => true,
        Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
            holds_va_list(btf, t.ref_type(), depth + 1)
        }
        Kind::Array => holds_va_list(btf, t.array().unwrap().elem_type, depth + 1),
        Kind::Struct | Kind::Union => t
            .members()
            .any(|m| holds_va_list(btf, m.type_id, depth + 1)),
        _ => false,
    }
}

/// `_Static_assert`s of every named struct/union's size and of the offsets of its named
/// non-bitfield members, in the emitted names.
fn layout_asserts(btf: &Btf, names: &[Option<String>]) -> String {
    let mut s = String::new();
    for id in 1..btf.len() {
        let t = btf.type_by_id(id).unwrap();
        if !t.kind.is_composite() || t.name_off == 0 || holds_va_list(btf, id, 0) {
            continue;
        }
        let Some(Some(n)) = names.get(id as usize) else {
            continue;
        };
        let kw = if t.kind == Kind::Struct {
            "struct"
        } else {
            "union"
        };
        let name = format!("{kw} {n}");
        let _ = writeln!(
            s,
            "_Static_assert(sizeof({name}) == {}, \"size {name}\");",
            t.size()
        );
        for m in t.members() {
            let mn = btf.str_at(m.name_off).unwrap();
            if mn.is_empty() || m.bitfield_size != 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "_Static_assert(__builtin_offsetof({name}, {mn}) == {}, \"{name}.{mn}\");",
                m.bit_offset / 8
            );
        }
    }
    s
}

#[test]
fn small_btf_dumps_and_compiles_with_the_same_layout() {
    const PTR: u32 = 2;
    const ARRAY: u32 = 3;
    const STRUCT: u32 = 4;
    const UNION: u32 = 5;
    const ENUM: u32 = 6;
    const FWD: u32 = 7;
    const TYPEDEF: u32 = 8;
    const CONST: u32 = 10;
    const PROTO: u32 = 13;
    let m = |b: &mut Builder, ms: &[(&str, u32, u32, u32)]| -> Vec<u32> {
        ms.iter()
            .flat_map(|&(n, t, off, bits)| [b.s(n), t, (bits << 24) | off])
            .collect()
    };
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
    b.int("char", 1, 8, true); // 2
    b.int("long unsigned int", 8, 64, false); // 3
    b.raw("u32", TYPEDEF, 0, false, 11, &[]); // 4: its target comes later in id order
                                              // 5: struct node { struct node *next; u32 id; int flag:1; int rest:7; int x; } (24 bytes)
    let ms = m(
        &mut b,
        &[
            ("next", 6, 0, 0),
            ("id", 4, 64, 0),
            ("flag", 1, 96, 1),
            ("rest", 1, 97, 7),
            ("x", 1, 128, 0),
        ],
    );
    b.raw("node", STRUCT, 5, true, 24, &ms);
    b.raw("", PTR, 0, false, 5, &[]); // 6: struct node *
    b.raw("", ARRAY, 0, false, 0, &[2, 1, 16]); // 7: char[16]
    let ms = m(&mut b, &[("c", 2, 0, 0), ("v", 3, 8, 0)]);
    b.raw("packed_thing", STRUCT, 2, false, 9, &ms); // 8: needs packed
    let (a, bb) = (b.s("A"), b.s("B"));
    b.raw("e", ENUM, 2, false, 4, &[a, 0, bb, 5]); // 9
    let a2 = b.s("A");
    b.raw("", ENUM, 1, false, 4, &[a2, 7]); // 10: top-level anonymous enum, A clashes
    b.int("unsigned int", 4, 32, false); // 11
    let ms = m(
        &mut b,
        &[
            ("n", 5, 0, 0),
            ("name", 7, 192, 0),
            ("p", 8, 320, 0),
            ("k", 9, 416, 0),
            ("cb", 15, 448, 0),
            ("u", 14, 512, 0),
            ("fwd", 16, 576, 0),
            ("tail", 1, 704, 0),
        ],
    );
    b.raw("outer", STRUCT, 8, false, 128, &ms); // 12: `tail` after a gap; size with a tail gap
    b.raw("", PROTO, 2, false, 1, &[0, 6, 0, 17]); // 13: int (struct node *, const char *)
    let ms = m(&mut b, &[("i", 1, 0, 0), ("l", 3, 0, 0)]);
    b.raw("", UNION, 2, false, 8, &ms); // 14: anonymous union
    b.raw("", PTR, 0, false, 13, &[]); // 15: pointer to the prototype
    b.raw("", PTR, 0, false, 18, &[]); // 16: struct opaque *
    b.raw("", PTR, 0, false, 19, &[]); // 17: const char *
    b.raw("opaque", FWD, 0, false, 0, &[]); // 18
    b.raw("", CONST, 0, false, 2, &[]); // 19
    let ms = m(&mut b, &[("v", 1, 0, 0)]);
    b.raw("node", UNION, 1, false, 4, &ms); // 20: a union with a struct's tag: renamed
    let ms = m(&mut b, &[("c", 2, 0, 0)]);
    b.raw("padded", UNION, 1, false, 16, &ms); // 21: larger than its one char
    b.raw("empty_u", TYPEDEF, 0, false, 23, &[]); // 22
    b.raw("", UNION, 0, false, 8, &[]); // 23: no members left, 8 bytes
    let btf = Btf::parse(b.build()).unwrap();
    let (h, names) = dump_with_names(&btf);
    assert!(
        h.contains("union padded {\n\tchar c;\n\tstruct {\n\t\tlong: 64;\n\t\tlong: 64;\n\t};\n};"),
        "{h}"
    );
    assert!(
        h.contains("typedef union {\n\tlong: 64;\n} empty_u;"),
        "{h}"
    );
    assert!(
        h.contains(
            "struct packed_thing {\n\tchar c;\n\tlong unsigned int v;\n} __attribute__((packed));"
        ),
        "{h}"
    );
    assert!(
        h.contains("\tint (*cb)(struct node *, const char *);"),
        "{h}"
    );
    assert!(h.contains("A___2 = 7,"), "{h}");
    assert!(h.contains("union node___2"), "{h}");
    assert!(
        h.contains("\tunion {\n\t\tint i;\n\t\tlong unsigned int l;\n\t} u;"),
        "{h}"
    );
    assert!(h.contains("\tint flag: 1;\n\tint rest: 7;"), "{h}");
    // typedef u32 comes before struct node, which uses it by value.
    assert!(h.find("typedef unsigned int u32;").unwrap() < h.find("struct node {").unwrap());
    assert!(h.find("struct node {").unwrap() < h.find("struct outer {").unwrap());
    let Some(clang) = clang() else { return };
    let src = format!(
        "#include \"vmlinux.h\"\n{}\n_Static_assert(sizeof(empty_u) == 8, \"empty_u\");\n\
         int x(struct outer *o) {{ return o->k + (int)o->n.id; }}\n",
        layout_asserts(&btf, &names)
    );
    compile(clang, &h, &src).unwrap_or_else(|e| panic!("{e}\n{h}"));
}

#[test]
fn malformed_btf_does_not_crash() {
    const STRUCT: u32 = 4;
    const TYPEDEF: u32 = 8;
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
                               // 2..: a chain of 5000 anonymous structs, each holding the next; the last holds itself.
    let n = 5000u32;
    for i in 0..n {
        let next = if i + 1 < n { 3 + i } else { 2 + i };
        let x = b.s("x");
        b.raw("", STRUCT, 1, false, 4, &[x, next, 0]);
    }
    let top = b.s("top");
    let _ = top;
    let x = b.s("x");
    b.raw("top", STRUCT, 1, false, 4, &[x, 2, 0]); // n + 2
    b.raw("loop_a", TYPEDEF, 0, false, n + 4, &[]); // n + 3
    b.raw("loop_b", TYPEDEF, 0, false, n + 3, &[]); // n + 4
    let x = b.s("x");
    b.raw("self", STRUCT, 1, false, 4, &[x, n + 5, 0]); // n + 5: contains itself
    let btf = Btf::parse(b.build()).unwrap();
    let h = dump_c(&btf);
    assert!(h.contains("struct top {"));
    assert!(h.contains("typedef loop_b loop_a;") || h.contains("typedef loop_a loop_b;"));
}

/// Found by the `btf_dump` fuzz target: a struct that declares 4 GiB made a line of
/// padding per 8 bytes (gigabytes of header from a 60-byte BTF). A union larger than
/// its members took the same path.
#[test]
fn huge_struct_padding_is_one_array_with_the_same_layout() {
    const STRUCT: u32 = 4;
    const UNION: u32 = 5;
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
    let x = b.s("x");
    b.raw("huge", STRUCT, 1, false, u32::MAX - 7, &[x, 1, 0]); // 2
    let y = b.s("y");
    b.raw("page", STRUCT, 1, false, 4100, &[y, 1, 4096 * 8]); // 3: page-aligned member
    let z = b.s("z");
    b.raw("huge_u", UNION, 1, false, 1 << 20, &[z, 1, 0]); // 4: members left out
    let btf = Btf::parse(b.build()).unwrap();
    let (h, names) = dump_with_names(&btf);
    assert!(h.len() < 64 << 10, "header of {} bytes", h.len());
    let (huge, page) = h.split_once("struct page {").unwrap();
    assert!(
        huge.contains("\tlong: 64;\n\tchar __pad_16[4294967272];"),
        "{h}"
    );
    // Kernel-sized gaps keep libbpf's (and bpftool's) unnamed bitfields.
    let (page, huge_u) = page.split_once("union huge_u {").unwrap();
    assert_eq!(page.matches("long: 64;").count(), 512, "{h}");
    assert!(!page.contains("__pad"), "{h}");
    assert!(
        huge_u.contains("\tstruct {\n\t\tlong: 64;\n\t\tchar __pad_8[1048568];\n\t};"),
        "{h}"
    );
    let Some(clang) = clang() else { return };
    let src = format!("#include \"vmlinux.h\"\n{}", layout_asserts(&btf, &names));
    compile(clang, &h, &src).unwrap_or_else(|e| panic!("{e}\n{h}"));
}

/// Anonymous unions shared at every level of a deep nest: each use inlines the
/// definition again, 2^depth times without a limit (and walking their members for the
/// declarations they need took as long). Past the inline budget they become stubs of
/// the same size and alignment, so the layout holds.
#[test]
fn shared_anonymous_nest_dumps_in_bounded_size() {
    const STRUCT: u32 = 4;
    const UNION: u32 = 5;
    let mut b = Builder::new();
    b.int("long int", 8, 64, true); // 1
    b.int("char", 1, 8, true); // 2
    let depth = 200u32;
    for i in 0..depth {
        // 3 + i: union { T a; T b; } with T the next one (the last holds longs).
        let next = if i + 1 < depth { 4 + i } else { 1 };
        let (a, c) = (b.s("a"), b.s("b"));
        b.raw("", UNION, 2, false, 8, &[a, next, 0, c, next, 0]);
    }
    let (c, u) = (b.s("c"), b.s("u"));
    // struct top { char c; union {...} u; }: `u` at 8 only by its alignment.
    b.raw("top", STRUCT, 2, false, 16, &[c, 2, 0, u, 3, 64]);
    let btf = Btf::parse(b.build()).unwrap();
    let t = std::time::Instant::now();
    let (h, names) = dump_with_names(&btf);
    eprintln!("{} bytes in {:?}", h.len(), t.elapsed());
    assert!(h.len() < 1 << 20, "header of {} bytes", h.len());
    assert!(h.contains("struct top {"), "{}", &h[..4096]);
    assert!(
        h.contains("union { char __anon_"),
        "no stub: {}",
        &h[..4096]
    );
    assert!(
        h.contains("]; } __attribute__((aligned(8)))"),
        "{}",
        &h[..4096]
    );
    let _ = names;
    let Some(clang) = clang() else { return };
    // The layout of `top` only: layout_asserts walks every member path, 2^depth here.
    let src = "#include \"vmlinux.h\"\n\
               _Static_assert(sizeof(struct top) == 16, \"size\");\n\
               _Static_assert(__builtin_offsetof(struct top, u) == 8, \"offset\");\n";
    compile(clang, &h, src).unwrap_or_else(|e| panic!("{e}\n{}", &h[..4096]));
}

/// The stub and the padding array are for hostile BTF only: a kernel's header is
/// libbpf's (bpftool's) text.
#[test]
fn kernel_vmlinux_h_has_no_stubs() {
    if !Path::new(crate::btf::kernel::SYSFS_VMLINUX).exists() {
        eprintln!("skipping: no kernel BTF");
        return;
    }
    let btf = crate::btf::kernel::vmlinux_btf().unwrap();
    let h = dump_c(&btf);
    assert!(!h.contains("__anon_"), "an anonymous type became a stub");
    assert!(!h.contains("char __pad_"), "a padding gap became an array");
}

#[test]
fn kernel_vmlinux_h_compiles_with_the_kernel_layout() {
    if !Path::new(crate::btf::kernel::SYSFS_VMLINUX).exists() {
        eprintln!("skipping: no kernel BTF");
        return;
    }
    let btf = crate::btf::kernel::vmlinux_btf().unwrap();
    let t = std::time::Instant::now();
    let (h, names) = dump_with_names(&btf);
    eprintln!("dump_c of vmlinux: {} bytes in {:?}", h.len(), t.elapsed());
    let Some(clang) = clang() else { return };
    let have_libbpf = Path::new("/usr/include/bpf/bpf_helpers.h").exists();
    let mut src = String::from("#include \"vmlinux.h\"\n");
    if have_libbpf {
        src.push_str(
            "#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n#include <bpf/bpf_tracing.h>\n\
             char LICENSE[] SEC(\"license\") = \"GPL\";\n\
             SEC(\"tp_btf/sched_switch\")\n\
             int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)\n\
             {\n\
             \tint pid = BPF_CORE_READ(next, pid);\n\
             \tunsigned int st = BPF_CORE_READ(prev, __state);\n\
             \tchar comm[16];\n\
             \tbpf_core_read_str(comm, sizeof(comm), &next->comm);\n\
             \treturn pid + (int)st + comm[0];\n\
             }\n",
        );
    } else {
        src.push_str("int f(struct task_struct *t) { return t->pid; }\n");
    }
    src.push_str(&layout_asserts(&btf, &names));
    compile(clang, &h, &src).unwrap_or_else(|e| panic!("vmlinux.h does not compile:\n{e}"));
}
