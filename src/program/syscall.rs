//! `syscall` programs (`SEC("syscall")`, 5.14+): sleepable programs that run only when
//! user space asks, through `BPF_PROG_TEST_RUN`, with a context struct of the caller's
//! choosing. They may call `bpf_sys_bpf()` (create maps, load programs, as a loader
//! would, from inside the kernel) and `bpf_sys_close()`; whatever they write into the
//! context comes back to the caller. Nothing attaches them: libbpf has no auto-attach
//! for them, and [`Program::attach`](super::Program::attach) says so.

use super::ProgramError;
use crate::object::ProgramKind;
use crate::pod::Pod;
use crate::sys;

program_view!(
    /// A `syscall` program.
    ///
    /// # Examples
    ///
    /// Run `bpf-progs/syscall.bpf.o`'s `add_and_create` with its context struct (needs
    /// root):
    ///
    /// ```no_run
    /// use corebpf::{program::SyscallProgram, Loader, Pod};
    ///
    /// #[repr(C)]
    /// #[derive(Clone, Copy, Pod)]
    /// struct Args { a: u32, b: u32, sum: u32, map_fd: i32, max_entries: u32 }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/syscall.bpf.o")?;
    /// let prog = SyscallProgram::try_from(obj.program("add_and_create").expect("the program"))?;
    /// let mut args = Args { a: 20, b: 22, sum: 0, map_fd: -1, max_entries: 4 };
    /// prog.run_with(&mut args)?;
    /// assert_eq!(args.sum, 42);
    /// # Ok(())
    /// # }
    /// ```
    SyscallProgram,
    ProgramKind::Syscall,
    "syscall"
);

impl SyscallProgram<'_> {
    /// Runs the program once with `ctx` as its context; `ctx` then holds what the
    /// program left in it. Returns the program's return value.
    pub fn run(&self, ctx: &mut [u8]) -> Result<u32, ProgramError> {
        sys::bpf::prog_test_run_syscall(self.prog.fd(), ctx).map_err(self.prog.sys_err())
    }

    /// [`run`](Self::run) with a typed context (a `#[repr(C)]` struct laid out as the
    /// program's).
    pub fn run_with<T: Pod>(&self, ctx: &mut T) -> Result<u32, ProgramError> {
        self.run(ctx.as_bytes_mut())
    }
}
