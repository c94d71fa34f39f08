//! Attribute structs as bytes: the [`AttrBytes`] contract and the `attr_struct!` macro
//! that declares a padding-free `#[repr(C)]` struct and implements it.

/// A `#[repr(C)]` struct that can be handed to the kernel as bytes.
///
/// # Safety
///
/// Implementors have no implicit padding (every byte belongs to a field), and every
/// field is an integer or an array of integers, so every byte is initialized and any
/// bit pattern the kernel writes is a valid value.
pub(super) unsafe trait AttrBytes: Sized {
    /// The struct as a mutable byte slice of `size_of::<Self>()` bytes.
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = size_of::<Self>();
        // SAFETY: per the trait contract all `len` bytes are initialized and any bytes
        // written through the slice leave a valid `Self`; the slice borrows `self`.
        unsafe { std::slice::from_raw_parts_mut((self as *mut Self).cast::<u8>(), len) }
    }

    /// The struct as a byte slice.
    fn bytes(&self) -> &[u8] {
        let len = size_of::<Self>();
        // SAFETY: per the trait contract all `len` bytes are initialized.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<u8>(), len) }
    }
}

/// Declares a `#[repr(C)]` attribute struct, asserts at compile time that it has no
/// implicit padding, and implements [`AttrBytes`] for it.
macro_rules! attr_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        const _: () = assert!(
            size_of::<$name>() == 0 $( + size_of::<$ty>() )*,
            concat!(stringify!($name), " has implicit padding"),
        );

        // SAFETY: the assertion above proves there is no implicit padding, and every
        // field type is an integer or an array of integers.
        unsafe impl AttrBytes for $name {}
    };
}

pub(super) use attr_struct;
