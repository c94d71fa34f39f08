// `bool` has invalid bit patterns (2..=255) and a reference is a pointer.
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    name: &'static u8,
    ok: [bool; 8],
}

fn main() {}
