//! Shared by the command's tests: the binary, and the helpers of the library's tests
//! that concern the workspace rather than the library.
#![allow(dead_code)]

use std::process::Command;

#[path = "../../../tests/common/workspace.rs"]
mod workspace;

/// Direct `bpf(2)` calls, never through the library (for independent checks).
#[path = "../../../tests/common/raw_bpf.rs"]
pub mod raw_bpf;

// Not every test binary uses the workspace helpers.
#[allow(unused_imports)]
pub use workspace::*;

/// The `corebpf` binary cargo built for these tests.
pub fn corebpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corebpf"))
}
