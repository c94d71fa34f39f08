//! The command line as a user types it: values that look like flags, `--`, repeated
//! `-v`, unknown and misspelt flags, paths that are not UTF-8, completions. These run
//! `relocate` against the committed 6.1 BTF: no privileges and no kernel objects.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Output;

use common::*;

/// The object every test relocates; it has CO-RE relocations that match on 6.1 and one
/// that is poisoned there.
const OBJECT: &str = "task_state.bpf.o";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `corebpf relocate` succeeded and printed the relocations of [`OBJECT`].
fn assert_relocated(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let text = stdout(out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("read_state insn=") && l.contains("struct task_struct.__state")),
        "{text}"
    );
}

/// Copies `from` into `dir` under `name`, which may be anything but `/` and NUL.
fn copy_as(from: &Path, dir: &Path, name: &[u8]) {
    std::fs::copy(from, dir.join(OsStr::from_bytes(name))).expect("copying a fixture");
}

#[test]
fn an_option_value_may_look_like_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["-v", "--help", "-h"] {
        copy_as(&btf_6_1(), dir.path(), value.as_bytes());
        let out = corebpf()
            .current_dir(dir.path())
            .arg("relocate")
            .arg(prog(OBJECT))
            .args(["--btf", value])
            .output()
            .unwrap();
        assert_relocated(&out);
    }
}

#[test]
fn repeated_v_raises_the_log_level() {
    let run = |flags: &[&str]| {
        let out = corebpf()
            .args(flags)
            .arg("relocate")
            .arg(prog(OBJECT))
            .arg("--btf")
            .arg(btf_6_1())
            .output()
            .unwrap();
        assert_relocated(&out);
        stderr(&out)
    };
    // Matching task_struct___old against 6.1's task_struct logs at debug, and the
    // candidate lacking `state` at trace.
    let quiet = run(&[]);
    assert!(!quiet.contains("debug:"), "{quiet}");
    let debug = run(&["-v"]);
    assert!(debug.contains("corebpf: debug: "), "{debug}");
    assert!(!debug.contains("trace:"), "{debug}");
    for flags in [&["-vv"][..], &["-vvv"], &["-v", "--verbose"]] {
        let trace = run(flags);
        assert!(trace.contains("corebpf: trace: "), "{flags:?}: {trace}");
    }
}

#[test]
fn double_dash_ends_the_options() {
    let dir = tempfile::tempdir().unwrap();
    copy_as(&prog(OBJECT), dir.path(), b"--odd.bpf.o");
    let out = corebpf()
        .current_dir(dir.path())
        .arg("relocate")
        .arg("--btf")
        .arg(btf_6_1())
        .args(["--", "--odd.bpf.o"])
        .output()
        .unwrap();
    assert_relocated(&out);
}

#[test]
fn an_unknown_flag_is_named() {
    let out = corebpf()
        .args(["load", "--bogus"])
        .arg(prog(OBJECT))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--bogus"), "{err}");
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
}

#[test]
fn a_misspelt_flag_gets_a_suggestion() {
    let out = corebpf()
        .arg("relocate")
        .arg(prog(OBJECT))
        .arg("--jsn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("'--jsn'"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("similar argument") && l.contains("'--json'")),
        "{err}"
    );
}

#[test]
fn a_path_that_is_not_utf8_works() {
    let dir = tempfile::tempdir().unwrap();
    let name = b"task\xffstate.bpf.o";
    copy_as(&prog(OBJECT), dir.path(), name);
    let out = corebpf()
        .arg("relocate")
        .arg(dir.path().join(OsStr::from_bytes(name)))
        .arg("--btf")
        .arg(btf_6_1())
        .output()
        .unwrap();
    assert_relocated(&out);

    // A missing one is an ordinary error that names it.
    let out = corebpf()
        .arg("relocate")
        .arg(dir.path().join(OsStr::from_bytes(b"no\xffsuch.bpf.o")))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no\u{fffd}such.bpf.o"), "{err}");
}

#[test]
fn help_and_usage_errors() {
    for args in [&["--help"][..], &["help"], &["relocate", "--help"]] {
        let out = corebpf().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("relocate"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    for args in [
        &[][..],
        &["frob"],
        &["load"],
        &["load", "a.o", "b.o"],
        &["run", "x.o", "--duration"],
        &["run", "x.o", "--duration", "-1"],
        &["run", "x.o", "--duration", "soon"],
        &["load", "x.o", "--json"],
    ] {
        let out = corebpf().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} accepted");
        assert!(!stderr(&out).is_empty(), "{args:?}: nothing said");
    }
}

#[test]
fn completions_cover_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = corebpf().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for word in [
            "load",
            "run",
            "relocate",
            "event-type",
            "pin",
            "completions",
        ] {
            assert!(script.contains(word), "{shell} lacks {word}:\n{script}");
        }
    }
    let out = corebpf().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bash"), "{}", stderr(&out));
}

#[test]
fn an_error_prints_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.bpf.o");
    let out = corebpf().arg("relocate").arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let cause = std::io::Error::from_raw_os_error(nix::libc::ENOENT).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("corebpf: "), "{err}");
    assert_eq!(err.matches(&cause).count(), 1, "{err}");
    assert_eq!(err.matches("missing.bpf.o").count(), 1, "{err}");

    let out = corebpf()
        .arg("relocate")
        .arg(prog(OBJECT))
        .arg("--btf")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches(&cause).count(), 1, "{err}");
    assert_eq!(err.matches("missing.bpf.o").count(), 1, "{err}");
}
