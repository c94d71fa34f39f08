//! What a loader user sets around maps: `set_max_entries` and `set_global` before
//! load, global data as live views after it, and maps pinned by name shared between
//! loads (reused when compatible, refused with the differing property otherwise).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use corebpf::map::{GlobalData, HashMap};
use corebpf::{LoadError, Loader, Map, MapError, MapFlags, Object};

fn tid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

fn loader() -> Loader {
    setup();
    Loader::new().set_global("target_tid", &tid())
}

fn load(name: &str, loader: Loader) -> Result<Object, LoadError> {
    loader.load_file(prog(&format!("{name}.bpf.o")))
}

/// A pin root of this test's own under /sys/fs/bpf, removed with what is in it.
struct PinRoot(PathBuf);

impl PinRoot {
    fn new(test: &str) -> PinRoot {
        setup();
        let dir = Path::new("/sys/fs/bpf").join(format!("corebpf-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        PinRoot(dir)
    }
}

impl Drop for PinRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn set_max_entries_sizes_maps_and_names_what_is_wrong() {
    let obj = load("maps_kinds", loader().set_max_entries("hash", 4096)).unwrap();
    assert_eq!(obj.map("hash").unwrap().def().max_entries, 4096);
    assert_eq!(obj.map("hash").unwrap().info().unwrap().max_entries, 4096);
    assert_eq!(
        obj.map("array").unwrap().def().max_entries,
        8,
        "others as declared"
    );

    let e = load("maps_kinds", loader().set_max_entries("no_such_map", 1)).unwrap_err();
    assert!(
        matches!(&e, LoadError::NoSuchMap { name } if name == "no_such_map"),
        "{e}"
    );
    let e = load("maps_kinds", loader().set_max_entries(".bss", 2)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot set max_entries of map '.bss': a global data section is one value: its max_entries is 1"
    );
    // The kernel's refusal (an array of no entries) names the map.
    let e = load("maps_kinds", loader().set_max_entries("array", 0)).unwrap_err();
    assert!(
        matches!(&e, LoadError::MapCreate { map, .. } if map == "array"),
        "{e}"
    );
}

#[test]
fn set_global_is_typed_and_checks_names_and_sizes() {
    let obj = load("maps_globals", loader().set_global("factor", &5u64)).unwrap();
    assert_eq!(obj.rodata().unwrap().get::<u64>("factor").unwrap(), 5);
    let e = load("maps_globals", loader().set_global("factor", &5u32)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "global variable 'factor' is 8 bytes, but the value given is 4 bytes"
    );
    let e = load("maps_globals", loader().set_global("nope", &1u8)).unwrap_err();
    assert!(
        matches!(&e, LoadError::NoSuchGlobal { name, .. } if name == "nope"),
        "{e}"
    );
}

/// `.bss` in, `.bss` out, `.data`, a custom `.data.stats` and the frozen `.rodata`,
/// through the live views; the program runs on this thread's getppid(2).
#[test]
fn global_sections_are_live_views_rodata_is_frozen() {
    let obj = load("maps_globals", loader().set_global("factor", &10u64)).unwrap();
    let (bss, data, rodata) = (
        obj.bss().unwrap(),
        obj.data().unwrap(),
        obj.rodata().unwrap(),
    );
    let stats = obj.global_data(".data.stats").unwrap();
    assert!(bss.is_mapped() && data.is_mapped() && stats.is_mapped() && rodata.is_mapped());
    assert!(rodata.is_read_only() && !bss.is_read_only());
    let names: Vec<&str> = bss.variables().iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["input", "output"]);
    assert_eq!(
        data.get::<u64>("bias").unwrap(),
        7,
        "initial value from the object"
    );
    assert_eq!(stats.get::<u64>("runs").unwrap(), 100);

    let _link = obj.program("compute").unwrap().attach().unwrap();
    bss.set("input", &4u64).unwrap();
    data.set("bias", &2u64).unwrap();
    let _ = nix::unistd::getppid();
    assert_eq!(bss.get::<u64>("output").unwrap(), 4 * 10 + 2);
    assert_eq!(stats.get::<u64>("runs").unwrap(), 101);
    // The whole section as a struct laid out like it.
    let [input, output]: [u64; 2] = bss.read().unwrap();
    assert_eq!((input, output), (4, 42));
    // The view and the syscall path see the same memory.
    let via_syscall = obj
        .map(".bss")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
        .unwrap()
        .unwrap();
    assert_eq!(via_syscall[8..16], 42u64.to_ne_bytes());

    // Frozen: refused before any write, with the reason.
    let e = rodata.set("factor", &1u64).unwrap_err();
    assert!(matches!(e, MapError::ReadOnly { .. }), "{e}");
    assert!(e.to_string().contains("frozen"), "{e}");
    // Names and sizes are checked.
    let e = bss.get::<u32>("input").unwrap_err();
    assert_eq!(
        e.to_string(),
        "map '.bss': global variable 'input' is 8 bytes, the type used is 4"
    );
    assert!(matches!(
        bss.get::<u64>("nope"),
        Err(MapError::NoSuchVariable { .. })
    ));
    assert!(matches!(
        bss.read_at::<u64>(12),
        Err(MapError::OutOfRange { .. })
    ));
    assert!(matches!(
        obj.global_data(".nope"),
        Err(MapError::NoSuchMap { .. })
    ));
    let scratch = Map::create(
        "scratch",
        &corebpf::map::MapDef::new(corebpf::map::MapType::ARRAY, 4, 8, 1),
    )
    .unwrap();
    let e = GlobalData::try_from(&scratch).err().unwrap();
    assert_eq!(
        e.to_string(),
        "map 'scratch' is a array map, not global data (.bss, .data, .rodata)"
    );
}

fn count_getppid(obj: &Object, calls: usize) {
    let _link = obj.program("count_calls").unwrap().attach().unwrap();
    for _ in 0..calls {
        let _ = nix::unistd::getppid();
    }
}

fn shared(obj: &Object) -> HashMap<'_, u32, u64> {
    obj.map("shared").unwrap().try_into().unwrap()
}

#[test]
fn a_map_pinned_by_name_is_one_map_for_every_load() {
    let root = PinRoot::new("pin-share");
    let first = load("maps_pinned", loader().pin_root(&root.0)).unwrap();
    let pin = root.0.join("shared");
    assert!(pin.exists(), "pinned at load");
    assert_eq!(first.map("shared").unwrap().pin_path(), Some(pin.as_path()));
    let second = load("maps_pinned", loader().pin_root(&root.0)).unwrap();
    let id = |o: &Object, m: &str| o.map(m).unwrap().info().unwrap().id;
    assert_eq!(id(&first, "shared"), id(&second, "shared"), "reused");
    assert_ne!(id(&first, "private"), id(&second, "private"));

    // Counted by the first load's program, seen through the second load and the pin.
    count_getppid(&first, 3);
    assert_eq!(shared(&second).get(&tid()).unwrap(), Some(3));
    count_getppid(&second, 2);
    assert_eq!(shared(&first).get(&tid()).unwrap(), Some(5));
    let from_pin = Map::from_pin(&pin).unwrap();
    let h: HashMap<u32, u64> = (&from_pin).try_into().unwrap();
    assert_eq!(h.get(&tid()).unwrap(), Some(5));
    let by_id = Map::from_id(id(&first, "shared")).unwrap();
    assert_eq!(by_id.name(), "shared");
    // Dropping both objects leaves the pinned map and its data.
    drop((first, second));
    let third = load("maps_pinned", loader().pin_root(&root.0)).unwrap();
    assert_eq!(shared(&third).get(&tid()).unwrap(), Some(5));
}

#[test]
fn an_incompatible_pin_is_refused_naming_the_property() {
    let root = PinRoot::new("pin-mismatch");
    let _first = load("maps_pinned", loader().pin_root(&root.0)).unwrap();
    let e = load(
        "maps_pinned",
        loader().pin_root(&root.0).set_max_entries("shared", 32),
    )
    .unwrap_err();
    match &e {
        LoadError::PinMismatch { map, mismatch, .. } => {
            assert_eq!(map, "shared");
            assert_eq!(
                (
                    mismatch.property,
                    mismatch.pinned.as_str(),
                    mismatch.object.as_str()
                ),
                ("max_entries", "16", "32")
            );
        }
        other => panic!("expected a pin mismatch, got {}", chain(other)),
    }
    assert!(
        e.to_string()
            .ends_with("max_entries is 16 in the pinned map, 32 in the object"),
        "{e}"
    );
}

#[test]
fn a_failed_load_removes_the_pins_it_made() {
    let root = PinRoot::new("pin-cleanup");
    let e = load(
        "maps_pinned",
        loader().pin_root(&root.0).autoload("no_such_program", true),
    )
    .unwrap_err();
    assert!(matches!(e, LoadError::NoSuchProgram { .. }), "{e}");
    assert!(
        !root.0.join("shared").exists(),
        "the pin of the failed load is gone"
    );
    // A pin that was there before a failed load stays.
    let _first = load("maps_pinned", loader().pin_root(&root.0)).unwrap();
    let _ = load(
        "maps_pinned",
        loader().pin_root(&root.0).autoload("no_such_program", true),
    )
    .unwrap_err();
    assert!(root.0.join("shared").exists());
}
