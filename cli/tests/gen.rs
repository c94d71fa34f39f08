//! `corebpf gen min_core_btf`: a minimized BTF that `relocate --btf` and `load --btf`
//! use as they use the full one, and its error paths (nothing written on failure).

mod common;

use std::path::{Path, PathBuf};

use common::{corebpf, ok, prog, Remove};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// A path in the temporary directory unique to this process and `what`.
fn tmp(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("corebpf-gen-test-{}-{what}", std::process::id()))
}

/// Runs `gen min_core_btf TARGET OUT OBJ...`; returns the command's output.
fn gen(target: &Path, out: &Path, objs: &[PathBuf]) -> std::process::Output {
    corebpf()
        .args(["gen", "min_core_btf"])
        .arg(target)
        .arg(out)
        .args(objs)
        .output()
        .unwrap()
}

/// `relocate` output with type ids hidden (the values of `target_type_id` relocations,
/// `[N]` in poison reasons): they differ between a full BTF and a minimized one.
fn relocations(obj: &Path, btf: &Path) -> Vec<String> {
    let out = ok(corebpf()
        .arg("relocate")
        .arg(obj)
        .arg("--btf")
        .arg(btf)
        .output()
        .unwrap());
    out.lines()
        .map(|l| {
            let l = without_ids(l);
            match (l.contains(" target_type_id "), l.rfind(" -> ")) {
                (true, Some(i)) if !l.ends_with(" -> 0") => format!("{} -> ID", &l[..i]),
                _ => l,
            }
        })
        .collect()
}

/// `[N]` replaced by `[#]`.
fn without_ids(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(']') {
            out.push('#');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn relocating_against_the_minimized_btf_prints_what_the_full_one_does() {
    let out = Remove(tmp("relo_heavy.btf"));
    for (target, objs) in [
        (PathBuf::from(VMLINUX), vec![prog("relo_heavy.bpf.o")]),
        (
            common::btf_5_10(),
            vec![prog("relo_heavy.bpf.o"), prog("task_state.bpf.o")],
        ),
    ] {
        if !target.exists() {
            println!("SKIP {}: missing", target.display());
            continue;
        }
        ok(gen(&target, &out.0, &objs));
        let full = std::fs::metadata(&target).unwrap().len();
        let min = std::fs::metadata(&out.0).unwrap().len();
        println!("{}: {min} of {full} bytes", target.display());
        assert!(min * 20 < full, "{min} of {full} bytes");
        for obj in &objs {
            let want = relocations(obj, &target);
            assert!(want.len() > 5, "{want:?}");
            let got = relocations(obj, &out.0);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{}: line {i}", obj.display());
            }
            assert_eq!(got.len(), want.len(), "{}", obj.display());
        }
        // Same input, same bytes.
        let first = std::fs::read(&out.0).unwrap();
        ok(gen(&target, &out.0, &objs));
        assert_eq!(std::fs::read(&out.0).unwrap(), first);
    }
}

#[test]
fn the_minimized_btf_loads_an_object_as_the_full_one_does() {
    if !Path::new(VMLINUX).exists() {
        println!("SKIP: no {VMLINUX}");
        return;
    }
    let obj = prog("task_state.bpf.o");
    let out = Remove(tmp("task_state.btf"));
    ok(corebpf()
        .args(["gen", "min-core-btf", VMLINUX])
        .arg(&out.0)
        .arg(&obj)
        .output()
        .unwrap());
    // Kernel ids differ from load to load; the rest (instruction counts) must not.
    let strip = |s: String| {
        s.lines()
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.starts_with("id="))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
    };
    let load = |btf: &Path| {
        strip(ok(corebpf()
            .arg("load")
            .arg(&obj)
            .arg("--btf")
            .arg(btf)
            .output()
            .unwrap()))
    };
    let min = load(&out.0);
    assert!(
        min.iter().any(|l| l.starts_with("prog read_state ")),
        "{min:?}"
    );
    assert_eq!(min, load(Path::new(VMLINUX)));
}

/// The command failed with a message containing `want` and wrote nothing at `out`.
fn fails(out: std::process::Output, want: &str, path: &Path) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(want), "{err}");
    assert!(!path.exists(), "{} was created", path.display());
}

#[test]
fn errors_name_the_bad_input_and_write_nothing() {
    let objs = [prog("relo_heavy.bpf.o")];
    let out = Remove(tmp("never.btf"));
    let missing = tmp("no-such-vmlinux");
    fails(
        gen(&missing, &out.0, &objs),
        &format!("reading BTF from {}: No such file", missing.display()),
        &out.0,
    );
    let not_btf = common::prog("../Cargo.toml");
    fails(
        gen(&not_btf, &out.0, &objs),
        "is neither raw BTF nor an ELF file",
        &out.0,
    );
    let dir = tmp("no-such-dir");
    let in_missing_dir = dir.join("out.btf");
    fails(
        gen(&common::btf_6_1(), &in_missing_dir, &objs),
        &format!(
            "writing {}: No such file or directory",
            in_missing_dir.display()
        ),
        &in_missing_dir,
    );
    assert!(!dir.exists());
    // A relocation that fails against the full BTF: the object and program are named.
    let bad = prog("../tests/bad-inputs/core_relo_unknown_kind.o");
    fails(
        gen(&common::btf_6_1(), &out.0, &[bad]),
        "relocating against the full target BTF failed: CO-RE relocation at insn #1: unknown relocation kind 99",
        &out.0,
    );
    // No temporary file is left next to OUT either.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("never.btf"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `gen skeleton` prints what `cargo xtask skel` committed for hello (same generator,
/// same options), and names what is wrong with a bad object or name.
#[test]
fn skeleton_of_hello_is_the_committed_one() {
    let root = prog("hello.bpf.o")
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let printed = ok(corebpf()
        .args(["gen", "skeleton"])
        .arg(prog("hello.bpf.o"))
        .args(["--object-path", "../../bpf-progs/hello.bpf.o"])
        .output()
        .unwrap());
    let committed = std::fs::read_to_string(root.join("examples/skel/hello.skel.rs")).unwrap();
    assert!(
        printed == committed,
        "gen skeleton differs from examples/skel/hello.skel.rs"
    );
    // The default name comes from the file name; without --object-path the bytes are
    // embedded.
    let embedded = ok(corebpf()
        .args(["gen", "skeleton"])
        .arg(prog("hello.bpf.o"))
        .output()
        .unwrap());
    assert!(embedded.contains("pub mod hello {"), "{}", &embedded[..300]);
    assert!(!embedded.contains("include_bytes!"));

    let out = corebpf()
        .args(["gen", "skeleton", "/nonexistent/x.bpf.o"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.bpf.o"), "{err}");
    let out = corebpf()
        .args(["gen", "skeleton", "--name", "9lives"])
        .arg(prog("hello.bpf.o"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'9lives'"), "{err}");
}
