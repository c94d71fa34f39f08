//! XDP programs: [`Xdp`] attaches `SEC("xdp")` and `SEC("xdp.frags")` programs to a
//! network interface.
//!
//! Two ways, as libbpf and aya have them:
//!
//! - a BPF link (`BPF_LINK_CREATE` with `BPF_XDP`, 5.9+): the program stays attached
//!   while the link fd is open, and no other tool can replace it behind our back;
//! - netlink (`RTM_SETLINK` with `IFLA_XDP`), the only way before 5.9, and still
//!   available ([`Xdp::attach_netlink`]). Its refusals carry the kernel's reason
//!   ("Peer MTU is too large to set XDP", …) where a link only says `EINVAL`.
//!
//! [`Xdp::attach`] tries the link and falls back to netlink where the kernel has no XDP
//! links. Either way the returned [`Link`] detaches on drop: the netlink attachment
//! sends `IFLA_XDP` with fd -1, and (5.7+) only if its program is still the one
//! attached, so a program someone attached since is left alone.
//!
//! `xdp.frags` programs are loaded with `BPF_F_XDP_HAS_FRAGS`, so they may attach to
//! interfaces whose MTU needs multi-buffer frames. `xdp/devmap` and `xdp/cpumap`
//! programs are not attached to an interface: they are loaded with their expected
//! attach type and run from a devmap or cpumap entry, whose value holds the program's
//! fd (`struct bpf_devmap_val`/`bpf_cpumap_val`, field `bpf_prog.fd`: write
//! [`Program::fd`] there with a map update).

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};

use super::netdev::{Interface, Resolved};
use super::{Program, ProgramError};
use crate::link::{Attachment, Link};
use crate::object::section::XdpAttach;
use crate::object::ProgramKind;
use crate::sys::{self, netlink};

/// Where an XDP program runs on an interface.
///
/// A driver without native XDP support refuses [`XdpMode::Native`]; generic XDP works
/// on every interface, after the kernel has built the `sk_buff`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum XdpMode {
    /// The kernel's choice: native if the driver supports it, else generic (no flag).
    #[default]
    Default,
    /// Generic XDP, in the network stack (`XDP_FLAGS_SKB_MODE`).
    Generic,
    /// Native XDP, in the driver (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// Offloaded to the NIC (`XDP_FLAGS_HW_MODE`).
    Offload,
}

impl XdpMode {
    /// The `XDP_FLAGS_*` mode bit.
    pub fn flags(self) -> u32 {
        use netlink::xdp_flags as f;
        match self {
            XdpMode::Default => 0,
            XdpMode::Generic => f::SKB_MODE,
            XdpMode::Native => f::DRV_MODE,
            XdpMode::Offload => f::HW_MODE,
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Default => "default mode",
            XdpMode::Generic => "generic mode",
            XdpMode::Native => "native mode",
            XdpMode::Offload => "offload mode",
        })
    }
}

/// An XDP program (`SEC("xdp")`, `SEC("xdp.frags")`; also `xdp/devmap` and
/// `xdp/cpumap`, which run from map entries instead).
///
/// # Examples
///
/// Attach in generic mode to `eth0`, by link where the kernel has XDP links (needs
/// root):
///
/// ```no_run
/// use corebpf::program::{Xdp, XdpMode};
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/xdp.bpf.o")?;
/// let xdp = Xdp::try_from(obj.program("xdp_pass").expect("the program"))?;
/// let link = xdp.attach("eth0", XdpMode::Generic)?;
/// println!("{}", link.description()); // xdp generic mode on ifindex 2 (eth0), BPF link
/// drop(link); // detaches
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Xdp<'a> {
    prog: &'a Program,
}

impl<'a> TryFrom<&'a Program> for Xdp<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match prog.kind {
            ProgramKind::Xdp { .. } => Ok(Xdp { prog }),
            _ => Err(prog.wrong_kind("xdp")),
        }
    }
}

impl Xdp<'_> {
    /// True for `xdp.frags` programs (loaded with `BPF_F_XDP_HAS_FRAGS`).
    pub fn has_frags(&self) -> bool {
        self.prog.kind.xdp_has_frags()
    }

    /// Where the section says the program runs: an interface, a devmap or a cpumap
    /// entry.
    pub fn attach_point(&self) -> XdpAttach {
        match self.prog.kind {
            ProgramKind::Xdp { attach, .. } => attach,
            // `TryFrom` admits XDP programs only.
            _ => XdpAttach::Interface,
        }
    }

    /// Attaches to `iface` in `mode` with a BPF link, or over netlink on kernels
    /// without XDP links (before 5.9, `BPF_LINK_CREATE` answers `EINVAL`). An
    /// interface that has an XDP program already is refused (`EBUSY`/`EEXIST`):
    /// nothing is replaced.
    pub fn attach(&self, iface: impl Into<Interface>, mode: XdpMode) -> Result<Link, ProgramError> {
        let target = self.target(iface.into())?;
        let flags = mode.flags();
        match sys::bpf::link_create(
            self.prog.fd(),
            sys::bpf::LinkTarget::Ifindex(target.ifindex),
            sys::bpf::attach_type::XDP,
            flags,
            sys::bpf::LinkCreateExtra::None,
        ) {
            Ok(fd) => Ok(Link::from_link_fd(fd, describe(&target, mode, "BPF link"))),
            Err(e) if e.errno() == libc::EINVAL => {
                log::debug!(
                    "no XDP link for {} ({}); attaching over netlink",
                    self.prog.name,
                    crate::util::Chain(&e)
                );
                self.netlink(&target, mode)
            }
            Err(source) => Err(ProgramError::Attach {
                program: self.prog.name.clone(),
                target: describe(&target, mode, "BPF link"),
                source,
            }),
        }
    }

    /// Attaches to `iface` in `mode` over netlink (`RTM_SETLINK`, `IFLA_XDP`), the way
    /// kernels before 5.9 require, with `XDP_FLAGS_UPDATE_IF_NOEXIST`: an interface
    /// that has an XDP program already is refused. Dropping the [`Link`] detaches the
    /// program (only if it is still the one attached, on 5.7+).
    pub fn attach_netlink(
        &self,
        iface: impl Into<Interface>,
        mode: XdpMode,
    ) -> Result<Link, ProgramError> {
        let target = self.target(iface.into())?;
        self.netlink(&target, mode)
    }

    /// Resolves `iface`, refusing programs that run from map entries.
    fn target(&self, iface: Interface) -> Result<Resolved, ProgramError> {
        let map = match self.attach_point() {
            XdpAttach::Devmap => "devmap",
            XdpAttach::Cpumap => "cpumap",
            _ => return iface.resolve(self.prog),
        };
        Err(ProgramError::BadTarget {
            program: self.prog.name.clone(),
            reason: format!(
                "section '{}' is an xdp/{map} program: it runs from a {map} entry (the \
                 value's bpf_prog.fd), not on an interface",
                self.prog.section
            ),
        })
    }

    fn netlink(&self, target: &Resolved, mode: XdpMode) -> Result<Link, ProgramError> {
        let description = describe(target, mode, "netlink");
        let err = |source| ProgramError::Netlink {
            program: self.prog.name.clone(),
            target: description.clone(),
            source,
        };
        let mut socket = netlink::NetlinkSocket::open().map_err(err)?;
        let mode_flags = mode.flags();
        let flags = mode_flags | netlink::xdp_flags::UPDATE_IF_NOEXIST;
        netlink::xdp_attach(&mut socket, target.ifindex, self.prog.fd(), flags).map_err(err)?;
        let description = match mode {
            // Name the mode the kernel chose.
            XdpMode::Default => match netlink::xdp_query(&mut socket, target.ifindex) {
                Ok(state) => match netlink::xdp_attached::name(state.attached) {
                    Some(chosen) => format!("xdp default mode ({chosen}) on {target}, netlink"),
                    None => description,
                },
                Err(e) => {
                    log::debug!(
                        "asking for the XDP mode of {target}: {}",
                        crate::util::Chain(&e)
                    );
                    description
                }
            },
            _ => description,
        };
        // The program's own reference, for the detach to name what it removes; if the
        // descriptor can't be duplicated the detach doesn't check (as before 5.7).
        let prog = match self.prog.fd().try_clone_to_owned() {
            Ok(fd) => Some(fd),
            Err(e) => {
                log::warn!("duplicating the fd of {}: {e}", self.prog.name);
                None
            }
        };
        let attachment = XdpNetlink {
            socket,
            ifindex: target.ifindex,
            mode_flags,
            prog,
        };
        Ok(Link::from_attachment(Box::new(attachment), description))
    }
}

/// `xdp generic mode on ifindex 5 (veth0), BPF link`.
fn describe(target: &Resolved, mode: XdpMode, how: &str) -> String {
    format!("xdp {mode} on {target}, {how}")
}

/// An XDP program attached over netlink; dropping it detaches the program.
#[derive(Debug)]
struct XdpNetlink {
    /// The socket it was attached with: it belongs to the interface's namespace.
    socket: netlink::NetlinkSocket,
    ifindex: u32,
    /// The mode bits it was attached with (the detach names the same mode).
    mode_flags: u32,
    /// The attached program.
    prog: Option<OwnedFd>,
}

impl Attachment for XdpNetlink {}

impl Drop for XdpNetlink {
    fn drop(&mut self) {
        let (ifindex, mode) = (self.ifindex, self.mode_flags);
        let expected = self.prog.as_ref().map(|p| p.as_fd());
        let mut result = netlink::xdp_detach(&mut self.socket, ifindex, mode, expected);
        if matches!(&result, Err(e) if e.errno() == libc::EINVAL && expected.is_some()) {
            // Before 5.7 there is no XDP_FLAGS_REPLACE: detach whatever is attached.
            result = netlink::xdp_detach(&mut self.socket, ifindex, mode, None);
        }
        match result {
            Ok(()) => {}
            // The interface is gone, and its program with it.
            Err(e) if e.errno() == libc::ENODEV => {
                log::debug!("XDP program of ifindex {ifindex}: the interface is gone")
            }
            Err(e) => log::warn!(
                "detaching the XDP program from ifindex {ifindex}: {}",
                crate::util::Chain(&e)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::netdev::test_util::{link_create_answers, program, NO_SUCH_IFINDEX};
    use super::*;

    /// `BPF_LINK_CREATE` with `BPF_XDP`, the ifindex and the mode flags; `EINVAL` (no
    /// XDP links) falls back to netlink, which asks the kernel for real: the interface
    /// doesn't exist, and the netlink error says so.
    #[test]
    fn link_first_then_netlink_on_einval() {
        let p = program("xdp_prog", "xdp");
        let xdp = Xdp::try_from(&p).unwrap();
        let (r, seen) = link_create_answers(libc::EINVAL, || {
            xdp.attach(NO_SUCH_IFINDEX, XdpMode::Native)
        });
        let e = r.unwrap_err();
        assert_eq!(seen.len(), 1);
        assert_eq!(&seen[0][4..8], &NO_SUCH_IFINDEX.to_ne_bytes());
        assert_eq!(&seen[0][8..12], &sys::bpf::attach_type::XDP.to_ne_bytes());
        assert_eq!(
            &seen[0][12..16],
            &netlink::xdp_flags::DRV_MODE.to_ne_bytes()
        );
        match &e {
            ProgramError::Netlink { source, target, .. } => {
                assert_eq!(source.errno(), libc::ENODEV, "{e}");
                assert!(target.ends_with("netlink"), "{target}");
            }
            _ => panic!("{e:?}"),
        }
        // Any other refusal is the answer.
        let (r, _) = link_create_answers(libc::EPERM, || {
            xdp.attach(NO_SUCH_IFINDEX, XdpMode::Generic)
        });
        let e = r.unwrap_err();
        assert!(
            matches!(&e, ProgramError::Attach { source, .. } if source.errno() == libc::EPERM),
            "{e:?}"
        );
    }

    #[test]
    fn modes_and_kinds() {
        assert_eq!(XdpMode::default().flags(), 0);
        assert_eq!(XdpMode::Generic.flags(), 2);
        assert_eq!(XdpMode::Native.flags(), 4);
        assert_eq!(XdpMode::Offload.flags(), 8);
        assert_eq!(XdpMode::Generic.to_string(), "generic mode");
        let frags = program("xdp_prog", "xdp.frags");
        assert!(Xdp::try_from(&frags).unwrap().has_frags());
        let cpumap = program("xdp_prog", "xdp/cpumap");
        let x = Xdp::try_from(&cpumap).unwrap();
        assert_eq!(x.attach_point(), XdpAttach::Cpumap);
        let e = x.attach(1, XdpMode::Generic).unwrap_err();
        assert!(e.to_string().contains("cpumap entry"), "{e}");
        let e = Xdp::try_from(&program("xdp_prog", "tc")).unwrap_err();
        assert!(e.to_string().contains("is not a xdp program"), "{e}");
    }
}
