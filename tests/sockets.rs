//! Socket program kinds, each driven by real traffic over loopback: a socket filter
//! on a UDP socket (`SO_ATTACH_BPF`), `sk_skb` and `sk_msg` redirecting between TCP
//! sockets through a sockmap and a sockhash, `sockops` watching connections (with a
//! sockhash and sk_storage), `sk_lookup` steering a connection to another port,
//! a flow dissector (test run and real packets), `sk_reuseport` choosing the listener
//! of a connection through a `reuseport_sockarray`, and a netfilter link dropping
//! marked packets.
//!
//! Programs attached to a network namespace (sk_lookup, flow dissector, netfilter) run
//! in a namespace the test makes on a thread of its own, so nothing outside the test
//! is touched.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use common::cgroup::TestCgroup;
use common::feature::{self, Feature};
use common::*;
use corebpf::program::{
    CgroupAttachMode, FlowDissector, Netfilter, NetfilterFamily, NetfilterHook, NetfilterHookPoint,
    SkLookup, SkMsg, SkReuseport, SkSkb, SockOps, SocketFilter,
};
use corebpf::{Map, MapFlags, ProgramError};
use nix::sys::socket::{self as sock, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

fn udp() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP socket");
    s.set_read_timeout(TIMEOUT).unwrap();
    s
}

/// A connected TCP pair over loopback: (client, server side).
fn tcp_pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (served, _) = listener.accept().unwrap();
    for s in [&client, &served] {
        s.set_read_timeout(TIMEOUT).unwrap();
    }
    (client, served)
}

/// Stores `socket` in `map` (sockmap, sockhash, reuseport_sockarray: the value is the
/// socket's descriptor) under the `u32` key `key`.
fn put_socket(map: &Map, key: u32, socket: &impl AsRawFd) {
    let fd = u64::try_from(socket.as_raw_fd()).unwrap();
    map.update(&key.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
        .unwrap_or_else(|e| panic!("adding a socket to {}: {}", map.name(), chain(&e)));
}

/// Nothing is waiting on `s` (it doesn't block to find out).
fn assert_nothing_queued(s: &TcpStream) {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 8];
    assert_eq!(s.peek(&mut b).unwrap_err().kind(), ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
}

/// Runs `f` on a new thread in a new network namespace whose loopback is up; a
/// panic in `f` fails the test with its own message.
fn in_new_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let t = s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("unsharing the network namespace");
            let up = std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .expect("running ip (iproute2)");
            assert!(up.success(), "ip link set lo up: {up}");
            f()
        });
        t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// This thread's network namespace.
fn this_netns() -> std::fs::File {
    std::fs::File::open("/proc/thread-self/ns/net").expect("opening the thread's netns")
}

/// The classic workflow: a filter on a UDP socket drops, truncates and counts what
/// arrives; its link detaches it.
#[test]
fn socket_filter_drops_truncates_and_counts() {
    setup();
    let (spec, obj) = load_only("sock_filter.bpf.o", &["keep_short"], &[]);
    let filter = SocketFilter::try_from(obj.program("keep_short").unwrap()).unwrap();
    let (rx, tx) = (udp(), udp());
    let to = rx.local_addr().unwrap();
    let link = filter.attach(&rx).unwrap();
    for msg in [&b"Drop me"[..], b"Truncate me", b"Keep me"] {
        tx.send_to(msg, to).unwrap();
    }
    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Trun", "truncated to 4 bytes of payload");
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"Keep me",
        "kept whole; the dropped one never came"
    );
    assert_eq!(global_u64(&spec, &obj, "seen"), 3);
    assert_eq!(global_u64(&spec, &obj, "dropped"), 1);
    assert_eq!(global_u64(&spec, &obj, "truncated"), 1);

    drop(link);
    tx.send_to(b"Drop me", to).unwrap();
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Drop me", "no filter once detached");
    assert_eq!(global_u64(&spec, &obj, "seen"), 3);
}

/// `sk_skb` parser and verdict on a sockmap: what one connection's server side
/// receives is redirected into another's.
#[test]
fn sk_skb_redirects_received_data_to_another_socket() {
    setup();
    let (spec, obj) = load_only(
        "sock_redirect.bpf.o",
        &["parse_whole", "redirect_to_peer"],
        &[],
    );
    let map = obj.map("sock_map").unwrap();
    let view = |n| SkSkb::try_from(obj.program(n).unwrap()).unwrap();
    let links = [
        view("parse_whole").attach(map).unwrap(),
        view("redirect_to_peer").attach(map).unwrap(),
    ];
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut c1, s1) = tcp_pair(&listener);
    let (_c2, mut s2) = tcp_pair(&listener);
    put_socket(map, 0, &s1);
    put_socket(map, 1, &s2);
    c1.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    s2.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello", "sent to s1, arrived on s2");
    assert_nothing_queued(&s1);
    assert_eq!(global_u64(&spec, &obj, "skb_redirects"), 1);
    assert_eq!(global_u64(&spec, &obj, "skb_bytes"), 5);

    // Sockets get the map's programs when they are added: once the programs are
    // detached, a socket added then keeps what it receives.
    drop(links);
    let (mut c3, mut s3) = tcp_pair(&listener);
    put_socket(map, 0, &s3);
    c3.write_all(b"mine").unwrap();
    let mut got = [0u8; 4];
    s3.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"mine");
    assert_eq!(global_u64(&spec, &obj, "skb_redirects"), 1);
}

/// `sk_msg` on a sockhash: what one socket sends goes into another's receive queue.
#[test]
fn sk_msg_redirects_sent_data_to_another_socket() {
    setup();
    let (spec, obj) = load_only("sock_redirect.bpf.o", &["msg_to_peer"], &[]);
    let map = obj.map("sock_hash").unwrap();
    let msg = SkMsg::try_from(obj.program("msg_to_peer").unwrap()).unwrap();
    let link = msg.attach(map).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut c1, s1) = tcp_pair(&listener);
    let (_c2, mut s2) = tcp_pair(&listener);
    put_socket(map, 0, &c1);
    put_socket(map, 1, &s2);
    c1.write_all(b"over there").unwrap();
    let mut got = [0u8; 10];
    s2.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"over there");
    assert_nothing_queued(&s1);
    assert_eq!(global_u64(&spec, &obj, "msg_redirects"), 1);
    assert_eq!(global_u64(&spec, &obj, "msg_bytes"), 10);

    drop(link);
    let (mut c3, mut s3) = tcp_pair(&listener);
    put_socket(map, 0, &c3);
    c3.write_all(b"direct").unwrap();
    let mut got = [0u8; 6];
    s3.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"direct");
    assert_eq!(global_u64(&spec, &obj, "msg_redirects"), 1);
}

/// Sockmap programs attach to sockmaps and sockhashes only, and say so.
#[test]
fn sk_skb_refuses_other_maps() {
    setup();
    let (_, obj) = load_only("sock_reuseport.bpf.o", &[], &[]);
    let (_, redirect) = load_only("sock_redirect.bpf.o", &["parse_whole"], &[]);
    let p = SkSkb::try_from(redirect.program("parse_whole").unwrap()).unwrap();
    let e = p.attach(obj.map("choice").unwrap()).unwrap_err();
    assert!(matches!(e, ProgramError::BadTarget { .. }), "{e:?}");
    assert!(e.to_string().contains("sockmap or sockhash"), "{e}");
}

/// `sockops` on a cgroup sees both ends of a connection established, adds them to a
/// sockhash and counts in each socket's sk_storage.
#[test]
fn sockops_sees_connections_and_fills_a_sockhash() {
    setup();
    let cg = TestCgroup::new("sockops");
    let (spec, obj) = load_only("sock_ops.bpf.o", &["track_established"], &[]);
    let ops = SockOps::try_from(obj.program("track_established").unwrap()).unwrap();
    let link = ops.attach(cg.fd(), CgroupAttachMode::default()).unwrap();
    let inside = cg.enter();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (client, served) = tcp_pair(&listener);
    assert_eq!(global_u64(&spec, &obj, "active"), 1);
    assert_eq!(global_u64(&spec, &obj, "passive"), 1);
    assert_eq!(global_u64(&spec, &obj, "added"), 2);
    let mut ports: Vec<u32> = obj
        .map("established")
        .unwrap()
        .keys()
        .map(|k| u32::from_ne_bytes(k.unwrap()[..4].try_into().unwrap()))
        .collect();
    ports.sort_unstable();
    let mut want = [
        u32::from(client.local_addr().unwrap().port()),
        u32::from(served.local_addr().unwrap().port()),
    ];
    want.sort_unstable();
    assert_eq!(ports, want, "both ends, by local port");
    // sk_storage, read from user space with the socket's descriptor as the key.
    let storage = obj.map("callbacks").unwrap();
    for s in [client.as_raw_fd(), served.as_raw_fd()] {
        let v = storage
            .lookup(&s.to_ne_bytes(), MapFlags::ANY)
            .unwrap()
            .expect("the socket's storage");
        assert_eq!(u64::from_ne_bytes(v[..8].try_into().unwrap()), 1);
    }

    drop(link);
    let _more = tcp_pair(&listener);
    assert_eq!(global_u64(&spec, &obj, "active"), 1, "detached");
    drop(inside);
}

/// `sk_lookup` (5.9+) in its own namespace gives connections for a port nobody
/// listens on to a listener on another port.
#[test]
fn sk_lookup_steers_a_connection_to_another_port() {
    setup();
    in_new_netns(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let from: u16 = 7; // nothing listens on echo in a new namespace
        let (spec, obj) = load_only(
            "sock_lookup.bpf.o",
            &["steer"],
            &[("from_port", from.to_ne_bytes().to_vec())],
        );
        put_socket(obj.map("listeners").unwrap(), 0, &listener);
        let steer = SkLookup::try_from(obj.program("steer").unwrap()).unwrap();
        let link = steer.attach(this_netns()).unwrap();
        assert!(link.link_fd().is_some());
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, from));
        let mut client = TcpStream::connect(target).expect("steered to the listener");
        let (mut served, _) = listener.accept().unwrap();
        assert_eq!(
            served.local_addr().unwrap().port(),
            from,
            "accepted as port 7"
        );
        client.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        served.read_exact(&mut b).unwrap();
        assert_eq!(global_u64(&spec, &obj, "steered"), 1);
        drop(link);
        let e = TcpStream::connect(target).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

/// An Ethernet + IPv4 + UDP header for the flow dissector's test run.
fn udp_frame(sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 8, 0, 0]);
    f
}

/// A flow dissector, run with `BPF_PROG_TEST_RUN` and then by the kernel for a real
/// packet (sent through a packet socket, whose transmit path dissects it), in a
/// namespace of its own.
#[test]
fn flow_dissector_dissects_test_runs_and_real_packets() {
    setup();
    in_new_netns(|| {
        let (spec, obj) = load_only("sock_flow.bpf.o", &["dissect"], &[]);
        let prog = obj.program("dissect").unwrap();
        // The run's result is the program's code (BPF_OK, 0) on kernels that know
        // BPF_FLOW_DISSECTOR_CONTINUE, which came with that change; before, it was
        // the kernel's "dissected" (1).
        let codes = feature::vmlinux_enum_has("bpf_ret_code", "BPF_FLOW_DISSECTOR_CONTINUE");
        let ok = if codes.expect("reading the kernel's BTF") {
            0
        } else {
            1
        };
        let release = feature::kernel_release();
        let frame = udp_frame(1000, 4242);
        assert_eq!(prog.test_run(&frame, 0).unwrap(), ok, "{release}");
        assert_eq!(global_u64(&spec, &obj, "dissected"), 1);
        assert_eq!(global_u64(&spec, &obj, "last_dport"), 4242);
        assert_eq!(global_u64(&spec, &obj, "last_proto"), 17);

        let dissector = FlowDissector::try_from(prog).unwrap();
        let link = dissector.attach(this_netns()).unwrap();
        let rx = udp();
        let dport = rx.local_addr().unwrap().port();
        let captured = capture_datagram(&rx);
        assert_eq!(global_u64(&spec, &obj, "dissected"), 1, "UDP's own path");
        captured.replay();
        assert_eq!(global_u64(&spec, &obj, "dissected"), 2);
        assert_eq!(global_u64(&spec, &obj, "last_dport"), u64::from(dport));
        drop(link);
        captured.replay();
        assert_eq!(global_u64(&spec, &obj, "dissected"), 2, "detached");
    });
}

/// A frame captured on a packet socket, ready to be sent again through it.
struct Captured {
    packet: OwnedFd,
    frame: Vec<u8>,
    from: sock::LinkAddr,
}

/// Sends a datagram to `rx` (which receives it) and captures its frame on a packet
/// socket.
fn capture_datagram(rx: &UdpSocket) -> Captured {
    let proto = sock::SockProtocol::EthAll;
    let packet = sock::socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::empty(),
        proto,
    )
    .expect("opening a packet socket");
    let tv = nix::sys::time::TimeVal::new(5, 0);
    sock::setsockopt(&packet, sockopt::ReceiveTimeout, &tv).unwrap();
    udp()
        .send_to(b"dissect me", rx.local_addr().unwrap())
        .unwrap();
    let mut frame = [0u8; 256];
    let dport = rx.local_addr().unwrap().port().to_be_bytes();
    // The first frame with our destination port (14 + 20 + 2 bytes in).
    let (len, from) = loop {
        let (n, from) = sock::recvfrom::<sock::LinkAddr>(packet.as_raw_fd(), &mut frame)
            .expect("capturing the datagram");
        if n >= 38 && frame[36..38] == dport {
            break (n, from.expect("the frame's link address"));
        }
    };
    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"dissect me");
    Captured {
        packet,
        frame: frame[..len].to_vec(),
        from,
    }
}

impl Captured {
    /// Sends the frame again through the packet socket, whose transmit path runs the
    /// flow dissector on it (`skb_probe_transport_header`). The copy is not delivered:
    /// a loopback source arriving from outside the stack is a martian.
    fn replay(&self) {
        let fd = self.packet.as_raw_fd();
        let sent = sock::sendto(fd, &self.frame, &self.from, sock::MsgFlags::empty())
            .expect("sending the frame again");
        assert_eq!(sent, self.frame.len());
    }
}

/// A TCP listener with `SO_REUSEPORT` on `addr`.
fn reuseport_listener(addr: SocketAddrV4) -> OwnedFd {
    let fd = sock::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    sock::setsockopt(&fd, sockopt::ReusePort, &true).unwrap();
    sock::bind(fd.as_raw_fd(), &SockaddrIn::from(addr)).unwrap();
    sock::listen(&fd, sock::Backlog::new(16).unwrap()).unwrap();
    fd
}

fn local_port(fd: &OwnedFd) -> u16 {
    sock::getsockname::<SockaddrIn>(fd.as_raw_fd())
        .unwrap()
        .port()
}

/// Connects `n` times to `port`; returns how many of the connections each listener
/// has waiting.
fn connect_and_count(port: u16, listeners: &[TcpListener], n: usize) -> Vec<usize> {
    let _clients: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.set_nonblocking(true).unwrap();
            std::iter::from_fn(|| l.accept().ok()).count()
        })
        .collect()
}

/// `sk_reuseport` picks, through a `reuseport_sockarray`, which of two listeners on one
/// port gets each connection.
#[test]
fn sk_reuseport_chooses_the_listener() {
    setup();
    let (spec, obj) = load_only("sock_reuseport.bpf.o", &["select_listener"], &[]);
    let first = reuseport_listener(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let port = local_port(&first);
    let second = reuseport_listener(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let array = obj.map("listeners").unwrap();
    put_socket(array, 0, &first);
    put_socket(array, 1, &second);
    let choice = obj.map("choice").unwrap();
    let choose = |i: u32| {
        choice
            .update(&0u32.to_ne_bytes(), &i.to_ne_bytes(), MapFlags::ANY)
            .unwrap()
    };
    let select = SkReuseport::try_from(obj.program("select_listener").unwrap()).unwrap();
    let link = select.attach(first.as_fd()).unwrap();
    let listeners = [TcpListener::from(first), TcpListener::from(second)];
    choose(1);
    assert_eq!(connect_and_count(port, &listeners, 4), [0, 4]);
    choose(0);
    assert_eq!(connect_and_count(port, &listeners, 3), [3, 0]);
    assert_eq!(global_u64(&spec, &obj, "selected"), 7);
    drop(link);
    let spread = connect_and_count(port, &listeners, 4);
    assert_eq!(spread.iter().sum::<usize>(), 4);
    assert_eq!(global_u64(&spec, &obj, "selected"), 7, "detached");
}

/// A netfilter link (6.4+) at IPv4 LOCAL_OUT drops the packets of a marked socket,
/// in a namespace of its own.
#[test]
fn netfilter_drops_marked_packets() {
    const TEST: &str = "netfilter_drops_marked_packets";
    if feature::require(TEST, Feature::Netfilter).is_none() {
        return;
    }
    in_new_netns(|| {
        const MARK: u32 = 0x5eed;
        let (spec, obj) = load_only(
            "sock_netfilter.bpf.o",
            &["drop_marked"],
            &[("drop_mark", MARK.to_ne_bytes().to_vec())],
        );
        let prog = Netfilter::try_from(obj.program("drop_marked").unwrap()).unwrap();
        let hook = NetfilterHook::new(NetfilterFamily::Ipv4, NetfilterHookPoint::LocalOut, 0);
        let link = prog
            .attach(hook)
            .unwrap_or_else(|e| panic!("attaching: {}", chain(&e)));
        let (rx, plain, marked) = (udp(), udp(), udp());
        sock::setsockopt(&marked, sockopt::Mark, &MARK).unwrap();
        let to = rx.local_addr().unwrap();
        let e = marked.send_to(b"marked", to).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "NF_DROP: {e}");
        plain.send_to(b"plain", to).unwrap();
        let mut buf = [0u8; 16];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"plain", "the marked one never arrived");
        assert_eq!(global_u64(&spec, &obj, "dropped"), 1);
        assert!(global_u64(&spec, &obj, "accepted") >= 1);
        drop(link);
        marked.send_to(b"marked", to).unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"marked", "passes once detached");
    });
}

/// None of these kinds auto-attaches (libbpf's don't either); each says what it needs.
#[test]
fn socket_programs_do_not_auto_attach() {
    setup();
    for (object, program, needs) in [
        ("sock_filter.bpf.o", "keep_short", "names no socket"),
        ("sock_redirect.bpf.o", "msg_to_peer", "names no sockmap"),
        ("sock_lookup.bpf.o", "steer", "names no network namespace"),
        ("sock_ops.bpf.o", "track_established", "names no cgroup"),
    ] {
        let (_, obj) = load_only(object, &[program], &[]);
        let e = obj.program(program).unwrap().attach().unwrap_err();
        assert!(e.to_string().contains(needs), "{program}: {e}");
    }
}
