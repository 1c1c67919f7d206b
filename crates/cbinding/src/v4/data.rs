//! The v4 data model behind the table's data and type functions: typed
//! data (`afb_data_t`), reference counted values with a type, a pointer
//! and a size; types (`afb_type_t`): the predefined ones (`#opaque
//! #stringz #json #json_c #bool #i32 #u32 #i64 #u64 #double #bytearray
//! #UUID`) and their conversions, and those registered by bindings with
//! their converters and updaters.
//!
//! Ownership: every `afb_data_t` given to C code carries one reference the
//! receiver owns (release with `data_unref`), except request parameters
//! (owned by the request) and call replies given to callbacks (released by
//! the binder after the callback returns). Data given to `reply`, `push`,
//! `broadcast` and calls are consumed. A data's `dispose(closure)` runs
//! when its last reference goes.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use afb_core::typed::{names, TypedList, TypedValue};
use serde_json::Value;

use afb_binding_so::abi::{Dispose, TypeConverter, TypeUpdater};

use super::Binder;
use crate::errno::{EAGAIN, EEXIST, EINVAL, EPERM, FAILED, INVALID_REQUEST, NO_ITEM};
use crate::jsonc::{self, JsonObject};
use crate::util::{self, lock};

/// `afb_type_converter_x4_t`.
pub(crate) type Converter = TypeConverter<Binder>;
/// `afb_type_updater_x4_t`.
pub(crate) type Updater = TypeUpdater<Binder>;

/// Which predefined type (or a binding's type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Opaque,
    Stringz,
    Json,
    JsonC,
    Bool,
    I32,
    U32,
    I64,
    U64,
    Double,
    ByteArray,
    Uuid,
    Custom,
}

struct Conv {
    to: *const CType,
    conv: Option<Converter>,
    upd: Option<Updater>,
    closure: *mut c_void,
}

// SAFETY: the closures are the binding's, given back to its converters only.
unsafe impl Send for Conv {}

/// A data type.
pub struct CType {
    name: &'static CStr,
    kind: Kind,
    family: Mutex<usize>,
    convs: Mutex<Vec<Conv>>,
}

impl CType {
    const fn predefined(name: &'static CStr, kind: Kind) -> Self {
        CType {
            name,
            kind,
            family: Mutex::new(0),
            convs: Mutex::new(Vec::new()),
        }
    }
}

pub(crate) static T_OPAQUE: CType = CType::predefined(c"#opaque", Kind::Opaque);
pub(crate) static T_STRINGZ: CType = CType::predefined(c"#stringz", Kind::Stringz);
pub(crate) static T_JSON: CType = CType::predefined(c"#json", Kind::Json);
pub(crate) static T_JSON_C: CType = CType::predefined(c"#json_c", Kind::JsonC);
pub(crate) static T_BOOL: CType = CType::predefined(c"#bool", Kind::Bool);
pub(crate) static T_I32: CType = CType::predefined(c"#i32", Kind::I32);
pub(crate) static T_U32: CType = CType::predefined(c"#u32", Kind::U32);
pub(crate) static T_I64: CType = CType::predefined(c"#i64", Kind::I64);
pub(crate) static T_U64: CType = CType::predefined(c"#u64", Kind::U64);
pub(crate) static T_DOUBLE: CType = CType::predefined(c"#double", Kind::Double);
pub(crate) static T_BYTEARRAY: CType = CType::predefined(c"#bytearray", Kind::ByteArray);
/// `#UUID` (revision 8): the 16 bytes of a UUID; its family is `#bytearray`.
pub(crate) static T_UUID: CType = CType::predefined(c"#UUID", Kind::Uuid);

/// The length of a UUID's text form (without its NUL).
const UUID_TEXT_LEN: usize = 36;
/// The length of a UUID's binary form.
const UUID_BIN_LEN: usize = 16;

static PREDEFINED: [&CType; 12] = [
    &T_OPAQUE,
    &T_STRINGZ,
    &T_JSON,
    &T_JSON_C,
    &T_BOOL,
    &T_I32,
    &T_U32,
    &T_I64,
    &T_U64,
    &T_DOUBLE,
    &T_BYTEARRAY,
    &T_UUID,
];

static CUSTOM: Mutex<Vec<&'static CType>> = Mutex::new(Vec::new());

/// Finds a type by name.
pub(crate) fn lookup(name: &str) -> Option<&'static CType> {
    PREDEFINED
        .iter()
        .copied()
        .find(|t| t.name.to_bytes() == name.as_bytes())
        .or_else(|| {
            lock(&CUSTOM)
                .iter()
                .copied()
                .find(|t| t.name.to_bytes() == name.as_bytes())
        })
}

/// Registers a binding's type (names of predefined types are refused).
pub(crate) fn register(name: &str) -> Result<&'static CType, c_int> {
    if name.starts_with('#') || lookup(name).is_some() {
        return Err(EEXIST);
    }
    let cname: &'static CStr = Box::leak(util::cstring(name).into_boxed_c_str());
    let t: &'static CType = Box::leak(Box::new(CType {
        name: cname,
        kind: Kind::Custom,
        family: Mutex::new(0),
        convs: Mutex::new(Vec::new()),
    }));
    lock(&CUSTOM).push(t);
    Ok(t)
}

/// # Safety
/// `t` is NULL or a type given by the binder.
pub(crate) unsafe fn type_of(t: *const CType) -> Option<&'static CType> {
    // SAFETY: types are statics or leaked.
    unsafe { t.as_ref() }
}

pub(crate) fn type_name(t: &CType) -> *const c_char {
    t.name.as_ptr()
}

pub(crate) fn set_family(t: &CType, family: &'static CType) {
    *lock(&t.family) = family as *const CType as usize;
}

pub(crate) fn add_converter(
    from: &CType,
    to: *const CType,
    conv: Option<Converter>,
    upd: Option<Updater>,
    closure: *mut c_void,
) {
    lock(&from.convs).push(Conv { to, conv, upd, closure });
}

/// The flag of a volatile data.
pub(crate) const VOLATILE: u8 = 1;
/// The flag of a constant data.
pub(crate) const CONSTANT: u8 = 2;

/// A data.
pub struct CData {
    refs: AtomicUsize,
    ty: &'static CType,
    ptr: *mut c_void,
    size: usize,
    dispose: Dispose,
    closure: *mut c_void,
    /// The memory `ptr` points into, when the data owns it.
    _owned: Option<Box<[u8]>>,
    flags: AtomicU8,
    state: Mutex<i32>,
    cond: Condvar,
    deps: Mutex<Vec<usize>>,
}

// SAFETY: the pointer and closure are the binding's (or memory the data
// owns); sharing them between threads is what the ABI allows, with the
// data's read/write lock offered for coordination.
unsafe impl Send for CData {}
// SAFETY: see `Send`.
unsafe impl Sync for CData {}

impl Drop for CData {
    fn drop(&mut self) {
        for d in std::mem::take(&mut *lock(&self.deps)) {
            unref(d as *mut CData);
        }
        if let Some(f) = self.dispose {
            // SAFETY: the binding's dispose function with its closure, once.
            unsafe { f(self.closure) }
        }
    }
}

fn make(
    ty: &'static CType,
    ptr: *mut c_void,
    size: usize,
    dispose: Dispose,
    closure: *mut c_void,
    owned: Option<Box<[u8]>>,
) -> *mut CData {
    Box::into_raw(Box::new(CData {
        refs: AtomicUsize::new(1),
        ty,
        ptr,
        size,
        dispose,
        closure,
        _owned: owned,
        flags: AtomicU8::new(0),
        state: Mutex::new(0),
        cond: Condvar::new(),
        deps: Mutex::new(Vec::new()),
    }))
}

/// A data wrapping the binding's memory.
pub(crate) fn raw(
    ty: &'static CType,
    ptr: *const c_void,
    size: usize,
    dispose: Dispose,
    closure: *mut c_void,
) -> *mut CData {
    make(ty, ptr.cast_mut(), size, dispose, closure, None)
}

/// A data owning a copy of `bytes` (zeroed memory when `bytes` is `None`).
pub(crate) fn owned(ty: &'static CType, bytes: Option<&[u8]>, size: usize) -> *mut CData {
    let mut buf = vec![0u8; size].into_boxed_slice();
    if let Some(b) = bytes {
        buf[..b.len().min(size)].copy_from_slice(&b[..b.len().min(size)]);
    }
    let ptr = if size == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    make(ty, ptr, size, None, std::ptr::null_mut(), Some(buf))
}

/// A `#json` data holding `text` (NUL-terminated; the size counts the NUL).
pub(crate) fn json(text: &str) -> *mut CData {
    let mut b = Vec::with_capacity(text.len() + 1);
    b.extend_from_slice(text.as_bytes());
    b.push(0);
    owned(&T_JSON, Some(&b), b.len())
}

/// A `#json_c` data owning the reference of `obj`.
pub(crate) fn json_c(obj: *mut JsonObject) -> *mut CData {
    make(&T_JSON_C, obj.cast(), 0, Some(jsonc::put_fn()), obj.cast(), None)
}

/// # Safety
/// `d` is NULL or a live data.
pub(crate) unsafe fn data_of<'a>(d: *mut CData) -> Option<&'a CData> {
    // SAFETY: per the contract.
    unsafe { d.as_ref() }
}

pub(crate) fn addref(d: *mut CData) -> *mut CData {
    // SAFETY: C gives a live data (or NULL).
    if let Some(x) = unsafe { data_of(d) } {
        x.refs.fetch_add(1, Ordering::AcqRel);
    }
    d
}

pub(crate) fn unref(d: *mut CData) {
    // SAFETY: C gives a live data (or NULL).
    let Some(x) = (unsafe { data_of(d) }) else { return };
    if x.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: the last reference: the box is freed once.
        drop(unsafe { Box::from_raw(d) });
    }
}

impl CData {
    pub(crate) fn ty(&self) -> &'static CType {
        self.ty
    }

    fn bytes(&self) -> &[u8] {
        if self.ptr.is_null() || self.size == 0 {
            return &[];
        }
        // SAFETY: `ptr`/`size` describe the data's memory for its life.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.size) }
    }

    fn text(&self) -> String {
        let b = self.bytes();
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    }

    pub(crate) fn pointer(&self) -> *mut c_void {
        self.ptr
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn has_flag(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    pub(crate) fn is_constant(&self) -> bool {
        self.has_flag(CONSTANT)
    }

    pub(crate) fn set_flag(&self, flag: u8, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!flag, Ordering::AcqRel);
        }
    }

    /// The value as JSON (for the transports), when it converts.
    fn to_value(&self) -> Option<Value> {
        let b = self.bytes();
        let int = |n: usize| -> Option<[u8; 8]> {
            let mut a = [0u8; 8];
            a[..n].copy_from_slice(b.get(..n)?);
            Some(a)
        };
        Some(match self.ty.kind {
            Kind::Json => serde_json::from_str(&self.text()).ok()?,
            // SAFETY: a #json_c data's pointer is its json-c object.
            Kind::JsonC => serde_json::from_str(&unsafe { jsonc::to_text(self.ptr.cast()) }).ok()?,
            // A #stringz made from a NULL pointer is JSON null (as the C binder gives it).
            Kind::Stringz if self.ptr.is_null() => Value::Null,
            Kind::Stringz => Value::String(self.text()),
            Kind::Bool => Value::Bool(b.first().is_some_and(|&c| c != 0)),
            Kind::I32 => Value::from(i32::from_ne_bytes(int(4)?[..4].try_into().ok()?)),
            Kind::U32 => Value::from(u32::from_ne_bytes(int(4)?[..4].try_into().ok()?)),
            Kind::I64 => Value::from(i64::from_ne_bytes(int(8)?)),
            Kind::U64 => Value::from(u64::from_ne_bytes(int(8)?)),
            Kind::Double => serde_json::Number::from_f64(f64::from_ne_bytes(int(8)?)).map(Value::Number)?,
            Kind::ByteArray => Value::Array(b.iter().map(|&c| Value::from(c)).collect()),
            Kind::Opaque | Kind::Uuid | Kind::Custom => return None,
        })
    }
}

fn from_value(v: &Value, to: &'static CType) -> Option<*mut CData> {
    let num = |f: &dyn Fn(&Value) -> Option<Vec<u8>>| -> Option<*mut CData> {
        let bytes = f(v)?;
        Some(owned(to, Some(&bytes), bytes.len()))
    };
    let as_i64 = |v: &Value| match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        other => other
            .as_i64()
            .or_else(|| other.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
    };
    let as_u64 = |v: &Value| match v {
        Value::Bool(b) => Some(u64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        other => other.as_u64(),
    };
    match to.kind {
        Kind::Json => Some(json(&v.to_string())),
        Kind::JsonC => Some(json_c(jsonc::parse_or_null(&v.to_string()))),
        Kind::Stringz => {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut b = s.into_bytes();
            b.push(0);
            let n = b.len();
            Some(owned(to, Some(&b), n))
        }
        Kind::Bool => num(&|v| match v {
            Value::Bool(b) => Some(vec![u8::from(*b)]),
            Value::Number(n) => Some(vec![u8::from(n.as_f64() != Some(0.0))]),
            _ => None,
        }),
        Kind::I32 => num(&|v| {
            as_i64(v)
                .and_then(|n| i32::try_from(n).ok())
                .map(|n| n.to_ne_bytes().to_vec())
        }),
        Kind::U32 => num(&|v| {
            as_u64(v)
                .and_then(|n| u32::try_from(n).ok())
                .map(|n| n.to_ne_bytes().to_vec())
        }),
        Kind::I64 => num(&|v| as_i64(v).map(|n| n.to_ne_bytes().to_vec())),
        Kind::U64 => num(&|v| as_u64(v).map(|n| n.to_ne_bytes().to_vec())),
        Kind::Double => num(&|v| {
            match v {
                Value::String(s) => s.trim().parse::<f64>().ok(),
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                other => other.as_f64(),
            }
            .map(|f| f.to_ne_bytes().to_vec())
        }),
        Kind::ByteArray | Kind::Uuid | Kind::Opaque | Kind::Custom => None,
    }
}

/// Converts a data to a type: a new reference, or a negative error.
pub(crate) fn convert(d: &CData, dptr: *mut CData, to: &'static CType) -> Result<*mut CData, c_int> {
    if std::ptr::eq(d.ty, to) {
        return Ok(addref(dptr));
    }
    let custom: Vec<(Converter, *mut c_void)> = lock(&d.ty.convs)
        .iter()
        .filter(|c| std::ptr::eq(c.to, to))
        .filter_map(|c| c.conv.map(|f| (f, c.closure)))
        .collect();
    for (f, closure) in custom {
        let mut out: *mut CData = std::ptr::null_mut();
        // SAFETY: the binding's converter with its closure.
        let rc = unsafe { f(closure, dptr, to, &mut out) };
        if rc >= 0 && !out.is_null() {
            return Ok(out);
        }
    }
    if let Some(r) = convert_uuid(d, to) {
        return r;
    }
    // The family: a type converts to its family as is.
    if family_of(d.ty) == to as *const CType as usize {
        return Ok(raw(to, d.ptr, d.size, None, std::ptr::null_mut())).inspect(|&n| depend(n, dptr));
    }
    // Reverse converters registered on the target type.
    let v = d.to_value().ok_or(FAILED)?;
    from_value(&v, to).ok_or(FAILED)
}

/// The family of a type (0: none); `#UUID` is of the `#bytearray` family.
fn family_of(t: &CType) -> usize {
    match t.kind {
        Kind::Uuid => &T_BYTEARRAY as *const CType as usize,
        _ => *lock(&t.family),
    }
}

/// The conversions of `#UUID` (revision 8): to `#stringz` (its 36-character
/// lower-case text), from `#stringz` (exactly 36 characters of a valid
/// UUID) and from `#bytearray` (exactly 16 bytes). `None` when neither
/// side is a UUID; any other conversion from or to `#UUID` is an error,
/// except to its family `#bytearray` (done by the caller).
fn convert_uuid(d: &CData, to: &'static CType) -> Option<Result<*mut CData, c_int>> {
    match (d.ty.kind, to.kind) {
        (Kind::Uuid, Kind::Stringz) => Some(match <[u8; UUID_BIN_LEN]>::try_from(d.bytes()) {
            Ok(b) => {
                let mut t = uuid::Uuid::from_bytes(b).hyphenated().to_string().into_bytes();
                t.push(0);
                Ok(owned(to, Some(&t), t.len()))
            }
            Err(_) => Err(EINVAL),
        }),
        (Kind::Stringz, Kind::Uuid) => Some({
            let text = (!d.ptr.is_null()).then(|| d.text());
            match text.filter(|t| t.len() == UUID_TEXT_LEN) {
                Some(t) => match uuid::Uuid::try_parse(&t) {
                    Ok(u) => Ok(owned(to, Some(u.as_bytes()), UUID_BIN_LEN)),
                    Err(_) => Err(EINVAL),
                },
                None => Err(EINVAL),
            }
        }),
        (Kind::ByteArray, Kind::Uuid) => Some(if d.bytes().len() == UUID_BIN_LEN {
            Ok(owned(to, Some(d.bytes()), UUID_BIN_LEN))
        } else {
            Err(EINVAL)
        }),
        (Kind::Uuid, Kind::ByteArray) => None,
        (Kind::Uuid, _) | (_, Kind::Uuid) => Some(Err(EINVAL)),
        _ => None,
    }
}

fn depend(from: *mut CData, to: *mut CData) {
    // SAFETY: `from` was just made; `to` is live.
    if let Some(f) = unsafe { data_of(from) } {
        lock(&f.deps).push(addref(to) as usize);
    }
}

/// Updates `d` in place from `value` (same size after conversion).
pub(crate) fn update(d: &CData, dptr: *mut CData, value: *mut CData) -> c_int {
    if d.is_constant() {
        return EPERM;
    }
    // SAFETY: C gives a live value.
    let Some(v) = (unsafe { data_of(value) }) else {
        return INVALID_REQUEST;
    };
    let updaters: Vec<(Updater, *mut c_void)> = lock(&v.ty.convs)
        .iter()
        .filter(|c| std::ptr::eq(c.to, d.ty))
        .filter_map(|c| c.upd.map(|f| (f, c.closure)))
        .collect();
    for (f, closure) in updaters {
        // SAFETY: the binding's updater with its closure.
        if unsafe { f(closure, value, d.ty, dptr) } >= 0 {
            return 0;
        }
    }
    let Ok(c) = convert(v, value, d.ty) else { return FAILED };
    // SAFETY: `c` is the live converted data.
    let cv = unsafe { &*c };
    let rc = if cv.size == d.size && !d.ptr.is_null() {
        // SAFETY: both regions are `size` bytes, distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(cv.ptr.cast::<u8>(), d.ptr.cast::<u8>(), d.size) };
        0
    } else {
        FAILED
    };
    unref(c);
    rc
}

/// The JSON text of a data (`None` when it does not convert).
pub(crate) fn to_json_text(d: *mut CData) -> Option<String> {
    // SAFETY: C gives a live data (or NULL).
    let x = unsafe { data_of(d) }?;
    match x.ty.kind {
        Kind::Json => Some(x.text()),
        // SAFETY: a #json_c data's pointer is its json-c object.
        Kind::JsonC => Some(unsafe { jsonc::to_text(x.ptr.cast()) }),
        _ => match convert(x, d, &T_JSON) {
            Ok(j) => {
                // SAFETY: `j` is live until unref.
                let t = unsafe { &*j }.text();
                unref(j);
                Some(t)
            }
            Err(_) => x.to_value().map(|v| v.to_string()),
        },
    }
}

/// The JSON of an array of data given by C (consumed): none, one value,
/// or an array of values (data that do not convert give `null`); and their
/// typed form when one of them is not JSON-like (`#bytearray`,
/// numbers, `#UUID`, a named type...): see [`afb_core::typed`].
///
/// # Safety
/// `params` holds `n` live data whose references are given.
pub(crate) unsafe fn take_data(n: u32, params: *const *mut CData) -> (Option<String>, Option<TypedList>) {
    if n == 0 || params.is_null() {
        return (None, None);
    }
    // SAFETY: per the contract.
    let list = unsafe { std::slice::from_raw_parts(params, n as usize) };
    let texts: Vec<String> = list
        .iter()
        .map(|&d| to_json_text(d).unwrap_or_else(|| "null".into()))
        .collect();
    let typed = list
        .iter()
        // SAFETY: per the contract, the data are live.
        .any(|&d| unsafe { data_of(d) }.is_some_and(|x| !json_like(x.ty.kind)))
        .then(|| list.iter().map(|&d| to_typed(d)).collect::<TypedList>());
    for &d in list {
        unref(d);
    }
    let json = if texts.len() == 1 {
        texts.into_iter().next()
    } else {
        Some(format!("[{}]", texts.join(",")))
    };
    (json, typed)
}

/// Whether JSON carries a data of this kind as well as its typed form.
fn json_like(kind: Kind) -> bool {
    matches!(kind, Kind::Json | Kind::JsonC | Kind::Stringz)
}

/// The typed value of a data: numbers become little-endian, texts lose
/// their NUL, other types keep their bytes (an `#opaque` keeps none).
fn to_typed(d: *mut CData) -> TypedValue {
    // SAFETY: the caller's data is live (or NULL).
    let Some(x) = (unsafe { data_of(d) }) else {
        return TypedValue::new(names::OPAQUE, Vec::new());
    };
    let b = x.bytes();
    let ne8 = || <[u8; 8]>::try_from(b.get(..8)?).ok();
    let ne4 = || <[u8; 4]>::try_from(b.get(..4)?).ok();
    let fixed = |v: Option<TypedValue>| v.unwrap_or_else(|| TypedValue::new(type_str(x.ty), b.to_vec()));
    match x.ty.kind {
        Kind::Json | Kind::Stringz => TypedValue::new(type_str(x.ty), x.text().into_bytes()),
        // SAFETY: a #json_c data's pointer is its json-c object.
        Kind::JsonC => TypedValue::new(names::JSON_C, unsafe { jsonc::to_text(x.ptr.cast()) }.into_bytes()),
        Kind::Bool => TypedValue::bool(b.first().is_some_and(|&c| c != 0)),
        Kind::I32 => fixed(ne4().map(|a| TypedValue::i32(i32::from_ne_bytes(a)))),
        Kind::U32 => fixed(ne4().map(|a| TypedValue::u32(u32::from_ne_bytes(a)))),
        Kind::I64 => fixed(ne8().map(|a| TypedValue::i64(i64::from_ne_bytes(a)))),
        Kind::U64 => fixed(ne8().map(|a| TypedValue::u64(u64::from_ne_bytes(a)))),
        Kind::Double => fixed(ne8().map(|a| TypedValue::double(f64::from_ne_bytes(a)))),
        Kind::Opaque => TypedValue::new(names::OPAQUE, Vec::new()),
        Kind::ByteArray | Kind::Uuid | Kind::Custom => TypedValue::new(type_str(x.ty), b.to_vec()),
    }
}

fn type_str(t: &CType) -> &str {
    t.name.to_str().unwrap_or(names::BYTEARRAY)
}

/// A data made from a typed value (see [`afb_core::typed`] for the layout):
/// its type when this binder knows it (a named type of no loaded binding
/// is given as `#bytearray`).
pub(crate) fn from_typed(v: &TypedValue) -> *mut CData {
    let b = v.bytes();
    let ty = lookup(v.type_name()).unwrap_or(&T_BYTEARRAY);
    let ne = |n: usize| -> Option<Vec<u8>> {
        let mut a = b.get(..n)?.to_vec();
        if cfg!(target_endian = "big") {
            a.reverse();
        }
        Some(a)
    };
    let with_nul = || {
        let mut t = b.to_vec();
        t.push(0);
        t
    };
    let bytes = match ty.kind {
        Kind::Json => return json(&String::from_utf8_lossy(b)),
        Kind::JsonC => return json_c(jsonc::parse_or_null(&String::from_utf8_lossy(b))),
        Kind::Stringz => with_nul(),
        Kind::Bool => vec![u8::from(b.first().is_some_and(|&c| c != 0))],
        Kind::I32 | Kind::U32 => ne(4).unwrap_or_else(|| vec![0; 4]),
        Kind::I64 | Kind::U64 | Kind::Double => ne(8).unwrap_or_else(|| vec![0; 8]),
        Kind::Opaque => Vec::new(),
        Kind::ByteArray | Kind::Uuid | Kind::Custom => b.to_vec(),
    };
    owned(ty, Some(&bytes), bytes.len())
}

// ---- locks --------------------------------------------------------------------

/// The lock state of a data held for writing (else: the number of readers).
const WRITE_LOCKED: i32 = -1;

/// Locks a data for reading; `EAGAIN` when it is write-locked and
/// `wait` is false.
pub(crate) fn lock_read(d: &CData, wait: bool) -> c_int {
    let mut s = lock(&d.state);
    while *s < 0 {
        if !wait {
            return EAGAIN;
        }
        s = d.cond.wait(s).unwrap_or_else(|p| p.into_inner());
    }
    *s += 1;
    0
}

/// Locks a data for writing; `EAGAIN` when it is locked and `wait` is
/// false.
pub(crate) fn lock_write(d: &CData, wait: bool) -> c_int {
    let mut s = lock(&d.state);
    while *s != 0 {
        if !wait {
            return EAGAIN;
        }
        s = d.cond.wait(s).unwrap_or_else(|p| p.into_inner());
    }
    *s = WRITE_LOCKED;
    0
}

/// Releases a read or write lock.
pub(crate) fn unlock(d: &CData) {
    let mut s = lock(&d.state);
    if *s == WRITE_LOCKED {
        *s = 0;
    } else if *s > 0 {
        *s -= 1;
    }
    d.cond.notify_all();
}

pub(crate) fn dependency(from: *mut CData, to: *mut CData, add: bool) -> c_int {
    // SAFETY: C gives live data.
    let (Some(f), Some(_)) = (unsafe { (data_of(from), data_of(to)) }) else {
        return INVALID_REQUEST;
    };
    if add {
        lock(&f.deps).push(addref(to) as usize);
        return 0;
    }
    let removed = {
        let mut deps = lock(&f.deps);
        deps.iter().position(|&x| x == to as usize).map(|i| deps.remove(i))
    };
    match removed {
        Some(x) => {
            unref(x as *mut CData);
            0
        }
        None => NO_ITEM,
    }
}

pub(crate) fn dependency_drop_all(d: *mut CData) {
    // SAFETY: C gives a live data.
    if let Some(x) = unsafe { data_of(d) } {
        for dep in std::mem::take(&mut *lock(&x.deps)) {
            unref(dep as *mut CData);
        }
    }
}
