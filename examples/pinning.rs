//! Keep a map alive after the program that made it exits, and open it again.
//!
//! Pinning gives a map a path in the BPF filesystem (bpffs, usually mounted at
//! `/sys/fs/bpf`); the map lives as long as the path does, so another process (or a
//! later run) can open it and read what the BPF program wrote. Here the same process
//! does both: it counts some execs, pins `counts`, drops everything it loaded, then
//! opens the map again from its path.
//!
//! Run it as root: `cargo run --example pinning` (with bpffs mounted:
//! `mount -t bpf bpf /sys/fs/bpf`).

use std::error::Error;
use std::path::PathBuf;
use std::process::Command;

use corebpf::map::HashMap;
use corebpf::{Loader, Map};

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-progs/hello.bpf.o");

fn main() -> Result<(), Box<dyn Error>> {
    // bpffs refuses names with a dot; the pid keeps concurrent runs apart.
    let path = PathBuf::from(format!(
        "/sys/fs/bpf/corebpf_example_counts_{}",
        std::process::id()
    ));

    {
        let mut obj = Loader::new().load_file(OBJECT)?;
        obj.map_mut("counts").ok_or("no map `counts`")?.pin(&path)?;
        println!("pinned counts at {}", path.display());
        let _links = obj.attach_all()?;
        for _ in 0..3 {
            Command::new("/bin/true").status()?;
        }
        // Leaving this block drops the links, the program and our handle on the map;
        // the pin keeps the map itself alive.
    }

    let mut map = Map::from_pin(&path)?;
    {
        let counts: HashMap<u32, u64> = (&map).try_into()?;
        for uid in counts.keys() {
            let uid = uid?;
            if let Some(n) = counts.get(&uid)? {
                println!("from the pin: uid {uid}: {n} execs");
            }
        }
    }
    // Removing the path frees the map once no one else holds it.
    map.unpin()?;
    println!("unpinned {}", path.display());
    Ok(())
}
