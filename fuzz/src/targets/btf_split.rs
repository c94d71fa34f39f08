//! Kernel and split BTF: a base blob (vmlinux) and a split blob on it (a module's), parsed
//! and indexed; every named type must be found by name, and by name and kind, through the
//! lazily built name index (of the split blob, then of its base).
//!
//! Input: one kernel BTF file (raw BTF or an ELF image with a `.BTF` section, as
//! `--btf FILE` accepts) when it starts with BTF's or ELF's magic; otherwise a
//! little-endian `u32` length, that many bytes of base BTF, then the split BTF.

use std::path::Path;
use std::sync::Arc;

use corebpf::btf::kernel::parse_btf_or_elf;
use corebpf::btf::Btf;

use crate::{chain, seeds, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = "kernel and split BTF -> parse, name index, lookups by name";

/// Named types checked per blob.
const MAX_LOOKUPS: usize = 4096;

/// One input (see the module documentation).
pub fn run(data: &[u8]) -> Outcome {
    let Some((base, split)) = split_input(data) else {
        let btf = parse_btf_or_elf(data.to_vec()).map_err(|e| chain(&e))?;
        check_index(&btf);
        return Ok(());
    };
    let base = Arc::new(Btf::parse(base.to_vec()).map_err(|e| format!("base: {}", chain(&e)))?);
    check_index(&base);
    let split = Btf::parse_split(split.to_vec(), base.clone())
        .map_err(|e| format!("split: {}", chain(&e)))?;
    assert_eq!(
        split.start_id(),
        base.len(),
        "split ids continue the base's"
    );
    check_index(&split);
    Ok(())
}

/// `(base, split)`, unless the input is one file (see the module documentation).
fn split_input(data: &[u8]) -> Option<(&[u8], &[u8])> {
    if data.starts_with(&[0x9f, 0xeb]) || data.starts_with(b"\x7fELF") {
        return None;
    }
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let rest = &data[4..];
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// Every named type of `btf`'s own (up to [`MAX_LOOKUPS`]) is found by its name.
fn check_index(btf: &Btf) {
    btf.build_name_index();
    for t in btf.types().take(MAX_LOOKUPS) {
        let Ok(name) = btf.name_of(&t) else { continue };
        if name.is_empty() {
            continue;
        }
        assert!(
            btf.ids_by_name(name).any(|id| id == t.id),
            "type [{}] '{name}' is not found by its name",
            t.id
        );
        assert!(
            btf.ids_by_name_kind(name, t.kind).any(|id| id == t.id),
            "type [{}] '{name}' is not found by its name and kind",
            t.id
        );
        let first = btf.find_by_name_kind(name, t.kind);
        assert!(first.is_some(), "find_by_name_kind('{name}') found nothing");
    }
}

/// Pieces of the vmlinux fixtures as base and split, and alone, and a few objects (ELF
/// images with `.BTF`). The whole fixtures (MBs each) would make every execution slow.
pub fn seeds(repo: &Path) -> Vec<Seed> {
    let mut out = Vec::new();
    for (name, base, split) in seeds::vmlinux_pieces(repo) {
        let mut data = (base.len() as u32).to_le_bytes().to_vec();
        data.extend_from_slice(&base);
        data.extend_from_slice(&split);
        out.push(Seed {
            name: name.replace(".btf", "-split-pieces"),
            data,
        });
    }
    out.extend(seeds::vmlinux_small(repo));
    out.extend(seeds::objects(repo).into_iter().take(4));
    out
}
