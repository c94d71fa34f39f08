//! Array maps: [`Array`].

use std::marker::PhantomData;

use super::batch;
use super::iter::Entries;
use super::typed::{check_type, check_value, decode, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::pod::Pod;

/// Checks `index` against an array's `max_entries`.
pub(crate) fn bound(map: &Map, index: u32) -> Result<(), MapError> {
    if index < map.def.max_entries {
        Ok(())
    } else {
        Err(MapError::OutOfBounds {
            map: map.name.clone(),
            index,
            max_entries: map.def.max_entries,
        })
    }
}

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

typed_view!(Array<V>, |map| {
    check_type(map, &[MapType::ARRAY], "array")?;
    check_value::<V>(map)
});

impl<V: Pod> Array<'_, V> {
    /// The value at `index`.
    pub fn get(&self, index: u32) -> Result<V, MapError> {
        bound(self.map, index)?;
        let mut v = V::zeroed();
        self.map
            .lookup_into(&index.to_ne_bytes(), v.as_bytes_mut(), MapFlags::ANY)?;
        Ok(v)
    }

    /// Sets the value at `index`.
    pub fn set(&self, index: u32, value: &V) -> Result<(), MapError> {
        self.set_with(index, value, MapFlags::ANY)
    }

    /// Sets the value at `index` with `flags` ([`MapFlags::LOCK`] to write under the
    /// value's `bpf_spin_lock`; [`MapFlags::NOEXIST`] always fails: every slot exists).
    pub fn set_with(&self, index: u32, value: &V, flags: MapFlags) -> Result<(), MapError> {
        bound(self.map, index)?;
        self.map
            .update(&index.to_ne_bytes(), value.as_bytes(), flags)
    }

    /// Every slot, in index order.
    pub fn iter(&self) -> Entries<'_, u32, V> {
        Entries::new(self.map, |m, b| decode::<V>(m, "value", b))
    }

    /// Every slot in a few syscalls (`BPF_MAP_LOOKUP_BATCH`, 5.7+; one at a time
    /// before), in index order.
    pub fn lookup_batch(&self) -> Result<Vec<V>, MapError> {
        let all = batch::read_all::<u32, V>(self.map, false)?;
        Ok(all.into_iter().map(|(_, v)| v).collect())
    }

    /// Sets slots `indexes[i]` to `values[i]` (`BPF_MAP_UPDATE_BATCH`, or one at a
    /// time); returns how many.
    pub fn update_batch(&self, indexes: &[u32], values: &[V]) -> Result<usize, MapError> {
        batch::check_lengths(self.map, indexes.len(), values.len())?;
        for &i in indexes {
            bound(self.map, i)?;
        }
        self.map.update_batch(
            &batch::encode_slice(indexes),
            &batch::encode_slice(values),
            MapFlags::ANY,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::MapDef;

    #[test]
    fn slots_bounds_and_batches() {
        let m = Map::create("t_array", &MapDef::new(MapType::ARRAY, 4, 8, 5)).unwrap();
        let a: Array<u64> = (&m).try_into().unwrap();
        assert_eq!(a.len(), 5);
        a.set(4, &44).unwrap();
        assert_eq!(a.get(4).unwrap(), 44);
        let e = a.get(5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "map 't_array': index 5 is out of bounds (max_entries 5)"
        );
        assert_eq!(a.update_batch(&[0, 1, 2], &[10, 11, 12]).unwrap(), 3);
        assert_eq!(a.lookup_batch().unwrap(), [10, 11, 12, 0, 44]);
        let it: Vec<(u32, u64)> = a.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(it, [(0, 10), (1, 11), (2, 12), (3, 0), (4, 44)]);
        assert!(a.update_batch(&[7], &[1]).is_err());
        assert!(Array::<u32>::try_from(&m).is_err());
    }
}
