//! Finding and loading binding shared objects: `dlopen` with
//! `RTLD_NOW | RTLD_LOCAL`, probing of the v4, then v3, v2 and v1 entry
//! symbols, the binder's side of each version's start-up handshake, and
//! recursive directory scans (`--ldpaths`).
//!
//! Shared objects are never unloaded: their code stays referenced by the
//! APIs, events and callbacks they registered (the C binders do the same).

use std::ffi::{c_char, c_int};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use afb_binding_so::abi::{CURRENT_REVISION, MAX_REVISION};
use afb_core::Registry;
use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};

use crate::capi::{ApiX3, CApi, Flavor};
use crate::common;
use crate::errno::FAILED;
use crate::jsonc::JsonObj;
use crate::util::{self, cstr, SendPtr};
use crate::v1v2::{self, BindingDataV2, BindingV1, BindingV2, InterfaceV1, RegisterV1, ServiceInitV1};
use crate::v3::{self, BindingV3};
use crate::v4::{self, BindingV4, CtlArg};

/// Why a binding could not be loaded. The message names the file and the
/// symbol or API at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The shared object.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "binding {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for LoadError {}

/// What a loaded binding provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The shared object.
    pub path: PathBuf,
    /// The ABI version (1 to 4).
    pub version: u8,
    /// The APIs it declared at load time.
    pub apis: Vec<String>,
}

/// Every `*.so` file under `dir`, recursively, skipping directories whose
/// name starts with `.`, in sorted (deterministic) order.
pub fn scan(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if !name.starts_with('.') {
                out.extend(scan(&p)?);
            }
        } else if name.ends_with(".so") && p.is_file() {
            out.push(p);
        }
    }
    Ok(out)
}

struct Ctx<'a> {
    path: &'a Path,
    pstr: String,
    registry: &'a Arc<Registry>,
    uid: String,
}

impl Ctx<'_> {
    fn err(&self, reason: impl Into<String>) -> LoadError {
        LoadError {
            path: self.path.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn config(&self) -> Option<JsonObj> {
        let v = self.registry.settings_for(&self.uid);
        (v.as_object().is_some_and(|o| !o.is_empty())).then(|| JsonObj::parse(&v.to_string()))
    }
}

/// # Safety
/// The symbol, if present, has type `T`.
unsafe fn sym<T>(lib: &Library, name: &[u8]) -> Option<Symbol<T>> {
    // SAFETY: per the contract.
    unsafe { lib.get::<T>(name).ok() }
}

/// Loads one binding into `registry`: its APIs are registered (not
/// started: `Registry::start` runs their `init`). Call it from a blocking
/// context (a binding may make synchronous calls while it loads).
pub fn load(registry: &Arc<Registry>, path: &Path) -> Result<Loaded, LoadError> {
    if let Ok(h) = tokio::runtime::Handle::try_current() {
        util::set_runtime(h);
    }
    let ctx = Ctx {
        path,
        pstr: path.display().to_string(),
        registry,
        uid: path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".so").to_owned())
            .unwrap_or_default(),
    };
    // SAFETY: loading a shared object runs its constructors: that is the
    // point of loading a binding, which the user asked for.
    let lib = util::Label::leak(format!("binding {}", ctx.pstr))
        .run(|| unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) })
        .map_err(|e| ctx.err(format!("cannot load: {e}")))?;
    let before: Vec<String> = registry.apis().iter().map(|e| e.name().to_owned()).collect();
    let result = util::Label::leak(format!("binding {}", ctx.pstr)).run(|| probe(&ctx, &lib));
    // Never unloaded: callbacks into it may be registered even on failure.
    std::mem::forget(lib);
    let version = result?;
    let apis = registry
        .apis()
        .iter()
        .map(|e| e.name().to_owned())
        .filter(|n| !before.contains(n))
        .collect();
    Ok(Loaded {
        path: path.to_path_buf(),
        version,
        apis,
    })
}

fn probe(ctx: &Ctx<'_>, lib: &Library) -> Result<u8, LoadError> {
    // SAFETY: each symbol is looked up with the type the ABI gives it.
    unsafe {
        let desc4 = sym::<*const BindingV4>(lib, b"afbBindingV4\0");
        let entry4 = sym::<v4::ApiCallback>(lib, b"afbBindingV4entry\0");
        if desc4.is_some() || entry4.is_some() {
            load_v4(
                ctx,
                lib,
                desc4.map(|s| s.into_raw() as *const BindingV4),
                entry4.map(|s| *s),
            )?;
            return Ok(4);
        }
        let desc3 = sym::<*const BindingV3>(lib, b"afbBindingV3\0");
        let entry3 = sym::<v3::InitCallback>(lib, b"afbBindingV3entry\0");
        if desc3.is_some() || entry3.is_some() {
            load_v3(
                ctx,
                lib,
                desc3.map(|s| s.into_raw() as *const BindingV3),
                entry3.map(|s| *s),
            )?;
            return Ok(3);
        }
        if let Some(desc2) = sym::<*const BindingV2>(lib, b"afbBindingV2\0") {
            load_v2(ctx, lib, desc2.into_raw() as *const BindingV2)?;
            return Ok(2);
        }
        if let Some(reg) = sym::<RegisterV1>(lib, b"afbBindingV1Register\0") {
            load_v1(ctx, lib, *reg)?;
            return Ok(1);
        }
    }
    Err(ctx.err(
        "not a binding: none of the symbols afbBindingV4, afbBindingV4entry, afbBindingV3, afbBindingV3entry, \
         afbBindingV2, afbBindingV1Register is exported",
    ))
}

/// Reads an API name from the binding and checks it.
///
/// # Safety
/// `p` is NULL or a C string of the binding.
unsafe fn api_name(ctx: &Ctx<'_>, p: *const c_char, symbol: &str) -> Result<String, LoadError> {
    // SAFETY: per the contract.
    let name = unsafe { cstr(p) }.ok_or_else(|| ctx.err(format!("{symbol} has no API name")))?;
    afb_core::name::validate_api_name(&name).map_err(|e| ctx.err(format!("{symbol}: invalid API name: {e}")))?;
    Ok(name.into_owned())
}

/// # Safety
/// `p` is NULL or a C string of the binding.
unsafe fn opt(p: *const c_char) -> Option<String> {
    // SAFETY: per the contract.
    unsafe { cstr(p) }.map(|s| s.into_owned())
}

fn declare(
    api: &'static CApi,
    info: Option<String>,
    noconcurrency: bool,
    provide: Option<String>,
    req_class: Option<String>,
    req_api: Option<String>,
) {
    api.with_pending(|p| {
        if let Some(i) = info {
            p.info = i;
        }
        p.noconcurrency |= noconcurrency;
    });
    if let Some(c) = provide {
        common::provide_class(api, &c);
    }
    if let Some(c) = req_class {
        common::require_class(api, &c);
    }
    if let Some(a) = req_api {
        common::require_api(api, &a);
    }
}

fn load_v4(
    ctx: &Ctx<'_>,
    lib: &Library,
    desc: Option<*const BindingV4>,
    entry: Option<v4::ApiCallback>,
) -> Result<(), LoadError> {
    // SAFETY: the v4 ABI gives these symbols these types.
    let (itf, root, rev) = unsafe {
        (
            sym::<*mut *const v4::ItfV4>(lib, b"afbBindingV4r1_itfptr\0")
                .map(|s| s.into_raw() as *mut *const v4::ItfV4),
            sym::<*mut *mut ApiX3>(lib, b"afbBindingV4root\0").map(|s| s.into_raw() as *mut *mut ApiX3),
            sym::<*const i16>(lib, b"afbBindingV4_itf_revision\0").map(|s| s.into_raw() as *const i16),
        )
    };
    let itf = itf.ok_or_else(|| ctx.err("incomplete v4 binding: the symbol afbBindingV4r1_itfptr is missing"))?;
    let rootvar = root.ok_or_else(|| ctx.err("incomplete v4 binding: the symbol afbBindingV4root is missing"))?;
    // SAFETY: the revision symbol is a `short` of the binding.
    let revision = rev.map(|p| unsafe { *p }).unwrap_or(1);
    check_revision(revision).map_err(|e| ctx.err(e))?;
    if (revision as u16) < CURRENT_REVISION {
        tracing::info!(
            "binding {}: v4 interface revision {revision}, lower than the current {CURRENT_REVISION} (it gets the functions of its revision)",
            ctx.pstr,
        );
    }
    // SAFETY: writing the binder's table address into the binding's pointer.
    unsafe { *itf = &v4::ITF };
    let root = CApi::new_root(
        &ctx.uid,
        Flavor::V4,
        &ctx.pstr,
        ctx.registry,
        ctx.config(),
        v3::api_itf(),
    );
    // SAFETY: the binding's root variable.
    unsafe { *rootvar = root.as_c() };
    if let Some(desc) = desc {
        // SAFETY: `afbBindingV4` is the binding's static description.
        let desc = unsafe { &*desc };
        // SAFETY: strings of the binding.
        let name = unsafe { api_name(ctx, desc.api, "afbBindingV4")? };
        // SAFETY: as above.
        let (info, provide, required_classes, required_apis, spec) = unsafe {
            (
                opt(desc.info),
                opt(desc.provide_class),
                opt(desc.require_class),
                opt(desc.require_api),
                opt(desc.specification),
            )
        };
        let verbs = SendPtr(desc.verbs.cast_mut().cast());
        let root_var = SendPtr(rootvar.cast());
        v4::create(
            root,
            &name,
            info.as_deref(),
            desc.flags & 1 != 0,
            desc.mainctl,
            desc.userdata,
            move |api| {
                declare(api, None, false, provide, required_classes, required_apis);
                api.set_primary();
                if spec.is_some() {
                    api.set_specification(spec);
                }
                // SAFETY: the root variable is the binding's; it now names its API.
                unsafe { *(root_var.get() as *mut *mut ApiX3) = api.as_c() };
                // SAFETY: the binding's verb array.
                unsafe { v4::add_verbs(api, verbs.get() as *const v4::VerbV4) }
            },
        )
        .map_err(|e| ctx.err(e))?;
    } else {
        root.set_primary();
    }
    if let Some(entry) = entry {
        let path = util::cstring(&ctx.pstr);
        let uid = util::cstring(&ctx.uid);
        let arg = CtlArg {
            path_or_name: path.as_ptr(),
            uid: uid.as_ptr(),
            config: root.config.as_ref().map_or(std::ptr::null_mut(), |c| c.as_ptr()),
        };
        // SAFETY: the root variable as set above (the root or the described API).
        let api = unsafe { CApi::from_c(*rootvar) }.unwrap_or(root);
        let rc = v4::call_mainctl(api, entry, v4::CTLID_ROOT_ENTRY, &arg);
        if rc < 0 {
            return Err(ctx.err(format!("afbBindingV4entry failed ({rc})")));
        }
    }
    Ok(())
}

/// Checks the v4 interface revision a binding declares.
pub(crate) fn check_revision(revision: i16) -> Result<(), String> {
    if revision < 1 || revision as u16 > MAX_REVISION {
        return Err(format!(
            "v4 interface revision {revision} is not supported (this binder implements revisions 1 to \
             {MAX_REVISION}; rebuild the binding with AFB_BINDING_X4R1_ITF_REVISION at most {MAX_REVISION})",
        ));
    }
    Ok(())
}

fn load_v3(
    ctx: &Ctx<'_>,
    lib: &Library,
    desc: Option<*const BindingV3>,
    entry: Option<v3::InitCallback>,
) -> Result<(), LoadError> {
    // SAFETY: the v3 ABI gives the root symbol this type.
    let rootvar = unsafe { sym::<*mut *mut ApiX3>(lib, b"afbBindingV3root\0") }
        .map(|s| s.into_raw() as *mut *mut ApiX3)
        .ok_or_else(|| ctx.err("incomplete v3 binding: the symbol afbBindingV3root is missing"))?;
    let root = CApi::new_root(
        &ctx.uid,
        Flavor::V3,
        &ctx.pstr,
        ctx.registry,
        ctx.config(),
        v3::api_itf(),
    );
    // SAFETY: the binding's root variable.
    unsafe { *rootvar = root.as_c() };
    if let Some(desc) = desc {
        // SAFETY: `afbBindingV3` is the binding's static description.
        let desc = unsafe { &*desc };
        // SAFETY: strings of the binding.
        let name = unsafe { api_name(ctx, desc.api, "afbBindingV3")? };
        // SAFETY: as above.
        let (info, provide, required_classes, required_apis) = unsafe {
            (
                opt(desc.info),
                opt(desc.provide_class),
                opt(desc.require_class),
                opt(desc.require_api),
            )
        };
        let (verbs, userdata, root_var) = (
            SendPtr(desc.verbs.cast_mut().cast()),
            desc.userdata,
            SendPtr(rootvar.cast()),
        );
        let (preinit, init, onevent) = (desc.preinit, desc.init, desc.onevent);
        common::new_api(
            root,
            &name,
            info.as_deref(),
            desc.flags & 1 != 0,
            Flavor::V3,
            move |api| {
                declare(api, None, false, provide, required_classes, required_apis);
                api.set_userdata(userdata);
                api.set_init(init.map(v3::init_fn));
                api.set_onevent(onevent.map(v3::onevent_fn));
                // SAFETY: the root variable now names the described API.
                unsafe { *(root_var.get() as *mut *mut ApiX3) = api.as_c() };
                // SAFETY: the binding's verb array.
                if let Err(e) = unsafe { v3::add_verbs(api, verbs.get() as *const v3::VerbV3) } {
                    tracing::error!("binding {}: {e}", api.path);
                    return FAILED;
                }
                // SAFETY: the binding's preinit with its API.
                preinit.map_or(0, |f| unsafe { f(api.as_c()) })
            },
        )
        .map_err(|e| ctx.err(e))?;
    }
    if let Some(entry) = entry {
        // SAFETY: the binding's entry with the root variable's API.
        let rc = unsafe { entry(*rootvar) };
        if rc < 0 {
            return Err(ctx.err(format!("afbBindingV3entry failed ({rc})")));
        }
    }
    Ok(())
}

fn verbosity(registry: &Registry) -> c_int {
    c_int::from(registry.log_level().syslog()) - 3
}

fn load_v2(ctx: &Ctx<'_>, lib: &Library, desc: *const BindingV2) -> Result<(), LoadError> {
    // SAFETY: the v2 ABI gives the data symbol this type.
    let data = unsafe { sym::<*mut BindingDataV2>(lib, b"afbBindingV2data\0") }
        .map(|s| s.into_raw() as *mut BindingDataV2)
        .ok_or_else(|| ctx.err("incomplete v2 binding: the symbol afbBindingV2data is missing"))?;
    // SAFETY: `afbBindingV2` is the binding's static description.
    let desc = unsafe { &*desc };
    // SAFETY: strings of the binding.
    let name = unsafe { api_name(ctx, desc.api, "afbBindingV2")? };
    // SAFETY: as above.
    let info = unsafe { opt(desc.info) };
    let root = CApi::new_root(&ctx.uid, Flavor::V2, &ctx.pstr, ctx.registry, None, v3::api_itf());
    let (verbs, data_var) = (SendPtr(desc.verbs.cast_mut().cast()), SendPtr(data.cast()));
    let (preinit, init, onevent) = (desc.preinit, desc.init, desc.onevent);
    let level = verbosity(ctx.registry);
    common::new_api(
        root,
        &name,
        info.as_deref(),
        desc.flags & 1 != 0,
        Flavor::V2,
        move |api| {
            // SAFETY: filling the binding's data as the v2 ABI expects.
            unsafe {
                let d = data_var.get() as *mut BindingDataV2;
                (*d).verbosity = level;
                (*d).daemon = v1v2::daemon_x1(api);
                (*d).service = v1v2::service_x1(api);
            }
            api.set_init(init.map(v1v2::init_fn_v2));
            api.set_onevent(onevent.map(v1v2::onevent_fn));
            // SAFETY: the binding's verb array.
            if let Err(e) = unsafe { v3::add_verbs_v2(api, verbs.get() as *const v3::VerbV2) } {
                tracing::error!("binding {}: {e}", api.path);
                return FAILED;
            }
            // SAFETY: the binding's preinit.
            preinit.map_or(0, |f| unsafe { f() })
        },
    )
    .map_err(|e| ctx.err(e))?;
    Ok(())
}

fn load_v1(ctx: &Ctx<'_>, lib: &Library, register: RegisterV1) -> Result<(), LoadError> {
    // SAFETY: the v1 ABI gives these symbols these types.
    let (init, event) = unsafe {
        (
            sym::<ServiceInitV1>(lib, b"afbBindingV1ServiceInit\0").map(|s| *s),
            sym::<v1v2::OnEventCallback>(lib, b"afbBindingV1ServiceEvent\0").map(|s| *s),
        )
    };
    let root = CApi::new_root(&ctx.uid, Flavor::V1, &ctx.pstr, ctx.registry, None, v3::api_itf());
    let itf: &'static mut InterfaceV1 = Box::leak(Box::new(InterfaceV1 {
        daemon: v1v2::daemon_x1(root),
        verbosity: verbosity(ctx.registry),
        mode: 0,
    }));
    let itfp: *mut InterfaceV1 = itf;
    // SAFETY: the binding's registration with an interface that lives forever.
    let desc = unsafe { register(itfp) };
    // SAFETY: NULL or the binding's static description.
    let desc: &BindingV1 = unsafe { desc.as_ref() }.ok_or_else(|| ctx.err("afbBindingV1Register returned NULL"))?;
    if desc.kind != v1v2::BINDING_V1_TYPE {
        return Err(ctx.err(format!(
            "afbBindingV1Register returned a description of unknown type {}",
            desc.kind
        )));
    }
    // SAFETY: strings of the binding.
    let name = unsafe { api_name(ctx, desc.prefix, "afbBindingV1Register (prefix)")? };
    // SAFETY: as above.
    let info = unsafe { opt(desc.info) };
    let verbs = SendPtr(desc.verbs.cast_mut().cast());
    let itf_var = SendPtr(itfp.cast());
    common::new_api(root, &name, info.as_deref(), false, Flavor::V1, move |api| {
        // SAFETY: the interface now names the binding's API.
        unsafe { (*(itf_var.get() as *mut InterfaceV1)).daemon = v1v2::daemon_x1(api) };
        api.set_init(init.map(v1v2::init_fn_v1));
        api.set_onevent(event.map(v1v2::onevent_fn));
        // SAFETY: the binding's verb array.
        match unsafe { v1v2::add_verbs_v1(api, verbs.get() as *const v1v2::VerbDescV1) } {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!("binding {}: {e}", api.path);
                FAILED
            }
        }
    })
    .map_err(|e| ctx.err(e))?;
    Ok(())
}
