//! corebpf: a pure-Rust eBPF loader with CO-RE relocation.
//!
//! It does what libbpf does between "clang produced `prog.bpf.o`" and "the program runs
//! in the kernel and its data reaches user space", without linking any C: read the ELF
//! into a kernel-free [`ObjectSpec`], load its BTF, maps and programs ([`Loader`]),
//! attach them ([`Program::attach`] returns a [`Link`] that detaches on drop), and read
//! what they produce through maps ([`map::HashMap`]) and the ring buffer ([`RingBuffer`]).
//!
//! # Example
//!
//! Count execs per uid and print each exec's pid, as `bpf-progs/hello.bpf.c` reports them:
//!
//! ```no_run
//! use std::time::Duration;
//! use corebpf::{map::HashMap, Loader, RingBufferBuilder};
//!
//! fn main() -> Result<(), corebpf::Error> {
//!     // BTF_LOAD, MAP_CREATE for each map, PROG_LOAD for each program.
//!     let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
//!     // `tracepoint/syscalls/sys_enter_execve` says where to attach.
//!     let _links = obj.attach_all()?;
//!
//!     let events = obj.map("events").expect("hello has a ring buffer named events");
//!     let mut ring = RingBufferBuilder::new()
//!         .add(events, |record: &[u8]| {
//!             let pid = u32::from_ne_bytes(record[0..4].try_into().unwrap());
//!             println!("exec by pid {pid}");
//!             0 // keep going
//!         })
//!         .build()?;
//!     ring.poll(Some(Duration::from_secs(1)))?;
//!
//!     let counts: HashMap<u32, u64> = obj.map("counts").expect("counts map").try_into()?;
//!     for uid in counts.keys() {
//!         let uid = uid?;
//!         println!("uid {uid}: {:?} execs", counts.get(&uid)?);
//!     }
//!     Ok(()) // dropping the links detaches; dropping `obj` releases maps and programs
//! }
//! ```
//!
//! # Layers
//!
//! `sys` (the only home of `unsafe` FFI), [`btf`], [`object`] and the relocations are
//! kernel-free and testable anywhere; [`loader`], [`program`], [`map`], [`link`] and
//! [`ringbuf`] talk to the kernel through `sys`. See `DESIGN.md` in the shared notes.

#![warn(missing_docs)]

pub mod btf;
pub mod inflate;
pub mod insn;
pub mod link;
pub mod loader;
pub mod map;
pub mod object;
pub mod pod;
pub mod program;
pub mod reloc;
pub mod ringbuf;
pub mod sys;
mod util;

/// `#[derive(Pod)]`: implements [`Pod`] for a `#[repr(C)]` struct after checking at
/// compile time that it is plain old data (see [`pod`]).
#[cfg(feature = "derive")]
pub use corebpf_derive::Pod;
pub use link::{Link, LinkError};
pub use loader::{LoadError, Loader, Object, VerifierLog};
pub use map::{Map, MapError};
pub use object::{ObjectError, ObjectSpec};
pub use pod::{Pod, PodError};
pub use program::{Program, ProgramError};
pub use ringbuf::{RingBufError, RingBuffer, RingBufferBuilder};

/// Any error corebpf returns, for callers who don't need to tell the layers apart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the ELF object.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// Reading BTF.
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    /// Loading into the kernel.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Attaching or inspecting a program.
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// Map access.
    #[error(transparent)]
    Map(#[from] MapError),
    /// Ring buffer polling.
    #[error(transparent)]
    RingBuf(#[from] RingBufError),
    /// Link operations.
    #[error(transparent)]
    Link(#[from] LinkError),
}
