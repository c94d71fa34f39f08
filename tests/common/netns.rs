//! Network namespaces and veth pairs for the XDP and TC tests, made with `ip` (never
//! with the library under test), named per process so concurrent test runs don't
//! collide, and removed on drop (which removes the interfaces inside too).
//!
//! Traffic stays inside the namespaces: addresses come from the documentation ranges
//! (192.0.2.0/24, 198.51.100.0/24), and the namespaces have no route anywhere else.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A network namespace made for one test.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
}

/// Runs `ip ARGS`, panicking with its stderr when it fails.
pub fn ip(args: &[&str]) {
    ip_output(args);
}

/// The output of `ip ARGS`, which must succeed.
pub fn ip_output(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("running ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl NetNs {
    /// `ip netns add cbpf-TAG-PID-N`.
    pub fn new(tag: &str) -> NetNs {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("cbpf-{tag}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) {
        self.ip_output(args);
    }

    /// The output of `ip -n NAME ARGS`.
    pub fn ip_output(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip_output(&all)
    }

    /// Runs `f` on a thread that has entered this namespace: interface names and
    /// indexes, sockets, netlink requests and BPF attachments made there belong to it.
    /// Sockets and links made inside keep their namespace after the thread is gone.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            let handle = s.spawn(|| {
                let ns = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
                // SAFETY: setns takes a descriptor and a flag; it changes only this
                // thread's network namespace, and the thread ends with `f`.
                let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "entering {path}: {}", std::io::Error::last_os_error());
                f()
            });
            handle
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// The index of interface `name` in this namespace.
    pub fn ifindex(&self, name: &str) -> u32 {
        self.run(|| nix::net::if_::if_nametoindex(name))
            .unwrap_or_else(|e| panic!("{name} in {}: {e}", self.name))
    }

    /// A UDP socket bound to `addr` in this namespace, with a receive timeout (a bound
    /// so a lost datagram fails the test instead of hanging it).
    pub fn udp(&self, addr: SocketAddrV4) -> UdpSocket {
        let sock = self
            .run(|| UdpSocket::bind(addr))
            .expect("binding a UDP socket");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("setting a receive timeout");
        sock
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let status = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("removing network namespace {}: {status:?}", self.name);
        }
    }
}

/// A veth pair between two namespaces, addressed and up: `a_if` in `a` with `a_addr`,
/// `b_if` in `b` with `b_addr` (both `/24`), with one queue each way (so AF_XDP
/// sockets on queue 0 see everything).
pub fn veth_pair(a: &NetNs, a_if: &str, a_addr: &str, b: &NetNs, b_if: &str, b_addr: &str) {
    let one = ["numtxqueues", "1", "numrxqueues", "1"];
    let mut args = vec!["link", "add", a_if];
    args.extend(one);
    args.extend(["type", "veth", "peer", "name", b_if]);
    args.extend(one);
    args.extend(["netns", &b.name]);
    a.ip(&args);
    for (ns, ifname, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", ifname]);
        ns.ip(&["link", "set", ifname, "up"]);
    }
}

/// Receives one datagram; `None` when nothing came within the socket's timeout.
pub fn recv(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    match sock.recv(&mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("receiving: {e}"),
    }
}

/// `va`'s address (in `a`).
pub const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// `vb`'s address (in `b`).
pub const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// `vc`'s address (in `b`, see [`Pair::extend`]).
pub const C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// `vd`'s address (in the third namespace).
pub const D: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// Two namespaces joined by a veth pair (`va` in `a`, `vb` in `b`), with a UDP
/// sender in `a` and a receiver on `port` in `b`.
pub struct Pair {
    pub a: NetNs,
    pub b: NetNs,
    pub tx: UdpSocket,
    pub rx: UdpSocket,
    pub port: u16,
}

impl Pair {
    pub fn new(tag: &str, port: u16) -> Pair {
        let a = NetNs::new(tag);
        let b = NetNs::new(tag);
        veth_pair(&a, "va", &A.to_string(), &b, "vb", &B.to_string());
        let tx = a.udp(SocketAddrV4::new(A, 0));
        no_checksum(&tx);
        let rx = b.udp(SocketAddrV4::new(B, port));
        Pair { a, b, tx, rx, port }
    }

    /// Sends `payload` from `a` to `b`'s receiver.
    pub fn send(&self, payload: &str) {
        self.tx
            .send_to(payload.as_bytes(), SocketAddrV4::new(B, self.port))
            .expect("sending a datagram");
    }

    /// The next datagram `b` receives, as text; `None` after the receive timeout.
    pub fn next(&self) -> Option<String> {
        recv(&self.rx).map(|d| String::from_utf8_lossy(&d).into_owned())
    }

    /// A second pair from `b`: `vc` in `b` (C) to `vd` in a new namespace (D).
    pub fn extend(&self, tag: &str) -> NetNs {
        let c = NetNs::new(tag);
        veth_pair(&self.b, "vc", &C.to_string(), &c, "vd", &D.to_string());
        c
    }
}

/// Sends datagrams without a UDP checksum (`SO_NO_CHECK`): a veth leaves a locally
/// sent checksum to be completed later, and a frame that XDP redirects to a cpumap
/// becomes a new `sk_buff` without that note, so its checksum would be wrong.
pub fn no_checksum(sock: &UdpSocket) {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_NO_CHECK: {}", std::io::Error::last_os_error());
}

/// Global `name` of `obj` once it has reached `want`, or what it holds after a bound
/// of 5 s (packets are processed after the send returns: native XDP in NAPI, cpumap
/// in its kthread); a bound so a broken program fails the test instead of hanging it.
pub fn wait_for(spec: &corebpf::ObjectSpec, obj: &corebpf::Object, name: &str, want: u64) -> u64 {
    for _ in 0..100 {
        let v = super::global_u64(spec, obj, name);
        if v >= want {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    super::global_u64(spec, obj, name)
}

/// Loads `object` (in `bpf-progs/`) with only `programs`, its `.rodata` `port` set to
/// `port` (the programs act on datagrams to it) and more `.rodata` values.
pub fn load_for_port(
    object: &str,
    programs: &[&str],
    port: u16,
    globals: &[(&str, Vec<u8>)],
) -> (corebpf::ObjectSpec, corebpf::Object) {
    let spec = corebpf::ObjectSpec::from_file(&super::prog(object))
        .unwrap_or_else(|e| panic!("parsing {object}: {}", super::chain(&e)));
    let mut loader = corebpf::Loader::new().global("port", &port.to_ne_bytes());
    for p in &spec.programs {
        loader = loader.autoload(&p.name, programs.contains(&p.name.as_str()));
    }
    for (name, value) in globals {
        loader = loader.global(name, value);
    }
    let obj = loader
        .load(&spec)
        .unwrap_or_else(|e| panic!("loading {object} ({programs:?}): {}", super::chain(&e)));
    (spec, obj)
}
