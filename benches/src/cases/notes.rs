//! Analysis notes printed under each case in BENCHMARKS.md: what profiles (perf) showed,
//! and why a target is met or missed. Written by people; update them when the numbers
//! move. The tables above them are measured on every run; these words are not.

/// The notes of case `id`.
pub fn notes(id: u32) -> &'static [&'static str] {
    match id {
        1 => &[
            "Why: corebpf maps /sys/kernel/btf/vmlinux (Linux 6.16+), records type offsets in \
             one pass and hashes names into an index built lazily on the first lookup, so 100 \
             lookups cost 100 hash probes. libbpf 1.7 also maps the file, but \
             `btf__find_by_name_kind` is a linear scan comparing names over every type (about \
             126,000 here) for each lookup: most of its time is the 100 scans. aya parses every \
             type into owned structures first.",
        ],
        2 => &[
            "Profile (perf, `--cases 2`): libbpf's time is its candidate search, \
             `bpf_core_add_cands` → `bpf_core_essential_name_len`/`btf_type_by_id`, which walks \
             every kernel type for each local type; corebpf walks the kernel types once \
             (`reloc::core::cands::scan_target`, `Buckets::build`) and then looks candidates up \
             by essential name; aya's time is `relocate_btf_functions` and name handling \
             (`flavorless_name`, lossy UTF-8 conversions).",
            "The object has no bpf_core_type_matches(): aya 0.14 rejects an object containing \
             that relocation kind (`InvalidRelocationKind { kind: 12 }`), which would have left \
             it out of the comparison.",
        ],
        3 => &[
            "The verifier runs in the loading thread, so CPU time includes it; the kernel work \
             (verifier, map creation) is the same for every system. corebpf parses the kernel \
             BTF once per process and shares it; the `BTF re-read` row shows the cost without \
             that cache, which is how libbpf and aya work.",
            "Fixed on the way (seen in `corebpf load multi.bpf.o`): for the QUEUE map corebpf \
             used to pass BTF key/value ids, get EINVAL and retry without them, a wasted \
             BPF_MAP_CREATE and a warning. Like libbpf, the loader now sends no BTF ids for \
             queue, stack, perf-event-array, stack-trace and map-in-map types.",
            "No fentry/fexit programs: on this kernel (a Firecracker guest build of 6.18) \
             BPF_PROG_LOAD refuses them with EPERM for libbpf and corebpf alike.",
        ],
        4 => &[
            "Measured before/after a patch to `RingbufMapping::consume` (src/sys/mmap.rs): \
             without it corebpf drained at about 1.04–1.12× libbpf's time per event in repeated runs (CPU \
             too), a miss of up to 12%; the patched loop measured 0.99× in the same runs. \
             Profile (perf annotate): the loop called `record_at` per record, which re-reads \
             the consumer and producer positions and bounds-checks each header and sample \
             through `MmapRegion::atomic_u32`/`slice`; the patch resolves the positions and the \
             data area once per pass, as libbpf's `ringbuf_process_ring` does, keeping the \
             per-record corruption checks (length within the ring, record within the producer \
             position). The hottest instruction left is the load of each record's header, a \
             cache miss for every system.",
            "Then a prefetch (`RingbufMapping::consume`): records are read in order, but the \
             hardware prefetcher stops at page boundaries, so every new page of a 12 MB \
             backlog stalled on its page walk and first line, for libbpf as for corebpf. \
             corebpf now prefetches committed data 8 KiB ahead (never past the producer \
             position). Same-run ratios over 41 rounds: 0.96–1.00 without, 0.83–0.94 with \
             it; 2 KiB ahead gave 0.99, 16 KiB 0.91.",
            "aya's `RingBuf::next` returns an item whose drop publishes the consumer position; \
             its per-record cost is about 3× libbpf's here.",
        ],
        5 => &[
            "The \"batch ≥ 5× per-element\" target is out of reach for any library on this \
             kernel: `libbpf batch / libbpf per-element` is the same ratio as corebpf's \
             (0.30–0.35 in every run). Profile (`perf record -e cpu-clock` of `--cases 5`): \
             the time is in the kernel — `lookup_nulls_elem_raw` and syscall entry for the \
             single lookups (about 850 ns each, costly syscalls in this VM), \
             `__htab_map_lookup_and_delete_batch` with per-bucket locking, `copy_to_user` \
             per bucket (131,072 buckets for 100,000 entries) and the `kvmalloc`/`kfree` of \
             its bounce buffers for the batches (about 260–300 ns per element); user space \
             is the `syscall` instruction itself. A larger batch only removes syscall entries \
             (25 per pass at 4,096), a few microseconds in all.",
            "corebpf batch vs libbpf batch: at first about 1.04–1.09 in repeated runs (CPU \
             time too). Two causes, both fixed: `Map::lookup_batch` returns new `Vec`s on every \
             call, so each pass faulted in about 1.2 MB of fresh pages (costly in this VM) and \
             copied each batch out of a bounce buffer — `Map::lookup_batch_into` now fills \
             caller-owned buffers, as libbpf's API does (1.045 → 1.017); and this benchmark \
             itself allocated corebpf's buffers inside each iteration while libbpf's arrays \
             were allocated once for the whole case, so every corebpf sample still paid about \
             300 page faults (about 10 ns per element). With both systems' buffers allocated \
             once, repeated runs give 0.99–1.01 (interquartile ranges about ±5%): a tie. \
             Since then each call also asks for no more than the map can still hold, so a \
             pass into buffers that held the map before zeroes nothing (it re-zeroed 4,096 \
             entries per pass). What is left is the kernel's: a pass is the same `bpf()` \
             calls with the same arguments into the same kind of arrays, 99% of the time \
             inside them, so these rows are ties and their medians land within the \
             interquartile spread on either side of 1.",
            "Per element: corebpf's single lookups were 4–5% slower than libbpf's (about 22 ns \
             per call) with the same work, for want of inlining: the kernel's own calls leave \
             the CPU's return predictor holding none of the caller's frames, so every frame \
             between a loop and the `syscall` instruction returns mispredicted (four extra \
             frames measured 1.054× a bare loop). `sys::syscall` now issues `bpf(2)` itself, \
             inlined with the element functions above it, so a cursor step's two calls sit \
             in one function: per-element reads went from 1.043–1.051 to 0.96–0.98.",
        ],
        6 => &[
            "Peak RSS is dominated by what every process maps (libc, ld.so, the binary's \
             touched code pages: `baseline`); run an `rss-*` binary with `RSS_SMAPS=1` to see \
             each mapping. Heaps are alike (for task_state both hold the kernel BTF's type \
             offset table, about 500 KB; the file itself is mapped from sysfs and not \
             counted). The difference was the executable: nearly every page of its text ends \
             up resident (the kernel maps file pages around each fault), and rss-corebpf's \
             text was 849 KB against rss-libbpf's 575 KB (libbpf's own share is about \
             190 KB, plus libelf and zlib).",
            "What closed it: one shared stable sort for the loader's record tables instead of \
             a dozen instantiations of the standard one (849 → 790 KB of text), and \
             `opt-level = \"s\"` for the corebpf package in the workspace's release profile \
             (→ 710 KB; fat LTO keeps the per-package level). Measured with 21 alternating \
             runs of each binary: hello 1.030 → 0.998 → 0.974, task_state 1.009 → 1.011 → \
             0.972. Also for task_state: the loader no longer reads module BTFs when vmlinux \
             has candidates that merely don't match (task_struct___old.state), as libbpf.",
            "aya parses the whole kernel BTF into owned types (about 27 MB of heap) even for \
             hello, because `EbpfLoader` always reads it.",
        ],
        7 => &[
            "Both are whole processes on a warm page cache: exec, dynamic linking, reading the \
             object, BTF and map creation, one PROG_LOAD, output. bpftool also pins (bpffs); \
             the `--pin` row is the like-for-like comparison. Debian's bpftool bundles \
             libbpf 1.1.",
        ],
        8 => &[
            "Where the time goes (strace -T, 6.18): both libraries make the same calls per \
             uprobe (open libc, read its header, section table, .dynsym, .dynstr and the \
             version sections, perf_event_open on the uprobe PMU, BPF_LINK_CREATE); libbpf \
             also re-reads the PMU type from sysfs. perf_event_open registers the uprobe and \
             writes its breakpoint into every process that maps libc: about 0.13 ms of system \
             CPU per probe, the same for both, and most of each library's thread CPU time.",
            "The first uprobe registered after a quiet spell also waits for an RCU grace \
             period (percpu_down_write on the kernel's dup_mmap_sem, 7-20 ms here); the ones \
             that follow within a grace period don't. Without controlling this, whichever \
             library ran first in a round paid the wait, so each measurement now starts \
             from a stated state: quiet (a tool starting up) or warm.",
            "So the target (≤ 0.5× libbpf's time) is out of reach for any user-space \
             library: with its own work at zero, corebpf would still spend the kernel's \
             ~6.5 ms per 50 probes (plus the grace period from a quiet start) of libbpf's \
             ~7.5 ms. The libraries' own difference shows in the warm table.",
        ],
        _ => &[],
    }
}
