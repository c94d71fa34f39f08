//! CO-RE relocation of fixed objects against a fuzzed target BTF: every program of
//! `bpf-progs/relo_heavy.bpf.o` (500+ records of every kind over 20 kernel structures)
//! and `bpf-progs/core_families.bpf.o` (flavors, bitfields, arrays, enums, type-based
//! relocations), as `corebpf relocate --btf FILE` runs them: candidates by name, field
//! matching, patching, poisoning.

use std::path::Path;
use std::sync::OnceLock;

use corebpf::btf::Btf;
use corebpf::reloc::relocate_object;
use corebpf::ObjectSpec;

use crate::{chain, seeds, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = "CO-RE: relo_heavy and core_families relocated against target BTF";

const OBJECTS: &[(&str, &[u8])] = &[
    (
        "relo_heavy",
        include_bytes!("../../../bpf-progs/relo_heavy.bpf.o"),
    ),
    (
        "core_families",
        include_bytes!("../../../bpf-progs/core_families.bpf.o"),
    ),
];

fn specs() -> &'static [ObjectSpec] {
    static SPECS: OnceLock<Vec<ObjectSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        OBJECTS
            .iter()
            .map(|(name, data)| ObjectSpec::parse(data, name).expect("a committed object parses"))
            .collect()
    })
}

/// One input: the target's raw BTF.
pub fn run(data: &[u8]) -> Outcome {
    let target = Btf::parse(data.to_vec()).map_err(|e| chain(&e))?;
    for spec in specs() {
        for program in relocate_object(spec, &target) {
            if let Err(e) = program.result {
                let _ = chain(&e);
            }
        }
    }
    Ok(())
}

/// The CO-RE target fixtures and the vmlinux pieces (the types relo_heavy reads).
pub fn seeds(repo: &Path) -> Vec<Seed> {
    let mut out = seeds::core_targets(repo);
    out.extend(seeds::vmlinux_small(repo));
    out
}
