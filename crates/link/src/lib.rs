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
//! - [`lazy`]: the connection a client link makes at first need.

pub mod ids;
pub mod lazy;
pub mod outbox;
pub mod peer;
pub mod run;
pub mod ws;

pub use outbox::{Outbox, SendError};
pub use peer::{export_creds, parse_creds, peer_of, Peer};
pub use run::{run, Driver, End};
