//! Bindings written in Rust, built as shared objects (`crate-type =
//! ["cdylib"]`), that any v4 binder loads with `--binding`: this binder or
//! the C `afb-binder`. [`export_binding_v4!`](crate::export_binding_v4)
//! exports the v4 entry symbols; the binder's function table is used
//! through the few functions a JSON verb needs.
//!
//! Verbs are synchronous functions from the request and its JSON argument
//! to a JSON reply or an [`Error`]; they run on the binder's threads.
//!
//! ```ignore
//! use afb_cbinding::so::{BindingDef, Error, Req, VerbDef};
//! use serde_json::{json, Value};
//!
//! fn ping(_req: &Req<'_>, _args: Value) -> Result<Value, Error> {
//!     Ok(json!("pong"))
//! }
//!
//! static BINDING: BindingDef = BindingDef {
//!     api: "hello-so",
//!     info: "a Rust binding as a shared object",
//!     verbs: &[VerbDef { name: "ping", info: "replies pong", handler: ping }],
//! };
//! afb_cbinding::export_binding_v4!(BINDING);
//! ```

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use serde_json::Value;

/// The v4 interface revision these shared objects declare
/// (`afbBindingV4_itf_revision`). They use only members of revision 1, so
/// any v4 binder loads them; 6 keeps them loadable by every C binder built
/// with afb-binding 4.1.4 or later (one whose current revision is higher
/// logs a notice, nothing more).
pub const ITF_REVISION: i16 = 6;

/// A verb implementation.
pub type Handler = fn(&Req<'_>, Value) -> Result<Value, Error>;

/// An error reply: a (negative) status code of the standard table (-12:
/// `invalid-request`, ...) and a message sent as the reply's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// The status, negative.
    pub status: i32,
    /// A message.
    pub message: String,
}

impl Error {
    /// `invalid-request` with a message.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error {
            status: -12,
            message: message.into(),
        }
    }
}

/// A verb of the binding.
pub struct VerbDef {
    /// Its name.
    pub name: &'static str,
    /// Its description.
    pub info: &'static str,
    /// Its implementation.
    pub handler: Handler,
}

/// The API of the binding.
pub struct BindingDef {
    /// The API's name.
    pub api: &'static str,
    /// Its description.
    pub info: &'static str,
    /// Its verbs.
    pub verbs: &'static [VerbDef],
}

/// A request being served.
pub struct Req<'a> {
    itf: &'a Itf,
    req: *mut c_void,
}

impl Req<'_> {
    /// The API name the client called.
    pub fn called_api(&self) -> String {
        // SAFETY: the binder's function with the live request; it returns a
        // string valid as long as the request.
        unsafe { text((self.itf.req_called_api)(self.req)) }
    }

    /// The session's level of assurance for this API.
    pub fn loa(&self) -> u32 {
        // SAFETY: the binder's function with the live request.
        unsafe { (self.itf.req_session_get_loa)(self.req) }
    }

    /// Sets the session's level of assurance for this API.
    pub fn set_loa(&self, loa: u32) -> bool {
        // SAFETY: the binder's function with the live request.
        unsafe { (self.itf.req_session_set_loa)(self.req, loa) >= 0 }
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

type Fp = usize;
type ReqCb = unsafe extern "C" fn(*mut c_void, c_uint, *const *mut c_void);
type MainCtl = unsafe extern "C" fn(*mut c_void, c_int, *const c_void, *mut c_void) -> c_int;

/// The prefix of `struct afb_binding_x4r1_itf` this module uses: the
/// functions it calls at their positions, the others as placeholders.
#[repr(C)]
struct Itf {
    _p0: [Fp; 2],
    create_data_copy: unsafe extern "C" fn(*mut *mut c_void, *const c_void, *const c_void, usize) -> c_int,
    _p3: Fp,
    data_unref: unsafe extern "C" fn(*mut c_void),
    _p5: Fp,
    data_get_constant: unsafe extern "C" fn(*mut c_void, *mut *const c_void, *mut usize) -> c_int,
    _p7: Fp,
    data_convert: unsafe extern "C" fn(*mut c_void, *const c_void, *mut *mut c_void) -> c_int,
    _p9: [Fp; 17],
    req_vcbdata: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    req_called_api: unsafe extern "C" fn(*mut c_void) -> *const c_char,
    _p28: [Fp; 3],
    req_session_set_loa: unsafe extern "C" fn(*mut c_void, c_uint) -> c_int,
    _p32: [Fp; 6],
    req_reply: unsafe extern "C" fn(*mut c_void, c_int, c_uint, *const *mut c_void),
    _p39: [Fp; 25],
    api_add_verb: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const c_char,
        ReqCb,
        *mut c_void,
        *const c_void,
        u32,
        c_int,
    ) -> c_int,
    _p65: [Fp; 7],
    create_api: unsafe extern "C" fn(
        *mut c_void,
        *mut *mut c_void,
        *const c_char,
        *const c_char,
        c_int,
        MainCtl,
        *mut c_void,
    ) -> c_int,
    _p73: [Fp; 5],
    type_json: *const c_void,
    _p79: [Fp; 16],
    req_session_get_loa: unsafe extern "C" fn(*mut c_void) -> c_uint,
}

static ITF: OnceLock<usize> = OnceLock::new();

fn itf() -> Option<&'static Itf> {
    // SAFETY: the address was written by the binder into the binding's
    // `afbBindingV4r1_itfptr`: its function table, alive for the process.
    ITF.get().and_then(|&p| unsafe { (p as *const Itf).as_ref() })
}

fn cstr(s: &str) -> *const c_char {
    // Names given to the binder must outlive the API: leaked once each.
    CString::new(s)
        .map(|c| &*Box::leak(c.into_boxed_c_str()))
        .unwrap_or(c"")
        .as_ptr()
}

/// Called by the exported `afbBindingV4entry` (see the macro).
#[doc(hidden)]
// `root` is never dereferenced here: it is given back to the binder.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn entry(slot: &AtomicPtr<c_void>, def: &'static BindingDef, root: *mut c_void, ctlid: c_int) -> c_int {
    catch_unwind(|| {
        let p = slot.load(Ordering::Acquire);
        if p.is_null() {
            return -1;
        }
        let _ = ITF.set(p as usize);
        let Some(itf) = itf() else { return -1 };
        if ctlid != 0 {
            return 0;
        }
        let mut api: *mut c_void = std::ptr::null_mut();
        let userdata = def as *const BindingDef as *mut c_void;
        // SAFETY: the binder's create_api with its root API, C strings that
        // live forever, our main control and our definition as user data.
        unsafe { (itf.create_api)(root, &mut api, cstr(def.api), cstr(def.info), 0, mainctl, userdata) }
    })
    .unwrap_or(-1)
}

unsafe extern "C" fn mainctl(api: *mut c_void, ctlid: c_int, _arg: *const c_void, userdata: *mut c_void) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        let Some(itf) = itf() else { return -1 };
        if ctlid != 1 {
            return 0;
        }
        // SAFETY: the user data is the `'static` definition given at creation.
        let def = unsafe { &*(userdata as *const BindingDef) };
        for v in def.verbs {
            let vcb = v as *const VerbDef as *mut c_void;
            // SAFETY: the binder's add_verb with strings and data that live
            // forever.
            let rc = unsafe { (itf.api_add_verb)(api, cstr(v.name), cstr(v.info), verb, vcb, std::ptr::null(), 0, 0) };
            if rc < 0 {
                return rc;
            }
        }
        0
    }))
    .unwrap_or(-1)
}

fn reply_json(itf: &Itf, req: *mut c_void, status: c_int, v: &Value) {
    let mut t = v.to_string().into_bytes();
    t.push(0);
    let mut d: *mut c_void = std::ptr::null_mut();
    // SAFETY: the binder copies `t` into a new #json data that the reply consumes.
    unsafe {
        if (itf.create_data_copy)(&mut d, itf.type_json, t.as_ptr().cast(), t.len()) >= 0 {
            (itf.req_reply)(req, status, 1, &d);
        } else {
            (itf.req_reply)(req, -2, 0, std::ptr::null());
        }
    }
}

fn args_of(itf: &Itf, n: c_uint, params: *const *mut c_void) -> Value {
    if n == 0 || params.is_null() {
        return Value::Null;
    }
    let mut j: *mut c_void = std::ptr::null_mut();
    // SAFETY: the request's first parameter, converted to a #json data we
    // release after copying its text.
    unsafe {
        if (itf.data_convert)(*params, itf.type_json, &mut j) < 0 {
            return Value::Null;
        }
        let (mut p, mut size): (*const c_void, usize) = (std::ptr::null(), 0);
        (itf.data_get_constant)(j, &mut p, &mut size);
        let v = if p.is_null() {
            Value::Null
        } else {
            serde_json::from_str(&CStr::from_ptr(p.cast()).to_string_lossy()).unwrap_or(Value::Null)
        };
        (itf.data_unref)(j);
        v
    }
}

unsafe extern "C" fn verb(req: *mut c_void, n: c_uint, params: *const *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(itf) = itf() else { return };
        // SAFETY: the verb data is the `'static` verb definition.
        let def = unsafe { &*((itf.req_vcbdata)(req) as *const VerbDef) };
        let args = args_of(itf, n, params);
        let r = Req { itf, req };
        match catch_unwind(AssertUnwindSafe(|| (def.handler)(&r, args))) {
            Ok(Ok(v)) => reply_json(itf, req, 0, &v),
            Ok(Err(e)) => reply_json(itf, req, e.status.min(-1), &Value::String(e.message)),
            Err(_) => reply_json(itf, req, -1, &Value::String("the verb panicked".into())),
        }
    }));
}

/// Exports a [`BindingDef`] as a v4 binding: the symbols
/// `afbBindingV4entry`, `afbBindingV4r1_itfptr`, `afbBindingV4root` and
/// `afbBindingV4_itf_revision`. Use it once, in a `cdylib` crate.
#[macro_export]
macro_rules! export_binding_v4 {
    ($def:path) => {
        #[allow(non_upper_case_globals)]
        #[no_mangle]
        pub static afbBindingV4r1_itfptr: ::std::sync::atomic::AtomicPtr<::std::ffi::c_void> =
            ::std::sync::atomic::AtomicPtr::new(::std::ptr::null_mut());
        #[allow(non_upper_case_globals)]
        #[no_mangle]
        pub static afbBindingV4root: ::std::sync::atomic::AtomicPtr<::std::ffi::c_void> =
            ::std::sync::atomic::AtomicPtr::new(::std::ptr::null_mut());
        #[allow(non_upper_case_globals)]
        #[no_mangle]
        pub static afbBindingV4_itf_revision: i16 = $crate::so::ITF_REVISION;
        #[allow(non_snake_case)]
        #[no_mangle]
        pub extern "C" fn afbBindingV4entry(
            root: *mut ::std::ffi::c_void,
            ctlid: ::std::ffi::c_int,
            _arg: *const ::std::ffi::c_void,
            _userdata: *mut ::std::ffi::c_void,
        ) -> ::std::ffi::c_int {
            $crate::so::entry(&afbBindingV4r1_itfptr, &$def, root, ctlid)
        }
    };
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::{Itf, ITF_REVISION};
    use crate::v4::{ItfV4, MAX_REVISION, MEMBERS};

    #[test]
    fn the_declared_revision_holds_every_function_used() {
        assert!((1..=MAX_REVISION as i16).contains(&ITF_REVISION));
        let members = MEMBERS[ITF_REVISION as usize];
        assert!(std::mem::size_of::<Itf>() <= members * std::mem::size_of::<usize>());
    }

    #[test]
    fn the_used_functions_are_where_the_binder_puts_them() {
        assert_eq!(offset_of!(Itf, create_data_copy), offset_of!(ItfV4, create_data_copy));
        assert_eq!(offset_of!(Itf, data_unref), offset_of!(ItfV4, data_unref));
        assert_eq!(offset_of!(Itf, data_get_constant), offset_of!(ItfV4, data_get_constant));
        assert_eq!(offset_of!(Itf, data_convert), offset_of!(ItfV4, data_convert));
        assert_eq!(offset_of!(Itf, req_vcbdata), offset_of!(ItfV4, req_vcbdata));
        assert_eq!(offset_of!(Itf, req_called_api), offset_of!(ItfV4, req_called_api));
        assert_eq!(
            offset_of!(Itf, req_session_set_loa),
            offset_of!(ItfV4, req_session_set_loa)
        );
        assert_eq!(offset_of!(Itf, req_reply), offset_of!(ItfV4, req_reply));
        assert_eq!(offset_of!(Itf, api_add_verb), offset_of!(ItfV4, api_add_verb));
        assert_eq!(offset_of!(Itf, create_api), offset_of!(ItfV4, create_api));
        assert_eq!(offset_of!(Itf, type_json), offset_of!(ItfV4, type_json));
        assert_eq!(
            offset_of!(Itf, req_session_get_loa),
            offset_of!(ItfV4, req_session_get_loa)
        );
    }
}
