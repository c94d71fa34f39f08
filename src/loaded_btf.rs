//! BTF objects the kernel holds — vmlinux's, each module's, and those loaded along with
//! programs — opened by id and read back (libbpf's `btf__load_from_kernel_by_id`,
//! cilium/ebpf's `btf.Handle`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use crate::btf::{Btf, BtfError};
use crate::sys::bpf::{self as sysbpf, BtfInfo};
use crate::sys::SysError;

/// Errors from opening or reading a BTF object of the kernel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadedBtfError {
    /// `BPF_BTF_GET_FD_BY_ID` failed (`ENOENT`: no such id; `EPERM`: needs `CAP_SYS_ADMIN`).
    #[error("opening BTF object {id}")]
    Open {
        /// The id asked for.
        id: u32,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// Listing the ids or reading the object's info or data failed.
    #[error("reading BTF object {id}")]
    Read {
        /// The object's id (0 while listing from the start).
        id: u32,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// The kernel's bytes do not parse as BTF (or the base they extend does not).
    #[error("BTF object {id} ('{name}') is not valid BTF")]
    Parse {
        /// The object's id.
        id: u32,
        /// Its name (`vmlinux`, a module's, or empty).
        name: String,
        /// What is wrong.
        #[source]
        source: BtfError,
    },
    /// A module's BTF extends vmlinux's, which could not be read.
    #[error("BTF object {id} ('{name}') extends vmlinux's BTF, which could not be read")]
    Base {
        /// The object's id.
        id: u32,
        /// The module.
        name: String,
        /// Why vmlinux's BTF is missing.
        #[source]
        source: BtfError,
    },
}

/// A BTF object held by the kernel, opened by id; the descriptor closes on drop.
///
/// # Examples
///
/// ```no_run
/// use corebpf::loaded_btf::LoadedBtf;
///
/// for id in LoadedBtf::ids() {
///     let obj = LoadedBtf::from_id(id?)?;
///     let btf = obj.btf()?; // a module's is read on top of vmlinux's
///     println!("{} '{}': {} types", obj.id(), obj.name(), btf.len() - btf.start_id());
/// }
/// # Ok::<(), corebpf::loaded_btf::LoadedBtfError>(())
/// ```
#[derive(Debug)]
pub struct LoadedBtf {
    fd: OwnedFd,
    info: BtfInfo,
}

impl LoadedBtf {
    /// Opens the BTF object with id `id` (`BPF_BTF_GET_FD_BY_ID`, needs `CAP_SYS_ADMIN`).
    pub fn from_id(id: u32) -> Result<LoadedBtf, LoadedBtfError> {
        let fd =
            sysbpf::btf_get_fd_by_id(id).map_err(|source| LoadedBtfError::Open { id, source })?;
        let info =
            sysbpf::btf_info(fd.as_fd()).map_err(|source| LoadedBtfError::Read { id, source })?;
        Ok(LoadedBtf { fd, info })
    }

    /// The ids of every BTF object the kernel holds, in ascending order
    /// (`BPF_BTF_GET_NEXT_ID`). An object may go away between listing and opening.
    pub fn ids() -> impl Iterator<Item = Result<u32, LoadedBtfError>> {
        let mut last = Some(0u32);
        std::iter::from_fn(move || {
            let start = last?;
            match sysbpf::btf_get_next_id(start) {
                Ok(Some(id)) => {
                    last = Some(id);
                    Some(Ok(id))
                }
                Ok(None) => {
                    last = None;
                    None
                }
                Err(source) => {
                    last = None;
                    Some(Err(LoadedBtfError::Read { id: start, source }))
                }
            }
        })
    }

    /// What the kernel says about the object: id, size, name, whether it is the kernel's.
    pub fn info(&self) -> &BtfInfo {
        &self.info
    }

    /// The object's id.
    pub fn id(&self) -> u32 {
        self.info.id
    }

    /// `vmlinux`, a module's name, or empty for BTF loaded with a program.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// True for a kernel module's BTF, which is split BTF on top of vmlinux's.
    pub fn is_module(&self) -> bool {
        self.info.kernel_btf && self.info.name != "vmlinux"
    }

    /// The raw BTF bytes, as the kernel hands them out.
    pub fn raw(&self) -> Result<Vec<u8>, LoadedBtfError> {
        sysbpf::btf_data(self.fd.as_fd()).map_err(|source| LoadedBtfError::Read {
            id: self.id(),
            source,
        })
    }

    /// The object's BTF, parsed; a module's on top of the running kernel's vmlinux BTF
    /// ([`crate::btf::kernel::vmlinux_btf`]).
    pub fn btf(&self) -> Result<Btf, LoadedBtfError> {
        if self.is_module() {
            let base =
                crate::btf::kernel::vmlinux_btf().map_err(|source| LoadedBtfError::Base {
                    id: self.id(),
                    name: self.info.name.clone(),
                    source,
                })?;
            return self.btf_on(Some(base));
        }
        self.btf_on(None)
    }

    /// The object's BTF, parsed as split BTF on `base` when given (bpftool's `-B`).
    pub fn btf_on(&self, base: Option<Arc<Btf>>) -> Result<Btf, LoadedBtfError> {
        let data = self.raw()?;
        let parsed = match base {
            Some(b) => Btf::parse_split(data, b),
            None => Btf::parse(data),
        };
        parsed.map_err(|source| LoadedBtfError::Parse {
            id: self.id(),
            name: self.info.name.clone(),
            source,
        })
    }
}

impl AsFd for LoadedBtf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::with_syscall_override;
    use std::io;

    #[test]
    fn a_missing_id_names_the_id_and_the_call() {
        let e = with_syscall_override(
            |_| Some(Err(io::Error::from_raw_os_error(libc::ENOENT))),
            || LoadedBtf::from_id(987_654),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "opening BTF object 987654");
        let LoadedBtfError::Open { source, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(
            (source.call, source.errno()),
            ("BPF_BTF_GET_FD_BY_ID", libc::ENOENT)
        );
    }

    #[test]
    fn listing_stops_at_the_end_and_on_errors() {
        let ids: Vec<_> = with_syscall_override(
            |_| Some(Err(io::Error::from_raw_os_error(libc::EPERM))),
            || LoadedBtf::ids().collect(),
        );
        assert_eq!(ids.len(), 1);
        assert!(matches!(ids[0], Err(LoadedBtfError::Read { id: 0, .. })));
    }

    #[test]
    fn vmlinux_is_listed_and_reads_back_as_the_sysfs_file() {
        // The kernel's own BTF got an id (and `BPF_BTF_GET_NEXT_ID` lists it) with module BTF.
        let listed = crate::test_kernel::has(
            "vmlinux_is_listed_and_reads_back_as_the_sysfs_file",
            (5, 11),
            "an id for the kernel's BTF",
        );
        if listed && is_root_with_btf() {
            let sysfs = std::fs::read(crate::btf::kernel::SYSFS_VMLINUX).unwrap();
            let mut found = 0;
            for id in LoadedBtf::ids() {
                let obj = LoadedBtf::from_id(id.unwrap()).unwrap();
                if obj.name() == "vmlinux" && obj.info().kernel_btf {
                    assert!(!obj.is_module());
                    assert_eq!(obj.raw().unwrap(), sysfs);
                    let btf = obj.btf().unwrap();
                    assert!(btf
                        .find_by_name_kind("task_struct", crate::btf::Kind::Struct)
                        .is_some());
                    found += 1;
                }
            }
            assert_eq!(found, 1, "one vmlinux BTF object");
        }
    }

    /// Opening BTF by id needs root, and the kernel's BTF.
    fn is_root_with_btf() -> bool {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: opening BTF objects by id needs root");
            return false;
        }
        if !std::path::Path::new(crate::btf::kernel::SYSFS_VMLINUX).exists() {
            eprintln!("SKIP: the kernel has no BTF");
            return false;
        }
        true
    }
}
