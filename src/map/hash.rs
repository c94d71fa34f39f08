//! Hash maps: [`HashMap`] (hash and LRU hash) and [`LruHashMap`] (LRU hash only).

use std::marker::PhantomData;

use super::batch;
use super::iter::{Entries, TypedKeys};
use super::typed::{check_all, decode, typed_view};
use super::{Map, MapType};
use crate::pod::Pod;

/// The element, iteration and batch operations of a map keyed by `K` with plain `V`
/// values (hash, LRU hash): generated for each view.
macro_rules! keyed_ops {
    ($view:ident) => {
        impl<K: Pod, V: Pod> $view<'_, K, V> {
            /// The value for `key`, if present.
            pub fn get(&self, key: &K) -> Result<Option<V>, $crate::map::MapError> {
                self.get_with(key, $crate::map::MapFlags::ANY)
            }

            /// The value for `key`, if present, copied under its `bpf_spin_lock` when
            /// `flags` is [`MapFlags::LOCK`](crate::map::MapFlags::LOCK).
            pub fn get_with(
                &self,
                key: &K,
                flags: $crate::map::MapFlags,
            ) -> Result<Option<V>, $crate::map::MapError> {
                let mut v = V::zeroed();
                let found = self
                    .map
                    .lookup_into(key.as_bytes(), v.as_bytes_mut(), flags)?;
                Ok(found.then_some(v))
            }

            /// Inserts or updates `key`, as `flags` allow (see
            /// [`Map::update`](crate::map::Map::update)).
            pub fn insert(
                &self,
                key: &K,
                value: &V,
                flags: $crate::map::MapFlags,
            ) -> Result<(), $crate::map::MapError> {
                self.map.update(key.as_bytes(), value.as_bytes(), flags)
            }

            /// Removes `key`; false when absent.
            pub fn remove(&self, key: &K) -> Result<bool, $crate::map::MapError> {
                self.map.delete(key.as_bytes())
            }

            /// Removes `key` and returns its value, in one step where the kernel can
            /// (5.14+; before, a lookup then a delete).
            pub fn lookup_and_delete(&self, key: &K) -> Result<Option<V>, $crate::map::MapError> {
                let mut v = V::zeroed();
                let found = self
                    .map
                    .lookup_and_delete_into(key.as_bytes(), v.as_bytes_mut())?;
                Ok(found.then_some(v))
            }

            /// All keys.
            pub fn keys(&self) -> TypedKeys<'_, K> {
                TypedKeys::new(self.map)
            }

            /// All entries, each key with its value.
            pub fn iter(&self) -> Entries<'_, K, V> {
                Entries::new(self.map, |m, b| decode::<V>(m, "value", b))
            }

            /// Every entry, read with `BPF_MAP_LOOKUP_BATCH` (one syscall per batch of
            /// entries), or one element at a time where the kernel has no batch
            /// command for this map.
            pub fn lookup_batch(&self) -> Result<Vec<(K, V)>, $crate::map::MapError> {
                batch::read_all(self.map, false)
            }

            /// [`lookup_batch`](Self::lookup_batch) into `out` (its contents replaced,
            /// its capacity reused): for a caller that reads the map again and again.
            /// Returns the number of entries.
            pub fn lookup_batch_into(
                &self,
                out: &mut Vec<(K, V)>,
            ) -> Result<usize, $crate::map::MapError> {
                batch::read_all_into(self.map, false, out)
            }

            /// Every entry, removed as it is read (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`,
            /// or one element at a time).
            pub fn lookup_and_delete_batch(&self) -> Result<Vec<(K, V)>, $crate::map::MapError> {
                batch::read_all(self.map, true)
            }

            /// Inserts or updates `keys[i]` → `values[i]` for every `i`
            /// (`BPF_MAP_UPDATE_BATCH`, or one element at a time); returns how many.
            /// A failure part-way is [`MapError::Batch`](crate::map::MapError::Batch),
            /// saying how many were written.
            pub fn update_batch(
                &self,
                keys: &[K],
                values: &[V],
                flags: $crate::map::MapFlags,
            ) -> Result<usize, $crate::map::MapError> {
                batch::check_lengths(self.map, keys.len(), values.len())?;
                self.map.update_batch(
                    &batch::encode_slice(keys),
                    &batch::encode_slice(values),
                    flags,
                )
            }

            /// Deletes every key of `keys` (`BPF_MAP_DELETE_BATCH`, or one element at a
            /// time); returns how many. A missing key stops the batch, as the kernel
            /// does: [`MapError::Batch`](crate::map::MapError::Batch) with `ENOENT`.
            pub fn delete_batch(&self, keys: &[K]) -> Result<usize, $crate::map::MapError> {
                self.map.delete_batch(&batch::encode_slice(keys))
            }
        }
    };
}

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
/// for entry in counts.iter() {
///     let (uid, n) = entry?;
///     println!("uid {uid}: {n} execs");
/// }
/// // The same in a few syscalls, whatever the number of entries:
/// let all = counts.lookup_batch()?;
/// println!("{} uids", all.len());
/// # Ok(())
/// # }
/// ```
pub struct HashMap<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

typed_view!(HashMap<K, V>, |map| check_all::<K, V>(
    map,
    &[MapType::HASH, MapType::LRU_HASH],
    "hash or lru_hash"
));
keyed_ops!(HashMap);

/// An LRU hash map (`BPF_MAP_TYPE_LRU_HASH`) with typed keys and values: a
/// [`HashMap`] whose oldest entries the kernel evicts when it is full.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{LruHashMap, Map, MapDef, MapType};
/// use corebpf::MapFlags;
///
/// let map = Map::create("recent", &MapDef::new(MapType::LRU_HASH, 4, 8, 2))?;
/// let lru: LruHashMap<u32, u64> = (&map).try_into()?;
/// for k in 0..100 {
///     lru.insert(&k, &0, MapFlags::ANY)?; // never full: old keys make room
/// }
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct LruHashMap<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

typed_view!(LruHashMap<K, V>, |map| check_all::<K, V>(
    map,
    &[MapType::LRU_HASH],
    "lru_hash"
));
keyed_ops!(LruHashMap);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{MapDef, MapError, MapFlags};

    fn scratch(t: MapType, entries: u32) -> Map {
        Map::create("t_hash", &MapDef::new(t, 4, 8, entries)).expect("creating a map (root)")
    }

    #[test]
    fn conversion_checks_type_and_sizes_once() {
        let m = scratch(MapType::HASH, 4);
        let e = HashMap::<u64, u64>::try_from(&m).err().unwrap();
        assert_eq!(
            e.to_string(),
            "map 't_hash': key is 8 bytes, the map's is 4"
        );
        let e = HashMap::<u32, u32>::try_from(&m).err().unwrap();
        assert_eq!(
            e.to_string(),
            "map 't_hash': value is 4 bytes, the map's is 8"
        );
        let e = LruHashMap::<u32, u64>::try_from(&m).err().unwrap();
        assert_eq!(e.to_string(), "map 't_hash' is a hash map, not lru_hash");
        let a = scratch(MapType::ARRAY, 4);
        assert!(HashMap::<u32, u64>::try_from(&a).is_err());
    }

    /// The flags reach the kernel: NOEXIST refuses an existing key, EXIST a missing one.
    #[test]
    fn update_flags_decide_create_or_overwrite() {
        let m = scratch(MapType::HASH, 16);
        let map: HashMap<u32, u64> = (&m).try_into().unwrap();
        let errno = |r: Result<(), MapError>| match r {
            Err(MapError::Sys { source, .. }) => source.errno(),
            other => panic!("expected a kernel refusal, got {other:?}"),
        };
        assert_eq!(errno(map.insert(&7, &1, MapFlags::EXIST)), libc::ENOENT);
        map.insert(&7, &1, MapFlags::NOEXIST).unwrap();
        assert_eq!(errno(map.insert(&7, &2, MapFlags::NOEXIST)), libc::EEXIST);
        map.insert(&7, &3, MapFlags::EXIST).unwrap();
        map.insert(&7, &4, MapFlags::default()).unwrap();
        assert_eq!(map.get(&7).unwrap(), Some(4));
        assert_eq!(map.lookup_and_delete(&7).unwrap(), Some(4));
        assert_eq!(map.get(&7).unwrap(), None);
        assert_eq!(map.lookup_and_delete(&7).unwrap(), None);
        assert!(!map.remove(&7).unwrap());
    }

    #[test]
    fn keys_and_entries_walk_every_element() {
        let m = scratch(MapType::LRU_HASH, 64);
        let map: LruHashMap<u32, u64> = (&m).try_into().unwrap();
        for k in 0..10u32 {
            map.insert(&k, &(u64::from(k) * 7), MapFlags::ANY).unwrap();
        }
        let mut keys: Vec<u32> = map.keys().collect::<Result<_, _>>().unwrap();
        keys.sort_unstable();
        assert_eq!(keys, (0..10).collect::<Vec<_>>());
        let mut entries: Vec<(u32, u64)> = map.iter().collect::<Result<_, _>>().unwrap();
        entries.sort_unstable();
        assert_eq!(
            entries,
            (0..10u32)
                .map(|k| (k, u64::from(k) * 7))
                .collect::<Vec<_>>()
        );
        // The untyped walk agrees.
        assert_eq!(m.keys().count(), 10);
    }
}
