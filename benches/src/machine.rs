//! What the report records about the machine and the toolchain.

use std::path::Path;
use std::process::Command;

/// The facts printed at the top of BENCHMARKS.md.
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub clang: String,
    pub bpftool: String,
    pub libbpf: String,
    pub peers: Vec<(String, String)>,
    pub loadavg: String,
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| format!("({cmd} not found)"))
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Versions of the peer crates as Cargo.lock pins them.
fn lock_versions(names: &[&str]) -> Vec<(String, String)> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let text = std::fs::read_to_string(lock).unwrap_or_default();
    let mut out = Vec::new();
    for want in names {
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if l.trim() == format!("name = \"{want}\"") {
                if let Some(v) = lines
                    .next()
                    .and_then(|v| v.trim().strip_prefix("version = "))
                {
                    out.push((want.to_string(), v.trim_matches('"').to_string()));
                }
                break;
            }
        }
    }
    out
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
            })
            .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
            .unwrap_or_default();
        let kernel = first_line("uname", &["-r"]);
        Machine {
            cpu,
            cores,
            memory,
            kernel,
            rustc: first_line("rustc", &["--version"]),
            clang: first_line("clang-19", &["--version"]),
            bpftool: {
                let out = Command::new("bpftool")
                    .arg("version")
                    .output()
                    .ok()
                    .and_then(|o| String::from_utf8(o.stdout).ok())
                    .unwrap_or_default();
                out.lines().take(2).collect::<Vec<_>>().join(", ")
            },
            libbpf: crate::libbpf::version(),
            peers: lock_versions(&["libbpf-sys", "aya", "aya-obj"]),
            loadavg: loadavg(),
        }
    }
}
