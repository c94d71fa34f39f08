//! `BPF_BTF_LOAD`.

use super::attr::{attr_struct, AttrBytes};
use super::prog::{log_text, LogOutcome, MAX_LOG_SIZE};
use super::{bpf_fd, len_u32, ptr_u64, BpfCmd};
use crate::sys::SysResult;
use std::fmt;
use std::os::fd::OwnedFd;

attr_struct! {
    /// `BPF_BTF_LOAD`, up to `btf_log_true_size` (6.4).
    struct BtfLoadRaw {
        btf: u64,
        btf_log_buf: u64,
        btf_size: u32,
        btf_log_size: u32,
        btf_log_level: u32,
        btf_log_true_size: u32,
    }
}

/// Attributes of `BPF_BTF_LOAD`, and after the call, how much log it produced.
#[derive(Default)]
pub struct BtfLoadAttr<'a> {
    /// The raw BTF blob (header, types, strings).
    pub btf: &'a [u8],
    /// A buffer for the kernel's BTF verifier log; only passed when `log_level != 0`.
    pub log_buf: Option<&'a mut [u8]>,
    /// The log level (see [`log_level`](super::log_level)); 0 = no log.
    pub log_level: u32,
    /// Output: the full log size the kernel wanted to write, including the NUL (6.4+
    /// kernels; `None` on older ones or when no log was passed). Larger than the buffer
    /// means the log was truncated.
    pub log_true_size: Option<u32>,
    /// Output: the number of log bytes in the buffer, without the NUL.
    pub log_len: usize,
}

impl<'a> BtfLoadAttr<'a> {
    /// Attributes for loading `btf` without a log.
    pub fn new(btf: &'a [u8]) -> Self {
        BtfLoadAttr {
            btf,
            ..Default::default()
        }
    }

    /// After a load: the log text in the buffer (without the NUL).
    pub fn log(&self) -> &[u8] {
        log_text(self.log_buf.as_deref(), self.log_len)
    }
}

impl fmt::Debug for BtfLoadAttr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BtfLoadAttr")
            .field("btf_len", &self.btf.len())
            .field("log_buf_len", &self.log_buf.as_ref().map(|b| b.len()))
            .field("log_level", &self.log_level)
            .field("log_true_size", &self.log_true_size)
            .field("log_len", &self.log_len)
            .finish()
    }
}

/// `BPF_BTF_LOAD`: loads a BTF blob; afterwards `attr` tells how much log was written.
pub fn btf_load_attr(attr: &mut BtfLoadAttr<'_>) -> SysResult<OwnedFd> {
    const CALL: &str = "BPF_BTF_LOAD";
    let mut raw = BtfLoadRaw {
        btf: ptr_u64(attr.btf.as_ptr()),
        btf_size: len_u32(CALL, "BTF blob", attr.btf.len())?,
        ..Default::default()
    };
    let level = attr.log_level;
    let mut log_len = 0;
    if let Some(buf) = attr
        .log_buf
        .as_deref_mut()
        .filter(|b| level != 0 && !b.is_empty())
    {
        buf[0] = 0;
        log_len = buf.len().min(MAX_LOG_SIZE);
        raw.btf_log_buf = ptr_u64(buf.as_ptr());
        raw.btf_log_size = log_len as u32;
        raw.btf_log_level = level;
    }
    // SAFETY: `btf` is valid for `btf_size` bytes; the log buffer, if any, is a live
    // writable buffer of at least `btf_log_size` bytes; both outlive the call.
    let result = unsafe { bpf_fd(BpfCmd::BtfLoad, raw.bytes_mut()) };
    let log = match attr.log_buf.as_deref() {
        Some(buf) if log_len > 0 => LogOutcome::new(&buf[..log_len], raw.btf_log_true_size),
        _ => LogOutcome::default(),
    };
    attr.log_true_size = log.true_size;
    attr.log_len = log.written;
    result
}

/// `BPF_BTF_LOAD`: loads a BTF blob, with an optional log buffer (only passed to the
/// kernel when `log_level != 0`). See [`btf_load_attr`] to learn how much log was
/// written.
pub fn btf_load(btf: &[u8], log: Option<&mut [u8]>, log_level: u32) -> SysResult<OwnedFd> {
    let mut attr = BtfLoadAttr {
        btf,
        log_buf: log,
        log_level,
        ..Default::default()
    };
    btf_load_attr(&mut attr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn attr_layout_matches_uapi() {
        // Offsets checked against include/uapi/linux/bpf.h (gcc offsetof on the 6.1
        // header; log_true_size and later fields from the 6.14+ header).
        assert_eq!(offset_of!(BtfLoadRaw, btf_log_level), 24);
        assert_eq!(offset_of!(BtfLoadRaw, btf_log_true_size), 28);
    }
}
