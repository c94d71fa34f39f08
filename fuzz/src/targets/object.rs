//! ELF object → `ObjectSpec`: sections, symbols, relocations, programs, maps (BTF-defined,
//! legacy, global data), `.BTF` with its DATASEC fixups and `.BTF.ext`; then what a tool
//! asks of a parsed spec (globals by name) and a CO-RE pass of each program against the
//! object's own BTF, as `corebpf relocate` does against a kernel's.

use std::path::Path;

use corebpf::btf::Kind;
use corebpf::reloc::relocate_object;
use corebpf::ObjectSpec;

use crate::{chain, seeds, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = "ELF object -> ObjectSpec, globals, CO-RE against its own BTF";

/// One input: an ELF file.
pub fn run(data: &[u8]) -> Outcome {
    let spec = ObjectSpec::parse(data, "fuzz").map_err(|e| chain(&e))?;
    if let Some(btf) = &spec.btf {
        for t in btf.types().filter(|t| t.kind == Kind::Var).take(256) {
            if let Ok(name) = btf.name_of(&t) {
                let _ = spec.global(name);
            }
        }
        for program in relocate_object(&spec, btf) {
            if let Err(e) = program.result {
                let _ = chain(&e);
            }
        }
    }
    Ok(())
}

/// Every object of the repository.
pub fn seeds(repo: &Path) -> Vec<Seed> {
    seeds::objects(repo)
}
