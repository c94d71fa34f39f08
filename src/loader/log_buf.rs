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

    /// The last `n` lines, joined by newlines.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
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
}
