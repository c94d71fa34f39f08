//! Choose at run time between a kprobe and a tracepoint, by what this kernel supports.
//!
//! `bpf-progs/unlinks.bpf.c` counts this process's `unlinkat(2)` calls with either of
//! two programs: `unlink_kprobe` (a kprobe on the syscall's kernel function) or
//! `unlink_tracepoint` (the syscall's tracepoint). Kprobes reach any kernel function
//! but need a kernel built with them; the syscall tracepoints are a stable interface.
//! The library knows how it would create a kprobe and tells whether it can; the program
//! not chosen is not even loaded.
//!
//! Run it as root: `cargo run --example probe_choice`.

use std::error::Error;

use corebpf::map::Array;
use corebpf::program::kprobe::kprobes_available;
use corebpf::Loader;
use nix::unistd::{unlinkat, UnlinkatFlags};

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/unlinks.bpf.o");

fn main() -> Result<(), Box<dyn Error>> {
    let (chosen, unused) = match kprobes_available() {
        Ok(()) => {
            println!("kprobes are available: using the kprobe");
            ("unlink_kprobe", "unlink_tracepoint")
        }
        Err(why) => {
            // The library's reason, e.g. no kprobe PMU and no tracefs kprobe_events.
            println!("no kprobes ({why}): using the tracepoint");
            ("unlink_tracepoint", "unlink_kprobe")
        }
    };

    let obj = Loader::new()
        .autoload(unused, false) // don't load the program we won't use
        .global("target_tgid", &std::process::id().to_ne_bytes()) // count only us
        .load_file(OBJECT)?;
    let program = obj.program(chosen).ok_or("program missing")?;
    let _link = program.attach()?;

    // Three files made and unlinked: three events.
    let dir = std::env::temp_dir();
    for i in 0..3 {
        let file = dir.join(format!("corebpf_probe_choice_{}_{i}", std::process::id()));
        std::fs::write(&file, b"")?;
        unlinkat(None, &file, UnlinkatFlags::NoRemoveDir)?;
    }

    // The count sits in slot 0 of an array map of `u64`s.
    let calls: Array<u64> = obj.map("calls").ok_or("no map `calls`")?.try_into()?;
    println!("{chosen} saw {} unlinkat calls", calls.get(0)?);
    Ok(())
}
