//! Scale-out over Eclipse Zenoh: binders on several hosts form one API
//! space, with no link configured by hand. Zenoh does the discovery and the
//! routing (peer to peer, or through `zenohd` routers); this crate maps the
//! binder onto it (the key space is in [`keys`], the attachments in
//! [`wire`], the user guide in `docs/scale-out.md`):
//!
//! - an exported API is a queryable per binder (`NS/api/API/BINDER/*`)
//!   and a liveliness token (`NS/live/api/API/BINDER`); a call is a query
//!   whose attachment carries the session, token, LOA and credentials, run
//!   by [`afb_core::Registry::dispatch`] where the API lives, so its access
//!   rules run there;
//! - an imported API is an [`afb_core::ApiImpl`] that spreads the sessions
//!   over the live replicas (liveliness), keeps a session on its replica
//!   while that replica lives, and answers `disconnected` when the replica
//!   of a call in flight disappears;
//! - events that remote verbs subscribe local clients to are mirrored from
//!   their publications; broadcasts cross every binder once (uuid and hop
//!   count, as over wsapi).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod export;
mod import;
pub use afb_zenoh_wire::{keys, wire};

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use afb_core::event::{BroadcastMsg, PushMsg};
use afb_core::{Listener, Registry};
use zenoh::bytes::Encoding;
use zenoh::liveliness::LivelinessToken;
use zenoh::Wait;

use crate::keys::Keys;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the daemon asks of Zenoh (the `--zenoh*` options).
#[derive(Debug, Clone)]
pub struct ZenohOptions {
    /// A Zenoh JSON5 configuration file (`--zenoh-config`); `None`: Zenoh's
    /// defaults (peer mode).
    pub config: Option<PathBuf>,
    /// Endpoints to connect to (`--zenoh-connect`), added to the file's.
    pub connect: Vec<String>,
    /// Endpoints to listen on (`--zenoh-listen`), added to the file's.
    pub listen: Vec<String>,
    /// The namespace of every key (`--zenoh-namespace`).
    pub namespace: String,
    /// APIs to export (`--zenoh-export`), `*`: every public local API.
    pub export: Vec<String>,
    /// APIs to import (`--zenoh-import`), `*`: every API that appears.
    pub import: Vec<String>,
    /// How long a call waits for its reply (`None`: 10 minutes).
    pub call_timeout: Option<Duration>,
    /// How long a call of an imported API waits for a first replica to
    /// appear before it is answered `not-available`.
    pub discovery_wait: Duration,
}

impl Default for ZenohOptions {
    fn default() -> Self {
        ZenohOptions {
            config: None,
            connect: Vec::new(),
            listen: Vec::new(),
            namespace: "afb".into(),
            export: Vec::new(),
            import: Vec::new(),
            call_timeout: Some(Duration::from_secs(20)),
            discovery_wait: Duration::from_secs(3),
        }
    }
}

/// A failure to join (bad configuration, bad option, Zenoh refusing).
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// What the exports and imports of one binder share.
pub(crate) struct Shared {
    pub(crate) session: zenoh::Session,
    pub(crate) keys: Keys,
    pub(crate) registry: Weak<Registry>,
    pub(crate) opts: ZenohOptions,
    /// Names (lower case) of the APIs imported over Zenoh.
    pub(crate) imported: Mutex<HashSet<String>>,
    pub(crate) replicas: import::Replicas,
    pub(crate) mirrors: Mutex<HashMap<(String, String), Arc<import::Mirror>>>,
}

/// The binder on Zenoh: kept by the daemon while it runs (dropping it
/// leaves the network: liveliness tokens withdrawn, queryables undeclared).
pub struct ZenohHandle {
    shared: Arc<Shared>,
    _tokens: Vec<LivelinessToken>,
    _broadcaster: Arc<dyn Listener>,
    _events: Arc<export::EventPublisher>,
    exported: Vec<String>,
    stop: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for ZenohHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZenohHandle")
            .field("binder", &self.shared.keys.bid)
            .field("exported", &self.exported)
            .finish_non_exhaustive()
    }
}

impl ZenohHandle {
    /// This binder's id on the network (its Zenoh session id).
    pub fn binder_id(&self) -> &str {
        &self.shared.keys.bid
    }

    /// The APIs exported.
    pub fn exported(&self) -> &[String] {
        &self.exported
    }
}

impl Drop for ZenohHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The Zenoh configuration of `opts`: the file (or the defaults), then the
/// endpoints of the options added.
pub fn config(opts: &ZenohOptions) -> Result<zenoh::Config, Error> {
    let mut c = match &opts.config {
        Some(p) => zenoh::Config::from_file(p).map_err(|e| Error(format!("--zenoh-config {}: {e}", p.display())))?,
        None => zenoh::Config::default(),
    };
    for (key, extra, what) in [
        ("connect/endpoints", &opts.connect, "--zenoh-connect"),
        ("listen/endpoints", &opts.listen, "--zenoh-listen"),
    ] {
        if extra.is_empty() {
            continue;
        }
        let mut all: Vec<String> = c
            .get_json(key)
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<String>>(&t).ok())
            .unwrap_or_default();
        all.extend(extra.iter().cloned());
        let json = serde_json::to_string(&all).map_err(|e| Error(e.to_string()))?;
        c.insert_json5(key, &json)
            .map_err(|e| Error(format!("{what} {}: {e}", extra.join(" "))))?;
    }
    Ok(c)
}

/// Joins the Zenoh network and starts the imports (now: named ones are
/// registered; with `*`, each API as it appears). Call before the
/// registry starts; then [`export`] once the local APIs are started.
pub async fn join(registry: &Arc<Registry>, opts: ZenohOptions) -> Result<Arc<Joined>, Error> {
    keys::check_namespace(&opts.namespace).map_err(Error)?;
    let conf = config(&opts)?;
    let session = zenoh::open(conf)
        .await
        .map_err(|e| Error(format!("cannot join the Zenoh network: {e}")))?;
    let keys = Keys {
        ns: opts.namespace.clone(),
        bid: session.zid().to_string(),
    };
    tracing::info!(binder = %keys.bid, namespace = %keys.ns, "joined the Zenoh network");
    let shared = Arc::new(Shared {
        session,
        keys,
        registry: Arc::downgrade(registry),
        opts,
        imported: Mutex::new(HashSet::new()),
        replicas: import::Replicas::default(),
        mirrors: Mutex::new(HashMap::new()),
    });
    let stop = tokio_util::sync::CancellationToken::new();
    for name in shared.opts.import.iter().filter(|n| n.as_str() != "*") {
        import::register(&shared, registry, name).map_err(|e| Error(format!("--zenoh-import {name}: {e}")))?;
    }
    import::watch(&shared, stop.clone())
        .await
        .map_err(|e| Error(e.to_string()))?;
    let broadcaster: Arc<dyn Listener> = Arc::new(Broadcaster { shared: shared.clone() });
    registry.events().add_listener(&broadcaster);
    start_broadcasts(&shared, stop.clone()).await?;
    Ok(Arc::new(Joined {
        shared,
        broadcaster,
        stop,
    }))
}

/// A binder that joined, before its exports.
pub struct Joined {
    shared: Arc<Shared>,
    broadcaster: Arc<dyn Listener>,
    stop: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for Joined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined")
            .field("binder", &self.shared.keys.bid)
            .finish_non_exhaustive()
    }
}

/// Exports the APIs asked (`*`: every public API not imported over Zenoh)
/// and announces them; the handle keeps the binder on the network.
pub async fn export(joined: Arc<Joined>, registry: &Arc<Registry>) -> Result<ZenohHandle, Error> {
    let shared = joined.shared.clone();
    let mut names: Vec<String> = Vec::new();
    for n in &shared.opts.export {
        if n == "*" {
            let imported = lock(&shared.imported).clone();
            for e in registry.apis() {
                if !e.is_private() && !imported.contains(&e.name().to_ascii_lowercase()) {
                    names.push(e.name().to_owned());
                }
            }
        } else {
            match registry.get_api(n) {
                Some(e) if lock(&shared.imported).contains(&e.name().to_ascii_lowercase()) => {
                    return Err(Error(format!("--zenoh-export {n}: the API is imported over Zenoh")))
                }
                Some(e) => names.push(e.name().to_owned()),
                None => return Err(Error(format!("--zenoh-export {n}: no such API"))),
            }
        }
    }
    names.sort();
    names.dedup();
    let events = Arc::new(export::EventPublisher { shared: shared.clone() });
    let mut tokens = Vec::new();
    for api in &names {
        export::serve(&shared, registry, api, events.clone(), joined.stop.clone())
            .await
            .map_err(|e| Error(format!("--zenoh-export {api}: {e}")))?;
        let t = shared
            .session
            .liveliness()
            .declare_token(shared.keys.live_api(api))
            .await
            .map_err(|e| Error(format!("--zenoh-export {api}: {e}")))?;
        tokens.push(t);
        tracing::info!(api = %api, "exported over Zenoh");
    }
    let t = shared
        .session
        .liveliness()
        .declare_token(shared.keys.live_binder())
        .await
        .map_err(|e| Error(format!("Zenoh liveliness: {e}")))?;
    tokens.push(t);
    Ok(ZenohHandle {
        shared,
        _tokens: tokens,
        _broadcaster: joined.broadcaster.clone(),
        _events: events,
        exported: names,
        stop: joined.stop.clone(),
    })
}

/// The payload of data and its encoding: typed values as typed values when
/// they are not all JSON-like, else the JSON text.
pub(crate) fn payload_of(data: Option<&str>, typed: Option<&afb_core::typed::TypedList>) -> (Vec<u8>, Encoding) {
    match typed.filter(|t| afb_core::typed::needs_typed(t)) {
        Some(t) => (
            wire::encode_typed(t),
            Encoding::ZENOH_BYTES.with_schema(wire::TYPED_SCHEMA),
        ),
        None => (data.unwrap_or("").as_bytes().to_vec(), Encoding::APPLICATION_JSON),
    }
}

/// The JSON and the typed values of a payload received (typed values come
/// with their JSON rendering).
pub(crate) type Data = (
    Option<Box<serde_json::value::RawValue>>,
    Option<afb_core::typed::TypedList>,
);

/// Reads a payload of `encoding`: typed values, or JSON text.
pub(crate) fn data_of(bytes: &[u8], encoding: Option<&Encoding>) -> Result<Data, String> {
    if encoding.is_some_and(|e| e.to_string() == wire::TYPED) {
        let list: afb_core::typed::TypedList = wire::decode_typed(bytes)?.into();
        return Ok((afb_core::typed::json_of(&list), Some(list)));
    }
    import::json_of(bytes).map(|j| (j, None))
}

thread_local! {
    /// Set while a broadcast received from Zenoh is replayed locally: the
    /// broadcaster does not publish it again.
    static INBOUND: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Publishes the local broadcasts (those not received from Zenoh).
struct Broadcaster {
    shared: Arc<Shared>,
}

impl Listener for Broadcaster {
    fn push(&self, _msg: &PushMsg<'_>) {}

    fn broadcast(&self, msg: &BroadcastMsg<'_>) {
        if INBOUND.with(|i| i.get()) {
            return;
        }
        let Some(hop) = msg.hop.checked_sub(1) else {
            return;
        };
        let att = wire::BroadcastAtt {
            uuid: uuid::Uuid::from_bytes(msg.uuid).hyphenated().to_string(),
            hop,
            from: self.shared.keys.bid.clone(),
        };
        let Ok(att) = serde_json::to_vec(&att) else { return };
        let (payload, encoding) = payload_of(Some(msg.data.get()), msg.typed);
        let r = self
            .shared
            .session
            .put(self.shared.keys.broadcast(msg.name), payload)
            .encoding(encoding)
            .attachment(att)
            .wait();
        if let Err(e) = r {
            tracing::warn!(event = msg.name, "broadcast not published on Zenoh: {e}");
        }
    }
}

/// Replays the broadcasts of other binders locally.
async fn start_broadcasts(shared: &Arc<Shared>, stop: tokio_util::sync::CancellationToken) -> Result<(), Error> {
    let sub = shared
        .session
        .declare_subscriber(shared.keys.broadcasts())
        .await
        .map_err(|e| Error(format!("Zenoh broadcasts: {e}")))?;
    let shared = shared.clone();
    tokio::spawn(async move {
        loop {
            let sample = tokio::select! {
                _ = stop.cancelled() => break,
                s = sub.recv_async() => match s { Ok(s) => s, Err(_) => break },
            };
            on_broadcast(&shared, &sample);
        }
    });
    Ok(())
}

fn on_broadcast(shared: &Shared, sample: &zenoh::sample::Sample) {
    let key = sample.key_expr().as_str();
    let Some(name) = shared.keys.broadcast_name(key) else {
        tracing::warn!(key, "Zenoh broadcast with a malformed key: ignored");
        return;
    };
    let att: wire::BroadcastAtt = match sample.attachment().map(|a| wire::parse(&a.to_bytes())) {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            tracing::warn!(key, "Zenoh broadcast ignored: {e}");
            return;
        }
        None => {
            tracing::warn!(key, "Zenoh broadcast without attachment: ignored");
            return;
        }
    };
    if att.from == shared.keys.bid {
        return;
    }
    let Ok(uuid) = uuid::Uuid::parse_str(&att.uuid) else {
        tracing::warn!(key, "Zenoh broadcast with a bad uuid: ignored");
        return;
    };
    let payload = sample.payload().to_bytes();
    let (data, typed) = match data_of(&payload, Some(sample.encoding())) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(key, "Zenoh broadcast ignored: {e}");
            return;
        }
    };
    let Some(registry) = shared.registry.upgrade() else {
        return;
    };
    INBOUND.with(|i| i.set(true));
    registry.events().broadcast_typed(
        &name,
        data.as_deref(),
        typed.as_ref(),
        Some((*uuid.as_bytes(), att.hop)),
    );
    INBOUND.with(|i| i.set(false));
}
