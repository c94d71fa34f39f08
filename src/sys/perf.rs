//! `perf_event_open(2)` and the perf event ioctls.

use super::caps::{Capability, Check};
use super::{owned_fd, syscall, SysError, SysResult, Syscall};
use std::ffi::CStr;
use std::fmt;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `PERF_ATTR_SIZE_VER8` (6.3+, adds `config3`): the size of [`PerfEventAttr`]. Older
/// kernels accept it as long as the fields they do not know are zero.
pub const PERF_ATTR_SIZE_VER8: u32 = 136;

/// The kernel's `struct perf_event_attr` (`PERF_ATTR_SIZE_VER8` layout).
///
/// The C bitfield word (`disabled`, `inherit`, …, `sigtrap`) is [`flags`](Self::flags);
/// set bits with the constants of [`flag`]. Unions are named after their most common
/// member.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfEventAttr {
    /// Event type ([`perf_type`]).
    pub type_: u32,
    /// Size of this struct; [`perf_event_open`] always sets it.
    pub size: u32,
    /// Type-specific configuration (tracepoint id, `PERF_COUNT_SW_*`, …).
    pub config: u64,
    /// `sample_period`, or `sample_freq` with [`flag::FREQ`].
    pub sample_period: u64,
    /// `PERF_SAMPLE_*` ([`sample_type`]).
    pub sample_type: u64,
    /// `PERF_FORMAT_*`.
    pub read_format: u64,
    /// The bitfield word ([`flag`]).
    pub flags: u64,
    /// `wakeup_events`, or `wakeup_watermark` with [`flag::WATERMARK`].
    pub wakeup_events: u32,
    /// Breakpoint type.
    pub bp_type: u32,
    /// `config1` / `bp_addr` / `kprobe_func` / `uprobe_path`.
    pub config1: u64,
    /// `config2` / `bp_len` / `kprobe_addr` / `probe_offset`.
    pub config2: u64,
    /// `PERF_SAMPLE_BRANCH_*`.
    pub branch_sample_type: u64,
    /// User registers to sample.
    pub sample_regs_user: u64,
    /// Size of user stack to sample.
    pub sample_stack_user: u32,
    /// Clock for time fields (with [`flag::USE_CLOCKID`]).
    pub clockid: i32,
    /// Interrupt registers to sample.
    pub sample_regs_intr: u64,
    /// AUX area wakeup watermark.
    pub aux_watermark: u32,
    /// Maximum callchain depth.
    pub sample_max_stack: u16,
    /// Reserved, must be zero.
    pub reserved_2: u16,
    /// AUX sample size.
    pub aux_sample_size: u32,
    /// Reserved, must be zero.
    pub reserved_3: u32,
    /// Data for SIGTRAP.
    pub sig_data: u64,
    /// `config3` (6.3+).
    pub config3: u64,
}

const _: () = assert!(size_of::<PerfEventAttr>() == PERF_ATTR_SIZE_VER8 as usize);

impl Default for PerfEventAttr {
    fn default() -> Self {
        PerfEventAttr {
            type_: 0,
            size: PERF_ATTR_SIZE_VER8,
            config: 0,
            sample_period: 0,
            sample_type: 0,
            read_format: 0,
            flags: 0,
            wakeup_events: 0,
            bp_type: 0,
            config1: 0,
            config2: 0,
            branch_sample_type: 0,
            sample_regs_user: 0,
            sample_stack_user: 0,
            clockid: 0,
            sample_regs_intr: 0,
            aux_watermark: 0,
            sample_max_stack: 0,
            reserved_2: 0,
            aux_sample_size: 0,
            reserved_3: 0,
            sig_data: 0,
            config3: 0,
        }
    }
}

impl PerfEventAttr {
    /// A zeroed attribute of the given type and config, with `size` set.
    pub fn new(type_: u32, config: u64) -> Self {
        PerfEventAttr {
            type_,
            config,
            ..Default::default()
        }
    }

    /// An attribute for the tracepoint with id `id` (from tracefs
    /// `events/<category>/<name>/id`), sampling every hit (`sample_period` 1,
    /// `wakeup_events` 1).
    pub fn tracepoint(id: u64) -> Self {
        PerfEventAttr {
            sample_period: 1,
            wakeup_events: 1,
            ..Self::new(perf_type::TRACEPOINT, id)
        }
    }

    /// Sets the 2-bit `precise_ip` field of the bitfield word (0..=3; larger values are
    /// masked).
    pub fn set_precise_ip(&mut self, value: u8) {
        let shift = field_shift(15, 2);
        self.flags = (self.flags & !(0b11 << shift)) | ((u64::from(value) & 0b11) << shift);
    }
}

/// The shift of a bitfield of `width` bits starting at bit `start` of the 64-bit
/// bitfield word, as the C compiler lays it out: from the least significant bit on
/// little-endian targets, from the most significant on big-endian ones.
const fn field_shift(start: u32, width: u32) -> u32 {
    if cfg!(target_endian = "little") {
        start
    } else {
        64 - start - width
    }
}

/// Bits of [`PerfEventAttr::flags`] (the C bitfield, in declaration order).
pub mod flag {
    #![allow(dead_code)] // the whole uapi table, used yet or not
    #![allow(missing_docs)]
    use super::field_shift;

    const fn bit(n: u32) -> u64 {
        1 << field_shift(n, 1)
    }

    pub const DISABLED: u64 = bit(0);
    pub const INHERIT: u64 = bit(1);
    pub const PINNED: u64 = bit(2);
    pub const EXCLUSIVE: u64 = bit(3);
    pub const EXCLUDE_USER: u64 = bit(4);
    pub const EXCLUDE_KERNEL: u64 = bit(5);
    pub const EXCLUDE_HV: u64 = bit(6);
    pub const EXCLUDE_IDLE: u64 = bit(7);
    pub const MMAP: u64 = bit(8);
    pub const COMM: u64 = bit(9);
    pub const FREQ: u64 = bit(10);
    pub const INHERIT_STAT: u64 = bit(11);
    pub const ENABLE_ON_EXEC: u64 = bit(12);
    pub const TASK: u64 = bit(13);
    pub const WATERMARK: u64 = bit(14);
    // Bits 15-16: precise_ip (see `PerfEventAttr::set_precise_ip`).
    pub const MMAP_DATA: u64 = bit(17);
    pub const SAMPLE_ID_ALL: u64 = bit(18);
    pub const EXCLUDE_HOST: u64 = bit(19);
    pub const EXCLUDE_GUEST: u64 = bit(20);
    pub const EXCLUDE_CALLCHAIN_KERNEL: u64 = bit(21);
    pub const EXCLUDE_CALLCHAIN_USER: u64 = bit(22);
    pub const MMAP2: u64 = bit(23);
    pub const COMM_EXEC: u64 = bit(24);
    pub const USE_CLOCKID: u64 = bit(25);
    pub const CONTEXT_SWITCH: u64 = bit(26);
    pub const WRITE_BACKWARD: u64 = bit(27);
    pub const NAMESPACES: u64 = bit(28);
    pub const KSYMBOL: u64 = bit(29);
    pub const BPF_EVENT: u64 = bit(30);
    pub const AUX_OUTPUT: u64 = bit(31);
    pub const CGROUP: u64 = bit(32);
    pub const TEXT_POKE: u64 = bit(33);
    pub const BUILD_ID: u64 = bit(34);
    pub const INHERIT_THREAD: u64 = bit(35);
    pub const REMOVE_ON_EXEC: u64 = bit(36);
    pub const SIGTRAP: u64 = bit(37);
}

/// Event types (`enum perf_type_id`).
pub mod perf_type {
    #![allow(dead_code)] // the whole uapi table, used yet or not
    #![allow(missing_docs)]
    pub const HARDWARE: u32 = 0;
    pub const SOFTWARE: u32 = 1;
    pub const TRACEPOINT: u32 = 2;
    pub const HW_CACHE: u32 = 3;
    pub const RAW: u32 = 4;
    pub const BREAKPOINT: u32 = 5;
}

/// Software event configs (`enum perf_sw_ids`).
pub mod sw_config {
    #![allow(dead_code)] // the whole uapi table, used yet or not
    #![allow(missing_docs)]
    pub const CPU_CLOCK: u64 = 0;
    pub const TASK_CLOCK: u64 = 1;
    pub const PAGE_FAULTS: u64 = 2;
    pub const CONTEXT_SWITCHES: u64 = 3;
    pub const CPU_MIGRATIONS: u64 = 4;
    pub const PAGE_FAULTS_MIN: u64 = 5;
    pub const PAGE_FAULTS_MAJ: u64 = 6;
    pub const ALIGNMENT_FAULTS: u64 = 7;
    pub const EMULATION_FAULTS: u64 = 8;
    pub const DUMMY: u64 = 9;
    pub const BPF_OUTPUT: u64 = 10;
    pub const CGROUP_SWITCHES: u64 = 11;
}

/// Hardware event configs (`enum perf_hw_id`).
pub mod hw_config {
    #![allow(dead_code)] // the whole uapi table, used yet or not
    #![allow(missing_docs)]
    pub const CPU_CYCLES: u64 = 0;
    pub const INSTRUCTIONS: u64 = 1;
    pub const CACHE_REFERENCES: u64 = 2;
    pub const CACHE_MISSES: u64 = 3;
    pub const BRANCH_INSTRUCTIONS: u64 = 4;
    pub const BRANCH_MISSES: u64 = 5;
    pub const BUS_CYCLES: u64 = 6;
    pub const STALLED_CYCLES_FRONTEND: u64 = 7;
    pub const STALLED_CYCLES_BACKEND: u64 = 8;
    pub const REF_CPU_CYCLES: u64 = 9;
}

/// `PERF_SAMPLE_*` bits of [`PerfEventAttr::sample_type`].
pub mod sample_type {
    #![allow(dead_code)] // the whole uapi table, used yet or not
    #![allow(missing_docs)]
    pub const IP: u64 = 1 << 0;
    pub const TID: u64 = 1 << 1;
    pub const TIME: u64 = 1 << 2;
    pub const ADDR: u64 = 1 << 3;
    pub const READ: u64 = 1 << 4;
    pub const CALLCHAIN: u64 = 1 << 5;
    pub const ID: u64 = 1 << 6;
    pub const CPU: u64 = 1 << 7;
    pub const PERIOD: u64 = 1 << 8;
    pub const STREAM_ID: u64 = 1 << 9;
    pub const RAW: u64 = 1 << 10;
}

/// Record types in the perf ring buffer (`enum perf_event_type`).
pub mod record_type {
    #![allow(dead_code)] // the whole uapi table, used yet or not
    #![allow(missing_docs)]
    pub const MMAP: u32 = 1;
    pub const LOST: u32 = 2;
    pub const COMM: u32 = 3;
    pub const EXIT: u32 = 4;
    pub const THROTTLE: u32 = 5;
    pub const UNTHROTTLE: u32 = 6;
    pub const FORK: u32 = 7;
    pub const READ: u32 = 8;
    pub const SAMPLE: u32 = 9;
    pub const LOST_SAMPLES: u32 = 13;
}

/// `PERF_FLAG_*` flags of `perf_event_open`.
pub mod open_flags {
    #![allow(dead_code)] // the whole uapi table, used yet or not
    #![allow(missing_docs)]
    pub const FD_NO_GROUP: u64 = 1 << 0;
    pub const FD_OUTPUT: u64 = 1 << 1;
    pub const PID_CGROUP: u64 = 1 << 2;
    pub const FD_CLOEXEC: u64 = 1 << 3;
}

/// `perf_event_open(2)`: opens an event for `pid` (0 = calling thread, -1 = any) on
/// `cpu` (-1 = any). `PERF_FLAG_FD_CLOEXEC` is always added to `flags`, and the `size`
/// field of the attribute passed is always `PERF_ATTR_SIZE_VER8`.
pub fn perf_event_open(
    attr: &PerfEventAttr,
    pid: i32,
    cpu: i32,
    group_fd: Option<BorrowedFd<'_>>,
    flags: u64,
) -> SysResult<OwnedFd> {
    const CALL: &str = "perf_event_open";
    // A private copy: the kernel reads `size` bytes and may write `size` back.
    let mut attr = PerfEventAttr {
        size: PERF_ATTR_SIZE_VER8,
        ..*attr
    };
    let call = Syscall::PerfEventOpen {
        attr: &mut attr,
        pid,
        cpu,
        group_fd,
        flags: flags | open_flags::FD_CLOEXEC,
    };
    // SAFETY: the attribute is a live, writable struct of exactly `size` bytes, and
    // holds no pointers the kernel dereferences unless the caller set `config1`/`config2`
    // to addresses for a kprobe/uprobe PMU, which the kernel only reads (as strings).
    let ret = unsafe { syscall(call) }.map_err(|e| {
        // The kprobe and uprobe PMUs answer EACCES without CAP_PERFMON, the
        // `perf_event_paranoid` checks EACCES or EPERM.
        let refusals = [libc::EPERM, libc::EACCES];
        SysError::refused(CALL, e, &refusals, &[Capability::Perfmon], Check::Bpf)
    })?;
    owned_fd(CALL, ret)
}

/// `perf_event_open(2)` of a probe through a dynamic PMU (`kprobe`, `uprobe`): as
/// [`perf_event_open`], with `config1` pointing to `name` (the kprobe function or
/// uprobe path) and `config2` set to `offset` (into the function, or the file). Both
/// fields of `attr` are overwritten; the pointer lives only for the call.
pub fn perf_event_open_probe(
    attr: &PerfEventAttr,
    name: &CStr,
    offset: u64,
    pid: i32,
    cpu: i32,
) -> SysResult<OwnedFd> {
    let attr = PerfEventAttr {
        config1: name.as_ptr() as usize as u64,
        config2: offset,
        ..*attr
    };
    // `name` is borrowed for this whole call, so the pointer in `config1` stays valid
    // while the kernel copies the string (`strndup_user`).
    perf_event_open(&attr, pid, cpu, None, 0)
}

/// The perf event ioctls issued by this module.
#[derive(Clone, Copy)]
pub(crate) enum PerfIoctl<'a> {
    /// `PERF_EVENT_IOC_ENABLE`.
    Enable,
    /// `PERF_EVENT_IOC_DISABLE`.
    Disable,
    /// `PERF_EVENT_IOC_SET_BPF` with a program descriptor.
    SetBpf(BorrowedFd<'a>),
}

impl fmt::Debug for PerfIoctl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerfIoctl::SetBpf(fd) => write!(f, "{}({})", self.name(), fd.as_raw_fd()),
            _ => f.write_str(self.name()),
        }
    }
}

impl PerfIoctl<'_> {
    /// The ioctl's name.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            PerfIoctl::Enable => "PERF_EVENT_IOC_ENABLE",
            PerfIoctl::Disable => "PERF_EVENT_IOC_DISABLE",
            PerfIoctl::SetBpf(_) => "PERF_EVENT_IOC_SET_BPF",
        }
    }

    /// The request code (encoded for the target architecture) and integer argument.
    pub(crate) fn code_and_arg(&self) -> (nix::sys::ioctl::ioctl_num_type, libc::c_ulong) {
        const MAGIC: u8 = b'$';
        match self {
            PerfIoctl::Enable => (nix::request_code_none!(MAGIC, 0), 0),
            PerfIoctl::Disable => (nix::request_code_none!(MAGIC, 1), 0),
            PerfIoctl::SetBpf(fd) => (
                nix::request_code_write!(MAGIC, 8, size_of::<u32>()),
                fd.as_raw_fd() as libc::c_ulong,
            ),
        }
    }
}

fn perf_ioctl(fd: BorrowedFd<'_>, request: PerfIoctl<'_>) -> SysResult<()> {
    let name = request.name();
    // SAFETY: these ioctls take an integer argument; no user memory is involved.
    unsafe { syscall(Syscall::PerfIoctl { fd, request }) }
        .map(|_| ())
        .map_err(|e| SysError::from_io(name, e))
}

/// `PERF_EVENT_IOC_SET_BPF`: attaches a program to a perf event (tracepoint, kprobe,
/// uprobe or perf_event program).
pub fn perf_event_ioc_set_bpf(fd: BorrowedFd<'_>, prog_fd: BorrowedFd<'_>) -> SysResult<()> {
    perf_ioctl(fd, PerfIoctl::SetBpf(prog_fd))
}

/// `PERF_EVENT_IOC_ENABLE`.
pub fn perf_event_ioc_enable(fd: BorrowedFd<'_>) -> SysResult<()> {
    perf_ioctl(fd, PerfIoctl::Enable)
}

/// `PERF_EVENT_IOC_DISABLE`.
pub fn perf_event_ioc_disable(fd: BorrowedFd<'_>) -> SysResult<()> {
    perf_ioctl(fd, PerfIoctl::Disable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::with_syscall_override;
    use std::io;
    use std::mem::offset_of;
    use std::os::fd::AsFd;

    #[test]
    fn layout_matches_uapi() {
        // gcc offsetof on include/uapi/linux/perf_event.h.
        assert_eq!(offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(offset_of!(PerfEventAttr, wakeup_events), 48);
        assert_eq!(offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(offset_of!(PerfEventAttr, clockid), 92);
        assert_eq!(offset_of!(PerfEventAttr, sample_regs_intr), 96);
        assert_eq!(offset_of!(PerfEventAttr, aux_watermark), 104);
        assert_eq!(offset_of!(PerfEventAttr, sample_max_stack), 108);
        assert_eq!(offset_of!(PerfEventAttr, aux_sample_size), 112);
        assert_eq!(offset_of!(PerfEventAttr, sig_data), 120);
        assert_eq!(offset_of!(PerfEventAttr, config3), 128);
        assert_eq!(PerfEventAttr::default().size, 136);
        let tp = PerfEventAttr::tracepoint(42);
        assert_eq!(
            (tp.type_, tp.config, tp.sample_period, tp.wakeup_events),
            (2, 42, 1, 1)
        );
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn bitfield_bits() {
        // The C compiler's value for disabled|exclude_kernel|watermark|sample_id_all|sigtrap.
        let v = flag::DISABLED
            | flag::EXCLUDE_KERNEL
            | flag::WATERMARK
            | flag::SAMPLE_ID_ALL
            | flag::SIGTRAP;
        assert_eq!(v, 0x20_0004_4021);
        let mut a = PerfEventAttr::default();
        a.set_precise_ip(3);
        assert_eq!(a.flags, 0b11 << 15);
        a.set_precise_ip(1);
        assert_eq!(a.flags, 1 << 15);
    }

    #[test]
    fn ioctl_codes() {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            assert_eq!(PerfIoctl::Enable.code_and_arg().0, 0x2400);
            assert_eq!(PerfIoctl::Disable.code_and_arg().0, 0x2401);
            let null = std::fs::File::open("/dev/null").unwrap();
            assert_eq!(
                PerfIoctl::SetBpf(null.as_fd()).code_and_arg().0,
                0x4004_2408
            );
        }
    }

    #[test]
    fn injected_errors() {
        let attr = PerfEventAttr {
            size: 9999,
            ..PerfEventAttr::new(perf_type::TRACEPOINT, 1)
        };
        let mut seen = None;
        let e = with_syscall_override(
            |c| {
                if let Syscall::PerfEventOpen {
                    attr,
                    flags,
                    pid,
                    cpu,
                    ..
                } = c
                {
                    seen = Some((attr.size, *flags, *pid, *cpu));
                }
                Some(Err(io::Error::from_raw_os_error(libc::E2BIG)))
            },
            || perf_event_open(&attr, -1, 0, None, 0),
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("perf_event_open", libc::E2BIG));
        assert_eq!(seen, Some((136, open_flags::FD_CLOEXEC, -1, 0)));

        let null = std::fs::File::open("/dev/null").unwrap();
        let e = with_syscall_override(
            |_| Some(Err(io::Error::from_raw_os_error(libc::EEXIST))),
            || perf_event_ioc_set_bpf(null.as_fd(), null.as_fd()),
        )
        .unwrap_err();
        assert_eq!(
            (e.call, e.errno()),
            ("PERF_EVENT_IOC_SET_BPF", libc::EEXIST)
        );
        // Without an override, a non-perf fd is rejected by the kernel.
        assert!(perf_event_ioc_enable(null.as_fd()).is_err());
    }

    #[test]
    fn probe_open_passes_name_and_offset() {
        let attr = PerfEventAttr::new(42, 1);
        let mut seen = None;
        let e = with_syscall_override(
            |c| {
                if let Syscall::PerfEventOpen { attr, pid, cpu, .. } = c {
                    // SAFETY: config1 points to the NUL-terminated name borrowed by
                    // `perf_event_open_probe` for the duration of the call.
                    let name =
                        unsafe { CStr::from_ptr(attr.config1 as usize as *const std::ffi::c_char) };
                    seen = Some((
                        attr.type_,
                        attr.config,
                        name.to_owned(),
                        attr.config2,
                        *pid,
                        *cpu,
                    ));
                }
                Some(Err(io::Error::from_raw_os_error(libc::ENOENT)))
            },
            || perf_event_open_probe(&attr, c"do_unlinkat", 0x10, -1, 0),
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("perf_event_open", libc::ENOENT));
        assert_eq!(seen, Some((42, 1, c"do_unlinkat".to_owned(), 0x10, -1, 0)));
    }
}
