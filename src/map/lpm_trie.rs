//! Longest-prefix-match tries: [`LpmTrie`] and its [`Key`].

use std::marker::PhantomData;

use super::batch;
use super::typed::{check_type, check_value, decode, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::pod::Pod;

/// A key of an LPM trie: `prefix_len` leading bits of `data` (the kernel's
/// `struct bpf_lpm_trie_key_u8`: a `u32` prefix length, then the data bytes, which
/// are compared most significant bit first, so addresses go in network byte order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key<K> {
    /// Number of significant bits of `data`.
    pub prefix_len: u32,
    /// The data, e.g. `[u8; 4]` for an IPv4 address.
    pub data: K,
}

impl<K: Pod> Key<K> {
    /// A key of `prefix_len` bits of `data`.
    pub fn new(prefix_len: u32, data: K) -> Self {
        Key { prefix_len, data }
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + std::mem::size_of::<K>());
        b.extend_from_slice(&self.prefix_len.to_ne_bytes());
        b.extend_from_slice(self.data.as_bytes());
        b
    }

    fn decode(map: &Map, bytes: &[u8]) -> Result<Self, MapError> {
        let (len, data) = bytes.split_at(4.min(bytes.len()));
        Ok(Key {
            prefix_len: decode::<u32>(map, "key", len)?,
            data: decode::<K>(map, "key", data)?,
        })
    }
}

/// An LPM trie (`BPF_MAP_TYPE_LPM_TRIE`): [`get`](LpmTrie::get) returns the value of
/// the longest stored prefix matching the key.
///
/// The map's key size must be 4 + `size_of::<K>()`.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::lpm_trie::{Key, LpmTrie};
/// use corebpf::map::{Map, MapDef, MapType};
/// use corebpf::MapFlags;
///
/// // BPF_F_NO_PREALLOC is required for LPM tries.
/// let def = MapDef::new(MapType::LPM_TRIE, 8, 4, 64).with_flags(1);
/// let map = Map::create("routes", &def)?;
/// let routes: LpmTrie<[u8; 4], u32> = (&map).try_into()?;
/// routes.insert(&Key::new(8, [10, 0, 0, 0]), &1, MapFlags::ANY)?;
/// routes.insert(&Key::new(24, [10, 1, 2, 0]), &2, MapFlags::ANY)?;
/// assert_eq!(routes.get(&Key::new(32, [10, 1, 2, 3]))?, Some(2));
/// assert_eq!(routes.get(&Key::new(32, [10, 9, 9, 9]))?, Some(1));
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct LpmTrie<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

typed_view!(LpmTrie<K, V>, |map| {
    check_type(map, &[MapType::LPM_TRIE], "lpm_trie")?;
    map.check("key", 4 + std::mem::size_of::<K>(), map.def.key_size)?;
    check_value::<V>(map)
});

impl<K: Pod, V: Pod> LpmTrie<'_, K, V> {
    /// The value of the longest stored prefix that matches `key`.
    pub fn get(&self, key: &Key<K>) -> Result<Option<V>, MapError> {
        let mut v = V::zeroed();
        let found = self
            .map
            .lookup_into(&key.encode(), v.as_bytes_mut(), MapFlags::ANY)?;
        Ok(found.then_some(v))
    }

    /// Stores the prefix `key` with `value`, as `flags` allow.
    pub fn insert(&self, key: &Key<K>, value: &V, flags: MapFlags) -> Result<(), MapError> {
        self.map.update(&key.encode(), value.as_bytes(), flags)
    }

    /// Removes the exact prefix `key`; false when absent.
    pub fn remove(&self, key: &Key<K>) -> Result<bool, MapError> {
        self.map.delete(&key.encode())
    }

    /// Every stored prefix (`BPF_MAP_GET_NEXT_KEY`, 4.16+).
    pub fn keys(&self) -> impl Iterator<Item = Result<Key<K>, MapError>> + '_ {
        self.map
            .keys()
            .map(|k| k.and_then(|b| Key::decode(self.map, &b)))
    }

    /// Every stored prefix with its value (a walk of the keys, then a lookup of each;
    /// a prefix deleted during the walk may show a shorter match's value).
    pub fn iter(&self) -> impl Iterator<Item = Result<(Key<K>, V), MapError>> + '_ {
        self.keys().filter_map(|k| {
            let k = match k {
                Ok(k) => k,
                Err(e) => return Some(Err(e)),
            };
            // A lookup of a stored prefix finds that prefix (nothing longer matches
            // fewer bits). One deleted meanwhile is skipped when nothing shorter
            // matches it, and otherwise reads the shorter prefix's value.
            self.get(&k).transpose().map(|v| v.map(|v| (k, v)))
        })
    }

    /// Stores every `keys[i]` → `values[i]` (`BPF_MAP_UPDATE_BATCH` where the kernel
    /// has it for tries, else one at a time); returns how many.
    pub fn update_batch(
        &self,
        keys: &[Key<K>],
        values: &[V],
        flags: MapFlags,
    ) -> Result<usize, MapError> {
        batch::check_lengths(self.map, keys.len(), values.len())?;
        let k: Vec<u8> = keys.iter().flat_map(|k| k.encode()).collect();
        self.map
            .update_batch(&k, &batch::encode_slice(values), flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::MapDef;
    use crate::sys::bpf::map_flags::NO_PREALLOC;

    #[test]
    fn longest_prefix_wins() {
        let def = MapDef::new(MapType::LPM_TRIE, 8, 4, 16).with_flags(NO_PREALLOC);
        let m = Map::create("t_lpm", &def).unwrap();
        let t: LpmTrie<[u8; 4], u32> = (&m).try_into().unwrap();
        t.insert(&Key::new(8, [10, 0, 0, 0]), &8, MapFlags::ANY)
            .unwrap();
        t.update_batch(
            &[Key::new(16, [10, 1, 0, 0]), Key::new(24, [10, 1, 2, 0])],
            &[16, 24],
            MapFlags::ANY,
        )
        .unwrap();
        assert_eq!(t.get(&Key::new(32, [10, 1, 2, 3])).unwrap(), Some(24));
        assert_eq!(t.get(&Key::new(32, [10, 1, 9, 3])).unwrap(), Some(16));
        assert_eq!(t.get(&Key::new(32, [10, 9, 9, 9])).unwrap(), Some(8));
        assert_eq!(t.get(&Key::new(32, [11, 0, 0, 0])).unwrap(), None);
        let mut all: Vec<(u32, u32)> = t
            .iter()
            .map(|e| e.map(|(k, v)| (k.prefix_len, v)))
            .collect::<Result<_, _>>()
            .unwrap();
        all.sort_unstable();
        assert_eq!(all, [(8, 8), (16, 16), (24, 24)]);
        assert!(t.remove(&Key::new(24, [10, 1, 2, 0])).unwrap());
        assert_eq!(t.get(&Key::new(32, [10, 1, 2, 3])).unwrap(), Some(16));
        let e = LpmTrie::<[u8; 16], u32>::try_from(&m).err().unwrap();
        assert_eq!(
            e.to_string(),
            "map 't_lpm': key is 20 bytes, the map's is 8"
        );
    }
}
