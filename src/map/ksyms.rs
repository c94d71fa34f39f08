//! Kernel addresses to symbols, from `/proc/kallsyms`: [`KernelSymbols`], a pure
//! symbolizer for the kernel stacks of a [`StackTrace`](super::StackTrace).

use std::path::PathBuf;

use crate::reloc::externs::kallsyms::split_line;

/// Why kernel symbols could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KsymsError {
    /// The file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `ADDRESS TYPE NAME [MODULE]`.
    #[error("kallsyms line {line} is not `ADDRESS TYPE NAME [MODULE]`: {text:?}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// Every address is 0: the kernel hides them from this process.
    #[error(
        "/proc/kallsyms shows every address as 0: reading them needs CAP_SYSLOG \
         (and kernel.kptr_restrict < 2)"
    )]
    Hidden,
}

/// One code symbol.
#[derive(Clone, Debug)]
struct Sym {
    addr: u64,
    name: Box<str>,
    module: Option<u32>,
}

/// A kernel symbol an address falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSymbol<'a> {
    /// The function (`do_syscall_64`), or a BPF program's image (`bpf_prog_<tag>_<name>`).
    pub name: &'a str,
    /// Bytes from the symbol's start to the address.
    pub offset: u64,
    /// The module that holds it (`[bpf]` for BPF programs), `None` for vmlinux.
    pub module: Option<&'a str>,
}

impl std::fmt::Display for KernelSymbol<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{:#x}", self.name, self.offset)?;
        if let Some(m) = self.module {
            write!(f, " [{m}]")?;
        }
        Ok(())
    }
}

/// The kernel's code symbols sorted by address: resolves an address to the symbol it
/// falls in, as `perf` and bpftrace print kernel stacks.
///
/// # Examples
///
/// ```
/// use corebpf::map::KernelSymbols;
///
/// let text = "ffffffff81000000 T _stext\nffffffff81001000 t do_syscall_64\n\
///             ffffffffc0000000 t bpf_prog_1234_handler\t[bpf]\n";
/// let ksyms = KernelSymbols::parse(text)?;
/// let s = ksyms.resolve(0xffffffff81001010).unwrap();
/// assert_eq!((s.name, s.offset), ("do_syscall_64", 0x10));
/// assert_eq!(s.to_string(), "do_syscall_64+0x10");
/// assert_eq!(ksyms.resolve(0xffffffffc0000008).unwrap().module, Some("bpf"));
/// assert!(ksyms.resolve(0x1000).is_none());
/// # Ok::<(), corebpf::map::KsymsError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct KernelSymbols {
    syms: Vec<Sym>,
    modules: Vec<String>,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms`.
    pub fn load() -> Result<KernelSymbols, KsymsError> {
        let path = PathBuf::from("/proc/kallsyms");
        let text = std::fs::read_to_string(&path).map_err(|source| KsymsError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses kallsyms text, keeping code symbols (types `t`, `T`, `w`, `W`).
    pub fn parse(text: &str) -> Result<KernelSymbols, KsymsError> {
        let mut out = KernelSymbols::default();
        let (mut any, mut nonzero) = (false, false);
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (addr, kind, name, module) =
                split_line(line).ok_or_else(|| KsymsError::Syntax {
                    line: i + 1,
                    text: line.to_string(),
                })?;
            any = true;
            nonzero |= addr != 0;
            if addr == 0 || !matches!(kind, b't' | b'T' | b'w' | b'W') {
                continue;
            }
            let module = module.map(|m| out.module_index(m));
            out.syms.push(Sym {
                addr,
                name: name.into(),
                module,
            });
        }
        if any && !nonzero {
            return Err(KsymsError::Hidden);
        }
        // Stable: of symbols at one address, the first listed wins.
        crate::util::sort_by_key(&mut out.syms, |s| s.addr);
        Ok(out)
    }

    fn module_index(&mut self, m: &str) -> u32 {
        match self.modules.iter().position(|x| x == m) {
            Some(i) => i as u32,
            None => {
                self.modules.push(m.to_string());
                (self.modules.len() - 1) as u32
            }
        }
    }

    /// The symbol `addr` falls in: the one at the highest address not above it.
    pub fn resolve(&self, addr: u64) -> Option<KernelSymbol<'_>> {
        let i = self
            .syms
            .partition_point(|s| s.addr <= addr)
            .checked_sub(1)?;
        // Of several symbols at the same address, the first one listed.
        let first = self.syms[..=i].partition_point(|s| s.addr < self.syms[i].addr);
        let s = &self.syms[first];
        Some(KernelSymbol {
            name: &s.name,
            offset: addr - s.addr,
            module: s.module.map(|m| self.modules[m as usize].as_str()),
        })
    }

    /// Number of code symbols.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_by_address_keeping_code_symbols_only() {
        let text = "\
ffffffff81000100 t second
ffffffff81000000 T first
ffffffff81000000 T first_alias
ffffffff82000000 D some_data
ffffffffc0100000 t mod_fn\t[ext4]
";
        let k = KernelSymbols::parse(text).unwrap();
        assert_eq!(k.len(), 4, "data symbols are not code");
        let r = |a| k.resolve(a).map(|s| (s.name, s.offset, s.module));
        assert_eq!(r(0xffffffff81000000), Some(("first", 0, None)));
        assert_eq!(r(0xffffffff810000ff), Some(("first", 0xff, None)));
        assert_eq!(r(0xffffffff81000104), Some(("second", 4, None)));
        // Past the data symbol, the last code symbol before it still covers it.
        assert_eq!(r(0xffffffff82000010).unwrap().0, "second");
        assert_eq!(r(0xffffffffc0100020), Some(("mod_fn", 0x20, Some("ext4"))));
        assert_eq!(r(0xffffffff80000000), None);
    }

    #[test]
    fn hidden_addresses_and_bad_lines_are_errors() {
        let hidden = "0000000000000000 T first\n0000000000000000 t second\n";
        assert!(matches!(
            KernelSymbols::parse(hidden),
            Err(KsymsError::Hidden)
        ));
        let e = KernelSymbols::parse("ffff T ok\nnot a line at all\n").unwrap_err();
        assert!(matches!(e, KsymsError::Syntax { line: 2, .. }), "{e}");
        assert!(KernelSymbols::parse("").unwrap().is_empty());
    }

    #[test]
    fn the_running_kernel_has_its_syscall_entry() {
        let k = KernelSymbols::load().expect("reading /proc/kallsyms (root)");
        let addr = crate::reloc::externs::Kallsyms::parse(
            &std::fs::read_to_string("/proc/kallsyms").unwrap(),
        )
        .unwrap()
        .address("do_syscall_64")
        .unwrap()
        .expect("do_syscall_64 in kallsyms");
        let s = k.resolve(addr + 1).unwrap();
        assert_eq!((s.name, s.offset), ("do_syscall_64", 1));
    }
}
