//! The accepting side: `--rpc-server` (one link per accepted peer, each
//! with the server's export list) and HTTP connections upgraded to RPC
//! (`x-afb-rpc`, `x-afb-ws-rpc`: every public API, the upgrade request's
//! session and token as defaults). A server URI with `import=` declares
//! those APIs at start; they call through the latest accepted link.

use std::sync::Arc;

use afb_core::{Credentials, Registry, Session};
use afb_endpoint::{ListenOptions, Listener};
use afb_link::accept::accept_loop;
use afb_link::peer::my_uid;
use afb_link::{peer_of, Peer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::client::{declare_imports, Channel};
use crate::framing::{self, Framing, LinkDriver, Opened, Role};
use crate::link::{Link, LinkSetup};
use crate::spec::{Exports, RpcSpec, Side};
use crate::{RpcError, RpcOptions};

/// A running `--rpc-server`.
#[derive(Debug)]
pub struct ServerHandle {
    /// The local APIs exported by name.
    pub exports: Vec<String>,
    /// Where it listens.
    pub address: String,
    /// The TCP port listened on (useful with port 0), `None` for unix sockets.
    pub port: Option<u16>,
}

/// Runs an opened link until it ends; `after` runs when it ended, before
/// its cleanup.
pub(crate) fn spawn_link<R, W>(
    link: Arc<Link>,
    rd: R,
    wr: W,
    opened: Opened,
    after: impl FnOnce(&Arc<Link>) + Send + 'static,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(run_link(link, rd, wr, opened, after));
}

async fn run_link<R, W>(link: Arc<Link>, rd: R, wr: W, opened: Opened, after: impl FnOnce(&Arc<Link>))
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    link.opened();
    let (mut driver, leftover) = LinkDriver::new(link.clone(), opened);
    let early = if leftover.is_empty() {
        None
    } else {
        afb_link::Driver::input(&mut driver, &leftover, &link.out).err()
    };
    let end = match early {
        Some(end) => end,
        None => afb_link::run(rd, wr, &link.out, &mut driver).await,
    };
    after(&link);
    link.ended(&end);
}

/// Accepts one peer: the version exchange, then the link.
#[allow(clippy::too_many_arguments)]
async fn accept<R, W>(
    registry: Arc<Registry>,
    mut rd: R,
    mut wr: W,
    setup: LinkSetup,
    opts: Arc<RpcOptions>,
    stop: CancellationToken,
    imports: Option<Arc<Channel>>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let opened = tokio::select! {
        _ = stop.cancelled() => return,
        r = framing::open(&mut rd, &mut wr, setup.framing, Role::Acceptor, opts.hello_timeout, opts.max_ws_message) => r,
    };
    let opened = match opened {
        Ok(o) => o,
        Err(why) => {
            tracing::warn!(peer = %setup.label, "RPC link refused: {why}");
            return;
        }
    };
    tracing::debug!(peer = %setup.label, "RPC link opened");
    let _observed = registry.hooks().connection(afb_core::Transport::Rpc);
    let link = Link::new(&registry, setup, opts, stop.child_token());
    if let Some(ch) = &imports {
        ch.adopt(&link);
    }
    run_link(link, rd, wr, opened, move |link| {
        if let Some(ch) = imports {
            ch.lost(link);
        }
    })
    .await;
}

/// Serves `spec` (`--rpc-server`) until `shutdown` is cancelled. Returns
/// once the socket listens; fails when an exported API does not exist, when
/// an imported one does, or when the socket cannot be listened on.
pub async fn serve(
    registry: Arc<Registry>,
    spec: &str,
    opts: RpcOptions,
    shutdown: CancellationToken,
) -> Result<ServerHandle, RpcError> {
    let s = RpcSpec::parse(spec, Side::Server)?;
    let exports: Vec<String> = s.exports.locals().map(str::to_owned).collect();
    for api in &exports {
        if registry.get_api(api).is_none() {
            return Err(RpcError(format!("--rpc-server {spec}: no API {api:?} to export")));
        }
    }
    let opts = Arc::new(opts);
    let framing = if s.socket.prefixes.ws() {
        Framing::Ws
    } else {
        Framing::Raw
    };
    let listen = ListenOptions {
        socket_mode: opts.socket_mode,
    };
    let listener = Listener::bind(&s.socket, &listen)
        .await
        .map_err(|e| RpcError(format!("--rpc-server {spec}: {e}")))?;
    let imports = if s.imports.is_empty() {
        None
    } else {
        let ch = Channel::new(&registry, &s, None, framing, opts.clone());
        declare_imports(&registry, &s, &ch).map_err(|e| RpcError(format!("--rpc-server {spec}: {e}")))?;
        Some(ch)
    };
    let handle = ServerHandle {
        exports,
        address: listener.to_string(),
        port: listener.port(),
    };
    tracing::info!("RPC: serving {spec} on {listener}");
    let spec_exports = Arc::new(s.exports);
    let text = spec.to_owned();
    let what = format!("RPC server {spec}");
    accept_loop(listener, shutdown.clone(), what, move |stream, info| {
        let peer = peer_of(&info);
        let setup = LinkSetup {
            label: format!("{text} {}", peer.label),
            framing,
            peer,
            exports: spec_exports.clone(),
            session: None,
            token: None,
        };
        let (rd, wr) = stream.into_split();
        let (registry, opts, stop, imports) = (registry.clone(), opts.clone(), shutdown.clone(), imports.clone());
        tokio::spawn(accept(registry, rd, wr, setup, opts, stop, imports));
    });
    Ok(handle)
}

/// Who made an HTTP connection upgraded to RPC.
#[derive(Debug, Clone)]
pub struct Upgraded {
    /// The session of the upgrade request: the default of calls naming none.
    pub session: Arc<Session>,
    /// Its token: the default of calls naming none.
    pub token: Option<Arc<str>>,
    /// The HTTP connection's peer credentials (unix sockets).
    pub creds: Option<Credentials>,
    /// The HTTP connection's peer address (TCP).
    pub remote: Option<std::net::SocketAddr>,
}

/// Serves an HTTP connection upgraded to RPC (`x-afb-rpc`: [`Framing::Raw`];
/// `x-afb-ws-rpc`: [`Framing::Ws`]) until it ends: the peer offers the
/// version, then may call every public API (it must name them: there is no
/// default API).
pub async fn serve_upgraded<I>(
    registry: Arc<Registry>,
    io: I,
    framing: Framing,
    client: Upgraded,
    opts: Arc<RpcOptions>,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Send + 'static,
{
    let creds = client.creds.map(Arc::new);
    let trusted = creds.as_ref().is_some_and(|c| c.uid == 0 || Some(c.uid) == my_uid());
    let peer = Peer {
        label: format!(
            "HTTP {} upgrade",
            if framing == Framing::Ws {
                "x-afb-ws-rpc"
            } else {
                "x-afb-rpc"
            }
        ),
        creds,
        trusted,
        remote: client.remote,
    };
    let setup = LinkSetup {
        label: peer.label.clone(),
        framing,
        peer,
        exports: Arc::new(Exports::all_public()),
        session: Some(client.session),
        token: client.token,
    };
    let (rd, wr) = tokio::io::split(io);
    accept(registry, rd, wr, setup, opts, shutdown, None).await;
}
