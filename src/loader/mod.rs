//! Turns an [`ObjectSpec`] into kernel objects: BTF, maps with their initial values,
//! and verified programs.
//!
//! Order, as libbpf: `BTF_LOAD`, then `MAP_CREATE` (+ initial values, `.rodata` frozen)
//! per map, then `PROG_LOAD` per auto-loaded program. A failure part-way closes
//! everything already created: nothing is left behind.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::btf::BtfError;
use crate::features;
use crate::insn::{pseudo, Insn};
use crate::map::{Map, MapError};
use crate::object::{MapRelocKind, ObjectError, ObjectSpec, ProgramKind, ProgramSpec};
use crate::program::Program;
use crate::sys::{self, SysError};
use crate::util::Chain;

mod attach_target;
mod capability;
mod core;
pub mod externs;
mod log_buf;
mod maps;
mod struct_ops;
pub use self::core::{CoreLoadError, TargetBtf};
pub(crate) use attach_target::func_in_program;
pub use log_buf::{VerifierFailure, VerifierLog};
pub(crate) use struct_ops::StructOpsValue;

/// Default bpffs directory for maps with `pinning = LIBBPF_PIN_BY_NAME`.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

/// Errors from loading an object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The object could not be read.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The object's BTF could not be used.
    #[error("the object's BTF can't be used")]
    Btf(#[from] BtfError),
    /// `BPF_MAP_CREATE` failed.
    #[error("creating map '{map}'")]
    MapCreate {
        /// Map name.
        map: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// Writing a map's initial value or freezing it failed.
    #[error("initializing map '{map}'")]
    MapInit {
        /// Map name.
        map: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// A pinned map exists but differs from the object's definition.
    #[error("map '{map}' pinned at {path} does not match the object's definition: {mismatch}")]
    PinMismatch {
        /// Map name.
        map: String,
        /// Pin path.
        path: PathBuf,
        /// The property that differs, with both values.
        mismatch: crate::map::PinMismatch,
    },
    /// [`Loader::set_max_entries`] names a map the object doesn't have.
    #[error("the object has no map '{name}' (named in Loader::set_max_entries)")]
    NoSuchMap {
        /// The name given.
        name: String,
    },
    /// [`Loader::set_max_entries`] for a map whose size can't change.
    #[error("cannot set max_entries of map '{map}': {reason}")]
    MaxEntries {
        /// Map name.
        map: String,
        /// Why.
        reason: String,
    },
    /// A slot of a `values` initializer names something the loader can't put there.
    #[error("map '{map}': slot {slot} of its 'values' initializer names '{target}': {reason}")]
    InitSlot {
        /// Map name.
        map: String,
        /// Slot index.
        slot: u32,
        /// The map or program named.
        target: String,
        /// Why it can't be used.
        reason: String,
    },
    /// Pinning or opening a pinned map failed.
    #[error("pinning map '{map}' at {path}: {reason}")]
    MapPin {
        /// Map name.
        map: String,
        /// Pin path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// CO-RE could not run: no target BTF, or a hard relocation error.
    #[error(transparent)]
    Core(#[from] CoreLoadError),
    /// The verifier rejected a program because it reached an instruction that CO-RE
    /// poisoned: a relocation that could not be resolved against the target kernel.
    #[error(transparent)]
    PoisonedRelocation(Box<PoisonedRelocation>),
    /// A `.kconfig` or `.ksyms` extern could not be resolved.
    #[error(transparent)]
    Extern(#[from] crate::reloc::externs::ExternError),
    /// The verifier reached the call of a weak kfunc the kernel lacks (a call not
    /// guarded by `bpf_ksym_exists()`).
    #[error(transparent)]
    MissingKfunc(Box<MissingKfunc>),
    /// The verifier rejected a program. The message names the instruction it stopped
    /// at, that instruction's source line and the reason when the log shows them
    /// ([`VerifierLog::failure`]).
    #[error(
        "program '{program}' was rejected by the verifier{}; its log ends:\n{log}",
        log.failure().map(|f| format!(" {f}")).unwrap_or_default()
    )]
    Verifier {
        /// Program name.
        program: String,
        /// The `BPF_PROG_LOAD` failure.
        #[source]
        source: SysError,
        /// The verifier's log (all of it; `Display` shows the last lines).
        log: VerifierLog,
    },
    /// The kernel refused to load a program without running the verifier:
    /// `BPF_PROG_LOAD` failed with `EPERM` and wrote no log. A capability the program
    /// type needs is missing, or a security policy (an LSM, lockdown) refuses it; on
    /// kernels that charge programs to `RLIMIT_MEMLOCK` (before 5.11), too low a limit
    /// answers the same.
    ///
    /// When this process lacks one of those capabilities, the source
    /// ([`SysError::missing_capability`]) names it, and the message does not suggest a
    /// policy.
    #[error(
        "program '{program}' (section '{section}'): the kernel refused to load it without \
         running the verifier; loading it needs {capabilities} (or CAP_SYS_ADMIN){}{}",
        if .source.missing_capability().is_some() { "" } else { ", and a security policy (an LSM, lockdown) may refuse it even so" },
        if *.charged_to_memlock { "; this kernel also refuses programs past RLIMIT_MEMLOCK" } else { "" }
    )]
    NotPermitted {
        /// Program name.
        program: String,
        /// Its section.
        section: String,
        /// The capabilities its program type needs, in words (`CAP_BPF and CAP_PERFMON`).
        capabilities: &'static str,
        /// The kernel charges programs to `RLIMIT_MEMLOCK` (no memory-cgroup accounting).
        charged_to_memlock: bool,
        /// The `BPF_PROG_LOAD` failure.
        #[source]
        source: SysError,
    },
    /// A relocation could not be applied to the program's instructions.
    #[error("program '{program}': instruction {insn}: {reason}")]
    Relocation {
        /// Program name.
        program: String,
        /// Instruction index.
        insn: usize,
        /// What is wrong.
        reason: String,
    },
    /// The object uses a feature this loader does not support yet.
    #[error("program '{program}': {what} is not supported yet")]
    Unsupported {
        /// Program name.
        program: String,
        /// The feature.
        what: String,
    },
    /// [`Loader::autoload`] names a program the object doesn't have.
    #[error("the object has no program '{name}'")]
    NoSuchProgram {
        /// The name given.
        name: String,
    },
    /// The kernel function, LSM hook or BTF tracepoint a program attaches to isn't in
    /// the kernel's BTF.
    #[error("program '{program}': attach target {target} not found in the kernel's BTF{detail}")]
    AttachTarget {
        /// Program name.
        program: String,
        /// What was looked for (`func do_unlinkat`, `bpf_lsm_file_open`).
        target: String,
        /// More detail, if any.
        detail: String,
    },
    /// A global variable set through [`Loader::global`] can't be found: no such name,
    /// or no BTF to find it by.
    #[error("global variable '{name}': {reason}")]
    NoSuchGlobal {
        /// Variable name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A global variable set through [`Loader::global`] was given a value of another size.
    #[error("global variable '{name}' is {size} bytes, but the value given is {given} bytes")]
    GlobalSize {
        /// Variable name.
        name: String,
        /// Its size in the object.
        size: u32,
        /// The size of the value given.
        given: usize,
    },
    /// A struct_ops variable can't be mapped onto the kernel's ops struct (the
    /// kernel lacks the struct, a member differs, a program is set where the kernel
    /// has no function pointer, …).
    #[error("struct_ops map '{map}': {detail}")]
    StructOps {
        /// The variable (and map) name.
        map: String,
        /// What is wrong.
        detail: String,
    },
    /// A program's name or license has an interior NUL.
    #[error("program '{program}': {what} contains a NUL byte")]
    BadString {
        /// Program name.
        program: String,
        /// Which string.
        what: &'static str,
    },
}

/// A verifier rejection caused by a reached call of an unresolved weak kfunc.
#[derive(Debug, thiserror::Error)]
#[error(
    "program '{program}': instruction {insn} calls kfunc '{kfunc}', which the kernel does not \
     have, and the verifier reached it; its log ends:\n{log}"
)]
pub struct MissingKfunc {
    /// Program name.
    pub program: String,
    /// The (poisoned) call instruction.
    pub insn: usize,
    /// The kfunc.
    pub kfunc: String,
    /// The `BPF_PROG_LOAD` failure.
    #[source]
    pub source: SysError,
    /// The verifier's log.
    pub log: VerifierLog,
}

/// A verifier rejection caused by an unresolved CO-RE relocation, named in words.
#[derive(Debug, thiserror::Error)]
#[error(
    "program '{program}': instruction {insn} could not be relocated ({kind} of {local}: {reason}) \
     and the verifier reached it; its log ends:\n{log}"
)]
pub struct PoisonedRelocation {
    /// Program name.
    pub program: String,
    /// The poisoned instruction.
    pub insn: usize,
    /// Relocation kind, as libbpf names it (`byte_off`).
    pub kind: String,
    /// The access in words (`struct task_struct.state`).
    pub local: String,
    /// Why it could not be resolved.
    pub reason: String,
    /// The `BPF_PROG_LOAD` failure.
    #[source]
    pub source: SysError,
    /// The verifier's log.
    pub log: VerifierLog,
}

/// How to load: options with libbpf's defaults.
///
/// [`Loader::new`], then options (each returns the loader), then
/// [`load_file`](Loader::load_file) or [`load`](Loader::load) for an object: BTF, maps
/// with their initial values, programs relocated for the running kernel and checked by
/// the verifier.
///
/// # Examples
///
/// Load `bpf-progs/hello.bpf.o` reporting only the execs of process 1234 (a `.rodata`
/// constant set before load), without loading one of its programs (needs root):
///
/// ```no_run
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::LoadError> {
/// let obj = Loader::new()
///     .global("target_tgid", &1234u32.to_ne_bytes())
///     .autoload("some_unused_program", false)
///     .load_file("bpf-progs/hello.bpf.o")?;
/// println!("loaded {}: {} programs", obj.name(), obj.programs().len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Loader {
    target: TargetBtf,
    pin_root: PathBuf,
    max_log_size: usize,
    globals: Vec<(String, Vec<u8>)>,
    max_entries: Vec<(String, u32)>,
    features: Option<features::FeatureSet>,
    autoload: Vec<(String, bool)>,
    kconfig: Option<String>,
    attach_targets: Vec<attach_target::AttachTarget>,
}

impl Default for Loader {
    fn default() -> Self {
        Loader {
            target: TargetBtf::RunningKernel,
            pin_root: PathBuf::from(DEFAULT_PIN_ROOT),
            max_log_size: 64 << 20,
            globals: Vec::new(),
            max_entries: Vec::new(),
            features: None,
            autoload: Vec::new(),
            kconfig: None,
            attach_targets: Vec::new(),
        }
    }
}

impl Loader {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Relocates against the BTF in `path` (raw BTF or an ELF with `.BTF`) instead of
    /// the running kernel's: libbpf's `btf_custom_path`.
    pub fn target_btf(mut self, path: impl Into<PathBuf>) -> Self {
        self.target = TargetBtf::File(path.into());
        self
    }

    /// Where CO-RE finds the target kernel's types.
    pub fn target(mut self, target: TargetBtf) -> Self {
        self.target = target;
        self
    }

    /// Directory for maps declared with `__uint(pinning, LIBBPF_PIN_BY_NAME)`.
    pub fn pin_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pin_root = dir.into();
        self
    }

    /// Largest verifier log buffer to grow to on `ENOSPC` (default 64 MiB).
    pub fn max_log_size(mut self, bytes: usize) -> Self {
        self.max_log_size = bytes.max(4096);
        self
    }

    /// Sets global variable `name` (in `.data*`, `.rodata*` or `.bss*`) to the bytes
    /// `value` before loading, as a libbpf skeleton's `rodata->name = value` does. A
    /// name the object lacks or a value of another size fails the load
    /// ([`LoadError::NoSuchGlobal`], [`LoadError::GlobalSize`]). See
    /// [`set_global`](Loader::set_global) for a typed value.
    pub fn global(mut self, name: &str, value: &[u8]) -> Self {
        self.globals.push((name.to_string(), value.to_vec()));
        self
    }

    /// Sets global variable `name` to `value` before loading: [`Loader::global`] with
    /// a typed value, which must be the variable's size.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), corebpf::LoadError> {
    /// // `const volatile u32 target_tgid = 0;` in the program.
    /// let obj = Loader::new()
    ///     .set_global("target_tgid", &std::process::id())
    ///     .load_file("bpf-progs/hello.bpf.o")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_global<T: crate::Pod>(self, name: &str, value: &T) -> Self {
        self.global(name, value.as_bytes())
    }

    /// Creates map `name` with `max_entries` entries instead of what the object says
    /// (libbpf's `bpf_map__set_max_entries`): a hash sized to the machine, a ring
    /// buffer's size in bytes (rounded up to a power-of-2 number of pages, as libbpf
    /// does). A name the object lacks fails the load ([`LoadError::NoSuchMap`]), as
    /// does a global-data section, which is always one value.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), corebpf::LoadError> {
    /// let obj = Loader::new()
    ///     .set_max_entries("counts", 65536)
    ///     .set_max_entries("events", 1 << 22)
    ///     .load_file("bpf-progs/hello.bpf.o")?;
    /// assert_eq!(obj.map("counts").unwrap().def().max_entries, 65536);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_max_entries(mut self, name: &str, max_entries: u32) -> Self {
        self.max_entries.push((name.to_string(), max_entries));
        self
    }

    /// Loads program `name` or not, overriding its section (a `?` prefix means not
    /// loaded by default): libbpf's `bpf_program__set_autoload`.
    pub fn autoload(mut self, name: &str, load: bool) -> Self {
        self.autoload.push((name.to_string(), load));
        self
    }

    /// Sets what program `name` attaches to, instead of what its section names:
    /// function `function` of the loaded BPF program `target_prog` (a `freplace`
    /// program replacing a global function of it, or fentry/fexit tracing it), or,
    /// without a target program, kernel function `function`. libbpf's
    /// `bpf_program__set_attach_target`. The descriptor is duplicated: the loader does
    /// not borrow it.
    ///
    /// # Examples
    ///
    /// Replace `choose()` of a loaded program with `new_choose` (needs root):
    ///
    /// ```no_run
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), corebpf::Error> {
    /// let target = Loader::new().load_file("bpf-progs/freplace_target.bpf.o")?;
    /// let caller = target.program("caller").expect("the target program");
    /// let ext = Loader::new()
    ///     .attach_target("new_choose", Some(caller.fd()), "choose")
    ///     .load_file("bpf-progs/freplace_ext.bpf.o")?;
    /// let _link = ext.program("new_choose").expect("the extension").attach()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach_target(
        mut self,
        name: &str,
        target_prog: Option<BorrowedFd<'_>>,
        function: &str,
    ) -> Self {
        self.attach_targets.push(attach_target::AttachTarget::new(
            name,
            target_prog,
            function,
        ));
        self
    }

    fn wants(&self, p: &ProgramSpec) -> bool {
        self.autoload
            .iter()
            .rev()
            .find(|(n, _)| *n == p.name)
            .map_or(p.autoload, |(_, load)| *load)
    }

    /// Decides for the kernel which features it has, instead of probing it (e.g. to
    /// behave as on an older kernel). By default the loader asks
    /// [`features::kernel_features`], lazily and once per process.
    pub fn features(mut self, features: features::FeatureSet) -> Self {
        self.features = Some(features);
        self
    }

    /// Whether the kernel has `feature`, as [`Loader::features`] says or as probed.
    fn has(&self, feature: features::Feature) -> bool {
        match &self.features {
            Some(set) => set.get(feature),
            None => features::kernel_features().supports(feature),
        }
    }

    /// Kernel configuration text (`CONFIG_X=y` lines) for `__kconfig` externs, read
    /// before the running kernel's own configuration (libbpf's `kconfig` open option).
    pub fn kconfig(mut self, text: impl Into<String>) -> Self {
        self.kconfig = Some(text.into());
        self
    }

    /// Reads, parses and loads the object at `path`.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Object, LoadError> {
        let spec = ObjectSpec::from_file(path.as_ref())?;
        self.load(&spec)
    }

    /// Loads `spec`: BTF, maps, then every auto-loaded program.
    pub fn load(&self, spec: &ObjectSpec) -> Result<Object, LoadError> {
        let mut spec_maps = self.adjusted_maps(spec)?;
        let weak = |name: &str| {
            spec.programs
                .iter()
                .flat_map(|p| &p.extern_relocs)
                .any(|r| r.weak && r.symbol == name)
        };
        let ext = externs::Externs::resolve(
            spec,
            &weak,
            self.kconfig.as_deref(),
            self.features.as_ref(),
        )?;
        if let Some(k) = ext.kconfig() {
            if let Some(m) = spec_maps.get_mut(k.map) {
                m.data = k.data.clone();
            }
        }
        let struct_ops = struct_ops::Plan::new(spec)?;
        let btf_fd = self.load_btf(spec);
        let (maps, new_pins) = self.create_maps(spec, &spec_maps, btf_fd.as_ref(), &struct_ops)?;
        let mut core = None;
        let mut programs = Vec::new();
        // func/line info need BTF FUNCs; without them libbpf loads programs without BTF.
        let prog_btf = btf_fd
            .as_ref()
            .filter(|_| self.has(features::Feature::BtfFunc));
        let named = self
            .autoload
            .iter()
            .map(|(n, _)| n)
            .chain(self.attach_targets.iter().map(|t| &t.program));
        for name in named {
            if spec.program(name).is_none() {
                return Err(LoadError::NoSuchProgram { name: name.clone() });
            }
        }
        for p in spec.programs.iter().filter(|p| self.wants(p)) {
            let ops = struct_ops.program(&p.name);
            if matches!(p.kind, ProgramKind::StructOps { .. }) && ops.is_none() {
                log::debug!(
                    "program '{}': no struct_ops variable uses it; not loaded",
                    p.name
                );
                continue;
            }
            programs.push(self.load_program(spec, p, &maps, prog_btf, &mut core, &ext, ops)?);
        }
        // USDT programs share their object's usdt.bpf.h maps and spec ids.
        let is_usdt = |p: &Program| matches!(p.kind(), crate::object::ProgramKind::Usdt { .. });
        if programs.iter().any(is_usdt) {
            let context = crate::program::usdt::UsdtContext::for_maps(
                &maps,
                self.has(features::Feature::BpfCookie),
            );
            for p in programs.iter_mut().filter(|p| is_usdt(p)) {
                p.set_usdt(context.clone());
            }
        }
        let struct_ops = struct_ops.values(spec, &programs)?;
        maps::fill_prog_slots(&spec_maps, &maps, &programs)?;
        new_pins.keep();
        Ok(Object {
            name: spec.name.clone(),
            btf_fd,
            maps,
            programs,
            struct_ops,
        })
    }

    /// `BPF_BTF_LOAD` of the object's BTF. A kernel that refuses it costs only the
    /// BTF-dependent extras (func/line info, map key/value types): warn and go on.
    fn load_btf(&self, spec: &ObjectSpec) -> Option<OwnedFd> {
        let btf = spec.btf.as_ref()?;
        // Only the BTF kinds the object uses are probed. A kernel without BTF at all
        // fails those probes and the load below (then: warn, go on without BTF).
        let kinds = match &self.features {
            Some(set) if !set.btf => {
                log::debug!("object '{}': loading without BTF", spec.name);
                return None;
            }
            Some(set) => set.btf_features(),
            None => features::kernel_features().btf_features_for(btf),
        };
        let sanitized = match crate::btf::sanitize::sanitize_if_needed(btf, &kinds) {
            Ok(s) => s,
            Err(e) => {
                log::warn!(
                    "object '{}': cannot sanitize its BTF ({}); loading without it",
                    spec.name,
                    Chain(&e)
                );
                return None;
            }
        };
        let btf = sanitized.as_ref().unwrap_or(btf);
        match sys::bpf::btf_load(btf.raw(), None, 0) {
            Ok(fd) => Some(fd),
            Err(e) => {
                let mut log = vec![0u8; 1 << 20];
                let detail = match sys::bpf::btf_load(btf.raw(), Some(&mut log), 1) {
                    Ok(_) => String::new(),
                    Err(_) => VerifierLog::from_buf(&log, None).tail(5),
                };
                log::warn!(
                    "object '{}': the kernel refused its BTF ({}); loading without it. {detail}",
                    spec.name,
                    Chain(&e)
                );
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // the load's shared state, passed down once
    fn load_program(
        &self,
        spec: &ObjectSpec,
        p: &ProgramSpec,
        maps: &[Map],
        btf_fd: Option<&OwnedFd>,
        core: &mut Option<self::core::CoreTargets>,
        ext: &externs::Externs,
        struct_ops: Option<(u32, u32)>,
    ) -> Result<Program, LoadError> {
        let mut insns = apply_map_relocs(p, maps)?;
        let kconfig_map = ext.kconfig().and_then(|k| maps.get(k.map)).map(|m| m.fd());
        ext.patch(&p.name, &mut insns, kconfig_map)?;
        let fd_array = ext.fd_array(&p.name);
        let relocations = if p.core_relos.is_empty() {
            Vec::new()
        } else {
            let local = spec.btf.as_ref().ok_or_else(|| CoreLoadError::NoLocalBtf {
                program: p.name.clone(),
            })?;
            let targets = match core {
                Some(t) => t,
                None => core.insert(self::core::CoreTargets::open(&self.target)?),
            };
            targets.relocate(local, p, &mut insns)?
        };
        let license = CString::new(spec.license.as_str()).map_err(|_| LoadError::BadString {
            program: p.name.clone(),
            what: "license",
        })?;
        let (func_info, line_info) = match btf_fd {
            Some(_) => (encode_func_info(p), encode_line_info(p)),
            None => (Vec::new(), Vec::new()),
        };
        let target = self
            .attach_targets
            .iter()
            .rev()
            .find(|t| t.program == p.name);
        let mut expected_attach_type = p.kind.expected_attach_type();
        let (attach_btf_id, attach_prog_fd) = match (target, struct_ops) {
            // A struct_ops program implements the kernel's ops struct (by BTF id), at
            // the member whose index is its expected attach type.
            (_, Some((type_id, member))) => {
                expected_attach_type = member;
                (type_id, None)
            }
            (Some(t), None) => {
                let r = attach_target::resolve(&p.name, t, |f| attach_btf_id_named(p, f))?;
                (r.btf_id, r.prog_fd)
            }
            (None, None) if p.kind.needs_attach_btf_id() => (attach_btf_id(p)?, None),
            (None, None) => (0, None),
        };
        let mut prog_flags = 0;
        if p.kind.is_sleepable() {
            prog_flags |= sys::bpf::prog_flags::SLEEPABLE;
        }
        if p.kind.xdp_has_frags() {
            prog_flags |= sys::bpf::prog_flags::XDP_HAS_FRAGS;
        }
        let mut attr = sys::bpf::ProgLoadAttr {
            prog_type: p.kind.prog_type(),
            attach_btf_id,
            prog_flags,
            expected_attach_type,
            insns: &insns,
            license: &license,
            kern_version: spec.kernel_version.unwrap_or(0),
            prog_name: sys::bpf::obj_name(&p.name),
            prog_btf_fd: btf_fd.map(|f| f.as_fd()),
            func_info: &func_info,
            func_info_rec_size: if func_info.is_empty() {
                0
            } else {
                crate::btf::ext::FUNC_INFO_REC_SIZE
            },
            line_info: &line_info,
            line_info_rec_size: if line_info.is_empty() {
                0
            } else {
                crate::btf::ext::LINE_INFO_REC_SIZE
            },
            fd_array: fd_array.as_deref(),
            attach_prog_fd,
            ..Default::default()
        };
        let fd = match sys::bpf::prog_load(&mut attr) {
            Ok(fd) => fd,
            Err(first) => match self.load_with_log(&mut attr, p, first) {
                Ok(fd) => fd,
                Err(LoadError::Verifier {
                    program,
                    source,
                    log,
                }) => {
                    return Err(
                        match self::core::poisoned_reloc_in_log(log.full(), &relocations) {
                            Some(r) => {
                                LoadError::PoisonedRelocation(Box::new(PoisonedRelocation {
                                    program,
                                    insn: r.insn,
                                    kind: r.kind.name().to_string(),
                                    local: r.local.clone(),
                                    reason: match &r.outcome {
                                        crate::reloc::core::Outcome::Poisoned { reason } => {
                                            reason.clone()
                                        }
                                        crate::reloc::core::Outcome::Patched { .. } => {
                                            String::new()
                                        }
                                    },
                                    source,
                                    log,
                                }))
                            }
                            None => match ext.missing_kfunc(log.full()) {
                                Some((insn, kfunc)) => {
                                    LoadError::MissingKfunc(Box::new(MissingKfunc {
                                        program,
                                        insn,
                                        kfunc: kfunc.to_string(),
                                        source,
                                        log,
                                    }))
                                }
                                None => LoadError::Verifier {
                                    program,
                                    source,
                                    log,
                                },
                            },
                        },
                    )
                }
                Err(e) => return Err(e),
            },
        };
        Ok(Program::new(
            p.name.clone(),
            p.section.clone(),
            p.kind.clone(),
            fd,
        ))
    }

    /// Retries a failed load with verifier logging, growing the buffer on `ENOSPC`.
    fn load_with_log(
        &self,
        attr: &mut sys::bpf::ProgLoadAttr<'_>,
        p: &ProgramSpec,
        first: SysError,
    ) -> Result<OwnedFd, LoadError> {
        let mut size = 256 << 10;
        loop {
            let mut buf = vec![0u8; size];
            match sys::bpf::prog_load_with_log(attr, &mut buf, sys::bpf::log_level::LEVEL1) {
                // A load with a log can succeed where the one without failed only if the
                // first failure was transient; take the program.
                Ok(fd) => return Ok(fd),
                Err(e) if e.errno() == libc::ENOSPC && size < self.max_log_size => {
                    size = (size * 4).min(self.max_log_size);
                }
                Err(e) => {
                    let log = VerifierLog::from_buf(&buf, Some(attr.log_len));
                    if !log.is_empty() {
                        return Err(LoadError::Verifier {
                            program: p.name.clone(),
                            source: e,
                            log,
                        });
                    }
                    // A failure with an empty log isn't the verifier's; report the first.
                    return Err(self.refused_before_verifier(p, first, log));
                }
            }
        }
    }

    /// Whether the kernel charges programs to `RLIMIT_MEMLOCK` (before 5.11): as
    /// [`Loader::features`] says, else by the kernel's release, not by a probe (a probe
    /// made without the capabilities that just failed would fail the same way).
    fn charges_memlock(&self) -> bool {
        match &self.features {
            Some(set) => !set.memcg_account,
            None => externs::running_kernel_version().is_ok_and(|v| v < (5 << 16 | 11 << 8)),
        }
    }

    /// The error for a `BPF_PROG_LOAD` that failed without a verifier log: `EPERM` is
    /// a capability or a policy ([`LoadError::NotPermitted`]); other errnos are still
    /// reported as the verifier's answer, with its (empty) log.
    fn refused_before_verifier(
        &self,
        p: &ProgramSpec,
        source: SysError,
        log: VerifierLog,
    ) -> LoadError {
        if source.errno() != libc::EPERM {
            return LoadError::Verifier {
                program: p.name.clone(),
                source,
                log,
            };
        }
        LoadError::NotPermitted {
            program: p.name.clone(),
            section: p.section.clone(),
            capabilities: capability::needed_to_load(p.kind.prog_type()),
            charged_to_memlock: self.charges_memlock(),
            source,
        }
    }
}

/// The kernel BTF id a tracing, LSM or BTF-tracepoint program attaches to, by libbpf's
/// naming: `fentry/FN` → FUNC `FN`, `lsm/HOOK` → FUNC `bpf_lsm_HOOK`, `tp_btf/TP` →
/// TYPEDEF `btf_trace_TP`, `iter/NAME` → FUNC `bpf_iter_NAME`.
fn attach_btf_id(p: &ProgramSpec) -> Result<u32, LoadError> {
    let name = p
        .kind
        .attach_target()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| LoadError::AttachTarget {
            program: p.name.clone(),
            target: format!("(none in section '{}')", p.section),
            detail: "; the section must name it".into(),
        })?;
    if let crate::object::ProgramKind::Freplace { .. } = p.kind {
        return Err(LoadError::AttachTarget {
            program: p.name.clone(),
            target: format!("func {name} of a BPF program"),
            detail: "; a freplace program needs the program it extends: \
                     give it with Loader::attach_target"
                .into(),
        });
    }
    attach_btf_id_named(p, name)
}

/// [`attach_btf_id`] of the target named `name` (the section's, or one given with
/// [`Loader::attach_target`]).
fn attach_btf_id_named(p: &ProgramSpec, name: &str) -> Result<u32, LoadError> {
    use crate::btf::Kind;
    use crate::object::ProgramKind as K;
    let err = |target: String, detail: String| LoadError::AttachTarget {
        program: p.name.clone(),
        target,
        detail,
    };
    let (kind, full) = match &p.kind {
        K::Lsm { .. } | K::LsmCgroup { .. } => (Kind::Func, format!("bpf_lsm_{name}")),
        K::TpBtf { .. } => (Kind::Typedef, format!("btf_trace_{name}")),
        K::Iter { .. } => (Kind::Func, format!("bpf_iter_{name}")),
        _ => (Kind::Func, name.to_string()),
    };
    let what = format!("{} {full}", kind.name());
    let vmlinux = crate::btf::kernel::vmlinux_btf()
        .map_err(|e| err(what.clone(), format!(": {}", Chain(&e))))?;
    vmlinux
        .find_by_name_kind(&full, kind)
        .ok_or_else(|| err(what, String::new()))
}

/// Copies the program's instructions and fills every map reference with the map's fd.
fn apply_map_relocs(p: &ProgramSpec, maps: &[Map]) -> Result<Vec<Insn>, LoadError> {
    let mut insns = p.insns.clone();
    for r in &p.map_relocs {
        let bad = |reason: String| LoadError::Relocation {
            program: p.name.clone(),
            insn: r.insn,
            reason,
        };
        let map = maps
            .get(r.map)
            .ok_or_else(|| bad(format!("map index {} out of range", r.map)))?;
        if r.insn + 1 >= insns.len() || !insns[r.insn].is_ld_imm64() {
            return Err(bad(format!(
                "map '{}' reference is not on an ld_imm64",
                map.name()
            )));
        }
        let fd: RawFd = map.fd().as_raw_fd();
        let (src, next_imm) = match r.kind {
            MapRelocKind::Fd => (pseudo::MAP_FD, 0),
            MapRelocKind::Value { offset } => {
                if offset >= map.def().value_size {
                    return Err(bad(format!(
                        "offset {offset} is past the end of map '{}' ({} bytes)",
                        map.name(),
                        map.def().value_size
                    )));
                }
                (pseudo::MAP_VALUE, offset as i32)
            }
        };
        insns[r.insn].set_src(src);
        insns[r.insn].imm = fd;
        insns[r.insn + 1].imm = next_imm;
    }
    Ok(insns)
}

fn encode_func_info(p: &ProgramSpec) -> Vec<u8> {
    p.func_info
        .iter()
        .flat_map(|f| [f.insn_off, f.type_id])
        .flat_map(u32::to_le_bytes)
        .collect()
}

fn encode_line_info(p: &ProgramSpec) -> Vec<u8> {
    p.line_info
        .iter()
        .flat_map(|l| [l.insn_off, l.file_name_off, l.line_off, l.line_col])
        .flat_map(u32::to_le_bytes)
        .collect()
}

/// A loaded object: its maps and programs, owning their fds.
///
/// Dropping it releases them (a pinned map stays, as the kernel keeps it for its path;
/// a program stays attached while a [`Link`](crate::Link) to it lives).
///
/// # Examples
///
/// Attach every program, then read a map by name (needs root):
///
/// ```no_run
/// use corebpf::{map::HashMap, Loader};
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
/// for program in obj.programs() {
///     println!("{} in section {}", program.name(), program.section());
/// }
/// let _links = obj.attach_all()?; // detached when dropped
/// let counts: HashMap<u32, u64> = obj.map("counts").expect("a map named counts").try_into()?;
/// println!("execs by root: {:?}", counts.get(&0)?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Object {
    name: String,
    btf_fd: Option<OwnedFd>,
    maps: Vec<Map>,
    programs: Vec<Program>,
    struct_ops: Vec<StructOpsValue>,
}

impl Object {
    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loaded object BTF, if the kernel took it.
    pub fn btf_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.btf_fd.as_ref().map(|f| f.as_fd())
    }

    /// Every map, in object order.
    pub fn maps(&self) -> &[Map] {
        &self.maps
    }

    /// The map named `name` (C name, or `.rodata`/`.bss`/`.data` for global data).
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.name() == name)
    }

    /// The map named `name`, mutable (to pin it).
    pub fn map_mut(&mut self, name: &str) -> Option<&mut Map> {
        self.maps.iter_mut().find(|m| m.name() == name)
    }

    /// Every map, mutable (to pin them).
    pub fn maps_mut(&mut self) -> &mut [Map] {
        &mut self.maps
    }

    /// A live view of global-data section `section` (`.bss`, `.data`, `.data.NAME`,
    /// `.rodata`, `.rodata.NAME`): reads and writes need no syscall where the section
    /// is mapped (see [`GlobalData`](crate::map::GlobalData)); `.rodata*` is frozen
    /// and refuses writes.
    pub fn global_data(&self, section: &str) -> Result<crate::map::GlobalData<'_>, MapError> {
        self.map(section)
            .ok_or_else(|| MapError::NoSuchMap {
                name: section.to_string(),
            })?
            .try_into()
    }

    /// `.bss`: [`Object::global_data`]`(".bss")`.
    pub fn bss(&self) -> Result<crate::map::GlobalData<'_>, MapError> {
        self.global_data(".bss")
    }

    /// `.data`: [`Object::global_data`]`(".data")`.
    pub fn data(&self) -> Result<crate::map::GlobalData<'_>, MapError> {
        self.global_data(".data")
    }

    /// `.rodata` (frozen at load: read-only).
    pub fn rodata(&self) -> Result<crate::map::GlobalData<'_>, MapError> {
        self.global_data(".rodata")
    }

    /// Every loaded program, in object order.
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// Attaches every program whose section names its target, and registers every
    /// struct_ops map (as a libbpf skeleton's attach does); returns their links.
    /// Either all attach or none stay attached.
    pub fn attach_all(&self) -> Result<Vec<crate::link::Link>, crate::program::ProgramError> {
        let programs = self
            .programs
            .iter()
            .filter(|p| p.can_auto_attach())
            .map(|p| p.attach());
        let struct_ops = self.struct_ops_maps().map(|s| s.attach());
        programs.chain(struct_ops).collect()
    }

    /// The struct_ops map of variable `name` (a `SEC(".struct_ops")` or
    /// `SEC(".struct_ops.link")` global), ready to register.
    pub fn struct_ops(&self, name: &str) -> Option<crate::program::StructOps<'_>> {
        self.struct_ops_maps().find(|s| s.name() == name)
    }

    /// Every struct_ops map, in object order.
    pub fn struct_ops_maps(&self) -> impl Iterator<Item = crate::program::StructOps<'_>> {
        self.struct_ops
            .iter()
            .map(|v| crate::program::StructOps::new(&self.maps[v.map], v))
    }
}

#[cfg(test)]
mod tests;
