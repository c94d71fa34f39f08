//! Every map type, used by a BPF program driven by a real event: each test loads an
//! object of `bpf-progs/maps_*.bpf.c` for its own thread (`target_tid`, set before
//! load with `Loader::set_global`), makes the event happen (a system call of the
//! thread, a process's system calls, a file write, `BPF_PROG_TEST_RUN`), and checks
//! what the program recorded through the typed map views.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use common::feature::{self, Feature};
use common::*;
use corebpf::map::lpm_trie::Key;
use corebpf::map::{
    Array, BloomFilter, CpuMap, DevMap, DevMapHash, HashMap, KernelSymbols, LpmTrie, LruHashMap,
    LruPerCpuHashMap, Map, MapOfMaps, PerCpuArray, PerCpuHashMap, ProgArray, Queue, SockHash,
    SockMap, Stack, StackTrace,
};
use corebpf::{Link, Loader, MapFlags, Object};

/// The calling thread's id.
fn tid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

/// Loads `bpf-progs/NAME.bpf.o` for this thread, with only `programs` loaded.
fn load(name: &str, programs: &[&str]) -> Object {
    load_with(name, programs, Loader::new())
}

fn load_with(name: &str, programs: &[&str], loader: Loader) -> Object {
    setup();
    let spec = corebpf::ObjectSpec::from_file(&prog(&format!("{name}.bpf.o")))
        .unwrap_or_else(|e| panic!("parsing {name}: {}", chain(&e)));
    let mut loader = loader;
    if spec.global("target_tid").is_some() {
        loader = loader.set_global("target_tid", &tid());
    }
    for p in &spec.programs {
        loader = loader.autoload(&p.name, programs.contains(&p.name.as_str()));
    }
    loader
        .load(&spec)
        .unwrap_or_else(|e| panic!("loading {name}: {}", chain(&e)))
}

fn attach(obj: &Object, program: &str) -> Link {
    obj.program(program)
        .unwrap_or_else(|| panic!("program {program} loaded"))
        .attach()
        .unwrap_or_else(|e| panic!("attaching {program}: {}", chain(&e)))
}

/// Writes `.bss` variable `name` through the mmap'd view.
fn set_bss(obj: &Object, name: &str, value: u64) {
    obj.bss().unwrap().set(name, &value).unwrap();
}

fn bss(obj: &Object, name: &str) -> u64 {
    obj.bss().unwrap().get(name).unwrap()
}

fn getpgid() {
    nix::unistd::getpgid(None).expect("getpgid");
}

fn getppid() {
    let _ = nix::unistd::getppid();
}

#[test]
fn hash_array_percpu_and_lru_maps_count_a_programs_events() {
    let obj = load("maps_kinds", &["count_keys"]);
    let link = attach(&obj, "count_keys");
    let want: BTreeMap<u32, u64> = [(1, 2), (2, 3), (9, 10)].into();
    for (&key, &n) in &want {
        set_bss(&obj, "input", u64::from(key));
        for _ in 0..n {
            getpgid();
        }
    }
    drop(link);
    let map = |name| obj.map(name).unwrap();

    let hash: HashMap<u32, u64> = map("hash").try_into().unwrap();
    let lru: LruHashMap<u32, u64> = map("lru_hash").try_into().unwrap();
    for view in [hash.iter().collect::<Vec<_>>(), lru.iter().collect()] {
        let got: BTreeMap<u32, u64> = view.into_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(got, want);
    }
    let batch: BTreeMap<u32, u64> = hash.lookup_batch().unwrap().into_iter().collect();
    assert_eq!(batch, want);
    assert_eq!(lru.get(&9).unwrap(), Some(10));

    // Per-CPU: the thread may have run on any CPU; the sum over CPUs is the count.
    let percpu: PerCpuHashMap<u32, u64> = map("percpu_hash").try_into().unwrap();
    let lru_percpu: LruPerCpuHashMap<u32, u64> = map("lru_percpu_hash").try_into().unwrap();
    let cpus = corebpf::map::possible_cpus().unwrap() as usize;
    for (&key, &n) in &want {
        let v = percpu.get(&key).unwrap().unwrap();
        assert_eq!(v.len(), cpus);
        assert_eq!(v.iter().sum::<u64>(), n, "percpu_hash key {key}");
        let v = lru_percpu.get(&key).unwrap().unwrap();
        assert_eq!(v.iter().sum::<u64>(), n, "lru_percpu_hash key {key}");
    }
    let sums: BTreeMap<u32, u64> = percpu
        .lookup_batch()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.iter().sum()))
        .collect();
    assert_eq!(sums, want);

    // Arrays: slot key % 8.
    let array: Array<u64> = map("array").try_into().unwrap();
    let percpu_array: PerCpuArray<u64> = map("percpu_array").try_into().unwrap();
    let slots = array.lookup_batch().unwrap();
    let per_cpu_slots = percpu_array.lookup_batch().unwrap();
    for slot in 0..8u32 {
        let n: u64 = want
            .iter()
            .filter(|(k, _)| *k % 8 == slot)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(array.get(slot).unwrap(), n, "array slot {slot}");
        assert_eq!(slots[slot as usize], n);
        assert_eq!(per_cpu_slots[slot as usize].iter().sum::<u64>(), n);
        assert_eq!(percpu_array.get(slot).unwrap().iter().sum::<u64>(), n);
    }
}

#[test]
fn lpm_trie_matches_the_longest_prefix_for_a_program() {
    let obj = load("maps_kinds", &["match_prefix"]);
    let routes: LpmTrie<[u8; 4], u32> = obj.map("routes").unwrap().try_into().unwrap();
    routes
        .insert(&Key::new(8, [10, 0, 0, 0]), &8, MapFlags::ANY)
        .unwrap();
    routes
        .insert(&Key::new(24, [10, 1, 2, 0]), &24, MapFlags::ANY)
        .unwrap();
    let _link = attach(&obj, "match_prefix");
    let ask = |addr: [u8; 4]| {
        set_bss(&obj, "input", u64::from(u32::from_ne_bytes(addr)));
        nix::unistd::getsid(None).expect("getsid");
        bss(&obj, "output")
    };
    assert_eq!(ask([10, 1, 2, 3]), 24);
    assert_eq!(ask([10, 7, 7, 7]), 8);
    assert_eq!(ask([192, 168, 0, 1]), 0xffff_ffff);
}

#[test]
fn queue_and_stack_hold_what_a_program_pushed() {
    let obj = load("maps_kinds", &["push"]);
    let _link = attach(&obj, "push");
    for v in [5u64, 42, 6, 7] {
        set_bss(&obj, "input", v);
        nix::unistd::getgid();
    }
    let queue: Queue<u64> = obj.map("queue").unwrap().try_into().unwrap();
    let stack: Stack<u64> = obj.map("stack").unwrap().try_into().unwrap();
    assert_eq!(queue.peek().unwrap(), Some(5));
    assert_eq!(stack.peek().unwrap(), Some(7));
    assert_eq!(queue.drain().unwrap(), [5, 42, 6, 7]);
    assert_eq!(stack.drain().unwrap(), [7, 6, 42, 5]);
    assert_eq!((queue.pop().unwrap(), stack.pop().unwrap()), (None, None));
}

#[test]
fn bloom_filter_answers_a_program_and_user_space_alike() {
    let test = "bloom_filter_answers_a_program_and_user_space_alike";
    if feature::require(test, Feature::BloomFilter).is_none() {
        return;
    }
    let obj = load("maps_bloom", &["probe"]);
    let bloom: BloomFilter<u64> = obj.map("bloom").unwrap().try_into().unwrap();
    bloom.push(&42).unwrap();
    let _link = attach(&obj, "probe");
    let mut hits = Vec::new();
    for v in [5u64, 42, 6, 7] {
        set_bss(&obj, "input", v);
        nix::unistd::getgid();
        hits.push(bss(&obj, "hit"));
    }
    // 42 was pushed by user space; 5, 6, 7 never (a false positive is unlikely at
    // this fill: 5 values in 64 entries' worth of bits, 3 hashes).
    assert_eq!(hits, [0, 1, 0, 0]);
    // The program pushed input + 1000 for each.
    for v in [1005u64, 1042, 1006, 1007] {
        assert!(bloom.contains(&v).unwrap(), "{v}");
    }
}

#[test]
fn prog_array_tail_calls_slots_from_the_initializer_and_set_at_run_time() {
    let obj = load("maps_tail", &["entry", "tail_a", "tail_b"]);
    let _link = attach(&obj, "entry");
    let counts = |obj: &Object| ["hits_a", "hits_b", "fell_through"].map(|n| bss(obj, n));
    // Slot 0 was filled at load from `.values = { [0] = &tail_a }`.
    getppid();
    assert_eq!(counts(&obj), [1, 0, 0]);
    // Slot 1 is empty: the tail call falls through.
    obj.bss().unwrap().set("slot", &1u32).unwrap();
    getppid();
    assert_eq!(counts(&obj), [1, 0, 1]);
    {
        let jumps: ProgArray = obj.map("jumps").unwrap().try_into().unwrap();
        let tail_b = obj.program("tail_b").unwrap();
        jumps.set(1, tail_b).unwrap();
        assert_eq!(jumps.get(1).unwrap(), Some(tail_b.info().unwrap().id));
        let tail_a_id = obj.program("tail_a").unwrap().info().unwrap().id;
        assert_eq!(jumps.get(0).unwrap(), Some(tail_a_id));
        let mut filled: Vec<u32> = jumps.indexes().collect::<Result<_, _>>().unwrap();
        filled.sort_unstable();
        assert_eq!(filled, [0, 1]);
    }
    getppid();
    assert_eq!(counts(&obj), [1, 1, 1]);
    // Emptied at run time: slot 0 falls through too.
    let jumps: ProgArray = obj.map("jumps").unwrap().try_into().unwrap();
    assert!(jumps.remove(0).unwrap());
    obj.bss().unwrap().set("slot", &0u32).unwrap();
    getppid();
    assert_eq!(counts(&obj), [1, 1, 2]);
}

/// Executable mappings of this process, from /proc/self/maps: `(start, end, path)`.
fn executable_mappings() -> Vec<(u64, u64, String)> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (range, perms) = (it.next()?, it.next()?);
            if !perms.contains('x') {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let path = it.nth(3).unwrap_or("").to_string();
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
                path,
            ))
        })
        .collect()
}

#[test]
fn stack_trace_kernel_stacks_name_kernel_functions_user_stacks_our_code() {
    let obj = load("maps_stack", &["record"]);
    let link = attach(&obj, "record");
    getppid();
    drop(link);
    // Initialized to -1: in .data.
    let data = obj.data().unwrap();
    let (kid, uid): (i64, i64) = (data.get("kernel_id").unwrap(), data.get("user_id").unwrap());
    assert!(kid >= 0 && uid >= 0, "stack ids {kid}, {uid}");
    let stacks: StackTrace = obj.map("stacks").unwrap().try_into().unwrap();
    assert_eq!(stacks.depth(), 127);

    let ksyms = KernelSymbols::load().expect("reading /proc/kallsyms");
    let frames = stacks.symbolize(kid as u32, &ksyms).unwrap();
    assert!(frames.len() >= 2, "{frames:?}");
    let names: Vec<&str> = frames
        .iter()
        .map(|f| f.symbol.map_or("?", |s| s.name))
        .collect();
    assert!(
        frames.iter().all(|f| f.symbol.is_some()),
        "every kernel frame is in a kernel symbol: {names:?}"
    );
    // The program ran for a system call: the syscall entry is on the stack.
    assert!(
        names.iter().any(|n| n.contains("do_syscall_64")),
        "{names:?}"
    );

    // The user stack starts at the system call instruction, in this process's code
    // (the C library or the test binary); frames past it depend on frame pointers.
    let user = stacks.get(uid as u32).unwrap().expect("the user stack");
    let maps = executable_mappings();
    let top = user[0];
    let holder = maps.iter().find(|(a, b, _)| (*a..*b).contains(&top));
    assert!(
        holder.is_some(),
        "top user frame {top:#x} is in none of {maps:x?}"
    );
    assert!(
        ksyms.resolve(top).is_none() || top < 0xffff_0000_0000_0000,
        "a user address"
    );
    let ids: Vec<u32> = stacks.ids().collect::<Result<_, _>>().unwrap();
    assert!(ids.contains(&(kid as u32)) && ids.contains(&(uid as u32)));
    assert!(stacks.remove(kid as u32).unwrap());
    assert_eq!(stacks.get(kid as u32).unwrap(), None);
}

#[test]
fn map_of_maps_slots_from_the_initializer_and_replaced_at_run_time() {
    let obj = load("maps_in_maps", &["bump"]);
    let id = |name: &str| obj.map(name).unwrap().info().unwrap().id;
    let inner = |m: &Map| Array::<u64>::try_from(m).unwrap().get(0).unwrap();
    let outer_array: MapOfMaps = obj.map("outer_array").unwrap().try_into().unwrap();
    let outer_hash: MapOfMaps = obj.map("outer_hash").unwrap().try_into().unwrap();
    // `.values = { &inner_a, &inner_b }` and `{ [3] = &inner_b }`, filled at load.
    assert_eq!(outer_array.get(&0).unwrap(), Some(id("inner_a")));
    assert_eq!(outer_array.get(&1).unwrap(), Some(id("inner_b")));
    assert_eq!(outer_hash.get(&3).unwrap(), Some(id("inner_b")));
    assert_eq!(outer_hash.get(&0).unwrap(), None);
    let def = *obj.map("outer_array").unwrap().inner_def().unwrap();
    assert_eq!((def.key_size, def.value_size, def.max_entries), (4, 8, 1));

    let _link = attach(&obj, "bump");
    let bump = |slot: u32| {
        obj.bss().unwrap().set("slot", &slot).unwrap();
        getppid();
    };
    bump(0); // inner_a += 1; outer_hash has no key 0
    bump(3); // outer_array has no slot 3; inner_b += 10
    let (a, b) = (obj.map("inner_a").unwrap(), obj.map("inner_b").unwrap());
    assert_eq!((inner(a), inner(b), bss(&obj, "misses")), (1, 10, 2));

    // A map of the inner definition, created at run time, replaces inner_a in slot 0
    // and joins the hash under key 0.
    let fresh = Map::create("fresh_inner", &def).unwrap();
    outer_array.set(&0, &fresh).unwrap();
    outer_hash.set(&0, &fresh).unwrap();
    bump(0);
    assert_eq!((inner(a), inner(&fresh)), (1, 11));
    let opened = outer_array.get_map(&0).unwrap().unwrap();
    assert_eq!(inner(&opened), 11, "the same map, opened by id");
    assert!(outer_hash.remove(&0).unwrap());
    bump(0);
    assert_eq!((inner(&fresh), bss(&obj, "misses")), (12, 3));
}

#[test]
fn task_storage_counts_a_processs_calls_on_its_task() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let test = "task_storage_counts_a_processs_calls_on_its_task";
    if feature::require(test, Feature::TpBtf).is_none()
        || feature::require(test, Feature::TaskStorage).is_none()
    {
        return;
    }

    // A process of its own, kept alive while its storage is read: `cat` echoing lines.
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning cat");
    let pid = child.id();
    let obj = load_with(
        "maps_storage",
        &["count_task"],
        Loader::new().set_global("target_tgid", &pid),
    );
    let calls: corebpf::map::TaskStorage<u64> = obj.map("task_calls").unwrap().try_into().unwrap();
    assert_eq!(calls.get_pid(pid).unwrap(), None, "no call seen yet");
    let link = attach(&obj, "count_task");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for i in 0..5 {
        writeln!(stdin, "line {i}").unwrap();
        line.clear();
        stdout.read_line(&mut line).unwrap();
    }
    drop(link);
    // Each echo is a read and a write of cat's (the first read began before the
    // program was attached).
    let n = calls.get_pid(pid).unwrap().expect("cat's storage");
    assert!(n >= 9, "{n} calls");
    // Only cat's task has storage: this process has none.
    assert_eq!(calls.get_pid(std::process::id()).unwrap(), None);
    // User space writes it too.
    calls.insert_pid(pid, &1, MapFlags::EXIST).unwrap();
    assert_eq!(calls.get_pid(pid).unwrap(), Some(1));
    assert!(calls.remove_pid(pid).unwrap());
    drop(stdin);
    child.wait().unwrap();
}

#[test]
fn inode_storage_counts_the_opens_of_a_file_on_its_inode() {
    // Inode storage is for BPF LSM programs.
    let test = "inode_storage_counts_the_opens_of_a_file_on_its_inode";
    if feature::require(test, Feature::Lsm).is_none() {
        return;
    }
    let obj = load("maps_inode_storage", &["count_open"]);
    let dir = tempfile::tempdir().unwrap();
    let (opened, other) = (dir.path().join("opened"), dir.path().join("other"));
    std::fs::write(&opened, b"x").unwrap();
    std::fs::write(&other, b"y").unwrap();
    let link = attach(&obj, "count_open");
    for _ in 0..3 {
        std::fs::File::open(&opened).unwrap();
    }
    drop(link);
    let opens: corebpf::map::InodeStorage<u64> =
        obj.map("inode_opens").unwrap().try_into().unwrap();
    // The key is any open file of the inode (this open came after the detach).
    let file = std::fs::File::open(&opened).unwrap();
    assert_eq!(opens.get(&file).unwrap(), Some(3));
    let other = std::fs::File::open(&other).unwrap();
    assert_eq!(
        opens.get(&other).unwrap(),
        None,
        "a file not opened meanwhile"
    );
    opens.insert(&other, &7, MapFlags::NOEXIST).unwrap();
    assert_eq!(opens.get(&other).unwrap(), Some(7));
    assert!(opens.remove(&file).unwrap());
}

#[test]
fn arena_memory_is_shared_by_program_and_user_space() {
    let test = "arena_memory_is_shared_by_program_and_user_space";
    if feature::require(test, Feature::Arena).is_none() {
        return;
    }
    let obj = load("maps_arena", &["alloc", "sum"]);
    let arena: corebpf::map::Arena = obj.map("arena").unwrap().try_into().unwrap();
    assert_eq!(arena.len(), 4 * 4096);
    // A syscall program runs once, without data (the kernel refuses `repeat` for it).
    let run = |name: &str| {
        let prog = corebpf::program::SyscallProgram::try_from(obj.program(name).unwrap());
        prog.unwrap().run(&mut []).unwrap()
    };
    assert_eq!(run("alloc"), 0, "bpf_arena_alloc_pages failed");
    let page = bss(&obj, "page");
    let offset = arena.offset_of(page).expect("the page is in the arena");
    assert_eq!(arena.read_at::<u64>(offset).unwrap(), 0xc0ffee);
    arena.write_at(offset + 8, &40u64).unwrap();
    arena.write_at(offset + 16, &2u64).unwrap();
    assert_eq!(run("sum"), 0);
    assert_eq!(bss(&obj, "total"), 42);
    assert!(arena.read_at::<u64>(arena.len()).is_err());
}

/// `XDP_PASS` and `XDP_REDIRECT`, what `redirect` of `maps_xdp` returns.
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;

#[test]
fn redirect_maps_send_a_programs_frames_where_user_space_set() {
    let obj = load("maps_xdp", &["redirect", "on_dev", "on_cpu"]);
    let lo: u32 = std::fs::read_to_string("/sys/class/net/lo/ifindex")
        .expect("lo's ifindex")
        .trim()
        .parse()
        .unwrap();
    let id = |name: &str| obj.program(name).unwrap().info().unwrap().id;
    let bss = obj.bss().unwrap();
    let frame = [0u8; 64];
    let mut runs = 0u32;
    // Runs `redirect` on one frame through map `which` at `key`: XDP_REDIRECT when
    // the slot is filled, XDP_PASS when it is empty.
    let mut run = |which: u32, key: u32| {
        bss.set("which", &which).unwrap();
        bss.set("key", &key).unwrap();
        let action = obj
            .program("redirect")
            .unwrap()
            .test_run(&frame, 1)
            .unwrap();
        runs += 1;
        assert_eq!(bss.get::<u32>("runs").unwrap(), runs);
        action
    };

    let devs: DevMap = obj.map("devs").unwrap().try_into().unwrap();
    assert_eq!(run(0, 3), XDP_PASS);
    devs.set(3, lo, Some(obj.program("on_dev").unwrap()))
        .unwrap();
    let slot = devs.get(3).unwrap().expect("slot 3 set");
    assert_eq!((slot.ifindex, slot.prog_id), (lo, Some(id("on_dev"))));
    assert_eq!(run(0, 3), XDP_REDIRECT);
    assert_eq!(run(0, 2), XDP_PASS);
    assert!(devs.remove(3).unwrap());
    assert_eq!(run(0, 3), XDP_PASS);
    assert!(devs.get(8).is_err(), "slot 8 is past max_entries");

    let by_key: DevMapHash = obj.map("devs_by_key").unwrap().try_into().unwrap();
    assert_eq!(run(1, 77), XDP_PASS);
    by_key.set(77, lo, None).unwrap();
    assert_eq!(by_key.keys().collect::<Result<Vec<_>, _>>().unwrap(), [77]);
    assert_eq!(by_key.get(77).unwrap().map(|v| v.ifindex), Some(lo));
    assert_eq!(run(1, 77), XDP_REDIRECT);
    assert!(by_key.remove(77).unwrap());
    assert_eq!(run(1, 77), XDP_PASS);

    let cpus: CpuMap = obj.map("cpus").unwrap().try_into().unwrap();
    assert_eq!(run(2, 0), XDP_PASS);
    cpus.set(0, 64, Some(obj.program("on_cpu").unwrap()))
        .unwrap();
    let entry = cpus.get(0).unwrap().expect("CPU 0 enabled");
    assert_eq!((entry.qsize, entry.prog_id), (64, Some(id("on_cpu"))));
    assert_eq!(run(2, 0), XDP_REDIRECT);
    assert!(cpus.remove(0).unwrap());
    assert_eq!(run(2, 0), XDP_PASS);
}

/// A connected pair of TCP sockets on the loopback: (client, accepted).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    // A guard against a kernel that lost the message: the test fails, never hangs.
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    (client, server)
}

/// Reads what `client` received; checks `server` received nothing.
fn received(client: &mut TcpStream, server: &TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    client.read_exact(&mut got).expect("the redirected message");
    server.set_nonblocking(true).unwrap();
    let mut peek = [0u8; 1];
    let err = server
        .peek(&mut peek)
        .expect_err("nothing reached the peer");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    got
}

#[test]
fn sockmap_and_sockhash_steer_a_sockets_messages_back_to_itself() {
    let obj = load("maps_sock", &["steer"]);
    let bss = obj.bss().unwrap();
    let steer = obj.program("steer").unwrap();
    let attach = |map: &str| {
        raw_bpf::prog_attach(
            obj.map(map).unwrap().fd(),
            steer.fd(),
            raw_bpf::attach_type::SK_MSG_VERDICT,
        )
        .unwrap_or_else(|e| panic!("attaching steer to {map}: {e}"))
    };

    // The socket map: slot 0 holds the client; a message it sends is redirected to
    // its own receive side; slot 1 is empty and drops what is sent there.
    attach("socks");
    let socks: SockMap = obj.map("socks").unwrap().try_into().unwrap();
    let (mut client, server) = tcp_pair();
    assert_eq!(socks.get(0).unwrap(), None);
    socks.set(0, &client, MapFlags::NOEXIST).unwrap();
    assert!(socks.get(0).unwrap().is_some_and(|cookie| cookie != 0));
    assert!(socks.set(0, &client, MapFlags::NOEXIST).is_err());
    client.write_all(b"hello").unwrap();
    assert_eq!(received(&mut client, &server, 5), b"hello");
    bss.set("target", &1u32).unwrap();
    assert!(
        client.write_all(b"lost").is_err(),
        "slot 1 is empty: dropped"
    );
    assert_eq!(bss.get::<u32>("msgs").unwrap(), 2);
    assert_eq!(bss.get::<u64>("bytes").unwrap(), 9);
    assert!(socks.remove(0).unwrap());
    assert!(!socks.remove(0).unwrap());

    // The socket hash: the same, keyed by a u64.
    attach("socks_by_key");
    let by_key: SockHash<u64> = obj.map("socks_by_key").unwrap().try_into().unwrap();
    let (mut client, server) = tcp_pair();
    let key = 0xabcdefu64;
    by_key.set(&key, &client, MapFlags::ANY).unwrap();
    assert_eq!(by_key.keys().collect::<Result<Vec<_>, _>>().unwrap(), [key]);
    bss.set("use_hash", &1u32).unwrap();
    bss.set("hash_key", &key).unwrap();
    client.write_all(b"again").unwrap();
    assert_eq!(received(&mut client, &server, 5), b"again");
    bss.set("hash_key", &(key + 1)).unwrap();
    assert!(
        client.write_all(b"lost").is_err(),
        "no socket under key + 1"
    );
    assert_eq!(bss.get::<u32>("msgs").unwrap(), 4);
    assert!(by_key.remove(&key).unwrap());
    assert_eq!(by_key.get(&key).unwrap(), None);
}
