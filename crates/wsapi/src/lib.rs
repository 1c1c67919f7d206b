//! wsapi transport: export a local API on a socket (`--ws-server`) and
//! import a remote API (`--ws-client`), so that several binder processes
//! form one API space. The bytes are those of `afb-wsapi-codec`.
//!
//! STATUS: interface only; the implementation is being written.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use afb_core::{ApiResolver, Registry};
use tokio_util::sync::CancellationToken;

/// Settings of wsapi links.
#[derive(Debug, Clone)]
pub struct WsapiOptions {
    /// Largest message accepted (`--ws-maxlen`), all fragments together.
    pub max_message: usize,
    /// How long a call through a link may wait for its reply.
    pub call_timeout: Option<Duration>,
}

impl Default for WsapiOptions {
    fn default() -> Self {
        WsapiOptions {
            max_message: 1_048_500,
            call_timeout: Some(Duration::from_secs(20)),
        }
    }
}

/// A wsapi failure (bad URI, socket error, protocol error).
#[derive(Debug)]
pub struct WsapiError(pub String);

impl fmt::Display for WsapiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WsapiError {}

/// A running `--ws-server` export.
#[derive(Debug)]
pub struct ServerHandle {
    /// The exported API.
    pub api: String,
    /// Where it listens (resolved address or path).
    pub address: String,
}

/// Exports the local API named by `uri` (`unix:/path/API`, `unix:@name/API`,
/// `tcp:HOST:PORT/API`) until `shutdown` is cancelled.
pub async fn serve(
    _registry: Arc<Registry>,
    uri: &str,
    _opts: WsapiOptions,
    _shutdown: CancellationToken,
) -> Result<ServerHandle, WsapiError> {
    Err(WsapiError(format!("--ws-server {uri}: not implemented yet")))
}

/// Exports API `api` on an already bound listening socket (`sd:NAME`,
/// socket activation).
pub async fn serve_listener(
    _registry: Arc<Registry>,
    _listener: std::os::fd::OwnedFd,
    api: &str,
    _opts: WsapiOptions,
    _shutdown: CancellationToken,
) -> Result<ServerHandle, WsapiError> {
    Err(WsapiError(format!("--ws-server sd: for {api}: not implemented yet")))
}

/// Imports the remote API of `uri` (`?as-api=NAME` renames it) into the
/// registry; returns the local API name. Connection is made lazily.
pub fn import(_registry: &Arc<Registry>, uri: &str, _opts: WsapiOptions) -> Result<String, WsapiError> {
    Err(WsapiError(format!("--ws-client {uri}: not implemented yet")))
}

/// The `--auto-api DIR` resolver: an unknown API `X` is imported from
/// `unix:DIR/X` when that socket exists.
pub fn auto_api(_dir: PathBuf, _opts: WsapiOptions) -> Arc<dyn ApiResolver> {
    struct Nothing;
    impl ApiResolver for Nothing {
        fn resolve(&self, _r: &Arc<Registry>, _name: &str) -> Option<afb_core::ApiDecl> {
            None
        }
    }
    Arc::new(Nothing)
}
