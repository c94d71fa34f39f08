//! Generator tests: layouts from hand-made BTF, every bpf-progs object through
//! rustfmt, determinism.

use super::types::{Accessor, Item, Types};
use super::*;
use crate::btf::testutil::Builder as BtfBuilder;
use crate::btf::Btf;

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every object the generator is checked on: bpf-progs and the layouts fixture.
fn objects() -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(root().join("bpf-progs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    out.push(root().join("examples/skel/layouts.bpf.o"));
    out.sort();
    out
}

#[test]
fn the_same_object_gives_the_same_text() {
    for name in [
        "hello.bpf.o",
        "hello_buffer_config.bpf.o",
        "perf_events.bpf.o",
    ] {
        let bytes = read(&root().join("bpf-progs").join(name));
        let opts = SkelOptions::new("x").object_path(name);
        let a = generate(&bytes, &opts).unwrap();
        let b = generate(&bytes, &opts).unwrap();
        assert_eq!(a, b, "{name}");
        // Embedded rather than included: still the same text twice.
        let opts = SkelOptions::new("x");
        assert_eq!(
            generate(&bytes, &opts).unwrap(),
            generate(&bytes, &opts).unwrap()
        );
    }
}

/// rustfmt leaves every skeleton as it is: the generator writes what rustfmt writes.
#[test]
fn rustfmt_leaves_every_skeleton_unchanged() {
    if std::process::Command::new("rustfmt")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIP: no rustfmt on PATH");
        return;
    }
    let (mut checked, mut refused) = (0, 0);
    for path in objects() {
        let bytes = read(&path);
        let stem = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".bpf.o", "");
        let name = stem.replace('-', "_");
        let mut opts = SkelOptions::new(&name);
        // Embed the small ones (long byte-string lines), include the others.
        if bytes.len() > 8000 {
            opts = opts.object_path(format!("../../bpf-progs/{stem}.bpf.o"));
        }
        let text = match generate(&bytes, &opts) {
            Ok(t) => t,
            // Objects the parser refuses on purpose (missing_map) have no skeleton.
            Err(SkelError::NoBtf | SkelError::Object(_)) => {
                refused += 1;
                continue;
            }
            Err(e) => panic!("{}: {e:?}", path.display()),
        };
        let formatted = rustfmt(&text);
        if formatted != text {
            let diff = first_difference(&text, &formatted);
            panic!("{}: rustfmt changes the skeleton:\n{diff}", path.display());
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} objects checked");
    assert!(refused <= 2, "{refused} objects refused");
}

fn rustfmt(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "rustfmt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn first_difference(a: &str, b: &str) -> String {
    let (al, bl): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    let i = al
        .iter()
        .zip(&bl)
        .position(|(x, y)| x != y)
        .unwrap_or(al.len().min(bl.len()));
    let lo = i.saturating_sub(3);
    format!(
        "generated:\n{}\nrustfmt:\n{}",
        al[lo..(i + 6).min(al.len())].join("\n"),
        bl[lo..(i + 6).min(bl.len())].join("\n")
    )
}

/// Raw BTF: ints, an enum, a struct with padding, bitfields, a char array and a union.
fn hand_made() -> Btf {
    let mut b = BtfBuilder::new();
    b.int("unsigned int", 4, 32, false); // 1
    b.int("char", 1, 8, true); // 2
    b.int("unsigned long long", 8, 64, false); // 3
                                               // 4: enum state { ST_A = 0, ST_B = 5, ST_C = 5 } (a duplicate value).
    let (a, bb, c) = (b.s("ST_A"), b.s("ST_B"), b.s("ST_C"));
    b.raw("state", 6, 3, false, 4, &[a, 0, bb, 5, c, 5]);
    // 5: char[6]
    b.raw("", 3, 0, false, 0, &[2, 1, 6]);
    // 6: union u { unsigned int x; unsigned long long y; }
    let (x, y) = (b.s("x"), b.s("y"));
    b.raw("u", 5, 2, false, 8, &[x, 1, 0, y, 3, 0]);
    // 7: struct s { char c; /* 3 pad */ enum state st; unsigned int lo: 3, hi: 9;
    //               char name[6]; /* 2 pad */ union u v; /* 4 pad */ } size 32
    let names: Vec<u32> = ["c", "st", "lo", "hi", "name", "v"]
        .iter()
        .map(|n| b.s(n))
        .collect();
    let kf = |bits: u32, off: u32| (bits << 24) | off;
    let members = [
        names[0],
        2,
        kf(0, 0),
        names[1],
        4,
        kf(0, 32),
        names[2],
        1,
        kf(3, 64),
        names[3],
        1,
        kf(9, 67),
        names[4],
        5,
        kf(0, 96),
        names[5],
        6,
        kf(0, 160),
    ];
    b.raw("s", 4, 6, true, 32, &members);
    Btf::parse(b.build()).unwrap()
}

#[test]
fn layouts_make_padding_bitfields_enums_and_unions_explicit() {
    let btf = hand_made();
    let mut types = Types::new(&btf, &[]);
    let rt = types.rust_type(7, "S").unwrap();
    // The union is bytes: the Rust struct is 4-aligned where C's is 8, same offsets.
    assert_eq!((rt.text.as_str(), rt.size, rt.align), ("S", 32, 4));
    let structs: Vec<_> = types
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Struct(l) => Some(l),
            Item::Enum(_) => None,
        })
        .collect();
    let s = structs.iter().find(|l| l.name == "S").unwrap();
    let fields: Vec<(String, String, u32)> = s
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.ty.clone(), f.offset))
        .collect();
    let want = [
        ("c", "u8", 0),
        ("_pad_1", "[u8; 3]", 1),
        ("st", "u32", 4),
        ("_bitfield_8", "[u8; 2]", 8),
        ("_pad_10", "[u8; 2]", 10),
        ("name", "[u8; 6]", 12),
        ("_pad_18", "[u8; 2]", 18),
        ("v", "U", 20),
        ("_pad_28", "[u8; 4]", 28),
    ];
    let want: Vec<(String, String, u32)> = want
        .iter()
        .map(|(n, t, o)| (n.to_string(), t.to_string(), *o))
        .collect();
    assert_eq!(fields, want);
    assert!(!s.packed);
    let kinds: Vec<String> = s
        .accessors
        .iter()
        .map(|a| match a {
            Accessor::Enum { field, enum_name } => format!("enum {field} {enum_name}"),
            Accessor::Bitfield {
                name,
                bit,
                bits,
                ty,
                ..
            } => format!("bits {name} {bit}+{bits} {ty}"),
            Accessor::Str { field } => format!("str {field}"),
            Accessor::Union { name, ty, .. } => format!("union {name} {ty}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "enum st State",
            "bits lo 0+3 u32",
            "bits hi 3+9 u32",
            "str name"
        ]
    );
    // The union: its bytes and one accessor per member.
    let u = structs.iter().find(|l| l.name == "U").unwrap();
    assert_eq!(u.fields.len(), 1);
    assert_eq!(u.fields[0].ty, "[u8; 8]");
    assert_eq!(u.accessors.len(), 2);
    // The enum: every name, and the duplicate value matched once.
    let e = types
        .items
        .iter()
        .find_map(|i| match i {
            Item::Enum(e) => Some(e),
            Item::Struct(_) => None,
        })
        .unwrap();
    let variants: Vec<_> = e
        .variants
        .iter()
        .map(|(v, _, lit)| format!("{v}={lit}"))
        .collect();
    assert_eq!(variants, ["StA=0", "StB=5", "StC=5"]);
    let mut w = String::new();
    for item in &types.items {
        w.push_str(&format!("{item:?}"));
    }
    assert!(!w.is_empty());
}

#[test]
fn a_misaligned_member_makes_the_struct_packed() {
    let mut b = BtfBuilder::new();
    b.int("unsigned char", 1, 8, false); // 1
    b.int("unsigned long long", 8, 64, false); // 2
    let (t, s) = (b.s("tag"), b.s("stamp"));
    b.raw("p", 4, 2, false, 9, &[t, 1, 0, s, 2, 8]); // 3
    let btf = Btf::parse(b.build()).unwrap();
    let mut types = Types::new(&btf, &[]);
    let rt = types.rust_type(3, "P").unwrap();
    assert_eq!((rt.size, rt.align), (9, 1));
    let Item::Struct(l) = &types.items[0] else {
        panic!("a struct")
    };
    assert!(l.packed);
}

#[test]
fn overlapping_members_are_an_error_naming_the_type() {
    let mut b = BtfBuilder::new();
    b.int("unsigned int", 4, 32, false); // 1
    let (x, y) = (b.s("x"), b.s("y"));
    b.raw("bad", 4, 2, false, 8, &[x, 1, 0, y, 1, 16]); // y at byte 2 overlaps x
    let btf = Btf::parse(b.build()).unwrap();
    let err = Types::new(&btf, &[]).rust_type(2, "Bad").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot lay out struct bad as a Rust type: member y overlaps another"
    );
}

#[test]
fn type_names_steer_clear_of_the_skeletons_own() {
    let mut b = BtfBuilder::new();
    b.int("int", 4, 32, true); // 1
    let m = b.s("m");
    b.raw("maps", 4, 1, false, 4, &[m, 1, 0]); // 2: would be `Maps`
    b.raw("result", 4, 1, false, 4, &[m, 1, 0]); // 3: would be `Result`
    let btf = Btf::parse(b.build()).unwrap();
    let mut types = Types::new(&btf, &[]);
    assert_eq!(types.rust_type(2, "X").unwrap().text, "Maps_");
    assert_eq!(types.rust_type(3, "X").unwrap().text, "Result_");
}

#[test]
fn bitfield_helpers_round_trip_and_keep_their_neighbours() {
    let mut bytes = [0xffu8; 3];
    bitfield_set(&mut bytes, 5, 9, 0);
    assert_eq!(bytes, [0b0001_1111, 0b1100_0000, 0xff]);
    bitfield_set(&mut bytes, 5, 9, 0x1a5);
    assert_eq!(bitfield_get(&bytes, 5, 9), 0x1a5);
    assert_eq!(bitfield_get_signed(&bytes, 5, 9), 0x1a5 - 0x200);
    assert_eq!(bitfield_get(&bytes, 0, 5), 0x1f, "bits below untouched");
    assert_eq!(bitfield_get(&bytes, 14, 10), 0x3ff, "bits above untouched");
}

#[test]
fn errors_are_small() {
    // Results of skeleton calls stay cheap to return (clippy's result_large_err).
    assert!(
        std::mem::size_of::<SkelError>() <= 64,
        "{}",
        std::mem::size_of::<SkelError>()
    );
}

#[test]
fn errors_name_their_layer() {
    let err = generate(b"not an elf", &SkelOptions::new("x")).unwrap_err();
    assert_eq!(err.to_string(), "parsing the object");
    assert!(std::error::Error::source(&err).is_some());
    let err = generate(b"", &SkelOptions::new("no-dash")).unwrap_err();
    assert!(matches!(err, SkelError::BadName { .. }), "{err:?}");
}

#[test]
fn builder_writes_the_skeleton_of_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let object = root().join("bpf-progs/hello.bpf.o");
    let out = Builder::new()
        .object(&object)
        .out_dir(dir.path())
        .build()
        .unwrap();
    assert_eq!(out, dir.path().join("hello.skel.rs"));
    let text = std::fs::read_to_string(&out).unwrap();
    let absolute = std::fs::canonicalize(&object).unwrap();
    let opts = SkelOptions::new("hello").object_path(absolute.display().to_string());
    assert_eq!(text, generate(&read(&object), &opts).unwrap());
    // Without an input, or outside a build script without out_dir: a clear error.
    let err = Builder::new().out_dir(dir.path()).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "skeleton builder: give a .bpf.c source or a .bpf.o object"
    );
}

#[test]
fn builder_compiles_a_source_with_clang_and_names_a_missing_clang() {
    let dir = tempfile::tempdir().unwrap();
    let source = root().join("examples/skel/layouts.bpf.c");
    let err = Builder::new()
        .source(&source)
        .clang("/nonexistent/clang")
        .out_dir(dir.path())
        .build()
        .unwrap_err();
    assert!(matches!(err, SkelError::ClangMissing { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("running /nonexistent/clang to compile "),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());

    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang-19".into());
    if std::process::Command::new(&clang)
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIP: no {clang} to compile a .bpf.c with");
        return;
    }
    let out = Builder::new()
        .source(&source)
        .name("fixture")
        .clang(&clang)
        .clang_arg("-I/usr/include/x86_64-linux-gnu")
        .out_dir(dir.path())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(out).unwrap();
    assert!(text.contains("pub mod fixture {"));
    assert!(text.contains("pub struct Record {"));
    assert!(dir.path().join("fixture.bpf.o").exists());
    // A source clang refuses: its words in the error.
    let bad = dir.path().join("bad.bpf.c");
    std::fs::write(&bad, "this is not C\n").unwrap();
    let err = Builder::new()
        .source(&bad)
        .clang(&clang)
        .out_dir(dir.path())
        .build()
        .unwrap_err();
    assert!(matches!(err, SkelError::Clang(_)), "{err:?}");
    assert!(err.to_string().contains("error"), "{err}");
}
