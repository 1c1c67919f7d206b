//! Bindings written in Rust, built as shared objects (`crate-type =
//! ["cdylib"]`), that any v4 binder loads with `--binding`: this binder or
//! the C `afb-binder`. [`export_binding_v4!`] exports the v4 entry
//! symbols; the binder's function table ([`abi::ItfV4`], defined once in
//! [`abi`] for both sides) is used through the few functions a JSON verb
//! needs.
//!
//! Verbs are synchronous functions from the request and its JSON argument
//! to a JSON reply or an [`Error`]; they run on the binder's threads.
//!
//! ```ignore
//! use afb_binding_so::{BindingDef, Error, Req, VerbDef};
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
//! afb_binding_so::export_binding_v4!(BINDING);
//! ```
//!
//! Only std and serde_json: a shared object made with it does not link the
//! binder.

// The Rust side of the v4 C ABI: reading the binder's table and exporting
// symbols is unsafe code throughout.
#![allow(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod abi;

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use serde_json::Value;

use abi::{ApiX4, CtlArg, DataX4, ItfV4, Opaque, ReqX4, CTLID_PRE_INIT, CTLID_ROOT_ENTRY};

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
    req: *mut ReqX4,
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

/// The binder's function table as a shared object sees it.
pub type Itf = ItfV4<Opaque>;

/// `AFB_ERRNO_INTERNAL_ERROR`: the status of a verb that panicked.
const INTERNAL_ERROR: c_int = -1;
/// `AFB_ERRNO_OUT_OF_MEMORY`: the reply's data could not be made.
const OUT_OF_MEMORY: c_int = -2;

/// The binder's table, recorded by the first call of the entry.
static ITF: AtomicPtr<Itf> = AtomicPtr::new(std::ptr::null_mut());

fn itf() -> Option<&'static Itf> {
    // SAFETY: the address was written by the binder into the binding's
    // `afbBindingV4r1_itfptr`: its function table, alive for the process.
    unsafe { ITF.load(Ordering::Acquire).as_ref() }
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
pub fn entry(slot: &AtomicPtr<Itf>, def: &'static BindingDef, root: *mut ApiX4, ctlid: c_int) -> c_int {
    catch_unwind(|| {
        let p = slot.load(Ordering::Acquire);
        if p.is_null() {
            return INTERNAL_ERROR;
        }
        ITF.store(p, Ordering::Release);
        let Some(itf) = itf() else { return INTERNAL_ERROR };
        if ctlid != CTLID_ROOT_ENTRY {
            return 0;
        }
        let mut api: *mut ApiX4 = std::ptr::null_mut();
        let userdata = def as *const BindingDef as *mut c_void;
        // SAFETY: the binder's create_api with its root API, C strings that
        // live forever, our main control and our definition as user data.
        unsafe {
            (itf.create_api)(
                root,
                &mut api,
                cstr(def.api),
                cstr(def.info),
                0,
                Some(mainctl),
                userdata,
            )
        }
    })
    .unwrap_or(INTERNAL_ERROR)
}

unsafe extern "C" fn mainctl(
    api: *mut ApiX4,
    ctlid: c_int,
    _arg: *const CtlArg<Opaque>,
    userdata: *mut c_void,
) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        let Some(itf) = itf() else { return INTERNAL_ERROR };
        if ctlid != CTLID_PRE_INIT {
            return 0;
        }
        // SAFETY: the user data is the `'static` definition given at creation.
        let def = unsafe { &*(userdata as *const BindingDef) };
        for v in def.verbs {
            let vcb = v as *const VerbDef as *mut c_void;
            // SAFETY: the binder's add_verb with strings and data that live
            // forever.
            let rc =
                unsafe { (itf.api_add_verb)(api, cstr(v.name), cstr(v.info), Some(verb), vcb, std::ptr::null(), 0, 0) };
            if rc < 0 {
                return rc;
            }
        }
        0
    }))
    .unwrap_or(INTERNAL_ERROR)
}

fn reply_json(itf: &Itf, req: *mut ReqX4, status: c_int, v: &Value) {
    let mut t = v.to_string().into_bytes();
    t.push(0);
    let mut d: *mut DataX4 = std::ptr::null_mut();
    // SAFETY: the binder copies `t` into a new #json data that the reply consumes.
    unsafe {
        if (itf.create_data_copy)(&mut d, itf.type_json, t.as_ptr().cast(), t.len()) >= 0 {
            (itf.req_reply)(req, status, 1, &d);
        } else {
            (itf.req_reply)(req, OUT_OF_MEMORY, 0, std::ptr::null());
        }
    }
}

fn args_of(itf: &Itf, n: c_uint, params: *const *mut DataX4) -> Value {
    if n == 0 || params.is_null() {
        return Value::Null;
    }
    let mut j: *mut DataX4 = std::ptr::null_mut();
    // SAFETY: the request's first parameter, converted to a #json data we
    // release after copying its text.
    unsafe {
        if (itf.data_convert)(*params, itf.type_json, &mut j) < 0 {
            return Value::Null;
        }
        let (mut p, mut size): (*mut c_void, usize) = (std::ptr::null_mut(), 0);
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

unsafe extern "C" fn verb(req: *mut ReqX4, n: c_uint, params: *const *mut DataX4) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let Some(itf) = itf() else { return };
        // SAFETY: the verb data is the `'static` verb definition.
        let def = unsafe { &*((itf.req_vcbdata)(req) as *const VerbDef) };
        let args = args_of(itf, n, params);
        let r = Req { itf, req };
        match catch_unwind(AssertUnwindSafe(|| (def.handler)(&r, args))) {
            Ok(Ok(v)) => reply_json(itf, req, 0, &v),
            Ok(Err(e)) => reply_json(itf, req, e.status.min(INTERNAL_ERROR), &Value::String(e.message)),
            Err(_) => reply_json(itf, req, INTERNAL_ERROR, &Value::String("the verb panicked".into())),
        }
    }));
}

/// Exports a [`BindingDef`] as a v4 binding: the symbols
/// `afbBindingV4entry`, `afbBindingV4r1_itfptr`, `afbBindingV4root` and
/// `afbBindingV4_itf_revision`. Use it once, in a `cdylib` crate. Exported
/// symbols count as `unsafe_code`: the items it makes allow that lint, so
/// the crate may deny it (not forbid it).
#[macro_export]
macro_rules! export_binding_v4 {
    ($def:path) => {
        /// The binder's function table (written by the binder).
        #[allow(non_upper_case_globals, unsafe_code)]
        #[no_mangle]
        pub static afbBindingV4r1_itfptr: ::std::sync::atomic::AtomicPtr<$crate::Itf> =
            ::std::sync::atomic::AtomicPtr::new(::std::ptr::null_mut());
        /// The binding's root API (written by the binder).
        #[allow(non_upper_case_globals, unsafe_code)]
        #[no_mangle]
        pub static afbBindingV4root: ::std::sync::atomic::AtomicPtr<$crate::abi::ApiX4> =
            ::std::sync::atomic::AtomicPtr::new(::std::ptr::null_mut());
        /// The interface revision the binding uses (read by the binder).
        #[allow(non_upper_case_globals, unsafe_code)]
        #[no_mangle]
        pub static afbBindingV4_itf_revision: i16 = $crate::ITF_REVISION;
        /// The binding's entry: makes its API.
        #[allow(non_snake_case, unsafe_code)]
        #[no_mangle]
        pub extern "C" fn afbBindingV4entry(
            root: *mut $crate::abi::ApiX4,
            ctlid: ::std::ffi::c_int,
            _arg: *const $crate::abi::CtlArg<$crate::abi::Opaque>,
            _userdata: *mut ::std::ffi::c_void,
        ) -> ::std::ffi::c_int {
            $crate::entry(&afbBindingV4r1_itfptr, &$def, root, ctlid)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::abi::{MAX_REVISION, MEMBERS, MEMBER_NAMES};
    use super::ITF_REVISION;

    /// The members of the table this crate calls or reads.
    const USED: &[&str] = &[
        "create_data_copy",
        "data_unref",
        "data_get_constant",
        "data_convert",
        "req_vcbdata",
        "req_called_api",
        "req_session_set_loa",
        "req_reply",
        "api_add_verb",
        "create_api",
        "type_json",
        "req_session_get_loa",
    ];

    #[test]
    fn the_declared_revision_holds_every_member_used() {
        assert!((1..=MAX_REVISION as i16).contains(&ITF_REVISION));
        let members = MEMBERS[ITF_REVISION as usize];
        for name in USED {
            let i = MEMBER_NAMES.iter().position(|m| m == name).unwrap();
            assert!(i < members, "{name} is not in revision {ITF_REVISION}");
        }
        // Revision 1 suffices: any v4 binder has what these objects use.
        assert!(USED.iter().all(|n| MEMBER_NAMES[..MEMBERS[1]].contains(n)));
    }
}
