//! The libFuzzer driver: runs the target named by `COREBPF_FUZZ_TARGET` (one binary serves
//! every target; `cargo xtask fuzz` builds it with coverage instrumentation and sets the
//! variable). Every argument is libFuzzer's.

#![no_main]

use std::sync::OnceLock;

use corebpf_fuzz::{BoundedAlloc, Target};

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc;

static TARGET: OnceLock<&'static Target> = OnceLock::new();

fn select() -> &'static Target {
    let names = || {
        (corebpf_fuzz::targets::TARGETS.iter().map(|t| t.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = std::env::var_os("COREBPF_FUZZ_TARGET") else {
        eprintln!("set COREBPF_FUZZ_TARGET to one of: {}", names());
        std::process::exit(2);
    };
    let name = name.to_string_lossy();
    corebpf_fuzz::target(&name).unwrap_or_else(|| {
        eprintln!("no fuzz target '{name}'; the targets are: {}", names());
        std::process::exit(2);
    })
}

libfuzzer_sys::fuzz_target!(
    init: {
        TARGET.get_or_init(select);
    },
    |data: &[u8]| {
        let target = TARGET.get_or_init(select);
        let _ = corebpf_fuzz::run(target, data);
    }
);
