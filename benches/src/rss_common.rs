//! Shared by the `rss-*` binaries (case 6): each is a minimal process that loads one
//! object with one system, then prints its memory counters and exits. They are separate
//! binaries so that a process carries only its own system's code, as a real tool would.

/// Prints `programs=N VmHWM=… RssAnon=… RssFile=…` from /proc/self/status.
pub fn report(programs: usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "programs={programs} VmHWM={} RssAnon={} RssFile={}",
        field("VmHWM:"),
        field("RssAnon:"),
        field("RssFile:")
    );
    if std::env::var_os("RSS_SMAPS").is_some() {
        print_smaps();
    }
}

/// With `RSS_SMAPS` set: each mapping's resident size, to see where the pages are.
fn print_smaps() {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut parts = line.split_whitespace();
        let first = parts.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            let rest: Vec<&str> = parts.collect();
            name = format!(
                "{} {} {}",
                first,
                rest.first().unwrap_or(&""),
                rest.get(4).unwrap_or(&"")
            );
        } else if first == "Rss:" {
            let kb = parts.next().unwrap_or("0");
            if kb != "0" {
                println!("  {kb:>6} KiB  {name}");
            }
        }
    }
}

/// The object path: the only argument.
pub fn object_arg() -> String {
    match std::env::args().nth(1) {
        Some(p) => p,
        None => {
            eprintln!(
                "usage: {} OBJECT",
                std::env::args().next().unwrap_or_default()
            );
            std::process::exit(2);
        }
    }
}
