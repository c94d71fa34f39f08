//! Netfilter programs (`SEC("netfilter")`, 6.4+): a BPF program as a netfilter hook
//! function, attached with a netfilter link (`BPF_LINK_CREATE` with the protocol
//! family, hook and priority) in the calling thread's network namespace. libbpf
//! attaches them with `bpf_program__attach_netfilter` and does not auto-attach them (a
//! section names no hook); neither does [`Program::attach`](super::Program::attach).

use super::prog_attach::attach_error;
use super::ProgramError;
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys::bpf::{self, attach_type, LinkCreateExtra, LinkTarget};

/// The protocol family of a netfilter hook (`NFPROTO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetfilterFamily {
    /// IPv4 (`NFPROTO_IPV4`).
    Ipv4,
    /// IPv6 (`NFPROTO_IPV6`).
    Ipv6,
}

/// Where in the IP stack a netfilter hook runs (`enum nf_inet_hooks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetfilterHookPoint {
    /// Packets just received, before routing (`NF_INET_PRE_ROUTING`).
    PreRouting,
    /// Packets for this host (`NF_INET_LOCAL_IN`).
    LocalIn,
    /// Packets routed through this host (`NF_INET_FORWARD`).
    Forward,
    /// Packets this host sends (`NF_INET_LOCAL_OUT`).
    LocalOut,
    /// Packets about to leave, after routing (`NF_INET_POST_ROUTING`).
    PostRouting,
}

/// A netfilter hook to attach to: family, hook point and priority (lower runs first;
/// the kernel refuses `i32::MIN` and `i32::MAX`, reserved for its own first and last
/// functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetfilterHook {
    /// Protocol family.
    pub family: NetfilterFamily,
    /// Hook point.
    pub hook: NetfilterHookPoint,
    /// Priority among the hook's functions.
    pub priority: i32,
    /// Defragment IP packets before the program sees them
    /// (`BPF_F_NETFILTER_IP_DEFRAG`, 6.6+; needs a priority above -400, conntrack's
    /// defragmentation).
    pub ip_defrag: bool,
}

impl NetfilterHook {
    /// The hook `hook` of `family` at `priority`, without defragmentation.
    pub fn new(family: NetfilterFamily, hook: NetfilterHookPoint, priority: i32) -> Self {
        NetfilterHook {
            family,
            hook,
            priority,
            ip_defrag: false,
        }
    }

    fn extra(&self) -> LinkCreateExtra {
        LinkCreateExtra::Netfilter {
            pf: match self.family {
                NetfilterFamily::Ipv4 => 2,
                NetfilterFamily::Ipv6 => 10,
            },
            hooknum: match self.hook {
                NetfilterHookPoint::PreRouting => 0,
                NetfilterHookPoint::LocalIn => 1,
                NetfilterHookPoint::Forward => 2,
                NetfilterHookPoint::LocalOut => 3,
                NetfilterHookPoint::PostRouting => 4,
            },
            priority: self.priority,
            flags: u32::from(self.ip_defrag),
        }
    }
}

program_view!(
    /// A netfilter program (`SEC("netfilter")`, 6.4+): sees each packet at its hook
    /// (`struct bpf_nf_ctx`: the hook state and the skb) and returns `NF_ACCEPT` (1) or
    /// `NF_DROP` (0).
    Netfilter,
    ProgramKind::Netfilter,
    "netfilter"
);

impl Netfilter<'_> {
    /// Attaches to `hook` in the calling thread's network namespace; dropping the link
    /// detaches.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::program::{Netfilter, NetfilterFamily, NetfilterHook, NetfilterHookPoint};
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/sock_netfilter.bpf.o")?;
    /// let prog = Netfilter::try_from(obj.program("drop_marked").unwrap())?;
    /// let hook = NetfilterHook::new(NetfilterFamily::Ipv4, NetfilterHookPoint::LocalOut, 0);
    /// let link = prog.attach(hook)?;
    /// # drop(link);
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach(&self, hook: NetfilterHook) -> Result<Link, ProgramError> {
        let description = format!(
            "netfilter {:?} {:?} priority {}",
            hook.family, hook.hook, hook.priority
        );
        let fd = bpf::link_create(
            self.prog.fd(),
            LinkTarget::None,
            attach_type::NETFILTER,
            0,
            hook.extra(),
        )
        .map_err(attach_error(self.prog, &description))?;
        Ok(Link::from_link_fd(fd, description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_encode_as_the_uapi_numbers() {
        let mut hook = NetfilterHook::new(NetfilterFamily::Ipv6, NetfilterHookPoint::LocalOut, -5);
        hook.ip_defrag = true;
        match hook.extra() {
            LinkCreateExtra::Netfilter {
                pf,
                hooknum,
                priority,
                flags,
            } => assert_eq!((pf, hooknum, priority, flags), (10, 3, -5, 1)),
            other => panic!("{other:?}"),
        }
    }
}
