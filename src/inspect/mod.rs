//! What the kernel holds: links, maps and programs listed and described as `bpftool`
//! does, and histogram maps printed as BCC does.

pub mod hist;
pub mod link;
pub mod map;

pub use hist::{HistError, Histogram};
pub use link::{link_pids, list_links, FieldValue, Holder, LinkEntry, LinkInspectError};
