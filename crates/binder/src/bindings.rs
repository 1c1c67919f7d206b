//! Loading the C bindings named by `--binding`, `--ldpaths` and
//! `--weak-ldpaths` (shared objects implementing the binding ABI v1 to v4,
//! see `afb-cbinding`) before the APIs start.
//!
//! `--binding` and `--ldpaths` failures stop the daemon with an error
//! naming the file; `--weak-ldpaths` failures are logged and skipped.
//! Loading runs on the blocking pool: a binding's start-up code may block.
//!
//! `--binding PATH?isolate` runs the binding in a child `afb-daemon`
//! (`--no-httpd --binding PATH`, started with `AFB_CBINDING_EXPORT=DIR`:
//! it exports each API of its bindings on `unix:DIR/API` and writes
//! `DIR/.ready` once they started). The parent imports those APIs over
//! wsapi; when the child dies (a crash of the binding), the calls in
//! progress are answered `disconnected` and the child is started again.
//! `--isolate-bindings` does the same for all the other C bindings at once
//! (`--binding`s, `--ldpaths`, `--weak-ldpaths`): one child for them all.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use afb_core::{ApiState, Registry};
use afb_wsapi::WsapiOptions;
use tokio_util::sync::CancellationToken;

/// The environment variable that makes a daemon export the APIs of its
/// bindings for an isolating parent (the value: a directory).
pub const EXPORT_ENV: &str = "AFB_CBINDING_EXPORT";

/// The suffix of `--binding` asking for a child process.
pub const ISOLATE: &str = "?isolate";

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
    /// `--isolate-bindings`: load them all in one supervised child.
    pub isolate_all: bool,
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
    for b in what.bindings.iter().filter(|b| !is_isolated(b)) {
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

fn is_isolated(p: &Path) -> bool {
    p.to_string_lossy().ends_with(ISOLATE)
}

/// Loads everything asked; the first fatal error is returned.
pub async fn load(registry: &Arc<Registry>, what: ToLoad) -> Result<(), String> {
    if what.is_empty() {
        return Ok(());
    }
    afb_cbinding::set_runtime(tokio::runtime::Handle::current());
    let mut children: Vec<Isolated> = what
        .bindings
        .iter()
        .filter(|b| is_isolated(b))
        .map(|b| {
            let path = PathBuf::from(b.to_string_lossy().trim_end_matches(ISOLATE));
            Isolated {
                label: format!("binding {}", path.display()),
                args: vec!["--binding".into(), path.into_os_string()],
            }
        })
        .collect();
    let mut what = what;
    // A child never isolates again (it serves its parent).
    if what.isolate_all && std::env::var_os(EXPORT_ENV).is_none() {
        let shared = Isolated::all(&what);
        what = ToLoad::default();
        if !shared.args.is_empty() {
            children.insert(0, shared);
        }
    }
    let before: Vec<String> = registry.api_names();
    let reg = registry.clone();
    tokio::task::spawn_blocking(move || load_blocking(&reg, &what))
        .await
        .map_err(|e| format!("loading bindings: {e}"))??;
    if let Some(dir) = std::env::var_os(EXPORT_ENV) {
        let apis: Vec<String> = registry
            .api_names()
            .into_iter()
            .filter(|n| !before.contains(n))
            .collect();
        export(registry, PathBuf::from(dir), apis).await?;
    }
    for (i, child) in children.into_iter().enumerate() {
        isolate(registry, child, i).await?;
    }
    Ok(())
}

/// What one child binder loads: its arguments and how logs name it.
struct Isolated {
    label: String,
    args: Vec<OsString>,
}

impl Isolated {
    /// `--isolate-bindings`: every C binding that has no child of its own.
    fn all(what: &ToLoad) -> Isolated {
        let mut args: Vec<OsString> = Vec::new();
        for b in what.bindings.iter().filter(|b| !is_isolated(b)) {
            args.push("--binding".into());
            args.push(b.clone().into_os_string());
        }
        for l in &what.ldpaths {
            args.push("--ldpaths".into());
            args.push(l.into());
        }
        for l in &what.weak_ldpaths {
            args.push("--weak-ldpaths".into());
            args.push(l.into());
        }
        Isolated {
            label: "C bindings (--isolate-bindings)".into(),
            args,
        }
    }
}

/// Child side: exports `apis` on `unix:DIR/API`, then writes `DIR/.ready`
/// once they all started.
async fn export(registry: &Arc<Registry>, dir: PathBuf, apis: Vec<String>) -> Result<(), String> {
    for api in &apis {
        let uri = format!("unix:{}/{api}", dir.display());
        afb_wsapi::serve(
            registry.clone(),
            &uri,
            WsapiOptions::default(),
            CancellationToken::new(),
        )
        .await
        .map_err(|e| format!("{EXPORT_ENV}: {e}"))?;
    }
    // An isolated binding's process follows its parent: it exits when the
    // parent is gone (even killed), so that no orphan keeps serving.
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::info!("{EXPORT_ENV}: the parent daemon is gone: exiting");
                std::process::exit(0);
            }
        }
    });
    let registry = registry.clone();
    tokio::spawn(async move {
        loop {
            let started = apis
                .iter()
                .all(|a| registry.get_api(a).is_some_and(|e| e.state() == ApiState::Ready));
            if started {
                let _ = std::fs::write(dir.join(".ready"), apis.join("\n"));
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    Ok(())
}

/// Starts a child binder loading `args`; gives the APIs it exports once
/// they are ready.
async fn spawn_child(
    registry: &Registry,
    args: &[OsString],
    dir: &Path,
) -> Result<(tokio::process::Child, Vec<String>), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("the daemon's own path: {e}"))?;
    let settings = serde_json::Value::Object(registry.config().settings.clone()).to_string();
    let mut child = tokio::process::Command::new(exe)
        .args(["--no-httpd", "--workdir"])
        .arg(dir)
        .args(args)
        .args(["--set", &settings])
        .env(EXPORT_ENV, dir)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start its process: {e}"))?;
    let ready = dir.join(".ready");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            return Ok((child, text.lines().map(str::to_owned).collect()));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("its process exited ({status}) before serving"));
        }
        if tokio::time::Instant::now() > deadline {
            return Err("its process did not serve within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Parent side: runs a child binder (`PATH?isolate`, or all the C bindings
/// with `--isolate-bindings`), imports its APIs, and restarts the child
/// whenever it dies.
async fn isolate(registry: &Arc<Registry>, child_of: Isolated, n: usize) -> Result<(), String> {
    let Isolated { label, args } = child_of;
    let dir = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join(format!(".afb-isolated-{}-{n}", std::process::id()));
    let err = |e: String| format!("{label}: {e}");
    let (mut child, apis) = spawn_child(registry, &args, &dir).await.map_err(err)?;
    let opts = WsapiOptions {
        call_timeout: registry.config().api_timeout,
        ..WsapiOptions::default()
    };
    for api in &apis {
        let uri = format!("unix:{}/{api}", dir.display());
        afb_wsapi::import(registry, &uri, opts.clone()).map_err(|e| err(e.to_string()))?;
    }
    tracing::info!(
        "{label} isolated in process {}: APIs {}",
        child.id().unwrap_or(0),
        apis.join(", ")
    );
    let registry = registry.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let status = child.wait().await;
            tracing::error!(
                "the process of isolated {label} ended ({}): its calls in progress are answered disconnected; restarting it",
                status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
            );
            loop {
                tokio::time::sleep(backoff).await;
                match spawn_child(&registry, &args, &dir).await {
                    Ok((c, _)) => {
                        child = c;
                        backoff = Duration::from_millis(100);
                        break;
                    }
                    Err(e) => {
                        tracing::error!("restarting isolated {label}: {e}");
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        }
    });
    Ok(())
}
