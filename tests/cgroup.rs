//! Cgroup program kinds, each driven by the operation it filters: packets counted and
//! dropped (`cgroup_skb`), sockets refused (`cgroup/sock_create`), connections
//! redirected and refused (`connect4/6`), ports rewritten (`bind`, `sendmsg`,
//! `recvmsg`, `getpeername`, `getsockname`, for IPv4, IPv6 and Unix socket paths),
//! option values changed
//! (`getsockopt`/`setsockopt`), a sysctl write refused, a device open denied, a bind
//! denied by `lsm_cgroup`; cgroup storage (`cgroup_storage`, `cgrp_storage`) read from
//! user space.
//!
//! Each test makes its own cgroup (`tests/common/cgroup.rs`) and moves this process
//! into it while the operations run, so the programs see exactly the test's sockets
//! and syscalls. Every test also drops its links and checks that the operation is
//! back to normal.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::cgroup::TestCgroup;
use common::feature::{self, Feature};
use common::*;
use corebpf::program::{
    CgroupAttachMode, CgroupDevice, CgroupSkb, CgroupSock, CgroupSockAddr, CgroupSockopt,
    CgroupSysctl, LsmCgroup,
};
use corebpf::{Link, MapFlags, Object, ObjectSpec, ProgramError};
use nix::sys::socket::{self as sock, sockopt, AddressFamily, SockFlag, SockType};

/// Serializes this binary's tests: each moves the whole process into its cgroup, so a
/// socket another test made meanwhile would be counted by this test's programs.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A port as the `.rodata` value of a `__u16`.
fn port(p: u16) -> Vec<u8> {
    p.to_ne_bytes().to_vec()
}

/// A loopback port nobody listens on now.
fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a probe socket")
        .port()
}

const LOCAL4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOCAL6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn udp(ip: IpAddr) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("binding a UDP socket");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// The `index`th `__u64` of global array `name`.
fn global_u64_at(spec: &ObjectSpec, obj: &Object, name: &str, index: usize) -> u64 {
    let b = global(spec, obj, name);
    u64::from_ne_bytes(b[index * 8..index * 8 + 8].try_into().unwrap())
}

fn program_id(obj: &Object, name: &str) -> u32 {
    obj.program(name).unwrap().info().unwrap().id
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// `cgroup_skb/ingress` counts in a cgroup storage, `cgroup_skb/egress` drops the
/// datagrams to one port; through links, then through `BPF_PROG_ATTACH` (`Single`
/// mode); `attached` lists the programs until their links drop.
#[test]
fn cgroup_skb_counts_ingress_and_drops_egress() {
    let _serial = serial();
    setup();
    let cg = TestCgroup::new("skb");
    let inside = cg.enter();
    let (a, b, sender) = (udp(LOCAL4), udp(LOCAL4), udp(LOCAL4));
    let b_port = b.local_addr().unwrap().port();
    let (spec, obj) = load_only(
        "cg_skb.bpf.o",
        &["count_ingress", "count_egress"],
        &[("drop_port", port(b_port))],
    );
    let ingress = CgroupSkb::try_from(obj.program("count_ingress").unwrap()).unwrap();
    let egress = CgroupSkb::try_from(obj.program("count_egress").unwrap()).unwrap();
    let links: Vec<Link> = [ingress, egress]
        .iter()
        .map(|p| p.attach(cg.fd(), CgroupAttachMode::default()).unwrap())
        .collect();
    assert!(
        links.iter().all(|l| l.link_fd().is_some()),
        "5.7+ makes links"
    );
    assert_eq!(
        egress.attached(cg.fd()).unwrap(),
        [program_id(&obj, "count_egress")]
    );

    let payload = [7u8; 10];
    // A datagram dropped on egress fails its sendmsg with EPERM.
    let dropped = |s: &UdpSocket, to: &UdpSocket| {
        let e = s.send_to(&payload, to.local_addr().unwrap()).unwrap_err();
        assert_eq!(errno_of(&e), libc::EPERM, "{e}");
    };
    for _ in 0..2 {
        dropped(&sender, &b);
    }
    for _ in 0..3 {
        sender.send_to(&payload, a.local_addr().unwrap()).unwrap();
    }
    let mut buf = [0u8; 64];
    for _ in 0..3 {
        assert_eq!(a.recv(&mut buf).unwrap(), payload.len());
    }
    // B's datagrams went first on the same path: had they passed, they'd be there.
    b.set_nonblocking(true).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(global_u64(&spec, &obj, "egress_packets"), 5);
    assert_eq!(global_u64(&spec, &obj, "egress_dropped"), 2);

    // The cgroup storage of (this cgroup, BPF_CGROUP_INET_INGRESS): { packets, bytes }.
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&cg.id().to_ne_bytes());
    let counts = obj
        .map("ingress_counts")
        .unwrap()
        .lookup(&key, MapFlags::ANY)
        .unwrap()
        .expect("the cgroup's storage");
    let packets = u64::from_ne_bytes(counts[..8].try_into().unwrap());
    let bytes = u64::from_ne_bytes(counts[8..16].try_into().unwrap());
    assert_eq!(packets, 3, "A's three datagrams");
    assert_eq!(
        bytes,
        3 * (20 + 8 + payload.len() as u64),
        "IPv4 + UDP + payload"
    );

    drop(links);
    assert!(egress.attached(cg.fd()).unwrap().is_empty());
    sender.send_to(&payload, b.local_addr().unwrap()).unwrap();
    b.set_nonblocking(false).unwrap();
    assert_eq!(
        b.recv(&mut buf).unwrap(),
        payload.len(),
        "passes once detached"
    );
    assert_eq!(global_u64(&spec, &obj, "egress_packets"), 5);

    // The same through BPF_PROG_ATTACH: `Single` is not something a link can be.
    let mut link = egress.attach(cg.fd(), CgroupAttachMode::Single).unwrap();
    assert!(link.link_fd().is_none());
    assert!(link.pin("/sys/fs/bpf/never").is_err(), "nothing to pin");
    assert_eq!(
        egress.attached(cg.fd()).unwrap(),
        [program_id(&obj, "count_egress")]
    );
    dropped(&sender, &b);
    sender.send_to(&payload, a.local_addr().unwrap()).unwrap();
    assert_eq!(a.recv(&mut buf).unwrap(), payload.len());
    b.set_nonblocking(true).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(global_u64(&spec, &obj, "egress_dropped"), 3);
    drop(link);
    assert!(
        egress.attached(cg.fd()).unwrap().is_empty(),
        "BPF_PROG_DETACH on drop"
    );
    sender.send_to(&payload, b.local_addr().unwrap()).unwrap();
    b.set_nonblocking(false).unwrap();
    assert_eq!(b.recv(&mut buf).unwrap(), payload.len());
    drop(inside);
}

fn tcp4_socket() -> nix::Result<std::os::fd::OwnedFd> {
    sock::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

/// `cgroup/sock_create` refuses IPv6 UDP sockets and counts IPv4 TCP ones,
/// `cgroup/sock_release` counts their release, `cgroup/post_bind4` refuses one port.
#[test]
fn cgroup_sock_refuses_sockets_and_binds_and_sees_releases() {
    let _serial = serial();
    setup();
    let cg = TestCgroup::new("sock");
    let refused = unused_port();
    let programs = ["refuse_udp6", "count_release", "check_bind4"];
    let (spec, obj) = load_only(
        "cg_sock.bpf.o",
        &programs,
        &[("refused_port", port(refused))],
    );
    let links: Vec<Link> = programs
        .iter()
        .map(|name| {
            let p = CgroupSock::try_from(obj.program(name).unwrap()).unwrap();
            p.attach_path(cg.path(), CgroupAttachMode::default())
                .unwrap_or_else(|e| panic!("attaching {name}: {}", chain(&e)))
        })
        .collect();
    let inside = cg.enter();
    let udp6 = sock::socket(
        AddressFamily::Inet6,
        SockType::Datagram,
        SockFlag::empty(),
        None,
    );
    assert_eq!(udp6.unwrap_err(), nix::errno::Errno::EPERM);
    let tcp: Vec<_> = (0..3).map(|_| tcp4_socket().unwrap()).collect();
    assert_eq!(global_u64(&spec, &obj, "created"), 3);
    drop(tcp);
    assert_eq!(global_u64(&spec, &obj, "released"), 3);
    assert_eq!(global_u64(&spec, &obj, "refused"), 1);

    let e = UdpSocket::bind(("127.0.0.1", refused)).unwrap_err();
    assert_eq!(errno_of(&e), libc::EPERM, "{e}");
    assert_eq!(global_u64(&spec, &obj, "bind_refused"), 1);
    let other = udp(LOCAL4);
    let bound = other.local_addr().unwrap().port();
    assert_eq!(global_u64(&spec, &obj, "last_bound_port"), u64::from(bound));

    drop(links);
    sock::socket(
        AddressFamily::Inet6,
        SockType::Datagram,
        SockFlag::empty(),
        None,
    )
    .expect("IPv6 UDP sockets again once detached");
    drop(tcp4_socket().unwrap());
    assert_eq!(global_u64(&spec, &obj, "created"), 3);
    assert_eq!(global_u64(&spec, &obj, "released"), 3);
    UdpSocket::bind(("127.0.0.1", refused)).expect("the port binds once detached");
    drop(inside);
}

/// Loads cg_sock_addr with `programs` and the given ports, and attaches them to `cg`.
fn sock_addr(
    cg: &TestCgroup,
    programs: &[&str],
    ports: &[(&str, u16)],
) -> (ObjectSpec, Object, Vec<Link>) {
    let globals: Vec<(&str, Vec<u8>)> = ports.iter().map(|(n, p)| (*n, port(*p))).collect();
    let (spec, obj) = load_only("cg_sock_addr.bpf.o", programs, &globals);
    let links = programs
        .iter()
        .map(|name| {
            let p = CgroupSockAddr::try_from(obj.program(name).unwrap()).unwrap();
            p.attach(cg.fd(), CgroupAttachMode::default())
                .unwrap_or_else(|e| panic!("attaching {name}: {}", chain(&e)))
        })
        .collect();
    (spec, obj, links)
}

/// Hooks counted in cg_sock_addr's `rewrites`.
const CONNECT: usize = 0;
const BIND: usize = 1;
const SENDMSG: usize = 2;
const RECVMSG: usize = 3;
const GETPEERNAME: usize = 4;
const GETSOCKNAME: usize = 5;

/// `connect4`/`connect6` send a connection for one port to a listener on another and
/// refuse a third; `getpeername4/6` report the port the caller asked for.
#[test]
fn connect_is_redirected_and_refused() {
    let _serial = serial();
    setup();
    for (ip, suffix) in [(LOCAL4, "4"), (LOCAL6, "6")] {
        let cg = TestCgroup::new("connect");
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
        let to = listener.local_addr().unwrap().port();
        let (from, refused) = (unused_port(), unused_port());
        let names = [format!("connect{suffix}"), format!("getpeername{suffix}")];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let ports = [
            ("connect_from", from),
            ("connect_to", to),
            ("connect_refused", refused),
        ];
        let (spec, obj, links) = sock_addr(&cg, &names, &ports);
        let inside = cg.enter();
        let mut client = TcpStream::connect(SocketAddr::new(ip, from))
            .unwrap_or_else(|e| panic!("connecting to {ip} port {from}: {e}"));
        let (mut served, _) = listener.accept().unwrap();
        client.write_all(b"hi").unwrap();
        let mut two = [0u8; 2];
        served.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"hi");
        assert_eq!(
            client.peer_addr().unwrap().port(),
            from,
            "getpeername rewritten"
        );
        let e = TcpStream::connect(SocketAddr::new(ip, refused)).unwrap_err();
        assert_eq!(errno_of(&e), libc::EPERM, "{e}");
        assert_eq!(global_u64_at(&spec, &obj, "rewrites", CONNECT), 1);
        assert!(global_u64_at(&spec, &obj, "rewrites", GETPEERNAME) >= 1);
        assert_eq!(global_u64(&spec, &obj, "refusals"), 1);

        drop(links);
        assert_eq!(client.peer_addr().unwrap().port(), to, "the real peer");
        let e = TcpStream::connect(SocketAddr::new(ip, from)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{ip}: {e}");
        drop(inside);
    }
}

/// `bind4`/`bind6` bind another port than the one asked for; `getsockname4/6` report
/// the one asked for.
#[test]
fn bind_port_is_rewritten() {
    let _serial = serial();
    setup();
    for (ip, suffix) in [(LOCAL4, "4"), (LOCAL6, "6")] {
        let cg = TestCgroup::new("bind");
        let (from, to) = (unused_port(), unused_port());
        let names = [format!("bind{suffix}"), format!("getsockname{suffix}")];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (spec, obj, links) = sock_addr(&cg, &names, &[("bind_from", from), ("bind_to", to)]);
        let inside = cg.enter();
        let listener = TcpListener::bind(SocketAddr::new(ip, from)).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().port(),
            from,
            "getsockname rewritten"
        );
        TcpStream::connect(SocketAddr::new(ip, to)).expect("the listener is on the new port");
        let e = TcpStream::connect(SocketAddr::new(ip, from)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(global_u64_at(&spec, &obj, "rewrites", BIND), 1);
        assert!(global_u64_at(&spec, &obj, "rewrites", GETSOCKNAME) >= 1);
        drop(links);
        assert_eq!(listener.local_addr().unwrap().port(), to, "the real port");
        let again = TcpListener::bind(SocketAddr::new(ip, from)).unwrap();
        TcpStream::connect(SocketAddr::new(ip, from)).expect("bound where asked once detached");
        drop((again, inside));
    }
}

/// `sendmsg4/6` send a UDP datagram for one port to another; `recvmsg4/6` make the
/// reply appear to come from the port the sender used.
#[test]
fn udp_sendmsg_and_recvmsg_addresses_are_rewritten() {
    let _serial = serial();
    setup();
    for (ip, suffix) in [(LOCAL4, "4"), (LOCAL6, "6")] {
        let cg = TestCgroup::new("sendmsg");
        let server = udp(ip);
        let to = server.local_addr().unwrap().port();
        let from = unused_port();
        let names = [format!("sendmsg{suffix}"), format!("recvmsg{suffix}")];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (spec, obj, links) = sock_addr(&cg, &names, &[("send_from", from), ("send_to", to)]);
        let inside = cg.enter();
        let client = udp(ip);
        client.send_to(b"ping", SocketAddr::new(ip, from)).unwrap();
        let mut buf = [0u8; 16];
        let (n, peer) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(peer, client.local_addr().unwrap());
        server.send_to(b"pong", peer).unwrap();
        let (n, source) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong");
        assert_eq!(
            source.port(),
            from,
            "the reply seems to come from where we sent"
        );
        assert_eq!(global_u64_at(&spec, &obj, "rewrites", SENDMSG), 1);
        assert_eq!(global_u64_at(&spec, &obj, "rewrites", RECVMSG), 1);
        drop(links);
        server.send_to(b"pong", peer).unwrap();
        let (_, source) = client.recv_from(&mut buf).unwrap();
        assert_eq!(source.port(), to, "the real source once detached");
        drop(inside);
    }
}

/// A socket path as the NUL-padded `.rodata` value of a `char[108]`.
fn sun_path(path: &std::path::Path) -> Vec<u8> {
    let mut v = path.as_os_str().as_encoded_bytes().to_vec();
    assert!(v.len() < 108, "{} is too long for sun_path", path.display());
    v.resize(108, 0);
    v
}

/// Hooks counted in cg_sock_unix's `rewrites`.
const UNIX_CONNECT: usize = 0;
const UNIX_SENDMSG: usize = 1;
const UNIX_RECVMSG: usize = 2;
const UNIX_GETPEERNAME: usize = 3;
const UNIX_GETSOCKNAME: usize = 4;

/// The Unix socket hooks (6.7+) with paths for ports: `connect_unix` sends a connection
/// for one path to a listener on another and refuses a third, `sendmsg_unix` does the
/// same for a datagram, and `recvmsg_unix`, `getpeername_unix`, `getsockname_unix`
/// report the path the caller used.
#[test]
fn unix_socket_paths_are_rewritten() {
    let _serial = serial();
    use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
    const TEST: &str = "unix_socket_paths_are_rewritten";
    if feature::require(TEST, Feature::UnixSockAddr).is_none() {
        return;
    }
    let cg = TestCgroup::new("unix");
    let dir = tempfile::tempdir().unwrap();
    let (from, to, refused) = (
        dir.path().join("from.sock"),
        dir.path().join("to.sock"),
        dir.path().join("refused.sock"),
    );
    let programs = [
        "connect_unix",
        "sendmsg_unix",
        "recvmsg_unix",
        "getpeername_unix",
        "getsockname_unix",
    ];
    let globals = [
        ("from_path", sun_path(&from)),
        ("to_path", sun_path(&to)),
        ("refused_path", sun_path(&refused)),
    ];
    let (spec, obj) = load_only("cg_sock_unix.bpf.o", &programs, &globals);
    let links: Vec<Link> = programs
        .iter()
        .map(|name| {
            let p = CgroupSockAddr::try_from(obj.program(name).unwrap()).unwrap();
            p.attach(cg.fd(), CgroupAttachMode::default())
                .unwrap_or_else(|e| panic!("attaching {name}: {}", chain(&e)))
        })
        .collect();
    let rewrites = |hook| global_u64_at(&spec, &obj, "rewrites", hook);
    let inside = cg.enter();

    // Streams: connect, getpeername, getsockname.
    let listener = UnixListener::bind(&to).unwrap();
    let mut client = UnixStream::connect(&from)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", from.display()));
    let (mut served, _) = listener.accept().unwrap();
    client.write_all(b"hi").unwrap();
    let mut two = [0u8; 2];
    served.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"hi");
    let peer = client.peer_addr().unwrap();
    assert_eq!(peer.as_pathname(), Some(from.as_path()), "getpeername");
    let name = listener.local_addr().unwrap();
    assert_eq!(name.as_pathname(), Some(from.as_path()), "getsockname");
    let e = UnixStream::connect(&refused).unwrap_err();
    assert_eq!(errno_of(&e), libc::EPERM, "{e}");
    assert_eq!(rewrites(UNIX_CONNECT), 1);
    assert!(rewrites(UNIX_GETPEERNAME) >= 1);
    assert!(rewrites(UNIX_GETSOCKNAME) >= 1);
    assert_eq!(global_u64(&spec, &obj, "refusals"), 1);
    drop((listener, served, client));
    std::fs::remove_file(&to).unwrap();

    // Datagrams: sendmsg, recvmsg.
    let server = UnixDatagram::bind(&to).unwrap();
    let client_path = dir.path().join("client.sock");
    let client = UnixDatagram::bind(&client_path).unwrap();
    for s in [&server, &client] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    client.send_to(b"ping", &from).unwrap();
    let mut buf = [0u8; 16];
    let (n, sender) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(sender.as_pathname(), Some(client_path.as_path()));
    server.send_to(b"pong", &client_path).unwrap();
    let (n, source) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");
    assert_eq!(source.as_pathname(), Some(from.as_path()), "recvmsg");
    assert_eq!(rewrites(UNIX_SENDMSG), 1);
    assert_eq!(rewrites(UNIX_RECVMSG), 1);

    drop(links);
    server.send_to(b"pong", &client_path).unwrap();
    let (_, source) = client.recv_from(&mut buf).unwrap();
    assert_eq!(source.as_pathname(), Some(to.as_path()), "the real source");
    let e = client.send_to(b"ping", &from).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "sent where asked once detached"
    );
    let e = UnixStream::connect(&refused).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "no refusal once detached");
    assert_eq!(rewrites(UNIX_SENDMSG), 1);
    drop(inside);
}

/// `cgroup/setsockopt` refuses one SO_PRIORITY value and changes another;
/// `cgroup/getsockopt` reports its own.
#[test]
fn sockopt_values_are_refused_changed_and_reported() {
    let _serial = serial();
    setup();
    let cg = TestCgroup::new("sockopt");
    let (spec, obj) = load_only("cg_sockopt.bpf.o", &["set_priority", "get_priority"], &[]);
    let view = |n| CgroupSockopt::try_from(obj.program(n).unwrap()).unwrap();
    let set = view("set_priority")
        .attach(cg.fd(), CgroupAttachMode::default())
        .unwrap();
    let inside = cg.enter();
    let s = tcp4_socket().unwrap();
    let e = sock::setsockopt(&s, sockopt::Priority, &42).unwrap_err();
    assert_eq!(e, nix::errno::Errno::EPERM);
    sock::setsockopt(&s, sockopt::Priority, &5).unwrap();
    assert_eq!(
        sock::getsockopt(&s, sockopt::Priority).unwrap(),
        6,
        "5 stored as 6"
    );
    let get = view("get_priority")
        .attach(cg.fd(), CgroupAttachMode::default())
        .unwrap();
    assert_eq!(sock::getsockopt(&s, sockopt::Priority).unwrap(), 7);
    assert_eq!(global_u64(&spec, &obj, "set_calls"), 2);
    assert_eq!(global_u64(&spec, &obj, "get_calls"), 1);
    drop((set, get));
    sock::setsockopt(&s, sockopt::Priority, &42).expect("allowed once detached");
    assert_eq!(sock::getsockopt(&s, sockopt::Priority).unwrap(), 42);
    drop(inside);
}

/// `cgroup/sysctl` sees a read and refuses a write to kernel/domainname (the value
/// written is the current one, so nothing changes even if the refusal failed).
#[test]
fn sysctl_read_is_seen_and_write_refused() {
    let _serial = serial();
    setup();
    let cg = TestCgroup::new("sysctl");
    let (spec, obj) = load_only("cg_sysctl.bpf.o", &["guard_domainname"], &[]);
    let p = CgroupSysctl::try_from(obj.program("guard_domainname").unwrap()).unwrap();
    let link = p.attach(cg.fd(), CgroupAttachMode::default()).unwrap();
    let inside = cg.enter();
    let ostype = std::fs::read_to_string("/proc/sys/kernel/ostype").unwrap();
    assert_eq!(ostype.trim(), "Linux");
    assert_eq!(cstr(&global(&spec, &obj, "last_read")), "kernel/ostype");
    let path = "/proc/sys/kernel/domainname";
    let current = std::fs::read_to_string(path).unwrap();
    let e = std::fs::write(path, &current).unwrap_err();
    assert_eq!(errno_of(&e), libc::EPERM, "{e}");
    assert_eq!(global_u64(&spec, &obj, "refused_writes"), 1);
    assert_eq!(cstr(&global(&spec, &obj, "refused_value")), current);
    drop(link);
    std::fs::write(path, &current).expect("the write passes once detached");
    drop(inside);
}

/// `cgroup/dev` denies opening /dev/zero for reading, and nothing else.
#[test]
fn device_open_is_denied() {
    let _serial = serial();
    setup();
    let cg = TestCgroup::new("dev");
    let (spec, obj) = load_only("cg_dev.bpf.o", &["deny_zero"], &[]);
    let p = CgroupDevice::try_from(obj.program("deny_zero").unwrap()).unwrap();
    let link = p.attach(cg.fd(), CgroupAttachMode::default()).unwrap();
    let inside = cg.enter();
    let e = std::fs::File::open("/dev/zero").unwrap_err();
    assert_eq!(errno_of(&e), libc::EPERM, "{e}");
    std::fs::File::open("/dev/null").expect("other devices open");
    assert_eq!(global_u64(&spec, &obj, "denied"), 1);
    assert!(global_u64(&spec, &obj, "checked") >= 2);
    drop(link);
    let mut zero = [1u8; 4];
    std::fs::File::open("/dev/zero")
        .and_then(|mut f| f.read_exact(&mut zero))
        .expect("/dev/zero opens once detached");
    assert_eq!(zero, [0; 4]);
    drop(inside);
}

/// `lsm_cgroup/socket_bind` refuses binding one port, only in its cgroup.
#[test]
fn lsm_cgroup_denies_a_bind_in_its_cgroup() {
    let _serial = serial();
    const TEST: &str = "lsm_cgroup_denies_a_bind_in_its_cgroup";
    if feature::require(TEST, Feature::LsmCgroup).is_none() {
        return;
    }
    let cg = TestCgroup::new("lsm");
    let refused = unused_port();
    let (spec, obj) = load_only(
        "cg_lsm.bpf.o",
        &["deny_bind"],
        &[("refused_port", port(refused))],
    );
    let p = LsmCgroup::try_from(obj.program("deny_bind").unwrap()).unwrap();
    let link = p
        .attach(cg.fd(), CgroupAttachMode::default())
        .unwrap_or_else(|e| panic!("attaching: {}", chain(&e)));
    {
        let _inside = cg.enter();
        let e = UdpSocket::bind(("127.0.0.1", refused)).unwrap_err();
        assert_eq!(errno_of(&e), libc::EPERM, "{e}");
        udp(LOCAL4);
        assert_eq!(global_u64(&spec, &obj, "denied"), 1);
        assert!(global_u64(&spec, &obj, "binds") >= 2);
    }
    let outside = UdpSocket::bind(("127.0.0.1", refused)).expect("outside the cgroup it binds");
    drop((outside, link));
    let _inside = cg.enter();
    UdpSocket::bind(("127.0.0.1", refused)).expect("inside, once detached");
}

/// A `cgrp_storage` map (6.2+) filled by `cgroup/sock_create`, read by the cgroup's
/// directory fd.
#[test]
fn cgrp_storage_counts_sockets_per_cgroup() {
    let _serial = serial();
    const TEST: &str = "cgrp_storage_counts_sockets_per_cgroup";
    if feature::require(TEST, Feature::CgrpStorage).is_none() {
        return;
    }
    let cg = TestCgroup::new("cgrp-storage");
    let (_, obj) = load_only("cg_storage.bpf.o", &["count_sockets"], &[]);
    let p = CgroupSock::try_from(obj.program("count_sockets").unwrap()).unwrap();
    let link = p.attach(cg.fd(), CgroupAttachMode::default()).unwrap();
    let inside = cg.enter();
    let sockets: Vec<_> = (0..2).map(|_| tcp4_socket().unwrap()).collect();
    drop(inside);
    drop(link);
    let key = cg.fd().as_raw_fd().to_ne_bytes();
    let value = obj
        .map("sockets")
        .unwrap()
        .lookup(&key, MapFlags::ANY)
        .unwrap()
        .expect("the cgroup's storage");
    assert_eq!(u64::from_ne_bytes(value[..8].try_into().unwrap()), 2);
    drop(sockets);
}

/// Cgroup programs are not auto-attached (libbpf doesn't either), and say why.
#[test]
fn cgroup_programs_do_not_auto_attach() {
    let _serial = serial();
    setup();
    let (_, obj) = load_only("cg_dev.bpf.o", &["deny_zero"], &[]);
    let p = obj.program("deny_zero").unwrap();
    assert!(!p.can_auto_attach());
    let e = p.attach().unwrap_err();
    assert!(matches!(e, ProgramError::NoAutoAttach { .. }), "{e:?}");
    assert!(e.to_string().contains("names no cgroup"), "{e}");
}

/// Attaching where no cgroup is, or a program of another kind, is a typed error naming
/// what is wrong, and leaves nothing attached.
#[test]
fn cgroup_attach_errors_name_what_is_wrong() {
    let _serial = serial();
    setup();
    let cg = TestCgroup::new("errors");
    let (_, obj) = load_only("cg_skb.bpf.o", &["count_egress"], &[("drop_port", port(0))]);
    let egress = CgroupSkb::try_from(obj.program("count_egress").unwrap()).unwrap();
    let mode = CgroupAttachMode::default();

    // A plain directory, a file of the cgroup itself: the kernel says EBADF.
    let procs = cg.path().join("cgroup.procs");
    for (target, mode) in [
        (std::path::Path::new("/tmp"), mode),
        (procs.as_path(), mode),
        (procs.as_path(), CgroupAttachMode::Single),
    ] {
        let e = egress.attach_path(target, mode).unwrap_err();
        assert!(matches!(e, ProgramError::BadTarget { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("{} is not a cgroup2 directory", target.display())),
            "{text}"
        );
    }

    let missing = cg.path().join("no-such-cgroup");
    let e = egress.attach_path(&missing, mode).unwrap_err();
    assert!(matches!(e, ProgramError::OpenTarget { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("program 'count_egress': opening {}", missing.display())
    );
    let source = std::error::Error::source(&e).expect("the open's error");
    assert!(source.to_string().contains("No such file"), "{source}");

    let e = egress
        .attach_direction(cg.fd(), corebpf::program::CgroupSkbDirection::Ingress, mode)
        .unwrap_err();
    assert!(
        e.to_string().contains("can't attach as cgroup_skb/ingress"),
        "{e}"
    );

    let (_, filters) = load_only("sock_filter.bpf.o", &["keep_short"], &[]);
    let e = CgroupSkb::try_from(filters.program("keep_short").unwrap()).unwrap_err();
    assert!(matches!(e, ProgramError::WrongKind { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "program 'keep_short' (section 'socket') is not a cgroup_skb program"
    );
    assert!(
        egress.attached(cg.fd()).unwrap().is_empty(),
        "nothing attached"
    );
}
