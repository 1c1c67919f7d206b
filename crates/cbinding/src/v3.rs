//! ABI v3: the API interface (`struct afb_api_x3_itf`, 29 functions; v1
//! and v2 reuse some of them in their daemon interface, see
//! [`crate::v1v2`]) and the v3 (and v2) verb arrays. Requests and events
//! are those of [`crate::x2`] and [`crate::event`].
//!
//! Not available here (logged once, documented value returned): the
//! systemd event loop and D-Bus connections (`get_event_loop`,
//! `get_user_bus`, `get_system_bus` return NULL).

use std::ffi::{c_char, c_int, c_void};

use afb_binding_so::abi::{JobCallback, Verb};
use afb_core::Auth;

use crate::capi::{AfbAuth, ApiX3, CApi, CVerb, EventFn, Flavor, Handler, HandlerFn, InitFn};
use crate::common;
use crate::errno::{FAILED, INTERNAL_ERROR, INVALID_REQUEST};
use crate::event::{self, CEvent};
use crate::jsonc::{self, JsonObject};
use crate::req::{self, Caller};
use crate::util::{self, cstr, guard, write_out, SendPtr};
use crate::x2::{self, ReqCallbackX1, ReqCallbackX2};

/// `int (*init)(struct afb_api_x3 *)`.
pub(crate) type InitCallback = unsafe extern "C" fn(*mut ApiX3) -> c_int;
/// `void (*onevent)(struct afb_api_x3 *, const char *, struct json_object *)`.
pub(crate) type OnEventCallback = unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut JsonObject);
/// `void (*)(void *closure, const char *event, struct json_object *, struct afb_api_x3 *)`.
pub(crate) type EventHandler = unsafe extern "C" fn(*mut c_void, *const c_char, *mut JsonObject, *mut ApiX3);
/// `int (*preinit)(void *closure, struct afb_api_x3 *)`.
pub(crate) type PreinitX3 = unsafe extern "C" fn(*mut c_void, *mut ApiX3) -> c_int;
type LegacyCallCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject, *mut ApiX3);
type CallCb = unsafe extern "C" fn(*mut c_void, *mut JsonObject, *const c_char, *const c_char, *mut ApiX3);

/// `struct afb_verb_v3`.
pub type VerbV3 = Verb<ReqCallbackX2>;

/// `struct afb_verb_v2`.
#[repr(C)]
pub struct VerbV2 {
    pub verb: *const c_char,
    pub callback: Option<ReqCallbackX1>,
    pub auth: *const AfbAuth,
    pub info: *const c_char,
    pub session: u32,
}

/// `struct afb_binding_v3`.
#[repr(C)]
pub struct BindingV3 {
    pub api: *const c_char,
    pub specification: *const c_char,
    pub info: *const c_char,
    pub verbs: *const VerbV3,
    pub preinit: Option<InitCallback>,
    pub init: Option<InitCallback>,
    pub onevent: Option<OnEventCallback>,
    pub userdata: *mut c_void,
    pub provide_class: *const c_char,
    pub require_class: *const c_char,
    pub require_api: *const c_char,
    /// Bit 0: noconcurrency.
    pub flags: u32,
}

/// Adds the verbs of a NULL-terminated v3 verb array.
///
/// # Safety
/// `verbs` is NULL or a valid array ending with a NULL name.
pub(crate) unsafe fn add_verbs(api: &'static CApi, verbs: *const VerbV3) -> Result<(), String> {
    // SAFETY: per the contract.
    unsafe { common::add_verbs(api, verbs, x2::verb_fn) }
}

/// Adds the verbs of a NULL-terminated v2 verb array.
///
/// # Safety
/// `verbs` is NULL or a valid array ending with a NULL name.
pub(crate) unsafe fn add_verbs_v2(api: &'static CApi, verbs: *const VerbV2) -> Result<(), String> {
    let mut p = verbs;
    if p.is_null() {
        return Ok(());
    }
    loop {
        // SAFETY: per the contract, `p` is inside the array until the NULL
        // name, and its strings are the binding's (or NULL).
        let (v, name) = unsafe { (&*p, cstr((*p).verb)) };
        let Some(name) = name else { return Ok(()) };
        let Some(cb) = v.callback else {
            return Err(format!("verb {name} has no callback"));
        };
        let verb = CVerb {
            name: name.to_string(),
            // SAFETY: a C string of the binding (or NULL).
            info: unsafe { cstr(v.info) }.map(|s| s.into_owned()).unwrap_or_default(),
            call: x2::verb_fn_x1(cb),
            vcbdata: SendPtr(std::ptr::null_mut()),
            auth: Auth::from_v2(v.session),
            // SAFETY: the binding's static auth tree, or NULL.
            rule: unsafe { CVerb::rule_of(SendPtr(v.auth.cast_mut().cast())) },
            glob: false,
        };
        api.add_verb(verb)
            .map_err(|rc| format!("verb {name} of API {} refused ({rc})", api.name))?;
        // SAFETY: still inside the array.
        p = unsafe { p.add(1) };
    }
}

/// A v3 `init` as the API calls it.
pub(crate) fn init_fn(cb: InitCallback) -> InitFn {
    // SAFETY: the binding's callback with its API; C code does not unwind.
    std::sync::Arc::new(move |api| unsafe { cb(api.as_c()) })
}

/// A v3 `onevent` as the API calls it.
pub(crate) fn onevent_fn(cb: OnEventCallback) -> EventFn {
    std::sync::Arc::new(move |api, name, data| {
        let n = util::cstring(name);
        let obj = jsonc::parse_or_null(data);
        // SAFETY: the binding's callback; the object is put after it.
        unsafe {
            cb(api.as_c(), n.as_ptr(), obj);
            jsonc::put(obj);
        }
    })
}

fn handler_fn(cb: EventHandler) -> HandlerFn {
    std::sync::Arc::new(move |api, closure, name, data, _typed| {
        let n = util::cstring(name);
        let obj = jsonc::parse_or_null(data);
        // SAFETY: the binding's handler; the object is put after it.
        unsafe {
            cb(closure.get(), n.as_ptr(), obj, api.as_c());
            jsonc::put(obj);
        }
    })
}

// ---- the api_x3 interface ---------------------------------------------------------

/// # Safety
/// `p` is NULL or an API address given to C code.
unsafe fn api_of(p: *mut ApiX3) -> Option<&'static CApi> {
    // SAFETY: per the contract.
    unsafe { CApi::from_c(p) }
}

/// `vverbose` (v2, v3).
pub(crate) unsafe extern "C" fn api_vverbose(
    api: *mut ApiX3,
    level: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    fmt: *const c_char,
    args: *mut c_void,
) {
    guard("api log", (), || {
        // SAFETY: C gives its API, strings, a format and its va_list.
        if let Some(a) = unsafe { api_of(api) } {
            // SAFETY: as above.
            unsafe { a.log_va(level, file, line, func, fmt, args) }
        }
    })
}

pub(crate) unsafe extern "C" fn api_get_event_loop(_api: *mut ApiX3) -> *mut c_void {
    util::not_available_once("the systemd event loop (sd_event)");
    std::ptr::null_mut()
}

pub(crate) unsafe extern "C" fn api_get_user_bus(_api: *mut ApiX3) -> *mut c_void {
    util::not_available_once("the user D-Bus connection (sd_bus)");
    std::ptr::null_mut()
}

pub(crate) unsafe extern "C" fn api_get_system_bus(_api: *mut ApiX3) -> *mut c_void {
    util::not_available_once("the system D-Bus connection (sd_bus)");
    std::ptr::null_mut()
}

pub(crate) unsafe extern "C" fn api_rootdir_get_fd(_api: *mut ApiX3) -> c_int {
    guard("rootdir fd", FAILED, common::rootdir_fd)
}

pub(crate) unsafe extern "C" fn api_rootdir_open_locale(
    _api: *mut ApiX3,
    filename: *const c_char,
    flags: c_int,
    _locale: *const c_char,
) -> c_int {
    guard("rootdir open", FAILED, || common::rootdir_open(filename, flags))
}

pub(crate) unsafe extern "C" fn api_queue_job(
    _api: *mut ApiX3,
    cb: Option<JobCallback>,
    arg: *mut c_void,
    group: *mut c_void,
    _timeout: c_int,
) -> c_int {
    guard("queue job", FAILED, || {
        if common::queue_job(cb, arg, group, 0) > 0 {
            0
        } else {
            FAILED
        }
    })
}

pub(crate) unsafe extern "C" fn api_require_api(api: *mut ApiX3, name: *const c_char, _initialized: c_int) -> c_int {
    guard("require api", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and a string.
        match unsafe { (api_of(api), cstr(name)) } {
            (Some(a), Some(n)) => common::require_api(a, &n),
            _ => INVALID_REQUEST,
        }
    })
}

pub(crate) unsafe extern "C" fn api_add_alias(api: *mut ApiX3, name: *const c_char, as_name: *const c_char) -> c_int {
    guard("add alias", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and strings.
        match unsafe { (api_of(api), cstr(name), cstr(as_name)) } {
            (Some(a), Some(n), Some(s)) => common::add_alias(a, &n, &s),
            _ => INVALID_REQUEST,
        }
    })
}

pub(crate) unsafe extern "C" fn api_event_broadcast(
    api: *mut ApiX3,
    name: *const c_char,
    obj: *mut JsonObject,
) -> c_int {
    guard("api broadcast", FAILED, || {
        // SAFETY: C gives its object's reference, its API and a string.
        match unsafe { (event::take_text(obj), api_of(api), cstr(name)) } {
            (text, Some(a), Some(n)) => common::broadcast(a, &n, &text),
            _ => FAILED,
        }
    })
}

pub(crate) unsafe extern "C" fn api_event_make(api: *mut ApiX3, name: *const c_char) -> *mut CEvent {
    guard("event make", std::ptr::null_mut(), || {
        // SAFETY: C gives its API and a string.
        let (Some(a), Some(n)) = (unsafe { (api_of(api), cstr(name)) }) else {
            return std::ptr::null_mut();
        };
        event::make_event(a, &n).unwrap_or_else(|e| {
            tracing::warn!(api = %a.name, "event {n}: {e}");
            std::ptr::null_mut()
        })
    })
}

unsafe extern "C" fn api_legacy_call(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<LegacyCallCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("legacy call", (), || {
        // SAFETY: C gives the argument's reference, its API and strings.
        let (args, a, n, v) = unsafe { (x2::take_args(args), api_of(api), cstr(apiname), cstr(verb)) };
        let (Some(a), Some(n), Some(v)) = (a, n, v) else {
            return;
        };
        let fut = req::start_call(Caller::Api(a), &n, &v, args);
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
                let status = if reply.is_success() { 0 } else { FAILED };
                // SAFETY: the binding's callback; the envelope is put after it.
                unsafe {
                    cb(closure.get(), status, env, a.as_c());
                    jsonc::put(env);
                }
            }
        });
    })
}

unsafe extern "C" fn api_legacy_call_sync(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    result: *mut *mut JsonObject,
) -> c_int {
    // 0: failed (this function answers 1 on success).
    guard("legacy call sync", 0, || {
        // SAFETY: as in `api_legacy_call`.
        let (args, a, n, v) = unsafe { (x2::take_args(args), api_of(api), cstr(apiname), cstr(verb)) };
        let (Some(a), Some(n), Some(v)) = (a, n, v) else {
            return 0;
        };
        let reply = req::wait(req::start_call(Caller::Api(a), &n, &v, args));
        if !result.is_null() {
            let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
            // SAFETY: C gives where to store the envelope (the caller puts it).
            unsafe { write_out(result, env) };
        }
        c_int::from(reply.is_success())
    })
}

pub(crate) unsafe extern "C" fn api_new_api(
    api: *mut ApiX3,
    name: *const c_char,
    info: *const c_char,
    noconcurrency: c_int,
    preinit: Option<PreinitX3>,
    closure: *mut c_void,
) -> *mut ApiX3 {
    guard("new api", std::ptr::null_mut(), || {
        // SAFETY: C gives its API and strings.
        let (Some(parent), Some(n), info) = (unsafe { (api_of(api), cstr(name), cstr(info)) }) else {
            return std::ptr::null_mut();
        };
        let made = common::new_api(
            parent,
            &n,
            info.as_deref(),
            noconcurrency != 0,
            Flavor::V3,
            |a| match preinit {
                // SAFETY: the binding's preinit with its closure and the new API.
                Some(f) => unsafe { f(closure, a.as_c()) },
                None => 0,
            },
        );
        match made {
            Ok(a) => a.as_c(),
            Err(e) => {
                tracing::error!("{e}");
                std::ptr::null_mut()
            }
        }
    })
}

/// The status of a `set_verbs` (0, or -1 logged).
fn verbs_added(added: Result<(), String>) -> c_int {
    match added {
        Ok(()) => 0,
        Err(e) => {
            tracing::warn!("{e}");
            FAILED
        }
    }
}

unsafe extern "C" fn api_set_verbs_v2(api: *mut ApiX3, verbs: *const VerbV2) -> c_int {
    guard("set verbs", FAILED, || {
        // SAFETY: C gives its API and a verb array.
        match unsafe { api_of(api) } {
            // SAFETY: as above.
            Some(a) => verbs_added(unsafe { add_verbs_v2(a, verbs) }),
            None => FAILED,
        }
    })
}

unsafe extern "C" fn api_set_verbs_v3(api: *mut ApiX3, verbs: *const VerbV3) -> c_int {
    guard("set verbs", FAILED, || {
        // SAFETY: C gives its API and a verb array.
        match unsafe { api_of(api) } {
            // SAFETY: as above.
            Some(a) => verbs_added(unsafe { add_verbs(a, verbs) }),
            None => FAILED,
        }
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn api_add_verb(
    api: *mut ApiX3,
    name: *const c_char,
    info: *const c_char,
    cb: Option<ReqCallbackX2>,
    vcbdata: *mut c_void,
    auth: *const AfbAuth,
    session: u32,
    glob: c_int,
) -> c_int {
    guard("add verb", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        let (Some(a), Some(cb)) = (unsafe { api_of(api) }, cb) else {
            return INVALID_REQUEST;
        };
        common::add_verb(a, name, info, x2::verb_fn(cb), vcbdata, auth, session, glob)
    })
}

unsafe extern "C" fn api_del_verb(api: *mut ApiX3, name: *const c_char, vcbdata: *mut *mut c_void) -> c_int {
    guard("del verb", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(INVALID_REQUEST, |a| common::del_verb(a, name, vcbdata))
    })
}

unsafe extern "C" fn api_set_on_event(api: *mut ApiX3, cb: Option<OnEventCallback>) -> c_int {
    guard("set on event", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        let Some(a) = (unsafe { api_of(api) }) else {
            return INVALID_REQUEST;
        };
        a.set_onevent(cb.map(onevent_fn));
        0
    })
}

unsafe extern "C" fn api_set_on_init(api: *mut ApiX3, cb: Option<InitCallback>) -> c_int {
    guard("set on init", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        let Some(a) = (unsafe { api_of(api) }) else {
            return INVALID_REQUEST;
        };
        a.set_init(cb.map(init_fn));
        0
    })
}

unsafe extern "C" fn api_seal(api: *mut ApiX3) {
    guard("seal", (), || {
        // SAFETY: C gives its API.
        if let Some(a) = unsafe { api_of(api) } {
            a.seal()
        }
    })
}

unsafe extern "C" fn api_event_handler_add(
    api: *mut ApiX3,
    pattern: *const c_char,
    cb: Option<EventHandler>,
    closure: *mut c_void,
) -> c_int {
    guard("event handler add", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and a string.
        let ((Some(a), Some(p)), Some(cb)) = (unsafe { (api_of(api), cstr(pattern)) }, cb) else {
            return INVALID_REQUEST;
        };
        a.add_handler(Handler {
            pattern: p.into_owned(),
            call: handler_fn(cb),
            closure: SendPtr(closure),
        });
        0
    })
}

unsafe extern "C" fn api_event_handler_del(
    api: *mut ApiX3,
    pattern: *const c_char,
    closure: *mut *mut c_void,
) -> c_int {
    guard("event handler del", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(INVALID_REQUEST, |a| common::del_handler(a, pattern, closure))
    })
}

unsafe extern "C" fn api_call(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<CallCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("call", (), || {
        // SAFETY: C gives the argument's reference, its API and strings.
        let (args, a, n, v) = unsafe { (x2::take_args(args), api_of(api), cstr(apiname), cstr(verb)) };
        let (Some(a), Some(n), Some(v)) = (a, n, v) else {
            return;
        };
        let fut = req::start_call(Caller::Api(a), &n, &v, args);
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                let t = x2::Triple::of(&reply);
                // SAFETY: the binding's callback; the object is put after it.
                unsafe {
                    cb(closure.get(), t.obj, t.error_ptr(), t.info_ptr(), a.as_c());
                    jsonc::put(t.obj);
                }
            }
        });
    })
}

unsafe extern "C" fn api_call_sync(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    obj: *mut *mut JsonObject,
    error: *mut *mut c_char,
    info: *mut *mut c_char,
) -> c_int {
    guard("call sync", INTERNAL_ERROR, || {
        // SAFETY: as in `api_call`.
        let (args, a, n, v) = unsafe { (x2::take_args(args), api_of(api), cstr(apiname), cstr(verb)) };
        let (Some(a), Some(n), Some(v)) = (a, n, v) else {
            return FAILED;
        };
        let reply = req::wait(req::start_call(Caller::Api(a), &n, &v, args));
        // SAFETY: C gives writable out pointers (or NULL).
        unsafe { x2::store_triple(&reply, obj, error, info) };
        if reply.is_success() {
            0
        } else {
            FAILED
        }
    })
}

unsafe extern "C" fn api_class_provide(api: *mut ApiX3, name: *const c_char) -> c_int {
    guard("class provide", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and a string.
        match unsafe { (api_of(api), cstr(name)) } {
            (Some(a), Some(n)) => common::provide_class(a, &n),
            _ => INVALID_REQUEST,
        }
    })
}

unsafe extern "C" fn api_class_require(api: *mut ApiX3, name: *const c_char) -> c_int {
    guard("class require", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and a string.
        match unsafe { (api_of(api), cstr(name)) } {
            (Some(a), Some(n)) => common::require_class(a, &n),
            _ => INVALID_REQUEST,
        }
    })
}

unsafe extern "C" fn api_delete(api: *mut ApiX3) -> c_int {
    guard("delete api", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(INVALID_REQUEST, common::delete_api)
    })
}

unsafe extern "C" fn api_settings(api: *mut ApiX3) -> *mut JsonObject {
    guard("settings", std::ptr::null_mut(), || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(std::ptr::null_mut(), |a| a.settings())
    })
}

// ---- the table ---------------------------------------------------------------------------

/// `vverbose` of v2 and v3.
pub(crate) type VVerbose =
    unsafe extern "C" fn(*mut ApiX3, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void);
/// `new_api` of v2 and v3.
pub(crate) type NewApi =
    unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, c_int, Option<PreinitX3>, *mut c_void) -> *mut ApiX3;
/// `queue_job` of v2 and v3.
pub(crate) type QueueJob =
    unsafe extern "C" fn(*mut ApiX3, Option<JobCallback>, *mut c_void, *mut c_void, c_int) -> c_int;

/// `struct afb_api_x3_itf`, in the ABI's order.
#[repr(C)]
pub struct ApiX3Itf {
    vverbose: VVerbose,
    get_event_loop: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    get_user_bus: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    get_system_bus: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    rootdir_get_fd: unsafe extern "C" fn(*mut ApiX3) -> c_int,
    rootdir_open_locale: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_int, *const c_char) -> c_int,
    queue_job: QueueJob,
    require_api: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_int) -> c_int,
    add_alias: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char) -> c_int,
    event_broadcast: unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut JsonObject) -> c_int,
    event_make: unsafe extern "C" fn(*mut ApiX3, *const c_char) -> *mut CEvent,
    legacy_call: unsafe extern "C" fn(
        *mut ApiX3,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        Option<LegacyCallCb>,
        *mut c_void,
    ),
    legacy_call_sync:
        unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, *mut JsonObject, *mut *mut JsonObject) -> c_int,
    api_new_api: NewApi,
    api_set_verbs_v2: unsafe extern "C" fn(*mut ApiX3, *const VerbV2) -> c_int,
    #[allow(clippy::type_complexity)]
    api_add_verb: unsafe extern "C" fn(
        *mut ApiX3,
        *const c_char,
        *const c_char,
        Option<ReqCallbackX2>,
        *mut c_void,
        *const AfbAuth,
        u32,
        c_int,
    ) -> c_int,
    api_del_verb: unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut *mut c_void) -> c_int,
    api_set_on_event: unsafe extern "C" fn(*mut ApiX3, Option<OnEventCallback>) -> c_int,
    api_set_on_init: unsafe extern "C" fn(*mut ApiX3, Option<InitCallback>) -> c_int,
    api_seal: unsafe extern "C" fn(*mut ApiX3),
    api_set_verbs_v3: unsafe extern "C" fn(*mut ApiX3, *const VerbV3) -> c_int,
    event_handler_add: unsafe extern "C" fn(*mut ApiX3, *const c_char, Option<EventHandler>, *mut c_void) -> c_int,
    event_handler_del: unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut *mut c_void) -> c_int,
    call: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, *mut JsonObject, Option<CallCb>, *mut c_void),
    call_sync: unsafe extern "C" fn(
        *mut ApiX3,
        *const c_char,
        *const c_char,
        *mut JsonObject,
        *mut *mut JsonObject,
        *mut *mut c_char,
        *mut *mut c_char,
    ) -> c_int,
    class_provide: unsafe extern "C" fn(*mut ApiX3, *const c_char) -> c_int,
    class_require: unsafe extern "C" fn(*mut ApiX3, *const c_char) -> c_int,
    delete_api: unsafe extern "C" fn(*mut ApiX3) -> c_int,
    settings: unsafe extern "C" fn(*mut ApiX3) -> *mut JsonObject,
}

static API_ITF: ApiX3Itf = ApiX3Itf {
    vverbose: api_vverbose,
    get_event_loop: api_get_event_loop,
    get_user_bus: api_get_user_bus,
    get_system_bus: api_get_system_bus,
    rootdir_get_fd: api_rootdir_get_fd,
    rootdir_open_locale: api_rootdir_open_locale,
    queue_job: api_queue_job,
    require_api: api_require_api,
    add_alias: api_add_alias,
    event_broadcast: api_event_broadcast,
    event_make: api_event_make,
    legacy_call: api_legacy_call,
    legacy_call_sync: api_legacy_call_sync,
    api_new_api,
    api_set_verbs_v2,
    api_add_verb,
    api_del_verb,
    api_set_on_event,
    api_set_on_init,
    api_seal,
    api_set_verbs_v3,
    event_handler_add: api_event_handler_add,
    event_handler_del: api_event_handler_del,
    call: api_call,
    call_sync: api_call_sync,
    class_provide: api_class_provide,
    class_require: api_class_require,
    delete_api: api_delete,
    settings: api_settings,
};

/// The v3 API interface, which every API shows (`CApi::new_root`).
pub(crate) fn api_itf() -> *const c_void {
    (&API_ITF as *const ApiX3Itf).cast()
}
