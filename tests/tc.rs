//! TC classifiers and netkit programs from `bpf-progs/tc.bpf.o`, on interfaces in
//! network namespaces the test makes, each driven by UDP datagrams: what a program
//! did is seen in its counters and in which datagrams arrive.
//!
//! Ways: `SchedClassifier::attach` (a tcx link from 6.6, a clsact filter over
//! netlink before), `attach_tcx`, and `attach_netlink` (forced). On a veth pair
//! (tests/common/netns.rs), ingress programs go on `vb` (in `b`), egress programs on
//! `va` (in `a`). Netkit tests make a netkit pair (primary in `a`, peer in `b`).

mod common;

use std::net::SocketAddrV4;
use std::time::Duration;

use common::feature::{self, Feature};
use common::netns::{self, wait_for, NetNs, Pair, A, B};
use common::*;
use corebpf::program::{Netkit, SchedClassifier, TcAttachType, TcOptions};
use corebpf::{Link, Object, ObjectSpec, ProgramError};

/// The UDP port the programs act on.
const PORT: u16 = 4790;

fn load(programs: &[&str], globals: &[(&str, Vec<u8>)]) -> (ObjectSpec, Object) {
    netns::load_for_port("tc.bpf.o", programs, PORT, globals)
}

fn pair(tag: &str) -> Pair {
    setup();
    Pair::new(tag, PORT)
}

fn classifier<'a>(obj: &'a Object, name: &str) -> SchedClassifier<'a> {
    SchedClassifier::try_from(obj.program(name).expect("program loaded")).expect("a TC classifier")
}

/// How a test attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// `attach`: tcx where the kernel has it, netlink before.
    Auto,
    /// `attach_netlink`, with the kernel's choice of priority and handle.
    Netlink,
}

/// Attaches `prog` to `side` of `iface`, in `ns`.
fn attach(
    ns: &NetNs,
    prog: &SchedClassifier<'_>,
    iface: &str,
    side: TcAttachType,
    way: Way,
) -> Link {
    ns.run(|| match way {
        Way::Auto => prog.attach(iface, side),
        Way::Netlink => prog.attach_netlink(iface, side, TcOptions::default()),
    })
    .unwrap_or_else(|e| panic!("attaching to {side} of {iface} ({way:?}): {}", chain(&e)))
}

/// Whether `way` makes a tcx link on this kernel (else a clsact filter).
fn by_tcx(test: &str, way: Way) -> bool {
    way == Way::Auto && feature::available(test, Feature::Tcx)
}

/// Drops `link`, then sends `after` until one arrives (at most 50 tries, 100 ms apart:
/// a tcx link is gone when its last file reference is, and a child another test thread
/// is spawning may hold a copy until it execs); every datagram received meanwhile must
/// be an `after`: a dropped one arriving late would be a leak of the drop.
fn detach_and_see_traffic(pair: &Pair, link: Link) {
    drop(link);
    pair.rx
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut arrived = None;
    for _ in 0..50 {
        pair.send("after");
        if let Some(d) = pair.next() {
            arrived = Some(d);
            break;
        }
    }
    pair.rx
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        arrived.as_deref(),
        Some("after"),
        "traffic after the detach"
    );
}

/// tc_pass lets datagrams through and counts them, tc_drop drops and counts them, on
/// `side` (ingress of `vb`, egress of `va`); after each link is dropped, traffic flows.
fn pass_and_drop(tag: &str, side: TcAttachType, way: Way) {
    let pair = pair(tag);
    let (ns, iface) = match side {
        TcAttachType::Ingress => (&pair.b, "vb"),
        TcAttachType::Egress => (&pair.a, "va"),
        other => panic!("no test for {other}"),
    };
    let (spec, obj) = load(&["tc_pass", "tc_drop"], &[]);
    let link = attach(ns, &classifier(&obj, "tc_pass"), iface, side, way);
    let desc = link.description().to_string();
    let tcx = by_tcx(tag, way);
    let want = if tcx {
        format!("tcx {side} on ")
    } else {
        format!("tc {side} on ")
    };
    assert!(desc.starts_with(&want) && desc.contains(iface), "{desc}");
    assert_eq!(desc.ends_with("netlink"), !tcx, "{desc}");
    assert_eq!(link.link_fd().is_some(), tcx, "{desc}");
    for i in 0..3 {
        pair.send(&format!("pass {i}"));
        assert_eq!(pair.next().as_deref(), Some(format!("pass {i}").as_str()));
    }
    assert_eq!(wait_for(&spec, &obj, "passed", 3), 3);
    detach_and_see_traffic(&pair, link);

    let link = attach(ns, &classifier(&obj, "tc_drop"), iface, side, way);
    for i in 0..3 {
        pair.send(&format!("drop {i}"));
    }
    assert_eq!(wait_for(&spec, &obj, "dropped", 3), 3);
    detach_and_see_traffic(&pair, link);
    assert_eq!(global_u64(&spec, &obj, "dropped"), 3);
    assert_eq!(
        global_u64(&spec, &obj, "passed"),
        3,
        "tc_pass ran after its detach"
    );
}

#[test]
fn ingress_pass_and_drop() {
    pass_and_drop("tai", TcAttachType::Ingress, Way::Auto);
}

#[test]
fn egress_pass_and_drop() {
    pass_and_drop("tae", TcAttachType::Egress, Way::Auto);
}

#[test]
fn ingress_pass_and_drop_by_netlink() {
    pass_and_drop("tni", TcAttachType::Ingress, Way::Netlink);
}

#[test]
fn egress_pass_and_drop_by_netlink() {
    pass_and_drop("tne", TcAttachType::Egress, Way::Netlink);
}

/// Two programs in a row: tc_mark marks our datagrams and hands them on (-1),
/// tc_count_marked, after it, counts the marked ones. Over netlink the order is the
/// filters' priorities; with tcx, the order of attachment.
fn mark_then_count(tag: &str, way: Way) {
    let pair = pair(tag);
    let (spec, obj) = load(&["tc_mark", "tc_count_marked"], &[]);
    let (mark, count) = (
        classifier(&obj, "tc_mark"),
        classifier(&obj, "tc_count_marked"),
    );
    let side = TcAttachType::Ingress;
    let links: Vec<Link> = pair
        .b
        .run(|| match way {
            Way::Auto => vec![mark.attach("vb", side), count.attach("vb", side)],
            Way::Netlink => vec![
                mark.attach_netlink("vb", side, TcOptions::new(1, 1)),
                count.attach_netlink("vb", side, TcOptions::new(2, 1)),
            ],
        })
        .into_iter()
        .map(|l| l.unwrap_or_else(|e| panic!("{}", chain(&e))))
        .collect();
    if way == Way::Netlink {
        assert!(
            links[0].description().contains("priority 1 handle 0x1"),
            "{}",
            links[0].description()
        );
    }
    for i in 0..4 {
        pair.send(&format!("mark {i}"));
        assert_eq!(pair.next().as_deref(), Some(format!("mark {i}").as_str()));
    }
    assert_eq!(wait_for(&spec, &obj, "marked", 4), 4);
    assert_eq!(
        wait_for(&spec, &obj, "marked_seen", 4),
        4,
        "marks seen by the second program"
    );
    drop(links);
}

#[test]
fn mark_then_count_in_attach_order() {
    mark_then_count("tmk", Way::Auto);
}

#[test]
fn mark_then_count_by_filter_priority() {
    mark_then_count("tmn", Way::Netlink);
}

/// `tc filter show` (iproute2, not the library) sees the filter with its name and
/// direct-action mode, and no longer once the link is dropped; the qdisc stays.
#[test]
fn netlink_filter_is_seen_by_tc_and_removed_on_drop() {
    let pair = pair("tfs");
    let (_, obj) = load(&["tc_pass"], &[]);
    let link = attach(
        &pair.b,
        &classifier(&obj, "tc_pass"),
        "vb",
        TcAttachType::Ingress,
        Way::Netlink,
    );
    let show = || {
        let out = std::process::Command::new("tc")
            .args(["-n", &pair.b.name, "filter", "show", "dev", "vb", "ingress"])
            .output()
            .expect("running tc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = show();
    assert!(
        shown.contains("tc_pass:[") && shown.contains("direct-action"),
        "{shown}"
    );
    let desc = link.description().to_string();
    let prio = shown
        .split_whitespace()
        .skip_while(|w| *w != "pref")
        .nth(1)
        .expect("tc shows the priority");
    assert!(
        desc.contains(&format!("priority {prio} ")),
        "{desc} / {shown}"
    );
    drop(link);
    assert_eq!(show().trim(), "", "the filter outlived its link");
    let qdisc = pair.b.ip_output(&["link", "show", "vb"]);
    assert!(!qdisc.is_empty());
}

/// A `tcx/ingress` program names its side; `attach_tcx` makes a tcx link where the
/// kernel has tcx and is refused (EINVAL) where it hasn't.
#[test]
fn tcx_section_names_its_side() {
    let test = "tcx_section_names_its_side";
    let pair = pair("tcs");
    let (spec, obj) = load(&["tcx_ingress_drop", "tc_pass"], &[]);
    let prog = classifier(&obj, "tcx_ingress_drop");
    assert_eq!(prog.section_attach_type(), Some(TcAttachType::Ingress));
    assert_eq!(classifier(&obj, "tc_pass").section_attach_type(), None);
    let side = prog.section_attach_type().unwrap();
    let tcx = pair.b.run(|| prog.attach_tcx("vb", side));
    if !feature::available(test, Feature::Tcx) {
        let e = tcx.unwrap_err();
        assert!(
            matches!(&e, ProgramError::Attach { source, .. } if source.errno() == libc::EINVAL),
            "{e:?}"
        );
        return;
    }
    let link = tcx.unwrap_or_else(|e| panic!("{}", chain(&e)));
    pair.send("dropped");
    assert_eq!(wait_for(&spec, &obj, "dropped", 1), 1);
    detach_and_see_traffic(&pair, link);
}

#[test]
fn other_kinds_are_not_classifiers() {
    let (_, obj) = load(&["netkit_peer_count", "tc_pass"], &[]);
    let e = SchedClassifier::try_from(obj.program("netkit_peer_count").unwrap()).unwrap_err();
    assert!(e.to_string().contains("is not a tc classifier"), "{e}");
    let e = Netkit::try_from(obj.program("tc_pass").unwrap()).unwrap_err();
    assert!(e.to_string().contains("is not a netkit program"), "{e}");
}

/// A netkit pair: `nkp` (primary) in `a` with A, its peer `nk0` moved to `b` with B;
/// L3 mode (iproute2 6.1 sends the kind alone: the kernel's defaults). Sockets on
/// both sides.
struct NetkitPair {
    a: NetNs,
    b: NetNs,
    in_a: std::net::UdpSocket,
    in_b: std::net::UdpSocket,
}

impl NetkitPair {
    fn new(tag: &str) -> NetkitPair {
        setup();
        let a = NetNs::new(tag);
        let b = NetNs::new(tag);
        // Without a peer name the kernel names the peer nk%d: nk0 in a new namespace.
        a.ip(&["link", "add", "nkp", "type", "netkit"]);
        a.ip(&["link", "set", "nk0", "netns", &b.name]);
        for (ns, ifname, addr) in [(&a, "nkp", A), (&b, "nk0", B)] {
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", ifname]);
            ns.ip(&["link", "set", ifname, "up"]);
        }
        let in_a = a.udp(SocketAddrV4::new(A, PORT));
        let in_b = b.udp(SocketAddrV4::new(B, PORT));
        NetkitPair { a, b, in_a, in_b }
    }

    /// Sends `payload` from one side to the other (`to_b`: from `a` to `b`).
    fn send(&self, to_b: bool, payload: &str) {
        let (from, to) = if to_b {
            (&self.in_a, B)
        } else {
            (&self.in_b, A)
        };
        from.send_to(payload.as_bytes(), SocketAddrV4::new(to, PORT))
            .expect("sending a datagram");
    }

    fn next(&self, in_b: bool) -> Option<String> {
        let sock = if in_b { &self.in_b } else { &self.in_a };
        netns::recv(sock).map(|d| String::from_utf8_lossy(&d).into_owned())
    }
}

/// A netkit/primary program runs on what the primary sends, a netkit/peer program on
/// what the peer sends; both attach through the primary, and a drop verdict drops.
#[test]
fn netkit_primary_and_peer() {
    let test = "netkit_primary_and_peer";
    if feature::require(test, Feature::Netkit).is_none() {
        return;
    }
    let nk = NetkitPair::new("tnk");
    let (spec, obj) = load(&["netkit_primary_count", "netkit_peer_count"], &[]);
    let primary = Netkit::try_from(obj.program("netkit_primary_count").unwrap()).unwrap();
    let peer = Netkit::try_from(obj.program("netkit_peer_count").unwrap()).unwrap();
    assert_eq!(
        primary.attach_type(),
        corebpf::program::NetkitAttachType::Primary
    );
    let links =
        nk.a.run(|| [primary.attach("nkp"), peer.attach("nkp")])
            .map(|l| l.unwrap_or_else(|e| panic!("{}", chain(&e))));
    assert!(
        links[1].description().starts_with("netkit peer on "),
        "{}",
        links[1].description()
    );
    for i in 0..3 {
        nk.send(true, &format!("to b {i}"));
        assert_eq!(nk.next(true).as_deref(), Some(format!("to b {i}").as_str()));
    }
    nk.send(false, "to a");
    assert_eq!(nk.next(false).as_deref(), Some("to a"));
    assert_eq!(wait_for(&spec, &obj, "primary_seen", 3), 3);
    assert_eq!(wait_for(&spec, &obj, "peer_seen", 1), 1);
    drop(links);

    // The peer side can't attach, and a veth isn't a netkit device.
    let e = nk.b.run(|| peer.attach("nk0")).unwrap_err();
    assert!(e.to_string().contains("peer of a netkit pair"), "{e}");
    let e = nk.a.run(|| peer.attach("lo")).unwrap_err();
    assert!(e.to_string().contains("not a netkit device"), "{e}");

    let (spec, obj) = load(&["netkit_primary_count"], &[("netkit_drop", vec![1])]);
    let dropper = Netkit::try_from(obj.program("netkit_primary_count").unwrap()).unwrap();
    let link =
        nk.a.run(|| dropper.attach("nkp"))
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
    nk.send(true, "dropped");
    assert_eq!(wait_for(&spec, &obj, "primary_seen", 1), 1);
    drop(link);
    nk.in_b
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = None;
    for _ in 0..50 {
        nk.send(true, "after");
        if let Some(d) = nk.next(true) {
            got = Some(d);
            break;
        }
    }
    assert_eq!(
        got.as_deref(),
        Some("after"),
        "the dropped datagram arrived, or nothing did"
    );
}
