//! Errors users read. Each message describes its own layer; the cause is reached
//! through `source()` and never printed again. These tests walk the chains of
//! representative failures of every layer (real ones where the kernel fails on request,
//! injected at the `sys` chokepoint where it can't) and check that no message repeats
//! the text of an error below it; and that a non-ELF file's error names the file.

use std::error::Error as StdError;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::object::ProgramKind;
use crate::sys::{bpf::BpfCmd, with_syscall_override, Syscall};
use crate::util::Chain;
use crate::{Error, Loader, Program};

fn prog(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bpf-progs")
        .join(name)
}

/// The messages of `e` and its causes, outermost first, after checking that none of
/// them contains the text of a cause below it and that there is a cause at all.
#[track_caller]
fn each_cause_once(e: &dyn StdError) -> Vec<String> {
    let mut messages = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        messages.push(c.to_string());
        cause = c.source();
    }
    assert!(messages.len() >= 2, "no cause to walk: {messages:?}");
    for (i, outer) in messages.iter().enumerate() {
        for inner in &messages[i + 1..] {
            assert!(
                !outer.contains(inner.as_str()),
                "{outer:?} repeats its cause {inner:?}; whole chain: {messages:#?}"
            );
        }
    }
    messages
}

/// Through the crate-level [`Error`] too: its wrappers are transparent, so the chain
/// is the layer's own.
#[track_caller]
fn each_cause_once_also_as_crate_error(e: impl Into<Error> + StdError) -> Vec<String> {
    let messages = each_cause_once(&e);
    let e: Error = e.into();
    assert_eq!(each_cause_once(&e), messages);
    messages
}

#[test]
fn a_missing_object_file() {
    let path = format!("/nonexistent-{}/x.bpf.o", std::process::id());
    let e = Loader::new().load_file(&path).unwrap_err();
    let messages = each_cause_once_also_as_crate_error(e);
    assert_eq!(messages[0], format!("reading {path}"));
    assert!(messages[1].contains("os error 2"), "{messages:?}");
}

#[test]
fn a_verifier_rejection() {
    let e = Loader::new()
        .load_file(prog("bad_deref.bpf.o"))
        .unwrap_err();
    assert!(
        matches!(e, crate::LoadError::Verifier { .. }),
        "{}",
        Chain(&e)
    );
    let messages = each_cause_once_also_as_crate_error(e);
    assert!(
        messages[0].contains("rejected by the verifier"),
        "{messages:?}"
    );
    assert_eq!(messages[1], "BPF_PROG_LOAD failed");
    assert!(messages[2].contains("os error"), "{messages:?}");
}

#[test]
fn a_map_create_failure() {
    let e = with_syscall_override(
        |call| match call {
            Syscall::Bpf {
                cmd: BpfCmd::MapCreate,
                ..
            } => Some(Err(io::Error::from_raw_os_error(libc::EINVAL))),
            _ => None,
        },
        || Loader::new().load_file(prog("hello.bpf.o")),
    )
    .unwrap_err();
    let messages = each_cause_once_also_as_crate_error(e);
    assert!(messages[0].starts_with("creating map '"), "{messages:?}");
    assert_eq!(messages[1], "BPF_MAP_CREATE failed");
    assert!(messages[2].contains("os error 22"), "{messages:?}");
}

#[test]
fn btf_that_does_not_parse_or_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.btf");
    std::fs::write(&garbage, b"this is not BTF at all, not even close").unwrap();
    let missing = dir.path().join("missing.btf");
    for target in [&garbage, &missing] {
        // task_state has CO-RE relocations, so the target BTF is read.
        let e = Loader::new()
            .target_btf(target)
            .load_file(prog("task_state.bpf.o"))
            .unwrap_err();
        let text = Chain(&e).to_string();
        assert!(text.contains(&target.display().to_string()), "{text}");
        let messages = each_cause_once_also_as_crate_error(e);
        assert!(
            messages[0].starts_with("reading the target BTF"),
            "{messages:?}"
        );
    }
    // The BTF layer's own file error names the file; the OS error follows.
    let e = crate::btf::Btf::from_file(&missing).unwrap_err();
    let messages = each_cause_once(&e);
    assert!(messages[0].contains("missing.btf"), "{messages:?}");
}

#[test]
fn a_kprobe_attach_failure() {
    let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let section = "kprobe/corebpf_no_such_function";
    let kind = ProgramKind::from_section(section).unwrap();
    let prog = Program::new("probe_me".into(), section.into(), kind, fd);
    // Without kprobes (this host) the PMU and tracefs say so; with them, the kernel is
    // asked and refuses.
    let e = with_syscall_override(
        |call| match call {
            Syscall::PerfEventOpen { .. } => Some(Err(io::Error::from_raw_os_error(libc::ENOENT))),
            _ => None,
        },
        || prog.attach(),
    )
    .unwrap_err();
    let messages = each_cause_once_also_as_crate_error(e);
    assert_eq!(
        messages[0],
        "attaching program 'probe_me' to kprobe corebpf_no_such_function"
    );
}

/// A file that is no ELF object is named in the error (a buffer parsed from memory has
/// no path to name).
#[test]
fn a_file_that_is_not_elf_is_named() {
    use crate::object::{ObjectError, ObjectSpec};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.sh");
    std::fs::write(&path, b"#!/bin/sh\necho hi\n").unwrap();
    let shown = path.display().to_string();
    let e = Loader::new().load_file(&path).unwrap_err();
    match &e {
        crate::LoadError::Object(ObjectError::Elf {
            path: Some(p),
            reason,
        }) => {
            assert_eq!(*p, shown);
            assert!(reason.contains("magic"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            .starts_with(&format!("{shown}: invalid ELF: ")),
        "{e}"
    );
    let e = ObjectSpec::parse(b"#!/bin/sh\n", "script").unwrap_err();
    assert!(matches!(e, ObjectError::Elf { path: None, .. }), "{e:?}");
    assert!(e.to_string().starts_with("invalid ELF: "), "{e}");
}
