//! Print every exec on this machine for a few seconds.
//!
//! `bpf-progs/hello.bpf.c` runs on the `syscalls/sys_enter_execve` tracepoint and sends
//! one record per exec through a ring buffer; here each record is decoded into a Rust
//! struct and printed.
//!
//! Run it as root: `cargo run --example hello -- 5` (seconds to listen; default 5).

use std::error::Error;
use std::time::Duration;

use corebpf::{Loader, Pod, RingBufferBuilder};

/// The compiled BPF object (C source next to it).
const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/hello.bpf.o");

/// One record, laid out as `struct event` in hello.bpf.c. `#[repr(C)]` gives it C's
/// layout; `#[derive(Pod)]` checks at compile time that it is nothing but its bytes
/// (no padding, no pointers), so it can be read straight from a record.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    pid: u32,
    uid: u32,
    comm: [u8; 16],
    filename: [u8; 256],
}

/// The text of a NUL-terminated C string field.
fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn main() -> Result<(), Box<dyn Error>> {
    let seconds: f64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 5.0,
    };

    // Loading puts the object's BTF, maps and programs into the kernel; the verifier
    // checks each program here.
    let obj = Loader::new().load_file(OBJECT)?;
    // Attach each program where its SEC() name says. Dropping the links detaches.
    let _links = obj.attach_all()?;

    let events = obj.map("events").ok_or("hello.bpf.o has no map `events`")?;
    let mut ring = RingBufferBuilder::new()
        .add(events, |record: &[u8]| {
            // A record of the wrong size is an error naming both sizes, never garbage.
            match Event::from_bytes(record) {
                Ok(e) => println!(
                    "pid {:<7} uid {:<5} {:<16} {}",
                    e.pid,
                    e.uid,
                    c_str(&e.comm),
                    c_str(&e.filename)
                ),
                Err(err) => eprintln!("skipping a record: {err}"),
            }
            0 // 0: keep going; anything else stops polling
        })
        .build()?;

    println!("listening for {seconds} s");
    // Keeps waiting for and consuming records until the time is up.
    let n = ring.poll_for(Duration::from_secs_f64(seconds))?;
    println!("{n} execs");
    Ok(())
}
