//! What `#[derive(Pod)]` accepts, and that the values it makes read and write right.

use corebpf::Pod;

/// hello.bpf.c's `struct event`: 4 + 4 + 16 + 256 bytes.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Event {
    pid: u32,
    uid: u32,
    comm: [u8; 16],
    filename: [u8; 256],
}

/// Padding made explicit is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Pod)]
#[repr(C)]
struct Flagged {
    flag: u8,
    _pad: [u8; 3],
    pid: u32,
}

/// Packed: no padding whatever the field order.
#[derive(Clone, Copy, Pod)]
#[repr(C, packed)]
struct Packed {
    flag: u8,
    value: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Pod)]
#[repr(transparent)]
struct Pid(u32);

/// A derived struct is itself a `Pod` field.
#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Nested {
    event: Flagged,
    pids: [Pid; 2],
}

#[test]
fn a_derived_struct_reads_its_fields_from_a_record() {
    let mut record = vec![0u8; 280];
    record[0..4].copy_from_slice(&7u32.to_ne_bytes());
    record[4..8].copy_from_slice(&1000u32.to_ne_bytes());
    record[8..12].copy_from_slice(b"bash");
    record[24..33].copy_from_slice(b"/bin/true");
    let e = Event::from_bytes(&record).unwrap();
    assert_eq!((e.pid, e.uid), (7, 1000));
    assert_eq!(&e.comm[..5], b"bash\0");
    assert_eq!(&e.filename[..10], b"/bin/true\0");
    assert_eq!(e.as_bytes(), &record[..]);
    let err = Event::from_bytes(&record[..279]).err().unwrap().to_string();
    assert!(err.contains("280") && err.contains("279"), "{err}");
}

#[test]
fn explicit_padding_packed_transparent_and_nested_structs_are_pod() {
    let f = Flagged {
        flag: 1,
        _pad: [0; 3],
        pid: 0x0102_0304,
    };
    assert_eq!(Flagged::from_bytes(f.as_bytes()), Ok(f));
    let p = Packed {
        flag: 9,
        value: u64::MAX - 1,
    };
    assert_eq!(p.as_bytes().len(), 9);
    let back = Packed::from_bytes(p.as_bytes()).unwrap();
    assert_eq!(({ back.flag }, { back.value }), (9, u64::MAX - 1));
    assert_eq!(Pid::from_bytes(&5u32.to_ne_bytes()), Ok(Pid(5)));
    let n = Nested {
        event: f,
        pids: [Pid(1), Pid(2)],
    };
    let back = Nested::from_bytes(n.as_bytes()).unwrap();
    assert_eq!((back.event, back.pids), (f, [Pid(1), Pid(2)]));
}
