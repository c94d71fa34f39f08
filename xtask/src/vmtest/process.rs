//! The guest's process tree: its output copied as it comes, and ending it, leaves
//! first.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Copies the child's stdout and stderr, as they come, into `console`; the
/// receiver gets a message once both have ended and all is written.
pub(super) fn copy_output(child: &mut Child, console: fs::File) -> mpsc::Receiver<()> {
    let (chunks, written) = mpsc::channel::<Vec<u8>>();
    let mut readers: Vec<Box<dyn Read + Send>> = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(Box::new(out));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(Box::new(err));
    }
    for mut reader in readers {
        let chunks = chunks.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let _ = chunks.send(buf[..n].to_vec());
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        });
    }
    drop(chunks);
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let mut console = console;
        // Ends when every reader has dropped its sender.
        for chunk in written {
            let _ = console.write_all(&chunk);
        }
        let _ = console.flush();
        let _ = done.send(());
    });
    finished
}

/// Ends `child` and all its descendants: vng runs `sh -c virtme-run`,
/// which runs QEMU. The leaves go first (QEMU), so that each parent reaps
/// its child and exits on its own; whatever is left after a few rounds is
/// killed outright.
pub(super) fn kill_tree(child: &mut Child) {
    for _ in 0..4 {
        let tree = process_tree(child.id());
        let leaves: Vec<String> = tree
            .iter()
            .filter(|(pid, children)| **pid != child.id() && children.is_empty())
            .map(|(pid, _)| pid.to_string())
            .collect();
        if leaves.is_empty() {
            break;
        }
        signal(&leaves, "-KILL");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    let rest: Vec<String> = process_tree(child.id())
        .keys()
        .filter(|pid| **pid != child.id())
        .map(u32::to_string)
        .collect();
    signal(&rest, "-KILL");
    let _ = child.kill();
    let _ = child.wait();
}

fn signal(pids: &[String], signal: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(signal)
        .arg("--")
        .args(pids)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `root` and its descendants, each with its children, from /proc.
fn process_tree(root: u32) -> BTreeMap<u32, Vec<u32>> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // "PID (COMM) STATE PPID ...": COMM may hold spaces and ')'.
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = BTreeMap::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        let kids = children.remove(&pid).unwrap_or_default();
        pending.extend(&kids);
        tree.insert(pid, kids);
    }
    tree
}
