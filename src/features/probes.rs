//! The probes of the features that are not BTF kinds: a two-instruction program
//! (`BPF_PROG_LOAD`), a one-entry map (`BPF_MAP_CREATE`), a link on an invalid perf
//! event fd (`BPF_LINK_CREATE`), a symbol lookup for syscall wrappers. Each returns
//! `Ok(true)` for supported, `Ok(false)` for the answer of a kernel without the
//! feature, `Err` for anything unexpected.

use std::ffi::CStr;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};

use super::btf_kinds::probe_btf_kind;
use super::Feature;
use crate::btf::Kind;
use crate::insn::{op, Insn};
use crate::sys::bpf::{self as sysbpf, attach_type, map_flags, map_type, prog_type};
use crate::sys::{self, SysError, SysResult};

/// Runs the probe for `feature`.
pub(super) fn run(feature: Feature) -> Result<bool, SysError> {
    match feature {
        Feature::Btf
        | Feature::BtfFunc
        | Feature::BtfGlobalFunc
        | Feature::BtfDatasec
        | Feature::BtfFloat
        | Feature::BtfDeclTag
        | Feature::BtfTypeTag
        | Feature::BtfEnum64 => probe_btf_kind(feature),
        Feature::ProgName => probe_prog(prog_type::SOCKET_FILTER, &RETURN_0, Some("corebpf_name")),
        Feature::MmapableGlobalData => probe_map(map_type::ARRAY, 4, 4, 1, map_flags::MMAPABLE),
        Feature::Ringbuf => {
            let size = u32::try_from(sys::page_size()).unwrap_or(4096);
            probe_map(map_type::RINGBUF, 0, 0, size, 0)
        }
        Feature::PerfLink => probe_perf_link(),
        Feature::BpfCookie => probe_prog(
            prog_type::TRACEPOINT,
            &call_and_exit(HELPER_GET_ATTACH_COOKIE),
            None,
        ),
        Feature::MemcgAccount => probe_prog(
            prog_type::SOCKET_FILTER,
            &call_and_exit(HELPER_KTIME_GET_COARSE_NS),
            None,
        ),
        Feature::SyscallWrapper => probe_syscall_wrapper(),
    }
}

/// `BPF_FUNC_ktime_get_coarse_ns` (5.11, the same release as memcg accounting).
const HELPER_KTIME_GET_COARSE_NS: i32 = 160;
/// `BPF_FUNC_get_attach_cookie`.
const HELPER_GET_ATTACH_COOKIE: i32 = 174;

const MOV64_R0_0: Insn = Insn::new(op::MOV64_IMM, 0, 0, 0, 0);
const EXIT: Insn = Insn::new(op::EXIT, 0, 0, 0, 0);
/// `r0 = 0; exit`.
const RETURN_0: [Insn; 2] = [MOV64_R0_0, EXIT];

/// `call helper; exit` (r0 is the helper's result).
fn call_and_exit(helper: i32) -> [Insn; 2] {
    [Insn::new(op::CALL, 0, 0, 0, helper), EXIT]
}

/// `Ok(true)` for a descriptor (closed here), `Ok(false)` for an errno in `missing`.
pub(super) fn answer(result: SysResult<OwnedFd>, missing: &[i32]) -> Result<bool, SysError> {
    match result {
        Ok(fd) => {
            drop(fd);
            Ok(true)
        }
        Err(e) if missing.contains(&e.errno()) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `call`; on `EPERM` raises `RLIMIT_MEMLOCK` once and runs it again (kernels
/// before 5.11 charge maps and programs to it; libbpf raises it before probing).
pub(super) fn with_memlock_retry(
    mut call: impl FnMut() -> SysResult<OwnedFd>,
) -> SysResult<OwnedFd> {
    match call() {
        Err(e) if e.errno() == libc::EPERM && sys::bump_memlock_rlimit().is_ok() => call(),
        other => other,
    }
}

fn load_probe_prog(prog_type: u32, insns: &[Insn], name: Option<&str>) -> SysResult<OwnedFd> {
    const GPL: &CStr = c"GPL";
    with_memlock_retry(|| {
        let mut attr = sysbpf::ProgLoadAttr::new(prog_type, insns, GPL);
        if let Some(name) = name {
            attr.prog_name = sysbpf::obj_name(name);
        }
        sysbpf::prog_load(&mut attr)
    })
}

/// A kernel without the feature refuses the program with `EINVAL` (unknown helper,
/// type or flag) or `E2BIG` (attribute fields it does not know are set).
fn probe_prog(prog_type: u32, insns: &[Insn], name: Option<&str>) -> Result<bool, SysError> {
    answer(
        load_probe_prog(prog_type, insns, name),
        &[libc::EINVAL, libc::E2BIG],
    )
}

fn probe_map(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
) -> Result<bool, SysError> {
    let attr = sysbpf::MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: flags,
        ..Default::default()
    };
    answer(
        with_memlock_retry(|| sysbpf::map_create(&attr)),
        &[libc::EINVAL, libc::E2BIG],
    )
}

/// libbpf's `probe_perf_link()`: a perf link on fd -1 fails with `EBADF` where perf
/// links exist (the kernel looked for the perf event) and `EINVAL` where they don't.
fn probe_perf_link() -> Result<bool, SysError> {
    let prog = load_probe_prog(prog_type::TRACEPOINT, &RETURN_0, None)?;
    // The target field is a u32 shared by target_fd and target_ifindex: u32::MAX is
    // the fd -1.
    let link = sysbpf::link_create(
        prog.as_fd(),
        sysbpf::LinkTarget::Ifindex(u32::MAX),
        attach_type::PERF_EVENT,
        0,
        sysbpf::LinkCreateExtra::None,
    );
    match link {
        Ok(link) => {
            drop(link);
            Err(SysError::invalid(
                "BPF_LINK_CREATE",
                "a perf link on fd -1 succeeded",
            ))
        }
        Err(e) if e.errno() == libc::EBADF => Ok(true),
        Err(e) if e.errno() == libc::EINVAL => Ok(false),
        Err(e) => Err(e),
    }
}

/// The arch prefix of syscall wrappers (`__x64_sys_bpf`), as libbpf's
/// `arch_specific_syscall_pfx()`; `None` where the kernel has none.
pub fn syscall_prefix() -> Option<&'static str> {
    if cfg!(target_arch = "x86_64") {
        Some("x64")
    } else if cfg!(target_arch = "x86") {
        Some("ia32")
    } else if cfg!(target_arch = "s390x") {
        Some("s390x")
    } else if cfg!(target_arch = "arm") {
        Some("arm")
    } else if cfg!(target_arch = "aarch64") {
        Some("arm64")
    } else if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
        Some("mips")
    } else if cfg!(any(target_arch = "riscv32", target_arch = "riscv64")) {
        Some("riscv")
    } else if cfg!(any(target_arch = "powerpc", target_arch = "powerpc64")) {
        Some("powerpc")
    } else if cfg!(target_arch = "loongarch64") {
        Some("loongarch")
    } else {
        None
    }
}

/// Whether `__<arch>_sys_bpf` exists. libbpf asks by opening a kprobe on it; that
/// needs kprobes, which this loader does not create (and a kernel may lack), so look
/// the symbol up instead: among the FUNCs of the vmlinux BTF (the process-wide copy
/// CO-RE uses too; about 4 ms when nothing loaded it yet, microseconds after), then,
/// if the BTF is missing or lacks it (pahole may skip a function), in
/// `/proc/kallsyms` (10 to 40 ms: it is long).
fn probe_syscall_wrapper() -> Result<bool, SysError> {
    let Some(prefix) = syscall_prefix() else {
        return Ok(false);
    };
    let name = format!("__{prefix}_sys_bpf");
    if let Ok(btf) = crate::btf::kernel::vmlinux_btf() {
        if btf.find_by_name_kind(&name, Kind::Func).is_some() {
            return Ok(true);
        }
    }
    kallsyms_has(&name)
}

/// Whether `/proc/kallsyms` lists a symbol named exactly `name` (of any module).
fn kallsyms_has(name: &str) -> Result<bool, SysError> {
    const PATH: &str = "/proc/kallsyms";
    let file =
        std::fs::File::open(PATH).map_err(|e| SysError::from_io("open /proc/kallsyms", e))?;
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| SysError::from_io("read /proc/kallsyms", e))?;
        if n == 0 {
            return Ok(false);
        }
        // "ADDRESS TYPE NAME[\t[MODULE]]"
        let mut fields = line
            .split(|&b| b == b' ' || b == b'\t' || b == b'\n')
            .filter(|f| !f.is_empty());
        if fields.nth(2) == Some(name.as_bytes()) {
            return Ok(true);
        }
    }
}
