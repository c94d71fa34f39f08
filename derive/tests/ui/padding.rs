// `u8` then `u32`: repr(C) puts 3 bytes of padding between them, which would be read
// as uninitialized memory.
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    flag: u8,
    pid: u32,
}

fn main() {}
