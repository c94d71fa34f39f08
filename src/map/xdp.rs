//! Redirect targets of XDP programs: [`DevMap`], [`DevMapHash`] (network devices),
//! [`CpuMap`] (CPUs), [`XskMap`] (AF_XDP sockets).

use std::os::fd::{AsFd, AsRawFd};

use super::array::bound;
use super::iter::TypedKeys;
use super::typed::{check_type, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::program::Program;

/// A device map entry: the device, and the XDP program (if any) that runs on a frame
/// after it is redirected there (a map of 8-byte values, 5.8+).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevMapValue {
    /// Interface index of the device.
    pub ifindex: u32,
    /// Id of the program run on redirected frames (when reading), if any.
    pub prog_id: Option<u32>,
}

/// The bytes of a devmap/cpumap value: `first`, then the program's fd where the map's
/// values have room for it.
fn value_with_prog(map: &Map, first: u32, prog: Option<&Program>) -> Result<Vec<u8>, MapError> {
    let mut v = first.to_ne_bytes().to_vec();
    match (map.def.value_size, prog) {
        (4, None) => {}
        (8, p) => {
            let fd = p.map_or(-1, |p| p.fd().as_raw_fd());
            v.extend_from_slice(&fd.to_ne_bytes());
        }
        (got, _) => {
            return Err(MapError::WrongSize {
                map: map.name.clone(),
                what: "value (with a program, 8)",
                got: got as usize,
                expected: 8,
            })
        }
    }
    Ok(v)
}

/// Decodes `(first, program id)` of a devmap/cpumap value.
fn read_with_prog(map: &Map, key: &[u8]) -> Result<Option<(u32, Option<u32>)>, MapError> {
    let mut v = vec![0u8; map.value_buf_size()];
    if !map.lookup_into(key, &mut v, MapFlags::ANY)? {
        return Ok(None);
    }
    let word = |i: usize| {
        v.get(i * 4..i * 4 + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let first = word(0).unwrap_or(0);
    Ok(Some((first, word(1).filter(|&id| id != 0))))
}

/// Checks a map of 4- or 8-byte values keyed by `u32`.
fn check_redirect(map: &Map, t: MapType, name: &'static str) -> Result<(), MapError> {
    check_type(map, &[t], name)?;
    map.check("key", 4, map.def.key_size)?;
    if map.def.value_size != 4 {
        map.check("value", map.def.value_size as usize, 8)?;
    }
    Ok(())
}

/// A device map (`BPF_MAP_TYPE_DEVMAP`): slot `i` names the device
/// `bpf_redirect_map(&map, i, 0)` sends a frame to.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{DevMap, Map, MapDef, MapType};
///
/// let map = Map::create("tx_ports", &MapDef::new(MapType::DEVMAP, 4, 8, 4))?;
/// let ports: DevMap = (&map).try_into()?;
/// ports.set(0, 1, None)?; // slot 0 → ifindex 1 (lo)
/// assert_eq!(ports.get(0)?.map(|v| v.ifindex), Some(1));
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct DevMap<'a> {
    map: &'a Map,
}

typed_view!(DevMap, |map| check_redirect(map, MapType::DEVMAP, "devmap"));

impl DevMap<'_> {
    /// Sends frames redirected to slot `index` to device `ifindex`, running `prog`
    /// on them first when given (the map's values must be 8 bytes then).
    pub fn set(&self, index: u32, ifindex: u32, prog: Option<&Program>) -> Result<(), MapError> {
        bound(self.map, index)?;
        let v = value_with_prog(self.map, ifindex, prog)?;
        self.map.update(&index.to_ne_bytes(), &v, MapFlags::ANY)
    }

    /// The device of slot `index`, if set.
    pub fn get(&self, index: u32) -> Result<Option<DevMapValue>, MapError> {
        bound(self.map, index)?;
        Ok(read_with_prog(self.map, &index.to_ne_bytes())?
            .map(|(ifindex, prog_id)| DevMapValue { ifindex, prog_id }))
    }

    /// Empties slot `index`; false when it was empty.
    pub fn remove(&self, index: u32) -> Result<bool, MapError> {
        bound(self.map, index)?;
        self.map.delete(&index.to_ne_bytes())
    }
}

/// A device hash map (`BPF_MAP_TYPE_DEVMAP_HASH`, 5.4+): as [`DevMap`], keyed by any
/// `u32` (commonly the ifindex itself).
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{DevMapHash, Map, MapDef, MapType};
///
/// let map = Map::create("by_if", &MapDef::new(MapType::DEVMAP_HASH, 4, 4, 64))?;
/// let by_if: DevMapHash = (&map).try_into()?;
/// by_if.set(1, 1, None)?;
/// for key in by_if.keys() {
///     println!("{}", key?);
/// }
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct DevMapHash<'a> {
    map: &'a Map,
}

typed_view!(DevMapHash, |map| check_redirect(
    map,
    MapType::DEVMAP_HASH,
    "devmap_hash"
));

impl DevMapHash<'_> {
    /// Sends frames redirected to `key` to device `ifindex` (running `prog` first).
    pub fn set(&self, key: u32, ifindex: u32, prog: Option<&Program>) -> Result<(), MapError> {
        let v = value_with_prog(self.map, ifindex, prog)?;
        self.map.update(&key.to_ne_bytes(), &v, MapFlags::ANY)
    }

    /// The device of `key`, if set.
    pub fn get(&self, key: u32) -> Result<Option<DevMapValue>, MapError> {
        Ok(read_with_prog(self.map, &key.to_ne_bytes())?
            .map(|(ifindex, prog_id)| DevMapValue { ifindex, prog_id }))
    }

    /// Removes `key`; false when absent.
    pub fn remove(&self, key: u32) -> Result<bool, MapError> {
        self.map.delete(&key.to_ne_bytes())
    }

    /// Every key.
    pub fn keys(&self) -> TypedKeys<'_, u32> {
        TypedKeys::new(self.map)
    }
}

/// A CPU map entry: the queue size, and the program (if any) run on the target CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuMapValue {
    /// Frames the CPU's queue holds.
    pub qsize: u32,
    /// Id of the program run on redirected frames (when reading), if any.
    pub prog_id: Option<u32>,
}

/// A CPU map (`BPF_MAP_TYPE_CPUMAP`): slot `i` is CPU `i`, to which
/// `bpf_redirect_map(&map, i, 0)` hands frames for processing.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{CpuMap, Map, MapDef, MapType};
///
/// let map = Map::create("cpus", &MapDef::new(MapType::CPUMAP, 4, 8, 2))?;
/// let cpus: CpuMap = (&map).try_into()?;
/// cpus.set(1, 192, None)?;
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct CpuMap<'a> {
    map: &'a Map,
}

typed_view!(CpuMap, |map| check_redirect(map, MapType::CPUMAP, "cpumap"));

impl CpuMap<'_> {
    /// Enables CPU `cpu` with a queue of `qsize` frames, running `prog` there first
    /// when given (8-byte values, 5.9+).
    pub fn set(&self, cpu: u32, qsize: u32, prog: Option<&Program>) -> Result<(), MapError> {
        bound(self.map, cpu)?;
        let v = value_with_prog(self.map, qsize, prog)?;
        self.map.update(&cpu.to_ne_bytes(), &v, MapFlags::ANY)
    }

    /// CPU `cpu`'s entry, if enabled.
    pub fn get(&self, cpu: u32) -> Result<Option<CpuMapValue>, MapError> {
        bound(self.map, cpu)?;
        Ok(read_with_prog(self.map, &cpu.to_ne_bytes())?
            .map(|(qsize, prog_id)| CpuMapValue { qsize, prog_id }))
    }

    /// Disables CPU `cpu`; false when it was not enabled.
    pub fn remove(&self, cpu: u32) -> Result<bool, MapError> {
        bound(self.map, cpu)?;
        self.map.delete(&cpu.to_ne_bytes())
    }
}

/// An AF_XDP socket map (`BPF_MAP_TYPE_XSKMAP`): slot `i` is the socket
/// `bpf_redirect_map(&map, i, 0)` delivers frames to (commonly one per queue).
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::XskMap;
/// # fn main() -> Result<(), corebpf::MapError> {
/// # let map: corebpf::Map = unimplemented!();
/// # let xsk_socket: std::os::fd::OwnedFd = unimplemented!();
/// let sockets: XskMap = (&map).try_into()?;
/// sockets.set(0, &xsk_socket)?;
/// # Ok(())
/// # }
/// ```
pub struct XskMap<'a> {
    map: &'a Map,
}

typed_view!(XskMap, |map| {
    check_type(map, &[MapType::XSKMAP], "xskmap")?;
    map.check("key", 4, map.def.key_size)?;
    map.check("value", 4, map.def.value_size)
});

impl XskMap<'_> {
    /// Delivers frames redirected to slot `index` to the AF_XDP socket `socket`.
    pub fn set(&self, index: u32, socket: impl AsFd) -> Result<(), MapError> {
        bound(self.map, index)?;
        let fd = socket.as_fd().as_raw_fd().to_ne_bytes();
        self.map.update(&index.to_ne_bytes(), &fd, MapFlags::ANY)
    }

    /// Empties slot `index`; false when it was empty.
    pub fn remove(&self, index: u32) -> Result<bool, MapError> {
        bound(self.map, index)?;
        self.map.delete(&index.to_ne_bytes())
    }
}
