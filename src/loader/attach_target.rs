//! Attach targets given at load time instead of (or beside) the section name, as
//! libbpf's `bpf_program__set_attach_target`: a function of another loaded BPF
//! program (freplace, or fentry/fexit on a BPF program), or another kernel function.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::LoadError;
use crate::btf::{Btf, Kind};
use crate::sys::{self, SysError};

/// One [`Loader::attach_target`](super::Loader::attach_target) setting.
#[derive(Clone, Debug)]
pub(super) struct AttachTarget {
    /// The program it is for.
    pub program: String,
    /// The target program (a duplicate of the descriptor given), or why it could not
    /// be duplicated.
    pub target_prog: Option<Result<Arc<OwnedFd>, Arc<std::io::Error>>>,
    /// The function.
    pub function: String,
}

impl AttachTarget {
    pub(super) fn new(
        program: &str,
        target_prog: Option<BorrowedFd<'_>>,
        function: &str,
    ) -> AttachTarget {
        AttachTarget {
            program: program.to_string(),
            target_prog: target_prog
                .map(|fd| fd.try_clone_to_owned().map(Arc::new).map_err(Arc::new)),
            function: function.to_string(),
        }
    }
}

/// Where a program's `attach_btf_id` comes from: the target program's BTF (with that
/// program as `attach_prog_fd`) or the kernel's.
pub(super) struct Resolved<'a> {
    pub btf_id: u32,
    pub prog_fd: Option<BorrowedFd<'a>>,
}

/// Resolves `t` for program `program`: in the target program's BTF when one is given,
/// otherwise `function` in the kernel's BTF (by the same rules as the section name).
pub(super) fn resolve<'a>(
    program: &str,
    t: &'a AttachTarget,
    vmlinux: impl FnOnce(&str) -> Result<u32, LoadError>,
) -> Result<Resolved<'a>, LoadError> {
    let Some(target) = &t.target_prog else {
        return Ok(Resolved {
            btf_id: vmlinux(&t.function)?,
            prog_fd: None,
        });
    };
    let err = |detail: String| LoadError::AttachTarget {
        program: program.to_string(),
        target: format!("func {} of the target program", t.function),
        detail,
    };
    let fd = target
        .as_ref()
        .map_err(|e| err(format!(": duplicating its descriptor failed ({e})")))?;
    let btf_id = func_in_program(fd.as_fd(), &t.function).map_err(err)?;
    Ok(Resolved {
        btf_id,
        prog_fd: Some(fd.as_fd()),
    })
}

/// The BTF id of global function `function` in the BTF of the loaded program `prog`,
/// or why there is none (as a `": ..."` detail).
pub(crate) fn func_in_program(prog: BorrowedFd<'_>, function: &str) -> Result<u32, String> {
    let sys = |e: SysError| format!(": {}", crate::util::Chain(&e));
    let info = sys::bpf::prog_info(prog).map_err(sys)?;
    if info.btf_id == 0 {
        return Err("; the target program was loaded without BTF".into());
    }
    let btf_fd = sys::bpf::btf_get_fd_by_id(info.btf_id).map_err(sys)?;
    let data = sys::bpf::btf_data(btf_fd.as_fd()).map_err(sys)?;
    let btf = Btf::parse(data).map_err(|e| format!(": its BTF does not parse ({e})"))?;
    btf.find_by_name_kind(function, Kind::Func)
        .ok_or_else(|| "; the target program's BTF has no such function".into())
}
