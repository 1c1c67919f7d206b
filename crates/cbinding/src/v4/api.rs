//! The API and event functions of the v4 table: logging, user data,
//! settings, events, event handlers, calls, verbs, declarations, APIs made
//! at run time, aliases and the set-up of shared objects.

use std::ffi::{c_char, c_int, c_uint, c_void};

use afb_binding_so::abi::{CallCallback, EventHandler};

use super::data::{self, CData};
use super::req::{reply_data, start_call, store_sync};
use super::{create, handler_fn, verb_fn, ApiCallback, Binder, ItfV4, ReqCallback, VerbV4, ITF};
use crate::capi::{AfbAuth, ApiX3, CApi, Handler};
use crate::common;
use crate::errno::{EPERM, INTERNAL_ERROR, INVALID_REQUEST};
use crate::event::{self, CEvent};
use crate::jsonc::JsonObject;
use crate::req::{self, Caller};
use crate::util::{cstr, guard, write_out, SendPtr};

/// # Safety
/// `p` is NULL or an API address given to C code.
unsafe fn api_of(p: *mut ApiX3) -> Option<&'static CApi> {
    // SAFETY: per the contract.
    unsafe { CApi::from_c(p) }
}

pub(super) extern "C" fn api_logmask(api: *mut ApiX3) -> c_int {
    guard("api logmask", 0, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(0, |a| a.logmask())
    })
}

pub(super) unsafe extern "C" fn api_vverbose(
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

pub(super) extern "C" fn api_name(api: *mut ApiX3) -> *const c_char {
    guard("api name", std::ptr::null(), || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(std::ptr::null(), |a| a.cname())
    })
}

pub(super) extern "C" fn api_get_userdata(api: *mut ApiX3) -> *mut c_void {
    guard("api userdata", std::ptr::null_mut(), || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(std::ptr::null_mut(), |a| a.userdata())
    })
}

pub(super) extern "C" fn api_set_userdata(api: *mut ApiX3, userdata: *mut c_void) -> *mut c_void {
    guard("api userdata", std::ptr::null_mut(), || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(std::ptr::null_mut(), |a| a.set_userdata(userdata))
    })
}

pub(super) extern "C" fn api_settings(api: *mut ApiX3) -> *mut JsonObject {
    guard("api settings", std::ptr::null_mut(), || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(std::ptr::null_mut(), |a| a.settings())
    })
}

// ---- events ----------------------------------------------------------------------------

pub(super) unsafe extern "C" fn event_push(e: *mut CEvent, n: c_uint, params: *const *mut CData) -> c_int {
    guard("event push", INTERNAL_ERROR, || {
        // SAFETY: C gives the parameters' references (consumed) and a live event.
        let ((text, typed), e) = unsafe { (data::take_data(n, params), event::event_of(e)) };
        let text = text.unwrap_or_else(|| "null".into());
        e.map_or(INVALID_REQUEST, |e| event::push_typed(e, &text, typed.as_ref()))
    })
}

pub(super) unsafe extern "C" fn event_broadcast(e: *mut CEvent, n: c_uint, params: *const *mut CData) -> c_int {
    guard("event broadcast", INTERNAL_ERROR, || {
        // SAFETY: as in `event_push`.
        let ((text, typed), e) = unsafe { (data::take_data(n, params), event::event_of(e)) };
        let text = text.unwrap_or_else(|| "null".into());
        e.map_or(INVALID_REQUEST, |e| event::broadcast_typed(e, &text, typed.as_ref()))
    })
}

pub(super) unsafe extern "C" fn api_event_broadcast(
    api: *mut ApiX3,
    name: *const c_char,
    n: c_uint,
    params: *const *mut CData,
) -> c_int {
    guard("api broadcast", INTERNAL_ERROR, || {
        // SAFETY: C gives the parameters' references (consumed), its API
        // and a string.
        let ((text, typed), a, name) = unsafe { (data::take_data(n, params), api_of(api), cstr(name)) };
        let text = text.unwrap_or_else(|| "null".into());
        match (a, name) {
            (Some(a), Some(n)) => common::broadcast_typed(a, &n, &text, typed.as_ref()),
            _ => INVALID_REQUEST,
        }
    })
}

pub(super) unsafe extern "C" fn api_new_event(api: *mut ApiX3, name: *const c_char, out: *mut *mut CEvent) -> c_int {
    guard("api new event", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and a string.
        let (Some(a), Some(n)) = (unsafe { (api_of(api), cstr(name)) }) else {
            return INVALID_REQUEST;
        };
        match event::make_event(a, &n) {
            Ok(e) => {
                // SAFETY: C gives a location for the event (or NULL).
                if !unsafe { write_out(out, e) } {
                    event::event_unref(e);
                }
                0
            }
            Err(err) => {
                tracing::warn!(api = %a.name, "event {n}: {err}");
                // SAFETY: as above.
                unsafe { write_out(out, std::ptr::null_mut()) };
                INVALID_REQUEST
            }
        }
    })
}

pub(super) unsafe extern "C" fn api_event_handler_add(
    api: *mut ApiX3,
    pattern: *const c_char,
    cb: Option<EventHandler<Binder>>,
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

pub(super) unsafe extern "C" fn api_event_handler_del(
    api: *mut ApiX3,
    pattern: *const c_char,
    closure: *mut *mut c_void,
) -> c_int {
    guard("event handler del", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(INVALID_REQUEST, |a| common::del_handler(a, pattern, closure))
    })
}

// ---- calls ---------------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn api_call(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
    cb: Option<CallCallback<Binder>>,
    closure: *mut c_void,
) {
    let closure = SendPtr(closure);
    guard("api call", (), || {
        // SAFETY: C gives its API.
        let Some(a) = (unsafe { api_of(api) }) else { return };
        let Some(fut) = start_call(Caller::Api(a), apiname, verb, n, params) else {
            return;
        };
        req::then(fut, move |reply| {
            let (code, data) = reply_data(&reply);
            if let Some(cb) = cb {
                // SAFETY: the binding's callback; the replies are released after it.
                unsafe { cb(closure.get(), code, data.len() as c_uint, data.as_ptr(), a.as_c()) };
            }
            data.into_iter().for_each(data::unref);
        });
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn api_call_sync(
    api: *mut ApiX3,
    apiname: *const c_char,
    verb: *const c_char,
    n: c_uint,
    params: *const *mut CData,
    status: *mut c_int,
    nreplies: *mut c_uint,
    replies: *mut *mut CData,
) -> c_int {
    guard("api call sync", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        let Some(a) = (unsafe { api_of(api) }) else {
            return INVALID_REQUEST;
        };
        let Some(fut) = start_call(Caller::Api(a), apiname, verb, n, params) else {
            return INVALID_REQUEST;
        };
        let reply = req::wait(fut);
        // SAFETY: C gives writable out pointers.
        unsafe { store_sync(&reply, status, nreplies, replies) }
    })
}

// ---- verbs and declarations -------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn api_add_verb(
    api: *mut ApiX3,
    verb: *const c_char,
    info: *const c_char,
    cb: Option<ReqCallback>,
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
        common::add_verb(a, verb, info, verb_fn(cb), vcbdata, auth, session, glob)
    })
}

pub(super) unsafe extern "C" fn api_del_verb(api: *mut ApiX3, verb: *const c_char, vcbdata: *mut *mut c_void) -> c_int {
    guard("del verb", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(INVALID_REQUEST, |a| common::del_verb(a, verb, vcbdata))
    })
}

pub(super) extern "C" fn api_seal(api: *mut ApiX3) {
    guard("seal", (), || {
        // SAFETY: C gives its API.
        if let Some(a) = unsafe { api_of(api) } {
            a.seal()
        }
    })
}

pub(super) unsafe extern "C" fn api_set_verbs(api: *mut ApiX3, verbs: *const VerbV4) -> c_int {
    guard("set verbs", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        let Some(a) = (unsafe { api_of(api) }) else {
            return INVALID_REQUEST;
        };
        // SAFETY: C gives a verb array.
        match unsafe { super::add_verbs(a, verbs) } {
            Ok(()) => 0,
            Err(e) => {
                tracing::warn!("{e}");
                INVALID_REQUEST
            }
        }
    })
}

/// Runs a declaration of an API named by C (`require_api`, the classes).
///
/// # Safety
/// `api` is NULL or an API given to C; `name` is NULL or a C string.
unsafe fn declare(api: *mut ApiX3, name: *const c_char, op: fn(&'static CApi, &str) -> c_int) -> c_int {
    // SAFETY: per the contract.
    match unsafe { (api_of(api), cstr(name)) } {
        (Some(a), Some(n)) => op(a, &n),
        _ => INVALID_REQUEST,
    }
}

pub(super) unsafe extern "C" fn api_require_api(api: *mut ApiX3, name: *const c_char, _initialized: c_int) -> c_int {
    // SAFETY: C gives its API and a string.
    guard("require api", INTERNAL_ERROR, || unsafe {
        declare(api, name, common::require_api)
    })
}

pub(super) unsafe extern "C" fn api_class_provide(api: *mut ApiX3, name: *const c_char) -> c_int {
    // SAFETY: C gives its API and a string.
    guard("class provide", INTERNAL_ERROR, || unsafe {
        declare(api, name, common::provide_class)
    })
}

pub(super) unsafe extern "C" fn api_class_require(api: *mut ApiX3, name: *const c_char) -> c_int {
    // SAFETY: C gives its API and a string.
    guard("class require", INTERNAL_ERROR, || unsafe {
        declare(api, name, common::require_class)
    })
}

pub(super) extern "C" fn api_delete(api: *mut ApiX3) -> c_int {
    guard("delete api", INTERNAL_ERROR, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(INVALID_REQUEST, common::delete_api)
    })
}

pub(super) extern "C" fn api_unshare_session(_api: *mut ApiX3) -> c_int {
    // Every API already calls in its own session.
    0
}

pub(super) unsafe extern "C" fn api_set_specification(api: *mut ApiX3, specification: *const c_char) -> c_int {
    guard("set specification", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and a string (or NULL: no specification).
        let (Some(a), text) = (unsafe { (api_of(api), cstr(specification)) }) else {
            return INVALID_REQUEST;
        };
        if a.set_specification(text.map(|s| s.into_owned())) {
            0
        } else {
            EPERM
        }
    })
}

// ---- the root API: new APIs, aliases, shared objects ---------------------------------------

pub(super) unsafe extern "C" fn create_api(
    root: *mut ApiX3,
    out: *mut *mut ApiX3,
    name: *const c_char,
    info: *const c_char,
    noconcurrency: c_int,
    mainctl: Option<ApiCallback>,
    userdata: *mut c_void,
) -> c_int {
    guard("create api", INTERNAL_ERROR, || {
        // SAFETY: C gives its root API and strings.
        let (Some(parent), Some(n), info) = (unsafe { (api_of(root), cstr(name), cstr(info)) }) else {
            return INVALID_REQUEST;
        };
        let made = create(
            parent,
            &n,
            info.as_deref(),
            noconcurrency != 0,
            mainctl,
            userdata,
            |_| Ok(()),
        );
        match made {
            Ok(api) => {
                // SAFETY: C gives a location for the new API (or NULL).
                unsafe { write_out(out, api.as_c()) };
                0
            }
            Err(e) => {
                tracing::error!("{e}");
                INVALID_REQUEST
            }
        }
    })
}

pub(super) unsafe extern "C" fn alias_api(root: *mut ApiX3, name: *const c_char, as_name: *const c_char) -> c_int {
    guard("alias api", INTERNAL_ERROR, || {
        // SAFETY: C gives its API and strings.
        match unsafe { (api_of(root), cstr(name), cstr(as_name)) } {
            (Some(a), Some(n), Some(s)) => common::add_alias(a, &n, &s),
            _ => INVALID_REQUEST,
        }
    })
}

extern "C" {
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
}

pub(super) unsafe extern "C" fn setup_shared_object(root: *mut ApiX3, handle: *mut c_void) -> c_int {
    guard("setup shared object", INTERNAL_ERROR, || {
        if handle.is_null() {
            return INVALID_REQUEST;
        }
        // SAFETY: `handle` is a dlopen handle from the binding; the symbols
        // have the types of the v4 ABI (pointer variables, or absent).
        unsafe {
            let itf = dlsym(handle, c"afbBindingV4r1_itfptr".as_ptr()).cast::<*const ItfV4>();
            write_out(itf, &ITF as *const ItfV4);
            if !root.is_null() {
                write_out(dlsym(handle, c"afbBindingV4root".as_ptr()).cast::<*mut ApiX3>(), root);
            }
        }
        0
    })
}
