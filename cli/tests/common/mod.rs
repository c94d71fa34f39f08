//! Shared by the command's tests: the binary, and the helpers of the library's tests
//! that concern the workspace rather than the library.
#![allow(dead_code)]

use std::process::{Command, Output};

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

/// True when bpftool runs here; otherwise prints the SKIP line of a test that needs it.
pub fn have_bpftool() -> bool {
    let ok = Command::new("bpftool")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP: bpftool is not installed");
    }
    ok
}

/// The stdout of a command that must succeed (its status and stderr otherwise).
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Removes a path when dropped, also when an assertion fails.
pub struct Remove(pub std::path::PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A bpffs path for `what` of test file `file`, unique to this process.
pub fn pin_path(file: &str, what: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!(
        "/sys/fs/bpf/corebpf-{file}-test-{what}-{}",
        std::process::id()
    ))
}
