//! `.BTF.ext`: function info, line info and CO-RE relocation records, validated against
//! the BTF of a fixed object (`bpf-progs/relo_heavy.bpf.o`, whose own `.BTF.ext` has all
//! three parts), then looked up by section as the object layer does.

use std::path::Path;
use std::sync::OnceLock;

use corebpf::btf::{Btf, BtfExt};

use crate::{chain, seeds, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = ".BTF.ext -> parse and validate against relo_heavy's BTF";

const OBJECT: &[u8] = include_bytes!("../../../bpf-progs/relo_heavy.bpf.o");

fn btf() -> &'static Btf {
    static BTF: OnceLock<Btf> = OnceLock::new();
    BTF.get_or_init(|| {
        let raw = seeds::section(OBJECT, ".BTF").expect("relo_heavy.bpf.o has .BTF");
        Btf::parse(raw).expect("relo_heavy's BTF parses")
    })
}

/// One input: `.BTF.ext` bytes.
pub fn run(data: &[u8]) -> Outcome {
    let btf = btf();
    let ext = BtfExt::parse(data, btf).map_err(|e| chain(&e))?;
    let names = (ext.func_info.iter().map(|s| &s.section))
        .chain(ext.line_info.iter().map(|s| &s.section))
        .chain(ext.core_relos.iter().map(|s| &s.section));
    for name in names {
        let found = ext.func_info_for(name).len()
            + ext.line_info_for(name).len()
            + ext.core_relos_for(name).len();
        let _ = found;
    }
    for s in &ext.core_relos {
        let _ = s.record_offset(s.records.len());
    }
    Ok(())
}

/// relo_heavy's own `.BTF.ext` first (the only one that matches the fixed BTF), then the
/// other objects' (valid layouts whose references mostly do not).
pub fn seeds(repo: &Path) -> Vec<Seed> {
    seeds::sections(repo, ".BTF.ext", ".BTF.ext")
}
