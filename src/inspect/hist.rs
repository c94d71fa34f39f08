//! Histogram maps printed as BCC's `print_log2_hist` and `print_linear_hist` print them.
//!
//! A histogram map holds one counter per bucket, keyed by bucket index: an array of
//! `u64` (or `u32`) slots, or a hash keyed by a `u32` or `u64` index. Per-CPU maps are
//! summed over the CPUs. Log2 buckets are numbered as BCC's `bpf_log2l()` numbers
//! them: slot 1 holds 0 and 1, slot `i >= 2` holds `[2^(i-1), 2^i - 1]` (slot 0 is not
//! printed, as BCC does not print it).

use std::io::{self, Write};

use crate::map::{Map, MapError, MapFlags};

/// Log2 buckets: BCC's `log2_index_max`.
pub const LOG2_SLOTS: usize = 65;
/// Linear buckets: keys at or above this are rejected rather than allocated.
pub const LINEAR_SLOTS: usize = 1 << 20;
/// Width of the bar of stars (BCC's `stars_max`).
const STARS_MAX: u64 = 40;

/// Errors reading a histogram out of a map.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistError {
    /// The map's key or value is not one a histogram has.
    #[error("map '{map}' is not a histogram: {reason}")]
    Layout {
        /// The map's name.
        map: String,
        /// What does not fit.
        reason: String,
    },
    /// A bucket index is beyond the buckets the kind of histogram has.
    #[error("map '{map}' has bucket {index}, beyond the {max} buckets of its histogram")]
    Bucket {
        /// The map's name.
        map: String,
        /// The bucket index found.
        index: u64,
        /// How many buckets there may be.
        max: usize,
    },
    /// Reading the map failed.
    #[error("reading histogram map")]
    Map(#[from] MapError),
}

/// One counter per bucket, indexed by bucket.
///
/// # Examples
///
/// ```
/// use corebpf::inspect::Histogram;
///
/// let hist = Histogram::from_slots(vec![0, 3, 1]);
/// let mut out = Vec::new();
/// hist.write_log2(&mut out, "usecs")?;
/// assert!(String::from_utf8(out).unwrap().contains("0 -> 1"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    slots: Vec<u64>,
}

impl Histogram {
    /// A histogram of these counters, bucket `i` at index `i`.
    pub fn from_slots(slots: Vec<u64>) -> Histogram {
        Histogram { slots }
    }

    /// Reads a histogram map (see the module doc for the layouts); `max_slots` bounds
    /// the bucket index ([`LOG2_SLOTS`] or [`LINEAR_SLOTS`]).
    pub fn from_map(map: &Map, max_slots: usize) -> Result<Histogram, HistError> {
        let def = map.def();
        let layout = |reason: String| HistError::Layout {
            map: map.name().to_string(),
            reason,
        };
        if def.key_size != 4 && def.key_size != 8 {
            return Err(layout(format!(
                "its key is {} bytes, not a u32 or u64 bucket index",
                def.key_size
            )));
        }
        if def.value_size != 4 && def.value_size != 8 {
            return Err(layout(format!(
                "its value is {} bytes, not a u32 or u64 counter",
                def.value_size
            )));
        }
        let mut slots: Vec<u64> = Vec::new();
        for key in map.keys() {
            let key = key?;
            let Some(value) = map.lookup(&key, MapFlags::ANY)? else {
                continue; // deleted meanwhile
            };
            let index = le_uint(&key);
            if index >= max_slots as u64 {
                return Err(HistError::Bucket {
                    map: map.name().to_string(),
                    index,
                    max: max_slots,
                });
            }
            let count = sum_counters(&value, def.value_size as usize, map.map_type().is_percpu());
            let index = index as usize;
            if slots.len() <= index {
                slots.resize(index + 1, 0);
            }
            slots[index] = slots[index].saturating_add(count);
        }
        Ok(Histogram { slots })
    }

    /// The counters, bucket `i` at index `i` (trailing buckets may be missing).
    pub fn slots(&self) -> &[u64] {
        &self.slots
    }

    /// The sum of all counters, slot 0 included.
    pub fn total(&self) -> u64 {
        self.slots.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }

    /// Writes the histogram as BCC's `print_log2_hist(val_type)` prints it: a header
    /// naming `val_type`, then one line per bucket up to the last non-empty one, each
    /// with its range, count and a bar of up to 40 stars scaled to the largest count.
    /// Writes nothing when no bucket above 0 has a count.
    pub fn write_log2(&self, out: &mut impl Write, val_type: &str) -> io::Result<()> {
        let (idx_max, val_max) = self.extent();
        let Some(idx_max) = idx_max.filter(|&i| i > 0) else {
            return Ok(());
        };
        let wide = idx_max > 32;
        let stars = if wide { STARS_MAX / 2 } else { STARS_MAX };
        if wide {
            writeln!(
                out,
                "               {val_type:<29} : count     distribution"
            )?;
        } else {
            writeln!(out, "     {val_type:<19} : count     distribution")?;
        }
        for i in 1..=idx_max {
            let high = ((1u128 << i) - 1) as u64;
            let low = ((1u128 << i) >> 1) as u64;
            let low = if low == high { low - 1 } else { low };
            let val = self.slots[i];
            let bar = bar(val, val_max, stars);
            let width = stars as usize;
            if wide {
                writeln!(out, "{low:>20} -> {high:<20} : {val:<8} |{bar:<width$}|")?;
            } else {
                writeln!(out, "{low:>10} -> {high:<10} : {val:<8} |{bar:<width$}|")?;
            }
        }
        Ok(())
    }

    /// Writes the histogram as BCC's `print_linear_hist(val_type)` prints it: one line
    /// per bucket from 0 up to the last non-empty one. Writes nothing when empty.
    pub fn write_linear(&self, out: &mut impl Write, val_type: &str) -> io::Result<()> {
        let (idx_max, val_max) = self.extent();
        let Some(idx_max) = idx_max else {
            return Ok(());
        };
        writeln!(out, "     {val_type:<13} : count     distribution")?;
        let width = STARS_MAX as usize;
        for (i, &val) in self.slots[..=idx_max].iter().enumerate() {
            let bar = bar(val, val_max, STARS_MAX);
            writeln!(out, "        {i:<10} : {val:<8} |{bar:<width$}|")?;
        }
        Ok(())
    }

    /// The last non-empty bucket and the largest count.
    fn extent(&self) -> (Option<usize>, u64) {
        let idx_max = self.slots.iter().rposition(|&v| v > 0);
        let val_max = self.slots.iter().copied().max().unwrap_or(0);
        (idx_max, val_max)
    }
}

/// The map the kernel holds under `name` (its kernel name, at most 15 bytes); the
/// lowest id when several share it, `None` when none has it. Maps closed while
/// searching are skipped.
pub fn map_by_name(name: &str) -> Result<Option<Map>, MapError> {
    let mut id = 0;
    loop {
        let next = crate::sys::bpf::map_get_next_id(id).map_err(|source| MapError::Sys {
            map: format!("named '{name}'"),
            source,
        })?;
        let Some(next) = next else {
            return Ok(None);
        };
        id = next;
        if let Ok(m) = Map::from_id(id) {
            if m.kernel_name() == name {
                return Ok(Some(m));
            }
        }
    }
}

/// `floor(width * val / val_max)` stars, at most `width` (BCC's `_stars`).
fn bar(val: u64, val_max: u64, width: u64) -> String {
    if val_max == 0 {
        return String::new();
    }
    let n = (u128::from(width) * u128::from(val) / u128::from(val_max)).min(u128::from(width));
    "*".repeat(n as usize)
}

/// A little-endian unsigned integer of 4 or 8 bytes (host order on the hosts BPF runs).
fn le_uint(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    if cfg!(target_endian = "big") {
        u64::from_be_bytes(buf) >> (8 * (8 - n))
    } else {
        u64::from_le_bytes(buf)
    }
}

/// One counter, or for a per-CPU value the sum of the 8-byte-aligned per-CPU slots.
fn sum_counters(value: &[u8], size: usize, percpu: bool) -> u64 {
    if !percpu {
        return le_uint(&value[..size.min(value.len())]);
    }
    let stride = size.div_ceil(8) * 8;
    value
        .chunks(stride)
        .map(|c| le_uint(&c[..size.min(c.len())]))
        .fold(0u64, |a, b| a.saturating_add(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log2(slots: Vec<u64>, label: &str) -> String {
        let mut out = Vec::new();
        Histogram::from_slots(slots)
            .write_log2(&mut out, label)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn log2_matches_bcc() {
        // Expected text written out by hand from BCC's format strings.
        let text = log2(vec![0, 1, 4, 0, 2, 0, 0], "usecs");
        let want = "     usecs               : count     distribution\n\
\x20        0 -> 1          : 1        |**********                              |\n\
\x20        2 -> 3          : 4        |****************************************|\n\
\x20        4 -> 7          : 0        |                                        |\n\
\x20        8 -> 15         : 2        |********************                    |\n";
        assert_eq!(text, want);
    }

    #[test]
    fn log2_empty_prints_nothing() {
        assert_eq!(log2(vec![5, 0, 0], "x"), "");
        assert_eq!(log2(vec![], "x"), "");
    }

    #[test]
    fn log2_wide_above_slot_32() {
        let mut slots = vec![0; 34];
        slots[33] = 3;
        slots[1] = 1;
        let text = log2(slots, "ns");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "               ns                            : count     distribution"
        );
        assert_eq!(
            lines[33],
            "          4294967296 -> 8589934591           : 3        |********************|"
        );
        assert_eq!(lines.len(), 34);
    }

    #[test]
    fn linear_matches_bcc() {
        let mut out = Vec::new();
        Histogram::from_slots(vec![2, 0, 1, 0])
            .write_linear(&mut out, "ms")
            .unwrap();
        let want = "     ms            : count     distribution\n\
\x20       0          : 2        |****************************************|\n\
\x20       1          : 0        |                                        |\n\
\x20       2          : 1        |********************                    |\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn percpu_values_are_summed() {
        let mut v = Vec::new();
        for c in [1u32, 2, 3] {
            v.extend_from_slice(&c.to_le_bytes());
            v.extend_from_slice(&[0; 4]);
        }
        assert_eq!(sum_counters(&v, 4, true), 6);
        assert_eq!(sum_counters(&7u64.to_le_bytes(), 8, false), 7);
    }
}
