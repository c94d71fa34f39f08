//! The kernel-free parts of USDT attachment: probe sites from notes and segments
//! (prelink correction, file offsets, semaphores, absolute addresses), executable
//! mappings from `/proc/PID/maps`, spec id allocation, and the errors of programs
//! that can't attach.

use super::*;
use std::os::fd::OwnedFd;

fn note(name: &str, location: u64, base: u64, semaphore: u64, args: &str) -> UsdtNote {
    UsdtNote {
        provider: "prov".into(),
        name: name.into(),
        args: args.into(),
        location,
        base,
        semaphore,
    }
}

/// Code at 0x401000.. from file offset 0x1000, data at 0x404000.. from 0x3000.
const SEGMENTS: [Segment; 2] = [
    Segment {
        vaddr: 0x40_1000,
        memsz: 0x2000,
        offset: 0x1000,
        executable: true,
    },
    Segment {
        vaddr: 0x40_4000,
        memsz: 0x1000,
        offset: 0x3000,
        executable: false,
    },
];

#[test]
fn targets_get_file_offsets_and_semaphores() {
    let notes = [
        note("a", 0x40_1100, 0x40_2000, 0, "-4@%edi"),
        note("b", 0x40_1200, 0x40_2000, 0x40_4010, ""),
        note("a", 0x40_1300, 0x40_2000, 0, "8@%rax"),
    ];
    let t = collect_targets(&notes, &SEGMENTS, 0x40_2000, "prov", "a", None).unwrap();
    assert_eq!(
        t.iter()
            .map(|t| (t.abs_ip, t.rel_ip, t.sema_off))
            .collect::<Vec<_>>(),
        vec![(0x40_1100, 0x1100, 0), (0x40_1300, 0x1300, 0)]
    );
    let t = collect_targets(&notes, &SEGMENTS, 0x40_2000, "prov", "b", None).unwrap();
    assert_eq!((t[0].rel_ip, t[0].sema_off), (0x1200, 0x3010));
    assert!(collect_targets(&notes, &SEGMENTS, 0, "other", "a", None)
        .unwrap()
        .is_empty());

    // Prelinked: .stapsdt.base moved by 0x100 since the notes were written.
    let t = collect_targets(&notes, &SEGMENTS, 0x40_2100, "prov", "a", None).unwrap();
    assert_eq!((t[0].abs_ip, t[0].rel_ip), (0x40_1200, 0x1200));

    // Absolute addresses from the process's mapping, when asked.
    let mut seen = Vec::new();
    let mut abs = |rel: u64| {
        seen.push(rel);
        Ok(0x7f00_0000_0000 + rel)
    };
    let t = collect_targets(&notes, &SEGMENTS, 0, "prov", "a", Some(&mut abs)).unwrap();
    assert_eq!(t[1].abs_ip, 0x7f00_0000_1300);
    assert_eq!(seen, vec![0x1100, 0x1300]);
}

#[test]
fn sites_outside_their_segments_are_refused() {
    let in_data = [note("a", 0x40_4020, 0, 0, "")];
    assert!(matches!(
        collect_targets(&in_data, &SEGMENTS, 0, "prov", "a", None),
        Err(UsdtError::Segment {
            what: "probe site",
            addr: 0x40_4020,
            ..
        })
    ));
    let nowhere = [note("a", 0x10, 0, 0, "")];
    assert!(matches!(
        collect_targets(&nowhere, &SEGMENTS, 0, "prov", "a", None),
        Err(UsdtError::Segment { .. })
    ));
    let sema_in_code = [note("a", 0x40_1100, 0, 0x40_1800, "")];
    assert!(matches!(
        collect_targets(&sema_in_code, &SEGMENTS, 0, "prov", "a", None),
        Err(UsdtError::Segment {
            what: "semaphore",
            ..
        })
    ));
    let mut fail = |_| Err(UsdtError::NeedPid);
    let ok = [note("a", 0x40_1100, 0, 0, "")];
    assert!(matches!(
        collect_targets(&ok, &SEGMENTS, 0, "prov", "a", Some(&mut fail)),
        Err(UsdtError::NeedPid)
    ));
}

#[test]
fn executable_mappings_of_one_file() {
    let maps = "\
55d0a0000000-55d0a0001000 r--p 00000000 fe:01 1234      /tmp/x/demo
55d0a0001000-55d0a0002000 r-xp 00001000 fe:01 1234      /tmp/x/demo
55d0a0002000-55d0a0003000 r--p 00002000 fe:01 1234      /tmp/x/demo
7f0000000000-7f0000021000 r-xp 00028000 fe:01 99        /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000100000-7f0000101000 rw-p 00000000 00:00 0 
7f0000200000-7f0000201000 r-xp 00000000 fe:01 1234      /tmp/x/demo (deleted)
garbage line
";
    assert_eq!(
        exec_mappings(maps, Path::new("/tmp/x/demo")),
        vec![Mapping {
            start: 0x55d0_a000_1000,
            end: 0x55d0_a000_2000,
            offset: 0x1000
        }]
    );
    assert_eq!(
        exec_mappings(maps, Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6")).len(),
        1
    );
    assert!(exec_mappings(maps, Path::new("/tmp/x")).is_empty());
    assert!(exec_mappings("", Path::new("/tmp/x/demo")).is_empty());
}

#[test]
fn spec_ids_are_taken_last_freed_first_and_run_out() {
    let mut ids = SpecIds::default();
    assert_eq!(
        (ids.take(3), ids.take(3), ids.take(3)),
        (Some(0), Some(1), Some(2))
    );
    assert_eq!(ids.take(3), None);
    ids.give_back(&[1, 0]);
    assert_eq!(
        (ids.take(3), ids.take(3), ids.take(3)),
        (Some(0), Some(1), None)
    );
    assert_eq!(SpecIds::default().take(0), None);
}

fn dummy_usdt() -> Program {
    let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let kind = ProgramKind::from_section("usdt").unwrap();
    Program::new("on_probe".into(), "usdt".into(), kind, fd)
}

/// A USDT program of an object without `usdt.bpf.h`'s maps says so; so does one whose
/// maps are not shaped as usdt.bpf.h shapes them.
#[test]
fn programs_without_usdt_maps_say_so() {
    let mut p = dummy_usdt();
    let attach = |p: &Program| {
        Usdt::try_from(p)
            .unwrap()
            .attach("/bin/true", "prov", "name", Some(1), None)
            .unwrap_err()
    };
    let e = attach(&p);
    assert!(
        crate::util::Chain(&e).to_string().contains("usdt.bpf.h"),
        "{e}"
    );
    p.set_usdt(UsdtContext::for_maps(&[], true));
    let e = attach(&p);
    match &e {
        ProgramError::Usdt {
            source,
            program,
            target,
        } => {
            assert!(matches!(**source, UsdtError::NoUsdtMaps));
            assert_eq!(program, "on_probe");
            assert_eq!(target, "usdt /bin/true:prov:name (pid 1)");
        }
        other => panic!("{other:?}"),
    }
    let bad = UsdtContext(Err(Unusable::Bad("keys".into())));
    p.set_usdt(bad);
    let e = attach(&p);
    assert!(
        matches!(&e, ProgramError::Usdt { source, .. } if matches!(**source, UsdtError::BadUsdtMaps { .. })),
        "{e:?}"
    );
}
