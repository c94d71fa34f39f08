//! hello through its skeleton: the typed module examples/skel/hello.skel.rs, generated
//! from bpf-progs/hello.bpf.o (`cargo xtask skel`), instead of names and byte layouts
//! written by hand as in the `hello` example.
//!
//! `cargo run --example skel_hello -- [SECONDS] [PID]` (as root): prints every exec for
//! SECONDS (default 5), only those of process PID when given, then the execs per uid.

use std::error::Error;
use std::time::Duration;

include!("skel/hello.skel.rs");

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let pid: u32 = args.next().map_or(Ok(0), |a| a.parse())?;

    let mut open = hello::open()?;
    // `const volatile u32 target_tgid` of hello.bpf.c: 0 traces every process.
    open.rodata_mut().target_tgid = pid;
    open.set_max_entries("counts", 4096)?;
    let mut skel = open.load()?;
    skel.attach()?;

    let mut ring = skel
        .events_ring_buffer(|e: &hello::Event| {
            let comm = e.comm_str().unwrap_or("?");
            let file = String::from_utf8_lossy(&e.filename);
            let file = file.trim_end_matches('\0');
            println!("pid {:>7} uid {:>5} {comm:<16} {file}", e.pid, e.uid);
            0
        })?
        .build()?;
    println!("listening for {seconds} s");
    std::io::Write::flush(&mut std::io::stdout())?;
    ring.poll_for(Duration::from_secs(seconds))?;

    println!("{} events sent", skel.bss()?.total_events()?);
    let counts = skel.maps().counts()?;
    for uid in counts.keys() {
        let uid = uid?;
        println!("uid {uid}: {:?} execs", counts.get(&uid)?.unwrap_or(0));
    }
    Ok(()) // dropping `skel` detaches the program and releases the object
}
