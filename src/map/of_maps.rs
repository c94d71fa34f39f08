//! Maps of maps: [`MapOfMaps`] over `BPF_MAP_TYPE_ARRAY_OF_MAPS` and
//! `BPF_MAP_TYPE_HASH_OF_MAPS`.

use std::marker::PhantomData;
use std::os::fd::AsRawFd;

use super::iter::TypedKeys;
use super::typed::{check_key, check_type, typed_view};
use super::{Map, MapDef, MapError, MapFlags, MapType};
use crate::pod::Pod;
use crate::sys;

/// An array or hash of maps: each value is a map, which programs look up with
/// `bpf_map_lookup_elem(&outer, &key)` and then use as any map.
///
/// The loader creates the outer map from the inner map's definition in the object
/// (`__array(values, struct inner)`) and fills the slots named in its `values`
/// initializer, as libbpf does. At run time [`set`](MapOfMaps::set) puts another map
/// (of the inner definition: [`Map::inner_def`]) in a slot. Reading a slot gives the
/// inner map's id ([`get`](MapOfMaps::get)) or an fd to it
/// ([`get_map`](MapOfMaps::get_map)).
///
/// Keys are `u32` for an array of maps; for a hash of maps, the type its key is.
///
/// # Examples
///
/// Swap the map programs see in slot 0 for a fresh one:
///
/// ```no_run
/// use corebpf::map::{Map, MapOfMaps};
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/maps_in_maps.bpf.o")?;
/// let outer: MapOfMaps = obj.map("outer_array").expect("outer_array").try_into()?;
/// let def = *outer.map().inner_def().expect("the object declares the inner map");
/// let fresh = Map::create("fresh", &def)?;
/// outer.set(&0, &fresh)?;
/// # Ok(())
/// # }
/// ```
pub struct MapOfMaps<'a, K: Pod = u32> {
    map: &'a Map,
    _t: PhantomData<K>,
}

typed_view!(MapOfMaps<K>, |map| {
    check_type(
        map,
        &[MapType::ARRAY_OF_MAPS, MapType::HASH_OF_MAPS],
        "array_of_maps or hash_of_maps",
    )?;
    check_key::<K>(map)
});

impl<K: Pod> MapOfMaps<'_, K> {
    /// Puts `inner` in slot `key` (programs see it from their next lookup). The kernel
    /// refuses a map unlike the inner definition (`EINVAL`).
    pub fn set(&self, key: &K, inner: &Map) -> Result<(), MapError> {
        if let Some(want) = self.map.inner_def() {
            check_like(self.map, want, inner.def())?;
        }
        let fd = inner.fd().as_raw_fd() as u32;
        self.map
            .update(key.as_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
    }

    /// The id of the map in slot `key`, if any.
    pub fn get(&self, key: &K) -> Result<Option<u32>, MapError> {
        let mut id = [0u8; 4];
        let found = self
            .map
            .lookup_into(key.as_bytes(), &mut id, MapFlags::ANY)?;
        Ok(found.then(|| u32::from_ne_bytes(id)))
    }

    /// The map in slot `key`, opened by its id, if any.
    pub fn get_map(&self, key: &K) -> Result<Option<Map>, MapError> {
        let Some(id) = self.get(key)? else {
            return Ok(None);
        };
        let name = format!("{}[inner {id}]", self.map.name());
        match sys::bpf::map_get_fd_by_id(id, 0) {
            Ok(fd) => Map::from_fd(name, fd).map(Some),
            // Replaced and freed between the two steps.
            Err(e) if e.errno() == libc::ENOENT => Ok(None),
            Err(e) => Err(self.map.sys_err()(e)),
        }
    }

    /// Empties slot `key`; false when it was empty.
    pub fn remove(&self, key: &K) -> Result<bool, MapError> {
        self.map.delete(key.as_bytes())
    }

    /// The keys of the filled slots (for an array of maps: every index).
    pub fn keys(&self) -> TypedKeys<'_, K> {
        TypedKeys::new(self.map)
    }
}

/// Checks that `got` could be an inner map of `outer`, whose inner maps look like
/// `want`: what the kernel compares (type, key and value sizes, flags; `max_entries`
/// too unless the inner template had `BPF_F_INNER_MAP`), named in the error.
fn check_like(outer: &Map, want: &MapDef, got: &MapDef) -> Result<(), MapError> {
    let wrong = |what: &'static str, g: u32, e: u32| MapError::WrongSize {
        map: outer.name().to_string(),
        what,
        got: g as usize,
        expected: e,
    };
    if want.map_type != got.map_type {
        return Err(MapError::WrongType {
            map: outer.name().to_string(),
            found: got.map_type.name(),
            expected: want.map_type.name(),
        });
    }
    if want.key_size != got.key_size {
        return Err(wrong("inner map key", got.key_size, want.key_size));
    }
    if want.value_size != got.value_size {
        return Err(wrong("inner map value", got.value_size, want.value_size));
    }
    let dynamic = want.map_flags & sys::bpf::map_flags::INNER_MAP != 0;
    if !dynamic && want.max_entries != got.max_entries {
        return Err(wrong(
            "inner map max_entries",
            got.max_entries,
            want.max_entries,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hold_maps_of_the_inner_definition() {
        let inner_def = MapDef::new(MapType::ARRAY, 4, 8, 1);
        let template = Map::create("t_inner", &inner_def).unwrap();
        let outer_def = MapDef::new(MapType::ARRAY_OF_MAPS, 4, 4, 2);
        let outer = Map::create_map_of_maps("t_outer", &outer_def, &template).unwrap();
        assert_eq!(outer.inner_def(), Some(&inner_def));
        let mom: MapOfMaps = (&outer).try_into().unwrap();
        let a = Map::create("t_a", &inner_def).unwrap();
        mom.set(&1, &a).unwrap();
        let id = a.info().unwrap().id;
        assert_eq!(mom.get(&1).unwrap(), Some(id));
        assert_eq!(mom.get(&0).unwrap(), None);
        let opened = mom.get_map(&1).unwrap().unwrap();
        assert_eq!(opened.info().unwrap().id, id);
        // Unlike the inner definition: refused before the kernel is asked.
        let big = Map::create("t_big", &MapDef::new(MapType::ARRAY, 4, 16, 1)).unwrap();
        let e = mom.set(&0, &big).unwrap_err();
        assert_eq!(
            e.to_string(),
            "map 't_outer': inner map value is 16 bytes, the map's is 8"
        );
        assert!(mom.remove(&1).unwrap());
        assert!(MapOfMaps::<u64>::try_from(&outer).is_err());
    }
}
