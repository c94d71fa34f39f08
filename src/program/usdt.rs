//! USDT probes: `usdt[.s]/PATH:PROVIDER:NAME` ([`Usdt`]), attached so that BPF code
//! written for libbpf (`#include <bpf/usdt.bpf.h>`, `bpf_usdt_arg()`,
//! `bpf_usdt_cookie()`, `BPF_USDT()`) works unchanged.
//!
//! As libbpf's `usdt.c`: the probe sites are the binary's `.note.stapsdt` notes for
//! that provider and name; each site's address is corrected for prelinking
//! (`.stapsdt.base`) and turned into a file offset through its loadable segment; a site
//! with a semaphore gets the semaphore's file offset as the uprobe's reference counter,
//! which the kernel increments while the probe is attached. Each distinct argument
//! specification gets a spec id, a slot of the object's `__bpf_usdt_specs` array
//! holding the decoded arguments and the user's USDT cookie; the program finds the id
//! in its BPF cookie, or, on kernels without BPF cookies (before 5.15), by the probe's
//! absolute address in `__bpf_usdt_ip_to_spec_id` (which for shared libraries and PIE
//! executables needs a pid, to read where `/proc/PID/maps` placed the file). Spec ids
//! are shared by all USDT attachments of one object and returned when a link drops.
//!
//! Each site is one uprobe perf event (the path libbpf takes on kernels without
//! `uprobe_multi`), so USDT probes attach the same way on every kernel of the matrix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::uprobe::{self, attach_uprobe_offset, has_ref_ctr, UprobeError, UprobeOptions};
use super::uprobe_elf::{ElfError, ElfFile, Layout, Segment};
use super::usdt_spec::{self, SpecLayout, UsdtNote, UsdtSpecError};
use super::{Program, ProgramError};
use crate::link::{Attachment, Link};
use crate::map::Map;
use crate::object::ProgramKind;
use crate::sys::{self, SysError};

/// The array map `usdt.bpf.h` reads argument specifications from.
pub const SPECS_MAP: &str = "__bpf_usdt_specs";
/// The hash map `usdt.bpf.h` finds spec ids in without BPF cookies.
pub const IP_MAP: &str = "__bpf_usdt_ip_to_spec_id";

/// Why a USDT probe could not be attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsdtError {
    /// The object lacks the maps of `usdt.bpf.h`.
    #[error(
        "the object has no {SPECS_MAP} and {IP_MAP} maps; USDT programs need \
         #include <bpf/usdt.bpf.h>"
    )]
    NoUsdtMaps,
    /// The object's USDT maps don't have the shape `usdt.bpf.h` gives them.
    #[error("the object's USDT maps are not usdt.bpf.h's: {reason}")]
    BadUsdtMaps {
        /// What differs.
        reason: String,
    },
    /// The target file can't be found or its probes created.
    #[error(transparent)]
    Uprobe(#[from] UprobeError),
    /// The target file can't be read as ELF.
    #[error("reading {path}")]
    Elf {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: ElfError,
    },
    /// The file is not an executable or library of this machine.
    #[error("{path}: {reason}")]
    UnsupportedElf {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The file has no USDT notes at all.
    #[error("{path} has no USDT probes (no .note.stapsdt section)")]
    NoNotes {
        /// The file.
        path: PathBuf,
    },
    /// The notes can't be parsed.
    #[error("reading the USDT notes of {path}")]
    Notes {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: UsdtSpecError,
    },
    /// No note for that provider and name.
    #[error("{path} has no USDT probe {provider}:{name}")]
    NoProbe {
        /// The file.
        path: PathBuf,
        /// Provider asked for.
        provider: String,
        /// Name asked for.
        name: String,
    },
    /// A probe site or semaphore is not where a loadable segment says it can be.
    #[error("{what} at {addr:#x} is not in a loadable {kind} segment")]
    Segment {
        /// `probe site` or `semaphore`.
        what: &'static str,
        /// Its (link-time) address.
        addr: u64,
        /// `executable` or `data`.
        kind: &'static str,
    },
    /// A shared library or PIE executable, no BPF cookies, and no pid.
    #[error(
        "attaching to a shared library or PIE executable without a pid needs BPF \
         cookies (5.15+); give a pid"
    )]
    NeedPid,
    /// Reading where a process mapped the file failed.
    #[error("reading /proc/{pid}/maps")]
    ProcMaps {
        /// The process.
        pid: u32,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The process doesn't map the file's code.
    #[error("process {pid} has no executable mapping of {path} at file offset {offset:#x}")]
    NotMapped {
        /// The process.
        pid: u32,
        /// The file.
        path: PathBuf,
        /// The probe's file offset.
        offset: u64,
    },
    /// The probe has a semaphore and the uprobe PMU can't count references (4.20+).
    #[error(
        "the probe has a semaphore, and this kernel's uprobe PMU has no ref_ctr_offset \
         (4.20+)"
    )]
    NoSemaphoreSupport,
    /// A probe site's argument specification can't be decoded.
    #[error("probe site at {addr:#x}, arguments '{args}'")]
    Spec {
        /// The site's address.
        addr: u64,
        /// The specification.
        args: String,
        /// What is wrong.
        #[source]
        source: UsdtSpecError,
    },
    /// Every slot of `__bpf_usdt_specs` is in use.
    #[error(
        "all {max} slots of {SPECS_MAP} are in use; raise BPF_USDT_MAX_SPEC_CNT or \
         detach other USDT links of this object"
    )]
    TooManySpecs {
        /// The map's size.
        max: u32,
    },
    /// Writing a USDT map failed.
    #[error("writing {map}")]
    MapUpdate {
        /// Which map.
        map: &'static str,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// Two probe sites at one address (without BPF cookies, addresses identify sites).
    #[error("address {ip:#x} is already attached in {IP_MAP}")]
    IpCollision {
        /// The address.
        ip: u64,
    },
}

/// What went wrong setting up an object's USDT maps at load, kept until an attach
/// asks for them.
#[derive(Clone, Debug)]
enum Unusable {
    NoMaps,
    Bad(String),
}

/// The USDT state of one loaded object, shared by its USDT programs (libbpf's
/// `usdt_manager`): its two maps and which spec ids are free.
#[derive(Debug)]
pub(crate) struct UsdtManager {
    specs: sys::bpf::MapFd,
    ips: sys::bpf::MapFd,
    layout: SpecLayout,
    max_specs: u32,
    has_cookie: bool,
    ids: Mutex<SpecIds>,
}

#[derive(Debug, Default)]
struct SpecIds {
    next: u32,
    free: Vec<u32>,
}

/// What a USDT program holds: the object's manager, or why there is none.
#[derive(Clone, Debug)]
pub(crate) struct UsdtContext(Result<Arc<UsdtManager>, Unusable>);

impl UsdtContext {
    /// The context for the USDT programs of an object whose maps are `maps`.
    /// `has_cookie` is what the object's `LINUX_HAS_BPF_COOKIE` was set to.
    pub(crate) fn for_maps(maps: &[Map], has_cookie: bool) -> UsdtContext {
        UsdtContext(UsdtManager::new(maps, has_cookie).map(Arc::new))
    }

    fn manager(&self) -> Result<&Arc<UsdtManager>, UsdtError> {
        match &self.0 {
            Ok(m) => Ok(m),
            Err(Unusable::NoMaps) => Err(UsdtError::NoUsdtMaps),
            Err(Unusable::Bad(reason)) => Err(UsdtError::BadUsdtMaps {
                reason: reason.clone(),
            }),
        }
    }
}

impl UsdtManager {
    fn new(maps: &[Map], has_cookie: bool) -> Result<UsdtManager, Unusable> {
        let find = |name| maps.iter().find(|m| m.name() == name);
        let (Some(specs), Some(ips)) = (find(SPECS_MAP), find(IP_MAP)) else {
            return Err(Unusable::NoMaps);
        };
        let (s, i) = (specs.def(), ips.def());
        if s.key_size != 4 || i.key_size != 8 || i.value_size != 4 {
            return Err(Unusable::Bad(format!(
                "{SPECS_MAP} has {}-byte keys (4 expected), {IP_MAP} {}-byte keys and \
                 {}-byte values (8 and 4 expected)",
                s.key_size, i.key_size, i.value_size
            )));
        }
        let layout =
            SpecLayout::for_value_size(s.value_size).map_err(|e| Unusable::Bad(e.to_string()))?;
        let own = |m: &Map| {
            m.fd()
                .try_clone_to_owned()
                .map_err(|e| SysError::from_io("fcntl(F_DUPFD_CLOEXEC)", e))
                .and_then(sys::bpf::MapFd::new)
                .map_err(|e| Unusable::Bad(crate::util::Chain(&e).to_string()))
        };
        Ok(UsdtManager {
            specs: own(specs)?,
            ips: own(ips)?,
            layout,
            max_specs: s.max_entries,
            has_cookie,
            ids: Mutex::new(SpecIds::default()),
        })
    }

    fn allocate(&self) -> Result<u32, UsdtError> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.take(self.max_specs).ok_or(UsdtError::TooManySpecs {
            max: self.max_specs,
        })
    }

    fn release(&self, spec_ids: &[u32]) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.give_back(spec_ids);
    }
}

impl SpecIds {
    /// A free id below `max`: the last one given back, else the next never used (as
    /// libbpf's `allocate_spec_id`); `None` when all `max` are taken.
    fn take(&mut self, max: u32) -> Option<u32> {
        if let Some(id) = self.free.pop() {
            return Some(id);
        }
        if self.next >= max {
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }

    fn give_back(&mut self, ids: &[u32]) {
        self.free.extend_from_slice(ids);
    }
}

/// One probe site, ready to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtTarget {
    /// Absolute address (in the process for libraries without cookies, else the
    /// link-time address corrected for prelinking).
    pub abs_ip: u64,
    /// File offset of the probe's instruction.
    pub rel_ip: u64,
    /// File offset of the semaphore, 0 without one.
    pub sema_off: u64,
    /// The note it comes from.
    pub note: UsdtNote,
}

/// An executable mapping of a file in a process (from `/proc/PID/maps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// File offset of `start`.
    pub offset: u64,
}

/// The executable mappings of `path` in a `/proc/PID/maps` text, as libbpf's
/// `parse_vma_segs`.
pub fn exec_mappings(maps: &str, path: &Path) -> Vec<Mapping> {
    let want = path.as_os_str().to_string_lossy();
    maps.lines()
        .filter_map(|line| {
            let mut f = line.splitn(6, ' ');
            let range = f.next()?;
            let perms = f.next()?;
            let offset = f.next()?;
            let (_dev, _inode) = (f.next()?, f.next()?);
            let file = f.next().unwrap_or("").trim_start();
            if file != want || perms.as_bytes().get(2) != Some(&b'x') {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
            })
        })
        .collect()
}

/// The probe sites of `provider:name` among `notes` of a file with `segments`,
/// `.stapsdt.base` at `base_addr` (0 without it), as libbpf's `collect_usdt_targets`.
/// `abs_of` turns a file offset into an absolute address for shared objects without
/// BPF cookies (`None`: not needed).
pub fn collect_targets(
    notes: &[UsdtNote],
    segments: &[Segment],
    base_addr: u64,
    provider: &str,
    name: &str,
    abs_of: Option<&mut dyn FnMut(u64) -> Result<u64, UsdtError>>,
) -> Result<Vec<UsdtTarget>, UsdtError> {
    let mut abs_of = abs_of;
    let mut out = Vec::new();
    for note in notes
        .iter()
        .filter(|n| n.provider == provider && n.name == name)
    {
        let mut abs_ip = note.location;
        if base_addr != 0 && note.base != 0 {
            abs_ip = abs_ip.wrapping_add(base_addr.wrapping_sub(note.base));
        }
        let seg = segments
            .iter()
            .find(|s| s.contains(abs_ip) && s.executable)
            .ok_or(UsdtError::Segment {
                what: "probe site",
                addr: abs_ip,
                kind: "executable",
            })?;
        let rel_ip = seg.file_offset(abs_ip);
        if let Some(f) = abs_of.as_mut() {
            abs_ip = f(rel_ip)?;
        }
        let sema_off = if note.semaphore != 0 {
            let seg = segments
                .iter()
                .find(|s| s.contains(note.semaphore) && !s.executable)
                .ok_or(UsdtError::Segment {
                    what: "semaphore",
                    addr: note.semaphore,
                    kind: "data",
                })?;
            seg.file_offset(note.semaphore)
        } else {
            0
        };
        out.push(UsdtTarget {
            abs_ip,
            rel_ip,
            sema_off,
            note: note.clone(),
        });
    }
    Ok(out)
}

/// Reads the USDT notes, segments and `.stapsdt.base` of a file.
fn read_file(path: &Path) -> Result<(bool, Vec<UsdtNote>, Vec<Segment>, u64), UsdtError> {
    let elf_err = |source| UsdtError::Elf {
        path: path.to_path_buf(),
        source,
    };
    let unsupported = |reason| UsdtError::UnsupportedElf {
        path: path.to_path_buf(),
        reason,
    };
    let elf = ElfFile::open(path).map_err(elf_err)?;
    if elf.layout() != Layout::NATIVE {
        return Err(unsupported(
            "its ELF class or byte order is not this machine's",
        ));
    }
    if ![object::elf::ET_EXEC, object::elf::ET_DYN].contains(&elf.e_type()) {
        return Err(unsupported(
            "only executables and shared libraries (ET_EXEC, ET_DYN) have USDT probes",
        ));
    }
    let Some(notes) = elf.section_by_name(usdt_spec::NOTE_SECTION).copied() else {
        return Err(UsdtError::NoNotes {
            path: path.to_path_buf(),
        });
    };
    if notes.kind != object::elf::SHT_NOTE {
        return Err(unsupported(".note.stapsdt is not a note section"));
    }
    let data = elf.section_data(&notes).map_err(elf_err)?;
    let notes = usdt_spec::parse_notes(&data, elf.layout(), notes.addralign).map_err(|source| {
        UsdtError::Notes {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let segments = elf.load_segments().map_err(elf_err)?;
    let base = elf
        .section_by_name(usdt_spec::BASE_SECTION)
        .map_or(0, |s| s.addr);
    Ok((elf.is_dyn(), notes, segments, base))
}

/// The attachment of one USDT probe: a uprobe per site, the spec ids they use, and
/// (without BPF cookies) their `__bpf_usdt_ip_to_spec_id` entries. Dropping it
/// detaches the uprobes first, then frees the entries and ids.
#[derive(Debug)]
struct UsdtLink {
    uprobes: Vec<Link>,
    manager: Arc<UsdtManager>,
    spec_ids: Vec<u32>,
    ips: Vec<u64>,
}

impl Attachment for UsdtLink {}

impl Drop for UsdtLink {
    fn drop(&mut self) {
        self.uprobes.clear();
        for ip in &self.ips {
            if let Err(e) = sys::bpf::map_delete_elem(&self.manager.ips.access(), &ip.to_ne_bytes())
            {
                log::warn!("removing {ip:#x} from {IP_MAP}: {}", crate::util::Chain(&e));
            }
        }
        self.manager.release(&self.spec_ids);
    }
}

/// A USDT program: `SEC("usdt[/PATH:PROVIDER:NAME]")` or `SEC("usdt.s/...")`, written
/// with libbpf's `usdt.bpf.h`.
///
/// # Examples
///
/// Attach to probe `myapp:request` of every process running `/usr/bin/myapp`, with a
/// USDT cookie the program reads with `bpf_usdt_cookie()` (needs root):
///
/// ```no_run
/// use corebpf::program::Usdt;
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("requests.bpf.o")?;
/// let usdt = Usdt::try_from(obj.program("on_request").expect("the program"))?;
/// let link = usdt.attach("/usr/bin/myapp", "myapp", "request", None, Some(42))?;
/// println!("attached: {}", link.description());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Usdt<'a> {
    prog: &'a Program,
}

impl<'a> TryFrom<&'a Program> for Usdt<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match prog.kind() {
            ProgramKind::Usdt { .. } => Ok(Usdt { prog }),
            _ => Err(prog.wrong_kind("usdt")),
        }
    }
}

impl Usdt<'_> {
    /// Attaches to every site of probe `provider:name` in `target` (a path, or a bare
    /// library or program name), in every process or only in `pid` (`Some(0)`: this
    /// process), with `cookie` for `bpf_usdt_cookie()`.
    pub fn attach(
        &self,
        target: impl AsRef<Path>,
        provider: &str,
        name: &str,
        pid: Option<u32>,
        cookie: Option<u64>,
    ) -> Result<Link, ProgramError> {
        let target = target.as_ref();
        let pid = match pid {
            Some(0) => Some(std::process::id()),
            p => p,
        };
        let describe = |file: &Path| match pid {
            Some(p) => format!("usdt {}:{provider}:{name} (pid {p})", file.display()),
            None => format!("usdt {}:{provider}:{name}", file.display()),
        };
        let err = |described: String| {
            move |source| ProgramError::Usdt {
                program: self.prog.name().to_string(),
                target: described,
                source: Box::new(source),
            }
        };
        let path = uprobe::resolve_target(target).map_err(|e| err(describe(target))(e.into()))?;
        let described = describe(&path);
        self.attach_resolved(&path, provider, name, pid, cookie.unwrap_or(0), &described)
            .map_err(|e| match e {
                Attach::Usdt(e) => err(described.clone())(e),
                Attach::Program(e) => e,
            })
    }

    fn attach_resolved(
        &self,
        path: &Path,
        provider: &str,
        name: &str,
        pid: Option<u32>,
        cookie: u64,
        described: &str,
    ) -> Result<Link, Attach> {
        let manager = match &self.prog.usdt {
            Some(ctx) => ctx.manager()?.clone(),
            None => return Err(UsdtError::NoUsdtMaps.into()),
        };
        let (is_dyn, notes, segments, base) = read_file(path)?;
        let need_abs = is_dyn && !manager.has_cookie;
        let mut mappings: Option<Vec<Mapping>> = None;
        let mut abs_of = |rel: u64| -> Result<u64, UsdtError> {
            let pid = pid.ok_or(UsdtError::NeedPid)?;
            if mappings.is_none() {
                let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))
                    .map_err(|source| UsdtError::ProcMaps { pid, source })?;
                mappings = Some(exec_mappings(&text, &real));
            }
            mappings
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|m| m.offset <= rel && rel - m.offset < m.end - m.start)
                .map(|m| m.start - m.offset + rel)
                .ok_or_else(|| UsdtError::NotMapped {
                    pid,
                    path: path.to_path_buf(),
                    offset: rel,
                })
        };
        let targets = collect_targets(
            &notes,
            &segments,
            base,
            provider,
            name,
            if need_abs { Some(&mut abs_of) } else { None },
        )?;
        if targets.is_empty() {
            return Err(UsdtError::NoProbe {
                path: path.to_path_buf(),
                provider: provider.to_string(),
                name: name.to_string(),
            }
            .into());
        }
        if targets.iter().any(|t| t.sema_off != 0) && !has_ref_ctr() {
            return Err(UsdtError::NoSemaphoreSupport.into());
        }
        let mut link = UsdtLink {
            uprobes: Vec::with_capacity(targets.len()),
            manager: manager.clone(),
            spec_ids: Vec::new(),
            ips: Vec::new(),
        };
        // Sites with the same argument specification share a spec id.
        let mut by_spec: HashMap<&str, u32> = HashMap::new();
        for t in &targets {
            let id = match by_spec.get(t.note.args.as_str()) {
                Some(&id) => id,
                None => {
                    let id = manager.allocate()?;
                    link.spec_ids.push(id);
                    by_spec.insert(&t.note.args, id);
                    let spec_err = |source| UsdtError::Spec {
                        addr: t.note.location,
                        args: t.note.args.clone(),
                        source,
                    };
                    let args = usdt_spec::parse_args(&t.note.args).map_err(spec_err)?;
                    let value = manager.layout.encode(&args, cookie).map_err(spec_err)?;
                    sys::bpf::map_update_elem(
                        &manager.specs.access(),
                        &id.to_ne_bytes(),
                        &value,
                        sys::bpf::update_flags::ANY,
                    )
                    .map_err(|source| UsdtError::MapUpdate {
                        map: SPECS_MAP,
                        source,
                    })?;
                    id
                }
            };
            if !manager.has_cookie {
                sys::bpf::map_update_elem(
                    &manager.ips.access(),
                    &t.abs_ip.to_ne_bytes(),
                    &id.to_ne_bytes(),
                    sys::bpf::update_flags::NOEXIST,
                )
                .map_err(|source| match source.errno() {
                    libc::EEXIST => UsdtError::IpCollision { ip: t.abs_ip },
                    _ => UsdtError::MapUpdate {
                        map: IP_MAP,
                        source,
                    },
                })?;
                link.ips.push(t.abs_ip);
            }
            let mut opts = UprobeOptions::new()
                .ref_ctr_offset(t.sema_off)
                .cookie(if manager.has_cookie { u64::from(id) } else { 0 });
            opts.pid = pid;
            link.uprobes.push(
                attach_uprobe_offset(self.prog, path, t.rel_ip, &opts).map_err(Attach::Program)?,
            );
        }
        let description = match targets.len() {
            1 => described.to_string(),
            n => format!("{described} ({n} sites)"),
        };
        Ok(Link::from_attachment(Box::new(link), description))
    }
}

/// Why an attach failed: at the USDT level, or attaching one of its uprobes.
enum Attach {
    Usdt(UsdtError),
    Program(ProgramError),
}

impl From<UsdtError> for Attach {
    fn from(e: UsdtError) -> Self {
        Attach::Usdt(e)
    }
}

#[cfg(test)]
mod tests;
