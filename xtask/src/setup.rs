//! Set-up: what the tasks need from the machine, installed when it is missing.
//!
//! Each task lists its [`Need`]s (a program in `PATH`, a header, a kernel
//! image of a series, a mounted filesystem) and calls [`ensure`]. Nothing
//! missing: nothing happens. Something missing and we are root on Debian:
//! it is installed — apt packages (from bookworm, or from another Debian
//! suite added to apt's sources with a low pin priority and installed from
//! with `-t SUITE`, so that nothing else is upgraded), virtme-ng from PyPI,
//! mounts — each step printed before it runs. Not root: one error naming the
//! command that installs it all (`sudo .../xtask setup`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::kernels::{self, Series};
use crate::{cmd, Result};

/// The virtme-ng release the VM tests are written against (its options
/// and its guest's layout).
const VIRTME_NG: &str = "virtme-ng==1.42";
/// apt's pin priority for the suites we add: below the default 500, so a
/// package comes from them only when asked for with `-t SUITE`.
const PIN_PRIORITY: u32 = 100;
/// Seconds apt waits for another apt or dpkg to release its lock.
const APT_LOCK_TIMEOUT: &str = "600";

/// How to tell whether something is there.
#[derive(Debug)]
enum Check {
    /// One of these programs is in `PATH`.
    Program(&'static [&'static str]),
    /// This file exists.
    File(&'static str),
    /// `/boot/vmlinuz-<series>.*` exists.
    Kernel(&'static str),
    /// A filesystem of this type is mounted on this directory.
    Mount(&'static str, &'static str),
}

/// Where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A Debian package, from bookworm or from the named suite.
    Apt {
        package: &'static str,
        suite: Option<&'static str>,
    },
    /// A package from PyPI (`name==version`).
    Pip(&'static str),
    /// `mount -t TYPE TYPE DIR`.
    Mount,
}

/// One thing a task needs from the machine.
#[derive(Debug)]
pub struct Need {
    /// What it is, for messages: `clang-19`, `/boot/vmlinuz-5.10.*`.
    what: String,
    check: Check,
    source: Source,
}

impl Need {
    fn program(names: &'static [&'static str], package: &'static str) -> Need {
        Need {
            what: names[0].to_string(),
            check: Check::Program(names),
            source: Source::Apt {
                package,
                suite: None,
            },
        }
    }

    fn present(&self) -> bool {
        match self.check {
            Check::Program(names) => find_in_path(names).is_some(),
            Check::File(path) => Path::new(path).is_file(),
            Check::Kernel(series) => {
                kernels::newest_image(Path::new(kernels::BOOT_DIR), series).is_some()
            }
            Check::Mount(fstype, dir) => is_mounted(fstype, dir),
        }
    }

    /// What installs it, for messages.
    fn remedy(&self) -> String {
        match (&self.source, &self.check) {
            (Source::Apt { package, suite }, _) => match suite {
                Some(suite) => format!("apt package {package} from {suite}"),
                None => format!("apt package {package}"),
            },
            (Source::Pip(package), _) => format!("PyPI package {package}"),
            (Source::Mount, Check::Mount(fstype, dir)) => {
                format!("mount -t {fstype} {fstype} {dir}")
            }
            (Source::Mount, _) => "a mount".to_string(),
        }
    }
}

/// clang, llvm-strip and libbpf's headers: building `bpf-progs/`.
pub fn bpf_toolchain() -> Vec<Need> {
    vec![
        Need::program(&["clang-19"], "clang-19"),
        Need::program(&["llvm-strip-19"], "llvm-19"),
        Need {
            what: "/usr/include/bpf/bpf_helpers.h".into(),
            check: Check::File("/usr/include/bpf/bpf_helpers.h"),
            source: Source::Apt {
                package: "libbpf-dev",
                suite: None,
            },
        },
    ]
}

/// Where systemtap-sdt-dev puts `<sys/sdt.h>` on x86-64 Debian.
const SDT_H: &str = "/usr/include/x86_64-linux-gnu/sys/sdt.h";

/// What the tests use on the running kernel: the toolchain (a vmlinux.h
/// compile), bpftool, strace, iproute2, `<sys/sdt.h>`, and tracefs and bpffs
/// mounted.
pub fn host_tests() -> Vec<Need> {
    let mut needs = bpf_toolchain();
    needs.push(Need::program(&["bpftool"], "bpftool"));
    needs.push(Need::program(&["strace"], "strace"));
    // Network namespaces and veth pairs (XDP, TC, sockets tests).
    needs.push(Need::program(&["ip"], "iproute2"));
    // The C programs tests build: `<sys/sdt.h>` for USDT probes (tests/usdt.rs).
    needs.push(Need {
        what: SDT_H.into(),
        check: Check::File(SDT_H),
        source: Source::Apt {
            package: "systemtap-sdt-dev",
            suite: None,
        },
    });
    for (fstype, dir) in [("tracefs", "/sys/kernel/tracing"), ("bpf", "/sys/fs/bpf")] {
        needs.push(Need {
            what: format!("{fstype} on {dir}"),
            check: Check::Mount(fstype, dir),
            source: Source::Mount,
        });
    }
    needs
}

/// QEMU, busybox (virtme-ng builds the guest's initramfs with it), `file`
/// and virtme-ng.
pub fn vm_tools() -> Vec<Need> {
    vec![
        Need::program(&["qemu-system-x86_64"], "qemu-system-x86"),
        Need::program(
            &["busybox", "busybox-static", "busybox.static"],
            "busybox-static",
        ),
        // virtme-ng runs `file` on busybox and on the kernel image.
        Need::program(&["file"], "file"),
        Need {
            what: "vng".into(),
            check: Check::Program(&["vng"]),
            source: Source::Pip(VIRTME_NG),
        },
    ]
}

/// A kernel image of `series` in /boot.
pub fn kernel(series: &Series) -> Need {
    Need {
        what: format!(
            "{}/vmlinuz-{}.* ({})",
            kernels::BOOT_DIR,
            series.series,
            series.about
        ),
        check: Check::Kernel(series.series),
        source: Source::Apt {
            package: series.package,
            suite: series.suite,
        },
    }
}

/// Everything `cargo xtask test` needs: host tests, VM tools, the kernels.
pub fn everything() -> Vec<Need> {
    let mut needs = host_tests();
    needs.extend(vm_tools());
    needs.extend(kernels::VM_KERNELS.iter().map(kernel));
    needs
}

/// `cargo xtask setup`: installs everything `cargo xtask test` needs.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        return Err(format!(
            "setup: unexpected argument `{arg}` (it takes none)"
        ));
    }
    ensure(&everything())?;
    println!("setup: everything `cargo xtask test` needs is here");
    Ok(())
}

/// Installs whatever of `needs` is missing (see the module doc).
pub fn ensure(needs: &[Need]) -> Result<()> {
    let missing: Vec<&Need> = needs.iter().filter(|need| !need.present()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = |needs: &[&Need]| {
        needs
            .iter()
            .map(|need| format!("{} ({})", need.what, need.remedy()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !is_root() {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "target/debug/xtask".into());
        return Err(format!(
            "missing: {}. Installing needs root: run `sudo {exe} setup`, then this command again",
            list(&missing)
        ));
    }
    println!(
        "\n==> setup: installing what is missing: {}",
        list(&missing)
    );
    install(&missing)?;
    let still: Vec<&Need> = missing.into_iter().filter(|need| !need.present()).collect();
    if !still.is_empty() {
        return Err(format!("still missing after the set-up: {}", list(&still)));
    }
    println!("==> setup: done");
    Ok(())
}

fn install(missing: &[&Need]) -> Result<()> {
    let mut apt: Vec<(&str, Option<&str>)> = Vec::new();
    let mut pip = Vec::new();
    for need in missing {
        match need.source {
            Source::Apt { package, suite } => {
                if !apt.contains(&(package, suite)) {
                    apt.push((package, suite));
                }
            }
            Source::Pip(package) => pip.push(package),
            Source::Mount => {}
        }
    }
    if !pip.is_empty() && !python_has_pip() {
        apt.push(("python3-pip", None));
    }
    if !apt.is_empty() {
        install_apt(&apt)?;
    }
    for package in pip {
        install_pip(package)?;
    }
    for need in missing {
        if let (Source::Mount, Check::Mount(fstype, dir)) = (need.source, &need.check) {
            // Checked again: the installs above took minutes, and another
            // process (a test that mounts what it needs) may have mounted it.
            if is_mounted(fstype, dir) {
                continue;
            }
            let mut mount = Command::new("mount");
            mount.args(["-t", fstype, fstype, dir]);
            show_and_run(&mut mount)?;
        }
    }
    Ok(())
}

/// `apt-get update` (again after adding a suite: the mirror comes from the
/// package lists), then one `apt-get install` for bookworm's packages and one
/// `-t SUITE` install per other suite.
fn install_apt(packages: &[(&str, Option<&str>)]) -> Result<()> {
    if find_in_path(&["apt-get"]).is_none() {
        let names: Vec<&str> = packages.iter().map(|(p, _)| *p).collect();
        return Err(format!(
            "apt-get not found: this set-up knows Debian bookworm only; install {} by hand",
            names.join(", ")
        ));
    }
    let mut suites: Vec<&str> = packages.iter().filter_map(|(_, s)| *s).collect();
    suites.dedup();
    show_and_run(&mut apt_get(&["update", "-q"]))?;
    let mut added = false;
    for suite in &suites {
        added |= add_suite(suite)?;
    }
    if added {
        show_and_run(&mut apt_get(&["update", "-q"]))?;
    }
    let bookworm: Vec<&str> = packages
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| *p)
        .collect();
    if !bookworm.is_empty() {
        let mut install = apt_get(&["install", "-y", "-q", "--no-install-recommends"]);
        show_and_run(install.args(&bookworm))?;
    }
    for suite in suites {
        let from: Vec<&str> = packages
            .iter()
            .filter(|(_, s)| *s == Some(suite))
            .map(|(p, _)| *p)
            .collect();
        let mut install = apt_get(&[
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "-t",
            suite,
        ]);
        show_and_run(install.args(&from))?;
    }
    Ok(())
}

fn apt_get(args: &[&str]) -> Command {
    let mut apt = Command::new("apt-get");
    apt.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-o", &format!("DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}")])
        .args(args);
    apt
}

/// Adds Debian's `suite` to apt's sources, from the mirror bookworm comes
/// from, pinned low (see [`PIN_PRIORITY`]); nothing when apt knows it
/// already. Whether it added it.
fn add_suite(suite: &str) -> Result<bool> {
    let list = PathBuf::from(format!("/etc/apt/sources.list.d/corebpf-{suite}.sources"));
    let policy = cmd::stdout_of(Command::new("apt-cache").arg("policy")).unwrap_or_default();
    if list.exists() || mirror_of(&policy, suite).is_some() {
        return Ok(false);
    }
    let mirror = mirror_of(&policy, "bookworm").ok_or_else(|| {
        format!(
            "cannot add Debian's {suite} suite: apt has no source for bookworm to take the \
             mirror from (`apt-cache policy` lists none)"
        )
    })?;
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    let signed_by = if keyring.is_file() {
        format!("Signed-By: {}\n", keyring.display())
    } else {
        String::new()
    };
    let sources = format!(
        "# Added by `cargo xtask setup` (corebpf): kernels for the VM tests.\n\
         Types: deb\nURIs: {mirror}\nSuites: {suite}\nComponents: main\n{signed_by}"
    );
    let pin = PathBuf::from(format!("/etc/apt/preferences.d/corebpf-{suite}"));
    let preferences = format!(
        "# Added by `cargo xtask setup` (corebpf): only what is installed with -t {suite}\n\
         Package: *\nPin: release n={suite}\nPin-Priority: {PIN_PRIORITY}\n"
    );
    println!(
        "setup: adding Debian's {suite} suite to apt: {} ({mirror}), pinned at priority \
         {PIN_PRIORITY} in {}",
        list.display(),
        pin.display()
    );
    write_file(&pin, &preferences)?;
    write_file(&list, &sources)?;
    Ok(true)
}

/// The mirror (URI) apt has Debian's `suite` from, in `apt-cache policy`'s
/// list of sources (" 500 URI SUITE/main amd64 Packages").
fn mirror_of(policy: &str, suite: &str) -> Option<String> {
    policy.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let (_priority, uri, dist) = (words.next()?, words.next()?, words.next()?);
        let main = format!("{suite}/main");
        (dist == main && uri.contains("://")).then(|| uri.to_string())
    })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::File::create(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn python_has_pip() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `python3 -m pip install PACKAGE`; Debian's own Python refuses that
/// without PIP_BREAK_SYSTEM_PACKAGES (PEP 668), which other pips ignore.
fn install_pip(package: &str) -> Result<()> {
    let mut pip = Command::new("python3");
    pip.env("PIP_BREAK_SYSTEM_PACKAGES", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .args(["-m", "pip", "install", "--quiet", package]);
    show_and_run(&mut pip)?;
    // pyenv's shims appear only after a rehash.
    if find_in_path(&["pyenv"]).is_some() {
        let _ = Command::new("pyenv").arg("rehash").status();
    }
    Ok(())
}

fn show_and_run(command: &mut Command) -> Result<()> {
    println!("  $ {}", cmd::display(command));
    let _ = std::io::stdout().flush();
    cmd::run(command.stdin(Stdio::null()))
}

/// The first of `names` found in `PATH`.
pub fn find_in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Whether a filesystem of `fstype` is mounted on `dir`.
fn is_mounted(fstype: &str, dir: &str) -> bool {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().any(|line| {
        let mut fields = line.split_whitespace().skip(1);
        fields.next() == Some(dir) && fields.next() == Some(fstype)
    })
}

/// Whether we run as root: the effective uid, the second number of `Uid:`
/// in /proc/self/status (std has no geteuid, and xtask has no dependencies).
pub fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_suites_mirror_in_apt_policy() {
        let policy = "Package files:
 100 /var/lib/dpkg/status
     release a=now
 500 http://mirror.example/debian-security bookworm-security/main amd64 Packages
     release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
 500 http://mirror.example/debian bookworm/main amd64 Packages
     release v=12.11,o=Debian,a=oldstable,n=bookworm,l=Debian,c=main,b=amd64
Pinned packages:
";
        assert_eq!(
            mirror_of(policy, "bookworm").as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(mirror_of(policy, "bullseye"), None);
    }

    #[test]
    fn names_what_installs_each_need() {
        let kernel = kernel(&kernels::VM_KERNELS[2]);
        assert!(
            kernel.what.starts_with("/boot/vmlinuz-5.10.*"),
            "{}",
            kernel.what
        );
        assert_eq!(
            kernel.remedy(),
            "apt package linux-image-5.10.0-30-amd64 from bullseye"
        );
        let vng = vm_tools().pop().unwrap();
        assert_eq!(vng.remedy(), "PyPI package virtme-ng==1.42");
        let mount = host_tests().pop().unwrap();
        assert_eq!(mount.remedy(), "mount -t bpf bpf /sys/fs/bpf");
    }
}
