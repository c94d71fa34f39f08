//! What the kernel holds, whoever loaded it: programs, maps and links listed and
//! described as `bpftool` does (by id, name or pin), maps dumped through their BTF, and
//! histogram maps printed as BCC does.

pub mod disasm;
pub mod hist;
pub mod link;
pub mod map;
mod pid_iter;
mod procfs;
pub mod prog;
pub mod xlated;

pub use hist::{HistError, Histogram};
pub use link::{link_pids, list_links, FieldValue, Holder, LinkEntry, LinkInspectError};
pub use prog::{programs, ProgramInfo, ProgramInspectError};
pub use xlated::{SourceLine, XlatedError, XlatedInsn, XlatedListing};
