//! Shared by the command's tests: the binary, and the helpers of the library's tests
//! that concern the workspace rather than the library.
#![allow(dead_code)]

use std::process::Command;

#[path = "../../../tests/common/workspace.rs"]
mod workspace;

pub use workspace::*;

/// The `corebpf` binary cargo built for these tests.
pub fn corebpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corebpf"))
}
