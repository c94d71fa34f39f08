//! The hostile-input corpus of `tests/bad-inputs/` (made by `cargo xtask bad-inputs`):
//! every file is fed to the layer `tests/bad-inputs/EXPECTED` names and must fail there
//! with the error variant it names, whose chain (each message and its causes, joined
//! with `: `) contains the text it gives. Nothing may panic, and every file of the
//! directory must have an expectation.
//!
//! Layers:
//! - `parse`: [`corebpf::ObjectSpec::parse`] on the bytes and
//!   [`corebpf::ObjectSpec::from_file`] on the file; both must fail alike;
//! - `relocate`: parses, then [`corebpf::reloc::relocate_object`] against Debian 6.1's
//!   BTF (`btf-fixtures/`); the first program's relocation pass must fail;
//! - `target-btf`: [`corebpf::btf::kernel::load_btf_file`], the path `--btf FILE` and
//!   [`corebpf::Loader::target_btf`] take.

mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use common::chain;

/// One line of `EXPECTED`.
#[derive(Debug)]
struct Expectation {
    layer: String,
    variant: String,
    text: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs")
}

/// `EXPECTED`: `NAME LAYER VARIANT TEXT...` per line; `#` starts a comment line.
fn expectations() -> BTreeMap<String, Expectation> {
    let path = corpus_dir().join("EXPECTED");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Three words, then the text (which may hold spaces) after any run of blanks.
        let mut rest = line;
        let mut word = || {
            let w = rest.split_whitespace().next()?;
            let start = rest.find(w)? + w.len();
            rest = rest[start..].trim_start();
            Some(w)
        };
        let (Some(name), Some(layer), Some(variant)) = (word(), word(), word()) else {
            panic!(
                "EXPECTED line {}: want NAME LAYER VARIANT TEXT: {line}",
                n + 1
            );
        };
        let text = rest;
        assert!(
            !text.is_empty(),
            "EXPECTED line {}: {name} has no expected text",
            n + 1
        );
        let e = Expectation {
            layer: layer.to_string(),
            variant: variant.to_string(),
            text: text.trim().to_string(),
        };
        assert!(
            out.insert(name.to_string(), e).is_none(),
            "EXPECTED line {}: {name} is listed twice",
            n + 1
        );
    }
    out
}

/// The input files of the corpus directory.
fn inputs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("reading tests/bad-inputs")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "EXPECTED" && n != "README.md")
        .collect();
    names.sort();
    names
}

/// The variant of an error: its `Debug` text up to the first delimiter.
fn variant(e: &dyn std::fmt::Debug) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What an input produced: the error's variant and chain, or why that is wrong.
type Outcome = Result<(String, String), String>;

fn described<E: std::error::Error>(e: &E) -> (String, String) {
    (variant(e), chain(e))
}

fn target_6_1() -> &'static corebpf::btf::Btf {
    static BTF: std::sync::OnceLock<corebpf::btf::Btf> = std::sync::OnceLock::new();
    BTF.get_or_init(|| {
        corebpf::btf::kernel::load_btf_file(&common::btf_6_1()).expect("the 6.1 fixture")
    })
}

/// Feeds `name` to `layer`.
fn run(name: &str, layer: &str) -> Outcome {
    let path = corpus_dir().join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("reading: {e}"))?;
    match layer {
        "parse" => {
            let stem = name.trim_end_matches(".o");
            let from_bytes = match corebpf::ObjectSpec::parse(&bytes, stem) {
                Ok(_) => return Err("ObjectSpec::parse accepted it".into()),
                Err(e) => described(&e),
            };
            match corebpf::ObjectSpec::from_file(&path) {
                Ok(_) => Err("ObjectSpec::from_file accepted it".into()),
                Err(e) if variant(&e) != from_bytes.0 => Err(format!(
                    "ObjectSpec::parse says {} ({}) but from_file says {} ({})",
                    from_bytes.0,
                    from_bytes.1,
                    variant(&e),
                    chain(&e)
                )),
                Err(_) => Ok(from_bytes),
            }
        }
        "relocate" => {
            let spec = corebpf::ObjectSpec::parse(&bytes, name.trim_end_matches(".o"))
                .map_err(|e| format!("parsing failed first: {}", chain(&e)))?;
            let programs = corebpf::reloc::relocate_object(&spec, target_6_1());
            let first = programs
                .into_iter()
                .next()
                .ok_or("no program has CO-RE relocations")?;
            match first.result {
                Ok(results) => Err(format!("relocated: {results:?}")),
                Err(e) => Ok(described(&e)),
            }
        }
        "target-btf" => match corebpf::btf::kernel::load_btf_file(&path) {
            Ok(btf) => Err(format!("accepted, {} types", btf.len())),
            Err(e) => Ok(described(&e)),
        },
        other => Err(format!("unknown layer {other} in EXPECTED")),
    }
}

/// Runs `name`, turning a panic into a failure that names it.
fn run_caught(name: &str, layer: &str) -> Outcome {
    catch_unwind(AssertUnwindSafe(|| run(name, layer))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("PANICKED: {what}"))
    })
}

#[test]
fn every_input_fails_where_and_how_expected() {
    let expected = expectations();
    let files = inputs();
    let mut failures = Vec::new();
    for name in &files {
        let Some(e) = expected.get(name) else {
            failures.push(format!("{name}: no line in EXPECTED"));
            continue;
        };
        match run_caught(name, &e.layer) {
            Err(why) => failures.push(format!("{name} ({}): {why}", e.layer)),
            Ok((variant, text)) => {
                println!("{name} ({}): {variant}: {text}", e.layer);
                if variant != e.variant || !text.contains(&e.text) {
                    failures.push(format!(
                        "{name} ({}): want {} containing {:?}, got {variant}: {text}",
                        e.layer, e.variant, e.text
                    ));
                }
            }
        }
    }
    for name in expected.keys() {
        if !files.contains(name) {
            failures.push(format!(
                "{name}: listed in EXPECTED, but there is no such file"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// The checks above can fail: a good object is accepted at every layer, so it is no
/// "bad input", and an expectation that does not match is reported.
#[test]
fn the_checks_can_fail() {
    let good = common::prog("core_poison.bpf.o");
    let spec = corebpf::ObjectSpec::from_file(&good).expect("a good object parses");
    let relocated = corebpf::reloc::relocate_object(&spec, target_6_1());
    assert!(relocated.iter().all(|p| p.result.is_ok()));
    assert!(corebpf::btf::kernel::load_btf_file(&good).is_ok());
    assert_eq!(variant(&Some(1)), "Some");
}
