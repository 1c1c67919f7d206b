//! Reloading: every live [`super::TlsServer`] and [`super::TlsClient`] is
//! listed here (weakly) so that one call rebuilds them all from their files.

use std::sync::{Arc, Mutex, Weak};

/// Something built from TLS files that can be built again.
pub(crate) trait Reload: Send + Sync {
    /// Builds the configuration again from the files; keeps the old one on error.
    fn reload(&self) -> Result<(), String>;
    /// What it serves, for messages (`--https`, a socket URI).
    fn what(&self) -> String;
}

static LIVE: Mutex<Vec<Weak<dyn Reload>>> = Mutex::new(Vec::new());

pub(crate) fn register(r: Arc<dyn Reload>) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(&r));
}

/// The outcome of reloading one TLS user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// What it serves (`--https`, a socket URI).
    pub what: String,
    /// `Err(why)`: the old material is kept.
    pub result: Result<(), String>,
}

/// Builds every live TLS configuration again from its files (certificates,
/// keys, trust; the system store too). New connections use the new
/// material; open ones go on; one that fails keeps its old material.
pub fn reload_all() -> Vec<Reloaded> {
    let live: Vec<Arc<dyn Reload>> = {
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.iter().filter_map(Weak::upgrade).collect()
    };
    live.iter()
        .map(|r| Reloaded {
            what: r.what(),
            result: r.reload(),
        })
        .collect()
}
