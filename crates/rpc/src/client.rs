//! The calling side: each `--rpc-client` URI is one [`Channel`] (one
//! connection at a time, carrying every API of its import list), and each
//! imported API is a [`RemoteApi`], an [`ApiImpl`] whose requests travel to
//! the peer.
//!
//! The APIs are declared at start, whether the peer is there or not. A
//! connection is tried at start, then by the first call that finds none (a
//! lost connection is never retried in the background); a call that cannot
//! be sent (no peer, version refused) is answered `not-available` at once,
//! and calls waiting for replies when the link drops get `disconnected`.
//! Sessions and tokens are declared again on each new connection.

use std::sync::{Arc, Weak};

use afb_core::api::BoxFuture;
use afb_core::{status, ApiDecl, ApiImpl, ApiRef, Registry, Request};
use afb_endpoint::Connector;
use afb_link::lazy::{call_through, connect, Connects, Lazy};
use afb_link::Peer;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::framing::{self, Framing, Role};
use crate::link::{Link, LinkSetup};
use crate::server::spawn_link;
use crate::spec::{Exports, HttpRoot, Remote, RpcSpec, Side, Visibility};
use crate::{RpcError, RpcOptions};

/// The connection of one `--rpc-client` (or the accepted connection of a
/// `--rpc-server` that imports).
pub(crate) struct Channel {
    text: String,
    /// `None`: the peer connects to us (a server's imports).
    connector: Option<Connector>,
    /// The HTTP API root to upgrade first, if any.
    http: Option<HttpRoot>,
    framing: Framing,
    exports: Arc<Exports>,
    opts: Arc<RpcOptions>,
    registry: Weak<Registry>,
    conn: Lazy<Link>,
}

impl Channel {
    pub(crate) fn new(
        registry: &Arc<Registry>,
        spec: &RpcSpec,
        connector: Option<Connector>,
        framing: Framing,
        opts: Arc<RpcOptions>,
    ) -> Arc<Channel> {
        Arc::new(Channel {
            text: spec.text.clone(),
            connector,
            http: spec.http.clone(),
            framing,
            exports: Arc::new(spec.exports.clone()),
            opts,
            registry: Arc::downgrade(registry),
            conn: Lazy::new(Link::is_alive, spec.text.clone()),
        })
    }

    /// Connects and exchanges the version (and tells the registry's
    /// observer whether the link is up).
    async fn open_link(self: Arc<Self>) -> Result<Arc<Link>, String> {
        let me = self.clone();
        let r = self.open_link_inner().await;
        if me.connector.is_some() {
            me.link_state(r.is_ok());
        }
        r
    }

    fn link_state(&self, up: bool) {
        if let Some(reg) = self.registry.upgrade() {
            if let Some(o) = reg.hooks().get() {
                o.link(afb_core::Transport::Rpc, &self.text, up);
            }
        }
    }

    async fn open_link_inner(self: Arc<Self>) -> Result<Arc<Link>, String> {
        let fail = |why: String| {
            let msg = format!("cannot connect to {}: {why}", self.text);
            tracing::warn!("RPC: {msg}");
            msg
        };
        let Some(connector) = self.connector.as_ref() else {
            return Err(format!("no peer connected to {}", self.text));
        };
        let registry = self.registry.upgrade().ok_or_else(|| fail("shutting down".into()))?;
        let t = self.opts.connect_timeout;
        let mut stream = match tokio::time::timeout(t, connector.connect()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(fail(e.to_string())),
            Err(_) => return Err(fail("timed out".into())),
        };
        if let Some(root) = &self.http {
            match tokio::time::timeout(t, crate::http::upgrade(&mut stream, root)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(fail(e)),
                Err(_) => return Err(fail("no upgrade answer in time".into())),
            }
        }
        let (mut rd, mut wr) = stream.into_split();
        let opened = framing::open(
            &mut rd,
            &mut wr,
            self.framing,
            Role::Initiator,
            t,
            self.opts.max_ws_message,
        )
        .await
        .map_err(fail)?;
        let setup = LinkSetup {
            label: self.text.clone(),
            framing: self.framing,
            peer: Peer {
                label: self.text.clone(),
                ..Peer::default()
            },
            exports: self.exports.clone(),
            session: None,
            token: None,
        };
        let link = Link::new(&registry, setup, self.opts.clone(), CancellationToken::new());
        tracing::info!("RPC: connected to {}", self.text);
        let me = Arc::downgrade(&self);
        spawn_link(link.clone(), rd, wr, opened, move |l| {
            if let Some(ch) = me.upgrade() {
                ch.lost(l);
            }
        });
        Ok(link)
    }

    /// A peer connected to us: calls go through its link.
    pub(crate) fn adopt(&self, link: &Arc<Link>) {
        self.conn.set(link.clone());
        self.link_state(true);
    }

    /// `link` ended: the next call connects again.
    pub(crate) fn lost(&self, link: &Arc<Link>) {
        self.conn.forget(link);
        self.link_state(false);
    }
}

impl Connects for Channel {
    type Link = Link;

    fn lazy(&self) -> &Lazy<Link> {
        &self.conn
    }

    fn open(self: Arc<Self>) -> BoxFuture<Result<Arc<Link>, String>> {
        Box::pin(self.open_link())
    }
}

impl Drop for Channel {
    /// The APIs are gone from the registry: close the link.
    fn drop(&mut self) {
        if let Some(l) = self.conn.current() {
            l.out.close.cancel();
        }
    }
}

/// An API of the peer, imported.
pub(crate) struct RemoteApi {
    channel: Arc<Channel>,
    /// Its name on the peer; `None`: the peer's default API.
    remote: Option<Arc<str>>,
}

impl ApiImpl for RemoteApi {
    fn process(&self, req: Request) -> BoxFuture<()> {
        call_through(
            &self.channel,
            req,
            &self.remote,
            |link, remote, req| link.start_call(req, remote.as_deref()),
            status::NOT_AVAILABLE,
        )
    }

    fn describe(&self, _api: &ApiRef) -> BoxFuture<Option<Json>> {
        let (channel, remote) = (self.channel.clone(), self.remote.clone());
        // The description waits as long as a call (then its sender is dropped).
        Box::pin(async move {
            let rx = connect(&channel).await.ok()?.start_describe(remote.as_deref())?;
            rx.await.ok()?
        })
    }
}

/// Declares the imported APIs of `spec`, calling through `channel`. None is
/// declared when one of their names is taken.
pub(crate) fn declare_imports(
    registry: &Arc<Registry>,
    spec: &RpcSpec,
    channel: &Arc<Channel>,
) -> Result<Vec<String>, String> {
    if let Some(taken) = spec.imports.iter().find(|i| registry.get_api(&i.local).is_some()) {
        return Err(format!("API {:?} already exists: nothing imported", taken.local));
    }
    let mut names = Vec::new();
    for item in &spec.imports {
        let remote = match &item.remote {
            Remote::Name(n) => Some(Arc::from(n.as_str())),
            Remote::Default | Remote::Any => None,
        };
        let mut decl = ApiDecl::new(
            item.local.clone(),
            Arc::new(RemoteApi {
                channel: channel.clone(),
                remote,
            }),
        );
        decl.info = format!("imported from {}", spec.text);
        decl.private = spec.visibility == Visibility::Private;
        registry.add_api(decl).map_err(|e| e.to_string())?;
        names.push(item.local.clone());
    }
    Ok(names)
}

/// Imports the APIs of `spec` (`--rpc-client`) into the registry and tries
/// to connect in the background; returns the local API names. Fails on a
/// bad URI or a name already taken (nothing is declared then); an absent
/// peer is no error.
pub fn import(registry: &Arc<Registry>, spec: &str, opts: RpcOptions) -> Result<Vec<String>, RpcError> {
    let s = RpcSpec::parse(spec, Side::Client)?;
    let connector = Connector::new(&s.socket).map_err(|e| RpcError(format!("--rpc-client {spec}: {}", e.reason)))?;
    let framing = match &s.http {
        Some(root) if root.websocket => Framing::WsMasked,
        Some(_) => Framing::Raw,
        None if s.socket.prefixes.ws() => Framing::Ws,
        None => Framing::Raw,
    };
    let channel = Channel::new(registry, &s, Some(connector), framing, Arc::new(opts));
    let names = declare_imports(registry, &s, &channel).map_err(|e| RpcError(format!("--rpc-client {spec}: {e}")))?;
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        // As the C client: connect at start; an absent peer is no error.
        if names.is_empty() {
            // Only exports: nothing would make the connection (or keep the
            // channel) but this task, which lasts as long as the link.
            rt.spawn(async move {
                if let Ok(link) = connect(&channel).await {
                    link.out.close.cancelled().await;
                }
            });
        } else {
            let ch = Arc::downgrade(&channel);
            rt.spawn(async move {
                if let Some(ch) = ch.upgrade() {
                    let _ = connect(&ch).await;
                }
            });
        }
    }
    Ok(names)
}
