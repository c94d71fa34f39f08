//! Pinning maps on a bpf filesystem, opening them again by pin path or kernel id, and
//! the compatibility check the loader makes before reusing a pinned map.

use std::fmt;
use std::path::Path;

use super::{Map, MapDef, MapError};
use crate::sys;

/// How a pinned map differs from the object's definition of it: the first property
/// that differs, with both values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinMismatch {
    /// `type`, `key_size`, `value_size`, `max_entries`, `map_flags` or `map_extra`.
    pub property: &'static str,
    /// Its value in the pinned map.
    pub pinned: String,
    /// Its value in the object.
    pub object: String,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} in the pinned map, {} in the object",
            self.property, self.pinned, self.object
        )
    }
}

impl MapDef {
    /// Whether a pinned map defined as `self` can stand for `object`'s map, as
    /// libbpf's `map_is_reuse_compat` decides: every property equal.
    pub fn pin_compatible(&self, object: &MapDef) -> Result<(), PinMismatch> {
        let differ = |property, pinned: String, object: String| {
            Err(PinMismatch {
                property,
                pinned,
                object,
            })
        };
        if self.map_type != object.map_type {
            return differ(
                "type",
                self.map_type.name().into(),
                object.map_type.name().into(),
            );
        }
        let numbers = [
            ("key_size", self.key_size, object.key_size),
            ("value_size", self.value_size, object.value_size),
            ("max_entries", self.max_entries, object.max_entries),
        ];
        if let Some((p, a, b)) = numbers.into_iter().find(|(_, a, b)| a != b) {
            return differ(p, a.to_string(), b.to_string());
        }
        if self.map_flags != object.map_flags {
            return differ(
                "map_flags",
                format!("{:#x}", self.map_flags),
                format!("{:#x}", object.map_flags),
            );
        }
        if self.map_extra != object.map_extra {
            return differ(
                "map_extra",
                self.map_extra.to_string(),
                object.map_extra.to_string(),
            );
        }
        Ok(())
    }
}

impl Map {
    /// Opens a map pinned at `path`, reading its definition from the kernel.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::{map::HashMap, Map};
    ///
    /// let map = Map::from_pin("/sys/fs/bpf/counts")?;
    /// let counts: HashMap<u32, u64> = (&map).try_into()?;
    /// println!("{} keys", counts.keys().count());
    /// # Ok::<(), corebpf::MapError>(())
    /// ```
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Map, MapError> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fd = sys::bpf::obj_get(path, 0).map_err(|source| MapError::Sys {
            map: name.clone(),
            source,
        })?;
        let mut map = Map::from_fd(name, fd)?;
        map.pinned = Some(path.to_path_buf());
        Ok(map)
    }

    /// Opens the map the kernel knows by `id` (as `bpftool map show` lists it); its
    /// name is the kernel's.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::Map;
    ///
    /// let map = Map::from_id(42)?;
    /// println!("{} is a {} map", map.name(), map.map_type());
    /// # Ok::<(), corebpf::MapError>(())
    /// ```
    pub fn from_id(id: u32) -> Result<Map, MapError> {
        let fd = sys::bpf::map_get_fd_by_id(id, 0).map_err(|source| MapError::Sys {
            map: format!("id {id}"),
            source,
        })?;
        let mut map = Map::from_fd(format!("id {id}"), fd)?;
        map.name = map.kernel_name.clone();
        Ok(map)
    }

    /// Where the map is pinned, if this handle pinned or opened it by pin.
    pub fn pin_path(&self) -> Option<&Path> {
        self.pinned.as_deref()
    }

    /// Pins the map at `path`, which must be on a bpf filesystem.
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), MapError> {
        let path = path.as_ref();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains('.'))
        {
            return Err(MapError::BadPinName {
                path: path.to_path_buf(),
            });
        }
        check_bpffs(path)?;
        sys::bpf::obj_pin(self.fd(), path).map_err(self.sys_err())?;
        self.pinned = Some(path.to_path_buf());
        Ok(())
    }

    /// Removes the pin this handle made or was opened from.
    pub fn unpin(&mut self) -> std::io::Result<()> {
        if let Some(p) = self.pinned.take() {
            std::fs::remove_file(p)?;
        }
        Ok(())
    }
}

/// Checks that `path`'s directory is on a bpf filesystem.
pub(crate) fn check_bpffs(path: &Path) -> Result<(), MapError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if sys::is_bpffs(dir) {
        Ok(())
    } else {
        Err(MapError::NotBpffs {
            path: dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::MapType;

    #[test]
    fn compatibility_names_the_first_difference() {
        let a = MapDef::new(MapType::HASH, 4, 8, 16);
        assert_eq!(a.pin_compatible(&a), Ok(()));
        let cases = [
            (
                MapDef::new(MapType::ARRAY, 4, 8, 16),
                "type is hash in the pinned map, array in the object",
            ),
            (
                MapDef::new(MapType::HASH, 8, 8, 16),
                "key_size is 4 in the pinned map, 8 in the object",
            ),
            (
                MapDef::new(MapType::HASH, 4, 4, 16),
                "value_size is 8 in the pinned map, 4 in the object",
            ),
            (
                MapDef::new(MapType::HASH, 4, 8, 32),
                "max_entries is 16 in the pinned map, 32 in the object",
            ),
            (
                a.with_flags(1),
                "map_flags is 0x0 in the pinned map, 0x1 in the object",
            ),
            (
                a.with_extra(3),
                "map_extra is 0 in the pinned map, 3 in the object",
            ),
        ];
        for (object, text) in cases {
            assert_eq!(a.pin_compatible(&object).unwrap_err().to_string(), text);
        }
    }

    #[test]
    fn opened_by_id_it_is_the_same_map() {
        let m = Map::create("t_byid", &MapDef::new(MapType::ARRAY, 4, 8, 2)).unwrap();
        m.update(
            &1u32.to_ne_bytes(),
            &5u64.to_ne_bytes(),
            crate::MapFlags::ANY,
        )
        .unwrap();
        let id = m.info().unwrap().id;
        let again = Map::from_id(id).unwrap();
        assert_eq!(again.name(), "t_byid");
        assert_eq!(again.def(), m.def());
        let v = again
            .lookup(&1u32.to_ne_bytes(), crate::MapFlags::ANY)
            .unwrap();
        assert_eq!(v, Some(5u64.to_ne_bytes().to_vec()));
        let e = Map::from_id(u32::MAX).unwrap_err();
        assert!(
            matches!(e, MapError::Sys { ref source, .. } if source.errno() == libc::ENOENT),
            "{e}"
        );
    }
}
