//! A perf buffer through a skeleton: the samples of bpf-progs/perf_events.bpf.o arrive
//! as `perf_events::Event` (examples/skel/perf_events.skel.rs) instead of bytes.
//!
//! `cargo run --example skel_perf -- [EVENTS]` (as root): makes EVENTS getpgid(2) calls
//! (default 100) on a thread named `cbpf-burst`, the one the program records, prints
//! each sample, then how many arrived and how many the kernel reported lost.

use std::error::Error;
use std::time::Duration;

include!("skel/perf_events.skel.rs");

fn main() -> Result<(), Box<dyn Error>> {
    let events: u32 = std::env::args().nth(1).map_or(Ok(100), |a| a.parse())?;

    let mut skel = perf_events::open()?.load()?;
    skel.attach()?;
    let mut lost = 0;
    let mut perf = skel
        .events_perf_buffer(|cpu, e: &perf_events::Event| {
            let comm = e.comm_str().unwrap_or("?");
            println!("cpu {cpu} pid {} seq {} {comm}", e.pid, e.seq);
        })?
        .pages(64)
        .lost(|_cpu, n| lost += n)
        .build()?;

    let maker = std::thread::Builder::new()
        .name("cbpf-burst".into())
        .spawn(move || {
            for _ in 0..events {
                let _ = nix::unistd::getpgid(None);
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
