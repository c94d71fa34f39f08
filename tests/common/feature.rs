//! Feature discipline for kernel tests: skip, with a visible reason, when the running
//! kernel can't have what a test needs; fail when it should have it.
//!
//! [`require`] probes the kernel directly (raw `bpf(2)` calls and sysfs/tracefs
//! files, never the library code under test, so a library bug can't masquerade as a
//! missing feature), and then:
//!
//! - supported: the test runs;
//! - refused by policy (`EPERM` although we are root, a lockdown or security module
//!   saying no), or built in but not enabled at boot (BPF LSM without `lsm=...,bpf`):
//!   `SKIP: <test>: <reason>`, whatever the kernel version;
//! - missing, and the kernel's own config (`/proc/config.gz` or
//!   `/boot/config-<release>`) confirms an option it needs is not set: skip, naming the
//!   option;
//! - missing otherwise: skip on a kernel older than the release that introduced the
//!   feature, and **panic** (fail the test) on one at or above it: there the feature
//!   exists, so "missing" means a broken probe or a bug, and must not pass as a skip.
//!
//! Skip lines go straight to the process's stdout, past libtest's output capture, so
//! they are seen in a plain `cargo test` too; `cargo xtask vmtest` counts them.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Mutex;

use corebpf::btf::Kind;

use super::raw_bpf::{self, attach_type, errno, prog_type};

/// What a test may need from the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// BPF programs on kprobes: the kprobe PMU or tracefs `kprobe_events`.
    Kprobes,
    /// `BPF_LINK_CREATE` with `BPF_TRACE_KPROBE_MULTI` (fprobe).
    KprobeMulti,
    /// fentry/fexit trampolines.
    Fentry,
    /// fmod_ret (`BPF_MODIFY_RETURN`) on a `security_*` function.
    FmodRet,
    /// BPF LSM programs, with the BPF LSM active.
    Lsm,
    /// BTF-enabled raw tracepoints (`tp_btf`).
    TpBtf,
    /// BPF iterators (`iter/task`, `BPF_ITER_CREATE`).
    Iter,
    /// Map element iterators (`iter/bpf_map_elem`).
    IterMapElem,
    /// `syscall` programs (run by `BPF_PROG_TEST_RUN`, may call `bpf_sys_bpf`).
    SyscallProgram,
    /// `BPF_LINK_CREATE` with `BPF_TRACE_KPROBE_SESSION` (fprobe).
    KprobeSession,
    /// struct_ops maps implementing `tcp_congestion_ops`.
    StructOps,
    /// `freplace` (`BPF_PROG_TYPE_EXT`) programs replacing a BPF program's function.
    Freplace,
    /// struct_ops maps registered through a link (`BPF_F_LINK`).
    StructOpsLink,
    /// `lsm_cgroup` programs, with the BPF LSM active.
    LsmCgroup,
    /// `BPF_MAP_TYPE_CGRP_STORAGE`.
    CgrpStorage,
    /// Netfilter programs and links.
    Netfilter,
    /// The Unix socket address hooks (`cgroup/connect_unix`, ...).
    UnixSockAddr,
    /// XDP BPF links (`BPF_LINK_CREATE` with `BPF_XDP`).
    XdpLink,
    /// Multi-buffer XDP programs (`BPF_F_XDP_HAS_FRAGS`).
    XdpFrags,
    /// Generic XDP redirecting into a cpumap, and devmap programs run on generic XDP's
    /// `sk_buff`s (both in 5.15).
    GenericXdpMapPrograms,
    /// tcx links (`BPF_TCX_INGRESS`/`BPF_TCX_EGRESS`).
    Tcx,
    /// netkit devices and their links (`BPF_NETKIT_PRIMARY`/`BPF_NETKIT_PEER`).
    Netkit,
    /// BPF programs on uprobes: the uprobe PMU or tracefs `uprobe_events`.
    Uprobes,
    /// BPF cookies on perf-event attachments, through perf links.
    BpfCookie,
    /// Sleepable uprobe programs (`uprobe.s`).
    SleepableUprobe,
    /// `BPF_LINK_CREATE` with `BPF_TRACE_UPROBE_MULTI`.
    UprobeMulti,
    /// `BPF_LINK_CREATE` with `BPF_TRACE_UPROBE_SESSION`.
    UprobeSession,
    /// USDT semaphores: the uprobe PMU's reference counter (`ref_ctr_offset`).
    UprobeRefCtr,
    /// Task local storage maps (`BPF_MAP_TYPE_TASK_STORAGE`) for tracing programs.
    TaskStorage,
    /// Bloom filter maps (`BPF_MAP_TYPE_BLOOM_FILTER`).
    BloomFilter,
    /// Arena maps (`BPF_MAP_TYPE_ARENA`).
    Arena,
    /// `BPF_MAP_TYPE_USER_RINGBUF` and `bpf_user_ringbuf_drain`.
    UserRingbuf,
}

impl Feature {
    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Kprobes => "kprobes",
            Feature::KprobeMulti => "kprobe.multi links",
            Feature::Fentry => "fentry/fexit",
            Feature::FmodRet => "fmod_ret",
            Feature::Lsm => "BPF LSM",
            Feature::TpBtf => "tp_btf",
            Feature::Iter => "BPF iterators",
            Feature::IterMapElem => "map element iterators",
            Feature::SyscallProgram => "syscall programs",
            Feature::KprobeSession => "kprobe.session links",
            Feature::StructOps => "struct_ops (tcp_congestion_ops)",
            Feature::Freplace => "freplace",
            Feature::StructOpsLink => "struct_ops links",
            Feature::LsmCgroup => "lsm_cgroup",
            Feature::CgrpStorage => "cgrp_storage maps",
            Feature::Netfilter => "netfilter links",
            Feature::UnixSockAddr => "cgroup hooks for Unix socket addresses",
            Feature::XdpLink => "XDP links",
            Feature::XdpFrags => "XDP frags",
            Feature::GenericXdpMapPrograms => "generic XDP cpumap redirect and devmap programs",
            Feature::Tcx => "tcx links",
            Feature::Netkit => "netkit",
            Feature::Uprobes => "uprobes",
            Feature::BpfCookie => "BPF cookies (perf links)",
            Feature::SleepableUprobe => "sleepable uprobes",
            Feature::UprobeMulti => "uprobe.multi links",
            Feature::UprobeSession => "uprobe.session links",
            Feature::UprobeRefCtr => "uprobe reference counters (USDT semaphores)",
            Feature::TaskStorage => "task storage maps",
            Feature::BloomFilter => "bloom filter maps",
            Feature::Arena => "arena maps",
            Feature::UserRingbuf => "user ring buffers",
        }
    }

    /// The mainline release that introduced the feature.
    pub fn since(self) -> (u32, u32) {
        match self {
            // BPF programs on kprobes (the PMU came in 4.17; kprobe_events long before).
            Feature::Kprobes => (4, 1),
            Feature::KprobeMulti => (5, 18),
            Feature::Fentry => (5, 5),
            Feature::FmodRet => (5, 7),
            Feature::Lsm => (5, 7),
            Feature::TpBtf => (5, 5),
            Feature::Iter => (5, 8),
            Feature::IterMapElem => (5, 9),
            Feature::SyscallProgram => (5, 14),
            Feature::KprobeSession => (6, 10),
            Feature::StructOps => (5, 6),
            Feature::Freplace => (5, 6),
            Feature::StructOpsLink => (6, 4),
            Feature::LsmCgroup => (6, 0),
            Feature::CgrpStorage => (6, 2),
            Feature::Netfilter => (6, 4),
            Feature::UnixSockAddr => (6, 7),
            Feature::XdpLink => (5, 9),
            Feature::XdpFrags => (5, 18),
            Feature::GenericXdpMapPrograms => (5, 15),
            Feature::Tcx => (6, 6),
            Feature::Netkit => (6, 7),
            // The uprobe PMU (4.17); uprobe_events long before.
            Feature::Uprobes => (4, 17),
            Feature::BpfCookie => (5, 15),
            Feature::SleepableUprobe => (6, 0),
            Feature::UprobeMulti => (6, 6),
            Feature::UprobeSession => (6, 13),
            Feature::UprobeRefCtr => (4, 20),
            Feature::TaskStorage => (5, 11),
            Feature::BloomFilter => (5, 16),
            Feature::Arena => (6, 9),
            Feature::UserRingbuf => (6, 1),
        }
    }

    /// Kernel config options the feature can't exist without.
    fn config_options(self) -> &'static [&'static str] {
        const TRAMPOLINE: &[&str] = &[
            "CONFIG_BPF_JIT",
            "CONFIG_DEBUG_INFO_BTF",
            "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS",
        ];
        match self {
            Feature::Kprobes => &["CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS"],
            Feature::KprobeMulti => &["CONFIG_FPROBE"],
            Feature::Fentry | Feature::FmodRet => TRAMPOLINE,
            Feature::Lsm => &[
                "CONFIG_BPF_LSM",
                "CONFIG_BPF_JIT",
                "CONFIG_DEBUG_INFO_BTF",
                "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS",
            ],
            Feature::TpBtf | Feature::Iter | Feature::IterMapElem | Feature::SyscallProgram => {
                &["CONFIG_DEBUG_INFO_BTF"]
            }
            Feature::KprobeSession => &["CONFIG_FPROBE"],
            Feature::Freplace => &["CONFIG_BPF_JIT", "CONFIG_DEBUG_INFO_BTF"],
            Feature::StructOps | Feature::StructOpsLink => {
                &["CONFIG_BPF_JIT", "CONFIG_DEBUG_INFO_BTF", "CONFIG_INET"]
            }
            Feature::LsmCgroup => &[
                "CONFIG_BPF_LSM",
                "CONFIG_CGROUP_BPF",
                "CONFIG_BPF_JIT",
                "CONFIG_DEBUG_INFO_BTF",
            ],
            Feature::CgrpStorage => &["CONFIG_CGROUP_BPF"],
            Feature::Netfilter => &["CONFIG_NETFILTER_BPF_LINK"],
            Feature::UnixSockAddr => &["CONFIG_CGROUP_BPF", "CONFIG_UNIX"],
            Feature::XdpLink | Feature::XdpFrags => &["CONFIG_BPF_SYSCALL"],
            Feature::GenericXdpMapPrograms => &["CONFIG_DEBUG_INFO_BTF"],
            Feature::Tcx => &["CONFIG_NET_XGRESS"],
            Feature::Netkit => &["CONFIG_NETKIT"],
            Feature::Uprobes
            | Feature::SleepableUprobe
            | Feature::UprobeMulti
            | Feature::UprobeSession
            | Feature::UprobeRefCtr => &["CONFIG_UPROBES", "CONFIG_UPROBE_EVENTS"],
            Feature::BpfCookie => &[],
            Feature::TaskStorage => &["CONFIG_BPF_SYSCALL", "CONFIG_DEBUG_INFO_BTF"],
            Feature::BloomFilter => &["CONFIG_BPF_SYSCALL"],
            // The arena needs a JIT that supports it and an MMU (x86-64, arm64, riscv).
            Feature::Arena => &["CONFIG_BPF_SYSCALL", "CONFIG_BPF_JIT", "CONFIG_MMU"],
            Feature::UserRingbuf => &["CONFIG_BPF_SYSCALL"],
        }
    }
}

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The kernel has it and lets us use it.
    Supported,
    /// The kernel has it but refuses it by policy (`EPERM` as root).
    Refused(String),
    /// Built in but switched off at boot.
    NotEnabled(String),
    /// The probe says the kernel doesn't have it.
    Missing(String),
}

// The running kernel's release and version live with the workspace helpers (the
// command's tests use them too).
pub use super::{kernel_release, parse_version};

/// The running kernel's build config, if it is published (`/proc/config.gz`, then
/// `/boot/config-<release>`).
pub fn kernel_config() -> Option<String> {
    static CONFIG: Mutex<Option<Option<String>>> = Mutex::new(None);
    let mut slot = CONFIG.lock().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| {
        if Path::new("/proc/config.gz").exists() {
            let out = std::process::Command::new("gzip")
                .args(["-dc", "/proc/config.gz"])
                .output()
                .ok()?;
            if out.status.success() {
                return String::from_utf8(out.stdout).ok();
            }
        }
        std::fs::read_to_string(format!("/boot/config-{}", kernel_release())).ok()
    })
    .clone()
}

/// Whether `option` is built in (or a module) according to `config`: `Some(false)` for
/// `# CONFIG_X is not set` or an option the config doesn't list at all.
pub fn config_enabled(config: &str, option: &str) -> bool {
    config.lines().any(|l| {
        l.strip_prefix(option)
            .and_then(|rest| rest.strip_prefix('='))
            .is_some_and(|v| v == "y" || v == "m")
    })
}

/// Runs the probe for `feature` (once per process).
pub fn probe(feature: Feature) -> Probe {
    static CACHE: Mutex<Option<HashMap<Feature, Probe>>> = Mutex::new(None);
    if let Some(p) = CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&feature)
    {
        return p.clone();
    }
    let p = match feature {
        Feature::Kprobes => probe_kprobes(),
        Feature::KprobeMulti => probe_kprobe_multi(),
        Feature::Fentry => probe_tracing(
            prog_type::TRACING,
            attach_type::TRACE_FENTRY,
            "do_unlinkat",
            Kind::Func,
        ),
        Feature::FmodRet => probe_tracing(
            prog_type::TRACING,
            attach_type::MODIFY_RETURN,
            "security_file_open",
            Kind::Func,
        ),
        Feature::Lsm => probe_lsm(),
        Feature::Iter => probe_tracing(
            prog_type::TRACING,
            attach_type::TRACE_ITER,
            "bpf_iter_task",
            Kind::Func,
        ),
        Feature::IterMapElem => probe_iter_load("bpf_map_elem"),
        Feature::SyscallProgram => probe_syscall_program(),
        Feature::KprobeSession => probe_kprobe_multi_as(attach_type::TRACE_KPROBE_SESSION),
        Feature::StructOps => probe_struct_ops(0),
        Feature::Freplace => probe_freplace(),
        Feature::StructOpsLink => probe_struct_ops(raw_bpf::flags::LINK),
        Feature::Uprobes => probe_uprobes(),
        Feature::BpfCookie => probe_bpf_cookie(),
        Feature::SleepableUprobe => probe_sleepable_uprobe(),
        Feature::UprobeMulti => probe_uprobe_multi(attach_type::TRACE_UPROBE_MULTI),
        Feature::UprobeSession => probe_uprobe_multi(attach_type::TRACE_UPROBE_SESSION),
        Feature::UprobeRefCtr => {
            let f = Path::new("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset");
            if f.exists() {
                Probe::Supported
            } else {
                Probe::Missing(format!("{} is missing", f.display()))
            }
        }
        Feature::UserRingbuf => probe_user_ringbuf(),
        Feature::TpBtf => probe_tracing(
            prog_type::TRACING,
            attach_type::TRACE_RAW_TP,
            "btf_trace_sys_enter",
            Kind::Typedef,
        ),
        Feature::LsmCgroup => probe_lsm_cgroup(),
        Feature::CgrpStorage => probe_cgrp_storage(),
        Feature::Netfilter => probe_netfilter(),
        Feature::UnixSockAddr => probe_unix_sock_addr(),
        Feature::XdpLink => probe_xdp_link(),
        Feature::XdpFrags => probe_xdp_frags(),
        Feature::GenericXdpMapPrograms => probe_btf_func("cpu_map_generic_redirect"),
        Feature::Tcx => probe_ifindex_link(prog_type::SCHED_CLS, attach_type::TCX_INGRESS),
        Feature::Netkit => probe_ifindex_link(prog_type::SCHED_CLS, attach_type::NETKIT_PRIMARY),
        Feature::TaskStorage => probe_kallsyms("bpf_task_storage_get"),
        // BLOOM_FILTER: no key, 8-byte values.
        Feature::BloomFilter => probe_map(30, 0, 8, 1, 0),
        // ARENA: no key or value, one page, BPF_F_MMAPABLE.
        Feature::Arena => probe_map(33, 0, 0, 1, 1 << 10),
    };
    CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(feature, p.clone());
    p
}

/// Prints `SKIP: <test>: <reason>` where it is seen even under output capture.
pub fn skip(test: &str, reason: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "SKIP: {test}: {reason}");
    let _ = out.flush();
}

/// What a test does about a feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run the test.
    Run,
    /// Skip it, for this reason.
    Skip(String),
    /// Fail it: the feature must be there.
    Fail(String),
}

/// The discipline, as a pure function of what was found: `probe` on a kernel
/// `release` whose build config is `config` (if published), for a feature that exists
/// since `since`.
pub fn decide(
    feature: Feature,
    since: (u32, u32),
    probe: &Probe,
    config: Option<&str>,
    release: &str,
) -> Decision {
    let name = feature.name();
    match probe {
        Probe::Supported => Decision::Run,
        Probe::Refused(why) => Decision::Skip(format!("{name} refused by policy ({why})")),
        Probe::NotEnabled(why) => Decision::Skip(format!("{name} not enabled: {why}")),
        Probe::Missing(why) => {
            if let Some(config) = config {
                if let Some(off) = feature
                    .config_options()
                    .iter()
                    .find(|o| !config_enabled(config, o))
                {
                    return Decision::Skip(format!(
                        "{name} missing: kernel {release} is built without {off} ({why})"
                    ));
                }
            }
            match parse_version(release) {
                Some(v) if v >= since => Decision::Fail(format!(
                    "{name} reported missing on kernel {release}, but it exists since {}.{} \
                     and nothing in the kernel config ({}) explains it: a broken probe or a \
                     bug ({why})",
                    since.0,
                    since.1,
                    if config.is_some() {
                        "published"
                    } else {
                        "not published"
                    },
                )),
                _ => Decision::Skip(format!(
                    "{name} missing on kernel {release} (it needs {}.{}+): {why}",
                    since.0, since.1
                )),
            }
        }
    }
}

/// `Some(())` when the kernel supports `feature`; otherwise prints why the test is
/// skipped and returns `None`, or panics when the feature should be there (see the
/// module documentation).
pub fn require(test: &str, feature: Feature) -> Option<()> {
    require_since(test, feature, feature.since())
}

/// [`require`] with an explicit first release.
pub fn require_since(test: &str, feature: Feature, since: (u32, u32)) -> Option<()> {
    super::setup();
    let config = kernel_config();
    match decide(
        feature,
        since,
        &probe(feature),
        config.as_deref(),
        &kernel_release(),
    ) {
        Decision::Run => Some(()),
        Decision::Skip(reason) => {
            skip(test, &reason);
            None
        }
        Decision::Fail(reason) => panic!("{test}: {reason}"),
    }
}

/// Whether the kernel has `feature`, for a test that checks a fallback where it
/// doesn't: `false` (with a `NOTE:` line saying why) where the discipline would skip,
/// a panic where it would fail.
pub fn available(test: &str, feature: Feature) -> bool {
    super::setup();
    let config = kernel_config();
    let release = kernel_release();
    match decide(
        feature,
        feature.since(),
        &probe(feature),
        config.as_deref(),
        &release,
    ) {
        Decision::Run => true,
        Decision::Skip(reason) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "NOTE: {test}: {reason}; the fallback is tested");
            let _ = out.flush();
            false
        }
        Decision::Fail(reason) => panic!("{test}: {reason}"),
    }
}

fn errno_name(e: &io::Error) -> String {
    match errno(e) {
        libc::EPERM => "EPERM".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::E2BIG => "E2BIG".into(),
        libc::EBADF => "EBADF".into(),
        libc::EACCES => "EACCES".into(),
        524 => "ENOTSUPP".into(),
        n => format!("errno {n}"),
    }
}

fn refused(what: &str, e: &io::Error) -> Probe {
    Probe::Refused(format!("{what} answered {} as root", errno_name(e)))
}

fn probe_kprobes() -> Probe {
    let pmu = Path::new("/sys/bus/event_source/devices/kprobe/type");
    if pmu.exists() {
        return Probe::Supported;
    }
    let events = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(|t| Path::new(t).join("kprobe_events"))
        .find(|p| p.exists());
    match events {
        Some(_) => Probe::Supported,
        None => Probe::Missing(format!(
            "no kprobe PMU ({}) and no kprobe_events in tracefs",
            pmu.display()
        )),
    }
}

/// A kprobe_multi link on a function that doesn't exist: a kernel with fprobe looks
/// the name up (`ENOENT`/`ESRCH`), one built without it answers `EOPNOTSUPP`, one that
/// predates it `EINVAL`.
fn probe_kprobe_multi() -> Probe {
    probe_kprobe_multi_as(attach_type::TRACE_KPROBE_MULTI)
}

/// [`probe_kprobe_multi`] for another kprobe_multi attach type (a kprobe session: a
/// kernel before 6.10 refuses the program's expected attach type with `EINVAL`).
fn probe_kprobe_multi_as(attach: u32) -> Probe {
    let prog = match raw_bpf::prog_load(prog_type::KPROBE, attach, 0) {
        Ok(p) => p,
        Err(e) if errno(&e) == libc::EPERM => return refused("loading a kprobe program", &e),
        Err(e) => return Probe::Missing(format!("loading a kprobe program: {}", errno_name(&e))),
    };
    const NAME: &CStr = c"corebpf_feature_probe_no_such_function";
    match raw_bpf::link_create_kprobe_multi_as(prog.as_fd(), attach, &[NAME]) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_LINK_CREATE(kprobe_multi)", &e),
        Err(e) if [libc::EOPNOTSUPP, libc::EINVAL, 524].contains(&errno(&e)) => Probe::Missing(
            format!("BPF_LINK_CREATE(kprobe_multi) answered {}", errno_name(&e)),
        ),
        Err(_) => Probe::Supported,
    }
}

/// Loads a `return 0` iterator program for `target` (`bpf_iter_TARGET`), without
/// attaching it (a map element iterator can't attach without a map).
fn probe_iter_load(target: &str) -> Probe {
    let btf = match corebpf::btf::kernel::vmlinux_btf() {
        Ok(b) => b,
        Err(e) => return Probe::Missing(format!("no kernel BTF: {e}")),
    };
    let func = format!("bpf_iter_{target}");
    let Some(id) = btf.find_by_name_kind(&func, Kind::Func) else {
        return Probe::Missing(format!("{func} is not in the kernel's BTF"));
    };
    let what = format!("BPF_PROG_LOAD for {func}");
    match raw_bpf::prog_load(prog_type::TRACING, attach_type::TRACE_ITER, id) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused(&what, &e),
        Err(e) => Probe::Missing(format!("{what} answered {}", errno_name(&e))),
    }
}

/// Loads a socket filter calling a global function, with its BTF, then an extension
/// of that function (loading is where a kernel or a policy says no to extensions).
fn probe_freplace() -> Probe {
    let btf = match raw_bpf::btf_load(&raw_bpf::btf_two_functions()) {
        Ok(b) => b,
        Err(e) => return Probe::Missing(format!("BPF_BTF_LOAD answered {}", errno_name(&e))),
    };
    let target = match raw_bpf::prog_load_calling_f(btf.as_fd()) {
        Ok(p) => p,
        Err(e) => {
            return Probe::Missing(format!(
                "loading a program with BTF answered {}",
                errno_name(&e)
            ))
        }
    };
    let mut log = vec![0u8; 1 << 16];
    match raw_bpf::prog_load_extension(btf.as_fd(), target.as_fd(), &mut log) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_PROG_LOAD of an extension", &e),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Probe::Missing(format!(
                "BPF_PROG_LOAD of an extension answered {} ({})",
                errno_name(&e),
                String::from_utf8_lossy(&log[..end]).trim()
            ))
        }
    }
}

/// Loads a sleepable `syscall` program (the type came in 5.14; older kernels answer
/// `EINVAL`).
fn probe_syscall_program() -> Probe {
    match raw_bpf::prog_load_flags(prog_type::SYSCALL, 0, 0, raw_bpf::flags::SLEEPABLE) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("loading a syscall program", &e),
        Err(e) => Probe::Missing(format!(
            "loading a syscall program answered {}",
            errno_name(&e)
        )),
    }
}

/// Creates a struct_ops map for `tcp_congestion_ops` (with `BPF_F_LINK` when asked:
/// kernels before 6.4 refuse the flag with `EINVAL`).
fn probe_struct_ops(map_flags: u32) -> Probe {
    let btf = match corebpf::btf::kernel::vmlinux_btf() {
        Ok(b) => b,
        Err(e) => return Probe::Missing(format!("no kernel BTF: {e}")),
    };
    const VALUE: &str = "bpf_struct_ops_tcp_congestion_ops";
    let Some(id) = btf.find_by_name_kind(VALUE, Kind::Struct) else {
        return Probe::Missing(format!("{VALUE} is not in the kernel's BTF"));
    };
    let size = match btf.type_by_id(id) {
        Ok(t) => t.size(),
        Err(e) => return Probe::Missing(format!("reading {VALUE}: {e}")),
    };
    let obj_btf = match raw_bpf::btf_load(&raw_bpf::btf_two_functions()) {
        Ok(b) => b,
        Err(e) => return Probe::Missing(format!("BPF_BTF_LOAD answered {}", errno_name(&e))),
    };
    match raw_bpf::map_create_struct_ops(obj_btf.as_fd(), id, size, map_flags) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("creating a struct_ops map", &e),
        Err(e) => Probe::Missing(format!(
            "creating a struct_ops map (flags {map_flags:#x}) answered {}",
            errno_name(&e)
        )),
    }
}

/// Loads a `return 0` program for `target` and attaches it for a moment (a tracing
/// link, or the raw tracepoint fallback): attaching is where kernels without
/// trampolines say no.
fn probe_tracing(prog_type: u32, attach: u32, target: &str, kind: Kind) -> Probe {
    let btf = match corebpf::btf::kernel::vmlinux_btf() {
        Ok(b) => b,
        Err(e) => return Probe::Missing(format!("no kernel BTF: {e}")),
    };
    let Some(id) = btf.find_by_name_kind(target, kind) else {
        return Probe::Missing(format!("{target} is not in the kernel's BTF"));
    };
    let what = format!("BPF_PROG_LOAD for {target}");
    let prog = match raw_bpf::prog_load(prog_type, attach, id) {
        Ok(p) => p,
        Err(e) if errno(&e) == libc::EPERM => return refused(&what, &e),
        Err(e) => return Probe::Missing(format!("{what} answered {}", errno_name(&e))),
    };
    let link = match raw_bpf::link_create(prog.as_fd(), attach) {
        Err(e) if errno(&e) == libc::EINVAL => raw_bpf::raw_tracepoint_open(prog.as_fd()),
        other => other,
    };
    match link {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused(&format!("attaching to {target}"), &e),
        Err(e) => Probe::Missing(format!("attaching to {target} answered {}", errno_name(&e))),
    }
}

/// Creates a one-page user ring buffer: kernels before 6.1 don't know the map type
/// (`EINVAL`).
fn probe_user_ringbuf() -> Probe {
    const USER_RINGBUF: u32 = 31;
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
    match raw_bpf::map_create_sized(USER_RINGBUF, page) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_MAP_CREATE(user_ringbuf)", &e),
        Err(e) => Probe::Missing(format!(
            "BPF_MAP_CREATE(user_ringbuf) answered {}",
            errno_name(&e)
        )),
    }
}

fn probe_lsm() -> Probe {
    if let Some(inactive) = bpf_lsm_inactive() {
        return inactive;
    }
    probe_tracing(
        prog_type::LSM,
        attach_type::LSM_MAC,
        "bpf_lsm_file_open",
        Kind::Func,
    )
}

/// Why the BPF LSM can't run programs, or `None` when it is active.
fn bpf_lsm_inactive() -> Option<Probe> {
    let dir = Path::new("/sys/kernel/security");
    let lsm = dir.join("lsm");
    if !lsm.exists() {
        // securityfs may just not be mounted (a minimal guest): mount it, as root can.
        let _ = nix::mount::mount(
            Some("securityfs"),
            dir,
            Some("securityfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
    }
    match std::fs::read_to_string(&lsm) {
        Ok(list) if !list.trim().split(',').any(|l| l == "bpf") => {
            let enabled = kernel_config().is_some_and(|c| config_enabled(&c, "CONFIG_BPF_LSM"));
            let why = format!("active LSMs are {:?}", list.trim());
            Some(if enabled {
                Probe::NotEnabled(format!(
                    "{why}; boot with lsm=...,bpf to enable the BPF LSM"
                ))
            } else {
                Probe::Missing(why)
            })
        }
        Ok(_) => None,
        Err(e) => Some(Probe::Missing(format!("reading {}: {e}", lsm.display()))),
    }
}

/// An `lsm_cgroup` program for `socket_bind` loads where the kernel has them (its
/// attach type came in 6.0; older kernels answer `EINVAL`).
fn probe_lsm_cgroup() -> Probe {
    if let Some(inactive) = bpf_lsm_inactive() {
        return inactive;
    }
    let btf = match corebpf::btf::kernel::vmlinux_btf() {
        Ok(b) => b,
        Err(e) => return Probe::Missing(format!("no kernel BTF: {e}")),
    };
    let Some(id) = btf.find_by_name_kind("bpf_lsm_socket_bind", Kind::Func) else {
        return Probe::Missing("bpf_lsm_socket_bind is not in the kernel's BTF".into());
    };
    match raw_bpf::prog_load(prog_type::LSM, attach_type::LSM_CGROUP, id) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("loading an lsm_cgroup program", &e),
        Err(e) => Probe::Missing(format!(
            "loading an lsm_cgroup program answered {}",
            errno_name(&e)
        )),
    }
}

/// Whether the running kernel's `enum ENUM` has a value named `value`, read from its
/// BTF with btf-rs (not the library under test).
pub fn vmlinux_enum_has(enum_name: &str, value: &str) -> Result<bool, String> {
    const PATH: &str = "/sys/kernel/btf/vmlinux";
    let btf = btf_rs::Btf::from_file(PATH).map_err(|e| format!("reading {PATH}: {e}"))?;
    let types = btf.resolve_types_by_name(enum_name).unwrap_or_default();
    Ok(types.iter().any(|t| match t {
        btf_rs::Type::Enum(e) => e
            .members
            .iter()
            .any(|m| btf.resolve_name(m).is_ok_and(|n| n == value)),
        _ => false,
    }))
}

/// The kernel's `enum bpf_map_type` names `BPF_MAP_TYPE_CGRP_STORAGE`. Creating one
/// needs BTF for its key and value, and kernels without the type answer the same
/// `EINVAL` as a malformed request, so the kernel's own list of map types is the
/// clearer witness.
fn probe_cgrp_storage() -> Probe {
    match vmlinux_enum_has("bpf_map_type", "BPF_MAP_TYPE_CGRP_STORAGE") {
        Ok(true) => Probe::Supported,
        Ok(false) => Probe::Missing("enum bpf_map_type has no BPF_MAP_TYPE_CGRP_STORAGE".into()),
        Err(e) => Probe::Missing(e),
    }
}

/// A netfilter program loads (older kernels don't know the program type: `EINVAL`).
fn probe_netfilter() -> Probe {
    match raw_bpf::prog_load(prog_type::NETFILTER, attach_type::NETFILTER, 0) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("loading a netfilter program", &e),
        Err(e) => Probe::Missing(format!(
            "loading a netfilter program answered {}",
            errno_name(&e)
        )),
    }
}

/// The kernel's `enum bpf_attach_type` names `BPF_CGROUP_UNIX_CONNECT` (older kernels
/// answer a load for it with the same `EINVAL` as a malformed program).
fn probe_unix_sock_addr() -> Probe {
    match vmlinux_enum_has("bpf_attach_type", "BPF_CGROUP_UNIX_CONNECT") {
        Ok(true) => Probe::Supported,
        Ok(false) => Probe::Missing("enum bpf_attach_type has no BPF_CGROUP_UNIX_CONNECT".into()),
        Err(e) => Probe::Missing(e),
    }
}

/// A link of `attach_type` to an interface that doesn't exist: a kernel that has the
/// link type looks the interface up (`ENODEV`), one without it answers `EINVAL`
/// (before any interface is touched, so the probe changes nothing anywhere).
fn probe_ifindex_link(prog_type: u32, attach: u32) -> Probe {
    let prog = match raw_bpf::prog_load(prog_type, attach, 0) {
        Ok(p) => p,
        Err(e) if errno(&e) == libc::EPERM => return refused("BPF_PROG_LOAD", &e),
        Err(e) => return Probe::Missing(format!("BPF_PROG_LOAD answered {}", errno_name(&e))),
    };
    const NO_SUCH_IFINDEX: u32 = 0x7fff_fff0;
    match raw_bpf::link_create_ifindex(prog.as_fd(), NO_SUCH_IFINDEX, attach) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::ENODEV => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_LINK_CREATE", &e),
        Err(e) => Probe::Missing(format!(
            "BPF_LINK_CREATE (attach type {attach}) answered {}",
            errno_name(&e)
        )),
    }
}

/// An XDP link on `lo` of a network namespace of its own: XDP answers `EINVAL` both
/// for a missing interface and for a kernel without XDP links, so the probe attaches
/// for real, where the program (which drops everything) disturbs nobody.
fn probe_xdp_link() -> Probe {
    let prog = match raw_bpf::prog_load(prog_type::XDP, attach_type::XDP, 0) {
        Ok(p) => p,
        Err(e) if errno(&e) == libc::EPERM => return refused("BPF_PROG_LOAD", &e),
        Err(e) => return Probe::Missing(format!("BPF_PROG_LOAD answered {}", errno_name(&e))),
    };
    let attached = std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare moves only this thread, which ends here, to a new
            // network namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // `lo` is interface 1 in a new namespace.
            raw_bpf::link_create_ifindex(prog.as_fd(), 1, attach_type::XDP)
        })
        .join()
        .expect("the probe thread")
    });
    match attached {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_LINK_CREATE (XDP)", &e),
        Err(e) => Probe::Missing(format!("BPF_LINK_CREATE (XDP) answered {}", errno_name(&e))),
    }
}

/// An XDP program loaded with `BPF_F_XDP_HAS_FRAGS`: kernels before frags refuse the
/// flag (`EINVAL`).
fn probe_xdp_frags() -> Probe {
    match raw_bpf::prog_load_flags(prog_type::XDP, attach_type::XDP, 0, raw_bpf::XDP_HAS_FRAGS) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_PROG_LOAD", &e),
        Err(e) => Probe::Missing(format!(
            "BPF_PROG_LOAD with BPF_F_XDP_HAS_FRAGS answered {}",
            errno_name(&e)
        )),
    }
}

/// A kernel function that implements the feature, looked for in the kernel's BTF.
fn probe_btf_func(name: &str) -> Probe {
    match corebpf::btf::kernel::vmlinux_btf() {
        Ok(btf) if btf.find_by_name_kind(name, Kind::Func).is_some() => Probe::Supported,
        Ok(_) => Probe::Missing(format!("{name} is not in the kernel's BTF")),
        Err(e) => Probe::Missing(format!("no kernel BTF: {e}")),
    }
}

const UPROBE_PMU_TYPE: &str = "/sys/bus/event_source/devices/uprobe/type";

fn probe_uprobes() -> Probe {
    if Path::new(UPROBE_PMU_TYPE).exists() {
        return Probe::Supported;
    }
    let events = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(|t| Path::new(t).join("uprobe_events"))
        .find(|p| p.exists());
    match events {
        Some(_) => Probe::Supported,
        None => Probe::Missing(format!(
            "no uprobe PMU ({UPROBE_PMU_TYPE}) and no uprobe_events in tracefs"
        )),
    }
}

/// libbpf's perf link probe: a link on perf event fd -1 fails with `EBADF` where perf
/// links (and with them BPF cookies) exist, `EINVAL` where they don't.
fn probe_bpf_cookie() -> Probe {
    let prog = match raw_bpf::prog_load(prog_type::KPROBE, 0, 0) {
        Ok(p) => p,
        Err(e) if errno(&e) == libc::EPERM => return refused("loading a kprobe program", &e),
        Err(e) => return Probe::Missing(format!("loading a kprobe program: {}", errno_name(&e))),
    };
    match raw_bpf::link_create_perf_event_bad_fd(prog.as_fd()) {
        Err(e) if errno(&e) == libc::EBADF => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_LINK_CREATE(perf_event)", &e),
        Err(e) => Probe::Missing(format!(
            "BPF_LINK_CREATE(perf_event) on fd -1 answered {}",
            errno_name(&e)
        )),
        Ok(_) => Probe::Missing("BPF_LINK_CREATE(perf_event) on fd -1 succeeded".into()),
    }
}

/// A sleepable kprobe-type program loads where uprobes may sleep.
fn probe_sleepable_uprobe() -> Probe {
    match raw_bpf::prog_load_flags(prog_type::KPROBE, 0, 0, raw_bpf::PROG_SLEEPABLE) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("loading a sleepable kprobe program", &e),
        Err(e) => Probe::Missing(format!(
            "loading a sleepable kprobe program answered {}",
            errno_name(&e)
        )),
    }
}

/// libbpf's `probe_uprobe_multi_link`: a link on `/` (not a regular file) fails with
/// `EBADF` where the kernel knows the attach type.
fn probe_uprobe_multi(attach: u32) -> Probe {
    let prog = match raw_bpf::prog_load(prog_type::KPROBE, attach, 0) {
        Ok(p) => p,
        Err(e) if errno(&e) == libc::EPERM => return refused("loading a kprobe program", &e),
        Err(e) => {
            return Probe::Missing(format!(
                "loading a kprobe program for attach type {attach}: {}",
                errno_name(&e)
            ))
        }
    };
    match raw_bpf::link_create_uprobe_multi(prog.as_fd(), attach, c"/") {
        Err(e) if errno(&e) == libc::EBADF => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_LINK_CREATE(uprobe_multi)", &e),
        Err(e) => Probe::Missing(format!(
            "BPF_LINK_CREATE(uprobe_multi, attach type {attach}) answered {}",
            errno_name(&e)
        )),
        Ok(_) => Probe::Missing("BPF_LINK_CREATE(uprobe_multi) on / succeeded".into()),
    }
}

/// A map of `map_type` created without BTF: `EPERM` as root is a policy's refusal,
/// any other error a kernel without the type.
fn probe_map(map_type: u32, key: u32, value: u32, entries: u32, flags: u32) -> Probe {
    match raw_bpf::map_create(map_type, key, value, entries, flags) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused(&format!("map type {map_type}"), &e),
        Err(e) => Probe::Missing(format!("map type {map_type}: {}", errno_name(&e))),
    }
}

/// The kernel has code named `symbol` (a helper, a map type's operations): a map
/// type that needs BTF to create, probed by what the kernel is built with.
fn probe_kallsyms(symbol: &str) -> Probe {
    let text = match std::fs::read_to_string("/proc/kallsyms") {
        Ok(t) => t,
        Err(e) => return Probe::Missing(format!("reading /proc/kallsyms: {e}")),
    };
    let found = text
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some(symbol));
    if found {
        Probe::Supported
    } else {
        Probe::Missing(format!("no {symbol} in /proc/kallsyms"))
    }
}
