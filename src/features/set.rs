//! The answers: the per-process cache of probe results and plain feature sets.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use super::kinds::{LinkType, ProgramType};
use super::{type_probes, Feature, COUNT};
use crate::btf::sanitize::BtfFeatures;
use crate::btf::Kind;
use crate::map::MapType;

/// Lazily probed, cached answers about one kernel.
///
/// [`kernel_features()`] is the process-wide instance; [`KernelFeatures::new`] makes a
/// private one (its own cache).
#[derive(Debug)]
pub struct KernelFeatures {
    cache: [OnceLock<bool>; COUNT],
    types: TypeCache,
}

/// Type numbers the caches hold (larger ones are probed every time).
const TYPES: usize = 64;
/// Helper ids the cache holds per program type.
const HELPERS: usize = 256;

/// Cached answers about program, map and link types and helpers, one byte each:
/// 0 = not probed yet, then [`NO`], [`YES`] or [`UNKNOWN`]. Two threads asking at once
/// may both probe; they get the same answer.
struct TypeCache {
    prog: [AtomicU8; TYPES],
    map: [AtomicU8; TYPES],
    link: [AtomicU8; TYPES],
    /// `TYPES * HELPERS` answers, allocated on the first helper question.
    helpers: OnceLock<Box<[AtomicU8]>>,
}

const NO: u8 = 1;
const YES: u8 = 2;
const UNKNOWN: u8 = 3;

impl std::fmt::Debug for TypeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let probed = |a: &[AtomicU8]| a.iter().filter(|x| x.load(Ordering::Relaxed) != 0).count();
        f.debug_struct("TypeCache")
            .field("prog_types_probed", &probed(&self.prog))
            .field("map_types_probed", &probed(&self.map))
            .field("link_types_probed", &probed(&self.link))
            .field(
                "helpers_probed",
                &self.helpers.get().map_or(0, |h| probed(h)),
            )
            .finish()
    }
}

impl TypeCache {
    const fn new() -> TypeCache {
        TypeCache {
            prog: [const { AtomicU8::new(0) }; TYPES],
            map: [const { AtomicU8::new(0) }; TYPES],
            link: [const { AtomicU8::new(0) }; TYPES],
            helpers: OnceLock::new(),
        }
    }
}

/// The cached answer in `slot` (when there is one), or `probe`'s, stored.
fn cached(slot: Option<&AtomicU8>, probe: impl FnOnce() -> Option<bool>) -> Option<bool> {
    let decode = |v| match v {
        YES => Some(true),
        NO => Some(false),
        _ => None,
    };
    if let Some(v) = slot.map(|s| s.load(Ordering::Relaxed)).filter(|&v| v != 0) {
        return decode(v);
    }
    let answer = probe();
    if let Some(s) = slot {
        let v = match answer {
            Some(true) => YES,
            Some(false) => NO,
            None => UNKNOWN,
        };
        s.store(v, Ordering::Relaxed);
    }
    answer
}

impl Default for KernelFeatures {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide, lazily probed feature cache.
pub fn kernel_features() -> &'static KernelFeatures {
    static FEATURES: KernelFeatures = KernelFeatures::new();
    &FEATURES
}

impl KernelFeatures {
    /// An empty cache: nothing probed yet.
    pub const fn new() -> Self {
        KernelFeatures {
            cache: [const { OnceLock::new() }; COUNT],
            types: TypeCache::new(),
        }
    }

    /// Whether the kernel has `feature`, probing it on first use.
    pub fn supports(&self, feature: Feature) -> bool {
        *self.cache[feature as usize].get_or_init(|| feature.probe())
    }

    /// The answer for `feature` if it was probed already.
    pub fn probed(&self, feature: Feature) -> Option<bool> {
        self.cache[feature as usize].get().copied()
    }

    /// Whether the kernel loads programs of type `t` (probed on first use).
    pub fn prog_type(&self, t: ProgramType) -> bool {
        let slot = self.types.prog.get(t.0 as usize);
        cached(slot, || Some(type_probes::prog_type(t))).unwrap_or(false)
    }

    /// Whether the kernel creates maps of type `t` (probed on first use).
    pub fn map_type(&self, t: MapType) -> bool {
        let slot = self.types.map.get(t.0 as usize);
        cached(slot, || Some(type_probes::map_type(t))).unwrap_or(false)
    }

    /// Whether the kernel makes links of type `t` (probed on first use; see
    /// [`link_type_supported`](super::link_type_supported)).
    pub fn link_type(&self, t: LinkType) -> bool {
        let slot = self.types.link.get(t.0 as usize);
        cached(slot, || Some(type_probes::link_type(t))).unwrap_or(false)
    }

    /// Whether programs of type `t` may call helper `id` (probed on first use): `false`
    /// when the kernel has no such program type, `None` for the types a probe program
    /// cannot load as without a target (tracing, ext, lsm, struct_ops).
    pub fn helper(&self, t: ProgramType, id: u32) -> Option<bool> {
        if !self.prog_type(t) {
            return Some(false);
        }
        let slots = self
            .types
            .helpers
            .get_or_init(|| (0..TYPES * HELPERS).map(|_| AtomicU8::new(0)).collect());
        let slot = ((t.0 as usize) < TYPES && (id as usize) < HELPERS)
            .then(|| &slots[t.0 as usize * HELPERS + id as usize]);
        cached(slot, || type_probes::helper(t, id))
    }

    /// Whether the kernel takes BTF of kind `kind` (the kinds before FUNC since BTF
    /// itself; see [`Feature`] for the others).
    pub fn btf_kind(&self, kind: Kind) -> bool {
        let feature = match kind {
            Kind::Void => return true,
            Kind::Func | Kind::FuncProto => Feature::BtfFunc,
            Kind::Var | Kind::Datasec => Feature::BtfDatasec,
            Kind::Float => Feature::BtfFloat,
            Kind::DeclTag => Feature::BtfDeclTag,
            Kind::TypeTag => Feature::BtfTypeTag,
            Kind::Enum64 => Feature::BtfEnum64,
            _ => Feature::Btf,
        };
        self.supports(feature)
    }

    /// [`Feature::Btf`].
    pub fn btf(&self) -> bool {
        self.supports(Feature::Btf)
    }

    /// [`Feature::PerfLink`].
    pub fn perf_link(&self) -> bool {
        self.supports(Feature::PerfLink)
    }

    /// [`Feature::BpfCookie`].
    pub fn bpf_cookie(&self) -> bool {
        self.supports(Feature::BpfCookie)
    }

    /// [`Feature::Ringbuf`].
    pub fn ringbuf(&self) -> bool {
        self.supports(Feature::Ringbuf)
    }

    /// [`Feature::MmapableGlobalData`].
    pub fn mmapable_global_data(&self) -> bool {
        self.supports(Feature::MmapableGlobalData)
    }

    /// [`Feature::ProgName`].
    pub fn prog_name(&self) -> bool {
        self.supports(Feature::ProgName)
    }

    /// [`Feature::MemcgAccount`].
    pub fn memcg_account(&self) -> bool {
        self.supports(Feature::MemcgAccount)
    }

    /// [`Feature::SyscallWrapper`].
    pub fn syscall_wrapper(&self) -> bool {
        self.supports(Feature::SyscallWrapper)
    }

    /// The BTF kinds the kernel takes (probes the seven BTF kind features, not the
    /// others), for [`sanitize`](crate::btf::sanitize::sanitize).
    pub fn btf_features(&self) -> BtfFeatures {
        BtfFeatures {
            func: self.supports(Feature::BtfFunc),
            global_func: self.supports(Feature::BtfGlobalFunc),
            datasec: self.supports(Feature::BtfDatasec),
            float: self.supports(Feature::BtfFloat),
            decl_tag: self.supports(Feature::BtfDeclTag),
            type_tag: self.supports(Feature::BtfTypeTag),
            enum64: self.supports(Feature::BtfEnum64),
        }
    }

    /// Like [`btf_features`](Self::btf_features), but probes only the kinds `btf`
    /// uses; the others are reported supported (they change nothing). hello.bpf.o,
    /// for example, needs three probes (FUNC, global FUNC, DATASEC) instead of seven.
    pub fn btf_features_for(&self, btf: &crate::btf::Btf) -> BtfFeatures {
        let mut used = BtfFeatures::NONE;
        for t in btf.types() {
            match t.kind {
                Kind::Func | Kind::FuncProto => {
                    used.func = true;
                    used.global_func |=
                        t.kind == Kind::Func && t.linkage() != crate::btf::linkage::STATIC;
                }
                Kind::Var | Kind::Datasec => used.datasec = true,
                Kind::Float => used.float = true,
                Kind::DeclTag => used.decl_tag = true,
                Kind::TypeTag => used.type_tag = true,
                Kind::Enum64 => used.enum64 = true,
                Kind::Enum => used.enum64 |= t.kflag(),
                _ => {}
            }
        }
        let ask = |uses: bool, f: Feature| !uses || self.supports(f);
        BtfFeatures {
            func: ask(used.func, Feature::BtfFunc),
            global_func: ask(used.global_func, Feature::BtfGlobalFunc),
            datasec: ask(used.datasec, Feature::BtfDatasec),
            float: ask(used.float, Feature::BtfFloat),
            decl_tag: ask(used.decl_tag, Feature::BtfDeclTag),
            type_tag: ask(used.type_tag, Feature::BtfTypeTag),
            enum64: ask(used.enum64, Feature::BtfEnum64),
        }
    }

    /// Every answer (probing what was not probed yet).
    pub fn snapshot(&self) -> FeatureSet {
        self.with_overrides(&[])
    }

    /// Every answer, with `overrides` taking the place of the kernel's (those are not
    /// probed). For tests and for users who know better than the probes.
    pub fn with_overrides(&self, overrides: &[(Feature, bool)]) -> FeatureSet {
        let mut set = FeatureSet::ALL;
        for f in Feature::ALL {
            let value = match overrides.iter().rev().find(|(o, _)| *o == f) {
                Some(&(_, v)) => v,
                None => self.supports(f),
            };
            set.set(f, value);
        }
        set
    }
}

/// A plain snapshot of feature answers, e.g. to make the loader behave as on an
/// older kernel. Build it from [`KernelFeatures::snapshot`] /
/// [`with_overrides`](KernelFeatures::with_overrides), or from [`FeatureSet::ALL`]
/// and [`FeatureSet::with`] without asking the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FeatureSet {
    /// [`Feature::Btf`].
    pub btf: bool,
    /// [`Feature::BtfFunc`].
    pub btf_func: bool,
    /// [`Feature::BtfGlobalFunc`].
    pub btf_global_func: bool,
    /// [`Feature::BtfDatasec`].
    pub btf_datasec: bool,
    /// [`Feature::BtfFloat`].
    pub btf_float: bool,
    /// [`Feature::BtfDeclTag`].
    pub btf_decl_tag: bool,
    /// [`Feature::BtfTypeTag`].
    pub btf_type_tag: bool,
    /// [`Feature::BtfEnum64`].
    pub btf_enum64: bool,
    /// [`Feature::ProgName`].
    pub prog_name: bool,
    /// [`Feature::MmapableGlobalData`].
    pub mmapable_global_data: bool,
    /// [`Feature::Ringbuf`].
    pub ringbuf: bool,
    /// [`Feature::PerfLink`].
    pub perf_link: bool,
    /// [`Feature::BpfCookie`].
    pub bpf_cookie: bool,
    /// [`Feature::MemcgAccount`].
    pub memcg_account: bool,
    /// [`Feature::SyscallWrapper`].
    pub syscall_wrapper: bool,
}

impl Default for FeatureSet {
    /// Everything supported.
    fn default() -> Self {
        Self::ALL
    }
}

impl FeatureSet {
    /// Everything supported (a current kernel).
    pub const ALL: FeatureSet = FeatureSet {
        btf: true,
        btf_func: true,
        btf_global_func: true,
        btf_datasec: true,
        btf_float: true,
        btf_decl_tag: true,
        btf_type_tag: true,
        btf_enum64: true,
        prog_name: true,
        mmapable_global_data: true,
        ringbuf: true,
        perf_link: true,
        bpf_cookie: true,
        memcg_account: true,
        syscall_wrapper: true,
    };

    /// Nothing supported.
    pub const NONE: FeatureSet = FeatureSet {
        btf: false,
        btf_func: false,
        btf_global_func: false,
        btf_datasec: false,
        btf_float: false,
        btf_decl_tag: false,
        btf_type_tag: false,
        btf_enum64: false,
        prog_name: false,
        mmapable_global_data: false,
        ringbuf: false,
        perf_link: false,
        bpf_cookie: false,
        memcg_account: false,
        syscall_wrapper: false,
    };

    fn field(&mut self, feature: Feature) -> &mut bool {
        match feature {
            Feature::Btf => &mut self.btf,
            Feature::BtfFunc => &mut self.btf_func,
            Feature::BtfGlobalFunc => &mut self.btf_global_func,
            Feature::BtfDatasec => &mut self.btf_datasec,
            Feature::BtfFloat => &mut self.btf_float,
            Feature::BtfDeclTag => &mut self.btf_decl_tag,
            Feature::BtfTypeTag => &mut self.btf_type_tag,
            Feature::BtfEnum64 => &mut self.btf_enum64,
            Feature::ProgName => &mut self.prog_name,
            Feature::MmapableGlobalData => &mut self.mmapable_global_data,
            Feature::Ringbuf => &mut self.ringbuf,
            Feature::PerfLink => &mut self.perf_link,
            Feature::BpfCookie => &mut self.bpf_cookie,
            Feature::MemcgAccount => &mut self.memcg_account,
            Feature::SyscallWrapper => &mut self.syscall_wrapper,
        }
    }

    /// The answer for `feature`.
    pub fn get(&self, feature: Feature) -> bool {
        let mut copy = *self;
        *copy.field(feature)
    }

    /// Sets the answer for `feature`.
    pub fn set(&mut self, feature: Feature, supported: bool) {
        *self.field(feature) = supported;
    }

    /// This set with `feature` answered `supported`.
    pub fn with(mut self, feature: Feature, supported: bool) -> Self {
        self.set(feature, supported);
        self
    }

    /// The BTF kinds part, for [`sanitize`](crate::btf::sanitize::sanitize).
    pub fn btf_features(&self) -> BtfFeatures {
        BtfFeatures {
            func: self.btf_func,
            global_func: self.btf_global_func,
            datasec: self.btf_datasec,
            float: self.btf_float,
            decl_tag: self.btf_decl_tag,
            type_tag: self.btf_type_tag,
            enum64: self.btf_enum64,
        }
    }
}
