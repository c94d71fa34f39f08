//! `corebpf trace-pipe`: streams the kernel's trace buffer (`bpf_printk` output) to
//! stdout, as BCC's `trace_print` does, until Ctrl-C or until stdout's reader goes away.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context as _;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::args::TracePipeArgs;
use crate::output::{json_str, Signals};
use crate::Result;

/// `corebpf trace-pipe`.
pub fn trace_pipe(a: &TracePipeArgs) -> Result<()> {
    crate::ensure_tracefs()?;
    let root = corebpf::program::tracefs::tracefs_root().context("finding tracefs")?;
    let path = root.join("trace_pipe");
    let mut pipe = open_nonblocking(&path)?;
    let signals = Signals::new()?;
    let stdout = std::io::stdout();
    let mut lines = Lines::default();
    loop {
        match wait(&pipe, &signals, &stdout)? {
            Wake::Signal | Wake::ReaderGone => return Ok(()),
            Wake::Data => {}
        }
        let text = match lines.read(&mut pipe) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut out = stdout.lock();
        for line in text {
            let shown = if a.json { json_line(&line) } else { line };
            if let Err(e) = writeln!(out, "{shown}") {
                return stdout_error(e);
            }
        }
        if let Err(e) = out.flush() {
            return stdout_error(e);
        }
    }
}

/// A closed pipe on stdout ends the stream normally (`| head`); other errors are errors.
fn stdout_error(e: std::io::Error) -> Result<()> {
    if e.kind() == ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(anyhow::Error::new(e).context("writing to stdout"))
    }
}

fn open_nonblocking(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// What woke the loop.
enum Wake {
    /// The trace buffer has lines (or the read may say it has none after all).
    Data,
    /// SIGINT or SIGTERM.
    Signal,
    /// stdout is a pipe whose reader closed it.
    ReaderGone,
}

/// Waits for trace data, a signal, or stdout's reader to go away. stdout is polled for
/// no event, so only its error (a pipe without reader) wakes the loop.
fn wait(pipe: &File, signals: &Signals, stdout: &std::io::Stdout) -> Result<Wake> {
    let mut fds = [
        PollFd::new(pipe.as_fd(), PollFlags::POLLIN),
        PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        PollFd::new(stdout.as_fd(), PollFlags::empty()),
    ];
    loop {
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("waiting for trace data")),
        }
    }
    let woke = |i: usize, f: PollFlags| fds[i].revents().is_some_and(|r| r.intersects(f));
    if woke(1, PollFlags::POLLIN) && signals.pending()? {
        return Ok(Wake::Signal);
    }
    if woke(
        2,
        PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL,
    ) {
        return Ok(Wake::ReaderGone);
    }
    Ok(Wake::Data)
}

/// Whole lines out of the bytes read so far; a partial last line waits for its end.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Reads what is there and returns the lines it completes.
    fn read(&mut self, pipe: &mut File) -> std::io::Result<Vec<String>> {
        let mut buf = [0u8; 64 * 1024];
        let n = pipe.read(&mut buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let rest = self.pending.split_off(end + 1);
        let done = std::mem::replace(&mut self.pending, rest);
        Ok(String::from_utf8_lossy(&done)
            .lines()
            .map(str::to_string)
            .collect())
    }
}

/// The fields of one trace line: `TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: MESSAGE`, with
/// an optional `(TGID)` after the pid and FLAGS absent when tracefs' irq-info is off.
#[derive(Debug, PartialEq, Eq)]
struct Fields<'a> {
    task: &'a str,
    pid: u32,
    cpu: u32,
    flags: Option<&'a str>,
    timestamp: &'a str,
    event: &'a str,
    message: &'a str,
}

/// The position of the ` [CPU] ` column, the first that parses.
fn cpu_column(line: &str) -> Option<(usize, usize, u32)> {
    let mut from = 0;
    while let Some(i) = line[from..].find(" [").map(|i| i + from) {
        let rest = &line[i + 2..];
        if let Some(close) = rest.find("] ") {
            if let Ok(cpu) = rest[..close].parse::<u32>() {
                return Some((i, i + 2 + close + 2, cpu));
            }
        }
        from = i + 2;
    }
    None
}

fn parse(line: &str) -> Option<Fields<'_>> {
    let (start, after, cpu) = cpu_column(line)?;
    let mut head = line[..start].trim();
    // `task-pid (tgid)` when tracefs' record-tgid option is on.
    if head.ends_with(')') {
        if let Some(open) = head.rfind(" (") {
            head = head[..open].trim_end();
        }
    }
    let (task, pid) = head.rsplit_once('-')?;
    let pid = pid.parse().ok()?;
    let (stamp_part, tail) = line[after..].split_once(": ")?;
    let mut words = stamp_part.split_whitespace();
    let (flags, timestamp) = match (words.next()?, words.next(), words.next()) {
        (ts, None, None) => (None, ts),
        (flags, Some(ts), None) => (Some(flags), ts),
        _ => return None,
    };
    let (event, message) = tail.split_once(": ").unwrap_or(("", tail));
    Some(Fields {
        task: task.trim(),
        pid,
        cpu,
        flags,
        timestamp,
        event,
        message,
    })
}

/// One line as a JSON object; a line that is not a trace record (a `[LOST N EVENTS]`
/// notice) has only `message`.
fn json_line(line: &str) -> String {
    let Some(f) = parse(line) else {
        return format!("{{\"message\":{}}}", json_str(line));
    };
    let flags = f.flags.map_or("null".to_string(), json_str);
    format!(
        "{{\"task\":{},\"pid\":{},\"cpu\":{},\"flags\":{flags},\"timestamp\":{},\"event\":{},\"message\":{}}}",
        json_str(f.task),
        f.pid,
        f.cpu,
        json_str(f.timestamp),
        json_str(f.event),
        json_str(f.message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bpf_printk_line() {
        let l = "   kworker/u8:2-1234    [001] d..31  5123.456789: bpf_trace_printk: a: b";
        let f = parse(l).unwrap();
        assert_eq!(
            f,
            Fields {
                task: "kworker/u8:2",
                pid: 1234,
                cpu: 1,
                flags: Some("d..31"),
                timestamp: "5123.456789",
                event: "bpf_trace_printk",
                message: "a: b",
            }
        );
    }

    #[test]
    fn a_task_with_dashes_brackets_and_a_tgid_column() {
        let l = " my-app [x]-77 (   70) [003] .... 1.000001: bpf_trace_printk: hi";
        let f = parse(l).unwrap();
        assert_eq!((f.task, f.pid, f.cpu), ("my-app [x]", 77, 3));
        assert_eq!((f.flags, f.message), (Some("...."), "hi"));
        let l = "            <...>-9 [000] 2.5: bpf_trace_printk: no flags";
        let f = parse(l).unwrap();
        assert_eq!((f.task, f.flags, f.timestamp), ("<...>", None, "2.5"));
    }

    #[test]
    fn other_lines_are_only_a_message() {
        assert!(parse("CPU:1 [LOST 12 EVENTS]").is_none());
        assert_eq!(
            json_line("CPU:1 [LOST 12 EVENTS]"),
            "{\"message\":\"CPU:1 [LOST 12 EVENTS]\"}"
        );
        let j = json_line("  a-1 [002] d... 3.0: bpf_trace_printk: say \"x\"");
        assert_eq!(
            j,
            "{\"task\":\"a\",\"pid\":1,\"cpu\":2,\"flags\":\"d...\",\"timestamp\":\"3.0\",\
             \"event\":\"bpf_trace_printk\",\"message\":\"say \\\"x\\\"\"}"
        );
    }
}
