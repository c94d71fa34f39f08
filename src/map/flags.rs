//! [`MapFlags`]: the flags of element reads and writes.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use crate::sys::bpf::update_flags;

/// Flags of a map element write ([`Map::update`](super::Map::update), [`HashMap::insert`](super::HashMap::insert)) or read
/// ([`Map::lookup`](super::Map::lookup)): the kernel's `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST` and
/// `BPF_F_LOCK`, combined with `|`. The default is [`MapFlags::ANY`].
///
/// # Examples
///
/// ```no_run
/// use corebpf::{map::HashMap, Loader, MapFlags};
///
/// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
/// let counts: HashMap<u32, u64> = obj.map("counts").expect("counts map").try_into()?;
/// counts.insert(&1000, &0, MapFlags::ANY)?; // create or overwrite
/// // Only if uid 1000 has no entry yet: fails with EEXIST here.
/// assert!(counts.insert(&1000, &1, MapFlags::NOEXIST).is_err());
/// # Ok::<(), corebpf::Error>(())
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MapFlags(u64);

impl MapFlags {
    /// Create the element or overwrite it (`BPF_ANY`); no flags, for a lookup.
    pub const ANY: MapFlags = MapFlags(update_flags::ANY);
    /// Create the element only if it does not exist (`BPF_NOEXIST`).
    pub const NOEXIST: MapFlags = MapFlags(update_flags::NOEXIST);
    /// Overwrite the element only if it exists (`BPF_EXIST`).
    pub const EXIST: MapFlags = MapFlags(update_flags::EXIST);
    /// Copy the value under its `bpf_spin_lock` (`BPF_F_LOCK`).
    pub const LOCK: MapFlags = MapFlags(update_flags::LOCK);

    /// The flags as the kernel's `flags` field.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// True when every flag of `other` is set in `self`.
    pub const fn contains(self, other: MapFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for MapFlags {
    type Output = MapFlags;

    fn bitor(self, rhs: MapFlags) -> MapFlags {
        MapFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for MapFlags {
    fn bitor_assign(&mut self, rhs: MapFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for MapFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = [
            (MapFlags::NOEXIST, "NOEXIST"),
            (MapFlags::EXIST, "EXIST"),
            (MapFlags::LOCK, "LOCK"),
        ];
        let mut parts: Vec<String> = named
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| name.to_string())
            .collect();
        let unnamed = named.iter().fold(self.0, |bits, (flag, _)| bits & !flag.0);
        if unnamed != 0 {
            parts.push(format!("{unnamed:#x}"));
        }
        if parts.is_empty() {
            parts.push("ANY".to_string());
        }
        write!(f, "MapFlags({})", parts.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_flags_are_the_kernels_bits_and_combine() {
        assert_eq!(MapFlags::default(), MapFlags::ANY);
        let bits = [
            MapFlags::ANY,
            MapFlags::NOEXIST,
            MapFlags::EXIST,
            MapFlags::LOCK,
        ];
        assert_eq!(bits.map(MapFlags::bits), [0, 1, 2, 4]);
        let mut f = MapFlags::EXIST;
        f |= MapFlags::LOCK;
        assert_eq!(f, MapFlags::EXIST | MapFlags::LOCK);
        assert_eq!(f.bits(), 6);
        assert!(f.contains(MapFlags::LOCK) && !f.contains(MapFlags::NOEXIST));
        assert_eq!(format!("{f:?}"), "MapFlags(EXIST | LOCK)");
        assert_eq!(format!("{:?}", MapFlags::ANY), "MapFlags(ANY)");
        assert_eq!(format!("{:?}", MapFlags(0x11)), "MapFlags(NOEXIST | 0x10)");
    }
}
