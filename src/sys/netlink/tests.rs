//! The netlink encoder and decoder on exchanges recorded from a real kernel
//! (`testdata/*.nlrec`), and on those replies truncated and corrupted.
//!
//! Each recording holds what was sent and every datagram the kernel answered, with
//! the interface index, program fds and program ids used, so the test can rebuild the
//! request and compare it byte for byte, and replay the answer through the same
//! exchange and decoding code the library runs. `record_exchanges` (ignored; run it as
//! root with `--ignored`) makes the recordings afresh, in a network namespace it
//! creates: Linux 6.18 made the committed ones.

#![cfg(target_endian = "little")]

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use super::route::*;
use super::socket::{exchange, Transport};
use super::wire::{self, MessageBuilder};
use super::{NetlinkError, NetlinkResult};

/// The parameters of a recording: what the requests named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Meta {
    ifindex: u32,
    fd: i32,
    fd2: i32,
    prog_id: u32,
    prog_id2: u32,
}

impl Meta {
    fn encode(&self) -> Vec<u8> {
        [
            self.ifindex,
            self.fd as u32,
            self.fd2 as u32,
            self.prog_id,
            self.prog_id2,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
    }

    fn decode(b: &[u8]) -> Meta {
        let w = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        Meta {
            ifindex: w(0),
            fd: w(1) as i32,
            fd2: w(2) as i32,
            prog_id: w(3),
            prog_id2: w(4),
        }
    }
}

/// One recorded exchange.
#[derive(Clone, Debug, Default)]
struct Recording {
    meta: Meta,
    sent: Vec<u8>,
    received: Vec<Vec<u8>>,
}

const META: u8 = 0;
const SENT: u8 = 1;
const RECEIVED: u8 = 2;

impl Recording {
    fn path(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/sys/netlink/testdata")
            .join(format!("{name}.nlrec"))
    }

    fn load(name: &str) -> Recording {
        let data = std::fs::read(Self::path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut r = Recording::default();
        let mut rest = &data[..];
        while !rest.is_empty() {
            let kind = rest[0];
            let len = u32::from_le_bytes(rest[1..5].try_into().unwrap()) as usize;
            let bytes = rest[5..5 + len].to_vec();
            rest = &rest[5 + len..];
            match kind {
                META => r.meta = Meta::decode(&bytes),
                SENT => r.sent = bytes,
                RECEIVED => r.received.push(bytes),
                k => panic!("{name}: record kind {k}"),
            }
        }
        assert!(!r.sent.is_empty() && !r.received.is_empty(), "{name}");
        r
    }

    fn save(&self, name: &str) {
        let mut out = Vec::new();
        let mut put = |kind: u8, bytes: &[u8]| {
            out.push(kind);
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        put(META, &self.meta.encode());
        put(SENT, &self.sent);
        for d in &self.received {
            put(RECEIVED, d);
        }
        std::fs::write(Self::path(name), out).unwrap();
    }

    /// The sequence number of the recorded request.
    fn seq(&self) -> u32 {
        u32::from_le_bytes(self.sent[8..12].try_into().unwrap())
    }

    fn replay(&self) -> Replay {
        Replay {
            seq: self.seq(),
            sent: Vec::new(),
            datagrams: self.received.iter().cloned().collect(),
        }
    }
}

/// A transport answering with recorded datagrams, then end-of-file.
struct Replay {
    seq: u32,
    sent: Vec<Vec<u8>>,
    datagrams: VecDeque<Vec<u8>>,
}

impl Transport for Replay {
    fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.sent.push(message.to_vec());
        Ok(())
    }

    fn recv(&mut self) -> io::Result<Vec<u8>> {
        self.datagrams
            .pop_front()
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    }

    fn next_seq(&mut self) -> u32 {
        self.seq
    }
}

/// A recorded scenario: its request (rebuilt from the recording's parameters), and
/// what the library makes of the kernel's answer.
struct Scenario {
    name: &'static str,
    request: fn(&Meta) -> MessageBuilder,
    /// Runs the library's function for the scenario (or just sends `request`) over
    /// the replay and checks its result.
    check: fn(&Meta, &MessageBuilder, &mut Replay) -> NetlinkResult<()>,
}

/// The filter the TC scenarios add, ask for and delete: ingress, priority 1, handle 1.
fn ingress_filter(m: &Meta) -> (u32, u32, u16, u32) {
    (m.ifindex, CLSACT_INGRESS, 1, 1)
}

const SKB_NOEXIST: u32 = xdp_flags::SKB_MODE | xdp_flags::UPDATE_IF_NOEXIST;
const DRV_NOEXIST: u32 = xdp_flags::DRV_MODE | xdp_flags::UPDATE_IF_NOEXIST;
const SKB_REPLACE: u32 = xdp_flags::SKB_MODE | xdp_flags::REPLACE;
const FILTER_NAME: &str = "tc_pass:[1]";

/// Sends `request` and expects a bare acknowledgement.
fn acked(request: &MessageBuilder, t: &mut Replay) -> NetlinkResult<()> {
    let replies = super::socket::request(t, "x", request)?;
    assert!(replies.is_empty(), "{replies:?}");
    Ok(())
}

/// Sends `request` and expects the kernel's refusal: errno and (part of) its message.
fn refused(request: &MessageBuilder, t: &mut Replay, errno: i32, says: &str) -> NetlinkResult<()> {
    match super::socket::request(t, "x", request) {
        Err(e @ NetlinkError::Refused { .. }) => {
            assert_eq!(e.errno(), errno, "{e}");
            let said = e.kernel_message().unwrap_or_default();
            assert!(
                said.contains(says),
                "kernel said {said:?}, expected {says:?}"
            );
            assert!(e.to_string().contains(said), "{e}");
            Ok(())
        }
        r => panic!("expected a refusal with errno {errno}, got {r:?}"),
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "xdp_attach",
            request: |m| xdp_set_request(m.ifindex, m.fd, SKB_NOEXIST, None),
            check: |_, r, t| acked(r, t),
        },
        Scenario {
            name: "xdp_attach_busy",
            request: |m| xdp_set_request(m.ifindex, m.fd2, SKB_NOEXIST, None),
            check: |_, r, t| refused(r, t, libc::EBUSY, "already attached"),
        },
        Scenario {
            name: "link_get",
            request: |m| link_get_request(m.ifindex),
            check: |m, _, t| {
                let state = xdp_query(t, m.ifindex)?;
                assert_eq!(state.attached, xdp_attached::SKB);
                assert_eq!(state.prog_id, Some(m.prog_id));
                assert_eq!(state.prog_ids(), vec![m.prog_id]);
                Ok(())
            },
        },
        Scenario {
            name: "xdp_detach",
            request: |m| xdp_set_request(m.ifindex, -1, SKB_REPLACE, Some(m.fd)),
            check: |_, r, t| acked(r, t),
        },
        Scenario {
            name: "xdp_native_mtu",
            request: |m| xdp_set_request(m.ifindex, m.fd, DRV_NOEXIST, None),
            check: |_, r, t| refused(r, t, libc::ERANGE, "MTU is too large"),
        },
        Scenario {
            name: "clsact_add",
            request: |m| clsact_add_request(m.ifindex),
            check: |m, _, t| {
                assert!(clsact_add(t, m.ifindex)?, "created");
                Ok(())
            },
        },
        Scenario {
            name: "clsact_add_exists",
            request: |m| clsact_add_request(m.ifindex),
            check: |m, _, t| {
                // The library takes EEXIST as "there is one already".
                assert!(!clsact_add(t, m.ifindex)?, "not created");
                Ok(())
            },
        },
        Scenario {
            name: "filter_add",
            request: |m| {
                let (i, p, prio, h) = ingress_filter(m);
                filter_add_request(i, p, prio, h, m.fd, FILTER_NAME)
            },
            check: |m, r, t| {
                let replies = super::socket::request(t, "x", r)?;
                assert_eq!(replies.len(), 1, "the echo");
                let (ifindex, parent, priority, handle) = ingress_filter(m);
                let want = TcFilter {
                    ifindex,
                    handle,
                    parent,
                    priority,
                    kind: "bpf".into(),
                    prog_id: Some(m.prog_id),
                    name: Some(FILTER_NAME.into()),
                    direct_action: true,
                };
                assert_eq!(parse_filter(&replies[0].payload).unwrap(), want);
                Ok(())
            },
        },
        Scenario {
            name: "filter_get",
            request: |m| {
                let (i, p, prio, h) = ingress_filter(m);
                filter_get_request(i, p, prio, h)
            },
            check: |m, _, t| {
                let (i, p, prio, h) = ingress_filter(m);
                let f = filter_get(t, i, p, prio, h)?.expect("the filter");
                assert_eq!(
                    (f.handle, f.priority, f.prog_id),
                    (h, prio, Some(m.prog_id))
                );
                assert!(f.direct_action);
                Ok(())
            },
        },
        Scenario {
            name: "filter_dump",
            request: |m| filter_dump_request(m.ifindex, CLSACT_INGRESS),
            check: |m, _, t| {
                let filters = filter_list(t, m.ifindex, CLSACT_INGRESS)?;
                let ids: Vec<_> = filters
                    .iter()
                    .map(|f| (f.priority, f.handle, f.prog_id))
                    .collect();
                assert_eq!(ids, [(1, 1, Some(m.prog_id)), (2, 1, Some(m.prog_id2))]);
                Ok(())
            },
        },
        Scenario {
            name: "filter_del",
            request: |m| {
                let (i, p, prio, h) = ingress_filter(m);
                filter_del_request(i, p, prio, h)
            },
            check: |_, r, t| acked(r, t),
        },
        Scenario {
            name: "filter_get_missing",
            request: |m| {
                let (i, p, prio, h) = ingress_filter(m);
                filter_get_request(i, p, prio, h)
            },
            check: |m, _, t| {
                // The kernel's EINVAL once the chain has gone is "no such filter".
                let (i, p, prio, h) = ingress_filter(m);
                assert_eq!(filter_get(t, i, p, prio, h)?, None);
                Ok(())
            },
        },
        Scenario {
            name: "filter_del_missing",
            request: |m| {
                let (i, p, prio, h) = ingress_filter(m);
                filter_del_request(i, p, prio, h)
            },
            check: |_, r, t| refused(r, t, libc::ENOENT, ""),
        },
    ]
}

/// The encoder rebuilds every recorded request byte for byte.
#[test]
fn requests_match_the_recorded_ones() {
    for s in scenarios() {
        let rec = Recording::load(s.name);
        let built = (s.request)(&rec.meta).finish(rec.seq()).unwrap();
        assert_eq!(built, rec.sent, "{}", s.name);
        // And the decoder reads the request back as one message.
        let msgs: Vec<_> = wire::messages(&rec.sent).collect();
        assert_eq!(msgs.len(), 1, "{}", s.name);
        assert!(msgs[0].is_ok(), "{}", s.name);
    }
}

/// Replayed, each recorded answer gives what the kernel meant.
#[test]
fn recorded_replies_decode() {
    for s in scenarios() {
        let rec = Recording::load(s.name);
        let mut replay = rec.replay();
        let request = (s.request)(&rec.meta);
        (s.check)(&rec.meta, &request, &mut replay).unwrap_or_else(|e| panic!("{}: {e:?}", s.name));
        assert_eq!(replay.sent[0], rec.sent, "{}", s.name);
    }
}

/// Every truncation of every recorded datagram, and every 16-bit field of it set to
/// 0, 3, 0xffff and its double (8,000 replies in all): the library's function
/// returns, never panics; and a truncated last datagram (which holds the
/// acknowledgement or the end of the dump) is always an error.
#[test]
fn hostile_replies_are_errors_not_panics() {
    let mut runs = 0usize;
    for s in scenarios() {
        let rec = Recording::load(s.name);
        let last = rec.received.len() - 1;
        for (d, datagram) in rec.received.iter().enumerate() {
            let truncated = (0..datagram.len()).map(|n| (true, datagram[..n].to_vec()));
            let mut corrupted = Vec::new();
            for off in (0..datagram.len().saturating_sub(1)).step_by(2) {
                let old = u16::from_le_bytes([datagram[off], datagram[off + 1]]);
                for v in [0u16, 3, 0xffff, old.wrapping_mul(2)] {
                    let mut bad = datagram.clone();
                    bad[off..off + 2].copy_from_slice(&v.to_le_bytes());
                    corrupted.push((false, bad));
                }
            }
            for (is_truncated, bad) in truncated.chain(corrupted) {
                let mut replay = rec.replay();
                replay.datagrams[d] = bad;
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_quietly(&s, &rec.meta, &mut replay)
                }));
                let r = r.unwrap_or_else(|_| panic!("{}: panicked on a hostile reply", s.name));
                if is_truncated && d == last {
                    assert!(
                        r.is_err(),
                        "{}: a truncated last datagram was taken",
                        s.name
                    );
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 5_000, "{runs} runs");
}

/// A scenario's library function on a (possibly hostile) replay; the scenario's own
/// assertions are not run, only the decoding.
fn run_quietly(s: &Scenario, m: &Meta, t: &mut Replay) -> NetlinkResult<()> {
    let (i, p, prio, h) = ingress_filter(m);
    match s.name {
        "link_get" => xdp_query(t, m.ifindex).map(drop),
        "clsact_add" | "clsact_add_exists" => clsact_add(t, m.ifindex).map(drop),
        "filter_add" => {
            let replies = super::socket::request(t, "x", &(s.request)(m))?;
            for r in replies {
                let _ = parse_filter(&r.payload);
            }
            Ok(())
        }
        "filter_get" | "filter_get_missing" => filter_get(t, i, p, prio, h).map(drop),
        "filter_dump" => filter_list(t, m.ifindex, CLSACT_INGRESS).map(drop),
        _ => super::socket::request(t, "x", &(s.request)(m)).map(drop),
    }
}

/// Replies of another sequence are skipped; a reply that never acknowledges ends with
/// the transport's end, not a loop; an empty datagram and an overrun are errors.
#[test]
fn exchange_follows_sequences_and_ends() {
    let rec = Recording::load("filter_get");
    // The same answer under another sequence number first: skipped.
    let mut stale = rec.received.clone();
    for d in &mut stale {
        for off in message_offsets(d) {
            let seq = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap());
            d[off + 8..off + 12].copy_from_slice(&(seq + 1000).to_le_bytes());
        }
    }
    let mut replay = rec.replay();
    replay.datagrams = stale.into_iter().chain(rec.received.clone()).collect();
    let (i, p, prio, h) = ingress_filter(&rec.meta);
    let f = filter_get(&mut replay, i, p, prio, h).unwrap().unwrap();
    assert_eq!(f.prog_id, Some(rec.meta.prog_id));

    // Only the stale answer: the replay ends before an acknowledgement.
    let mut replay = rec.replay();
    replay.datagrams.iter_mut().for_each(|d| d[8] ^= 0xff);
    let e = filter_get(&mut replay, i, p, prio, h).unwrap_err();
    assert!(
        matches!(e, NetlinkError::Socket { call: "recv", .. }),
        "{e:?}"
    );

    let mut replay = rec.replay();
    replay.datagrams = [Vec::new()].into();
    let e = exchange(
        &mut replay,
        "x",
        &filter_get_request(i, p, prio, h),
        rec.seq(),
    )
    .unwrap_err();
    assert!(matches!(e, NetlinkError::Malformed { .. }), "{e:?}");

    let mut overrun = MessageBuilder::new(wire::msg_type::OVERRUN, 0)
        .finish(rec.seq())
        .unwrap();
    overrun.truncate(16);
    let mut replay = rec.replay();
    replay.datagrams = [overrun].into();
    let e = exchange(
        &mut replay,
        "x",
        &filter_get_request(i, p, prio, h),
        rec.seq(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("overrun"), "{e}");
}

/// The offsets of the messages in a datagram.
fn message_offsets(d: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= d.len() {
        out.push(off);
        let len = u32::from_le_bytes(d[off..off + 4].try_into().unwrap()) as usize;
        off += wire::align4(len.max(16));
    }
    out
}

#[test]
fn refusal_messages_name_the_request_and_the_kernels_words() {
    let e = NetlinkError::Refused {
        request: "RTM_SETLINK (IFLA_XDP)",
        message: Some("XDP program already attached".into()),
        bad_attr_offset: Some(36),
        source: io::Error::from_raw_os_error(libc::EBUSY),
    };
    assert_eq!(
        e.to_string(),
        "RTM_SETLINK (IFLA_XDP) refused by the kernel: \"XDP program already attached\" \
         (attribute at offset 36)"
    );
    assert_eq!(e.errno(), libc::EBUSY);
    let cause = std::error::Error::source(&e).unwrap().to_string();
    assert!(cause.contains("os error 16"), "{cause}");
    let e = NetlinkError::Refused {
        request: "RTM_DELTFILTER",
        message: None,
        bad_attr_offset: None,
        source: io::Error::from_raw_os_error(libc::ENOENT),
    };
    assert_eq!(e.to_string(), "RTM_DELTFILTER refused by the kernel");
    let e = NetlinkError::TooLong {
        request: "RTM_NEWTFILTER",
        attr: 7,
    };
    assert_eq!(e.errno(), 0);
}

/// An answer without the message asked for is malformed: filter_del's bare ACK as
/// the answer to a filter_get.
#[test]
fn a_missing_reply_is_malformed() {
    let rec = Recording::load("filter_del");
    let (i, p, prio, h) = ingress_filter(&rec.meta);
    let e = filter_get(&mut rec.replay(), i, p, prio, h).unwrap_err();
    assert!(matches!(e, NetlinkError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("expected one message"), "{e}");
}

/// Records every scenario against the running kernel (root; makes and removes a
/// network namespace). `cargo test --lib netlink::tests::record -- --ignored`.
#[test]
#[ignore = "rewrites the committed recordings; run by hand as root"]
fn record_exchanges() {
    recorder::record_all(&scenarios());
}

mod recorder {
    use super::*;
    use crate::sys::netlink::NetlinkSocket;
    use crate::Loader;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::process::Command;

    /// The socket, keeping what passes through.
    struct Recorder {
        socket: NetlinkSocket,
        rec: Recording,
    }

    impl Transport for Recorder {
        fn send(&mut self, message: &[u8]) -> io::Result<()> {
            self.rec.sent = message.to_vec();
            self.socket.send(message)
        }

        fn recv(&mut self) -> io::Result<Vec<u8>> {
            let d = self.socket.recv()?;
            self.rec.received.push(d.clone());
            Ok(d)
        }

        fn next_seq(&mut self) -> u32 {
            self.socket.next_seq()
        }
    }

    fn ip(args: &[&str]) {
        let ok = Command::new("ip").args(args).status().unwrap().success();
        assert!(ok, "ip {args:?}");
    }

    /// A descriptor numbered 1000 or more, the same from run to run.
    fn high(fd: std::os::fd::BorrowedFd<'_>) -> OwnedFd {
        nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(1000))
            .map(|raw| {
                // SAFETY: F_DUPFD made this descriptor for us.
                unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) }
            })
            .unwrap()
    }

    pub fn record_all(scenarios: &[Scenario]) {
        let ns = format!("cbpf-nlrec-{}", std::process::id());
        ip(&["netns", "add", &ns]);
        ip(&[
            "-n", &ns, "link", "add", "va", "type", "veth", "peer", "name", "vb",
        ]);
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
                // SAFETY: changes only this thread's network namespace.
                assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
                record_in_namespace(&ns, scenarios)
            })
            .join()
        });
        ip(&["netns", "del", &ns]);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    }

    fn record_in_namespace(ns: &str, scenarios: &[Scenario]) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs");
        let xdp = Loader::new().load_file(root.join("xdp.bpf.o")).unwrap();
        let tc = Loader::new().load_file(root.join("tc.bpf.o")).unwrap();
        let ifindex = nix::net::if_::if_nametoindex("vb").unwrap();
        for s in scenarios {
            let (a, b) = match s.name {
                n if n.starts_with("xdp") || n == "link_get" => ("xdp_pass", "xdp_drop"),
                _ => ("tc_pass", "tc_drop"),
            };
            let obj = if a.starts_with("xdp") { &xdp } else { &tc };
            let (p1, p2) = (obj.program(a).unwrap(), obj.program(b).unwrap());
            let (fd, fd2) = (high(p1.fd()), high(p2.fd()));
            let meta = Meta {
                ifindex,
                fd: fd.as_raw_fd(),
                fd2: fd2.as_raw_fd(),
                prog_id: p1.info().unwrap().id,
                prog_id2: p2.info().unwrap().id,
            };
            let mut setup = NetlinkSocket::open().unwrap();
            match s.name {
                "xdp_native_mtu" => {
                    for dev in ["va", "vb"] {
                        ip(&["-n", ns, "link", "set", dev, "mtu", "9000"]);
                    }
                }
                "filter_dump" => {
                    // A second filter, priority 2, to list beside the first.
                    let _ = filter_add(
                        &mut setup,
                        ifindex,
                        CLSACT_INGRESS,
                        2,
                        1,
                        p2.fd(),
                        "tc_drop",
                    );
                }
                _ => {}
            }
            let mut rec = Recorder {
                socket: NetlinkSocket::open().unwrap(),
                rec: Recording {
                    meta,
                    ..Recording::default()
                },
            };
            let request = (s.request)(&meta);
            let r = (s.check)(&meta, &request, &mut Replay::from_recorder(&mut rec, s));
            eprintln!("{}: {r:?}", s.name);
            rec.rec.save(s.name);
            if s.name == "xdp_native_mtu" {
                for dev in ["va", "vb"] {
                    ip(&["-n", ns, "link", "set", dev, "mtu", "1500"]);
                }
            }
            if s.name == "filter_dump" {
                let _ = filter_del(&mut setup, ifindex, CLSACT_INGRESS, 2, 1);
            }
        }
    }

    impl Replay {
        /// Runs the scenario's request through the recorder for real, then replays
        /// what it recorded (so `check` sees exactly the recorded answer).
        fn from_recorder(rec: &mut Recorder, s: &Scenario) -> Replay {
            let request = (s.request)(&rec.rec.meta);
            let seq = rec.next_seq();
            let _ = exchange(rec, s.name, &request, seq);
            rec.rec.replay()
        }
    }
}
