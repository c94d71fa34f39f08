//! struct_ops: a kernel ops struct (`struct tcp_congestion_ops`, …) implemented by
//! BPF programs (`SEC("struct_ops/NAME")`), declared as a global of that type in
//! `SEC(".struct_ops")` or `SEC(".struct_ops.link")`, and registered with the kernel
//! as a whole.
//!
//! The loader creates the variable's map and loads its programs (see
//! `loader/struct_ops.rs`); [`StructOps::attach`] registers it: by writing the value
//! to the map's element 0 (which registers it at once), and for `.struct_ops.link`
//! variables then creating a struct_ops link (6.4+), as libbpf's
//! `bpf_map__attach_struct_ops`. Dropping the returned [`Link`] unregisters it: the
//! link closes, or for a plain `.struct_ops` map the element is deleted. Programs of
//! these kinds are never attached on their own.

use std::os::fd::{AsFd, OwnedFd};

use super::ProgramError;
use crate::link::{Attachment, Link};
use crate::loader::StructOpsValue;
use crate::map::Map;
use crate::sys::{self, SysError};

/// A struct_ops map of a loaded object ([`Object::struct_ops`](crate::Object::struct_ops)).
///
/// # Examples
///
/// Register `bpf-progs/struct_ops_link.bpf.o`'s TCP congestion control and select it on
/// a socket (needs root; the name is in the object's `.name` member):
///
/// ```no_run
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/struct_ops_link.bpf.o")?;
/// let ca = obj.struct_ops("corebpf_reno").expect("the variable");
/// let registered = ca.attach()?; // `setsockopt(TCP_CONGESTION, "corebpf_reno")` works now
/// drop(registered); // and no longer
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StructOps<'a> {
    map: &'a Map,
    value: &'a StructOpsValue,
}

impl<'a> StructOps<'a> {
    pub(crate) fn new(map: &'a Map, value: &'a StructOpsValue) -> Self {
        StructOps { map, value }
    }

    /// The variable's (and map's) name.
    pub fn name(&self) -> &str {
        self.map.name()
    }

    /// The kernel ops struct it implements (`tcp_congestion_ops`).
    pub fn type_name(&self) -> &str {
        &self.value.type_name
    }

    /// Registered through a link (a `.struct_ops.link` variable).
    pub fn uses_link(&self) -> bool {
        self.value.link
    }

    /// The map.
    pub fn map(&self) -> &'a Map {
        self.map
    }

    /// The value registered: the kernel's `bpf_struct_ops_NAME` layout, with the
    /// programs' descriptors in the function-pointer members.
    pub fn value(&self) -> &[u8] {
        &self.value.value
    }

    /// Registers the ops with the kernel; dropping the link unregisters them.
    pub fn attach(&self) -> Result<Link, ProgramError> {
        let description = format!("struct_ops {} ({})", self.name(), self.type_name());
        let err = |source: SysError| ProgramError::StructOps {
            map: self.name().to_string(),
            source,
        };
        let fd = self.map.fd();
        let access = sys::bpf::MapAccess::new(fd).map_err(err)?;
        sys::bpf::map_update_elem(&access, &0u32.to_ne_bytes(), &self.value.value, 0)
            .map_err(err)?;
        if self.value.link {
            let link = sys::bpf::link_create(
                fd,
                sys::bpf::LinkTarget::None,
                sys::bpf::attach_type::STRUCT_OPS,
                0,
                sys::bpf::LinkCreateExtra::None,
            )
            .map_err(err)?;
            return Ok(Link::from_link_fd(link, description));
        }
        let map = fd
            .try_clone_to_owned()
            .map_err(|e| err(SysError::from_io("dup", e)))?;
        let registration = Registration {
            map,
            name: self.name().to_string(),
        };
        Ok(Link::from_attachment(Box::new(registration), description))
    }
}

/// A struct_ops map registered by its element alone (no link): deleting the element
/// unregisters it.
#[derive(Debug)]
struct Registration {
    map: OwnedFd,
    name: String,
}

impl Attachment for Registration {}

impl Drop for Registration {
    fn drop(&mut self) {
        let deleted = sys::bpf::MapAccess::new(self.map.as_fd())
            .and_then(|a| sys::bpf::map_delete_elem(&a, &0u32.to_ne_bytes()));
        if let Err(e) = deleted {
            log::warn!(
                "unregistering struct_ops '{}': {}",
                self.name,
                crate::util::Chain(&e)
            );
        }
    }
}
