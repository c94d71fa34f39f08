//! `freplace` programs (`SEC("freplace/FUNC")`, `BPF_PROG_TYPE_EXT`): replace a global
//! function of another loaded BPF program, which from then on calls the extension
//! instead, until the link goes.
//!
//! The program the extension targets is given at load time, with
//! [`Loader::attach_target`](crate::Loader::attach_target) (libbpf's
//! `bpf_program__set_attach_target`): the loader resolves the function in that
//! program's BTF and loads the extension against it (`attach_prog_fd`,
//! `attach_btf_id`). [`FReplace::attach`] then replaces it there (what auto-attach
//! does); [`FReplace::attach_to`] replaces a function of the same signature in another
//! program (5.10+).

use std::os::fd::BorrowedFd;

use super::{tracing::attach_btf, ProgramError};
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys;

program_view!(
    /// A `freplace` program.
    ///
    /// # Examples
    ///
    /// See [`Loader::attach_target`](crate::Loader::attach_target).
    FReplace,
    ProgramKind::Freplace { .. },
    "freplace"
);

impl FReplace<'_> {
    /// Replaces the function the program was loaded for in its target program
    /// (`BPF_LINK_CREATE`, or `BPF_RAW_TRACEPOINT_OPEN` on kernels before 5.10).
    pub fn attach(&self) -> Result<Link, ProgramError> {
        attach_btf(self.prog, self.prog.kind.expected_attach_type(), "freplace")
    }

    /// Replaces `function` of the loaded program `target_prog`, which must have the
    /// signature of the function the extension was loaded for (5.10+).
    pub fn attach_to(
        &self,
        target_prog: BorrowedFd<'_>,
        function: &str,
    ) -> Result<Link, ProgramError> {
        let target = format!("freplace {function} of another program");
        let btf_id = crate::loader::func_in_program(target_prog, function).map_err(|detail| {
            ProgramError::BadTarget {
                program: self.prog.name.clone(),
                reason: format!("{target}: no function to replace{detail}"),
            }
        })?;
        let fd = sys::bpf::link_create(
            self.prog.fd(),
            sys::bpf::LinkTarget::Fd(target_prog),
            self.prog.kind.expected_attach_type(),
            0,
            sys::bpf::LinkCreateExtra::Tracing {
                target_btf_id: btf_id,
                cookie: 0,
            },
        )
        .map_err(|source| ProgramError::Attach {
            program: self.prog.name.clone(),
            target: target.clone(),
            source,
        })?;
        Ok(Link::from_link_fd(fd, target))
    }
}
