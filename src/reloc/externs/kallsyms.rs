//! `/proc/kallsyms` text: symbol names to addresses, module-aware, for untyped
//! `__ksym` externs.

use std::collections::HashMap;

use super::ExternError;

/// One `/proc/kallsyms` entry for a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ksym {
    /// Address (0 for every symbol when the kernel hides addresses).
    pub addr: u64,
    /// Symbol type letter (`T`, `t`, `D`, `b`, ...).
    pub kind: u8,
    /// Index into [`Kallsyms::modules`] for a module's symbol, `None` for vmlinux.
    pub module: Option<u32>,
}

/// A parsed `/proc/kallsyms`: symbol names to their entries, module-aware.
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    syms: HashMap<String, Vec<Ksym>>,
    modules: Vec<String>,
    nonzero: bool,
}

impl Kallsyms {
    /// Parses kallsyms text: `ADDR TYPE NAME` lines, with `\t[MODULE]` after a module's
    /// symbols. A line of another shape is an error.
    pub fn parse(text: &str) -> Result<Kallsyms, ExternError> {
        let mut ks = Kallsyms::default();
        let mut module_idx: HashMap<&str, u32> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (addr, kind, name, module) =
                split_line(line).ok_or_else(|| ExternError::KallsymsSyntax {
                    line: i + 1,
                    text: line.to_string(),
                })?;
            let module = module.map(|m| ks.module_index(m, &mut module_idx));
            ks.nonzero |= addr != 0;
            ks.syms
                .entry(name.to_string())
                .or_default()
                .push(Ksym { addr, kind, module });
        }
        Ok(ks)
    }

    /// The index of module `m` in [`Kallsyms::modules`], added when new (`idx` maps
    /// the names seen so far to their indexes).
    fn module_index<'t>(&mut self, m: &'t str, idx: &mut HashMap<&'t str, u32>) -> u32 {
        let next = idx.len() as u32;
        let i = *idx.entry(m).or_insert(next);
        if i == next {
            self.modules.push(m.to_string());
        }
        i
    }

    /// Every entry named `name`.
    pub fn entries(&self, name: &str) -> &[Ksym] {
        self.syms.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Module names that [`Ksym::module`] indexes.
    pub fn modules(&self) -> &[String] {
        &self.modules
    }

    /// The address of `name`: `Ok(None)` when absent, an error when the entries disagree
    /// (libbpf's "resolution is ambiguous").
    pub fn address(&self, name: &str) -> Result<Option<u64>, ExternError> {
        let e = self.entries(name);
        let Some(first) = e.first() else {
            return Ok(None);
        };
        if let Some(other) = e.iter().find(|k| k.addr != first.addr) {
            return Err(ExternError::Ambiguous {
                name: name.to_string(),
                first: first.addr,
                second: other.addr,
            });
        }
        Ok(Some(first.addr))
    }

    /// True when there are symbols and all of them are at address 0: the kernel hides
    /// addresses from this process (`kptr_restrict`, no `CAP_SYSLOG`).
    pub fn addresses_hidden(&self) -> bool {
        !self.syms.is_empty() && !self.nonzero
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }
}

/// One line's address, type letter, name and module (without its brackets); `None`
/// when the line has another shape.
pub(crate) fn split_line(line: &str) -> Option<(u64, u8, &str, Option<&str>)> {
    let mut it = line.split_ascii_whitespace();
    let (addr, kind, name) = (it.next()?, it.next()?, it.next()?);
    let addr = u64::from_str_radix(addr, 16).ok()?;
    let &[kind] = kind.as_bytes() else {
        return None;
    };
    let module = match it.next() {
        Some(m) => Some(m.strip_prefix('[')?.strip_suffix(']')?),
        None => None,
    };
    Some((addr, kind, name, module))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::reloc::externs::fixtures::kallsyms;

    #[test]
    fn kallsyms_addresses_modules_and_hiding() {
        let k = kallsyms();
        assert_eq!(k.address("schedule").unwrap(), Some(0xffff_ffff_821f_5f60));
        assert_eq!(k.address("nope").unwrap(), None);
        assert_eq!(
            k.address("same").unwrap(),
            Some(0xffff_ffff_8140_0000),
            "same address twice is fine"
        );
        assert!(matches!(
            k.address("helper"),
            Err(ExternError::Ambiguous { .. })
        ));
        let e = k.entries("bpf_dispatcher_xdp");
        assert_eq!(k.modules()[e[0].module.unwrap() as usize], "bpf");
        assert_eq!(e[0].kind, b't');
        assert!(!k.addresses_hidden());
        let hidden =
            Kallsyms::parse("0000000000000000 T schedule\n0000000000000000 T x\n").unwrap();
        assert!(hidden.addresses_hidden());
        assert!(Kallsyms::parse("zz T x\n").is_err());
        assert!(Kallsyms::parse("ffff T x junk\n").is_err());
    }
}
