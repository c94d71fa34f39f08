//! Iteration over a map's keys and entries with `BPF_MAP_GET_NEXT_KEY`, reusing one
//! pair of key buffers for the whole walk.

use std::marker::PhantomData;

use super::typed::decode;
use super::{Map, MapError, MapFlags};
use crate::pod::Pod;
use crate::sys;

/// The walk itself: the previous key and the next one, swapped at each step.
pub(crate) struct KeyCursor<'a> {
    map: &'a Map,
    prev: Vec<u8>,
    next: Vec<u8>,
    started: bool,
    done: bool,
}

impl<'a> KeyCursor<'a> {
    pub(crate) fn new(map: &'a Map) -> Self {
        let n = map.def.key_size as usize;
        KeyCursor {
            map,
            prev: vec![0; n],
            next: vec![0; n],
            started: false,
            done: false,
        }
    }

    /// The map walked.
    pub(crate) fn map(&self) -> &'a Map {
        self.map
    }

    /// The next key, borrowed until the following call; `None` at the end.
    #[inline]
    pub(crate) fn advance(&mut self) -> Option<Result<&[u8], MapError>> {
        if self.done {
            return None;
        }
        let prev = self.started.then_some(self.prev.as_slice());
        match sys::bpf::map_get_next_key(&self.map.access(), prev, &mut self.next) {
            Ok(true) => {
                std::mem::swap(&mut self.prev, &mut self.next);
                self.started = true;
                Some(Ok(&self.prev))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.map.sys_err()(e)))
            }
        }
    }
}

/// Iterator over a map's keys, as bytes ([`Map::keys`]).
pub struct Keys<'a> {
    cursor: KeyCursor<'a>,
}

impl<'a> Keys<'a> {
    pub(crate) fn new(map: &'a Map) -> Self {
        Keys {
            cursor: KeyCursor::new(map),
        }
    }
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>, MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.cursor.advance()?.map(<[u8]>::to_vec))
    }
}

/// Iterator over a typed map's keys.
pub struct TypedKeys<'a, K> {
    cursor: KeyCursor<'a>,
    _k: PhantomData<fn() -> K>,
}

impl<'a, K: Pod> TypedKeys<'a, K> {
    pub(crate) fn new(map: &'a Map) -> Self {
        TypedKeys {
            cursor: KeyCursor::new(map),
            _k: PhantomData,
        }
    }
}

impl<K: Pod> Iterator for TypedKeys<'_, K> {
    type Item = Result<K, MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let map = self.cursor.map;
        Some(
            self.cursor
                .advance()?
                .and_then(|k| decode::<K>(map, "key", k)),
        )
    }
}

/// How a typed view turns one value's bytes into its value type.
pub(crate) type DecodeValue<V> = fn(&Map, &[u8]) -> Result<V, MapError>;

/// A value type of a typed view: a `Pod` value, or one per CPU.
pub(crate) trait MapValue: Sized {
    /// Decodes one value from the bytes the kernel returned.
    fn decode(map: &Map, bytes: &[u8]) -> Result<Self, MapError>;

    /// Decodes into `self`, reusing what it holds (a per-CPU value's allocation).
    fn decode_into(&mut self, map: &Map, bytes: &[u8]) -> Result<(), MapError> {
        *self = Self::decode(map, bytes)?;
        Ok(())
    }
}

impl<V: Pod> MapValue for V {
    fn decode(map: &Map, bytes: &[u8]) -> Result<Self, MapError> {
        decode::<V>(map, "value", bytes)
    }
}

/// Iterator over a typed map's entries: each key, then its value looked up. A key
/// deleted between the two steps is skipped.
pub struct Entries<'a, K, V> {
    cursor: KeyCursor<'a>,
    value: Vec<u8>,
    decode: DecodeValue<V>,
    _k: PhantomData<fn() -> K>,
}

impl<'a, K: Pod, V> Entries<'a, K, V> {
    pub(crate) fn new(map: &'a Map, decode: DecodeValue<V>) -> Self {
        Entries {
            cursor: KeyCursor::new(map),
            value: vec![0; map.value_buf_size()],
            decode,
            _k: PhantomData,
        }
    }
}

impl<K: Pod, V> Iterator for Entries<'_, K, V> {
    type Item = Result<(K, V), MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let map = self.cursor.map;
        loop {
            let key = match self.cursor.advance()? {
                Ok(k) => k,
                Err(e) => return Some(Err(e)),
            };
            match map.lookup_into(key, &mut self.value, MapFlags::ANY) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Some(Err(e)),
            }
            let entry = decode::<K>(map, "key", key)
                .and_then(|k| Ok((k, (self.decode)(map, &self.value)?)));
            return Some(entry);
        }
    }
}
