//! struct_ops: a TCP congestion control written in BPF (struct_ops.bpf.c, a minimal
//! Reno counting its callbacks), registered, selected with
//! `setsockopt(TCP_CONGESTION)` on a loopback connection that moves data, and
//! unregistered when its link drops: registered through the map element alone
//! (`.struct_ops`, 5.6+) and through a struct_ops link (`.struct_ops.link`, 6.4+).
//!
//! Each test names its algorithm after its process and kind (`crbNNNNNNl`), written
//! into the variable's `.name` before load, so runs in parallel don't collide.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use common::feature::{self, Feature};
use common::*;
use corebpf::btf::Kind;
use corebpf::{Loader, Object, ObjectSpec};

/// `ObjectSpec` of `object` with the algorithm's `.name` set to `name`.
fn spec_named(object: &str, name: &str) -> ObjectSpec {
    let mut spec = ObjectSpec::from_file(&prog(object)).expect("parsing the object");
    let s = spec
        .struct_ops
        .first()
        .expect("a struct_ops variable")
        .clone();
    assert_eq!(s.type_name, "tcp_congestion_ops");
    let btf = spec.btf.as_ref().unwrap();
    let t = btf.type_by_id(s.type_id).unwrap();
    let member = t
        .members()
        .find(|m| btf.str_at(m.name_off).is_ok_and(|n| n == "name"))
        .expect("a name member");
    let at = (member.bit_offset / 8) as usize;
    let data = &mut spec.maps[s.map].data;
    data[at..at + 16].fill(0);
    data[at..at + name.len()].copy_from_slice(name.as_bytes());
    spec
}

/// `setsockopt(TCP_CONGESTION, name)` on `fd`: `Ok` or the errno.
fn set_congestion(fd: i32, name: &str) -> Result<(), i32> {
    // SAFETY: `name` is readable for `name.len()` bytes for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// The algorithm `fd` uses.
fn congestion(fd: i32) -> String {
    let mut buf = [0u8; 16];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` is a live socklen_t.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "getsockopt(TCP_CONGESTION)");
    cstr(&buf)
}

/// Sends `bytes` over a loopback connection whose sender uses algorithm `name`.
fn transfer(name: &str, bytes: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = 0;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match s.read(&mut buf).unwrap() {
                0 => break got,
                n => got += n,
            }
        }
    });
    // The algorithm is chosen before connecting, so it runs from the handshake on.
    let mut stream = connect_with(addr, name);
    let chunk = vec![0x5au8; 1 << 16];
    let mut sent = 0;
    while sent < bytes {
        stream.write_all(&chunk).unwrap();
        sent += chunk.len();
    }
    assert_eq!(congestion(stream.as_raw_fd()), name);
    drop(stream);
    assert_eq!(reader.join().unwrap(), sent);
}

/// A new, unconnected TCP socket.
fn tcp_socket() -> TcpStream {
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a new socket nobody else owns.
    unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) }
}

/// A TCP socket set to algorithm `name`, then connected to `addr`.
fn connect_with(addr: std::net::SocketAddr, name: &str) -> TcpStream {
    let stream = tcp_socket();
    let fd = stream.as_raw_fd();
    set_congestion(fd, name).unwrap_or_else(|e| panic!("selecting {name}: errno {e}"));
    let std::net::SocketAddr::V4(v4) = addr else {
        unreachable!("bound to 127.0.0.1")
    };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a live sockaddr_in of the size given.
    let r = unsafe {
        libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
    stream
}

/// Whether algorithm `name` is (or within a bounded wait, becomes) unknown: the kernel
/// frees a struct_ops registration once its last reference goes.
fn unregistered(name: &str) -> bool {
    (0..100).any(|_| {
        if set_congestion(tcp_socket().as_raw_fd(), name).is_err() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        false
    })
}

fn counter(spec: &ObjectSpec, obj: &Object, name: &str) -> u64 {
    global_u64(spec, obj, name)
}

/// The whole life of a BPF congestion control: unknown before registration,
/// selected and driven by a transfer while registered, unknown again after.
fn register_select_unregister(object: &str, name: &str, link: bool) {
    let spec = spec_named(object, name);
    let obj = Loader::new()
        .load(&spec)
        .unwrap_or_else(|e| panic!("loading {object}: {}", chain(&e)));
    let probe = tcp_socket();
    assert_eq!(
        set_congestion(probe.as_raw_fd(), name),
        Err(libc::ENOENT),
        "{name} is known before registration"
    );
    let ops = obj.struct_ops("corebpf_reno").expect("the variable's map");
    assert_eq!(ops.type_name(), "tcp_congestion_ops");
    assert_eq!(ops.uses_link(), link);
    // The struct_ops programs are not attached on their own.
    let p = obj.program("reno_init").unwrap();
    assert!(!p.can_auto_attach());
    let registered = ops.attach().expect("registering the algorithm");
    assert_eq!(registered.link_fd().is_some(), link);
    set_congestion(probe.as_raw_fd(), name).expect("the registered algorithm is accepted");
    assert_eq!(congestion(probe.as_raw_fd()), name);
    drop(probe);

    transfer(name, 16 << 20);
    let init = counter(&spec, &obj, "init_calls");
    let cong_avoid = counter(&spec, &obj, "cong_avoid_calls");
    let acked = counter(&spec, &obj, "acked_segments");
    assert!(init >= 1, "init never ran");
    // Every ACK that advances the window reaches cong_avoid with the segments it acks.
    assert!(cong_avoid > 0, "cong_avoid never ran during 16 MiB");
    assert!(
        acked >= cong_avoid,
        "{acked} segments acked in {cong_avoid} calls"
    );
    if link {
        let info = registered.info().unwrap();
        assert_eq!(
            info.kind,
            corebpf::link::LinkKind::StructOps {
                map_id: ops.map().info().unwrap().id
            }
        );
    }
    drop(registered);
    // Unregistration completes as the link's last reference goes; sockets that
    // used the algorithm are closed.
    assert!(
        unregistered(name),
        "{name} is still accepted after the link dropped"
    );
}

#[test]
fn struct_ops_tcp_congestion_control_by_map_update() {
    const T: &str = "struct_ops_tcp_congestion_control_by_map_update";
    let Some(()) = feature::require(T, Feature::StructOps) else {
        return;
    };
    register_select_unregister(
        "struct_ops.bpf.o",
        &format!("crb{}m", std::process::id()),
        false,
    );
}

#[test]
fn struct_ops_tcp_congestion_control_by_link() {
    const T: &str = "struct_ops_tcp_congestion_control_by_link";
    let Some(()) = feature::require(T, Feature::StructOpsLink) else {
        return;
    };
    register_select_unregister(
        "struct_ops_link.bpf.o",
        &format!("crb{}l", std::process::id()),
        true,
    );
}

/// What the object says about its struct_ops variable, kernel-free: the map, its
/// type, and the program each function pointer is set to.
#[test]
fn struct_ops_variable_is_parsed_from_the_object() {
    let spec = ObjectSpec::from_file(&prog("struct_ops_link.bpf.o")).unwrap();
    assert_eq!(spec.struct_ops.len(), 1);
    let s = &spec.struct_ops[0];
    let m = &spec.maps[s.map];
    assert_eq!(m.name, "corebpf_reno");
    assert_eq!(m.map_type, 26, "BPF_MAP_TYPE_STRUCT_OPS");
    assert_eq!(m.map_flags, 1 << 13, "BPF_F_LINK for .struct_ops.link");
    let btf = spec.btf.as_ref().unwrap();
    let t = btf.type_by_id(s.type_id).unwrap();
    assert_eq!(t.kind, Kind::Struct);
    let mut funcs: Vec<(String, String)> = s
        .funcs
        .iter()
        .map(|f| {
            let member = t
                .members()
                .find(|m| m.bit_offset / 8 == f.offset)
                .map(|m| btf.str_at(m.name_off).unwrap().to_string())
                .unwrap();
            (member, f.program.clone())
        })
        .collect();
    funcs.sort();
    let want = [
        ("cong_avoid", "reno_cong_avoid"),
        ("cwnd_event", "reno_cwnd_event"),
        ("init", "reno_init"),
        ("ssthresh", "reno_ssthresh"),
        ("undo_cwnd", "reno_undo_cwnd"),
    ];
    assert_eq!(
        funcs,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    let plain = ObjectSpec::from_file(&prog("struct_ops.bpf.o")).unwrap();
    assert_eq!(plain.maps[plain.struct_ops[0].map].map_flags, 0);
}

/// A pinned struct_ops link keeps the algorithm registered after its handle drops;
/// `Link::detach` on the link reopened from its pin unregisters it while the pin
/// stays (`BPF_LINK_DETACH` for struct_ops links came in 6.11; before, the kernel
/// can't, and detach says so).
#[test]
fn pinned_struct_ops_link_detaches_on_demand() {
    const T: &str = "pinned_struct_ops_link_detaches_on_demand";
    let Some(()) = feature::require(T, Feature::StructOpsLink) else {
        return;
    };
    let name = format!("crb{}d", std::process::id());
    let spec = spec_named("struct_ops_link.bpf.o", &name);
    let obj = Loader::new().load(&spec).unwrap();
    let mut link = obj.struct_ops("corebpf_reno").unwrap().attach().unwrap();
    let pin = std::path::PathBuf::from(format!("/sys/fs/bpf/corebpf_so_{}", std::process::id()));
    link.pin(&pin).expect("pinning the struct_ops link");
    drop(link);
    set_congestion(tcp_socket().as_raw_fd(), &name).expect("still registered while pinned");
    let reopened = corebpf::Link::from_pin(&pin).unwrap();
    assert_eq!(reopened.info().unwrap().type_name(), "struct_ops");
    let detach_supported =
        feature::parse_version(&feature::kernel_release()).is_some_and(|v| v >= (6, 11));
    match reopened.detach() {
        Ok(()) => {
            assert!(
                detach_supported,
                "BPF_LINK_DETACH of a struct_ops link before 6.11"
            );
            assert_eq!(
                set_congestion(tcp_socket().as_raw_fd(), &name),
                Err(libc::ENOENT),
                "still registered after detach"
            );
            assert!(pin.exists(), "detach leaves the (defunct) link pinned");
        }
        Err(e) => {
            assert!(!detach_supported, "{}", chain(&e));
            assert!(
                matches!(e, corebpf::LinkError::PinnedUndetachable { .. }),
                "{e}"
            );
        }
    }
    let mut last = corebpf::Link::from_pin(&pin).unwrap();
    last.unpin().unwrap();
    drop(last);
    assert!(
        unregistered(&name),
        "{name} still registered after the pin went"
    );
}
