//! Prints the skeleton of a BPF object: what `cargo xtask skel` runs to regenerate the
//! committed skeletons of examples/skel/ (the xtask itself does not depend on corebpf).
//!
//! `cargo run --example skel_gen -- OBJECT NAME [INCLUDE_PATH]`: the module named NAME,
//! embedding the object as `include_bytes!(INCLUDE_PATH)` (relative to the skeleton's
//! file), or as a byte string without INCLUDE_PATH.

use std::error::Error;

use corebpf::skel::{generate, SkelOptions};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (object, name, include) = match args.as_slice() {
        [object, name] => (object, name, None),
        [object, name, include] => (object, name, Some(include)),
        _ => return Err("usage: skel_gen OBJECT NAME [INCLUDE_PATH]".into()),
    };
    let bytes = std::fs::read(object).map_err(|e| format!("reading {object}: {e}"))?;
    let mut opts = SkelOptions::new(name.as_str());
    if let Some(path) = include {
        opts = opts.object_path(path.as_str());
    }
    print!("{}", generate(&bytes, &opts)?);
    Ok(())
}
