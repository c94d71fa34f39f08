//! Skeletons: the committed ones of examples/skel/ (`cargo xtask skel`) compiled into
//! this test (so the workspace's `clippy -D warnings` covers the generated code) and
//! driven with real events: hello's ring buffer records decoded into the generated
//! `Event`, hello_buffer_config's `.rodata` and `.data` set before load, perf_events'
//! samples through the typed perf buffer; the layouts fixture checked field by field.

mod common;

use std::cell::RefCell;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::{chain, exec_true, poll_until, prog, setup};
use corebpf::map::MapFlags;
use corebpf::skel::{generate, SkelOptions};
use corebpf::Pod;

include!("../examples/skel/hello.skel.rs");
include!("../examples/skel/hello_buffer_config.skel.rs");
include!("../examples/skel/perf_events.skel.rs");
include!("../examples/skel/layouts.skel.rs");

/// The committed skeletons are what the generator makes of the committed objects now.
#[test]
fn committed_skeletons_are_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (object, name, include) in [
        (
            "bpf-progs/hello.bpf.o",
            "hello",
            "../../bpf-progs/hello.bpf.o",
        ),
        (
            "bpf-progs/hello_buffer_config.bpf.o",
            "hello_buffer_config",
            "../../bpf-progs/hello_buffer_config.bpf.o",
        ),
        (
            "bpf-progs/perf_events.bpf.o",
            "perf_events",
            "../../bpf-progs/perf_events.bpf.o",
        ),
        ("examples/skel/layouts.bpf.o", "layouts", "layouts.bpf.o"),
    ] {
        let bytes = std::fs::read(root.join(object)).unwrap();
        let text = generate(&bytes, &SkelOptions::new(name).object_path(include)).unwrap();
        let committed =
            std::fs::read_to_string(root.join(format!("examples/skel/{name}.skel.rs"))).unwrap();
        assert!(
            text == committed,
            "examples/skel/{name}.skel.rs is stale: run `cargo xtask skel`"
        );
    }
    assert_eq!(hello::OBJECT, std::fs::read(prog("hello.bpf.o")).unwrap());
}

/// hello: open, load, attach, exec, read the records as `hello::Event`, the counts
/// map as `HashMap<u32, u64>` and `.bss` through its live view; drop detaches.
#[test]
fn hello_events_arrive_as_the_generated_struct() {
    setup();
    let mut open = hello::open().unwrap();
    assert_eq!(open.rodata().target_tgid, 0, "the object's initial value");
    open.set_max_entries("counts", 2048).unwrap();
    assert!(open.set_max_entries("no_such_map", 1).is_err());
    let mut skel = open.load().unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(skel.progs().handle_execve().is_some());
    assert_eq!(skel.maps().counts().unwrap().map().def().max_entries, 2048);
    skel.attach().unwrap();
    assert_eq!(skel.object().links().len(), 1);

    let seen = Mutex::new(Vec::<hello::Event>::new());
    let mut ring = skel
        .hello_ring(|e: &hello::Event| {
            seen.lock().unwrap().push(*e);
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
            let s = seen.lock().unwrap();
            s.iter().any(|e| pids.borrow().contains(&e.pid))
        },
    );
    assert!(found, "no event for our /bin/true");
    let pids = pids.into_inner();
    let event = *seen
        .lock()
        .unwrap()
        .iter()
        .find(|e| pids.contains(&e.pid))
        .unwrap();
    assert_eq!(event.uid, nix::unistd::getuid().as_raw());
    assert_eq!(event.filename_str(), Ok("/bin/true"));
    // comm before the exec completes: the forked test thread's name, some prefix of it.
    assert!(!event.comm_str().unwrap().is_empty(), "{event:?}");

    let counts = skel.maps().counts().unwrap();
    let ours = counts.get(&event.uid).unwrap().unwrap_or(0);
    assert!(ours >= 1, "counts[{}] = {ours}", event.uid);
    let total = skel.bss().unwrap().total_events().unwrap();
    assert!(total >= 1, "total_events = {total}");
    assert!(skel.bss().unwrap().read().unwrap().total_events >= total);
    assert_eq!(skel.rodata().unwrap().target_tgid().unwrap(), 0);
    // `.rodata` is frozen; `.bss` writes reach the program's memory.
    skel.bss().unwrap().set_total_events(&0).unwrap();
    assert!(skel.bss().unwrap().read().unwrap().total_events < total);

    // Detach: our execs are no longer seen.
    drop(ring);
    skel.detach();
    assert!(skel.object().links().is_empty());
    let before = skel.bss().unwrap().total_events().unwrap();
    exec_true(None);
    let after = skel.bss().unwrap().total_events().unwrap();
    // Other processes' execs were not seen either: the program is detached.
    assert_eq!(before, after);
}

impl hello::Skel {
    /// The generated ring buffer helper, as an example would call it.
    fn hello_ring<'a>(
        &'a self,
        f: impl FnMut(&hello::Event) -> i32 + Send + 'a,
    ) -> corebpf::RingBufferBuilder<'a> {
        self.events_ring_buffer(f).unwrap()
    }
}

/// A shell waiting on stdin, then exec'ing /bin/true: its pid is known before the
/// exec, so it can be configured into `.rodata` before load.
struct Waiting {
    child: std::process::Child,
}

impl Waiting {
    fn spawn() -> Waiting {
        let child = Command::new("/bin/sh")
            .args(["-c", "read x; exec /bin/true"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawning /bin/sh");
        Waiting { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn go(mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        drop(stdin);
        self.child.wait().unwrap();
    }
}

/// hello_buffer_config: `.rodata`'s `target_tgid` and `.data`'s `default_message` set
/// through the open skeleton take effect: only the target's exec is reported, with
/// the message written before load; a `config` entry set through the typed map wins.
#[test]
fn rodata_and_data_set_before_load_take_effect() {
    setup();
    let target = Waiting::spawn();
    let mut open = hello_buffer_config::open().unwrap();
    assert_eq!(
        corebpf::skel::c_str(&open.data().default_message),
        Ok("Hello World"),
        "the object's initial .data"
    );
    open.rodata_mut().target_tgid = target.pid();
    open.data_mut().default_message = *b"from skel\0\0\0";
    let mut skel = open.load().unwrap_or_else(|e| panic!("{}", chain(&e)));
    skel.attach().unwrap();
    assert_eq!(skel.rodata().unwrap().target_tgid().unwrap(), target.pid());
    assert_eq!(
        skel.data().unwrap().read().unwrap().default_message_str(),
        Ok("from skel")
    );

    let seen = Mutex::new(Vec::<hello_buffer_config::Event>::new());
    let mut ring = skel
        .events_ring_buffer(|e: &hello_buffer_config::Event| {
            seen.lock().unwrap().push(*e);
            0
        })
        .unwrap()
        .build()
        .unwrap();
    // Execs of other processes, which the filter must drop.
    for _ in 0..3 {
        exec_true(None);
    }
    let pid = target.pid();
    target.go();
    let found = poll_until(&mut ring, 25, || {}, || !seen.lock().unwrap().is_empty());
    assert!(found, "no event for the target {pid}");
    ring.poll(Some(Duration::from_millis(200))).unwrap();
    drop(ring);
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.iter().all(|e| e.pid == pid),
        "only the target: {seen:?}"
    );
    assert_eq!(seen[0].message_str(), Ok("from skel"));
    assert_eq!(seen[0].filename_str(), Ok("/bin/true"));
    assert_eq!(
        skel.bss().unwrap().total_events().unwrap(),
        seen.len() as u64
    );

    // The typed `config` map: a `UserMsg` value for our uid overrides the default.
    let config = skel.maps().config().unwrap();
    let uid = nix::unistd::getuid().as_raw();
    let msg = hello_buffer_config::UserMsg {
        message: *b"per uid\0\0\0\0\0",
    };
    config.insert(&uid, &msg, MapFlags::ANY).unwrap();
    assert_eq!(config.get(&uid).unwrap(), Some(msg));
}

/// A rodata value no process has: nothing is counted, nothing is sent.
#[test]
fn a_rodata_filter_set_before_load_filters() {
    setup();
    let mut open = hello::open().unwrap();
    open.rodata_mut().target_tgid = u32::MAX - 1; // above pid_max: no process has it
    let mut skel = open.load().unwrap();
    skel.attach().unwrap();
    for _ in 0..5 {
        exec_true(None);
    }
    assert_eq!(skel.bss().unwrap().total_events().unwrap(), 0);
    assert_eq!(skel.maps().counts().unwrap().keys().count(), 0);
}

/// perf_events: samples arrive through the typed perf buffer as `perf_events::Event`.
#[test]
fn perf_samples_arrive_typed() {
    setup();
    let mut skel = perf_events::open().unwrap().load().unwrap();
    skel.attach().unwrap();
    let samples = Mutex::new(Vec::<(u32, perf_events::Event)>::new());
    let mut perf = skel
        .events_perf_buffer(|cpu, e: &perf_events::Event| samples.lock().unwrap().push((cpu, *e)))
        .unwrap()
        .pages(8)
        .build()
        .unwrap();
    const N: u32 = 20;
    std::thread::Builder::new()
        .name("cbpf-burst".into())
        .spawn(|| {
            for _ in 0..N {
                let _ = nix::unistd::getpgid(None);
            }
        })
        .unwrap()
        .join()
        .unwrap();
    for _ in 0..25 {
        perf.poll(Some(Duration::from_millis(200))).unwrap();
        let me = std::process::id();
        if samples
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e.pid == me)
            .count()
            >= N as usize
        {
            break;
        }
    }
    drop(perf);
    // Only ours: a burst thread of another process would be seen too.
    let me = std::process::id();
    let ours: Vec<perf_events::Event> = samples
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| e.pid == me)
        .collect();
    assert_eq!(ours.len(), N as usize, "every sample arrives");
    let mut seqs: Vec<u32> = ours.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        N as usize,
        "distinct sequence numbers: {seqs:?}"
    );
    for e in &ours {
        assert_eq!(e.comm_str(), Ok("cbpf-burst"));
    }
    assert!(skel.bss().unwrap().sent().unwrap() >= u64::from(N));
}

/// The layouts fixture: each C layout's size and field offsets, bitfields, enums with
/// unknown values, unions and char arrays, without loading anything.
#[test]
fn generated_layouts_match_c() {
    use layouts::{Big, Delta, Flags, Mode, Packed, Record, Value};
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<Record>(), 88);
    assert_eq!(size_of::<Flags>(), 8);
    assert_eq!(size_of::<Value>(), 8);
    assert_eq!(size_of::<Packed>(), 9);
    assert_eq!(offset_of!(Record, n), 8);
    assert_eq!(offset_of!(Record, flags), 24);
    assert_eq!(offset_of!(Record, packed), 40);
    assert_eq!(offset_of!(Record, name), 49);
    assert_eq!(offset_of!(Record, pair), 62);
    assert_eq!(offset_of!(Record, big), 72);
    assert_eq!(offset_of!(Record, tail), 80);

    // Bitfields: C's `ready:1, level:3, offset:5 (signed), wide:40` in 8 bytes.
    let mut f = Flags::default();
    f.set_ready(1);
    f.set_level(5);
    f.set_offset(-3);
    f.set_wide(0xab_cdef_0123);
    assert_eq!(
        (f.ready(), f.level(), f.offset(), f.wide()),
        (1, 5, -3, 0xab_cdef_0123)
    );
    let bits = u64::from_le_bytes(*f.as_bytes().first_chunk().unwrap());
    let want = 1 | (5 << 1) | ((-3i64 as u64 & 0x1f) << 4) | (0xab_cdef_0123 << 9);
    assert_eq!(bits, want, "the bit positions clang uses (bpfel)");
    f.set_level(9); // 4 bits: only the low 3 are kept, the neighbours untouched
    assert_eq!((f.ready(), f.level(), f.offset()), (1, 1, -3));

    // Enums: every value representable, the named ones as variants.
    let mut r = Record::default();
    r.set_mode(Mode::ModeAuto);
    assert_eq!(r.mode, 7);
    r.mode = 42;
    assert_eq!(r.mode(), Mode::Other(42));
    assert_eq!(u32::from(Mode::Other(42)), 42);
    r.set_delta(Delta::DeltaDown);
    assert_eq!((r.delta, r.delta()), (-1, Delta::DeltaDown));
    assert_eq!(Big::from_raw(1 << 32), Big::BigHuge);

    // Unions: each member reads the same bytes.
    let mut v = Value::default();
    v.set_q(0x1122_3344_5566_7788);
    assert_eq!(v.u(), 0x5566_7788);
    assert_eq!(v.bytes()[0], 0x88);

    // Char arrays: up to the NUL; bytes that are not UTF-8 are an error, not lost.
    r.name[..6].copy_from_slice(b"hello\0");
    assert_eq!(r.name_str(), Ok("hello"));
    r.name[0] = 0xff;
    assert!(r.name_str().is_err());

    // The sections: `.rodata`'s initial values, read from the object.
    let open = layouts::open().unwrap();
    assert_eq!(open.rodata().default_mode(), Mode::ModeAuto);
    assert_eq!(open.rodata().greeting_str(), Ok("hi"));
    let bss = layouts::Bss::default();
    assert_eq!(bss.as_bytes().len(), 89);
}
