//! User-space probes: `uprobe`, `uretprobe` and their sleepable `.s` forms
//! ([`UProbe`]).
//!
//! A uprobe is placed at a file offset of an executable or a shared library; the
//! kernel fires it in every process that maps that file (or only in one, with a pid).
//! [`UProbe::attach`] finds the offset as libbpf does: the file from a path, or from a
//! bare name the way the dynamic loader finds a library ([`uprobe_path`](super::uprobe_path));
//! the function from its symbol ([`uprobe_elf`](super::uprobe_elf)). The probe is
//! created through the uprobe PMU (`perf_event_open` with the type in
//! `/sys/bus/event_source/devices/uprobe/type`, `config1` = path, `config2` = offset,
//! the `retprobe` bit for return probes, a semaphore's reference counter in the upper
//! 32 bits of `config`), or, without that PMU, by writing
//! `p:uprobes/corebpf_<pid>_<n> PATH:0xOFF` to tracefs `uprobe_events` (removed again
//! when the [`Link`] drops). The program is then attached to the perf event with a
//! perf link carrying the cookie, or `PERF_EVENT_IOC_SET_BPF` on kernels without perf
//! links (no cookie then).

use std::ffi::CString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use super::kprobe::{probe_pmu_at, KprobeError, ProbePmu};
use super::tracefs::{self, TracefsError};
use super::uprobe_elf::{ElfError, ElfFile};
use super::{attach_perf_event_with_cookie, Program, ProgramError};
use crate::link::{Link, TracefsProbe};
use crate::object::ProgramKind;
use crate::sys::{self, SysError};

/// Where the uprobe PMU describes itself (`type`, `format/retprobe`,
/// `format/ref_ctr_offset`).
pub const UPROBE_PMU_DIR: &str = "/sys/bus/event_source/devices/uprobe";

/// The tracefs groups legacy uprobes and uretprobes are created in (libbpf's).
pub const UPROBE_EVENTS_GROUPS: [&str; 2] = ["uprobes", "uretprobes"];

/// The shift of a semaphore's reference counter offset in `config` (the PMU's
/// `format/ref_ctr_offset` is `config:32-63`).
const REF_CTR_SHIFT: u32 = 32;

/// Why a uprobe could not be created, or its target found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UprobeError {
    /// The kernel has no uprobe PMU (before 4.17, or built without
    /// `CONFIG_UPROBE_EVENTS`).
    #[error("no uprobe PMU ({path} is missing)")]
    NoPmu {
        /// The PMU's `type` file looked for.
        path: PathBuf,
    },
    /// A uprobe PMU file exists but can't be read or understood.
    #[error("reading the uprobe PMU description {path}: {reason}")]
    Pmu {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// tracefs is mounted but has no `uprobe_events`.
    #[error(
        "{path} is missing: this kernel has no uprobe events \
         (built without CONFIG_UPROBES / CONFIG_UPROBE_EVENTS)"
    )]
    NoUprobeEvents {
        /// The `uprobe_events` file looked for.
        path: PathBuf,
    },
    /// Neither the uprobe PMU nor tracefs `uprobe_events` exists.
    #[error(
        "uprobes are unavailable: no uprobe PMU ({pmu} is missing) and {fallback}; \
         the kernel is built without CONFIG_UPROBES (or CONFIG_UPROBE_EVENTS)"
    )]
    Unavailable {
        /// The PMU's `type` file looked for.
        pmu: PathBuf,
        /// Why the tracefs fallback failed.
        fallback: Box<UprobeError>,
    },
    /// tracefs is needed (legacy uprobes) and missing.
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    /// The kernel refused the probe definition written to `uprobe_events`.
    #[error("creating uprobe event {line:?} in {path}")]
    CreateEvent {
        /// `uprobe_events`.
        path: PathBuf,
        /// The line written.
        line: String,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },
    /// A bare library or program name that no search found.
    #[error(
        "'{name}' not found: a library is looked for in LD_LIBRARY_PATH, /etc/ld.so.cache, \
         /usr/lib64, /usr/lib and the multiarch directory, a program in PATH, /usr/bin and \
         /usr/sbin; give a path"
    )]
    NotFound {
        /// The name.
        name: String,
    },
    /// The target file can't be read as ELF, or the function isn't in it.
    #[error("resolving '{function}' in {path}")]
    Symbol {
        /// The file.
        path: PathBuf,
        /// The function (or pattern) asked for.
        function: String,
        /// What went wrong.
        #[source]
        source: ElfError,
    },
    /// Return probes fire on the function's return, so they take no offset into it.
    #[error("a return probe takes no offset into the function (asked for {function}+{offset:#x})")]
    ReturnOffset {
        /// The function.
        function: String,
        /// The offset asked for.
        offset: u64,
    },
    /// A semaphore's reference counter offset beyond the PMU's 32 bits.
    #[error("reference counter offset {0:#x} doesn't fit the uprobe PMU's 32 bits")]
    RefCtrOffset(u64),
    /// Semaphores need the PMU's reference counter (4.20+), which tracefs uprobes lack.
    #[error(
        "a semaphore's reference counter needs the uprobe PMU's ref_ctr_offset (4.20+); \
         tracefs uprobes can't take one"
    )]
    NoRefCtr,
    /// A path the kernel can't take.
    #[error("path {0:?} can't be passed to the kernel (it contains a NUL byte, or whitespace for uprobe_events)")]
    BadPath(PathBuf),
    /// A pid beyond `pid_t`.
    #[error("pid {0} is out of range")]
    BadPid(u32),
    /// A multi-uprobe needs at least one location.
    #[error("no location to attach to")]
    NoLocations,
    /// Per-location arrays (cookies, reference counters) must match the locations.
    #[error("{what}: {got} entries for {want} locations")]
    CountMismatch {
        /// Which array.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The number of locations.
        want: usize,
    },
}

/// How a uprobe is created (libbpf's `probe_attach_mode`, for the creation part).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UprobeMode {
    /// The uprobe PMU when the kernel has one, else tracefs `uprobe_events`.
    #[default]
    Auto,
    /// Only the uprobe PMU ([`UprobeError::NoPmu`] without one).
    Pmu,
    /// Only tracefs `uprobe_events` (libbpf's legacy mode); the probe is removed when
    /// the link is dropped.
    Tracefs,
}

/// Where in the file a uprobe goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UprobeLocation<'a> {
    /// The entry of a function, by symbol name (`malloc`, `malloc@@GLIBC_2.2.5`).
    Function(&'a str),
    /// An offset into a function (entry probes only).
    FunctionOffset(&'a str, u64),
    /// A file offset.
    Offset(u64),
}

impl<'a> From<&'a str> for UprobeLocation<'a> {
    fn from(function: &'a str) -> Self {
        UprobeLocation::Function(function)
    }
}

impl From<u64> for UprobeLocation<'_> {
    fn from(offset: u64) -> Self {
        UprobeLocation::Offset(offset)
    }
}

/// Options of [`UProbe::attach_with`], libbpf's `bpf_uprobe_opts`.
///
/// # Examples
///
/// ```
/// use corebpf::program::{UprobeMode, UprobeOptions};
///
/// let opts = UprobeOptions::new().pid(4242).cookie(7).mode(UprobeMode::Pmu);
/// assert_eq!((opts.pid, opts.cookie), (Some(4242), 7));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct UprobeOptions {
    /// Only this process (`None`: every process that maps the file; `Some(0)`: the
    /// calling process, as `perf_event_open` reads pid 0).
    pub pid: Option<u32>,
    /// The value `bpf_get_attach_cookie()` returns (needs perf links, 5.15+).
    pub cookie: u64,
    /// The file offset of a USDT semaphore the kernel increments while the probe is
    /// attached (the PMU's `ref_ctr_offset`, 4.20+); 0 for none.
    pub ref_ctr_offset: u64,
    /// How the probe is created.
    pub mode: UprobeMode,
}

impl UprobeOptions {
    /// No pid filter, no cookie, no semaphore, [`UprobeMode::Auto`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires only in process `pid`.
    pub fn pid(mut self, pid: u32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// Sets the BPF cookie.
    pub fn cookie(mut self, cookie: u64) -> Self {
        self.cookie = cookie;
        self
    }

    /// Sets the semaphore's file offset.
    pub fn ref_ctr_offset(mut self, offset: u64) -> Self {
        self.ref_ctr_offset = offset;
        self
    }

    /// Sets how the probe is created.
    pub fn mode(mut self, mode: UprobeMode) -> Self {
        self.mode = mode;
        self
    }
}

/// Reads the uprobe PMU description from `dir` (`type`, `format/retprobe`).
fn read_pmu(dir: &Path) -> Result<ProbePmu, UprobeError> {
    probe_pmu_at(dir).map_err(|e| match e {
        KprobeError::NoPmu { path } => UprobeError::NoPmu { path },
        KprobeError::Pmu { path, reason } => UprobeError::Pmu { path, reason },
        other => UprobeError::Pmu {
            path: dir.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// The system's uprobe PMU, read once per process (it can't change while the kernel
/// runs: the PMU is built in).
pub fn uprobe_pmu() -> Result<ProbePmu, UprobeError> {
    static PMU: OnceLock<ProbePmu> = OnceLock::new();
    if let Some(pmu) = PMU.get() {
        return Ok(*pmu);
    }
    let pmu = read_pmu(Path::new(UPROBE_PMU_DIR))?;
    Ok(*PMU.get_or_init(|| pmu))
}

/// Whether the uprobe PMU takes a semaphore's reference counter (`format/ref_ctr_offset`,
/// 4.20+), as libbpf's USDT support checks.
pub fn has_ref_ctr() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        Path::new(UPROBE_PMU_DIR)
            .join("format/ref_ctr_offset")
            .exists()
    })
}

/// Resolves a target file: a path as given, a bare name by the loader's rules.
pub(crate) fn resolve_target(target: &Path) -> Result<PathBuf, UprobeError> {
    super::uprobe_path::resolve(target).ok_or_else(|| UprobeError::NotFound {
        name: target.display().to_string(),
    })
}

/// The file offset of `location` in `path`.
pub(crate) fn location_offset(
    path: &Path,
    location: UprobeLocation<'_>,
    ret: bool,
) -> Result<u64, UprobeError> {
    let (function, extra) = match location {
        UprobeLocation::Offset(o) => return Ok(o),
        UprobeLocation::Function(f) => (f, 0),
        UprobeLocation::FunctionOffset(f, o) => (f, o),
    };
    if ret && extra != 0 {
        return Err(UprobeError::ReturnOffset {
            function: function.to_string(),
            offset: extra,
        });
    }
    let sym_err = |source| UprobeError::Symbol {
        path: path.to_path_buf(),
        function: function.to_string(),
        source,
    };
    let elf = ElfFile::open(path).map_err(sym_err)?;
    let offset = elf.function_offset(function).map_err(sym_err)?;
    Ok(offset.wrapping_add(extra))
}

/// A new event name for a legacy uprobe: `corebpf_<pid>_<n>`, unique in this process.
fn legacy_event_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "corebpf_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The line that creates a uprobe in tracefs `uprobe_events`:
/// `p:uprobes/EVENT PATH:0xOFF`, or `r:uretprobes/EVENT PATH:0xOFF` for a return probe.
pub fn uprobe_events_line(retprobe: bool, event: &str, path: &str, offset: u64) -> String {
    let (kind, group) = if retprobe {
        ('r', UPROBE_EVENTS_GROUPS[1])
    } else {
        ('p', UPROBE_EVENTS_GROUPS[0])
    };
    format!("{kind}:{group}/{event} {path}:{offset:#x}")
}

/// `(pid, cpu)` for `perf_event_open`: every process on any CPU, or one process.
pub(crate) fn perf_target(pid: Option<u32>) -> Result<(i32, i32), UprobeError> {
    match pid {
        None => Ok((-1, 0)),
        Some(p) => i32::try_from(p)
            .map(|p| (p, -1))
            .map_err(|_| UprobeError::BadPid(p)),
    }
}

/// Where uprobes are created: the PMU directory and the tracefs root (looked up only
/// when the PMU is missing or not wanted). Tests point them at fixtures.
pub(crate) struct ProbeRoots<'a> {
    pub pmu: Option<&'a Path>,
    pub tracefs: &'a dyn Fn() -> Result<PathBuf, TracefsError>,
}

fn system_tracefs() -> Result<PathBuf, TracefsError> {
    tracefs::tracefs_root().map(Path::to_path_buf)
}

impl ProbeRoots<'static> {
    pub(crate) const SYSTEM: ProbeRoots<'static> = ProbeRoots {
        pmu: None,
        tracefs: &system_tracefs,
    };
}

impl ProbeRoots<'_> {
    fn pmu(&self) -> Result<ProbePmu, UprobeError> {
        match self.pmu {
            Some(dir) => read_pmu(dir),
            None => uprobe_pmu(),
        }
    }

    fn pmu_type_path(&self) -> PathBuf {
        self.pmu.unwrap_or(Path::new(UPROBE_PMU_DIR)).join("type")
    }
}

/// Why opening a uprobe's perf event failed: the uprobe machinery or the syscall.
pub(crate) enum OpenError {
    Uprobe(UprobeError),
    Sys(SysError),
}

impl From<UprobeError> for OpenError {
    fn from(e: UprobeError) -> Self {
        OpenError::Uprobe(e)
    }
}

/// Opens a perf event for a uprobe at file offset `offset` of `path`: in
/// [`UprobeMode::Auto`], PMU first, tracefs `uprobe_events` when the kernel has no
/// uprobe PMU.
pub(crate) fn open_uprobe(
    roots: &ProbeRoots<'_>,
    path: &Path,
    offset: u64,
    retprobe: bool,
    opts: &UprobeOptions,
) -> Result<(OwnedFd, Option<TracefsProbe>), OpenError> {
    let (pid, cpu) = perf_target(opts.pid)?;
    if opts.ref_ctr_offset >> REF_CTR_SHIFT != 0 {
        return Err(UprobeError::RefCtrOffset(opts.ref_ctr_offset).into());
    }
    let usable = |pmu: ProbePmu| !retprobe || pmu.retprobe_bit.is_some();
    let pmu = match opts.mode {
        UprobeMode::Tracefs => None,
        UprobeMode::Pmu => match roots.pmu()? {
            pmu if usable(pmu) => Some(pmu),
            _ => {
                return Err(UprobeError::Pmu {
                    path: roots.pmu_type_path().with_file_name("format/retprobe"),
                    reason: "missing: the uprobe PMU can't make return probes".into(),
                }
                .into())
            }
        },
        UprobeMode::Auto => match roots.pmu() {
            Ok(pmu) if usable(pmu) => Some(pmu),
            Ok(_) => {
                log::debug!("the uprobe PMU has no retprobe bit; using tracefs uprobe_events");
                None
            }
            Err(UprobeError::NoPmu { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(pmu) = pmu {
        let mut config = opts.ref_ctr_offset << REF_CTR_SHIFT;
        if let (true, Some(bit)) = (retprobe, pmu.retprobe_bit) {
            config |= 1u64 << bit;
        }
        let name = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| UprobeError::BadPath(path.to_path_buf()))?;
        let attr = sys::perf::PerfEventAttr::new(pmu.type_, config);
        let fd = sys::perf::perf_event_open_probe(&attr, &name, offset, pid, cpu)
            .map_err(OpenError::Sys)?;
        return Ok((fd, None));
    }
    if opts.ref_ctr_offset != 0 {
        return Err(UprobeError::NoRefCtr.into());
    }
    let unavailable = |fallback: UprobeError| match opts.mode {
        UprobeMode::Tracefs => fallback,
        _ => UprobeError::Unavailable {
            pmu: roots.pmu_type_path(),
            fallback: Box::new(fallback),
        },
    };
    let root = (roots.tracefs)().map_err(|e| unavailable(e.into()))?;
    let events = root.join("uprobe_events");
    if !events.exists() {
        return Err(unavailable(UprobeError::NoUprobeEvents { path: events }).into());
    }
    open_legacy_uprobe(&root, &events, path, offset, retprobe, pid, cpu)
}

/// Creates a uprobe through tracefs `uprobe_events` and opens its perf event.
fn open_legacy_uprobe(
    root: &Path,
    events: &Path,
    path: &Path,
    offset: u64,
    retprobe: bool,
    pid: i32,
    cpu: i32,
) -> Result<(OwnedFd, Option<TracefsProbe>), OpenError> {
    let text = path
        .to_str()
        .filter(|p| !p.contains(char::is_whitespace) && !p.contains('\0'))
        .ok_or_else(|| UprobeError::BadPath(path.to_path_buf()))?;
    let event = legacy_event_name();
    let line = uprobe_events_line(retprobe, &event, text, offset);
    std::fs::OpenOptions::new()
        .append(true)
        .open(events)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
        .map_err(|source| UprobeError::CreateEvent {
            path: events.to_path_buf(),
            line: line.clone(),
            source,
        })?;
    let group = UPROBE_EVENTS_GROUPS[usize::from(retprobe)];
    // From here on, dropping `probe` removes the event again.
    let probe = TracefsProbe {
        events_file: events.to_path_buf(),
        name: format!("{group}/{event}"),
    };
    let id_path = root.join("events").join(group).join(&event).join("id");
    let id = std::fs::read_to_string(&id_path)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("not a number: {:?}", t.trim()))
        })
        .map_err(|reason| {
            UprobeError::Tracefs(TracefsError::Read {
                path: id_path.clone(),
                reason,
            })
        })?;
    let attr = sys::perf::PerfEventAttr::tracepoint(id);
    let fd = sys::perf::perf_event_open(&attr, pid, cpu, None, 0).map_err(OpenError::Sys)?;
    Ok((fd, Some(probe)))
}

/// The words a link and its errors use for a uprobe target.
fn describe(ret: bool, path: &Path, location: UprobeLocation<'_>, pid: Option<u32>) -> String {
    let kind = if ret { "uretprobe" } else { "uprobe" };
    let at = match location {
        UprobeLocation::Function(f) => f.to_string(),
        UprobeLocation::FunctionOffset(f, 0) => f.to_string(),
        UprobeLocation::FunctionOffset(f, o) => format!("{f}+{o:#x}"),
        UprobeLocation::Offset(o) => format!("{o:#x}"),
    };
    match pid {
        Some(p) => format!("{kind} {}:{at} (pid {p})", path.display()),
        None => format!("{kind} {}:{at}", path.display()),
    }
}

/// Resolves the target and location, creates the uprobe and attaches `prog` to it.
pub(crate) fn attach_uprobe(
    prog: &Program,
    roots: &ProbeRoots<'_>,
    target: &Path,
    location: UprobeLocation<'_>,
    ret: bool,
    opts: &UprobeOptions,
) -> Result<Link, ProgramError> {
    let uerr = |target: String| {
        move |source| ProgramError::Uprobe {
            program: prog.name().to_string(),
            target,
            source: Box::new(source),
        }
    };
    let described = describe(ret, target, location, opts.pid);
    let path = resolve_target(target).map_err(uerr(described))?;
    let described = describe(ret, &path, location, opts.pid);
    let offset = location_offset(&path, location, ret).map_err(uerr(described.clone()))?;
    match open_uprobe(roots, &path, offset, ret, opts) {
        Ok((perf, probe)) => {
            attach_perf_event_with_cookie(prog, perf, probe, described, opts.cookie)
        }
        Err(OpenError::Uprobe(source)) => Err(uerr(described)(source)),
        Err(OpenError::Sys(source)) => Err(ProgramError::Attach {
            program: prog.name().to_string(),
            target: described,
            source,
        }),
    }
}

/// Attaches `prog` to an entry uprobe at file offset `offset` of `path` (USDT sites).
pub(crate) fn attach_uprobe_offset(
    prog: &Program,
    path: &Path,
    offset: u64,
    opts: &UprobeOptions,
) -> Result<Link, ProgramError> {
    attach_uprobe(
        prog,
        &ProbeRoots::SYSTEM,
        path,
        UprobeLocation::Offset(offset),
        false,
        opts,
    )
}

/// A uprobe program: `SEC("uprobe[/PATH:FN[+OFF]]")`, `SEC("uretprobe[/PATH:FN]")`,
/// or their sleepable `.s` forms.
///
/// Whether it probes entries or returns comes from its section; [`UProbe::attach`]
/// takes the file, the location in it, an optional pid and an optional cookie.
///
/// # Examples
///
/// Count `malloc` calls of one process (needs root; `count_malloc` is a
/// `SEC("uprobe")` program):
///
/// ```no_run
/// use corebpf::program::UProbe;
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("malloc_counter.bpf.o")?;
/// let probe = UProbe::try_from(obj.program("count_malloc").expect("the program"))?;
/// // libc.so.6 is found as the dynamic loader finds it (/etc/ld.so.cache).
/// let link = probe.attach("libc.so.6", "malloc", Some(4242), None)?;
/// println!("attached: {}", link.description());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UProbe<'a> {
    prog: &'a Program,
    ret: bool,
}

impl<'a> TryFrom<&'a Program> for UProbe<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match prog.kind() {
            ProgramKind::Uprobe { ret, .. } => Ok(UProbe { prog, ret: *ret }),
            _ => Err(prog.wrong_kind("uprobe")),
        }
    }
}

impl UProbe<'_> {
    /// True for return probes (`uretprobe`).
    pub fn is_return(&self) -> bool {
        self.ret
    }

    /// Attaches to `location` (a function name, a function and an offset into it, or a
    /// file offset) in `target` (a path, or a bare library or program name), in every
    /// process or only in `pid`, with `cookie` for `bpf_get_attach_cookie()`.
    pub fn attach<'f>(
        &self,
        target: impl AsRef<Path>,
        location: impl Into<UprobeLocation<'f>>,
        pid: Option<u32>,
        cookie: Option<u64>,
    ) -> Result<Link, ProgramError> {
        let mut opts = UprobeOptions::new().cookie(cookie.unwrap_or(0));
        opts.pid = pid;
        self.attach_with(target, location, &opts)
    }

    /// [`UProbe::attach`] with every option of libbpf's `bpf_uprobe_opts`.
    pub fn attach_with<'f>(
        &self,
        target: impl AsRef<Path>,
        location: impl Into<UprobeLocation<'f>>,
        options: &UprobeOptions,
    ) -> Result<Link, ProgramError> {
        attach_uprobe(
            self.prog,
            &ProbeRoots::SYSTEM,
            target.as_ref(),
            location.into(),
            self.ret,
            options,
        )
    }
}

#[cfg(test)]
mod tests;
