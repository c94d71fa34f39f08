//! After dropping everything, nothing of ours remains: no bpf/perf fds in the process,
//! no program in the kernel. Its own test binary, so no other test's fds interfere.

mod common;

use common::*;
use corebpf::{Loader, RingBufferBuilder};

#[test]
fn dropping_everything_releases_everything() {
    setup();
    let fds_before = bpf_and_perf_fds();
    let mut prog_ids = Vec::new();
    let mut map_ids = Vec::new();
    {
        let obj = Loader::new()
            .load_file(prog("hello.bpf.o"))
            .expect("loading hello");
        for p in obj.programs() {
            prog_ids.push(p.info().unwrap().id);
        }
        for m in obj.maps() {
            map_ids.push(m.info().unwrap().id);
        }
        let links = obj.attach_all().expect("attaching");
        assert!(!links.is_empty());
        let mut events = 0;
        let mut ring = RingBufferBuilder::new()
            .add(obj.map("events").unwrap(), |_| {
                events += 1;
                0
            })
            .build()
            .unwrap();
        let got = poll_until(
            &mut ring,
            25,
            || {
                exec_true(None);
            },
            || true,
        );
        assert!(got);
        drop(ring);
        assert!(
            bpf_and_perf_fds().len() > fds_before.len(),
            "loading opened no fds?"
        );
        drop(links);
    }
    assert_eq!(bpf_and_perf_fds(), fds_before, "bpf/perf fds left open");
    // The kernel frees programs and maps asynchronously (RCU); give it a moment,
    // bounded, then require them gone.
    // Asked with raw bpf(2) (tests/common/raw_bpf.rs), not through the library.
    let gone = |ids: &[u32], get: fn(u32) -> std::io::Result<std::os::fd::OwnedFd>| {
        ids.iter().all(|&id| get(id).is_err())
    };
    let mut ok = false;
    for _ in 0..100 {
        if gone(&prog_ids, raw_bpf::prog_get_fd_by_id) && gone(&map_ids, raw_bpf::map_get_fd_by_id)
        {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        ok,
        "the kernel still lists programs {prog_ids:?} or maps {map_ids:?}"
    );
}
