//! Which processes hold descriptors of BPF objects, from `/proc`: for every process,
//! the link target of each descriptor (`anon_inode:bpf-prog`, `anon_inode:bpf-map`,
//! `anon_inode:bpf_link`), then the id of the matching ones only. The id comes from
//! a duplicate of the descriptor (`pidfd_getfd`, 5.6+) asked with
//! `BPF_OBJ_GET_INFO_BY_FD`: about 3× cheaper than opening, formatting and reading
//! its `/proc/PID/fdinfo` (250 descriptors: 0.22 ms against 0.75 ms, measured), which
//! stays the way where `pidfd_getfd` is missing or refused.
//!
//! Processes that vanish meanwhile, or that this process may not inspect, are skipped.
//! On a system with many open files the other processes' descriptors come from a BPF
//! iterator instead ([`super::pid_iter`]); this process's own always from `/proc/self`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::readlinkat;

use super::prog::Holder;
use crate::sys;

/// One descriptor of a BPF object held by a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Held {
    pub pid: u32,
    pub comm: String,
    /// The object's id.
    pub id: u32,
}

/// What a kind of BPF object is called in `/proc`, and how to read its id.
pub(super) struct Kind {
    /// `prog`, `map` or `link`: the link target is `anon_inode:bpf-NAME` (or `bpf_NAME`).
    pub name: &'static str,
    /// The `fdinfo` line with the id: `prog_id`, `map_id`, `link_id`.
    pub fdinfo_key: &'static str,
    /// The id of a descriptor of this kind, from the kernel.
    pub id_of: fn(BorrowedFd<'_>) -> Option<u32>,
    /// The kind in the records of `bpf-progs/pid_iter.bpf.c`.
    pub iter_kind: u32,
}

/// Programs.
pub(super) const PROG: Kind = Kind {
    name: "prog",
    iter_kind: 1,
    fdinfo_key: "prog_id",
    id_of: |fd| sys::bpf::prog_info(fd).ok().map(|i| i.id),
};

/// Maps.
pub(super) const MAP: Kind = Kind {
    name: "map",
    iter_kind: 2,
    fdinfo_key: "map_id",
    id_of: |fd| sys::bpf::map_info(fd).ok().map(|i| i.id),
};

/// Links.
pub(super) const LINK: Kind = Kind {
    name: "link",
    iter_kind: 3,
    fdinfo_key: "link_id",
    id_of: |fd| sys::bpf::link_info(fd).ok().map(|i| i.id),
};

/// Every descriptor of BPF objects of `kind` in every process, with its object's id,
/// in `/proc` order.
pub(super) fn held(kind: &Kind) -> Vec<Held> {
    in_pid_order(held_in(kind, Procs::ThisOne), held_by_others(kind))
}

/// This process's descriptors and the others', together in /proc (pid) order; the
/// sort is stable, so each process's descriptors keep theirs.
fn in_pid_order(mut own: Vec<Held>, others: Vec<Held>) -> Vec<Held> {
    own.extend(others);
    own.sort_by_key(|h| h.pid);
    own
}

/// Open files in the whole system above which the BPF iterator finds the holders
/// faster than `/proc`: a walk of `/proc` costs about 3 µs per descriptor, the
/// iterator about 3.5 ms in a fresh process (most of it reading the kernel's BTF for
/// its relocations), measured on 6.18.
const ITER_ABOVE_FILES: u64 = 1_000;

/// The descriptors of processes other than this one: from the BPF iterator when the
/// system has many open files and the iterator runs here, else from `/proc`.
fn held_by_others(kind: &Kind) -> Vec<Held> {
    let many = read_small("/proc/sys/fs/file-nr")
        .and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok())
        .is_some_and(|n| n > ITER_ABOVE_FILES);
    let from_iter = if many {
        super::pid_iter::held_by_others(kind)
    } else {
        None
    };
    from_iter.unwrap_or_else(|| held_in(kind, Procs::Others))
}

/// This process's own descriptors of BPF objects of `kind`, from `/proc/self`.
#[cfg(test)]
pub(super) fn held_by_this_process(kind: &Kind) -> Vec<Held> {
    held_in(kind, Procs::ThisOne)
}

/// Which processes a walk of `/proc` looks at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Procs {
    ThisOne,
    Others,
}

fn held_in(kind: &Kind, procs: Procs) -> Vec<Held> {
    let mut out = Vec::new();
    let targets = [
        format!("anon_inode:bpf-{}", kind.name),
        format!("anon_inode:bpf_{}", kind.name),
    ];
    let me = std::process::id();
    if procs == Procs::ThisOne {
        held_by(me, kind, &targets, &mut out);
        return out;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for p in entries.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid != me {
            held_by(pid, kind, &targets, &mut out);
        }
    }
    out
}

/// The descriptors of process `pid` whose link target is one of `targets`.
fn held_by(pid: u32, kind: &Kind, targets: &[String; 2], out: &mut Vec<Held>) {
    let dir_path = format!("/proc/{pid}/fd");
    let (Ok(dir), Ok(fds)) = (File::open(&dir_path), fs::read_dir(&dir_path)) else {
        return;
    };
    let mut comm: Option<String> = None;
    let mut pidfd: Option<Option<OwnedFd>> = None;
    for fd in fds.flatten() {
        // Relative to the open directory: no walk of /proc/PID per descriptor.
        let target = match readlinkat(Some(dir.as_raw_fd()), fd.file_name().as_os_str()) {
            Ok(t) => t,
            // Not ours to inspect (another user namespace, pid 1 here): no
            // descriptor of this process will be.
            Err(Errno::EACCES | Errno::EPERM) => break,
            Err(_) => continue,
        };
        if !targets.iter().any(|t| target == t.as_str()) {
            continue;
        }
        let Some(number) = fd.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let pidfd = pidfd.get_or_insert_with(|| sys::pidfd_open(pid).ok());
        let Some(id) =
            id_by_dup(pidfd.as_ref(), number, kind).or_else(|| id_by_fdinfo(pid, number, kind))
        else {
            continue;
        };
        let comm = comm.get_or_insert_with(|| {
            read_small(&format!("/proc/{pid}/comm"))
                .map(|s| s.trim_end().to_owned())
                .unwrap_or_default()
        });
        out.push(Held {
            pid,
            comm: comm.clone(),
            id,
        });
    }
}

/// Runs `work` on another thread while this one finds the descriptors of `kind` held by
/// other processes (from `/proc` or the BPF iterator, which need nothing from `work`);
/// returns both, the descriptors as [`held`] gives them. This process's own
/// descriptors are read first, before `work` opens and closes some of its own. The
/// longer task (the holders, on a busy system) stays on the running thread: a new
/// thread may wait a millisecond or more for a CPU. Where no thread can be started
/// the two run one after the other.
pub(super) fn held_alongside<T: Send>(kind: &Kind, work: impl Fn() -> T + Sync) -> (T, Vec<Held>) {
    let own = held_in(kind, Procs::ThisOne);
    let (done, others) = std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("corebpf-list".into())
            .spawn_scoped(s, &work);
        let others = held_by_others(kind);
        let done = match spawned.map(|h| h.join()) {
            Ok(Ok(done)) => done,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // Not started: work here.
            Err(_) => work(),
        };
        (done, others)
    });
    (done, in_pid_order(own, others))
}

/// The processes holding objects, by object id, each process once per id, in the
/// order of `held`.
pub(super) fn by_id(held: Vec<Held>) -> BTreeMap<u32, Vec<Holder>> {
    let mut by_id: BTreeMap<u32, Vec<Holder>> = BTreeMap::new();
    for held in held {
        let list = by_id.entry(held.id).or_default();
        if !list.iter().any(|h| h.pid == held.pid) {
            list.push(Holder {
                pid: held.pid,
                comm: held.comm,
            });
        }
    }
    by_id
}

/// The processes holding objects of `kind`, by object id, each process once per id,
/// in `/proc` order.
pub(super) fn holders_by_id(kind: &Kind) -> BTreeMap<u32, Vec<Holder>> {
    by_id(held(kind))
}

/// The id of descriptor `number` of the process behind `pidfd`, from a duplicate.
fn id_by_dup(pidfd: Option<&OwnedFd>, number: RawFd, kind: &Kind) -> Option<u32> {
    let dup = sys::pidfd_getfd(pidfd?.as_fd(), number).ok()?;
    (kind.id_of)(dup.as_fd())
}

/// The id of descriptor `number` of process `pid`, from its `fdinfo`.
fn id_by_fdinfo(pid: u32, number: RawFd, kind: &Kind) -> Option<u32> {
    let text = read_small(&format!("/proc/{pid}/fdinfo/{number}"))?;
    fdinfo_value(&text, kind.fdinfo_key)
}

/// The text of a small `/proc` file (at most 64 KiB), read without the size probe
/// `fs::read_to_string` makes first: a `statx` per file that procfs answers with 0
/// anyway. With 500 program descriptors in one process that probe was 500 syscalls
/// of `prog list`.
fn read_small(path: &str) -> Option<String> {
    const LIMIT: usize = 64 << 10;
    let mut file = File::open(path).ok()?;
    let mut text = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    while text.len() < LIMIT {
        let n = file.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(text).ok()
}

/// The number after `key:` in an fdinfo text.
pub(super) fn fdinfo_value(text: &str, key: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_value_finds_the_key() {
        let t = "pos:\t0\nflags:\t02000002\nprog_type:\t1\nprog_id:\t42\n";
        assert_eq!(fdinfo_value(t, "prog_id"), Some(42));
        assert_eq!(fdinfo_value(t, "map_id"), None);
        assert_eq!(fdinfo_value("prog_id:\tx\n", "prog_id"), None);
    }

    #[test]
    fn fdinfo_and_duplicate_agree_on_this_processs_map() {
        let Ok(map) = crate::map::Map::create(
            "procfs_test",
            &crate::map::MapDef::new(crate::map::MapType::ARRAY, 4, 4, 1),
        ) else {
            eprintln!("SKIP: cannot create a map (not root?)");
            return;
        };
        let id = sys::bpf::map_info(map.fd()).expect("map info").id;
        let me = std::process::id();
        let number = map.fd().as_raw_fd();
        assert_eq!(id_by_fdinfo(me, number, &MAP), Some(id));
        let pidfd = sys::pidfd_open(me).ok();
        match id_by_dup(pidfd.as_ref(), number, &MAP) {
            Some(got) => assert_eq!(got, id),
            None => eprintln!("NOTE: pidfd_getfd unavailable; fdinfo alone checked"),
        }
        let held = held(&MAP);
        assert!(
            held.iter().any(|h| h.pid == me && h.id == id),
            "map {id} of process {me} not among {held:?}"
        );
    }

    #[test]
    fn small_files_read_whole() {
        let comm = read_small("/proc/self/comm").expect("/proc/self/comm");
        assert_eq!(comm, fs::read_to_string("/proc/self/comm").unwrap());
        assert_eq!(read_small("/proc/self/no-such-file"), None);
    }
}
