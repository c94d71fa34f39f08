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
            Feature::TpBtf => &["CONFIG_DEBUG_INFO_BTF"],
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
        Feature::TpBtf => probe_tracing(
            prog_type::TRACING,
            attach_type::TRACE_RAW_TP,
            "btf_trace_sys_enter",
            Kind::Typedef,
        ),
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

fn errno_name(e: &io::Error) -> String {
    match errno(e) {
        libc::EPERM => "EPERM".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::E2BIG => "E2BIG".into(),
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
    let prog = match raw_bpf::prog_load(prog_type::KPROBE, attach_type::TRACE_KPROBE_MULTI, 0) {
        Ok(p) => p,
        Err(e) if errno(&e) == libc::EPERM => return refused("loading a kprobe program", &e),
        Err(e) => return Probe::Missing(format!("loading a kprobe program: {}", errno_name(&e))),
    };
    const NAME: &CStr = c"corebpf_feature_probe_no_such_function";
    match raw_bpf::link_create_kprobe_multi(prog.as_fd(), &[NAME]) {
        Ok(_) => Probe::Supported,
        Err(e) if errno(&e) == libc::EPERM => refused("BPF_LINK_CREATE(kprobe_multi)", &e),
        Err(e) if [libc::EOPNOTSUPP, libc::EINVAL, 524].contains(&errno(&e)) => Probe::Missing(
            format!("BPF_LINK_CREATE(kprobe_multi) answered {}", errno_name(&e)),
        ),
        Err(_) => Probe::Supported,
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

fn probe_lsm() -> Probe {
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
            return if enabled {
                Probe::NotEnabled(format!(
                    "{why}; boot with lsm=...,bpf to enable the BPF LSM"
                ))
            } else {
                Probe::Missing(why)
            };
        }
        Ok(_) => {}
        Err(e) => return Probe::Missing(format!("reading {}: {e}", lsm.display())),
    }
    probe_tracing(
        prog_type::LSM,
        attach_type::LSM_MAC,
        "bpf_lsm_file_open",
        Kind::Func,
    )
}
