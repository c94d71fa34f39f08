//! Array maps: [`Array`].

use std::marker::PhantomData;

use super::{Map, MapError, MapType};
use crate::pod::Pod;
use crate::sys;

/// An array map with typed values, sizes checked once.
///
/// Made from a [`Map`] with `try_into()`, which checks the map's type and that its value
/// size is `V`'s; indexes past `max_entries` are [`MapError::OutOfBounds`].
///
/// # Examples
///
/// unlinks.bpf.c keeps a count in slot 0 of `calls` (`u64` values); read it (needs
/// root):
///
/// ```no_run
/// use corebpf::{map::Array, Loader};
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/unlinks.bpf.o")?;
/// let calls: Array<u64> = obj.map("calls").expect("calls").try_into()?;
/// println!("{} slots, slot 0 = {}", calls.len(), calls.get(0)?);
/// # Ok(())
/// # }
/// ```
pub struct Array<'a, V: Pod> {
    map: &'a Map,
    _t: PhantomData<V>,
}

impl<'a, V: Pod> TryFrom<&'a Map> for Array<'a, V> {
    type Error = MapError;

    fn try_from(map: &'a Map) -> Result<Self, MapError> {
        if map.map_type() != MapType::ARRAY {
            return Err(MapError::WrongType {
                map: map.name.clone(),
                found: map.map_type().name(),
                expected: "array",
            });
        }
        map.check("value", std::mem::size_of::<V>(), map.def.value_size)?;
        Ok(Array {
            map,
            _t: PhantomData,
        })
    }
}

impl<V: Pod> Array<'_, V> {
    fn bound(&self, index: u32) -> Result<(), MapError> {
        if index < self.map.def.max_entries {
            Ok(())
        } else {
            Err(MapError::OutOfBounds {
                map: self.map.name.clone(),
                index,
                max_entries: self.map.def.max_entries,
            })
        }
    }

    /// The value at `index`.
    pub fn get(&self, index: u32) -> Result<V, MapError> {
        self.bound(index)?;
        let mut v = V::zeroed();
        sys::bpf::map_lookup_elem(
            &self.map.fd.access(),
            &index.to_ne_bytes(),
            v.as_bytes_mut(),
            0,
        )
        .map_err(self.map.sys_err())?;
        Ok(v)
    }

    /// Sets the value at `index`.
    pub fn set(&self, index: u32, value: &V) -> Result<(), MapError> {
        self.bound(index)?;
        sys::bpf::map_update_elem(
            &self.map.fd.access(),
            &index.to_ne_bytes(),
            value.as_bytes(),
            0,
        )
        .map_err(self.map.sys_err())
    }

    /// Number of elements.
    pub fn len(&self) -> u32 {
        self.map.def.max_entries
    }

    /// True for a zero-sized array.
    pub fn is_empty(&self) -> bool {
        self.map.def.max_entries == 0
    }
}
