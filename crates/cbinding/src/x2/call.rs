//! The calls of the v1-v3 request interface: the legacy ones (v1, v2:
//! replies as the `afb-reply` envelope, status 0 or -1) and `subcall` /
//! `subcallsync` (v3: object, error, info).

use std::ffi::{c_char, c_int, c_void, CString};

use afb_core::Reply;

use super::{req_addref, req_of, req_unref, ReqX1, ReqX2};
use crate::errno::{FAILED, INTERNAL_ERROR};
use crate::event;
use crate::jsonc::{self, JsonObject};
use crate::req::{self, Caller};
use crate::util::{self, cstr, guard, write_out, SendPtr};

type LegacyCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject);
type LegacyReqCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject, ReqX1);
type LegacyRequestCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject, *mut ReqX2);
type SubcallCb = unsafe extern "C" fn(*mut c_void, *mut JsonObject, *const c_char, *const c_char, *mut ReqX2);

/// `legacy_subcall` of the table.
pub(super) type LegacySubcall =
    unsafe extern "C" fn(*mut ReqX2, *const c_char, *const c_char, *mut JsonObject, Option<LegacyCb>, *mut c_void);
/// `legacy_subcallsync` of the table.
pub(super) type LegacySubcallSync =
    unsafe extern "C" fn(*mut ReqX2, *const c_char, *const c_char, *mut JsonObject, *mut *mut JsonObject) -> c_int;
/// `legacy_subcall_req` of the table.
pub(super) type LegacySubcallReq =
    unsafe extern "C" fn(*mut ReqX2, *const c_char, *const c_char, *mut JsonObject, Option<LegacyReqCb>, *mut c_void);
/// `legacy_subcall_request` of the table.
pub(super) type LegacySubcallRequest = unsafe extern "C" fn(
    *mut ReqX2,
    *const c_char,
    *const c_char,
    *mut JsonObject,
    Option<LegacyRequestCb>,
    *mut c_void,
);
/// `subcall` of the table.
pub(super) type Subcall = unsafe extern "C" fn(
    *mut ReqX2,
    *const c_char,
    *const c_char,
    *mut JsonObject,
    c_int,
    Option<SubcallCb>,
    *mut c_void,
);
/// `subcallsync` of the table.
pub(super) type SubcallSync = unsafe extern "C" fn(
    *mut ReqX2,
    *const c_char,
    *const c_char,
    *mut JsonObject,
    c_int,
    *mut *mut JsonObject,
    *mut *mut c_char,
    *mut *mut c_char,
) -> c_int;

/// Flag of subcalls made in the API's own session.
const SUBCALL_API_SESSION: c_int = 8;

/// Takes the caller's reference of a json-c argument and makes call arguments.
///
/// # Safety
/// `obj` is NULL or a json-c object whose reference the caller gives.
pub(crate) unsafe fn take_args(obj: *mut JsonObject) -> afb_core::Args {
    // SAFETY: per the contract.
    req::args_of(&unsafe { event::take_text(obj) })
}

fn names(api: *const c_char, verb: *const c_char) -> Option<(String, String)> {
    // SAFETY: C gives strings.
    let (api, verb) = unsafe { (cstr(api), cstr(verb)) };
    Some((api?.into_owned(), verb?.into_owned()))
}

/// The legacy status of a reply: 0 on success, -1 on error.
fn legacy_status(reply: &Reply) -> c_int {
    if reply.is_success() {
        0
    } else {
        FAILED
    }
}

/// Starts a legacy call of a request (in its client's session) and gives
/// its status and envelope to `deliver`; the request is kept alive until
/// then. The envelope is put after `deliver`.
fn legacy_subcall(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    deliver: impl FnOnce(c_int, *mut JsonObject, *mut ReqX2) + Send + 'static,
) {
    // SAFETY: C gives its argument's reference and a live request.
    let (args, request) = unsafe { (take_args(args), req_of(r)) };
    let (Some(request), Some((a, v))) = (request, names(api, verb)) else {
        return;
    };
    // SAFETY: keep the request alive until the callback ran.
    unsafe { req_addref(r) };
    let fut = req::start_call(Caller::Req(&request.core.handle, false), &a, &v, args);
    let rp = SendPtr(r.cast());
    req::then(fut, move |reply| {
        let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
        deliver(legacy_status(&reply), env, rp.get().cast());
        // SAFETY: the envelope is ours once the callback returned.
        unsafe { jsonc::put(env) };
        req_unref(rp.get().cast());
    });
}

pub(super) unsafe extern "C" fn req_legacy_subcall(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        legacy_subcall(r, api, verb, args, move |status, env, _| {
            if let Some(cb) = cb {
                // SAFETY: the binding's callback with its closure.
                unsafe { cb(closure.get(), status, env) }
            }
        })
    })
}

pub(super) unsafe extern "C" fn req_legacy_subcall_req(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyReqCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        legacy_subcall(r, api, verb, args, move |status, env, r| {
            if let Some(cb) = cb {
                // SAFETY: the binding's callback with a live request.
                unsafe { cb(closure.get(), status, env, ReqX1::of(r)) }
            }
        })
    })
}

pub(super) unsafe extern "C" fn req_legacy_subcall_request(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyRequestCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        legacy_subcall(r, api, verb, args, move |status, env, r| {
            if let Some(cb) = cb {
                // SAFETY: the binding's callback with a live request.
                unsafe { cb(closure.get(), status, env, r) }
            }
        })
    })
}

pub(super) unsafe extern "C" fn req_legacy_subcallsync(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    result: *mut *mut JsonObject,
) -> c_int {
    // 0: failed (this function answers 1 on success).
    guard("req subcallsync", 0, || {
        // SAFETY: C gives its argument's reference and a live request.
        let (args, request) = unsafe { (take_args(args), req_of(r)) };
        let (Some(request), Some((a, v))) = (request, names(api, verb)) else {
            return 0;
        };
        let reply = req::wait(req::start_call(Caller::Req(&request.core.handle, false), &a, &v, args));
        let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
        // SAFETY: C gives where to store the envelope (the caller puts it).
        if !unsafe { write_out(result, env) } {
            // SAFETY: not wanted: ours to put.
            unsafe { jsonc::put(env) };
        }
        c_int::from(reply.is_success())
    })
}

/// The `(object, error, info)` triple of a reply for v3 callbacks.
pub(crate) struct Triple {
    pub obj: *mut JsonObject,
    pub error: Option<CString>,
    pub info: Option<CString>,
}

impl Triple {
    pub(crate) fn of(reply: &Reply) -> Self {
        Triple {
            obj: reply
                .data_json()
                .map(jsonc::parse_or_null)
                .unwrap_or(std::ptr::null_mut()),
            error: (!reply.is_success()).then(|| util::cstring(&reply.status)),
            info: reply.info.as_deref().map(util::cstring),
        }
    }

    pub(crate) fn error_ptr(&self) -> *const c_char {
        self.error.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
    }

    pub(crate) fn info_ptr(&self) -> *const c_char {
        self.info.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
    }
}

/// Stores a reply's parts where C asked (the caller owns them).
///
/// # Safety
/// Each out pointer is NULL or writable.
pub(crate) unsafe fn store_triple(
    reply: &Reply,
    obj: *mut *mut JsonObject,
    error: *mut *mut c_char,
    info: *mut *mut c_char,
) {
    if !obj.is_null() {
        let o = reply.data_json().map_or(std::ptr::null_mut(), jsonc::parse_or_null);
        // SAFETY: per the contract.
        unsafe { write_out(obj, o) };
    }
    if !error.is_null() {
        let e = if reply.is_success() {
            std::ptr::null_mut()
        } else {
            util::malloc_str(&reply.status)
        };
        // SAFETY: per the contract.
        unsafe { write_out(error, e) };
    }
    if !info.is_null() {
        let i = reply.info.as_deref().map_or(std::ptr::null_mut(), util::malloc_str);
        // SAFETY: per the contract.
        unsafe { write_out(info, i) };
    }
}

pub(super) unsafe extern "C" fn req_subcall(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    flags: c_int,
    cb: Option<SubcallCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        // SAFETY: C gives its argument's reference and a live request.
        let (args, request) = unsafe { (take_args(args), req_of(r)) };
        let (Some(request), Some((a, v))) = (request, names(api, verb)) else {
            return;
        };
        // SAFETY: keep the request alive until the callback ran.
        unsafe { req_addref(r) };
        let caller = Caller::Req(&request.core.handle, flags & SUBCALL_API_SESSION != 0);
        let fut = req::start_call(caller, &a, &v, args);
        let rp = SendPtr(r.cast());
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                let t = Triple::of(&reply);
                // SAFETY: the binding's callback; the object is put after it.
                unsafe {
                    cb(closure.get(), t.obj, t.error_ptr(), t.info_ptr(), rp.get().cast());
                    jsonc::put(t.obj);
                }
            }
            req_unref(rp.get().cast());
        });
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn req_subcallsync(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    flags: c_int,
    obj: *mut *mut JsonObject,
    error: *mut *mut c_char,
    info: *mut *mut c_char,
) -> c_int {
    guard("req subcallsync", INTERNAL_ERROR, || {
        // SAFETY: C gives its argument's reference and a live request.
        let (args, request) = unsafe { (take_args(args), req_of(r)) };
        let (Some(request), Some((a, v))) = (request, names(api, verb)) else {
            return FAILED;
        };
        let caller = Caller::Req(&request.core.handle, flags & SUBCALL_API_SESSION != 0);
        let reply = req::wait(req::start_call(caller, &a, &v, args));
        // SAFETY: C gives writable out pointers (or NULL).
        unsafe { store_triple(&reply, obj, error, info) };
        legacy_status(&reply)
    })
}
