//! Await exec events in a tokio runtime instead of blocking a thread on them.
//!
//! `bpf-progs/hello.bpf.c` sends one record per exec through a ring buffer; here a task
//! awaits them with `AsyncRingBuffer::poll`, which parks it in tokio's reactor until the
//! ring has data, leaving the thread free for the runtime's other tasks (a blocking
//! `RingBuffer::poll` would hold the thread). Needs the `tokio` feature:
//!
//! `cargo run --features tokio --example async_events -- 5` (as root; execs to wait for,
//! default 5), then run a few commands in another shell.

use std::error::Error;

use corebpf::tokio::AsyncRingBuffer;
use corebpf::{Loader, Pod, RingBufferBuilder};

/// The compiled BPF object (C source next to it).
const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/hello.bpf.o");

/// hello.bpf.c's `struct event`, read straight from a record (see the `hello` example).
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
    let wanted: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 5,
    };
    let obj = Loader::new().load_file(OBJECT)?;
    let _links = obj.attach_all()?;
    let events = obj.map("events").ok_or("hello.bpf.o has no map `events`")?;

    // A single-threaded runtime with its I/O driver, which `AsyncRingBuffer` needs.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime
        .block_on(async {
            let ring = RingBufferBuilder::new()
                .add(events, |record: &[u8]| {
                    match Event::from_bytes(record) {
                        Ok(e) => println!(
                            "pid {:<7} {:<16} {}",
                            e.pid,
                            c_str(&e.comm),
                            c_str(&e.filename)
                        ),
                        Err(err) => eprintln!("skipping a record: {err}"),
                    }
                    0
                })
                .build()?;
            let mut ring = AsyncRingBuffer::new(ring)?;
            println!("waiting for {wanted} execs");
            let mut seen = 0;
            while seen < wanted {
                seen += ring.poll().await?;
            }
            Ok::<_, Box<dyn Error>>(seen)
        })
        .map(|seen| println!("{seen} execs"))
}
