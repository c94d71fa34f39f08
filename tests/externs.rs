//! `__kconfig` and `__ksym` externs on the running kernel, through the public API: a
//! tracepoint program records what its externs resolved to into global data, and the
//! test compares that with what it reads itself from /proc/config.gz (via zcat),
//! /proc/kallsyms and the kernel release.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use common::setup;
use corebpf::btf::Kind;
use corebpf::reloc::externs::ExternError;
use corebpf::{LoadError, Loader, Object, ObjectSpec};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/reloc/testdata")
        .join(name)
}

/// The kernel configuration as `zcat /proc/config.gz` prints it (else
/// `/boot/config-$(uname -r)`), parsed here without corebpf: name → value text (`n`
/// for "is not set"). `None` when the kernel offers neither.
fn kernel_config() -> Option<HashMap<String, String>> {
    let text = match Command::new("zcat").arg("/proc/config.gz").output() {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).ok()?,
        _ => {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
            std::fs::read_to_string(format!("/boot/config-{}", release.trim())).ok()?
        }
    };
    let mut m = HashMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.starts_with("CONFIG_") {
                m.entry(k.to_string()).or_insert_with(|| v.to_string());
            }
        } else if let Some(name) = line
            .strip_prefix("# ")
            .and_then(|l| l.strip_suffix(" is not set"))
        {
            m.entry(name.to_string()).or_insert_with(|| "n".to_string());
        }
    }
    Some(m)
}

/// `KERNEL_VERSION()` of the running kernel, computed as libbpf does it.
fn expected_kernel_version() -> u32 {
    let read = |p| std::fs::read_to_string(p).unwrap_or_default();
    let version = |s: &str| -> Option<u32> {
        let mut it = s.split(|c: char| !c.is_ascii_digit());
        let (a, b, c) = (it.next()?, it.next()?, it.next()?);
        let (a, b, c): (u32, u32, u32) = (a.parse().ok()?, b.parse().ok()?, c.parse().ok()?);
        Some((a << 16) + (b << 8) + c.min(255))
    };
    let sig = read("/proc/version_signature");
    if let Some(v) = sig.split_whitespace().nth(2).and_then(version) {
        return v;
    }
    let uname_v = read("/proc/sys/kernel/version");
    if let Some(pos) = uname_v.find("Debian ") {
        if let Some(v) = version(&uname_v[pos + 7..]) {
            return v;
        }
    }
    version(read("/proc/sys/kernel/osrelease").trim()).expect("a kernel release")
}

/// The address /proc/kallsyms gives `name` (first entry).
fn kallsyms_addr(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let addr = f.next()?;
        let _kind = f.next()?;
        (f.next()? == name).then(|| u64::from_str_radix(addr, 16).ok())?
    })
}

/// Reads global variables of a loaded object by name, through the object's BTF.
struct Globals {
    /// name → (map name, offset, size)
    vars: HashMap<String, (String, usize, usize)>,
}

impl Globals {
    fn new(spec: &ObjectSpec) -> Globals {
        let btf = spec.btf.as_ref().expect("object has BTF");
        let mut vars = HashMap::new();
        for m in &spec.maps {
            let Some(id) = btf.find_by_name_kind(&m.name, Kind::Datasec) else {
                continue;
            };
            for v in btf.type_by_id(id).unwrap().datasec_vars() {
                let name = btf.type_name(v.type_id).unwrap().to_string();
                vars.insert(name, (m.name.clone(), v.offset as usize, v.size as usize));
            }
        }
        Globals { vars }
    }

    fn bytes(&self, obj: &Object, name: &str) -> Vec<u8> {
        let (map, off, size) = &self.vars[name];
        let value = obj
            .map(map)
            .unwrap_or_else(|| panic!("map {map}"))
            .lookup(&0u32.to_ne_bytes(), corebpf::MapFlags::ANY)
            .unwrap()
            .unwrap();
        value[*off..off + size].to_vec()
    }

    fn i32(&self, obj: &Object, name: &str) -> i32 {
        i32::from_ne_bytes(self.bytes(obj, name).try_into().unwrap())
    }

    fn u64(&self, obj: &Object, name: &str) -> u64 {
        u64::from_ne_bytes(self.bytes(obj, name).try_into().unwrap())
    }
}

fn tristate(v: Option<&String>) -> i32 {
    match v.map(String::as_str) {
        Some("y") => 1,
        Some("m") => 2,
        _ => 0,
    }
}

/// Calls getpid() until the program has run (it runs synchronously in the syscall).
fn trigger_until(obj: &Object, g: &Globals, counter: &str) {
    for _ in 0..50 {
        // std::process::id() is getpid(2); glibc no longer caches it.
        let _ = std::process::id();
        if g.i32(obj, counter) > 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the program never ran");
}

#[test]
fn kconfig_and_ksyms_resolve_and_the_program_sees_them() {
    setup();
    let Some(config) = kernel_config() else {
        println!(
            "SKIP: kconfig_and_ksyms_resolve_and_the_program_sees_them: no kernel configuration"
        );
        return;
    };
    let path = testdata("externs.bpf.o");
    let spec = ObjectSpec::from_file(&path).unwrap();
    let g = Globals::new(&spec);
    let pid = std::process::id();
    let obj = Loader::new()
        .global("target_pid", &pid.to_ne_bytes())
        .load_file(&path)
        .expect("loading externs.bpf.o");
    // The object's BTF (with its .ksyms rewritten) was accepted.
    assert!(
        obj.btf_fd().is_some(),
        "the kernel refused the object's BTF"
    );
    let _links = obj.attach_all().expect("attaching");
    trigger_until(&obj, &g, "runs");

    // Virtual values.
    assert_eq!(
        g.i32(&obj, "kernel_version") as u32,
        expected_kernel_version()
    );
    assert_eq!(
        g.i32(&obj, "has_bpf_cookie"),
        i32::from(common::kernel_at_least((5, 15))),
        "bpf cookies exist since 5.15"
    );
    let wrapper =
        kallsyms_addr("__x64_sys_bpf").is_some() || kallsyms_addr("__arm64_sys_bpf").is_some();
    assert_eq!(g.i32(&obj, "has_syscall_wrapper"), i32::from(wrapper));
    assert_eq!(
        g.i32(&obj, "unknown_weak"),
        0,
        "unknown weak LINUX_ value is 0"
    );

    // The configuration.
    let hz: i32 = config["CONFIG_HZ"].parse().unwrap();
    assert_eq!(g.i32(&obj, "hz"), hz);
    assert_eq!(g.i32(&obj, "bpf_syscall"), 1);
    assert_eq!(
        g.i32(&obj, "kprobes"),
        i32::from(config.get("CONFIG_KPROBES").map(String::as_str) == Some("y"))
    );
    assert_eq!(
        g.i32(&obj, "cubic"),
        tristate(config.get("CONFIG_TCP_CONG_CUBIC"))
    );
    assert_eq!(
        g.i32(&obj, "modules"),
        tristate(config.get("CONFIG_MODULES"))
    );
    let localversion = config
        .get("CONFIG_LOCALVERSION")
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_default();
    let got = g.bytes(&obj, "localversion");
    let end = got.iter().position(|&b| b == 0).unwrap_or(got.len());
    let want: String = localversion.chars().take(15).collect();
    assert_eq!(String::from_utf8_lossy(&got[..end]), want);
    let illegal = config
        .get("CONFIG_ILLEGAL_POINTER_VALUE")
        .map(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap())
        .unwrap_or(0);
    assert_eq!(g.u64(&obj, "illegal_pointer_value"), illegal);
    assert_eq!(g.i32(&obj, "not_there"), 0, "weak missing CONFIG_ is 0");

    // The .kconfig map itself is what the program read.
    let kconfig = obj.map(".kconfig").expect(".kconfig map");
    assert!(kconfig
        .lookup(&0u32.to_ne_bytes(), corebpf::MapFlags::ANY)
        .unwrap()
        .unwrap()
        .windows(4)
        .any(|w| w == hz.to_ne_bytes()));

    // Untyped ksym: the kallsyms address; a weak missing one: 0.
    assert_eq!(
        Some(g.u64(&obj, "schedule_addr")),
        kallsyms_addr("schedule")
    );
    assert_eq!(g.u64(&obj, "missing_var_addr"), 0);

    // kfuncs (6.2+): bpf_task_from_pid found our task (and bpf_task_release released
    // it, or the verifier would have refused the program); the missing weak kfunc reads
    // as absent and its (poisoned) call was never reached.
    let has_kfuncs = corebpf::btf::kernel::vmlinux_btf().is_ok_and(|b| {
        b.find_by_name_kind("bpf_task_from_pid", Kind::Func)
            .is_some()
            && b.find_by_name_kind("bpf_task_release", Kind::Func)
                .is_some()
    });
    assert_eq!(g.i32(&obj, "task_from_pid_exists"), i32::from(has_kfuncs));
    assert_eq!(g.i32(&obj, "task_found"), i32::from(has_kfuncs));
    assert_eq!(g.i32(&obj, "missing_kfunc_exists"), 0);
    assert_eq!(g.i32(&obj, "missing_kfunc_called"), 0);
}

#[test]
fn supplied_kconfig_text_comes_first() {
    setup();
    if kernel_config().is_none() {
        println!("SKIP: supplied_kconfig_text_comes_first: no kernel configuration");
        return;
    }
    let path = testdata("externs.bpf.o");
    let spec = ObjectSpec::from_file(&path).unwrap();
    let g = Globals::new(&spec);
    let obj = Loader::new()
        .kconfig("CONFIG_HZ=1234\nCONFIG_LOCALVERSION=\"-mine\"\nCONFIG_TCP_CONG_CUBIC=m\n")
        .load_file(&path)
        .expect("loading with supplied kconfig");
    let kconfig = obj
        .map(".kconfig")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), corebpf::MapFlags::ANY)
        .unwrap()
        .unwrap();
    let btf = spec.btf.as_ref().unwrap();
    let sec = btf.find_by_name_kind(".kconfig", Kind::Datasec).unwrap();
    let slot = |name: &str| {
        let v = btf
            .type_by_id(sec)
            .unwrap()
            .datasec_vars()
            .find(|v| btf.type_name(v.type_id).unwrap() == name)
            .unwrap();
        kconfig[v.offset as usize..(v.offset + v.size) as usize].to_vec()
    };
    assert_eq!(slot("CONFIG_HZ"), 1234i32.to_ne_bytes());
    assert_eq!(&slot("CONFIG_LOCALVERSION")[..6], b"-mine\0");
    assert_eq!(slot("CONFIG_TCP_CONG_CUBIC"), 2u32.to_ne_bytes());
    // What the text does not say still comes from the kernel.
    assert_eq!(slot("CONFIG_BPF_SYSCALL"), [1]);
    let _ = g;
}

#[test]
fn typed_ksym_variable() {
    setup();
    let path = testdata("ksym_var.bpf.o");
    let spec = ObjectSpec::from_file(&path).unwrap();
    let g = Globals::new(&spec);
    let pid = std::process::id();
    let kallsyms_all = kernel_config()
        .and_then(|c| c.get("CONFIG_KALLSYMS_ALL").cloned())
        .as_deref()
        == Some("y");
    let result = Loader::new()
        .global("target_pid", &pid.to_ne_bytes())
        .load_file(&path);
    let btf_has_variables = corebpf::btf::kernel::vmlinux_btf()
        .expect("the kernel's BTF")
        .types()
        .any(|t| t.kind == Kind::Var);
    if !btf_has_variables {
        // Some kernels' BTF has no VARs at all (5.10's as Debian builds it: pahole
        // 1.18-1.21 leaves out per-CPU variables): no typed ksym can resolve there.
        match result {
            Err(LoadError::Extern(ExternError::Unresolved { name, kind, .. })) => {
                assert_eq!((name.as_str(), kind), ("bpf_prog_active", "var ksym"));
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a typed ksym resolved without a VAR in the kernel's BTF"),
        }
        println!(
            "SKIP: typed_ksym_variable: the kernel's BTF has no variables (per-CPU \
             variables left out when it was built), so no typed ksym variable resolves"
        );
        return;
    }
    if !kallsyms_all && kallsyms_addr("bpf_prog_active").is_none() {
        // The kernel itself looks variables up in kallsyms, which lists them only with
        // CONFIG_KALLSYMS_ALL: the BTF id we resolved reaches the verifier, which says
        // it cannot find the address. (libbpf fails the same way on this kernel.)
        match result {
            Err(LoadError::Verifier { log, .. }) => assert!(
                log.full()
                    .contains("failed to find the address for kernel symbol 'bpf_prog_active'"),
                "{}",
                log.tail(10)
            ),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("the kernel took a variable it has no address for"),
        }
        return;
    }
    let obj = result.expect("loading ksym_var.bpf.o");
    let _links = obj.attach_all().unwrap();
    for _ in 0..50 {
        let _ = std::process::id();
        if g.i32(&obj, "this_cpu_ok") >= 0 {
            break;
        }
    }
    assert_eq!(g.i32(&obj, "this_cpu_ok"), 1);
    assert_eq!(g.i32(&obj, "cpu0_ok"), 1);
}

#[test]
fn strong_missing_externs_are_named() {
    setup();
    for (file, name) in [
        (
            "strong_missing_kconfig.bpf.o",
            "CONFIG_DEFINITELY_NOT_THERE_XYZ",
        ),
        (
            "strong_missing_var.bpf.o",
            "definitely_not_a_kernel_var_xyz",
        ),
        (
            "strong_missing_untyped.bpf.o",
            "definitely_not_a_kernel_symbol_xyz",
        ),
        ("strong_missing_kfunc.bpf.o", "definitely_not_a_kfunc_xyz"),
    ] {
        match Loader::new().load_file(testdata(file)) {
            Err(LoadError::Extern(ExternError::Unresolved { name: n, .. })) => {
                assert_eq!(n, name, "{file}")
            }
            // Without any kernel configuration, the strong CONFIG_ extern says so.
            Err(LoadError::Extern(ExternError::Source { name: n, .. }))
                if kernel_config().is_none() =>
            {
                assert_eq!(n, name, "{file}")
            }
            Err(e) => panic!("{file}: unexpected error {e}"),
            Ok(_) => panic!("{file}: loaded with a strong extern the kernel lacks"),
        }
        let msg = Loader::new()
            .load_file(testdata(file))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(name) && msg.contains("strong"), "{msg}");
    }
}

#[test]
fn reached_weak_kfunc_call_is_named() {
    setup();
    match Loader::new().load_file(testdata("weak_unguarded.bpf.o")) {
        Err(LoadError::MissingKfunc(m)) => {
            assert_eq!(m.kfunc, "bpf_weak_but_unguarded_xyz");
            assert_eq!(m.program, "call_unguarded");
            assert!(m.to_string().contains("bpf_weak_but_unguarded_xyz"));
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("the verifier took a call of a kfunc the kernel lacks"),
    }
}
