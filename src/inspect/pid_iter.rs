//! Which processes hold descriptors of BPF objects, from a BPF iterator: the embedded
//! `bpf-progs/pid_iter.bpf.o` walks every process's open files in the kernel
//! (`iter/task_file`, 5.8+) and writes one record per descriptor of a program, map or
//! link, as bpftool does. One read replaces a `readlink` per descriptor in `/proc`
//! (about 3 µs each, since proc re-creates the dentry on every lookup).
//!
//! Where the iterator cannot run (no kernel BTF, a kernel before 5.8, a process not
//! allowed to load tracing programs) or cannot be trusted (this process in another
//! pid namespace: the kernel reports global pids), the caller walks `/proc` instead.

use std::io::Read;

use super::procfs::{Held, Kind, LINK};
use crate::program::Iter;
use crate::{Loader, ObjectSpec};

/// The iterator program (built from `bpf-progs/pid_iter.bpf.c`).
static OBJECT: &[u8] = include_bytes!("../../bpf-progs/pid_iter.bpf.o");

/// Bytes of one record: `struct holder` in the program.
const RECORD: usize = 32;

/// One record of the iterator.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    pid: u32,
    kind: u32,
    id: u32,
    comm: String,
}

fn parse(bytes: &[u8]) -> Vec<Record> {
    bytes
        .chunks_exact(RECORD)
        .map(|r| {
            let word = |i: usize| u32::from_ne_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
            let comm = &r[16..];
            let len = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
            Record {
                pid: word(0),
                kind: word(8),
                id: word(12),
                comm: String::from_utf8_lossy(&comm[..len]).into_owned(),
            }
        })
        .collect()
}

/// The descriptors of objects of `kind` held by processes other than this one, in pid
/// order (descriptors of a process in the order the kernel walks them); `None` when
/// the iterator is not available here.
pub(super) fn held_by_others(kind: &Kind) -> Option<Vec<Held>> {
    let records = walk()
        .map_err(|e| log::debug!("holders from /proc, not the iterator: {e}"))
        .ok()?;
    let me = std::process::id();
    Some(
        records
            .into_iter()
            .filter(|r| r.kind == kind.iter_kind && r.pid != me)
            .map(|r| Held {
                pid: r.pid,
                comm: r.comm,
                id: r.id,
            })
            .collect(),
    )
}

/// Loads the iterator, reads one walk, and checks that it saw this process hold the
/// walk's own link under this process's pid.
fn walk() -> Result<Vec<Record>, String> {
    let spec = ObjectSpec::parse(OBJECT, "pid_iter").map_err(|e| e.to_string())?;
    let obj = Loader::new().load(&spec).map_err(|e| e.to_string())?;
    let prog = obj.program("holders").ok_or("no program `holders`")?;
    let iter = Iter::try_from(prog).map_err(|e| e.to_string())?;
    let link = iter.attach().map_err(|e| e.to_string())?;
    let link_id = link.id().map_err(|e| e.to_string())?.ok_or("no link id")?;
    let mut bytes = Vec::new();
    link.open_iter()
        .map_err(|e| e.to_string())?
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    let records = parse(&bytes);
    let me = std::process::id();
    let seen_self = records
        .iter()
        .any(|r| r.kind == LINK.iter_kind && r.id == link_id && r.pid == me);
    if !seen_self {
        return Err("the walk did not show this process under its own pid".into());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On every kernel with `iter/task_file` (5.8) the walk runs, sees this process
    /// under its own pid, and finds exactly the map descriptors `/proc` shows for it.
    #[test]
    fn the_walk_agrees_with_proc_on_this_processs_maps() {
        const T: &str = "the_walk_agrees_with_proc_on_this_processs_maps";
        if !nix::unistd::geteuid().is_root() {
            println!("SKIP: {T}: needs root");
            return;
        }
        if !crate::test_kernel::has(T, (5, 8), "iter/task_file") {
            return;
        }
        let def = crate::map::MapDef::new(crate::map::MapType::ARRAY, 4, 4, 1);
        let maps: Vec<_> = (0..3)
            .map(|i| crate::map::Map::create(&format!("pid_iter_{i}"), &def).expect("map"))
            .collect();
        let records = walk().expect("the iterator walk");
        let me = std::process::id();
        let mut from_iter: Vec<u32> = records
            .iter()
            .filter(|r| r.pid == me && r.kind == super::super::procfs::MAP.iter_kind)
            .map(|r| r.id)
            .collect();
        let mut from_proc: Vec<u32> =
            super::super::procfs::held_by_this_process(&super::super::procfs::MAP)
                .iter()
                .map(|h| h.id)
                .collect();
        from_iter.sort_unstable();
        from_proc.sort_unstable();
        assert_eq!(from_iter, from_proc);
        for m in &maps {
            let id = m.info().expect("map info").id;
            assert!(from_iter.contains(&id), "map {id} not in {from_iter:?}");
        }
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        let mine = records
            .iter()
            .find(|r| r.pid == me)
            .expect("a record of ours");
        assert_eq!(mine.comm, comm.trim_end());
    }

    #[test]
    fn records_parse() {
        let mut r = Vec::new();
        for w in [42u32, 7, 3, 1234] {
            r.extend_from_slice(&w.to_ne_bytes());
        }
        r.extend_from_slice(b"agent\0\0\0\0\0\0\0\0\0\0\0");
        r.extend_from_slice(&[0; 5]); // a cut record is ignored
        assert_eq!(
            parse(&r),
            vec![Record {
                pid: 42,
                kind: 3,
                id: 1234,
                comm: "agent".into()
            }]
        );
    }
}
