//! Configure a BPF program before it is loaded, through a global variable.
//!
//! `bpf-progs/hello.bpf.c` declares `const volatile u32 target_tgid = 0;`: 0 reports
//! every exec, any other value only the execs of that process. Constants live in the
//! object's `.rodata`, which the loader fills in and then freezes, so the verifier
//! knows the value and the program can't change it.
//!
//! This example starts a shell that waits, loads the program set to watch only that
//! shell, runs an exec of its own (not reported), then lets the shell exec `/bin/true`
//! (reported).
//!
//! Run it as root: `cargo run --example globals`.

use std::error::Error;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use corebpf::{Loader, Pod, RingBufferBuilder};

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/hello.bpf.o");

/// The start of hello.bpf.c's `struct event`: only these fields matter here.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Header {
    pid: u32,
    uid: u32,
}

fn main() -> Result<(), Box<dyn Error>> {
    // A shell that waits for a line on stdin, then becomes /bin/true (same process id).
    let mut shell = Command::new("/bin/sh")
        .args(["-c", "read line; exec /bin/true"])
        .stdin(Stdio::piped())
        .spawn()?;
    let target = shell.id();
    println!("target pid {target}");

    // Set the global before loading; the value is the variable's bytes.
    let obj = Loader::new()
        .global("target_tgid", &target.to_ne_bytes())
        .load_file(OBJECT)?;
    let _links = obj.attach_all()?;

    let mut reported = Vec::new();
    let mut ring = RingBufferBuilder::new()
        .add(obj.map("events").ok_or("no map `events`")?, |record| {
            // Reads the first 8 bytes; the rest of the record (comm, filename) is left.
            if let Ok((header, _rest)) = Header::from_prefix(record) {
                reported.push(header.pid);
                // Stop as soon as the target's exec is in.
                return i32::from(header.pid == target);
            }
            0
        })
        .build()?;

    // Not the target: the program filters this exec out.
    let other = Command::new("/bin/true").spawn()?;
    println!("other pid {}", other.id());
    other.wait_with_output()?;
    // Let the target go on to its exec, and wait for it.
    writeln!(shell.stdin.take().ok_or("no stdin")?)?;
    shell.wait()?;

    // The target's record is already in the ring; the bound is only a safety net.
    ring.poll_for(Duration::from_secs(5))?;
    drop(ring);
    for pid in &reported {
        println!("reported pid {pid}");
    }
    Ok(())
}
