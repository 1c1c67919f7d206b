//! The request interface shared by ABI v1, v2 and v3 (`struct
//! afb_req_x2_itf`, 31 functions) and the v1/v2 by-value handles
//! (`afb_req_x1`, `afb_event_x1`). The calls (`subcall*`) are in [`call`].
//!
//! Ownership across the boundary (json-c objects):
//! - the argument object returned by `json` belongs to the request (do not put);
//! - objects given to `reply`, `success`, `fail`, event `push`/`broadcast`
//!   and to calls are consumed (the binder puts them);
//! - objects given to asynchronous call callbacks are put by the binder
//!   after the callback returns; those returned by synchronous calls belong
//!   to the caller (put them); `error`/`info` strings of `subcallsync` and
//!   `call_sync` are `malloc`ed for the caller to `free`;
//! - `get_client_info` returns a new object for the caller to put;
//! - strings returned by `get` live as long as the request.

mod call;

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use afb_binding_so::abi::{CookieCreate, Dispose};
use afb_core::{Reply, Request};
use serde_json::value::RawValue;

pub(crate) use call::{store_triple, take_args, Triple};

use crate::capi::{ApiX3, CApi, CVerb, VerbFn};
use crate::common::{self, Cookie};
use crate::errno::{FAILED, INTERNAL_ERROR};
use crate::event::{self, CEvent, EventX2Itf};
use crate::jsonc::{self, JsonObj, JsonObject};
use crate::req::ReqCore;
use crate::util::{self, cstr, guard, lock, SendPtr};

/// `void (*)(struct afb_req_x2 *)`.
pub(crate) type ReqCallbackX2 = unsafe extern "C" fn(*mut ReqX2);
/// `void (*)(struct afb_req_x1)`.
pub(crate) type ReqCallbackX1 = unsafe extern "C" fn(ReqX1);

/// `struct afb_arg`.
#[repr(C)]
pub struct AfbArg {
    /// The name asked.
    pub name: *const c_char,
    /// Its value as text, NULL when absent.
    pub value: *const c_char,
    /// The local path of the uploaded file of that name, else NULL.
    pub path: *const c_char,
}

/// `struct afb_req_x1` (v1, v2): passed by value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ReqX1 {
    /// The request interface.
    pub itf: *const ReqX2Itf,
    /// The request.
    pub closure: *mut ReqX2,
}

impl ReqX1 {
    /// The by-value handle of a request (NULL: a NULL handle).
    pub(crate) fn of(r: *mut ReqX2) -> Self {
        ReqX1 {
            itf: if r.is_null() { std::ptr::null() } else { &REQ_ITF },
            closure: r,
        }
    }
}

/// `struct afb_event_x1` (v1, v2): passed by value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EventX1 {
    /// The event interface.
    pub itf: *const EventX2Itf,
    /// The event.
    pub closure: *mut CEvent,
}

/// A request as v1, v2 and v3 bindings see it: the public fields of
/// `struct afb_req_x2` first, the binder's state after.
#[repr(C)]
pub struct ReqX2 {
    itf: *const ReqX2Itf,
    api: *mut ApiX3,
    vcbdata: *mut c_void,
    called_api: *const c_char,
    called_verb: *const c_char,
    refs: AtomicUsize,
    core: ReqCore,
    json: OnceLock<JsonObj>,
    strings: Mutex<Vec<CString>>,
}

// SAFETY: the raw pointers are the C-visible copies of data owned by the
// request (names) or by the binding (vcbdata, API); the binder's state is
// thread-safe; C bindings call requests from any thread as they may with
// the C binders.
unsafe impl Send for ReqX2 {}
// SAFETY: see `Send`.
unsafe impl Sync for ReqX2 {}

fn new_req(api: &'static CApi, verb: &CVerb, req: Request) -> *mut ReqX2 {
    let core = ReqCore::new(api, req);
    let r = Box::new(ReqX2 {
        itf: &REQ_ITF,
        api: api.as_c(),
        vcbdata: verb.vcbdata.get(),
        called_api: core.called_api.as_ptr(),
        called_verb: core.called_verb.as_ptr(),
        refs: AtomicUsize::new(1),
        core,
        json: OnceLock::new(),
        strings: Mutex::new(Vec::new()),
    });
    Box::into_raw(r)
}

/// # Safety
/// `r` is NULL or a live request made by [`new_req`].
unsafe fn req_of<'a>(r: *mut ReqX2) -> Option<&'a ReqX2> {
    // SAFETY: per the contract.
    unsafe { r.as_ref() }
}

/// How a v3 verb is called.
pub(crate) fn verb_fn(cb: ReqCallbackX2) -> VerbFn {
    Box::new(move |api, verb, req| {
        let r = new_req(api, verb, req);
        // SAFETY: the binding's verb callback with a live request; C code
        // does not unwind.
        unsafe { cb(r) };
        req_unref(r);
    })
}

/// How a v1 or v2 verb is called (with the by-value handle).
pub(crate) fn verb_fn_x1(cb: ReqCallbackX1) -> VerbFn {
    Box::new(move |api, verb, req| {
        let r = new_req(api, verb, req);
        // SAFETY: as in `verb_fn`, with the by-value handle of v1/v2.
        unsafe { cb(ReqX1::of(r)) };
        req_unref(r);
    })
}

// ---- arguments and replies ---------------------------------------------------------

unsafe extern "C" fn req_json(r: *mut ReqX2) -> *mut JsonObject {
    guard("req json", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        let Some(r) = (unsafe { req_of(r) }) else {
            return std::ptr::null_mut();
        };
        r.json
            .get_or_init(|| JsonObj::parse(r.core.handle.args().json_text()))
            .as_ptr()
    })
}

unsafe extern "C" fn req_get(r: *mut ReqX2, name: *const c_char) -> AfbArg {
    let absent = AfbArg {
        name,
        value: std::ptr::null(),
        path: std::ptr::null(),
    };
    guard("req get", absent, || {
        // SAFETY: C gives a live request and a string.
        let (Some(r), Some(n)) = (unsafe { req_of(r) }, unsafe { cstr(name) }) else {
            return AfbArg {
                name,
                value: std::ptr::null(),
                path: std::ptr::null(),
            };
        };
        let args = r.core.handle.args();
        let mut strings = lock(&r.strings);
        let mut keep = |s: &str| {
            let c = util::cstring(s);
            let p = c.as_ptr();
            strings.push(c);
            p
        };
        // An uploaded file: the value is the file's name, the path where it
        // is stored (as AGL gives them), not the JSON of both.
        if let Some(f) = args.files().iter().find(|f| f.field == *n) {
            let value = keep(&f.filename);
            let path = keep(&f.path.to_string_lossy());
            return AfbArg { name, value, path };
        }
        let value = args.get_str(&n).map(|v| keep(&v)).unwrap_or(std::ptr::null());
        AfbArg {
            name,
            value,
            path: std::ptr::null(),
        }
    })
}

/// Replies (`obj` is consumed: it is the caller's reference).
fn reply_x2(r: &ReqX2, obj: *mut JsonObject, error: Option<&str>, info: Option<String>) {
    // SAFETY: C gives its object's reference (or NULL).
    let data = unsafe { event::take_text(obj) };
    let data = (data != "null").then(|| RawValue::from_string(data).ok()).flatten();
    let reply = match error {
        None => Reply::success(data, info),
        Some(e) => Reply::error(e.to_owned(), info).with_data(data),
    };
    r.core.reply(reply);
}

/// A C string as an owned string (`None` for NULL).
///
/// # Safety
/// `p` is NULL or a C string.
unsafe fn owned(p: *const c_char) -> Option<String> {
    // SAFETY: per the contract.
    unsafe { cstr(p) }.map(|s| s.into_owned())
}

/// The status of a legacy failure (`failed` when NULL).
///
/// # Safety
/// `status` is NULL or a C string.
unsafe fn failure(status: *const c_char) -> String {
    // SAFETY: per the contract.
    unsafe { owned(status) }.unwrap_or_else(|| "failed".into())
}

/// The `info` of a `printf`-style reply (`None` without a format).
///
/// # Safety
/// `fmt` is NULL or a format string and `args` its `va_list`.
unsafe fn info_va(fmt: *const c_char, args: *mut c_void) -> Option<String> {
    // SAFETY: per the contract.
    (!fmt.is_null()).then(|| unsafe { util::format_va(fmt, args) })
}

unsafe extern "C" fn req_legacy_success(r: *mut ReqX2, obj: *mut JsonObject, info: *const c_char) {
    guard("req success", (), || {
        // SAFETY: C gives a live request and a string.
        if let (Some(r), info) = unsafe { (req_of(r), owned(info)) } {
            reply_x2(r, obj, None, info);
        }
    })
}

unsafe extern "C" fn req_legacy_fail(r: *mut ReqX2, status: *const c_char, info: *const c_char) {
    guard("req fail", (), || {
        // SAFETY: C gives a live request and strings.
        if let (Some(r), status, info) = unsafe { (req_of(r), failure(status), owned(info)) } {
            reply_x2(r, std::ptr::null_mut(), Some(&status), info);
        }
    })
}

unsafe extern "C" fn req_legacy_vsuccess(r: *mut ReqX2, obj: *mut JsonObject, fmt: *const c_char, args: *mut c_void) {
    guard("req vsuccess", (), || {
        // SAFETY: C gives a live request, a format and its va_list.
        if let Some(r) = unsafe { req_of(r) } {
            // SAFETY: as above.
            let info = unsafe { info_va(fmt, args) };
            reply_x2(r, obj, None, info);
        }
    })
}

unsafe extern "C" fn req_legacy_vfail(r: *mut ReqX2, status: *const c_char, fmt: *const c_char, args: *mut c_void) {
    guard("req vfail", (), || {
        // SAFETY: C gives a live request, a string, a format and its va_list.
        if let Some(r) = unsafe { req_of(r) } {
            // SAFETY: as above.
            let (status, info) = unsafe { (failure(status), info_va(fmt, args)) };
            reply_x2(r, std::ptr::null_mut(), Some(&status), info);
        }
    })
}

unsafe extern "C" fn req_reply(r: *mut ReqX2, obj: *mut JsonObject, error: *const c_char, info: *const c_char) {
    guard("req reply", (), || {
        // SAFETY: C gives a live request and strings.
        match unsafe { (req_of(r), owned(error), owned(info)) } {
            (Some(r), error, info) => reply_x2(r, obj, error.as_deref(), info),
            // SAFETY: the object is consumed even without request.
            (None, ..) => unsafe { jsonc::put(obj) },
        }
    })
}

unsafe extern "C" fn req_vreply(
    r: *mut ReqX2,
    obj: *mut JsonObject,
    error: *const c_char,
    fmt: *const c_char,
    args: *mut c_void,
) {
    guard("req vreply", (), || {
        // SAFETY: C gives a live request, a string, a format and its va_list.
        if let Some(r) = unsafe { req_of(r) } {
            // SAFETY: as above.
            let (error, info) = unsafe { (owned(error), info_va(fmt, args)) };
            reply_x2(r, obj, error.as_deref(), info);
        }
    })
}

// ---- context, references, session --------------------------------------------------------

unsafe extern "C" fn req_legacy_context_get(r: *mut ReqX2) -> *mut c_void {
    guard("req context get", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }
            .and_then(|r| common::cookie_get(&r.core.handle))
            .unwrap_or(std::ptr::null_mut())
    })
}

unsafe extern "C" fn req_legacy_context_set(r: *mut ReqX2, value: *mut c_void, free: Dispose) {
    guard("req context set", (), || {
        // SAFETY: C gives a live request.
        if let Some(r) = unsafe { req_of(r) } {
            let cookie = Cookie {
                value: SendPtr(value),
                free,
                free_arg: SendPtr(value),
            };
            common::cookie_set(&r.core.handle, cookie);
        }
    })
}

unsafe extern "C" fn req_context_make(
    r: *mut ReqX2,
    replace: c_int,
    create: Option<CookieCreate>,
    free: Dispose,
    closure: *mut c_void,
) -> *mut c_void {
    guard("req context", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        match unsafe { req_of(r) } {
            Some(r) => common::context_make(&r.core.handle, replace != 0, create, free, closure),
            None => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn req_addref(r: *mut ReqX2) -> *mut ReqX2 {
    guard("req addref", r, || {
        // SAFETY: C gives a live request.
        if let Some(request) = unsafe { req_of(r) } {
            request.refs.fetch_add(1, Ordering::AcqRel);
        }
        r
    })
}

extern "C" fn req_unref(r: *mut ReqX2) {
    guard("req unref", (), || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return;
        };
        if request.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the last reference is gone: the box made by `new_req`
            // is freed once (dropping an unanswered request answers it
            // `not-replied`).
            drop(unsafe { Box::from_raw(r) });
        }
    })
}

unsafe extern "C" fn req_legacy_store(r: *mut ReqX2) -> *mut c_void {
    // SAFETY: storing is keeping a reference; C gives a live request.
    unsafe { req_addref(r) }.cast()
}

/// The interface of a stored request (`unstore_req` of v1/v2).
pub(crate) fn req_x1_of_stored(stored: *mut c_void) -> ReqX1 {
    // The stored request is the request itself, with the reference taken
    // by `legacy_store_req` (now the caller's).
    ReqX1::of(stored.cast())
}

unsafe extern "C" fn req_session_close(r: *mut ReqX2) {
    guard("req session close", (), || {
        // SAFETY: C gives a live request.
        if let Some(r) = unsafe { req_of(r) } {
            r.core.handle.close_session_after_reply();
        }
    })
}

unsafe extern "C" fn req_session_set_loa(r: *mut ReqX2, level: c_uint) -> c_int {
    guard("req set LOA", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request.
        match unsafe { req_of(r) }.map(|r| r.core.handle.set_loa(level)) {
            Some(Ok(())) => 0,
            _ => FAILED,
        }
    })
}

fn subscribe(r: *mut ReqX2, e: *mut CEvent, on: bool) -> c_int {
    // SAFETY: C gives a live request and event.
    let (Some(r), Some(e)) = (unsafe { req_of(r) }, unsafe { event::event_of(e) }) else {
        return FAILED;
    };
    let res = if on {
        r.core.handle.subscribe(&e.event)
    } else {
        r.core.handle.unsubscribe(&e.event)
    };
    match res {
        Ok(()) => 0,
        Err(err) => {
            tracing::debug!(api = %r.core.api.name, "subscription: {err}");
            FAILED
        }
    }
}

unsafe extern "C" fn req_legacy_subscribe_x1(r: *mut ReqX2, e: EventX1) -> c_int {
    guard("req subscribe", INTERNAL_ERROR, || subscribe(r, e.closure, true))
}

unsafe extern "C" fn req_legacy_unsubscribe_x1(r: *mut ReqX2, e: EventX1) -> c_int {
    guard("req unsubscribe", INTERNAL_ERROR, || subscribe(r, e.closure, false))
}

unsafe extern "C" fn req_subscribe_x2(r: *mut ReqX2, e: *mut CEvent) -> c_int {
    guard("req subscribe", INTERNAL_ERROR, || subscribe(r, e, true))
}

unsafe extern "C" fn req_unsubscribe_x2(r: *mut ReqX2, e: *mut CEvent) -> c_int {
    guard("req unsubscribe", INTERNAL_ERROR, || subscribe(r, e, false))
}

// ---- logging, client, permissions ---------------------------------------------------------

unsafe extern "C" fn req_vverbose(
    r: *mut ReqX2,
    level: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    fmt: *const c_char,
    args: *mut c_void,
) {
    guard("req log", (), || {
        // SAFETY: C gives a live request, strings, a format and its va_list.
        if let Some(r) = unsafe { req_of(r) } {
            // SAFETY: as above.
            unsafe { r.core.api.log_va(level, file, line, func, fmt, args) }
        }
    })
}

unsafe extern "C" fn req_has_permission(r: *mut ReqX2, perm: *const c_char) -> c_int {
    guard("req has permission", 0, || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return 0;
        };
        // SAFETY: C gives a string or NULL.
        let Some(p) = (unsafe { util::cstr(perm) }) else {
            return 0;
        };
        c_int::from(crate::req::wait(crate::req::permission(&request.core.handle, &p)).is_success())
    })
}

unsafe extern "C" fn req_get_application_id(_r: *mut ReqX2) -> *mut c_char {
    util::not_available_once("the application id of a client (no security framework)");
    std::ptr::null_mut()
}

unsafe extern "C" fn req_get_uid(r: *mut ReqX2) -> c_int {
    // -1: no user id known.
    guard("req uid", FAILED, || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }
            .and_then(|r| r.core.handle.client().creds.as_ref().map(|c| c.uid as c_int))
            .unwrap_or(FAILED)
    })
}

unsafe extern "C" fn req_get_client_info(r: *mut ReqX2) -> *mut JsonObject {
    guard("req client info", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        match unsafe { req_of(r) } {
            Some(r) => jsonc::parse_or_null(&common::client_info(&r.core.handle)),
            None => std::ptr::null_mut(),
        }
    })
}

// ---- the table ---------------------------------------------------------------------------

/// `struct afb_req_x2_itf`, in the ABI's order.
#[repr(C)]
pub struct ReqX2Itf {
    json: unsafe extern "C" fn(*mut ReqX2) -> *mut JsonObject,
    get: unsafe extern "C" fn(*mut ReqX2, *const c_char) -> AfbArg,
    legacy_success: unsafe extern "C" fn(*mut ReqX2, *mut JsonObject, *const c_char),
    legacy_fail: unsafe extern "C" fn(*mut ReqX2, *const c_char, *const c_char),
    legacy_vsuccess: unsafe extern "C" fn(*mut ReqX2, *mut JsonObject, *const c_char, *mut c_void),
    legacy_vfail: unsafe extern "C" fn(*mut ReqX2, *const c_char, *const c_char, *mut c_void),
    legacy_context_get: unsafe extern "C" fn(*mut ReqX2) -> *mut c_void,
    legacy_context_set: unsafe extern "C" fn(*mut ReqX2, *mut c_void, Dispose),
    addref: unsafe extern "C" fn(*mut ReqX2) -> *mut ReqX2,
    unref: extern "C" fn(*mut ReqX2),
    session_close: unsafe extern "C" fn(*mut ReqX2),
    session_set_loa: unsafe extern "C" fn(*mut ReqX2, c_uint) -> c_int,
    legacy_subscribe_event_x1: unsafe extern "C" fn(*mut ReqX2, EventX1) -> c_int,
    legacy_unsubscribe_event_x1: unsafe extern "C" fn(*mut ReqX2, EventX1) -> c_int,
    legacy_subcall: call::LegacySubcall,
    legacy_subcallsync: call::LegacySubcallSync,
    vverbose: unsafe extern "C" fn(*mut ReqX2, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    legacy_store_req: unsafe extern "C" fn(*mut ReqX2) -> *mut c_void,
    legacy_subcall_req: call::LegacySubcallReq,
    has_permission: unsafe extern "C" fn(*mut ReqX2, *const c_char) -> c_int,
    get_application_id: unsafe extern "C" fn(*mut ReqX2) -> *mut c_char,
    context_make: unsafe extern "C" fn(*mut ReqX2, c_int, Option<CookieCreate>, Dispose, *mut c_void) -> *mut c_void,
    subscribe_event_x2: unsafe extern "C" fn(*mut ReqX2, *mut CEvent) -> c_int,
    unsubscribe_event_x2: unsafe extern "C" fn(*mut ReqX2, *mut CEvent) -> c_int,
    legacy_subcall_request: call::LegacySubcallRequest,
    get_uid: unsafe extern "C" fn(*mut ReqX2) -> c_int,
    reply: unsafe extern "C" fn(*mut ReqX2, *mut JsonObject, *const c_char, *const c_char),
    vreply: unsafe extern "C" fn(*mut ReqX2, *mut JsonObject, *const c_char, *const c_char, *mut c_void),
    get_client_info: unsafe extern "C" fn(*mut ReqX2) -> *mut JsonObject,
    subcall: call::Subcall,
    subcallsync: call::SubcallSync,
}

static REQ_ITF: ReqX2Itf = ReqX2Itf {
    json: req_json,
    get: req_get,
    legacy_success: req_legacy_success,
    legacy_fail: req_legacy_fail,
    legacy_vsuccess: req_legacy_vsuccess,
    legacy_vfail: req_legacy_vfail,
    legacy_context_get: req_legacy_context_get,
    legacy_context_set: req_legacy_context_set,
    addref: req_addref,
    unref: req_unref,
    session_close: req_session_close,
    session_set_loa: req_session_set_loa,
    legacy_subscribe_event_x1: req_legacy_subscribe_x1,
    legacy_unsubscribe_event_x1: req_legacy_unsubscribe_x1,
    legacy_subcall: call::req_legacy_subcall,
    legacy_subcallsync: call::req_legacy_subcallsync,
    vverbose: req_vverbose,
    legacy_store_req: req_legacy_store,
    legacy_subcall_req: call::req_legacy_subcall_req,
    has_permission: req_has_permission,
    get_application_id: req_get_application_id,
    context_make: req_context_make,
    subscribe_event_x2: req_subscribe_x2,
    unsubscribe_event_x2: req_unsubscribe_x2,
    legacy_subcall_request: call::req_legacy_subcall_request,
    get_uid: req_get_uid,
    reply: req_reply,
    vreply: req_vreply,
    get_client_info: req_get_client_info,
    subcall: call::req_subcall,
    subcallsync: call::req_subcallsync,
};

/// The by-value handle of an event (v1, v2; NULL: a NULL handle).
pub(crate) fn event_x1(e: *mut CEvent) -> EventX1 {
    EventX1 {
        itf: if e.is_null() {
            std::ptr::null()
        } else {
            event::event_itf()
        },
        closure: e,
    }
}
