//! XDP on a veth pair between two network namespaces the test makes: programs from
//! `bpf-progs/xdp.bpf.o` attached by BPF link and over netlink, in generic and native
//! mode, each driven by UDP datagrams sent across the pair. What a program did is seen
//! twice: in its counters, and in which datagrams arrive.
//!
//! Namespaces (tests/common/netns.rs): `a` holds `va` (192.0.2.1), `b` holds `vb`
//! (192.0.2.2); programs attach to `vb`, where `a`'s datagrams come in. Redirect tests
//! add a second pair, `vc` in `b` (198.51.100.1) to `vd` in `c` (198.51.100.2).

mod common;

use std::time::Duration;

use common::feature::{self, Feature};
use common::netns::{self, wait_for, NetNs, Pair};
use common::*;
use corebpf::program::{Xdp, XdpMode};
use corebpf::{Link, Object, ObjectSpec, ProgramError};

/// The UDP port the programs act on.
const PORT: u16 = 4789;

/// What `ip link show vb` says about XDP on `vb` (the `prog/xdp` line and mode).
fn xdp_shown(pair: &Pair) -> String {
    pair.b.ip_output(&["-d", "link", "show", "vb"])
}

/// The XDP mode word `ip link` shows among `vb`'s flags (`xdp` for native,
/// `xdpgeneric`), if any.
fn xdp_flag(pair: &Pair) -> Option<String> {
    let shown = xdp_shown(pair);
    let first = shown.lines().next().unwrap_or_default().to_string();
    first
        .split_whitespace()
        .find(|w| w.starts_with("xdp"))
        .map(str::to_string)
}

/// Drops `link` and waits (at most 5 s) until `vb` shows no XDP program: the kernel
/// detaches when the link's last file reference goes, and a child process another
/// test thread is spawning at that moment holds a copy until it execs.
fn detach(pair: &Pair, link: Link) {
    drop(link);
    for _ in 0..100 {
        if xdp_flag(pair).is_none() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("still attached: {}", xdp_shown(pair));
}

fn pair(tag: &str) -> Pair {
    setup();
    Pair::new(tag, PORT)
}

/// Loads xdp.bpf.o with only `programs`, acting on `PORT`, with more `.rodata` values.
fn load(programs: &[&str], globals: &[(&str, Vec<u8>)]) -> (ObjectSpec, Object) {
    netns::load_for_port("xdp.bpf.o", programs, PORT, globals)
}

fn xdp<'a>(obj: &'a Object, name: &str) -> Xdp<'a> {
    Xdp::try_from(obj.program(name).expect("program loaded")).expect("an XDP program")
}

/// How a test attaches.
#[derive(Clone, Copy, Debug)]
enum Way {
    /// `Xdp::attach`: a BPF link on this kernel.
    Auto,
    /// `Xdp::attach_netlink`.
    Netlink,
}

fn attach(ns: &NetNs, prog: &Xdp<'_>, iface: &str, mode: XdpMode, way: Way) -> Link {
    ns.run(|| match way {
        Way::Auto => prog.attach(iface, mode),
        Way::Netlink => prog.attach_netlink(iface, mode),
    })
    .unwrap_or_else(|e| panic!("attaching to {iface} ({mode}, {way:?}): {}", chain(&e)))
}

/// xdp_pass lets datagrams through and counts them; xdp_drop drops and counts them;
/// once its link is dropped, datagrams flow again and `ip link` shows no program.
fn pass_and_drop(tag: &str, mode: XdpMode, way: Way) {
    let pair = pair(tag);
    let (spec, obj) = load(&["xdp_pass", "xdp_drop"], &[]);

    let link = attach(&pair.b, &xdp(&obj, "xdp_pass"), "vb", mode, way);
    let want = match mode {
        XdpMode::Generic => "xdpgeneric",
        _ => "xdp",
    };
    assert_eq!(
        xdp_flag(&pair).as_deref(),
        Some(want),
        "{}",
        xdp_shown(&pair)
    );
    let desc = link.description().to_string();
    assert!(
        desc.contains("vb") && desc.contains(&mode.to_string()),
        "{desc}"
    );
    let by_link = matches!(way, Way::Auto) && feature::available(tag, Feature::XdpLink);
    assert_eq!(desc.ends_with("BPF link"), by_link, "{desc}");
    assert_eq!(desc.ends_with("netlink"), !by_link, "{desc}");
    for i in 0..3 {
        pair.send(&format!("pass {i}"));
        assert_eq!(pair.next().as_deref(), Some(format!("pass {i}").as_str()));
    }
    assert_eq!(wait_for(&spec, &obj, "passed", 3), 3);
    detach(&pair, link);

    let link = attach(&pair.b, &xdp(&obj, "xdp_drop"), "vb", mode, way);
    for i in 0..3 {
        pair.send(&format!("drop {i}"));
    }
    assert_eq!(wait_for(&spec, &obj, "dropped", 3), 3);
    detach(&pair, link);
    let shown = xdp_shown(&pair);
    assert!(
        !shown.contains("prog/xdp"),
        "still attached after the drop: {shown}"
    );
    assert_eq!(xdp_flag(&pair), None, "{shown}");
    pair.send("after");
    assert_eq!(
        pair.next().as_deref(),
        Some("after"),
        "the dropped datagrams arrived"
    );
    assert_eq!(global_u64(&spec, &obj, "dropped"), 3);
    assert_eq!(global_u64(&spec, &obj, "passed"), 3);
}

#[test]
fn generic_pass_and_drop_by_link() {
    pass_and_drop("xgl", XdpMode::Generic, Way::Auto);
}

#[test]
fn native_pass_and_drop_by_link() {
    pass_and_drop("xnl", XdpMode::Native, Way::Auto);
}

#[test]
fn generic_pass_and_drop_by_netlink() {
    pass_and_drop("xgn", XdpMode::Generic, Way::Netlink);
}

#[test]
fn native_pass_and_drop_by_netlink() {
    pass_and_drop("xnn", XdpMode::Native, Way::Netlink);
}

#[test]
fn default_mode_on_veth_is_native() {
    let pair = pair("xdf");
    let (spec, obj) = load(&["xdp_pass"], &[]);
    let link = attach(
        &pair.b,
        &xdp(&obj, "xdp_pass"),
        "vb",
        XdpMode::Default,
        Way::Auto,
    );
    assert_eq!(
        xdp_flag(&pair).as_deref(),
        Some("xdp"),
        "{}",
        xdp_shown(&pair)
    );
    pair.send("x");
    assert_eq!(pair.next().as_deref(), Some("x"));
    assert_eq!(wait_for(&spec, &obj, "passed", 1), 1);
    detach(&pair, link);
    let _ = pair.a;
}

#[test]
fn an_interface_that_does_not_exist_is_named() {
    let (_, obj) = load(&["xdp_pass"], &[]);
    let e = xdp(&obj, "xdp_pass")
        .attach("cbpf-none", XdpMode::Generic)
        .unwrap_err();
    assert!(matches!(e, ProgramError::Interface { .. }), "{e:?}");
    let text = chain(&e);
    assert!(
        text.contains("'cbpf-none'") && text.contains("not found"),
        "{text}"
    );
}

/// A map update made in `ns`: devmap entries name interfaces by index, which the
/// kernel looks up in the updating thread's namespace.
fn update_in(ns: &NetNs, obj: &Object, map: &str, key: &[u8], value: &[u8]) {
    ns.run(|| {
        obj.map(map)
            .expect("map")
            .update(key, value, corebpf::MapFlags::ANY)
    })
    .unwrap_or_else(|e| panic!("updating {map}: {}", chain(&e)));
}

/// `struct bpf_devmap_val` / `struct bpf_cpumap_val`: a u32 (ifindex, queue size)
/// and the fd of the program to run from the entry.
fn map_value(first: u32, prog: &corebpf::Program) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let mut v = first.to_ne_bytes().to_vec();
    v.extend_from_slice(&prog.fd().as_raw_fd().to_ne_bytes());
    v
}

/// `xdp_to_devmap` (or `_hash`) on `vb` sends our datagrams out of `vc`: the devmap
/// entry's own program (`xdp/devmap`) sees each one on its way out, and `vd`, at the
/// other end of that pair, receives them (its xdp_pass counts them; a veth needs a
/// program on the receiving side to take redirected frames in native mode).
fn redirect_to_devmap(tag: &str, mode: XdpMode, hash: bool) {
    let generic = mode == XdpMode::Generic;
    if generic && feature::require(tag, Feature::GenericXdpMapPrograms).is_none() {
        return;
    }
    let pair = pair(tag);
    let c = pair.extend(tag);
    let key: u32 = 7;
    let (redirect, map) = if hash {
        ("xdp_to_devmap_hash", "tx_hash")
    } else {
        ("xdp_to_devmap", "tx_ports")
    };
    let (spec, obj) = load(
        &[redirect, "devmap_prog", "xdp_pass"],
        &[("tx_key", key.to_ne_bytes().to_vec())],
    );
    let vc = pair.b.ifindex("vc");
    let devmap_prog = obj.program("devmap_prog").unwrap();
    let slot = if hash { key } else { 0 };
    update_in(
        &pair.b,
        &obj,
        map,
        &slot.to_ne_bytes(),
        &map_value(vc, devmap_prog),
    );

    let receiver = attach(&c, &xdp(&obj, "xdp_pass"), "vd", mode, Way::Auto);
    let link = attach(&pair.b, &xdp(&obj, redirect), "vb", mode, Way::Auto);
    for i in 0..4 {
        pair.send(&format!("redirect {i}"));
    }
    assert_eq!(wait_for(&spec, &obj, "redirected", 4), 4);
    assert_eq!(
        wait_for(&spec, &obj, "devmap_seen", 4),
        4,
        "the devmap program"
    );
    assert_eq!(wait_for(&spec, &obj, "passed", 4), 4, "arrivals on vd");
    detach(&pair, link);
    pair.send("after");
    assert_eq!(
        pair.next().as_deref(),
        Some("after"),
        "redirected datagrams reached vb's stack"
    );
    drop(receiver);
}

#[test]
fn native_redirect_through_a_devmap() {
    redirect_to_devmap("xrd", XdpMode::Native, false);
}

#[test]
fn generic_redirect_through_a_devmap() {
    redirect_to_devmap("xrg", XdpMode::Generic, false);
}

#[test]
fn native_redirect_through_a_devmap_hash() {
    redirect_to_devmap("xrh", XdpMode::Native, true);
}

#[test]
fn generic_redirect_through_a_devmap_hash() {
    redirect_to_devmap("xrk", XdpMode::Generic, true);
}

/// `xdp_to_cpumap` hands our datagrams to CPU 0's cpumap thread, where the entry's
/// `xdp/cpumap` program sees each and passes it on to the stack: the datagram arrives.
fn redirect_to_cpumap(tag: &str, mode: XdpMode) {
    let generic = mode == XdpMode::Generic;
    if generic && feature::require(tag, Feature::GenericXdpMapPrograms).is_none() {
        return;
    }
    let pair = pair(tag);
    let (spec, obj) = load(&["xdp_to_cpumap", "cpumap_prog"], &[]);
    let cpumap_prog = obj.program("cpumap_prog").unwrap();
    let value = map_value(192, cpumap_prog);
    update_in(&pair.b, &obj, "cpus", &0u32.to_ne_bytes(), &value);
    let link = attach(&pair.b, &xdp(&obj, "xdp_to_cpumap"), "vb", mode, Way::Auto);
    for i in 0..3 {
        pair.send(&format!("cpu {i}"));
        assert_eq!(pair.next().as_deref(), Some(format!("cpu {i}").as_str()));
    }
    assert_eq!(global_u64(&spec, &obj, "redirected"), 3);
    assert_eq!(
        global_u64(&spec, &obj, "cpumap_seen"),
        3,
        "the cpumap program"
    );
    detach(&pair, link);
    pair.send("after");
    assert_eq!(pair.next().as_deref(), Some("after"));
    assert_eq!(
        global_u64(&spec, &obj, "redirected"),
        3,
        "redirected after the drop"
    );
}

#[test]
fn native_redirect_through_a_cpumap() {
    redirect_to_cpumap("xcn", XdpMode::Native);
}

#[test]
fn generic_redirect_through_a_cpumap() {
    redirect_to_cpumap("xcg", XdpMode::Generic);
}

/// `xdp_to_xsk` redirects our datagrams to the AF_XDP socket in `xsks` for the
/// receive queue: the socket receives the whole frame, the UDP socket nothing.
fn redirect_to_xsk(tag: &str, mode: XdpMode) {
    let pair = pair(tag);
    let (spec, obj) = load(&["xdp_to_xsk"], &[]);
    let vb = pair.b.ifindex("vb");
    let socket = pair
        .b
        .run(|| xsk::Socket::new(vb, 0))
        .unwrap_or_else(|e| panic!("creating an AF_XDP socket on vb: {e}"));
    let key = 0u32.to_ne_bytes();
    obj.map("xsks")
        .unwrap()
        .update(&key, &socket.raw_fd().to_ne_bytes(), corebpf::MapFlags::ANY)
        .unwrap_or_else(|e| panic!("xsks[0] = socket: {}", chain(&e)));
    let link = attach(&pair.b, &xdp(&obj, "xdp_to_xsk"), "vb", mode, Way::Auto);
    pair.send("to the xsk");
    let frame = socket
        .recv(Duration::from_secs(5))
        .expect("the AF_XDP socket received nothing");
    // Ethernet (14) + IPv4 (20) + UDP (8) headers, then the payload.
    assert!(frame.len() >= 42, "{} bytes", frame.len());
    assert_eq!(&frame[42..], b"to the xsk");
    assert_eq!(u16::from_be_bytes([frame[36], frame[37]]), PORT);
    assert_eq!(global_u64(&spec, &obj, "redirected"), 1);
    detach(&pair, link);
    pair.send("after");
    assert_eq!(
        pair.next().as_deref(),
        Some("after"),
        "the redirected datagram reached the stack"
    );
}

#[test]
fn native_redirect_to_an_af_xdp_socket() {
    redirect_to_xsk("xxn", XdpMode::Native);
}

#[test]
fn generic_redirect_to_an_af_xdp_socket() {
    redirect_to_xsk("xxg", XdpMode::Generic);
}

/// With an MTU larger than a page, native XDP on a veth takes only programs that
/// handle multi-buffer frames: xdp.frags attaches and sees the whole datagram
/// (bpf_xdp_get_buff_len), a plain xdp program is refused, and over netlink the
/// refusal says why in the kernel's words.
#[test]
fn frags_program_takes_jumbo_frames() {
    if feature::require("frags_program_takes_jumbo_frames", Feature::XdpFrags).is_none() {
        return;
    }
    let pair = pair("xfr");
    for (ns, ifname) in [(&pair.a, "va"), (&pair.b, "vb")] {
        ns.ip(&["link", "set", ifname, "mtu", "9000"]);
    }
    let (spec, obj) = load(&["xdp_frags", "xdp_pass"], &[]);
    let frags = xdp(&obj, "xdp_frags");
    assert!(frags.has_frags());
    assert!(!xdp(&obj, "xdp_pass").has_frags());

    let e = pair
        .b
        .run(|| xdp(&obj, "xdp_pass").attach_netlink("vb", XdpMode::Native))
        .unwrap_err();
    let ProgramError::Netlink { source, .. } = &e else {
        panic!("{e:?}");
    };
    let said = source
        .kernel_message()
        .unwrap_or_else(|| panic!("no kernel message: {}", chain(&e)));
    assert!(
        said.to_lowercase().contains("mtu") || said.contains("frags"),
        "{said}"
    );
    assert!(chain(&e).contains(said), "{}", chain(&e));
    let e = pair
        .b
        .run(|| xdp(&obj, "xdp_pass").attach("vb", XdpMode::Native))
        .unwrap_err();
    assert!(matches!(e, ProgramError::Attach { .. }), "{e:?}");

    let link = attach(&pair.b, &frags, "vb", XdpMode::Native, Way::Auto);
    let payload = "j".repeat(8000);
    pair.send(&payload);
    assert_eq!(pair.next().map(|d| d.len()), Some(8000));
    assert_eq!(global_u64(&spec, &obj, "frags_seen"), 1);
    // The whole frame: Ethernet, IPv4 and UDP headers and the payload.
    assert_eq!(global_u64(&spec, &obj, "frags_max_len"), 8000 + 42);
    detach(&pair, link);
    pair.send(&payload);
    assert_eq!(pair.next().map(|d| d.len()), Some(8000));
    assert_eq!(
        global_u64(&spec, &obj, "frags_seen"),
        1,
        "seen after the drop"
    );
}

/// Over netlink an interface that has a program refuses another (attach does not
/// replace), with the kernel's reason; by link too.
#[test]
fn a_second_program_is_refused() {
    let pair = pair("xbz");
    let (_, obj) = load(&["xdp_pass", "xdp_drop"], &[]);
    let first = attach(
        &pair.b,
        &xdp(&obj, "xdp_pass"),
        "vb",
        XdpMode::Generic,
        Way::Netlink,
    );
    let e = pair
        .b
        .run(|| xdp(&obj, "xdp_drop").attach_netlink("vb", XdpMode::Generic))
        .unwrap_err();
    let ProgramError::Netlink { source, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(source.errno(), libc::EBUSY, "{}", chain(&e));
    assert!(source.kernel_message().is_some(), "{}", chain(&e));
    let e = pair
        .b
        .run(|| xdp(&obj, "xdp_drop").attach("vb", XdpMode::Generic))
        .unwrap_err();
    assert!(matches!(e, ProgramError::Attach { .. }), "{e:?}");
    // The first one is still there, and dropping it detaches it.
    assert_eq!(xdp_flag(&pair).as_deref(), Some("xdpgeneric"));
    detach(&pair, first);
    assert_eq!(xdp_flag(&pair), None);
}

#[test]
fn devmap_and_cpumap_programs_do_not_attach_to_interfaces() {
    let (_, obj) = load(&["devmap_prog", "cpumap_prog"], &[]);
    for name in ["devmap_prog", "cpumap_prog"] {
        let e = xdp(&obj, name).attach("lo", XdpMode::Generic).unwrap_err();
        assert!(matches!(e, ProgramError::BadTarget { .. }), "{e:?}");
        assert!(e.to_string().contains("entry"), "{e}");
    }
}

/// A minimal AF_XDP socket: a UMEM of 16 frames, a fill ring handing all of them to
/// the kernel, an RX ring; no TX. Copy mode, on one queue.
mod xsk {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    const AF_XDP: libc::c_int = 44;
    const SOL_XDP: libc::c_int = 283;
    const XDP_MMAP_OFFSETS: libc::c_int = 1;
    const XDP_RX_RING: libc::c_int = 2;
    const XDP_UMEM_REG: libc::c_int = 4;
    const XDP_UMEM_FILL_RING: libc::c_int = 5;
    const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
    const XDP_PGOFF_RX_RING: libc::off_t = 0;
    const XDP_UMEM_PGOFF_FILL_RING: libc::off_t = 0x1_0000_0000;
    const XDP_COPY: u16 = 1 << 1;
    const FRAME: usize = 4096;
    const ENTRIES: u32 = 16;

    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct RingOffset {
        producer: u64,
        consumer: u64,
        desc: u64,
        flags: u64,
    }

    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct MmapOffsets {
        rx: RingOffset,
        tx: RingOffset,
        fr: RingOffset,
        cr: RingOffset,
    }

    /// `struct xdp_umem_reg` as first defined (no flags): the kernel takes that size.
    #[repr(C)]
    struct UmemReg {
        addr: u64,
        len: u64,
        chunk_size: u32,
        headroom: u32,
    }

    #[repr(C)]
    struct SockaddrXdp {
        family: u16,
        flags: u16,
        ifindex: u32,
        queue_id: u32,
        shared_umem_fd: u32,
    }

    /// `struct xdp_desc`.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Desc {
        addr: u64,
        len: u32,
        options: u32,
    }

    /// A mapping owned by the socket.
    struct Mapping {
        ptr: *mut u8,
        len: usize,
    }

    impl Mapping {
        fn new(len: usize, fd: Option<libc::c_int>, offset: libc::off_t) -> io::Result<Mapping> {
            let (flags, fd) = match fd {
                Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd),
                None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
            };
            // SAFETY: a fresh mapping chosen by the kernel; nothing else is replaced.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags,
                    fd,
                    offset,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(Mapping {
                ptr: ptr.cast(),
                len,
            })
        }

        /// The `u32` at `off`, shared with the kernel.
        fn atomic(&self, off: u64) -> &AtomicU32 {
            assert!(off as usize + 4 <= self.len);
            // SAFETY: in bounds (checked), 4-byte aligned (ring offsets are), and the
            // mapping lives as long as `self`.
            unsafe { &*(self.ptr.add(off as usize) as *const AtomicU32) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: the mapping was made by `new` and is no longer used.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }

    pub struct Socket {
        rx: Mapping,
        _fill: Mapping,
        offsets: MmapOffsets,
        // Closed before the UMEM is unmapped (fields drop in order).
        fd: OwnedFd,
        umem: Mapping,
    }

    // SAFETY: the mappings are owned by the socket and only read through it.
    unsafe impl Send for Socket {}

    fn check(r: libc::c_int) -> io::Result<()> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn set<T>(fd: libc::c_int, option: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` is live and its size is passed.
        check(unsafe {
            libc::setsockopt(
                fd,
                SOL_XDP,
                option,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        })
    }

    impl Socket {
        /// An AF_XDP socket bound to queue `queue` of `ifindex` (in the calling
        /// thread's namespace), its fill ring full.
        pub fn new(ifindex: u32, queue: u32) -> io::Result<Socket> {
            // SAFETY: plain socket creation.
            let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
            check(raw)?;
            // SAFETY: `raw` is a new descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let umem = Mapping::new(FRAME * ENTRIES as usize, None, 0)?;
            let reg = UmemReg {
                addr: umem.ptr as u64,
                len: umem.len as u64,
                chunk_size: FRAME as u32,
                headroom: 0,
            };
            set(raw, XDP_UMEM_REG, &reg)?;
            set(raw, XDP_UMEM_FILL_RING, &ENTRIES)?;
            set(raw, XDP_UMEM_COMPLETION_RING, &ENTRIES)?;
            set(raw, XDP_RX_RING, &ENTRIES)?;
            let mut offsets = MmapOffsets::default();
            let mut len = size_of::<MmapOffsets>() as libc::socklen_t;
            // SAFETY: `offsets` is writable for `len` bytes.
            check(unsafe {
                libc::getsockopt(
                    raw,
                    SOL_XDP,
                    XDP_MMAP_OFFSETS,
                    (&mut offsets as *mut MmapOffsets).cast(),
                    &mut len,
                )
            })?;
            let rx_len = offsets.rx.desc as usize + ENTRIES as usize * size_of::<Desc>();
            let rx = Mapping::new(rx_len, Some(raw), XDP_PGOFF_RX_RING)?;
            let fill_len = offsets.fr.desc as usize + ENTRIES as usize * 8;
            let fill = Mapping::new(fill_len, Some(raw), XDP_UMEM_PGOFF_FILL_RING)?;
            for i in 0..ENTRIES as usize {
                let slot = offsets.fr.desc as usize + i * 8;
                // SAFETY: in bounds of the fill ring's descriptors, 8-byte aligned.
                unsafe { (fill.ptr.add(slot) as *mut u64).write((i * FRAME) as u64) };
            }
            fill.atomic(offsets.fr.producer)
                .store(ENTRIES, Ordering::Release);
            let addr = SockaddrXdp {
                family: AF_XDP as u16,
                flags: XDP_COPY,
                ifindex,
                queue_id: queue,
                shared_umem_fd: 0,
            };
            // SAFETY: `addr` is a live sockaddr_xdp of the size passed.
            check(unsafe {
                libc::bind(
                    raw,
                    (&addr as *const SockaddrXdp).cast(),
                    size_of::<SockaddrXdp>() as libc::socklen_t,
                )
            })?;
            Ok(Socket {
                rx,
                _fill: fill,
                offsets,
                fd,
                umem,
            })
        }

        pub fn raw_fd(&self) -> libc::c_int {
            self.fd.as_raw_fd()
        }

        /// The next frame received, waiting at most `timeout`.
        pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one live pollfd.
            unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
            let producer = self
                .rx
                .atomic(self.offsets.rx.producer)
                .load(Ordering::Acquire);
            let consumer_slot = self.rx.atomic(self.offsets.rx.consumer);
            let consumer = consumer_slot.load(Ordering::Relaxed);
            if producer == consumer {
                return None;
            }
            let off =
                self.offsets.rx.desc as usize + (consumer % ENTRIES) as usize * size_of::<Desc>();
            assert!(off + size_of::<Desc>() <= self.rx.len);
            // SAFETY: in bounds (checked) of the RX ring's descriptors, which the
            // kernel published before the producer index read above.
            let desc = unsafe { (self.rx.ptr.add(off) as *const Desc).read() };
            let (start, len) = (desc.addr as usize, desc.len as usize);
            assert!(start + len <= self.umem.len, "descriptor out of the UMEM");
            // SAFETY: in bounds of the UMEM (checked); the kernel wrote the frame there.
            let frame =
                unsafe { std::slice::from_raw_parts(self.umem.ptr.add(start), len) }.to_vec();
            consumer_slot.store(consumer + 1, Ordering::Release);
            Some(frame)
        }
    }
}
