//! A cgroup (v2) for a test: created under the cgroup2 mount (mounted when missing),
//! named uniquely per process, removed when dropped; [`TestCgroup::enter`] moves this
//! process into it until the returned guard drops.
//!
//! A cgroup program sees the sockets created, and the syscalls made, by the processes
//! of its cgroup. Tests move the whole test process (every thread: cgroup v2 moves
//! processes, not threads), so entering is serialized by a process-wide lock and the
//! tests of one binary that enter never overlap.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The cgroup2 mount point: the first in /proc/self/mounts, else /sys/fs/cgroup newly
/// mounted (a guest without systemd).
pub fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("reading /proc/self/mounts");
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 2 && f[2] == "cgroup2" {
            return PathBuf::from(f[1]);
        }
    }
    let dir = Path::new("/sys/fs/cgroup");
    std::fs::create_dir_all(dir).expect("creating /sys/fs/cgroup");
    nix::mount::mount(
        Some("cgroup2"),
        dir,
        Some("cgroup2"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("mounting cgroup2 (tests need root)");
    dir.to_path_buf()
}

/// This process's cgroup2 path relative to the root (`/` or `/a/b`).
fn current_cgroup() -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").expect("reading /proc/self/cgroup");
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_string()
}

/// A cgroup made for one test.
pub struct TestCgroup {
    path: PathBuf,
    dir: File,
}

/// While alive, this process is in the cgroup; dropping it moves the process back.
pub struct Inside<'a> {
    back_to: PathBuf,
    _lock: MutexGuard<'a, ()>,
}

static ENTERED: Mutex<()> = Mutex::new(());

impl TestCgroup {
    /// Creates `corebpf-TAG-PID-N` under the cgroup2 root.
    pub fn new(tag: &str) -> TestCgroup {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = cgroup2_root().join(format!("corebpf-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("creating cgroup {}: {e}", path.display()));
        let dir = File::open(&path).expect("opening the cgroup directory");
        TestCgroup { path, dir }
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open directory (what cgroup programs attach to).
    pub fn fd(&self) -> &File {
        &self.dir
    }

    /// The cgroup's id: its directory's inode number (`bpf_get_current_cgroup_id`,
    /// the `cgroup_inode_id` of a cgroup storage key).
    pub fn id(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        self.dir.metadata().expect("stat of the cgroup").ino()
    }

    /// Moves this process into the cgroup until the guard drops.
    pub fn enter(&self) -> Inside<'_> {
        let lock = ENTERED.lock().unwrap_or_else(|p| p.into_inner());
        let back_to = cgroup2_root().join(current_cgroup().trim_start_matches('/'));
        move_to(&self.path);
        Inside {
            back_to,
            _lock: lock,
        }
    }
}

fn move_to(cgroup: &Path) {
    let procs = cgroup.join("cgroup.procs");
    std::fs::write(&procs, std::process::id().to_string())
        .unwrap_or_else(|e| panic!("moving this process to {}: {e}", cgroup.display()));
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        move_to(&self.back_to);
    }
}

impl Drop for TestCgroup {
    /// Removes the cgroup. A thread that was exiting when the process moved out is not
    /// moved (the kernel skips exiting tasks) and keeps the cgroup busy until it is
    /// gone, so `EBUSY` is retried for a while.
    fn drop(&mut self) {
        for _ in 0..100 {
            match std::fs::remove_dir(&self.path) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(e) => return eprintln!("removing cgroup {}: {e}", self.path.display()),
                Ok(()) => return,
            }
        }
        eprintln!("cgroup {} stays busy; not removed", self.path.display());
    }
}
