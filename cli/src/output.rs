//! Output: program/map lines, logging, signals.

use std::error::Error;
use std::fmt::Write as _;
use std::os::fd::{AsFd, BorrowedFd};

use corebpf::{Map, Program};

/// A logger printing `level: message` to stderr.
struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.level
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            note(&format!(
                "{}: {}",
                r.level().as_str().to_lowercase(),
                r.args()
            ));
        }
    }
    fn flush(&self) {}
}

/// The context of a failed write to standard output.
pub const STDOUT: &str = "writing to stdout";

/// Prints `corebpf: MESSAGE` on stderr. A stderr that cannot be written to has nowhere
/// to report to, so its failure is ignored rather than aborting.
pub fn note(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "corebpf: {message}");
}

/// True when `e` or one of its causes is a write to a reader that went away (EPIPE).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes (`source()`), each printed once, joined with `: `. A cause
/// whose text its error already ends with (a message that embeds its source) is not
/// repeated.
pub fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Warnings by default; `-v` debug, `-vv` and more trace.
pub fn init_logger(verbose: u8) {
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    if log::set_boxed_logger(Box::new(StderrLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}

/// The kernel's name for a program type, as bpftool prints it (the library's table).
pub fn prog_type_name(t: u32) -> &'static str {
    corebpf::features::ProgramType(t).name()
}

/// `prog NAME type=T id=N insns=N verified=N`.
pub fn program_line(p: &Program) -> Result<String, corebpf::ProgramError> {
    let info = p.info()?;
    Ok(format!(
        "prog {} type={} id={} insns={} verified={}",
        p.name(),
        prog_type_name(info.type_),
        info.id,
        info.xlated_prog_len / 8,
        info.verified_insns
    ))
}

/// `map NAME type=T id=N key=K value=V max_entries=N`.
pub fn map_line(m: &Map) -> Result<String, corebpf::MapError> {
    let info = m.info()?;
    Ok(format!(
        "map {} type={} id={} key={} value={} max_entries={}",
        m.name(),
        m.map_type().name(),
        info.id,
        info.key_size,
        info.value_size,
        info.max_entries
    ))
}

/// SIGINT/SIGTERM delivered through a signalfd, so the run loop can notice them
/// between polls and unwind normally (dropping links detaches).
pub struct Signals {
    fd: nix::sys::signalfd::SignalFd,
}

impl Signals {
    /// Blocks the signals for this thread and opens the signalfd.
    pub fn new() -> Result<Signals, nix::Error> {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block()?;
        let fd = nix::sys::signalfd::SignalFd::with_flags(
            &set,
            nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
        )?;
        Ok(Signals { fd })
    }

    /// True once a signal arrived.
    pub fn pending(&self) -> Result<bool, nix::Error> {
        Ok(self.fd.read_signal()?.is_some())
    }
}

/// The signalfd: readable once a signal arrived.
impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// One relocation decision of one program, printed by `corebpf relocate`.
pub struct Relocation<'a> {
    /// Program name.
    pub program: &'a str,
    /// The decision.
    pub result: &'a corebpf::reloc::core::RelocResult,
}

impl std::fmt::Display for Relocation<'_> {
    /// `PROGRAM insn=N KIND ACCESS: OLD -> NEW` or `... poisoned: REASON`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use corebpf::reloc::core::Outcome;
        let r = self.result;
        write!(
            f,
            "{} insn={} {} {}: ",
            self.program,
            r.insn,
            r.kind.name(),
            r.local
        )?;
        match &r.outcome {
            Outcome::Patched { old, new } => {
                write!(f, "{old} -> {new}")?;
                if let Some((from, to)) = r.mem_size {
                    write!(f, " (access size {from} -> {to} bytes)")?;
                }
                Ok(())
            }
            Outcome::Poisoned { reason } => write!(f, "poisoned: {reason}"),
        }
    }
}

/// Escapes a string for JSON.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The relocations as a JSON array of objects.
pub fn relocations_json(lines: &[Relocation<'_>]) -> String {
    use corebpf::reloc::core::Outcome;
    let items: Vec<String> = lines
        .iter()
        .map(|l| {
            let r = l.result;
            let outcome = match &r.outcome {
                Outcome::Patched { old, new } => format!("\"old\":{old},\"new\":{new}"),
                Outcome::Poisoned { reason } => format!("\"poisoned\":{}", json_str(reason)),
            };
            let target = match &r.target {
                Some(t) => json_str(&t.to_string()),
                None => "null".into(),
            };
            format!(
                "{{\"program\":{},\"insn\":{},\"kind\":{},\"local\":{},{outcome},\"target\":{target}}}",
                json_str(l.program),
                r.insn,
                json_str(r.kind.name()),
                json_str(&r.local),
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test error: its text, and the cause it wraps.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    fn chain(layers: &[&'static str]) -> Layer {
        layers
            .iter()
            .rev()
            .fold(None, |inner, text| Some(Layer(text, inner.map(Box::new))))
            .unwrap()
    }

    #[test]
    fn the_chain_is_joined_once() {
        assert_eq!(error_chain(&chain(&["one"])), "one");
        assert_eq!(
            error_chain(&chain(&["loading x", "map 'm'", "Permission denied"])),
            "loading x: map 'm': Permission denied"
        );
        // A message that embeds its cause does not get it a second time.
        assert_eq!(
            error_chain(&chain(&["x: reading x: gone", "reading x: gone", "gone"])),
            "x: reading x: gone"
        );
        assert_eq!(
            error_chain(&chain(&["reading x: gone", "gone", "errno 2"])),
            "reading x: gone: errno 2"
        );
    }
}
