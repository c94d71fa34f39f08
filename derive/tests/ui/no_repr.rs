// Rust's own layout is unspecified: it may reorder fields or pad anywhere.
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
struct Event {
    pid: u32,
    uid: u32,
}

fn main() {}
