//! Per-CPU maps: [`PerCpuHashMap`], [`LruPerCpuHashMap`], [`PerCpuArray`], and
//! [`PerCpuValues`], one value per possible CPU.
//!
//! User space reads and writes a per-CPU element as one slot per *possible* CPU
//! (`/sys/devices/system/cpu/possible`, not the online ones), each slot the value
//! rounded up to 8 bytes; the padding is zero.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::array::bound;
use super::batch;
use super::iter::{Entries, KeyCursor, MapValue, TypedKeys};
use super::typed::{check_all, check_type, check_value, decode, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::pod::Pod;
use crate::sys;

/// The number of possible CPUs (`num_possible_cpus()`): how many values a per-CPU map
/// holds per element. Read once per process from `/sys/devices/system/cpu/possible`.
pub fn possible_cpus() -> Result<u32, MapError> {
    sys::possible_cpus().map_err(|source| MapError::Sys {
        map: String::new(),
        source,
    })
}

/// One value per possible CPU, in CPU order: what a per-CPU map holds per element.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::PerCpuValues;
///
/// // The same starting value on every CPU, for an insert:
/// let zeros = PerCpuValues::splat(0u64)?;
/// assert_eq!(zeros.len() as u32, corebpf::map::possible_cpus()?);
/// // A counter each CPU bumped: the total is the sum.
/// let total: u64 = zeros.iter().sum();
/// # Ok::<(), corebpf::MapError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerCpuValues<V>(Box<[V]>);

impl<V: Pod> PerCpuValues<V> {
    /// Wraps `values`, which must hold one value per possible CPU.
    pub fn new(values: Vec<V>) -> Result<Self, MapError> {
        let cpus = possible_cpus()?;
        if values.len() != cpus as usize {
            return Err(MapError::PerCpuCount {
                map: String::new(),
                got: values.len(),
                expected: cpus,
            });
        }
        Ok(PerCpuValues(values.into_boxed_slice()))
    }

    /// `f(cpu)` for every possible CPU.
    pub fn from_fn(f: impl FnMut(u32) -> V) -> Result<Self, MapError> {
        Ok(PerCpuValues((0..possible_cpus()?).map(f).collect()))
    }

    /// `value` on every possible CPU.
    pub fn splat(value: V) -> Result<Self, MapError> {
        Self::from_fn(|_| value)
    }

    /// The values, in CPU order.
    pub fn into_vec(self) -> Vec<V> {
        self.0.into_vec()
    }

    /// Bytes between two CPUs' values: the value rounded up to 8.
    fn stride() -> usize {
        std::mem::size_of::<V>().next_multiple_of(8)
    }

    /// Decodes the kernel's padded slots.
    pub(crate) fn decode(map: &Map, bytes: &[u8]) -> Result<Self, MapError> {
        let (stride, size) = (Self::stride(), std::mem::size_of::<V>());
        if stride == 0 || bytes.len() % stride != 0 {
            return Err(MapError::WrongSize {
                map: map.name.clone(),
                what: "per-CPU value buffer",
                got: bytes.len(),
                expected: map.value_buf_size() as u32,
            });
        }
        bytes
            .chunks_exact(stride)
            .map(|slot| decode::<V>(map, "value", &slot[..size]))
            .collect::<Result<Box<[V]>, _>>()
            .map(PerCpuValues)
    }

    /// Encodes into the kernel's padded slots (`buf` is cleared first).
    pub(crate) fn encode_into(&self, map: &Map, buf: &mut Vec<u8>) -> Result<(), MapError> {
        let want = map.value_buf_size();
        if self.0.len() * Self::stride() != want {
            return Err(MapError::PerCpuCount {
                map: map.name.clone(),
                got: self.0.len(),
                expected: (want / Self::stride().max(1)) as u32,
            });
        }
        buf.clear();
        buf.resize(want, 0);
        for (slot, v) in buf.chunks_exact_mut(Self::stride()).zip(self.0.iter()) {
            slot[..std::mem::size_of::<V>()].copy_from_slice(v.as_bytes());
        }
        Ok(())
    }

    fn encode(&self, map: &Map) -> Result<Vec<u8>, MapError> {
        let mut buf = Vec::new();
        self.encode_into(map, &mut buf)?;
        Ok(buf)
    }
}

impl<V> Deref for PerCpuValues<V> {
    type Target = [V];

    fn deref(&self) -> &[V] {
        &self.0
    }
}

impl<V> DerefMut for PerCpuValues<V> {
    fn deref_mut(&mut self) -> &mut [V] {
        &mut self.0
    }
}

fn decode_percpu<V: Pod>(map: &Map, bytes: &[u8]) -> Result<PerCpuValues<V>, MapError> {
    PerCpuValues::decode(map, bytes)
}

impl<V: Pod> MapValue for PerCpuValues<V> {
    fn decode(map: &Map, bytes: &[u8]) -> Result<Self, MapError> {
        PerCpuValues::decode(map, bytes)
    }

    fn decode_into(&mut self, map: &Map, bytes: &[u8]) -> Result<(), MapError> {
        let (stride, size) = (Self::stride(), std::mem::size_of::<V>());
        if stride == 0 || bytes.len() != self.0.len() * stride {
            *self = Self::decode(map, bytes)?;
            return Ok(());
        }
        for (v, slot) in self.0.iter_mut().zip(bytes.chunks_exact(stride)) {
            v.as_bytes_mut().copy_from_slice(&slot[..size]);
        }
        Ok(())
    }
}

/// The operations of per-CPU hash maps, generated for each view.
macro_rules! percpu_hash_ops {
    ($view:ident) => {
        impl<K: Pod, V: Pod> $view<'_, K, V> {
            /// The values of `key` on every CPU, if present.
            pub fn get(&self, key: &K) -> Result<Option<PerCpuValues<V>>, MapError> {
                let mut buf = vec![0u8; self.map.value_buf_size()];
                if !self
                    .map
                    .lookup_into(key.as_bytes(), &mut buf, MapFlags::ANY)?
                {
                    return Ok(None);
                }
                PerCpuValues::decode(self.map, &buf).map(Some)
            }

            /// Inserts or updates `key` with one value per CPU, as `flags` allow.
            pub fn insert(
                &self,
                key: &K,
                values: &PerCpuValues<V>,
                flags: MapFlags,
            ) -> Result<(), MapError> {
                self.map
                    .update(key.as_bytes(), &values.encode(self.map)?, flags)
            }

            /// Removes `key`; false when absent.
            pub fn remove(&self, key: &K) -> Result<bool, MapError> {
                self.map.delete(key.as_bytes())
            }

            /// All keys.
            pub fn keys(&self) -> TypedKeys<'_, K> {
                TypedKeys::new(self.map)
            }

            /// All entries, each key with its per-CPU values.
            pub fn iter(&self) -> Entries<'_, K, PerCpuValues<V>> {
                Entries::new(self.map, decode_percpu::<V>)
            }

            /// Every entry in a few syscalls (`BPF_MAP_LOOKUP_BATCH`, or one at a time).
            pub fn lookup_batch(&self) -> Result<Vec<(K, PerCpuValues<V>)>, MapError> {
                batch::read_all(self.map, false)
            }

            /// [`lookup_batch`](Self::lookup_batch) into `out` (its contents replaced,
            /// its capacity reused). Returns the number of entries.
            pub fn lookup_batch_into(
                &self,
                out: &mut Vec<(K, PerCpuValues<V>)>,
            ) -> Result<usize, MapError> {
                batch::read_all_into(self.map, false, out)
            }

            /// Walks every entry as [`iter`](Self::iter) does (`BPF_MAP_GET_NEXT_KEY`,
            /// then a lookup), but into one buffer reused for the whole walk: each
            /// entry's values are lent as a slice, one per possible CPU, and nothing
            /// is allocated per entry.
            ///
            /// # Examples
            ///
            /// ```no_run
            /// use corebpf::map::{Map, MapDef, MapType, PerCpuHashMap};
            ///
            /// let map = Map::create("hits", &MapDef::new(MapType::PERCPU_HASH, 4, 8, 64))?;
            /// let hits: PerCpuHashMap<u32, u64> = (&map).try_into()?;
            /// let mut cursor = hits.cursor();
            /// while let Some(entry) = cursor.next_entry() {
            ///     let (key, per_cpu) = entry?;
            ///     println!("{key}: {}", per_cpu.iter().sum::<u64>());
            /// }
            /// # Ok::<(), corebpf::MapError>(())
            /// ```
            pub fn cursor(&self) -> PerCpuCursor<'_, K, V> {
                PerCpuCursor::new(self.map)
            }

            /// Every entry, as [`lookup_batch_into`](Self::lookup_batch_into) reads
            /// them (in batches, or one at a time where the kernel has no batch
            /// command), into the flat buffers of `out` (replacing what it holds and
            /// reusing its memory): no allocation per entry, and none at all once
            /// `out` has held the map. Returns the number of entries.
            ///
            /// # Examples
            ///
            /// ```no_run
            /// use corebpf::map::{Map, MapDef, MapType, PerCpuEntries, PerCpuHashMap};
            ///
            /// let map = Map::create("hits", &MapDef::new(MapType::PERCPU_HASH, 4, 8, 64))?;
            /// let hits: PerCpuHashMap<u32, u64> = (&map).try_into()?;
            /// let mut all = PerCpuEntries::new();
            /// hits.lookup_batch_flat(&mut all)?;
            /// for (key, per_cpu) in &all {
            ///     println!("{key}: {}", per_cpu.iter().sum::<u64>());
            /// }
            /// # Ok::<(), corebpf::MapError>(())
            /// ```
            pub fn lookup_batch_flat(
                &self,
                out: &mut PerCpuEntries<K, V>,
            ) -> Result<usize, MapError> {
                out.read(self.map, false)
            }

            /// Every entry, removed as it is read.
            pub fn lookup_and_delete_batch(&self) -> Result<Vec<(K, PerCpuValues<V>)>, MapError> {
                batch::read_all(self.map, true)
            }

            /// Inserts or updates `keys[i]` → `values[i]` (`BPF_MAP_UPDATE_BATCH`, or
            /// one at a time); returns how many.
            pub fn update_batch(
                &self,
                keys: &[K],
                values: &[PerCpuValues<V>],
                flags: MapFlags,
            ) -> Result<usize, MapError> {
                batch::check_lengths(self.map, keys.len(), values.len())?;
                let mut bytes = Vec::with_capacity(values.len() * self.map.value_buf_size());
                let mut one = Vec::new();
                for v in values {
                    v.encode_into(self.map, &mut one)?;
                    bytes.extend_from_slice(&one);
                }
                self.map
                    .update_batch(&batch::encode_slice(keys), &bytes, flags)
            }

            /// Deletes every key of `keys`; returns how many.
            pub fn delete_batch(&self, keys: &[K]) -> Result<usize, MapError> {
                self.map.delete_batch(&batch::encode_slice(keys))
            }
        }
    };
}

/// A per-CPU hash map (`BPF_MAP_TYPE_PERCPU_HASH`, or LRU): each key has one `V` per
/// possible CPU, which programs update without atomics.
///
/// # Examples
///
/// Sum a per-CPU counter over the CPUs:
///
/// ```no_run
/// use corebpf::map::{Map, MapDef, MapType, PerCpuHashMap, PerCpuValues};
/// use corebpf::MapFlags;
///
/// let map = Map::create("hits", &MapDef::new(MapType::PERCPU_HASH, 4, 8, 64))?;
/// let hits: PerCpuHashMap<u32, u64> = (&map).try_into()?;
/// hits.insert(&7, &PerCpuValues::splat(1)?, MapFlags::ANY)?;
/// for entry in hits.iter() {
///     let (key, per_cpu) = entry?;
///     println!("{key}: {}", per_cpu.iter().sum::<u64>());
/// }
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct PerCpuHashMap<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

typed_view!(PerCpuHashMap<K, V>, |map| check_all::<K, V>(
    map,
    &[MapType::PERCPU_HASH, MapType::LRU_PERCPU_HASH],
    "percpu_hash or lru_percpu_hash"
));
percpu_hash_ops!(PerCpuHashMap);

/// An LRU per-CPU hash map (`BPF_MAP_TYPE_LRU_PERCPU_HASH`): a [`PerCpuHashMap`]
/// whose oldest entries the kernel evicts when it is full.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{LruPerCpuHashMap, Map, MapDef, MapType};
///
/// let map = Map::create("flows", &MapDef::new(MapType::LRU_PERCPU_HASH, 8, 8, 1024))?;
/// let flows: LruPerCpuHashMap<u64, u64> = (&map).try_into()?;
/// assert!(flows.get(&1)?.is_none());
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct LruPerCpuHashMap<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

typed_view!(LruPerCpuHashMap<K, V>, |map| check_all::<K, V>(
    map,
    &[MapType::LRU_PERCPU_HASH],
    "lru_percpu_hash"
));
percpu_hash_ops!(LruPerCpuHashMap);

/// A per-CPU array (`BPF_MAP_TYPE_PERCPU_ARRAY`): each slot has one `V` per possible
/// CPU.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{Map, MapDef, MapType, PerCpuArray};
///
/// let map = Map::create("stats", &MapDef::new(MapType::PERCPU_ARRAY, 4, 8, 4))?;
/// let stats: PerCpuArray<u64> = (&map).try_into()?;
/// let slot0 = stats.get(0)?;
/// println!("slot 0 on CPU 0: {}, total {}", slot0[0], slot0.iter().sum::<u64>());
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct PerCpuArray<'a, V: Pod> {
    map: &'a Map,
    _t: PhantomData<V>,
}

typed_view!(PerCpuArray<V>, |map| {
    check_type(map, &[MapType::PERCPU_ARRAY], "percpu_array")?;
    check_value::<V>(map)
});

impl<V: Pod> PerCpuArray<'_, V> {
    /// The values of slot `index` on every CPU.
    pub fn get(&self, index: u32) -> Result<PerCpuValues<V>, MapError> {
        bound(self.map, index)?;
        let mut buf = vec![0u8; self.map.value_buf_size()];
        self.map
            .lookup_into(&index.to_ne_bytes(), &mut buf, MapFlags::ANY)?;
        PerCpuValues::decode(self.map, &buf)
    }

    /// Sets slot `index` to one value per CPU.
    pub fn set(&self, index: u32, values: &PerCpuValues<V>) -> Result<(), MapError> {
        bound(self.map, index)?;
        self.map.update(
            &index.to_ne_bytes(),
            &values.encode(self.map)?,
            MapFlags::ANY,
        )
    }

    /// Every slot, in index order.
    pub fn iter(&self) -> Entries<'_, u32, PerCpuValues<V>> {
        Entries::new(self.map, decode_percpu::<V>)
    }

    /// Every slot in a few syscalls (`BPF_MAP_LOOKUP_BATCH`, or one at a time).
    pub fn lookup_batch(&self) -> Result<Vec<PerCpuValues<V>>, MapError> {
        let all = batch::read_all::<u32, PerCpuValues<V>>(self.map, false)?;
        Ok(all.into_iter().map(|(_, v)| v).collect())
    }

    /// Every slot in index order, into one buffer reused for the whole walk (see
    /// [`PerCpuHashMap::cursor`]).
    pub fn cursor(&self) -> PerCpuCursor<'_, u32, V> {
        PerCpuCursor::new(self.map)
    }

    /// Every slot, in batches, into the flat buffers of `out` (see
    /// [`PerCpuHashMap::lookup_batch_flat`]); keys are the indices.
    pub fn lookup_batch_flat(&self, out: &mut PerCpuEntries<u32, V>) -> Result<usize, MapError> {
        out.read(self.map, false)
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

/// The entries of a per-CPU map in two flat buffers, filled by
/// [`PerCpuHashMap::lookup_batch_flat`] (or the same method of [`LruPerCpuHashMap`] and
/// [`PerCpuArray`]) and meant to be kept and refilled: the `i`-th key's values are
/// `values()[i * cpus() .. (i + 1) * cpus()]`, one per possible CPU. Where
/// [`PerCpuHashMap::lookup_batch_into`] decodes each entry into its own
/// [`PerCpuValues`], this is the layout the kernel writes, so reading the map again
/// costs no allocation and, for values without padding (`u64`, 8-byte-multiple
/// structs), no copy.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{Map, MapDef, MapType, PerCpuEntries, PerCpuHashMap};
///
/// let map = Map::create("bytes", &MapDef::new(MapType::PERCPU_HASH, 4, 8, 1024))?;
/// let bytes: PerCpuHashMap<u32, u64> = (&map).try_into()?;
/// let mut all = PerCpuEntries::new();
/// loop {
///     bytes.lookup_batch_flat(&mut all)?;
///     let total: u64 = all.values().iter().sum();
///     println!("{} keys, {total} bytes", all.len());
///     # break;
/// }
/// # Ok::<(), corebpf::MapError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerCpuEntries<K, V> {
    keys: Vec<K>,
    values: Vec<V>,
    cpus: usize,
}

impl<K, V> Default for PerCpuEntries<K, V> {
    fn default() -> Self {
        PerCpuEntries {
            keys: Vec::new(),
            values: Vec::new(),
            cpus: 0,
        }
    }
}

impl<K: Pod, V: Pod> PerCpuEntries<K, V> {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every entry of `map` into the buffers.
    fn read(&mut self, map: &Map, delete: bool) -> Result<usize, MapError> {
        let stride = std::mem::size_of::<V>().next_multiple_of(8).max(1);
        self.cpus = map.value_buf_size() / stride;
        batch::read_all_flat(map, delete, &mut self.keys, &mut self.values)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no entry was read.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Values per entry: the number of possible CPUs (0 before the first read).
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// Every key, in the order read.
    pub fn keys(&self) -> &[K] {
        &self.keys
    }

    /// Every value, entry after entry, [`cpus`](Self::cpus) per entry.
    pub fn values(&self) -> &[V] {
        &self.values
    }

    /// The `i`-th entry: its key and its value on each CPU.
    pub fn get(&self, i: usize) -> Option<(&K, &[V])> {
        let key = self.keys.get(i)?;
        let start = i.checked_mul(self.cpus)?;
        Some((key, self.values.get(start..start.checked_add(self.cpus)?)?))
    }

    /// Every entry: its key and its value on each CPU.
    pub fn iter(&self) -> PerCpuEntriesIter<'_, K, V> {
        PerCpuEntriesIter {
            // `cpus` is 0 only while both buffers are empty.
            inner: self
                .keys
                .iter()
                .zip(self.values.chunks_exact(self.cpus.max(1))),
        }
    }
}

impl<'e, K: Pod, V: Pod> IntoIterator for &'e PerCpuEntries<K, V> {
    type Item = (&'e K, &'e [V]);
    type IntoIter = PerCpuEntriesIter<'e, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The entries of a [`PerCpuEntries`], each a key and its value on every CPU
/// ([`PerCpuEntries::iter`]).
#[derive(Clone, Debug)]
pub struct PerCpuEntriesIter<'e, K, V> {
    inner: std::iter::Zip<std::slice::Iter<'e, K>, std::slice::ChunksExact<'e, V>>,
}

impl<'e, K, V> Iterator for PerCpuEntriesIter<'e, K, V> {
    type Item = (&'e K, &'e [V]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<K, V> ExactSizeIterator for PerCpuEntriesIter<'_, K, V> {}

/// A walk over a per-CPU map's entries that lends each entry's values from one buffer
/// ([`PerCpuHashMap::cursor`], [`PerCpuArray::cursor`]): `BPF_MAP_GET_NEXT_KEY`, then a
/// lookup into the buffer, with nothing allocated per entry. A key deleted between the
/// two steps is skipped.
///
/// It is not an [`Iterator`], since each entry borrows the cursor: walk it with
/// `while let Some(entry) = cursor.next_entry()`.
pub struct PerCpuCursor<'a, K, V> {
    keys: KeyCursor<'a>,
    /// One value per possible CPU, what each entry lends.
    values: Vec<V>,
    /// The raw value when `V` is padded to its 8-byte slot (empty otherwise: the
    /// kernel writes into `values` directly).
    raw: Vec<u8>,
    _k: PhantomData<fn() -> K>,
}

impl<'a, K: Pod, V: Pod> PerCpuCursor<'a, K, V> {
    fn new(map: &'a Map) -> Self {
        let size = std::mem::size_of::<V>();
        let stride = size.next_multiple_of(8).max(1);
        let cpus = map.value_buf_size() / stride;
        let padded = size != stride;
        PerCpuCursor {
            keys: KeyCursor::new(map),
            values: vec![V::zeroed(); cpus],
            raw: if padded {
                vec![0; map.value_buf_size()]
            } else {
                Vec::new()
            },
            _k: PhantomData,
        }
    }

    /// The next entry: its key and its value on each possible CPU, borrowed until the
    /// following call; `None` at the end.
    pub fn next_entry(&mut self) -> Option<Result<(K, &[V]), MapError>> {
        let map = self.keys.map();
        let size = std::mem::size_of::<V>();
        loop {
            let key = match self.keys.advance()? {
                Ok(k) => k,
                Err(e) => return Some(Err(e)),
            };
            // One call site, so that the lookup is inlined here as the key walk is.
            let out = if self.raw.is_empty() {
                crate::pod::slice_bytes_mut(&mut self.values)
            } else {
                &mut self.raw[..]
            };
            match map.lookup_into(key, out, MapFlags::ANY) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Some(Err(e)),
            }
            if !self.raw.is_empty() {
                let stride = size.next_multiple_of(8);
                for (v, slot) in self.values.iter_mut().zip(self.raw.chunks_exact(stride)) {
                    v.as_bytes_mut().copy_from_slice(&slot[..size]);
                }
            }
            return Some(decode::<K>(map, "key", key).map(|k| (k, &self.values[..])));
        }
    }
}

impl<K, V> std::fmt::Debug for PerCpuCursor<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerCpuCursor")
            .field("map", &self.keys.map().name())
            .field("cpus", &self.values.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::MapDef;

    /// The cursor and the flat batch read give what `iter` and `lookup_batch` give, for
    /// values read in place (`u64`) and through padded slots (`u32`), reusing their
    /// buffers from call to call.
    #[test]
    fn cursor_and_flat_batches_match_the_owned_reads() {
        fn check<V: Pod + PartialEq + std::fmt::Debug + Ord>(make: fn(u32, u32) -> V) {
            let cpus = possible_cpus().unwrap() as usize;
            let size = std::mem::size_of::<V>() as u32;
            let m = Map::create("t_flat", &MapDef::new(MapType::PERCPU_HASH, 4, size, 64)).unwrap();
            let h: PerCpuHashMap<u32, V> = (&m).try_into().unwrap();
            let mut flat = PerCpuEntries::new();
            assert_eq!(h.lookup_batch_flat(&mut flat).unwrap(), 0);
            assert!(flat.is_empty() && flat.values().is_empty());
            assert_eq!(flat.cpus(), cpus);
            for k in 0..40 {
                let v = PerCpuValues::from_fn(|cpu| make(k, cpu)).unwrap();
                h.insert(&k, &v, MapFlags::ANY).unwrap();
            }
            let mut want: Vec<(u32, Vec<V>)> = h
                .iter()
                .map(|e| e.map(|(k, v)| (k, v.into_vec())))
                .collect::<Result<_, _>>()
                .unwrap();
            want.sort();
            assert_eq!(want.len(), 40);
            assert_eq!(want[7], (7, (0..cpus as u32).map(|c| make(7, c)).collect()));

            let mut got = Vec::new();
            let mut cursor = h.cursor();
            while let Some(entry) = cursor.next_entry() {
                let (k, v) = entry.unwrap();
                got.push((k, v.to_vec()));
            }
            assert!(cursor.next_entry().is_none(), "the walk stays ended");
            got.sort();
            assert_eq!(got, want);

            // Twice into the same buffers: the same entries, nothing left over.
            for _ in 0..2 {
                assert_eq!(h.lookup_batch_flat(&mut flat).unwrap(), 40);
                assert_eq!((flat.len(), flat.values().len()), (40, 40 * cpus));
                assert_eq!(flat.keys().len(), 40);
                let mut got: Vec<(u32, Vec<V>)> =
                    flat.iter().map(|(k, v)| (*k, v.to_vec())).collect();
                got.sort();
                assert_eq!(got, want);
                let (k, v) = flat.get(39).unwrap();
                assert_eq!(v, &want[*k as usize].1[..]);
                assert!(flat.get(40).is_none());
                assert_eq!((&flat).into_iter().len(), 40);
            }
            // Fewer entries: the buffers shrink to them.
            h.delete_batch(&(0..30).collect::<Vec<u32>>()).unwrap();
            assert_eq!(h.lookup_batch_flat(&mut flat).unwrap(), 10);
            assert_eq!((flat.len(), flat.values().len()), (10, 10 * cpus));
            assert!(flat.keys().iter().all(|&k| k >= 30));
        }
        check::<u64>(|k, cpu| u64::from(k) << 32 | u64::from(cpu));
        check::<u32>(|k, cpu| k * 100 + cpu);
    }

    /// Without the kernel's batch command, the flat read walks the keys instead.
    #[test]
    fn flat_batches_fall_back_to_elements() {
        use crate::sys::{with_syscall_override, Syscall};
        let cpus = possible_cpus().unwrap() as usize;
        let m = Map::create("t_flatfb", &MapDef::new(MapType::PERCPU_HASH, 4, 8, 16)).unwrap();
        let h: PerCpuHashMap<u32, u64> = (&m).try_into().unwrap();
        for k in 0..5 {
            h.insert(
                &k,
                &PerCpuValues::splat(u64::from(k)).unwrap(),
                MapFlags::ANY,
            )
            .unwrap();
        }
        let mut flat = PerCpuEntries::new();
        let n = with_syscall_override(
            |c| match c {
                Syscall::Bpf {
                    cmd: crate::sys::bpf::BpfCmd::MapLookupBatch,
                    ..
                } => Some(Err(std::io::Error::from_raw_os_error(libc::EINVAL))),
                _ => None,
            },
            || h.lookup_batch_flat(&mut flat),
        )
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(flat.values().iter().sum::<u64>(), 10 * cpus as u64);
        let arr = Map::create("t_flata", &MapDef::new(MapType::PERCPU_ARRAY, 4, 8, 3)).unwrap();
        let a: PerCpuArray<u64> = (&arr).try_into().unwrap();
        a.set(2, &PerCpuValues::splat(5).unwrap()).unwrap();
        let mut slots = PerCpuEntries::new();
        assert_eq!(a.lookup_batch_flat(&mut slots).unwrap(), 3);
        assert_eq!(slots.keys(), &[0, 1, 2]);
        assert_eq!(slots.get(2).unwrap().1, &vec![5; cpus][..]);
        let mut cursor = a.cursor();
        let mut seen = 0;
        while let Some(entry) = cursor.next_entry() {
            let (i, v) = entry.unwrap();
            assert_eq!(
                v.iter().sum::<u64>(),
                if i == 2 { 5 * cpus as u64 } else { 0 }
            );
            seen += 1;
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn values_are_one_padded_slot_per_possible_cpu() {
        let cpus = possible_cpus().unwrap();
        let m = Map::create("t_pcpu", &MapDef::new(MapType::PERCPU_HASH, 4, 4, 8)).unwrap();
        // u32 values: 4 bytes each, in 8-byte slots.
        assert_eq!(m.value_buf_size(), 8 * cpus as usize);
        let h: PerCpuHashMap<u32, u32> = (&m).try_into().unwrap();
        let v = PerCpuValues::from_fn(|cpu| 100 + cpu).unwrap();
        h.insert(&1, &v, MapFlags::ANY).unwrap();
        let raw = m
            .lookup(&1u32.to_ne_bytes(), MapFlags::ANY)
            .unwrap()
            .unwrap();
        for cpu in 0..cpus as usize {
            assert_eq!(
                &raw[cpu * 8..cpu * 8 + 4],
                &(100 + cpu as u32).to_ne_bytes()
            );
            assert_eq!(&raw[cpu * 8 + 4..cpu * 8 + 8], &[0; 4], "padding");
        }
        assert_eq!(h.get(&1).unwrap().unwrap(), v);
        let all = h.lookup_batch().unwrap();
        assert_eq!(all, vec![(1, v.clone())]);
        let entries: Vec<_> = h.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(entries, vec![(1, v)]);
        assert!(h.remove(&1).unwrap());

        // A vector of the wrong length never reaches the kernel.
        let e = PerCpuValues::new(vec![0u32; cpus as usize + 1]).unwrap_err();
        assert!(matches!(e, MapError::PerCpuCount { .. }), "{e}");

        let a = Map::create("t_pcpua", &MapDef::new(MapType::PERCPU_ARRAY, 4, 8, 2)).unwrap();
        let arr: PerCpuArray<u64> = (&a).try_into().unwrap();
        arr.set(1, &PerCpuValues::splat(9).unwrap()).unwrap();
        let got = arr.lookup_batch().unwrap();
        assert_eq!(got[1].iter().sum::<u64>(), 9 * u64::from(cpus));
        assert!(got[0].iter().all(|&x| x == 0));
        assert!(arr.get(2).is_err());
        assert!(PerCpuHashMap::<u32, u64>::try_from(&a).is_err());
        let lru = Map::create("t_lpcpu", &MapDef::new(MapType::LRU_PERCPU_HASH, 4, 8, 8)).unwrap();
        assert!(LruPerCpuHashMap::<u32, u64>::try_from(&lru).is_ok());
        assert!(PerCpuHashMap::<u32, u64>::try_from(&lru).is_ok());
    }
}
