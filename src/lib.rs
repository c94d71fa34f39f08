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
//! use corebpf::{map::HashMap, Loader, Pod, RingBufferBuilder};
//!
//! /// `struct event` of hello.bpf.c; the derive checks at compile time that it is plain
//! /// old data (`#[repr(C)]`, no padding), so records decode without `unsafe`.
//! #[derive(Clone, Copy, Pod)]
//! #[repr(C)]
//! struct Event {
//!     pid: u32,
//!     uid: u32,
//!     comm: [u8; 16],
//!     filename: [u8; 256],
//! }
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
//!             // A record of another size is an error naming both sizes.
//!             if let Ok(event) = Event::from_bytes(record) {
//!                 println!("exec by pid {} (uid {})", event.pid, event.uid);
//!             }
//!             0 // keep going
//!         })
//!         .build()?;
//!     // Print events for five seconds, however many wake-ups that takes.
//!     ring.poll_for(Duration::from_secs(5))?;
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
//! # Modules
//!
//! Dependencies point downward only. Kernel-free, testable anywhere and usable offline:
//!
//! - [`btf`]: zero-copy reading of local and kernel BTF, the sanitizer, the C dump;
//! - [`object`]: the ELF file as a kernel-free [`ObjectSpec`] (programs by `SEC()` name,
//!   maps, globals, BTF, relocation records);
//! - [`reloc`]: CO-RE, map, call and extern relocations as pure functions;
//! - [`btf::minimize`]: minimal BTF for objects' CO-RE relocations (BTFgen), above [`reloc`].
//!
//! Talking to the kernel, always through `sys` (the one home of `unsafe` FFI, every
//! system call through one chokepoint):
//!
//! - [`features`]: what the running kernel supports, probed lazily once per process
//!   and overridable ([`Loader::features`]); below both the loader and the runtime
//!   objects, so either may ask;
//! - [`loader`]: [`Loader`] turns an [`ObjectSpec`] into a loaded [`Object`] (BTF, maps,
//!   verified programs), with the fallbacks older kernels need;
//! - [`program`]: loaded programs, a typed view per kind, and the one dispatch from a
//!   program's kind to how it attaches ([`program::AttachPlan`]);
//! - [`map`], [`link`], [`ringbuf`], [`perf_buffer`]: typed maps, links that detach on
//!   drop, the ring buffer (and the user ring buffer), the perf buffer;
//! - [`loaded_btf`]: the BTF objects the kernel holds, opened by id and read back;
//! - [`fs`]: checks and mounts the bpffs and tracefs a tool needs;
//! - [`skel`]: skeletons, typed Rust modules generated from an object's BTF;
//! - [`inspect`]: what the kernel holds — programs, maps and links loaded by any
//!   process, listed and read back by id or pin as bpftool describes them (with the
//!   processes holding them, from `/proc` or an embedded BPF iterator), translated instructions disassembled, maps dumped through
//!   their BTF, and histogram maps printed as BCC does;
//! - `tokio` (the `tokio` feature, off by default): ring buffers and perf buffers
//!   awaited in a tokio runtime.
//!
//! Types of `sys` that public signatures name are re-exported at the root
//! ([`SysError`], [`Capability`], [`ProgInfo`], [`MapInfo`], [`LinkInfo`], [`BtfInfo`],
//! [`Insn`]). A refused call's [`SysError`] names the capability this process lacks
//! when that is why ([`SysError::missing_capability`]).
//!
//! Errors are one enum per layer. Each message describes its own layer (which map,
//! which program, which call) and the cause is reached through
//! [`std::error::Error::source`], never printed again: print the chain (anyhow's `{:#}`,
//! or the sources joined with `: `) to see every cause once, e.g.
//! `creating map 'counts': BPF_MAP_CREATE failed (needs CAP_BPF, which this process
//! lacks): Operation not permitted (os error 1)`.
//!
//! See `DESIGN.md` in the shared notes.

#![warn(missing_docs)]

pub mod btf;
pub mod features;
pub mod fs;
#[cfg(feature = "fuzz-internals")]
#[doc(hidden)]
pub mod fuzz_internals;
mod gzip;
pub mod inspect;
// Crate-private: instruction encoding; the instruction type is re-exported below.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod insn;
pub mod link;
pub mod loaded_btf;
pub mod loader;
pub mod map;
pub mod object;
pub mod perf_buffer;
pub mod pod;
mod poll;
pub mod program;
pub mod reloc;
pub mod ringbuf;
pub mod skel;
#[cfg(feature = "tokio")]
pub mod tokio;
// Crate-private: the kernel boundary. Some of its bindings (commands, uapi tables) are
// so far used only by its kernel tests; test builds still report what nothing uses.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod sys;
mod util;

pub use insn::Insn;

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod test_kernel;

/// `#[derive(Pod)]`: implements [`Pod`] for a `#[repr(C)]` struct after checking at
/// compile time that it is plain old data (see [`pod`]).
#[cfg(feature = "derive")]
pub use corebpf_derive::Pod;
pub use link::{Link, LinkError};
pub use loaded_btf::{LoadedBtf, LoadedBtfError};
pub use loader::{LoadError, Loader, Object, VerifierLog};
pub use map::{Map, MapError, MapFlags};
pub use object::{ObjectError, ObjectSpec};
pub use perf_buffer::{PerfBuffer, PerfBufferBuilder, PerfBufferError};
pub use pod::{Pod, PodError};
pub use program::{Program, ProgramError};
pub use ringbuf::{
    RingBufError, RingBuffer, RingBufferBuilder, UserRingBuffer, UserRingBufferError,
};
pub use sys::bpf::{BtfInfo, LinkInfo, MapInfo, ProgInfo};
pub use sys::caps::Capability;
pub use sys::SysError;

/// Any error corebpf returns, for callers who don't need to tell the layers apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// User ring buffer production.
    #[error(transparent)]
    UserRingBuf(#[from] UserRingBufferError),
    /// Perf buffer polling.
    #[error(transparent)]
    PerfBuffer(#[from] PerfBufferError),
    /// Link operations.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Opening or reading a BTF object of the kernel.
    #[error(transparent)]
    LoadedBtf(#[from] LoadedBtfError),
}
