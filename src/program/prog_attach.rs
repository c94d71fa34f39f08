//! Attaching to a container object (a cgroup, a sockmap, a network namespace): a BPF
//! link where the kernel has one, else `BPF_PROG_ATTACH`, whose attachment detaches
//! with `BPF_PROG_DETACH` when its [`Link`] drops.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::{Program, ProgramError};
use crate::link::{Attachment, Link};
use crate::sys::bpf::{self, AttachTarget, LinkCreateExtra, LinkTarget};
use crate::sys::SysError;

/// A program attached with `BPF_PROG_ATTACH`. It keeps duplicates of the target's and
/// the program's descriptors, so it can detach exactly this program from exactly this
/// target when it drops, whatever the caller did with theirs.
#[derive(Debug)]
pub(crate) struct ProgAttachment {
    /// The container; `None` for the caller's network namespace (target 0).
    target: Option<OwnedFd>,
    prog: OwnedFd,
    attach_type: u32,
    description: String,
}

impl Attachment for ProgAttachment {}

impl Drop for ProgAttachment {
    fn drop(&mut self) {
        let target = match &self.target {
            Some(fd) => AttachTarget::Fd(fd.as_fd()),
            None => AttachTarget::None,
        };
        if let Err(e) = bpf::prog_detach(target, Some(self.prog.as_fd()), self.attach_type) {
            log::warn!("detaching {}: {}", self.description, crate::util::Chain(&e));
        }
    }
}

/// The `ProgramError` for a failed attach of `prog` to `target` (in words).
pub(crate) fn attach_error(prog: &Program, target: &str) -> impl Fn(SysError) -> ProgramError {
    let (program, target) = (prog.name.clone(), target.to_string());
    move |source| ProgramError::Attach {
        program: program.clone(),
        target: target.clone(),
        source,
    }
}

/// Duplicates `fd` for an attachment to keep.
fn keep(fd: BorrowedFd<'_>, what: &'static str) -> Result<OwnedFd, SysError> {
    fd.try_clone_to_owned()
        .map_err(|e| SysError::from_io(what, e))
}

/// `BPF_PROG_ATTACH` of `prog` to `target` as `attach_type` with `flags`; the returned
/// link detaches it on drop.
pub(crate) fn prog_attach(
    prog: &Program,
    target: Option<BorrowedFd<'_>>,
    attach_type: u32,
    flags: u32,
    description: String,
) -> Result<Link, ProgramError> {
    let err = attach_error(prog, &description);
    let sys_target = target.map_or(AttachTarget::None, AttachTarget::Fd);
    // Duplicate first: a failure then leaves nothing attached.
    let kept_target = target
        .map(|fd| keep(fd, "dup of the attach target"))
        .transpose()
        .map_err(&err)?;
    let kept_prog = keep(prog.fd(), "dup of the program").map_err(&err)?;
    bpf::prog_attach(sys_target, prog.fd(), attach_type, flags, None).map_err(&err)?;
    let attachment = ProgAttachment {
        target: kept_target,
        prog: kept_prog,
        attach_type,
        description: description.clone(),
    };
    Ok(Link::from_attachment(Box::new(attachment), description))
}

/// True when a `BPF_LINK_CREATE` failure means "no link for this attach type on this
/// kernel" (the command is unknown before 5.7; cgroup links came in 5.7, netns links in
/// 5.8, sockmap links in 6.10), so `BPF_PROG_ATTACH` is worth trying.
fn no_link_for(e: &SysError) -> bool {
    [libc::EINVAL, libc::EOPNOTSUPP, libc::ENOTSUP].contains(&e.errno())
}

/// Attaches `prog` to `target` with a BPF link (`BPF_LINK_CREATE`), or, where the kernel
/// has no link for `attach_type`, with `BPF_PROG_ATTACH` and `fallback_flags`.
pub(crate) fn link_or_prog_attach(
    prog: &Program,
    target: BorrowedFd<'_>,
    attach_type: u32,
    fallback_flags: u32,
    description: String,
) -> Result<Link, ProgramError> {
    match bpf::link_create(
        prog.fd(),
        LinkTarget::Fd(target),
        attach_type,
        0,
        LinkCreateExtra::None,
    ) {
        Ok(fd) => Ok(Link::from_link_fd(fd, description)),
        Err(e) if no_link_for(&e) => {
            log::debug!(
                "no BPF link for {description} ({}); attaching with BPF_PROG_ATTACH",
                crate::util::Chain(&e)
            );
            prog_attach(prog, Some(target), attach_type, fallback_flags, description)
        }
        Err(e) => Err(attach_error(prog, &description)(e)),
    }
}

/// The ids of the programs attached to `target` as `attach_type` (`BPF_PROG_QUERY`:
/// links and `BPF_PROG_ATTACH` attachments alike), asking again while the list grows
/// between the count and the read.
pub(crate) fn attached_ids(
    prog: &Program,
    target: BorrowedFd<'_>,
    attach_type: u32,
) -> Result<Vec<u32>, ProgramError> {
    let err = |source| ProgramError::Sys {
        program: prog.name.clone(),
        source,
    };
    let target = AttachTarget::Fd(target);
    let mut ids = Vec::new();
    loop {
        let q = bpf::prog_query(target, attach_type, 0, &mut ids).map_err(err)?;
        let count = q.count as usize;
        if count <= ids.len() {
            ids.truncate(count);
            return Ok(ids);
        }
        ids.resize(count, 0);
    }
}

/// What `fd` is, in words: the path `/proc/self/fd` shows for it (a cgroup directory,
/// `net:[4026531840]`), or its number.
pub(crate) fn describe_fd(fd: BorrowedFd<'_>) -> String {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    std::fs::read_link(format!("/proc/self/fd/{raw}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| format!("fd {raw}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::bpf::BpfCmd;
    use crate::sys::{with_syscall_override, Syscall};
    use std::io;

    fn errno(e: i32) -> Option<io::Result<i64>> {
        Some(Err(io::Error::from_raw_os_error(e)))
    }

    /// `EINVAL` from `BPF_LINK_CREATE` (a kernel without the link) falls back to
    /// `BPF_PROG_ATTACH`, and dropping that link detaches the same program from the same
    /// target with the same attach type.
    #[test]
    fn without_links_attach_falls_back_and_drop_detaches() {
        let prog = Program::fake("cgroup_skb/egress");
        let cgroup = std::fs::File::open("/dev/null").unwrap();
        let mut calls = Vec::new();
        let link = with_syscall_override(
            |c| match c {
                Syscall::Bpf { cmd, attr } => {
                    calls.push((*cmd, attr.to_vec()));
                    match cmd {
                        BpfCmd::LinkCreate => errno(libc::EINVAL),
                        _ => Some(Ok(0)),
                    }
                }
                _ => None,
            },
            || link_or_prog_attach(&prog, cgroup.as_fd(), 1, 2, "egress".into()),
        )
        .expect("the fallback attaches");
        assert!(link.link_fd().is_none());
        with_syscall_override(
            |c| match c {
                Syscall::Bpf { cmd, attr } => {
                    calls.push((*cmd, attr.to_vec()));
                    Some(Ok(0))
                }
                _ => None,
            },
            || drop(link),
        );
        let cmds: Vec<BpfCmd> = calls.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            cmds,
            [BpfCmd::LinkCreate, BpfCmd::ProgAttach, BpfCmd::ProgDetach]
        );
        let word = |a: &[u8], o: usize| u32::from_ne_bytes(a[o..o + 4].try_into().unwrap());
        let (attach, detach) = (&calls[1].1, &calls[2].1);
        assert_eq!(word(attach, 8), 1, "attach type");
        assert_eq!(word(attach, 12), 2, "the fallback flags");
        assert_eq!(word(detach, 8), 1, "the same attach type");
        // The attachment's own duplicates name the same objects as the caller's fds.
        for (a, what) in [(0, "target"), (4, "program")] {
            assert_ne!(word(attach, a), word(detach, a), "{what}: a duplicate");
        }
    }

    /// Other link errors are reported, without a fallback.
    #[test]
    fn other_link_errors_are_reported() {
        let prog = Program::fake("cgroup_skb/egress");
        let cgroup = std::fs::File::open("/dev/null").unwrap();
        let mut cmds = Vec::new();
        let e = with_syscall_override(
            |c| match c {
                Syscall::Bpf { cmd, .. } => {
                    cmds.push(*cmd);
                    errno(libc::EBADF)
                }
                _ => None,
            },
            || link_or_prog_attach(&prog, cgroup.as_fd(), 1, 2, "egress on x".into()),
        )
        .unwrap_err();
        assert_eq!(cmds, [BpfCmd::LinkCreate]);
        assert_eq!(e.to_string(), "attaching program 'p' to egress on x");
    }
}
