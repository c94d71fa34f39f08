//! Minimal BTF (`corebpf gen min_core_btf`): relocating every committed object against
//! the BTF minimized for it decides exactly what relocating against the full BTF does
//! (host vmlinux, and the 6.1 and 5.10 fixtures), and the minimized BTF is small and
//! valid.

mod common;

use std::path::{Path, PathBuf};

use corebpf::btf::minimize::{min_core_btf, MinimizeError};
use corebpf::btf::{kernel, validate, Btf};
use corebpf::reloc::core::{CoreReloKind, Outcome, RelocResult};
use corebpf::reloc::relocate_object;
use corebpf::ObjectSpec;

/// Every committed object that has CO-RE relocations, by file name.
fn objects_with_core_relos() -> Vec<(String, ObjectSpec)> {
    let dir = common::prog("");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading bpf-progs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    paths.sort();
    let objs: Vec<(String, ObjectSpec)> = paths
        .iter()
        .filter_map(|p| {
            let spec = ObjectSpec::from_file(p).ok()?;
            let has = spec.programs.iter().any(|p| !p.core_relos.is_empty());
            has.then(|| (p.file_name().unwrap().to_string_lossy().into_owned(), spec))
        })
        .collect();
    assert!(
        objs.len() >= 5,
        "expected several objects with CO-RE relocations, found {}",
        objs.len()
    );
    objs
}

/// The BTFs to relocate against: host vmlinux when there is one, and the fixtures.
fn targets() -> Vec<(String, Btf)> {
    let mut out = Vec::new();
    let host = Path::new("/sys/kernel/btf/vmlinux");
    if host.exists() {
        out.push(("host".to_string(), kernel::load_btf_file(host).unwrap()));
    } else {
        println!("SKIP host: no /sys/kernel/btf/vmlinux");
    }
    for (name, p) in [("6.1", common::btf_6_1()), ("5.10", common::btf_5_10())] {
        out.push((name.to_string(), kernel::load_btf_file(&p).unwrap()));
    }
    out
}

/// `struct foo`, `int`, `void` for type `id` of `btf`.
fn describe(btf: &Btf, id: u32) -> String {
    let t = btf.type_by_id(id).unwrap();
    format!("{} {}", t.kind.name(), btf.name_of(&t).unwrap_or("?"))
}

/// Type ids written as `[N]` in a poison reason, replaced: they differ between BTFs.
fn without_ids(reason: &str) -> String {
    let mut out = String::new();
    let mut rest = reason;
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

/// One relocation's decision, in terms that don't depend on type ids: the target type
/// by kind and name, and `target_type_id` values as the type they name.
fn decision(btf: &Btf, r: &RelocResult) -> String {
    let outcome = match &r.outcome {
        Outcome::Patched { old, new } if r.kind == CoreReloKind::TypeIdTarget && *new != 0 => {
            format!("patched {old} -> id of {}", describe(btf, *new as u32))
        }
        Outcome::Patched { old, new } => format!("patched {old} -> {new}"),
        Outcome::Poisoned { reason } => format!("poisoned: {}", without_ids(reason)),
    };
    let target = r
        .target
        .as_ref()
        .map(|t| describe(btf, t.type_id))
        .unwrap_or_default();
    format!(
        "insn {} {} {}: {outcome} (target {target}, mem size {:?})",
        r.insn, r.kind, r.local, r.mem_size
    )
}

/// Every program's decisions, or its error, in words.
fn decisions(spec: &ObjectSpec, btf: &Btf) -> Vec<String> {
    let mut out = Vec::new();
    for p in relocate_object(spec, btf) {
        match p.result {
            Ok(rs) => out.extend(
                rs.iter()
                    .map(|r| format!("{}: {}", p.program, decision(btf, r))),
            ),
            Err(e) => out.push(format!("{}: error {}", p.program, common::chain(&e))),
        }
    }
    out
}

/// Equal decisions, else the first difference.
fn assert_same(got: &[String], want: &[String], what: &str) {
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        panic!(
            "{what}: decision {i} of {} differs:\n  minimized: {:?}\n  full:      {:?}",
            want.len(),
            got.get(i),
            want.get(i)
        );
    }
}

fn parse_min(bytes: Vec<u8>) -> Btf {
    let btf = Btf::parse(bytes).expect("the minimized BTF parses");
    validate::validate(&btf).expect("the minimized BTF validates");
    btf
}

#[test]
fn relocating_against_the_minimized_btf_decides_as_against_the_full_one() {
    let objs = objects_with_core_relos();
    let mut compared = 0usize;
    for (tname, full) in targets() {
        let mut relocatable: Vec<&ObjectSpec> = Vec::new();
        for (oname, spec) in &objs {
            let want = decisions(spec, &full);
            if want.iter().any(|d| d.contains(": error ")) {
                // A relocation fails against the full BTF: minimizing says so.
                let err = min_core_btf(&full, &[spec]).unwrap_err();
                assert!(
                    matches!(err, MinimizeError::Relocation { .. }),
                    "{oname} on {tname}: {err}"
                );
                println!(
                    "{oname} on {tname}: does not relocate ({})",
                    common::chain(&err)
                );
                continue;
            }
            relocatable.push(spec);
            let bytes = min_core_btf(&full, &[spec]).unwrap();
            assert_eq!(
                bytes,
                min_core_btf(&full, &[spec]).unwrap(),
                "{oname} on {tname}: not deterministic"
            );
            let min = parse_min(bytes);
            let got = decisions(spec, &min);
            assert_same(&got, &want, &format!("{oname} on {tname}"));
            compared += want.len();
        }
        // All the objects together: one BTF serves each of them.
        let bytes = min_core_btf(&full, &relocatable).unwrap();
        println!(
            "{tname}: {} objects together: {} of {} bytes",
            relocatable.len(),
            bytes.len(),
            full.raw().len()
        );
        let min = parse_min(bytes);
        for spec in &relocatable {
            let what = format!("{} on {tname}, all objects together", spec.name);
            assert_same(&decisions(spec, &min), &decisions(spec, &full), &what);
        }
    }
    println!("{compared} relocation decisions compared");
    assert!(compared > 100, "only {compared} decisions compared");
}

#[test]
fn relo_heavy_minimized_is_under_five_percent_of_the_full_btf() {
    let spec = ObjectSpec::from_file(&common::prog("relo_heavy.bpf.o")).unwrap();
    for (tname, full) in targets() {
        let bytes = min_core_btf(&full, &[&spec]).unwrap();
        println!(
            "relo_heavy on {tname}: {} of {} bytes",
            bytes.len(),
            full.raw().len()
        );
        assert!(
            bytes.len() * 20 < full.raw().len(),
            "{tname}: {} of {} bytes",
            bytes.len(),
            full.raw().len()
        );
        let min = parse_min(bytes);
        assert!(min.len() > 1, "{tname}: nothing kept");
    }
}

#[test]
fn an_object_without_core_relocations_contributes_nothing() {
    let full = kernel::load_btf_file(&common::btf_6_1()).unwrap();
    let spec = ObjectSpec::from_file(&common::prog("xdp.bpf.o")).unwrap();
    assert!(spec.programs.iter().all(|p| p.core_relos.is_empty()));
    let min = parse_min(min_core_btf(&full, &[&spec]).unwrap());
    assert_eq!(min.len(), 1, "only void");
    let none = parse_min(min_core_btf(&full, &[]).unwrap());
    assert_eq!(none.len(), 1);
}

#[test]
fn a_relocation_that_fails_against_the_full_btf_is_the_error_source() {
    let full = kernel::load_btf_file(&common::btf_6_1()).unwrap();
    let spec =
        ObjectSpec::from_file(Path::new("tests/bad-inputs/core_relo_unknown_kind.o")).unwrap();
    let err = min_core_btf(&full, &[&spec]).unwrap_err();
    let MinimizeError::Relocation { program, .. } = &err else {
        panic!("{err}");
    };
    assert!(!program.is_empty());
    let text = common::chain(&err);
    assert!(text.contains("relocating against the full target BTF failed: CO-RE relocation at insn #1: unknown relocation kind 99"), "{text}");
}
