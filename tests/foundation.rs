//! The foundation slice on the running kernel: load, attach, real events, errors.

mod common;

use std::cell::RefCell;
use std::sync::Mutex;

use common::*;
use corebpf::map::{HashMap, MapFlags};
use corebpf::{LoadError, Loader, ObjectError, ObjectSpec, RingBufferBuilder};

#[test]
fn hello_reports_execs_and_counts_them() {
    setup();
    let obj = Loader::new()
        .load_file(prog("hello.bpf.o"))
        .expect("loading hello");
    let counts: HashMap<u32, u64> = obj.map("counts").expect("counts map").try_into().unwrap();
    let before = counts.get(&0).unwrap().unwrap_or(0);
    let links = obj.attach_all().expect("attaching hello");
    // Perf links since 5.15; before, the attach falls back to PERF_EVENT_IOC_SET_BPF.
    let perf_links = kernel_at_least((5, 15));
    assert!(
        links.iter().all(|l| l.link_fd().is_some() == perf_links),
        "perf links expected: {perf_links}"
    );

    let seen = Mutex::new(Vec::<HelloEvent>::new());
    let mut ring = RingBufferBuilder::new()
        .add(obj.map("events").unwrap(), |rec| {
            if let Some(ev) = HelloEvent::parse(rec) {
                seen.lock().unwrap().push(ev);
            }
            0
        })
        .build()
        .unwrap();
    let pids = RefCell::new(Vec::new());
    let found = poll_until(
        &mut ring,
        25,
        || pids.borrow_mut().push(exec_true(None)),
        || {
            seen.lock().unwrap().iter().any(|e| {
                pids.borrow().contains(&e.pid) && cstr(&e.filename) == "/bin/true" && e.uid == 0
            })
        },
    );
    let pids = pids.into_inner();
    assert!(
        found,
        "no event for pids {pids:?}; saw {} events",
        seen.lock().unwrap().len()
    );
    let ev = *seen
        .lock()
        .unwrap()
        .iter()
        .find(|e| pids.contains(&e.pid))
        .unwrap();
    // The program fills comm before the exec replaces it: it is our test thread's name
    // truncated by the kernel to 15 bytes, never empty.
    assert!(!cstr(&ev.comm).is_empty());
    let after = counts.get(&0).unwrap().expect("uid 0 counted");
    // Dropping the links detaches: our execs no longer count.
    drop(links);
    // An invocation already running on another CPU when the link went (another test's
    // exec) may still finish its increment: take the baseline once the count is still.
    let detached = settled(|| counts.get(&0).unwrap().unwrap_or(0));
    for _ in 0..3 {
        exec_true(None);
    }
    assert_eq!(
        counts.get(&0).unwrap().unwrap_or(0),
        detached,
        "counted after detach"
    );
    assert!(
        after >= before + pids.len() as u64,
        "count went {before} -> {after} over {} execs",
        pids.len()
    );
}

#[test]
fn hello_buffer_config_uses_the_configured_message() {
    setup();
    let obj = Loader::new()
        .load_file(prog("hello_buffer_config.bpf.o"))
        .expect("loading");
    let config: HashMap<u32, [u8; 12]> = obj.map("config").unwrap().try_into().unwrap();
    let mut msg = [0u8; 12];
    msg[..7].copy_from_slice(b"hi root");
    config.insert(&0, &msg, MapFlags::ANY).unwrap();
    let _links = obj.attach_all().unwrap();

    let seen = Mutex::new(Vec::<ConfigEvent>::new());
    let mut ring = RingBufferBuilder::new()
        .add(obj.map("events").unwrap(), |rec| {
            seen.lock().unwrap().extend(ConfigEvent::parse(rec));
            0
        })
        .build()
        .unwrap();
    const NOBODY: u32 = 65534;
    let root_pids = RefCell::new(Vec::new());
    let nobody_pids = RefCell::new(Vec::new());
    let found = poll_until(
        &mut ring,
        25,
        || {
            root_pids.borrow_mut().push(exec_true(None));
            nobody_pids.borrow_mut().push(exec_true(Some(NOBODY)));
        },
        || {
            let s = seen.lock().unwrap();
            s.iter().any(|e| root_pids.borrow().contains(&e.pid))
                && s.iter().any(|e| nobody_pids.borrow().contains(&e.pid))
        },
    );
    let (root_pids, nobody_pids) = (root_pids.into_inner(), nobody_pids.into_inner());
    assert!(found, "events for both uids did not arrive");
    let s = seen.lock().unwrap();
    let root = s.iter().find(|e| root_pids.contains(&e.pid)).unwrap();
    assert_eq!((root.uid, cstr(&root.message).as_str()), (0, "hi root"));
    let other = s.iter().find(|e| nobody_pids.contains(&e.pid)).unwrap();
    assert_eq!(
        (other.uid, cstr(&other.message).as_str()),
        (NOBODY, "Hello World")
    );
}

#[test]
fn verifier_rejection_carries_the_verifiers_words() {
    setup();
    let err = Loader::new()
        .load_file(prog("bad_deref.bpf.o"))
        .expect_err("bad_deref must not load");
    let LoadError::Verifier { program, log, .. } = &err else {
        panic!("expected a verifier error, got {err}");
    };
    assert!(!program.is_empty());
    assert!(
        log.full().contains("invalid mem access"),
        "log: {}",
        log.full()
    );
    let shown = err.to_string();
    assert!(
        shown.contains("invalid mem access 'map_value_or_null'"),
        "{shown}"
    );
    // The failing instruction (the load through the pointer the lookup returned) and
    // its source line: `*count += 1;` (with `@ bad_deref.bpf.c:35` from 6.3 on).
    let f = log
        .failure()
        .expect("the log shows where the verifier stopped");
    assert!(f.instruction.contains("*(u64 *)(r0 +0)"), "{f:?}");
    assert!(
        f.source.is_some_and(|s| s.starts_with("*count += 1;")),
        "{f:?}"
    );
    assert_eq!(f.reason, "R0 invalid mem access 'map_value_or_null'");
    let first_line = shown.lines().next().unwrap();
    assert!(
        first_line.contains(&format!("at instruction {} (", f.insn))
            && first_line.contains("*count += 1;"),
        "{first_line}"
    );
}

#[test]
fn missing_map_is_named() {
    let err = ObjectSpec::from_file(&prog("missing_map.bpf.o")).expect_err("must not parse");
    assert!(matches!(err, ObjectError::MissingMap { .. }), "{err:?}");
    assert!(err.to_string().contains("ghost"), "{err}");
}

#[test]
fn truncated_elf_is_a_typed_error() {
    let data = std::fs::read(prog("hello.bpf.o")).unwrap();
    for cut in [0, 10, 63, data.len() / 2, data.len() - 1] {
        let err = ObjectSpec::parse(&data[..cut], "hello").expect_err("truncated ELF parsed");
        assert!(
            matches!(err, ObjectError::Elf { .. }),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn elf_of_another_machine_is_named() {
    let mut data = std::fs::read(prog("hello.bpf.o")).unwrap();
    // e_machine at offset 18: EM_X86_64 = 62.
    data[18..20].copy_from_slice(&62u16.to_le_bytes());
    let err = ObjectSpec::parse(&data, "hello").expect_err("x86 object parsed");
    assert!(
        matches!(err, ObjectError::WrongMachine { machine: 62, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("x86"), "{err}");
}
