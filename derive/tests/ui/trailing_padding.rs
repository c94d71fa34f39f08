// align(8) rounds a 4-byte struct up to 8 bytes: 4 bytes of trailing padding.
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
#[repr(C, align(8))]
struct Event {
    pid: u32,
}

fn main() {}
