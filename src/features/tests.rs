//! Feature probes against the running kernel (and errno injected at the `sys`
//! chokepoint), and BTF sanitized for pretended older kernels loaded into it.

use super::btf_kinds::btf_probe_blob;
use super::*;
use crate::btf::ext::{FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE};
use crate::btf::sanitize::{sanitize_if_needed, BtfFeatures};
use crate::btf::Btf;
use crate::btf::Kind;
use crate::insn::pseudo;
use crate::object::{MapRelocKind, ObjectSpec};
use crate::sys;
use crate::sys::bpf::BpfCmd;
use crate::sys::bpf::{self as sysbpf, map_type};
use crate::sys::{with_syscall_override, Syscall};
use std::io;
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;
use std::time::Instant;

const BTF_FEATURES: [Feature; 8] = [
    Feature::Btf,
    Feature::BtfFunc,
    Feature::BtfGlobalFunc,
    Feature::BtfDatasec,
    Feature::BtfFloat,
    Feature::BtfDeclTag,
    Feature::BtfTypeTag,
    Feature::BtfEnum64,
];

fn errno(e: i32) -> Option<io::Result<i64>> {
    Some(Err(io::Error::from_raw_os_error(e)))
}

fn is_cmd(call: &Syscall<'_>, want: BpfCmd) -> bool {
    matches!(call, Syscall::Bpf { cmd, .. } if *cmd == want)
}

/// The running kernel's (major, minor).
fn kernel_version() -> (u32, u32) {
    let release = crate::btf::kernel::kernel_release().unwrap();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().unwrap().parse().unwrap();
    let minor = parts.next().unwrap().parse().unwrap();
    (major, minor)
}

#[test]
fn every_feature_is_supported_on_this_kernel() {
    let version = kernel_version();
    let mut checked = 0;
    for f in Feature::ALL {
        if version < f.since() {
            continue;
        }
        // Uncached, then through the process-wide cache.
        assert!(f.probe(), "{} is missing on {version:?}", f.name());
        assert!(kernel_features().supports(f), "{}", f.name());
        assert_eq!(kernel_features().probed(f), Some(true));
        checked += 1;
    }
    if version >= (6, 0) {
        assert_eq!(checked, Feature::ALL.len());
        assert_eq!(kernel_features().btf_features(), BtfFeatures::ALL);
        assert_eq!(kernel_features().snapshot(), FeatureSet::ALL);
    }
}

#[test]
fn btf_probes_report_missing_when_the_kernel_refuses_btf() {
    let mut loads = 0;
    let fresh = KernelFeatures::new();
    with_syscall_override(
        |call| {
            if is_cmd(call, BpfCmd::BtfLoad) {
                loads += 1;
                errno(libc::EINVAL)
            } else {
                None
            }
        },
        || {
            for f in BTF_FEATURES {
                assert!(!f.probe(), "{}", f.name());
            }
            assert_eq!(fresh.btf_features(), BtfFeatures::NONE);
            assert!(!fresh.btf());
            // The others do not use BPF_BTF_LOAD.
            assert!(fresh.ringbuf());
        },
    );
    assert_eq!(loads, 2 * BTF_FEATURES.len());
    // `fresh` cached its answers; a new probe asks the kernel again.
    assert_eq!(fresh.btf_features(), BtfFeatures::NONE);
    assert_eq!(fresh.probed(Feature::BtfFloat), Some(false));
    assert_eq!(fresh.probed(Feature::PerfLink), None);
    assert!(Feature::BtfFunc.probe());
}

#[test]
fn unexpected_errors_mean_missing_not_failure() {
    for e in [libc::EPERM, libc::ENOMEM, libc::EFAULT, libc::E2BIG] {
        with_syscall_override(
            |call| match call {
                Syscall::Bpf { .. } => errno(e),
                // Raising RLIMIT_MEMLOCK "works", so EPERM is retried once.
                Syscall::SetMemlockRlimit { .. } => Some(Ok(0)),
                _ => None,
            },
            || {
                let fresh = KernelFeatures::new();
                for f in Feature::ALL {
                    if f == Feature::SyscallWrapper {
                        continue; // no bpf(2) involved
                    }
                    assert!(!f.probe(), "{} with errno {e}", f.name());
                    assert!(!fresh.supports(f));
                }
            },
        );
    }
}

#[test]
fn eperm_raises_memlock_and_retries_once() {
    let mut calls = Vec::new();
    let mut failed = false;
    let supported = with_syscall_override(
        |call| {
            calls.push(call.name());
            match call {
                Syscall::Bpf { .. } if !failed => {
                    failed = true;
                    errno(libc::EPERM)
                }
                Syscall::SetMemlockRlimit { .. } => Some(Ok(0)),
                _ => None,
            }
        },
        || Feature::Ringbuf.probe(),
    );
    assert!(supported);
    assert_eq!(calls, ["BPF_MAP_CREATE", "setrlimit", "BPF_MAP_CREATE"]);
}

#[test]
fn perf_link_is_told_by_the_errno_of_a_link_on_fd_minus_1() {
    let link_errno = |e: i32| {
        with_syscall_override(
            |call| {
                if is_cmd(call, BpfCmd::LinkCreate) {
                    errno(e)
                } else {
                    None
                }
            },
            || Feature::PerfLink.probe(),
        )
    };
    assert!(link_errno(libc::EBADF));
    assert!(!link_errno(libc::EINVAL));
    assert!(!link_errno(libc::EPERM));
    // An injected success stands for a link that should not exist: not supported.
    let linked = with_syscall_override(
        |call| is_cmd(call, BpfCmd::LinkCreate).then_some(Ok(3)),
        || Feature::PerfLink.probe(),
    );
    assert!(!linked);
}

#[test]
fn probe_blobs_hold_just_their_kind() {
    for (f, kind) in [
        (Feature::Btf, Kind::Int),
        (Feature::BtfFunc, Kind::Func),
        (Feature::BtfGlobalFunc, Kind::Func),
        (Feature::BtfDatasec, Kind::Datasec),
        (Feature::BtfFloat, Kind::Float),
        (Feature::BtfDeclTag, Kind::DeclTag),
        (Feature::BtfTypeTag, Kind::TypeTag),
        (Feature::BtfEnum64, Kind::Enum64),
    ] {
        let btf = Btf::parse(btf_probe_blob(f)).unwrap();
        assert!(btf.types().any(|t| t.kind == kind), "{}", f.name());
        for t in btf.types() {
            btf.str_at(t.name_off).unwrap();
        }
        // What the probe loads, the sanitizer would have to rewrite.
        if f != Feature::Btf {
            let mut without = FeatureSet::ALL.with(f, false).btf_features();
            without.decl_tag &= f != Feature::BtfDeclTag;
            assert!(without.needs_sanitization(&btf), "{}", f.name());
        }
    }
    let global = Btf::parse(btf_probe_blob(Feature::BtfGlobalFunc)).unwrap();
    assert_eq!(global.type_by_id(3).unwrap().linkage(), 1);
}

#[test]
fn feature_sets_and_overrides() {
    for f in Feature::ALL {
        assert!(FeatureSet::ALL.get(f));
        assert!(!FeatureSet::NONE.get(f));
        let one = FeatureSet::NONE.with(f, true);
        assert_eq!(Feature::ALL.iter().filter(|g| one.get(**g)).count(), 1);
        assert!(one.get(f));
    }
    assert_eq!(FeatureSet::ALL.btf_features(), BtfFeatures::ALL);
    assert_eq!(FeatureSet::NONE.btf_features(), BtfFeatures::NONE);
    let f = FeatureSet::ALL
        .with(Feature::BtfEnum64, false)
        .btf_features();
    assert_eq!(
        f,
        BtfFeatures {
            enum64: false,
            ..BtfFeatures::ALL
        }
    );

    // Overridden features are not probed; the last override of a feature wins.
    let mut calls = 0;
    let fresh = KernelFeatures::new();
    let set = with_syscall_override(
        |_| {
            calls += 1;
            errno(libc::EINVAL)
        },
        || {
            let overrides: Vec<(Feature, bool)> = Feature::ALL
                .iter()
                .map(|f| (*f, false))
                .chain([(Feature::Ringbuf, true)])
                .collect();
            fresh.with_overrides(&overrides)
        },
    );
    assert_eq!(calls, 0);
    assert_eq!(set, FeatureSet::NONE.with(Feature::Ringbuf, true));
    assert_eq!(fresh.probed(Feature::Ringbuf), None);
}

#[test]
fn btf_features_for_probes_only_the_kinds_used() {
    let hello = spec("bpf-progs/hello.bpf.o").btf.unwrap();
    let fixture = spec("src/btf/testdata/sanitize.bpf.o").btf.unwrap();
    let loads = std::cell::Cell::new(0);
    let cache = KernelFeatures::new();
    let refuse_btf = |call: &Syscall<'_>| {
        if is_cmd(call, BpfCmd::BtfLoad) {
            loads.set(loads.get() + 1);
            errno(libc::EINVAL)
        } else {
            None
        }
    };
    // hello: FUNC, global FUNC and DATASEC only.
    let h = with_syscall_override(refuse_btf, || cache.btf_features_for(&hello));
    assert_eq!(loads.get(), 3);
    let missing = BtfFeatures {
        func: false,
        global_func: false,
        datasec: false,
        ..BtfFeatures::ALL
    };
    assert_eq!(h, missing);
    // The fixture uses every kind: the other four probes run, once each.
    let f = with_syscall_override(refuse_btf, || cache.btf_features_for(&fixture));
    assert_eq!(loads.get(), 7);
    assert_eq!(f, BtfFeatures::NONE);
    // The fixture uses every kind, so all are probed.
    assert_eq!(
        kernel_features().btf_features_for(&fixture),
        kernel_features().btf_features()
    );
    let version = kernel_version();
    for f in BTF_FEATURES.into_iter().filter(|f| version >= f.since()) {
        assert!(kernel_features().supports(f), "{} on {version:?}", f.name());
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn probes_close_what_they_open() {
    let probes: Vec<Feature> = Feature::ALL
        .into_iter()
        .filter(|f| *f != Feature::SyscallWrapper)
        .collect();
    for f in &probes {
        f.probe(); // warm up lazily opened descriptors, if any
    }
    let before = open_fds();
    const ROUNDS: usize = 40;
    // Every probe runs, found or not; those the kernel must have must be found.
    let version = kernel_version();
    for _ in 0..ROUNDS {
        for f in &probes {
            assert!(f.probe() || version < f.since(), "{}", f.name());
        }
    }
    let after = open_fds();
    // A leaking probe would leave ROUNDS descriptors; other tests running in
    // parallel come and go.
    assert!(
        after < before + ROUNDS,
        "{before} fds before, {after} after"
    );
}

/// Prints what each probe costs, first call and later ones (run alone with
/// --nocapture to see first calls in a fresh process).
#[test]
fn probe_costs() {
    const RUNS: u32 = 20;
    let (mut btf_first, mut all_first) = (Duration::ZERO, Duration::ZERO);
    let version = kernel_version();
    for f in Feature::ALL {
        let start = Instant::now();
        assert!(f.probe() || version < f.since(), "{}", f.name());
        let first = start.elapsed();
        let start = Instant::now();
        for _ in 0..RUNS {
            assert!(f.probe() || version < f.since(), "{}", f.name());
        }
        let each = start.elapsed() / RUNS;
        println!(
            "probe {:<22} first {:>10.1?}  then {:>10.1?}",
            f.name(),
            first,
            each
        );
        all_first += first;
        if BTF_FEATURES.contains(&f) {
            btf_first += first;
        }
        // A probe is a few syscalls (or one symbol lookup), not a stall.
        assert!(each < Duration::from_millis(100), "{}: {each:?}", f.name());
    }
    let start = Instant::now();
    let kinds = KernelFeatures::new().btf_features();
    let cached = start.elapsed();
    println!(
        "first calls: BTF probes {btf_first:.1?}, all probes {all_first:.1?}; \
         a new cache's btf_features() {cached:.1?} ({kinds:?})"
    );
}

// -----------------------------------------------------------------------------
// Sanitized BTF in the running kernel.
// -----------------------------------------------------------------------------

/// The last lines of a kernel log buffer (up to its NUL), to show with a failure.
fn log_tail(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let text = String::from_utf8_lossy(&buf[..end]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

fn spec(path: &str) -> ObjectSpec {
    ObjectSpec::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The feature sets to pretend, from what the running kernel has (an older kernel
/// lacks some kinds already): each BTF feature missing alone, all of them, none,
/// and BTF missing altogether.
fn pretend_sets() -> Vec<(String, FeatureSet)> {
    let real = kernel_features().snapshot();
    let mut sets: Vec<(String, FeatureSet)> = BTF_FEATURES[1..]
        .iter()
        .map(|f| (format!("no {}", f.name()), real.with(*f, false)))
        .collect();
    let mut no_kinds = real;
    for f in &BTF_FEATURES[1..] {
        no_kinds.set(*f, false);
    }
    sets.push(("no BTF kind but INT & co".into(), no_kinds));
    sets.push(("all the kernel has".into(), real));
    sets.push(("no BTF".into(), real.with(Feature::Btf, false)));
    sets
}

/// Loads `spec`'s BTF, maps and `program` with direct `sys` calls, following
/// libbpf's rules for a kernel with `features`: the BTF sanitized for the kinds it
/// lacks (not loaded at all without BTF); map key/value types from it, except for
/// keyless (global data) maps without DATASEC support, whose value type must be a
/// DATASEC; the program's BTF and func/line info only with BTF FUNC support.
/// Checks that the kernel kept every BTF reference it was given.
fn load_as(spec: &ObjectSpec, program: &str, features: &FeatureSet) -> Result<(), String> {
    if !kernel_features().memcg_account() {
        // Before 5.11 map memory counts against RLIMIT_MEMLOCK (the loader raises
        // it when a map is refused).
        sys::bump_memlock_rlimit().unwrap();
    }
    let btf = spec.btf.as_ref().unwrap();
    let btf_fd = if features.btf {
        let kinds = features.btf_features();
        let sanitized = sanitize_if_needed(btf, &kinds).map_err(|e| e.to_string())?;
        let raw = sanitized.as_ref().unwrap_or(btf).raw();
        match sysbpf::btf_load(raw, None, 0) {
            Ok(fd) => Some(fd),
            Err(e) => {
                let mut log = vec![0u8; 1 << 20];
                let _ = sysbpf::btf_load(raw, Some(&mut log), 1);
                return Err(format!("BPF_BTF_LOAD: {e}\n{}", log_tail(&log)));
            }
        }
    } else {
        None
    };

    let mut maps = Vec::new();
    for m in &spec.maps {
        let map_btf = btf_fd
            .as_ref()
            .filter(|_| m.btf_value_type_id != 0)
            .filter(|_| features.btf_datasec || m.btf_key_type_id != 0);
        let mut attr = sysbpf::MapCreateAttr {
            map_type: m.map_type,
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            map_flags: m.map_flags,
            map_name: sysbpf::obj_name(&m.name),
            map_extra: m.map_extra,
            ..Default::default()
        };
        if m.map_type == map_type::PERF_EVENT_ARRAY && m.max_entries == 0 {
            attr.max_entries = sys::possible_cpus().unwrap();
        }
        if let Some(fd) = map_btf {
            attr.btf_fd = Some(fd.as_fd());
            attr.btf_key_type_id = m.btf_key_type_id;
            attr.btf_value_type_id = m.btf_value_type_id;
        }
        let fd = sysbpf::map_create(&attr).map_err(|e| format!("map '{}': {e}", m.name))?;
        let info = sysbpf::map_info(fd.as_fd()).unwrap();
        if (info.btf_value_type_id, info.btf_key_type_id)
            != (attr.btf_value_type_id, attr.btf_key_type_id)
        {
            return Err(format!(
                "map '{}': the kernel dropped its BTF types",
                m.name
            ));
        }
        maps.push(fd);
    }

    let p = spec.program(program).unwrap();
    assert!(p.core_relos.is_empty() && p.extern_relocs.is_empty());
    let mut insns = p.insns.clone();
    for r in &p.map_relocs {
        let (src, next_imm) = match r.kind {
            MapRelocKind::Fd => (pseudo::MAP_FD, 0),
            MapRelocKind::Value { offset } => (pseudo::MAP_VALUE, offset as i32),
        };
        insns[r.insn].set_src(src);
        insns[r.insn].imm = maps[r.map].as_raw_fd();
        insns[r.insn + 1].imm = next_imm;
    }
    let prog_btf = btf_fd.as_ref().filter(|_| features.btf_func);
    let (func_info, line_info): (Vec<u8>, Vec<u8>) = match prog_btf {
        Some(_) => (
            p.func_info
                .iter()
                .flat_map(|f| [f.insn_off, f.type_id])
                .flat_map(u32::to_le_bytes)
                .collect(),
            p.line_info
                .iter()
                .flat_map(|l| [l.insn_off, l.file_name_off, l.line_off, l.line_col])
                .flat_map(u32::to_le_bytes)
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let license = std::ffi::CString::new(spec.license.as_str()).unwrap();
    let mut attr = sysbpf::ProgLoadAttr {
        prog_type: p.kind.prog_type(),
        expected_attach_type: p.kind.expected_attach_type(),
        insns: &insns,
        license: &license,
        prog_name: sysbpf::obj_name(&p.name),
        prog_btf_fd: prog_btf.map(|fd| fd.as_fd()),
        func_info: &func_info,
        func_info_rec_size: if func_info.is_empty() {
            0
        } else {
            FUNC_INFO_REC_SIZE
        },
        line_info: &line_info,
        line_info_rec_size: if line_info.is_empty() {
            0
        } else {
            LINE_INFO_REC_SIZE
        },
        ..Default::default()
    };
    let prog = match sysbpf::prog_load(&mut attr) {
        Ok(fd) => fd,
        Err(e) => {
            let mut log = vec![0u8; 4 << 20];
            let _ = sysbpf::prog_load_with_log(&mut attr, &mut log, 1);
            return Err(format!("BPF_PROG_LOAD: {e}\n{}", log_tail(&log)));
        }
    };
    let info = sysbpf::prog_info(prog.as_fd()).unwrap();
    match prog_btf {
        Some(fd) => {
            // The verifier drops the line info of dead code it removes.
            let btf_id = sysbpf::btf_info(fd.as_fd()).unwrap().id;
            let got = (info.btf_id, info.nr_func_info, info.nr_line_info);
            let want = (btf_id, p.func_info.len() as u32, p.line_info.len() as u32);
            if got.0 != want.0 || got.1 != want.1 || got.1 == 0 || got.2 == 0 || got.2 > want.2 {
                return Err(format!(
                    "program BTF id, func_info, line_info: {got:?}, want {want:?}"
                ));
            }
        }
        None if info.btf_id != 0 => return Err("program has BTF".into()),
        None => {}
    }
    Ok(())
}

fn load_all_ways(object: &str, program: &str) {
    let spec = spec(object);
    let mut failures = Vec::new();
    for (what, set) in pretend_sets() {
        if let Err(e) = load_as(&spec, program, &set) {
            failures.push(format!("{object} {program} ({what}): {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn sanitized_hello_loads_in_the_kernel() {
    load_all_ways("bpf-progs/hello.bpf.o", "handle_execve");
}

#[test]
fn sanitized_fixture_with_every_kind_loads_in_the_kernel() {
    let spec = spec("src/btf/testdata/sanitize.bpf.o");
    // Its BTF needs sanitizing even for this kernel (.ksyms externs), and the
    // kernel refuses it unsanitized.
    let btf = spec.btf.as_ref().unwrap();
    assert!(BtfFeatures::ALL.needs_sanitization(btf));
    let refused = sys::bpf::btf_load(btf.raw(), None, 0).unwrap_err();
    assert_eq!(refused.errno(), libc::EINVAL);
    load_all_ways("src/btf/testdata/sanitize.bpf.o", "plain");
}

#[test]
fn unsanitized_btf_is_refused_where_a_kind_is_forced_missing() {
    // The converse, as a check that the fixture exercises each kind: each rewrite
    // changes the bytes the kernel sees.
    let spec = spec("src/btf/testdata/sanitize.bpf.o");
    let btf = spec.btf.as_ref().unwrap();
    let base = crate::btf::sanitize::sanitize(btf, &BtfFeatures::ALL).unwrap();
    for f in &BTF_FEATURES[1..] {
        let kinds = FeatureSet::ALL.with(*f, false).btf_features();
        let s = crate::btf::sanitize::sanitize(btf, &kinds).unwrap();
        assert_ne!(s.raw(), base.raw(), "{}", f.name());
    }
}
