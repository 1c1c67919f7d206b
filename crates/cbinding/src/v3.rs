//! ABI v3 (`struct afb_api_x3_itf`, 29 functions) and the v1/v2 daemon
//! interface (`struct afb_daemon_itf_x1`, 14 functions), plus the API
//! operations that every ABI shares (requirements, aliases, classes, new
//! APIs, jobs, the root directory).
//!
//! Not available here (logged once, documented value returned): the
//! systemd event loop and D-Bus connections (`get_event_loop`,
//! `get_user_bus`, `get_system_bus` return NULL).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use afb_core::Auth;

use crate::capi::{lock, AfbAuth, ApiX3, CApi, CVerb, Flavor, Handler, HandlerCb, InitCb, OnEvent, VerbCb};
use crate::jsonc::{self, JsonObject};
use crate::req::{self, Caller};
use crate::util::{self, cstr, guard, SendPtr};
use crate::x2::{self, CEvent, EventX1, ReqX1, ReqX2};

/// `int (*init)(struct afb_api_x3 *)`.
pub(crate) type InitCallback = unsafe extern "C" fn(*mut ApiX3) -> c_int;
/// `void (*onevent)(struct afb_api_x3 *, const char *, struct json_object *)`.
pub(crate) type OnEventCallback = unsafe extern "C" fn(*mut ApiX3, *const c_char, *mut JsonObject);
/// `void (*)(void *closure, const char *event, struct json_object *, struct afb_api_x3 *)`.
pub(crate) type EventHandler = unsafe extern "C" fn(*mut c_void, *const c_char, *mut JsonObject, *mut ApiX3);
type PreinitX3 = unsafe extern "C" fn(*mut c_void, *mut ApiX3) -> c_int;
type JobCb = unsafe extern "C" fn(c_int, *mut c_void);

/// `struct afb_verb_v3` (also `afb_verb_v4`, with another callback type).
#[repr(C)]
pub struct VerbV3 {
    pub verb: *const c_char,
    pub callback: Option<x2::ReqCallbackX2>,
    pub auth: *const AfbAuth,
    pub info: *const c_char,
    pub vcbdata: *mut c_void,
    pub session: u16,
    /// Bit 0: the name is a glob pattern.
    pub glob: u16,
}

/// `struct afb_verb_v2`.
#[repr(C)]
pub struct VerbV2 {
    pub verb: *const c_char,
    pub callback: Option<x2::ReqCallbackX1>,
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

fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split_whitespace().map(str::to_owned)
}

// ---- operations shared by every ABI ---------------------------------------------

/// Requires APIs (space-separated names): recorded before registration,
/// else checked for existence.
pub(crate) fn require_api(api: &'static CApi, names: &str) -> c_int {
    let list: Vec<String> = words(names).collect();
    if api.with_pending(|p| p.requires.extend(list.iter().cloned())) {
        return 0;
    }
    let Some(reg) = api.registry() else { return -5 };
    for n in &list {
        if reg.find_api(n).is_none() {
            tracing::warn!(api = %api.name, "required API {n} does not exist");
            return -3;
        }
    }
    0
}

/// Provides classes (before registration only).
pub(crate) fn provide_class(api: &'static CApi, names: &str) -> c_int {
    if api.with_pending(|p| p.provides.extend(words(names))) {
        0
    } else {
        -14
    }
}

/// Requires classes (before registration only).
pub(crate) fn require_class(api: &'static CApi, names: &str) -> c_int {
    if api.with_pending(|p| p.requires_classes.extend(words(names))) {
        0
    } else {
        -14
    }
}

/// Adds `as_name` for API `name`.
pub(crate) fn add_alias(api: &'static CApi, name: &str, as_name: &str) -> c_int {
    if name.eq_ignore_ascii_case(&api.name) && api.with_pending(|p| p.aliases.push(as_name.to_owned())) {
        return 0;
    }
    match api.registry().map(|r| r.add_alias(as_name, name)) {
        Some(Ok(())) => 0,
        Some(Err(e)) => {
            tracing::warn!(api = %api.name, "alias {as_name} of {name}: {e}");
            -1
        }
        None => -5,
    }
}

/// Deletes a (dynamic) API.
pub(crate) fn delete_api(api: &'static CApi) -> c_int {
    match api.registry() {
        Some(r) if r.remove_api(&api.name) => 0,
        _ => -13,
    }
}

/// The file descriptor of the root directory (opened once).
pub(crate) fn rootdir_fd() -> c_int {
    static FD: OnceLock<c_int> = OnceLock::new();
    *FD.get_or_init(|| {
        let dir = std::env::var_os("AFB_ROOTDIR").unwrap_or_else(|| ".".into());
        match std::fs::File::open(&dir) {
            Ok(f) => f.into_raw_fd(),
            Err(e) => {
                tracing::warn!("root directory {}: {e}", dir.to_string_lossy());
                -1
            }
        }
    })
}

extern "C" {
    fn openat(dirfd: c_int, path: *const c_char, flags: c_int, ...) -> c_int;
}

/// Opens a file of the root directory (the locale is not used).
pub(crate) fn rootdir_open(filename: *const c_char, flags: c_int) -> c_int {
    let fd = rootdir_fd();
    if fd < 0 || filename.is_null() {
        return -1;
    }
    // SAFETY: `filename` is a C string from the binding; openat does not
    // keep it.
    unsafe { openat(fd, filename, flags, 0o644 as c_int) }
}

static NEXT_JOB: AtomicI32 = AtomicI32::new(1);

fn jobs() -> &'static Mutex<HashMap<c_int, Arc<AtomicBool>>> {
    static JOBS: OnceLock<Mutex<HashMap<c_int, Arc<AtomicBool>>>> = OnceLock::new();
    JOBS.get_or_init(Default::default)
}

fn groups() -> &'static Mutex<HashMap<usize, Arc<Mutex<()>>>> {
    static G: OnceLock<Mutex<HashMap<usize, Arc<Mutex<()>>>>> = OnceLock::new();
    G.get_or_init(Default::default)
}

/// Queues a job on the blocking pool after `delay_ms`; jobs of one group
/// run one at a time. Returns a positive job id, or a negative error. The
/// execution timeout of the C binders (signals) is not enforced.
pub(crate) fn queue_job(cb: Option<JobCb>, arg: *mut c_void, group: *mut c_void, delay_ms: u64) -> c_int {
    let Some(cb) = cb else { return -12 };
    let Some(rt) = util::runtime() else { return -5 };
    let id = NEXT_JOB.fetch_add(1, Ordering::Relaxed);
    let aborted = Arc::new(AtomicBool::new(false));
    lock(jobs()).insert(id, aborted.clone());
    let (arg, group) = (SendPtr(arg), group as usize);
    let label = util::Label::current();
    let run = move || {
        let live = lock(jobs()).remove(&id).is_some();
        if !live || aborted.load(Ordering::Acquire) {
            return;
        }
        let gate = (group != 0).then(|| lock(groups()).entry(group).or_default().clone());
        let _one_at_a_time = gate.as_ref().map(|g| lock(g));
        // SAFETY: the binding's job with its argument; 0: not interrupted.
        guard("job", (), || label.run(|| unsafe { cb(0, arg.get()) }));
    };
    let rt2 = rt.clone();
    rt.spawn(async move {
        if delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        }
        let _ = rt2.spawn_blocking(run).await;
    });
    id
}

/// Aborts a job not started yet.
pub(crate) fn abort_job(id: c_int) -> c_int {
    match lock(jobs()).remove(&id) {
        Some(flag) => {
            flag.store(true, Ordering::Release);
            0
        }
        None => -13,
    }
}

/// Adds the verbs of a NULL-terminated v3/v4 verb array.
///
/// # Safety
/// `verbs` is NULL or a valid array ending with a NULL name.
pub(crate) unsafe fn add_verbs_v3(api: &'static CApi, verbs: *const VerbV3, v4: bool) -> Result<(), String> {
    let mut p = verbs;
    if p.is_null() {
        return Ok(());
    }
    loop {
        // SAFETY: per the contract, `p` is inside the array until the NULL name.
        let v = unsafe { &*p };
        let Some(name) = (unsafe { cstr(v.verb) }) else {
            return Ok(());
        };
        let cb = match (v.callback, v4) {
            // SAFETY: v4 verb arrays share the layout, with the v4 callback type.
            (Some(f), true) => {
                VerbCb::V4(unsafe { std::mem::transmute::<x2::ReqCallbackX2, crate::v4::ReqCallback>(f) })
            }
            (Some(f), false) => VerbCb::X2(f),
            (None, _) => return Err(format!("verb {name} has no callback")),
        };
        let verb = CVerb {
            name: name.to_string(),
            // SAFETY: a C string of the binding (or NULL).
            info: unsafe { cstr(v.info) }.map(|s| s.into_owned()).unwrap_or_default(),
            cb,
            vcbdata: SendPtr(v.vcbdata),
            auth: Auth::from_v2(u32::from(v.session)),
            cauth: SendPtr(v.auth.cast_mut().cast()),
            glob: v.glob & 1 != 0,
        };
        api.add_verb(verb)
            .map_err(|rc| format!("verb {name} of API {} refused ({rc})", api.name))?;
        // SAFETY: still inside the array (the terminator was not reached).
        p = unsafe { p.add(1) };
    }
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
        // SAFETY: per the contract.
        let v = unsafe { &*p };
        let Some(name) = (unsafe { cstr(v.verb) }) else {
            return Ok(());
        };
        let Some(cb) = v.callback else {
            return Err(format!("verb {name} has no callback"));
        };
        let verb = CVerb {
            name: name.to_string(),
            // SAFETY: a C string of the binding (or NULL).
            info: unsafe { cstr(v.info) }.map(|s| s.into_owned()).unwrap_or_default(),
            cb: VerbCb::X1(cb),
            vcbdata: SendPtr(std::ptr::null_mut()),
            auth: Auth::from_v2(v.session),
            cauth: SendPtr(v.auth.cast_mut().cast()),
            glob: false,
        };
        api.add_verb(verb)
            .map_err(|rc| format!("verb {name} of API {} refused ({rc})", api.name))?;
        // SAFETY: still inside the array.
        p = unsafe { p.add(1) };
    }
}

/// Makes a new API at the request of a binding: the preinit callback runs
/// first, then the API is registered (and started if the binder serves).
pub(crate) fn new_api(
    parent: &'static CApi,
    name: &str,
    info: Option<&str>,
    noconcurrency: bool,
    flavor: Flavor,
    preinit: impl FnOnce(&'static CApi) -> c_int,
) -> Result<&'static CApi, String> {
    let reg = parent.registry().ok_or("the binder is shutting down")?;
    afb_core::name::validate_api_name(name).map_err(|e| format!("binding {}: {e}", parent.path))?;
    if reg.get_api(name).is_some() {
        return Err(format!("binding {}: API {name} already exists", parent.path));
    }
    let api = CApi::new(name, flavor, &parent.path, &reg, false, None);
    api.with_pending(|p| {
        p.info = info.unwrap_or_default().to_owned();
        p.noconcurrency = noconcurrency;
    });
    let rc = preinit(api);
    if rc < 0 {
        return Err(format!(
            "binding {}: the pre-initialisation of API {name} failed ({rc})",
            parent.path
        ));
    }
    api.register()?;
    Ok(api)
}

// ---- the api_x3 interface ---------------------------------------------------------

/// # Safety
/// `p` is NULL or an API address given to C code.
unsafe fn api_of(p: *mut ApiX3) -> Option<&'static CApi> {
    // SAFETY: per the contract.
    unsafe { CApi::from_c(p) }
}

unsafe extern "C" fn api_vverbose(
    api: *mut ApiX3,
    level: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    fmt: *const c_char,
    ap: *mut c_void,
) {
    guard("api log", (), || {
        // SAFETY: C gives its API, strings, a format and its va_list.
        if let Some(a) = unsafe { api_of(api) } {
            let msg = unsafe { util::format_va(fmt, ap) };
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

unsafe extern "C" fn api_get_event_loop(_api: *mut ApiX3) -> *mut c_void {
    util::not_available_once("the systemd event loop (sd_event)");
    std::ptr::null_mut()
}

unsafe extern "C" fn api_get_user_bus(_api: *mut ApiX3) -> *mut c_void {
    util::not_available_once("the user D-Bus connection (sd_bus)");
    std::ptr::null_mut()
}

unsafe extern "C" fn api_get_system_bus(_api: *mut ApiX3) -> *mut c_void {
    util::not_available_once("the system D-Bus connection (sd_bus)");
    std::ptr::null_mut()
}

unsafe extern "C" fn api_rootdir_get_fd(_api: *mut ApiX3) -> c_int {
    guard("rootdir fd", -1, rootdir_fd)
}

unsafe extern "C" fn api_rootdir_open_locale(
    _api: *mut ApiX3,
    filename: *const c_char,
    flags: c_int,
    _locale: *const c_char,
) -> c_int {
    guard("rootdir open", -1, || rootdir_open(filename, flags))
}

unsafe extern "C" fn api_queue_job(
    _api: *mut ApiX3,
    cb: Option<JobCb>,
    arg: *mut c_void,
    group: *mut c_void,
    _timeout: c_int,
) -> c_int {
    guard(
        "queue job",
        -1,
        || if queue_job(cb, arg, group, 0) > 0 { 0 } else { -1 },
    )
}

unsafe extern "C" fn api_require_api(api: *mut ApiX3, name: *const c_char, _initialized: c_int) -> c_int {
    guard("require api", -1, || {
        // SAFETY: C gives its API and a string.
        match (unsafe { api_of(api) }, unsafe { cstr(name) }) {
            (Some(a), Some(n)) => require_api(a, &n),
            _ => -12,
        }
    })
}

unsafe extern "C" fn api_add_alias(api: *mut ApiX3, name: *const c_char, as_name: *const c_char) -> c_int {
    guard("add alias", -1, || {
        // SAFETY: C gives its API and strings.
        match (unsafe { api_of(api) }, unsafe { cstr(name) }, unsafe { cstr(as_name) }) {
            (Some(a), Some(n), Some(s)) => add_alias(a, &n, &s),
            _ => -12,
        }
    })
}

unsafe extern "C" fn api_event_broadcast(api: *mut ApiX3, name: *const c_char, obj: *mut JsonObject) -> c_int {
    guard("api broadcast", -1, || {
        // SAFETY: the object is consumed; C gives its API and a string.
        let text = unsafe {
            let t = jsonc::to_text(obj);
            jsonc::put(obj);
            t
        };
        let (Some(a), Some(n)) = (unsafe { api_of(api) }, unsafe { cstr(name) }) else {
            return -1;
        };
        broadcast(a, &n, &text)
    })
}

/// Broadcasts `API/name` with JSON text.
pub(crate) fn broadcast(api: &'static CApi, name: &str, text: &str) -> c_int {
    let raw = serde_json::value::RawValue::from_string(text.to_owned()).ok();
    util::in_runtime(|| match api.api_ref() {
        Some(r) => {
            r.broadcast(name, raw.as_deref());
            0
        }
        None => match api.registry() {
            Some(reg) => {
                reg.broadcast(&format!("{}/{}", api.name, name), raw.as_deref(), None);
                0
            }
            None => -5,
        },
    })
}

unsafe extern "C" fn api_event_make(api: *mut ApiX3, name: *const c_char) -> *mut CEvent {
    guard("event make", std::ptr::null_mut(), || {
        // SAFETY: C gives its API and a string.
        let (Some(a), Some(n)) = (unsafe { api_of(api) }, unsafe { cstr(name) }) else {
            return std::ptr::null_mut();
        };
        x2::make_event(a, &n).unwrap_or_else(|e| {
            tracing::warn!(api = %a.name, "event {n}: {e}");
            std::ptr::null_mut()
        })
    })
}

type LegacyCallCb = unsafe extern "C" fn(*mut c_void, c_int, *mut JsonObject, *mut ApiX3);
type CallCb = unsafe extern "C" fn(*mut c_void, *mut JsonObject, *const c_char, *const c_char, *mut ApiX3);

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
        // SAFETY: C gives its API, strings, and the argument reference.
        let args = unsafe { x2::take_args(args) };
        let (Some(a), Some(n), Some(v)) = (unsafe { api_of(api) }, unsafe { cstr(apiname) }, unsafe { cstr(verb) })
        else {
            return;
        };
        let fut = req::start_call(Caller::Api(a), &n, &v, args);
        req::then(fut, move |reply| {
            if let Some(cb) = cb {
                let env = jsonc::parse_or_null(&req::legacy_envelope(&reply));
                // SAFETY: the binding's callback; the envelope is put after it.
                unsafe {
                    cb(closure.get(), if reply.is_success() { 0 } else { -1 }, env, a.as_c());
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
    guard("legacy call sync", 0, || {
        // SAFETY: as in `api_legacy_call`.
        let args = unsafe { x2::take_args(args) };
        let (Some(a), Some(n), Some(v)) = (unsafe { api_of(api) }, unsafe { cstr(apiname) }, unsafe { cstr(verb) })
        else {
            return 0;
        };
        let reply = req::wait(req::start_call(Caller::Api(a), &n, &v, args));
        if !result.is_null() {
            // SAFETY: C gives where to store the envelope (the caller puts it).
            unsafe { *result = jsonc::parse_or_null(&req::legacy_envelope(&reply)) };
        }
        c_int::from(reply.is_success())
    })
}

unsafe extern "C" fn api_new_api(
    api: *mut ApiX3,
    name: *const c_char,
    info: *const c_char,
    noconcurrency: c_int,
    preinit: Option<PreinitX3>,
    closure: *mut c_void,
) -> *mut ApiX3 {
    guard("new api", std::ptr::null_mut(), || {
        // SAFETY: C gives its API and strings.
        let (Some(parent), Some(n)) = (unsafe { api_of(api) }, unsafe { cstr(name) }) else {
            return std::ptr::null_mut();
        };
        let info = unsafe { cstr(info) };
        let made = new_api(
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

unsafe extern "C" fn api_set_verbs_v2(api: *mut ApiX3, verbs: *const VerbV2) -> c_int {
    guard("set verbs", -1, || {
        // SAFETY: C gives its API and a verb array.
        let Some(a) = (unsafe { api_of(api) }) else { return -1 };
        match unsafe { add_verbs_v2(a, verbs) } {
            Ok(()) => 0,
            Err(e) => {
                tracing::warn!("{e}");
                -1
            }
        }
    })
}

unsafe extern "C" fn api_set_verbs_v3(api: *mut ApiX3, verbs: *const VerbV3) -> c_int {
    guard("set verbs", -1, || {
        // SAFETY: C gives its API and a verb array.
        let Some(a) = (unsafe { api_of(api) }) else { return -1 };
        match unsafe { add_verbs_v3(a, verbs, false) } {
            Ok(()) => 0,
            Err(e) => {
                tracing::warn!("{e}");
                -1
            }
        }
    })
}

/// Adds one verb from the parts of `add_verb` (v3 and v4).
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_verb_parts(
    api: &'static CApi,
    name: *const c_char,
    info: *const c_char,
    cb: VerbCb,
    vcbdata: *mut c_void,
    auth: *const AfbAuth,
    session: u32,
    glob: c_int,
) -> c_int {
    // SAFETY: C gives strings.
    let Some(n) = (unsafe { cstr(name) }) else { return -12 };
    let verb = CVerb {
        name: n.into_owned(),
        // SAFETY: as above.
        info: unsafe { cstr(info) }.map(|s| s.into_owned()).unwrap_or_default(),
        cb,
        vcbdata: SendPtr(vcbdata),
        auth: Auth::from_v2(session),
        cauth: SendPtr(auth.cast_mut().cast()),
        glob: glob != 0,
    };
    match api.add_verb(verb) {
        Ok(()) => 0,
        Err(rc) => rc,
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn api_add_verb(
    api: *mut ApiX3,
    name: *const c_char,
    info: *const c_char,
    cb: Option<x2::ReqCallbackX2>,
    vcbdata: *mut c_void,
    auth: *const AfbAuth,
    session: u32,
    glob: c_int,
) -> c_int {
    guard("add verb", -1, || {
        // SAFETY: C gives its API.
        let (Some(a), Some(cb)) = (unsafe { api_of(api) }, cb) else {
            return -12;
        };
        add_verb_parts(a, name, info, VerbCb::X2(cb), vcbdata, auth, session, glob)
    })
}

/// Deletes a verb; stores its data where asked.
pub(crate) fn del_verb(api: &'static CApi, name: *const c_char, vcbdata: *mut *mut c_void) -> c_int {
    // SAFETY: C gives a string.
    let Some(n) = (unsafe { cstr(name) }) else { return -12 };
    match api.del_verb(&n) {
        Ok(d) => {
            if !vcbdata.is_null() {
                // SAFETY: C gives a writable location.
                unsafe { *vcbdata = d.0 };
            }
            0
        }
        Err(rc) => rc,
    }
}

unsafe extern "C" fn api_del_verb(api: *mut ApiX3, name: *const c_char, vcbdata: *mut *mut c_void) -> c_int {
    guard("del verb", -1, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(-12, |a| del_verb(a, name, vcbdata))
    })
}

unsafe extern "C" fn api_set_on_event(api: *mut ApiX3, cb: Option<OnEventCallback>) -> c_int {
    guard("set on event", -1, || {
        // SAFETY: C gives its API.
        let Some(a) = (unsafe { api_of(api) }) else { return -12 };
        *lock(&a.onevent) = cb.map_or(OnEvent::None, OnEvent::V3);
        0
    })
}

unsafe extern "C" fn api_set_on_init(api: *mut ApiX3, cb: Option<InitCallback>) -> c_int {
    guard("set on init", -1, || {
        // SAFETY: C gives its API.
        let Some(a) = (unsafe { api_of(api) }) else { return -12 };
        *lock(&a.init) = cb.map_or(InitCb::None, InitCb::V3);
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
    guard("event handler add", -1, || {
        // SAFETY: C gives its API and a string.
        let (Some(a), Some(p), Some(cb)) = (unsafe { api_of(api) }, unsafe { cstr(pattern) }, cb) else {
            return -12;
        };
        a.add_handler(Handler {
            pattern: p.into_owned(),
            cb: HandlerCb::V3(cb),
            closure: SendPtr(closure),
        });
        0
    })
}

/// Removes an event handler; stores its closure where asked.
pub(crate) fn handler_del(api: &'static CApi, pattern: *const c_char, closure: *mut *mut c_void) -> c_int {
    // SAFETY: C gives a string.
    let Some(p) = (unsafe { cstr(pattern) }) else {
        return -12;
    };
    match api.del_handler(&p) {
        Some(c) => {
            if !closure.is_null() {
                // SAFETY: C gives a writable location.
                unsafe { *closure = c.0 };
            }
            0
        }
        None => -13,
    }
}

unsafe extern "C" fn api_event_handler_del(
    api: *mut ApiX3,
    pattern: *const c_char,
    closure: *mut *mut c_void,
) -> c_int {
    guard("event handler del", -1, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(-12, |a| handler_del(a, pattern, closure))
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
        // SAFETY: C gives its API, strings and the argument reference.
        let args = unsafe { x2::take_args(args) };
        let (Some(a), Some(n), Some(v)) = (unsafe { api_of(api) }, unsafe { cstr(apiname) }, unsafe { cstr(verb) })
        else {
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
    guard("call sync", -1, || {
        // SAFETY: as in `api_call`.
        let args = unsafe { x2::take_args(args) };
        let (Some(a), Some(n), Some(v)) = (unsafe { api_of(api) }, unsafe { cstr(apiname) }, unsafe { cstr(verb) })
        else {
            return -1;
        };
        let reply = req::wait(req::start_call(Caller::Api(a), &n, &v, args));
        // SAFETY: C gives writable out pointers (or NULL).
        unsafe { x2::store_triple(&reply, obj, error, info) };
        if reply.is_success() {
            0
        } else {
            -1
        }
    })
}

unsafe extern "C" fn api_class_provide(api: *mut ApiX3, name: *const c_char) -> c_int {
    guard("class provide", -1, || {
        // SAFETY: C gives its API and a string.
        match (unsafe { api_of(api) }, unsafe { cstr(name) }) {
            (Some(a), Some(n)) => provide_class(a, &n),
            _ => -12,
        }
    })
}

unsafe extern "C" fn api_class_require(api: *mut ApiX3, name: *const c_char) -> c_int {
    guard("class require", -1, || {
        // SAFETY: C gives its API and a string.
        match (unsafe { api_of(api) }, unsafe { cstr(name) }) {
            (Some(a), Some(n)) => require_class(a, &n),
            _ => -12,
        }
    })
}

unsafe extern "C" fn api_delete(api: *mut ApiX3) -> c_int {
    guard("delete api", -1, || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(-12, delete_api)
    })
}

unsafe extern "C" fn api_settings(api: *mut ApiX3) -> *mut JsonObject {
    guard("settings", std::ptr::null_mut(), || {
        // SAFETY: C gives its API.
        unsafe { api_of(api) }.map_or(std::ptr::null_mut(), |a| a.settings())
    })
}

/// `struct afb_api_x3_itf`, in the ABI's order.
#[repr(C)]
pub struct ApiX3Itf {
    vverbose: unsafe extern "C" fn(*mut ApiX3, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    get_event_loop: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    get_user_bus: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    get_system_bus: unsafe extern "C" fn(*mut ApiX3) -> *mut c_void,
    rootdir_get_fd: unsafe extern "C" fn(*mut ApiX3) -> c_int,
    rootdir_open_locale: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_int, *const c_char) -> c_int,
    queue_job: unsafe extern "C" fn(*mut ApiX3, Option<JobCb>, *mut c_void, *mut c_void, c_int) -> c_int,
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
    api_new_api: unsafe extern "C" fn(
        *mut ApiX3,
        *const c_char,
        *const c_char,
        c_int,
        Option<PreinitX3>,
        *mut c_void,
    ) -> *mut ApiX3,
    api_set_verbs_v2: unsafe extern "C" fn(*mut ApiX3, *const VerbV2) -> c_int,
    #[allow(clippy::type_complexity)]
    api_add_verb: unsafe extern "C" fn(
        *mut ApiX3,
        *const c_char,
        *const c_char,
        Option<x2::ReqCallbackX2>,
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

/// The v3 API interface.
pub(crate) fn api_itf() -> *const ApiX3Itf {
    &API_ITF
}

/// Calls a v3 `onevent`.
pub(crate) fn call_onevent(api: &'static CApi, cb: OnEventCallback, name: &str, data: &str) {
    let n = util::cstring(name);
    let obj = jsonc::parse_or_null(data);
    // SAFETY: the binding's callback; the object is put after it.
    unsafe {
        cb(api.as_c(), n.as_ptr(), obj);
        jsonc::put(obj);
    }
}

/// Calls a v3 event handler.
pub(crate) fn call_event_handler(api: &'static CApi, cb: EventHandler, closure: SendPtr, name: &str, data: &str) {
    let n = util::cstring(name);
    let obj = jsonc::parse_or_null(data);
    // SAFETY: the binding's handler; the object is put after it.
    unsafe {
        cb(closure.get(), n.as_ptr(), obj, api.as_c());
        jsonc::put(obj);
    }
}

// ---- the v1/v2 daemon interface ---------------------------------------------------

unsafe extern "C" fn d_vverbose_v1(
    api: *mut ApiX3,
    level: c_int,
    file: *const c_char,
    line: c_int,
    fmt: *const c_char,
    ap: *mut c_void,
) {
    // SAFETY: forwarded as received.
    unsafe { api_vverbose(api, level, file, line, std::ptr::null(), fmt, ap) }
}

unsafe extern "C" fn d_event_make(api: *mut ApiX3, name: *const c_char) -> EventX1 {
    // SAFETY: forwarded as received.
    let e = unsafe { api_event_make(api, name) };
    EventX1 {
        itf: if e.is_null() { std::ptr::null() } else { x2::event_itf() },
        closure: e,
    }
}

unsafe extern "C" fn d_unstore_req(_api: *mut ApiX3, sreq: *mut c_void) -> ReqX1 {
    // The stored request is the request itself, with the reference taken
    // by `legacy_store_req` (now the caller's).
    ReqX1 {
        itf: x2_req_itf(sreq.cast()),
        closure: sreq.cast(),
    }
}

fn x2_req_itf(r: *mut ReqX2) -> *const x2::ReqX2Itf {
    if r.is_null() {
        return std::ptr::null();
    }
    // SAFETY: `r` is a request the binder made; its first field is the
    // interface pointer.
    unsafe { *(r as *const *const x2::ReqX2Itf) }
}

type NewApiX1 =
    unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char, c_int, Option<PreinitX3>, *mut c_void) -> *mut ApiX3;

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
    queue_job: unsafe extern "C" fn(*mut ApiX3, Option<JobCb>, *mut c_void, *mut c_void, c_int) -> c_int,
    vverbose_v2:
        unsafe extern "C" fn(*mut ApiX3, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    unstore_req: unsafe extern "C" fn(*mut ApiX3, *mut c_void) -> ReqX1,
    require_api: unsafe extern "C" fn(*mut ApiX3, *const c_char, c_int) -> c_int,
    add_alias: unsafe extern "C" fn(*mut ApiX3, *const c_char, *const c_char) -> c_int,
    new_api: NewApiX1,
}

static DAEMON_ITF: DaemonItfX1 = DaemonItfX1 {
    event_broadcast: api_event_broadcast,
    get_event_loop: api_get_event_loop,
    get_user_bus: api_get_user_bus,
    get_system_bus: api_get_system_bus,
    vverbose_v1: d_vverbose_v1,
    event_make: d_event_make,
    rootdir_get_fd: api_rootdir_get_fd,
    rootdir_open_locale: api_rootdir_open_locale,
    queue_job: api_queue_job,
    vverbose_v2: api_vverbose,
    unstore_req: d_unstore_req,
    require_api: api_require_api,
    add_alias: api_add_alias,
    new_api: api_new_api,
};

/// The v1/v2 daemon interface.
pub(crate) fn daemon_itf() -> *const DaemonItfX1 {
    &DAEMON_ITF
}
