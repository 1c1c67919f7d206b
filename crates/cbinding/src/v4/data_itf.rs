//! The data and type functions of the v4 table, on the data model of
//! [`super::data`].

use std::ffi::{c_char, c_int, c_void};

use afb_binding_so::abi::{Dispose, TypeConverter, TypeUpdater};

use super::data::{self, CData, CType, CONSTANT, VOLATILE};
use super::Binder;
use crate::errno::{EPERM, INTERNAL_ERROR, INVALID_REQUEST, NO_ITEM};
use crate::util::{cstr, guard, write_out};

/// Gives a new data to C: written where asked, else released.
///
/// # Safety
/// `out` is NULL or a location C gives for the data.
unsafe fn give(out: *mut *mut CData, d: *mut CData) {
    // SAFETY: per the contract.
    if !unsafe { write_out(out, d) } {
        data::unref(d);
    }
}

/// The type given by C, `#opaque` for NULL.
///
/// # Safety
/// `ty` is NULL or a type of the binder.
unsafe fn type_or_opaque(ty: *const CType) -> &'static CType {
    // SAFETY: per the contract.
    unsafe { data::type_of(ty) }.unwrap_or(&data::T_OPAQUE)
}

pub(super) unsafe extern "C" fn create_data_raw(
    out: *mut *mut CData,
    ty: *const CType,
    buffer: *const c_void,
    size: usize,
    dispose: Dispose,
    closure: *mut c_void,
) -> c_int {
    guard("create data", INTERNAL_ERROR, || {
        // SAFETY: C gives a type (or NULL: opaque) and a location (or NULL).
        unsafe { give(out, data::raw(type_or_opaque(ty), buffer, size, dispose, closure)) };
        0
    })
}

pub(super) unsafe extern "C" fn create_data_alloc(
    out: *mut *mut CData,
    ty: *const CType,
    pointer: *mut *mut c_void,
    size: usize,
) -> c_int {
    guard("create data", INTERNAL_ERROR, || {
        // SAFETY: as in `create_data_raw`.
        let d = data::owned(unsafe { type_or_opaque(ty) }, None, size);
        // SAFETY: `d` is live; C gives locations for its memory and itself
        // (or NULL).
        unsafe {
            write_out(pointer, (*d).pointer());
            give(out, d);
        }
        0
    })
}

pub(super) unsafe extern "C" fn create_data_copy(
    out: *mut *mut CData,
    ty: *const CType,
    src: *const c_void,
    size: usize,
) -> c_int {
    guard("create data", INTERNAL_ERROR, || {
        // SAFETY: C gives `size` readable bytes at `src` (or NULL).
        let bytes = (!src.is_null() && size > 0).then(|| unsafe { std::slice::from_raw_parts(src.cast::<u8>(), size) });
        // SAFETY: as in `create_data_raw`.
        unsafe { give(out, data::owned(type_or_opaque(ty), bytes, size)) };
        0
    })
}

pub(super) extern "C" fn data_addref(d: *mut CData) -> *mut CData {
    guard("data addref", d, || data::addref(d))
}

pub(super) extern "C" fn data_unref(d: *mut CData) {
    guard("data unref", (), || data::unref(d))
}

/// Writes a data's memory and size where asked.
///
/// # Safety
/// `pointer` and `size` are NULL or locations C gives.
unsafe fn pointer_and_size(x: &CData, pointer: *mut *mut c_void, size: *mut usize) {
    // SAFETY: per the contract.
    unsafe {
        write_out(pointer, x.pointer());
        write_out(size, x.size());
    }
}

pub(super) unsafe extern "C" fn data_get_mutable(d: *mut CData, pointer: *mut *mut c_void, size: *mut usize) -> c_int {
    guard("data mutable", INTERNAL_ERROR, || {
        // SAFETY: C gives a live data.
        let Some(x) = (unsafe { data::data_of(d) }) else {
            return INVALID_REQUEST;
        };
        if x.is_constant() {
            return EPERM;
        }
        // SAFETY: C gives locations (or NULL).
        unsafe { pointer_and_size(x, pointer, size) };
        0
    })
}

pub(super) unsafe extern "C" fn data_get_constant(d: *mut CData, pointer: *mut *mut c_void, size: *mut usize) -> c_int {
    guard("data constant", INTERNAL_ERROR, || {
        // SAFETY: C gives a live data.
        let Some(x) = (unsafe { data::data_of(d) }) else {
            return INVALID_REQUEST;
        };
        // SAFETY: C gives locations (or NULL).
        unsafe { pointer_and_size(x, pointer, size) };
        0
    })
}

pub(super) extern "C" fn data_update(d: *mut CData, value: *mut CData) -> c_int {
    guard("data update", INTERNAL_ERROR, || {
        // SAFETY: C gives a live data.
        unsafe { data::data_of(d) }.map_or(INVALID_REQUEST, |x| data::update(x, d, value))
    })
}

pub(super) unsafe extern "C" fn data_convert(d: *mut CData, ty: *const CType, result: *mut *mut CData) -> c_int {
    guard("data convert", INTERNAL_ERROR, || {
        // SAFETY: C gives a live data and a type (or NULL: the same data).
        let (Some(x), ty) = (unsafe { (data::data_of(d), data::type_of(ty)) }) else {
            return INVALID_REQUEST;
        };
        let converted = match ty {
            None => Ok(data::addref(d)),
            Some(t) => data::convert(x, d, t),
        };
        match converted {
            Ok(n) => {
                // SAFETY: C gives a location for the result (or NULL).
                unsafe { give(result, n) };
                0
            }
            Err(rc) => {
                // SAFETY: as above.
                unsafe { write_out(result, std::ptr::null_mut()) };
                rc
            }
        }
    })
}

pub(super) extern "C" fn data_type(d: *mut CData) -> *const CType {
    guard("data type", std::ptr::null(), || {
        // SAFETY: C gives a live data.
        unsafe { data::data_of(d) }.map_or(std::ptr::null(), |x| x.ty() as *const CType)
    })
}

pub(super) extern "C" fn data_notify_changed(_d: *mut CData) {
    // Conversions are never cached: nothing to forget.
}

/// Reads a flag of a data (0 for NULL).
fn flag(what: &str, d: *mut CData, flag: u8) -> c_int {
    guard(what, 0, || {
        // SAFETY: C gives a live data.
        unsafe { data::data_of(d) }.map_or(0, |x| c_int::from(x.has_flag(flag)))
    })
}

/// Sets or clears a flag of a data.
fn set_flag(what: &str, d: *mut CData, flag: u8, on: bool) {
    guard(what, (), || {
        // SAFETY: C gives a live data.
        if let Some(x) = unsafe { data::data_of(d) } {
            x.set_flag(flag, on)
        }
    })
}

pub(super) extern "C" fn data_is_volatile(d: *mut CData) -> c_int {
    flag("data volatile", d, VOLATILE)
}

pub(super) extern "C" fn data_set_volatile(d: *mut CData) {
    set_flag("data volatile", d, VOLATILE, true)
}

pub(super) extern "C" fn data_set_not_volatile(d: *mut CData) {
    set_flag("data volatile", d, VOLATILE, false)
}

pub(super) extern "C" fn data_is_constant(d: *mut CData) -> c_int {
    flag("data constant", d, CONSTANT)
}

pub(super) extern "C" fn data_set_constant(d: *mut CData) {
    set_flag("data constant", d, CONSTANT, true)
}

pub(super) extern "C" fn data_set_not_constant(d: *mut CData) {
    set_flag("data constant", d, CONSTANT, false)
}

pub(super) extern "C" fn data_lock_read(d: *mut CData) {
    guard("data lock", (), || {
        // SAFETY: C gives a live data.
        if let Some(x) = unsafe { data::data_of(d) } {
            data::lock_read(x, true);
        }
    })
}

pub(super) extern "C" fn data_try_lock_read(d: *mut CData) -> c_int {
    guard("data lock", INTERNAL_ERROR, || {
        // SAFETY: C gives a live data.
        unsafe { data::data_of(d) }.map_or(INVALID_REQUEST, |x| data::lock_read(x, false))
    })
}

pub(super) extern "C" fn data_lock_write(d: *mut CData) {
    guard("data lock", (), || {
        // SAFETY: C gives a live data.
        if let Some(x) = unsafe { data::data_of(d) } {
            data::lock_write(x, true);
        }
    })
}

pub(super) extern "C" fn data_try_lock_write(d: *mut CData) -> c_int {
    guard("data lock", INTERNAL_ERROR, || {
        // SAFETY: C gives a live data.
        unsafe { data::data_of(d) }.map_or(INVALID_REQUEST, |x| data::lock_write(x, false))
    })
}

pub(super) extern "C" fn data_unlock(d: *mut CData) {
    guard("data unlock", (), || {
        // SAFETY: C gives a live data.
        if let Some(x) = unsafe { data::data_of(d) } {
            data::unlock(x)
        }
    })
}

pub(super) extern "C" fn data_dependency_add(from: *mut CData, to: *mut CData) -> c_int {
    guard("data dependency", INTERNAL_ERROR, || data::dependency(from, to, true))
}

pub(super) extern "C" fn data_dependency_sub(from: *mut CData, to: *mut CData) -> c_int {
    guard("data dependency", INTERNAL_ERROR, || data::dependency(from, to, false))
}

pub(super) extern "C" fn data_dependency_drop_all(d: *mut CData) {
    guard("data dependency", (), || data::dependency_drop_all(d))
}

// ---- types ---------------------------------------------------------------------------

pub(super) unsafe extern "C" fn type_lookup(out: *mut *const CType, name: *const c_char) -> c_int {
    guard("type lookup", INTERNAL_ERROR, || {
        // SAFETY: C gives a string (or NULL).
        let found = unsafe { cstr(name) }.and_then(|n| data::lookup(&n));
        // SAFETY: C gives a location for the type (or NULL).
        unsafe { write_out(out, found.map_or(std::ptr::null(), |t| t as *const CType)) };
        if found.is_some() {
            0
        } else {
            NO_ITEM
        }
    })
}

pub(super) unsafe extern "C" fn type_register(out: *mut *const CType, name: *const c_char, _flags: c_int) -> c_int {
    guard("type register", INTERNAL_ERROR, || {
        // SAFETY: C gives a string (or NULL).
        let Some(n) = (unsafe { cstr(name) }) else {
            return INVALID_REQUEST;
        };
        match data::register(&n) {
            Ok(t) => {
                // SAFETY: C gives a location for the type (or NULL).
                unsafe { write_out(out, t as *const CType) };
                0
            }
            Err(rc) => rc,
        }
    })
}

pub(super) extern "C" fn type_name(t: *const CType) -> *const c_char {
    guard("type name", std::ptr::null(), || {
        // SAFETY: C gives a type.
        unsafe { data::type_of(t) }.map_or(std::ptr::null(), data::type_name)
    })
}

pub(super) extern "C" fn type_set_family(t: *const CType, family: *const CType) -> c_int {
    guard("type family", INTERNAL_ERROR, || {
        // SAFETY: C gives types.
        match unsafe { (data::type_of(t), data::type_of(family)) } {
            (Some(t), Some(f)) => {
                data::set_family(t, f);
                0
            }
            _ => INVALID_REQUEST,
        }
    })
}

pub(super) extern "C" fn type_add_converter(
    from: *const CType,
    to: *const CType,
    converter: Option<TypeConverter<Binder>>,
    closure: *mut c_void,
) -> c_int {
    guard("type converter", INTERNAL_ERROR, || {
        // SAFETY: C gives a type.
        match unsafe { data::type_of(from) } {
            Some(f) if converter.is_some() => {
                data::add_converter(f, to, converter, None, closure);
                0
            }
            _ => INVALID_REQUEST,
        }
    })
}

pub(super) extern "C" fn type_add_updater(
    from: *const CType,
    to: *const CType,
    updater: Option<TypeUpdater<Binder>>,
    closure: *mut c_void,
) -> c_int {
    guard("type updater", INTERNAL_ERROR, || {
        // SAFETY: C gives a type.
        match unsafe { data::type_of(from) } {
            Some(f) if updater.is_some() => {
                data::add_converter(f, to, None, updater, closure);
                0
            }
            _ => INVALID_REQUEST,
        }
    })
}
