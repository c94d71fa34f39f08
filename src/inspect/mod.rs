//! What the kernel holds: maps (and, from the other inspect modules, programs and links),
//! listed and read as `bpftool` shows them.

pub mod map;
