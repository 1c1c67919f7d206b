//! Loading the C bindings named by `--binding`, `--ldpaths` and
//! `--weak-ldpaths` (shared objects implementing the binding ABI v1 to v4,
//! see `afb-cbinding`) before the APIs start.
//!
//! `--binding` and `--ldpaths` failures stop the daemon with an error
//! naming the file; `--weak-ldpaths` failures are logged and skipped.
//! Loading runs on the blocking pool: a binding's start-up code may block.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use afb_core::Registry;

/// What to load, in order: the `--binding` files, then every `*.so` under
/// the `--ldpaths` directories, then those under `--weak-ldpaths`.
#[derive(Debug, Clone, Default)]
pub struct ToLoad {
    /// `--binding` files.
    pub bindings: Vec<PathBuf>,
    /// `--ldpaths` entries (`:`-separated directory lists).
    pub ldpaths: Vec<String>,
    /// `--weak-ldpaths` entries.
    pub weak_ldpaths: Vec<String>,
}

impl ToLoad {
    /// Whether there is nothing to load.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty() && self.ldpaths.is_empty() && self.weak_ldpaths.is_empty()
    }
}

fn dirs(list: &[String]) -> impl Iterator<Item = PathBuf> + '_ {
    list.iter()
        .flat_map(|l| l.split(':'))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

fn load_one(registry: &Arc<Registry>, path: &Path) -> Result<(), String> {
    let loaded = afb_cbinding::load(registry, path).map_err(|e| e.to_string())?;
    tracing::info!(
        "binding {} (ABI v{}) loaded: APIs {}",
        loaded.path.display(),
        loaded.version,
        loaded.apis.join(", ")
    );
    Ok(())
}

fn load_blocking(registry: &Arc<Registry>, what: &ToLoad) -> Result<(), String> {
    for b in &what.bindings {
        load_one(registry, b).map_err(|e| format!("--binding: {e}"))?;
    }
    for d in dirs(&what.ldpaths) {
        let files = afb_cbinding::scan(&d).map_err(|e| format!("--ldpaths {}: {e}", d.display()))?;
        for f in files {
            load_one(registry, &f).map_err(|e| format!("--ldpaths: {e}"))?;
        }
    }
    for d in dirs(&what.weak_ldpaths) {
        match afb_cbinding::scan(&d) {
            Ok(files) => {
                for f in files {
                    if let Err(e) = load_one(registry, &f) {
                        tracing::warn!("--weak-ldpaths: {e} (skipped)");
                    }
                }
            }
            Err(e) => tracing::warn!("--weak-ldpaths {}: {e} (skipped)", d.display()),
        }
    }
    Ok(())
}

/// Loads everything asked; the first fatal error is returned.
pub async fn load(registry: &Arc<Registry>, what: ToLoad) -> Result<(), String> {
    if what.is_empty() {
        return Ok(());
    }
    afb_cbinding::set_runtime(tokio::runtime::Handle::current());
    let registry = registry.clone();
    tokio::task::spawn_blocking(move || load_blocking(&registry, &what))
        .await
        .map_err(|e| format!("loading bindings: {e}"))?
}
