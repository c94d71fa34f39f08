//! How uprobes are created, without the kernel (PMU descriptions in a temporary
//! directory, `perf_event_open` answered by the syscall override), and the ioctl
//! fallback of kernels without perf links against the real kernel.

use super::*;
use crate::sys::{bpf::BpfCmd, with_syscall_override, Syscall};
use std::ffi::CStr;
use std::io;

fn dummy_program(section: &str) -> Program {
    let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let kind = ProgramKind::from_section(section).unwrap();
    Program::new("probe_me".into(), section.into(), kind, fd)
}

/// A uprobe PMU directory with `type` 9 and, when given, a retprobe bit.
fn fake_pmu(dir: &Path, retprobe_bit: Option<u32>) -> PathBuf {
    let pmu = dir.join("uprobe");
    std::fs::create_dir_all(pmu.join("format")).unwrap();
    std::fs::write(pmu.join("type"), "9\n").unwrap();
    if let Some(bit) = retprobe_bit {
        std::fs::write(pmu.join("format/retprobe"), format!("config:{bit}\n")).unwrap();
    }
    pmu
}

/// What `perf_event_open` was asked: (type, config, path, offset, pid, cpu).
type Seen = (u32, u64, String, u64, i32, i32);

fn open_seen(
    roots: &ProbeRoots<'_>,
    path: &Path,
    offset: u64,
    ret: bool,
    opts: &UprobeOptions,
) -> (Option<Seen>, Result<(), String>) {
    let mut seen = None;
    let r = with_syscall_override(
        |c| {
            if let Syscall::PerfEventOpen { attr, pid, cpu, .. } = c {
                // SAFETY: config1 points to the NUL-terminated path borrowed by
                // `perf_event_open_probe` for the duration of the call.
                let p = unsafe { CStr::from_ptr(attr.config1 as usize as *const std::ffi::c_char) };
                seen = Some((
                    attr.type_,
                    attr.config,
                    p.to_string_lossy().into_owned(),
                    attr.config2,
                    *pid,
                    *cpu,
                ));
            }
            Some(Err(io::Error::from_raw_os_error(libc::ENOENT)))
        },
        || match open_uprobe(roots, path, offset, ret, opts) {
            Ok(_) => Ok(()),
            Err(OpenError::Sys(e)) => Err(format!("sys {}", e.errno())),
            Err(OpenError::Uprobe(e)) => Err(e.to_string()),
        },
    );
    (seen, r)
}

#[test]
fn pmu_probes_carry_path_offset_retprobe_bit_ref_ctr_and_pid() {
    let dir = tempfile::tempdir().unwrap();
    let pmu = fake_pmu(dir.path(), Some(0));
    let roots = ProbeRoots {
        pmu: Some(&pmu),
        tracefs: &|| Err(TracefsError::NotMounted),
    };
    let path = Path::new("/usr/lib/libx.so.1");
    let (seen, r) = open_seen(&roots, path, 0x1234, false, &UprobeOptions::new());
    assert_eq!(r, Err(format!("sys {}", libc::ENOENT)));
    assert_eq!(
        seen,
        Some((9, 0, path.display().to_string(), 0x1234, -1, 0))
    );

    let opts = UprobeOptions::new().pid(77).ref_ctr_offset(0x4010);
    let (seen, _) = open_seen(&roots, path, 0x20, true, &opts);
    assert_eq!(
        seen,
        Some((
            9,
            1 | (0x4010 << 32),
            path.display().to_string(),
            0x20,
            77,
            -1
        ))
    );

    // Refused before the kernel is asked.
    let (seen, r) = open_seen(
        &roots,
        path,
        0,
        false,
        &UprobeOptions::new().ref_ctr_offset(1 << 32),
    );
    assert!(seen.is_none());
    assert!(r.unwrap_err().contains("32 bits"));
    let (seen, r) = open_seen(&roots, path, 0, false, &UprobeOptions::new().pid(u32::MAX));
    assert!(seen.is_none());
    assert!(r.unwrap_err().contains("out of range"));
    let (seen, r) = open_seen(&roots, Path::new("/a\0b"), 0, false, &UprobeOptions::new());
    assert!(seen.is_none());
    assert!(r.unwrap_err().contains("NUL"));
}

#[test]
fn without_pmu_and_uprobe_events_the_error_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-pmu");
    let tracefs = dir.path().join("tracing");
    std::fs::create_dir(&tracefs).unwrap();
    let root = tracefs.clone();
    let roots = ProbeRoots {
        pmu: Some(&missing),
        tracefs: &move || Ok(root.clone()),
    };
    let (seen, r) = open_seen(
        &roots,
        Path::new("/bin/true"),
        0,
        false,
        &UprobeOptions::new(),
    );
    assert!(seen.is_none());
    let text = r.unwrap_err();
    assert!(
        text.contains("uprobes are unavailable") && text.contains("CONFIG_UPROBE"),
        "{text}"
    );

    // Forced tracefs mode reports its own failure; forced PMU mode its.
    let (_, r) = open_seen(
        &roots,
        Path::new("/bin/true"),
        0,
        false,
        &UprobeOptions::new().mode(UprobeMode::Tracefs),
    );
    assert!(r.unwrap_err().contains("uprobe_events is missing"));
    let (_, r) = open_seen(
        &roots,
        Path::new("/bin/true"),
        0,
        false,
        &UprobeOptions::new().mode(UprobeMode::Pmu),
    );
    assert!(r.unwrap_err().contains("no uprobe PMU"));

    // A semaphore needs the PMU.
    let (_, r) = open_seen(
        &roots,
        Path::new("/bin/true"),
        0,
        false,
        &UprobeOptions::new().ref_ctr_offset(8),
    );
    assert!(r.unwrap_err().contains("ref_ctr_offset"));

    // A PMU without a retprobe bit can't make return probes when forced to.
    let pmu = fake_pmu(dir.path(), None);
    let roots = ProbeRoots {
        pmu: Some(&pmu),
        tracefs: &|| Err(TracefsError::NotMounted),
    };
    let (_, r) = open_seen(
        &roots,
        Path::new("/bin/true"),
        0,
        true,
        &UprobeOptions::new().mode(UprobeMode::Pmu),
    );
    assert!(r.unwrap_err().contains("return probes"));
    // In auto mode it falls back to tracefs, which is missing here.
    let (_, r) = open_seen(
        &roots,
        Path::new("/bin/true"),
        0,
        true,
        &UprobeOptions::new(),
    );
    assert!(r.unwrap_err().contains("tracefs is not mounted"));
}

#[test]
fn events_lines_and_descriptions() {
    assert_eq!(
        uprobe_events_line(false, "corebpf_1_2", "/bin/bash", 0xc6c20),
        "p:uprobes/corebpf_1_2 /bin/bash:0xc6c20"
    );
    assert_eq!(
        uprobe_events_line(true, "e", "/lib/libc.so.6", 0),
        "r:uretprobes/e /lib/libc.so.6:0x0"
    );
    let p = Path::new("/bin/bash");
    assert_eq!(
        describe(false, p, "readline".into(), None),
        "uprobe /bin/bash:readline"
    );
    assert_eq!(
        describe(
            true,
            p,
            UprobeLocation::FunctionOffset("readline", 0),
            Some(7)
        ),
        "uretprobe /bin/bash:readline (pid 7)"
    );
    assert_eq!(
        describe(false, p, UprobeLocation::FunctionOffset("f", 16), None),
        "uprobe /bin/bash:f+0x10"
    );
    assert_eq!(
        describe(false, p, 0x40u64.into(), None),
        "uprobe /bin/bash:0x40"
    );
    assert_eq!(perf_target(None).unwrap(), (-1, 0));
    assert_eq!(perf_target(Some(0)).unwrap(), (0, -1));
}

#[test]
fn typed_views_follow_the_section() {
    for (sec, ret) in [
        ("uprobe", false),
        ("uretprobe/x:y", true),
        ("uprobe.s", false),
        ("uretprobe.s", true),
    ] {
        let p = dummy_program(sec);
        assert_eq!(UProbe::try_from(&p).unwrap().is_return(), ret, "{sec}");
        assert!(super::super::UProbeMulti::try_from(&p).is_err());
        assert!(super::super::Usdt::try_from(&p).is_err());
    }
    for (sec, ret, session) in [
        ("uprobe.multi", false, false),
        ("uretprobe.multi.s", true, false),
        ("uprobe.session/x:y", false, true),
    ] {
        let p = dummy_program(sec);
        let m = super::super::UProbeMulti::try_from(&p).unwrap();
        assert_eq!((m.is_return(), m.is_session()), (ret, session), "{sec}");
        assert!(UProbe::try_from(&p).is_err());
    }
    let e = UProbe::try_from(&dummy_program("kprobe/f")).unwrap_err();
    assert!(e.to_string().contains("not a uprobe program"), "{e}");
}

/// Multi-uprobe arguments are checked before the kernel is asked.
#[test]
fn multi_arguments_are_checked_first() {
    let p = dummy_program("uprobe.multi");
    let m = super::super::UProbeMulti::try_from(&p).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut calls = 0;
    let results = with_syscall_override(
        |_| {
            calls += 1;
            None
        },
        || {
            [
                m.attach_offsets(&exe, &[], None, None, None),
                m.attach_offsets(&exe, &[1, 2], None, Some(&[1]), None),
                m.attach_offsets(&exe, &[1, 2], Some(&[0]), None, None),
                m.attach_functions(&exe, &[], None, None),
                m.attach(&exe, "corebpf_no_such_function_*", None),
            ]
        },
    );
    assert_eq!(calls, 0);
    let texts: Vec<String> = results
        .into_iter()
        .map(|r| crate::util::Chain(&r.unwrap_err()).to_string())
        .collect();
    assert!(texts[0].contains("no location"), "{}", texts[0]);
    assert!(
        texts[1].contains("cookies: 1 entries for 2"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("reference counters: 1 entries for 2"),
        "{}",
        texts[2]
    );
    assert!(texts[3].contains("no location"), "{}", texts[3]);
    assert!(texts[4].contains("no function matches"), "{}", texts[4]);
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_unit_uprobe_fallback(a: u64, b: u64) -> u64 {
    std::hint::black_box(a + b)
}

/// Kernels without perf links refuse `BPF_LINK_CREATE` for perf events: the uprobe is
/// then attached with `PERF_EVENT_IOC_SET_BPF` and still fires; a cookie can't be
/// passed that way, and asking for one is a typed error.
#[test]
fn ioctl_fallback_fires_and_refuses_cookies() {
    if !Path::new(UPROBE_PMU_DIR).join("type").exists() {
        println!("SKIP: ioctl_fallback_fires_and_refuses_cookies: no uprobe PMU");
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs/uprobe.bpf.o");
    let spec = crate::ObjectSpec::from_file(&path).unwrap();
    let mut loader = crate::Loader::new().global("target_tgid", &std::process::id().to_ne_bytes());
    for p in &spec.programs {
        loader = loader.autoload(&p.name, p.name == "entry");
    }
    let obj = loader.load(&spec).unwrap();
    let hits = || {
        let v = spec.global("entry_hits").unwrap();
        let bytes = obj
            .map(&spec.maps[v.map].name)
            .unwrap()
            .lookup(&0u32.to_ne_bytes(), crate::MapFlags::ANY)
            .unwrap()
            .unwrap();
        u64::from_ne_bytes(
            bytes[v.offset as usize..v.offset as usize + 8]
                .try_into()
                .unwrap(),
        )
    };
    let probe = UProbe::try_from(obj.program("entry").unwrap()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let refuse_links = |call: &Syscall<'_>| match call {
        Syscall::Bpf {
            cmd: BpfCmd::LinkCreate,
            ..
        } => Some(Err(io::Error::from_raw_os_error(libc::EINVAL))),
        _ => None,
    };
    let link = with_syscall_override(refuse_links, || {
        probe.attach(&exe, "corebpf_unit_uprobe_fallback", None, None)
    })
    .unwrap();
    assert!(link.link_fd().is_none() && link.perf_event_fd().is_some());
    std::hint::black_box(corebpf_unit_uprobe_fallback)(1, 2);
    assert_eq!(hits(), 1);
    drop(link);
    std::hint::black_box(corebpf_unit_uprobe_fallback)(1, 2);
    assert_eq!(hits(), 1, "fired after the link dropped");

    let e = with_syscall_override(refuse_links, || {
        probe.attach(&exe, "corebpf_unit_uprobe_fallback", None, Some(5))
    })
    .unwrap_err();
    assert!(matches!(e, ProgramError::NoCookie { .. }), "{e:?}");
    assert!(e.to_string().contains("5.15"), "{e}");
}
