//! Hash maps: [`HashMap`] (also over LRU hash maps).

use std::marker::PhantomData;

use super::{Map, MapError, MapFlags, MapType};
use crate::pod::Pod;
use crate::sys;

/// A hash map with typed keys and values, sizes checked once.
///
/// Made from a [`Map`] with `try_into()`, which checks the map's type (hash or LRU hash)
/// and that its key and value sizes are those of `K` and `V`. Keys and values are any
/// [`Pod`] types: integers, arrays, or `#[repr(C)]` structs with `#[derive(Pod)]`.
///
/// # Examples
///
/// hello.bpf.c counts execs per uid in `counts` (`u32` → `u64`); read them all (needs
/// root):
///
/// ```no_run
/// use corebpf::{map::HashMap, Loader};
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
/// let _links = obj.attach_all()?;
/// let counts: HashMap<u32, u64> = obj.map("counts").expect("counts").try_into()?;
/// for uid in counts.keys() {
///     let uid = uid?;
///     if let Some(n) = counts.get(&uid)? {
///         println!("uid {uid}: {n} execs");
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct HashMap<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

impl<'a, K: Pod, V: Pod> TryFrom<&'a Map> for HashMap<'a, K, V> {
    type Error = MapError;

    fn try_from(map: &'a Map) -> Result<Self, MapError> {
        let t = map.map_type();
        if ![MapType::HASH, MapType::LRU_HASH].contains(&t) {
            return Err(MapError::WrongType {
                map: map.name.clone(),
                found: t.name(),
                expected: "hash or lru_hash",
            });
        }
        map.check("key", std::mem::size_of::<K>(), map.def.key_size)?;
        map.check("value", std::mem::size_of::<V>(), map.def.value_size)?;
        Ok(HashMap {
            map,
            _t: PhantomData,
        })
    }
}

impl<K: Pod, V: Pod> HashMap<'_, K, V> {
    /// The value for `key`, if present.
    pub fn get(&self, key: &K) -> Result<Option<V>, MapError> {
        let mut v = V::zeroed();
        let found =
            sys::bpf::map_lookup_elem(&self.map.fd.access(), key.as_bytes(), v.as_bytes_mut(), 0)
                .map_err(self.map.sys_err())?;
        Ok(found.then_some(v))
    }

    /// Inserts or updates `key`, as `flags` allow (see [`Map::update`]).
    pub fn insert(&self, key: &K, value: &V, flags: MapFlags) -> Result<(), MapError> {
        sys::bpf::map_update_elem(
            &self.map.fd.access(),
            key.as_bytes(),
            value.as_bytes(),
            flags.bits(),
        )
        .map_err(self.map.sys_err())
    }

    /// Removes `key`; false when absent.
    pub fn remove(&self, key: &K) -> Result<bool, MapError> {
        sys::bpf::map_delete_elem(&self.map.fd.access(), key.as_bytes()).map_err(self.map.sys_err())
    }

    /// All keys.
    pub fn keys(&self) -> impl Iterator<Item = Result<K, MapError>> + '_ {
        self.map
            .keys()
            .map(|k| k.map(|b| K::from_bytes(&b).unwrap_or_else(|_| K::zeroed())))
    }
}
