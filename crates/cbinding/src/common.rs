//! The operations every ABI offers, whatever its function table looks
//! like: on APIs (requirements, classes, aliases, new and deleted APIs,
//! verbs and event handlers, broadcasts, jobs, the root directory) and on
//! requests (the API's context value in the session, the client's
//! description). The v1/v2, v3 and v4 entry points check their C arguments
//! and call these.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use afb_binding_so::abi::{CookieCreate, Dispose, JobCallback, Verb};
use afb_core::{Auth, ReqHandle};

use crate::capi::{AfbAuth, CApi, CVerb, Flavor, VerbFn};
use crate::errno::{BAD_STATE, FAILED, INVALID_REQUEST, NOT_AVAILABLE, NO_ITEM, UNKNOWN_API};
use crate::util::{self, cstr, guard, lock, write_out, SendPtr};

fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split_whitespace().map(str::to_owned)
}

// ---- declarations -------------------------------------------------------------------

/// Requires APIs (space-separated names): recorded before registration,
/// else checked for existence.
pub(crate) fn require_api(api: &'static CApi, names: &str) -> c_int {
    let list: Vec<String> = words(names).collect();
    if api.with_pending(|p| p.requires.extend(list.iter().cloned())) {
        return 0;
    }
    let Some(reg) = api.registry() else {
        return NOT_AVAILABLE;
    };
    for n in &list {
        if reg.find_api(n).is_none() {
            tracing::warn!(api = %api.name, "required API {n} does not exist");
            return UNKNOWN_API;
        }
    }
    0
}

/// Provides classes (before registration only).
pub(crate) fn provide_class(api: &'static CApi, names: &str) -> c_int {
    if api.with_pending(|p| p.provides.extend(words(names))) {
        0
    } else {
        BAD_STATE
    }
}

/// Requires classes (before registration only).
pub(crate) fn require_class(api: &'static CApi, names: &str) -> c_int {
    if api.with_pending(|p| p.requires_classes.extend(words(names))) {
        0
    } else {
        BAD_STATE
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
            FAILED
        }
        None => NOT_AVAILABLE,
    }
}

/// Deletes a (dynamic) API.
pub(crate) fn delete_api(api: &'static CApi) -> c_int {
    match api.registry() {
        Some(r) if r.remove_api(&api.name) => 0,
        _ => NO_ITEM,
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
    let api = parent.new_child(name, flavor, &reg);
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
                reg.events()
                    .broadcast(&format!("{}/{}", api.name, name), raw.as_deref(), None);
                0
            }
            None => NOT_AVAILABLE,
        },
    })
}

/// Broadcasts `API/name` with JSON text and its typed form when it has one.
pub(crate) fn broadcast_typed(
    api: &'static CApi,
    name: &str,
    text: &str,
    typed: Option<&afb_core::TypedList>,
) -> c_int {
    let Some(typed) = typed else {
        return broadcast(api, name, text);
    };
    let raw = serde_json::value::RawValue::from_string(text.to_owned()).ok();
    let full = format!("{}/{}", api.name, name);
    util::in_runtime(
        || match api.api_ref().and_then(|r| r.registry()).or_else(|| api.registry()) {
            Some(reg) => {
                reg.events().broadcast_typed(&full, raw.as_deref(), Some(typed), None);
                0
            }
            None => NOT_AVAILABLE,
        },
    )
}

// ---- verbs and event handlers ---------------------------------------------------------

/// Adds the verbs of a NULL-terminated v3 or v4 verb array (the layouts
/// are the same, with each ABI's callback type `Cb`); `call` wraps a
/// callback for [`CVerb`].
///
/// # Safety
/// `verbs` is NULL or a valid array ending with a NULL name.
pub(crate) unsafe fn add_verbs<Cb: Copy>(
    api: &'static CApi,
    verbs: *const Verb<Cb>,
    call: impl Fn(Cb) -> VerbFn,
) -> Result<(), String> {
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
            call: call(cb),
            vcbdata: SendPtr(v.vcbdata),
            auth: Auth::from_v2(u32::from(v.session)),
            // SAFETY: the binding's static auth tree, or NULL.
            rule: unsafe { CVerb::rule_of(SendPtr(v.auth.cast_mut().cast())) },
            glob: v.glob & 1 != 0,
        };
        api.add_verb(verb)
            .map_err(|rc| format!("verb {name} of API {} refused ({rc})", api.name))?;
        // SAFETY: still inside the array (the terminator was not reached).
        p = unsafe { p.add(1) };
    }
}

/// Adds one verb from the arguments of `add_verb` (v3 and v4).
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_verb(
    api: &'static CApi,
    name: *const c_char,
    info: *const c_char,
    call: VerbFn,
    vcbdata: *mut c_void,
    auth: *const AfbAuth,
    session: u32,
    glob: c_int,
) -> c_int {
    // SAFETY: C gives strings (or NULL).
    let (Some(n), info) = (unsafe { cstr(name) }, unsafe { cstr(info) }) else {
        return INVALID_REQUEST;
    };
    let verb = CVerb {
        name: n.into_owned(),
        info: info.map(|s| s.into_owned()).unwrap_or_default(),
        call,
        vcbdata: SendPtr(vcbdata),
        auth: Auth::from_v2(session),
        // SAFETY: the binding's static auth tree, or NULL.
        rule: unsafe { CVerb::rule_of(SendPtr(auth.cast_mut().cast())) },
        glob: glob != 0,
    };
    match api.add_verb(verb) {
        Ok(()) => 0,
        Err(rc) => rc,
    }
}

/// Deletes a verb; writes its data where asked.
pub(crate) fn del_verb(api: &'static CApi, name: *const c_char, vcbdata: *mut *mut c_void) -> c_int {
    // SAFETY: C gives a string (or NULL).
    let Some(n) = (unsafe { cstr(name) }) else {
        return INVALID_REQUEST;
    };
    match api.del_verb(&n) {
        Ok(data) => {
            // SAFETY: C gives a location for the data (or NULL).
            unsafe { write_out(vcbdata, data.get()) };
            0
        }
        Err(rc) => rc,
    }
}

/// Removes an event handler; writes its closure where asked.
pub(crate) fn del_handler(api: &'static CApi, pattern: *const c_char, closure: *mut *mut c_void) -> c_int {
    // SAFETY: C gives a string (or NULL).
    let Some(p) = (unsafe { cstr(pattern) }) else {
        return INVALID_REQUEST;
    };
    match api.del_handler(&p) {
        Some(c) => {
            // SAFETY: C gives a location for the closure (or NULL).
            unsafe { write_out(closure, c.get()) };
            0
        }
        None => NO_ITEM,
    }
}

// ---- the root directory --------------------------------------------------------------

/// The file descriptor of the root directory (opened once; -1 when it
/// cannot be opened).
pub(crate) fn rootdir_fd() -> c_int {
    static FD: OnceLock<c_int> = OnceLock::new();
    *FD.get_or_init(|| {
        let dir = std::env::var_os("AFB_ROOTDIR").unwrap_or_else(|| ".".into());
        match std::fs::File::open(&dir) {
            Ok(f) => f.into_raw_fd(),
            Err(e) => {
                tracing::warn!("root directory {}: {e}", dir.to_string_lossy());
                FAILED
            }
        }
    })
}

extern "C" {
    fn openat(dirfd: c_int, path: *const c_char, flags: c_int, ...) -> c_int;
}

/// Opens a file of the root directory (the locale is not used): a file
/// descriptor, or -1.
pub(crate) fn rootdir_open(filename: *const c_char, flags: c_int) -> c_int {
    let fd = rootdir_fd();
    if fd < 0 || filename.is_null() {
        return FAILED;
    }
    // SAFETY: `filename` is a C string from the binding; openat does not
    // keep it.
    unsafe { openat(fd, filename, flags, 0o644 as c_int) }
}

// ---- jobs ---------------------------------------------------------------------------

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
pub(crate) fn queue_job(cb: Option<JobCallback>, arg: *mut c_void, group: *mut c_void, delay_ms: u64) -> c_int {
    let Some(cb) = cb else { return INVALID_REQUEST };
    let Some(rt) = util::runtime() else {
        return NOT_AVAILABLE;
    };
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
        None => NO_ITEM,
    }
}

// ---- requests ---------------------------------------------------------------------

/// A context value of a C binding kept in a session: dropping it calls the
/// binding's free function.
pub(crate) struct Cookie {
    pub value: SendPtr,
    pub free: Dispose,
    pub free_arg: SendPtr,
}

impl Drop for Cookie {
    fn drop(&mut self) {
        if let Some(f) = self.free {
            // SAFETY: the binding's free function with the argument it chose.
            unsafe { f(self.free_arg.get()) }
        }
    }
}

/// The context value of the request's API in its session, if any.
pub(crate) fn cookie_get(h: &ReqHandle) -> Option<*mut c_void> {
    h.context()
        .and_then(|c| c.downcast_ref::<Cookie>().map(|c| c.value.get()))
}

/// Stores a context value (the previous one is freed).
pub(crate) fn cookie_set(h: &ReqHandle, c: Cookie) {
    h.set_context(Some(Arc::new(c)));
}

/// `context_make`: get, or create and store, the API's context value.
pub(crate) fn context_make(
    h: &ReqHandle,
    replace: bool,
    create: Option<CookieCreate>,
    free: Dispose,
    closure: *mut c_void,
) -> *mut c_void {
    if !replace {
        if let Some(v) = cookie_get(h) {
            return v;
        }
    }
    let value = match create {
        // SAFETY: the binding's creation function with its closure.
        Some(f) => unsafe { f(closure) },
        None => closure,
    };
    cookie_set(
        h,
        Cookie {
            value: SendPtr(value),
            free,
            free_arg: SendPtr(value),
        },
    );
    value
}

/// The client description (`get_client_info`) as JSON text.
pub(crate) fn client_info(h: &ReqHandle) -> String {
    afb_core::access::client_info(h).to_string()
}
