//! Network namespaces and veth pairs for the XDP and TC tests, made with `ip` (never
//! with the library under test), named per process so concurrent test runs don't
//! collide, and removed on drop (which removes the interfaces inside too).
//!
//! Traffic stays inside the namespaces: addresses come from the documentation ranges
//! (192.0.2.0/24, 198.51.100.0/24), and the namespaces have no route anywhere else.

use std::fs::File;
use std::net::{SocketAddrV4, UdpSocket};
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
}

/// The output of `ip ARGS`.
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
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
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
