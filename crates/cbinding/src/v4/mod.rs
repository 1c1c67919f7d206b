//! ABI v4 (`struct afb_binding_x4r1_itf`, revisions 1 to 9): the table
//! whose layout [`afb_binding_so::abi`] defines once, filled here with the
//! binder's objects ([`Binder`]). Its functions are grouped as the C header
//! groups them: requests ([`req`]), data and types ([`data_itf`], on the
//! data model of [`data`]), APIs and events ([`api`]), jobs, timers and file
//! events ([`timer`]); [`itf`] is the table itself.
//!
//! The table only grows at its end; a binding declares the revision it was
//! built for (`afbBindingV4_itf_revision`) and never reads past the members
//! of that revision, so every binding gets the same (full) table.
//!
//! Not available here (logged once, documented value returned): file
//! event handlers (`evfd_create` returns -5, "not available"), request
//! interfaces by id or name (-5), permissions are always granted (no
//! permission service), jobs run without their execution timeout.

mod api;
pub(crate) mod data;
mod data_itf;
mod itf;
mod req;
mod timer;

use std::ffi::{c_int, c_uint, c_void};
use std::sync::Arc;

use afb_binding_so::abi::{self, Handles};

pub(crate) use afb_binding_so::abi::{CTLID_INIT, CTLID_ORPHAN_EVENT, CTLID_PRE_INIT, CTLID_ROOT_ENTRY};
pub(crate) use itf::ITF;

use crate::capi::{ApiX3, CApi, EventFn, Flavor, HandlerFn, InitFn, VerbFn};
use crate::common;
use crate::event::CEvent;
use crate::jsonc::JsonObject;
use crate::util;
use data::{CData, CType};
use req::ReqV4;
use timer::Timer;

/// The binder's objects behind the v4 handles.
pub(crate) enum Binder {}

impl Handles for Binder {
    type Api = ApiX3;
    type Req = ReqV4;
    type Event = CEvent;
    type Data = CData;
    type Type = CType;
    type Evfd = c_void;
    type Timer = Timer;
    type Json = JsonObject;
}

/// The v4 function table, as the binder fills it.
pub(crate) type ItfV4 = abi::ItfV4<Binder>;
/// `afb_req_callback_x4_t`.
pub(crate) type ReqCallback = abi::ReqCallback<Binder>;
/// `afb_api_callback_x4_t` (the main control callback).
pub(crate) type ApiCallback = abi::ApiCallback<Binder>;
/// `union afb_ctlarg`.
pub(crate) type CtlArg = abi::CtlArg<Binder>;
/// `struct afb_binding_v4`.
pub(crate) type BindingV4 = abi::BindingV4<Binder>;
/// `struct afb_verb_v4`.
pub(crate) type VerbV4 = abi::VerbV4<Binder>;

/// Calls a main control callback; its status.
pub(crate) fn call_mainctl(api: &'static CApi, cb: ApiCallback, id: c_int, arg: *const CtlArg) -> c_int {
    // SAFETY: the binding's callback with its API, a control argument
    // valid during the call, and its user data.
    api.label.run(|| unsafe { cb(api.as_c(), id, arg, api.userdata()) })
}

/// How a v4 verb is called.
fn verb_fn(cb: ReqCallback) -> VerbFn {
    Box::new(move |api, verb, request| req::call_verb(api, verb, cb, request))
}

/// Adds the verbs of a NULL-terminated v4 verb array.
///
/// # Safety
/// `verbs` is NULL or a valid array ending with a NULL name.
pub(crate) unsafe fn add_verbs(api: &'static CApi, verbs: *const VerbV4) -> Result<(), String> {
    // SAFETY: per the contract.
    unsafe { common::add_verbs(api, verbs, verb_fn) }
}

/// The `init` of an API with a main control: `mainctl(Init)`.
fn init_fn(cb: ApiCallback) -> InitFn {
    Arc::new(move |api| call_mainctl(api, cb, CTLID_INIT, std::ptr::null()))
}

/// Tells the API's main control about an event no handler took
/// (`mainctl(Orphan_Event)`).
fn orphan_fn(cb: ApiCallback) -> EventFn {
    Arc::new(move |api, name, _data| {
        let n = util::cstring(name);
        let arg = CtlArg {
            path_or_name: n.as_ptr(),
            uid: std::ptr::null(),
            config: std::ptr::null_mut(),
        };
        call_mainctl(api, cb, CTLID_ORPHAN_EVENT, &arg);
    })
}

/// A v4 event handler, called with the event's typed data when it came
/// typed, else with its JSON as one `#json` data.
fn handler_fn(cb: abi::EventHandler<Binder>) -> HandlerFn {
    Arc::new(move |api, closure, name, data, typed| {
        let n = util::cstring(name);
        let params: Vec<*mut data::CData> = match typed {
            Some(list) => list.iter().map(data::from_typed).collect(),
            None => vec![data::json(data)],
        };
        // SAFETY: the binding's handler; the data are released after it.
        unsafe {
            cb(
                closure.get(),
                n.as_ptr(),
                params.len() as c_uint,
                params.as_ptr(),
                api.as_c(),
            )
        };
        params.into_iter().for_each(data::unref);
    })
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
    common::new_api(parent, name, info, noconcurrency, Flavor::V4, |api| {
        api.set_userdata(userdata);
        if let Some(cb) = mainctl {
            api.set_onevent(Some(orphan_fn(cb)));
        }
        if let Err(e) = setup(api) {
            tracing::error!("{e}");
            return crate::errno::FAILED;
        }
        if let Some(cb) = mainctl {
            api.set_init(Some(init_fn(cb)));
            let path = util::cstring(&parent.path);
            let arg = CtlArg {
                path_or_name: path.as_ptr(),
                uid: std::ptr::null(),
                config: parent.config.as_ref().map_or(std::ptr::null_mut(), |c| c.as_ptr()),
            };
            return call_mainctl(api, cb, CTLID_PRE_INIT, &arg);
        }
        0
    })
}
