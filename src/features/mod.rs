//! Kernel feature probes, as libbpf's `kernel_supports(FEAT_*)` (`features.c`).
//!
//! Each [`Feature`] has a probe that asks the kernel the cheapest question that
//! answers it: a tiny hand-built BTF blob for each BTF kind (`BPF_BTF_LOAD`), a
//! two-instruction program (`BPF_PROG_LOAD`), a one-entry map (`BPF_MAP_CREATE`),
//! or a link on an invalid perf event fd (`BPF_LINK_CREATE`). Everything a probe
//! opens is closed before it returns.
//!
//! [`kernel_features()`] is the process-wide cache: each feature is probed at most
//! once per process, on first use, and only when asked for (a `OnceLock` per
//! feature). [`Feature::probe`] runs a probe uncached. A [`FeatureSet`] is a plain
//! snapshot (all answers, or some answers overridden) for callers that want to
//! decide for the kernel, e.g. tests that pretend to be an old kernel.
//!
//! Probes never fail: the errno a kernel without the feature returns (usually
//! `EINVAL`) means "unsupported"; any other failure (`EPERM`, `ENOMEM`, …) is
//! logged at debug level and also reported as unsupported, as libbpf does.
//!
//! Beyond the loader's own features, the module answers what `bpftool feature probe`
//! does: which program types ([`prog_type_supported`]), map types
//! ([`map_type_supported`]) and helpers per program type ([`helper_supported`]) the
//! kernel has, and which link types ([`link_type_supported`]) and BTF kinds
//! ([`btf_kind_supported`]); each is probed once per process, when first asked.
//!
//! The module sits below both the loader and the runtime objects (programs, maps),
//! so either can ask what the kernel supports. Its parts: [`Feature`] and running one
//! probe (here), the probes themselves (`probes.rs`: programs, maps, links, syscall
//! wrappers; `btf_kinds.rs`: the BTF blobs, one per BTF kind; `type_probes.rs`: program,
//! map and link types and helpers; `kinds.rs`: their numbers and names) and the answers
//! (`set.rs`: the per-process cache [`KernelFeatures`] and the plain [`FeatureSet`]).

use std::time::Instant;

mod btf_kinds;
mod kinds;
mod probes;
mod set;
#[cfg(test)]
mod tests;
mod type_probes;
#[cfg(test)]
mod type_tests;

pub use kinds::{helper_id, helper_ids, helper_name, map_types, LinkType, ProgramType};
pub use probes::syscall_prefix;
pub use set::{kernel_features, FeatureSet, KernelFeatures};

use crate::btf::Kind;
use crate::map::MapType;

/// Whether the running kernel loads programs of type `t`, probed once per process as
/// bpftool's `feature probe` does (see [`KernelFeatures::prog_type`]).
///
/// # Examples
///
/// ```no_run
/// use corebpf::features::{helper_id, helper_supported, prog_type_supported, ProgramType};
///
/// if prog_type_supported(ProgramType::XDP) {
///     let adjust = helper_id("bpf_xdp_adjust_tail").unwrap();
///     println!("XDP may call bpf_xdp_adjust_tail: {:?}", helper_supported(ProgramType::XDP, adjust));
/// }
/// ```
pub fn prog_type_supported(t: ProgramType) -> bool {
    kernel_features().prog_type(t)
}

/// Whether the running kernel creates maps of type `t`, probed once per process.
pub fn map_type_supported(t: MapType) -> bool {
    kernel_features().map_type(t)
}

/// Whether programs of type `t` may call helper `helper` (an `enum bpf_func_id`
/// number, see [`helper_id`]) on the running kernel, probed once per process: `None`
/// where no probe program of that type loads without a target (tracing, ext, lsm,
/// struct_ops), as in libbpf.
pub fn helper_supported(t: ProgramType, helper: u32) -> Option<bool> {
    kernel_features().helper(t, helper)
}

/// Whether the running kernel makes links of type `t`, probed once per process.
///
/// Cgroup, netns, perf_event, tcx, netkit, sockmap, netfilter and kprobe_multi links
/// are asked for on a target that does not exist (nothing is attached); for the other
/// types the kernel's BTF says whether `enum bpf_link_type` has them.
pub fn link_type_supported(t: LinkType) -> bool {
    kernel_features().link_type(t)
}

/// Whether the running kernel takes BTF of kind `kind`, probed once per process.
pub fn btf_kind_supported(kind: Kind) -> bool {
    kernel_features().btf_kind(kind)
}

/// A kernel feature the loader may need to know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Feature {
    /// `BPF_BTF_LOAD` of minimal BTF (4.18).
    Btf,
    /// `BTF_KIND_FUNC` / `BTF_KIND_FUNC_PROTO` (4.20).
    BtfFunc,
    /// FUNCs with global linkage (5.6).
    BtfGlobalFunc,
    /// `BTF_KIND_VAR` / `BTF_KIND_DATASEC` (5.2).
    BtfDatasec,
    /// `BTF_KIND_FLOAT` (5.13).
    BtfFloat,
    /// `BTF_KIND_DECL_TAG` (5.16).
    BtfDeclTag,
    /// `BTF_KIND_TYPE_TAG` (5.17).
    BtfTypeTag,
    /// `BTF_KIND_ENUM64` (6.0).
    BtfEnum64,
    /// `prog_name` / `map_name` in `BPF_PROG_LOAD` / `BPF_MAP_CREATE` (4.15).
    ProgName,
    /// `BPF_F_MMAPABLE` array maps, so global data can be mmap()ed (5.5).
    MmapableGlobalData,
    /// `BPF_MAP_TYPE_RINGBUF` (5.8).
    Ringbuf,
    /// `BPF_LINK_CREATE` with `BPF_PERF_EVENT` (5.15).
    PerfLink,
    /// `bpf_get_attach_cookie()` (5.15).
    BpfCookie,
    /// BPF memory charged to memory cgroups instead of `RLIMIT_MEMLOCK` (5.11).
    MemcgAccount,
    /// Syscalls go through arch wrappers (`__x64_sys_bpf`, 4.17 on x86-64): a kprobe
    /// on a syscall must target the wrapper.
    SyscallWrapper,
}

const COUNT: usize = 15;

impl Feature {
    /// Every feature, in declaration order.
    pub const ALL: [Feature; COUNT] = [
        Feature::Btf,
        Feature::BtfFunc,
        Feature::BtfGlobalFunc,
        Feature::BtfDatasec,
        Feature::BtfFloat,
        Feature::BtfDeclTag,
        Feature::BtfTypeTag,
        Feature::BtfEnum64,
        Feature::ProgName,
        Feature::MmapableGlobalData,
        Feature::Ringbuf,
        Feature::PerfLink,
        Feature::BpfCookie,
        Feature::MemcgAccount,
        Feature::SyscallWrapper,
    ];

    /// A short name (`btf_float`, `perf_link`, …).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Btf => "btf",
            Feature::BtfFunc => "btf_func",
            Feature::BtfGlobalFunc => "btf_global_func",
            Feature::BtfDatasec => "btf_datasec",
            Feature::BtfFloat => "btf_float",
            Feature::BtfDeclTag => "btf_decl_tag",
            Feature::BtfTypeTag => "btf_type_tag",
            Feature::BtfEnum64 => "btf_enum64",
            Feature::ProgName => "prog_name",
            Feature::MmapableGlobalData => "mmapable_global_data",
            Feature::Ringbuf => "ringbuf",
            Feature::PerfLink => "perf_link",
            Feature::BpfCookie => "bpf_cookie",
            Feature::MemcgAccount => "memcg_account",
            Feature::SyscallWrapper => "syscall_wrapper",
        }
    }

    /// The mainline kernel release that introduced the feature (distribution
    /// kernels may have it earlier).
    pub fn since(self) -> (u32, u32) {
        match self {
            Feature::Btf => (4, 18),
            Feature::BtfFunc => (4, 20),
            Feature::BtfGlobalFunc => (5, 6),
            Feature::BtfDatasec => (5, 2),
            Feature::BtfFloat => (5, 13),
            Feature::BtfDeclTag => (5, 16),
            Feature::BtfTypeTag => (5, 17),
            Feature::BtfEnum64 => (6, 0),
            Feature::ProgName => (4, 15),
            Feature::MmapableGlobalData => (5, 5),
            Feature::Ringbuf => (5, 8),
            Feature::PerfLink => (5, 15),
            Feature::BpfCookie => (5, 15),
            Feature::MemcgAccount => (5, 11),
            Feature::SyscallWrapper => (4, 17),
        }
    }

    /// Asks the kernel now, without any cache. Never fails: an unexpected error is
    /// logged at debug level and reported as `false`.
    pub fn probe(self) -> bool {
        let start = Instant::now();
        let supported = match probes::run(self) {
            Ok(supported) => supported,
            Err(e) => {
                log::debug!(
                    "probing kernel feature {}: unexpected failure ({}); assuming it is missing",
                    self.name(),
                    crate::util::Chain(&e)
                );
                false
            }
        };
        log::debug!(
            "kernel feature {}: {} (probed in {:?})",
            self.name(),
            if supported { "supported" } else { "missing" },
            start.elapsed()
        );
        supported
    }
}
