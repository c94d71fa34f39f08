//! Arenas (`BPF_MAP_TYPE_ARENA`, 6.9+): memory shared by programs and user space at
//! the same addresses. [`Arena`] reads and writes it through this process's mapping.

use super::typed::{check_type, typed_view};
use super::{Map, MapError, MapType};
use crate::pod::Pod;

/// An arena: `max_entries` pages that programs allocate with
/// `bpf_arena_alloc_pages` and user space reads and writes in place.
///
/// The loader (and [`Map::create`]) maps the whole arena into this process when it
/// creates it, as libbpf does, so program pointers into the arena (`__arena`) are
/// valid user addresses here: offset = address − [`user_vm_start`](Arena::user_vm_start).
/// Touching a page programs have not allocated makes the kernel allocate a zeroed one.
/// An arena created with `BPF_F_SEGV_ON_FAULT` would instead kill the process with
/// `SIGSEGV`, which safe code must never do: this view refuses such arenas.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::Arena;
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/maps_arena.bpf.o")?;
/// let arena: Arena = obj.map("arena").expect("arena").try_into()?;
/// arena.write_at(0, &7u64)?;
/// assert_eq!(arena.read_at::<u64>(0)?, 7);
/// println!("{} bytes at {:#x}", arena.len(), arena.user_vm_start());
/// # Ok(())
/// # }
/// ```
pub struct Arena<'a> {
    map: &'a Map,
}

typed_view!(Arena, check_arena);

fn check_arena(map: &Map) -> Result<(), MapError> {
    check_type(map, &[MapType::ARENA], "arena")?;
    if map.def.map_flags & crate::sys::bpf::map_flags::SEGV_ON_FAULT != 0 {
        return Err(MapError::WrongType {
            map: map.name.clone(),
            found: "arena with BPF_F_SEGV_ON_FAULT",
            expected:
                "arena without BPF_F_SEGV_ON_FAULT (an unallocated page would kill the process)",
        });
    }
    if map.mmap.is_none() {
        return Err(MapError::NotMapped {
            map: map.name.clone(),
        });
    }
    Ok(())
}

impl Arena<'_> {
    fn region_len(&self) -> usize {
        self.map.mmap.as_ref().map_or(0, |r| r.len())
    }

    fn out_of_range(&self, offset: usize, len: usize) -> MapError {
        MapError::OutOfRange {
            map: self.map.name.clone(),
            offset,
            len,
            size: self.region_len(),
        }
    }

    /// Size in bytes (`max_entries` pages).
    pub fn len(&self) -> usize {
        self.region_len()
    }

    /// True for an arena of no pages.
    pub fn is_empty(&self) -> bool {
        self.region_len() == 0
    }

    /// The user-space address the arena starts at: program pointers into the arena
    /// are this plus an offset.
    pub fn user_vm_start(&self) -> u64 {
        self.map.mmap.as_ref().map_or(0, |r| r.addr() as u64)
    }

    /// The offset within the arena of a program's pointer into it, if it points there.
    pub fn offset_of(&self, addr: u64) -> Option<usize> {
        let off = addr.checked_sub(self.user_vm_start())?;
        usize::try_from(off).ok().filter(|&o| o < self.len())
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`.
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<(), MapError> {
        match &self.map.mmap {
            Some(r) if r.load_bytes(offset, buf) => Ok(()),
            _ => Err(self.out_of_range(offset, buf.len())),
        }
    }

    /// A `T` at byte `offset`.
    pub fn read_at<T: Pod>(&self, offset: usize) -> Result<T, MapError> {
        let mut v = T::zeroed();
        self.read_bytes(offset, v.as_bytes_mut())?;
        Ok(v)
    }

    /// Copies `data` to byte `offset`.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), MapError> {
        let ok = self
            .map
            .mmap
            .as_ref()
            .is_some_and(|r| r.store_bytes(offset, data));
        if ok {
            Ok(())
        } else {
            Err(self.out_of_range(offset, data.len()))
        }
    }

    /// Writes a `T` at byte `offset`.
    pub fn write_at<T: Pod>(&self, offset: usize, value: &T) -> Result<(), MapError> {
        self.write_bytes(offset, value.as_bytes())
    }
}
