//! Keyless maps: [`Queue`] (FIFO), [`Stack`] (LIFO) and [`BloomFilter`].

use std::marker::PhantomData;

use super::typed::{check_all, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::pod::Pod;

/// Push, pop and peek of queues and stacks: the same syscalls, the kernel decides the
/// order.
macro_rules! push_pop {
    ($view:ident) => {
        impl<V: Pod> $view<'_, V> {
            /// Pushes `value`. With [`MapFlags::EXIST`] a full map drops its oldest
            /// element to make room (`BPF_EXIST`); otherwise a full map refuses
            /// (`E2BIG`).
            pub fn push(&self, value: &V, flags: MapFlags) -> Result<(), MapError> {
                self.map.update(&[], value.as_bytes(), flags)
            }

            /// Removes and returns the next element; `None` when empty.
            pub fn pop(&self) -> Result<Option<V>, MapError> {
                let mut v = V::zeroed();
                let found = self.map.lookup_and_delete_into(&[], v.as_bytes_mut())?;
                Ok(found.then_some(v))
            }

            /// The next element, left in place; `None` when empty.
            pub fn peek(&self) -> Result<Option<V>, MapError> {
                let mut v = V::zeroed();
                let found = self.map.lookup_into(&[], v.as_bytes_mut(), MapFlags::ANY)?;
                Ok(found.then_some(v))
            }

            /// Pops every element, in the order the map gives them.
            pub fn drain(&self) -> Result<Vec<V>, MapError> {
                let mut out = Vec::new();
                while let Some(v) = self.pop()? {
                    out.push(v);
                }
                Ok(out)
            }

            /// Capacity (`max_entries`).
            pub fn capacity(&self) -> u32 {
                self.map.def.max_entries
            }
        }
    };
}

/// A FIFO queue (`BPF_MAP_TYPE_QUEUE`, 4.20+): programs push with
/// `bpf_map_push_elem`, user space pops in the same order (or the other way round).
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{Map, MapDef, MapType, Queue};
/// use corebpf::MapFlags;
///
/// let map = Map::create("jobs", &MapDef::new(MapType::QUEUE, 0, 4, 16))?;
/// let q: Queue<u32> = (&map).try_into()?;
/// q.push(&1, MapFlags::ANY)?;
/// q.push(&2, MapFlags::ANY)?;
/// assert_eq!(q.pop()?, Some(1));
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct Queue<'a, V: Pod> {
    map: &'a Map,
    _t: PhantomData<V>,
}

typed_view!(Queue<V>, |map| check_all::<(), V>(
    map,
    &[MapType::QUEUE],
    "queue"
));
push_pop!(Queue);

/// A LIFO stack (`BPF_MAP_TYPE_STACK`, 4.20+): the last element pushed is popped first.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{Map, MapDef, MapType, Stack};
/// use corebpf::MapFlags;
///
/// let map = Map::create("undo", &MapDef::new(MapType::STACK, 0, 4, 16))?;
/// let s: Stack<u32> = (&map).try_into()?;
/// s.push(&1, MapFlags::ANY)?;
/// s.push(&2, MapFlags::ANY)?;
/// assert_eq!(s.pop()?, Some(2));
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct Stack<'a, V: Pod> {
    map: &'a Map,
    _t: PhantomData<V>,
}

typed_view!(Stack<V>, |map| check_all::<(), V>(
    map,
    &[MapType::STACK],
    "stack"
));
push_pop!(Stack);

/// A bloom filter (`BPF_MAP_TYPE_BLOOM_FILTER`, 5.16+): a set that may answer "maybe
/// present" for a value never pushed, but never "absent" for one pushed. Its number of
/// hash functions is the map's `map_extra` (1 to 15; 5 when 0).
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{BloomFilter, Map, MapDef, MapType};
///
/// let map = Map::create("seen", &MapDef::new(MapType::BLOOM_FILTER, 0, 8, 1000))?;
/// let seen: BloomFilter<u64> = (&map).try_into()?;
/// seen.push(&42)?;
/// assert!(seen.contains(&42)?);
/// # Ok::<(), corebpf::MapError>(())
/// ```
pub struct BloomFilter<'a, V: Pod> {
    map: &'a Map,
    _t: PhantomData<V>,
}

typed_view!(BloomFilter<V>, |map| check_all::<(), V>(
    map,
    &[MapType::BLOOM_FILTER],
    "bloom_filter"
));

impl<V: Pod> BloomFilter<'_, V> {
    /// Adds `value` to the set.
    pub fn push(&self, value: &V) -> Result<(), MapError> {
        self.map.update(&[], value.as_bytes(), MapFlags::ANY)
    }

    /// False when `value` was certainly never pushed; true when it may have been.
    pub fn contains(&self, value: &V) -> Result<bool, MapError> {
        // The kernel reads the value to test from the value buffer.
        let mut probe = *value;
        self.map
            .lookup_into(&[], probe.as_bytes_mut(), MapFlags::ANY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::MapDef;

    #[test]
    fn queue_is_fifo_stack_is_lifo() {
        let q = Map::create("t_queue", &MapDef::new(MapType::QUEUE, 0, 4, 3)).unwrap();
        let s = Map::create("t_stack", &MapDef::new(MapType::STACK, 0, 4, 3)).unwrap();
        let (q, s): (Queue<u32>, Stack<u32>) = ((&q).try_into().unwrap(), (&s).try_into().unwrap());
        for v in 1..=3 {
            q.push(&v, MapFlags::ANY).unwrap();
            s.push(&v, MapFlags::ANY).unwrap();
        }
        // Full: refused, unless EXIST drops the oldest.
        assert!(q.push(&4, MapFlags::ANY).is_err());
        q.push(&4, MapFlags::EXIST).unwrap();
        assert_eq!(q.peek().unwrap(), Some(2));
        assert_eq!(q.drain().unwrap(), [2, 3, 4]);
        assert_eq!(s.pop().unwrap(), Some(3));
        assert_eq!(s.drain().unwrap(), [2, 1]);
        assert_eq!((q.pop().unwrap(), s.peek().unwrap()), (None, None));
        assert!(Stack::<u64>::try_from(q.map()).is_err());
    }

    #[test]
    fn bloom_filter_never_forgets() {
        if !crate::test_kernel::has(
            "bloom_filter_never_forgets",
            (5, 16),
            "BPF_MAP_TYPE_BLOOM_FILTER",
        ) {
            return;
        }
        let m = Map::create("t_bloom", &MapDef::new(MapType::BLOOM_FILTER, 0, 8, 100)).unwrap();
        let b: BloomFilter<u64> = (&m).try_into().unwrap();
        for v in 0..50u64 {
            b.push(&(v * 1000)).unwrap();
        }
        assert!((0..50u64).all(|v| b.contains(&(v * 1000)).unwrap()));
        // False positives exist, but not for most of 1,000 values never pushed.
        let false_pos = (0..1000u64)
            .filter(|v| b.contains(&(v * 1000 + 1)).unwrap())
            .count();
        assert!(false_pos < 500, "{false_pos} false positives");
    }
}
