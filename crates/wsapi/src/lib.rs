//! wsapi transport: export a local API on a socket (`--ws-server`) and
//! import a remote API (`--ws-client`), so that several binder processes
//! form one API space. The bytes are those of `afb-wsapi-codec`; the
//! protocol is described in `docs/protocols/wsapi-v1.md`.
//!
//! - [`serve`] / [`serve_listener`]: the server stub (`server` module), one
//!   link per connected peer;
//! - [`import`]: the client stub (`client` module), an [`ApiImpl`] that
//!   connects lazily and forwards requests;
//! - [`auto_api`]: the `--auto-api DIR` resolver;
//! - [`WsapiUri`]: what wsapi accepts of a socket URI (`afb-endpoint`
//!   parses it, binds and connects).
//!
//! Each link is one task (`link` module) that reads frames, dispatches
//! messages and writes the outgoing queue (`outbox` module) in batches.
//!
//! Choices where the spec is silent:
//! - A server link accepts nothing before the version offer `V` (the C
//!   clients always send it first); anything else first is a protocol error.
//!   A link that sends no `V` within [`WsapiOptions::hello_timeout`] is closed
//!   (1008). A repeated `V` is answered again.
//! - Protocol errors (undecodable message, unknown code, message of the wrong
//!   direction, session or token id 0 declared, session uuid over 256 bytes,
//!   token over 4096 bytes, more than 4 MiB of declarations, more than 4095
//!   calls in progress) close the link with 1002 and a log line; a text frame
//!   with 1003; a message over `max_message` with 1009. A call beyond
//!   [`WsapiOptions::max_inflight`] (when set below 4095) is answered
//!   `not-available` and the link stays.
//! - Forgetting an undeclared session or token id, `U` of an unknown event:
//!   ignored with a log line. A token id never declared means "no token" (as
//!   the C server does). Re-declaring an id replaces it.
//! - `U` makes the server drop the event on that link and send `e`, so the
//!   client forgets its mirror (as the C binders do); a later subscription
//!   announces it again with `E`.
//! - `user_creds` are honoured only from a unix peer running as our uid or
//!   root; otherwise the calls carry the link's peer credentials (unix) or none.
//! - Client: more than 4095 outstanding calls -> the call fails at once with
//!   `not-available`, info `busy: ...`. A call past
//!   [`WsapiOptions::call_timeout`] is answered `timeout` locally; its id stays
//!   reserved until the late reply comes (dropped), and a link with more than
//!   2047 such calls is closed. Events pushed to nobody here get `U`.
//! - A renewed token (`RENEW` verb on the remote side) cannot travel back:
//!   wsapi v1 replies have no token field.
//!
//! [`ApiImpl`]: afb_core::ApiImpl

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod client;
mod link;
mod server;
pub mod uri;

use std::borrow::Cow;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use afb_core::{ApiDecl, ApiResolver, Registry};
pub use afb_endpoint::UriError;
use afb_endpoint::{Connector, ListenOptions, Listener};
use afb_link::peer_of;
pub use afb_wsapi_codec::MAX_PENDING;
use tokio_util::sync::CancellationToken;

pub use uri::WsapiUri;

/// Settings of wsapi links.
#[derive(Debug, Clone)]
pub struct WsapiOptions {
    /// Largest message accepted (`--ws-maxlen`), all fragments together;
    /// a bigger one closes the link with 1009.
    pub max_message: usize,
    /// How long a call through a link may wait for its reply (on top of the
    /// registry's own request timeout); `None`: no limit.
    pub call_timeout: Option<Duration>,
    /// Bytes a link may hold waiting to be sent; a peer that does not read
    /// past this bound is disconnected. One message always fits.
    pub max_queued: usize,
    /// A server link that has not offered its version (`V`) within this
    /// time is closed; `None`: no limit.
    pub hello_timeout: Option<Duration>,
    /// When set, servers accept only unix-socket peers running as one of
    /// these uids (TCP peers are then refused).
    pub allow_uids: Option<Vec<u32>>,
    /// Permissions given to a server's unix socket file (e.g. `0o660`);
    /// `None`: as the umask makes them.
    pub socket_mode: Option<u32>,
    /// Calls (and descriptions) one server link runs at once
    /// (`--wsapi-max-inflight`, at most [`MAX_PENDING`]); beyond, a call is
    /// answered `not-available` at once. More than [`MAX_PENDING`] is a
    /// protocol error (the peer ignores the protocol's own bound).
    pub max_inflight: usize,
    /// Distinct events one server link relays at once (`--subscriptions-max`,
    /// at most 65535); beyond, a subscription fails.
    pub max_events: usize,
}

impl Default for WsapiOptions {
    fn default() -> Self {
        WsapiOptions {
            max_message: 1_048_500,
            call_timeout: Some(Duration::from_secs(20)),
            max_queued: 16 << 20,
            hello_timeout: Some(Duration::from_secs(30)),
            allow_uids: None,
            socket_mode: None,
            max_inflight: MAX_PENDING,
            max_events: 4096,
        }
    }
}

/// A wsapi failure (bad URI, socket error, protocol error).
pub use afb_link::Error as WsapiError;

/// A running `--ws-server` export.
#[derive(Debug)]
pub struct ServerHandle {
    /// The exported API.
    pub api: String,
    /// Where it listens (`tcp:ADDR:PORT`, `unix:PATH`, `unix:@NAME`, `sd:NAME (...)`).
    pub address: String,
    /// The TCP port listened on (useful with port 0), `None` for unix sockets.
    pub port: Option<u16>,
}

/// `s` with its NUL bytes replaced (the peer reads C strings).
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if s.as_bytes().contains(&0) {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Exports the local API named by `uri` (`unix:/path/API`, `unix:@name/API`,
/// `tcp:HOST:PORT/API`, `sd:NAME[/API]`) until `shutdown` is cancelled.
/// Returns once the socket listens; cancelling `shutdown` stops accepting,
/// closes every link (their running calls are cancelled) and removes the
/// socket file.
pub async fn serve(
    registry: Arc<Registry>,
    uri: &str,
    opts: WsapiOptions,
    shutdown: CancellationToken,
) -> Result<ServerHandle, WsapiError> {
    let u = WsapiUri::parse(uri)?;
    if registry.find_api(&u.api).is_none() {
        return Err(WsapiError(format!("--ws-server {uri}: no API {:?} to export", u.api)));
    }
    let listen = ListenOptions {
        socket_mode: opts.socket_mode,
    };
    let listener = Listener::bind(&u.socket, &listen)
        .await
        .map_err(|e| WsapiError(format!("--ws-server {uri}: {e}")))?;
    Ok(start_server(registry, u.api, listener, opts, shutdown))
}

/// Exports API `api` on an already bound listening socket (`sd:NAME`,
/// socket activation), unix or TCP.
pub async fn serve_listener(
    registry: Arc<Registry>,
    listener: std::os::fd::OwnedFd,
    api: &str,
    opts: WsapiOptions,
    shutdown: CancellationToken,
) -> Result<ServerHandle, WsapiError> {
    afb_core::name::validate_api_name(api).map_err(|e| WsapiError(format!("--ws-server sd: {e}")))?;
    if registry.find_api(api).is_none() {
        return Err(WsapiError(format!("--ws-server sd: no API {api:?} to export")));
    }
    let listener = Listener::from_fd(listener).map_err(|e| WsapiError(format!("--ws-server sd: for {api}: {e}")))?;
    Ok(start_server(registry, api.to_owned(), listener, opts, shutdown))
}

fn start_server(
    registry: Arc<Registry>,
    api: String,
    listener: Listener,
    opts: WsapiOptions,
    shutdown: CancellationToken,
) -> ServerHandle {
    let handle = ServerHandle {
        api: api.clone(),
        address: listener.to_string(),
        port: listener.port(),
    };
    tracing::info!(api = %api, "wsapi: serving API {api} on {listener}");
    let what = format!("wsapi: serving API {api}");
    let api: Arc<str> = api.into();
    let opts = Arc::new(opts);
    afb_link::accept::accept_loop(listener, shutdown.clone(), what, move |stream, info| {
        let peer = peer_of(&info);
        if let Some(allowed) = &opts.allow_uids {
            if !peer
                .creds
                .as_ref()
                .is_some_and(|c| c.has_process() && allowed.contains(&c.uid))
            {
                tracing::warn!(api = %api, peer = %peer.label, "wsapi: peer not allowed: connection refused");
                return;
            }
        }
        let (registry, api, opts, stop) = (registry.clone(), api.clone(), opts.clone(), shutdown.clone());
        tokio::spawn(async move {
            let (rd, wr) = stream.into_split();
            server::serve_link(rd, wr, registry, api, peer, &opts, &stop).await;
        });
    });
    handle
}

/// Imports the remote API of `uri` (`?as-api=NAME` renames it) into the
/// registry; returns the local API name. Connection is made lazily, by the
/// first call.
pub fn import(registry: &Arc<Registry>, uri: &str, opts: WsapiOptions) -> Result<String, WsapiError> {
    let u = WsapiUri::parse(uri)?;
    let connector = Connector::new(&u.socket).map_err(|e| WsapiError(format!("--ws-client {uri}: {}", e.reason)))?;
    let name = u.api;
    let mut decl = ApiDecl::new(
        name.clone(),
        Arc::new(client::ImportedApi::new(registry, name.clone(), connector, uri, opts)),
    );
    decl.info = format!("imported from {uri}");
    registry
        .add_api(decl)
        .map_err(|e| WsapiError(format!("--ws-client {uri}: {e}")))?;
    Ok(name)
}

/// The `--auto-api DIR` resolver: an unknown API `X` is imported from
/// `unix:DIR/X` when that socket exists.
pub fn auto_api(dir: PathBuf, opts: WsapiOptions) -> Arc<dyn ApiResolver> {
    Arc::new(AutoApi { dir, opts })
}

struct AutoApi {
    dir: PathBuf,
    opts: WsapiOptions,
}

impl ApiResolver for AutoApi {
    fn resolve(&self, registry: &Arc<Registry>, name: &str) -> Option<ApiDecl> {
        afb_core::name::validate_api_name(name).ok()?;
        if name.starts_with('.') {
            return None;
        }
        let path = self.dir.join(name);
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.file_type().is_socket() {
            return None;
        }
        let text = format!("unix:{}", path.display());
        let connector = Connector::unix(path);
        tracing::info!("auto-api: importing {name} from {text}");
        let mut decl = ApiDecl::new(
            name,
            Arc::new(client::ImportedApi::new(
                registry,
                name.to_owned(),
                connector,
                &text,
                self.opts.clone(),
            )),
        );
        decl.info = format!("imported from {text}");
        Some(decl)
    }
}
