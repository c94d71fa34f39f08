//! Events through a perf buffer, and what it lost.
//!
//! `bpf-progs/perf_events.bpf.c` sends a `struct event` with bpf_perf_event_output() on
//! every getpgid(2) made by a thread named `cbpf-burst`. This example makes N such calls
//! on a thread of its own (default 1,000) while it reads the samples from the per-CPU
//! rings, prints each one and, at the end, how many arrived and how many the kernel
//! reported lost. Try a tiny ring to see losses:
//! `cargo run --example perf_events -- 5000 1` (as root; events, then pages per CPU).
//! The kernel reports a loss with the next sample that fits in that ring, so a loss at
//! the very end goes unreported.

use std::error::Error;
use std::time::Duration;

use corebpf::{Loader, PerfBufferBuilder, Pod};

/// The compiled BPF object (C source next to it).
const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/perf_events.bpf.o");

/// `struct event` of perf_events.bpf.c.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    pid: u32,
    seq: u32,
    comm: [u8; 16],
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let events: u32 = args.next().map_or(Ok(1000), |a| a.parse())?;
    let pages: usize = args.next().map_or(Ok(64), |a| a.parse())?;

    let obj = Loader::new().load_file(OBJECT)?;
    let _links = obj.attach_all()?;
    let map = obj
        .map("events")
        .ok_or("perf_events.bpf.o has no map `events`")?;
    let mut lost = 0;
    let mut perf = PerfBufferBuilder::new(map)
        .pages(pages)
        .sample(|cpu, data: &[u8]| {
            // A sample is the program's bytes plus up to 7 bytes of padding: read the
            // struct from the front.
            match Event::from_prefix(data) {
                Ok((e, _padding)) => println!("cpu {cpu} pid {} seq {}", e.pid, e.seq),
                Err(err) => eprintln!("skipping a sample: {err}"),
            }
        })
        .lost(|cpu, n| {
            eprintln!("cpu {cpu}: {n} samples lost");
            lost += n;
        })
        .build()?;

    // The events: getpgid() from a thread named as the program expects, while this
    // thread reads them.
    let maker = std::thread::Builder::new()
        .name("cbpf-burst".into())
        .spawn(move || {
            // In bursts of 100 with a pause between: a burst that overflows a ring loses
            // samples, and the kernel reports the count with the next sample that fits.
            for i in 0..events {
                let _ = nix::unistd::getpgid(None);
                if i % 100 == 99 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })?;
    let mut samples = 0;
    // Until the maker is done and a poll finds the rings empty.
    loop {
        let done = maker.is_finished();
        let n = perf.poll(Some(Duration::from_millis(100)))?;
        samples += n;
        if done && n == 0 {
            break;
        }
    }
    maker.join().map_err(|_| "the event thread panicked")?;
    drop(perf);
    println!("{samples} samples, {lost} lost");
    Ok(())
}
