//! Relocations that need the target kernel's types: CO-RE field and type relocations.
//!
//! A pure layer: the object's BTF, the target BTFs and the instructions go in, patched
//! instructions (or typed errors) come out. Map and call relocations are resolved by the
//! object layer and the loader.

pub mod core;
pub mod externs;

use self::core::{CandidateCache, CoreError, RelocResult, Targets};
use crate::btf::Btf;
use crate::object::ObjectSpec;

/// The CO-RE decisions for one program of an object.
#[derive(Debug)]
pub struct ProgramRelocations {
    /// Program name.
    pub program: String,
    /// Every relocation's decision, or the hard error that stopped the program's pass.
    pub result: Result<Vec<RelocResult>, CoreError>,
}

/// Relocates every program of `spec` against `target` without loading anything: what
/// `corebpf relocate` prints. Programs without CO-RE records are left out; an object
/// without BTF has nothing to relocate.
pub fn relocate_object(spec: &ObjectSpec, target: &Btf) -> Vec<ProgramRelocations> {
    let Some(local) = spec.btf.as_ref() else {
        return Vec::new();
    };
    let targets = Targets::vmlinux(target);
    let mut cache = CandidateCache::new();
    spec.programs
        .iter()
        .filter(|p| !p.core_relos.is_empty())
        .map(|p| {
            let mut insns = p.insns.clone();
            ProgramRelocations {
                program: p.name.clone(),
                result: self::core::relocate(
                    local,
                    &targets,
                    &mut insns,
                    &p.core_relos,
                    &mut cache,
                ),
            }
        })
        .collect()
}
