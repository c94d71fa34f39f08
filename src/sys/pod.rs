//! Plain-old-data values that may be viewed as bytes, for map keys and values.

/// A type whose every bit pattern is valid and which has no padding, so it can be
/// copied to and from map memory as bytes.
///
/// # Safety
/// Implement only for `#[repr(C)]` (or primitive) types with no padding bytes, no
/// pointers or references, and no invalid bit patterns.
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

    /// Reads a value from the first `size_of::<Self>()` bytes; `None` when too short.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let n = std::mem::size_of::<Self>();
        let src = bytes.get(..n)?;
        let mut v = Self::zeroed();
        v.as_bytes_mut().copy_from_slice(src);
        Some(v)
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

#[cfg(test)]
mod tests {
    use super::Pod;

    #[test]
    fn round_trips() {
        let v: [u32; 2] = [1, 0xdead_beef];
        let b = v.as_bytes().to_vec();
        assert_eq!(b.len(), 8);
        assert_eq!(<[u32; 2]>::from_bytes(&b), Some(v));
        assert_eq!(u64::from_bytes(&b[..7]), None);
    }
}
