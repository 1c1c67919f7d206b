//! The request and event interfaces shared by ABI v1, v2 and v3
//! (`struct afb_req_x2_itf`, 31 functions; `struct afb_event_x2_itf`, 5
//! functions), the v1/v2 by-value handles (`afb_req_x1`, `afb_event_x1`)
//! and the v1/v2 daemon and service interfaces.
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

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use afb_core::{Event, Reply, Request};
use serde_json::value::RawValue;

use crate::capi::{lock, CApi, CVerb};
use crate::jsonc::{self, JsonObj, JsonObject};
use crate::req::{self, Caller, ReqCore};
use crate::util::{self, cstr, guard, SendPtr};

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
    api: *mut crate::capi::ApiX3,
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
        vcbdata: verb.vcbdata.0,
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
unsafe fn req_ref<'a>(r: *mut ReqX2) -> Option<&'a ReqX2> {
    // SAFETY: per the contract.
    unsafe { r.as_ref() }
}

pub(crate) fn call_verb_x2(api: &'static CApi, verb: &CVerb, cb: ReqCallbackX2, req: Request) {
    let r = new_req(api, verb, req);
    // SAFETY: the binding's verb callback with a live request; C code does
    // not unwind.
    unsafe { cb(r) };
    req_unref(r);
}

pub(crate) fn call_verb_x1(api: &'static CApi, verb: &CVerb, cb: ReqCallbackX1, req: Request) {
    let r = new_req(api, verb, req);
    // SAFETY: as in `call_verb_x2`, with the by-value handle of v1/v2.
    unsafe {
        cb(ReqX1 {
            itf: &REQ_ITF,
            closure: r,
        })
    };
    req_unref(r);
}

// ---- the request interface ---------------------------------------------------

unsafe extern "C" fn req_json(r: *mut ReqX2) -> *mut JsonObject {
    guard("req json", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        let Some(r) = (unsafe { req_ref(r) }) else {
            return std::ptr::null_mut();
        };
        r.json
            .get_or_init(|| JsonObj::parse(r.core.handle.args().json_text()))
            .as_ptr()
    })
}

unsafe extern "C" fn req_get(r: *mut ReqX2, name: *const c_char) -> AfbArg {
    let none = AfbArg {
        name,
        value: std::ptr::null(),
        path: std::ptr::null(),
    };
    guard("req get", none, || {
        // SAFETY: C gives a live request and a string.
        let (Some(r), Some(n)) = (unsafe { req_ref(r) }, unsafe { cstr(name) }) else {
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

fn reply_x2(r: &ReqX2, obj: *mut JsonObject, error: Option<&str>, info: Option<String>) {
    // SAFETY: `obj` is consumed: it is the caller's reference.
    let data = unsafe {
        let text = jsonc::to_text(obj);
        jsonc::put(obj);
        text
    };
    let data = (data != "null").then(|| RawValue::from_string(data).ok()).flatten();
    let reply = match error {
        None => Reply::success(data, info),
        Some(e) => Reply::error(e.to_owned(), info).with_data(data),
    };
    r.core.reply(reply);
}

unsafe extern "C" fn req_legacy_success(r: *mut ReqX2, obj: *mut JsonObject, info: *const c_char) {
    guard("req success", (), || {
        // SAFETY: C gives a live request and strings.
        if let Some(r) = unsafe { req_ref(r) } {
            reply_x2(r, obj, None, unsafe { cstr(info) }.map(|s| s.into_owned()));
        }
    })
}

unsafe extern "C" fn req_legacy_fail(r: *mut ReqX2, st: *const c_char, info: *const c_char) {
    guard("req fail", (), || {
        // SAFETY: C gives a live request and strings.
        if let Some(r) = unsafe { req_ref(r) } {
            let st = unsafe { cstr(st) }
                .map(|s| s.into_owned())
                .unwrap_or_else(|| "failed".into());
            reply_x2(
                r,
                std::ptr::null_mut(),
                Some(&st),
                unsafe { cstr(info) }.map(|s| s.into_owned()),
            );
        }
    })
}

unsafe extern "C" fn req_legacy_vsuccess(r: *mut ReqX2, obj: *mut JsonObject, fmt: *const c_char, ap: *mut c_void) {
    guard("req vsuccess", (), || {
        // SAFETY: C gives a live request, a format and its va_list.
        if let Some(r) = unsafe { req_ref(r) } {
            let info = (!fmt.is_null()).then(|| unsafe { util::format_va(fmt, ap) });
            reply_x2(r, obj, None, info);
        }
    })
}

unsafe extern "C" fn req_legacy_vfail(r: *mut ReqX2, st: *const c_char, fmt: *const c_char, ap: *mut c_void) {
    guard("req vfail", (), || {
        // SAFETY: as in `req_legacy_vsuccess`.
        if let Some(r) = unsafe { req_ref(r) } {
            let st = unsafe { cstr(st) }
                .map(|s| s.into_owned())
                .unwrap_or_else(|| "failed".into());
            let info = (!fmt.is_null()).then(|| unsafe { util::format_va(fmt, ap) });
            reply_x2(r, std::ptr::null_mut(), Some(&st), info);
        }
    })
}

/// A context value of a C binding kept in a session: dropping it calls the
/// binding's free function.
pub(crate) struct Cookie {
    pub value: SendPtr,
    pub free: Option<unsafe extern "C" fn(*mut c_void)>,
    pub free_arg: SendPtr,
}

impl Drop for Cookie {
    fn drop(&mut self) {
        if let Some(f) = self.free {
            // SAFETY: the binding's free function with the argument it chose.
            unsafe { f(self.free_arg.0) }
        }
    }
}

/// The context value of the request's API in its session, if any.
pub(crate) fn cookie_get(h: &afb_core::ReqHandle) -> Option<*mut c_void> {
    h.context().and_then(|c| c.downcast_ref::<Cookie>().map(|c| c.value.0))
}

/// Stores a context value (the previous one is freed).
pub(crate) fn cookie_set(h: &afb_core::ReqHandle, c: Cookie) {
    h.set_context(Some(std::sync::Arc::new(c)));
}

unsafe extern "C" fn req_legacy_context_get(r: *mut ReqX2) -> *mut c_void {
    guard("req context get", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        unsafe { req_ref(r) }
            .and_then(|r| cookie_get(&r.core.handle))
            .unwrap_or(std::ptr::null_mut())
    })
}

unsafe extern "C" fn req_legacy_context_set(
    r: *mut ReqX2,
    v: *mut c_void,
    free: Option<unsafe extern "C" fn(*mut c_void)>,
) {
    guard("req context set", (), || {
        // SAFETY: C gives a live request.
        if let Some(r) = unsafe { req_ref(r) } {
            cookie_set(
                &r.core.handle,
                Cookie {
                    value: SendPtr(v),
                    free,
                    free_arg: SendPtr(v),
                },
            );
        }
    })
}

unsafe extern "C" fn req_addref(r: *mut ReqX2) -> *mut ReqX2 {
    guard("req addref", r, || {
        // SAFETY: C gives a live request.
        if let Some(x) = unsafe { req_ref(r) } {
            x.refs.fetch_add(1, Ordering::AcqRel);
        }
        r
    })
}

extern "C" fn req_unref(r: *mut ReqX2) {
    guard("req unref", (), || {
        // SAFETY: C gives a live request.
        let Some(x) = (unsafe { req_ref(r) }) else {
            return;
        };
        if x.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the last reference is gone: the box made by `new_req`
            // is freed once (dropping an unanswered request answers it
            // `not-replied`).
            drop(unsafe { Box::from_raw(r) });
        }
    })
}

unsafe extern "C" fn req_session_close(r: *mut ReqX2) {
    guard("req session close", (), || {
        // SAFETY: C gives a live request.
        if let Some(r) = unsafe { req_ref(r) } {
            r.core.handle.close_session_after_reply();
        }
    })
}

unsafe extern "C" fn req_session_set_loa(r: *mut ReqX2, level: c_uint) -> c_int {
    guard("req set LOA", -1, || {
        // SAFETY: C gives a live request.
        match unsafe { req_ref(r) }.map(|r| r.core.handle.set_loa(level)) {
            Some(Ok(())) => 0,
            _ => -1,
        }
    })
}

/// # Safety
/// `e` is NULL or a live event.
pub(crate) unsafe fn event_ref<'a>(e: *mut CEvent) -> Option<&'a CEvent> {
    // SAFETY: per the contract.
    unsafe { e.as_ref() }
}

fn subscribe(r: *mut ReqX2, e: *mut CEvent, on: bool) -> c_int {
    // SAFETY: C gives a live request and event.
    let (Some(r), Some(e)) = (unsafe { req_ref(r) }, unsafe { event_ref(e) }) else {
        return -1;
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
            -1
        }
    }
}

unsafe extern "C" fn req_legacy_subscribe_x1(r: *mut ReqX2, e: EventX1) -> c_int {
    guard("req subscribe", -1, || subscribe(r, e.closure, true))
}

unsafe extern "C" fn req_legacy_unsubscribe_x1(r: *mut ReqX2, e: EventX1) -> c_int {
    guard("req unsubscribe", -1, || subscribe(r, e.closure, false))
}

unsafe extern "C" fn req_subscribe_x2(r: *mut ReqX2, e: *mut CEvent) -> c_int {
    guard("req subscribe", -1, || subscribe(r, e, true))
}

unsafe extern "C" fn req_unsubscribe_x2(r: *mut ReqX2, e: *mut CEvent) -> c_int {
    guard("req unsubscribe", -1, || subscribe(r, e, false))
}

/// Takes the caller's reference of a json-c argument and makes call arguments.
///
/// # Safety
/// `obj` is NULL or a json-c object whose reference the caller gives.
pub(crate) unsafe fn take_args(obj: *mut JsonObject) -> afb_core::Args {
    // SAFETY: per the contract.
    let text = unsafe {
        let t = jsonc::to_text(obj);
        jsonc::put(obj);
        t
    };
    req::args_of(&text)
}

fn names(api: *const c_char, verb: *const c_char) -> Option<(String, String)> {
    // SAFETY: C gives strings.
    let a = unsafe { cstr(api) }?.into_owned();
    // SAFETY: as above.
    let v = unsafe { cstr(verb) }?.into_owned();
    Some((a, v))
}

type LegacyCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject);

unsafe extern "C" fn req_legacy_subcall(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyCb>,
    closure: *mut c_void,
) {
    guard("req subcall", (), || {
        // SAFETY: C gives a live request and its argument reference.
        let args = unsafe { take_args(args) };
        let (Some(x), Some((a, v))) = (unsafe { req_ref(r) }, names(api, verb)) else {
            return;
        };
        // SAFETY: keep the request alive until the callback ran.
        unsafe { req_addref(r) };
        let fut = req::start_call(Caller::Req(&x.core.handle, false), &a, &v, args);
        let (rp, closure) = (SendPtr(r.cast()), SendPtr(closure));
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
                let st = if reply.is_success() { 0 } else { -1 };
                // SAFETY: the binding's callback; the envelope is put after it.
                unsafe {
                    cb(closure.get(), st, env);
                    jsonc::put(env);
                }
            }
            req_unref(rp.get().cast());
        });
    })
}

unsafe extern "C" fn req_legacy_subcallsync(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    result: *mut *mut JsonObject,
) -> c_int {
    guard("req subcallsync", 0, || {
        // SAFETY: C gives a live request and its argument reference.
        let args = unsafe { take_args(args) };
        let (Some(x), Some((a, v))) = (unsafe { req_ref(r) }, names(api, verb)) else {
            return 0;
        };
        let reply = req::wait(req::start_call(Caller::Req(&x.core.handle, false), &a, &v, args));
        if !result.is_null() {
            // SAFETY: C gives where to store the result (the caller puts it).
            unsafe { *result = jsonc::parse_or_null(&req::legacy_envelope(&reply)) };
        }
        c_int::from(reply.is_success())
    })
}

unsafe extern "C" fn req_vverbose(
    r: *mut ReqX2,
    level: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    fmt: *const c_char,
    ap: *mut c_void,
) {
    guard("req log", (), || {
        // SAFETY: C gives a live request, strings, a format and its va_list.
        if let Some(r) = unsafe { req_ref(r) } {
            let msg = unsafe { util::format_va(fmt, ap) };
            r.core.api.log(
                level,
                unsafe { cstr(file) }.as_deref(),
                line,
                unsafe { cstr(func) }.as_deref(),
                &msg,
            );
        }
    })
}

unsafe extern "C" fn req_legacy_store(r: *mut ReqX2) -> *mut c_void {
    // SAFETY: storing is keeping a reference; C gives a live request.
    unsafe { req_addref(r) }.cast()
}

type LegacyReqCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject, ReqX1);
type LegacyRequestCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject, *mut ReqX2);

fn legacy_subcall_with_req(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    deliver: impl FnOnce(c_int, *mut JsonObject, *mut ReqX2) + Send + 'static,
) {
    // SAFETY: C gives a live request and its argument reference.
    let args = unsafe { take_args(args) };
    let (Some(x), Some((a, v))) = (unsafe { req_ref(r) }, names(api, verb)) else {
        return;
    };
    // SAFETY: keep the request alive until the callback ran.
    unsafe { req_addref(r) };
    let fut = req::start_call(Caller::Req(&x.core.handle, false), &a, &v, args);
    let rp = SendPtr(r.cast());
    req::then(fut, move |reply| {
        let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
        deliver(if reply.is_success() { 0 } else { -1 }, env, rp.get().cast());
        // SAFETY: the envelope is ours once the callback returned.
        unsafe { jsonc::put(env) };
        req_unref(rp.get().cast());
    });
}

unsafe extern "C" fn req_legacy_subcall_req(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyReqCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        legacy_subcall_with_req(r, api, verb, args, move |st, env, r| {
            if let Some(cb) = cb {
                // SAFETY: the binding's callback with a live request.
                unsafe {
                    cb(
                        closure.get(),
                        st,
                        env,
                        ReqX1 {
                            itf: &REQ_ITF,
                            closure: r,
                        },
                    )
                }
            }
        })
    })
}

unsafe extern "C" fn req_legacy_subcall_request(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyRequestCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        legacy_subcall_with_req(r, api, verb, args, move |st, env, r| {
            if let Some(cb) = cb {
                // SAFETY: the binding's callback with a live request.
                unsafe { cb(closure.get(), st, env, r) }
            }
        })
    })
}

unsafe extern "C" fn req_has_permission(_r: *mut ReqX2, _perm: *const c_char) -> c_int {
    // No permission service: granted, as the C binders do without one.
    1
}

unsafe extern "C" fn req_get_application_id(_r: *mut ReqX2) -> *mut c_char {
    util::not_available_once("the application id of a client (no security framework)");
    std::ptr::null_mut()
}

/// `context_make`: get, or create and store, the API's context value.
pub(crate) fn context_make(
    h: &afb_core::ReqHandle,
    replace: bool,
    create: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    free: Option<unsafe extern "C" fn(*mut c_void)>,
    closure: *mut c_void,
) -> *mut c_void {
    if !replace {
        if let Some(v) = cookie_get(h) {
            return v;
        }
    }
    let value = match create {
        // SAFETY: the binding's creation function with its closure.
        Some(f) => unsafe { f(closure) },
        None => closure,
    };
    cookie_set(
        h,
        Cookie {
            value: SendPtr(value),
            free,
            free_arg: SendPtr(value),
        },
    );
    value
}

unsafe extern "C" fn req_context_make(
    r: *mut ReqX2,
    replace: c_int,
    create: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    free: Option<unsafe extern "C" fn(*mut c_void)>,
    closure: *mut c_void,
) -> *mut c_void {
    guard("req context", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        match unsafe { req_ref(r) } {
            Some(r) => context_make(&r.core.handle, replace != 0, create, free, closure),
            None => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn req_get_uid(r: *mut ReqX2) -> c_int {
    guard("req uid", -1, || {
        // SAFETY: C gives a live request.
        unsafe { req_ref(r) }
            .and_then(|r| r.core.handle.client().creds.as_ref().map(|c| c.uid as c_int))
            .unwrap_or(-1)
    })
}

unsafe extern "C" fn req_reply(r: *mut ReqX2, obj: *mut JsonObject, error: *const c_char, info: *const c_char) {
    guard("req reply", (), || {
        // SAFETY: C gives a live request and strings.
        if let Some(r) = unsafe { req_ref(r) } {
            let e = unsafe { cstr(error) }.map(|s| s.into_owned());
            reply_x2(r, obj, e.as_deref(), unsafe { cstr(info) }.map(|s| s.into_owned()));
        } else {
            // SAFETY: the object is consumed even without request.
            unsafe { jsonc::put(obj) };
        }
    })
}

unsafe extern "C" fn req_vreply(
    r: *mut ReqX2,
    obj: *mut JsonObject,
    error: *const c_char,
    fmt: *const c_char,
    ap: *mut c_void,
) {
    guard("req vreply", (), || {
        // SAFETY: C gives a live request, strings, a format and its va_list.
        if let Some(r) = unsafe { req_ref(r) } {
            let e = unsafe { cstr(error) }.map(|s| s.into_owned());
            let info = (!fmt.is_null()).then(|| unsafe { util::format_va(fmt, ap) });
            reply_x2(r, obj, e.as_deref(), info);
        }
    })
}

/// The client description (`get_client_info`) as JSON text.
pub(crate) fn client_info(h: &afb_core::ReqHandle) -> String {
    let mut v = serde_json::json!({"uuid": h.session().uuid(), "LOA": h.loa()});
    if let Some(c) = &h.client().creds {
        v["uid"] = c.uid.into();
        v["gid"] = c.gid.into();
        v["pid"] = c.pid.into();
        if let Some(l) = &c.label {
            v["label"] = l.clone().into();
        }
    }
    v.to_string()
}

unsafe extern "C" fn req_get_client_info(r: *mut ReqX2) -> *mut JsonObject {
    guard("req client info", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        match unsafe { req_ref(r) } {
            Some(r) => jsonc::parse_or_null(&client_info(&r.core.handle)),
            None => std::ptr::null_mut(),
        }
    })
}

/// Flag of subcalls made in the API's own session.
const SUBCALL_API_SESSION: c_int = 8;

type SubcallCb = unsafe extern "C" fn(*mut c_void, *mut JsonObject, *const c_char, *const c_char, *mut ReqX2);

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

unsafe extern "C" fn req_subcall(
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
        // SAFETY: C gives a live request and its argument reference.
        let args = unsafe { take_args(args) };
        let (Some(x), Some((a, v))) = (unsafe { req_ref(r) }, names(api, verb)) else {
            return;
        };
        // SAFETY: keep the request alive until the callback ran.
        unsafe { req_addref(r) };
        let fut = req::start_call(
            Caller::Req(&x.core.handle, flags & SUBCALL_API_SESSION != 0),
            &a,
            &v,
            args,
        );
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

/// Stores a reply's parts where C asked (caller owns them).
///
/// # Safety
/// Each out pointer is NULL or writable.
pub(crate) unsafe fn store_triple(
    reply: &Reply,
    obj: *mut *mut JsonObject,
    error: *mut *mut c_char,
    info: *mut *mut c_char,
) {
    // SAFETY: per the contract.
    unsafe {
        if !obj.is_null() {
            *obj = reply
                .data_json()
                .map(jsonc::parse_or_null)
                .unwrap_or(std::ptr::null_mut());
        }
        if !error.is_null() {
            *error = if reply.is_success() {
                std::ptr::null_mut()
            } else {
                util::malloc_str(&reply.status)
            };
        }
        if !info.is_null() {
            *info = reply.info.as_deref().map_or(std::ptr::null_mut(), util::malloc_str);
        }
    }
}

unsafe extern "C" fn req_subcallsync(
    r: *mut ReqX2,
    api: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    flags: c_int,
    obj: *mut *mut JsonObject,
    error: *mut *mut c_char,
    info: *mut *mut c_char,
) -> c_int {
    guard("req subcallsync", -1, || {
        // SAFETY: C gives a live request and its argument reference.
        let args = unsafe { take_args(args) };
        let (Some(x), Some((a, v))) = (unsafe { req_ref(r) }, names(api, verb)) else {
            return -1;
        };
        let reply = req::wait(req::start_call(
            Caller::Req(&x.core.handle, flags & SUBCALL_API_SESSION != 0),
            &a,
            &v,
            args,
        ));
        // SAFETY: C gives writable out pointers (or NULL).
        unsafe { store_triple(&reply, obj, error, info) };
        if reply.is_success() {
            0
        } else {
            -1
        }
    })
}

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
    legacy_context_set: unsafe extern "C" fn(*mut ReqX2, *mut c_void, Option<unsafe extern "C" fn(*mut c_void)>),
    addref: unsafe extern "C" fn(*mut ReqX2) -> *mut ReqX2,
    unref: extern "C" fn(*mut ReqX2),
    session_close: unsafe extern "C" fn(*mut ReqX2),
    session_set_loa: unsafe extern "C" fn(*mut ReqX2, c_uint) -> c_int,
    legacy_subscribe_event_x1: unsafe extern "C" fn(*mut ReqX2, EventX1) -> c_int,
    legacy_unsubscribe_event_x1: unsafe extern "C" fn(*mut ReqX2, EventX1) -> c_int,
    legacy_subcall:
        unsafe extern "C" fn(*mut ReqX2, *const c_char, *const c_char, *mut JsonObject, Option<LegacyCb>, *mut c_void),
    legacy_subcallsync:
        unsafe extern "C" fn(*mut ReqX2, *const c_char, *const c_char, *mut JsonObject, *mut *mut JsonObject) -> c_int,
    vverbose: unsafe extern "C" fn(*mut ReqX2, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    legacy_store_req: unsafe extern "C" fn(*mut ReqX2) -> *mut c_void,
    legacy_subcall_req: unsafe extern "C" fn(
        *mut ReqX2,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        Option<LegacyReqCb>,
        *mut c_void,
    ),
    has_permission: unsafe extern "C" fn(*mut ReqX2, *const c_char) -> c_int,
    get_application_id: unsafe extern "C" fn(*mut ReqX2) -> *mut c_char,
    context_make: unsafe extern "C" fn(
        *mut ReqX2,
        c_int,
        Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
        Option<unsafe extern "C" fn(*mut c_void)>,
        *mut c_void,
    ) -> *mut c_void,
    subscribe_event_x2: unsafe extern "C" fn(*mut ReqX2, *mut CEvent) -> c_int,
    unsubscribe_event_x2: unsafe extern "C" fn(*mut ReqX2, *mut CEvent) -> c_int,
    legacy_subcall_request: unsafe extern "C" fn(
        *mut ReqX2,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        Option<LegacyRequestCb>,
        *mut c_void,
    ),
    get_uid: unsafe extern "C" fn(*mut ReqX2) -> c_int,
    reply: unsafe extern "C" fn(*mut ReqX2, *mut JsonObject, *const c_char, *const c_char),
    vreply: unsafe extern "C" fn(*mut ReqX2, *mut JsonObject, *const c_char, *const c_char, *mut c_void),
    get_client_info: unsafe extern "C" fn(*mut ReqX2) -> *mut JsonObject,
    subcall: unsafe extern "C" fn(
        *mut ReqX2,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        c_int,
        Option<SubcallCb>,
        *mut c_void,
    ),
    subcallsync: unsafe extern "C" fn(
        *mut ReqX2,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        c_int,
        *mut *mut JsonObject,
        *mut *mut c_char,
        *mut *mut c_char,
    ) -> c_int,
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
    legacy_subcall: req_legacy_subcall,
    legacy_subcallsync: req_legacy_subcallsync,
    vverbose: req_vverbose,
    legacy_store_req: req_legacy_store,
    legacy_subcall_req: req_legacy_subcall_req,
    has_permission: req_has_permission,
    get_application_id: req_get_application_id,
    context_make: req_context_make,
    subscribe_event_x2: req_subscribe_x2,
    unsubscribe_event_x2: req_unsubscribe_x2,
    legacy_subcall_request: req_legacy_subcall_request,
    get_uid: req_get_uid,
    reply: req_reply,
    vreply: req_vreply,
    get_client_info: req_get_client_info,
    subcall: req_subcall,
    subcallsync: req_subcallsync,
};

// ---- events --------------------------------------------------------------------

/// An event made by a C binding (any ABI). For v3 its address is the
/// `struct afb_event_x2 *` (first field: the interface); for v4 it is the
/// opaque `afb_event_t`; for v1/v2 it is the closure of `afb_event_x1`.
#[repr(C)]
pub struct CEvent {
    itf: *const EventX2Itf,
    refs: AtomicUsize,
    pub(crate) event: Event,
    name: CString,
    pub(crate) api: &'static CApi,
}

// SAFETY: `itf` points to a static table; the rest is thread-safe.
unsafe impl Send for CEvent {}
// SAFETY: see `Send`.
unsafe impl Sync for CEvent {}

/// Makes an event `API/name` of `api` (one reference for the caller).
pub(crate) fn make_event(api: &'static CApi, name: &str) -> Result<*mut CEvent, String> {
    let event = match api.api_ref() {
        Some(r) => r.new_event(name).map_err(|e| e.to_string())?,
        None => {
            let reg = api.registry().ok_or("the binder is shutting down")?;
            afb_core::name::validate_event_name(name).map_err(|e| e.to_string())?;
            reg.new_event_raw(&format!("{}/{}", api.name, name))
        }
    };
    let name = util::cstring(event.name());
    Ok(Box::into_raw(Box::new(CEvent {
        itf: &EVENT_ITF,
        refs: AtomicUsize::new(1),
        event,
        name,
        api,
    })))
}

/// Pushes JSON text to the event's subscribers; 1 when some received it.
pub(crate) fn event_push_text(e: &CEvent, text: &str) -> c_int {
    let raw = RawValue::from_string(text.to_owned()).ok();
    c_int::from(e.event.push(raw.as_deref()) > 0)
}

/// Broadcasts the event with JSON text; 0 when sent.
pub(crate) fn event_broadcast_text(e: &CEvent, text: &str) -> c_int {
    let raw = RawValue::from_string(text.to_owned()).ok();
    match e.api.registry() {
        Some(r) => {
            util::in_runtime(|| r.broadcast(e.event.name(), raw.as_deref(), None));
            0
        }
        None => -1,
    }
}

unsafe extern "C" fn event_broadcast(e: *mut CEvent, obj: *mut JsonObject) -> c_int {
    guard("event broadcast", -1, || {
        // SAFETY: the object is consumed; C gives a live event.
        let text = unsafe {
            let t = jsonc::to_text(obj);
            jsonc::put(obj);
            t
        };
        unsafe { event_ref(e) }.map_or(-1, |e| event_broadcast_text(e, &text))
    })
}

unsafe extern "C" fn event_push(e: *mut CEvent, obj: *mut JsonObject) -> c_int {
    guard("event push", -1, || {
        // SAFETY: the object is consumed; C gives a live event.
        let text = unsafe {
            let t = jsonc::to_text(obj);
            jsonc::put(obj);
            t
        };
        unsafe { event_ref(e) }.map_or(-1, |e| event_push_text(e, &text))
    })
}

pub(crate) extern "C" fn event_unref(e: *mut CEvent) {
    guard("event unref", (), || {
        // SAFETY: C gives a live event.
        let Some(x) = (unsafe { event_ref(e) }) else {
            return;
        };
        if x.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: last reference: the box of `make_event` is freed once.
            drop(unsafe { Box::from_raw(e) });
        }
    })
}

pub(crate) extern "C" fn event_name(e: *mut CEvent) -> *const c_char {
    guard("event name", std::ptr::null(), || {
        // SAFETY: C gives a live event.
        unsafe { event_ref(e) }.map_or(std::ptr::null(), |e| e.name.as_ptr())
    })
}

pub(crate) extern "C" fn event_addref(e: *mut CEvent) -> *mut CEvent {
    guard("event addref", e, || {
        // SAFETY: C gives a live event.
        if let Some(x) = unsafe { event_ref(e) } {
            x.refs.fetch_add(1, Ordering::AcqRel);
        }
        e
    })
}

/// `struct afb_event_x2_itf`, in the ABI's order.
#[repr(C)]
pub struct EventX2Itf {
    broadcast: unsafe extern "C" fn(*mut CEvent, *mut JsonObject) -> c_int,
    push: unsafe extern "C" fn(*mut CEvent, *mut JsonObject) -> c_int,
    unref: extern "C" fn(*mut CEvent),
    name: extern "C" fn(*mut CEvent) -> *const c_char,
    addref: extern "C" fn(*mut CEvent) -> *mut CEvent,
}

static EVENT_ITF: EventX2Itf = EventX2Itf {
    broadcast: event_broadcast,
    push: event_push,
    unref: event_unref,
    name: event_name,
    addref: event_addref,
};

/// The event interface (for v1/v2 by-value handles).
pub(crate) fn event_itf() -> *const EventX2Itf {
    &EVENT_ITF
}

/// Calls a v1/v2 `onevent(name, object)`.
pub(crate) fn call_onevent_v12(cb: unsafe extern "C" fn(*const c_char, *mut JsonObject), name: &str, data: &str) {
    let n = util::cstring(name);
    let obj = jsonc::parse_or_null(data);
    // SAFETY: the binding's callback; the object is put after it.
    unsafe {
        cb(n.as_ptr(), obj);
        jsonc::put(obj);
    }
}

// ---- v1 / v2: daemon and service interfaces ------------------------------------

/// `struct afb_daemon_x1` / `struct afb_service_x1`: an interface and its closure.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ItfX1<T> {
    /// The interface.
    pub itf: *const T,
    /// The API (closure of every function).
    pub closure: *mut crate::capi::ApiX3,
}

/// `struct afb_service_x1`.
pub type ServiceX1 = ItfX1<ServiceItfX1>;
/// `struct afb_daemon_x1`.
pub type DaemonX1 = ItfX1<crate::v3::DaemonItfX1>;

/// The service handle of an API.
pub(crate) fn service_x1(api: &'static CApi) -> ServiceX1 {
    ItfX1 {
        itf: &SERVICE_ITF,
        closure: api.as_c(),
    }
}

/// The daemon handle of an API.
pub(crate) fn daemon_x1(api: &'static CApi) -> DaemonX1 {
    ItfX1 {
        itf: crate::v3::daemon_itf(),
        closure: api.as_c(),
    }
}

unsafe extern "C" fn svc_call(
    api: *mut crate::capi::ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("service call", (), || {
        // SAFETY: C gives its API and the argument reference.
        let args = unsafe { take_args(args) };
        let (Some(capi), Some((a, v))) = (unsafe { CApi::from_c(api) }, names(apiname, verb)) else {
            return;
        };
        let fut = req::start_call(Caller::Api(capi), &a, &v, args);
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
                // SAFETY: the binding's callback; the envelope is put after it.
                unsafe {
                    cb(closure.get(), if reply.is_success() { 0 } else { -1 }, env);
                    jsonc::put(env);
                }
            }
        });
    })
}

unsafe extern "C" fn svc_call_sync(
    api: *mut crate::capi::ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    result: *mut *mut JsonObject,
) -> c_int {
    guard("service call_sync", 0, || {
        // SAFETY: C gives its API and the argument reference.
        let args = unsafe { take_args(args) };
        let (Some(capi), Some((a, v))) = (unsafe { CApi::from_c(api) }, names(apiname, verb)) else {
            return 0;
        };
        let reply = req::wait(req::start_call(Caller::Api(capi), &a, &v, args));
        if !result.is_null() {
            // SAFETY: C gives where to store the envelope (the caller puts it).
            unsafe { *result = jsonc::parse_or_null(&req::legacy_envelope(&reply)) };
        }
        c_int::from(reply.is_success())
    })
}

/// `struct afb_service_itf_x1`.
#[repr(C)]
pub struct ServiceItfX1 {
    call: unsafe extern "C" fn(
        *mut crate::capi::ApiX3,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        Option<LegacyCb>,
        *mut c_void,
    ),
    call_sync: unsafe extern "C" fn(
        *mut crate::capi::ApiX3,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        *mut *mut JsonObject,
    ) -> c_int,
}

static SERVICE_ITF: ServiceItfX1 = ServiceItfX1 {
    call: svc_call,
    call_sync: svc_call_sync,
};
