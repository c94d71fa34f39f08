//! Programs attached to a network namespace: `sk_lookup` (5.9+) and `flow_dissector`.
//!
//! The namespace is given as an open descriptor of its file
//! (`/proc/self/ns/net`, `/proc/PID/ns/net`, `/run/netns/NAME`) or as that path. libbpf
//! attaches both with `bpf_program__attach_netns` (a BPF link) and does not auto-attach
//! them; neither does [`Program::attach`](super::Program::attach).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::prog_attach::{attach_error, describe_fd, link_or_prog_attach};
use super::{Program, ProgramError};
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys::bpf::{self, attach_type, LinkCreateExtra, LinkTarget};

/// Opens the namespace file at `path` and runs `attach` with it.
fn with_netns(
    prog: &Program,
    path: &Path,
    attach: impl FnOnce(BorrowedFd<'_>) -> Result<Link, ProgramError>,
) -> Result<Link, ProgramError> {
    let ns = std::fs::File::open(path).map_err(|source| ProgramError::OpenTarget {
        program: prog.name.clone(),
        path: path.to_path_buf(),
        source,
    })?;
    attach(ns.as_fd())
}

program_view!(
    /// An `sk_lookup` program (`SEC("sk_lookup")`, 5.9+): runs when the namespace looks
    /// for the socket an incoming TCP connection or UDP packet goes to, and may pick one
    /// (`bpf_sk_assign`), for instance a socket listening on another port or address.
    SkLookup,
    ProgramKind::SkLookup,
    "sk_lookup"
);

impl SkLookup<'_> {
    /// Attaches to the network namespace open at `netns` with a BPF link (the only way
    /// the kernel attaches `sk_lookup`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::program::SkLookup;
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/sock_lookup.bpf.o")?;
    /// let steer = SkLookup::try_from(obj.program("steer").unwrap())?;
    /// let link = steer.attach_path("/proc/self/ns/net")?;
    /// # drop(link);
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach(&self, netns: impl AsFd) -> Result<Link, ProgramError> {
        let netns = netns.as_fd();
        let description = format!("sk_lookup on {}", describe_fd(netns));
        let fd = bpf::link_create(
            self.prog.fd(),
            LinkTarget::Fd(netns),
            attach_type::SK_LOOKUP,
            0,
            LinkCreateExtra::None,
        )
        .map_err(attach_error(self.prog, &description))?;
        Ok(Link::from_link_fd(fd, description))
    }

    /// Attaches to the network namespace whose file is at `path`.
    pub fn attach_path(&self, path: impl AsRef<Path>) -> Result<Link, ProgramError> {
        with_netns(self.prog, path.as_ref(), |ns| self.attach(ns))
    }
}

program_view!(
    /// A flow dissector (`SEC("flow_dissector")`): replaces the kernel's packet parser for
    /// the namespace (the one that finds the addresses, ports and protocols used for
    /// hashing, RPS and classification), filling `struct bpf_flow_keys`.
    FlowDissector,
    ProgramKind::FlowDissector,
    "flow_dissector"
);

impl FlowDissector<'_> {
    /// Attaches to the network namespace open at `netns`: a BPF link (5.8+), else
    /// `BPF_PROG_ATTACH`, which kernels before 5.8 apply to the calling thread's
    /// namespace whatever `netns` is. A namespace has one flow dissector; while the
    /// initial namespace has one, it is the one that runs everywhere.
    pub fn attach(&self, netns: impl AsFd) -> Result<Link, ProgramError> {
        let netns = netns.as_fd();
        let description = format!("flow_dissector on {}", describe_fd(netns));
        link_or_prog_attach(
            self.prog,
            netns,
            attach_type::FLOW_DISSECTOR,
            0,
            description,
        )
    }

    /// Attaches to the network namespace whose file is at `path`.
    pub fn attach_path(&self, path: impl AsRef<Path>) -> Result<Link, ProgramError> {
        with_netns(self.prog, path.as_ref(), |ns| self.attach(ns))
    }
}
