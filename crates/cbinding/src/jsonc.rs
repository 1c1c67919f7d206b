//! The few json-c functions the binder needs, declared by hand (no
//! bindgen), and small safe helpers around them.
//!
//! Ownership: json-c objects are reference counted (`json_object_put` drops
//! one). [`JsonObj`] owns one reference and
//! drops it when dropped.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

/// An opaque json-c object.
#[repr(C)]
pub struct JsonObject {
    _private: [u8; 0],
}

/// `JSON_C_TO_STRING_PLAIN`.
const TO_STRING_PLAIN: c_int = 0;
/// `JSON_C_TO_STRING_NOSLASHESCAPE`.
const TO_STRING_NOSLASHESCAPE: c_int = 16;

extern "C" {
    fn json_tokener_parse(text: *const c_char) -> *mut JsonObject;
    fn json_object_to_json_string_ext(obj: *mut JsonObject, flags: c_int) -> *const c_char;
    fn json_object_put(obj: *mut JsonObject) -> c_int;
}

/// Parses JSON text into a new json-c object (one reference, to be put by
/// the receiver). `None` when the text is not JSON. The JSON `null` is the
/// null pointer in json-c, so it also gives `Some(null)`.
pub fn parse(text: &str) -> Option<*mut JsonObject> {
    if text.trim() == "null" {
        return Some(std::ptr::null_mut());
    }
    let c = CString::new(text).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let obj = unsafe { json_tokener_parse(c.as_ptr()) };
    if obj.is_null() {
        None
    } else {
        Some(obj)
    }
}

/// Parses JSON text known to be valid; invalid text gives `null`.
pub fn parse_or_null(text: &str) -> *mut JsonObject {
    parse(text).unwrap_or(std::ptr::null_mut())
}

/// The JSON text of an object (`null` for the null pointer). The object is
/// borrowed, not consumed.
///
/// # Safety
/// `obj` is null or a live json-c object.
pub unsafe fn to_text(obj: *mut JsonObject) -> String {
    if obj.is_null() {
        return "null".to_owned();
    }
    // SAFETY: the caller guarantees `obj` is live; json-c returns a string
    // owned by the object, valid until the object changes or is freed, and
    // we copy it at once.
    unsafe {
        let p = json_object_to_json_string_ext(obj, TO_STRING_PLAIN | TO_STRING_NOSLASHESCAPE);
        if p.is_null() {
            return "null".to_owned();
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Drops one reference of an object (null is ignored).
///
/// # Safety
/// `obj` is null or a live json-c object of which the caller owns a reference.
pub unsafe fn put(obj: *mut JsonObject) {
    if !obj.is_null() {
        // SAFETY: per the contract above.
        unsafe {
            json_object_put(obj);
        }
    }
}

/// The address of `json_object_put`, usable as a dispose callback.
pub fn put_fn() -> unsafe extern "C" fn(*mut c_void) {
    unsafe extern "C" fn dispose(p: *mut c_void) {
        // SAFETY: only installed on data whose pointer is a json-c object
        // owned by that data.
        unsafe { put(p.cast()) }
    }
    dispose
}

/// One owned reference to a json-c object (or the JSON null).
pub struct JsonObj(*mut JsonObject);

// SAFETY: json-c objects may be used from any thread as long as one thread
// at a time changes them; the binder never changes the objects it keeps
// (settings, arguments): it only reads and serialises them.
unsafe impl Send for JsonObj {}
// SAFETY: see `Send`: shared use is read-only.
unsafe impl Sync for JsonObj {}

impl JsonObj {
    /// Parses text (invalid text gives null).
    pub fn parse(text: &str) -> Self {
        JsonObj(parse_or_null(text))
    }

    /// The raw pointer (borrowed: still owned by `self`).
    pub fn as_ptr(&self) -> *mut JsonObject {
        self.0
    }
}

impl Drop for JsonObj {
    fn drop(&mut self) {
        // SAFETY: `self` owns one reference.
        unsafe { put(self.0) }
    }
}
