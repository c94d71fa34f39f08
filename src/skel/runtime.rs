//! What generated skeletons call at run time: the object before and after load, and
//! the small helpers their accessors share (C strings, bitfields, union members,
//! typed ring and perf buffers). Generated code stays short and free of `unsafe`.

use std::str::Utf8Error;

use super::SkelError;
use crate::link::Link;
use crate::map::{GlobalData, Map, MapError};
use crate::object::MapKind;
use crate::pod::Pod;
use crate::{Loader, Object, ObjectSpec, PerfBufferBuilder, Program, RingBufferBuilder};

/// An object parsed but not loaded: what a skeleton's `open()` returns inside its open
/// skeleton. Set map sizes, programs to load and global-data sections here, then
/// [`load`](OpenObject::load).
///
/// # Examples
///
/// ```
/// use corebpf::skel::OpenObject;
///
/// let bytes = std::fs::read("bpf-progs/hello.bpf.o").unwrap();
/// let mut open = OpenObject::parse(&bytes, "hello").unwrap();
/// open.set_max_entries("counts", 4096).unwrap();
/// assert!(open.set_max_entries("nope", 1).is_err());
/// let rodata: [u8; 4] = open.section(".rodata").unwrap();
/// assert_eq!(rodata, [0; 4]); // `target_tgid = 0`
/// ```
#[derive(Debug)]
pub struct OpenObject {
    spec: ObjectSpec,
    loader: Loader,
}

impl OpenObject {
    /// Parses the object's bytes; `name` names it (and prefixes its global-data maps).
    pub fn parse(bytes: &[u8], name: &str) -> Result<OpenObject, SkelError> {
        let spec = ObjectSpec::parse(bytes, name).map_err(|e| SkelError::Object(Box::new(e)))?;
        Ok(OpenObject {
            spec,
            loader: Loader::new(),
        })
    }

    /// The parsed object.
    pub fn spec(&self) -> &ObjectSpec {
        &self.spec
    }

    /// Changes the [`Loader`] options the object will be loaded with (target BTF, pin
    /// root, kconfig, ...).
    pub fn configure(&mut self, f: impl FnOnce(Loader) -> Loader) {
        self.loader = f(std::mem::take(&mut self.loader));
    }

    /// Creates map `map` with `max_entries` entries (see [`Loader::set_max_entries`]).
    pub fn set_max_entries(&mut self, map: &str, max_entries: u32) -> Result<(), SkelError> {
        let m = self.spec.map(map).ok_or_else(|| SkelError::NoSuchMap {
            name: map.to_string(),
        })?;
        if matches!(m.kind, MapKind::GlobalData(_)) {
            return Err(SkelError::NoSuchMap {
                name: map.to_string(),
            });
        }
        self.configure(|l| l.set_max_entries(map, max_entries));
        Ok(())
    }

    /// Loads program `program` or not (libbpf's `bpf_program__set_autoload`).
    pub fn set_autoload(&mut self, program: &str, load: bool) -> Result<(), SkelError> {
        let p = self
            .spec
            .programs
            .iter_mut()
            .find(|p| p.name == program)
            .ok_or_else(|| SkelError::NoSuchProgram {
                name: program.to_string(),
            })?;
        p.autoload = load;
        Ok(())
    }

    fn section_spec(&self, name: &str) -> Result<&crate::object::MapSpec, SkelError> {
        self.spec
            .maps
            .iter()
            .find(|m| m.name == name && matches!(m.kind, MapKind::GlobalData(_)))
            .ok_or_else(|| SkelError::NoSuchSection {
                name: name.to_string(),
            })
    }

    /// The initial value of global-data section `name` (`.rodata`, `.data`, `.bss`) as
    /// a `T` of the section's size: the object's bytes, zeros for `.bss`.
    pub fn section<T: Pod>(&self, name: &str) -> Result<T, SkelError> {
        let m = self.section_spec(name)?;
        let mut value = T::zeroed();
        let bytes = value.as_bytes_mut();
        if bytes.len() != m.value_size as usize {
            return Err(SkelError::SectionSize {
                name: name.to_string(),
                size: m.value_size as usize,
                given: bytes.len(),
            });
        }
        for (d, s) in bytes.iter_mut().zip(&m.data) {
            *d = *s;
        }
        Ok(value)
    }

    /// Sets the initial value of global-data section `name` to `value` (its whole
    /// size), written into the map at load; `.rodata` is frozen after that.
    pub fn set_section(&mut self, name: &str, value: &[u8]) -> Result<(), SkelError> {
        let index = self
            .spec
            .maps
            .iter()
            .position(|m| m.name == name && matches!(m.kind, MapKind::GlobalData(_)))
            .ok_or_else(|| SkelError::NoSuchSection {
                name: name.to_string(),
            })?;
        let m = &mut self.spec.maps[index];
        if value.len() != m.value_size as usize {
            return Err(SkelError::SectionSize {
                name: name.to_string(),
                size: m.value_size as usize,
                given: value.len(),
            });
        }
        // An untouched `.bss` stays without data: the kernel zeroes new maps.
        let unchanged = if m.data.is_empty() {
            value.iter().all(|&b| b == 0)
        } else {
            m.data == value
        };
        if !unchanged {
            m.data = value.to_vec();
        }
        Ok(())
    }

    /// Loads the object: BTF, maps (with the sections' values), programs.
    pub fn load(self) -> Result<LoadedObject, SkelError> {
        let object = self
            .loader
            .load(&self.spec)
            .map_err(|e| SkelError::Load(Box::new(e)))?;
        Ok(LoadedObject {
            links: Vec::new(),
            object,
        })
    }
}

/// A loaded object and the links its [`attach`](LoadedObject::attach) made: what a
/// loaded skeleton holds. Dropping it detaches the links, then unloads the object.
#[derive(Debug)]
pub struct LoadedObject {
    // Declared first: dropped first, so programs detach before they are released.
    links: Vec<Link>,
    object: Object,
}

impl LoadedObject {
    /// The loaded object.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// The loaded object, mutable (to pin maps).
    pub fn object_mut(&mut self) -> &mut Object {
        &mut self.object
    }

    /// Attaches every program whose section names its target (and registers
    /// struct_ops maps), replacing the links of an earlier call; all or none.
    pub fn attach(&mut self) -> Result<(), SkelError> {
        self.links.clear();
        self.links = self
            .object
            .attach_all()
            .map_err(|e| SkelError::Attach(Box::new(e)))?;
        Ok(())
    }

    /// Detaches what [`attach`](LoadedObject::attach) attached.
    pub fn detach(&mut self) {
        self.links.clear();
    }

    /// The links of the attached programs.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Map `name`.
    pub fn map(&self, name: &str) -> Result<&Map, SkelError> {
        self.object.map(name).ok_or_else(|| SkelError::NoSuchMap {
            name: name.to_string(),
        })
    }

    /// Map `name` as the typed view `V` (such as
    /// [`HashMap<u32, u64>`](crate::map::HashMap)).
    pub fn view<'a, V>(&'a self, name: &str) -> Result<V, SkelError>
    where
        V: TryFrom<&'a Map, Error = MapError>,
    {
        V::try_from(self.map(name)?).map_err(|source| SkelError::Map {
            name: name.to_string(),
            source: Box::new(source),
        })
    }

    /// Program `name`; `None` when it was not loaded.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.object.program(name)
    }

    /// [`ring_buffer`] of map `name`.
    pub fn ring_buffer<'a, T: Pod>(
        &'a self,
        name: &str,
        callback: impl FnMut(&T) -> i32 + Send + 'a,
    ) -> Result<RingBufferBuilder<'a>, SkelError> {
        Ok(ring_buffer(self.map(name)?, callback))
    }

    /// [`perf_buffer`] of map `name`.
    pub fn perf_buffer<'a, T: Pod>(
        &'a self,
        name: &str,
        callback: impl FnMut(u32, &T) + Send + 'a,
    ) -> Result<PerfBufferBuilder<'a>, SkelError> {
        Ok(perf_buffer(self.map(name)?, callback))
    }

    /// A live view of global-data section `name`.
    pub fn section(&self, name: &str) -> Result<GlobalData<'_>, SkelError> {
        self.object
            .global_data(name)
            .map_err(|source| SkelError::Map {
                name: name.to_string(),
                source: Box::new(source),
            })
    }
}

/// `bytes` up to the first NUL (all of them when there is none), as UTF-8: the
/// `NAME_str()` accessor of a char array. Text that is not UTF-8 is an error (use
/// `String::from_utf8_lossy` on the field for a lossy reading).
///
/// # Examples
///
/// ```
/// assert_eq!(corebpf::skel::c_str(b"true\0\0junk"), Ok("true"));
/// assert_eq!(corebpf::skel::c_str(b"full"), Ok("full"));
/// assert!(corebpf::skel::c_str(b"\xff\0").is_err());
/// ```
pub fn c_str(bytes: &[u8]) -> Result<&str, Utf8Error> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    std::str::from_utf8(&bytes[..end])
}

/// The `bits`-bit unsigned bitfield at bit `bit` of `bytes` (little-endian bit order,
/// as BTF numbers bits on `bpfel`). Bits past the end of `bytes` read as 0.
///
/// # Examples
///
/// ```
/// use corebpf::skel::{bitfield_get, bitfield_set};
///
/// let mut storage = [0u8; 2];
/// bitfield_set(&mut storage, 3, 5, 0b10110);
/// assert_eq!(bitfield_get(&storage, 3, 5), 0b10110);
/// assert_eq!(storage, [0b1011_0000, 0]);
/// ```
pub fn bitfield_get(bytes: &[u8], bit: u32, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..bits.min(64) {
        let b = bit + i;
        let byte = bytes.get((b / 8) as usize).copied().unwrap_or(0);
        v |= u64::from((byte >> (b % 8)) & 1) << i;
    }
    v
}

/// [`bitfield_get`] of a signed bitfield: sign-extended from its top bit.
///
/// # Examples
///
/// ```
/// assert_eq!(corebpf::skel::bitfield_get_signed(&[0b0111], 0, 3), -1);
/// assert_eq!(corebpf::skel::bitfield_get_signed(&[0b0011], 0, 3), 3);
/// ```
pub fn bitfield_get_signed(bytes: &[u8], bit: u32, bits: u32) -> i64 {
    let bits = bits.clamp(1, 64);
    let v = bitfield_get(bytes, bit, bits);
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Stores the low `bits` bits of `value` as the bitfield at bit `bit` of `bytes`,
/// leaving the bits around it as they are; bits past the end of `bytes` are dropped.
pub fn bitfield_set(bytes: &mut [u8], bit: u32, bits: u32, value: u64) {
    for i in 0..bits.min(64) {
        let b = bit + i;
        if let Some(byte) = bytes.get_mut((b / 8) as usize) {
            let mask = 1u8 << (b % 8);
            if (value >> i) & 1 == 1 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

/// A `T` read from the front of `bytes` (a union's bytes, for one of its members);
/// bytes missing at the end read as 0.
///
/// # Examples
///
/// ```
/// let v: u16 = corebpf::skel::read_prefix(&[1, 0, 9, 9]);
/// assert_eq!(v, u16::from_le_bytes([1, 0]));
/// ```
pub fn read_prefix<T: Pod>(bytes: &[u8]) -> T {
    let mut v = T::zeroed();
    for (d, s) in v.as_bytes_mut().iter_mut().zip(bytes) {
        *d = *s;
    }
    v
}

/// Writes `value` at the front of `bytes` (a union member), truncated to `bytes`.
pub fn write_prefix<T: Pod>(bytes: &mut [u8], value: &T) {
    for (d, s) in bytes.iter_mut().zip(value.as_bytes()) {
        *d = *s;
    }
}

/// A ring buffer builder reading `map`'s records as `T`s: `callback` gets each record
/// decoded (bytes past `T`'s size ignored) and returns what a ring buffer callback
/// returns (0 to go on). A record shorter than `T` is skipped, with a warning logged.
/// Add more maps, then `build()`.
pub fn ring_buffer<'a, T: Pod>(
    map: &'a Map,
    mut callback: impl FnMut(&T) -> i32 + Send + 'a,
) -> RingBufferBuilder<'a> {
    let name = map.name().to_string();
    RingBufferBuilder::new().add(map, move |record: &[u8]| match T::from_prefix(record) {
        Ok((value, _)) => callback(&value),
        Err(e) => {
            log::warn!("ring buffer '{name}': skipping a record: {e}");
            0
        }
    })
}

/// A perf buffer builder reading `map`'s samples as `T`s: `callback` gets the CPU and
/// each sample decoded (the padding the kernel adds past `T` ignored). A sample
/// shorter than `T` is skipped, with a warning logged. Set pages or a lost-sample
/// callback, then `build()`.
pub fn perf_buffer<'a, T: Pod>(
    map: &'a Map,
    mut callback: impl FnMut(u32, &T) + Send + 'a,
) -> PerfBufferBuilder<'a> {
    let name = map.name().to_string();
    PerfBufferBuilder::new(map).sample(move |cpu, sample: &[u8]| match T::from_prefix(sample) {
        Ok((value, _)) => callback(cpu, &value),
        Err(e) => log::warn!("perf buffer '{name}': skipping a sample: {e}"),
    })
}
