//! The built shared object exports what a v4 binder looks up, with the
//! types and sizes of the binding headers: `afbBindingV4entry` (a
//! function), `afbBindingV4r1_itfptr` and `afbBindingV4root` (pointers the
//! binder writes), `afbBindingV4_itf_revision` (a `short` the binder
//! reads, within the revisions binders implement); and no `afbBindingV4`
//! (the API is made by the entry).

// Loading a shared object and reading its symbols is unsafe code.
#![allow(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/deps/libafb_sample_hello_so.so`, next to this test.
fn shared_object() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().join("libafb_sample_hello_so.so");
    assert!(so.exists(), "{} not built", so.display());
    so
}

/// `nm -D -S --defined-only`: (name, kind letter, size) of each symbol.
fn dynamic_symbols(so: &PathBuf) -> Option<Vec<(String, char, u64)>> {
    let out = match Command::new("nm").args(["-D", "-S", "--defined-only"]).arg(so).output() {
        Ok(o) if o.status.success() => o,
        _ => {
            afb_testkit::skip_or_fail("nm (binutils) is not installed: symbol kinds and sizes not checked");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f.as_slice() {
                    [_addr, size, kind, name] => Some((
                        name.to_string(),
                        kind.chars().next()?,
                        u64::from_str_radix(size, 16).ok()?,
                    )),
                    _ => None,
                }
            })
            .collect(),
    )
}

#[test]
fn exports_the_v4_entry_symbols_with_the_headers_types() {
    let so = shared_object();
    if let Some(syms) = dynamic_symbols(&so) {
        let find = |n: &str| syms.iter().find(|s| s.0 == n).cloned();
        let ptr = std::mem::size_of::<usize>() as u64;
        let (_, kind, _) = find("afbBindingV4entry").expect("afbBindingV4entry exported");
        assert_eq!(kind, 'T', "afbBindingV4entry is a function");
        for var in ["afbBindingV4r1_itfptr", "afbBindingV4root"] {
            let (_, kind, size) = find(var).unwrap_or_else(|| panic!("{var} exported"));
            assert!("BDbd".contains(kind), "{var} is writable data ({kind})");
            assert_eq!(size, ptr, "{var} is a pointer");
        }
        let (_, kind, size) = find("afbBindingV4_itf_revision").expect("afbBindingV4_itf_revision exported");
        assert!("RDVrd".contains(kind), "the revision is data ({kind})");
        assert_eq!(size, 2, "the revision is a short");
        assert!(find("afbBindingV4").is_none(), "no static description");
    }

    // SAFETY: loading the sample binding runs no code of its own at load
    // (no constructors); the symbols are read with the headers' types.
    unsafe {
        let lib = libloading::Library::new(&so).unwrap();
        let rev = *lib.get::<*const i16>(b"afbBindingV4_itf_revision\0").unwrap();
        assert_eq!(*rev, afb_binding_so::ITF_REVISION);
        assert!((1..=afb_binding_so::abi::MAX_REVISION as i16).contains(&*rev));
        let itf = *lib.get::<*const *const u8>(b"afbBindingV4r1_itfptr\0").unwrap();
        assert!((*itf).is_null(), "the binder sets the table: NULL until loaded");
        lib.get::<unsafe extern "C" fn()>(b"afbBindingV4entry\0").unwrap();
    }
}
