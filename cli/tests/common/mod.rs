//! Shared by the command's tests: the binary, the workspace's objects, mounts, execs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// The `corebpf` binary cargo built for these tests.
pub fn corebpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corebpf"))
}

/// A committed object in the workspace's bpf-progs/ (this package is `cli/`).
pub fn prog(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bpf-progs")
        .join(name)
}

/// Mounts tracefs and bpffs when they are missing (tests run as root).
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let tracing = Path::new("/sys/kernel/tracing");
        if !corebpf::sys::fs::is_tracefs(tracing) {
            corebpf::sys::fs::mount_fs("tracefs", tracing)
                .expect("mounting tracefs (tests need root)");
        }
        let bpffs = Path::new("/sys/fs/bpf");
        if !corebpf::sys::fs::is_bpffs(bpffs) {
            corebpf::sys::fs::mount_fs("bpf", bpffs).expect("mounting bpffs (tests need root)");
        }
    });
}

/// Runs `/bin/true`; returns its pid.
pub fn exec_true() -> u32 {
    let mut child = Command::new("/bin/true")
        .spawn()
        .expect("spawning /bin/true");
    let pid = child.id();
    child.wait().expect("waiting for /bin/true");
    pid
}

/// Debian 6.1's BTF, committed in the workspace's btf-fixtures/.
pub fn btf_6_1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../btf-fixtures/vmlinux-6.1.0-56-amd64.btf")
}

/// Byte offset of `strukt.field` according to btf-rs, a BTF reader independent of ours.
pub fn offset_by_btf_rs(path: &str, strukt: &str, field: &str) -> u64 {
    let btf = btf_rs::Btf::from_file(path).expect("btf-rs reads the BTF");
    for t in btf.resolve_types_by_name(strukt).unwrap() {
        if let btf_rs::Type::Struct(s) = t {
            for m in &s.members {
                if btf.resolve_name(m).unwrap_or_default() == field {
                    return u64::from(m.bit_offset() / 8);
                }
            }
        }
    }
    panic!("btf-rs finds no {strukt}.{field} in {path}");
}
