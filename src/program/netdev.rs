//! Network interfaces as attach targets (XDP, TC, netkit): by index or by name,
//! resolved in the calling thread's network namespace.

use std::fmt;

use super::{Program, ProgramError};

/// A network interface to attach to: its index, or its name (looked up with
/// `if_nametoindex` when attaching).
///
/// Both are resolved in the network namespace of the thread that attaches, where the
/// attachment is then made.
///
/// # Examples
///
/// ```
/// use corebpf::program::Interface;
///
/// assert_eq!(Interface::from("eth0"), Interface::Name("eth0".into()));
/// assert_eq!(Interface::from(3), Interface::Index(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Interface {
    /// An interface index (`ip link` shows it first).
    Index(u32),
    /// An interface name (`eth0`).
    Name(String),
}

impl From<u32> for Interface {
    fn from(ifindex: u32) -> Self {
        Interface::Index(ifindex)
    }
}

impl From<&str> for Interface {
    fn from(name: &str) -> Self {
        Interface::Name(name.to_string())
    }
}

impl From<String> for Interface {
    fn from(name: String) -> Self {
        Interface::Name(name)
    }
}

impl From<&String> for Interface {
    fn from(name: &String) -> Self {
        Interface::Name(name.clone())
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interface::Index(i) => write!(f, "ifindex {i}"),
            Interface::Name(n) => write!(f, "'{n}'"),
        }
    }
}

/// An interface resolved to its index, with the name it was given by (for
/// descriptions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub ifindex: u32,
    pub name: Option<String>,
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "ifindex {} ({n})", self.ifindex),
            None => write!(f, "ifindex {}", self.ifindex),
        }
    }
}

impl Interface {
    /// The interface's index in the calling thread's network namespace; an error
    /// names `prog` when there is no such interface. An index is taken as given (the
    /// kernel checks it when attaching: `ENODEV`).
    pub(crate) fn resolve(&self, prog: &Program) -> Result<Resolved, ProgramError> {
        let refuse = |reason: String| ProgramError::Interface {
            program: prog.name().to_string(),
            interface: self.to_string(),
            reason,
        };
        match self {
            Interface::Index(0) => Err(refuse("0 is no interface index".into())),
            Interface::Index(i) => Ok(Resolved {
                ifindex: *i,
                name: None,
            }),
            Interface::Name(n)
                if n.is_empty() || n.len() >= libc::IF_NAMESIZE || n.contains('\0') =>
            {
                Err(refuse(format!(
                    "not an interface name (1 to {} bytes, no NUL)",
                    libc::IF_NAMESIZE - 1
                )))
            }
            Interface::Name(n) => match nix::net::if_::if_nametoindex(n.as_str()) {
                Ok(i) => Ok(Resolved {
                    ifindex: i,
                    name: Some(n.clone()),
                }),
                Err(nix::errno::Errno::ENODEV) => {
                    Err(refuse("not found in this network namespace".into()))
                }
                Err(e) => Err(refuse(format!("if_nametoindex failed with {e}"))),
            },
        }
    }
}

/// What the XDP, TC and netkit unit tests share.
#[cfg(test)]
pub(crate) mod test_util {
    use super::Program;
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};
    use std::os::fd::OwnedFd;

    /// An interface index no namespace has.
    pub const NO_SUCH_IFINDEX: u32 = 0x7fff_fff0;

    /// A program of `section` named `name`, its fd a `/dev/null` (never loaded).
    pub fn program(name: &str, section: &str) -> Program {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let kind = crate::object::ProgramKind::from_section(section).unwrap();
        Program::new(name.into(), section.into(), kind, fd)
    }

    /// Runs `f` with every `BPF_LINK_CREATE` answered `errno`; returns `f`'s result and
    /// the attributes of each `BPF_LINK_CREATE` asked.
    pub fn link_create_answers<T>(errno: i32, f: impl FnOnce() -> T) -> (T, Vec<Vec<u8>>) {
        let mut seen = Vec::new();
        let r = with_syscall_override(
            |c| match c {
                Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    attr,
                } => {
                    seen.push(attr.to_vec());
                    Some(Err(std::io::Error::from_raw_os_error(errno)))
                }
                _ => None,
            },
            f,
        );
        (r, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Program {
        test_util::program("xdp_prog", "xdp")
    }

    #[test]
    fn names_and_indexes_resolve_or_say_why_not() {
        let p = program();
        let lo = Interface::from("lo").resolve(&p).unwrap();
        assert!(lo.ifindex > 0);
        assert_eq!(lo.to_string(), format!("ifindex {} (lo)", lo.ifindex));
        assert_eq!(
            Interface::from(7).resolve(&p).unwrap().to_string(),
            "ifindex 7"
        );
        for (iface, why) in [
            (
                Interface::from("corebpf-no-such"),
                "not found in this network namespace",
            ),
            (Interface::from(""), "not an interface name"),
            (Interface::from("a".repeat(16)), "not an interface name"),
            (Interface::from("a\0b"), "not an interface name"),
            (Interface::from(0), "0 is no interface index"),
        ] {
            let e = iface.resolve(&p).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(why) && text.contains("xdp_prog"), "{text}");
        }
    }
}
