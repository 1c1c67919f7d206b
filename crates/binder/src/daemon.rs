//! Start-up and life of the daemon, in this order: directories, token,
//! settings and environment (before any thread exists); then, in the
//! runtime: register the APIs, start them (a failing `init` stops the
//! daemon), listen (HTTP, `--ws-server`, `--rpc-server`), run the `--call`s, notify systemd
//! (`READY=1`), start `--exec`; then serve until SIGTERM/SIGINT, an exit
//! request (`hello/exit`) or the end of the `--exec` child, and shut down
//! gracefully. SIGHUP reloads the TLS material ([`crate::tls::reload`])
//! and the policy file of `--permissions policy:FILE`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use afb_core::{ApiDecl, ApiResolver, Args, Call, Client, LogLevel, Registry, RegistryConfig, SessionConfig};
use afb_endpoint::{Address, ListenOptions, Listener};
use afb_http::origin::OriginPolicy;
use afb_http::ws::WsConfig;
use afb_http::{HttpConfig, HttpServer, Limits};
use afb_wsapi::WsapiOptions;
use serde_json::{Map, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::listen;
use crate::logging::LevelSource;
use crate::options::Options;
use crate::{exec, monitor, sys, Samples};

/// Everything decided before the runtime starts.
pub(crate) struct Prepared {
    opts: Options,
    level: LogLevel,
    token: Option<String>,
    workdir: PathBuf,
    rootdir: PathBuf,
    uploaddir: PathBuf,
    settings: Map<String, Value>,
    calls: Vec<(String, String, Args)>,
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Why a `--set` value was refused (each message names the value).
#[derive(Debug)]
pub enum SetError {
    /// Neither `[API]/[KEY]:JSON` nor a JSON object.
    Syntax(String),
    /// Starts with `{` but is not a JSON object.
    NotObject(String),
    /// An API's settings are not an object (a value set before).
    SettingsNotObject {
        /// The `--set` value.
        arg: String,
        /// The API (`*`: every API).
        api: String,
    },
    /// Whole settings given as something else than an object.
    WholeNotObject {
        /// The `--set` value.
        arg: String,
        /// The API (`*`: every API).
        api: String,
        /// What was given.
        value: Value,
    },
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::Syntax(s) => write!(f, "--set {s}: expected [API]/[KEY]:JSON or {{\"API\":{{...}}}}"),
            SetError::NotObject(s) => write!(f, "--set {s}: not a JSON object"),
            SetError::SettingsNotObject { arg, api } => write!(f, "--set {arg}: settings of {api} are not an object"),
            SetError::WholeNotObject { arg, api, value } => {
                write!(f, "--set {arg}: settings of {api} must be a JSON object, not {value}")
            }
        }
    }
}

impl std::error::Error for SetError {}

/// Adds one `--set` value to the settings: `API/KEY:JSON`, `/KEY:JSON`
/// (every API), `API/:JSON` or `API:JSON` (an object merged into API's
/// settings), or a JSON object `{"API":{...}}`. A value that is not JSON is
/// taken as a string.
pub fn parse_set(s: &str, into: &mut Map<String, Value>) -> Result<(), SetError> {
    let merge = |into: &mut Map<String, Value>, api: &str, key: Option<&str>, v: Value| {
        let api = if api.is_empty() { "*" } else { api };
        let slot = into.entry(api.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(m) = slot else {
            return Err(SetError::SettingsNotObject {
                arg: s.to_owned(),
                api: api.to_owned(),
            });
        };
        match (key, v) {
            (Some(k), v) => {
                m.insert(k.to_owned(), v);
            }
            (None, Value::Object(o)) => m.extend(o),
            (None, value) => {
                return Err(SetError::WholeNotObject {
                    arg: s.to_owned(),
                    api: api.to_owned(),
                    value,
                })
            }
        }
        Ok(())
    };
    let t = s.trim();
    if t.starts_with('{') {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(t) else {
            return Err(SetError::NotObject(s.to_owned()));
        };
        for (api, v) in o {
            merge(into, &api, None, v)?;
        }
        return Ok(());
    }
    let (path, json) = t.split_once(':').ok_or_else(|| SetError::Syntax(s.to_owned()))?;
    let value = serde_json::from_str::<Value>(json).unwrap_or_else(|_| Value::String(json.to_owned()));
    let (api, key) = match path.split_once('/') {
        Some((api, key)) => (api, Some(key).filter(|k| !k.is_empty())),
        None => (path, None),
    };
    merge(into, api, key, value)
}

/// Why a `--call` value was refused (each message names the value).
#[derive(Debug)]
pub enum CallError {
    /// Not `API/VERB[:JSON]`.
    Syntax(String),
    /// The argument is not JSON.
    Json {
        /// The `--call` value.
        arg: String,
        /// Why.
        error: serde_json::Error,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Syntax(s) => write!(f, "--call {s}: expected API/VERB:JSON"),
            CallError::Json { arg, error } => write!(f, "--call {arg}: bad JSON: {error}"),
        }
    }
}

impl std::error::Error for CallError {}

/// Parses a `--call API/VERB:JSON` (no `:JSON`: no argument).
pub fn parse_call(s: &str) -> Result<(String, String, Args), CallError> {
    let (target, json) = match s.split_once(':') {
        Some((t, j)) => (t, Some(j)),
        None => (s, None),
    };
    let (api, verb) = target
        .split_once('/')
        .filter(|(a, v)| !a.is_empty() && !v.is_empty())
        .ok_or_else(|| CallError::Syntax(s.to_owned()))?;
    let args = match json.map(str::trim).filter(|j| !j.is_empty()) {
        Some(j) => Args::from_json_str(j).map_err(|error| CallError::Json {
            arg: s.to_owned(),
            error,
        })?,
        None => Args::null(),
    };
    Ok((api.to_owned(), verb.to_owned(), args))
}

/// Decides everything that must be known before threads exist: creates
/// the working and upload directories, moves to the working directory,
/// picks the token, parses settings and calls, takes the activation
/// sockets and exports `AFB_*` variables.
pub(crate) fn prepare(mut opts: Options, level: LogLevel) -> Result<Prepared, String> {
    // Binding paths are relative to the directory the daemon was started in.
    let launch = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    let abs = |s: &str| absolute(&launch, Path::new(s)).display().to_string();
    opts.binding = opts.binding.iter().map(|b| abs(b)).collect();
    for list in [&mut opts.ldpaths, &mut opts.weak_ldpaths] {
        *list = list
            .iter()
            .map(|l| l.split(':').map(abs).collect::<Vec<_>>().join(":"))
            .collect();
    }
    std::fs::create_dir_all(&opts.workdir)
        .map_err(|e| format!("--workdir {}: cannot create it: {e}", opts.workdir.display()))?;
    std::env::set_current_dir(&opts.workdir)
        .map_err(|e| format!("--workdir {}: cannot enter it: {e}", opts.workdir.display()))?;
    let workdir = std::env::current_dir().map_err(|e| format!("working directory: {e}"))?;
    let rootdir = opts
        .rootdir
        .as_deref()
        .map_or_else(|| workdir.clone(), |r| absolute(&workdir, r));
    if !rootdir.is_dir() {
        return Err(format!("--rootdir {}: not a directory", rootdir.display()));
    }
    let uploaddir = opts
        .uploaddir
        .as_deref()
        .map_or_else(|| workdir.clone(), |u| absolute(&workdir, u));
    std::fs::create_dir_all(&uploaddir)
        .map_err(|e| format!("--uploaddir {}: cannot create it: {e}", uploaddir.display()))?;
    let token = match (&opts.token, opts.random_token) {
        (Some(t), _) => Some(t.clone()),
        (None, true) => Some(uuid::Uuid::new_v4().hyphenated().to_string()),
        (None, false) => None,
    };
    let mut settings = Map::new();
    for s in &opts.set {
        parse_set(s, &mut settings).map_err(|e| e.to_string())?;
    }
    let calls = opts
        .call
        .iter()
        .map(|c| parse_call(c).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    afb_endpoint::provide_systemd_sockets(sys::take_activation_fds());
    // Exported to bindings and to the --exec child. No other thread exists
    // yet, so changing the environment races with nothing.
    std::env::set_var("AFB_PORT", opts.port.to_string());
    std::env::set_var("AFB_WORKDIR", &workdir);
    std::env::set_var("AFB_ROOTDIR", &rootdir);
    if let Some(t) = &token {
        std::env::set_var("AFB_TOKEN", t);
    }
    if let Some(n) = &opts.name {
        std::env::set_var("AFB_NAME", n);
    }
    Ok(Prepared {
        opts,
        level,
        token,
        workdir,
        rootdir,
        uploaddir,
        settings,
        calls,
    })
}

/// Several `--auto-api` resolvers, tried in order.
struct Resolvers(Vec<Arc<dyn ApiResolver>>);

impl ApiResolver for Resolvers {
    fn resolve(&self, registry: &Arc<Registry>, name: &str) -> Option<ApiDecl> {
        self.0.iter().find_map(|r| r.resolve(registry, name))
    }
}

/// What must be undone at exit.
#[derive(Default)]
struct Running {
    http: Option<HttpServer>,
    child: Option<tokio::process::Child>,
}

async fn listen_http(
    p: &Prepared,
    registry: &Arc<Registry>,
    ws_shutdown: CancellationToken,
    extra_assets: Vec<(&'static str, &'static [u8])>,
    rpc: crate::rpc::HttpRpc,
) -> Result<Running, String> {
    let o = &p.opts;
    let mut running = Running::default();
    if o.no_httpd {
        if !o.interface.is_empty() {
            tracing::warn!("--no-httpd: the --interface options are ignored");
        }
        return Ok(running);
    }
    let aliases = o
        .alias
        .iter()
        .map(|a| {
            a.split_once(':')
                .map(|(prefix, dir)| (prefix.to_owned(), absolute(&p.rootdir, Path::new(dir))))
                .ok_or_else(|| format!("--alias {a}: expected /PREFIX:DIR"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = HttpConfig {
        port: o.port,
        rootapi: o.rootapi.clone(),
        rootbase: o.rootbase.clone(),
        roothttp: o.roothttp.as_deref().map(|r| absolute(&p.rootdir, r)),
        aliases,
        extra_assets,
        cache_eol: o.cache_eol,
        upload_dir: p.uploaddir.clone(),
        limits: Limits {
            max_body: o.http_max_body,
            max_upload: o.http_max_upload,
            max_header: o.http_max_header as usize,
            max_url: o.http_max_url as usize,
            ..Limits::default()
        },
        ws: WsConfig {
            max_message: o.ws_maxlen,
            max_inflight: usize::try_from(o.ws_max_inflight).unwrap_or(usize::MAX),
            send_queue: usize::try_from(o.ws_send_queue).unwrap_or(usize::MAX),
            max_subscriptions: usize::try_from(o.subscriptions_max).unwrap_or(usize::MAX),
            shutdown: ws_shutdown,
            drain_until: None, // the HTTP server's grace period
        },
        origins: OriginPolicy::new(o.allowed_origin.clone()),
        secure_cookie: o.https,
    };
    let http = HttpServer::new(registry.clone(), config).map_err(|e| e.to_string())?;
    http.set_rpc_upgrade(Arc::new(rpc));
    let interfaces = o
        .interface
        .iter()
        .map(|i| listen::parse_interface(i).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let port_taken = interfaces
        .iter()
        .any(|i| matches!(i.address, Address::Tcp { port, .. } if port == o.port));
    let mut listeners = if port_taken {
        Vec::new()
    } else {
        listen::loopback(o.port).await?
    };
    for i in interfaces {
        let l = Listener::bind(&i, &ListenOptions::default())
            .await
            .map_err(|e| format!("--interface {i}: {e}"))?;
        listeners.push(l);
    }
    let https = crate::tls::https_server(o, afb_http::server::alpn_protocols())?;
    for l in listeners {
        match &https {
            Some(tls) => {
                let l = l.into_tls(tls.clone());
                tracing::info!("HTTPS listening on {l}");
                http.serve(l);
            }
            None => {
                tracing::info!("HTTP listening on {l}");
                http.serve(l);
            }
        }
    }
    running.http = Some(http);
    Ok(running)
}

async fn start_ws_servers(
    p: &Prepared,
    registry: &Arc<Registry>,
    opts: &WsapiOptions,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    for uri in &p.opts.ws_server {
        let handle = afb_wsapi::serve(registry.clone(), uri, opts.clone(), shutdown.clone()).await;
        let h = handle.map_err(|e| format!("--ws-server {uri}: {e}"))?;
        tracing::info!("exporting API {} over wsapi on {}", h.api, h.address);
    }
    Ok(())
}

async fn run_calls(p: &mut Prepared, registry: &Arc<Registry>) -> Result<(), String> {
    if p.calls.is_empty() {
        return Ok(());
    }
    let session = registry
        .sessions()
        .create()
        .map_err(|e| format!("--call: no session: {e}"))?;
    for (api, verb, args) in std::mem::take(&mut p.calls) {
        let client = Client::new(session.clone()).with_token(p.token.as_deref().map(Arc::from));
        let call = Call::external(&api, &verb, args, client);
        let reply = registry.clone().call(call).await;
        if !reply.is_success() {
            return Err(format!(
                "--call {api}/{verb} failed: {} ({})",
                reply.status,
                reply.info.as_deref().unwrap_or("no info")
            ));
        }
        tracing::info!("--call {api}/{verb}: {}", reply.data_json().unwrap_or("success"));
    }
    Ok(())
}

fn watchdog() {
    if let Some(period) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
}

/// Why the daemon stops.
enum Stop {
    Signal(&'static str),
    ExitRequest(i32),
    Child(i32),
}

/// Runs the daemon until it stops (with `samples`: the sample APIs to
/// serve); returns the exit code.
/// The observer of the registry: the `--trace*` flags, the metrics
/// (`--metrics`, `--metrics-interface`) and `monitor/trace`.
fn observe(o: &crate::options::Options, registry: &Arc<Registry>) -> Result<Arc<crate::trace::Tracer>, String> {
    use crate::trace::{flags, Kind, LogFlags};
    let parse = |opt: &str, kind: Kind, v: &Option<String>| -> Result<u64, String> {
        v.as_deref()
            .map(|t| flags(kind, t).map_err(|e| format!("{opt} {t}: {e}")))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let log = LogFlags {
        req: parse("--tracereq", Kind::Request, &o.tracereq)?,
        evt: parse("--traceevt", Kind::Event, &o.traceevt)?,
        ses: parse("--traceses", Kind::Session, &o.traceses)?,
        api: parse("--traceapi", Kind::Api, &o.traceapi)?,
        glob: parse("--traceglob", Kind::Global, &o.traceglob)?,
    };
    if o.metrics && o.no_httpd && o.metrics_interface.is_none() {
        tracing::warn!("--metrics with --no-httpd: no listener serves /metrics (use --metrics-interface)");
    }
    let metrics = (o.metrics || o.metrics_interface.is_some()).then(|| crate::metrics::Metrics::new(registry));
    let tracer = crate::trace::Tracer::new(registry, log, metrics);
    registry.hooks().install(tracer.clone());
    tracer.receive_logs();
    Ok(tracer)
}

pub(crate) async fn run(mut p: Prepared, level_source: Arc<LevelSource>, samples: Samples) -> Result<i32, String> {
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| format!("SIGHUP handler: {e}"))?;
    let o = &p.opts;
    crate::tls::set_defaults(o);
    let config = RegistryConfig {
        api_timeout: (o.apitimeout > 0).then(|| Duration::from_secs(o.apitimeout)),
        sessions: SessionConfig {
            timeout: Duration::from_secs(o.cntxtimeout),
            max: usize::try_from(o.session_max).unwrap_or(usize::MAX),
            initial_token: p.token.clone(),
        },
        jobs_max: o.jobs_max.unwrap_or(RegistryConfig::default().jobs_max),
        settings: std::mem::take(&mut p.settings),
        log_level: p.level,
        events_per_api: usize::try_from(o.events_max).unwrap_or(usize::MAX),
        json_max_depth: usize::try_from(o.json_max_depth).unwrap_or(usize::MAX),
    };
    let registry = Registry::new(config);
    level_source.attach(&registry);
    let access = crate::access::install(&registry, o.permissions.as_deref())?;
    let verb_rules = crate::options::verb_rules(o)?;
    for r in &verb_rules {
        tracing::info!("--auth: {}/{} requires {}", r.api, r.verb, r.rule.to_json());
    }
    registry.access().set_verb_rules(verb_rules);
    if p.token.is_none() {
        tracing::warn!("no --token: token checks accept any token until a verb renews it (development mode)");
    }
    let tracer = observe(o, &registry)?;
    let wsapi_opts = WsapiOptions {
        max_message: o.ws_maxlen,
        call_timeout: match o.wsapi_timeout {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => registry.config().api_timeout,
        },
        max_queued: usize::try_from(o.wsapi_send_queue).unwrap_or(usize::MAX),
        allow_uids: (!o.wsapi_allow.is_empty()).then(|| o.wsapi_allow.clone()),
        socket_mode: o.ws_server_mode.as_deref().map(crate::options::mode_bits).transpose()?,
        max_inflight: usize::try_from(o.wsapi_max_inflight).unwrap_or(usize::MAX),
        max_events: usize::try_from(o.subscriptions_max).unwrap_or(usize::MAX),
        ..WsapiOptions::default()
    };
    if wsapi_opts.allow_uids.is_some()
        && o.ws_server
            .iter()
            .any(|u| !u.starts_with("unix:") && !u.starts_with("sd:"))
    {
        tracing::warn!("--wsapi-allow: TCP --ws-server exports refuse every peer (only unix peers have a uid)");
    }

    // APIs.
    let register = |b: afb_sdk::ApiBuilder| {
        let name = b.name().to_owned();
        b.register(&registry)
            .map(|_| ())
            .map_err(|e| format!("API {name}: {e}"))
    };
    register(monitor::api(Some(tracer.clone())))?;
    let (sample_apis, sample_files) = samples.into_parts();
    for api in sample_apis {
        register(api)?;
    }
    for uri in &o.ws_client {
        let name =
            afb_wsapi::import(&registry, uri, wsapi_opts.clone()).map_err(|e| format!("--ws-client {uri}: {e}"))?;
        tracing::info!("API {name} imported from {uri}");
    }
    let rpc_opts = crate::rpc::options(&wsapi_opts);
    crate::rpc::import_all(&registry, &o.rpc_client, &rpc_opts);
    if !o.auto_api.is_empty() {
        let resolvers = o
            .auto_api
            .iter()
            .map(|d| afb_wsapi::auto_api(absolute(&p.workdir, d), wsapi_opts.clone()))
            .collect();
        registry.set_resolver(Arc::new(Resolvers(resolvers)));
    }
    let zenoh_joined = crate::zenoh::join(o, &registry).await?;
    let c_bindings = crate::bindings::ToLoad {
        bindings: o.binding.iter().map(PathBuf::from).collect(),
        ldpaths: o.ldpaths.clone(),
        weak_ldpaths: o.weak_ldpaths.clone(),
        isolate_all: o.isolate_bindings,
    };
    crate::bindings::load(&registry, c_bindings).await?;
    registry.start().await.map_err(|e| e.to_string())?;

    // Listen.
    let shutdown = CancellationToken::new();
    let http_rpc = crate::rpc::HttpRpc {
        registry: registry.clone(),
        opts: Arc::new(rpc_opts.clone()),
        shutdown: shutdown.child_token(),
    };
    let mut running = listen_http(&p, &registry, shutdown.child_token(), sample_files, http_rpc).await?;
    if let Some(h) = &running.http {
        h.set_documents(Arc::new(crate::catalogue::Docs {
            registry: registry.clone(),
            metrics: tracer.metrics().filter(|_| p.opts.metrics).cloned(),
            rootapi: p.opts.rootapi.trim_end_matches('/').to_owned(),
        }));
    }
    if let (Some(uri), Some(m)) = (&p.opts.metrics_interface, tracer.metrics()) {
        crate::catalogue::serve_metrics(uri, m.clone(), shutdown.child_token()).await?;
    }
    start_ws_servers(&p, &registry, &wsapi_opts, &shutdown).await?;
    crate::rpc::serve_all(&registry, &p.opts.rpc_server, &rpc_opts, &shutdown).await?;
    let _zenoh = crate::zenoh::export(zenoh_joined, &registry).await?;

    // Start-up calls, readiness, child.
    let result = async {
        run_calls(&mut p, &registry).await?;
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
            tracing::warn!("cannot notify systemd: {e}");
        }
        watchdog();
        tracing::info!("ready (APIs: {})", registry.api_names().join(", "));
        if !p.opts.exec.is_empty() {
            let token = p.token.as_deref().unwrap_or("");
            let mut env = vec![
                ("AFB_PORT", p.opts.port.to_string()),
                ("AFB_WORKDIR", p.workdir.display().to_string()),
                ("AFB_ROOTDIR", p.rootdir.display().to_string()),
            ];
            if let Some(t) = &p.token {
                env.push(("AFB_TOKEN", t.clone()));
            }
            if let Some(n) = &p.opts.name {
                env.push(("AFB_NAME", n.clone()));
            }
            running.child = Some(exec::spawn(&p.opts.exec, p.opts.port, token, &env)?);
        }
        Ok::<(), String>(())
    }
    .await;

    let stop = match result {
        Err(e) => Err(e),
        Ok(()) => {
            let mut exit_rx = registry.exit_requests();
            let child = &mut running.child;
            Ok(loop {
                tokio::select! {
                    _ = sighup.recv() => {
                        crate::tls::reload();
                        crate::access::reload(&access);
                    }
                    _ = sigterm.recv() => break Stop::Signal("SIGTERM"),
                    _ = sigint.recv() => break Stop::Signal("SIGINT"),
                    r = exit_rx.wait_for(Option::is_some) => break Stop::ExitRequest(r.ok().and_then(|v| *v).unwrap_or(0)),
                    status = async {
                        match child.as_mut() {
                            Some(c) => c.wait().await,
                            None => std::future::pending().await,
                        }
                    } => break Stop::Child(status.map(exec::exit_code).unwrap_or(1)),
                }
            })
        }
    };
    let code = match &stop {
        Ok(Stop::Signal(s)) => {
            tracing::info!("{s} received: shutting down");
            0
        }
        Ok(Stop::ExitRequest(c)) => {
            tracing::info!("exit requested with code {c}");
            *c
        }
        Ok(Stop::Child(c)) => {
            tracing::info!("the --exec child exited with code {c}");
            running.child = None;
            *c
        }
        Err(_) => 1,
    };
    let grace = Duration::try_from_secs_f64(p.opts.shutdown_grace.max(0.0)).unwrap_or(Duration::from_secs(5));
    shutdown.cancel();
    if let Some(h) = &running.http {
        h.shutdown(grace).await;
    }
    if let Some(mut c) = running.child.take() {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
    stop.map(|_| code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_forms() {
        let mut m = Map::new();
        parse_set("hello/key:{\"a\":1}", &mut m).unwrap();
        parse_set("hello/text:not json", &mut m).unwrap();
        parse_set("/all:true", &mut m).unwrap();
        parse_set("auth:{\"x\":2}", &mut m).unwrap();
        parse_set("{\"tictactoe\":{\"level\":3},\"hello\":{\"more\":null}}", &mut m).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({
                "hello": {"key": {"a": 1}, "text": "not json", "more": null},
                "*": {"all": true},
                "auth": {"x": 2},
                "tictactoe": {"level": 3},
            })
        );
        let mut m = Map::new();
        assert!(parse_set("nocolon", &mut m).is_err());
        assert!(
            parse_set("hello:3", &mut m).is_err(),
            "whole settings must be an object"
        );
        assert!(parse_set("{bad", &mut m).is_err());
    }

    #[test]
    fn call_forms() {
        let (a, v, args) = parse_call("hello/ping:{\"x\":1}").unwrap();
        assert_eq!(
            (a.as_str(), v.as_str(), args.json_text()),
            ("hello", "ping", "{\"x\":1}")
        );
        let (_, v, args) = parse_call("hello/a/b").unwrap();
        assert_eq!((v.as_str(), args.json_text()), ("a/b", "null"));
        assert!(parse_call("hello").is_err());
        assert!(parse_call("/ping").is_err());
        assert!(parse_call("hello/ping:{bad").is_err());
    }

    #[test]
    fn set_and_call_errors_name_the_value() {
        let mut m = Map::new();
        let set = |s: &str, m: &mut Map<String, Value>| parse_set(s, m).unwrap_err().to_string();
        assert_eq!(
            set("nocolon", &mut m),
            "--set nocolon: expected [API]/[KEY]:JSON or {\"API\":{...}}"
        );
        assert_eq!(set("{bad", &mut m), "--set {bad: not a JSON object");
        assert_eq!(
            set("hello:3", &mut m),
            "--set hello:3: settings of hello must be a JSON object, not 3"
        );
        m.insert("x".into(), json!(1));
        assert_eq!(set("x/k:2", &mut m), "--set x/k:2: settings of x are not an object");
        let call = |s: &str| parse_call(s).unwrap_err().to_string();
        assert_eq!(call("/ping"), "--call /ping: expected API/VERB:JSON");
        assert!(call("a/b:{bad").starts_with("--call a/b:{bad: bad JSON: "));
    }
}
