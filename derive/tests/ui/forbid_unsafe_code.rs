// Not a failure of the derive: a crate that forbids `unsafe` may derive `Pod` (this
// snippet compiles), but implementing `Pod` by hand is refused there. The one error
// below is the hand-written impl.
#![forbid(unsafe_code)]
use corebpf::Pod;

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Derived {
    pid: u32,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct ByHand {
    pid: u32,
}

unsafe impl Pod for ByHand {}

fn main() {}
