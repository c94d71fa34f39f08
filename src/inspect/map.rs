//! Maps the kernel holds: listing them, their info and holders, and their entries
//! formatted through the map's BTF (raw hex without BTF), as `bpftool map` does.
//!
//! # Examples
//!
//! ```no_run
//! use corebpf::inspect::map::{self, MapRef};
//!
//! for info in map::list()? {
//!     println!("{} {} {}", info.info.id, info.info.name(), info.pids.len());
//! }
//! let dumper = map::Dumper::new(map::open(&MapRef::Name("counts".into()))?)?;
//! for entry in dumper.entries()? {
//!     println!("{} => {:?}", entry.key, entry.values);
//! }
//! # Ok::<(), corebpf::inspect::map::InspectMapError>(())
//! ```

use std::path::PathBuf;

use crate::btf::{format, value, Btf};
use crate::map::{Map, MapError, MapType};
use crate::sys::{self, bpf::MapInfo, SysError};
use crate::{LoadedBtf, LoadedBtfError, MapFlags};

/// Entries per `BPF_MAP_LOOKUP_BATCH` call in [`Dumper::entries`].
const BATCH: u32 = 4096;

/// Errors of map inspection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectMapError {
    /// Walking the kernel's map ids failed.
    #[error("listing the kernel's maps")]
    List(#[source] SysError),
    /// No map has this name.
    #[error("no map named '{0}'")]
    NoSuchName(String),
    /// Opening or using the map failed (the map error names the map).
    #[error(transparent)]
    Map(#[from] MapError),
    /// The map's BTF object could not be read.
    #[error("BTF of map '{0}'")]
    Btf(String, #[source] LoadedBtfError),
    /// The text given for a key or value does not fit the map's type.
    #[error("{what} of map '{map}'")]
    Value {
        /// The map.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// Why it does not parse.
        #[source]
        source: value::ValueError,
    },
    /// Hex bytes that do not parse, or of the wrong length.
    #[error("{what} of map '{map}': {reason}")]
    Hex {
        /// The map.
        map: String,
        /// `key` or `value`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Formatting an entry through the map's BTF failed.
    #[error("formatting an entry of map '{0}'")]
    Format(String, #[source] crate::btf::BtfError),
}

/// How a map is named on the command line: `ID`, `name NAME` or `pinned PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapRef {
    /// By kernel id.
    Id(u32),
    /// By kernel name (the first map with it, in id order).
    Name(String),
    /// By its pin in bpffs.
    Pinned(PathBuf),
}

/// One map as `map list`/`map show` print it.
#[derive(Clone, Debug)]
pub struct MapSummary {
    /// The kernel's info (id, name, type, sizes, flags, BTF ids).
    pub info: MapInfo,
    /// Processes holding an fd to it (from `/proc/*/fd`), with their command names.
    pub pids: Vec<(u32, String)>,
}

/// Every map id the kernel holds, in order.
pub fn ids() -> Result<Vec<u32>, InspectMapError> {
    let mut out = Vec::new();
    let mut id = 0;
    while let Some(next) = sys::bpf::map_get_next_id(id).map_err(InspectMapError::List)? {
        out.push(next);
        id = next;
    }
    Ok(out)
}

/// Opens the map `r` names.
pub fn open(r: &MapRef) -> Result<Map, InspectMapError> {
    match r {
        MapRef::Id(id) => Map::from_id(*id).map_err(InspectMapError::Map),
        MapRef::Pinned(p) => Map::from_pin(p).map_err(InspectMapError::Map),
        MapRef::Name(name) => {
            for id in ids()? {
                // A map freed between listing and opening is skipped.
                let Ok(map) = Map::from_id(id) else { continue };
                if map.kernel_name() == name {
                    return Ok(map);
                }
            }
            Err(InspectMapError::NoSuchName(name.clone()))
        }
    }
}

/// The info and holders of every map (maps freed while listing are skipped).
pub fn list() -> Result<Vec<MapSummary>, InspectMapError> {
    let (infos, held) =
        super::procfs::held_alongside(&super::procfs::MAP, || -> Result<_, InspectMapError> {
            let mut infos = Vec::new();
            for id in ids()? {
                let Ok(map) = Map::from_id(id) else { continue };
                if let Ok(info) = map.info() {
                    infos.push(info);
                }
            }
            Ok(infos)
        });
    let holders: Vec<_> = held.into_iter().map(|h| (h.pid, h.comm, h.id)).collect();
    Ok(infos?
        .into_iter()
        .map(|info| summary_with(info, &holders))
        .collect())
}

/// The info and holders of one open map.
pub fn show(map: &Map) -> Result<MapSummary, InspectMapError> {
    let info = map.info().map_err(InspectMapError::Map)?;
    Ok(summary_with(info, &holders()))
}

fn summary_with(info: MapInfo, holders: &[(u32, String, u32)]) -> MapSummary {
    let mut pids: Vec<(u32, String)> = holders
        .iter()
        .filter(|(pid, _, id)| *id == info.id && *pid != std::process::id())
        .map(|(pid, comm, _)| (*pid, comm.clone()))
        .collect();
    pids.dedup();
    MapSummary { info, pids }
}

/// (pid, comm, map id) for every map fd of every process, from `/proc` (each
/// descriptor's id read from a duplicate, or its `fdinfo` before 5.6).
fn holders() -> Vec<(u32, String, u32)> {
    super::procfs::held(&super::procfs::MAP)
        .into_iter()
        .map(|h| (h.pid, h.comm, h.id))
        .collect()
}

/// One entry of a dump, formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key, through BTF or as hex.
    pub key: String,
    /// The value; one per possible CPU for per-CPU maps.
    pub values: Vec<String>,
}

/// A map with its BTF, reading, formatting and writing entries.
#[derive(Debug)]
pub struct Dumper {
    map: Map,
    info: MapInfo,
    btf: Option<Btf>,
    cpus: usize,
}

impl Dumper {
    /// Reads `map`'s info and its BTF object when it has one.
    pub fn new(map: Map) -> Result<Dumper, InspectMapError> {
        let name = map.name().to_string();
        let info = map.info().map_err(InspectMapError::Map)?;
        let btf = if info.btf_id != 0 && info.btf_value_type_id != 0 {
            let obj = LoadedBtf::from_id(info.btf_id)
                .map_err(|e| InspectMapError::Btf(name.clone(), e))?;
            Some(obj.btf().map_err(|e| InspectMapError::Btf(name, e))?)
        } else {
            None
        };
        let cpus = if MapType(info.type_).is_percpu() {
            map.value_buf_size() / (info.value_size as usize).next_multiple_of(8).max(1)
        } else {
            1
        };
        Ok(Dumper {
            map,
            info,
            btf,
            cpus,
        })
    }

    /// The map.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// The map's info.
    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    /// True when entries are formatted through BTF (else raw hex).
    pub fn has_btf(&self) -> bool {
        self.btf.is_some()
    }

    /// Every entry, read in batches where the kernel allows and key by key otherwise.
    pub fn entries(&self) -> Result<Vec<Entry>, InspectMapError> {
        let mut out = Vec::new();
        self.for_each(|e| {
            out.push(e);
            Ok::<(), InspectMapError>(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every formatted entry (batched reads, as [`Dumper::entries`]).
    pub fn for_each<E: From<InspectMapError>>(
        &self,
        mut f: impl FnMut(Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        let n = self
            .map
            .lookup_batch_into(BATCH, &mut keys, &mut values)
            .map_err(InspectMapError::Map)?;
        let (ks, vs) = (self.info.key_size as usize, self.map.value_buf_size());
        for i in 0..n {
            let key = &keys[i * ks..(i + 1) * ks];
            let value = &values[i * vs..(i + 1) * vs];
            f(self.format_entry(key, value)?)?;
        }
        Ok(())
    }

    /// Formats one raw key and value buffer (per-CPU: a slot per CPU).
    pub fn format_entry(&self, key: &[u8], value: &[u8]) -> Result<Entry, InspectMapError> {
        let key = self.format(self.info.btf_key_type_id, key)?;
        let vs = self.info.value_size as usize;
        let values = if MapType(self.info.type_).is_percpu() {
            let slot = vs.next_multiple_of(8);
            (0..self.cpus)
                .map(|c| self.format(self.info.btf_value_type_id, &value[c * slot..c * slot + vs]))
                .collect::<Result<_, _>>()?
        } else {
            vec![self.format(self.info.btf_value_type_id, &value[..vs])?]
        };
        Ok(Entry { key, values })
    }

    fn format(&self, type_id: u32, bytes: &[u8]) -> Result<String, InspectMapError> {
        match &self.btf {
            Some(btf) if type_id != 0 => format::format_value(btf, type_id, bytes)
                .map_err(|e| InspectMapError::Format(self.map.name().to_string(), e)),
            _ => Ok(hex(bytes)),
        }
    }

    /// Parses a key (`what` = "key") or value from typed text through the map's BTF,
    /// or from `hex` bytes; checks the size.
    pub fn parse(&self, what: &'static str, text: &Input) -> Result<Vec<u8>, InspectMapError> {
        let (size, type_id) = match what {
            "key" => (self.info.key_size as usize, self.info.btf_key_type_id),
            _ => (self.info.value_size as usize, self.info.btf_value_type_id),
        };
        let name = self.map.name().to_string();
        let bytes = match (text, &self.btf) {
            (Input::Hex(h), _) => parse_hex(h).map_err(|reason| InspectMapError::Hex {
                map: name.clone(),
                what,
                reason,
            })?,
            (Input::Text(t), Some(btf)) if type_id != 0 => {
                value::encode(btf, type_id, t).map_err(|source| InspectMapError::Value {
                    map: name.clone(),
                    what,
                    source,
                })?
            }
            (Input::Text(_), _) => {
                return Err(InspectMapError::Hex {
                    map: name,
                    what,
                    reason: "the map has no BTF type for it: give it as `hex` bytes".into(),
                })
            }
        };
        if bytes.len() != size {
            return Err(InspectMapError::Hex {
                map: name,
                what,
                reason: format!("{} bytes given, the map's are {size}", bytes.len()),
            });
        }
        Ok(bytes)
    }

    /// Looks `key` up; `None` when absent.
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Entry>, InspectMapError> {
        let v = self
            .map
            .lookup(key, MapFlags::ANY)
            .map_err(InspectMapError::Map)?;
        v.map(|v| self.format_entry(key, &v)).transpose()
    }

    /// Writes `value` at `key` (for per-CPU maps, the same value on every CPU).
    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), InspectMapError> {
        let buf = if MapType(self.info.type_).is_percpu() {
            let slot = value.len().next_multiple_of(8);
            let mut buf = vec![0u8; slot * self.cpus];
            for c in 0..self.cpus {
                buf[c * slot..c * slot + value.len()].copy_from_slice(value);
            }
            buf
        } else {
            value.to_vec()
        };
        self.map
            .update(key, &buf, MapFlags::ANY)
            .map_err(InspectMapError::Map)
    }

    /// Deletes `key`; false when it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, InspectMapError> {
        self.map.delete(key).map_err(InspectMapError::Map)
    }
}

/// A key or value as given: typed text, or hex bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Text parsed through the map's BTF type.
    Text(String),
    /// Bytes in hex, one or more per word (`01 02`, `0x01 0x02`, `0102`).
    Hex(Vec<String>),
}

/// Lower-case hex bytes separated by spaces, as `bpftool map dump` prints raw data.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn parse_hex(words: &[String]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for w in words {
        let w = w.strip_prefix("0x").unwrap_or(w);
        if w.is_empty() || w.len() % 2 != 0 {
            return Err(format!("'{w}' is not whole hex bytes"));
        }
        for i in (0..w.len()).step_by(2) {
            let b =
                u8::from_str_radix(&w[i..i + 2], 16).map_err(|_| format!("'{w}' is not hex"))?;
            out.push(b);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[1, 0xab]), "01 ab");
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_hex(&w(&["01", "0xab", "cdef"])).unwrap(),
            vec![1, 0xab, 0xcd, 0xef]
        );
        assert!(parse_hex(&w(&["1"])).is_err());
        assert!(parse_hex(&w(&["zz"])).is_err());
    }
}
