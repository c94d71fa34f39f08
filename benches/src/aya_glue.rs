//! Loading every program of an object with aya, which loads programs one by one through
//! their typed handles (BTF-typed ones need the attach target and the kernel BTF).

use std::collections::HashMap;
use std::os::fd::{BorrowedFd, OwnedFd};

use aya::maps::{Map, MapData};
use aya::programs::Program;
use aya::{Btf, Ebpf, EbpfLoader};

use crate::measure::Result;

/// An object loaded by aya: maps created, every program loaded.
pub struct Loaded {
    /// Holds the maps and programs (dropping it unloads them).
    #[allow(dead_code)]
    pub ebpf: Ebpf,
    pub programs: usize,
}

/// `EbpfLoader::load` with `btf`, then `load()` on every program. `targets` maps a
/// BTF-typed program's name to its attach target (the part of its section after `/`).
pub fn load_all(data: &[u8], btf: &Btf, targets: &HashMap<String, String>) -> Result<Loaded> {
    let mut ebpf = EbpfLoader::new()
        .btf(Some(btf))
        .load(data)
        .map_err(|e| format!("aya EbpfLoader::load: {e}"))?;
    let mut programs = 0;
    for (name, prog) in ebpf.programs_mut() {
        let target = || {
            targets
                .get(name)
                .map(String::as_str)
                .ok_or_else(|| format!("aya: no attach target for {name}"))
        };
        let r = match prog {
            Program::KProbe(p) => p.load(),
            Program::TracePoint(p) => p.load(),
            Program::SocketFilter(p) => p.load(),
            Program::Xdp(p) => p.load(),
            Program::SockOps(p) => p.load(),
            Program::SchedClassifier(p) => p.load(),
            Program::CgroupSkb(p) => p.load(),
            Program::CgroupSock(p) => p.load(),
            Program::PerfEvent(p) => p.load(),
            Program::RawTracePoint(p) => p.load(),
            Program::BtfTracePoint(p) => p.load(target()?, btf),
            Program::FEntry(p) => p.load(target()?, btf),
            Program::FExit(p) => p.load(target()?, btf),
            Program::Lsm(p) => p.load(target()?, btf),
            _ => {
                return Err(format!(
                    "aya: program {name}: kind not handled by the benchmark"
                ))
            }
        };
        r.map_err(|e| format!("aya: loading {name}: {e}"))?;
        programs += 1;
    }
    Ok(Loaded { ebpf, programs })
}

/// aya's view of an existing map, from a duplicate of its fd.
pub fn map_from_fd(fd: BorrowedFd<'_>) -> Result<MapData> {
    let owned: OwnedFd = fd
        .try_clone_to_owned()
        .map_err(|e| format!("dup map fd: {e}"))?;
    MapData::from_fd(owned).map_err(|e| format!("aya MapData::from_fd: {e}"))
}

/// aya's ring buffer over an existing ringbuf map.
pub fn ring_buf(fd: BorrowedFd<'_>) -> Result<aya::maps::RingBuf<MapData>> {
    aya::maps::RingBuf::try_from(Map::RingBuf(map_from_fd(fd)?))
        .map_err(|e| format!("aya RingBuf: {e}"))
}

/// aya's typed hash map over an existing `u32 -> u64` hash map.
pub fn hash_map(fd: BorrowedFd<'_>) -> Result<aya::maps::HashMap<MapData, u32, u64>> {
    aya::maps::HashMap::try_from(Map::HashMap(map_from_fd(fd)?))
        .map_err(|e| format!("aya HashMap: {e}"))
}
