//! The verifier's log, kept whole; its `Display` shows the last lines, where the
//! verifier states why it refused.

use std::fmt;

/// How many lines of the log `Display` shows.
pub const DISPLAY_LINES: usize = 20;

/// A verifier (or BTF) log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifierLog {
    text: String,
    truncated: bool,
}

impl VerifierLog {
    /// Builds the log from the kernel's buffer: `written` bytes when the kernel said how
    /// many (`log_true_size`), else up to the first NUL.
    pub fn from_buf(buf: &[u8], written: Option<usize>) -> VerifierLog {
        let nul = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let len = written.map_or(nul, |w| w.min(nul));
        let truncated =
            written.is_some_and(|w| w > buf.len()) || (nul == buf.len() && !buf.is_empty());
        VerifierLog {
            text: String::from_utf8_lossy(&buf[..len]).trim_end().to_string(),
            truncated,
        }
    }

    /// The whole log.
    pub fn full(&self) -> &str {
        &self.text
    }

    /// True when the kernel wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// True when the log did not fit the largest buffer tried.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Where the verifier stopped and why, read from the log: the last instruction it
    /// printed, the source line (from the object's line info) it printed before that,
    /// and the first line after it that is neither (the reason). `None` when the log
    /// shows no instruction (an empty log, a BTF log, `log_level` 0).
    pub fn failure(&self) -> Option<VerifierFailure<'_>> {
        let lines: Vec<&str> = self.text.lines().collect();
        let at = lines.iter().rposition(|l| insn_line(l).is_some())?;
        let (insn, instruction) = insn_line(lines[at])?;
        let source = lines[..at]
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("; "))
            .map(str::trim);
        let reason = lines[at + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty() && !l.starts_with(';') && !state_line(l))?;
        Some(VerifierFailure {
            insn,
            instruction,
            source,
            reason,
        })
    }

    /// The last `n` lines, joined by newlines.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// `N: (OP) TEXT[   ; STATE]`: an instruction as the verifier prints it, as its index
/// and its text (without the register state after it).
fn insn_line(line: &str) -> Option<(u32, &str)> {
    let (index, rest) = line.split_once(": (")?;
    let insn = index.parse().ok()?;
    let text = rest.split_once(") ")?.1;
    Some((insn, text.split("; ").next().unwrap_or(text).trim_end()))
}

/// `N: R1=… R10=fp0` or `from N to M: …`: the register state the verifier prints
/// between instructions.
fn state_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    match words.next() {
        Some("from") => true,
        Some(w) => {
            w.strip_suffix(':')
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
                && words
                    .next()
                    .map_or(true, |w| w.starts_with('R') || w.starts_with("fp"))
        }
        None => false,
    }
}

/// Where the verifier stopped, from [`VerifierLog::failure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifierFailure<'a> {
    /// The instruction's index in the program as loaded (after the loader appended its
    /// subprograms).
    pub insn: u32,
    /// The instruction, as the verifier printed it (`r1 = *(u64 *)(r0 +0)`).
    pub instruction: &'a str,
    /// The source line the verifier printed last before it, from the object's line
    /// info (`*count += 1; @ bad_deref.bpf.c:35` since 6.3; only the text before).
    pub source: Option<&'a str>,
    /// Why the verifier refused (`R0 invalid mem access 'map_value_or_null'`).
    pub reason: &'a str,
}

/// `at instruction 7 (r1 = *(u64 *)(r0 +0)), source `*count += 1; @ f.c:35`: REASON`
impl fmt::Display for VerifierFailure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at instruction {} ({})", self.insn, self.instruction)?;
        if let Some(source) = self.source {
            write!(f, ", source `{source}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl fmt::Display for VerifierLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            return f.write_str("(the kernel wrote no log)");
        }
        let total = self.text.lines().count();
        if total > DISPLAY_LINES {
            writeln!(f, "[... {} earlier lines ...]", total - DISPLAY_LINES)?;
        }
        f.write_str(&self.tail(DISPLAY_LINES))?;
        if self.truncated {
            f.write_str("\n[log truncated by the buffer size]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_end() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let mut buf = text.into_bytes();
        buf.push(0);
        buf.extend_from_slice(b"garbage");
        let log = VerifierLog::from_buf(&buf, None);
        let shown = log.to_string();
        assert!(shown.starts_with("[... 10 earlier lines ...]"));
        assert!(shown.ends_with("line 29"));
        assert!(!shown.contains("line 9\n"));
        assert!(log.full().contains("line 0"));
        assert!(!log.full().contains("garbage"));
        assert!(!log.is_truncated());
        assert!(VerifierLog::from_buf(b"abc", None).is_truncated());
    }

    /// A 6.x log (source lines with `@ file:line`, state after each instruction) and a
    /// 5.10 one (source text only, state on its own lines).
    #[test]
    fn failure_names_the_instruction_its_source_and_the_reason() {
        let new = "func#0 @0\n0: R1=ctx() R10=fp0\n; int f(void *ctx) @ x.bpf.c:28\n\
                   0: (b4) w1 = 0                        ; R1=0\n\
                   ; *count += 1; @ x.bpf.c:35\n\
                   7: (79) r1 = *(u64 *)(r0 +0)\n\
                   R0 invalid mem access 'map_value_or_null'\n\
                   processed 7 insns (limit 1000000) max_states_per_insn 0\n";
        let log = VerifierLog::from_buf(new.as_bytes(), Some(new.len()));
        let f = log.failure().unwrap();
        assert_eq!(
            (f.insn, f.instruction, f.source, f.reason),
            (
                7,
                "r1 = *(u64 *)(r0 +0)",
                Some("*count += 1; @ x.bpf.c:35"),
                "R0 invalid mem access 'map_value_or_null'"
            )
        );
        assert_eq!(
            f.to_string(),
            "at instruction 7 (r1 = *(u64 *)(r0 +0)), source `*count += 1; @ x.bpf.c:35`: \
             R0 invalid mem access 'map_value_or_null'"
        );
        let old = "0: R1=ctx(id=0,off=0,imm=0) R10=fp0\n; *count += 1;\n\
                   7: (79) r1 = *(u64 *)(r0 +0)\n\
                   R0 invalid mem access 'map_value_or_null'\nprocessed 7 insns\n";
        let log = VerifierLog::from_buf(old.as_bytes(), Some(old.len()));
        let f = log.failure().unwrap();
        assert_eq!((f.insn, f.source), (7, Some("*count += 1;")));
        assert_eq!(f.reason, "R0 invalid mem access 'map_value_or_null'");
        // A state line after the instruction is not the reason.
        let state = "5: (85) call bpf_foo#1\n5: R0=scalar()\nunknown func bpf_foo#1\n";
        let log = VerifierLog::from_buf(state.as_bytes(), Some(state.len()));
        assert_eq!(log.failure().unwrap().reason, "unknown func bpf_foo#1");
        assert_eq!(VerifierLog::from_buf(b"BTF: bad\n", None).failure(), None);
    }
}
