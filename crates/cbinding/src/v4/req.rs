//! The request functions of the v4 table: the request object (`afb_req_t`),
//! its parameters, reply, calls, session, cookies and user data.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use afb_binding_so::abi::{CheckCallback, CookieCreate, CookieInit, Dispose, SubcallCallback};
use afb_core::{status, Reply, Request};
use serde_json::value::RawValue;

use super::data::{self, CData, CType};
use super::{Binder, ReqCallback};
use crate::capi::{ApiX3, CApi, CVerb};
use crate::common::{self, Cookie};
use crate::errno::{FAILED, INTERNAL_ERROR, INVALID_REQUEST, NOT_AVAILABLE, NO_ITEM};
use crate::event::{self, CEvent};
use crate::jsonc::{self, JsonObject};
use crate::req::{self, Caller, ReqCore};
use crate::util::{self, cstr, guard, lock, write_out, SendPtr};

/// A v4 request (`afb_req_t`, opaque to C code).
pub struct ReqV4 {
    refs: AtomicUsize,
    core: ReqCore,
    vcbdata: *mut c_void,
    params: Mutex<Vec<*mut CData>>,
    params_ptr: *const *mut CData,
    nparams: c_uint,
    userdata: Mutex<(SendPtr, Dispose)>,
}

// SAFETY: the parameters are reference-counted data; vcbdata is the
// binding's; everything else is thread-safe.
unsafe impl Send for ReqV4 {}
// SAFETY: see `Send`.
unsafe impl Sync for ReqV4 {}

impl Drop for ReqV4 {
    fn drop(&mut self) {
        for p in lock(&self.params).drain(..) {
            data::unref(p);
        }
        let (userdata, free) = *lock(&self.userdata);
        if let Some(f) = free {
            // SAFETY: the binding's free function for its user data.
            unsafe { f(userdata.get()) }
        }
    }
}

/// # Safety
/// `r` is NULL or a live request.
unsafe fn req_of<'a>(r: *mut ReqV4) -> Option<&'a ReqV4> {
    // SAFETY: per the contract.
    unsafe { r.as_ref() }
}

/// Calls a v4 verb with a new request whose parameters are the typed
/// values of the arguments when they came typed, else one `#json`.
pub(super) fn call_verb(api: &'static CApi, verb: &CVerb, cb: ReqCallback, request: Request) {
    let params: Vec<*mut CData> = match request.args().typed() {
        Some(typed) => typed.iter().map(data::from_typed).collect(),
        None => vec![data::json(request.args().json_text())],
    };
    let nparams = params.len() as c_uint;
    let params_ptr = params.as_ptr();
    let r = Box::into_raw(Box::new(ReqV4 {
        refs: AtomicUsize::new(1),
        core: ReqCore::new(api, request),
        vcbdata: verb.vcbdata.get(),
        nparams,
        params: Mutex::new(params),
        params_ptr,
        userdata: Mutex::new((SendPtr(std::ptr::null_mut()), None)),
    }));
    // SAFETY: the binding's verb with a live request and its parameters
    // (owned by the request).
    unsafe { cb(r, nparams, params_ptr) };
    req_unref(r);
}

pub(super) extern "C" fn req_logmask(r: *mut ReqV4) -> c_int {
    guard("req logmask", 0, || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(0, |r| r.core.api.logmask())
    })
}

pub(super) extern "C" fn req_addref(r: *mut ReqV4) -> *mut ReqV4 {
    guard("req addref", r, || {
        // SAFETY: C gives a live request.
        if let Some(request) = unsafe { req_of(r) } {
            request.refs.fetch_add(1, Ordering::AcqRel);
        }
        r
    })
}

pub(super) extern "C" fn req_unref(r: *mut ReqV4) {
    guard("req unref", (), || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else { return };
        if request.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the last reference: freed once (unanswered: not-replied).
            drop(unsafe { Box::from_raw(r) });
        }
    })
}

pub(super) extern "C" fn req_api(r: *mut ReqV4) -> *mut ApiX3 {
    guard("req api", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(std::ptr::null_mut(), |r| r.core.api.as_c())
    })
}

pub(super) extern "C" fn req_vcbdata(r: *mut ReqV4) -> *mut c_void {
    guard("req vcbdata", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(std::ptr::null_mut(), |r| r.vcbdata)
    })
}

pub(super) extern "C" fn req_called_api(r: *mut ReqV4) -> *const c_char {
    guard("req api name", std::ptr::null(), || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(std::ptr::null(), |r| r.core.called_api.as_ptr())
    })
}

pub(super) extern "C" fn req_called_verb(r: *mut ReqV4) -> *const c_char {
    guard("req verb name", std::ptr::null(), || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(std::ptr::null(), |r| r.core.called_verb.as_ptr())
    })
}

pub(super) unsafe extern "C" fn req_vverbose(
    r: *mut ReqV4,
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

pub(super) extern "C" fn req_session_close(r: *mut ReqV4) {
    guard("req session close", (), || {
        // SAFETY: C gives a live request.
        if let Some(r) = unsafe { req_of(r) } {
            r.core.handle.close_session_after_reply()
        }
    })
}

pub(super) extern "C" fn req_session_set_loa(r: *mut ReqV4, level: c_uint) -> c_int {
    guard("req set LOA", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request.
        match unsafe { req_of(r) }.map(|r| r.core.handle.set_loa(level)) {
            Some(Ok(())) => 0,
            _ => FAILED,
        }
    })
}

pub(super) extern "C" fn req_session_get_loa(r: *mut ReqV4) -> c_uint {
    guard("req get LOA", 0, || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(0, |r| c_uint::from(r.core.handle.loa()))
    })
}

pub(super) unsafe extern "C" fn req_legacy_cookie(
    r: *mut ReqV4,
    replace: c_int,
    create: Option<CookieCreate>,
    free: Dispose,
    closure: *mut c_void,
) -> *mut c_void {
    guard("req cookie", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        match unsafe { req_of(r) } {
            Some(r) => common::context_make(&r.core.handle, replace != 0, create, free, closure),
            None => std::ptr::null_mut(),
        }
    })
}

fn subscribe(r: *mut ReqV4, e: *mut CEvent, on: bool) -> c_int {
    // SAFETY: C gives a live request and event.
    let (Some(r), Some(e)) = (unsafe { (req_of(r), event::event_of(e)) }) else {
        return INVALID_REQUEST;
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
            NOT_AVAILABLE
        }
    }
}

pub(super) extern "C" fn req_subscribe(r: *mut ReqV4, e: *mut CEvent) -> c_int {
    guard("req subscribe", INTERNAL_ERROR, || subscribe(r, e, true))
}

pub(super) extern "C" fn req_unsubscribe(r: *mut ReqV4, e: *mut CEvent) -> c_int {
    guard("req unsubscribe", INTERNAL_ERROR, || subscribe(r, e, false))
}

pub(super) extern "C" fn req_get_client_info(r: *mut ReqV4) -> *mut JsonObject {
    guard("req client info", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(std::ptr::null_mut(), |r| {
            jsonc::parse_or_null(&common::client_info(&r.core.handle))
        })
    })
}

pub(super) unsafe extern "C" fn req_check_permission(
    r: *mut ReqV4,
    permission: *const c_char,
    cb: Option<CheckCallback<Binder>>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req check permission", (), || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else { return };
        // SAFETY: C gives a string or NULL.
        let fut = match unsafe { util::cstr(permission) } {
            Some(p) => req::permission(&request.core.handle, &p),
            // A NULL permission is refused.
            None => Box::pin(std::future::ready(Reply::error(status::INVALID_REQUEST, None))),
        };
        req_addref(r);
        let rp = SendPtr(r.cast());
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                // Granted: 1, refused: 0 (as the C binders' backends).
                let granted = c_int::from(reply.is_success());
                // SAFETY: the binding's callback with its closure.
                unsafe { cb(closure.get(), granted, rp.get().cast()) }
            }
            req_unref(rp.get().cast());
        });
    })
}

// ---- parameters and reply ------------------------------------------------------------

pub(super) unsafe extern "C" fn req_parameters(r: *mut ReqV4, params: *mut *const *mut CData) -> c_uint {
    guard("req parameters", 0, || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return 0;
        };
        // SAFETY: C gives a location for the array (or NULL).
        unsafe { write_out(params, request.params_ptr) };
        request.nparams
    })
}

pub(super) unsafe extern "C" fn req_param_convert(
    r: *mut ReqV4,
    index: c_uint,
    ty: *const CType,
    result: *mut *mut CData,
) -> c_int {
    guard("req param convert", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request and type.
        let (Some(request), Some(t)) = (unsafe { (req_of(r), data::type_of(ty)) }) else {
            return INVALID_REQUEST;
        };
        let mut params = lock(&request.params);
        let Some(slot) = params.get_mut(index as usize) else {
            return NO_ITEM;
        };
        // SAFETY: the request's parameters are live.
        let Some(current) = (unsafe { data::data_of(*slot) }) else {
            return INVALID_REQUEST;
        };
        match data::convert(current, *slot, t) {
            Ok(n) => {
                data::unref(std::mem::replace(slot, n));
                // SAFETY: C gives a location for the result (or NULL); the
                // request keeps the reference.
                unsafe { write_out(result, n) };
                0
            }
            Err(rc) => rc,
        }
    })
}

/// The status of a negative v4 reply carrying several data.
const GENERIC_ERROR: &str = "error";

/// The reply of a v4 verb: a status >= 0 is a success (its code kept); a
/// negative one with several data is the C binder's generic `error` (the
/// data as an array); else the name of the standard code (`failed` when
/// not in the table).
fn reply_of(code: c_int, n: c_uint, data: Option<String>) -> Reply {
    let data = data.and_then(|t| RawValue::from_string(t).ok());
    if code >= 0 {
        Reply::success(data, None).with_code(code)
    } else {
        let st = if n > 1 {
            GENERIC_ERROR
        } else {
            status::status_of(code).unwrap_or("failed")
        };
        Reply::error(st, None).with_code(code).with_data(data)
    }
}

pub(super) unsafe extern "C" fn req_reply(r: *mut ReqV4, code: c_int, n: c_uint, replies: *const *mut CData) {
    guard("req reply", (), || {
        // SAFETY: C gives the replies' references (consumed) and a live request.
        let ((data, typed), r) = unsafe { (data::take_data(n, replies), req_of(r)) };
        if let Some(r) = r {
            r.core.reply(reply_of(code, n, data).with_typed(typed));
        }
    })
}

// ---- calls ---------------------------------------------------------------------------

/// The reply of a call as v4 sees it: a status and its typed data when it
/// came typed, else zero or one `#json` data.
pub(super) fn reply_data(reply: &Reply) -> (c_int, Vec<*mut CData>) {
    let data = match &reply.typed {
        Some(typed) => typed.iter().map(data::from_typed).collect(),
        None => reply.data_json().map(data::json).into_iter().collect(),
    };
    (req::code_of(reply), data)
}

const SUBCALL_API_SESSION: c_int = 8;

/// Starts a call of `api/verb` with parameters given by C (consumed).
pub(super) fn start_call(
    caller: Caller<'_>,
    api: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
) -> Option<afb_core::api::BoxFuture<Reply>> {
    // SAFETY: C gives the parameters' references (consumed) and strings.
    let ((args, typed), api, verb) = unsafe { (data::take_data(n, params), cstr(api), cstr(verb)) };
    let args = match typed {
        Some(typed) => afb_core::Args::from_typed(typed, args.and_then(|t| RawValue::from_string(t).ok())),
        None => req::args_of(args.as_deref().unwrap_or("null")),
    };
    Some(req::start_call(caller, &api?, &verb?, args))
}

/// Writes a synchronous call's reply where C asked; the call's result.
///
/// # Safety
/// The out pointers are NULL or writable; `replies` has `*nreplies` slots.
pub(super) unsafe fn store_sync(
    reply: &Reply,
    status: *mut c_int,
    nreplies: *mut c_uint,
    replies: *mut *mut CData,
) -> c_int {
    let (code, data) = reply_data(reply);
    // SAFETY: per the contract.
    unsafe { write_out(status, code) };
    // SAFETY: per the contract (NULL: no room).
    let room = unsafe { nreplies.as_ref() }.map_or(0, |n| *n as usize);
    let mut given = 0usize;
    for d in data {
        if given < room && !replies.is_null() {
            // SAFETY: per the contract, slot `given` < `*nreplies` is writable.
            unsafe { replies.add(given).write(d) };
            given += 1;
        } else {
            data::unref(d);
        }
    }
    // SAFETY: per the contract.
    unsafe { write_out(nreplies, given as c_uint) };
    code.min(0)
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn req_subcall(
    r: *mut ReqV4,
    api: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
    flags: c_int,
    cb: Option<SubcallCallback<Binder>>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else { return };
        let caller = Caller::Req(&request.core.handle, flags & SUBCALL_API_SESSION != 0);
        let Some(fut) = start_call(caller, api, verb, n, params) else {
            return;
        };
        req_addref(r);
        let rp = SendPtr(r.cast());
        req::then(fut, move |reply| {
            let (code, data) = reply_data(&reply);
            if let Some(cb) = cb {
                // SAFETY: the binding's callback; the replies are released after it.
                unsafe {
                    cb(
                        closure.get(),
                        code,
                        data.len() as c_uint,
                        data.as_ptr(),
                        rp.get().cast(),
                    )
                };
            }
            data.into_iter().for_each(data::unref);
            req_unref(rp.get().cast());
        });
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn req_subcall_sync(
    r: *mut ReqV4,
    api: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
    flags: c_int,
    status: *mut c_int,
    nreplies: *mut c_uint,
    replies: *mut *mut CData,
) -> c_int {
    guard("req subcall sync", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return INVALID_REQUEST;
        };
        let caller = Caller::Req(&request.core.handle, flags & SUBCALL_API_SESSION != 0);
        let Some(fut) = start_call(caller, api, verb, n, params) else {
            return INVALID_REQUEST;
        };
        let reply = req::wait(fut);
        // SAFETY: C gives writable out pointers.
        unsafe { store_sync(&reply, status, nreplies, replies) }
    })
}

// ---- cookies, interfaces, user data -----------------------------------------------------------

pub(super) unsafe extern "C" fn req_cookie_set(
    r: *mut ReqV4,
    value: *mut c_void,
    free: Dispose,
    free_arg: *mut c_void,
) -> c_int {
    guard("req cookie set", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return INVALID_REQUEST;
        };
        let cookie = Cookie {
            value: SendPtr(value),
            free,
            free_arg: SendPtr(free_arg),
        };
        common::cookie_set(&request.core.handle, cookie);
        0
    })
}

pub(super) unsafe extern "C" fn req_cookie_get(r: *mut ReqV4, value: *mut *mut c_void) -> c_int {
    guard("req cookie get", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return INVALID_REQUEST;
        };
        let v = common::cookie_get(&request.core.handle);
        // SAFETY: C gives a location for the value (or NULL).
        unsafe { write_out(value, v.unwrap_or(std::ptr::null_mut())) };
        if v.is_some() {
            0
        } else {
            NO_ITEM
        }
    })
}

pub(super) unsafe extern "C" fn req_cookie_getinit(
    r: *mut ReqV4,
    value: *mut *mut c_void,
    init: Option<CookieInit>,
    closure: *mut c_void,
) -> c_int {
    guard("req cookie getinit", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return INVALID_REQUEST;
        };
        if let Some(v) = common::cookie_get(&request.core.handle) {
            // SAFETY: C gives a location for the value (or NULL).
            unsafe { write_out(value, v) };
            return 0;
        }
        let (mut v, mut free, mut free_arg): (*mut c_void, Dispose, *mut c_void) =
            (closure, None, std::ptr::null_mut());
        if let Some(f) = init {
            // SAFETY: the binding's initialiser fills the three locations.
            let rc = unsafe { f(closure, &mut v, &mut free, &mut free_arg) };
            if rc < 0 {
                return rc;
            }
        }
        let cookie = Cookie {
            value: SendPtr(v),
            free,
            free_arg: SendPtr(free_arg),
        };
        common::cookie_set(&request.core.handle, cookie);
        // SAFETY: C gives a location for the value (or NULL).
        unsafe { write_out(value, v) };
        1
    })
}

pub(super) extern "C" fn req_cookie_drop(r: *mut ReqV4) -> c_int {
    guard("req cookie drop", INTERNAL_ERROR, || {
        // SAFETY: C gives a live request.
        let Some(request) = (unsafe { req_of(r) }) else {
            return INVALID_REQUEST;
        };
        request.core.handle.set_context(None);
        0
    })
}

pub(super) unsafe extern "C" fn req_interface_by_id(_r: *mut ReqV4, _id: c_int, result: *mut *mut c_void) -> c_int {
    util::not_available_once("request interfaces (afb_req_get_interface_by_id)");
    // SAFETY: C gives a location for the interface (or NULL).
    unsafe { write_out(result, std::ptr::null_mut()) };
    NOT_AVAILABLE
}

pub(super) unsafe extern "C" fn req_interface_by_name(
    _r: *mut ReqV4,
    _name: *const c_char,
    result: *mut *mut c_void,
) -> c_int {
    util::not_available_once("request interfaces (afb_req_get_interface_by_name)");
    // SAFETY: C gives a location for the interface (or NULL).
    unsafe { write_out(result, std::ptr::null_mut()) };
    NOT_AVAILABLE
}

pub(super) extern "C" fn req_get_userdata(r: *mut ReqV4) -> *mut c_void {
    guard("req userdata", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        unsafe { req_of(r) }.map_or(std::ptr::null_mut(), |request| lock(&request.userdata).0.get())
    })
}

pub(super) unsafe extern "C" fn req_set_userdata(r: *mut ReqV4, userdata: *mut c_void, free: Dispose) {
    guard("req set userdata", (), || {
        // SAFETY: C gives a live request.
        if let Some(request) = unsafe { req_of(r) } {
            let (old, old_free) = std::mem::replace(&mut *lock(&request.userdata), (SendPtr(userdata), free));
            if let Some(f) = old_free {
                // SAFETY: the binding's free function for the replaced data.
                unsafe { f(old.get()) }
            }
        }
    })
}
