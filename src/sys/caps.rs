//! The capabilities the kernel checks before a call, and whether this process holds
//! them: what turns a bare `EPERM` into "needs CAP_BPF, which this process lacks".
//!
//! The sys layer decides at each chokepoint which capabilities the call needed (a
//! `bpf(2)` command, `perf_event_open`, a netlink request) and asks [`lacking`] which
//! of them this process does not hold, as the kernel would judge it. When it holds
//! them all, the refusal came from somewhere else (a security policy, a sysctl, an
//! object's own flags) and nothing is claimed.
//!
//! How the kernel judges, and what this module follows:
//!
//! - `bpf(2)` and `perf_event_open(2)` check with `capable()`, in the initial user
//!   namespace: a process inside another user namespace holds none of these there,
//!   whatever `capget` says. `CAP_SYS_ADMIN` stands in for `CAP_BPF`, `CAP_PERFMON`
//!   and the BPF checks of `CAP_NET_ADMIN` (`bpf_capable()`, `perfmon_capable()`,
//!   `bpf_net_capable()`).
//! - Kernels before 5.8 have neither `CAP_BPF` nor `CAP_PERFMON`
//!   (`/proc/sys/kernel/cap_last_cap` below 38): what they guard needs `CAP_SYS_ADMIN`
//!   there, and that is the capability named.
//! - rtnetlink and mounts check the capability itself, relative to the namespace's
//!   owner (`ns_capable`): nothing stands in, and the effective set is taken at its
//!   word.

use std::fmt;
use std::sync::OnceLock;

use super::bpf::{map_type as mt, prog_type as pt};

/// A capability the kernel checks before a BPF, perf or netlink operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// `CAP_NET_ADMIN` (12): networking program types, XDP and TC attachment through
    /// netlink, socket and device maps.
    NetAdmin,
    /// `CAP_SYS_ADMIN` (21): listing and opening BPF objects by id, mounts, and all of
    /// the others on kernels before 5.8.
    SysAdmin,
    /// `CAP_PERFMON` (38, Linux 5.8): tracing program types and perf events.
    Perfmon,
    /// `CAP_BPF` (39, Linux 5.8): creating maps, loading BTF and programs.
    Bpf,
}

impl Capability {
    /// The capability's number, as in `linux/capability.h`.
    pub fn number(self) -> u32 {
        match self {
            Capability::NetAdmin => 12,
            Capability::SysAdmin => 21,
            Capability::Perfmon => 38,
            Capability::Bpf => 39,
        }
    }

    /// The capability's name, e.g. `"CAP_BPF"`.
    pub fn name(self) -> &'static str {
        match self {
            Capability::NetAdmin => "CAP_NET_ADMIN",
            Capability::SysAdmin => "CAP_SYS_ADMIN",
            Capability::Perfmon => "CAP_PERFMON",
            Capability::Bpf => "CAP_BPF",
        }
    }

    /// True when the running kernel's process credentials hold `self` in the
    /// effective set. False when the capabilities cannot be read.
    pub fn is_effective(self) -> bool {
        held().is_some_and(|h| h.has(self))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// Which program and map types need which capabilities, as the kernel's
// `bpf_prog_load()` and `map_create()` check them.

/// Program types that need `CAP_PERFMON` (the kernel's `is_perfmon_prog_type`).
pub(crate) fn needs_perfmon(prog_type: u32) -> bool {
    matches!(
        prog_type,
        pt::KPROBE
            | pt::TRACEPOINT
            | pt::PERF_EVENT
            | pt::RAW_TRACEPOINT
            | pt::RAW_TRACEPOINT_WRITABLE
            | pt::TRACING
            | pt::LSM
            | pt::STRUCT_OPS
            | pt::EXT
    )
}

/// Program types that need `CAP_NET_ADMIN` (the kernel's `is_net_admin_prog_type`).
pub(crate) fn needs_net_admin(prog_type: u32) -> bool {
    matches!(
        prog_type,
        pt::SCHED_CLS
            | pt::SCHED_ACT
            | pt::XDP
            | pt::LWT_IN
            | pt::LWT_OUT
            | pt::LWT_XMIT
            | pt::LWT_SEG6LOCAL
            | pt::SK_SKB
            | pt::SK_MSG
            | pt::LIRC_MODE2
            | pt::FLOW_DISSECTOR
            | pt::CGROUP_DEVICE
            | pt::CGROUP_SOCK
            | pt::CGROUP_SOCK_ADDR
            | pt::CGROUP_SOCKOPT
            | pt::CGROUP_SYSCTL
            | pt::SOCK_OPS
            | pt::EXT
            | pt::NETFILTER
    )
}

/// What loading a program of `prog_type` needs: `CAP_BPF`, then `CAP_PERFMON`
/// and `CAP_NET_ADMIN` where the type needs them.
pub(crate) fn to_load_program(prog_type: u32) -> Vec<Capability> {
    let mut caps = vec![Capability::Bpf];
    if needs_perfmon(prog_type) {
        caps.push(Capability::Perfmon);
    }
    if needs_net_admin(prog_type) {
        caps.push(Capability::NetAdmin);
    }
    caps
}

/// Map types whose creation also needs `CAP_NET_ADMIN` (socket and device maps).
fn map_needs_net_admin(map_type: u32) -> bool {
    matches!(
        map_type,
        mt::SOCKMAP | mt::SOCKHASH | mt::DEVMAP | mt::DEVMAP_HASH | mt::XSKMAP
    )
}

/// What creating a map of `map_type` needs: `CAP_BPF`, and `CAP_NET_ADMIN` for socket
/// and device maps.
pub(crate) fn to_create_map(map_type: u32) -> Vec<Capability> {
    if map_needs_net_admin(map_type) {
        vec![Capability::Bpf, Capability::NetAdmin]
    } else {
        vec![Capability::Bpf]
    }
}

/// How the kernel checks the capabilities of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// `capable()` in the initial user namespace, `CAP_SYS_ADMIN` standing in for the
    /// others, and `CAP_SYS_ADMIN` itself for `CAP_BPF` and `CAP_PERFMON` before 5.8:
    /// `bpf(2)` and `perf_event_open(2)`.
    Bpf,
    /// `ns_capable()` of exactly that capability, relative to the namespace's owner:
    /// rtnetlink, mounts.
    Namespaced,
}

/// What this process holds, as far as [`lacking`] needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    /// The effective set, bit N for capability N.
    effective: u64,
    /// The process is in the initial user namespace (`capable()` can succeed).
    initial_userns: bool,
    /// The kernel knows `CAP_BPF` and `CAP_PERFMON` (5.8+).
    split_caps: bool,
}

impl Held {
    fn has(self, cap: Capability) -> bool {
        self.effective & (1u64 << cap.number()) != 0
    }

    /// The capability the kernel checks for `cap` under `check`, and whether this
    /// process passes that check.
    fn judge(self, cap: Capability, check: Check) -> (Capability, bool) {
        match check {
            Check::Namespaced => (cap, self.has(cap)),
            Check::Bpf => {
                let cap = match cap {
                    Capability::Bpf | Capability::Perfmon if !self.split_caps => {
                        Capability::SysAdmin
                    }
                    other => other,
                };
                let passes =
                    self.initial_userns && (self.has(cap) || self.has(Capability::SysAdmin));
                (cap, passes)
            }
        }
    }
}

/// The first of `needed` (in order) this process fails the kernel's `check` for,
/// named as the running kernel names it; `None` when it holds them all or its
/// capabilities cannot be read (then nothing may be claimed).
pub(crate) fn lacking(needed: &[Capability], check: Check) -> Option<Capability> {
    let held = held()?;
    needed
        .iter()
        .map(|&cap| held.judge(cap, check))
        .find(|&(_, passes)| !passes)
        .map(|(cap, _)| cap)
}

/// This process's capabilities, read now (they may be dropped at any time).
fn held() -> Option<Held> {
    #[cfg(test)]
    if let Some(fake) = test_fake::get() {
        return Some(fake);
    }
    Some(Held {
        effective: effective_set()?,
        initial_userns: in_initial_userns(),
        split_caps: kernel_has_cap_bpf(),
    })
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's effective set from `capget(2)`, or `None` if it fails.
///
/// Not through the chokepoint: it is a question about this process, not a call whose
/// failure tests inject, and it runs while an injected failure is being reported.
fn effective_set() -> Option<u64> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: with version 3 the kernel reads the header and writes exactly two
    // `__user_cap_data_struct`s, which `data` is; both live across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return None;
    }
    Some(u64::from(data[0].effective) | u64::from(data[1].effective) << 32)
}

/// True unless `/proc/self/uid_map` shows a user namespace other than the initial
/// one (whose map is the identity over all 2^32 - 1 ids). Unreadable counts as
/// initial: nothing is then claimed on its account.
fn in_initial_userns() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => is_identity_uid_map(&map),
        Err(_) => true,
    }
}

/// True when a `uid_map` is the initial namespace's: one line `0 0 4294967295`.
fn is_identity_uid_map(map: &str) -> bool {
    let mut lines = map.lines().filter(|l| !l.trim().is_empty());
    let first = lines
        .next()
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    lines.next().is_none() && first.as_deref() == Some(&["0", "0", "4294967295"][..])
}

/// True when the kernel knows `CAP_BPF` (39): `cap_last_cap` is at least that
/// (5.8+). Unreadable counts as a new kernel.
fn kernel_has_cap_bpf() -> bool {
    static SPLIT: OnceLock<bool> = OnceLock::new();
    *SPLIT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .map_or(true, |last| last >= Capability::Bpf.number())
    })
}

#[cfg(test)]
pub(crate) use test_fake::with_capabilities;

#[cfg(test)]
mod test_fake {
    //! Pretending, on one thread, that this process holds other capabilities.

    use super::{Capability, Held};
    use std::cell::Cell;

    thread_local! {
        static FAKE: Cell<Option<Held>> = const { Cell::new(None) };
    }

    pub(super) fn get() -> Option<Held> {
        FAKE.with(Cell::get)
    }

    /// Runs `body` as if this process held exactly `effective` (in the initial user
    /// namespace, on a kernel with `CAP_BPF` when `split_caps`).
    pub(crate) fn with_capabilities<R>(
        effective: &[Capability],
        split_caps: bool,
        body: impl FnOnce() -> R,
    ) -> R {
        struct Restore(Option<Held>);
        impl Drop for Restore {
            fn drop(&mut self) {
                FAKE.with(|f| f.set(self.0));
            }
        }
        let held = Held {
            effective: effective.iter().fold(0, |m, c| m | 1u64 << c.number()),
            initial_userns: true,
            split_caps,
        };
        let _restore = Restore(FAKE.with(|f| f.replace(Some(held))));
        body()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(Bpf.to_string(), "CAP_BPF");
        assert_eq!(Perfmon.to_string(), "CAP_PERFMON");
        assert_eq!(NetAdmin.to_string(), "CAP_NET_ADMIN");
        assert_eq!(SysAdmin.to_string(), "CAP_SYS_ADMIN");
        assert_eq!(
            [NetAdmin, SysAdmin, Perfmon, Bpf].map(Capability::number),
            [12, 21, 38, 39]
        );
    }

    #[test]
    fn sys_admin_stands_in_for_bpf_checks_only() {
        with_capabilities(&[SysAdmin], true, || {
            assert_eq!(lacking(&[Bpf, Perfmon, NetAdmin], Check::Bpf), None);
            assert_eq!(lacking(&[NetAdmin], Check::Namespaced), Some(NetAdmin));
        });
        with_capabilities(&[Bpf, NetAdmin], true, || {
            assert_eq!(
                lacking(&[Bpf, Perfmon, NetAdmin], Check::Bpf),
                Some(Perfmon)
            );
            assert_eq!(lacking(&[Bpf, NetAdmin], Check::Bpf), None);
            assert_eq!(lacking(&[SysAdmin], Check::Bpf), Some(SysAdmin));
        });
        with_capabilities(&[], true, || {
            // The first missing one, in the order given.
            assert_eq!(lacking(&[Bpf, Perfmon], Check::Bpf), Some(Bpf));
            assert!(!Bpf.is_effective());
        });
    }

    #[test]
    fn before_5_8_bpf_and_perfmon_are_sys_admin() {
        with_capabilities(&[Bpf, Perfmon], false, || {
            assert_eq!(lacking(&[Bpf], Check::Bpf), Some(SysAdmin));
            assert_eq!(lacking(&[Perfmon], Check::Bpf), Some(SysAdmin));
        });
        with_capabilities(&[SysAdmin], false, || {
            assert_eq!(lacking(&[Bpf, Perfmon, NetAdmin], Check::Bpf), None);
        });
    }

    #[test]
    fn the_real_process_is_read() {
        // Whatever the tests run as, capget answers, and the answer agrees with
        // /proc/self/status's CapEff.
        let eff = effective_set().expect("capget");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
        let from_proc = u64::from_str_radix(line["CapEff:".len()..].trim(), 16).unwrap();
        assert_eq!(eff, from_proc);
    }

    #[test]
    fn uid_maps() {
        assert!(is_identity_uid_map("         0          0 4294967295\n"));
        assert!(!is_identity_uid_map("         0       1000          1\n"));
        assert!(!is_identity_uid_map("0 0 4294967295\n1 1 1\n"));
        assert!(!is_identity_uid_map(""));
    }
}
