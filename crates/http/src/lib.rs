//! HTTP transport: REST calls on `/api/API/VERB`, static files, uploads,
//! sessions over HTTP, and the `x-afb-ws-json1` WebSocket server.
//!
//! [`HttpServer`] serves connections (TCP or unix sockets, HTTP/1.1 with
//! keep-alive, and cleartext HTTP/2 with the `http2` feature) with one
//! router ([`server`]):
//!
//! 1. `GET {rootapi}` with `Upgrade: websocket` -> [`ws::handle_upgrade`]
//!    (API requests coming from another site's page are refused first, see
//!    [`origin`]), or RPC v3 ([`upgrade`]: `Upgrade: x-afb-rpc`, or the
//!    subprotocol `x-afb-ws-rpc`) when the daemon installed it;
//! 2. `{rootapi}/API/VERB` -> [`rest`] (calls through `Registry::dispatch`);
//! 3. anything else -> [`statics`]: `--alias` directories, the built-in
//!    assets under `/devtools/`, `--roothttp` (or the built-in assets) at `/`,
//!    and the one-page-app redirect under `--rootbase`.
//!
//! Every response has the body type [`Body`].

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod assets;
pub mod lookup;
pub mod origin;
pub mod query;
pub mod rest;
pub mod server;
pub mod statics;
pub mod status;
pub mod upgrade;
pub mod upload;
pub mod ws;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use tower_http::services::fs::ServeFileSystemResponseBody;

pub use server::{Document, Documents, HttpError, HttpServer};

/// The body of every response: bytes in memory (API replies, built-in
/// assets, errors, the WebSocket handshake) or a file being streamed.
pub type Body = Either<Full<Bytes>, ServeFileSystemResponseBody>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Either::Left(Full::new(bytes.into()))
}

/// An empty body.
pub fn empty() -> Body {
    Either::Left(Full::new(Bytes::new()))
}

/// Size limits of HTTP requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body outside uploads (JSON, urlencoded, each text
    /// field of a multipart body); bigger -> 413. `--http-max-body`.
    pub max_body: u64,
    /// Largest multipart (upload) body, all parts together; bigger -> 413.
    /// `--http-max-upload`.
    pub max_upload: u64,
    /// Largest request head (request line and headers); bigger -> 431.
    /// At least 8192. `--http-max-header`.
    pub max_header: usize,
    /// Longest request target (path and query); longer -> 414.
    /// `--http-max-url`.
    pub max_url: usize,
    /// How long a client may take to send a request head (slow clients are
    /// disconnected).
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 10 * 1024 * 1024,
            max_upload: 256 * 1024 * 1024,
            max_header: 32 * 1024,
            max_url: 8 * 1024,
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The `--port` value: names the session cookie `x-afb-uuid-PORT`.
    pub port: u16,
    /// API prefix and WebSocket endpoint (`--rootapi`, default `/api`).
    pub rootapi: String,
    /// One-page-app prefix (`--rootbase`, default `/opa`).
    pub rootbase: String,
    /// Static files at `/` (`--roothttp`); `None`: the built-in assets.
    pub roothttp: Option<PathBuf>,
    /// More static directories: (`/PREFIX`, DIR) (`--alias`).
    pub aliases: Vec<(String, PathBuf)>,
    /// More built-in files, (name, content): served beside the built-in
    /// assets, which win on a name clash (the daemon adds the samples'
    /// pages). MIME type from the name's extension.
    pub extra_assets: Vec<(&'static str, &'static [u8])>,
    /// `Cache-Control: max-age` of static files (`--cache-eol`).
    pub cache_eol: u64,
    /// Where uploaded files are stored (`--uploaddir`).
    pub upload_dir: PathBuf,
    /// Request size limits.
    pub limits: Limits,
    /// WebSocket settings.
    pub ws: ws::WsConfig,
    /// Which cross-origin browser requests may call APIs (`--allowed-origin`).
    pub origins: origin::OriginPolicy,
    /// Served over HTTPS only (`--https`): the session cookie is `Secure`.
    pub secure_cookie: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            port: 1234,
            rootapi: "/api".into(),
            rootbase: "/opa".into(),
            roothttp: None,
            aliases: Vec::new(),
            extra_assets: Vec::new(),
            cache_eol: 100_000,
            upload_dir: std::env::temp_dir(),
            limits: Limits::default(),
            ws: ws::WsConfig::default(),
            origins: origin::OriginPolicy::default(),
            secure_cookie: false,
        }
    }
}
