//! `uprobe.multi`, `uretprobe.multi` and `uprobe.session` ([`UProbeMulti`]): one
//! program on many locations of one file with a single `BPF_LINK_CREATE`
//! (`BPF_TRACE_UPROBE_MULTI`, 6.6; `BPF_TRACE_UPROBE_SESSION`, 6.13).
//!
//! Locations come from a glob over the file's function symbols (libbpf's
//! `elf_resolve_pattern_offsets`), from function names (`elf_resolve_syms_offsets`), or
//! as file offsets, each with an optional cookie and semaphore reference counter.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::uprobe::{resolve_target, UprobeError};
use super::uprobe_elf::ElfFile;
use super::{Program, ProgramError};
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys;

/// A multi-uprobe program: `SEC("uprobe.multi[/PATH:GLOB]")`,
/// `SEC("uretprobe.multi[/PATH:GLOB]")`, `SEC("uprobe.session[/PATH:GLOB]")` and their
/// sleepable `.s` forms.
///
/// A session program runs at a function's entry and, unless the entry run returned
/// non-zero, at its return too (`bpf_session_is_return()` tells which).
///
/// # Examples
///
/// Count calls of every `pthread_mutex_*` function of libc with one link (needs root
/// and a 6.6+ kernel; `count_locks` is a `SEC("uprobe.multi")` program):
///
/// ```no_run
/// use corebpf::program::UProbeMulti;
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("locks.bpf.o")?;
/// let probe = UProbeMulti::try_from(obj.program("count_locks").expect("the program"))?;
/// let link = probe.attach("libc.so.6", "pthread_mutex_*", None)?;
/// println!("attached: {}", link.description());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UProbeMulti<'a> {
    prog: &'a Program,
    ret: bool,
    session: bool,
}

impl<'a> TryFrom<&'a Program> for UProbeMulti<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match *prog.kind() {
            ProgramKind::UprobeMulti { ret, session, .. } => Ok(UProbeMulti { prog, ret, session }),
            _ => Err(prog.wrong_kind("uprobe.multi")),
        }
    }
}

/// The pid field of an `uprobe_multi` link: 0 is "every process"; libbpf reads a
/// requested pid 0 as the calling process.
fn link_pid(pid: Option<u32>) -> u32 {
    match pid {
        Some(0) => std::process::id(),
        Some(p) => p,
        None => 0,
    }
}

impl UProbeMulti<'_> {
    /// True for `uretprobe.multi`.
    pub fn is_return(&self) -> bool {
        self.ret
    }

    /// True for `uprobe.session`.
    pub fn is_session(&self) -> bool {
        self.session
    }

    fn kind_name(&self) -> &'static str {
        match (self.session, self.ret) {
            (true, _) => "uprobe.session",
            (false, true) => "uretprobe.multi",
            (false, false) => "uprobe.multi",
        }
    }

    fn uerr(&self, target: &str) -> impl Fn(UprobeError) -> ProgramError + '_ {
        let target = target.to_string();
        move |source| ProgramError::Uprobe {
            program: self.prog.name().to_string(),
            target: target.clone(),
            source: Box::new(source),
        }
    }

    fn resolve(&self, target: &Path) -> Result<PathBuf, ProgramError> {
        resolve_target(target).map_err(self.uerr(&format!(
            "{} {}",
            self.kind_name(),
            target.display()
        )))
    }

    /// Attaches to every function of `target` whose name matches glob `pattern`, in
    /// every process or only in `pid` (`Some(0)`: this process).
    pub fn attach(
        &self,
        target: impl AsRef<Path>,
        pattern: &str,
        pid: Option<u32>,
    ) -> Result<Link, ProgramError> {
        let path = self.resolve(target.as_ref())?;
        let described = format!("{} {}:{pattern}", self.kind_name(), path.display());
        let sym_err = |source| UprobeError::Symbol {
            path: path.clone(),
            function: pattern.to_string(),
            source,
        };
        let found = ElfFile::open(&path)
            .and_then(|elf| elf.matching_functions(pattern))
            .map_err(|e| self.uerr(&described)(sym_err(e)))?;
        let offsets: Vec<u64> = found.iter().map(|&(_, off)| off).collect();
        self.link(&path, &offsets, None, None, pid, described)
    }

    /// Attaches to the functions `functions` of `target` (exact names), with a cookie
    /// for each when `cookies` is given.
    pub fn attach_functions(
        &self,
        target: impl AsRef<Path>,
        functions: &[&str],
        cookies: Option<&[u64]>,
        pid: Option<u32>,
    ) -> Result<Link, ProgramError> {
        let path = self.resolve(target.as_ref())?;
        let described = match functions {
            [one] => format!("{} {}:{one}", self.kind_name(), path.display()),
            _ => format!(
                "{} {} ({} functions)",
                self.kind_name(),
                path.display(),
                functions.len()
            ),
        };
        if functions.is_empty() {
            return Err(self.uerr(&described)(UprobeError::NoLocations));
        }
        let offsets = ElfFile::open(&path)
            .and_then(|elf| elf.function_offsets(functions))
            .map_err(|source| {
                self.uerr(&described)(UprobeError::Symbol {
                    path: path.clone(),
                    function: functions.join(", "),
                    source,
                })
            })?;
        self.link(&path, &offsets, None, cookies, pid, described)
    }

    /// Attaches to file offsets `offsets` of `target`, each with its semaphore's
    /// reference counter offset and its cookie when those are given (libbpf's
    /// `bpf_program__attach_uprobe_multi` with `offsets`).
    pub fn attach_offsets(
        &self,
        target: impl AsRef<Path>,
        offsets: &[u64],
        ref_ctr_offsets: Option<&[u64]>,
        cookies: Option<&[u64]>,
        pid: Option<u32>,
    ) -> Result<Link, ProgramError> {
        let path = self.resolve(target.as_ref())?;
        let described = format!(
            "{} {} ({} offsets)",
            self.kind_name(),
            path.display(),
            offsets.len()
        );
        self.link(&path, offsets, ref_ctr_offsets, cookies, pid, described)
    }

    fn link(
        &self,
        path: &Path,
        offsets: &[u64],
        ref_ctr_offsets: Option<&[u64]>,
        cookies: Option<&[u64]>,
        pid: Option<u32>,
        described: String,
    ) -> Result<Link, ProgramError> {
        let uerr = self.uerr(&described);
        if offsets.is_empty() {
            return Err(uerr(UprobeError::NoLocations));
        }
        for (what, v) in [
            ("cookies", cookies),
            ("reference counters", ref_ctr_offsets),
        ] {
            if let Some(v) = v.filter(|v| v.len() != offsets.len()) {
                return Err(uerr(UprobeError::CountMismatch {
                    what,
                    got: v.len(),
                    want: offsets.len(),
                }));
            }
        }
        let cpath = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| uerr(UprobeError::BadPath(path.to_path_buf())))?;
        let (attach_type, flags) = match (self.session, self.ret) {
            (true, _) => (sys::bpf::attach_type::TRACE_UPROBE_SESSION, 0),
            (false, true) => (
                sys::bpf::attach_type::TRACE_UPROBE_MULTI,
                sys::bpf::UPROBE_MULTI_RETURN,
            ),
            (false, false) => (sys::bpf::attach_type::TRACE_UPROBE_MULTI, 0),
        };
        let targets = sys::bpf::UprobeMultiTargets {
            path: &cpath,
            offsets,
            ref_ctr_offsets,
            cookies,
            pid: link_pid(pid),
        };
        let fd = sys::bpf::link_create_uprobe_multi(self.prog.fd(), attach_type, flags, &targets)
            .map_err(|source| ProgramError::Attach {
            program: self.prog.name().to_string(),
            target: described.clone(),
            source,
        })?;
        let description = match pid {
            Some(p) => format!("{described} (pid {})", link_pid(Some(p))),
            None => described,
        };
        Ok(Link::from_link_fd(fd, description))
    }
}
