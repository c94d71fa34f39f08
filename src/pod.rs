//! Plain old data: values that are nothing but their bytes, so they can be copied to
//! and from map memory and decoded from ring buffer records.
//!
//! [`Pod`] is implemented here for the integer types and arrays of `Pod`. For your own
//! `#[repr(C)]` structs, derive it (the `derive` feature, on by default): the derive
//! checks at compile time what the trait promises, so no `unsafe` is needed.
//!
//! ```
//! use corebpf::Pod;
//!
//! // The layout of `struct event` in the BPF program: 4 + 4 + 16 bytes, no padding.
//! #[derive(Clone, Copy, Debug, Pod)]
//! #[repr(C)]
//! struct Event {
//!     pid: u32,
//!     uid: u32,
//!     comm: [u8; 16],
//! }
//!
//! let mut record = [0u8; 24];
//! record[..4].copy_from_slice(&42u32.to_ne_bytes());
//! let event = Event::from_bytes(&record).unwrap();
//! assert_eq!(event.pid, 42);
//! // A record of another length is an error naming both sizes, never a silent truncation.
//! let err = Event::from_bytes(&record[..20]).unwrap_err();
//! assert!(err.to_string().contains("24 bytes"), "{err}");
//! ```
//!
//! Types that already implement `bytemuck::Pod` can implement [`Pod`] through
//! `corebpf::pod_from_bytemuck!` (the `bytemuck` feature).
//!
//! This module and `sys` are the only homes of `unsafe` in the crate: the byte views
//! below rely on the trait's promise.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

/// Why bytes could not be read as a [`Pod`] value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PodError {
    /// [`Pod::from_bytes`] was given a slice of another length than the type's size.
    #[error("{type_name} is {expected} bytes, the input is {got} bytes")]
    WrongSize {
        /// The type read.
        type_name: &'static str,
        /// Its size.
        expected: usize,
        /// The input's length.
        got: usize,
    },
    /// [`Pod::from_prefix`] was given fewer bytes than the type's size.
    #[error("{type_name} is {expected} bytes, the input has only {got}")]
    TooShort {
        /// The type read.
        type_name: &'static str,
        /// Its size.
        expected: usize,
        /// The input's length.
        got: usize,
    },
}

/// A type whose every bit pattern is valid and which has no padding, so it can be
/// copied to and from map memory as bytes.
///
/// Derive it with `#[derive(Pod)]` (the `derive` feature) rather than implementing
/// it: the derive refuses types that break the rules below, at compile time.
///
/// # Safety
/// Implement only for `#[repr(C)]` (or `transparent`/`packed`, or primitive) types
/// with no padding bytes, no pointers or references, and no invalid bit patterns.
pub unsafe trait Pod: Copy + 'static {
    /// The all-zero value.
    fn zeroed() -> Self {
        // SAFETY: `Pod` promises every bit pattern, including all zeroes, is valid.
        unsafe { std::mem::zeroed() }
    }

    /// The value's bytes.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Pod` types have no padding, so all `size_of::<Self>()` bytes are
        // initialized; the slice borrows `self` and so cannot outlive it.
        unsafe {
            std::slice::from_raw_parts(
                self as *const Self as *const u8,
                std::mem::size_of::<Self>(),
            )
        }
    }

    /// The value's bytes, writable.
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_bytes`; any bytes written leave a valid value because every
        // bit pattern is valid for `Pod` types; the borrow is exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(
                self as *mut Self as *mut u8,
                std::mem::size_of::<Self>(),
            )
        }
    }

    /// Reads a value from exactly `size_of::<Self>()` bytes (any alignment);
    /// [`PodError::WrongSize`] for a slice of any other length.
    fn from_bytes(bytes: &[u8]) -> Result<Self, PodError> {
        let mut v = Self::zeroed();
        let dst = v.as_bytes_mut();
        if dst.len() != bytes.len() {
            return Err(PodError::WrongSize {
                type_name: std::any::type_name::<Self>(),
                expected: dst.len(),
                got: bytes.len(),
            });
        }
        dst.copy_from_slice(bytes);
        Ok(v)
    }

    /// Reads a value from the first `size_of::<Self>()` bytes and returns it with the
    /// bytes after it, for records made of a fixed header and a payload;
    /// [`PodError::TooShort`] when there are fewer bytes than that.
    fn from_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), PodError> {
        let n = std::mem::size_of::<Self>();
        if bytes.len() < n {
            return Err(PodError::TooShort {
                type_name: std::any::type_name::<Self>(),
                expected: n,
                got: bytes.len(),
            });
        }
        let (head, rest) = bytes.split_at(n);
        Ok((Self::from_bytes(head)?, rest))
    }
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        // SAFETY: primitive integers have no padding and every bit pattern is valid.
        unsafe impl Pod for $t {}
    )*};
}
pod!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, usize, isize);

// SAFETY: an array of `Pod` values has no padding between elements and is valid for
// every bit pattern of its elements.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// The bytes of a slice of [`Pod`] values, for the kernel to fill in place (a batch of
/// map keys or values read straight into typed buffers).
pub(crate) fn slice_bytes_mut<T: Pod>(items: &mut [T]) -> &mut [u8] {
    // SAFETY: a `Pod` type has no padding and every bit pattern is valid, so the slice's
    // memory is `size_of_val(items)` initialized bytes and any bytes written through the
    // view leave valid values; the view borrows `items` mutably for its lifetime.
    unsafe {
        std::slice::from_raw_parts_mut(
            items.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(items),
        )
    }
}

/// Implements [`Pod`] for types that already implement `bytemuck::Pod` (the `bytemuck`
/// feature), so a type shared with code that uses bytemuck needs no second derive and no
/// `unsafe`.
///
/// A blanket `impl<T: bytemuck::Pod> Pod for T` is not possible beside corebpf's own
/// impls for the integers (they would overlap), so the bridge is this macro, one type at
/// a time. It checks, at compile time, that each type is `bytemuck::Pod`, whose promise
/// (no padding, every bit pattern valid, `Copy + 'static`) is the one [`Pod`] needs.
///
/// ```
/// # #[cfg(feature = "bytemuck")] {
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Pair {
///     a: u32,
///     b: u32,
/// }
/// # // bytemuck's own derive would write these two; done by hand here to keep the
/// # // example's dependencies to corebpf's.
/// # // SAFETY: repr(C), two u32s, no padding, every bit pattern valid.
/// # unsafe impl corebpf::pod::__bytemuck::Zeroable for Pair {}
/// # // SAFETY: as above.
/// # unsafe impl corebpf::pod::__bytemuck::Pod for Pair {}
/// corebpf::pod_from_bytemuck!(Pair);
///
/// use corebpf::Pod;
/// let p = Pair::from_bytes(&[1, 0, 0, 0, 2, 0, 0, 0]).unwrap();
/// assert_eq!((p.a, p.b), (u32::from_le(1), u32::from_le(2)));
/// # }
/// ```
#[cfg(feature = "bytemuck")]
#[macro_export]
macro_rules! pod_from_bytemuck {
    ($($t:ty),+ $(,)?) => {$(
        const _: fn() = || {
            fn implements_bytemuck_pod<T: $crate::pod::__bytemuck::Pod>() {}
            implements_bytemuck_pod::<$t>();
        };
        // SAFETY: `bytemuck::Pod` (checked above) promises no padding, no invalid bit
        // patterns and `Copy + 'static`: exactly what `Pod` requires.
        unsafe impl $crate::Pod for $t {}
    )+};
}

/// The bytemuck crate, for [`pod_from_bytemuck!`](crate::pod_from_bytemuck)'s expansion.
#[cfg(feature = "bytemuck")]
#[doc(hidden)]
pub use bytemuck as __bytemuck;

#[cfg(test)]
mod tests {
    use super::{Pod, PodError};

    #[test]
    fn slices_view_as_their_bytes() {
        let mut v = [0u32; 2];
        let bytes = super::slice_bytes_mut(&mut v);
        assert_eq!(bytes.len(), 8);
        bytes[4..].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(v, [0, 7]);
        assert!(super::slice_bytes_mut::<u64>(&mut []).is_empty());
    }

    #[test]
    fn round_trips() {
        let v: [u32; 2] = [1, 0xdead_beef];
        let b = v.as_bytes().to_vec();
        assert_eq!(b.len(), 8);
        assert_eq!(<[u32; 2]>::from_bytes(&b), Ok(v));
    }

    #[test]
    fn from_bytes_wants_the_exact_length() {
        let b = [1u8, 0, 0, 0, 0, 0, 0, 0, 9];
        assert_eq!(
            u64::from_bytes(&b),
            Err(PodError::WrongSize {
                type_name: "u64",
                expected: 8,
                got: 9
            })
        );
        let short = u64::from_bytes(&b[..7]).unwrap_err();
        assert_eq!(short.to_string(), "u64 is 8 bytes, the input is 7 bytes");
        assert_eq!(u64::from_bytes(&b[..8]), Ok(1));
    }

    #[test]
    fn from_prefix_returns_the_rest() {
        let b = [7u8, 0, 0, 0, 1, 2];
        assert_eq!(u32::from_prefix(&b), Ok((7, &b[4..])));
        assert_eq!(u32::from_prefix(&b[..4]), Ok((7, &[][..])));
        let e = u32::from_prefix(&b[..3]).unwrap_err();
        assert_eq!(e.to_string(), "u32 is 4 bytes, the input has only 3");
    }

    #[test]
    fn reads_unaligned_input() {
        let b = [0u8, 0x78, 0x56, 0x34, 0x12];
        assert_eq!(
            u32::from_bytes(&b[1..]),
            Ok(u32::from_ne_bytes([0x78, 0x56, 0x34, 0x12]))
        );
    }
}
