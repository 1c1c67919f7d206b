//! RPC v3 transport: the binder-to-binder protocol of redpesk's libafb 5.x
//! (`--rpc-client`, `--rpc-server`, the HTTP upgrades `x-afb-rpc` and
//! `x-afb-ws-rpc`), on the bytes of `afb-rpc-codec` and the link machinery
//! of `afb-link`. See docs/protocols/rpc-v3.md.
//!
//! - [`import`]: a client (`--rpc-client`): declares the imported APIs at
//!   once; the connection is made by the first call and again by the first
//!   call after it was lost;
//! - [`serve`]: a server (`--rpc-server`), one link per accepted peer;
//! - [`serve_upgraded`]: an HTTP connection upgraded to RPC, every public
//!   API callable;
//! - [`RpcSpec`]: what the options accept.
//!
//! Choices where the C binder misbehaves (docs/protocols/rpc-v3.md lists
//! them): refused calls (API not exported, unknown session or token) get
//! their reply and the link stays; pushes of unknown events are answered
//! EVENT-UNEXPECTED; broadcasts are relayed with one hop less; a `ws+`
//! server speaks WebSocket framing; DESCRIBE is answered at once with the
//! API's description; JSON texts are checked; legacy replies are recognised.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod client;
pub mod convert;
mod framing;
pub mod http;
pub mod limits;
mod link;
mod server;
pub mod spec;

use std::time::Duration;

pub use afb_endpoint::UriError;
pub use client::import;
pub use framing::{encode_into as encode_message, Framing};
pub use server::{serve, serve_upgraded, ServerHandle, Upgraded};
pub use spec::{RpcSpec, Side, Visibility};

/// Settings of RPC links.
#[derive(Debug, Clone)]
pub struct RpcOptions {
    /// How long a call through a link may wait for its reply (answered
    /// `timeout` after); `None`: no limit.
    pub call_timeout: Option<Duration>,
    /// Bytes a link may hold waiting to be sent; a peer that does not read
    /// past this bound is disconnected. One message always fits.
    pub max_queued: usize,
    /// How long connecting (socket and version exchange) may take.
    pub connect_timeout: Duration,
    /// How long an accepted peer may take to offer its version.
    pub hello_timeout: Duration,
    /// Calls of the peer one link runs at once (at most 4095); beyond, a
    /// call is answered `not-available`.
    pub max_inflight: usize,
    /// Distinct events one link relays at once, each way; beyond, a
    /// subscription fails (ours) or the link ends (the peer's).
    pub max_events: usize,
    /// Largest WebSocket message on `ws+` and `x-afb-ws-rpc` links.
    pub max_ws_message: usize,
    /// Permissions of a server's unix socket file (e.g. `0o660`).
    pub socket_mode: Option<u32>,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            call_timeout: Some(Duration::from_secs(20)),
            max_queued: 16 << 20,
            connect_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            max_inflight: afb_rpc_codec::wire::MAX_PENDING_CALLS,
            max_events: 4096,
            max_ws_message: afb_rpc_codec::DEFAULT_MAX_CHUNK_LEN + 16,
            socket_mode: None,
        }
    }
}

/// An RPC failure at start-up (bad URI, socket error, missing API).
pub use afb_link::Error as RpcError;
