//! Programs attached to a sockmap or sockhash: `sk_skb` (stream parser and verdict on
//! received data) and `sk_msg` (verdict on data sent with `sendmsg`/`sendfile`).
//!
//! They run for every socket in the map, and may redirect the data to another socket
//! of a map (`bpf_sk_redirect_map`, `bpf_msg_redirect_hash`, ...). Attaching is a BPF
//! link where the kernel has one for maps (6.10+), else `BPF_PROG_ATTACH` with the map
//! as target; dropping the [`Link`] detaches either way. libbpf does not auto-attach
//! these kinds (a section names no map), and neither does
//! [`Program::attach`](super::Program::attach).

use std::os::fd::AsFd;

use super::prog_attach::link_or_prog_attach;
use super::{Program, ProgramError};
use crate::link::Link;
use crate::map::Map;
use crate::object::ProgramKind;
use crate::sys::bpf::{attach_type, map_type};

/// Attaches `prog` to `map` (which must be a sockmap or sockhash) as `attach_type`.
fn attach_map(
    prog: &Program,
    map: &Map,
    attach_type: u32,
    what: &str,
) -> Result<Link, ProgramError> {
    let t = map.map_type();
    if t.0 != map_type::SOCKMAP && t.0 != map_type::SOCKHASH {
        return Err(ProgramError::BadTarget {
            program: prog.name.clone(),
            reason: format!(
                "map '{}' is a {} map; {what} programs attach to a sockmap or sockhash",
                map.name(),
                t.name()
            ),
        });
    }
    let description = format!("{what} on map '{}'", map.name());
    link_or_prog_attach(prog, map.fd().as_fd(), attach_type, 0, description)
}

/// Which `sk_skb` hook of a map a program runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkSkbKind {
    /// Splits a TCP stream into messages: returns each message's length
    /// (`BPF_SK_SKB_STREAM_PARSER`).
    StreamParser,
    /// Decides what becomes of each parsed message: pass, drop or redirect
    /// (`BPF_SK_SKB_STREAM_VERDICT`).
    StreamVerdict,
    /// A verdict on each received skb, without a parser (`BPF_SK_SKB_VERDICT`, 5.13+).
    Verdict,
}

impl SkSkbKind {
    fn attach_type(self) -> u32 {
        match self {
            SkSkbKind::StreamParser => attach_type::SK_SKB_STREAM_PARSER,
            SkSkbKind::StreamVerdict => attach_type::SK_SKB_STREAM_VERDICT,
            SkSkbKind::Verdict => attach_type::SK_SKB_VERDICT,
        }
    }

    fn section(self) -> &'static str {
        match self {
            SkSkbKind::StreamParser => "sk_skb/stream_parser",
            SkSkbKind::StreamVerdict => "sk_skb/stream_verdict",
            SkSkbKind::Verdict => "sk_skb/verdict",
        }
    }
}

program_view!(
    /// An `sk_skb` program (`SEC("sk_skb/stream_parser")`, `sk_skb/stream_verdict`,
    /// `sk_skb/verdict`, `sk_skb`): runs on the data the sockets of a sockmap or sockhash
    /// receive.
    SkSkb,
    ProgramKind::SkSkb { .. },
    "sk_skb"
);

impl SkSkb<'_> {
    /// The hook the section names; `None` for a plain `sk_skb` section.
    pub fn kind(&self) -> Option<SkSkbKind> {
        match self.prog.kind.expected_attach_type() {
            attach_type::SK_SKB_STREAM_PARSER => Some(SkSkbKind::StreamParser),
            attach_type::SK_SKB_STREAM_VERDICT => Some(SkSkbKind::StreamVerdict),
            attach_type::SK_SKB_VERDICT => Some(SkSkbKind::Verdict),
            _ => None,
        }
    }

    /// Attaches to `map` (a sockmap or sockhash) at the hook the section names; a plain
    /// `sk_skb` section names none: use [`SkSkb::attach_as`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::program::SkSkb;
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/sock_redirect.bpf.o")?;
    /// let map = obj.map("sock_map").unwrap();
    /// let parser = SkSkb::try_from(obj.program("parse_whole").unwrap())?;
    /// let verdict = SkSkb::try_from(obj.program("redirect_to_peer").unwrap())?;
    /// let _parser = parser.attach(map)?;
    /// let _verdict = verdict.attach(map)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn attach(&self, map: &Map) -> Result<Link, ProgramError> {
        let kind = self.kind().ok_or_else(|| ProgramError::BadTarget {
            program: self.prog.name.clone(),
            reason: format!(
                "section '{}' names no sk_skb hook; attach with attach_as",
                self.prog.section
            ),
        })?;
        self.attach_as(map, kind)
    }

    /// Attaches to `map` at hook `kind`, whatever the section says (the kernel refuses a
    /// hook other than the one a program was loaded for).
    pub fn attach_as(&self, map: &Map, kind: SkSkbKind) -> Result<Link, ProgramError> {
        attach_map(self.prog, map, kind.attach_type(), kind.section())
    }
}

program_view!(
    /// An `sk_msg` program (`SEC("sk_msg")`): a verdict on each message the sockets of a
    /// sockmap or sockhash send (`sendmsg`, `sendfile`): pass, drop, or redirect it to
    /// another socket's egress or ingress.
    SkMsg,
    ProgramKind::SkMsg,
    "sk_msg"
);

impl SkMsg<'_> {
    /// Attaches to `map`, a sockmap or sockhash (`BPF_SK_MSG_VERDICT`).
    pub fn attach(&self, map: &Map) -> Result<Link, ProgramError> {
        attach_map(self.prog, map, attach_type::SK_MSG_VERDICT, "sk_msg")
    }
}
