// A union's fields may differ in size.
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
#[repr(C)]
union Value {
    small: u8,
    big: u64,
}

fn main() {}
