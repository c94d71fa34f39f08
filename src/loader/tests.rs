//! Loader fallbacks, driven by errno values injected at the `sys` chokepoint; the calls
//! not answered by the hook reach the running kernel (these tests need root).

use std::io;
use std::path::Path;

use super::*;
use crate::features::FeatureSet;
use crate::map::MapFlags;
use crate::sys::{bpf::BpfCmd, with_syscall_override, Syscall};

fn spec(name: &str) -> ObjectSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bpf-progs")
        .join(name);
    ObjectSpec::from_file(&path).expect("parsing a committed object")
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_ne_bytes(s.try_into().unwrap()))
}

/// `bpf_attr.btf_value_type_id` of `BPF_MAP_CREATE`.
const MAP_CREATE_BTF_VALUE_TYPE_ID: usize = 56;
/// `bpf_attr.log_level` of `BPF_PROG_LOAD`.
const PROG_LOAD_LOG_LEVEL: usize = 24;

#[test]
fn map_create_retries_without_btf_when_refused() {
    let spec = spec("hello.bpf.o");
    let mut refused = 0;
    let obj = with_syscall_override(
        |call| match call {
            Syscall::Bpf {
                cmd: BpfCmd::MapCreate,
                attr,
            } if u32_at(attr, MAP_CREATE_BTF_VALUE_TYPE_ID) != 0 => {
                refused += 1;
                Some(Err(io::Error::from_raw_os_error(libc::EINVAL)))
            }
            _ => None,
        },
        || Loader::new().load(&spec),
    )
    .expect("load falls back to maps without BTF types");
    assert!(refused > 0, "no map was created with BTF types to refuse");
    let counts = obj.map("counts").unwrap();
    assert_eq!(counts.info().unwrap().btf_value_type_id, 0);
    assert_eq!(counts.def().value_size, 8);
}

#[test]
fn verifier_log_buffer_grows_on_enospc() {
    let spec = spec("bad_deref.bpf.o");
    let mut logged_loads = 0;
    let err = with_syscall_override(
        |call| match call {
            Syscall::Bpf {
                cmd: BpfCmd::ProgLoad,
                attr,
            } if u32_at(attr, PROG_LOAD_LOG_LEVEL) != 0 => {
                logged_loads += 1;
                // Pretend the first two log buffers were too small.
                (logged_loads <= 2).then(|| Err(io::Error::from_raw_os_error(libc::ENOSPC)))
            }
            _ => None,
        },
        || Loader::new().load(&spec),
    )
    .expect_err("bad_deref must be rejected");
    assert_eq!(
        logged_loads, 3,
        "expected two ENOSPC retries, then the real load"
    );
    match err {
        LoadError::Verifier { log, source, .. } => {
            assert!(log.full().contains("invalid mem access"), "{log}");
            assert_eq!(source.errno(), libc::EACCES);
        }
        other => panic!("expected a verifier error, got {other}"),
    }
}

#[test]
fn map_create_eperm_is_a_typed_error_naming_the_map() {
    let spec = spec("hello.bpf.o");
    let err = with_syscall_override(
        |call| match call {
            Syscall::Bpf {
                cmd: BpfCmd::MapCreate,
                ..
            } => Some(Err(io::Error::from_raw_os_error(libc::EPERM))),
            _ => None,
        },
        || Loader::new().load(&spec),
    )
    .expect_err("map creation refused");
    match &err {
        LoadError::MapCreate { map, source } => {
            assert_eq!(map, &spec.maps[0].name);
            assert_eq!(source.errno(), libc::EPERM);
        }
        other => panic!("expected MapCreate, got {other}"),
    }
    assert!(err.to_string().contains(&spec.maps[0].name));
}

#[test]
fn refused_object_btf_is_a_warning_not_a_failure() {
    let spec = spec("hello.bpf.o");
    let obj = with_syscall_override(
        |call| match call {
            Syscall::Bpf {
                cmd: BpfCmd::BtfLoad,
                ..
            } => Some(Err(io::Error::from_raw_os_error(libc::EINVAL))),
            _ => None,
        },
        || Loader::new().load(&spec),
    )
    .expect("programs load without BTF");
    assert!(obj.btf_fd().is_none());
    let p = &obj.programs()[0];
    assert!(p.info().unwrap().id > 0);
    // Without BTF, no map carries BTF types.
    assert_eq!(
        obj.map("counts").unwrap().info().unwrap().btf_value_type_id,
        0
    );
}

#[test]
fn a_global_variable_can_be_set_before_load() {
    let spec = spec("hello.bpf.o");
    let obj = Loader::new()
        .global("target_tgid", &1234u32.to_ne_bytes())
        .load(&spec)
        .unwrap();
    let rodata = obj.map(".rodata").unwrap();
    let v = rodata
        .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
        .unwrap()
        .unwrap();
    assert_eq!(&v[..4], &1234u32.to_ne_bytes());
    // .rodata is frozen: user space can no longer write it.
    assert!(rodata
        .update(&0u32.to_ne_bytes(), &v, MapFlags::ANY)
        .is_err());
    let wrong = Loader::new()
        .global("target_tgid", &[1, 2])
        .load(&spec)
        .unwrap_err();
    assert!(
        matches!(
            wrong,
            LoadError::GlobalSize { ref name, size: 4, given: 2 } if name == "target_tgid"
        ),
        "{wrong}"
    );
    assert_eq!(
        wrong.to_string(),
        "global variable 'target_tgid' is 4 bytes, but the value given is 2 bytes"
    );
    let missing = Loader::new()
        .global("no_such_var", &[0; 4])
        .load(&spec)
        .unwrap_err();
    assert!(
        matches!(missing, LoadError::NoSuchGlobal { ref name, .. } if name == "no_such_var"),
        "{missing}"
    );
}

/// The object's BTF as the kernel got it: sanitized for the kinds `features` lacks,
/// or not at all; func/line info only with BTF FUNCs; global data maps without BTF
/// types without DATASECs. Each way, hello runs: an exec bumps `total_events`.
#[test]
fn loads_and_runs_as_on_older_kernels() {
    use crate::features::Feature;
    let spec = spec("hello.bpf.o");
    let kinds = [
        Feature::BtfFunc,
        Feature::BtfGlobalFunc,
        Feature::BtfDatasec,
        Feature::BtfFloat,
        Feature::BtfDeclTag,
        Feature::BtfTypeTag,
        Feature::BtfEnum64,
    ];
    let mut sets: Vec<FeatureSet> = kinds
        .iter()
        .map(|f| FeatureSet::ALL.with(*f, false))
        .collect();
    sets.push(kinds.iter().fold(FeatureSet::ALL, |s, f| s.with(*f, false)));
    sets.push(FeatureSet::ALL.with(Feature::Btf, false));
    for set in sets {
        let obj = Loader::new()
            .features(set)
            .load(&spec)
            .unwrap_or_else(|e| panic!("{set:?}: {e}"));
        assert_eq!(obj.btf_fd().is_some(), set.btf, "{set:?}");
        let prog = obj.program("handle_execve").unwrap().info().unwrap();
        assert_eq!(prog.btf_id != 0, set.btf && set.btf_func, "{set:?}");
        let rodata = obj.map(".rodata").unwrap().info().unwrap();
        assert_eq!(
            rodata.btf_value_type_id != 0,
            set.btf && set.btf_datasec,
            "{set:?}"
        );
        let counts = obj.map("counts").unwrap().info().unwrap();
        assert_eq!(counts.btf_value_type_id != 0, set.btf, "{set:?}");
        let _links = obj.attach_all().unwrap();
        let before = total_events(&obj);
        std::process::Command::new("/bin/true").status().unwrap();
        assert!(total_events(&obj) > before, "{set:?}: no event counted");
    }
}

fn total_events(obj: &Object) -> u64 {
    let v = obj
        .map(".bss")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
        .unwrap()
        .unwrap();
    u64::from_ne_bytes(v[..8].try_into().unwrap())
}

#[test]
fn autoload_selects_programs() {
    let spec = spec("bad_deref.bpf.o");
    // The verifier would refuse bad_deref; not loading it leaves just the maps.
    let obj = Loader::new()
        .autoload("bad_deref", false)
        .load(&spec)
        .expect("maps only");
    assert!(obj.programs().is_empty());
    assert!(obj.map("counts").is_some());
    let err = Loader::new()
        .autoload("nope", true)
        .load(&spec)
        .unwrap_err();
    assert!(
        matches!(err, LoadError::NoSuchProgram { ref name } if name == "nope"),
        "{err}"
    );
}

#[test]
fn maps_are_created_in_one_call_each() {
    // multi has a queue, a perf event array and others whose BTF types the kernel
    // refuses; sending them would cost a failed MAP_CREATE and a retry per map.
    if crate::btf::kernel::running_version() < (5, 16) {
        println!(
            "SKIP: maps_are_created_in_one_call_each: multi.bpf.o has a bloom filter map \
             (5.16+)"
        );
        return;
    }
    let spec = spec("multi.bpf.o");
    let mut creates = 0;
    let obj = with_syscall_override(
        |call| {
            if let Syscall::Bpf {
                cmd: BpfCmd::MapCreate,
                ..
            } = call
            {
                creates += 1;
            }
            None
        },
        || Loader::new().load(&spec),
    )
    .expect("loading multi");
    assert_eq!(creates, spec.maps.len());
    assert_eq!(obj.maps().len(), spec.maps.len());
}

/// Loads only `program` of `object` with every `BPF_PROG_LOAD` answered `errno` (the
/// kernel writes no log), as on a kernel of `features`.
fn load_refused(object: &str, program: &str, errno: i32, features: FeatureSet) -> LoadError {
    let spec = spec(object);
    let mut loader = Loader::new().features(features);
    for p in &spec.programs {
        loader = loader.autoload(&p.name, p.name == program);
    }
    let mut loads = 0;
    let e = with_syscall_override(
        |call| match call {
            Syscall::Bpf {
                cmd: BpfCmd::ProgLoad,
                ..
            } => {
                loads += 1;
                Some(Err(io::Error::from_raw_os_error(errno)))
            }
            _ => None,
        },
        || loader.load(&spec),
    )
    .unwrap_err();
    // Once without a log, once with one.
    assert_eq!(loads, 2, "{object} {program}");
    e
}

/// `EPERM` with an empty log is a refusal before the verifier: a capability or a
/// policy, named as such, with the capabilities the program type needs.
#[test]
fn eperm_without_a_log_names_the_capabilities() {
    // multi.bpf.o's maps are created for real, and its bloom filter needs 5.16.
    let multi_loads = crate::btf::kernel::running_version() >= (5, 16);
    for (object, program, caps) in [
        ("hello.bpf.o", "handle_execve", "CAP_BPF and CAP_PERFMON"),
        ("multi.bpf.o", "xdp_pass", "CAP_BPF and CAP_NET_ADMIN"),
        ("multi.bpf.o", "sock_len", "CAP_BPF"),
    ]
    .into_iter()
    .filter(|(object, ..)| multi_loads || *object != "multi.bpf.o")
    {
        let e = load_refused(object, program, libc::EPERM, FeatureSet::ALL);
        let text = e.to_string();
        match &e {
            LoadError::NotPermitted {
                program: p,
                capabilities,
                charged_to_memlock: false,
                source,
                ..
            } => {
                assert_eq!((p.as_str(), *capabilities), (program, caps));
                assert_eq!(source.errno(), libc::EPERM);
            }
            other => panic!("{program}: {other:?}"),
        }
        assert!(
            text.contains("without running the verifier")
                && text.contains(caps)
                && text.contains("security policy")
                && !text.contains("rejected by the verifier")
                && !text.contains("RLIMIT_MEMLOCK"),
            "{text}"
        );
    }
    // A kernel that charges programs to RLIMIT_MEMLOCK may mean that too.
    let old = FeatureSet::ALL.with(crate::features::Feature::MemcgAccount, false);
    let e = load_refused("hello.bpf.o", "handle_execve", libc::EPERM, old);
    assert!(
        matches!(
            e,
            LoadError::NotPermitted {
                charged_to_memlock: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("RLIMIT_MEMLOCK"), "{e}");
    // Other errnos without a log stay the verifier's answer, as before.
    let e = load_refused(
        "hello.bpf.o",
        "handle_execve",
        libc::EINVAL,
        FeatureSet::ALL,
    );
    assert!(
        matches!(e, LoadError::Verifier { ref source, .. } if source.errno() == libc::EINVAL),
        "{e:?}"
    );
}
