//! Small helpers shared across layers.

use std::cmp::Ordering;
use std::error::Error;
use std::fmt;

/// An error and its causes on one line, joined with `: ` (as anyhow's `{:#}`), for log
/// lines and for error text kept as a string: each error's own message describes only
/// its layer, so its `Display` alone would drop the causes.
pub(crate) struct Chain<'a>(pub &'a dyn Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// Stable sort of `v` by `cmp`, sharing one sorting routine among all element types.
///
/// The standard library's stable sort is instantiated per element type and comparator,
/// about 6 KiB of machine code each; a process that loads one object runs a dozen of them
/// (func/line info, relocations, symbols, externs, modules), and the code pages they touch
/// count against its peak RSS. Here the comparison goes through one `dyn` comparator over
/// indices, so only the permutation is generic. Input that is already in order, the usual
/// case for records read from an ELF section, is only scanned.
///
/// Kept because bench case 6 (peak RSS loading an object, target: at most libbpf's)
/// needs it, measured for issue 10: with std's sort at the 14 call sites `rss-corebpf`
/// has 44.7 KB more text and about 50 KiB more peak RSS (hello.bpf.o 2,400 → 2,452 kB,
/// task_state.bpf.o 2,912 → 2,960 kB), and corebpf/libbpf goes from 0.981 to 0.999
/// for task_state (61 rounds), about 1.01 in direct alternating runs of both builds.
pub(crate) fn sort_by<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    if v.windows(2).all(|w| cmp(&w[0], &w[1]) != Ordering::Greater) {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    let items: &[T] = v;
    sort_indices(&mut order, &|a, b| cmp(&items[a], &items[b]));
    let mut slots: Vec<Option<T>> = std::mem::take(v).into_iter().map(Some).collect();
    v.extend(order.iter().filter_map(|&i| slots[i].take()));
}

/// [`sort_by`] with a key, as `slice::sort_by_key`.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)))
}

/// The one instantiation of the standard stable sort behind [`sort_by`].
#[inline(never)]
fn sort_indices(order: &mut [usize], cmp: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_like_the_standard_sort() {
        // Pseudo-random keys with many ties; the payload records the original position.
        let mut x = 12345u32;
        let mut v: Vec<(u32, usize)> = (0..500)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) % 17, i)
            })
            .collect();
        let mut want = v.clone();
        want.sort_by_key(|e| e.0);
        sort_by_key(&mut v, |e| e.0);
        assert_eq!(v, want);
    }

    #[test]
    fn leaves_sorted_and_short_input_alone() {
        let mut v = vec![1, 2, 2, 3];
        sort_by(&mut v, |a: &i32, b| a.cmp(b));
        assert_eq!(v, [1, 2, 2, 3]);
        let mut e: Vec<String> = Vec::new();
        sort_by_key(&mut e, |s| s.len());
        assert!(e.is_empty());
        let mut r = vec!["b".to_string(), "a".to_string()];
        sort_by(&mut r, |a, b| a.cmp(b));
        assert_eq!(r, ["a", "b"]);
    }
}
