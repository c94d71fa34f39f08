//! Every target over its starting corpus and over the inputs that once crashed it
//! (`regressions/TARGET/*`, each named after what it found): none may panic or exceed the
//! allocation limit. Runs in the ordinary test suite, without libFuzzer.

use std::path::{Path, PathBuf};

use corebpf_fuzz::{targets::TARGETS, BoundedAlloc, Target};

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the fuzz crate is in the repository")
        .to_path_buf()
}

/// Runs `data` through `target`, naming the input if it panics.
fn check(target: &Target, what: &str, data: &[u8]) -> bool {
    let outcome = std::panic::catch_unwind(|| corebpf_fuzz::run(target, data));
    match outcome {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => panic!("target {}: input {what} panicked", target.name),
    }
}

#[test]
fn every_target_runs_its_seeds() {
    let repo = repo();
    for target in TARGETS {
        let seeds = (target.seeds)(&repo);
        assert!(!seeds.is_empty(), "target {} has no seeds", target.name);
        let ok = seeds
            .iter()
            .filter(|s| check(target, &s.name, &s.data))
            .count();
        println!("{}: {ok} of {} seeds accepted", target.name, seeds.len());
        assert!(
            ok > 0,
            "target {}: no seed gets past the parser",
            target.name
        );
    }
}

#[test]
fn past_crashes_stay_fixed() {
    let dir = repo().join("fuzz").join("regressions");
    let mut count = 0;
    for target in TARGETS {
        let Ok(entries) = std::fs::read_dir(dir.join(target.name)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable directory").path();
            let data = std::fs::read(&path).expect("readable input");
            check(target, &path.display().to_string(), &data);
            count += 1;
        }
    }
    println!("{count} past crash inputs replayed");
}
