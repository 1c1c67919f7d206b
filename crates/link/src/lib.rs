//! What the binder-to-binder transports share (wsapi v1 in `afb-wsapi`,
//! RPC v3 in `afb-rpc`), so that each protocol crate holds only its
//! protocol:
//!
//! - [`run`]: the one task of a link (reads, timer, batched writes) around a
//!   protocol [`Driver`];
//! - [`Outbox`]: the bounded queue every producer encodes into (a peer that
//!   never reads gets disconnected, it never blocks the binder);
//! - [`ws`]: WebSocket framing without HTTP handshake;
//! - [`peer`]: who the peer is and whether it may speak for its clients;
//! - [`ids`]: the id tables of declared sessions and tokens;
//! - [`lazy`]: the connection a client link makes at first need;
//! - [`caller`]: the calls sent and the declarations of the calling side;
//! - [`call`]: the calls of the peer, as reply sinks and subscribers;
//! - [`accept`]: the accept loop of servers.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod accept;
pub mod call;
pub mod caller;
pub mod ids;
pub mod lazy;
pub mod outbox;
pub mod peer;
pub mod run;
pub mod ws;

pub use outbox::{Outbox, SendError};

/// A failure to set a link up (bad URI, socket error, missing API), as
/// the daemon reports it.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<afb_endpoint::UriError> for Error {
    fn from(e: afb_endpoint::UriError) -> Self {
        Error(e.to_string())
    }
}
pub use peer::{export_creds, parse_creds, peer_of, Peer};
pub use run::{run, Driver, End};
