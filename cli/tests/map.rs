//! `corebpf map`: maps this test loads (a hash with a struct value, an array, a per-CPU
//! hash) and one bpftool creates in another process, read back through the command's
//! list/show/dump/lookup (text and --json) and written with update/delete; its errors
//! for an unknown map, a key of the wrong size and a value out of range.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use corebpf::{Loader, MapFlags, ObjectSpec};

fn run(args: &[&str]) -> Output {
    corebpf()
        .args(["map"])
        .args(args)
        .output()
        .expect("running corebpf")
}

/// Stdout of a command that must succeed.
fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "corebpf map {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Stderr of a command that must fail.
fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "corebpf map {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn load() -> corebpf::Object {
    setup();
    let spec = ObjectSpec::from_file(&prog("map_dump.bpf.o")).unwrap();
    Loader::new().load(&spec).expect("loading map_dump.bpf.o")
}

fn id_of(obj: &corebpf::Object, name: &str) -> String {
    obj.map(name).unwrap().info().unwrap().id.to_string()
}

/// `struct record` of map_dump.bpf.c, as bytes.
fn record(
    id: u32,
    comm: &[u8],
    (a, b): (u32, u32),
    counts: [u32; 3],
    colour: u32,
    (lo, hi): (u32, u32),
) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    let mut c = [0u8; 8];
    c[..comm.len()].copy_from_slice(comm);
    v.extend_from_slice(&c);
    for x in [
        a,
        b,
        counts[0],
        counts[1],
        counts[2],
        colour,
        lo | (hi << 4),
    ] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

#[test]
fn dump_formats_structs_through_btf() {
    let obj = load();
    let map = obj.map("records").unwrap();
    let rec = record(5, b"bash", (1, 2), [10, 11, 12], 7, (3, 21));
    map.update(&5u32.to_le_bytes(), &rec, MapFlags::ANY)
        .unwrap();
    let rec = record(6, b"a\"b", (0, 4), [0, 0, 1], 2, (15, 4095));
    map.update(&6u32.to_le_bytes(), &rec, MapFlags::ANY)
        .unwrap();
    let id = id_of(&obj, "records");

    let text = ok(&["dump", &id]);
    let want5 =
        "key: 5  value: id=5 comm=\"bash\" in={a=1 b=2} counts=[10,11,12] colour=BLUE lo=3 hi=21";
    let want6 = "key: 6  value: id=6 comm=\"a\\\"b\" in={a=0 b=4} counts=[0,0,1] colour=GREEN lo=15 hi=4095";
    assert!(text.lines().any(|l| l == want5), "{text}");
    assert!(text.lines().any(|l| l == want6), "{text}");
    assert!(text.ends_with("Found 2 elements\n"), "{text}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(&["dump", "--json", "id", &id])).unwrap();
    let entries = json.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let e5 = entries.iter().find(|e| e["key"] == "5").unwrap();
    assert_eq!(e5["value"], want5.split_once("value: ").unwrap().1);

    let one = ok(&["lookup", &id, "key", "6"]);
    assert_eq!(one.trim_end(), want6);
    let missing = fails(&["lookup", &id, "key", "7"]);
    assert!(missing.contains("no such key"), "{missing}");
}

#[test]
fn array_and_percpu_typed_update_lookup_delete() {
    let obj = load();
    let totals = id_of(&obj, "totals");
    ok(&["update", &totals, "key", "2", "value", "0x10"]);
    let v = obj
        .map("totals")
        .unwrap()
        .lookup(&2u32.to_le_bytes(), MapFlags::ANY)
        .unwrap()
        .unwrap();
    assert_eq!(v, 16u64.to_le_bytes());
    let j: serde_json::Value =
        serde_json::from_str(&ok(&["lookup", "--json", &totals, "key", "2"])).unwrap();
    assert_eq!(j, serde_json::json!({"key": "2", "value": "16"}));
    // An array always has max_entries elements.
    assert!(ok(&["dump", &totals]).ends_with("Found 4 elements\n"));

    let pc = id_of(&obj, "per_cpu");
    ok(&["update", &pc, "key", "3", "value", "42"]);
    let cpus = corebpf::map::possible_cpus().unwrap() as usize;
    let text = ok(&["dump", &pc]);
    let mut want = "key: 3\n".to_string();
    for c in 0..cpus {
        want += &format!("\tcpu{c}: 42\n");
    }
    want += "Found 1 element\n";
    assert_eq!(text, want);
    let j: serde_json::Value = serde_json::from_str(&ok(&["dump", "--json", &pc])).unwrap();
    let values = j[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), cpus);
    assert_eq!(
        values[cpus - 1],
        serde_json::json!({"cpu": cpus - 1, "value": "42"})
    );

    ok(&["delete", &pc, "key", "3"]);
    assert_eq!(ok(&["dump", &pc]), "Found 0 elements\n");
    assert!(fails(&["delete", &pc, "key", "3"]).contains("no such key"));
}

#[test]
fn show_and_list_report_info_and_holders() {
    let obj = load();
    let id = id_of(&obj, "records");
    let text = ok(&["show", &id]);
    let me = format!("map-{}", std::process::id());
    assert!(
        text.starts_with(&format!(
            "{id}: hash  name records  flags 0x0\n\tkey 4B  value 40B  max_entries 16\n\tbtf_id "
        )),
        "{text}"
    );
    // This test process holds the map's fd.
    assert!(
        text.contains(&format!("({})", std::process::id())),
        "{text} ({me})"
    );

    let j: serde_json::Value = serde_json::from_str(&ok(&["show", "--json", &id])).unwrap();
    assert_eq!(j["name"], "records");
    assert_eq!(j["type"], "hash");
    assert_eq!(j["key_size"], 4);
    assert_eq!(j["value_size"], 40);
    assert_eq!(j["max_entries"], 16);
    assert_ne!(j["btf_id"], 0);
    assert_ne!(j["btf_value_type_id"], 0);
    let pids = j["pids"].as_array().unwrap();
    assert!(pids.iter().any(|p| p["pid"] == std::process::id()), "{j}");

    let list: serde_json::Value = serde_json::from_str(&ok(&["list", "--json"])).unwrap();
    for name in ["records", "totals", "per_cpu"] {
        let want = id_of(&obj, name).parse::<u64>().unwrap();
        let m = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == want)
            .unwrap();
        assert_eq!(m["name"], name);
    }
    assert!(ok(&["list"]).contains(&format!(
        "{}: percpu_hash  name per_cpu",
        id_of(&obj, "per_cpu")
    )));
}

/// A bpffs pin removed on drop.
struct Pin(PathBuf);

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn bpffs() -> PathBuf {
    let root = Path::new("/sys/fs/bpf");
    if !corebpf::fs::is_bpffs(root) {
        corebpf::fs::mount_bpffs(root).expect("mounting bpffs");
    }
    root.to_path_buf()
}

#[test]
fn map_of_another_process_without_btf_is_hex() {
    setup();
    let name = format!("cbm{}", std::process::id() % 1_000_000);
    let pin = Pin(bpffs().join(&name));
    let p = pin.0.to_str().unwrap();
    let st = Command::new("bpftool")
        .args([
            "map", "create", p, "type", "hash", "key", "4", "value", "8", "entries", "16", "name",
            &name,
        ])
        .status()
        .expect("running bpftool");
    assert!(st.success());
    let st = Command::new("bpftool")
        .args([
            "map", "update", "pinned", p, "key", "1", "0", "0", "0", "value", "1", "2", "3", "4",
            "5", "6", "7", "0xff",
        ])
        .status()
        .unwrap();
    assert!(st.success());

    let line = "key: 01 00 00 00  value: 01 02 03 04 05 06 07 ff";
    assert_eq!(
        ok(&["dump", "name", &name]),
        format!("{line}\nFound 1 element\n")
    );
    let j: serde_json::Value = serde_json::from_str(&ok(&["dump", "--json", "pinned", p])).unwrap();
    assert_eq!(
        j,
        serde_json::json!([{"key": "01 00 00 00", "value": "01 02 03 04 05 06 07 ff"}])
    );
    let show: serde_json::Value =
        serde_json::from_str(&ok(&["show", "--json", "pinned", p])).unwrap();
    assert_eq!(show["name"], name.as_str());
    assert_eq!(show["btf_id"], 0);

    // Hex writes; typed text needs BTF.
    ok(&[
        "update",
        "pinned",
        p,
        "key",
        "hex",
        "02",
        "00",
        "00",
        "00",
        "value",
        "hex",
        "0x0a0b0c0d0e0f1011",
    ]);
    assert_eq!(
        ok(&["lookup", "pinned", p, "key", "hex", "02000000"]),
        "key: 02 00 00 00  value: 0a 0b 0c 0d 0e 0f 10 11\n"
    );
    let e = fails(&["lookup", "pinned", p, "key", "2"]);
    assert!(e.contains("no BTF type"), "{e}");
}

#[test]
fn errors_name_what_is_wrong() {
    let obj = load();
    let e = fails(&["show", "name", "no_such_map_x"]);
    assert!(e.contains("no map named 'no_such_map_x'"), "{e}");
    let e = fails(&["dump", "4294967295"]);
    assert!(e.contains("No such file"), "{e}");
    let e = fails(&["show", "seven"]);
    assert!(e.contains("'seven' is not a map id"), "{e}");
    let id = id_of(&obj, "records");
    let e = fails(&["lookup", &id, "key", "hex", "01", "02"]);
    assert!(e.contains("2 bytes given, the map's are 4"), "{e}");
    let totals = id_of(&obj, "totals");
    let e = fails(&[
        "update",
        &totals,
        "key",
        "1",
        "value",
        "18446744073709551616",
    ]);
    assert!(e.contains("out of range"), "{e}");
    let e = fails(&["update", &totals, "key", "1"]);
    assert!(e.contains("no value given"), "{e}");
}
