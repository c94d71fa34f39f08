//! Case 6: a process that loads an object with corebpf (`Loader::new().load_file`).

#[path = "../rss_common.rs"]
mod rss_common;

fn main() {
    let path = rss_common::object_arg();
    match corebpf::Loader::new().load_file(&path) {
        Ok(obj) => rss_common::report(obj.programs().len()),
        Err(e) => {
            eprintln!("corebpf: {e}");
            std::process::exit(1);
        }
    }
}
