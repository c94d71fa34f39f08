//! Drop the UDP datagrams sent to one port as they reach an interface, with XDP.
//!
//! `bpf-progs/xdp.bpf.c`'s `xdp_drop` sees each frame the interface receives, before
//! the kernel builds a socket buffer for it, and drops IPv4 UDP datagrams to `port` (a
//! `.rodata` global set before load), counting them in its `.bss` variable `dropped`.
//! [`Xdp::attach`] makes a BPF link (kernels 5.9 and later) or, on older kernels, asks
//! for the program over netlink; either way the [`Link`](corebpf::Link) it returns
//! detaches the program when dropped, and the interface takes the datagrams again.
//!
//! Run it as root: `cargo run --example xdp_drop -- IFACE PORT COUNT`, then send UDP
//! datagrams to PORT on IFACE from another host (`nc -u ADDRESS PORT`). It returns
//! once COUNT of them have been dropped, or after a minute.

use std::error::Error;
use std::time::{Duration, Instant};

use corebpf::program::{Xdp, XdpMode};
use corebpf::{Loader, MapFlags, Object, ObjectSpec};

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/xdp.bpf.o");

fn main() -> Result<(), Box<dyn Error>> {
    let usage = "usage: xdp_drop IFACE PORT COUNT";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [iface, port, count] = args.as_slice() else {
        return Err(usage.into());
    };
    let port: u16 = port.parse().map_err(|_| usage)?;
    let count: u64 = count.parse().map_err(|_| usage)?;

    // Load only xdp_drop, acting on `port`.
    let spec = ObjectSpec::from_file(OBJECT.as_ref())?;
    let mut loader = Loader::new().global("port", &port.to_ne_bytes());
    for program in &spec.programs {
        loader = loader.autoload(&program.name, program.name == "xdp_drop");
    }
    let obj = loader.load(&spec)?;
    let program: Xdp = obj.program("xdp_drop").ok_or("no xdp_drop")?.try_into()?;

    // The default mode lets the driver run it natively where it can.
    let link = program.attach(iface.as_str(), XdpMode::Default)?;
    println!("dropping UDP to port {port}: {}", link.description());

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut dropped = read_dropped(&spec, &obj)?;
    while dropped < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        dropped = read_dropped(&spec, &obj)?;
    }
    println!("dropped {dropped} datagrams");
    drop(link); // detaches
    println!("detached from {iface}");
    Ok(())
}

/// The `.bss` variable `dropped`: where the object's BTF places it in the object's
/// `.bss` map (a one-element array holding the whole section).
fn read_dropped(spec: &ObjectSpec, obj: &Object) -> Result<u64, Box<dyn Error>> {
    let var = spec.global("dropped").ok_or("no global `dropped`")?;
    let map = obj.map(&spec.maps[var.map].name).ok_or("no .bss map")?;
    let bss = map
        .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)?
        .ok_or(".bss is empty")?;
    let at = var.offset as usize;
    let bytes = bss.get(at..at + 8).ok_or("`dropped` outside .bss")?;
    Ok(u64::from_ne_bytes(bytes.try_into()?))
}
