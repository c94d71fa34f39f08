//! What every typed view shares: the checks made once, at conversion, and decoding
//! bytes the kernel returned into `Pod` values.

use super::{Map, MapError, MapType};
use crate::pod::Pod;

/// Checks that `map` is one of `types`; `expected` names them for the error.
pub(crate) fn check_type(
    map: &Map,
    types: &[MapType],
    expected: &'static str,
) -> Result<(), MapError> {
    if types.contains(&map.map_type()) {
        Ok(())
    } else {
        Err(MapError::WrongType {
            map: map.name.clone(),
            found: map.map_type().name(),
            expected,
        })
    }
}

/// Checks the map's key size against `K`'s.
pub(crate) fn check_key<K>(map: &Map) -> Result<(), MapError> {
    map.check("key", std::mem::size_of::<K>(), map.def.key_size)
}

/// Checks the map's value size against `V`'s (for per-CPU maps: one CPU's value).
pub(crate) fn check_value<V>(map: &Map) -> Result<(), MapError> {
    map.check("value", std::mem::size_of::<V>(), map.def.value_size)
}

/// The view of `map` as one of `types` with keys `K` and values `V`, all checked.
pub(crate) fn check_all<K, V>(
    map: &Map,
    types: &[MapType],
    expected: &'static str,
) -> Result<(), MapError> {
    check_type(map, types, expected)?;
    check_key::<K>(map)?;
    check_value::<V>(map)
}

/// Reads a `T` from bytes the kernel returned for `map`; the sizes were checked at
/// conversion, so a mismatch is reported, never papered over.
pub(crate) fn decode<T: Pod>(map: &Map, what: &'static str, bytes: &[u8]) -> Result<T, MapError> {
    T::from_bytes(bytes).map_err(|_| MapError::WrongSize {
        map: map.name.clone(),
        what,
        got: bytes.len(),
        expected: std::mem::size_of::<T>() as u32,
    })
}

/// Generates the `TryFrom<&Map>` and `TryFrom<&mut Map>` of a typed view whose only
/// field besides the map is `PhantomData`: `$check` is a function `(&Map) -> Result`.
macro_rules! typed_view {
    ($view:ident < $($p:ident),* >, $check:expr) => {
        impl<'a, $($p: $crate::pod::Pod),*> TryFrom<&'a $crate::map::Map> for $view<'a, $($p),*> {
            type Error = $crate::map::MapError;

            fn try_from(map: &'a $crate::map::Map) -> Result<Self, $crate::map::MapError> {
                let check: fn(&$crate::map::Map) -> Result<(), $crate::map::MapError> = $check;
                check(map)?;
                Ok($view {
                    map,
                    _t: std::marker::PhantomData,
                })
            }
        }

        impl<'a, $($p: $crate::pod::Pod),*> TryFrom<&'a mut $crate::map::Map> for $view<'a, $($p),*> {
            type Error = $crate::map::MapError;

            fn try_from(map: &'a mut $crate::map::Map) -> Result<Self, $crate::map::MapError> {
                Self::try_from(&*map)
            }
        }

        impl<'a, $($p: $crate::pod::Pod),*> $view<'a, $($p),*> {
            /// The map this view reads and writes.
            pub fn map(&self) -> &'a $crate::map::Map {
                self.map
            }
        }
    };
    ($view:ident, $check:expr) => {
        impl<'a> TryFrom<&'a $crate::map::Map> for $view<'a> {
            type Error = $crate::map::MapError;

            fn try_from(map: &'a $crate::map::Map) -> Result<Self, $crate::map::MapError> {
                let check: fn(&$crate::map::Map) -> Result<(), $crate::map::MapError> = $check;
                check(map)?;
                Ok($view { map })
            }
        }

        impl<'a> TryFrom<&'a mut $crate::map::Map> for $view<'a> {
            type Error = $crate::map::MapError;

            fn try_from(map: &'a mut $crate::map::Map) -> Result<Self, $crate::map::MapError> {
                Self::try_from(&*map)
            }
        }

        impl<'a> $view<'a> {
            /// The map this view reads and writes.
            pub fn map(&self) -> &'a $crate::map::Map {
                self.map
            }
        }
    };
}
pub(crate) use typed_view;
