//! ABI v4 (`struct afb_binding_x4r1_itf`, revisions 1 to 9): requests,
//! events, APIs, jobs, timers and the typed data of [`crate::v4data`].
//!
//! The table only grows at its end; a binding declares the revision it was
//! built for (`afbBindingV4_itf_revision`) and never reads past the members
//! of that revision, so every binding gets the same (full) table.
//!
//! Not available here (logged once, documented value returned): file
//! event handlers (`evfd_create` returns -5, "not available"), request
//! interfaces by id or name (-5), permissions are always granted (no
//! permission service), jobs run without their execution timeout.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use afb_core::{status, Reply, Request};
use serde_json::value::RawValue;

use crate::capi::{lock, AfbAuth, ApiX3, CApi, CVerb, Flavor, Handler, HandlerCb, InitCb, OnEvent, VerbCb};
use crate::jsonc::{self, JsonObject};
use crate::req::{self, Caller, ReqCore};
use crate::util::{self, cstr, guard, SendPtr};
use crate::v3::{self, VerbV3};
use crate::v4data::{self as d, CData, CType};
use crate::x2::{self, CEvent, Cookie};

/// The highest interface revision implemented (the headers' "full" one).
pub const MAX_REVISION: u16 = 9;
/// The revision a binding gets from the headers when it does not choose
/// one (the headers' "current" one); a lower one is logged as a notice.
pub const CURRENT_REVISION: u16 = 7;
/// How many members the table has at each revision (index: the revision).
#[cfg(test)]
pub(crate) const MEMBERS: [usize; MAX_REVISION as usize + 1] = [0, 103, 105, 107, 109, 110, 111, 112, 113, 114];

/// `afb_req_callback_x4_t`.
pub(crate) type ReqCallback = unsafe extern "C" fn(*mut ReqV4, c_uint, *const *mut CData);
/// `afb_api_callback_x4_t` (the main control callback).
pub(crate) type ApiCallback = unsafe extern "C" fn(*mut ApiX3, c_int, *const CtlArg, *mut c_void) -> c_int;
/// `afb_event_handler_x4_t`.
pub(crate) type EventHandler = unsafe extern "C" fn(*mut c_void, *const c_char, c_uint, *const *mut CData, *mut ApiX3);
type CallCb = unsafe extern "C" fn(*mut c_void, c_int, c_uint, *const *mut CData, *mut ApiX3);
type SubcallCb = unsafe extern "C" fn(*mut c_void, c_int, c_uint, *const *mut CData, *mut ReqV4);
type CheckCb = unsafe extern "C" fn(*mut c_void, c_int, *mut ReqV4);
type JobCb = unsafe extern "C" fn(c_int, *mut c_void);
type TimerCb = unsafe extern "C" fn(*mut Timer, *mut c_void, c_uint);
type Dispose = Option<unsafe extern "C" fn(*mut c_void)>;

/// `afb_ctlid_Root_Entry`.
pub const CTLID_ROOT_ENTRY: c_int = 0;
/// `afb_ctlid_Pre_Init`.
pub const CTLID_PRE_INIT: c_int = 1;
/// `afb_ctlid_Init`.
pub const CTLID_INIT: c_int = 2;
/// `afb_ctlid_Orphan_Event`.
pub const CTLID_ORPHAN_EVENT: c_int = 4;

/// `union afb_ctlarg` (its largest member: three pointers).
#[repr(C)]
pub struct CtlArg {
    /// `path` (root entry, pre-init) or `name` (orphan event) or `code`.
    pub a: *const c_char,
    /// `uid`.
    pub b: *const c_char,
    /// `config`.
    pub c: *mut JsonObject,
}

/// `struct afb_binding_v4`.
#[repr(C)]
pub struct BindingV4 {
    pub api: *const c_char,
    pub specification: *const c_char,
    pub info: *const c_char,
    pub verbs: *const VerbV3,
    pub mainctl: Option<ApiCallback>,
    pub userdata: *mut c_void,
    pub provide_class: *const c_char,
    pub require_class: *const c_char,
    pub require_api: *const c_char,
    /// Bit 0: noconcurrency.
    pub flags: u32,
}

/// Calls a main control callback; its status.
pub(crate) fn call_mainctl(api: &'static CApi, cb: ApiCallback, id: c_int, arg: *const CtlArg) -> c_int {
    // SAFETY: the binding's callback with its API, a control argument
    // valid during the call, and its user data.
    api.label.run(|| unsafe { cb(api.as_c(), id, arg, api.userdata()) })
}

/// Tells the API's main control about an event no handler took.
pub(crate) fn orphan_event(api: &'static CApi, name: &str) {
    if let Some(cb) = *lock(&api.mainctl) {
        let n = util::cstring(name);
        let arg = CtlArg {
            a: n.as_ptr(),
            b: std::ptr::null(),
            c: std::ptr::null_mut(),
        };
        call_mainctl(api, cb, CTLID_ORPHAN_EVENT, &arg);
    }
}

/// Calls a v4 event handler with the event's data as one `#json` data.
pub(crate) fn call_event_handler(api: &'static CApi, cb: EventHandler, closure: SendPtr, name: &str, data: &str) {
    let n = util::cstring(name);
    let p = d::json(data);
    // SAFETY: the binding's handler; the data is released after it.
    unsafe { cb(closure.get(), n.as_ptr(), 1, &p, api.as_c()) };
    d::unref(p);
}

// ---- requests ------------------------------------------------------------------

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
            d::unref(p);
        }
        let (ud, free) = *lock(&self.userdata);
        if let Some(f) = free {
            // SAFETY: the binding's free function for its user data.
            unsafe { f(ud.0) }
        }
    }
}

/// # Safety
/// `r` is NULL or a live request.
unsafe fn rq<'a>(r: *mut ReqV4) -> Option<&'a ReqV4> {
    // SAFETY: per the contract.
    unsafe { r.as_ref() }
}

pub(crate) fn call_verb(api: &'static CApi, verb: &CVerb, cb: ReqCallback, req: Request) {
    let params = vec![d::json(req.args().json_text())];
    let params_ptr = params.as_ptr();
    let r = Box::into_raw(Box::new(ReqV4 {
        refs: AtomicUsize::new(1),
        core: ReqCore::new(api, req),
        vcbdata: verb.vcbdata.0,
        nparams: 1,
        params: Mutex::new(params),
        params_ptr,
        userdata: Mutex::new((SendPtr(std::ptr::null_mut()), None)),
    }));
    // SAFETY: the binding's verb with a live request and its parameters
    // (owned by the request).
    unsafe { cb(r, 1, params_ptr) };
    req_unref(r);
}

extern "C" fn req_logmask(r: *mut ReqV4) -> c_int {
    // SAFETY: C gives a live request.
    guard("req logmask", 0, || {
        unsafe { rq(r) }.map_or(0, |r| r.core.api.logmask())
    })
}

extern "C" fn req_addref(r: *mut ReqV4) -> *mut ReqV4 {
    guard("req addref", r, || {
        // SAFETY: C gives a live request.
        if let Some(x) = unsafe { rq(r) } {
            x.refs.fetch_add(1, Ordering::AcqRel);
        }
        r
    })
}

extern "C" fn req_unref(r: *mut ReqV4) {
    guard("req unref", (), || {
        // SAFETY: C gives a live request.
        let Some(x) = (unsafe { rq(r) }) else { return };
        if x.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the last reference: freed once (unanswered: not-replied).
            drop(unsafe { Box::from_raw(r) });
        }
    })
}

extern "C" fn req_api(r: *mut ReqV4) -> *mut ApiX3 {
    // SAFETY: C gives a live request.
    guard("req api", std::ptr::null_mut(), || {
        unsafe { rq(r) }.map_or(std::ptr::null_mut(), |r| r.core.api.as_c())
    })
}

extern "C" fn req_vcbdata(r: *mut ReqV4) -> *mut c_void {
    // SAFETY: C gives a live request.
    guard("req vcbdata", std::ptr::null_mut(), || {
        unsafe { rq(r) }.map_or(std::ptr::null_mut(), |r| r.vcbdata)
    })
}

extern "C" fn req_called_api(r: *mut ReqV4) -> *const c_char {
    // SAFETY: C gives a live request.
    guard("req api name", std::ptr::null(), || {
        unsafe { rq(r) }.map_or(std::ptr::null(), |r| r.core.called_api.as_ptr())
    })
}

extern "C" fn req_called_verb(r: *mut ReqV4) -> *const c_char {
    // SAFETY: C gives a live request.
    guard("req verb name", std::ptr::null(), || {
        unsafe { rq(r) }.map_or(std::ptr::null(), |r| r.core.called_verb.as_ptr())
    })
}

unsafe extern "C" fn req_vverbose(
    r: *mut ReqV4,
    level: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    fmt: *const c_char,
    ap: *mut c_void,
) {
    guard("req log", (), || {
        // SAFETY: C gives a live request, strings, a format and its va_list.
        if let Some(r) = unsafe { rq(r) } {
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

extern "C" fn req_session_close(r: *mut ReqV4) {
    // SAFETY: C gives a live request.
    guard("req session close", (), || {
        if let Some(r) = unsafe { rq(r) } {
            r.core.handle.close_session_after_reply()
        }
    })
}

extern "C" fn req_session_set_loa(r: *mut ReqV4, level: c_uint) -> c_int {
    guard("req set LOA", -1, || {
        // SAFETY: C gives a live request.
        match unsafe { rq(r) }.map(|r| r.core.handle.set_loa(level)) {
            Some(Ok(())) => 0,
            _ => -1,
        }
    })
}

extern "C" fn req_session_get_loa(r: *mut ReqV4) -> c_uint {
    // SAFETY: C gives a live request.
    guard("req get LOA", 0, || {
        unsafe { rq(r) }.map_or(0, |r| c_uint::from(r.core.handle.loa()))
    })
}

unsafe extern "C" fn req_legacy_cookie(
    r: *mut ReqV4,
    replace: c_int,
    create: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    free: Dispose,
    closure: *mut c_void,
) -> *mut c_void {
    guard("req cookie", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        match unsafe { rq(r) } {
            Some(r) => x2::context_make(&r.core.handle, replace != 0, create, free, closure),
            None => std::ptr::null_mut(),
        }
    })
}

fn subscribe(r: *mut ReqV4, e: *mut CEvent, on: bool) -> c_int {
    // SAFETY: C gives a live request and event.
    let (Some(r), Some(e)) = (unsafe { rq(r) }, unsafe { x2::event_ref(e) }) else {
        return -12;
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
            -5
        }
    }
}

extern "C" fn req_subscribe(r: *mut ReqV4, e: *mut CEvent) -> c_int {
    guard("req subscribe", -1, || subscribe(r, e, true))
}

extern "C" fn req_unsubscribe(r: *mut ReqV4, e: *mut CEvent) -> c_int {
    guard("req unsubscribe", -1, || subscribe(r, e, false))
}

extern "C" fn req_get_client_info(r: *mut ReqV4) -> *mut JsonObject {
    guard("req client info", std::ptr::null_mut(), || {
        // SAFETY: C gives a live request.
        unsafe { rq(r) }.map_or(std::ptr::null_mut(), |r| {
            jsonc::parse_or_null(&x2::client_info(&r.core.handle))
        })
    })
}

unsafe extern "C" fn req_check_permission(
    r: *mut ReqV4,
    _perm: *const c_char,
    cb: Option<CheckCb>,
    closure: *mut c_void,
) {
    guard("req check permission", (), || {
        if let Some(cb) = cb {
            // No permission service: granted (status 0), as the C binders
            // do without one. SAFETY: the binding's callback.
            unsafe { cb(closure, 0, r) }
        }
    })
}

unsafe extern "C" fn req_parameters(r: *mut ReqV4, params: *mut *const *mut CData) -> c_uint {
    guard("req parameters", 0, || {
        // SAFETY: C gives a live request and a writable location (or NULL).
        let Some(x) = (unsafe { rq(r) }) else { return 0 };
        if !params.is_null() {
            unsafe { *params = x.params_ptr };
        }
        x.nparams
    })
}

unsafe extern "C" fn req_param_convert(
    r: *mut ReqV4,
    index: c_uint,
    ty: *const CType,
    result: *mut *mut CData,
) -> c_int {
    guard("req param convert", -1, || {
        // SAFETY: C gives a live request and type.
        let (Some(x), Some(t)) = (unsafe { rq(r) }, unsafe { d::type_ref(ty) }) else {
            return -12;
        };
        let mut params = lock(&x.params);
        let Some(slot) = params.get_mut(index as usize) else {
            return -13;
        };
        // SAFETY: the request's parameters are live.
        let Some(cur) = (unsafe { d::data_ref(*slot) }) else {
            return -12;
        };
        match d::convert(cur, *slot, t) {
            Ok(n) => {
                d::unref(std::mem::replace(slot, n));
                if !result.is_null() {
                    // SAFETY: C gives a writable location.
                    unsafe { *result = n };
                }
                0
            }
            Err(rc) => rc,
        }
    })
}

/// The reply of a v4 verb: a status >= 0 is a success (its code kept); a
/// negative one with several data is the C binder's generic `error` (the
/// data as an array); else the name of the standard code (`failed` when
/// not in the table).
fn reply_of(status: c_int, n: c_uint, data: Option<String>) -> Reply {
    let data = data.and_then(|t| RawValue::from_string(t).ok());
    if status >= 0 {
        Reply::success(data, None).with_code(status)
    } else {
        let st = if n > 1 {
            GENERIC_ERROR
        } else {
            status::status_of(status).unwrap_or("failed")
        };
        Reply::error(st, None).with_code(status).with_data(data)
    }
}

/// The status of a negative v4 reply carrying several data.
const GENERIC_ERROR: &str = "error";

unsafe extern "C" fn req_reply(r: *mut ReqV4, st: c_int, n: c_uint, replies: *const *mut CData) {
    guard("req reply", (), || {
        // SAFETY: the replies are consumed; C gives a live request.
        let data = unsafe { d::take_json(n, replies) };
        if let Some(r) = unsafe { rq(r) } {
            r.core.reply(reply_of(st, n, data));
        }
    })
}

/// The reply of a call as v4 sees it: a status and zero or one `#json` data.
fn reply_data(reply: &Reply) -> (c_int, Vec<*mut CData>) {
    let data = reply.data_json().map(d::json).into_iter().collect();
    (req::code_of(reply), data)
}

const SUBCALL_API_SESSION: c_int = 8;

fn start(
    caller: Caller<'_>,
    api: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
) -> Option<afb_core::api::BoxFuture<Reply>> {
    // SAFETY: the parameters are consumed; C gives strings.
    let args = unsafe { d::take_json(n, params) }.unwrap_or_else(|| "null".into());
    let (a, v) = (unsafe { cstr(api) }?, unsafe { cstr(verb) }?);
    Some(req::start_call(caller, &a, &v, req::args_of(&args)))
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn req_subcall(
    r: *mut ReqV4,
    api: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
    flags: c_int,
    cb: Option<SubcallCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("req subcall", (), || {
        // SAFETY: C gives a live request.
        let Some(x) = (unsafe { rq(r) }) else { return };
        let Some(fut) = start(
            Caller::Req(&x.core.handle, flags & SUBCALL_API_SESSION != 0),
            api,
            verb,
            n,
            params,
        ) else {
            return;
        };
        req_addref(r);
        let rp = SendPtr(r.cast());
        req::then(fut, move |reply| {
            let (st, data) = reply_data(&reply);
            if let Some(cb) = cb {
                // SAFETY: the binding's callback; the replies are released after it.
                unsafe { cb(closure.get(), st, data.len() as c_uint, data.as_ptr(), rp.get().cast()) };
            }
            data.into_iter().for_each(d::unref);
            req_unref(rp.get().cast());
        });
    })
}

/// Stores a synchronous call's reply where C asked; the call's result.
///
/// # Safety
/// The out pointers are NULL or writable; `replies` has `*nreplies` slots.
unsafe fn store_sync(reply: &Reply, status: *mut c_int, nreplies: *mut c_uint, replies: *mut *mut CData) -> c_int {
    let (st, data) = reply_data(reply);
    // SAFETY: per the contract.
    unsafe {
        if !status.is_null() {
            *status = st;
        }
        let room = if nreplies.is_null() { 0 } else { *nreplies as usize };
        let mut given = 0usize;
        for dd in data {
            if given < room && !replies.is_null() {
                *replies.add(given) = dd;
                given += 1;
            } else {
                d::unref(dd);
            }
        }
        if !nreplies.is_null() {
            *nreplies = given as c_uint;
        }
    }
    if st < 0 {
        st
    } else {
        0
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn req_subcall_sync(
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
    guard("req subcall sync", -1, || {
        // SAFETY: C gives a live request.
        let Some(x) = (unsafe { rq(r) }) else { return -12 };
        let Some(fut) = start(
            Caller::Req(&x.core.handle, flags & SUBCALL_API_SESSION != 0),
            api,
            verb,
            n,
            params,
        ) else {
            return -12;
        };
        let reply = req::wait(fut);
        // SAFETY: C gives writable out pointers.
        unsafe { store_sync(&reply, status, nreplies, replies) }
    })
}

unsafe extern "C" fn req_cookie_set(r: *mut ReqV4, value: *mut c_void, free: Dispose, freeclo: *mut c_void) -> c_int {
    guard("req cookie set", -1, || {
        // SAFETY: C gives a live request.
        let Some(x) = (unsafe { rq(r) }) else { return -12 };
        x2::cookie_set(
            &x.core.handle,
            Cookie {
                value: SendPtr(value),
                free,
                free_arg: SendPtr(freeclo),
            },
        );
        0
    })
}

unsafe extern "C" fn req_cookie_get(r: *mut ReqV4, value: *mut *mut c_void) -> c_int {
    guard("req cookie get", -1, || {
        // SAFETY: C gives a live request and a writable location.
        let Some(x) = (unsafe { rq(r) }) else { return -12 };
        let v = x2::cookie_get(&x.core.handle);
        if !value.is_null() {
            unsafe { *value = v.unwrap_or(std::ptr::null_mut()) };
        }
        if v.is_some() {
            0
        } else {
            -13
        }
    })
}

type InitCookie = unsafe extern "C" fn(*mut c_void, *mut *mut c_void, *mut Dispose, *mut *mut c_void) -> c_int;

unsafe extern "C" fn req_cookie_getinit(
    r: *mut ReqV4,
    value: *mut *mut c_void,
    init: Option<InitCookie>,
    closure: *mut c_void,
) -> c_int {
    guard("req cookie getinit", -1, || {
        // SAFETY: C gives a live request and a writable location.
        let Some(x) = (unsafe { rq(r) }) else { return -12 };
        if let Some(v) = x2::cookie_get(&x.core.handle) {
            if !value.is_null() {
                unsafe { *value = v };
            }
            return 0;
        }
        let (mut v, mut free, mut freeclo): (*mut c_void, Dispose, *mut c_void) = (closure, None, std::ptr::null_mut());
        if let Some(f) = init {
            // SAFETY: the binding's initialiser fills the three locations.
            let rc = unsafe { f(closure, &mut v, &mut free, &mut freeclo) };
            if rc < 0 {
                return rc;
            }
        }
        x2::cookie_set(
            &x.core.handle,
            Cookie {
                value: SendPtr(v),
                free,
                free_arg: SendPtr(freeclo),
            },
        );
        if !value.is_null() {
            unsafe { *value = v };
        }
        1
    })
}

extern "C" fn req_cookie_drop(r: *mut ReqV4) -> c_int {
    guard("req cookie drop", -1, || {
        // SAFETY: C gives a live request.
        let Some(x) = (unsafe { rq(r) }) else { return -12 };
        x.core.handle.set_context(None);
        0
    })
}

unsafe extern "C" fn req_interface_by_id(_r: *mut ReqV4, _id: c_int, result: *mut *mut c_void) -> c_int {
    util::not_available_once("request interfaces (afb_req_get_interface_by_id)");
    if !result.is_null() {
        // SAFETY: C gives a writable location.
        unsafe { *result = std::ptr::null_mut() };
    }
    -5
}

unsafe extern "C" fn req_interface_by_name(_r: *mut ReqV4, _name: *const c_char, result: *mut *mut c_void) -> c_int {
    util::not_available_once("request interfaces (afb_req_get_interface_by_name)");
    if !result.is_null() {
        // SAFETY: C gives a writable location.
        unsafe { *result = std::ptr::null_mut() };
    }
    -5
}

extern "C" fn req_get_userdata(r: *mut ReqV4) -> *mut c_void {
    // SAFETY: C gives a live request.
    guard("req userdata", std::ptr::null_mut(), || {
        unsafe { rq(r) }.map_or(std::ptr::null_mut(), |x| lock(&x.userdata).0 .0)
    })
}

unsafe extern "C" fn req_set_userdata(r: *mut ReqV4, ud: *mut c_void, free: Dispose) {
    guard("req set userdata", (), || {
        // SAFETY: C gives a live request.
        if let Some(x) = unsafe { rq(r) } {
            let (old, oldfree) = std::mem::replace(&mut *lock(&x.userdata), (SendPtr(ud), free));
            if let Some(f) = oldfree {
                // SAFETY: the binding's free function for the replaced data.
                unsafe { f(old.0) }
            }
        }
    })
}

// ---- events ---------------------------------------------------------------------

unsafe extern "C" fn event_push(e: *mut CEvent, n: c_uint, params: *const *mut CData) -> c_int {
    guard("event push", -1, || {
        // SAFETY: the parameters are consumed; C gives a live event.
        let text = unsafe { d::take_json(n, params) }.unwrap_or_else(|| "null".into());
        unsafe { x2::event_ref(e) }.map_or(-12, |e| x2::event_push_text(e, &text))
    })
}

unsafe extern "C" fn event_broadcast(e: *mut CEvent, n: c_uint, params: *const *mut CData) -> c_int {
    guard("event broadcast", -1, || {
        // SAFETY: as in `event_push`.
        let text = unsafe { d::take_json(n, params) }.unwrap_or_else(|| "null".into());
        unsafe { x2::event_ref(e) }.map_or(-12, |e| x2::event_broadcast_text(e, &text))
    })
}

// ---- data and types ---------------------------------------------------------------

unsafe extern "C" fn create_data_raw(
    out: *mut *mut CData,
    ty: *const CType,
    buf: *const c_void,
    size: usize,
    dispose: Dispose,
    closure: *mut c_void,
) -> c_int {
    d::g("create data", -1, || {
        // SAFETY: C gives a type (or NULL: opaque) and a writable location.
        let t = unsafe { d::type_ref(ty) }.unwrap_or(&d::T_OPAQUE);
        let p = d::raw(t, buf, size, dispose, closure);
        if !out.is_null() {
            unsafe { *out = p };
        } else {
            d::unref(p);
        }
        0
    })
}

unsafe extern "C" fn create_data_alloc(
    out: *mut *mut CData,
    ty: *const CType,
    pointer: *mut *mut c_void,
    size: usize,
) -> c_int {
    d::g("create data", -1, || {
        // SAFETY: as in `create_data_raw`.
        let t = unsafe { d::type_ref(ty) }.unwrap_or(&d::T_OPAQUE);
        let p = d::owned(t, None, size);
        unsafe {
            if !pointer.is_null() {
                *pointer = (*p).pointer();
            }
            if !out.is_null() {
                *out = p;
            } else {
                d::unref(p);
            }
        }
        0
    })
}

unsafe extern "C" fn create_data_copy(
    out: *mut *mut CData,
    ty: *const CType,
    src: *const c_void,
    size: usize,
) -> c_int {
    d::g("create data", -1, || {
        // SAFETY: C gives `size` readable bytes at `src` (or NULL).
        let t = unsafe { d::type_ref(ty) }.unwrap_or(&d::T_OPAQUE);
        let bytes = (!src.is_null() && size > 0).then(|| unsafe { std::slice::from_raw_parts(src.cast::<u8>(), size) });
        let p = d::owned(t, bytes, size);
        if !out.is_null() {
            unsafe { *out = p };
        } else {
            d::unref(p);
        }
        0
    })
}

extern "C" fn data_addref(p: *mut CData) -> *mut CData {
    d::g("data addref", p, || d::addref(p))
}

extern "C" fn data_unref(p: *mut CData) {
    d::g("data unref", (), || d::unref(p))
}

unsafe extern "C" fn data_get_mutable(p: *mut CData, pointer: *mut *mut c_void, size: *mut usize) -> c_int {
    d::g("data mutable", -1, || {
        // SAFETY: C gives a live data and writable locations (or NULL).
        let Some(x) = (unsafe { d::data_ref(p) }) else {
            return -12;
        };
        if x.is_constant() {
            return -1;
        }
        unsafe {
            if !pointer.is_null() {
                *pointer = x.pointer();
            }
            if !size.is_null() {
                *size = x.size();
            }
        }
        0
    })
}

unsafe extern "C" fn data_get_constant(p: *mut CData, pointer: *mut *mut c_void, size: *mut usize) -> c_int {
    d::g("data constant", -1, || {
        // SAFETY: as in `data_get_mutable`.
        let Some(x) = (unsafe { d::data_ref(p) }) else {
            return -12;
        };
        unsafe {
            if !pointer.is_null() {
                *pointer = x.pointer();
            }
            if !size.is_null() {
                *size = x.size();
            }
        }
        0
    })
}

extern "C" fn data_update(p: *mut CData, value: *mut CData) -> c_int {
    // SAFETY: C gives a live data.
    d::g("data update", -1, || {
        unsafe { d::data_ref(p) }.map_or(-12, |x| d::update(x, p, value))
    })
}

unsafe extern "C" fn data_convert(p: *mut CData, ty: *const CType, result: *mut *mut CData) -> c_int {
    d::g("data convert", -1, || {
        // SAFETY: C gives a live data, a type and a writable location.
        let Some(x) = (unsafe { d::data_ref(p) }) else {
            return -12;
        };
        let r = match unsafe { d::type_ref(ty) } {
            None => Ok(d::addref(p)),
            Some(t) => d::convert(x, p, t),
        };
        match r {
            Ok(n) => {
                if !result.is_null() {
                    unsafe { *result = n };
                } else {
                    d::unref(n);
                }
                0
            }
            Err(rc) => {
                if !result.is_null() {
                    unsafe { *result = std::ptr::null_mut() };
                }
                rc
            }
        }
    })
}

extern "C" fn data_type(p: *mut CData) -> *const CType {
    // SAFETY: C gives a live data.
    d::g("data type", std::ptr::null(), || {
        unsafe { d::data_ref(p) }.map_or(std::ptr::null(), |x| x.ty() as *const CType)
    })
}

extern "C" fn data_notify_changed(_p: *mut CData) {
    // Conversions are never cached: nothing to forget.
}

extern "C" fn data_is_volatile(p: *mut CData) -> c_int {
    // SAFETY: C gives a live data.
    d::g("data volatile", 0, || {
        unsafe { d::data_ref(p) }.map_or(0, |x| c_int::from(x.is_volatile()))
    })
}

extern "C" fn data_set_volatile(p: *mut CData) {
    // SAFETY: C gives a live data.
    d::g("data volatile", (), || {
        unsafe { d::data_ref(p) }.into_iter().for_each(|x| x.set_flag(1, true))
    })
}

extern "C" fn data_set_not_volatile(p: *mut CData) {
    // SAFETY: C gives a live data.
    d::g("data volatile", (), || {
        unsafe { d::data_ref(p) }.into_iter().for_each(|x| x.set_flag(1, false))
    })
}

extern "C" fn data_is_constant(p: *mut CData) -> c_int {
    // SAFETY: C gives a live data.
    d::g("data constant", 0, || {
        unsafe { d::data_ref(p) }.map_or(0, |x| c_int::from(x.is_constant()))
    })
}

extern "C" fn data_set_constant(p: *mut CData) {
    // SAFETY: C gives a live data.
    d::g("data constant", (), || {
        unsafe { d::data_ref(p) }.into_iter().for_each(|x| x.set_flag(2, true))
    })
}

extern "C" fn data_set_not_constant(p: *mut CData) {
    // SAFETY: C gives a live data.
    d::g("data constant", (), || {
        unsafe { d::data_ref(p) }.into_iter().for_each(|x| x.set_flag(2, false))
    })
}

extern "C" fn data_lock_read(p: *mut CData) {
    // SAFETY: C gives a live data.
    d::g("data lock", (), || {
        if let Some(x) = unsafe { d::data_ref(p) } {
            d::lock_read(x, true);
        }
    })
}

extern "C" fn data_try_lock_read(p: *mut CData) -> c_int {
    // SAFETY: C gives a live data.
    d::g("data lock", -1, || {
        unsafe { d::data_ref(p) }.map_or(-12, |x| d::lock_read(x, false))
    })
}

extern "C" fn data_lock_write(p: *mut CData) {
    // SAFETY: C gives a live data.
    d::g("data lock", (), || {
        if let Some(x) = unsafe { d::data_ref(p) } {
            d::lock_write(x, true);
        }
    })
}

extern "C" fn data_try_lock_write(p: *mut CData) -> c_int {
    // SAFETY: C gives a live data.
    d::g("data lock", -1, || {
        unsafe { d::data_ref(p) }.map_or(-12, |x| d::lock_write(x, false))
    })
}

extern "C" fn data_unlock(p: *mut CData) {
    // SAFETY: C gives a live data.
    d::g("data unlock", (), || {
        unsafe { d::data_ref(p) }.into_iter().for_each(d::unlock)
    })
}

extern "C" fn data_dependency_add(from: *mut CData, to: *mut CData) -> c_int {
    d::g("data dependency", -1, || d::dependency(from, to, true))
}

extern "C" fn data_dependency_sub(from: *mut CData, to: *mut CData) -> c_int {
    d::g("data dependency", -1, || d::dependency(from, to, false))
}

extern "C" fn data_dependency_drop_all(p: *mut CData) {
    d::g("data dependency", (), || d::dependency_drop_all(p))
}

unsafe extern "C" fn type_lookup(out: *mut *const CType, name: *const c_char) -> c_int {
    d::g("type lookup", -1, || {
        // SAFETY: C gives a string and a writable location.
        let found = unsafe { cstr(name) }.and_then(|n| d::lookup(&n));
        if !out.is_null() {
            unsafe { *out = found.map_or(std::ptr::null(), |t| t as *const CType) };
        }
        if found.is_some() {
            0
        } else {
            -13
        }
    })
}

unsafe extern "C" fn type_register(out: *mut *const CType, name: *const c_char, _flags: c_int) -> c_int {
    d::g("type register", -1, || {
        // SAFETY: C gives a string and a writable location.
        let Some(n) = (unsafe { cstr(name) }) else { return -12 };
        match d::register(&n) {
            Ok(t) => {
                if !out.is_null() {
                    unsafe { *out = t };
                }
                0
            }
            Err(rc) => rc,
        }
    })
}

extern "C" fn type_name(t: *const CType) -> *const c_char {
    // SAFETY: C gives a type.
    d::g("type name", std::ptr::null(), || {
        unsafe { d::type_ref(t) }.map_or(std::ptr::null(), d::type_name)
    })
}

extern "C" fn type_set_family(t: *const CType, family: *const CType) -> c_int {
    d::g("type family", -1, || {
        // SAFETY: C gives types.
        match (unsafe { d::type_ref(t) }, unsafe { d::type_ref(family) }) {
            (Some(t), Some(f)) => {
                d::set_family(t, f);
                0
            }
            _ => -12,
        }
    })
}

extern "C" fn type_add_converter(
    from: *const CType,
    to: *const CType,
    conv: Option<d::Converter>,
    closure: *mut c_void,
) -> c_int {
    d::g("type converter", -1, || {
        // SAFETY: C gives a type.
        match unsafe { d::type_ref(from) } {
            Some(f) if conv.is_some() => {
                d::add_converter(f, to, conv, None, closure);
                0
            }
            _ => -12,
        }
    })
}

extern "C" fn type_add_updater(
    from: *const CType,
    to: *const CType,
    upd: Option<d::Updater>,
    closure: *mut c_void,
) -> c_int {
    d::g("type updater", -1, || {
        // SAFETY: C gives a type.
        match unsafe { d::type_ref(from) } {
            Some(f) if upd.is_some() => {
                d::add_converter(f, to, None, upd, closure);
                0
            }
            _ => -12,
        }
    })
}

// ---- APIs ---------------------------------------------------------------------------

/// # Safety
/// `p` is NULL or an API address given to C code.
unsafe fn ap(p: *mut ApiX3) -> Option<&'static CApi> {
    // SAFETY: per the contract.
    unsafe { CApi::from_c(p) }
}

extern "C" fn api_logmask(a: *mut ApiX3) -> c_int {
    // SAFETY: C gives its API.
    guard("api logmask", 0, || unsafe { ap(a) }.map_or(0, |a| a.logmask()))
}

unsafe extern "C" fn api_vverbose(
    a: *mut ApiX3,
    level: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    fmt: *const c_char,
    va: *mut c_void,
) {
    guard("api log", (), || {
        // SAFETY: C gives its API, strings, a format and its va_list.
        if let Some(a) = unsafe { ap(a) } {
            let msg = unsafe { util::format_va(fmt, va) };
            a.log(
                level,
                unsafe { cstr(file) }.as_deref(),
                line,
                unsafe { cstr(func) }.as_deref(),
                &msg,
            );
        }
    })
}

extern "C" fn api_name(a: *mut ApiX3) -> *const c_char {
    // SAFETY: C gives its API.
    guard("api name", std::ptr::null(), || {
        unsafe { ap(a) }.map_or(std::ptr::null(), |a| a.cname())
    })
}

extern "C" fn api_get_userdata(a: *mut ApiX3) -> *mut c_void {
    // SAFETY: C gives its API.
    guard("api userdata", std::ptr::null_mut(), || {
        unsafe { ap(a) }.map_or(std::ptr::null_mut(), |a| a.userdata())
    })
}

extern "C" fn api_set_userdata(a: *mut ApiX3, v: *mut c_void) -> *mut c_void {
    // SAFETY: C gives its API.
    guard("api userdata", std::ptr::null_mut(), || {
        unsafe { ap(a) }.map_or(std::ptr::null_mut(), |a| a.set_userdata(v))
    })
}

extern "C" fn api_settings(a: *mut ApiX3) -> *mut JsonObject {
    // SAFETY: C gives its API.
    guard("api settings", std::ptr::null_mut(), || {
        unsafe { ap(a) }.map_or(std::ptr::null_mut(), |a| a.settings())
    })
}

unsafe extern "C" fn api_event_broadcast(
    a: *mut ApiX3,
    name: *const c_char,
    n: c_uint,
    params: *const *mut CData,
) -> c_int {
    guard("api broadcast", -1, || {
        // SAFETY: the parameters are consumed; C gives its API and a string.
        let text = unsafe { d::take_json(n, params) }.unwrap_or_else(|| "null".into());
        match (unsafe { ap(a) }, unsafe { cstr(name) }) {
            (Some(a), Some(n)) => v3::broadcast(a, &n, &text),
            _ => -12,
        }
    })
}

unsafe extern "C" fn api_new_event(a: *mut ApiX3, name: *const c_char, out: *mut *mut CEvent) -> c_int {
    guard("api new event", -1, || {
        // SAFETY: C gives its API, a string and a writable location.
        let (Some(a), Some(n)) = (unsafe { ap(a) }, unsafe { cstr(name) }) else {
            return -12;
        };
        match x2::make_event(a, &n) {
            Ok(e) => {
                if out.is_null() {
                    x2::event_unref(e);
                } else {
                    unsafe { *out = e };
                }
                0
            }
            Err(err) => {
                tracing::warn!(api = %a.name, "event {n}: {err}");
                if !out.is_null() {
                    unsafe { *out = std::ptr::null_mut() };
                }
                -12
            }
        }
    })
}

unsafe extern "C" fn api_event_handler_add(
    a: *mut ApiX3,
    pattern: *const c_char,
    cb: Option<EventHandler>,
    closure: *mut c_void,
) -> c_int {
    guard("event handler add", -1, || {
        // SAFETY: C gives its API and a string.
        let (Some(a), Some(p), Some(cb)) = (unsafe { ap(a) }, unsafe { cstr(pattern) }, cb) else {
            return -12;
        };
        a.add_handler(Handler {
            pattern: p.into_owned(),
            cb: HandlerCb::V4(cb),
            closure: SendPtr(closure),
        });
        0
    })
}

unsafe extern "C" fn api_event_handler_del(a: *mut ApiX3, pattern: *const c_char, closure: *mut *mut c_void) -> c_int {
    // SAFETY: C gives its API.
    guard("event handler del", -1, || {
        unsafe { ap(a) }.map_or(-12, |a| v3::handler_del(a, pattern, closure))
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn api_call(
    a: *mut ApiX3,
    api: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
    cb: Option<CallCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("api call", (), || {
        // SAFETY: C gives its API.
        let Some(x) = (unsafe { ap(a) }) else { return };
        let Some(fut) = start(Caller::Api(x), api, verb, n, params) else {
            return;
        };
        req::then(fut, move |reply| {
            let (st, data) = reply_data(&reply);
            if let Some(cb) = cb {
                // SAFETY: the binding's callback; the replies are released after it.
                unsafe { cb(closure.get(), st, data.len() as c_uint, data.as_ptr(), x.as_c()) };
            }
            data.into_iter().for_each(d::unref);
        });
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn api_call_sync(
    a: *mut ApiX3,
    api: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
    status: *mut c_int,
    nreplies: *mut c_uint,
    replies: *mut *mut CData,
) -> c_int {
    guard("api call sync", -1, || {
        // SAFETY: C gives its API.
        let Some(x) = (unsafe { ap(a) }) else { return -12 };
        let Some(fut) = start(Caller::Api(x), api, verb, n, params) else {
            return -12;
        };
        let reply = req::wait(fut);
        // SAFETY: C gives writable out pointers.
        unsafe { store_sync(&reply, status, nreplies, replies) }
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn api_add_verb(
    a: *mut ApiX3,
    verb: *const c_char,
    info: *const c_char,
    cb: Option<ReqCallback>,
    vcbdata: *mut c_void,
    auth: *const AfbAuth,
    session: u32,
    glob: c_int,
) -> c_int {
    guard("add verb", -1, || {
        // SAFETY: C gives its API.
        let (Some(x), Some(cb)) = (unsafe { ap(a) }, cb) else {
            return -12;
        };
        v3::add_verb_parts(x, verb, info, VerbCb::V4(cb), vcbdata, auth, session, glob)
    })
}

unsafe extern "C" fn api_del_verb(a: *mut ApiX3, verb: *const c_char, vcbdata: *mut *mut c_void) -> c_int {
    // SAFETY: C gives its API.
    guard("del verb", -1, || {
        unsafe { ap(a) }.map_or(-12, |x| v3::del_verb(x, verb, vcbdata))
    })
}

extern "C" fn api_seal(a: *mut ApiX3) {
    // SAFETY: C gives its API.
    guard("seal", (), || unsafe { ap(a) }.into_iter().for_each(|x| x.seal()))
}

unsafe extern "C" fn api_set_verbs(a: *mut ApiX3, verbs: *const VerbV3) -> c_int {
    guard("set verbs", -1, || {
        // SAFETY: C gives its API and a verb array.
        let Some(x) = (unsafe { ap(a) }) else { return -12 };
        match unsafe { v3::add_verbs_v3(x, verbs, true) } {
            Ok(()) => 0,
            Err(e) => {
                tracing::warn!("{e}");
                -12
            }
        }
    })
}

unsafe extern "C" fn api_require_api(a: *mut ApiX3, name: *const c_char, _initialized: c_int) -> c_int {
    guard("require api", -1, || {
        // SAFETY: C gives its API and a string.
        match (unsafe { ap(a) }, unsafe { cstr(name) }) {
            (Some(x), Some(n)) => v3::require_api(x, &n),
            _ => -12,
        }
    })
}

unsafe extern "C" fn api_class_provide(a: *mut ApiX3, name: *const c_char) -> c_int {
    guard("class provide", -1, || {
        // SAFETY: C gives its API and a string.
        match (unsafe { ap(a) }, unsafe { cstr(name) }) {
            (Some(x), Some(n)) => v3::provide_class(x, &n),
            _ => -12,
        }
    })
}

unsafe extern "C" fn api_class_require(a: *mut ApiX3, name: *const c_char) -> c_int {
    guard("class require", -1, || {
        // SAFETY: C gives its API and a string.
        match (unsafe { ap(a) }, unsafe { cstr(name) }) {
            (Some(x), Some(n)) => v3::require_class(x, &n),
            _ => -12,
        }
    })
}

extern "C" fn api_delete(a: *mut ApiX3) -> c_int {
    // SAFETY: C gives its API.
    guard("delete api", -1, || unsafe { ap(a) }.map_or(-12, v3::delete_api))
}

/// Makes an API of a v4 binding: `mainctl(Pre_Init)` runs before it is
/// registered.
pub(crate) fn create(
    parent: &'static CApi,
    name: &str,
    info: Option<&str>,
    noconcurrency: bool,
    mainctl: Option<ApiCallback>,
    userdata: *mut c_void,
    setup: impl FnOnce(&'static CApi) -> Result<(), String>,
) -> Result<&'static CApi, String> {
    v3::new_api(parent, name, info, noconcurrency, Flavor::V4, |api| {
        api.set_userdata(userdata);
        *lock(&api.mainctl) = mainctl;
        if mainctl.is_some() {
            *lock(&api.onevent) = OnEvent::V4;
        }
        if let Err(e) = setup(api) {
            tracing::error!("{e}");
            return -1;
        }
        if let Some(cb) = mainctl {
            *lock(&api.init) = InitCb::V4(cb);
            let path = util::cstring(&parent.path);
            let arg = CtlArg {
                a: path.as_ptr(),
                b: std::ptr::null(),
                c: parent.config.as_ref().map_or(std::ptr::null_mut(), |c| c.as_ptr()),
            };
            return call_mainctl(api, cb, CTLID_PRE_INIT, &arg);
        }
        0
    })
}

unsafe extern "C" fn create_api(
    root: *mut ApiX3,
    out: *mut *mut ApiX3,
    name: *const c_char,
    info: *const c_char,
    noconcurrency: c_int,
    mainctl: Option<ApiCallback>,
    userdata: *mut c_void,
) -> c_int {
    guard("create api", -1, || {
        // SAFETY: C gives its root API, strings and a writable location.
        let (Some(parent), Some(n)) = (unsafe { ap(root) }, unsafe { cstr(name) }) else {
            return -12;
        };
        let info = unsafe { cstr(info) };
        match create(
            parent,
            &n,
            info.as_deref(),
            noconcurrency != 0,
            mainctl,
            userdata,
            |_| Ok(()),
        ) {
            Ok(api) => {
                if !out.is_null() {
                    unsafe { *out = api.as_c() };
                }
                0
            }
            Err(e) => {
                tracing::error!("{e}");
                -12
            }
        }
    })
}

unsafe extern "C" fn job_post(
    _root: *mut ApiX3,
    delayms: std::ffi::c_long,
    _timeout: c_int,
    cb: Option<JobCb>,
    arg: *mut c_void,
    group: *mut c_void,
) -> c_int {
    guard("job post", -1, || {
        v3::queue_job(cb, arg, group, u64::try_from(delayms).unwrap_or(0))
    })
}

extern "C" fn job_abort(_root: *mut ApiX3, id: c_int) -> c_int {
    guard("job abort", -1, || v3::abort_job(id))
}

unsafe extern "C" fn alias_api(root: *mut ApiX3, name: *const c_char, as_name: *const c_char) -> c_int {
    guard("alias api", -1, || {
        // SAFETY: C gives its API and strings.
        match (unsafe { ap(root) }, unsafe { cstr(name) }, unsafe { cstr(as_name) }) {
            (Some(x), Some(n), Some(s)) => v3::add_alias(x, &n, &s),
            _ => -12,
        }
    })
}

extern "C" {
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
}

unsafe extern "C" fn setup_shared_object(root: *mut ApiX3, handle: *mut c_void) -> c_int {
    guard("setup shared object", -1, || {
        if handle.is_null() {
            return -12;
        }
        // SAFETY: `handle` is a dlopen handle from the binding; the symbols
        // have the types of the v4 ABI.
        unsafe {
            let itf = dlsym(handle, c"afbBindingV4r1_itfptr".as_ptr()).cast::<*const ItfV4>();
            if !itf.is_null() {
                *itf = &ITF;
            }
            let rootp = dlsym(handle, c"afbBindingV4root".as_ptr()).cast::<*mut ApiX3>();
            if !rootp.is_null() && !root.is_null() {
                *rootp = root;
            }
        }
        0
    })
}

extern "C" fn api_unshare_session(_a: *mut ApiX3) -> c_int {
    // Every API already calls in its own session.
    0
}

/// `-EPERM`: the API is sealed.
const EPERM: c_int = -1;

unsafe extern "C" fn api_set_specification(a: *mut ApiX3, spec: *const c_char) -> c_int {
    guard("set specification", -1, || {
        // SAFETY: C gives its API and a string (or NULL: no specification).
        let Some(x) = (unsafe { ap(a) }) else { return -12 };
        let text = unsafe { cstr(spec) }.map(|s| s.into_owned());
        if x.set_specification(text) {
            0
        } else {
            EPERM
        }
    })
}

// ---- file events (not available) and timers ---------------------------------------------

unsafe extern "C" fn evfd_create(
    efd: *mut *mut c_void,
    _fd: c_int,
    _events: u32,
    _h: *mut c_void,
    _c: *mut c_void,
    _au: c_int,
    _ac: c_int,
) -> c_int {
    util::not_available_once("file event handlers (afb_evfd_create)");
    if !efd.is_null() {
        // SAFETY: C gives a writable location.
        unsafe { *efd = std::ptr::null_mut() };
    }
    -5
}

extern "C" fn evfd_addref(e: *mut c_void) -> *mut c_void {
    e
}

extern "C" fn evfd_unref(_e: *mut c_void) {}

extern "C" fn evfd_get_fd(_e: *mut c_void) -> c_int {
    -1
}

extern "C" fn evfd_get_events(_e: *mut c_void) -> u32 {
    0
}

extern "C" fn evfd_set_events(_e: *mut c_void, _ev: u32) {}

/// A timer (`afb_timer_t`).
pub struct Timer {
    refs: AtomicUsize,
    stopped: AtomicBool,
    /// Milliseconds between expirations (changed by `timer_modify_period`).
    period_ms: AtomicU32,
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn timer_create(
    out: *mut *mut Timer,
    absolute: c_int,
    start_sec: libc_time_t,
    start_ms: c_uint,
    count: c_uint,
    period_ms: c_uint,
    _accuracy_ms: c_uint,
    handler: Option<TimerCb>,
    closure: *mut c_void,
    autounref: c_int,
) -> c_int {
    guard("timer create", -1, || {
        let Some(h) = handler else { return -12 };
        let Some(rt) = util::runtime() else { return -5 };
        let first = {
            let rel = std::time::Duration::from_secs(u64::try_from(start_sec).unwrap_or(0))
                + std::time::Duration::from_millis(u64::from(start_ms));
            if absolute != 0 {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                rel.saturating_sub(now)
            } else {
                rel
            }
        };
        let t = Arc::new(Timer {
            refs: AtomicUsize::new(if autounref != 0 { 1 } else { 2 }),
            stopped: AtomicBool::new(false),
            period_ms: AtomicU32::new(period_ms),
        });
        let tp = SendPtr(Arc::into_raw(t.clone()).cast_mut().cast());
        if !out.is_null() {
            // SAFETY: C gives a writable location.
            unsafe { *out = tp.get().cast() };
        }
        let closure = SendPtr(closure);
        let rt2 = rt.clone();
        let label = util::Label::current();
        rt.spawn(async move {
            tokio::time::sleep(first).await;
            let mut left = count;
            loop {
                if t.stopped.load(Ordering::Acquire) {
                    break;
                }
                let decount = if count == 0 { 0 } else { left };
                let job = rt2.spawn_blocking(move || {
                    // SAFETY: the binding's timer handler with its closure.
                    guard("timer", (), || {
                        label.run(|| unsafe { h(tp.get().cast(), closure.get(), decount) })
                    })
                });
                let _ = job.await;
                if count != 0 {
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
                let period = t.period_ms.load(Ordering::Acquire).max(1);
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(period))).await;
            }
            timer_unref(tp.get().cast());
        });
        0
    })
}

/// `time_t` (a `long` on Linux ABIs).
#[allow(non_camel_case_types)]
type libc_time_t = std::ffi::c_long;

extern "C" fn timer_addref(t: *mut Timer) -> *mut Timer {
    guard("timer addref", t, || {
        // SAFETY: C gives a live timer.
        if let Some(x) = unsafe { t.as_ref() } {
            x.refs.fetch_add(1, Ordering::AcqRel);
        }
        t
    })
}

extern "C" fn timer_modify_period(t: *mut Timer, period_ms: c_uint) {
    guard("timer modify period", (), || {
        // SAFETY: C gives a live timer.
        if let Some(x) = unsafe { t.as_ref() } {
            x.period_ms.store(period_ms, Ordering::Release);
        }
    })
}

extern "C" fn timer_unref(t: *mut Timer) {
    guard("timer unref", (), || {
        // SAFETY: C gives a live timer.
        let Some(x) = (unsafe { t.as_ref() }) else { return };
        let left = x.refs.fetch_sub(1, Ordering::AcqRel) - 1;
        if left <= 1 {
            x.stopped.store(true, Ordering::Release);
        }
        if left == 0 {
            // SAFETY: the last reference: the Arc given to C is dropped once.
            drop(unsafe { Arc::from_raw(t.cast_const()) });
        }
    })
}

// ---- the table ---------------------------------------------------------------------------

macro_rules! itf_struct {
    ($($field:ident : $ty:ty),* $(,)?) => {
        /// `struct afb_binding_x4r1_itf`, in the ABI's order (revisions 1 to 9).
        #[repr(C)]
        pub struct ItfV4 { $(pub $field: $ty),* }

        /// Each member's name and offset, in order (checked against the header).
        #[cfg(test)]
        pub(crate) const ITF_FIELDS: &[(&str, usize)] = &[$((stringify!($field), std::mem::offset_of!(ItfV4, $field))),*];
    };
}

type T = *const CType;
type PD = *const *mut CData;

itf_struct! {
    create_data_raw: unsafe extern "C" fn(*mut *mut CData, T, *const c_void, usize, Dispose, *mut c_void) -> c_int,
    create_data_alloc: unsafe extern "C" fn(*mut *mut CData, T, *mut *mut c_void, usize) -> c_int,
    create_data_copy: unsafe extern "C" fn(*mut *mut CData, T, *const c_void, usize) -> c_int,
    data_addref: extern "C" fn(*mut CData) -> *mut CData,
    data_unref: extern "C" fn(*mut CData),
    data_get_mutable: unsafe extern "C" fn(*mut CData, *mut *mut c_void, *mut usize) -> c_int,
    data_get_constant: unsafe extern "C" fn(*mut CData, *mut *mut c_void, *mut usize) -> c_int,
    data_update: extern "C" fn(*mut CData, *mut CData) -> c_int,
    data_convert: unsafe extern "C" fn(*mut CData, T, *mut *mut CData) -> c_int,
    data_type: extern "C" fn(*mut CData) -> T,
    data_notify_changed: extern "C" fn(*mut CData),
    data_is_volatile: extern "C" fn(*mut CData) -> c_int,
    data_set_volatile: extern "C" fn(*mut CData),
    data_set_not_volatile: extern "C" fn(*mut CData),
    data_is_constant: extern "C" fn(*mut CData) -> c_int,
    data_set_constant: extern "C" fn(*mut CData),
    data_set_not_constant: extern "C" fn(*mut CData),
    data_lock_read: extern "C" fn(*mut CData),
    data_try_lock_read: extern "C" fn(*mut CData) -> c_int,
    data_lock_write: extern "C" fn(*mut CData),
    data_try_lock_write: extern "C" fn(*mut CData) -> c_int,
    data_unlock: extern "C" fn(*mut CData),
    req_logmask: extern "C" fn(*mut ReqV4) -> c_int,
    req_addref: extern "C" fn(*mut ReqV4) -> *mut ReqV4,
    req_unref: extern "C" fn(*mut ReqV4),
    req_api: extern "C" fn(*mut ReqV4) -> *mut ApiX3,
    req_vcbdata: extern "C" fn(*mut ReqV4) -> *mut c_void,
    req_called_api: extern "C" fn(*mut ReqV4) -> *const c_char,
    req_called_verb: extern "C" fn(*mut ReqV4) -> *const c_char,
    req_vverbose: unsafe extern "C" fn(*mut ReqV4, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    req_session_close: extern "C" fn(*mut ReqV4),
    req_session_set_loa: extern "C" fn(*mut ReqV4, c_uint) -> c_int,
    legacy_req_cookie: unsafe extern "C" fn(*mut ReqV4, c_int, Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>, Dispose, *mut c_void) -> *mut c_void,
    req_subscribe: extern "C" fn(*mut ReqV4, *mut CEvent) -> c_int,
    req_unsubscribe: extern "C" fn(*mut ReqV4, *mut CEvent) -> c_int,
    req_get_client_info: extern "C" fn(*mut ReqV4) -> *mut JsonObject,
    req_check_permission: unsafe extern "C" fn(*mut ReqV4, *const c_char, Option<CheckCb>, *mut c_void),
    req_parameters: unsafe extern "C" fn(*mut ReqV4, *mut PD) -> c_uint,
    req_reply: unsafe extern "C" fn(*mut ReqV4, c_int, c_uint, PD),
    req_subcall: unsafe extern "C" fn(*mut ReqV4, *const c_char, *const c_char, c_uint, PD, c_int, Option<SubcallCb>, *mut c_void),
    req_subcall_sync: unsafe extern "C" fn(*mut ReqV4, *const c_char, *const c_char, c_uint, PD, c_int, *mut c_int, *mut c_uint, *mut *mut CData) -> c_int,
    event_addref: extern "C" fn(*mut CEvent) -> *mut CEvent,
    event_unref: extern "C" fn(*mut CEvent),
    event_name: extern "C" fn(*mut CEvent) -> *const c_char,
    event_push: unsafe extern "C" fn(*mut CEvent, c_uint, PD) -> c_int,
    event_broadcast: unsafe extern "C" fn(*mut CEvent, c_uint, PD) -> c_int,
    type_lookup: unsafe extern "C" fn(*mut T, *const c_char) -> c_int,
    type_register: unsafe extern "C" fn(*mut T, *const c_char, c_int) -> c_int,
    type_name: extern "C" fn(T) -> *const c_char,
    type_set_family: extern "C" fn(T, T) -> c_int,
    type_add_converter: extern "C" fn(T, T, Option<d::Converter>, *mut c_void) -> c_int,
    type_add_updater: extern "C" fn(T, T, Option<d::Updater>, *mut c_void) -> c_int,
    api_logmask: extern "C" fn(*mut ApiX3) -> c_int,
    api_vverbose: unsafe extern "C" fn(*mut ApiX3, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    api_name: extern "C" fn(*mut ApiX3) -> *const c_char,
    api_get_userdata: extern "C" fn(*mut ApiX3) -> *mut c_void,
    api_set_userdata: extern "C" fn(*mut ApiX3, *mut c_void) -> *mut c_void,
    api_settings: extern "C" fn(*mut ApiX3) -> *mut JsonObject,
    api_event_broadcast: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_uint, PD) -> c_int,
    api_new_event: unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut *mut CEvent) -> c_int,
    api_event_handler_add: unsafe extern "C" fn(*mut ApiX3, *const c_char, Option<EventHandler>, *mut c_void) -> c_int,
    api_event_handler_del: unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut *mut c_void) -> c_int,
    api_call: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, c_uint, PD, Option<CallCb>, *mut c_void),
    api_call_sync: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, c_uint, PD, *mut c_int, *mut c_uint, *mut *mut CData) -> c_int,
    api_add_verb: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, Option<ReqCallback>, *mut c_void, *const AfbAuth, u32, c_int) -> c_int,
    api_del_verb: unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut *mut c_void) -> c_int,
    api_seal: extern "C" fn(*mut ApiX3),
    api_set_verbs: unsafe extern "C" fn(*mut ApiX3, *const VerbV3) -> c_int,
    api_require_api: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_int) -> c_int,
    api_class_provide: unsafe extern "C" fn(*mut ApiX3, *const c_char) -> c_int,
    api_class_require: unsafe extern "C" fn(*mut ApiX3, *const c_char) -> c_int,
    api_delete: extern "C" fn(*mut ApiX3) -> c_int,
    create_api: unsafe extern "C" fn(*mut ApiX3, *mut *mut ApiX3, *const c_char, *const c_char, c_int, Option<ApiCallback>, *mut c_void) -> c_int,
    job_post: unsafe extern "C" fn(*mut ApiX3, std::ffi::c_long, c_int, Option<JobCb>, *mut c_void, *mut c_void) -> c_int,
    alias_api: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char) -> c_int,
    setup_shared_object: unsafe extern "C" fn(*mut ApiX3, *mut c_void) -> c_int,
    type_opaque: &'static CType,
    type_stringz: &'static CType,
    type_json: &'static CType,
    type_json_c: &'static CType,
    type_bool: &'static CType,
    type_i32: &'static CType,
    type_u32: &'static CType,
    type_i64: &'static CType,
    type_u64: &'static CType,
    type_double: &'static CType,
    evfd_create: unsafe extern "C" fn(*mut *mut c_void, c_int, u32, *mut c_void, *mut c_void, c_int, c_int) -> c_int,
    evfd_addref: extern "C" fn(*mut c_void) -> *mut c_void,
    evfd_unref: extern "C" fn(*mut c_void),
    evfd_get_fd: extern "C" fn(*mut c_void) -> c_int,
    evfd_get_events: extern "C" fn(*mut c_void) -> u32,
    evfd_set_events: extern "C" fn(*mut c_void, u32),
    timer_create: unsafe extern "C" fn(*mut *mut Timer, c_int, libc_time_t, c_uint, c_uint, c_uint, c_uint, Option<TimerCb>, *mut c_void, c_int) -> c_int,
    timer_addref: extern "C" fn(*mut Timer) -> *mut Timer,
    timer_unref: extern "C" fn(*mut Timer),
    req_session_get_loa: extern "C" fn(*mut ReqV4) -> c_uint,
    data_dependency_add: extern "C" fn(*mut CData, *mut CData) -> c_int,
    data_dependency_sub: extern "C" fn(*mut CData, *mut CData) -> c_int,
    data_dependency_drop_all: extern "C" fn(*mut CData),
    req_cookie_set: unsafe extern "C" fn(*mut ReqV4, *mut c_void, Dispose, *mut c_void) -> c_int,
    req_cookie_get: unsafe extern "C" fn(*mut ReqV4, *mut *mut c_void) -> c_int,
    req_cookie_getinit: unsafe extern "C" fn(*mut ReqV4, *mut *mut c_void, Option<InitCookie>, *mut c_void) -> c_int,
    req_cookie_drop: extern "C" fn(*mut ReqV4) -> c_int,
    type_bytearray: &'static CType,
    req_param_convert: unsafe extern "C" fn(*mut ReqV4, c_uint, T, *mut *mut CData) -> c_int,
    req_interface_by_id: unsafe extern "C" fn(*mut ReqV4, c_int, *mut *mut c_void) -> c_int,
    req_interface_by_name: unsafe extern "C" fn(*mut ReqV4, *const c_char, *mut *mut c_void) -> c_int,
    req_get_userdata: extern "C" fn(*mut ReqV4) -> *mut c_void,
    req_set_userdata: unsafe extern "C" fn(*mut ReqV4, *mut c_void, Dispose),
    job_abort: extern "C" fn(*mut ApiX3, c_int) -> c_int,
    api_unshare_session: extern "C" fn(*mut ApiX3) -> c_int,
    timer_modify_period: extern "C" fn(*mut Timer, c_uint),
    type_uuid: &'static CType,
    api_set_specification: unsafe extern "C" fn(*mut ApiX3, *const c_char) -> c_int,
}

/// The v4 function table given to every v4 binding.
pub static ITF: ItfV4 = ItfV4 {
    create_data_raw,
    create_data_alloc,
    create_data_copy,
    data_addref,
    data_unref,
    data_get_mutable,
    data_get_constant,
    data_update,
    data_convert,
    data_type,
    data_notify_changed,
    data_is_volatile,
    data_set_volatile,
    data_set_not_volatile,
    data_is_constant,
    data_set_constant,
    data_set_not_constant,
    data_lock_read,
    data_try_lock_read,
    data_lock_write,
    data_try_lock_write,
    data_unlock,
    req_logmask,
    req_addref,
    req_unref,
    req_api,
    req_vcbdata,
    req_called_api,
    req_called_verb,
    req_vverbose,
    req_session_close,
    req_session_set_loa,
    legacy_req_cookie: req_legacy_cookie,
    req_subscribe,
    req_unsubscribe,
    req_get_client_info,
    req_check_permission,
    req_parameters,
    req_reply,
    req_subcall,
    req_subcall_sync,
    event_addref: x2::event_addref,
    event_unref: x2::event_unref,
    event_name: x2::event_name,
    event_push,
    event_broadcast,
    type_lookup,
    type_register,
    type_name,
    type_set_family,
    type_add_converter,
    type_add_updater,
    api_logmask,
    api_vverbose,
    api_name,
    api_get_userdata,
    api_set_userdata,
    api_settings,
    api_event_broadcast,
    api_new_event,
    api_event_handler_add,
    api_event_handler_del,
    api_call,
    api_call_sync,
    api_add_verb,
    api_del_verb,
    api_seal,
    api_set_verbs,
    api_require_api,
    api_class_provide,
    api_class_require,
    api_delete,
    create_api,
    job_post,
    alias_api,
    setup_shared_object,
    type_opaque: &d::T_OPAQUE,
    type_stringz: &d::T_STRINGZ,
    type_json: &d::T_JSON,
    type_json_c: &d::T_JSON_C,
    type_bool: &d::T_BOOL,
    type_i32: &d::T_I32,
    type_u32: &d::T_U32,
    type_i64: &d::T_I64,
    type_u64: &d::T_U64,
    type_double: &d::T_DOUBLE,
    evfd_create,
    evfd_addref,
    evfd_unref,
    evfd_get_fd,
    evfd_get_events,
    evfd_set_events,
    timer_create,
    timer_addref,
    timer_unref,
    req_session_get_loa,
    data_dependency_add,
    data_dependency_sub,
    data_dependency_drop_all,
    req_cookie_set,
    req_cookie_get,
    req_cookie_getinit,
    req_cookie_drop,
    type_bytearray: &d::T_BYTEARRAY,
    req_param_convert,
    req_interface_by_id,
    req_interface_by_name,
    req_get_userdata,
    req_set_userdata,
    job_abort,
    api_unshare_session,
    timer_modify_period,
    type_uuid: &d::T_UUID,
    api_set_specification,
};

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    const PTR: usize = std::mem::size_of::<usize>();

    /// The members each revision appends, from revision 2 on: (revision, first member, count).
    const APPENDED: &[(u16, &str, usize)] = &[
        (2, "type_bytearray", 2),
        (3, "req_interface_by_id", 2),
        (4, "req_get_userdata", 2),
        (5, "job_abort", 1),
        (6, "api_unshare_session", 1),
        (7, "timer_modify_period", 1),
        (8, "type_uuid", 1),
        (9, "api_set_specification", 1),
    ];

    #[test]
    fn every_member_is_one_pointer_in_order_and_each_revision_appends_its_own() {
        for (i, (name, off)) in ITF_FIELDS.iter().enumerate() {
            assert_eq!(*off, i * PTR, "{name} out of place");
        }
        let index = |n: &str| ITF_FIELDS.iter().position(|(f, _)| *f == n).unwrap();
        assert_eq!(index("req_cookie_drop") + 1, 103, "revision 1 has 103 members");
        assert_eq!(MEMBERS[1], 103);
        let mut end = 103;
        for (rev, first, count) in APPENDED {
            assert_eq!(index(first), end, "first member of revision {rev}");
            end += count;
            assert_eq!(MEMBERS[*rev as usize], end, "members at revision {rev}");
        }
        assert_eq!(end, ITF_FIELDS.len());
        assert_eq!(std::mem::size_of::<ItfV4>(), end * PTR);
        assert_eq!(APPENDED.last().map(|a| a.0), Some(MAX_REVISION));
    }

    /// Compiles a C program printing the offset of every member as our
    /// header (revision 9) lays it out, and compares with this table.
    #[test]
    fn the_header_lays_the_table_out_as_the_binder_fills_it() {
        let c_name = |n: &str| match n {
            "legacy_req_cookie" => "LEGACY_req_cookie".to_owned(),
            "req_session_set_loa" => "req_session_set_LOA".to_owned(),
            "req_session_get_loa" => "req_session_get_LOA".to_owned(),
            "type_uuid" => "type_UUID".to_owned(),
            other => other.to_owned(),
        };
        let mut src = String::from(
            "#define AFB_BINDING_X4R1_ITF_REVISION 9\n#include <stdio.h>\n#include <afb/afb-binding-v4.h>\nint main(void) {\n",
        );
        for (n, _) in ITF_FIELDS {
            src.push_str(&format!(
                "printf(\"{n} %zu\\n\", offsetof(struct afb_binding_x4r1_itf, {}));\n",
                c_name(n)
            ));
        }
        src.push_str("printf(\"size %zu\\n\", sizeof(struct afb_binding_x4r1_itf));\nreturn 0; }\n");
        let dir = std::env::temp_dir().join(format!("afb-itf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, exe) = (dir.join("itf.c"), dir.join("itf"));
        std::fs::write(&c, src).unwrap();
        let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
        let status = Command::new("cc")
            .arg("-I")
            .arg(include)
            .arg(&c)
            .arg("-o")
            .arg(&exe)
            .status()
            .expect("a C compiler (cc) is needed for this test");
        assert!(status.success());
        let out = Command::new(&exe).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mut lines = text.lines();
        for (n, off) in ITF_FIELDS {
            assert_eq!(lines.next(), Some(format!("{n} {off}").as_str()));
        }
        assert_eq!(
            lines.next(),
            Some(format!("size {}", std::mem::size_of::<ItfV4>()).as_str())
        );
    }
}
