//! Global variables after load: [`GlobalData`], a live view of a `.bss`, `.data`,
//! `.data.*` or `.rodata*` map.
//!
//! Where the kernel lets user space map the section (`BPF_F_MMAPABLE`, which the
//! loader sets as libbpf does: on sections with a non-static variable, kernels 5.5+),
//! reads and writes go straight to the memory programs use, without a syscall. For a
//! section that is not mapped they fall back to `BPF_MAP_LOOKUP_ELEM` /
//! `BPF_MAP_UPDATE_ELEM` of the whole value. `.rodata` and `.kconfig` are frozen at
//! load: they read, and refuse writes.

use super::{Global, Map, MapError, MapFlags};
use crate::pod::Pod;

/// A global variable of a global-data section: where it is in the map's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalVariable {
    /// The variable's name.
    pub name: String,
    /// Byte offset within the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

fn check_global(map: &Map) -> Result<Global, MapError> {
    map.global.ok_or_else(|| MapError::WrongType {
        map: map.name.clone(),
        found: map.map_type().name(),
        expected: "global data (.bss, .data, .rodata)",
    })
}

fn range(map: &Map, offset: usize, len: usize) -> Result<(), MapError> {
    let size = map.def.value_size as usize;
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(MapError::OutOfRange {
            map: map.name.clone(),
            offset,
            len,
            size,
        }),
    }
}

fn variable<'m>(map: &'m Map, name: &str, given: usize) -> Result<&'m GlobalVariable, MapError> {
    let v = map
        .vars
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| MapError::NoSuchVariable {
            map: map.name.clone(),
            name: name.to_string(),
        })?;
    if v.size as usize != given {
        return Err(MapError::VariableSize {
            map: map.name.clone(),
            name: name.to_string(),
            size: v.size,
            given,
        });
    }
    Ok(v)
}

/// The whole value through the syscall path (sections that are not mapped).
fn read_value(map: &Map) -> Result<Vec<u8>, MapError> {
    let mut value = vec![0u8; map.value_buf_size()];
    map.lookup_into(&0u32.to_ne_bytes(), &mut value, MapFlags::ANY)?;
    Ok(value)
}

fn read_bytes(map: &Map, offset: usize, buf: &mut [u8]) -> Result<(), MapError> {
    range(map, offset, buf.len())?;
    match &map.mmap {
        Some(region) => {
            if !region.load_bytes(offset, buf) {
                return Err(MapError::OutOfRange {
                    map: map.name.clone(),
                    offset,
                    len: buf.len(),
                    size: region.len(),
                });
            }
        }
        None => buf.copy_from_slice(&read_value(map)?[offset..offset + buf.len()]),
    }
    Ok(())
}

fn read_at<T: Pod>(map: &Map, offset: usize) -> Result<T, MapError> {
    let mut v = T::zeroed();
    read_bytes(map, offset, v.as_bytes_mut())?;
    Ok(v)
}

fn write_bytes(map: &Map, offset: usize, data: &[u8]) -> Result<(), MapError> {
    if map.global == Some(Global::Frozen) {
        return Err(MapError::ReadOnly {
            map: map.name.clone(),
        });
    }
    range(map, offset, data.len())?;
    match &map.mmap {
        Some(region) if region.store_bytes(offset, data) => Ok(()),
        Some(_) => Err(MapError::ReadOnly {
            map: map.name.clone(),
        }),
        None => {
            let mut value = read_value(map)?;
            value[offset..offset + data.len()].copy_from_slice(data);
            map.update(&0u32.to_ne_bytes(), &value, MapFlags::ANY)
        }
    }
}

/// A live view of a global-data map (`.bss`, `.data*`, `.rodata*`): reads and writes
/// reach the programs' memory directly where the section is mapped. `.rodata` and
/// `.kconfig`, frozen at load, read but refuse writes ([`MapError::ReadOnly`]).
///
/// Made with [`Object::global_data`](crate::Object::global_data) (or
/// [`bss`](crate::Object::bss), [`data`](crate::Object::data),
/// [`rodata`](crate::Object::rodata)), or `try_into()` from the section's [`Map`].
/// Like the other views it needs only `&Map`: several may be used at once, with
/// typed maps of the same object. Mapped memory is copied with atomic byte accesses,
/// so threads sharing a view never race in Rust's sense; a value that programs
/// update while it is read may be read half old, half new, as in C.
///
/// # Examples
///
/// Give a program an input and read what it computed, by name or as the whole
/// section:
///
/// ```no_run
/// use corebpf::{Loader, Pod};
///
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Bss {
///     input: u64,
///     output: u64,
/// }
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/maps_globals.bpf.o")?;
/// let bss = obj.bss()?;
/// bss.set("input", &42u64)?; // the program sees 42 from its next run
/// let output: u64 = bss.get("output")?;
/// let whole: Bss = bss.read()?;
/// assert_eq!((whole.input, whole.output), (42, output));
/// # Ok(())
/// # }
/// ```
pub struct GlobalData<'a> {
    map: &'a Map,
}

impl<'a> TryFrom<&'a Map> for GlobalData<'a> {
    type Error = MapError;

    fn try_from(map: &'a Map) -> Result<Self, MapError> {
        check_global(map)?;
        Ok(GlobalData { map })
    }
}

impl<'a> TryFrom<&'a mut Map> for GlobalData<'a> {
    type Error = MapError;

    fn try_from(map: &'a mut Map) -> Result<Self, MapError> {
        Self::try_from(&*map)
    }
}

impl<'a> GlobalData<'a> {
    /// The section's map.
    pub fn map(&self) -> &'a Map {
        self.map
    }

    /// The section's size in bytes.
    pub fn len(&self) -> usize {
        self.map.def.value_size as usize
    }

    /// True for an empty section.
    pub fn is_empty(&self) -> bool {
        self.map.def.value_size == 0
    }

    /// True when reads and writes go through a memory mapping, without syscalls.
    pub fn is_mapped(&self) -> bool {
        self.map.mmap.is_some()
    }

    /// True for a section frozen at load (`.rodata*`, `.kconfig`): writes fail.
    pub fn is_read_only(&self) -> bool {
        self.map.global == Some(Global::Frozen)
    }

    /// The section's variables, by the object's BTF.
    pub fn variables(&self) -> &'a [GlobalVariable] {
        &self.map.vars
    }

    /// The whole section as a `T` (a `#[repr(C)]` struct laid out as the section, as
    /// a skeleton's `struct bss` is); `T` must be the section's size.
    pub fn read<T: Pod>(&self) -> Result<T, MapError> {
        self.map.check(
            "global data",
            std::mem::size_of::<T>(),
            self.map.def.value_size,
        )?;
        read_at(self.map, 0)
    }

    /// A `T` at byte `offset` of the section.
    pub fn read_at<T: Pod>(&self, offset: usize) -> Result<T, MapError> {
        read_at(self.map, offset)
    }

    /// Global variable `name`, which must be `T`'s size.
    pub fn get<T: Pod>(&self, name: &str) -> Result<T, MapError> {
        let v = variable(self.map, name, std::mem::size_of::<T>())?;
        read_at(self.map, v.offset as usize)
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`.
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<(), MapError> {
        read_bytes(self.map, offset, buf)
    }

    /// Writes the whole section from a `T` of the section's size.
    pub fn write<T: Pod>(&self, value: &T) -> Result<(), MapError> {
        self.map.check(
            "global data",
            std::mem::size_of::<T>(),
            self.map.def.value_size,
        )?;
        write_bytes(self.map, 0, value.as_bytes())
    }

    /// Writes a `T` at byte `offset` of the section.
    pub fn write_at<T: Pod>(&self, offset: usize, value: &T) -> Result<(), MapError> {
        write_bytes(self.map, offset, value.as_bytes())
    }

    /// Sets global variable `name`, which must be `T`'s size.
    pub fn set<T: Pod>(&self, name: &str, value: &T) -> Result<(), MapError> {
        let offset = variable(self.map, name, std::mem::size_of::<T>())?.offset as usize;
        write_bytes(self.map, offset, value.as_bytes())
    }

    /// Copies `data` to byte `offset` of the section.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), MapError> {
        write_bytes(self.map, offset, data)
    }
}

#[cfg(test)]
mod tests {
    use crate::sys::{with_syscall_override, Syscall};

    /// The program reads what user space wrote through the view and writes what user
    /// space reads back, with no `bpf(2)` call in between: the view is the memory.
    #[test]
    fn writes_and_reads_through_the_mapping_make_no_syscall() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs/maps_globals.bpf.o");
        let tid = nix::unistd::gettid().as_raw() as u32;
        let obj = crate::Loader::new()
            .set_global("target_tid", &tid)
            .load_file(path)
            .expect("loading maps_globals (root)");
        let _link = obj.program("compute").unwrap().attach().unwrap();
        let bss = obj.bss().unwrap();
        assert!(bss.is_mapped());
        let mut calls = Vec::new();
        let output = with_syscall_override(
            |c| {
                calls.push(c.name());
                None
            },
            || {
                bss.set("input", &5u64).unwrap();
                // getppid(2) runs the program (glibc, not the crate's chokepoint).
                let _ = nix::unistd::getppid();
                bss.get::<u64>("output").unwrap()
            },
        );
        assert_eq!(output, 5 * 3 + 7, "input * factor + bias");
        assert!(calls.is_empty(), "no syscall through the crate: {calls:?}");
        // The same read through the syscall path, for contrast, is seen by the hook.
        let m = obj.map(".bss").unwrap();
        let mut bpf_calls = 0;
        let value = with_syscall_override(
            |c| {
                bpf_calls += usize::from(matches!(c, Syscall::Bpf { .. }));
                None
            },
            || m.lookup(&0u32.to_ne_bytes(), crate::MapFlags::ANY).unwrap(),
        );
        assert_eq!(bpf_calls, 1);
        assert_eq!(value.unwrap()[8..16], 22u64.to_ne_bytes());
    }
}
