// An enum's discriminant has values that are not variants.
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
#[repr(u32)]
enum State {
    Running = 0,
    Sleeping = 1,
}

fn main() {}
