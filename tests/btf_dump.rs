//! `btf::dump` against clang and bpftool, on every kernel BTF at hand (the running
//! kernel's, `btf-fixtures/vmlinux-*.btf`):
//!
//! - layouts: our header and bpftool's are compiled by clang (`-target bpf -g`) in a
//!   translation unit that points at every named struct, union, enum and typedef; the
//!   size of each and the offset of every member, read back from the two objects' BTF
//!   with the library's reader, must equal the BTF's own — and bpftool's wherever
//!   bpftool's header is right;
//! - text: the raw listing equals `bpftool btf dump`'s, the C header bpftool's except
//!   for the enum sizes bpftool 7.1 leaves out;
//! - use: every `bpf-progs` program builds with our header in place of bpftool's.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use corebpf::btf::{dump, kernel, Btf, Kind};

const CLANG: &str = "clang-19";

fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// clang and bpftool, or a SKIP line naming the missing one.
fn tools(test: &str) -> bool {
    for (tool, arg) in [(CLANG, "--version"), ("bpftool", "version")] {
        if !have(tool, arg) {
            common::feature::skip(test, &format!("{tool} is not installed"));
            return false;
        }
    }
    true
}

/// The kernel BTFs to check: the running kernel's and the committed fixtures.
fn kernel_btfs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if Path::new(kernel::SYSFS_VMLINUX).exists() {
        out.push(PathBuf::from(kernel::SYSFS_VMLINUX));
    }
    let fixtures = common::btf_6_1()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap_or_default().to_string_lossy();
                    n.starts_with("vmlinux-") && n.ends_with(".btf")
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    out.extend(found);
    out
}

fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(4000)
                .collect::<String>()
        ))
    }
}

fn bpftool_dump(path: &Path, c: bool) -> String {
    let mut cmd = Command::new("bpftool");
    cmd.args(["btf", "dump", "file"]).arg(path);
    if c {
        cmd.args(["format", "c"]);
    }
    String::from_utf8(run(&mut cmd).unwrap()).unwrap()
}

// -----------------------------------------------------------------------------------
// Layouts
// -----------------------------------------------------------------------------------

/// True if a value of type `id` holds a `__builtin_va_list`: 24 bytes in the kernel's
/// (x86-64) BTF, 8 for clang's BPF target, in both headers alike.
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

/// The layout of type `id`, typedefs and qualifiers resolved: a struct/union's size and,
/// per member, its name, bit offset, bitfield width and type (size and kind; anonymous
/// structs and unions spelled out); an enum's size and values.
fn layout(btf: &Btf, id: u32, depth: usize) -> String {
    let Ok(rid) = btf.skip_mods_and_typedefs(id) else {
        return "loop".into();
    };
    let t = btf.type_by_id(rid).unwrap();
    if is_declaration(&t) {
        return "declaration".into();
    }
    let size = btf.resolve_size(rid).unwrap_or(0);
    match t.kind {
        Kind::Struct | Kind::Union if depth < 32 => {
            let mut s = format!("{}{size}{{", if t.kind == Kind::Struct { 'S' } else { 'U' });
            for m in t.members() {
                let name = btf.str_at(m.name_off).unwrap();
                let ty = match btf.skip_mods_and_typedefs(m.type_id) {
                    Ok(mt) => {
                        let mt = btf.type_by_id(mt).unwrap();
                        if mt.kind.is_composite() && mt.name_off == 0 {
                            layout(btf, mt.id, depth + 1)
                        } else {
                            format!("{}{}", mt.kind.name(), btf.resolve_size(mt.id).unwrap_or(0))
                        }
                    }
                    Err(_) => "loop".into(),
                };
                let _ = write!(s, "{name}@{}:{}:{ty};", m.bit_offset, m.bitfield_size);
            }
            s.push('}');
            s
        }
        Kind::Enum | Kind::Enum64 => {
            let mut s = format!("E{size}(");
            for v in t.enum_values() {
                let _ = write!(s, "{},", v.value);
            }
            s.push(')');
            s
        }
        k => format!("{}{size}", k.name()),
    }
}

/// A forward declaration: a FWD, or an enum without enumerators. Its layout is whatever
/// a definition of the same name elsewhere in the BTF says, or none.
fn is_declaration(t: &corebpf::btf::Type<'_>) -> bool {
    t.kind == Kind::Fwd || (matches!(t.kind, Kind::Enum | Kind::Enum64) && t.vlen() == 0)
}

/// The types the layout check covers: named structs, unions, enums and typedefs, with
/// the C name each has in the header.
fn covered(btf: &Btf, names: &[Option<String>]) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for id in 1..btf.len() {
        let Some(Some(name)) = names.get(id as usize) else {
            continue;
        };
        let t = btf.type_by_id(id).unwrap();
        let spelled = match t.kind {
            Kind::Struct => format!("struct {name}"),
            Kind::Union => format!("union {name}"),
            Kind::Enum | Kind::Enum64 => format!("enum {name}"),
            Kind::Typedef if name != "__builtin_va_list" => name.clone(),
            _ => continue,
        };
        out.push((id, spelled));
    }
    out
}

/// A translation unit with a global pointer `v_ID` to every covered type: clang emits
/// each pointed-to type in full into the object's BTF.
fn every_type_tu(types: &[(u32, String)]) -> String {
    let mut s = String::from("#include \"vmlinux.h\"\n");
    for (id, spelled) in types {
        let _ = writeln!(s, "{spelled} *v_{id};");
    }
    s
}

/// Compiles `tu` against `header` and reads back, per `v_ID`, the layout clang gave
/// the type it points at.
fn clang_layouts(header: &str, tu: &str) -> Result<BTreeMap<u32, String>, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vmlinux.h"), header).unwrap();
    let src = dir.path().join("types.c");
    std::fs::write(&src, tu).unwrap();
    let obj = dir.path().join("types.o");
    run(Command::new(CLANG)
        .args(["-target", "bpf", "-g", "-O2", "-c"])
        .arg("-I")
        .arg(dir.path())
        .arg(&src)
        .arg("-o")
        .arg(&obj))?;
    let btf = kernel::load_btf_file(&obj).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for t in btf.types() {
        if t.kind != Kind::Var {
            continue;
        }
        let Some(id) = btf
            .name_of(&t)
            .unwrap()
            .strip_prefix("v_")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let ptr = btf.type_by_id(t.ref_type()).unwrap();
        assert_eq!(ptr.kind, Kind::Ptr, "v_{id} is a pointer");
        out.insert(id, layout(&btf, ptr.ref_type(), 0));
    }
    Ok(out)
}

/// What the layout check of one BTF found.
#[derive(Debug, Default)]
struct Tally {
    compared: usize,
    va_list: usize,
    /// Typedefs of forward declarations (the header may complete them by name).
    declarations: usize,
    /// Ours differs from the BTF.
    ours_wrong: Vec<String>,
    /// bpftool's differs from the BTF.
    bpftool_wrong: Vec<String>,
    /// Ours differs from bpftool's where bpftool's is right.
    disagree: Vec<String>,
}

fn check_layouts(path: &Path) -> Tally {
    let btf = kernel::load_btf_file(path).unwrap();
    let ours = dump::dump_c(&btf);
    let theirs = bpftool_dump(path, true);
    let names = dump::c_names(&btf);
    let types = covered(&btf, &names);
    let tu = every_type_tu(&types);
    let ours_l = clang_layouts(&ours, &tu)
        .unwrap_or_else(|e| panic!("{}: our header:\n{e}", path.display()));
    let theirs_l = clang_layouts(&theirs, &tu)
        .unwrap_or_else(|e| panic!("{}: bpftool's header:\n{e}", path.display()));
    let mut tally = Tally::default();
    for (id, spelled) in &types {
        let (Some(o), Some(b)) = (ours_l.get(id), theirs_l.get(id)) else {
            panic!("{}: clang dropped {spelled} [{id}]", path.display());
        };
        tally.compared += 1;
        if o != b {
            let truth = layout(&btf, *id, 0);
            if *b == truth {
                tally
                    .disagree
                    .push(format!("{spelled} [{id}]:\n ours    {o}\n bpftool {b}"));
            }
        }
        if holds_va_list(&btf, *id, 0) {
            tally.va_list += 1;
            continue;
        }
        let truth = layout(&btf, *id, 0);
        if truth == "declaration" {
            tally.declarations += 1;
            continue;
        }
        if *o != truth {
            tally
                .ours_wrong
                .push(format!("{spelled} [{id}]:\n ours {o}\n BTF  {truth}"));
        }
        if *b != truth {
            tally.bpftool_wrong.push(format!("{spelled} [{id}]"));
        }
    }
    tally
}

#[test]
fn every_layout_matches_the_btf_and_bpftool() {
    const TEST: &str = "every_layout_matches_the_btf_and_bpftool";
    if !tools(TEST) {
        return;
    }
    let btfs = kernel_btfs();
    assert!(!btfs.is_empty(), "no kernel BTF and no fixtures");
    for path in btfs {
        let t = check_layouts(&path);
        println!(
            "{}: {} types compared ({} hold a va_list, sized by the compiler; {} declarations \
             only); ours differs from the BTF in {}, from bpftool's in {} where bpftool's is \
             right; bpftool's differs from the BTF in {}",
            path.display(),
            t.compared,
            t.va_list,
            t.declarations,
            t.ours_wrong.len(),
            t.disagree.len(),
            t.bpftool_wrong.len()
        );
        for b in t.bpftool_wrong.iter().take(5) {
            println!("  bpftool's header is wrong about {b}");
        }
        assert!(
            t.compared > 1000,
            "{}: only {} types",
            path.display(),
            t.compared
        );
        assert!(
            t.ours_wrong.is_empty(),
            "{}: our layouts differ from the BTF:\n{}",
            path.display(),
            t.ours_wrong.join("\n")
        );
        assert!(
            t.disagree.is_empty(),
            "{}: our layouts differ from bpftool's where bpftool's are right:\n{}",
            path.display(),
            t.disagree.join("\n")
        );
    }
}

// -----------------------------------------------------------------------------------
// Text
// -----------------------------------------------------------------------------------

/// A line of padding we add to a union that BTF makes larger than its members.
fn is_union_padding(line: &str) -> bool {
    let l = line.trim_start_matches('\t');
    ["char: ", "short: ", "int: ", "long: "]
        .iter()
        .any(|p| l.starts_with(p) && l.ends_with(';'))
        || l == "struct {"
        || l == "};"
}

/// How `ours` differs from `theirs` line by line: lines replaced (`theirs`, `ours`), and
/// lines of ours with nothing in theirs (union padding only).
fn line_changes(theirs: &str, ours: &str) -> (Vec<(String, String)>, Vec<String>) {
    let (t, o): (Vec<_>, Vec<_>) = (theirs.lines().collect(), ours.lines().collect());
    let (mut i, mut j) = (0, 0);
    let (mut replaced, mut inserted) = (Vec::new(), Vec::new());
    while i < t.len() || j < o.len() {
        match (t.get(i), o.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            // Padding we insert; theirs continues after it.
            (_, Some(b)) if is_union_padding(b) => {
                inserted.push(b.to_string());
                j += 1;
            }
            (Some(a), Some(b)) => {
                replaced.push((a.to_string(), b.to_string()));
                i += 1;
                j += 1;
            }
            (a, b) => panic!("the headers end differently: {a:?} / {b:?}"),
        }
    }
    (replaced, inserted)
}

#[test]
fn the_text_is_bpftools() {
    const TEST: &str = "the_text_is_bpftools";
    if !tools(TEST) {
        return;
    }
    let mut objects: Vec<PathBuf> = std::fs::read_dir(common::prog(""))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    objects.sort();
    assert!(objects.len() > 5);
    for path in kernel_btfs().iter().chain(&objects) {
        let btf = kernel::load_btf_file(path).unwrap();
        assert_eq!(
            dump::dump_raw(&btf),
            bpftool_dump(path, false),
            "raw listing of {}",
            path.display()
        );
    }
    for path in kernel_btfs() {
        let btf = kernel::load_btf_file(&path).unwrap();
        let (replaced, inserted) = line_changes(&bpftool_dump(&path, true), &dump::dump_c(&btf));
        // libbpf 1.1 (bpftool 7.1) gives 1- and 8-byte enums no mode attribute, so clang
        // makes them 4 bytes; nor does it pad unions BTF makes larger than their members.
        // Those are the only lines we write otherwise.
        for (theirs, ours) in &replaced {
            assert_eq!(theirs, "};", "{}: {theirs:?} -> {ours:?}", path.display());
            assert!(
                ours == "} __attribute__((mode(byte)));"
                    || ours == "} __attribute__((mode(word)));",
                "{}: {theirs:?} -> {ours:?}",
                path.display()
            );
        }
        let sized = btf
            .types()
            .filter(|t| {
                matches!(t.kind, Kind::Enum | Kind::Enum64)
                    && t.vlen() > 0
                    && (t.size() == 1 || (t.size() == 8 && t.kind == Kind::Enum))
            })
            .count();
        println!(
            "{}: the C header differs from bpftool's in {} lines (mode attributes of enums of \
             1 or 8 bytes, {sized} in the BTF) and {} added lines (union padding)",
            path.display(),
            replaced.len(),
            inserted.len()
        );
    }
}

// -----------------------------------------------------------------------------------
// bpf-progs with our header
// -----------------------------------------------------------------------------------

/// The identifier at 1-based `col` of `line` in `file`.
fn identifier_at(file: &Path, line: usize, col: usize) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let rest = l.get(col.checked_sub(1)?..)?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Names the program defines itself that vmlinux.h defines too, from clang's
/// "redefinition" errors located in the program's own source.
fn redefined(stderr: &str, source: &Path) -> Vec<String> {
    let file = source.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    for l in stderr.lines() {
        let Some((loc, msg)) = l.split_once(": error: ") else {
            continue;
        };
        if !(msg.contains("redefinition") || msg.contains("conflicting types")) {
            continue;
        }
        let mut parts = loc.rsplitn(3, ':');
        let (Some(col), Some(line), Some(f)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if !f.ends_with(&file) {
            continue;
        }
        if let (Ok(line), Ok(col)) = (line.parse(), col.parse()) {
            out.extend(identifier_at(source, line, col));
        }
    }
    out
}

/// Builds `bpf-progs/NAME.bpf.c` with `header` as its kernel headers: `linux/bpf.h`,
/// `linux/types.h` and `linux/ptrace.h` are replaced by the header, whose definitions of
/// names the program defines itself are renamed away (found from clang's redefinition
/// errors, one round per batch).
fn build_with_header(source: &Path, header: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path();
    std::fs::create_dir(inc.join("linux")).unwrap();
    std::fs::write(inc.join("vmlinux.h"), header).unwrap();
    for h in ["bpf.h", "types.h", "ptrace.h"] {
        std::fs::write(
            inc.join("linux").join(h),
            "#include \"../kernel_types.h\"\n",
        )
        .unwrap();
    }
    let mut renamed: Vec<String> = Vec::new();
    for _ in 0..20 {
        let mut shim = String::from("#ifndef KERNEL_TYPES_H\n#define KERNEL_TYPES_H\n");
        for n in &renamed {
            let _ = writeln!(shim, "#define {n} {n}___vmlinux");
        }
        shim.push_str("#include \"vmlinux.h\"\n");
        for n in &renamed {
            let _ = writeln!(shim, "#undef {n}");
        }
        shim.push_str("#endif\n");
        std::fs::write(inc.join("kernel_types.h"), shim).unwrap();
        let out = Command::new(CLANG)
            .args([
                "-target",
                "bpf",
                "-mcpu=v3",
                "-O2",
                "-g",
                "-D__TARGET_ARCH_x86",
                "-Wall",
                "-Werror",
            ])
            .arg("-I")
            .arg(inc)
            .arg("-c")
            .arg(source)
            .arg("-o")
            .arg(inc.join("prog.o"))
            .output()
            .unwrap();
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let more: Vec<String> = redefined(&stderr, source)
            .into_iter()
            .filter(|n| !renamed.contains(n))
            .collect();
        if more.is_empty() {
            return Err(stderr.chars().take(3000).collect());
        }
        renamed.extend(more);
        renamed.sort();
        renamed.dedup();
    }
    Err("still redefinitions after 20 rounds".into())
}

#[test]
fn every_bpf_prog_builds_with_our_header_in_place_of_bpftools() {
    const TEST: &str = "every_bpf_prog_builds_with_our_header_in_place_of_bpftools";
    if !tools(TEST) {
        return;
    }
    if !Path::new(kernel::SYSFS_VMLINUX).exists() {
        common::feature::skip(TEST, "the kernel has no BTF");
        return;
    }
    let btf = kernel::vmlinux_btf().unwrap();
    let ours = dump::dump_c(&btf);
    let theirs = bpftool_dump(Path::new(kernel::SYSFS_VMLINUX), true);
    let mut sources: Vec<PathBuf> = std::fs::read_dir(common::prog(""))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    assert!(sources.len() > 5);
    let mut built = 0;
    let mut failed = Vec::new();
    for src in &sources {
        let with_ours = build_with_header(src, &ours);
        // bpftool's header only matters when ours fails: it tells a program no vmlinux.h
        // serves from a fault of ours (and halves the compiles of this slow test).
        let with_bpftool = match &with_ours {
            Ok(()) => Ok(()),
            Err(_) => build_with_header(src, &theirs),
        };
        let name = src.file_name().unwrap().to_string_lossy();
        match (&with_ours, &with_bpftool) {
            (Ok(()), Ok(())) => built += 1,
            // Written against the user-space headers in a way no vmlinux.h serves
            // (kprobe.bpf.c reads `regs->rdi`, the uapi name of the kernel's `di`): the
            // same errors with either header.
            (Err(o), Err(b)) if without_paths(o) == without_paths(b) => {
                println!("{name}: does not build with bpftool's header either, for the same reasons:\n{o}")
            }
            _ => failed.push(format!(
                "{name}:\n with our header: {with_ours:?}\n with bpftool's: {with_bpftool:?}"
            )),
        }
    }
    println!(
        "{built} of {} bpf-progs programs build with our vmlinux.h and with bpftool's",
        sources.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    // Most programs use vmlinux.h alone; those written against the uapi headers (sockets,
    // TC, USDT) fail with either header and are reported above.
    assert!(built * 2 >= sources.len(), "only {built} programs build");
}

/// What the compiler complained of, without where: the `error:` messages in order
/// (the two headers put the same declaration on different lines).
fn without_paths(text: &str) -> String {
    text.lines()
        .filter_map(|l| l.split_once("error: ").map(|(_, what)| what))
        .collect::<Vec<_>>()
        .join("\n")
}
