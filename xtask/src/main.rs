//! Build and CI tasks of corebpf, run as `cargo xtask <command>`.
//!
//! The `xtask` alias lives in `.cargo/config.toml`; it builds only this
//! package, so the tasks keep working while the main crate does not compile.
//! The binary uses the standard library only.

mod bad_inputs;
mod bench;
mod cmd;
mod elf;
mod fixtures;
mod fuzz;
mod kernels;
mod progs;
mod setup;
mod skel;
mod test;
mod vmtest;

use std::path::PathBuf;
use std::process::ExitCode;

/// Errors are messages for the person at the terminal; every one says what
/// failed and, where it can, what to do about it.
pub type Result<T, E = String> = std::result::Result<T, E>;

const HELP: &str = "\
cargo xtask — build and CI tasks of corebpf

USAGE:
    cargo xtask <COMMAND> [OPTIONS]

COMMANDS:
    setup
        Install what `test` needs and is missing, saying what (root, Debian
        bookworm): apt packages clang-19 llvm-19 libbpf-dev bpftool strace
        iproute2 systemtap-sdt-dev qemu-system-x86 busybox-static file, the kernels of the matrix
        (linux-image-6.12-amd64 and linux-image-amd64 from bookworm,
        linux-image-5.10.0-30-amd64 from bullseye, a suite it adds to
        /etc/apt/sources.list.d with pin priority 100 in
        /etc/apt/preferences.d and installs from with `-t bullseye`, so
        nothing else comes from it), virtme-ng from PyPI, and tracefs and
        bpffs mounts. `test`, `vmtest`, `build-progs` and `check-progs` do
        this themselves for what they need; without root, they stop with a
        message naming this command instead.

    build-progs [-v] [NAME...]
        Compile bpf-progs/*.bpf.c (or only the named ones, e.g. `hello`) into
        the committed bpf-progs/*.bpf.o with the pinned clang. The objects are
        byte-for-byte reproducible: same sources and compiler, same bytes, at
        any checkout path. -v prints the full clang and llvm-strip commands.

    check-progs [-v]
        Rebuild every object into a temporary directory and fail, naming
        them, if any committed bpf-progs/*.bpf.o differs from what its source
        builds to (or is missing, or has no source).

    btf-fixtures [--vmlinuz PATH]
        Extract the BTF of a distribution kernel (default: the newest
        /boot/vmlinuz-6.1.*, Debian's linux-image-6.1.0-*-amd64) into
        btf-fixtures/vmlinux-RELEASE.btf: the bzImage payload is found by
        its compression magic, piped through the system decompressor (xz,
        gzip, zstd, lz4, lzma, bzip2 or lzop) and the .BTF section of the
        resulting vmlinux ELF is written unchanged (same image, same bytes).

    test [TEST-ARGS...]
        What CI runs, in order (each step is printed before it runs; all
        run even if one fails, and the exit status is non-zero if any did):
            the set-up (as `setup`)
            cargo xtask vmtest [-- TEST-ARGS...]   (every kernel)
            cargo test --workspace --doc --profile ci
            cargo clippy --workspace --all-targets -- -D warnings
            cargo fmt --all -- --check
            RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps
        It ends with a summary of the steps and vmtest's line per kernel.
        The kernel tests need root. XTASK_NO_VM=1 runs the tests on the
        running kernel only.

    vmtest [--kernel PATH]... [--host-only|--vm-only] [--only NAME]... [--jobs N]
           [-- TEST-ARGS...]
        Build the test binaries once (cargo test --workspace --all-targets
        --profile ci --no-run: optimized, line tables only) and run them as
        root, one binary and one test at a time (--test-threads=1 --nocapture
        TEST-ARGS), on several kernels: by default the running one, directly,
        then the newest installed /boot/vmlinuz-6.12.*, -6.1.* and -5.10.*
        (Debian's, see `setup`), each booted under QEMU by virtme-ng with
        lsm=lockdown,capability,bpf. Guests leave out the packages whose
        tests never touch the kernel (derive, fuzz, xtask, benches, the CLI's
        argument parsing) and a few slow kernel-independent tests.
        --kernel (repeatable: an image, or `host`) replaces the defaults;
        --host-only / --vm-only keep only those; --only (repeatable) keeps the
        binaries whose name (e.g. tests/xdp.rs) contains NAME. Kernels are
        tested N at a time (default 1: two TCG guests on 2 cores slowed each
        other's tests 1.5-3.5 times), the running one first, then the guests
        oldest first. A test that
        prints a line `SKIP: <reason>` counts as skipped. Prints `kernel R: N
        passed, M failed, K skipped` per kernel with its boot and test times,
        failures and skips, then `vmtest: N passed, M failed, K skipped`. A
        guest that does not start the tests in time, or whose kernel panics,
        is retried once, then reported as INFRASTRUCTURE FAILURE, as is one
        that times out after starting them (not retried: it would likely do so
        again). Exit status: 1 if a test failed, else 3 after an
        infrastructure failure (2: bad usage). The script, outputs and consoles are kept in
        target/vmtest/KERNEL/.

    bench [--rounds N] [--warmup N] [--cases 1,2,..] [--quick] [--out FILE]
        Benchmark corebpf against libbpf 1.7 (libbpf-sys, vendored; needs
        libelf-dev, zlib1g-dev, pkg-config) and aya: builds the benches/
        package in release mode with its `peers` feature and the corebpf CLI,
        runs the cases with all systems interleaved in rounds (default
        21 after 3 warm-up rounds), and writes BENCHMARKS.md (or FILE): each
        system's median and spread, the ratios corebpf/libbpf and corebpf/aya
        against the targets, the machine and this command. Needs root, the
        kernel's BTF, bpffs at /sys/fs/bpf and bpftool. Not part of `test`.

    fuzz [--smoke | --time SECS] [--jobs N] [TARGET...] [-- LIBFUZZER-ARGS...]
        Coverage-guided fuzzing of the fuzz/ crate's targets (all, or the
        named ones) with libFuzzer, on the stable toolchain: builds the
        driver with SanitizerCoverage (profile `fuzz`: optimized, debug
        assertions and overflow checks on) under TARGET_DIR/fuzz-instrumented,
        writes each target's seeds (from bpf-progs/, the testdata and
        btf-fixtures/) to TARGET_DIR/fuzzing/seeds/NAME, then runs each
        target for SECS seconds (default 60), N at a time (default: one per
        CPU; each is one process on one core), on the kept corpus
        TARGET_DIR/fuzzing/corpus/NAME. --smoke instead runs a fixed 20,000
        inputs per target from libFuzzer's seed 1 on the seeds alone (a
        fresh corpus each time): bounded by work, not by the clock, which is
        what CI wants. Prints each target's
        executions, coverage (cov: edges, ft: features) and corpus size;
        fails naming the targets that crashed (inputs in
        TARGET_DIR/fuzzing/artifacts/NAME/; replay one with
        `corebpf-fuzz run NAME FILE`). Not part of `test`.

    bad-inputs [--check]
        Regenerate tests/bad-inputs/ (the hostile-input corpus that
        tests/bad_inputs.rs feeds to the library) by byte-patching committed
        objects of bpf-progs/; --check instead fails if the committed files
        differ from what it would write. Not part of `test`.

    skel [--check]
        Regenerate the committed skeletons of examples/skel/ (hello,
        hello_buffer_config, perf_events, and the layouts fixture) from their
        objects with corebpf's generator (`corebpf::skel::generate`, run
        through the skel_gen example); --check instead fails, naming them, if
        a committed skeleton differs from what it would write. Not part of
        `test` (tests/skel.rs compiles and drives the committed ones).

    help
        Print this message.

ENVIRONMENT:
    CLANG        the C compiler for BPF (default: clang-19); its major
                 version must be 19, the one the committed objects come from
    LLVM_STRIP   the strip tool (default: llvm-strip-19), also LLVM 19
    XTASK_ALLOW_ANY_LLVM=1
                 accept another LLVM major version, with a warning (the
                 objects will then differ from the committed ones)
    VMTEST_TIMEOUT=3600
                 vmtest: seconds for one run on one kernel, boot included
    VMTEST_BOOT_TIMEOUT=300
                 vmtest: seconds until the guest starts the tests
    VMTEST_BINARY_TIMEOUT=900
                 vmtest: seconds for one test binary (it is then killed)
    VMTEST_MEMORY=2G
                 vmtest: guest memory
    VMTEST_KVM=1 vmtest: let QEMU use KVM (default: --disable-kvm, TCG)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{HELP}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "build-progs" => progs::build_progs(rest),
        "check-progs" => progs::check_progs(rest),
        "btf-fixtures" => fixtures::run(rest),
        "setup" => setup::run(rest),
        "test" => test::run(rest),
        "vmtest" => return vmtest::main(rest),
        "bench" => bench::run(rest),
        "fuzz" => fuzz::run(rest),
        "bad-inputs" => bad_inputs::run(rest),
        "skel" => skel::run(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!(
            "unknown command `{other}`; run `cargo xtask help` for the list"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the directory holding the root `Cargo.toml`).
///
/// `cargo run` sets `CARGO_MANIFEST_DIR` to this package's directory at run
/// time; the compile-time value is the fallback when the binary is run
/// directly. Neither depends on the current directory.
pub fn workspace_root() -> PathBuf {
    let xtask_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    match xtask_dir.parent() {
        Some(root) => root.to_path_buf(),
        None => xtask_dir,
    }
}
