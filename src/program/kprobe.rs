//! Kernel probes: `kprobe`, `kretprobe`, `ksyscall`, `kretsyscall` ([`KProbe`]) and
//! `kprobe.multi` / `kretprobe.multi` ([`KProbeMulti`]).
//!
//! A kprobe is created as libbpf creates it: through the kprobe PMU
//! (`perf_event_open` with the type in `/sys/bus/event_source/devices/kprobe/type`,
//! `config1` = function name, `config2` = offset, the `retprobe` bit of
//! `.../format/retprobe` for return probes), or, on kernels without that PMU, by
//! writing `p:kprobes/corebpf_<pid>_<n> FUNC+OFF` (or `r:...`) to tracefs
//! `kprobe_events` and opening the new event by its id; that probe is removed again
//! when the [`Link`] is dropped. The program is then attached to the perf event like a
//! tracepoint program (perf link, or `PERF_EVENT_IOC_SET_BPF`).
//!
//! `kprobe.multi` attaches one program to many functions with a single
//! `BPF_LINK_CREATE` (`BPF_TRACE_KPROBE_MULTI`, 5.18, kernels built with
//! `CONFIG_FPROBE`); a glob pattern is resolved against tracefs
//! `available_filter_functions`, as libbpf does.

use std::ffi::CString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::tracefs::{self, TracefsError};
use super::{attach_perf_event, Program, ProgramError};
use crate::link::{Link, TracefsProbe};
use crate::object::ProgramKind;
use crate::sys::{self, SysError};

/// Where the kprobe PMU describes itself (`type`, `format/retprobe`).
pub const KPROBE_PMU_DIR: &str = "/sys/bus/event_source/devices/kprobe";

/// The tracefs group dynamic kprobes are created in.
pub const KPROBE_EVENTS_GROUP: &str = "kprobes";

/// Why a kprobe could not be created or a `kprobe.multi` pattern resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KprobeError {
    /// The kernel has no kprobe PMU (before 4.17, or built without `CONFIG_KPROBE_EVENTS`).
    #[error("no kprobe PMU ({path} is missing)")]
    NoPmu {
        /// The PMU's `type` file looked for.
        path: PathBuf,
    },
    /// A kprobe PMU file exists but can't be read or understood.
    #[error("reading the kprobe PMU description {path}: {reason}")]
    Pmu {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// tracefs is mounted but has no `kprobe_events`.
    #[error(
        "{path} is missing: this kernel has no kprobe events \
         (built without CONFIG_KPROBES / CONFIG_KPROBE_EVENTS)"
    )]
    NoKprobeEvents {
        /// The `kprobe_events` file looked for.
        path: PathBuf,
    },
    /// Neither the kprobe PMU nor tracefs `kprobe_events` exists.
    #[error(
        "kprobes are unavailable: no kprobe PMU ({pmu} is missing) and {fallback}; \
         the kernel is built without CONFIG_KPROBES (or CONFIG_KPROBE_EVENTS)"
    )]
    Unavailable {
        /// The PMU's `type` file looked for.
        pmu: PathBuf,
        /// Why the tracefs fallback failed.
        fallback: Box<KprobeError>,
    },
    /// tracefs is needed (legacy kprobes, `kprobe.multi` patterns) and missing.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    /// The kernel refused the probe definition written to `kprobe_events`.
    #[error("creating kprobe event {line:?} in {path}")]
    CreateEvent {
        /// `kprobe_events`.
        path: PathBuf,
        /// The line written.
        line: String,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },
    /// Return probes fire on the function's return, so they take no offset.
    #[error("a return probe takes no offset (asked for {function}+{offset:#x})")]
    ReturnOffset {
        /// The function.
        function: String,
        /// The offset asked for.
        offset: u64,
    },
    /// Not a kernel symbol name (`[A-Za-z0-9_.]+`).
    #[error("invalid kernel function name {0:?}")]
    BadFunction(String),
    /// A `kprobe.multi` program needs at least one function.
    #[error("no function to attach to")]
    NoFunctions,
    /// Reading the list of traceable functions failed.
    #[error("reading {path}")]
    ReadFunctions {
        /// `available_filter_functions`.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// No traceable function matches a `kprobe.multi` pattern.
    #[error("no traceable kernel function matches '{pattern}' (in {path})")]
    NoMatch {
        /// The glob.
        pattern: String,
        /// `available_filter_functions`.
        path: PathBuf,
    },
}

/// The kprobe PMU as the kernel describes it in sysfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePmu {
    /// The `perf_event_attr.type` of the PMU.
    pub type_: u32,
    /// The `config` bit that makes a return probe (`format/retprobe`: `config:N`);
    /// `None` when the kernel doesn't describe one.
    pub retprobe_bit: Option<u32>,
}

/// Reads the kprobe PMU's type and retprobe bit from [`KPROBE_PMU_DIR`];
/// [`KprobeError::NoPmu`] when the kernel has none.
pub fn kprobe_pmu() -> Result<ProbePmu, KprobeError> {
    probe_pmu_at(Path::new(KPROBE_PMU_DIR))
}

/// Reads a probe PMU description (`type`, `format/retprobe`) from `dir`.
pub(crate) fn probe_pmu_at(dir: &Path) -> Result<ProbePmu, KprobeError> {
    let type_path = dir.join("type");
    let text = match std::fs::read_to_string(&type_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KprobeError::NoPmu { path: type_path })
        }
        Err(e) => {
            return Err(KprobeError::Pmu {
                path: type_path,
                reason: e.to_string(),
            })
        }
    };
    let type_ = text.trim().parse().map_err(|_| KprobeError::Pmu {
        path: type_path.clone(),
        reason: format!("not a number: {:?}", text.trim()),
    })?;
    let bit_path = dir.join("format/retprobe");
    let retprobe_bit = match std::fs::read_to_string(&bit_path) {
        Ok(t) => Some(parse_config_bit(&t).ok_or_else(|| KprobeError::Pmu {
            path: bit_path.clone(),
            reason: format!("expected `config:N`, found {:?}", t.trim()),
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(KprobeError::Pmu {
                path: bit_path,
                reason: e.to_string(),
            })
        }
    };
    Ok(ProbePmu {
        type_,
        retprobe_bit,
    })
}

/// Parses a PMU format file of one bit, `config:N`.
fn parse_config_bit(text: &str) -> Option<u32> {
    let bit: u32 = text.trim().strip_prefix("config:")?.parse().ok()?;
    (bit < 64).then_some(bit)
}

/// True for a name the kernel could have as a symbol (`[A-Za-z0-9_.]+`, as libbpf
/// accepts in section names).
fn valid_function(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
}

/// The line that creates a kprobe in tracefs `kprobe_events`:
/// `p:GROUP/EVENT FUNC[+0xOFF]`, or `r:GROUP/EVENT FUNC` for a return probe.
pub fn kprobe_events_line(
    retprobe: bool,
    group: &str,
    event: &str,
    function: &str,
    offset: u64,
) -> String {
    let kind = if retprobe { 'r' } else { 'p' };
    if offset == 0 {
        format!("{kind}:{group}/{event} {function}")
    } else {
        format!("{kind}:{group}/{event} {function}+{offset:#x}")
    }
}

/// A new event name for a legacy kprobe: `corebpf_<pid>_<n>`, unique in this process.
fn legacy_event_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "corebpf_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The kernel function a syscall's kprobe attaches to, by libbpf's rule: the arch
/// wrapper `__<arch>_sys_<name>` (`__x64_sys_openat`) when the kernel has syscall
/// wrappers (`wrapper_prefix` is then the arch part, `x64`), else `__se_sys_<name>`.
pub fn syscall_function_name(syscall: &str, wrapper_prefix: Option<&str>) -> String {
    match wrapper_prefix {
        Some(prefix) => format!("__{prefix}_sys_{syscall}"),
        None => format!("__se_sys_{syscall}"),
    }
}

/// [`syscall_function_name`] for the running kernel (the wrapper is probed once per
/// process, by [`crate::features`]).
pub fn syscall_function(syscall: &str) -> String {
    let prefix = if crate::features::kernel_features().syscall_wrapper() {
        crate::features::syscall_prefix()
    } else {
        None
    };
    syscall_function_name(syscall, prefix)
}

/// How a kprobe is created (libbpf's `probe_attach_mode`, for the creation part).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KprobeMode {
    /// The kprobe PMU when the kernel has one, else tracefs `kprobe_events`.
    #[default]
    Auto,
    /// Only the kprobe PMU ([`KprobeError::NoPmu`] without one).
    Pmu,
    /// Only tracefs `kprobe_events` (libbpf's legacy mode); the probe is removed when
    /// the link is dropped.
    Tracefs,
}

/// Why opening a kprobe's perf event failed: the kprobe machinery or the syscall.
enum OpenError {
    Kprobe(KprobeError),
    Sys(SysError),
}

impl From<KprobeError> for OpenError {
    fn from(e: KprobeError) -> Self {
        OpenError::Kprobe(e)
    }
}

/// Where kprobes are created: the PMU directory and the tracefs root (looked up only
/// when the PMU is missing). Tests point them at fixtures.
struct ProbeRoots<'a> {
    pmu: &'a Path,
    tracefs: &'a dyn Fn() -> Result<PathBuf, TracefsError>,
}

fn system_tracefs() -> Result<PathBuf, TracefsError> {
    tracefs::tracefs_root().map(Path::to_path_buf)
}

/// Opens a perf event for a kprobe on `function+offset` (or its return): in
/// [`KprobeMode::Auto`], PMU first, tracefs `kprobe_events` when the kernel has no
/// kprobe PMU.
fn open_kprobe(
    roots: &ProbeRoots<'_>,
    function: &str,
    offset: u64,
    retprobe: bool,
    mode: KprobeMode,
) -> Result<(std::os::fd::OwnedFd, Option<TracefsProbe>), OpenError> {
    if !valid_function(function) {
        return Err(KprobeError::BadFunction(function.to_string()).into());
    }
    if retprobe && offset != 0 {
        return Err(KprobeError::ReturnOffset {
            function: function.to_string(),
            offset,
        }
        .into());
    }
    let pmu = match mode {
        KprobeMode::Tracefs => None,
        KprobeMode::Pmu => match probe_pmu_at(roots.pmu)? {
            pmu if !retprobe || pmu.retprobe_bit.is_some() => Some(pmu),
            _ => {
                return Err(KprobeError::Pmu {
                    path: roots.pmu.join("format/retprobe"),
                    reason: "missing: the kprobe PMU can't make return probes".into(),
                }
                .into())
            }
        },
        KprobeMode::Auto => match probe_pmu_at(roots.pmu) {
            Ok(pmu) if !retprobe || pmu.retprobe_bit.is_some() => Some(pmu),
            Ok(_) => {
                log::debug!("the kprobe PMU has no retprobe bit; using tracefs kprobe_events");
                None
            }
            Err(KprobeError::NoPmu { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(pmu) = pmu {
        let config = match (retprobe, pmu.retprobe_bit) {
            (true, Some(bit)) => 1u64 << bit,
            _ => 0,
        };
        let name =
            CString::new(function).map_err(|_| KprobeError::BadFunction(function.to_string()))?;
        let attr = sys::perf::PerfEventAttr::new(pmu.type_, config);
        let fd = sys::perf::perf_event_open_probe(&attr, &name, offset, -1, 0)
            .map_err(OpenError::Sys)?;
        return Ok((fd, None));
    }
    let pmu_path = roots.pmu.join("type");
    let unavailable = |fallback: KprobeError| match mode {
        KprobeMode::Tracefs => fallback,
        _ => KprobeError::Unavailable {
            pmu: pmu_path.clone(),
            fallback: Box::new(fallback),
        },
    };
    let (root, events) = kprobe_events(roots).map_err(unavailable)?;
    open_legacy_kprobe(&root, &events, function, offset, retprobe)
}

/// The tracefs root and its `kprobe_events`, where kprobes are made without the PMU.
fn kprobe_events(roots: &ProbeRoots<'_>) -> Result<(PathBuf, PathBuf), KprobeError> {
    let root = (roots.tracefs)()?;
    let events = root.join("kprobe_events");
    if !events.exists() {
        return Err(KprobeError::NoKprobeEvents { path: events });
    }
    Ok((root, events))
}

/// Whether this kernel can create kprobes the way [`KProbe::attach`] does (the kprobe
/// PMU, else tracefs `kprobe_events`); the error says why not. For choosing, before
/// loading, between a kprobe and a tracepoint program.
pub fn kprobes_available() -> Result<(), KprobeError> {
    let roots = ProbeRoots {
        pmu: Path::new(KPROBE_PMU_DIR),
        tracefs: &system_tracefs,
    };
    match probe_pmu_at(roots.pmu) {
        Ok(_) => Ok(()),
        Err(KprobeError::NoPmu { path }) => {
            kprobe_events(&roots)
                .map(drop)
                .map_err(|fallback| KprobeError::Unavailable {
                    pmu: path,
                    fallback: Box::new(fallback),
                })
        }
        Err(e) => Err(e),
    }
}

/// Creates a kprobe through tracefs `kprobe_events` and opens its perf event.
fn open_legacy_kprobe(
    root: &Path,
    events: &Path,
    function: &str,
    offset: u64,
    retprobe: bool,
) -> Result<(std::os::fd::OwnedFd, Option<TracefsProbe>), OpenError> {
    let event = legacy_event_name();
    let line = kprobe_events_line(retprobe, KPROBE_EVENTS_GROUP, &event, function, offset);
    std::fs::OpenOptions::new()
        .append(true)
        .open(events)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
        .map_err(|source| KprobeError::CreateEvent {
            path: events.to_path_buf(),
            line: line.clone(),
            source,
        })?;
    // From here on, dropping `probe` removes the event again.
    let probe = TracefsProbe {
        events_file: events.to_path_buf(),
        name: format!("{KPROBE_EVENTS_GROUP}/{event}"),
    };
    let id_path = root
        .join("events")
        .join(KPROBE_EVENTS_GROUP)
        .join(&event)
        .join("id");
    let id = std::fs::read_to_string(&id_path)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("not a number: {:?}", t.trim()))
        })
        .map_err(|reason| {
            KprobeError::Tracefs(TracefsError::Read {
                path: id_path.clone(),
                reason,
            })
        })?;
    let attr = sys::perf::PerfEventAttr::tracepoint(id);
    let fd = sys::perf::perf_event_open(&attr, -1, 0, None, 0).map_err(OpenError::Sys)?;
    Ok((fd, Some(probe)))
}

/// Creates the kprobe and attaches `prog` to it.
fn attach_kprobe(
    prog: &Program,
    roots: &ProbeRoots<'_>,
    function: &str,
    offset: u64,
    retprobe: bool,
    mode: KprobeMode,
) -> Result<Link, ProgramError> {
    let target = match (retprobe, offset) {
        (true, _) => format!("kretprobe {function}"),
        (false, 0) => format!("kprobe {function}"),
        (false, off) => format!("kprobe {function}+{off:#x}"),
    };
    match open_kprobe(roots, function, offset, retprobe, mode) {
        Ok((perf, probe)) => attach_perf_event(prog, perf, probe, target),
        Err(OpenError::Kprobe(source)) => Err(ProgramError::Kprobe {
            program: prog.name.clone(),
            target,
            source,
        }),
        Err(OpenError::Sys(source)) => Err(ProgramError::Attach {
            program: prog.name.clone(),
            target,
            source,
        }),
    }
}

/// A kprobe program: `SEC("kprobe/FN[+OFF]")`, `SEC("kretprobe/FN")`,
/// `SEC("ksyscall/NAME")` or `SEC("kretsyscall/NAME")`.
///
/// Whether it probes entries or returns comes from its section; [`KProbe::attach`]
/// takes the function, [`KProbe::attach_syscall`] a syscall name.
#[derive(Debug, Clone, Copy)]
pub struct KProbe<'a> {
    prog: &'a Program,
    ret: bool,
}

impl<'a> TryFrom<&'a Program> for KProbe<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        let ret = match prog.kind {
            ProgramKind::Kprobe { .. } => false,
            ProgramKind::Kretprobe { .. } => true,
            ProgramKind::Ksyscall { ret, .. } => ret,
            _ => return Err(prog.wrong_kind("kprobe")),
        };
        Ok(KProbe { prog, ret })
    }
}

impl KProbe<'_> {
    /// True for return probes (`kretprobe`, `kretsyscall`).
    pub fn is_return(&self) -> bool {
        self.ret
    }

    /// Attaches to kernel function `function` at `offset` bytes into it, or to its
    /// return for a return probe (whose offset must be 0).
    pub fn attach(&self, function: &str, offset: u64) -> Result<Link, ProgramError> {
        self.attach_with(function, offset, KprobeMode::Auto)
    }

    /// [`KProbe::attach`], creating the kprobe the way `mode` says.
    pub fn attach_with(
        &self,
        function: &str,
        offset: u64,
        mode: KprobeMode,
    ) -> Result<Link, ProgramError> {
        let roots = ProbeRoots {
            pmu: Path::new(KPROBE_PMU_DIR),
            tracefs: &system_tracefs,
        };
        attach_kprobe(self.prog, &roots, function, offset, self.ret, mode)
    }

    /// Attaches to syscall `syscall` (`unlinkat`): a kprobe on the kernel function
    /// [`syscall_function`] names (`__x64_sys_unlinkat` on x86-64).
    ///
    /// With syscall wrappers the probed function's only argument is the `pt_regs` of
    /// the syscall, as libbpf's `BPF_KSYSCALL` expects.
    pub fn attach_syscall(&self, syscall: &str) -> Result<Link, ProgramError> {
        self.attach(&syscall_function(syscall), 0)
    }
}

/// Matches `name` against a glob of `*` (any run) and `?` (any one byte), as libbpf's
/// `glob_match()`; everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut si) = (0, 0);
    // Where the last `*` was, and the input position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The functions of an `available_filter_functions` text that match `pattern`,
/// sorted and deduplicated. Lines are `NAME` or `NAME [MODULE]`; module functions are
/// left out (`kprobe_multi` resolves names in vmlinux), and so are the placeholders
/// ftrace writes for functions it lost track of (`__ftrace_invalid_address__...`).
pub fn functions_matching(available: &str, pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = available
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            if words.next().is_some() || name.starts_with("__ftrace_invalid_address__") {
                return None;
            }
            glob_match(pattern, name).then(|| name.to_string())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The traceable kernel functions matching glob `pattern`, from tracefs
/// `available_filter_functions` (as libbpf resolves `kprobe.multi` patterns).
pub fn matching_functions(pattern: &str) -> Result<Vec<String>, KprobeError> {
    let path = tracefs::tracefs_root()?.join("available_filter_functions");
    let text = std::fs::read_to_string(&path).map_err(|source| KprobeError::ReadFunctions {
        path: path.clone(),
        source,
    })?;
    let found = functions_matching(&text, pattern);
    if found.is_empty() {
        return Err(KprobeError::NoMatch {
            pattern: pattern.to_string(),
            path,
        });
    }
    Ok(found)
}

/// A `kprobe.multi` program: `SEC("kprobe.multi/GLOB")` or
/// `SEC("kretprobe.multi/GLOB")`, attached to many functions with one link; or a
/// kprobe session, `SEC("kprobe.session/GLOB")` (6.10+), which runs at both entry and
/// return of each function (`bpf_session_is_return()` tells which; an entry run
/// returning non-zero skips that call's return run), as libbpf's
/// `bpf_program__attach_kprobe_multi_opts` with `session` set.
#[derive(Debug, Clone, Copy)]
pub struct KProbeMulti<'a> {
    prog: &'a Program,
    ret: bool,
    session: bool,
}

impl<'a> TryFrom<&'a Program> for KProbeMulti<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match prog.kind {
            ProgramKind::KprobeMulti { ret, .. } => Ok(KProbeMulti {
                prog,
                ret,
                session: false,
            }),
            ProgramKind::KprobeSession { .. } => Ok(KProbeMulti {
                prog,
                ret: false,
                session: true,
            }),
            _ => Err(prog.wrong_kind("kprobe.multi")),
        }
    }
}

impl KProbeMulti<'_> {
    /// True for `kretprobe.multi`.
    pub fn is_return(&self) -> bool {
        self.ret
    }

    /// True for `kprobe.session`.
    pub fn is_session(&self) -> bool {
        self.session
    }

    fn kind_name(&self) -> &'static str {
        match (self.session, self.ret) {
            (true, _) => "kprobe.session",
            (false, true) => "kretprobe.multi",
            (false, false) => "kprobe.multi",
        }
    }

    /// Attaches to every traceable kernel function matching glob `pattern`
    /// ([`matching_functions`]).
    pub fn attach(&self, pattern: &str) -> Result<Link, ProgramError> {
        let target = format!("{} {pattern}", self.kind_name());
        let functions = matching_functions(pattern).map_err(|source| ProgramError::Kprobe {
            program: self.prog.name.clone(),
            target: target.clone(),
            source,
        })?;
        let names: Vec<&str> = functions.iter().map(String::as_str).collect();
        self.attach_named(&names, None, target)
    }

    /// Attaches to the kernel functions `functions`, with a cookie for each (read by
    /// `bpf_get_attach_cookie()`) when `cookies` is given.
    pub fn attach_functions(
        &self,
        functions: &[&str],
        cookies: Option<&[u64]>,
    ) -> Result<Link, ProgramError> {
        let target = match functions {
            [one] => format!("{} {one}", self.kind_name()),
            _ => format!("{} of {} functions", self.kind_name(), functions.len()),
        };
        self.attach_named(functions, cookies, target)
    }

    fn attach_named(
        &self,
        functions: &[&str],
        cookies: Option<&[u64]>,
        target: String,
    ) -> Result<Link, ProgramError> {
        let kerr = |source| ProgramError::Kprobe {
            program: self.prog.name.clone(),
            target: target.clone(),
            source,
        };
        if functions.is_empty() {
            return Err(kerr(KprobeError::NoFunctions));
        }
        let names = functions
            .iter()
            .map(|f| {
                if valid_function(f) {
                    CString::new(*f).map_err(|_| KprobeError::BadFunction(f.to_string()))
                } else {
                    Err(KprobeError::BadFunction(f.to_string()))
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(kerr)?;
        let refs: Vec<&std::ffi::CStr> = names.iter().map(CString::as_c_str).collect();
        let flags = if self.ret {
            sys::bpf::KPROBE_MULTI_RETURN
        } else {
            0
        };
        let targets = sys::bpf::KprobeMultiTargets::Symbols(&refs);
        let fd = if self.session {
            sys::bpf::link_create_kprobe_session(self.prog.fd(), targets, cookies)
        } else {
            sys::bpf::link_create_kprobe_multi(self.prog.fd(), flags, targets, cookies)
        }
        .map_err(|source| ProgramError::Attach {
            program: self.prog.name.clone(),
            target: target.clone(),
            source,
        })?;
        let description = if functions.len() == 1 {
            target
        } else {
            format!("{target} ({} functions)", functions.len())
        };
        Ok(Link::from_link_fd(fd, description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;

    fn dummy_program(section: &str) -> Program {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let kind = ProgramKind::from_section(section).unwrap();
        Program::new("probe_me".into(), section.into(), kind, fd)
    }

    #[test]
    fn events_lines_as_the_kernel_wants_them() {
        assert_eq!(
            kprobe_events_line(false, "kprobes", "corebpf_7_0", "do_unlinkat", 0),
            "p:kprobes/corebpf_7_0 do_unlinkat"
        );
        assert_eq!(
            kprobe_events_line(false, "kprobes", "e", "f.isra.0", 16),
            "p:kprobes/e f.isra.0+0x10"
        );
        assert_eq!(
            kprobe_events_line(true, "kprobes", "e", "do_unlinkat", 0),
            "r:kprobes/e do_unlinkat"
        );
        let a = legacy_event_name();
        let b = legacy_event_name();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("corebpf_{}_", std::process::id())));
        assert!(valid_function(&a), "event names are plain identifiers");
    }

    #[test]
    fn ksyscall_names_follow_libbpf() {
        assert_eq!(
            syscall_function_name("unlinkat", Some("x64")),
            "__x64_sys_unlinkat"
        );
        assert_eq!(
            syscall_function_name("openat", Some("arm64")),
            "__arm64_sys_openat"
        );
        assert_eq!(syscall_function_name("openat", None), "__se_sys_openat");
        // On x86-64 every kernel since 4.17 has wrappers; the running one is far newer.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(syscall_function("unlinkat"), "__x64_sys_unlinkat");
    }

    #[test]
    fn globs_match_like_libbpf() {
        for (p, s) in [
            ("do_unlinkat", "do_unlinkat"),
            ("do_unlinkat*", "do_unlinkat"),
            ("*unlinkat", "__x64_sys_unlinkat"),
            ("vfs_*", "vfs_unlink"),
            ("*", ""),
            ("**", "x"),
            ("v?s_*k", "vfs_unlink"),
            ("*a*b*c", "xxaxxbxxbxc"),
            ("?", "x"),
        ] {
            assert!(glob_match(p, s), "{p} should match {s}");
        }
        for (p, s) in [
            ("do_unlinkat", "do_unlinkat2"),
            ("do_unlinkat", "do_unlinka"),
            ("vfs_*", "xvfs_unlink"),
            ("*unlinkat", "do_unlinkat_x"),
            ("?", ""),
            ("*a*b*c", "xxaxxbxxbx"),
            ("", "x"),
        ] {
            assert!(!glob_match(p, s), "{p} should not match {s}");
        }
    }

    #[test]
    fn available_functions_are_filtered_sorted_and_unique() {
        let text = "vfs_unlink\ndo_unlinkat\n__x64_sys_unlinkat\nvfs_rmdir\n\
                    do_unlinkat\nmod_unlink [some_module]\n\
                    __ftrace_invalid_address___64\n\n";
        assert_eq!(
            functions_matching(text, "*unlink*"),
            ["__x64_sys_unlinkat", "do_unlinkat", "vfs_unlink"]
        );
        assert_eq!(
            functions_matching(text, "vfs_*"),
            ["vfs_rmdir", "vfs_unlink"]
        );
        assert!(functions_matching(text, "nothing*").is_empty());
    }

    #[test]
    fn pmu_description_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        // No directory at all: the kernel has no kprobe PMU.
        let missing = dir.path().join("kprobe");
        match probe_pmu_at(&missing) {
            Err(KprobeError::NoPmu { path }) => assert_eq!(path, missing.join("type")),
            other => panic!("expected NoPmu, got {other:?}"),
        }
        std::fs::create_dir_all(missing.join("format")).unwrap();
        std::fs::write(missing.join("type"), "8\n").unwrap();
        assert_eq!(
            probe_pmu_at(&missing).unwrap(),
            ProbePmu {
                type_: 8,
                retprobe_bit: None
            }
        );
        std::fs::write(missing.join("format/retprobe"), "config:0\n").unwrap();
        assert_eq!(probe_pmu_at(&missing).unwrap().retprobe_bit, Some(0));
        std::fs::write(missing.join("format/retprobe"), "config1:3\n").unwrap();
        let e = probe_pmu_at(&missing).unwrap_err();
        assert!(
            matches!(e, KprobeError::Pmu { .. }) && e.to_string().contains("config:N"),
            "{e}"
        );
        std::fs::write(missing.join("type"), "eight\n").unwrap();
        assert!(matches!(
            probe_pmu_at(&missing),
            Err(KprobeError::Pmu { .. })
        ));
    }

    /// The running kernel's PMU: present or cleanly reported missing, never garbled.
    #[test]
    fn system_pmu_is_found_or_reported_missing() {
        let present = Path::new(KPROBE_PMU_DIR).join("type").exists();
        match kprobe_pmu() {
            Ok(pmu) => {
                assert!(present);
                assert!(pmu.type_ > perf_type_max_builtin());
            }
            Err(KprobeError::NoPmu { path }) => {
                assert!(!present);
                assert_eq!(path, Path::new(KPROBE_PMU_DIR).join("type"));
            }
            Err(e) => panic!("reading the kprobe PMU: {e}"),
        }
    }

    /// Dynamic PMUs get types after the built-in ones (`PERF_TYPE_MAX` is 6).
    fn perf_type_max_builtin() -> u32 {
        sys::perf::perf_type::BREAKPOINT
    }

    /// Without the PMU and without `kprobe_events`, attaching is a typed error that
    /// names the program, the target and CONFIG_KPROBES; no syscall is made.
    #[test]
    fn no_pmu_and_no_kprobe_events_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let pmu = dir.path().join("no-pmu");
        let tracefs = dir.path().join("tracing");
        std::fs::create_dir(&tracefs).unwrap();
        let root = tracefs.clone();
        let roots = ProbeRoots {
            pmu: &pmu,
            tracefs: &move || Ok(root.clone()),
        };
        let prog = dummy_program("kprobe/do_unlinkat");
        let e =
            attach_kprobe(&prog, &roots, "do_unlinkat", 0, false, KprobeMode::Auto).unwrap_err();
        let text = crate::util::Chain(&e).to_string();
        match &e {
            ProgramError::Kprobe {
                program,
                target,
                source: KprobeError::Unavailable { fallback, .. },
            } => {
                assert_eq!(program, "probe_me");
                assert_eq!(target, "kprobe do_unlinkat");
                assert!(
                    matches!(**fallback, KprobeError::NoKprobeEvents { ref path } if *path == tracefs.join("kprobe_events"))
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(text.contains("CONFIG_KPROBES"), "{text}");
        assert!(text.contains("kprobe_events"), "{text}");
        assert!(text.contains("probe_me"), "{text}");

        // tracefs not mounted either: still the same typed error, with the mount hint.
        let roots = ProbeRoots {
            pmu: &pmu,
            tracefs: &|| Err(TracefsError::NotMounted),
        };
        let e = attach_kprobe(&prog, &roots, "do_unlinkat", 0, true, KprobeMode::Auto).unwrap_err();
        assert!(
            matches!(
                &e,
                ProgramError::Kprobe { target, source: KprobeError::Unavailable { fallback, .. }, .. }
                    if target == "kretprobe do_unlinkat"
                        && matches!(**fallback, KprobeError::Tracefs(TracefsError::NotMounted))
            ),
            "{e:?}"
        );
    }

    /// Forced modes don't fall back: `Pmu` without a PMU says so, `Tracefs` without
    /// `kprobe_events` says that (and names CONFIG_KPROBES).
    #[test]
    fn forced_modes_report_their_own_failure() {
        let dir = tempfile::tempdir().unwrap();
        let pmu = dir.path().join("no-pmu");
        let tracefs = dir.path().join("tracing");
        std::fs::create_dir(&tracefs).unwrap();
        let root = tracefs.clone();
        let roots = ProbeRoots {
            pmu: &pmu,
            tracefs: &move || Ok(root.clone()),
        };
        let prog = dummy_program("kprobe/do_unlinkat");
        let e = attach_kprobe(&prog, &roots, "do_unlinkat", 0, false, KprobeMode::Pmu).unwrap_err();
        assert!(
            matches!(
                &e,
                ProgramError::Kprobe { source: KprobeError::NoPmu { path }, .. }
                    if *path == pmu.join("type")
            ),
            "{e:?}"
        );
        let e =
            attach_kprobe(&prog, &roots, "do_unlinkat", 0, false, KprobeMode::Tracefs).unwrap_err();
        assert!(
            matches!(
                &e,
                ProgramError::Kprobe {
                    source: KprobeError::NoKprobeEvents { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        let text = crate::util::Chain(&e).to_string();
        assert!(text.contains("CONFIG_KPROBES"), "{text}");

        // A PMU without a retprobe bit can't make return probes in Pmu mode.
        std::fs::create_dir(&pmu).unwrap();
        std::fs::write(pmu.join("type"), "9\n").unwrap();
        let e = attach_kprobe(&prog, &roots, "do_unlinkat", 0, true, KprobeMode::Pmu).unwrap_err();
        assert!(
            matches!(
                &e,
                ProgramError::Kprobe {
                    source: KprobeError::Pmu { .. },
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn bad_targets_are_refused_before_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let pmu = dir.path().join("no-pmu");
        let roots = ProbeRoots {
            pmu: &pmu,
            tracefs: &|| Err(TracefsError::NotMounted),
        };
        let prog = dummy_program("kretprobe/do_unlinkat");
        let e = attach_kprobe(&prog, &roots, "do_unlinkat", 4, true, KprobeMode::Auto).unwrap_err();
        assert!(
            matches!(
                e,
                ProgramError::Kprobe {
                    source: KprobeError::ReturnOffset { offset: 4, .. },
                    ..
                }
            ),
            "{e:?}"
        );
        for bad in ["", "a b", "x\0y", "f;rm"] {
            let e = attach_kprobe(&prog, &roots, bad, 0, false, KprobeMode::Auto).unwrap_err();
            assert!(
                matches!(
                    e,
                    ProgramError::Kprobe {
                        source: KprobeError::BadFunction(_),
                        ..
                    }
                ),
                "{bad:?}: {e:?}"
            );
        }
        let multi = dummy_program("kprobe.multi/x");
        let m = KProbeMulti::try_from(&multi).unwrap();
        assert!(matches!(
            m.attach_functions(&[], None),
            Err(ProgramError::Kprobe {
                source: KprobeError::NoFunctions,
                ..
            })
        ));
        assert!(matches!(
            m.attach_functions(&["ok", "not ok"], None),
            Err(ProgramError::Kprobe {
                source: KprobeError::BadFunction(_),
                ..
            })
        ));
    }

    #[test]
    fn typed_views_follow_the_section() {
        for (sec, ret) in [
            ("kprobe/f", false),
            ("kretprobe/f", true),
            ("ksyscall/unlinkat", false),
            ("kretsyscall/unlinkat", true),
        ] {
            let p = dummy_program(sec);
            assert_eq!(KProbe::try_from(&p).unwrap().is_return(), ret, "{sec}");
            assert!(KProbeMulti::try_from(&p).is_err());
        }
        let p = dummy_program("kretprobe.multi/vfs_*");
        assert!(KProbeMulti::try_from(&p).unwrap().is_return());
        let e = KProbe::try_from(&p).unwrap_err();
        assert!(e.to_string().contains("not a kprobe program"), "{e}");
    }
}
