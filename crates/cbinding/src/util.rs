//! Helpers shared by the ABI tables: panic containment at every entry
//! point, C strings, results written where C code asks, `printf`-style
//! formatting of `va_list`s, logging on behalf of C code, the runtime that
//! C threads re-enter, and "not available" notices logged once.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, OnceLock};

use afb_core::LogLevel;
use tokio::runtime::Handle;

extern "C" {
    fn vasprintf(strp: *mut *mut c_char, fmt: *const c_char, ap: *mut c_void) -> c_int;
    fn free(p: *mut c_void);
    fn malloc(n: usize) -> *mut c_void;
}

static RUNTIME: OnceLock<Handle> = OnceLock::new();

/// Remembers the runtime that serves the bindings (the first one given wins).
pub fn set_runtime(h: Handle) {
    let _ = RUNTIME.set(h);
}

/// The runtime: the current one, else the one recorded at load.
pub fn runtime() -> Option<Handle> {
    Handle::try_current().ok().or_else(|| RUNTIME.get().cloned())
}

/// Runs `f` inside the runtime's context (C code may call from threads of
/// its own, where tokio would otherwise panic).
pub fn in_runtime<R>(f: impl FnOnce() -> R) -> R {
    if Handle::try_current().is_ok() {
        return f();
    }
    match RUNTIME.get() {
        Some(h) => {
            let _g = h.enter();
            f()
        }
        None => f(),
    }
}

/// Runs the body of an `extern "C"` entry point: a panic is caught, logged
/// and turned into `fallback`, so that no unwinding ever reaches C code.
pub fn guard<R>(what: &str, fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = panic_text(&*p);
            tracing::error!("C binding interface: {what} panicked: {msg}");
            fallback
        }
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-text panic payload)")
}

/// Locks a mutex, even one poisoned by a panic (every entry point catches
/// panics, so the data stays usable).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes a result where C code asked for it: `out` is the location a C
/// caller gave, NULL when it does not want that result. Returns whether
/// the value was written (when not, the caller still owns it, e.g. a
/// reference to release).
///
/// # Safety
/// `out` is NULL or valid for writing a `T` (the C caller's contract:
/// the address of a variable of that type).
pub unsafe fn write_out<T: Copy>(out: *mut T, value: T) -> bool {
    if out.is_null() {
        return false;
    }
    // SAFETY: per the contract; `T: Copy`, so nothing is dropped.
    unsafe { out.write(value) };
    true
}

/// A C string argument as text (`None` for NULL).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for `'a`.
pub unsafe fn cstr<'a>(p: *const c_char) -> Option<Cow<'a, str>> {
    if p.is_null() {
        None
    } else {
        // SAFETY: per the contract above.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy())
    }
}

/// A C string from Rust text (interior NULs are dropped).
pub fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// A copy of `s` in memory from `malloc`, for C code to `free`.
pub fn malloc_str(s: &str) -> *mut c_char {
    let bytes = s.as_bytes();
    // SAFETY: we ask for len + 1 bytes and write exactly that many.
    unsafe {
        let p = malloc(bytes.len() + 1).cast::<u8>();
        if p.is_null() {
            return std::ptr::null_mut();
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *p.add(bytes.len()) = 0;
        p.cast()
    }
}

/// Formats a `printf` format with its `va_list` (consumed).
///
/// On every Linux ABI a `va_list` parameter is passed as one pointer-sized
/// value (x86-64 and AArch64: a pointer to the list; 32-bit targets: the
/// list itself), so it is received and forwarded as an opaque pointer.
///
/// # Safety
/// `fmt` is NULL or a format string and `ap` the matching `va_list` of the
/// caller, not yet consumed.
pub unsafe fn format_va(fmt: *const c_char, ap: *mut c_void) -> String {
    if fmt.is_null() {
        return String::new();
    }
    let mut out: *mut c_char = std::ptr::null_mut();
    // SAFETY: per the contract; vasprintf allocates `out` with malloc.
    unsafe {
        let n = vasprintf(&mut out, fmt, ap);
        if n < 0 || out.is_null() {
            return cstr(fmt).map(|s| s.into_owned()).unwrap_or_default();
        }
        let s = CStr::from_ptr(out).to_string_lossy().into_owned();
        free(out.cast());
        s
    }
}

/// The level of a syslog number given by C code (0..2 count as errors).
pub fn level_of(n: c_int) -> LogLevel {
    LogLevel::from_syslog(u8::try_from(n.clamp(0, 7)).unwrap_or(7))
}

/// The syslog mask of the levels a log level lets through (bit n: level n).
pub fn logmask(level: LogLevel) -> c_int {
    (1 << (level.syslog() + 1)) - 1
}

/// Logs a message of C code for `api` (level already checked or not).
pub fn c_log(api: &str, level: LogLevel, file: Option<&str>, line: c_int, func: Option<&str>, msg: &str) {
    match (file, func) {
        (Some(f), Some(fun)) => afb_core::log::emit(api, level, format_args!("{msg} [{f}:{line},{fun}]")),
        (Some(f), None) => afb_core::log::emit(api, level, format_args!("{msg} [{f}:{line}]")),
        _ => afb_core::log::emit(api, level, format_args!("{msg}")),
    }
}

/// Logs, once per process and feature, that a C binding asked for
/// something this binder cannot give.
pub fn not_available_once(feature: &str) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let first = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(feature.to_owned());
    if first {
        tracing::warn!("C binding asked for {feature}: not available in this binder (answered with the documented 'not available' value)");
    }
}

/// A raw pointer that may cross threads. The binder never dereferences it:
/// it only gives it back to the C code that made it.
#[derive(Clone, Copy, Debug)]
pub struct SendPtr(pub *mut c_void);

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole wrapper).
    pub fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the pointer is an opaque token owned by C code; the binder only
// passes it back to that code, which is responsible for its thread safety
// (as with the C binders, which call bindings from several threads).
unsafe impl Send for SendPtr {}
// SAFETY: see `Send`.
unsafe impl Sync for SendPtr {}

// ---- which binding runs on this thread (for the fatal-signal line) -------------

thread_local! {
    /// The label (address, length) of the binding whose C code this thread
    /// runs, (0, 0) when none. Constant-initialised, without destructor:
    /// reading it is a plain thread-local load, safe in a signal handler.
    static CURRENT: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

/// The label of a binding, as the fatal-signal line names it
/// (`binding PATH (API NAME)`). Labels live for the whole process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Label(Option<&'static str>);

impl Label {
    /// Leaks `text` as a label (one per binding or API: never freed).
    pub fn leak(text: String) -> Self {
        Label(Some(Box::leak(text.into_boxed_str())))
    }

    /// The label of the code running on this thread now.
    pub fn current() -> Self {
        let (p, n) = CURRENT.try_with(std::cell::Cell::get).unwrap_or((0, 0));
        if p == 0 {
            return Label(None);
        }
        // SAFETY: only `'static` labels are stored (see `run`).
        let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, n) };
        Label(std::str::from_utf8(bytes).ok())
    }

    /// Runs `f` (C code of the binding) with this label as the current one;
    /// the previous label comes back after, even if `f` panics.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        struct Restore((usize, usize));
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = CURRENT.try_with(|c| c.set(self.0));
            }
        }
        let Some(text) = self.0 else { return f() };
        let prev = CURRENT
            .try_with(|c| c.replace((text.as_ptr() as usize, text.len())))
            .unwrap_or((0, 0));
        let _restore = Restore(prev);
        f()
    }
}

/// The label of the C binding whose code runs on this thread, if any, as
/// bytes. Async-signal-safe: one thread-local load, no allocation, no lock.
pub fn current_binding() -> Option<&'static [u8]> {
    let (p, n) = CURRENT.try_with(std::cell::Cell::get).unwrap_or((0, 0));
    if p == 0 {
        return None;
    }
    // SAFETY: only `'static` labels are stored (see `Label::run`).
    Some(unsafe { std::slice::from_raw_parts(p as *const u8, n) })
}
