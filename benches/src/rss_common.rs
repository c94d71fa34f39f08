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
