//! The socket options that attach BPF programs to sockets: `SO_ATTACH_BPF` /
//! `SO_DETACH_BPF` (socket filters) and `SO_ATTACH_REUSEPORT_EBPF` /
//! `SO_DETACH_REUSEPORT_BPF` (the program choosing a socket in a `SO_REUSEPORT` group).
//!
//! The option numbers are the generic ones (`include/uapi/asm-generic/socket.h`), which
//! x86, arm and the other architectures without their own `asm/socket.h` use.

use super::{syscall, SysError, SysResult, Syscall};
use std::os::fd::{AsRawFd, BorrowedFd};

/// `SO_ATTACH_BPF`: the value is a program descriptor (`int`).
const SO_ATTACH_BPF: i32 = 50;
/// `SO_DETACH_BPF` (the same number as `SO_DETACH_FILTER`).
const SO_DETACH_BPF: i32 = 27;
/// `SO_ATTACH_REUSEPORT_EBPF`: the value is a program descriptor (`int`).
const SO_ATTACH_REUSEPORT_EBPF: i32 = 52;
/// `SO_DETACH_REUSEPORT_BPF` (5.3+).
const SO_DETACH_REUSEPORT_BPF: i32 = 68;

/// `setsockopt(socket, SOL_SOCKET, name, &value, sizeof(int))`, named `call` in errors.
fn set_int(call: &'static str, socket: BorrowedFd<'_>, name: i32, value: i32) -> SysResult<()> {
    let value = value.to_ne_bytes();
    let call_ = Syscall::SetSockopt {
        fd: socket,
        level: libc::SOL_SOCKET,
        name,
        value: &value,
    };
    // SAFETY: `value` is a live buffer whose length is passed beside it.
    unsafe { syscall(call_) }
        .map(|_| ())
        .map_err(|e| SysError::from_io(call, e))
}

/// The program descriptor as the `int` the options take.
fn prog_int(prog: BorrowedFd<'_>) -> i32 {
    prog.as_raw_fd()
}

/// `SO_ATTACH_BPF`: makes `prog` (a socket filter program) the filter of `socket`,
/// replacing any filter it had.
pub fn attach_socket_filter(socket: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> SysResult<()> {
    set_int("SO_ATTACH_BPF", socket, SO_ATTACH_BPF, prog_int(prog))
}

/// `SO_DETACH_BPF`: removes `socket`'s filter, whichever it is (`ENOENT` when there is
/// none).
pub fn detach_socket_filter(socket: BorrowedFd<'_>) -> SysResult<()> {
    set_int("SO_DETACH_BPF", socket, SO_DETACH_BPF, 0)
}

/// `SO_ATTACH_REUSEPORT_EBPF`: makes `prog` (an `sk_reuseport` program) choose the
/// socket of `socket`'s `SO_REUSEPORT` group that gets each packet or connection.
pub fn attach_reuseport(socket: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> SysResult<()> {
    set_int(
        "SO_ATTACH_REUSEPORT_EBPF",
        socket,
        SO_ATTACH_REUSEPORT_EBPF,
        prog_int(prog),
    )
}

/// `SO_DETACH_REUSEPORT_BPF` (5.3+): removes the program of `socket`'s reuseport group.
pub fn detach_reuseport(socket: BorrowedFd<'_>) -> SysResult<()> {
    set_int(
        "SO_DETACH_REUSEPORT_BPF",
        socket,
        SO_DETACH_REUSEPORT_BPF,
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::with_syscall_override;
    use std::io;
    use std::os::fd::AsFd;

    #[test]
    fn options_carry_their_numbers_and_the_program_fd() {
        let sock = std::fs::File::open("/dev/null").unwrap();
        let prog = std::fs::File::open("/dev/null").unwrap();
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::SetSockopt {
                    fd,
                    level,
                    name,
                    value,
                } = c
                {
                    seen.push((fd.as_raw_fd(), *level, *name, value.to_vec()));
                }
                Some(Err(io::Error::from_raw_os_error(libc::ENOTSOCK)))
            },
            || {
                let (s, p) = (sock.as_fd(), prog.as_fd());
                let e = attach_socket_filter(s, p).unwrap_err();
                assert_eq!((e.call, e.errno()), ("SO_ATTACH_BPF", libc::ENOTSOCK));
                assert_eq!(detach_socket_filter(s).unwrap_err().call, "SO_DETACH_BPF");
                let e = attach_reuseport(s, p).unwrap_err();
                assert_eq!(e.call, "SO_ATTACH_REUSEPORT_EBPF");
                let e = detach_reuseport(s).unwrap_err();
                assert_eq!(e.call, "SO_DETACH_REUSEPORT_BPF");
            },
        );
        let s = sock.as_raw_fd();
        let p = prog.as_raw_fd().to_ne_bytes().to_vec();
        let zero = 0i32.to_ne_bytes().to_vec();
        let sol = libc::SOL_SOCKET;
        assert_eq!(
            seen,
            [
                (s, sol, 50, p.clone()),
                (s, sol, 27, zero.clone()),
                (s, sol, 52, p),
                (s, sol, 68, zero),
            ]
        );
    }
}
