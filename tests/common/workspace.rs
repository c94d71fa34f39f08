//! Helpers the library's tests and the command's (`cli/tests`, which include this file)
//! share: the workspace's committed files, mounts, execs, an independent BTF reader.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// The workspace's root: this package's directory, or its parent for `cli/`.
fn workspace() -> &'static Path {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package
        .ancestors()
        .find(|dir| dir.join("bpf-progs").is_dir())
        .unwrap_or(package)
}

/// A committed object in bpf-progs/.
pub fn prog(name: &str) -> PathBuf {
    workspace().join("bpf-progs").join(name)
}

/// The 6.1 kernel's BTF, extracted from Debian's linux-image package.
pub fn btf_6_1() -> PathBuf {
    workspace().join("btf-fixtures/vmlinux-6.1.0-56-amd64.btf")
}

/// The 5.10 kernel's BTF (Debian bullseye's; `task_struct.state`, no `__state`).
pub fn btf_5_10() -> PathBuf {
    workspace().join("btf-fixtures/vmlinux-5.10.0-30-amd64.btf")
}

/// Mounts tracefs and bpffs when they are missing (tests run as root).
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let tracing = Path::new("/sys/kernel/tracing");
        if !corebpf::fs::is_tracefs(tracing) {
            corebpf::fs::mount_tracefs(tracing).expect("mounting tracefs (tests need root)");
        }
        let bpffs = Path::new("/sys/fs/bpf");
        if !corebpf::fs::is_bpffs(bpffs) {
            corebpf::fs::mount_bpffs(bpffs).expect("mounting bpffs (tests need root)");
        }
    });
}

/// Runs `/bin/true` as `uid` (None: as ourselves); returns its pid.
pub fn exec_true(uid: Option<u32>) -> u32 {
    let mut cmd = Command::new("/bin/true");
    if let Some(u) = uid {
        use std::os::unix::process::CommandExt;
        cmd.uid(u);
    }
    let mut child = cmd.spawn().expect("spawning /bin/true");
    let pid = child.id();
    child.wait().expect("waiting for /bin/true");
    pid
}

/// Byte offset of `strukt.field` according to btf-rs, a BTF reader independent of ours.
pub fn offset_by_btf_rs(path: &str, strukt: &str, field: &str) -> u64 {
    field_by_btf_rs(path, strukt, field)
        .unwrap_or_else(|| panic!("btf-rs finds no {strukt}.{field} in {path}"))
}

/// Byte offset of `strukt.field` according to btf-rs, if the BTF has that field.
pub fn field_by_btf_rs(path: &str, strukt: &str, field: &str) -> Option<u64> {
    let btf = btf_rs::Btf::from_file(path).expect("btf-rs reads the BTF");
    for t in btf.resolve_types_by_name(strukt).unwrap() {
        if let btf_rs::Type::Struct(s) = t {
            for m in &s.members {
                if btf.resolve_name(m).unwrap_or_default() == field {
                    return Some(u64::from(m.bit_offset() / 8));
                }
            }
        }
    }
    None
}

/// Where a kernel's BTF (a file) keeps the task state: `__state` (5.14+, a u32) or the
/// older `state` (a long), as btf-rs reads it.
pub struct TaskState {
    /// `__state` (true) or `state`.
    pub new: bool,
    /// Its byte offset in `task_struct`.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
}

impl TaskState {
    /// The state field in the BTF at `path`.
    pub fn of(path: &str) -> TaskState {
        match field_by_btf_rs(path, "task_struct", "__state") {
            Some(offset) => TaskState {
                new: true,
                offset,
                size: 4,
            },
            None => TaskState {
                new: false,
                offset: offset_by_btf_rs(path, "task_struct", "state"),
                size: 8,
            },
        }
    }

    /// The local accesses task_state.bpf.c makes that the kernel has and lacks:
    /// `(relocated, poisoned)`.
    pub fn accesses(&self) -> (&'static str, &'static str) {
        if self.new {
            (
                "struct task_struct.__state",
                "struct task_struct___old.state",
            )
        } else {
            (
                "struct task_struct___old.state",
                "struct task_struct.__state",
            )
        }
    }
}

/// The running kernel's release (`6.1.0-56-amd64`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Whether the running kernel is at or after release `since`: where a feature that
/// release introduced must be there (what a test expects then differs from before).
pub fn kernel_at_least(since: (u32, u32)) -> bool {
    parse_version(&kernel_release()).is_some_and(|v| v >= since)
}

/// `(major, minor)` of a release string.
pub fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
