//! The events C bindings make, whatever their ABI, and the event interface
//! of ABI v1, v2 and v3 (`struct afb_event_x2_itf`, 5 functions; v1 and v2
//! reach it through the by-value handle `afb_event_x1`).
//!
//! Objects pushed or broadcast are consumed (the binder puts them).

use std::ffi::{c_char, c_int, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

use afb_core::Event;
use serde_json::value::RawValue;

use crate::capi::CApi;
use crate::errno::{FAILED, INTERNAL_ERROR};
use crate::jsonc::{self, JsonObject};
use crate::util::{self, guard};

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
            reg.events().new_event_raw(&format!("{}/{}", api.name, name))
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

/// # Safety
/// `e` is NULL or a live event.
pub(crate) unsafe fn event_of<'a>(e: *mut CEvent) -> Option<&'a CEvent> {
    // SAFETY: per the contract.
    unsafe { e.as_ref() }
}

/// Pushes JSON text to the event's subscribers; 1 when some received it.
pub(crate) fn push_text(e: &CEvent, text: &str) -> c_int {
    push_typed(e, text, None)
}

/// Pushes the event with JSON text and its typed form when it has one
/// (a v4 binding's non-JSON data); 1 when someone received it.
pub(crate) fn push_typed(e: &CEvent, text: &str, typed: Option<&afb_core::TypedList>) -> c_int {
    let raw = RawValue::from_string(text.to_owned()).ok();
    c_int::from(e.event.push_typed(raw.as_deref(), typed) > 0)
}

/// Broadcasts the event with JSON text; 0 when sent.
pub(crate) fn broadcast_text(e: &CEvent, text: &str) -> c_int {
    broadcast_typed(e, text, None)
}

/// Broadcasts the event with JSON text and its typed form when it has one; 0 when sent.
pub(crate) fn broadcast_typed(e: &CEvent, text: &str, typed: Option<&afb_core::TypedList>) -> c_int {
    let raw = RawValue::from_string(text.to_owned()).ok();
    match e.api.registry() {
        Some(r) => {
            util::in_runtime(|| r.events().broadcast_typed(e.event.name(), raw.as_deref(), typed, None));
            0
        }
        None => FAILED,
    }
}

/// The JSON text of an object given by C, which is consumed.
///
/// # Safety
/// `obj` is NULL or a json-c object whose reference the caller gives.
pub(crate) unsafe fn take_text(obj: *mut JsonObject) -> String {
    // SAFETY: per the contract: read, then the caller's reference is put.
    unsafe {
        let text = jsonc::to_text(obj);
        jsonc::put(obj);
        text
    }
}

unsafe extern "C" fn event_broadcast(e: *mut CEvent, obj: *mut JsonObject) -> c_int {
    guard("event broadcast", INTERNAL_ERROR, || {
        // SAFETY: C gives its object's reference and a live event.
        let (text, e) = unsafe { (take_text(obj), event_of(e)) };
        e.map_or(FAILED, |e| broadcast_text(e, &text))
    })
}

unsafe extern "C" fn event_push(e: *mut CEvent, obj: *mut JsonObject) -> c_int {
    guard("event push", INTERNAL_ERROR, || {
        // SAFETY: C gives its object's reference and a live event.
        let (text, e) = unsafe { (take_text(obj), event_of(e)) };
        e.map_or(FAILED, |e| push_text(e, &text))
    })
}

/// Drops a reference (`event_unref` of every ABI).
pub(crate) extern "C" fn event_unref(e: *mut CEvent) {
    guard("event unref", (), || {
        // SAFETY: C gives a live event.
        let Some(x) = (unsafe { event_of(e) }) else {
            return;
        };
        if x.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: last reference: the box of `make_event` is freed once.
            drop(unsafe { Box::from_raw(e) });
        }
    })
}

/// The event's full name (`event_name` of every ABI).
pub(crate) extern "C" fn event_name(e: *mut CEvent) -> *const c_char {
    guard("event name", std::ptr::null(), || {
        // SAFETY: C gives a live event.
        unsafe { event_of(e) }.map_or(std::ptr::null(), |e| e.name.as_ptr())
    })
}

/// Adds a reference (`event_addref` of every ABI).
pub(crate) extern "C" fn event_addref(e: *mut CEvent) -> *mut CEvent {
    guard("event addref", e, || {
        // SAFETY: C gives a live event.
        if let Some(x) = unsafe { event_of(e) } {
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
