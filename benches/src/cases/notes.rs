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
            "Seen in `corebpf load multi.bpf.o`: for the QUEUE map corebpf first passes BTF \
             key/value ids, gets EINVAL and retries without them (a wasted BPF_MAP_CREATE and a \
             warning). libbpf never sends BTF ids for queue, stack, perf-event-array, \
             stack-trace and map-in-map types; doing the same (loader `create_map`) removes a \
             syscall per such map.",
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
            "aya's `RingBuf::next` returns an item whose drop publishes the consumer position; \
             its per-record cost is about 3× libbpf's here.",
        ],
        5 => &[
            "The \"batch ≥ 5× per-element\" target is out of reach for any library on this \
             kernel: `libbpf batch / libbpf per-element` is about the same ratio as corebpf's. \
             Profile (perf, `--cases 5`): batch time is in the kernel, \
             `__htab_map_lookup_and_delete_batch` (per-bucket locking, `copy_to_user` per \
             bucket, `kvmalloc` of the bounce buffers), about 200 ns of CPU per element; a \
             per-element lookup is about 900 ns (syscall entry, `lookup_nulls_elem_raw`, \
             copies). A larger batch only removes syscall entries (25 per pass at 4,096), a few \
             microseconds in all.",
            "corebpf batch vs libbpf batch: at first about 1.04–1.09 in repeated runs (CPU \
             time too). Two causes, both fixed: `Map::lookup_batch` returns new `Vec`s on every \
             call, so each pass faulted in about 1.2 MB of fresh pages (costly in this VM) and \
             copied each batch out of a bounce buffer — `Map::lookup_batch_into` now fills \
             caller-owned buffers, as libbpf's API does (1.045 → 1.017); and this benchmark \
             itself allocated corebpf's buffers inside each iteration while libbpf's arrays \
             were allocated once for the whole case, so every corebpf sample still paid about \
             300 page faults (about 10 ns per element). With both systems' buffers allocated \
             once, the ratio is about 0.99 and the per-element paths 1.00.",
        ],
        6 => &[
            "Peak RSS is dominated by what every process maps (libc, ld.so, the binary's \
             touched pages: `baseline`). The differences between corebpf and libbpf are in \
             RssFile — the executable's touched code pages — not in the heap: for hello both \
             heaps are the same size. With `lto = \"fat\"` and `codegen-units = 1` in \
             `[profile.release]` the corebpf binary's text shrinks from 1.02 MB to 0.91 MB and \
             its peak RSS by 100–160 KiB (one measurement: hello 2644 → 2528 KiB, task_state \
             3156 → 2996 KiB, against libbpf's 2460 and 3092 KiB): task_state then meets the \
             target, hello stays about 3% (70 KiB) above libbpf.",
            "For the CO-RE object corebpf keeps the parsed kernel BTF (type offset index, about \
             0.5 MB) for the life of the process, shared by later loads; libbpf frees its copy \
             after loading, so its RssAnon at exit is lower while its peak is similar.",
            "aya parses the whole kernel BTF into owned types (about 27 MB of heap) even for \
             hello, because `EbpfLoader` always reads it.",
        ],
        7 => &[
            "Both are whole processes on a warm page cache: exec, dynamic linking, reading the \
             object, BTF and map creation, one PROG_LOAD, output. bpftool also pins (bpffs); \
             the `--pin` row is the like-for-like comparison. Debian's bpftool bundles \
             libbpf 1.1.",
        ],
        _ => &[],
    }
}
