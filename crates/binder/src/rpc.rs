//! RPC v3 in the daemon: `--rpc-client` (weak: a bad URI or an absent
//! server is only logged), `--rpc-server` (any failure stops the start-up),
//! and RPC on the HTTP API root (`x-afb-rpc`, `x-afb-ws-rpc`). The limits
//! of wsapi links apply to RPC links too (`--wsapi-send-queue`,
//! `--wsapi-max-inflight`, `--wsapi-timeout`, `--subscriptions-max`,
//! `--ws-server-mode`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use afb_core::Registry;
use afb_http::upgrade::{RpcMode, RpcUpgrade, UpgradedIo};
use afb_http::ws::WsClientInit;
use afb_rpc::{Framing, RpcOptions, Upgraded};
use afb_wsapi::WsapiOptions;
use tokio_util::sync::CancellationToken;

/// The settings of RPC links, from those of wsapi links.
pub fn options(ws: &WsapiOptions) -> RpcOptions {
    RpcOptions {
        call_timeout: ws.call_timeout,
        max_queued: ws.max_queued,
        max_inflight: ws.max_inflight,
        max_events: ws.max_events,
        socket_mode: ws.socket_mode,
        ..RpcOptions::default()
    }
}

/// Declares the APIs of every `--rpc-client`; failures are logged.
pub fn import_all(registry: &Arc<Registry>, specs: &[String], opts: &RpcOptions) {
    for spec in specs {
        match afb_rpc::import(registry, spec, opts.clone()) {
            Ok(names) => tracing::info!("APIs [{}] imported over RPC from {spec}", names.join(", ")),
            Err(e) => tracing::error!("--rpc-client {spec}: {e} (ignored)"),
        }
    }
}

/// Starts every `--rpc-server`; the first failure is returned.
pub async fn serve_all(
    registry: &Arc<Registry>,
    specs: &[String],
    opts: &RpcOptions,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    for spec in specs {
        let h = afb_rpc::serve(registry.clone(), spec, opts.clone(), shutdown.clone())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!("exporting [{}] over RPC on {}", h.exports.join(", "), h.address);
    }
    Ok(())
}

/// RPC on the HTTP connections upgraded on the API root.
pub struct HttpRpc {
    /// The registry served.
    pub registry: Arc<Registry>,
    /// Link settings.
    pub opts: Arc<RpcOptions>,
    /// Closes the links at shutdown.
    pub shutdown: CancellationToken,
}

impl RpcUpgrade for HttpRpc {
    fn serve(
        &self,
        io: Box<dyn UpgradedIo>,
        mode: RpcMode,
        client: WsClientInit,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let framing = match mode {
            RpcMode::Raw => Framing::Raw,
            RpcMode::WebSocket => Framing::Ws,
        };
        let client = Upgraded {
            session: client.session,
            token: client.token,
            creds: client.creds,
            remote: client.remote,
        };
        Box::pin(afb_rpc::serve_upgraded(
            self.registry.clone(),
            io,
            framing,
            client,
            self.opts.clone(),
            self.shutdown.clone(),
        ))
    }
}
