//! The C header dump (`corebpf btf dump --format c`, a `vmlinux.h`) of fuzzed BTF:
//! ordering, forward declarations, name deduplication, padding and packing.

use std::path::Path;

use corebpf::btf::dump::dump_c;
use corebpf::btf::Btf;

use crate::{chain, seeds, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = "BTF -> C header dump";

/// One input: raw BTF.
pub fn run(data: &[u8]) -> Outcome {
    let btf = Btf::parse(data.to_vec()).map_err(|e| chain(&e))?;
    let header = dump_c(&btf);
    assert!(
        header.contains("#endif"),
        "the header's include guard is not closed"
    );
    Ok(())
}

/// The vmlinux pieces, the objects' BTF and the CO-RE target fixtures.
pub fn seeds(repo: &Path) -> Vec<Seed> {
    let mut out = seeds::vmlinux_small(repo);
    out.extend(seeds::sections(repo, ".BTF", ".BTF"));
    out.extend(seeds::core_targets(repo));
    out
}
