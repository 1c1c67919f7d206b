//! ABI v1 and v2: their descriptions (`afbBindingV1Register`'s result,
//! `afbBindingV2`), verb arrays, `init`/`onevent` callbacks, and the two
//! interfaces their bindings receive by value: the daemon (`struct
//! afb_daemon_itf_x1`, 14 functions, most of them v3's) and the service
//! (`struct afb_service_itf_x1`: calls). Their requests and events are
//! those of [`crate::x2`] and [`crate::event`], through by-value handles.
//! The loader reads the descriptions and fills the binding's data.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use afb_core::Auth;

use crate::capi::{ApiX3, CApi, CVerb, EventFn, InitFn};
use crate::errno::FAILED;
use crate::jsonc::{self, JsonObject};
use crate::req::{self, Caller};
use crate::util::{self, cstr, guard, write_out, SendPtr};
use crate::v3::{self, VerbV2};
use crate::x2::{self, EventX1, ReqCallbackX1, ReqX1};

/// `void (*onevent)(const char *event, struct json_object *object)`.
pub(crate) type OnEventCallback = unsafe extern "C" fn(*const c_char, *mut JsonObject);
/// `int (*init)(void)` (v2).
pub(crate) type InitV2 = unsafe extern "C" fn() -> c_int;
/// `afbBindingV1Register`.
pub(crate) type RegisterV1 = unsafe extern "C" fn(*const InterfaceV1) -> *const BindingV1;
/// `afbBindingV1ServiceInit`.
pub(crate) type ServiceInitV1 = unsafe extern "C" fn(ServiceX1) -> c_int;

/// `struct afb_binding_v2`.
#[repr(C)]
pub struct BindingV2 {
    pub api: *const c_char,
    pub specification: *const c_char,
    pub info: *const c_char,
    pub verbs: *const VerbV2,
    pub preinit: Option<InitV2>,
    pub init: Option<InitV2>,
    pub onevent: Option<OnEventCallback>,
    pub flags: u32,
}

/// `struct afb_binding_data_v2` (`afbBindingV2data`, filled by the binder).
#[repr(C)]
pub struct BindingDataV2 {
    pub verbosity: c_int,
    pub daemon: DaemonX1,
    pub service: ServiceX1,
}

/// `struct afb_binding_interface_v1` (given to `afbBindingV1Register`).
#[repr(C)]
pub struct InterfaceV1 {
    pub daemon: DaemonX1,
    pub verbosity: c_int,
    pub mode: c_int,
}

/// `struct afb_verb_desc_v1`.
#[repr(C)]
pub struct VerbDescV1 {
    pub name: *const c_char,
    pub session: c_int,
    pub callback: Option<ReqCallbackX1>,
    pub info: *const c_char,
}

/// `struct afb_binding_v1` (type, then the v1 description).
#[repr(C)]
pub struct BindingV1 {
    pub kind: c_int,
    pub info: *const c_char,
    pub prefix: *const c_char,
    pub verbs: *const VerbDescV1,
}

/// The `kind` of a v1 description.
pub(crate) const BINDING_V1_TYPE: c_int = 123_456_789;

/// Adds the verbs of a NULL-terminated v1 verb array.
///
/// # Safety
/// `verbs` is NULL or a valid array ending with a NULL name.
pub(crate) unsafe fn add_verbs_v1(api: &'static CApi, verbs: *const VerbDescV1) -> Result<(), String> {
    let mut p = verbs;
    while !p.is_null() {
        // SAFETY: per the contract, inside the binding's verb array until
        // the NULL name; its strings are the binding's (or NULL).
        let (v, name) = unsafe { (&*p, cstr((*p).name)) };
        let Some(name) = name else { break };
        let Some(cb) = v.callback else {
            return Err(format!("verb {name} has no callback"));
        };
        let verb = CVerb {
            name: name.into_owned(),
            // SAFETY: a string of the binding (or NULL).
            info: unsafe { cstr(v.info) }.map(|s| s.into_owned()).unwrap_or_default(),
            call: x2::verb_fn_x1(cb),
            vcbdata: SendPtr(std::ptr::null_mut()),
            auth: Auth::from_v1(v.session as u32),
            // v1 verbs have no auth tree.
            rule: None,
            glob: false,
        };
        api.add_verb(verb).map_err(|rc| format!("a verb was refused ({rc})"))?;
        // SAFETY: still inside the array.
        p = unsafe { p.add(1) };
    }
    Ok(())
}

/// A v2 `init` as the API calls it.
pub(crate) fn init_fn_v2(cb: InitV2) -> InitFn {
    // SAFETY: the binding's callback; C code does not unwind.
    Arc::new(move |_| unsafe { cb() })
}

/// A v1 `afbBindingV1ServiceInit` as the API calls it.
pub(crate) fn init_fn_v1(cb: ServiceInitV1) -> InitFn {
    // SAFETY: the binding's callback with its service handle.
    Arc::new(move |api| unsafe { cb(service_x1(api)) })
}

/// A v1/v2 `onevent(name, object)` as the API calls it.
pub(crate) fn onevent_fn(cb: OnEventCallback) -> EventFn {
    Arc::new(move |_, name, data| {
        let n = util::cstring(name);
        let obj = jsonc::parse_or_null(data);
        // SAFETY: the binding's callback; the object is put after it.
        unsafe {
            cb(n.as_ptr(), obj);
            jsonc::put(obj);
        }
    })
}

/// `struct afb_daemon_x1` / `struct afb_service_x1`: an interface and its closure.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ItfX1<T> {
    /// The interface.
    pub itf: *const T,
    /// The API (closure of every function).
    pub closure: *mut ApiX3,
}

/// `struct afb_service_x1`.
pub type ServiceX1 = ItfX1<ServiceItfX1>;
/// `struct afb_daemon_x1`.
pub type DaemonX1 = ItfX1<DaemonItfX1>;

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
        itf: &DAEMON_ITF,
        closure: api.as_c(),
    }
}

// ---- the daemon interface -------------------------------------------------------------

unsafe extern "C" fn daemon_vverbose_v1(
    api: *mut ApiX3,
    level: c_int,
    file: *const c_char,
    line: c_int,
    fmt: *const c_char,
    args: *mut c_void,
) {
    // SAFETY: forwarded as received, without function name.
    unsafe { v3::api_vverbose(api, level, file, line, std::ptr::null(), fmt, args) }
}

unsafe extern "C" fn daemon_event_make(api: *mut ApiX3, name: *const c_char) -> EventX1 {
    // SAFETY: forwarded as received.
    x2::event_x1(unsafe { v3::api_event_make(api, name) })
}

unsafe extern "C" fn daemon_unstore_req(_api: *mut ApiX3, stored: *mut c_void) -> ReqX1 {
    x2::req_x1_of_stored(stored)
}

/// `struct afb_daemon_itf_x1`, in the ABI's order.
#[repr(C)]
pub struct DaemonItfX1 {
    event_broadcast: unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut JsonObject) -> c_int,
    get_event_loop: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    get_user_bus: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    get_system_bus: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    vverbose_v1: unsafe extern "C" fn(*mut ApiX3, c_int, *const c_char, c_int, *const c_char, *mut c_void),
    event_make: unsafe extern "C" fn(*mut ApiX3, *const c_char) -> EventX1,
    rootdir_get_fd: unsafe extern "C" fn(*mut ApiX3) -> c_int,
    rootdir_open_locale: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_int, *const c_char) -> c_int,
    queue_job: v3::QueueJob,
    vverbose_v2: v3::VVerbose,
    unstore_req: unsafe extern "C" fn(*mut ApiX3, *mut c_void) -> ReqX1,
    require_api: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_int) -> c_int,
    add_alias: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char) -> c_int,
    new_api: v3::NewApi,
}

static DAEMON_ITF: DaemonItfX1 = DaemonItfX1 {
    event_broadcast: v3::api_event_broadcast,
    get_event_loop: v3::api_get_event_loop,
    get_user_bus: v3::api_get_user_bus,
    get_system_bus: v3::api_get_system_bus,
    vverbose_v1: daemon_vverbose_v1,
    event_make: daemon_event_make,
    rootdir_get_fd: v3::api_rootdir_get_fd,
    rootdir_open_locale: v3::api_rootdir_open_locale,
    queue_job: v3::api_queue_job,
    vverbose_v2: v3::api_vverbose,
    unstore_req: daemon_unstore_req,
    require_api: v3::api_require_api,
    add_alias: v3::api_add_alias,
    new_api: v3::api_new_api,
};

// ---- the service interface ------------------------------------------------------------

type CallCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject);

fn names(api: *const c_char, verb: *const c_char) -> Option<(String, String)> {
    // SAFETY: C gives strings.
    let (api, verb) = unsafe { (cstr(api), cstr(verb)) };
    Some((api?.into_owned(), verb?.into_owned()))
}

unsafe extern "C" fn service_call(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    cb: Option<CallCb>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("service call", (), || {
        // SAFETY: C gives the argument's reference and its API.
        let (args, capi) = unsafe { (x2::take_args(args), CApi::from_c(api)) };
        let (Some(capi), Some((a, v))) = (capi, names(apiname, verb)) else {
            return;
        };
        let fut = req::start_call(Caller::Api(capi), &a, &v, args);
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
                let status = if reply.is_success() { 0 } else { FAILED };
                // SAFETY: the binding's callback; the envelope is put after it.
                unsafe {
                    cb(closure.get(), status, env);
                    jsonc::put(env);
                }
            }
        });
    })
}

unsafe extern "C" fn service_call_sync(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    args: *mut JsonObject,
    result: *mut *mut JsonObject,
) -> c_int {
    // 0: failed (this function answers 1 on success).
    guard("service call_sync", 0, || {
        // SAFETY: C gives the argument's reference and its API.
        let (args, capi) = unsafe { (x2::take_args(args), CApi::from_c(api)) };
        let (Some(capi), Some((a, v))) = (capi, names(apiname, verb)) else {
            return 0;
        };
        let reply = req::wait(req::start_call(Caller::Api(capi), &a, &v, args));
        if !result.is_null() {
            let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
            // SAFETY: C gives where to store the envelope (the caller puts it).
            unsafe { write_out(result, env) };
        }
        c_int::from(reply.is_success())
    })
}

/// `struct afb_service_itf_x1`.
#[repr(C)]
pub struct ServiceItfX1 {
    call: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, *mut JsonObject, Option<CallCb>, *mut c_void),
    call_sync:
        unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, *mut JsonObject, *mut *mut JsonObject) -> c_int,
}

static SERVICE_ITF: ServiceItfX1 = ServiceItfX1 {
    call: service_call,
    call_sync: service_call_sync,
};
