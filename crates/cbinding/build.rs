//! Links json-c (the C bindings exchange `struct json_object *` with the
//! binder). Only this crate links it.

fn main() {
    println!("cargo:rustc-link-lib=dylib=json-c");
    println!("cargo:rerun-if-changed=build.rs");
}
