// The layout checks need concrete field types.
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Pair<T> {
    a: T,
    b: T,
}

fn main() {}
