//! What the kernel holds: programs, maps and links loaded by any process, listed and
//! read back by id or pin (bpftool's `prog`/`map`/`link` `list` and `show`).

pub mod prog;

pub use prog::{programs, Holder, ProgramInfo, ProgramInspectError};
