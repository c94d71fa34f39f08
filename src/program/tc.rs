//! TC classifiers: [`SchedClassifier`] attaches `SEC("tc")`, `SEC("classifier")`,
//! `SEC("tcx/ingress")`, `SEC("tcx/egress")` (and libbpf's `tc/ingress`, `tc/egress`)
//! programs to an interface's ingress or egress.
//!
//! Two ways, as libbpf has them:
//!
//! - a tcx link (`BPF_LINK_CREATE` with `BPF_TCX_INGRESS`/`BPF_TCX_EGRESS`, 6.6+):
//!   programs run in attach order, each returning `TCX_NEXT` (-1) to let the next one
//!   decide; closing the link detaches;
//! - the classic way over netlink, for older kernels: a `clsact` qdisc on the interface
//!   (added if missing, and left in place afterwards, as libbpf and aya leave it) and a
//!   `cls_bpf` filter in direct-action mode on its ingress or egress hook, which the
//!   [`Link`] deletes when dropped. Filters run in priority order; `TC_ACT_UNSPEC` (-1)
//!   continues with the next.
//!
//! [`SchedClassifier::attach`] uses tcx and falls back to netlink where the kernel has
//! no tcx (`BPF_LINK_CREATE` answers `EINVAL`); [`SchedClassifier::attach_tcx`] and
//! [`SchedClassifier::attach_netlink`] use one way only. The program's return value is
//! the verdict either way (`TC_ACT_OK`, `TC_ACT_SHOT`, …).

use std::fmt;

use super::netdev::{Interface, Resolved};
use super::{Program, ProgramError};
use crate::link::{Attachment, Link};
use crate::object::section::TcAttach;
use crate::object::ProgramKind;
use crate::sys::{self, netlink};

/// Which side of an interface a TC program sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcAttachType {
    /// Packets the interface receives.
    Ingress,
    /// Packets the interface sends.
    Egress,
}

impl TcAttachType {
    /// `BPF_TCX_INGRESS` / `BPF_TCX_EGRESS`.
    fn tcx_attach_type(self) -> u32 {
        match self {
            TcAttachType::Ingress => sys::bpf::attach_type::TCX_INGRESS,
            TcAttachType::Egress => sys::bpf::attach_type::TCX_EGRESS,
        }
    }

    /// The `clsact` hook, as a filter's parent.
    fn clsact_parent(self) -> u32 {
        match self {
            TcAttachType::Ingress => netlink::CLSACT_INGRESS,
            TcAttachType::Egress => netlink::CLSACT_EGRESS,
        }
    }
}

impl fmt::Display for TcAttachType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcAttachType::Ingress => "ingress",
            TcAttachType::Egress => "egress",
        })
    }
}

/// Where a `cls_bpf` filter goes among the others on its hook (netlink attach only).
///
/// Zero lets the kernel choose: a priority after the existing ones, a free handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TcOptions {
    /// The filter's priority: lower runs first (0: the kernel picks).
    pub priority: u16,
    /// The filter's handle within its priority (0: the kernel picks).
    pub handle: u32,
}

impl TcOptions {
    /// Options with the given priority and handle.
    pub fn new(priority: u16, handle: u32) -> Self {
        TcOptions { priority, handle }
    }
}

/// A TC classifier program (`SEC("tc")`, `SEC("classifier")`, `SEC("tcx/ingress")`,
/// `SEC("tcx/egress")`, `SEC("tc/ingress")`, `SEC("tc/egress")`).
///
/// # Examples
///
/// Drop what `eth0` receives, by tcx link where the kernel has tcx, by a `clsact`
/// filter otherwise (needs root):
///
/// ```no_run
/// use corebpf::program::{SchedClassifier, TcAttachType};
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/tc.bpf.o")?;
/// let tc = SchedClassifier::try_from(obj.program("tc_drop").expect("the program"))?;
/// let link = tc.attach("eth0", TcAttachType::Ingress)?;
/// println!("{}", link.description()); // tcx ingress on ifindex 2 (eth0), BPF link
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SchedClassifier<'a> {
    prog: &'a Program,
}

impl<'a> TryFrom<&'a Program> for SchedClassifier<'a> {
    type Error = ProgramError;

    fn try_from(prog: &'a Program) -> Result<Self, ProgramError> {
        match prog.kind {
            ProgramKind::SchedCls {
                attach: TcAttach::Classic | TcAttach::TcxIngress | TcAttach::TcxEgress,
            } => Ok(SchedClassifier { prog }),
            _ => Err(prog.wrong_kind("tc classifier")),
        }
    }
}

impl SchedClassifier<'_> {
    /// The side the section names (`tcx/ingress`, `tc/egress`, …); `None` for `tc` and
    /// `classifier`, which attach to either.
    pub fn section_attach_type(&self) -> Option<TcAttachType> {
        match self.prog.kind {
            ProgramKind::SchedCls {
                attach: TcAttach::TcxIngress,
            } => Some(TcAttachType::Ingress),
            ProgramKind::SchedCls {
                attach: TcAttach::TcxEgress,
            } => Some(TcAttachType::Egress),
            _ => None,
        }
    }

    /// Attaches to `side` of `iface`, after the programs there: a tcx link, or where
    /// the kernel has no tcx (before 6.6), a `clsact` filter over netlink at a
    /// priority after the filters on the hook (the kernel's own choice, which libbpf
    /// takes, would put it before them), so programs run in attach order either way.
    pub fn attach(
        &self,
        iface: impl Into<Interface>,
        side: TcAttachType,
    ) -> Result<Link, ProgramError> {
        let target = iface.into().resolve(self.prog)?;
        match self.tcx(&target, side) {
            Err(ProgramError::Attach { source, .. }) if source.errno() == libc::EINVAL => {
                log::debug!(
                    "no tcx for {} ({}); attaching a clsact filter over netlink",
                    self.prog.name,
                    crate::util::Chain(&source)
                );
                self.netlink(&target, side, None)
            }
            other => other,
        }
    }

    /// Attaches to `side` of `iface` with a tcx link (6.6+), after the programs there.
    pub fn attach_tcx(
        &self,
        iface: impl Into<Interface>,
        side: TcAttachType,
    ) -> Result<Link, ProgramError> {
        let target = iface.into().resolve(self.prog)?;
        self.tcx(&target, side)
    }

    /// Attaches to `side` of `iface` the classic way: a `clsact` qdisc (added unless
    /// there is one) and a direct-action `cls_bpf` filter at `options`' priority and
    /// handle (0: the kernel's choice, as libbpf's; for a priority that puts the
    /// filter first among those there). Dropping the [`Link`] deletes the filter.
    pub fn attach_netlink(
        &self,
        iface: impl Into<Interface>,
        side: TcAttachType,
        options: TcOptions,
    ) -> Result<Link, ProgramError> {
        let target = iface.into().resolve(self.prog)?;
        self.netlink(&target, side, Some(options))
    }

    fn tcx(&self, target: &Resolved, side: TcAttachType) -> Result<Link, ProgramError> {
        let description = format!("tcx {side} on {target}, BPF link");
        match sys::bpf::link_create(
            self.prog.fd(),
            sys::bpf::LinkTarget::Ifindex(target.ifindex),
            side.tcx_attach_type(),
            0,
            sys::bpf::LinkCreateExtra::None,
        ) {
            Ok(fd) => Ok(Link::from_link_fd(fd, description)),
            Err(source) => Err(ProgramError::Attach {
                program: self.prog.name.clone(),
                target: description,
                source,
            }),
        }
    }

    /// A filter on `side` of `target` at `options`, or (`None`) after the filters there.
    fn netlink(
        &self,
        target: &Resolved,
        side: TcAttachType,
        options: Option<TcOptions>,
    ) -> Result<Link, ProgramError> {
        let err = |source| ProgramError::Netlink {
            program: self.prog.name.clone(),
            target: format!("tc {side} on {target} (clsact filter)"),
            source,
        };
        let mut socket = netlink::NetlinkSocket::open().map_err(err)?;
        let created = netlink::clsact_add(&mut socket, target.ifindex).map_err(err)?;
        if created {
            log::debug!("added a clsact qdisc to {target}");
        }
        // As libbpf names its filters: the program's name and id.
        let name = match self.prog.info() {
            Ok(info) => format!("{}:[{}]", self.prog.name, info.id),
            Err(_) => self.prog.name.clone(),
        };
        let parent = side.clsact_parent();
        let options = match options {
            Some(o) => o,
            None => TcOptions::new(
                priority_after(&mut socket, target.ifindex, parent).map_err(err)?,
                0,
            ),
        };
        let filter = netlink::filter_add(
            &mut socket,
            target.ifindex,
            parent,
            options.priority,
            options.handle,
            self.prog.fd(),
            &name,
        )
        .map_err(err)?;
        let description = format!(
            "tc {side} on {target}, clsact filter priority {} handle {:#x}, netlink",
            filter.priority, filter.handle
        );
        let attachment = TcNetlink {
            socket,
            ifindex: target.ifindex,
            parent,
            priority: filter.priority,
            handle: filter.handle,
            prog_id: filter.prog_id,
        };
        Ok(Link::from_attachment(Box::new(attachment), description))
    }
}

/// A priority after every filter on `parent` of `ifindex` (lower priorities run
/// first): one above the highest there, or 0 (the kernel's choice) when there is none
/// or the highest is the last.
fn priority_after(
    socket: &mut netlink::NetlinkSocket,
    ifindex: u32,
    parent: u32,
) -> Result<u16, netlink::NetlinkError> {
    let filters = netlink::filter_list(socket, ifindex, parent)?;
    let highest = filters.iter().map(|f| f.priority).max();
    Ok(highest.and_then(|p| p.checked_add(1)).unwrap_or(0))
}

/// A `cls_bpf` filter added over netlink; dropping it deletes the filter.
#[derive(Debug)]
struct TcNetlink {
    /// The socket it was added with: it belongs to the interface's namespace.
    socket: netlink::NetlinkSocket,
    ifindex: u32,
    parent: u32,
    priority: u16,
    handle: u32,
    /// The program the filter was created with, as the kernel reported it.
    prog_id: Option<u32>,
}

impl Attachment for TcNetlink {}

impl TcNetlink {
    /// Deletes the filter, unless another program has taken its place since (a
    /// `tc filter replace` by another tool): that one is left alone.
    fn delete(&mut self) -> Result<(), netlink::NetlinkError> {
        let (ifindex, parent, priority, handle) =
            (self.ifindex, self.parent, self.priority, self.handle);
        let now = netlink::filter_get(&mut self.socket, ifindex, parent, priority, handle)?;
        match now {
            None => {
                log::debug!("tc filter priority {priority} handle {handle:#x} is gone already");
                Ok(())
            }
            Some(f) if self.prog_id.is_some() && f.prog_id != self.prog_id => {
                log::warn!(
                    "tc filter priority {priority} handle {handle:#x} of ifindex {ifindex} \
                     now runs program {:?}, not {:?}: left in place",
                    f.prog_id,
                    self.prog_id
                );
                Ok(())
            }
            Some(_) => netlink::filter_del(&mut self.socket, ifindex, parent, priority, handle),
        }
    }
}

impl Drop for TcNetlink {
    fn drop(&mut self) {
        match self.delete() {
            Ok(()) => {}
            // The interface is gone, and its filters with it.
            Err(e) if e.errno() == libc::ENODEV => {
                log::debug!(
                    "tc filter of ifindex {}: the interface is gone",
                    self.ifindex
                )
            }
            Err(e) => {
                log::warn!(
                    "deleting tc filter priority {} handle {:#x} of ifindex {}: {}",
                    self.priority,
                    self.handle,
                    self.ifindex,
                    crate::util::Chain(&e)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::netdev::test_util::{link_create_answers, program, NO_SUCH_IFINDEX};
    use super::*;

    /// tcx first (`BPF_TCX_INGRESS`/`EGRESS` on the ifindex); `EINVAL` (no tcx) falls
    /// back to a clsact filter over netlink, for real: the interface doesn't exist.
    #[test]
    fn tcx_first_then_netlink_on_einval() {
        for (side, at) in [
            (TcAttachType::Ingress, sys::bpf::attach_type::TCX_INGRESS),
            (TcAttachType::Egress, sys::bpf::attach_type::TCX_EGRESS),
        ] {
            let p = program("tc_prog", "tc");
            let tc = SchedClassifier::try_from(&p).unwrap();
            let (r, seen) = link_create_answers(libc::EINVAL, || tc.attach(NO_SUCH_IFINDEX, side));
            let e = r.unwrap_err();
            assert_eq!(seen.len(), 1);
            assert_eq!(&seen[0][4..8], &NO_SUCH_IFINDEX.to_ne_bytes());
            assert_eq!(&seen[0][8..12], &at.to_ne_bytes());
            match &e {
                ProgramError::Netlink { source, target, .. } => {
                    assert_eq!(source.errno(), libc::ENODEV, "{e}");
                    assert!(target.contains(&format!("tc {side} on")), "{target}");
                }
                _ => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn kinds_and_sides() {
        for (section, side) in [
            ("tc", None),
            ("classifier", None),
            ("tcx/ingress", Some(TcAttachType::Ingress)),
            ("tc/egress", Some(TcAttachType::Egress)),
        ] {
            let p = program("tc_prog", section);
            let tc = SchedClassifier::try_from(&p).unwrap();
            assert_eq!(tc.section_attach_type(), side, "{section}");
        }
        for section in ["netkit/peer", "xdp", "action"] {
            let p = program("tc_prog", section);
            assert!(SchedClassifier::try_from(&p).is_err(), "{section}");
        }
        assert_eq!(TcOptions::default(), TcOptions::new(0, 0));
    }
}
