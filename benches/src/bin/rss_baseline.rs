//! Case 6 floor: a Rust process that reads the object and loads nothing.

#[path = "../rss_common.rs"]
mod rss_common;

fn main() {
    let path = rss_common::object_arg();
    let data = std::fs::read(&path).expect("reading the object");
    std::hint::black_box(&data);
    rss_common::report(0);
}
