//! CO-RE at load time: choosing the target BTF and running the pure relocation pass
//! over each program, keeping the decisions so a verifier failure can be explained.

use std::path::PathBuf;
use std::sync::Arc;

use crate::btf::{kernel, Btf, BtfError};
use crate::object::ProgramSpec;
use crate::reloc::core::{relocate, CandidateCache, CoreError, Outcome, RelocResult, Targets};

/// Where CO-RE finds the target kernel's types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TargetBtf {
    /// The running kernel: `/sys/kernel/btf/vmlinux` (or libbpf's on-disk fallbacks),
    /// and module BTFs when vmlinux has no candidate.
    #[default]
    RunningKernel,
    /// A file of raw BTF, or an ELF with a `.BTF` section (libbpf's `btf_custom_path`).
    File(PathBuf),
}

/// Errors choosing or using the target BTF.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreLoadError {
    /// The target BTF could not be read.
    #[error("reading the target BTF ({what})")]
    Target {
        /// Which target.
        what: String,
        /// Why.
        #[source]
        source: BtfError,
    },
    /// The program has CO-RE records but the object has no BTF to read them with.
    #[error("program '{program}' has CO-RE relocations but the object has no usable BTF")]
    NoLocalBtf {
        /// Program name.
        program: String,
    },
    /// A hard relocation error.
    #[error("program '{program}': CO-RE relocation failed")]
    Relocation {
        /// Program name.
        program: String,
        /// The failure.
        #[source]
        source: Box<CoreError>,
    },
}

/// The target BTFs of one load, read once and shared by every program.
pub(crate) struct CoreTargets {
    vmlinux: Arc<Btf>,
    modules: Option<Vec<(String, Arc<Btf>)>>,
    /// Only the running kernel has module BTFs to fall back to.
    may_use_modules: bool,
    cache: CandidateCache,
}

impl CoreTargets {
    /// Reads the target (the running kernel's BTF is read once per process and shared).
    pub(crate) fn open(target: &TargetBtf) -> Result<CoreTargets, CoreLoadError> {
        let (vmlinux, may_use_modules) = match target {
            TargetBtf::RunningKernel => (
                kernel::vmlinux_btf().map_err(|source| CoreLoadError::Target {
                    what: "running kernel".into(),
                    source,
                })?,
                true,
            ),
            TargetBtf::File(path) => (
                Arc::new(
                    kernel::load_btf_file(path).map_err(|source| CoreLoadError::Target {
                        what: path.display().to_string(),
                        source,
                    })?,
                ),
                false,
            ),
        };
        Ok(CoreTargets {
            vmlinux,
            modules: None,
            may_use_modules,
            cache: CandidateCache::new(),
        })
    }

    /// Module BTFs, parsed on first need; corrupt ones are skipped with a warning.
    fn modules(&mut self) -> &[(String, Arc<Btf>)] {
        self.modules
            .get_or_insert_with(|| match kernel::module_btfs() {
                Ok(m) => m
                    .iter()
                    .filter_map(|mb| mb.btf().map(|b| (mb.name().to_string(), b)))
                    .collect(),
                Err(e) => {
                    log::warn!("module BTFs unavailable: {}", crate::util::Chain(&e));
                    Vec::new()
                }
            })
    }

    /// Relocates `insns` (a copy of `prog`'s) in place; returns every decision.
    pub(crate) fn relocate(
        &mut self,
        local: &Btf,
        prog: &ProgramSpec,
        insns: &mut [crate::insn::Insn],
    ) -> Result<Vec<RelocResult>, CoreLoadError> {
        let err = |source| CoreLoadError::Relocation {
            program: prog.name.clone(),
            source: Box::new(source),
        };
        let pristine = insns.to_vec();
        let results = relocate(
            local,
            &Targets::vmlinux(&self.vmlinux),
            insns,
            &prog.core_relos,
            &mut self.cache,
        )
        .map_err(err)?;
        // libbpf looks in module BTFs only for types vmlinux lacks entirely.
        let unmatched = results.iter().zip(&prog.core_relos).any(|(r, relo)| {
            r.target.is_none() && needs_target(r) && !self.cache.has_candidates(relo.type_id)
        });
        if !(unmatched && self.may_use_modules) {
            return Ok(results);
        }
        let vmlinux = self.vmlinux.clone();
        let modules: Vec<(String, Arc<Btf>)> = self.modules().to_vec();
        if modules.is_empty() {
            return Ok(results);
        }
        let refs: Vec<(String, &Btf)> = modules
            .iter()
            .map(|(n, b)| (n.clone(), b.as_ref()))
            .collect();
        insns.copy_from_slice(&pristine);
        // Candidates cached against vmlinux alone must not hide the modules' ones.
        let mut cache = CandidateCache::new();
        relocate(
            local,
            &Targets::with_modules(&vmlinux, &refs),
            insns,
            &prog.core_relos,
            &mut cache,
        )
        .map_err(err)
    }
}

/// TYPE_ID_LOCAL never consults the target.
fn needs_target(r: &RelocResult) -> bool {
    r.kind != crate::reloc::core::CoreReloKind::TypeIdLocal
}

/// The opcode a poisoned instruction carries: `call 0xbad2310`.
pub const POISON_HELPER: i64 = 0xbad2310;

/// When the verifier reached a poisoned instruction, the relocation that poisoned it.
pub(crate) fn poisoned_reloc_in_log<'r>(
    log: &str,
    results: &'r [RelocResult],
) -> Option<&'r RelocResult> {
    let marker = format!("call unknown#{POISON_HELPER}");
    let insn = log
        .lines()
        .filter(|l| l.contains(&marker))
        .find_map(|l| l.split(':').next()?.trim().parse::<usize>().ok());
    let poisoned = |r: &&RelocResult| matches!(r.outcome, Outcome::Poisoned { .. });
    match insn {
        Some(i) => results.iter().filter(poisoned).find(|r| r.insn == i),
        // An old kernel that doesn't print the instruction: name the first poisoned one.
        None if log.contains(&POISON_HELPER.to_string()) => results.iter().find(poisoned),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reloc::core::CoreReloKind;

    fn poisoned(insn: usize) -> RelocResult {
        RelocResult {
            insn,
            kind: CoreReloKind::FieldByteOffset,
            local: "struct task_struct.state".into(),
            outcome: Outcome::Poisoned {
                reason: "no field".into(),
            },
            target: None,
            mem_size: None,
        }
    }

    #[test]
    fn finds_the_relocation_the_verifier_reached() {
        let results = [poisoned(3), poisoned(12)];
        let log =
            "11: (b7) r1 = 0\n12: (85) call unknown#195896080\ninvalid func unknown#195896080\n";
        assert_eq!(poisoned_reloc_in_log(log, &results).unwrap().insn, 12);
        assert!(poisoned_reloc_in_log("R0 invalid mem access", &results).is_none());
        assert_eq!(
            poisoned_reloc_in_log("invalid func unknown#195896080", &results)
                .unwrap()
                .insn,
            3
        );
    }
}
