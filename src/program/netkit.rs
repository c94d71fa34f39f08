//! netkit programs: [`Netkit`] attaches `SEC("netkit/primary")` and
//! `SEC("netkit/peer")` programs to a netkit device pair (6.7+).
//!
//! A netkit pair is a veth-like pair whose transmit routine runs BPF programs: a
//! `netkit/primary` program runs on what the primary device transmits (towards the
//! peer), a `netkit/peer` program on what the peer transmits (towards the primary).
//! Both are attached through the *primary* device, with a BPF link
//! (`BPF_LINK_CREATE`, `BPF_NETKIT_PRIMARY`/`BPF_NETKIT_PEER`): the peer side, usually
//! in a container's network namespace, cannot change them. A program's return value
//! is the verdict: `NETKIT_PASS` (0), `NETKIT_DROP` (2), `NETKIT_REDIRECT` (7), or
//! `NETKIT_NEXT` (-1) for the next program.

use std::fmt;

use super::netdev::Interface;
use super::{Program, ProgramError};
use crate::link::Link;
use crate::object::section::TcAttach;
use crate::object::ProgramKind;
use crate::sys;

/// Which device of a netkit pair a program runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetkitAttachType {
    /// The primary device's transmit path (`BPF_NETKIT_PRIMARY`).
    Primary,
    /// The peer device's transmit path (`BPF_NETKIT_PEER`).
    Peer,
}

impl fmt::Display for NetkitAttachType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetkitAttachType::Primary => "primary",
            NetkitAttachType::Peer => "peer",
        })
    }
}

/// A netkit program (`SEC("netkit/primary")`, `SEC("netkit/peer")`).
///
/// # Examples
///
/// Attach to the netkit pair whose primary device is `nk0` (needs root and 6.7+):
///
/// ```no_run
/// use corebpf::program::Netkit;
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/tc.bpf.o")?;
/// let netkit = Netkit::try_from(obj.program("netkit_peer_count").expect("the program"))?;
/// let link = netkit.attach("nk0")?;
/// println!("{}", link.description()); // netkit peer on ifindex 7 (nk0), BPF link
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Netkit<'a> {
    prog: &'a Program,
    side: NetkitAttachType,
}

impl<'a> TryFrom<&'a Program> for Netkit<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        let side = match prog.kind {
            ProgramKind::SchedCls {
                attach: TcAttach::NetkitPrimary,
            } => NetkitAttachType::Primary,
            ProgramKind::SchedCls {
                attach: TcAttach::NetkitPeer,
            } => NetkitAttachType::Peer,
            _ => return Err(prog.wrong_kind("netkit")),
        };
        Ok(Netkit { prog, side })
    }
}

impl Netkit<'_> {
    /// The device the program runs on, as its section says.
    pub fn attach_type(&self) -> NetkitAttachType {
        self.side
    }

    /// Attaches to the pair whose primary device is `primary`, on the side the section
    /// names, after the programs there.
    pub fn attach(&self, primary: impl Into<Interface>) -> Result<Link, ProgramError> {
        let iface = primary.into();
        let target = iface.resolve(self.prog)?;
        let description = format!("netkit {} on {target}, BPF link", self.side);
        let attach_type = match self.side {
            NetkitAttachType::Primary => sys::bpf::attach_type::NETKIT_PRIMARY,
            NetkitAttachType::Peer => sys::bpf::attach_type::NETKIT_PEER,
        };
        let fd = sys::bpf::link_create(
            self.prog.fd(),
            sys::bpf::LinkTarget::Ifindex(target.ifindex),
            attach_type,
            0,
            sys::bpf::LinkCreateExtra::None,
        );
        match fd {
            Ok(fd) => Ok(Link::from_link_fd(fd, description)),
            // The kernel's answers for the wrong device, in words.
            Err(e) if [libc::ENXIO, libc::EACCES].contains(&e.errno()) => {
                Err(ProgramError::Interface {
                    program: self.prog.name.clone(),
                    interface: iface.to_string(),
                    reason: if e.errno() == libc::ENXIO {
                        "not a netkit device".into()
                    } else {
                        "the peer of a netkit pair: programs attach through the primary".into()
                    },
                })
            }
            Err(source) => Err(ProgramError::Attach {
                program: self.prog.name.clone(),
                target: description,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::netdev::test_util::{link_create_answers, program};
    use super::*;

    /// The section picks the attach type; the kernel's ENXIO and EACCES become words.
    #[test]
    fn section_side_and_refusals_in_words() {
        use sys::bpf::attach_type::{NETKIT_PEER, NETKIT_PRIMARY};
        for (section, side, at) in [
            ("netkit/primary", NetkitAttachType::Primary, NETKIT_PRIMARY),
            ("netkit/peer", NetkitAttachType::Peer, NETKIT_PEER),
        ] {
            let p = program("nk_prog", section);
            let nk = Netkit::try_from(&p).unwrap();
            assert_eq!(nk.attach_type(), side);
            for (errno, words) in [
                (libc::ENXIO, "not a netkit device"),
                (libc::EACCES, "peer of a netkit pair"),
                (libc::EINVAL, "BPF_LINK_CREATE"),
            ] {
                let (r, seen) = link_create_answers(errno, || nk.attach(9));
                let e = r.unwrap_err();
                assert_eq!(seen.len(), 1);
                assert_eq!(&seen[0][8..12], &at.to_ne_bytes());
                assert!(crate::util::Chain(&e).to_string().contains(words), "{e}");
            }
        }
        assert!(Netkit::try_from(&program("nk_prog", "tcx/ingress")).is_err());
    }
}
