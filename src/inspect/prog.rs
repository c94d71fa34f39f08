//! Programs the kernel holds, whoever loaded them (bpftool's `prog list` / `prog show`).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::features::ProgramType;
use crate::sys::bpf::{self as sysbpf, ProgInfo};
use crate::sys::SysError;

/// Errors from listing or reading the kernel's programs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramInspectError {
    /// `BPF_PROG_GET_FD_BY_ID` failed (`ENOENT`: no program with this id; `EPERM`:
    /// needs `CAP_SYS_ADMIN`).
    #[error("opening program {id}")]
    Open {
        /// The id asked for.
        id: u32,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// Listing the ids or reading a program's info failed.
    #[error("reading program {id}")]
    Read {
        /// The program's id (0 while listing from the start).
        id: u32,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// Opening a pinned path failed.
    #[error("opening pinned object {}", path.display())]
    Pin {
        /// The path.
        path: PathBuf,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// The pinned object is not a program.
    #[error("{} is a pinned {kind}, not a program", path.display())]
    NotAProgram {
        /// The path.
        path: PathBuf,
        /// What it is (`map`, `link`, …).
        kind: String,
    },
}

/// A process holding a descriptor of a program or link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// The process's command name (`/proc/PID/comm`).
    pub comm: String,
}

/// A program the kernel holds, with its info and map ids read back.
///
/// # Examples
///
/// ```no_run
/// use corebpf::inspect;
///
/// for prog in inspect::programs() {
///     let prog = prog?;
///     println!("{}: {} {} tag {}", prog.id(), prog.program_type(), prog.name(), prog.tag());
/// }
/// # Ok::<(), corebpf::inspect::ProgramInspectError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ProgramInfo {
    info: ProgInfo,
    map_ids: Vec<u32>,
}

impl ProgramInfo {
    /// Reads the program with id `id` (`BPF_PROG_GET_FD_BY_ID`, needs `CAP_SYS_ADMIN`).
    pub fn from_id(id: u32) -> Result<ProgramInfo, ProgramInspectError> {
        let fd = sysbpf::prog_get_fd_by_id(id)
            .map_err(|source| ProgramInspectError::Open { id, source })?;
        Self::from_fd(&fd, id)
    }

    /// Reads the program pinned at `path` on a bpffs.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<ProgramInfo, ProgramInspectError> {
        let path = path.as_ref();
        let fd = sysbpf::obj_get(path, 0).map_err(|source| ProgramInspectError::Pin {
            path: path.to_owned(),
            source,
        })?;
        let kind = fd_kind(&fd);
        if kind != "prog" {
            return Err(ProgramInspectError::NotAProgram {
                path: path.to_owned(),
                kind,
            });
        }
        Self::from_fd(&fd, 0)
    }

    fn from_fd(fd: &OwnedFd, id: u32) -> Result<ProgramInfo, ProgramInspectError> {
        let (info, map_ids) = sysbpf::prog_info_and_map_ids(fd.as_fd())
            .map_err(|source| ProgramInspectError::Read { id, source })?;
        Ok(ProgramInfo { info, map_ids })
    }

    /// The raw `bpf_prog_info` (scalar fields only).
    pub fn raw(&self) -> &ProgInfo {
        &self.info
    }

    /// Program id.
    pub fn id(&self) -> u32 {
        self.info.id
    }

    /// Program name (up to 15 bytes, as the kernel keeps it).
    pub fn name(&self) -> String {
        self.info.name()
    }

    /// Program type.
    pub fn program_type(&self) -> ProgramType {
        ProgramType(self.info.type_)
    }

    /// The tag (hash of the instructions) as 16 hex digits, as bpftool prints it.
    pub fn tag(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(2 * self.info.tag.len());
        for b in self.info.tag {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
        }
        s
    }

    /// Whether the license is GPL-compatible.
    pub fn gpl_compatible(&self) -> bool {
        self.info.is_gpl_compatible()
    }

    /// Load time, since boot.
    pub fn loaded_since_boot(&self) -> Duration {
        Duration::from_nanos(self.info.load_time)
    }

    /// Load time as wall-clock time (boot time from `CLOCK_BOOTTIME`); `None` when
    /// that clock cannot be read.
    pub fn loaded_at(&self) -> Option<SystemTime> {
        let boot = boot_time()?;
        boot.checked_add(self.loaded_since_boot())
    }

    /// Uid of the loading process.
    pub fn uid(&self) -> u32 {
        self.info.created_by_uid
    }

    /// Size of the translated instructions, in bytes.
    pub fn xlated_len(&self) -> u32 {
        self.info.xlated_prog_len
    }

    /// Size of the JITed image, in bytes (0 when not JITed).
    pub fn jited_len(&self) -> u32 {
        self.info.jited_prog_len
    }

    /// Ids of the maps the program uses.
    pub fn map_ids(&self) -> &[u32] {
        &self.map_ids
    }

    /// Id of the program's BTF object, if it has one.
    pub fn btf_id(&self) -> Option<u32> {
        (self.info.btf_id != 0).then_some(self.info.btf_id)
    }

    /// Total run time and run count, when `kernel.bpf_stats_enabled` is (or was) on and
    /// the program ran.
    pub fn run_stats(&self) -> Option<(Duration, u64)> {
        (self.info.run_cnt != 0 || self.info.run_time_ns != 0).then_some((
            Duration::from_nanos(self.info.run_time_ns),
            self.info.run_cnt,
        ))
    }

    /// Instructions processed by the verifier (5.16+; 0 before).
    pub fn verified_insns(&self) -> u32 {
        self.info.verified_insns
    }
}

/// Every program the kernel holds, in id order (`BPF_PROG_GET_NEXT_ID`). A program
/// unloaded between listing and opening is skipped.
pub fn programs() -> impl Iterator<Item = Result<ProgramInfo, ProgramInspectError>> {
    let mut last = Some(0u32);
    std::iter::from_fn(move || loop {
        let start = last?;
        match sysbpf::prog_get_next_id(start) {
            Ok(None) => {
                last = None;
                return None;
            }
            Ok(Some(id)) => {
                last = Some(id);
                match ProgramInfo::from_id(id) {
                    Err(ProgramInspectError::Open { source, .. })
                        if source.errno() == libc::ENOENT =>
                    {
                        continue
                    }
                    r => return Some(r),
                }
            }
            Err(source) => {
                last = None;
                return Some(Err(ProgramInspectError::Read { id: start, source }));
            }
        }
    })
}

/// Every program the kernel holds ([`programs`]) and the processes holding each
/// ([`holders`]), the `/proc` walk running on a second thread meanwhile: what
/// `corebpf prog list` prints. The first error ends the listing.
///
/// # Examples
///
/// ```no_run
/// let (progs, holders) = corebpf::inspect::prog::list_with_holders()?;
/// for p in &progs {
///     let pids = holders.get(&p.id()).map_or(0, Vec::len);
///     println!("{} {} held by {pids} processes", p.id(), p.name());
/// }
/// # Ok::<(), corebpf::inspect::ProgramInspectError>(())
/// ```
#[allow(clippy::type_complexity)]
pub fn list_with_holders(
) -> Result<(Vec<ProgramInfo>, HashMap<u32, Vec<Holder>>), ProgramInspectError> {
    let (progs, held) = super::procfs::held_alongside(&super::procfs::PROG, || {
        programs().collect::<Result<Vec<_>, _>>()
    });
    let holders = super::procfs::by_id(held).into_iter().collect();
    Ok((progs?, holders))
}

/// The processes holding a descriptor of each program, by program id, from `/proc`
/// (each descriptor's id read from a duplicate, or its `fdinfo` before 5.6). Processes
/// that cannot be read are skipped.
pub fn holders() -> HashMap<u32, Vec<Holder>> {
    super::procfs::holders_by_id(&super::procfs::PROG)
        .into_iter()
        .collect()
}

/// What a BPF descriptor refers to (`prog`, `map`, `link`, `btf`, …), from its
/// `/proc/self/fd` link target `anon_inode:bpf-KIND`.
pub(super) fn fd_kind(fd: &OwnedFd) -> String {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    match target {
        Ok(t) => {
            let t = t.to_string_lossy();
            t.strip_prefix("anon_inode:bpf-")
                .or_else(|| t.strip_prefix("anon_inode:bpf_"))
                .unwrap_or(&t)
                .to_owned()
        }
        Err(_) => "unknown object".to_owned(),
    }
}

/// Wall-clock time of boot: now minus `CLOCK_BOOTTIME`, the clock of `load_time`.
/// (Read from the clock, not `/proc/uptime`: `prog list` asks once per program, and
/// with 500 programs the file cost 1,250 syscalls.)
fn boot_time() -> Option<SystemTime> {
    let up = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let up = Duration::new(u64::try_from(up.tv_sec()).ok()?, up.tv_nsec() as u32);
    SystemTime::now().checked_sub(up)
}
