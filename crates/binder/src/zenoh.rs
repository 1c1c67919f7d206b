//! Scale-out over Zenoh in the daemon (`--zenoh*`, cargo feature `zenoh`):
//! joins before the registry starts (named imports registered), exports
//! once the local APIs are started. Built without the feature, any
//! `--zenoh*` option is an error at start-up.

use std::sync::Arc;

use afb_core::Registry;

use crate::options::Options;

/// The binder on Zenoh, kept while the daemon runs.
#[cfg(feature = "zenoh")]
pub(crate) type Joined = Arc<afb_zenoh::Joined>;
/// Nothing: the daemon is built without Zenoh.
#[cfg(not(feature = "zenoh"))]
pub(crate) type Joined = ();

/// The binder's exports on Zenoh, kept while the daemon runs.
#[cfg(feature = "zenoh")]
pub(crate) type Handle = afb_zenoh::ZenohHandle;
/// Nothing: the daemon is built without Zenoh.
#[cfg(not(feature = "zenoh"))]
pub(crate) type Handle = ();

/// Joins the Zenoh network when an option asks for it.
#[cfg(feature = "zenoh")]
pub(crate) async fn join(o: &Options, registry: &Arc<Registry>) -> Result<Option<Joined>, String> {
    if !o.uses_zenoh() {
        return Ok(None);
    }
    let opts = afb_zenoh::ZenohOptions {
        config: o.zenoh_config.clone(),
        connect: o.zenoh_connect.clone(),
        listen: o.zenoh_listen.clone(),
        namespace: o.zenoh_namespace.clone(),
        export: o.zenoh_export.clone(),
        import: o.zenoh_import.clone(),
        call_timeout: registry.config().api_timeout,
        ..afb_zenoh::ZenohOptions::default()
    };
    afb_zenoh::join(registry, opts)
        .await
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Refuses the `--zenoh*` options of a daemon built without Zenoh.
#[cfg(not(feature = "zenoh"))]
pub(crate) async fn join(o: &Options, _registry: &Arc<Registry>) -> Result<Option<Joined>, String> {
    if o.uses_zenoh() {
        return Err("the --zenoh options need a daemon built with the `zenoh` feature".into());
    }
    Ok(None)
}

/// Exports the APIs asked once they are started.
#[cfg(feature = "zenoh")]
pub(crate) async fn export(joined: Option<Joined>, registry: &Arc<Registry>) -> Result<Option<Handle>, String> {
    match joined {
        None => Ok(None),
        Some(j) => afb_zenoh::export(j, registry)
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

/// Nothing to export without Zenoh.
#[cfg(not(feature = "zenoh"))]
pub(crate) async fn export(_joined: Option<Joined>, _registry: &Arc<Registry>) -> Result<Option<Handle>, String> {
    Ok(None)
}
