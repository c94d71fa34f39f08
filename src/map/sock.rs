//! Socket maps for sk_skb/sk_msg redirection: [`SockMap`] and [`SockHash`].

use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};

use super::array::bound;
use super::iter::TypedKeys;
use super::typed::{check_key, check_type, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::pod::Pod;

/// The value user space writes for a socket: its fd (the map stores the socket).
fn socket_value(map: &Map, socket: std::os::fd::BorrowedFd<'_>) -> Vec<u8> {
    let fd = socket.as_raw_fd();
    match map.def.value_size {
        // 8-byte values (5.10+: reads return the socket cookie) take the fd as a u64.
        8 => (fd as u64).to_ne_bytes().to_vec(),
        _ => fd.to_ne_bytes().to_vec(),
    }
}

/// Reads a socket map value: the socket's cookie (8-byte values) or 0.
fn cookie(map: &Map, key: &[u8]) -> Result<Option<u64>, MapError> {
    let mut v = vec![0u8; map.value_buf_size()];
    if !map.lookup_into(key, &mut v, MapFlags::ANY)? {
        return Ok(None);
    }
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    Ok(Some(u64::from_ne_bytes(b)))
}

fn check_sock_value(map: &Map) -> Result<(), MapError> {
    match map.def.value_size {
        4 | 8 => Ok(()),
        got => map.check("value", got as usize, 4),
    }
}

/// A socket array (`BPF_MAP_TYPE_SOCKMAP`): slot `i` holds a socket that sk_skb and
/// sk_msg programs redirect to with `bpf_sk_redirect_map`.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::SockMap;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let map: corebpf::Map = unimplemented!();
/// let socks: SockMap = (&map).try_into()?;
/// let stream = std::net::TcpStream::connect("127.0.0.1:8080")?;
/// socks.set(0, &stream, corebpf::MapFlags::ANY)?;
/// # Ok(())
/// # }
/// ```
pub struct SockMap<'a> {
    map: &'a Map,
}

typed_view!(SockMap, |map| {
    check_type(map, &[MapType::SOCKMAP], "sockmap")?;
    map.check("key", 4, map.def.key_size)?;
    check_sock_value(map)
});

impl SockMap<'_> {
    /// Puts `socket` in slot `index`.
    pub fn set(&self, index: u32, socket: impl AsFd, flags: MapFlags) -> Result<(), MapError> {
        bound(self.map, index)?;
        let v = socket_value(self.map, socket.as_fd());
        self.map.update(&index.to_ne_bytes(), &v, flags)
    }

    /// The cookie of the socket in slot `index` (0 for maps of 4-byte values), if any.
    pub fn get(&self, index: u32) -> Result<Option<u64>, MapError> {
        bound(self.map, index)?;
        cookie(self.map, &index.to_ne_bytes())
    }

    /// Empties slot `index`; false when it was empty.
    pub fn remove(&self, index: u32) -> Result<bool, MapError> {
        bound(self.map, index)?;
        match self.map.delete(&index.to_ne_bytes()) {
            // The kernel reports an empty slot of a sockmap as EINVAL, not ENOENT (the
            // index is within bounds, checked above).
            Err(MapError::Sys { source, .. }) if source.errno() == libc::EINVAL => Ok(false),
            r => r,
        }
    }
}

/// A socket hash (`BPF_MAP_TYPE_SOCKHASH`): sockets keyed by any `K` (a flow tuple),
/// for `bpf_sk_redirect_hash` and `bpf_msg_redirect_hash`.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::SockHash;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let map: corebpf::Map = unimplemented!();
/// let socks: SockHash<u64> = (&map).try_into()?;
/// let stream = std::net::TcpStream::connect("127.0.0.1:8080")?;
/// socks.set(&42, &stream, corebpf::MapFlags::ANY)?;
/// # Ok(())
/// # }
/// ```
pub struct SockHash<'a, K: Pod> {
    map: &'a Map,
    _t: PhantomData<K>,
}

typed_view!(SockHash<K>, |map| {
    check_type(map, &[MapType::SOCKHASH], "sockhash")?;
    check_key::<K>(map)?;
    check_sock_value(map)
});

impl<K: Pod> SockHash<'_, K> {
    /// Stores `socket` under `key`, as `flags` allow.
    pub fn set(&self, key: &K, socket: impl AsFd, flags: MapFlags) -> Result<(), MapError> {
        let v = socket_value(self.map, socket.as_fd());
        self.map.update(key.as_bytes(), &v, flags)
    }

    /// The cookie of the socket under `key` (0 for maps of 4-byte values), if any.
    pub fn get(&self, key: &K) -> Result<Option<u64>, MapError> {
        cookie(self.map, key.as_bytes())
    }

    /// Removes `key`; false when absent.
    pub fn remove(&self, key: &K) -> Result<bool, MapError> {
        self.map.delete(key.as_bytes())
    }

    /// Every key.
    pub fn keys(&self) -> TypedKeys<'_, K> {
        TypedKeys::new(self.map)
    }
}
