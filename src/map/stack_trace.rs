//! Stack trace maps: [`StackTrace`], the stacks `bpf_get_stackid` records.

use super::iter::TypedKeys;
use super::ksyms::{KernelSymbol, KernelSymbols};
use super::typed::{check_type, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::sys::bpf::map_flags::STACK_BUILD_ID;

/// A stack trace map (`BPF_MAP_TYPE_STACK_TRACE`): `bpf_get_stackid(ctx, &map, flags)`
/// stores the current kernel stack (or, with `BPF_F_USER_STACK`, the user stack) and
/// returns its id; user space reads the stack's instruction addresses by that id.
///
/// Each value holds up to [`depth`](StackTrace::depth) addresses, innermost first;
/// [`get`](StackTrace::get) returns those that are set. Kernel addresses resolve to
/// function names with [`KernelSymbols`] ([`symbolize`](StackTrace::symbolize)).
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{KernelSymbols, StackTrace};
/// use corebpf::Loader;
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/maps_stack.bpf.o")?;
/// let stacks: StackTrace = obj.map("stacks").expect("stacks").try_into()?;
/// let ksyms = KernelSymbols::load().map_err(corebpf::MapError::from)?;
/// for id in stacks.ids() {
///     let id = id?;
///     for frame in stacks.symbolize(id, &ksyms)? {
///         match frame.symbol {
///             Some(s) => println!("  {:#x} {s}", frame.addr),
///             None => println!("  {:#x}", frame.addr),
///         }
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct StackTrace<'a> {
    map: &'a Map,
}

typed_view!(StackTrace, |map| {
    check_type(map, &[MapType::STACK_TRACE], "stack_trace")?;
    map.check("key", 4, map.def.key_size)?;
    if map.def.value_size % 8 != 0 || map.def.value_size == 0 {
        map.check(
            "value (a multiple of 8)",
            map.def.value_size as usize,
            map.def.value_size.next_multiple_of(8).max(8),
        )?;
    }
    Ok(())
});

/// One frame of a symbolized stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackFrame<'k> {
    /// The instruction address.
    pub addr: u64,
    /// The kernel symbol it falls in, if any.
    pub symbol: Option<KernelSymbol<'k>>,
}

impl StackTrace<'_> {
    /// The most frames a stack of this map holds (`value_size / 8`).
    pub fn depth(&self) -> u32 {
        self.map.def.value_size / 8
    }

    /// True when the map stores build ids and offsets (`BPF_F_STACK_BUILD_ID`) rather
    /// than addresses: read those with [`get_raw`](StackTrace::get_raw).
    pub fn has_build_ids(&self) -> bool {
        self.map.def.map_flags & STACK_BUILD_ID != 0
    }

    /// The addresses of stack `id`, innermost first; `None` if there is no such stack.
    pub fn get(&self, id: u32) -> Result<Option<Vec<u64>>, MapError> {
        if self.has_build_ids() {
            return Err(MapError::WrongType {
                map: self.map.name().to_string(),
                found: "stack_trace of build ids",
                expected: "stack_trace of addresses (read build ids with get_raw)",
            });
        }
        let Some(raw) = self.get_raw(id)? else {
            return Ok(None);
        };
        let ips = raw
            .chunks_exact(8)
            .map(|b| u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .take_while(|&ip| ip != 0)
            .collect();
        Ok(Some(ips))
    }

    /// The raw value of stack `id` (`struct bpf_stack_build_id`s for build-id maps).
    pub fn get_raw(&self, id: u32) -> Result<Option<Vec<u8>>, MapError> {
        self.map.lookup(&id.to_ne_bytes(), MapFlags::ANY)
    }

    /// Stack `id`'s addresses with the kernel symbols they fall in (user addresses
    /// have none); empty when there is no such stack.
    pub fn symbolize<'k>(
        &self,
        id: u32,
        ksyms: &'k KernelSymbols,
    ) -> Result<Vec<StackFrame<'k>>, MapError> {
        Ok(self
            .get(id)?
            .unwrap_or_default()
            .into_iter()
            .map(|addr| StackFrame {
                addr,
                symbol: ksyms.resolve(addr),
            })
            .collect())
    }

    /// Frees stack `id` (the kernel reuses an id only once it is freed, or when a
    /// program asks for `BPF_F_REUSE_STACKID`); false when absent.
    pub fn remove(&self, id: u32) -> Result<bool, MapError> {
        self.map.delete(&id.to_ne_bytes())
    }

    /// The ids of the stored stacks.
    pub fn ids(&self) -> TypedKeys<'_, u32> {
        TypedKeys::new(self.map)
    }
}
