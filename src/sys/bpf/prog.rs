//! `BPF_PROG_LOAD` (with the verifier log it fills) and `BPF_PROG_TEST_RUN`.

use super::attr::{attr_struct, AttrBytes};
use super::consts::BPF_OBJ_NAME_LEN;
use super::{bpf, bpf_fd, fd_u32, len_u32, name_bytes, ptr_u64, BpfCmd};
use crate::insn::{op, pseudo, Insn};
use crate::sys::{SysError, SysResult};
use std::ffi::CStr;
use std::fmt;
use std::mem::{offset_of, size_of, size_of_val};
use std::os::fd::{BorrowedFd, OwnedFd};

attr_struct! {
    /// `BPF_PROG_LOAD`, up to `fd_array_cnt` (6.14).
    struct ProgLoadRaw {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; BPF_OBJ_NAME_LEN],
        prog_ifindex: u32,
        expected_attach_type: u32,
        prog_btf_fd: u32,
        func_info_rec_size: u32,
        func_info: u64,
        func_info_cnt: u32,
        line_info_rec_size: u32,
        line_info: u64,
        line_info_cnt: u32,
        attach_btf_id: u32,
        /// `attach_prog_fd` or `attach_btf_obj_fd` (a union in the kernel).
        attach_fd: u32,
        core_relo_cnt: u32,
        fd_array: u64,
        core_relos: u64,
        core_relo_rec_size: u32,
        log_true_size: u32,
        prog_token_fd: u32,
        fd_array_cnt: u32,
    }
}

attr_struct! {
    /// `BPF_PROG_TEST_RUN`.
    struct TestRunRaw {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
        ctx_size_in: u32,
        ctx_size_out: u32,
        ctx_in: u64,
        ctx_out: u64,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        _pad: u32,
    }
}

/// How much verifier (or BTF) log the kernel produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LogOutcome {
    /// `log_true_size` as reported by 6.4+ kernels (the full log size including the
    /// NUL, even when it did not fit), or `None` on older kernels.
    pub(super) true_size: Option<u32>,
    /// Bytes of log text in the buffer, not counting the NUL.
    pub(super) written: usize,
}

impl LogOutcome {
    pub(super) fn new(buf: &[u8], true_size: u32) -> Self {
        if true_size > 0 {
            let in_buf = (true_size as usize).min(buf.len());
            LogOutcome {
                true_size: Some(true_size),
                written: in_buf.saturating_sub(1),
            }
        } else {
            let written = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            LogOutcome {
                true_size: None,
                written,
            }
        }
    }
}

/// The largest log buffer the kernel accepts (`UINT_MAX >> 2`).
pub(super) const MAX_LOG_SIZE: usize = (u32::MAX >> 2) as usize;

/// The first `len` bytes of the log buffer, if any.
pub(super) fn log_text(buf: Option<&[u8]>, len: usize) -> &[u8] {
    match buf {
        Some(buf) => &buf[..len.min(buf.len())],
        None => &[],
    }
}

/// Attributes of `BPF_PROG_LOAD`, and after the call, how much verifier log it produced.
///
/// Build with [`ProgLoadAttr::new`] (or a struct literal with `..Default::default()`)
/// and set the public fields. The size passed to the kernel covers the fields up to the
/// last one in use (through `log_true_size` when a log is requested), so kernels that
/// predate an unused field accept the call.
#[derive(Default)]
pub struct ProgLoadAttr<'a> {
    /// One of [`prog_type`](super::prog_type).
    pub prog_type: u32,
    /// The instructions.
    pub insns: &'a [Insn],
    /// The license, e.g. `c"GPL"`.
    pub license: &'a CStr,
    /// Verifier log level ([`log_level`](super::log_level)); the log buffer is only passed when nonzero.
    pub log_level: u32,
    /// Buffer for the verifier log.
    pub log_buf: Option<&'a mut [u8]>,
    /// `LINUX_VERSION_CODE` (checked for kprobes by kernels before 5.0).
    pub kern_version: u32,
    /// [`prog_flags`](super::prog_flags).
    pub prog_flags: u32,
    /// The program's name (see [`obj_name`](super::obj_name)).
    pub prog_name: [u8; BPF_OBJ_NAME_LEN],
    /// Network device to offload to.
    pub prog_ifindex: u32,
    /// Expected attach type ([`attach_type`](super::attach_type)).
    pub expected_attach_type: u32,
    /// BTF of the program (for `func_info` / `line_info`).
    pub prog_btf_fd: Option<BorrowedFd<'a>>,
    /// `bpf_func_info` records, `func_info_rec_size` bytes each.
    pub func_info: &'a [u8],
    /// Size of one `bpf_func_info` record.
    pub func_info_rec_size: u32,
    /// `bpf_line_info` records, `line_info_rec_size` bytes each.
    pub line_info: &'a [u8],
    /// Size of one `bpf_line_info` record.
    pub line_info_rec_size: u32,
    /// BTF type id of the attach target (fentry, lsm, tp_btf, …).
    pub attach_btf_id: u32,
    /// Module BTF object holding `attach_btf_id` (none = vmlinux).
    pub attach_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// Program to attach to (freplace, fentry on a BPF program); exclusive with
    /// `attach_btf_obj_fd`.
    pub attach_prog_fd: Option<BorrowedFd<'a>>,
    /// Descriptors referenced by index from `ld_imm64` (`BPF_PSEUDO_MAP_IDX*`) and kfunc
    /// calls (5.14+). Every index the instructions use must be inside the array (checked
    /// before the call).
    pub fd_array: Option<&'a [BorrowedFd<'a>]>,
    /// Also pass `fd_array_cnt` (6.14+): binds every map in `fd_array` to the program.
    pub bind_fd_array: bool,
    /// Output: the full log size the kernel wanted to write, including the NUL (6.4+
    /// kernels; `None` on older ones or when no log was passed). Larger than the buffer
    /// means the log was truncated (and the load failed with `ENOSPC`).
    pub log_true_size: Option<u32>,
    /// Output: the number of log bytes in the buffer, without the NUL (from
    /// `log_true_size`, or by scanning for the NUL on older kernels).
    pub log_len: usize,
}

// `fd_array` is handed to the kernel as an array of `int`.
const _: () = assert!(size_of::<BorrowedFd<'static>>() == size_of::<std::ffi::c_int>());
const _: () = assert!(size_of::<Insn>() == 8);

impl<'a> ProgLoadAttr<'a> {
    /// Attributes for loading `insns` as a `prog_type` program under `license`.
    pub fn new(prog_type: u32, insns: &'a [Insn], license: &'a CStr) -> Self {
        ProgLoadAttr {
            prog_type,
            insns,
            license,
            ..Default::default()
        }
    }

    /// After a load: the log text in the buffer (without the NUL).
    pub fn log(&self) -> &[u8] {
        log_text(self.log_buf.as_deref(), self.log_len)
    }

    /// After a load: `log_true_size` as a byte count — what the kernel reported it wrote
    /// (or wanted to: it may exceed the buffer), including the NUL; `None` when the
    /// kernel does not report it (before 6.4) or no log was passed, in which case the
    /// text ends at the first NUL (see [`log_len`](Self::log_len)).
    pub fn log_written(&self) -> Option<usize> {
        self.log_true_size.map(|n| n as usize)
    }

    /// Builds the kernel attribute and the size to pass. Returns the length of the log
    /// buffer actually passed (0 = none).
    fn build_raw(
        &self,
        log_buf: Option<&mut [u8]>,
        level: u32,
    ) -> SysResult<(ProgLoadRaw, usize, usize)> {
        const CALL: &str = "BPF_PROG_LOAD";
        let mut raw = ProgLoadRaw {
            prog_type: self.prog_type,
            insn_cnt: len_u32(CALL, "instruction count", self.insns.len())?,
            insns: ptr_u64(self.insns.as_ptr()),
            license: ptr_u64(self.license.as_ptr()),
            kern_version: self.kern_version,
            prog_flags: self.prog_flags,
            prog_name: self.prog_name,
            prog_ifindex: self.prog_ifindex,
            expected_attach_type: self.expected_attach_type,
            prog_btf_fd: self.prog_btf_fd.map_or(0, fd_u32),
            attach_btf_id: self.attach_btf_id,
            ..Default::default()
        };
        let records = |what: &str, data: &[u8], rec: u32| -> SysResult<(u64, u32, u32)> {
            if data.is_empty() {
                return Ok((0, 0, 0));
            }
            if rec == 0 || data.len() % rec as usize != 0 {
                return Err(SysError::invalid(
                    CALL,
                    format!(
                        "{what} is {} bytes, not a multiple of record size {rec}",
                        data.len()
                    ),
                ));
            }
            let cnt = len_u32(CALL, what, data.len() / rec as usize)?;
            Ok((ptr_u64(data.as_ptr()), cnt, rec))
        };
        (raw.func_info, raw.func_info_cnt, raw.func_info_rec_size) =
            records("func_info", self.func_info, self.func_info_rec_size)?;
        (raw.line_info, raw.line_info_cnt, raw.line_info_rec_size) =
            records("line_info", self.line_info, self.line_info_rec_size)?;
        raw.attach_fd = match (self.attach_btf_obj_fd, self.attach_prog_fd) {
            (Some(_), Some(_)) => {
                return Err(SysError::invalid(
                    CALL,
                    "attach_btf_obj_fd and attach_prog_fd are exclusive",
                ))
            }
            (Some(fd), None) | (None, Some(fd)) => fd_u32(fd),
            (None, None) => 0,
        };
        check_fd_array_refs(self.insns, self.fd_array.map(|f| f.len()))
            .map_err(|msg| SysError::invalid(CALL, msg))?;
        if let Some(fds) = self.fd_array {
            raw.fd_array = ptr_u64(fds.as_ptr());
            if self.bind_fd_array {
                raw.fd_array_cnt = len_u32(CALL, "fd_array", fds.len())?;
            }
        }
        let mut log_len = 0;
        if let Some(buf) = log_buf.filter(|b| level != 0 && !b.is_empty()) {
            buf[0] = 0;
            log_len = buf.len().min(MAX_LOG_SIZE);
            raw.log_level = level;
            raw.log_size = log_len as u32;
            raw.log_buf = ptr_u64(buf.as_ptr());
        }
        let mut size = used_size(raw.bytes(), &prog_load_field_ends());
        if log_len > 0 {
            // Ask for log_true_size: a zero field older kernels accept.
            size = size.max(offset_of!(ProgLoadRaw, log_true_size) + 4);
        }
        Ok((raw, size, log_len))
    }
}

impl fmt::Debug for ProgLoadAttr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgLoadAttr")
            .field("prog_type", &self.prog_type)
            .field("insn_cnt", &self.insns.len())
            .field("license", &self.license)
            .field("log_level", &self.log_level)
            .field("log_buf_len", &self.log_buf.as_ref().map(|b| b.len()))
            .field("prog_flags", &self.prog_flags)
            .field(
                "prog_name",
                &String::from_utf8_lossy(name_bytes(&self.prog_name)),
            )
            .field("expected_attach_type", &self.expected_attach_type)
            .field("attach_btf_id", &self.attach_btf_id)
            .field("fd_array_len", &self.fd_array.map(|f| f.len()))
            .field("log_true_size", &self.log_true_size)
            .field("log_len", &self.log_len)
            .finish_non_exhaustive()
    }
}

/// Checks that every `fd_array` index the instructions use (`ld_imm64` with
/// `BPF_PSEUDO_MAP_IDX[_VALUE]`, kfunc calls with a module BTF slot in `off`) lies
/// inside the array, since the kernel reads `fd_array[index]` without knowing its
/// length. Without an array the kernel rejects such instructions without reading.
fn check_fd_array_refs(insns: &[Insn], fd_array_len: Option<usize>) -> Result<(), String> {
    let Some(len) = fd_array_len else {
        return Ok(());
    };
    let mut i = 0;
    while i < insns.len() {
        let ins = insns[i];
        let index = if ins.code == op::LD_IMM64
            && matches!(ins.src(), pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE)
        {
            Some(ins.imm as u32 as usize)
        } else if ins.code == op::CALL && ins.src() == pseudo::KFUNC_CALL && ins.off > 0 {
            Some(ins.off as usize)
        } else {
            None
        };
        if let Some(index) = index.filter(|&idx| idx >= len) {
            return Err(format!(
                "instruction {i} uses fd_array[{index}], but fd_array has {len} entries"
            ));
        }
        i += if ins.code == op::LD_IMM64 { 2 } else { 1 };
    }
    Ok(())
}

/// The end offset of every field of [`ProgLoadRaw`], in order.
fn prog_load_field_ends() -> [usize; 28] {
    let r = ProgLoadRaw::default();
    macro_rules! ends {
        ($($f:ident),*) => { [$(offset_of!(ProgLoadRaw, $f) + size_of_val(&r.$f)),*] };
    }
    ends!(
        prog_type,
        insn_cnt,
        insns,
        license,
        log_level,
        log_size,
        log_buf,
        kern_version,
        prog_flags,
        prog_name,
        prog_ifindex,
        expected_attach_type,
        prog_btf_fd,
        func_info_rec_size,
        func_info,
        func_info_cnt,
        line_info_rec_size,
        line_info,
        line_info_cnt,
        attach_btf_id,
        attach_fd,
        core_relo_cnt,
        fd_array,
        core_relos,
        core_relo_rec_size,
        log_true_size,
        prog_token_fd,
        fd_array_cnt
    )
}

/// The attribute size covering every field up to the last nonzero byte: the end of the
/// first field (in `ends`, ascending) that ends past that byte; 0 if all bytes are zero.
fn used_size(bytes: &[u8], ends: &[usize]) -> usize {
    match bytes.iter().rposition(|&b| b != 0) {
        None => 0,
        Some(last) => ends
            .iter()
            .copied()
            .find(|&end| end > last)
            .unwrap_or(bytes.len()),
    }
}

/// `BPF_PROG_LOAD`. On return (success or failure) `attr` tells how much verifier log
/// was written into `attr.log_buf` ([`ProgLoadAttr::log`], `log_true_size`,
/// `log_len`). Retries a few times on `EAGAIN`, as libbpf does.
pub fn prog_load(attr: &mut ProgLoadAttr<'_>) -> SysResult<OwnedFd> {
    let mut log = attr.log_buf.take();
    let level = attr.log_level;
    let result = prog_load_inner(attr, log.as_deref_mut(), level);
    attr.log_buf = log;
    result
}

/// `BPF_PROG_LOAD` with a log buffer passed separately (`attr.log_buf` and
/// `attr.log_level` are ignored), so a retry loop can try growing buffers without
/// rebuilding the attributes. On return `attr.log_true_size` / `attr.log_len` describe
/// what was written into `log_buf`.
pub fn prog_load_with_log(
    attr: &mut ProgLoadAttr<'_>,
    log_buf: &mut [u8],
    log_level: u32,
) -> SysResult<OwnedFd> {
    prog_load_inner(attr, Some(log_buf), log_level)
}

fn prog_load_inner(
    attr: &mut ProgLoadAttr<'_>,
    mut log_buf: Option<&mut [u8]>,
    level: u32,
) -> SysResult<OwnedFd> {
    let (mut raw, size, log_len) = attr.build_raw(log_buf.as_deref_mut(), level)?;
    let mut result;
    let mut attempts = 5;
    loop {
        // SAFETY: every pointer in `raw` comes from a slice or CStr borrowed by `attr`
        // (or `log_buf`) for the whole call, with the matching count or size beside it:
        // insns (insn_cnt), license (NUL-terminated), log buffer (log_size, writable),
        // func/line info (cnt * rec size), fd_array (every index the instructions use is
        // inside it, checked by `check_fd_array_refs`; fd_array_cnt, when bound, is its
        // length).
        result = unsafe { bpf_fd(BpfCmd::ProgLoad, &mut raw.bytes_mut()[..size]) };
        attempts -= 1;
        match &result {
            Err(e) if e.errno() == libc::EAGAIN && attempts > 0 => continue,
            _ => break,
        }
    }
    let log = match log_buf {
        Some(buf) if log_len > 0 => LogOutcome::new(&buf[..log_len], raw.log_true_size),
        _ => LogOutcome::default(),
    };
    attr.log_true_size = log.true_size;
    attr.log_len = log.written;
    result
}

/// What `BPF_PROG_TEST_RUN` reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestRunResult {
    /// The program's return value.
    pub retval: u32,
    /// Average run time in nanoseconds.
    pub duration: u32,
    /// Bytes of output data (may exceed the buffer, then the call fails with ENOSPC).
    pub data_size_out: u32,
    /// Bytes of output context.
    pub ctx_size_out: u32,
}

/// `BPF_PROG_TEST_RUN`: runs the program `repeat` times on `data_in` (and `ctx_in`),
/// copying the resulting packet and context into `data_out` / `ctx_out`.
pub fn prog_test_run(
    prog_fd: BorrowedFd<'_>,
    data_in: &[u8],
    data_out: Option<&mut [u8]>,
    ctx_in: Option<&[u8]>,
    ctx_out: Option<&mut [u8]>,
    repeat: u32,
    flags: u32,
) -> SysResult<TestRunResult> {
    const CMD: BpfCmd = BpfCmd::ProgTestRun;
    let call = CMD.name();
    let opt_in = |b: &[u8]| if b.is_empty() { 0 } else { ptr_u64(b.as_ptr()) };
    let mut raw = TestRunRaw {
        prog_fd: fd_u32(prog_fd),
        data_size_in: len_u32(call, "data_in", data_in.len())?,
        data_in: opt_in(data_in),
        repeat,
        flags,
        ..Default::default()
    };
    let opt_out = |b: &mut [u8]| {
        if b.is_empty() {
            0
        } else {
            ptr_u64(b.as_mut_ptr())
        }
    };
    if let Some(out) = data_out {
        raw.data_size_out = len_u32(call, "data_out", out.len())?;
        raw.data_out = opt_out(out);
    }
    // A `syscall` program's run writes its context back into `ctx_in`: give the kernel
    // a copy, never the caller's shared (immutable) bytes.
    let mut ctx_copy = ctx_in.map(<[u8]>::to_vec);
    if let Some(ctx) = &mut ctx_copy {
        raw.ctx_size_in = len_u32(call, "ctx_in", ctx.len())?;
        raw.ctx_in = opt_out(ctx);
    }
    if let Some(out) = ctx_out {
        raw.ctx_size_out = len_u32(call, "ctx_out", out.len())?;
        raw.ctx_out = opt_out(out);
    }
    // SAFETY: inputs are readable and outputs writable for the sizes beside them; the
    // kernel never copies more than `*_size_out` bytes out (it fails with ENOSPC).
    unsafe { bpf(CMD, raw.bytes_mut()) }?;
    Ok(TestRunResult {
        retval: raw.retval,
        duration: raw.duration,
        data_size_out: raw.data_size_out,
        ctx_size_out: raw.ctx_size_out,
    })
}

/// `BPF_PROG_TEST_RUN` of a `syscall` program: runs it once with `ctx` as its
/// context, which the kernel copies back into `ctx` afterwards (what the program wrote
/// into it).
pub fn prog_test_run_syscall(prog_fd: BorrowedFd<'_>, ctx: &mut [u8]) -> SysResult<u32> {
    const CMD: BpfCmd = BpfCmd::ProgTestRun;
    let mut raw = TestRunRaw {
        prog_fd: fd_u32(prog_fd),
        ctx_size_in: len_u32(CMD.name(), "ctx_in", ctx.len())?,
        ctx_in: if ctx.is_empty() {
            0
        } else {
            ptr_u64(ctx.as_mut_ptr())
        },
        ..Default::default()
    };
    // SAFETY: `ctx_in` is null or `ctx`, readable and writable for `ctx_size_in` bytes;
    // the kernel writes at most that many back into it.
    unsafe { bpf(CMD, raw.bytes_mut()) }?;
    Ok(raw.retval)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{devnull, errno};
    use super::super::{attach_type, obj_name, prog_type};
    use super::*;
    use crate::sys::{with_syscall_override, Syscall};
    use std::os::fd::AsFd;

    const EXIT0: [Insn; 2] = [Insn::new(0xb7, 0, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)];

    #[test]
    fn attr_layout_matches_uapi() {
        // Offsets checked against include/uapi/linux/bpf.h (gcc offsetof on the 6.1
        // header; log_true_size and later fields from the 6.14+ header).
        assert_eq!(offset_of!(ProgLoadRaw, log_buf), 32);
        assert_eq!(offset_of!(ProgLoadRaw, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadRaw, prog_btf_fd), 72);
        assert_eq!(offset_of!(ProgLoadRaw, line_info_cnt), 104);
        assert_eq!(offset_of!(ProgLoadRaw, attach_fd), 112);
        assert_eq!(offset_of!(ProgLoadRaw, fd_array), 120);
        assert_eq!(offset_of!(ProgLoadRaw, core_relos), 128);
        assert_eq!(offset_of!(ProgLoadRaw, core_relo_rec_size), 136);
        assert_eq!(offset_of!(ProgLoadRaw, log_true_size), 140);
        assert_eq!(offset_of!(ProgLoadRaw, prog_token_fd), 144);
        assert_eq!(offset_of!(ProgLoadRaw, fd_array_cnt), 148);
        assert_eq!(size_of::<ProgLoadRaw>(), 152);
        assert_eq!(offset_of!(TestRunRaw, ctx_out), 56);
        assert_eq!(offset_of!(TestRunRaw, batch_size), 72);
    }

    #[test]
    fn used_size_rounds_to_field_end() {
        let ends = [4, 8, 16, 32];
        assert_eq!(used_size(&[0; 32], &ends), 0);
        let mut b = [0u8; 32];
        b[0] = 1;
        assert_eq!(used_size(&b, &ends), 4);
        b[9] = 1;
        assert_eq!(used_size(&b, &ends), 16);
        b[31] = 1;
        assert_eq!(used_size(&b, &ends), 32);
    }

    /// Runs `body` and returns the attribute sizes of the BPF_PROG_LOAD calls it made.
    fn prog_load_sizes(body: impl FnOnce()) -> Vec<usize> {
        let mut sizes = Vec::new();
        with_syscall_override(
            |c| match c {
                Syscall::Bpf {
                    cmd: BpfCmd::ProgLoad,
                    attr,
                } => {
                    sizes.push(attr.len());
                    errno(libc::EINVAL)
                }
                _ => None,
            },
            body,
        );
        sizes
    }

    #[test]
    fn prog_load_size_covers_exactly_the_fields_in_use() {
        let null = devnull();
        let fds = [null.as_fd()];
        let sizes = prog_load_sizes(|| {
            let mut a = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &EXIT0, c"GPL");
            let _ = prog_load(&mut a);
            a.prog_name = obj_name("x");
            let _ = prog_load(&mut a);
            a.expected_attach_type = attach_type::TRACE_FENTRY;
            let _ = prog_load(&mut a);
            a.fd_array = Some(&fds);
            let _ = prog_load(&mut a);
            a.bind_fd_array = true;
            let _ = prog_load(&mut a);
        });
        assert_eq!(sizes, vec![24, 64, 72, 128, 152]);

        let mut log = vec![0u8; 4096];
        let sizes = prog_load_sizes(|| {
            let mut a = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &EXIT0, c"GPL");
            a.log_buf = Some(&mut log);
            // A buffer without a level is not passed.
            let _ = prog_load(&mut a);
            a.log_level = 1;
            let _ = prog_load(&mut a);
        });
        assert_eq!(sizes, vec![24, 144]);
    }

    #[test]
    fn prog_load_injected_errors_are_typed() {
        for e in [libc::EPERM, libc::E2BIG, libc::EINVAL, libc::EACCES] {
            let err = with_syscall_override(
                |_| errno(e),
                || prog_load(&mut ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL")),
            )
            .unwrap_err();
            assert_eq!(err.call, "BPF_PROG_LOAD");
            assert_eq!(err.errno(), e);
        }
    }

    #[test]
    fn prog_load_retries_eagain() {
        let mut calls = 0;
        let r = with_syscall_override(
            |_| {
                calls += 1;
                errno(if calls < 3 {
                    libc::EAGAIN
                } else {
                    libc::EACCES
                })
            },
            || prog_load(&mut ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL")),
        );
        assert_eq!(r.unwrap_err().errno(), libc::EACCES);
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r = with_syscall_override(
            |_| {
                calls += 1;
                errno(libc::EAGAIN)
            },
            || prog_load(&mut ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL")),
        );
        assert_eq!(r.unwrap_err().errno(), libc::EAGAIN);
        assert_eq!(calls, 5);
    }

    #[test]
    fn prog_load_rejects_inconsistent_attrs_without_calling() {
        let null = devnull();
        let mut calls = 0;
        with_syscall_override(
            |_| {
                calls += 1;
                None
            },
            || {
                let mut a = ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL");
                a.func_info = &[0; 12];
                a.func_info_rec_size = 8;
                assert_eq!(prog_load(&mut a).unwrap_err().errno(), 0);
                a.func_info_rec_size = 0;
                assert!(prog_load(&mut a).is_err());
                let mut a = ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL");
                a.attach_btf_obj_fd = Some(null.as_fd());
                a.attach_prog_fd = Some(null.as_fd());
                assert!(prog_load(&mut a).is_err());
            },
        );
        assert_eq!(calls, 0);
    }

    #[test]
    fn fd_array_indices_are_checked() {
        let ld_idx = |idx: i32| Insn::new(op::LD_IMM64, 1, pseudo::MAP_IDX, 0, idx);
        let zero = Insn::default();
        let kfunc = |off: i16| Insn::new(op::CALL, 0, pseudo::KFUNC_CALL, off, 1234);
        let prog = [ld_idx(1), zero, kfunc(2), EXIT0[0], EXIT0[1]];
        assert!(check_fd_array_refs(&prog, None).is_ok());
        assert!(check_fd_array_refs(&prog, Some(3)).is_ok());
        assert!(check_fd_array_refs(&prog, Some(2))
            .unwrap_err()
            .contains("fd_array[2]"));
        assert!(check_fd_array_refs(&prog, Some(1))
            .unwrap_err()
            .contains("fd_array[1]"));
        // The second slot of an ld_imm64 is not an instruction of its own.
        let tricky = [Insn::new(op::LD_IMM64, 1, 0, 0, 0), kfunc(9)];
        assert!(check_fd_array_refs(&tricky, Some(1)).is_ok());
        assert!(check_fd_array_refs(&[ld_idx(-1), zero], Some(4)).is_err());

        let null = devnull();
        let fds = [null.as_fd()];
        let mut calls = 0;
        let e = with_syscall_override(
            |_| {
                calls += 1;
                None
            },
            || {
                let mut a = ProgLoadAttr::new(prog_type::XDP, &prog, c"GPL");
                a.fd_array = Some(&fds);
                prog_load(&mut a)
            },
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno(), calls), ("BPF_PROG_LOAD", 0, 0));
    }

    #[test]
    fn log_outcome_counts() {
        let mut buf = *b"hello\0zzzz";
        assert_eq!(
            LogOutcome::new(&buf, 0),
            LogOutcome {
                true_size: None,
                written: 5
            }
        );
        assert_eq!(
            LogOutcome::new(&buf, 6),
            LogOutcome {
                true_size: Some(6),
                written: 5
            }
        );
        // Truncated: the kernel wrote len-1 bytes and a NUL.
        assert_eq!(
            LogOutcome::new(&buf, 100),
            LogOutcome {
                true_size: Some(100),
                written: 9
            }
        );
        buf = [b'x'; 10];
        assert_eq!(LogOutcome::new(&buf, 0).written, 10);
        assert_eq!(LogOutcome::new(&[], 0).written, 0);
    }

    #[test]
    fn test_run_injected_enospc() {
        let null = devnull();
        let e = with_syscall_override(
            |_| errno(libc::ENOSPC),
            || prog_test_run(null.as_fd(), &[0; 14], Some(&mut [0; 1]), None, None, 1, 0),
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_PROG_TEST_RUN", libc::ENOSPC));
    }
}
