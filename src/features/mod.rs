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

use std::ffi::CStr;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Instant;

use crate::btf::sanitize::BtfFeatures;
use crate::btf::Kind;
use crate::insn::{op, Insn};
use crate::sys::bpf::{self as sysbpf, attach_type, map_flags, map_type, prog_type};
use crate::sys::{self, SysError, SysResult};

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
        let result = match self {
            Feature::Btf
            | Feature::BtfFunc
            | Feature::BtfGlobalFunc
            | Feature::BtfDatasec
            | Feature::BtfFloat
            | Feature::BtfDeclTag
            | Feature::BtfTypeTag
            | Feature::BtfEnum64 => probe_btf(&btf_probe_blob(self)),
            Feature::ProgName => {
                probe_prog(prog_type::SOCKET_FILTER, &RETURN_0, Some("corebpf_name"))
            }
            Feature::MmapableGlobalData => probe_map(map_type::ARRAY, 4, 4, 1, map_flags::MMAPABLE),
            Feature::Ringbuf => {
                let size = u32::try_from(sys::page_size()).unwrap_or(4096);
                probe_map(map_type::RINGBUF, 0, 0, size, 0)
            }
            Feature::PerfLink => probe_perf_link(),
            Feature::BpfCookie => probe_prog(
                prog_type::TRACEPOINT,
                &call_and_exit(HELPER_GET_ATTACH_COOKIE),
                None,
            ),
            Feature::MemcgAccount => probe_prog(
                prog_type::SOCKET_FILTER,
                &call_and_exit(HELPER_KTIME_GET_COARSE_NS),
                None,
            ),
            Feature::SyscallWrapper => probe_syscall_wrapper(),
        };
        let supported = match result {
            Ok(supported) => supported,
            Err(e) => {
                log::debug!(
                    "probing kernel feature {}: unexpected failure ({e}); assuming it is missing",
                    self.name()
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

/// Lazily probed, cached answers about one kernel.
///
/// [`kernel_features()`] is the process-wide instance; [`KernelFeatures::new`] makes a
/// private one (its own cache).
#[derive(Debug)]
pub struct KernelFeatures {
    cache: [OnceLock<bool>; COUNT],
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

// ---------------------------------------------------------------------------------
// The probes. Each returns Ok(true) for supported, Ok(false) for the answer of a
// kernel without the feature, Err for anything unexpected.
// ---------------------------------------------------------------------------------

/// `BPF_FUNC_ktime_get_coarse_ns` (5.11, the same release as memcg accounting).
const HELPER_KTIME_GET_COARSE_NS: i32 = 160;
/// `BPF_FUNC_get_attach_cookie`.
const HELPER_GET_ATTACH_COOKIE: i32 = 174;

const MOV64_R0_0: Insn = Insn::new(op::MOV64_IMM, 0, 0, 0, 0);
const EXIT: Insn = Insn::new(op::EXIT, 0, 0, 0, 0);
/// `r0 = 0; exit`.
const RETURN_0: [Insn; 2] = [MOV64_R0_0, EXIT];

/// `call helper; exit` (r0 is the helper's result).
fn call_and_exit(helper: i32) -> [Insn; 2] {
    [Insn::new(op::CALL, 0, 0, 0, helper), EXIT]
}

/// `Ok(true)` for a descriptor (closed here), `Ok(false)` for an errno in `missing`.
fn answer(result: SysResult<OwnedFd>, missing: &[i32]) -> Result<bool, SysError> {
    match result {
        Ok(fd) => {
            drop(fd);
            Ok(true)
        }
        Err(e) if missing.contains(&e.errno()) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `call`; on `EPERM` raises `RLIMIT_MEMLOCK` once and runs it again (kernels
/// before 5.11 charge maps and programs to it; libbpf raises it before probing).
fn with_memlock_retry(mut call: impl FnMut() -> SysResult<OwnedFd>) -> SysResult<OwnedFd> {
    match call() {
        Err(e) if e.errno() == libc::EPERM && sys::bump_memlock_rlimit().is_ok() => call(),
        other => other,
    }
}

fn probe_btf(blob: &[u8]) -> Result<bool, SysError> {
    answer(sysbpf::btf_load(blob, None, 0), &[libc::EINVAL])
}

fn load_probe_prog(prog_type: u32, insns: &[Insn], name: Option<&str>) -> SysResult<OwnedFd> {
    const GPL: &CStr = c"GPL";
    with_memlock_retry(|| {
        let mut attr = sysbpf::ProgLoadAttr::new(prog_type, insns, GPL);
        if let Some(name) = name {
            attr.prog_name = sysbpf::obj_name(name);
        }
        sysbpf::prog_load(&mut attr)
    })
}

/// A kernel without the feature refuses the program with `EINVAL` (unknown helper,
/// type or flag) or `E2BIG` (attribute fields it does not know are set).
fn probe_prog(prog_type: u32, insns: &[Insn], name: Option<&str>) -> Result<bool, SysError> {
    answer(
        load_probe_prog(prog_type, insns, name),
        &[libc::EINVAL, libc::E2BIG],
    )
}

fn probe_map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
) -> Result<bool, SysError> {
    let attr = sysbpf::MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: flags,
        ..Default::default()
    };
    answer(
        with_memlock_retry(|| sysbpf::map_create(&attr)),
        &[libc::EINVAL, libc::E2BIG],
    )
}

/// libbpf's `probe_perf_link()`: a perf link on fd -1 fails with `EBADF` where perf
/// links exist (the kernel looked for the perf event) and `EINVAL` where they don't.
fn probe_perf_link() -> Result<bool, SysError> {
    let prog = load_probe_prog(prog_type::TRACEPOINT, &RETURN_0, None)?;
    // The target field is a u32 shared by target_fd and target_ifindex: u32::MAX is
    // the fd -1.
    let link = sysbpf::link_create(
        prog.as_fd(),
        sysbpf::LinkTarget::Ifindex(u32::MAX),
        attach_type::PERF_EVENT,
        0,
        sysbpf::LinkCreateExtra::None,
    );
    match link {
        Ok(link) => {
            drop(link);
            Err(SysError::invalid(
                "BPF_LINK_CREATE",
                "a perf link on fd -1 succeeded",
            ))
        }
        Err(e) if e.errno() == libc::EBADF => Ok(true),
        Err(e) if e.errno() == libc::EINVAL => Ok(false),
        Err(e) => Err(e),
    }
}

/// The arch prefix of syscall wrappers (`__x64_sys_bpf`), as libbpf's
/// `arch_specific_syscall_pfx()`; `None` where the kernel has none.
pub fn syscall_prefix() -> Option<&'static str> {
    if cfg!(target_arch = "x86_64") {
        Some("x64")
    } else if cfg!(target_arch = "x86") {
        Some("ia32")
    } else if cfg!(target_arch = "s390x") {
        Some("s390x")
    } else if cfg!(target_arch = "arm") {
        Some("arm")
    } else if cfg!(target_arch = "aarch64") {
        Some("arm64")
    } else if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
        Some("mips")
    } else if cfg!(any(target_arch = "riscv32", target_arch = "riscv64")) {
        Some("riscv")
    } else if cfg!(any(target_arch = "powerpc", target_arch = "powerpc64")) {
        Some("powerpc")
    } else if cfg!(target_arch = "loongarch64") {
        Some("loongarch")
    } else {
        None
    }
}

/// Whether `__<arch>_sys_bpf` exists. libbpf asks by opening a kprobe on it; that
/// needs kprobes, which this loader does not create (and a kernel may lack), so look
/// the symbol up instead: among the FUNCs of the vmlinux BTF (the process-wide copy
/// CO-RE uses too; about 4 ms when nothing loaded it yet, microseconds after), then,
/// if the BTF is missing or lacks it (pahole may skip a function), in
/// `/proc/kallsyms` (10 to 40 ms: it is long).
fn probe_syscall_wrapper() -> Result<bool, SysError> {
    let Some(prefix) = syscall_prefix() else {
        return Ok(false);
    };
    let name = format!("__{prefix}_sys_bpf");
    if let Ok(btf) = crate::btf::kernel::vmlinux_btf() {
        if btf.find_by_name_kind(&name, Kind::Func).is_some() {
            return Ok(true);
        }
    }
    kallsyms_has(&name)
}

/// Whether `/proc/kallsyms` lists a symbol named exactly `name` (of any module).
fn kallsyms_has(name: &str) -> Result<bool, SysError> {
    const PATH: &str = "/proc/kallsyms";
    let file =
        std::fs::File::open(PATH).map_err(|e| SysError::from_io("open /proc/kallsyms", e))?;
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| SysError::from_io("read /proc/kallsyms", e))?;
        if n == 0 {
            return Ok(false);
        }
        // "ADDRESS TYPE NAME[\t[MODULE]]"
        let mut fields = line
            .split(|&b| b == b' ' || b == b'\t' || b == b'\n')
            .filter(|f| !f.is_empty());
        if fields.nth(2) == Some(name.as_bytes()) {
            return Ok(true);
        }
    }
}

// ---------------------------------------------------------------------------------
// BTF probe blobs
// ---------------------------------------------------------------------------------

/// The info word of a BTF type record.
const fn btf_info(kind: Kind, vlen: u32) -> u32 {
    ((kind as u32) << 24) | vlen
}

/// `int` (signed, 4 bytes, 32 bits) named by string offset `name`.
const fn int32(name: u32) -> [u32; 4] {
    [name, btf_info(Kind::Int, 0), 4, (1 << 24) | 32]
}

/// A raw BTF blob of `types` (words) and `strs` (starting with NUL).
fn btf_blob(types: &[u32], strs: &[u8]) -> Vec<u8> {
    let type_len = (types.len() * 4) as u32;
    let mut blob = Vec::with_capacity(24 + type_len as usize + strs.len());
    blob.extend_from_slice(&crate::btf::BTF_MAGIC.to_le_bytes());
    blob.extend_from_slice(&[1, 0]); // version, flags
    for w in [24, 0, type_len, type_len, strs.len() as u32] {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    for w in types {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    blob.extend_from_slice(strs);
    blob
}

/// The smallest BTF that uses just the BTF feature `feature` (beyond an INT).
fn btf_probe_blob(feature: Feature) -> Vec<u8> {
    let mut types: Vec<u32> = Vec::with_capacity(16);
    let strs: &[u8] = match feature {
        // [1] int
        Feature::Btf => {
            types.extend(int32(1));
            b"\0int\0"
        }
        // [1] int, [2] int (int a), [3] FUNC f -> [2], static or global
        Feature::BtfFunc | Feature::BtfGlobalFunc => {
            types.extend(int32(1));
            types.extend([0, btf_info(Kind::FuncProto, 1), 1, 5, 1]);
            let linkage = if feature == Feature::BtfGlobalFunc {
                crate::btf::linkage::GLOBAL
            } else {
                crate::btf::linkage::STATIC
            };
            types.extend([7, btf_info(Kind::Func, linkage), 2]);
            b"\0int\0a\0f\0"
        }
        // [1] int, [2] static VAR x, [3] DATASEC .data { x }
        Feature::BtfDatasec => {
            types.extend(int32(0));
            types.extend([1, btf_info(Kind::Var, 0), 1, crate::btf::linkage::STATIC]);
            types.extend([3, btf_info(Kind::Datasec, 1), 4, 2, 0, 4]);
            b"\0x\0.data\0"
        }
        // [1] float
        Feature::BtfFloat => {
            types.extend([1, btf_info(Kind::Float, 0), 4]);
            b"\0float\0"
        }
        // [1] int, [2] static VAR x, [3] DECL_TAG "tag" on x
        Feature::BtfDeclTag => {
            types.extend(int32(0));
            types.extend([1, btf_info(Kind::Var, 0), 1, crate::btf::linkage::STATIC]);
            types.extend([3, btf_info(Kind::DeclTag, 0), 2, u32::MAX]);
            b"\0x\0tag\0"
        }
        // [1] int, [2] TYPE_TAG "tag" -> int, [3] PTR -> [2]
        Feature::BtfTypeTag => {
            types.extend(int32(0));
            types.extend([1, btf_info(Kind::TypeTag, 0), 1]);
            types.extend([0, btf_info(Kind::Ptr, 0), 2]);
            b"\0tag\0"
        }
        // [1] enum64 e { V = 1 << 32 }
        Feature::BtfEnum64 => {
            types.extend([1, btf_info(Kind::Enum64, 1), 8, 3, 0, 1]);
            b"\0e\0V\0"
        }
        _ => b"\0",
    };
    btf_blob(&types, strs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::ext::{FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE};
    use crate::btf::sanitize::{sanitize_if_needed, BtfFeatures};
    use crate::btf::Btf;
    use crate::insn::pseudo;
    use crate::loader::VerifierLog;
    use crate::object::{MapRelocKind, ObjectSpec};
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};
    use std::io;
    use std::os::fd::AsRawFd;
    use std::path::Path;
    use std::time::Duration;

    const BTF_FEATURES: [Feature; 8] = [
        Feature::Btf,
        Feature::BtfFunc,
        Feature::BtfGlobalFunc,
        Feature::BtfDatasec,
        Feature::BtfFloat,
        Feature::BtfDeclTag,
        Feature::BtfTypeTag,
        Feature::BtfEnum64,
    ];

    fn errno(e: i32) -> Option<io::Result<i64>> {
        Some(Err(io::Error::from_raw_os_error(e)))
    }

    fn is_cmd(call: &Syscall<'_>, want: BpfCmd) -> bool {
        matches!(call, Syscall::Bpf { cmd, .. } if *cmd == want)
    }

    /// The running kernel's (major, minor).
    fn kernel_version() -> (u32, u32) {
        let release = crate::btf::kernel::kernel_release().unwrap();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next().unwrap().parse().unwrap();
        let minor = parts.next().unwrap().parse().unwrap();
        (major, minor)
    }

    #[test]
    fn every_feature_is_supported_on_this_kernel() {
        let version = kernel_version();
        let mut checked = 0;
        for f in Feature::ALL {
            if version < f.since() {
                continue;
            }
            // Uncached, then through the process-wide cache.
            assert!(f.probe(), "{} is missing on {version:?}", f.name());
            assert!(kernel_features().supports(f), "{}", f.name());
            assert_eq!(kernel_features().probed(f), Some(true));
            checked += 1;
        }
        if version >= (6, 0) {
            assert_eq!(checked, Feature::ALL.len());
            assert_eq!(kernel_features().btf_features(), BtfFeatures::ALL);
            assert_eq!(kernel_features().snapshot(), FeatureSet::ALL);
        }
    }

    #[test]
    fn btf_probes_report_missing_when_the_kernel_refuses_btf() {
        let mut loads = 0;
        let fresh = KernelFeatures::new();
        with_syscall_override(
            |call| {
                if is_cmd(call, BpfCmd::BtfLoad) {
                    loads += 1;
                    errno(libc::EINVAL)
                } else {
                    None
                }
            },
            || {
                for f in BTF_FEATURES {
                    assert!(!f.probe(), "{}", f.name());
                }
                assert_eq!(fresh.btf_features(), BtfFeatures::NONE);
                assert!(!fresh.btf());
                // The others do not use BPF_BTF_LOAD.
                assert!(fresh.ringbuf());
            },
        );
        assert_eq!(loads, 2 * BTF_FEATURES.len());
        // `fresh` cached its answers; a new probe asks the kernel again.
        assert_eq!(fresh.btf_features(), BtfFeatures::NONE);
        assert_eq!(fresh.probed(Feature::BtfFloat), Some(false));
        assert_eq!(fresh.probed(Feature::PerfLink), None);
        assert!(Feature::BtfFloat.probe());
    }

    #[test]
    fn unexpected_errors_mean_missing_not_failure() {
        for e in [libc::EPERM, libc::ENOMEM, libc::EFAULT, libc::E2BIG] {
            with_syscall_override(
                |call| match call {
                    Syscall::Bpf { .. } => errno(e),
                    // Raising RLIMIT_MEMLOCK "works", so EPERM is retried once.
                    Syscall::SetMemlockRlimit { .. } => Some(Ok(0)),
                    _ => None,
                },
                || {
                    let fresh = KernelFeatures::new();
                    for f in Feature::ALL {
                        if f == Feature::SyscallWrapper {
                            continue; // no bpf(2) involved
                        }
                        assert!(!f.probe(), "{} with errno {e}", f.name());
                        assert!(!fresh.supports(f));
                    }
                },
            );
        }
    }

    #[test]
    fn eperm_raises_memlock_and_retries_once() {
        let mut calls = Vec::new();
        let mut failed = false;
        let supported = with_syscall_override(
            |call| {
                calls.push(call.name());
                match call {
                    Syscall::Bpf { .. } if !failed => {
                        failed = true;
                        errno(libc::EPERM)
                    }
                    Syscall::SetMemlockRlimit { .. } => Some(Ok(0)),
                    _ => None,
                }
            },
            || Feature::Ringbuf.probe(),
        );
        assert!(supported);
        assert_eq!(calls, ["BPF_MAP_CREATE", "setrlimit", "BPF_MAP_CREATE"]);
    }

    #[test]
    fn perf_link_is_told_by_the_errno_of_a_link_on_fd_minus_1() {
        let link_errno = |e: i32| {
            with_syscall_override(
                |call| {
                    if is_cmd(call, BpfCmd::LinkCreate) {
                        errno(e)
                    } else {
                        None
                    }
                },
                || Feature::PerfLink.probe(),
            )
        };
        assert!(link_errno(libc::EBADF));
        assert!(!link_errno(libc::EINVAL));
        assert!(!link_errno(libc::EPERM));
        // An injected success stands for a link that should not exist: not supported.
        let linked = with_syscall_override(
            |call| is_cmd(call, BpfCmd::LinkCreate).then_some(Ok(3)),
            || Feature::PerfLink.probe(),
        );
        assert!(!linked);
    }

    #[test]
    fn probe_blobs_hold_just_their_kind() {
        for (f, kind) in [
            (Feature::Btf, Kind::Int),
            (Feature::BtfFunc, Kind::Func),
            (Feature::BtfGlobalFunc, Kind::Func),
            (Feature::BtfDatasec, Kind::Datasec),
            (Feature::BtfFloat, Kind::Float),
            (Feature::BtfDeclTag, Kind::DeclTag),
            (Feature::BtfTypeTag, Kind::TypeTag),
            (Feature::BtfEnum64, Kind::Enum64),
        ] {
            let btf = Btf::parse(btf_probe_blob(f)).unwrap();
            assert!(btf.types().any(|t| t.kind == kind), "{}", f.name());
            for t in btf.types() {
                btf.str_at(t.name_off).unwrap();
            }
            // What the probe loads, the sanitizer would have to rewrite.
            if f != Feature::Btf {
                let mut without = FeatureSet::ALL.with(f, false).btf_features();
                without.decl_tag &= f != Feature::BtfDeclTag;
                assert!(without.needs_sanitization(&btf), "{}", f.name());
            }
        }
        let global = Btf::parse(btf_probe_blob(Feature::BtfGlobalFunc)).unwrap();
        assert_eq!(global.type_by_id(3).unwrap().linkage(), 1);
    }

    #[test]
    fn feature_sets_and_overrides() {
        for f in Feature::ALL {
            assert!(FeatureSet::ALL.get(f));
            assert!(!FeatureSet::NONE.get(f));
            let one = FeatureSet::NONE.with(f, true);
            assert_eq!(Feature::ALL.iter().filter(|g| one.get(**g)).count(), 1);
            assert!(one.get(f));
        }
        assert_eq!(FeatureSet::ALL.btf_features(), BtfFeatures::ALL);
        assert_eq!(FeatureSet::NONE.btf_features(), BtfFeatures::NONE);
        let f = FeatureSet::ALL
            .with(Feature::BtfEnum64, false)
            .btf_features();
        assert_eq!(
            f,
            BtfFeatures {
                enum64: false,
                ..BtfFeatures::ALL
            }
        );

        // Overridden features are not probed; the last override of a feature wins.
        let mut calls = 0;
        let fresh = KernelFeatures::new();
        let set = with_syscall_override(
            |_| {
                calls += 1;
                errno(libc::EINVAL)
            },
            || {
                let overrides: Vec<(Feature, bool)> = Feature::ALL
                    .iter()
                    .map(|f| (*f, false))
                    .chain([(Feature::Ringbuf, true)])
                    .collect();
                fresh.with_overrides(&overrides)
            },
        );
        assert_eq!(calls, 0);
        assert_eq!(set, FeatureSet::NONE.with(Feature::Ringbuf, true));
        assert_eq!(fresh.probed(Feature::Ringbuf), None);
    }

    #[test]
    fn btf_features_for_probes_only_the_kinds_used() {
        let hello = spec("bpf-progs/hello.bpf.o").btf.unwrap();
        let fixture = spec("src/btf/testdata/sanitize.bpf.o").btf.unwrap();
        let loads = std::cell::Cell::new(0);
        let cache = KernelFeatures::new();
        let refuse_btf = |call: &Syscall<'_>| {
            if is_cmd(call, BpfCmd::BtfLoad) {
                loads.set(loads.get() + 1);
                errno(libc::EINVAL)
            } else {
                None
            }
        };
        // hello: FUNC, global FUNC and DATASEC only.
        let h = with_syscall_override(refuse_btf, || cache.btf_features_for(&hello));
        assert_eq!(loads.get(), 3);
        let missing = BtfFeatures {
            func: false,
            global_func: false,
            datasec: false,
            ..BtfFeatures::ALL
        };
        assert_eq!(h, missing);
        // The fixture uses every kind: the other four probes run, once each.
        let f = with_syscall_override(refuse_btf, || cache.btf_features_for(&fixture));
        assert_eq!(loads.get(), 7);
        assert_eq!(f, BtfFeatures::NONE);
        assert_eq!(
            kernel_features().btf_features_for(&fixture),
            BtfFeatures::ALL
        );
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn probes_close_what_they_open() {
        let probes: Vec<Feature> = Feature::ALL
            .into_iter()
            .filter(|f| *f != Feature::SyscallWrapper)
            .collect();
        for f in &probes {
            f.probe(); // warm up lazily opened descriptors, if any
        }
        let before = open_fds();
        const ROUNDS: usize = 40;
        for _ in 0..ROUNDS {
            for f in &probes {
                assert!(f.probe(), "{}", f.name());
            }
        }
        let after = open_fds();
        // A leaking probe would leave ROUNDS descriptors; other tests running in
        // parallel come and go.
        assert!(
            after < before + ROUNDS,
            "{before} fds before, {after} after"
        );
    }

    /// Prints what each probe costs, first call and later ones (run alone with
    /// --nocapture to see first calls in a fresh process).
    #[test]
    fn probe_costs() {
        const RUNS: u32 = 20;
        let (mut btf_first, mut all_first) = (Duration::ZERO, Duration::ZERO);
        for f in Feature::ALL {
            let start = Instant::now();
            assert!(f.probe(), "{}", f.name());
            let first = start.elapsed();
            let start = Instant::now();
            for _ in 0..RUNS {
                assert!(f.probe(), "{}", f.name());
            }
            let each = start.elapsed() / RUNS;
            println!(
                "probe {:<22} first {:>10.1?}  then {:>10.1?}",
                f.name(),
                first,
                each
            );
            all_first += first;
            if BTF_FEATURES.contains(&f) {
                btf_first += first;
            }
            // A probe is a few syscalls (or one symbol lookup), not a stall.
            assert!(each < Duration::from_millis(100), "{}: {each:?}", f.name());
        }
        let start = Instant::now();
        let kinds = KernelFeatures::new().btf_features();
        let cached = start.elapsed();
        println!(
            "first calls: BTF probes {btf_first:.1?}, all probes {all_first:.1?}; \
             a new cache's btf_features() {cached:.1?} ({kinds:?})"
        );
    }

    // -----------------------------------------------------------------------------
    // Sanitized BTF in the running kernel.
    // -----------------------------------------------------------------------------

    fn spec(path: &str) -> ObjectSpec {
        ObjectSpec::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
    }

    /// The feature sets to pretend: each BTF feature missing alone, all of them, none,
    /// and BTF missing altogether.
    fn pretend_sets() -> Vec<(String, FeatureSet)> {
        let mut sets: Vec<(String, FeatureSet)> = BTF_FEATURES[1..]
            .iter()
            .map(|f| (format!("no {}", f.name()), FeatureSet::ALL.with(*f, false)))
            .collect();
        let mut no_kinds = FeatureSet::ALL;
        for f in &BTF_FEATURES[1..] {
            no_kinds.set(*f, false);
        }
        sets.push(("no BTF kind but INT & co".into(), no_kinds));
        sets.push(("all".into(), FeatureSet::ALL));
        sets.push(("no BTF".into(), FeatureSet::ALL.with(Feature::Btf, false)));
        sets
    }

    /// Loads `spec`'s BTF, maps and `program` with direct `sys` calls, following
    /// libbpf's rules for a kernel with `features`: the BTF sanitized for the kinds it
    /// lacks (not loaded at all without BTF); map key/value types from it, except for
    /// keyless (global data) maps without DATASEC support, whose value type must be a
    /// DATASEC; the program's BTF and func/line info only with BTF FUNC support.
    /// Checks that the kernel kept every BTF reference it was given.
    fn load_as(spec: &ObjectSpec, program: &str, features: &FeatureSet) -> Result<(), String> {
        let btf = spec.btf.as_ref().unwrap();
        let btf_fd = if features.btf {
            let kinds = features.btf_features();
            let sanitized = sanitize_if_needed(btf, &kinds).map_err(|e| e.to_string())?;
            let raw = sanitized.as_ref().unwrap_or(btf).raw();
            match sysbpf::btf_load(raw, None, 0) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    let mut log = vec![0u8; 1 << 20];
                    let _ = sysbpf::btf_load(raw, Some(&mut log), 1);
                    return Err(format!(
                        "BPF_BTF_LOAD: {e}\n{}",
                        VerifierLog::from_buf(&log, None).tail(8)
                    ));
                }
            }
        } else {
            None
        };

        let mut maps = Vec::new();
        for m in &spec.maps {
            let map_btf = btf_fd
                .as_ref()
                .filter(|_| m.btf_value_type_id != 0)
                .filter(|_| features.btf_datasec || m.btf_key_type_id != 0);
            let mut attr = sysbpf::MapCreateAttr {
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                map_flags: m.map_flags,
                map_name: sysbpf::obj_name(&m.name),
                map_extra: m.map_extra,
                ..Default::default()
            };
            if m.map_type == map_type::PERF_EVENT_ARRAY && m.max_entries == 0 {
                attr.max_entries = sys::possible_cpus().unwrap();
            }
            if let Some(fd) = map_btf {
                attr.btf_fd = Some(fd.as_fd());
                attr.btf_key_type_id = m.btf_key_type_id;
                attr.btf_value_type_id = m.btf_value_type_id;
            }
            let fd = sysbpf::map_create(&attr).map_err(|e| format!("map '{}': {e}", m.name))?;
            let info = sysbpf::map_info(fd.as_fd()).unwrap();
            if (info.btf_value_type_id, info.btf_key_type_id)
                != (attr.btf_value_type_id, attr.btf_key_type_id)
            {
                return Err(format!(
                    "map '{}': the kernel dropped its BTF types",
                    m.name
                ));
            }
            maps.push(fd);
        }

        let p = spec.program(program).unwrap();
        assert!(p.core_relos.is_empty() && p.extern_relocs.is_empty());
        let mut insns = p.insns.clone();
        for r in &p.map_relocs {
            let (src, next_imm) = match r.kind {
                MapRelocKind::Fd => (pseudo::MAP_FD, 0),
                MapRelocKind::Value { offset } => (pseudo::MAP_VALUE, offset as i32),
            };
            insns[r.insn].set_src(src);
            insns[r.insn].imm = maps[r.map].as_raw_fd();
            insns[r.insn + 1].imm = next_imm;
        }
        let prog_btf = btf_fd.as_ref().filter(|_| features.btf_func);
        let (func_info, line_info): (Vec<u8>, Vec<u8>) = match prog_btf {
            Some(_) => (
                p.func_info
                    .iter()
                    .flat_map(|f| [f.insn_off, f.type_id])
                    .flat_map(u32::to_le_bytes)
                    .collect(),
                p.line_info
                    .iter()
                    .flat_map(|l| [l.insn_off, l.file_name_off, l.line_off, l.line_col])
                    .flat_map(u32::to_le_bytes)
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let license = std::ffi::CString::new(spec.license.as_str()).unwrap();
        let mut attr = sysbpf::ProgLoadAttr {
            prog_type: p.kind.prog_type(),
            expected_attach_type: p.kind.expected_attach_type(),
            insns: &insns,
            license: &license,
            prog_name: sysbpf::obj_name(&p.name),
            prog_btf_fd: prog_btf.map(|fd| fd.as_fd()),
            func_info: &func_info,
            func_info_rec_size: if func_info.is_empty() {
                0
            } else {
                FUNC_INFO_REC_SIZE
            },
            line_info: &line_info,
            line_info_rec_size: if line_info.is_empty() {
                0
            } else {
                LINE_INFO_REC_SIZE
            },
            ..Default::default()
        };
        let prog = match sysbpf::prog_load(&mut attr) {
            Ok(fd) => fd,
            Err(e) => {
                let mut log = vec![0u8; 4 << 20];
                let _ = sysbpf::prog_load_with_log(&mut attr, &mut log, 1);
                return Err(format!(
                    "BPF_PROG_LOAD: {e}\n{}",
                    VerifierLog::from_buf(&log, Some(attr.log_len)).tail(8)
                ));
            }
        };
        let info = sysbpf::prog_info(prog.as_fd()).unwrap();
        match prog_btf {
            Some(fd) => {
                // The verifier drops the line info of dead code it removes.
                let btf_id = sysbpf::btf_info(fd.as_fd()).unwrap().id;
                let got = (info.btf_id, info.nr_func_info, info.nr_line_info);
                let want = (btf_id, p.func_info.len() as u32, p.line_info.len() as u32);
                if got.0 != want.0 || got.1 != want.1 || got.1 == 0 || got.2 == 0 || got.2 > want.2
                {
                    return Err(format!(
                        "program BTF id, func_info, line_info: {got:?}, want {want:?}"
                    ));
                }
            }
            None if info.btf_id != 0 => return Err("program has BTF".into()),
            None => {}
        }
        Ok(())
    }

    fn load_all_ways(object: &str, program: &str) {
        let spec = spec(object);
        let mut failures = Vec::new();
        for (what, set) in pretend_sets() {
            if let Err(e) = load_as(&spec, program, &set) {
                failures.push(format!("{object} {program} ({what}): {e}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn sanitized_hello_loads_in_the_kernel() {
        load_all_ways("bpf-progs/hello.bpf.o", "handle_execve");
    }

    #[test]
    fn sanitized_fixture_with_every_kind_loads_in_the_kernel() {
        let spec = spec("src/btf/testdata/sanitize.bpf.o");
        // Its BTF needs sanitizing even for this kernel (.ksyms externs), and the
        // kernel refuses it unsanitized.
        let btf = spec.btf.as_ref().unwrap();
        assert!(BtfFeatures::ALL.needs_sanitization(btf));
        let refused = sys::bpf::btf_load(btf.raw(), None, 0).unwrap_err();
        assert_eq!(refused.errno(), libc::EINVAL);
        load_all_ways("src/btf/testdata/sanitize.bpf.o", "plain");
    }

    #[test]
    fn unsanitized_btf_is_refused_where_a_kind_is_forced_missing() {
        // The converse, as a check that the fixture exercises each kind: each rewrite
        // changes the bytes the kernel sees.
        let spec = spec("src/btf/testdata/sanitize.bpf.o");
        let btf = spec.btf.as_ref().unwrap();
        let base = crate::btf::sanitize::sanitize(btf, &BtfFeatures::ALL).unwrap();
        for f in &BTF_FEATURES[1..] {
            let kinds = FeatureSet::ALL.with(*f, false).btf_features();
            let s = crate::btf::sanitize::sanitize(btf, &kinds).unwrap();
            assert_ne!(s.raw(), base.raw(), "{}", f.name());
        }
    }
}
