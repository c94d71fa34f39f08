//! `cargo xtask vmtest`: the workspace's test binaries on several kernels.
//!
//! The binaries are built once on the host (`cargo test --all-targets
//! --no-run`), then run on each kernel by one generated shell script,
//! `run.sh`: directly for the
//! running kernel, and inside a QEMU guest booted by virtme-ng (`vng`) for
//! a kernel image. The guest sees the host's root filesystem (read-only,
//! over 9p, with tmpfs overlays on /etc, /tmp, /var and a few more), so the
//! binaries, `bpf-progs/` (which the tests find through the compile-time
//! `CARGO_MANIFEST_DIR`) and `/bin/true` are all at their host paths; only
//! the results directory is shared read-write. Each binary runs in its
//! package's directory, as under `cargo test`.
//!
//! Results go to files, not the console: `<target>/vmtest/<kernel>/` holds
//! `run.sh`, `started` (written first: the start marker, holding the
//! kernel release), `N.out` and `N.rc` per binary (its output; exit status
//! and start and end times), `done` (the end marker) and `console.log`
//! (everything vng printed, the kernel's console included). A guest that
//! does not write `started` in time, or stops without writing `done`, is an
//! infrastructure failure; only the first kind gets one more try.

mod build;
mod json;
mod libtest;
mod process;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use build::{build, target_dir, TestBinary};
use process::{copy_output, kill_tree};

use crate::{cmd, kernels, setup, Result};

/// Exit status when a test failed (or vmtest itself could not run).
const EXIT_FAILED: u8 = 1;
/// Exit status for a bad command line.
const EXIT_USAGE: u8 = 2;
/// Exit status when no test failed but a kernel could not be tested.
const EXIT_INFRA: u8 = 3;

/// Kernel command line added in the guest: the BPF LSM on, as on a distro
/// kernel configured for it.
const GUEST_APPEND: &str = "lsm=lockdown,capability,bpf";
const GUEST_CPUS: &str = "2";
const DEFAULT_MEMORY: &str = "2G";
/// Bound of one run on one kernel (boot included), in seconds: 5.10, the slowest,
/// took over 1,800 s with debug binaries on CI's 2 cores.
const DEFAULT_TIMEOUT: u64 = 3600;
/// Kernels tested at once (`--jobs`): one. Two guests side by side on 2 cores (each
/// with 2 vCPUs) slowed every test binary by 1.5 to 3.5 times (5.10's
/// tests/examples.rs 95 s alone, 176 s beside 6.1; tests/tc.rs 171 s, 597 s), so
/// the whole took no less time and a run's bound got harder to set.
const DEFAULT_JOBS: usize = 1;
/// Bound of a boot: from starting vng to the script's start marker (seen
/// under TCG on 2 cores: 40 s idle, up to 140 s with other builds running;
/// udev's coldplug in the guest takes a third of it).
const DEFAULT_BOOT_TIMEOUT: u64 = 300;
/// Bound of one test binary, in seconds (tests/btf_dump.rs compiles every bpf-progs
/// program against a vmlinux.h on the host: 3–4 minutes on 2 cores, more with a
/// guest running beside it; tests/xdp.rs took 310 s alone in 5.10).
const DEFAULT_BINARY_TIMEOUT: u64 = 900;

/// The cargo profile of the test binaries (the workspace's Cargo.toml says why).
pub const TEST_PROFILE: &str = "ci";

/// The library's optional features the tests and examples cover too (`tokio`: the
/// async consumers, `tests/tokio_events.rs`, `examples/async_events.rs`).
const OPTIONAL_FEATURES: &str = "corebpf/tokio";

/// Kernel-independent tests too slow to repeat under emulation (pure parsing
/// fuzz, a vmlinux.h compile, a C compile, a Rust compile): the host run covers
/// them, guests leave them out.
const HOST_ONLY_TESTS: [&str; 19] = [
    "corrupted_objects_never_panic",
    // Unit tests of pure parsing, each over half a second on the host (x15 under TCG):
    // random inputs, clang-checked dumps of hand-made BTF, ELF parsing of libc.
    "exponential_type_match_is_cut_off",
    "random_records_never_panic",
    "gzip::tests::corrupt_input_never_panics",
    "gzip::tests::matches_gzip_on_random_and_text_data",
    "huge_struct_padding_is_one_array_with_the_same_layout",
    "shared_anonymous_nest_dumps_in_bounded_size",
    "small_btf_dumps_and_compiles_with_the_same_layout",
    "truncated_and_garbled_files_are_errors_not_panics",
    "libc_functions_resolve_as_readelf_says",
    "layouts_match_what_clang_makes_of_usdt_bpf_h",
    "kernel_vmlinux_h_compiles",
    // tests/btf_dump.rs: bpftool's and our dump of every BTF (the host's and the
    // committed 6.1 and 5.10 fixtures), and clang over them: over 20 minutes under TCG.
    "every_bpf_prog_builds_with_our_header_in_place_of_bpftools",
    "the_text_is_bpftools",
    "every_layout_matches_the_btf_and_bpftool",
    // ELF symbol resolution of binaries gcc builds (uprobe_elf): 600 s+ under TCG.
    "symtab_weak_and_ambiguous_locals_in_pie_and_exec",
    "versioned_weak_and_aliased_library_functions",
    "real_x86_object_is_refused_when_a_c_compiler_exists",
    // The derive's trybuild test runs cargo, which the guest's PATH lacks.
    "refuses_what_is_not_plain_old_data",
];

/// Test binaries (by name prefix) that never touch the kernel: the derive macro's,
/// the fuzz targets' replays, xtask's own, the benchmarks' harnesses, and the
/// command's argument parsing (cli/tests/args.rs: 86 s in 5.10, 0.2 s on the host).
/// The host run covers them; guests leave them out.
const HOST_ONLY_PACKAGES: [&str; 5] = [
    "derive/",
    "fuzz/",
    "xtask/",
    "benches/",
    "cli/tests/args.rs",
];

/// `cargo xtask vmtest [OPTIONS] [-- TEST-ARGS...]`.
pub fn main(args: &[String]) -> ExitCode {
    let options = match Options::parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", crate::HELP);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}; run `cargo xtask help` for the usage");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&options) {
        Ok(outcome) => ExitCode::from(outcome.code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Options {
    /// `--kernel` values in order (`host` is the running kernel).
    kernels: Vec<String>,
    host_only: bool,
    vm_only: bool,
    /// `--only` values: run only the binaries whose name contains one of them.
    only: Vec<String>,
    /// `--jobs`: how many kernels are tested at once.
    jobs: usize,
    /// Arguments for every test binary (after `--`).
    test_args: Vec<String>,
}

impl Options {
    /// The default kernels (the running one and [`kernels::VM_KERNELS`]),
    /// or the running one only, with `test_args` for every test binary.
    pub fn all(with_vms: bool, test_args: &[String]) -> Options {
        Options {
            host_only: !with_vms,
            test_args: test_args.to_vec(),
            ..Options::default()
        }
    }

    /// The options, or None for `--help`.
    fn parse(args: &[String]) -> Result<Option<Options>> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--" => {
                    options.test_args = args.cloned().collect();
                    break;
                }
                "-h" | "--help" => return Ok(None),
                "--host-only" => options.host_only = true,
                "--vm-only" => options.vm_only = true,
                "--jobs" => match args.next().map(|v| v.parse::<usize>()) {
                    Some(Ok(n)) if n > 0 => options.jobs = n,
                    _ => return Err("--jobs needs a number of kernels, at least 1".into()),
                },
                "--only" => match args.next() {
                    Some(value) if !value.is_empty() => options.only.push(value.clone()),
                    _ => return Err("--only needs a value: part of a test binary's name".into()),
                },
                "--kernel" => match args.next() {
                    Some(value) if !value.is_empty() => options.kernels.push(value.clone()),
                    _ => return Err("--kernel needs a value: a kernel image or `host`".into()),
                },
                other => match other.strip_prefix("--kernel=") {
                    Some(value) if !value.is_empty() => options.kernels.push(value.to_string()),
                    _ => {
                        return Err(format!(
                            "unknown option `{other}` (test arguments go after `--`)"
                        ))
                    }
                },
            }
        }
        if options.host_only && options.vm_only {
            return Err("--host-only and --vm-only exclude each other".into());
        }
        Ok(Some(options))
    }
}

/// Knobs from the environment.
struct Settings {
    /// Bound of one run on one kernel.
    timeout: Duration,
    /// Bound for the start marker.
    boot_timeout: Duration,
    /// Bound of one test binary, in seconds.
    binary_timeout: u64,
    memory: String,
    kvm: bool,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let seconds = |name: &str, default: u64| -> Result<u64> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(value) => match value.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!("{name}={value:?}: expected a number of seconds")),
                },
            }
        };
        let memory = std::env::var("VMTEST_MEMORY").unwrap_or_else(|_| DEFAULT_MEMORY.into());
        Ok(Settings {
            timeout: Duration::from_secs(seconds("VMTEST_TIMEOUT", DEFAULT_TIMEOUT)?),
            boot_timeout: Duration::from_secs(seconds(
                "VMTEST_BOOT_TIMEOUT",
                DEFAULT_BOOT_TIMEOUT,
            )?),
            binary_timeout: seconds("VMTEST_BINARY_TIMEOUT", DEFAULT_BINARY_TIMEOUT)?,
            memory,
            kvm: std::env::var("VMTEST_KVM").is_ok_and(|v| v == "1"),
        })
    }
}

/// One kernel to test on.
#[derive(Debug)]
struct Kernel {
    /// The image to boot; None for the running kernel (no VM).
    image: Option<PathBuf>,
    /// Its release (`uname -r`), as far as known before it runs.
    release: String,
    /// Its directory under `<target>/vmtest/`.
    dir_name: String,
}

impl Kernel {
    fn host() -> Kernel {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Kernel {
            image: None,
            release,
            dir_name: "host".into(),
        }
    }

    fn image(path: &Path) -> Result<Kernel> {
        let mut head = Vec::new();
        fs::File::open(path)
            .and_then(|file| file.take(64 * 1024).read_to_end(&mut head))
            .map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                    " (Debian installs /boot/vmlinuz-* readable by root only: run as root)"
                } else {
                    ""
                };
                format!("cannot read kernel image {}: {e}{hint}", path.display())
            })?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let release = kernels::header_release(&head)
            .or_else(|| file_name.strip_prefix("vmlinuz-").map(str::to_string))
            .unwrap_or_else(|| file_name.clone());
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !Path::new("/lib/modules").join(&release).is_dir() {
            println!(
                "warning: /lib/modules/{release} does not exist: virtme-ng loads the guest's \
                 9p/virtio modules from there, so {} boots only if they are built in",
                path.display()
            );
        }
        let dir_name = release
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(Kernel {
            image: Some(path),
            release,
            dir_name,
        })
    }

    fn title(&self) -> String {
        match self.image {
            None => format!("{} (host)", self.release),
            Some(_) => self.release.clone(),
        }
    }
}

/// The kernels to test on, from the options.
fn kernels(options: &Options) -> Result<Vec<Kernel>> {
    let mut kernels = Vec::new();
    if options.kernels.is_empty() {
        if !options.vm_only {
            kernels.push(Kernel::host());
        }
        if !options.host_only {
            for series in &kernels::VM_KERNELS {
                let boot = Path::new(kernels::BOOT_DIR);
                let image = kernels::newest_image(boot, series.series).ok_or_else(|| {
                    format!(
                        "no {}/vmlinuz-{}.* ({}): `cargo xtask setup` installs it",
                        boot.display(),
                        series.series,
                        series.about
                    )
                })?;
                kernels.push(Kernel::image(&image)?);
            }
        }
    } else {
        for spec in &options.kernels {
            if spec == "host" {
                if !options.vm_only {
                    kernels.push(Kernel::host());
                }
            } else if !options.host_only {
                kernels.push(Kernel::image(Path::new(spec))?);
            }
        }
        if kernels.is_empty() {
            let only = if options.host_only {
                "--host-only"
            } else {
                "--vm-only"
            };
            return Err(format!(
                "{only} left none of the kernels given with --kernel"
            ));
        }
    }
    // Distinct result directories.
    for i in 0..kernels.len() {
        let base = kernels[i].dir_name.clone();
        let mut n = 1;
        while kernels[..i]
            .iter()
            .any(|k| k.dir_name == kernels[i].dir_name)
        {
            n += 1;
            kernels[i].dir_name = format!("{base}-{n}");
        }
    }
    Ok(kernels)
}

/// The outcome on one kernel.
enum Report {
    Tested(Tally),
    /// The kernel could not be tested, twice; why.
    Infrastructure(String),
}

/// The sums on one kernel (or all of them).
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
    /// Lines naming each failure and skip.
    details: Vec<String>,
    /// Seconds from the start to the script's start marker (the boot, for a
    /// guest), and from there to its end marker (the tests).
    boot_seconds: f64,
    test_seconds: f64,
}

/// What a run on all its kernels came to.
pub struct Outcome {
    /// The exit status: 0, or [`EXIT_FAILED`], or [`EXIT_INFRA`].
    pub code: u8,
    /// The summary: a line per kernel with its failures and skips, then the
    /// sums.
    pub summary: Vec<String>,
}

/// What the run needs from the machine: what the tests use (the guests see
/// the host's files), and for guests QEMU, virtme-ng and, unless images are
/// named, the kernels of the matrix.
fn needs(options: &Options) -> Vec<setup::Need> {
    let mut needs = setup::host_tests();
    let named_images = options.kernels.iter().any(|k| k != "host");
    if !options.host_only && (options.kernels.is_empty() || named_images) {
        needs.extend(setup::vm_tools());
    }
    if !options.host_only && options.kernels.is_empty() {
        needs.extend(kernels::VM_KERNELS.iter().map(setup::kernel));
    }
    needs
}

/// Builds the test binaries and runs them on every kernel of `options`.
pub fn run(options: &Options) -> Result<Outcome> {
    let settings = Settings::from_env()?;
    setup::ensure(&needs(options))?;
    let kernels = kernels(options)?;
    let root = crate::workspace_root();
    let mut binaries = build(&root)?;
    if binaries.is_empty() {
        return Err("cargo built no test binaries".into());
    }
    if !options.only.is_empty() {
        binaries.retain(|b| {
            options
                .only
                .iter()
                .any(|part| b.name.contains(part.as_str()))
        });
        if binaries.is_empty() {
            return Err(format!(
                "--only {} matches no test binary",
                options.only.join(", ")
            ));
        }
    }
    let results = target_dir(&root)?.join("vmtest");
    if kernels.iter().any(|k| k.image.is_some()) {
        // vng passes shared directories and the working directory on the
        // kernel command line, which splits at spaces.
        for path in [&root, &results] {
            let text = path.to_string_lossy();
            if text.contains(|c: char| c.is_whitespace() || c == '=' || c == '"') {
                return Err(format!(
                    "{text}: virtme-ng cannot share a path with spaces, quotes or `=`"
                ));
            }
        }
    }
    if kernels.iter().any(|k| k.image.is_none()) && !setup::is_root() {
        println!("warning: not root: the kernel tests will fail on the running kernel");
    }
    println!("test binaries:");
    for binary in &binaries {
        println!("  {}  ({})", binary.name, binary.executable.display());
    }
    let all_binaries: Vec<&TestBinary> = binaries.iter().collect();
    let guest_binaries: Vec<&TestBinary> = binaries
        .iter()
        .filter(|b| !HOST_ONLY_PACKAGES.iter().any(|p| b.name.starts_with(p)))
        .collect();
    if kernels.iter().any(|k| k.image.is_some()) {
        println!(
            "left to the host in guests: the tests of {}; {}",
            HOST_ONLY_PACKAGES.join(", "),
            HOST_ONLY_TESTS.join(", ")
        );
    }

    let jobs = if options.jobs == 0 {
        DEFAULT_JOBS
    } else {
        options.jobs
    };
    let reports = test_kernels(&kernels, jobs, |kernel| {
        let dir = results.join(&kernel.dir_name);
        let what = match &kernel.image {
            None => "running directly".to_string(),
            Some(image) => format!("booting {} under QEMU", image.display()),
        };
        println!(
            "\n==> kernel {}: {what}; results in {}",
            kernel.title(),
            dir.display()
        );
        let _ = io::stdout().flush();
        let binaries = match kernel.image {
            None => &all_binaries,
            Some(_) => &guest_binaries,
        };
        test_kernel(kernel, binaries, options, &settings, &dir)
    });

    let outcome = summarize(&reports);
    println!("\n==> vmtest summary");
    for line in &outcome.summary {
        println!("{line}");
    }
    Ok(outcome)
}

/// Runs `test` on every kernel, `jobs` kernels at a time, and returns the reports in
/// the order of `kernels`. The running kernel starts first (its results come
/// soonest), then the guests oldest first: older kernels run the suite slowest, and
/// starting the longest run early shortens the whole when kernels run side by side.
fn test_kernels<F>(kernels: &[Kernel], jobs: usize, test: F) -> Vec<(String, Report)>
where
    F: Fn(&Kernel) -> (String, Report) + Sync,
{
    let mut order: Vec<usize> = (0..kernels.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&kernels[a], &kernels[b]);
        (a.image.is_some().cmp(&b.image.is_some()))
            .then_with(|| kernels::compare_versions(&a.release, &b.release))
    });
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Option<(String, Report)>>> =
        Mutex::new(kernels.iter().map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, kernels.len().max(1)) {
            scope.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&index) = order.get(n) else { break };
                let report = test(&kernels[index]);
                if let Ok(mut reports) = reports.lock() {
                    reports[index] = Some(report);
                }
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// The summary of the runs on every kernel and the exit status.
fn summarize(reports: &[(String, Report)]) -> Outcome {
    let mut summary = Vec::new();
    let mut total = Tally::default();
    let mut broken = Vec::new();
    for (title, report) in reports {
        summary.push(summary_line(title, report));
        match report {
            Report::Tested(tally) => {
                summary.push(format!(
                    "    boot {:.1} s, tests {:.1} s",
                    tally.boot_seconds, tally.test_seconds
                ));
                summary.extend(tally.details.iter().map(|line| format!("    {line}")));
                total.passed += tally.passed;
                total.failed += tally.failed;
                total.skipped += tally.skipped;
            }
            Report::Infrastructure(_) => broken.push(title.as_str()),
        }
    }
    if !broken.is_empty() {
        summary.push(format!(
            "vmtest: INFRASTRUCTURE FAILURE on {} of {} kernels: {}",
            broken.len(),
            reports.len(),
            broken.join(", ")
        ));
    }
    summary.push(format!(
        "vmtest: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    ));
    let code = if total.failed > 0 {
        EXIT_FAILED
    } else if !broken.is_empty() {
        EXIT_INFRA
    } else {
        0
    };
    Outcome { code, summary }
}

fn summary_line(title: &str, report: &Report) -> String {
    match report {
        Report::Tested(tally) => format!(
            "kernel {title}: {} passed, {} failed, {} skipped",
            tally.passed, tally.failed, tally.skipped
        ),
        Report::Infrastructure(why) => format!("kernel {title}: INFRASTRUCTURE FAILURE ({why})"),
    }
}

/// Runs the binaries on `kernel`, with one retry for a VM that fails to
/// boot or whose kernel panics; returns the kernel's title (with the release the guest
/// reported) and the outcome.
fn test_kernel(
    kernel: &Kernel,
    binaries: &[&TestBinary],
    options: &Options,
    settings: &Settings,
    dir: &Path,
) -> (String, Report) {
    let attempts = if kernel.image.is_some() { 2 } else { 1 };
    let mut title = kernel.title();
    let mut reasons: Vec<String> = Vec::new();
    for attempt in 1..=attempts {
        if let Some(why) = reasons.last() {
            println!("  retrying once: {why}");
            let _ = fs::rename(dir.join("console.log"), dir.join("console.1.log"));
        }
        let outcome = attempt_run(kernel, binaries, options, settings, dir, attempt == 1);
        if let Ok(release) = fs::read_to_string(dir.join("started")) {
            let release = release.trim();
            if !release.is_empty() {
                title = match kernel.image {
                    None => format!("{release} (host)"),
                    Some(_) => release.to_string(),
                };
            }
        }
        match outcome {
            Ok((boot_seconds, test_seconds)) => {
                let tally = Tally {
                    boot_seconds,
                    test_seconds,
                    ..tally(kernel, binaries, dir)
                };
                return (title, Report::Tested(tally));
            }
            Err(why) => {
                print_console_tail(&dir.join("console.log"));
                // A guest that never started the script is retried, and one whose kernel
                // panicked: under TCG the kernel's own text patching can race the
                // emulator (stop 21: "Oops: int3" in __schedule on 6.12, during a unit
                // test that makes no system call, after a static key flip deferred from
                // an earlier test), and a panic our tests caused would come back and be
                // reported as "twice". A run that timed out is not retried: it would
                // likely time out again, and twice its time would overrun CI's budget.
                let panicked = why.contains(": kernel panic: ");
                reasons.push(why);
                if dir.join("started").exists() && !panicked {
                    break;
                }
            }
        }
    }
    let console = dir.join("console.log").display().to_string();
    let why = match reasons.as_slice() {
        [first, second] if first == second => format!("{first}, twice; see {console}"),
        [first, second] => format!("{first}; then {second}; see {console}"),
        _ => format!("{}; see {console}", reasons.join("; ")),
    };
    (title, Report::Infrastructure(why))
}

fn print_console_tail(console: &Path) {
    let text = fs::read(console).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(25)..];
    println!("  last {} lines of {}:", tail.len(), console.display());
    for line in tail {
        println!("  | {line}");
    }
}

/// One run of the script on `kernel`: once the script wrote its end marker,
/// the seconds until it started and from there to its end; else why not
/// (an infrastructure failure).
fn attempt_run(
    kernel: &Kernel,
    binaries: &[&TestBinary],
    options: &Options,
    settings: &Settings,
    dir: &Path,
    first: bool,
) -> Result<(f64, f64)> {
    // A fresh directory, keeping the console of a failed first attempt.
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let keep = !first && entry.file_name() == "console.1.log";
            if !keep {
                let path = entry.path();
                let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
            }
        }
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let script = dir.join("run.sh");
    let mut test_args = options.test_args.clone();
    if kernel.image.is_some() {
        for test in HOST_ONLY_TESTS {
            test_args.extend(["--skip".to_string(), test.to_string()]);
        }
    }
    let text = script_text(dir, kernel.image.is_some(), settings, binaries, &test_args);
    fs::write(&script, text).map_err(|e| format!("cannot write {}: {e}", script.display()))?;

    let mut command = match &kernel.image {
        None => {
            let mut sh = Command::new("sh");
            sh.arg(&script);
            sh
        }
        Some(image) => {
            let mut vng = Command::new("vng");
            vng.arg("--run").arg(image);
            if !settings.kvm {
                vng.arg("--disable-kvm");
            }
            // --verbose: the kernel's console goes to console.log too (a
            // panic or an oops is then on record). --force-9p: vng would
            // first try virtiofsd for each shared directory; bookworm's
            // QEMU-bundled one does not fit vng and costs ~3 s per try, and
            // a virtiofsd that does start is a daemon outside vng's process
            // tree that kill_tree would not reach.
            vng.args(["--user", "root", "--cpus", GUEST_CPUS, "--memory"])
                .arg(&settings.memory)
                .args(["--append", GUEST_APPEND, "--verbose", "--force-9p"])
                .arg(format!("--rwdir={}", dir.display()))
                .args(["--", "sh"])
                .arg(&script);
            vng
        }
    };
    command.current_dir(crate::workspace_root());
    println!("  $ {}", cmd::display(&command));
    let _ = io::stdout().flush();

    let console_path = dir.join("console.log");
    let console = fs::File::create(&console_path)
        .map_err(|e| format!("cannot create {}: {e}", console_path.display()))?;
    let start = Instant::now();
    // Pipes, not the file: QEMU reopens vng's stdout and stderr through
    // /proc/self/fd, and separate opens of one file overwrite each other.
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| cmd::spawn_error(&command, e))?;
    let copied = copy_output(&mut child, console);

    let tag = format!("[{}]", kernel.dir_name);
    let mut started: Option<Duration> = None;
    let mut reported = 0;
    let status = loop {
        let exited = child
            .try_wait()
            .map_err(|e| format!("waiting for vng: {e}"))?;
        if started.is_none() && dir.join("started").exists() {
            let at = start.elapsed();
            started = Some(at);
            println!(
                "  {tag} test script started after {:.1} s",
                at.as_secs_f64()
            );
        }
        while reported < binaries.len() && dir.join(format!("{reported}.rc")).exists() {
            println!(
                "  {tag} {}",
                progress_line(binaries[reported], dir, reported)
            );
            reported += 1;
        }
        if let Some(status) = exited {
            break Some(status);
        }
        let limit = match started {
            None => settings.boot_timeout.min(settings.timeout),
            Some(_) => settings.timeout,
        };
        if start.elapsed() >= limit {
            kill_tree(&mut child);
            break None;
        }
        thread::sleep(Duration::from_millis(250));
    };
    // The readers end when the last holder of the pipes exits; a process
    // that escaped kill_tree must not stall us.
    let _ = copied.recv_timeout(Duration::from_secs(10));
    let elapsed = start.elapsed().as_secs_f64();
    let done = dir.join("done").exists();
    // Progress lines for binaries that ended in the last poll interval.
    while reported < binaries.len() && dir.join(format!("{reported}.rc")).exists() {
        println!(
            "  {tag} {}",
            progress_line(binaries[reported], dir, reported)
        );
        reported += 1;
    }
    // The script's own complaints (a filesystem it could not mount).
    let console = fs::read(&console_path).unwrap_or_default();
    for line in String::from_utf8_lossy(&console).lines() {
        if line.starts_with("vmtest: warning:") || line.starts_with("vmtest: cannot") {
            println!("  {tag} {line}");
        }
    }
    if done {
        let boot = started.map_or(0.0, |s| s.as_secs_f64());
        let tests = elapsed - boot;
        println!("  {tag} done in {elapsed:.1} s ({tests:.1} s after the script started)");
        return Ok((boot, tests));
    }
    // What was running: the binary and, from its output so far, the test.
    let running = match binaries.get(reported) {
        None => String::new(),
        Some(binary) => {
            let output = fs::read(dir.join(format!("{reported}.out"))).unwrap_or_default();
            match libtest::parse(&String::from_utf8_lossy(&output)).unfinished() {
                Some(test) => format!(", during {} ({test})", binary.name),
                None => format!(", during {}", binary.name),
            }
        }
    };
    // A kernel panic says more than QEMU's exit status.
    let panic = String::from_utf8_lossy(&console)
        .lines()
        .find_map(|line| line.split_once("Kernel panic - not syncing: "))
        .map(|(_, why)| format!(": kernel panic: {}", why.trim()))
        .unwrap_or_default();
    Err(match (status, started) {
        (None, None) => format!(
            "no start marker within {} s: the guest did not boot or did not start the script \
             (VMTEST_BOOT_TIMEOUT)",
            settings.boot_timeout.min(settings.timeout).as_secs()
        ),
        (None, Some(_)) => format!(
            "no end marker within {} s (VMTEST_TIMEOUT){running}",
            settings.timeout.as_secs()
        ),
        (Some(status), None) => format!("vng exited ({status}) before the start marker{panic}"),
        (Some(status), Some(_)) => {
            format!("the guest died{panic} (vng: {status}) without the end marker{running}")
        }
    })
}

/// What one binary left in the results directory.
struct BinaryRun {
    seconds: f64,
    output: String,
    outcome: libtest::Outcome,
    /// Its counts, a failure added for `broken`.
    counts: libtest::Counts,
    /// Why the binary itself failed (died, timed out, ...), beyond what its
    /// tests said.
    broken: Option<String>,
}

impl BinaryRun {
    /// Reads `N.rc` (`STATUS START_NS END_NS`) and `N.out`.
    fn load(dir: &Path, index: usize) -> BinaryRun {
        let text = fs::read_to_string(dir.join(format!("{index}.rc"))).unwrap_or_default();
        let fields: Vec<&str> = text.split_whitespace().collect();
        let rc: Option<i32> = fields.first().and_then(|f| f.parse().ok());
        let nanos = |i: usize| fields.get(i).and_then(|f| f.parse::<u128>().ok());
        let seconds = match (nanos(1), nanos(2)) {
            (Some(start), Some(end)) if end >= start => (end - start) as f64 / 1e9,
            _ => 0.0,
        };
        let output = fs::read(dir.join(format!("{index}.out"))).unwrap_or_default();
        let output = String::from_utf8_lossy(&output).into_owned();
        let outcome = libtest::parse(&output);
        let mut counts = outcome.counts();
        let during = outcome
            .unfinished()
            .map(|test| format!(" during {test}"))
            .unwrap_or_default();
        let complete = !outcome.result_lines.is_empty();
        let broken = match rc {
            Some(0) => None,
            // timeout(1): 124 after SIGTERM, 137 after the SIGKILL that follows.
            Some(124 | 137) if !complete => Some(format!(
                "timed out after {seconds:.0} s{during} (VMTEST_BINARY_TIMEOUT)"
            )),
            Some(rc) if rc > 128 && !complete => {
                Some(format!("was killed by signal {}{during}", rc - 128))
            }
            Some(rc) if counts.failed == 0 => Some(format!("exited with status {rc}{during}")),
            Some(_) => None,
            None => Some("left no exit status".to_string()),
        };
        if broken.is_some() {
            counts.failed += 1;
        }
        BinaryRun {
            seconds,
            output,
            outcome,
            counts,
            broken,
        }
    }
}

/// One line on a finished binary.
fn progress_line(binary: &TestBinary, dir: &Path, index: usize) -> String {
    let run = BinaryRun::load(dir, index);
    let libtest::Counts {
        passed,
        failed,
        skipped,
    } = run.counts;
    let state = match &run.broken {
        Some(why) => format!("FAILED (the binary {why})"),
        None if failed > 0 => "FAILED".to_string(),
        None => "ok".to_string(),
    };
    format!(
        "{}: {state}, {passed} passed, {failed} failed, {skipped} skipped ({:.1} s)",
        binary.name, run.seconds
    )
}

/// Sums the results of a finished run and prints the output of each binary
/// that failed.
fn tally(kernel: &Kernel, binaries: &[&TestBinary], dir: &Path) -> Tally {
    let mut tally = Tally::default();
    for (index, binary) in binaries.iter().enumerate() {
        let run = BinaryRun::load(dir, index);
        let outcome = &run.outcome;
        tally.passed += run.counts.passed;
        tally.failed += run.counts.failed;
        tally.skipped += run.counts.skipped;
        let name = &binary.name;
        for test in outcome.failed_tests() {
            tally.details.push(format!("FAILED  {name}: {test}"));
        }
        if let Some(why) = &run.broken {
            tally
                .details
                .push(format!("FAILED  {name}: the binary {why}"));
        }
        let skipped = outcome.skipped_tests();
        let mut reasons: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (test, reason) in &outcome.skips {
            if skipped.contains(test.as_str()) {
                // Skip lines usually name their test ("SKIP: test: reason").
                let short = test.rsplit("::").next().unwrap_or(test);
                let reason = reason
                    .strip_prefix(short)
                    .and_then(|r| r.strip_prefix(": "))
                    .unwrap_or(reason);
                reasons.entry(test).or_default().push(reason);
            }
        }
        for (test, reasons) in reasons {
            let reasons = reasons.join("; ");
            tally
                .details
                .push(format!("skipped {name}: {test}: {reasons}"));
        }
        let ignored: Vec<&str> = outcome
            .tests
            .iter()
            .filter(|(_, status)| **status == libtest::Status::Ignored)
            .map(|(test, _)| test.as_str())
            .collect();
        if !ignored.is_empty() {
            let ignored = ignored.join(", ");
            tally.details.push(format!("ignored {name}: {ignored}"));
        }
        if run.broken.is_some() || outcome.failed_tests().next().is_some() {
            let out = dir.join(format!("{index}.out"));
            println!(
                "\n---- {name} on {}: {} ----",
                kernel.dir_name,
                out.display()
            );
            print!("{}", run.output);
            if !run.output.ends_with('\n') {
                println!();
            }
            println!("---- end of {name} on {} ----", kernel.dir_name);
        }
    }
    tally
}

/// The script that runs every binary on one kernel (see the module doc).
fn script_text(
    dir: &Path,
    in_vm: bool,
    settings: &Settings,
    binaries: &[&TestBinary],
    test_args: &[String],
) -> String {
    let mut text = format!(
        r#"#!/bin/sh
# Written by `cargo xtask vmtest`: runs the test binaries on one kernel, as
# root, {where_}. Results go next to this file.
out={out}
vm={vm}
limit={limit}
set -- {args}
[ "$vm" = 1 ] && PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
{environment}
# The start marker: the guest is up and can write here.
uname -r >"$out/started.tmp" && mv "$out/started.tmp" "$out/started" || exit 1
echo "vmtest: script started on $(uname -r)"

if [ "$vm" = 1 ]; then
    # virtme-ng points /dev/stdout and /dev/stderr at its console ports, so
    # `strace -o /dev/stdout` would write to the console instead of the
    # test's pipe: make them the process's own descriptors, as on a host.
    ln -sfn /proc/self/fd/0 /dev/stdin
    ln -sfn /proc/self/fd/1 /dev/stdout
    ln -sfn /proc/self/fd/2 /dev/stderr
fi

mounted() {{ grep -q "^[^ ]* $2 $1 " /proc/self/mounts; }}
need() {{ # FSTYPE DIR
    mounted "$1" "$2" && return 0
    if [ "$vm" = 1 ]; then
        mkdir -p "$2" && mount -t "$1" "$1" "$2" && return 0
        echo "vmtest: cannot mount $1 on $2" >&2
    else
        echo "vmtest: warning: $1 is not mounted on $2" >&2
    fi
}}
need tracefs /sys/kernel/tracing
need bpf /sys/fs/bpf
need cgroup2 /sys/fs/cgroup
[ "$vm" = 1 ] && need debugfs /sys/kernel/debug
{{
    echo "release: $(uname -r)"
    echo "cmdline: $(cat /proc/cmdline)"
    echo "lsm: $(cat /sys/kernel/security/lsm 2>/dev/null)"
    echo "mounts:"
    cat /proc/self/mounts
}} >"$out/info" 2>&1

limiter=
command -v timeout >/dev/null && limiter="timeout -k 10 $limit"
run() {{ # N PACKAGE-DIR EXECUTABLE [TEST-ARGS...]
    n=$1 dir=$2 exe=$3
    shift 3
    echo "vmtest: running $exe"
    start=$(date +%s%N)
    (cd "$dir" && CARGO_MANIFEST_DIR="$dir" exec $limiter "$exe" --test-threads=1 --nocapture "$@") \
        >"$out/$n.out" 2>&1 </dev/null
    rc=$?
    echo "$rc $start $(date +%s%N)" >"$out/$n.rc.tmp" && mv "$out/$n.rc.tmp" "$out/$n.rc"
}}

"#,
        where_ = if in_vm {
            "in a virtme-ng guest"
        } else {
            "on the running kernel"
        },
        out = sh_quote(&dir.to_string_lossy()),
        vm = u8::from(in_vm),
        limit = settings.binary_timeout,
        // The guest does not inherit our environment; pass these on. cargo's
        // LD_LIBRARY_PATH names the toolchain's libstd, which proc-macro crates'
        // test binaries link dynamically; those run on the host only, and in a
        // guest every dynamic executable (ip, tc, bpftool, the CLI) would first
        // look for its libraries in those four directories over 9p: 3 s per
        // exec on 5.10 under TCG instead of 0.36 s (`ip -V`, measured).
        environment = ["RUST_BACKTRACE", "LD_LIBRARY_PATH"]
            .iter()
            .filter(|name| !in_vm || **name != "LD_LIBRARY_PATH")
            .filter_map(|name| {
                let value = std::env::var(name).ok()?;
                Some(format!("{name}={}\nexport {name}\n", sh_quote(&value)))
            })
            .collect::<String>(),
        args = test_args
            .iter()
            .map(|a| sh_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    );
    for (index, binary) in binaries.iter().enumerate() {
        text.push_str(&format!(
            "run {index} {} {} \"$@\"\n",
            sh_quote(&binary.package_dir.to_string_lossy()),
            sh_quote(&binary.executable.to_string_lossy()),
        ));
    }
    text.push_str("\n# The end marker.\necho done >\"$out/done\"\necho \"vmtest: script done\"\n");
    text
}

/// `word` in single quotes for sh.
fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options() {
        let options = Options::parse(&strings(&[
            "--kernel",
            "host",
            "--kernel=/boot/vmlinuz-6.1.0-56-amd64",
            "--vm-only",
            "--only",
            "tests/xdp",
            "--jobs",
            "3",
            "--",
            "--exact",
            "--kernel",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            options,
            Options {
                kernels: strings(&["host", "/boot/vmlinuz-6.1.0-56-amd64"]),
                host_only: false,
                vm_only: true,
                only: strings(&["tests/xdp"]),
                jobs: 3,
                test_args: strings(&["--exact", "--kernel"]),
            }
        );
        assert!(Options::parse(&strings(&["--help"])).unwrap().is_none());
        assert!(Options::parse(&strings(&["--host-only", "--vm-only"])).is_err());
        assert!(Options::parse(&strings(&["--kernel"])).is_err());
        assert!(Options::parse(&strings(&["--only"])).is_err());
        assert!(Options::parse(&strings(&["--jobs", "0"])).is_err());
        assert!(Options::parse(&strings(&["--jobs", "two"])).is_err());
        assert!(Options::parse(&strings(&["foo"])).is_err());
    }

    #[test]
    fn kernels_start_host_first_then_oldest_and_report_in_their_order() {
        let kernel = |release: &str, image: bool| Kernel {
            image: image.then(|| PathBuf::from(format!("/boot/vmlinuz-{release}"))),
            release: release.to_string(),
            dir_name: release.to_string(),
        };
        let kernels = [
            kernel("6.18.0", false),
            kernel("6.12.118+deb12-amd64", true),
            kernel("6.1.0-57-amd64", true),
            kernel("5.10.0-30-amd64", true),
        ];
        for jobs in [1, 2, 9] {
            let started = Mutex::new(Vec::new());
            let reports = test_kernels(&kernels, jobs, |k| {
                started.lock().unwrap().push(k.release.clone());
                (k.release.clone(), Report::Infrastructure(String::new()))
            });
            let titles: Vec<&str> = reports.iter().map(|(t, _)| t.as_str()).collect();
            let releases: Vec<&str> = kernels.iter().map(|k| k.release.as_str()).collect();
            assert_eq!(titles, releases, "jobs {jobs}");
            if jobs == 1 {
                let started = started.into_inner().unwrap();
                assert_eq!(
                    started,
                    [
                        "6.18.0",
                        "5.10.0-30-amd64",
                        "6.1.0-57-amd64",
                        "6.12.118+deb12-amd64"
                    ]
                );
            }
        }
    }

    #[test]
    fn quotes_for_sh() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
