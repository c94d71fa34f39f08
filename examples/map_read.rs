//! Read a BPF map from user space, with Rust types for its keys and values.
//!
//! `bpf-progs/hello.bpf.c` counts execs per user id in a hash map `counts` (`u32` uid →
//! `u64` count). This example runs `/bin/true` a few times, then reads the map.
//!
//! Run it as root: `cargo run --example map_read`.

use std::error::Error;
use std::process::Command;

use corebpf::map::HashMap;
use corebpf::Loader;

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/hello.bpf.o");

fn main() -> Result<(), Box<dyn Error>> {
    let obj = Loader::new().load_file(OBJECT)?;
    let _links = obj.attach_all()?;

    // Some execs to count.
    for _ in 0..3 {
        Command::new("/bin/true").status()?;
    }

    // A typed view: the conversion checks once that the map's key and value sizes are
    // those of `u32` and `u64`, so reads can't be misinterpreted later.
    let counts: HashMap<u32, u64> = obj.map("counts").ok_or("no map `counts`")?.try_into()?;
    for uid in counts.keys() {
        let uid = uid?;
        // The entry may be gone by now (another process may delete it): `None` then.
        if let Some(n) = counts.get(&uid)? {
            println!("uid {uid}: {n} execs");
        }
    }
    Ok(())
}
