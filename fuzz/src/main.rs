//! `corebpf-fuzz`: the plain (uninstrumented) companion of the libFuzzer driver.
//!
//! ```text
//! corebpf-fuzz list                      the targets, one per line: NAME  ABOUT
//! corebpf-fuzz seeds DIR [TARGET...]     write each target's starting corpus to DIR/TARGET/
//! corebpf-fuzz run TARGET FILE...        run files through a target, print each outcome
//! ```
//!
//! `cargo xtask fuzz` uses `list` and `seeds`; `run` replays a crash outside libFuzzer.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use corebpf_fuzz::{targets::TARGETS, BoundedAlloc};

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((cmd, rest)) if cmd == "list" && rest.is_empty() => {
            for t in TARGETS {
                println!("{:<14}{}", t.name, t.about);
            }
            Ok(())
        }
        Some((cmd, rest)) if cmd == "seeds" && !rest.is_empty() => seeds(&rest[0], &rest[1..]),
        Some((cmd, rest)) if cmd == "run" && rest.len() >= 2 => replay(&rest[0], &rest[1..]),
        _ => Err("usage: corebpf-fuzz list | seeds DIR [TARGET...] | run TARGET FILE...".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root: this crate's parent directory.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn chosen(names: &[String]) -> Result<Vec<&'static corebpf_fuzz::Target>, String> {
    if names.is_empty() {
        return Ok(TARGETS.iter().collect());
    }
    names
        .iter()
        .map(|n| corebpf_fuzz::target(n).ok_or_else(|| format!("no fuzz target '{n}'")))
        .collect()
}

fn seeds(dir: &str, names: &[String]) -> Result<(), String> {
    let repo = repo();
    for t in chosen(names)? {
        let out = Path::new(dir).join(t.name);
        std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
        let seeds = (t.seeds)(&repo);
        let bytes: usize = seeds.iter().map(|s| s.data.len()).sum();
        for s in &seeds {
            let path = out.join(&s.name);
            std::fs::write(&path, &s.data)
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        println!("{}: {} seeds, {bytes} bytes", t.name, seeds.len());
    }
    Ok(())
}

fn replay(name: &str, files: &[String]) -> Result<(), String> {
    let target = corebpf_fuzz::target(name).ok_or_else(|| format!("no fuzz target '{name}'"))?;
    for file in files {
        let data = std::fs::read(file).map_err(|e| format!("reading {file}: {e}"))?;
        match corebpf_fuzz::run(target, &data) {
            Ok(()) => println!("{file}: ok"),
            Err(e) => println!("{file}: error: {e}"),
        }
    }
    Ok(())
}
