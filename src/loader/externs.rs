//! Extern resolution against the running kernel: where `__kconfig` and `__ksym` values
//! come from, and the module BTF descriptors the patched instructions need.
//!
//! The rules live in the pure [`crate::reloc::externs`]; this module answers its
//! [`ExternEnv`] questions from the running kernel, each at most once and only when an
//! extern asks:
//!
//! - the configuration from `/proc/config.gz` (gzip, decoded by `miniz_oxide`), else
//!   `/boot/config-$(uname -r)` (plain or gzip); libbpf reads them in the other order,
//!   but `/proc/config.gz` describes the kernel that is running, a file in `/boot` only
//!   the one that was installed under that name;
//! - `LINUX_KERNEL_VERSION` as libbpf's `get_kernel_version` computes it (Ubuntu's
//!   `/proc/version_signature`, Debian's version string, then the release);
//! - `LINUX_HAS_BPF_COOKIE` and `LINUX_HAS_SYSCALL_WRAPPER` from the loader's cached
//!   feature probes ([`crate::features`]; the latter looks for `__<arch>_sys_bpf` in the
//!   kernel's BTF or kallsyms, where libbpf creates a kprobe on it, so libbpf says 0 on
//!   kernels without kprobes although the wrappers exist);
//! - `/proc/kallsyms` for untyped ksyms;
//! - vmlinux and module BTF from [`crate::btf::kernel`] for typed ksyms and kfuncs.
//!
//! [`Externs::resolve`] runs the resolution and opens the BTF objects of the modules
//! the result refers to (by id, matched by name, as libbpf's `load_module_btfs`);
//! [`Externs::patch`] then rewrites one program's instructions and
//! [`Externs::fd_array`] gives the descriptors its `BPF_PROG_LOAD` passes.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::btf::Btf;
use crate::insn::Insn;
use crate::object::ObjectSpec;
use crate::reloc::externs::{
    apply_patches, poisoned_kfunc_in_log, resolve, ExternEnv, ExternError, Kallsyms, KconfigData,
    KernelConfig, Resolution,
};
use crate::sys;
use crate::util::Chain;

use crate::features::{kernel_features, Feature, FeatureSet};

/// The running kernel's configuration, gzip-compressed, when `CONFIG_IKCONFIG_PROC=y`.
pub const PROC_CONFIG_GZ: &str = "/proc/config.gz";
/// The kernel's symbol table.
pub const PROC_KALLSYMS: &str = "/proc/kallsyms";
/// Largest configuration we decompress (real ones are a few hundred kilobytes).
const MAX_CONFIG_SIZE: usize = 64 << 20;

fn read_err(path: &Path, reason: impl ToString) -> ExternError {
    ExternError::Read {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl KernelConfig {
    /// Reads and parses a configuration file, plain text or gzip (told apart by magic).
    pub fn from_file(path: impl AsRef<Path>) -> Result<KernelConfig, ExternError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|e| read_err(path, e))?;
        let data = if crate::gzip::is_gzip(&data) {
            crate::gzip::gunzip(&data, MAX_CONFIG_SIZE).map_err(|e| read_err(path, e))?
        } else {
            data
        };
        let text = String::from_utf8(data).map_err(|_| read_err(path, "not UTF-8 text"))?;
        KernelConfig::parse(&text)
    }

    /// The running kernel's configuration: `/proc/config.gz`, else
    /// `/boot/config-$(uname -r)`. `Ok(None)` when neither exists; an error when one
    /// exists but cannot be read or parsed.
    pub fn from_running_kernel() -> Result<Option<KernelConfig>, ExternError> {
        let mut paths = vec![PROC_CONFIG_GZ.to_string()];
        if let Ok(release) = crate::btf::kernel::kernel_release() {
            paths.push(format!("/boot/config-{release}"));
        }
        for p in &paths {
            match KernelConfig::from_file(p) {
                Ok(c) => {
                    log::debug!("kernel configuration: {p} ({} entries)", c.len());
                    return Ok(Some(c));
                }
                Err(ExternError::Read { .. }) if !Path::new(p).exists() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

impl Kallsyms {
    /// Reads and parses `/proc/kallsyms`.
    pub fn from_proc() -> Result<Kallsyms, ExternError> {
        let path = Path::new(PROC_KALLSYMS);
        let text = std::fs::read_to_string(path).map_err(|e| read_err(path, e))?;
        Kallsyms::parse(&text)
    }
}

/// `KERNEL_VERSION(a, b, c)` as libbpf computes it: the patch level saturates at 255.
pub fn kernel_version(major: u32, minor: u32, patch: u32) -> u32 {
    (major << 16) + (minor << 8) + patch.min(255)
}

/// Three dot-separated decimal numbers at the start of `s` (after blanks), like
/// `sscanf(s, "%u.%u.%u")`; what follows the third is ignored.
fn scan_version(s: &str) -> Option<(u32, u32, u32)> {
    let s = s.trim_start();
    let mut nums = [0u32; 3];
    let mut rest = s;
    for (i, n) in nums.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('.')?;
        }
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        *n = rest[..end].parse().ok()?;
        rest = &rest[end..];
    }
    Some((nums[0], nums[1], nums[2]))
}

/// libbpf's `get_kernel_version` from its inputs: Ubuntu's `/proc/version_signature`
/// (`Ubuntu 5.4.0-42.46-generic 5.4.44`: the third field), else the Debian version in
/// `uname -v` (`... Debian 4.19.260-1 ...`), else `uname -r`. `None` when nothing parses.
pub fn kernel_version_code(
    version_signature: Option<&str>,
    release: &str,
    version: &str,
) -> Option<u32> {
    let code = |(a, b, c)| kernel_version(a, b, c);
    if let Some(sig) = version_signature {
        if let Some(v) = sig.split_whitespace().nth(2).and_then(scan_version) {
            return Some(code(v));
        }
    }
    if let Some(pos) = version.find("Debian ") {
        if let Some(v) = scan_version(&version[pos + "Debian ".len()..]) {
            return Some(code(v));
        }
    }
    scan_version(release).map(code)
}

/// `LINUX_KERNEL_VERSION` of the running kernel.
pub fn running_kernel_version() -> Result<u32, String> {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string());
    let signature = read("/proc/version_signature").ok();
    let release = read("/proc/sys/kernel/osrelease")
        .map_err(|e| format!("reading /proc/sys/kernel/osrelease: {e}"))?;
    let version = read("/proc/sys/kernel/version").unwrap_or_default();
    kernel_version_code(signature.as_deref(), &release, &version)
        .ok_or_else(|| format!("cannot parse a version from release '{release}'"))
}

/// Module BTFs by module name.
type ModuleList = Vec<(String, Arc<Btf>)>;

/// [`ExternEnv`] of the running kernel; everything is loaded on first use and kept.
#[derive(Default)]
pub struct KernelEnv {
    features: Option<FeatureSet>,
    config: OnceLock<Result<Option<KernelConfig>, String>>,
    version: OnceLock<Result<u32, String>>,
    kallsyms: OnceLock<Result<Kallsyms, String>>,
    vmlinux: OnceLock<Result<Arc<Btf>, String>>,
    modules: OnceLock<Result<ModuleList, String>>,
}

impl std::fmt::Debug for KernelEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelEnv")
            .field("config_loaded", &self.config.get().is_some())
            .field("kallsyms_loaded", &self.kallsyms.get().is_some())
            .field("vmlinux_loaded", &self.vmlinux.get().is_some())
            .finish_non_exhaustive()
    }
}

impl KernelEnv {
    /// An environment that has read nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `LINUX_HAS_BPF_COOKIE` and `LINUX_HAS_SYSCALL_WRAPPER` from `features`
    /// (the [`Loader::features`](super::Loader::features) override) instead of probing.
    pub fn with_features(mut self, features: FeatureSet) -> Self {
        self.features = Some(features);
        self
    }

    fn feature(&self, f: Feature) -> bool {
        match &self.features {
            Some(set) => set.get(f),
            None => kernel_features().supports(f),
        }
    }
}

impl ExternEnv for KernelEnv {
    fn kernel_config(&self) -> Result<Option<&KernelConfig>, String> {
        self.config
            .get_or_init(|| KernelConfig::from_running_kernel().map_err(|e| Chain(&e).to_string()))
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    fn kernel_version(&self) -> Result<u32, String> {
        self.version.get_or_init(running_kernel_version).clone()
    }

    fn has_bpf_cookie(&self) -> bool {
        self.feature(Feature::BpfCookie)
    }

    fn has_syscall_wrapper(&self) -> bool {
        self.feature(Feature::SyscallWrapper)
    }

    fn kallsyms(&self) -> Result<&Kallsyms, String> {
        self.kallsyms
            .get_or_init(|| Kallsyms::from_proc().map_err(|e| Chain(&e).to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn vmlinux_btf(&self) -> Result<&Btf, String> {
        self.vmlinux
            .get_or_init(|| crate::btf::kernel::vmlinux_btf().map_err(|e| Chain(&e).to_string()))
            .as_ref()
            .map(|b| &**b)
            .map_err(Clone::clone)
    }

    fn module_btfs(&self) -> Result<&[(String, Arc<Btf>)], String> {
        self.modules
            .get_or_init(|| {
                let mods = crate::btf::kernel::module_btfs().map_err(|e| Chain(&e).to_string())?;
                Ok(mods.parsed().map(|(n, b)| (n.to_string(), b)).collect())
            })
            .as_ref()
            .map(Vec::as_slice)
            .map_err(Clone::clone)
    }
}

/// BTF object descriptors of kernel modules, in the order of [`Resolution::modules`].
#[derive(Debug, Default)]
pub struct ModuleFds {
    fds: Vec<OwnedFd>,
}

impl ModuleFds {
    /// Opens the BTF objects of the modules `names` (walking the kernel's BTF ids and
    /// matching kernel BTF by name, as libbpf's `load_module_btfs`).
    pub fn open(names: &[String]) -> Result<ModuleFds, ExternError> {
        if names.is_empty() {
            return Ok(ModuleFds::default());
        }
        let err = |module: &str, reason: String| ExternError::ModuleBtf {
            module: module.to_string(),
            reason,
        };
        let mut found: HashMap<&str, OwnedFd> = HashMap::new();
        let mut id = 0;
        while found.len() < names.len() {
            let next = sys::bpf::btf_get_next_id(id)
                .map_err(|e| err(&names[0], format!("listing BTF objects: {}", Chain(&e))))?;
            let Some(next) = next else { break };
            id = next;
            let fd = match sys::bpf::btf_get_fd_by_id(id) {
                Ok(fd) => fd,
                // Unloaded between the two calls.
                Err(e) if e.errno() == libc::ENOENT => continue,
                Err(e) => {
                    return Err(err(
                        &names[0],
                        format!("opening BTF object {id}: {}", Chain(&e)),
                    ))
                }
            };
            let info = sys::bpf::btf_info(fd.as_fd())
                .map_err(|e| err(&names[0], format!("BTF object {id}: {}", Chain(&e))))?;
            if !info.kernel_btf || info.name == "vmlinux" {
                continue;
            }
            if let Some(n) = names.iter().find(|n| **n == info.name) {
                found.entry(n.as_str()).or_insert(fd);
            }
        }
        let mut fds = Vec::with_capacity(names.len());
        for n in names {
            let fd = found
                .remove(n.as_str())
                .ok_or_else(|| err(n, "the kernel has no BTF object of that name".into()))?;
            fds.push(fd);
        }
        Ok(ModuleFds { fds })
    }

    /// The raw descriptors, for instruction immediates.
    pub fn raw(&self) -> Vec<RawFd> {
        self.fds.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// The `fd_array` for kfunc calls into modules: module `i` at index `i + 1`; index 0
    /// (which a kfunc `off` never names: 0 means vmlinux) repeats the first descriptor.
    pub fn fd_array(&self) -> Vec<BorrowedFd<'_>> {
        let mut v: Vec<BorrowedFd<'_>> = Vec::with_capacity(self.fds.len() + 1);
        if let Some(first) = self.fds.first() {
            v.push(first.as_fd());
        }
        v.extend(self.fds.iter().map(|f| f.as_fd()));
        v
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }
}

/// An object's externs, resolved against the running kernel, with the module BTF
/// descriptors they need held open until the programs are loaded.
#[derive(Debug, Default)]
pub struct Externs {
    resolution: Resolution,
    modules: ModuleFds,
}

impl Externs {
    /// Resolves `spec`'s externs against the running kernel. `weak(name)` says whether
    /// an extern is `__weak`; `kconfig` is configuration text the user supplied, read
    /// before the kernel's own (and enough when it sets every `CONFIG_` extern);
    /// `features` overrides the kernel feature probes (`LINUX_HAS_*`).
    ///
    /// An object without externs costs nothing: no file is read and no call is made.
    pub fn resolve(
        spec: &ObjectSpec,
        weak: &dyn Fn(&str) -> bool,
        kconfig: Option<&str>,
        features: Option<&FeatureSet>,
    ) -> Result<Externs, ExternError> {
        let user = kconfig.map(KernelConfig::parse).transpose()?;
        let mut env = KernelEnv::new();
        if let Some(f) = features {
            env = env.with_features(*f);
        }
        Self::resolve_with(spec, weak, user.as_ref(), &env)
    }

    /// [`resolve`](Self::resolve) with an explicit environment and parsed configuration.
    pub fn resolve_with(
        spec: &ObjectSpec,
        weak: &dyn Fn(&str) -> bool,
        user_config: Option<&KernelConfig>,
        env: &dyn ExternEnv,
    ) -> Result<Externs, ExternError> {
        let resolution = resolve(spec, weak, user_config, env)?;
        let modules = ModuleFds::open(&resolution.modules)?;
        Ok(Externs {
            resolution,
            modules,
        })
    }

    /// What the externs resolved to.
    pub fn resolution(&self) -> &Resolution {
        &self.resolution
    }

    /// The `.kconfig` map's index in `spec.maps` and its initial value, if the object
    /// has one: write it into the map before freezing it.
    pub fn kconfig(&self) -> Option<&KconfigData> {
        self.resolution.kconfig.as_ref()
    }

    /// Rewrites the instructions of program `program` that refer to externs.
    /// `kconfig_map` is the created `.kconfig` map.
    pub fn patch(
        &self,
        program: &str,
        insns: &mut [Insn],
        kconfig_map: Option<BorrowedFd<'_>>,
    ) -> Result<(), ExternError> {
        let patches = self.resolution.patches(program);
        if patches.is_empty() {
            return Ok(());
        }
        apply_patches(
            program,
            patches,
            insns,
            kconfig_map.map(|f| f.as_raw_fd()),
            &self.modules.raw(),
        )
    }

    /// When a verifier `log` shows that it reached the poisoned call of an unresolved
    /// weak kfunc, the call's instruction and the kfunc's name: a better error than the
    /// verifier's `invalid func unknown#2002000004`.
    pub fn missing_kfunc(&self, log: &str) -> Option<(usize, &str)> {
        poisoned_kfunc_in_log(log, &self.resolution).map(|(insn, e)| (insn, e.name.as_str()))
    }

    /// The `fd_array` program `program` must be loaded with (`None` when it calls no
    /// module kfunc).
    pub fn fd_array(&self, program: &str) -> Option<Vec<BorrowedFd<'_>>> {
        self.resolution
            .needs_fd_array(program)
            .then(|| self.modules.fd_array())
    }
}

#[cfg(test)]
mod tests {
    //! The kernel-facing extern sources: version parsing (pure), then the running kernel's
    //! configuration, kallsyms, probes and module BTF descriptors (these need root and
    //! print `SKIP:` otherwise).

    use super::*;
    use crate::btf::Kind;
    use crate::reloc::externs::ExternValue;
    use std::process::Command;

    macro_rules! require_root {
        () => {
            if !nix::unistd::geteuid().is_root() {
                println!("SKIP: needs root");
                return;
            }
        };
    }

    fn testdata(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/reloc/testdata")
            .join(name)
    }

    #[test]
    fn version_codes_like_libbpf() {
        let v = kernel_version;
        assert_eq!(v(6, 18, 44), 0x06122c);
        assert_eq!(
            v(4, 19, 260),
            (4 << 16) + (19 << 8) + 255,
            "patch saturates at 255"
        );
        // Plain release.
        assert_eq!(
            kernel_version_code(None, "6.18.44-fc-v445", "#1 SMP PREEMPT_DYNAMIC @0"),
            Some(v(6, 18, 44))
        );
        // Debian: the real patch level is in the version string.
        assert_eq!(
            kernel_version_code(
                None,
                "4.19.0-22-amd64",
                "#1 SMP Debian 4.19.260-1 (2022-09-29)"
            ),
            Some(v(4, 19, 260))
        );
        assert_eq!(
            kernel_version_code(
                None,
                "6.1.0-56-amd64",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.153-1 (2025-09-20)"
            ),
            Some(v(6, 1, 153))
        );
        // Ubuntu: /proc/version_signature's third field wins over everything.
        assert_eq!(
            kernel_version_code(
                Some("Ubuntu 5.4.0-42.46-generic 5.4.44"),
                "5.4.0-42-generic",
                "#46-Ubuntu SMP Debian 9.9.9"
            ),
            Some(v(5, 4, 44))
        );
        // A broken signature falls back.
        assert_eq!(
            kernel_version_code(Some("garbage"), "5.10.1", ""),
            Some(v(5, 10, 1))
        );
        assert_eq!(kernel_version_code(None, "6.18-rc1", ""), None);
        assert_eq!(kernel_version_code(None, "", ""), None);
    }

    /// `zcat /proc/config.gz`, or `None` when there is none (the comparison is then skipped).
    fn zcat_config() -> Option<String> {
        let out = Command::new("zcat").arg(PROC_CONFIG_GZ).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).ok())?
    }

    #[test]
    fn running_kernel_config_matches_zcat() {
        let Some(text) = zcat_config() else {
            println!("SKIP: running_kernel_config_matches_zcat: no /proc/config.gz or zcat");
            return;
        };
        let ours = KernelConfig::from_running_kernel()
            .unwrap()
            .expect("a configuration");
        assert_eq!(ours, KernelConfig::parse(&text).unwrap());
        assert!(ours.value("CONFIG_BPF_SYSCALL").is_some());
    }

    #[test]
    fn config_files_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("config");
        std::fs::write(&plain, "CONFIG_A=y\n# CONFIG_B is not set\n").unwrap();
        let c = KernelConfig::from_file(&plain).unwrap();
        assert_eq!(c.value("CONFIG_A"), Some("y"));
        let status = Command::new("gzip").arg("-k").arg(&plain).status();
        if status.is_ok_and(|s| s.success()) {
            let gz = KernelConfig::from_file(dir.path().join("config.gz")).unwrap();
            assert_eq!(gz, c);
        }
        let bad = dir.path().join("bad.gz");
        std::fs::write(&bad, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff]).unwrap();
        assert!(matches!(
            KernelConfig::from_file(&bad),
            Err(ExternError::Read { .. })
        ));
        assert!(matches!(
            KernelConfig::from_file(dir.path().join("none")),
            Err(ExternError::Read { .. })
        ));
    }

    #[test]
    fn running_kernel_answers() {
        require_root!();
        let env = KernelEnv::new();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
        let mut n = || parts.next().unwrap().parse::<u32>().unwrap();
        let (a, b, c) = (n(), n(), n());
        if !Path::new("/proc/version_signature").exists()
            && !std::fs::read_to_string("/proc/sys/kernel/version")
                .unwrap()
                .contains("Debian ")
        {
            assert_eq!(env.kernel_version().unwrap(), kernel_version(a, b, c));
        }
        // bpf_get_attach_cookie exists since 5.15.
        if (a, b) >= (5, 15) {
            assert!(env.has_bpf_cookie());
        }
        let old = KernelEnv::new().with_features(
            FeatureSet::ALL
                .with(Feature::BpfCookie, false)
                .with(Feature::SyscallWrapper, false),
        );
        assert!(!old.has_bpf_cookie() && !old.has_syscall_wrapper());
        let ks = env.kallsyms().unwrap();
        assert!(!ks.addresses_hidden(), "root sees addresses");
        let line = std::fs::read_to_string(PROC_KALLSYMS)
            .unwrap()
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some("schedule"))
            .map(str::to_string)
            .unwrap();
        let addr = u64::from_str_radix(line.split_whitespace().next().unwrap(), 16).unwrap();
        assert_eq!(ks.address("schedule").unwrap(), Some(addr));
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                env.has_syscall_wrapper(),
                !ks.entries("__x64_sys_bpf").is_empty()
            );
        }
    }

    #[test]
    fn module_fds() {
        require_root!();
        let none = ModuleFds::open(&[]).unwrap();
        assert!(none.is_empty() && none.fd_array().is_empty());
        match ModuleFds::open(&["definitely_no_such_module_xyz".to_string()]) {
            Err(ExternError::ModuleBtf { module, .. }) => {
                assert_eq!(module, "definitely_no_such_module_xyz")
            }
            other => panic!("{other:?}"),
        }
        // Every module with BTF in sysfs has a kernel BTF object of the same name.
        let names: Vec<String> = std::fs::read_dir(crate::btf::kernel::SYSFS_BTF_DIR)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "vmlinux")
                    .take(3)
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            println!("no module BTF on this kernel: only the error path was tested");
            return;
        }
        let fds = ModuleFds::open(&names).unwrap();
        assert_eq!(fds.len(), names.len());
        assert_eq!(fds.fd_array().len(), names.len() + 1);
        for (fd, name) in fds.fds.iter().zip(&names) {
            let info = sys::bpf::btf_info(fd.as_fd()).unwrap();
            assert!(info.kernel_btf);
            assert_eq!(&info.name, name);
        }
    }

    #[test]
    fn resolves_against_the_running_kernel() {
        require_root!();
        let spec = ObjectSpec::from_file(&testdata("externs.bpf.o")).unwrap();
        let weak = |n: &str| {
            spec.programs
                .iter()
                .flat_map(|p| &p.extern_relocs)
                .any(|r| r.weak && r.symbol == n)
        };
        let ext = match Externs::resolve(&spec, &weak, None, None) {
            Ok(e) => e,
            Err(e @ ExternError::Source { .. }) => {
                println!("SKIP: resolves_against_the_running_kernel: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let r = ext.resolution();
        let vmlinux = crate::btf::kernel::vmlinux_btf().unwrap();
        // bpf_task_from_pid is __weak (6.2+).
        let want = match vmlinux.find_by_name_kind("bpf_task_from_pid", Kind::Func) {
            Some(id) => ExternValue::Func {
                btf_id: id,
                module: None,
            },
            None => ExternValue::Unresolved,
        };
        assert_eq!(r.get("bpf_task_from_pid").unwrap().value, want);
        assert!(ext.kconfig().is_some());
        assert!(
            ext.fd_array("record").is_none(),
            "vmlinux kfuncs need no fd_array"
        );
        let mut insns = spec.programs[0].insns.clone();
        // Any fd will do for the patch itself.
        let devnull = std::fs::File::open("/dev/null").unwrap();
        ext.patch("record", &mut insns, Some(devnull.as_fd()))
            .unwrap();
    }
}
