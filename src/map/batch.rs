//! Batch operations (`BPF_MAP_{LOOKUP,LOOKUP_AND_DELETE,UPDATE,DELETE}_BATCH`, 5.6+),
//! with a fallback to one syscall per element where the kernel has no batch command
//! for the map: an old kernel (`EINVAL`, the command is unknown) or a map type without
//! batch support (`ENOTSUPP`/`EOPNOTSUPP`). The first refusal is remembered per map and
//! command, so the fallback costs one failed syscall per map, not per call.

use std::sync::atomic::Ordering;

use super::iter::{KeyCursor, MapValue};
use super::typed::decode;
use super::{Map, MapError, MapFlags};
use crate::pod::Pod;
use crate::sys::{self, SysError};

/// The kernel's internal `ENOTSUPP`, which `bpf(2)` returns for a map type without
/// the batch command asked for.
const ENOTSUPP: i32 = 524;

/// A batch command, as a bit of `Map::no_batch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lookup = 1,
    LookupAndDelete = 2,
    Update = 4,
    Delete = 8,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Lookup => "lookup",
            Op::LookupAndDelete => "lookup_and_delete",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// True when `e` says the kernel has no such command for this map (rather than that
/// the arguments were wrong or an element failed).
pub(crate) fn unsupported(e: &SysError) -> bool {
    matches!(e.errno(), libc::EINVAL | ENOTSUPP | libc::EOPNOTSUPP)
}

/// How a kernel batch attempt ended, when not with success.
enum Attempt {
    /// The kernel has no batch command for this map: use the fallback.
    Unsupported(SysError),
    /// A real failure, reported as is.
    Failed(MapError),
}

/// Makes `v` at least `len` bytes long (zero-filling only what is new).
fn grow(v: &mut Vec<u8>, len: usize) {
    if v.len() < len {
        v.resize(len, 0);
    }
}

/// A buffer the kernel fills with whole keys or values, in place: bytes, or typed
/// elements whose size divides every length asked for (a key of a typed view, a
/// per-CPU value without padding).
pub(crate) trait ElemBuf {
    /// Makes the buffer at least `len` bytes long, keeping what it holds.
    fn grow_bytes(&mut self, len: usize);
    /// The whole buffer as bytes.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Keeps the first `len` bytes.
    fn truncate_bytes(&mut self, len: usize);
}

impl<T: Pod> ElemBuf for Vec<T> {
    fn grow_bytes(&mut self, len: usize) {
        let n = len.div_ceil(std::mem::size_of::<T>().max(1));
        if self.len() < n {
            self.resize(n, T::zeroed());
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        crate::pod::slice_bytes_mut(self)
    }

    fn truncate_bytes(&mut self, len: usize) {
        self.truncate(len.div_ceil(std::mem::size_of::<T>().max(1)));
    }
}

impl Map {
    fn batch_refused(&self, op: Op) -> bool {
        self.no_batch.load(Ordering::Relaxed) & op as u8 != 0
    }

    fn refuse_batch(&self, op: Op, e: &SysError) {
        log::debug!(
            "map '{}' ({}): no batch {} ({}); one element at a time",
            self.name,
            self.def.map_type,
            op.name(),
            crate::util::Chain(e)
        );
        self.no_batch.fetch_or(op as u8, Ordering::Relaxed);
    }

    fn batch_err(&self, op: Op, done: usize, source: SysError) -> MapError {
        MapError::Batch {
            map: self.name.clone(),
            op: op.name(),
            done,
            source,
        }
    }

    /// Reads every entry with `BPF_MAP_LOOKUP_BATCH`, `batch` entries per syscall;
    /// returns keys and values concatenated. See [`Map::lookup_batch_into`] to reuse
    /// buffers across calls.
    pub fn lookup_batch(&self, batch: u32) -> Result<(Vec<u8>, Vec<u8>), MapError> {
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        self.lookup_batch_into(batch, &mut keys, &mut values)?;
        Ok((keys, values))
    }

    /// Reads every entry into `keys` and `values` (replacing their contents), `batch`
    /// entries per syscall, straight into the buffers: a caller that keeps them across
    /// calls pays for no allocation after the first. Returns the number of entries.
    ///
    /// Values are [`Map::value_buf_size`] bytes each (per-CPU maps: a slot per CPU). A
    /// hash bucket larger than `batch` makes the batch grow. Where the kernel has no
    /// batch command for the map, this walks the keys and looks each one up.
    pub fn lookup_batch_into(
        &self,
        batch: u32,
        keys: &mut Vec<u8>,
        values: &mut Vec<u8>,
    ) -> Result<usize, MapError> {
        self.read_batch(Op::Lookup, batch, keys, values)
    }

    /// As [`Map::lookup_batch_into`], deleting what it reads
    /// (`BPF_MAP_LOOKUP_AND_DELETE_BATCH`, or key by key).
    pub fn lookup_and_delete_batch_into(
        &self,
        batch: u32,
        keys: &mut Vec<u8>,
        values: &mut Vec<u8>,
    ) -> Result<usize, MapError> {
        self.read_batch(Op::LookupAndDelete, batch, keys, values)
    }

    fn read_batch(
        &self,
        op: Op,
        batch: u32,
        keys: &mut Vec<u8>,
        values: &mut Vec<u8>,
    ) -> Result<usize, MapError> {
        if !self.batch_refused(op) {
            match self.read_batch_kernel(op, batch, keys, values) {
                Ok(n) => return Ok(n),
                Err(Attempt::Unsupported(e)) => self.refuse_batch(op, &e),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        self.read_per_element(op, keys, values)
    }

    /// Reads every entry with the kernel's batch command, straight into `keys` and
    /// `values` (bytes, or typed elements that tile the keys and values exactly).
    fn read_batch_kernel(
        &self,
        op: Op,
        batch: u32,
        keys: &mut impl ElemBuf,
        values: &mut impl ElemBuf,
    ) -> Result<usize, Attempt> {
        let access = self.access();
        let (ks, vs) = (access.key_size(), access.value_buf_size());
        let mut batch = batch.max(1) as usize;
        // Room for the whole map up front. Each call asks for no more than the map can
        // still hold, so that a buffer read into before is already long enough and a
        // pass zeroes nothing; more room only if a bucket did not fit or entries were
        // added meanwhile.
        let max = self.def.max_entries as usize;
        keys.grow_bytes(max * ks);
        values.grow_bytes(max * vs);
        // The least room a call gets once a hash bucket did not fit in less.
        let mut floor = 1;
        // The kernel's opaque batch cursor: a bucket index for hash maps, a key else.
        // Keys of up to 64 bytes (all but the rarest maps) need no allocation.
        let cursor_len = access.batch_cursor_size();
        let (mut small_in, mut small_out) = ([0u8; 64], [0u8; 64]);
        let (mut big_in, mut big_out) = (Vec::new(), Vec::new());
        let (cursor, out_cursor): (&mut [u8], &mut [u8]) = if cursor_len <= 64 {
            (&mut small_in[..cursor_len], &mut small_out[..cursor_len])
        } else {
            big_in.resize(cursor_len, 0);
            big_out.resize(cursor_len, 0);
            (&mut big_in, &mut big_out)
        };
        let mut filled = 0usize;
        let mut first = true;
        loop {
            let left = max.saturating_sub(filled);
            let room = if left > 0 { batch.min(left) } else { batch }.max(floor);
            keys.grow_bytes((filled + room) * ks);
            values.grow_bytes((filled + room) * vs);
            let mut count = room as u32;
            let call = match op {
                Op::Lookup => sys::bpf::map_lookup_batch,
                _ => sys::bpf::map_lookup_and_delete_batch,
            };
            let r = call(
                &access,
                (!first).then_some(&*cursor),
                out_cursor,
                &mut keys.bytes_mut()[filled * ks..(filled + room) * ks],
                &mut values.bytes_mut()[filled * vs..(filled + room) * vs],
                &mut count,
                0,
                0,
            );
            let more = match r {
                Ok(more) => more,
                // A hash bucket holds more elements than the batch (the kernel read
                // nothing): make room.
                Err(e) if e.errno() == libc::ENOSPC => {
                    floor = room * 2;
                    batch = batch.max(floor);
                    continue;
                }
                Err(e) if first && filled == 0 && unsupported(&e) => {
                    return Err(Attempt::Unsupported(e))
                }
                Err(e) => return Err(Attempt::Failed(self.batch_err(op, filled, e))),
            };
            filled += (count as usize).min(room);
            if !more {
                keys.truncate_bytes(filled * ks);
                values.truncate_bytes(filled * vs);
                return Ok(filled);
            }
            cursor.copy_from_slice(out_cursor);
            first = false;
        }
    }

    /// The fallback of [`Map::lookup_batch_into`] and its deleting variant: walk the
    /// keys, then look each one up (and delete it). Keys deleted meanwhile are skipped.
    fn read_per_element(
        &self,
        op: Op,
        keys: &mut Vec<u8>,
        values: &mut Vec<u8>,
    ) -> Result<usize, MapError> {
        let (ks, vs) = (self.def.key_size as usize, self.value_buf_size());
        keys.clear();
        let mut cursor = KeyCursor::new(self);
        while let Some(k) = cursor.advance() {
            keys.extend_from_slice(k?);
        }
        let n = keys.len() / ks.max(1);
        grow(values, n * vs);
        let mut filled = 0;
        for i in 0..n {
            let key = keys[i * ks..(i + 1) * ks].to_vec();
            let value = &mut values[filled * vs..(filled + 1) * vs];
            let found = match op {
                Op::Lookup => self.lookup_into(&key, value, MapFlags::ANY)?,
                _ => self.lookup_and_delete_into(&key, value)?,
            };
            if found {
                keys.copy_within(i * ks..(i + 1) * ks, filled * ks);
                filled += 1;
            }
        }
        keys.truncate(filled * ks);
        values.truncate(filled * vs);
        Ok(filled)
    }

    /// Writes `keys[i]` → `values[i]` for every element (`BPF_MAP_UPDATE_BATCH`, or one
    /// element at a time): keys of the map's key size and values of
    /// [`Map::value_buf_size`] bytes, concatenated. Returns how many were written; a
    /// failure part-way is [`MapError::Batch`] with that count.
    pub fn update_batch(
        &self,
        keys: &[u8],
        values: &[u8],
        flags: MapFlags,
    ) -> Result<usize, MapError> {
        let (ks, vs) = (self.def.key_size as usize, self.value_buf_size());
        let n = self.whole_elements("keys", keys.len(), ks)?;
        check_lengths(self, n, self.whole_elements("values", values.len(), vs)?)?;
        let access = self.access();
        if !self.batch_refused(Op::Update) {
            // Without the command the kernel leaves `count` as given; when an element
            // fails it writes the number done before it, always fewer.
            let mut count = count_u32(self, n)?;
            match sys::bpf::map_update_batch(&access, keys, values, &mut count, flags.bits(), 0) {
                Ok(()) => return Ok(n),
                Err(e) if count as usize == n && unsupported(&e) => {
                    self.refuse_batch(Op::Update, &e)
                }
                Err(e) => return Err(self.batch_err(Op::Update, count as usize, e)),
            }
        }
        for i in 0..n {
            let (k, v) = (&keys[i * ks..(i + 1) * ks], &values[i * vs..(i + 1) * vs]);
            sys::bpf::map_update_elem(&access, k, v, flags.bits())
                .map_err(|e| self.batch_err(Op::Update, i, e))?;
        }
        Ok(n)
    }

    /// Deletes every key of `keys` (concatenated; `BPF_MAP_DELETE_BATCH`, or one
    /// element at a time). Returns how many; a missing key stops the batch, as in the
    /// kernel: [`MapError::Batch`] with `ENOENT` and the count deleted before it.
    pub fn delete_batch(&self, keys: &[u8]) -> Result<usize, MapError> {
        let ks = self.def.key_size as usize;
        let n = self.whole_elements("keys", keys.len(), ks)?;
        let access = self.access();
        if !self.batch_refused(Op::Delete) {
            // As in `update_batch`: `count` untouched means the command is missing.
            let mut count = count_u32(self, n)?;
            match sys::bpf::map_delete_batch(&access, keys, &mut count, 0, 0) {
                Ok(()) => return Ok(n),
                Err(e) if count as usize == n && unsupported(&e) => {
                    self.refuse_batch(Op::Delete, &e)
                }
                Err(e) => return Err(self.batch_err(Op::Delete, count as usize, e)),
            }
        }
        for i in 0..n {
            match sys::bpf::map_delete_elem(&access, &keys[i * ks..(i + 1) * ks]) {
                Ok(true) => {}
                Ok(false) => {
                    let e = SysError::new("BPF_MAP_DELETE_ELEM", libc::ENOENT);
                    return Err(self.batch_err(Op::Delete, i, e));
                }
                Err(e) => return Err(self.batch_err(Op::Delete, i, e)),
            }
        }
        Ok(n)
    }

    /// The number of `size`-byte elements in `len` bytes, which must be a whole number.
    fn whole_elements(
        &self,
        what: &'static str,
        len: usize,
        size: usize,
    ) -> Result<usize, MapError> {
        if size == 0 || len % size != 0 {
            return Err(MapError::WrongSize {
                map: self.name.clone(),
                what,
                got: len,
                expected: size as u32,
            });
        }
        Ok(len / size)
    }
}

fn count_u32(map: &Map, n: usize) -> Result<u32, MapError> {
    u32::try_from(n).map_err(|_| MapError::BatchLengths {
        map: map.name.clone(),
        keys: n,
        values: n,
    })
}

/// Checks that a batch has as many values as keys.
pub(crate) fn check_lengths(map: &Map, keys: usize, values: usize) -> Result<(), MapError> {
    if keys == values {
        Ok(())
    } else {
        Err(MapError::BatchLengths {
            map: map.name.clone(),
            keys,
            values,
        })
    }
}

/// The bytes of `items`, concatenated.
pub(crate) fn encode_slice<T: Pod>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(std::mem::size_of_val(items));
    for item in items {
        out.extend_from_slice(item.as_bytes());
    }
    out
}

/// Entries per syscall for the typed views: about 256 KiB of keys and values (the
/// kernel copies a batch through a buffer of that size), at most 4,096.
fn typed_batch(map: &Map) -> u32 {
    let entry = map.def.key_size as usize + map.value_buf_size();
    (BATCH_BYTES / entry.max(1)).clamp(16, 4096) as u32
}

/// Bytes of keys and values the typed views ask for per syscall.
const BATCH_BYTES: usize = 256 << 10;

/// Every entry of `map`, typed, read in batches (deleting them when `delete`) into
/// `out` (replacing its contents, reusing its capacity). The raw buffers are the map's
/// own, kept between calls, so a caller that reads the map again and again pays for
/// no fresh memory.
pub(crate) fn read_all_into<K: Pod, V: MapValue>(
    map: &Map,
    delete: bool,
    out: &mut Vec<(K, V)>,
) -> Result<usize, MapError> {
    let mut scratch = map.take_scratch();
    let (keys, values) = (&mut scratch.keys, &mut scratch.values);
    let batch = typed_batch(map);
    let read = if delete {
        map.lookup_and_delete_batch_into(batch, keys, values)
    } else {
        map.lookup_batch_into(batch, keys, values)
    };
    let result = read.and_then(|n| {
        let (ks, vs) = (map.def.key_size as usize, map.value_buf_size());
        // Entries already in `out` are decoded into (keeping a per-CPU value's
        // allocation); the rest are pushed.
        out.truncate(n);
        out.reserve(n - out.len());
        for i in 0..n {
            let k = decode::<K>(map, "key", &keys[i * ks..(i + 1) * ks])?;
            let v = &values[i * vs..(i + 1) * vs];
            match out.get_mut(i) {
                Some(entry) => {
                    entry.0 = k;
                    entry.1.decode_into(map, v)?;
                }
                None => out.push((k, V::decode(map, v)?)),
            }
        }
        Ok(n)
    });
    map.put_scratch(scratch);
    result
}

/// Every entry of the per-CPU map `map` (deleting them when `delete`) into flat
/// buffers: `keys[i]`'s value on CPU `c` is `values[i * cpus + c]`. When `V` needs no
/// padding to its 8-byte slot (`u64`, `[u32; 2]`, …) the kernel writes keys and values
/// straight into the two vectors, as a C caller's arrays; else through the map's raw
/// buffers, slot by slot. Their capacity is reused: no allocation once they are large
/// enough.
pub(crate) fn read_all_flat<K: Pod, V: Pod>(
    map: &Map,
    delete: bool,
    keys: &mut Vec<K>,
    values: &mut Vec<V>,
) -> Result<usize, MapError> {
    let op = if delete {
        Op::LookupAndDelete
    } else {
        Op::Lookup
    };
    let batch = typed_batch(map);
    let size = std::mem::size_of::<V>();
    let stride = size.next_multiple_of(8);
    let in_place = size > 0
        && size == stride
        && std::mem::size_of::<K>() == map.def.key_size as usize
        && map.value_buf_size() % size == 0;
    if in_place && !map.batch_refused(op) {
        match map.read_batch_kernel(op, batch, keys, values) {
            Ok(n) => return Ok(n),
            Err(Attempt::Unsupported(e)) => map.refuse_batch(op, &e),
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
    let mut scratch = map.take_scratch();
    let read = map.read_batch(op, batch, &mut scratch.keys, &mut scratch.values);
    let result = read.and_then(|n| {
        let ks = map.def.key_size as usize;
        keys.clear();
        values.clear();
        for k in scratch.keys.chunks_exact(ks.max(1)).take(n) {
            keys.push(decode::<K>(map, "key", k)?);
        }
        for slot in scratch.values.chunks_exact(stride.max(1)) {
            values.push(decode::<V>(map, "value", &slot[..size])?);
        }
        Ok(n)
    });
    map.put_scratch(scratch);
    result
}

/// [`read_all_into`] a new vector.
pub(crate) fn read_all<K: Pod, V: MapValue>(
    map: &Map,
    delete: bool,
) -> Result<Vec<(K, V)>, MapError> {
    let mut out = Vec::new();
    read_all_into(map, delete, &mut out)?;
    Ok(out)
}

/// Raw key and value buffers of the typed batch reads, kept by the map between calls.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    keys: Vec<u8>,
    values: Vec<u8>,
}

impl Map {
    /// The map's batch buffers (empty ones if another thread holds them).
    fn take_scratch(&self) -> Scratch {
        self.scratch
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    fn put_scratch(&self, scratch: Scratch) {
        if let Ok(mut s) = self.scratch.lock() {
            *s = scratch;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{HashMap, MapDef, MapType};
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};
    use std::io;

    fn hash(entries: u32) -> Map {
        Map::create("t_batch", &MapDef::new(MapType::HASH, 4, 8, entries))
            .expect("creating a map (root)")
    }

    fn is_batch(cmd: BpfCmd) -> bool {
        matches!(
            cmd,
            BpfCmd::MapLookupBatch
                | BpfCmd::MapLookupAndDeleteBatch
                | BpfCmd::MapUpdateBatch
                | BpfCmd::MapDeleteBatch
        )
    }

    /// Runs `body` recording every bpf command; batch commands fail with `errno` when
    /// given, every other call reaches the kernel.
    fn recording<R>(errno: Option<i32>, body: impl FnOnce() -> R) -> (R, Vec<BpfCmd>) {
        let mut cmds = Vec::new();
        let r = with_syscall_override(
            |c| {
                let Syscall::Bpf { cmd, .. } = c else {
                    return None;
                };
                cmds.push(*cmd);
                match errno {
                    Some(e) if is_batch(*cmd) => Some(Err(io::Error::from_raw_os_error(e))),
                    _ => None,
                }
            },
            body,
        );
        (r, cmds)
    }

    /// The same operations, checked against the same expectations, whether the kernel
    /// batches (`errno` None) or refuses every batch command with `errno`.
    fn exercise(errno: Option<i32>) -> Vec<BpfCmd> {
        let m = hash(2048);
        let map: HashMap<u32, u64> = (&m).try_into().unwrap();
        let keys: Vec<u32> = (0..1000).collect();
        let values: Vec<u64> = keys.iter().map(|&k| u64::from(k) * 3).collect();
        let (r, mut cmds) = recording(errno, || {
            assert_eq!(map.update_batch(&keys, &values, MapFlags::ANY)?, 1000);
            let mut all = map.lookup_batch()?;
            all.sort_unstable();
            assert_eq!(
                all,
                keys.iter()
                    .map(|&k| (k, u64::from(k) * 3))
                    .collect::<Vec<_>>()
            );
            assert_eq!(map.delete_batch(&keys[..100])?, 100);
            let mut taken = map.lookup_and_delete_batch()?;
            taken.sort_unstable();
            assert_eq!(taken.len(), 900);
            assert_eq!(taken[0], (100, 300));
            Ok::<_, MapError>(())
        });
        r.unwrap();
        assert_eq!(m.keys().count(), 0, "everything was deleted");
        cmds.dedup();
        cmds
    }

    #[test]
    fn batches_when_the_kernel_has_the_commands() {
        let cmds = exercise(None);
        assert!(cmds.contains(&BpfCmd::MapUpdateBatch), "{cmds:?}");
        assert!(cmds.contains(&BpfCmd::MapLookupBatch), "{cmds:?}");
        assert!(cmds.contains(&BpfCmd::MapDeleteBatch), "{cmds:?}");
        assert!(cmds.contains(&BpfCmd::MapLookupAndDeleteBatch), "{cmds:?}");
        assert!(!cmds.contains(&BpfCmd::MapUpdateElem), "{cmds:?}");
        assert!(!cmds.contains(&BpfCmd::MapLookupElem), "{cmds:?}");
    }

    /// A map type without batch support (`ENOTSUPP`), an old kernel (`EINVAL`):
    /// the same results, one element at a time, each batch command tried only once.
    #[test]
    fn falls_back_to_elements_where_the_kernel_does_not_batch() {
        for errno in [ENOTSUPP, libc::EINVAL, libc::EOPNOTSUPP] {
            let cmds = exercise(Some(errno));
            for (batch, elem) in [
                (BpfCmd::MapUpdateBatch, BpfCmd::MapUpdateElem),
                (BpfCmd::MapLookupBatch, BpfCmd::MapLookupElem),
                (BpfCmd::MapDeleteBatch, BpfCmd::MapDeleteElem),
                (
                    BpfCmd::MapLookupAndDeleteBatch,
                    BpfCmd::MapLookupAndDeleteElem,
                ),
            ] {
                let tries = cmds.iter().filter(|&&c| c == batch).count();
                assert_eq!(tries, 1, "errno {errno}: {batch:?} tried once: {cmds:?}");
                assert!(
                    cmds.contains(&elem),
                    "errno {errno}: {elem:?} used: {cmds:?}"
                );
            }
        }
    }

    #[test]
    fn the_refusal_is_remembered_per_map() {
        let m = hash(16);
        let (_, first) = recording(Some(ENOTSUPP), || m.lookup_batch(8).unwrap());
        let (_, second) = recording(Some(ENOTSUPP), || m.lookup_batch(8).unwrap());
        assert!(first.contains(&BpfCmd::MapLookupBatch));
        assert!(!second.contains(&BpfCmd::MapLookupBatch), "{second:?}");
        // Another map asks the kernel again.
        let other = hash(16);
        let (_, third) = recording(None, || other.lookup_batch(8).unwrap());
        assert!(third.contains(&BpfCmd::MapLookupBatch));
    }

    #[test]
    fn other_failures_are_reported_with_the_count_done() {
        let m = hash(64);
        let map: HashMap<u32, u64> = (&m).try_into().unwrap();
        map.update_batch(&[1, 2, 3], &[1, 1, 1], MapFlags::ANY)
            .unwrap();
        // Key 9 is missing: the kernel stops there, after deleting 1 and 2.
        for errno in [None, Some(ENOTSUPP)] {
            map.update_batch(&[1, 2], &[1, 1], MapFlags::ANY).unwrap();
            let (r, _) = recording(errno, || map.delete_batch(&[1, 2, 9, 3]));
            match r {
                Err(MapError::Batch {
                    op, done, source, ..
                }) => {
                    assert_eq!((op, done, source.errno()), ("delete", 2, libc::ENOENT));
                }
                other => panic!("expected a partial batch, got {other:?}"),
            }
            assert_eq!(map.get(&3).unwrap(), Some(1), "3 came after the failure");
        }
        let e = map.update_batch(&[1, 2], &[1], MapFlags::ANY).unwrap_err();
        assert!(
            matches!(
                e,
                MapError::BatchLengths {
                    keys: 2,
                    values: 1,
                    ..
                }
            ),
            "{e}"
        );
        let e = m.delete_batch(&[0; 7]).unwrap_err();
        assert!(matches!(e, MapError::WrongSize { what: "keys", .. }), "{e}");
    }

    /// A batch smaller than a hash bucket: the kernel answers ENOSPC with nothing read,
    /// and the batch grows until the bucket fits.
    #[test]
    fn a_batch_smaller_than_a_bucket_grows() {
        let m = hash(64);
        let map: HashMap<u32, u64> = (&m).try_into().unwrap();
        for k in 0..64 {
            map.insert(&k, &1, MapFlags::ANY).unwrap();
        }
        let mut counts = Vec::new();
        let mut injected = false;
        let r = with_syscall_override(
            |c| match c {
                Syscall::Bpf {
                    cmd: BpfCmd::MapLookupBatch,
                    attr,
                } => {
                    counts.push(u32::from_ne_bytes(attr[32..36].try_into().unwrap()));
                    if injected {
                        None
                    } else {
                        injected = true;
                        Some(Err(io::Error::from_raw_os_error(libc::ENOSPC)))
                    }
                }
                _ => None,
            },
            || m.lookup_batch(1),
        );
        let (keys, values) = r.unwrap();
        assert_eq!((keys.len(), values.len()), (64 * 4, 64 * 8));
        assert_eq!(counts[..2], [1, 2], "the batch doubled after ENOSPC");
    }

    /// No call asks for more entries than the map can still hold, so that buffers
    /// that held the map before need no growing (and no zeroing) on the next pass.
    #[test]
    fn calls_ask_for_no_more_than_the_map_holds() {
        let m = hash(64);
        let map: HashMap<u32, u64> = (&m).try_into().unwrap();
        for k in 0..64 {
            map.insert(&k, &u64::from(k), MapFlags::ANY).unwrap();
        }
        let mut counts = Vec::new();
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::MapLookupBatch,
                    attr,
                } = c
                {
                    counts.push(u32::from_ne_bytes(attr[32..36].try_into().unwrap()));
                }
                None
            },
            || {
                for _ in 0..2 {
                    assert_eq!(m.lookup_batch_into(40, &mut keys, &mut values).unwrap(), 64);
                    assert_eq!((keys.len(), values.len()), (64 * 4, 64 * 8));
                    let mut got: Vec<(u32, u64)> = keys
                        .chunks(4)
                        .zip(values.chunks(8))
                        .map(|(k, v)| {
                            (
                                u32::from_ne_bytes(k.try_into().unwrap()),
                                u64::from_ne_bytes(v.try_into().unwrap()),
                            )
                        })
                        .collect();
                    got.sort();
                    assert_eq!(got, (0..64).map(|k| (k, u64::from(k))).collect::<Vec<_>>());
                }
            },
        );
        // The second call of a pass asks for what the first left (at least 24: the
        // first read 40 or, when the next bucket did not fit, fewer), not another 40.
        assert_eq!(counts.len(), 4, "{counts:?}");
        assert_eq!((counts[0], counts[2]), (40, 40), "{counts:?}");
        assert_eq!(counts[1], counts[3], "{counts:?}");
        assert!((24..40).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn arrays_and_per_cpu_maps_batch_too() {
        let cpus = crate::sys::possible_cpus().unwrap() as usize;
        for t in [MapType::ARRAY, MapType::PERCPU_ARRAY, MapType::PERCPU_HASH] {
            let m = Map::create("t_batch", &MapDef::new(t, 4, 4, 8)).unwrap();
            let vs = m.value_buf_size();
            assert_eq!(vs, if t.is_percpu() { 8 * cpus } else { 4 });
            let keys: Vec<u8> = (0..8u32).flat_map(u32::to_ne_bytes).collect();
            let values: Vec<u8> = (0..8 * vs).map(|i| (i % 251) as u8).collect();
            let mut values = values;
            if t.is_percpu() {
                // The padding of each slot reads back as zeros.
                for slot in values.chunks_mut(8) {
                    slot[4..].fill(0);
                }
            }
            assert_eq!(m.update_batch(&keys, &values, MapFlags::ANY).unwrap(), 8);
            let (mut k, mut v) = (Vec::new(), Vec::new());
            assert_eq!(m.lookup_batch_into(3, &mut k, &mut v).unwrap(), 8, "{t}");
            // Sort the entries by key before comparing (hash order is arbitrary).
            let mut got: Vec<(Vec<u8>, Vec<u8>)> = k
                .chunks(4)
                .map(<[u8]>::to_vec)
                .zip(v.chunks(vs).map(<[u8]>::to_vec))
                .collect();
            got.sort();
            let want: Vec<(Vec<u8>, Vec<u8>)> = keys
                .chunks(4)
                .map(<[u8]>::to_vec)
                .zip(values.chunks(vs).map(<[u8]>::to_vec))
                .collect();
            assert_eq!(got, want, "{t}");
        }
    }
}
