//! Program arrays: [`ProgArray`], the jump tables of tail calls.

use super::array::bound;
use super::typed::{check_type, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::program::Program;

/// A program array (`BPF_MAP_TYPE_PROG_ARRAY`): slot `i` holds the program a
/// `bpf_tail_call(ctx, &map, i)` jumps to.
///
/// Slots named in the object's `values` initializer are filled by the loader, as
/// libbpf does; [`set`](ProgArray::set) and [`remove`](ProgArray::remove) change them
/// at run time.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::ProgArray;
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/maps_tail.bpf.o")?;
/// let jumps: ProgArray = obj.map("jumps").expect("jumps").try_into()?;
/// jumps.set(1, obj.program("tail_b").expect("tail_b"))?;
/// println!("slot 1 runs program id {:?}", jumps.get(1)?);
/// # Ok(())
/// # }
/// ```
pub struct ProgArray<'a> {
    map: &'a Map,
}

typed_view!(ProgArray, |map| check_type(
    map,
    &[MapType::PROG_ARRAY],
    "prog_array"
));

impl ProgArray<'_> {
    /// Makes slot `index` jump to `program` (of the same type as the caller).
    pub fn set(&self, index: u32, program: &Program) -> Result<(), MapError> {
        use std::os::fd::AsRawFd;
        bound(self.map, index)?;
        let fd = program.fd().as_raw_fd() as u32;
        self.map
            .update(&index.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
    }

    /// The id of the program in slot `index`, if any.
    pub fn get(&self, index: u32) -> Result<Option<u32>, MapError> {
        bound(self.map, index)?;
        let mut id = [0u8; 4];
        let found = self
            .map
            .lookup_into(&index.to_ne_bytes(), &mut id, MapFlags::ANY)?;
        Ok(found.then(|| u32::from_ne_bytes(id)))
    }

    /// Empties slot `index` (a tail call to it falls through); false when empty.
    pub fn remove(&self, index: u32) -> Result<bool, MapError> {
        bound(self.map, index)?;
        self.map.delete(&index.to_ne_bytes())
    }

    /// The indexes of the filled slots (a lookup per slot: the kernel walks every
    /// index of an array, filled or not).
    pub fn indexes(&self) -> impl Iterator<Item = Result<u32, MapError>> + '_ {
        (0..self.len()).filter_map(|i| match self.get(i) {
            Ok(Some(_)) => Some(Ok(i)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// Number of slots.
    pub fn len(&self) -> u32 {
        self.map.def.max_entries
    }

    /// True for a zero-sized array.
    pub fn is_empty(&self) -> bool {
        self.map.def.max_entries == 0
    }
}
