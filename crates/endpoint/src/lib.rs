//! Endpoints of every transport: socket URIs, one listener type and one
//! connector type, shared by the HTTP server, wsapi and `afb-client`.
//!
//! - [`SocketUri`] parses `tcp:HOST:PORT[/PATH]`, `unix:PATH`,
//!   `unix:@NAME`, `sd:NAME[/PATH]`, `char:PATH`, a bare `HOST:PORT`
//!   (taken as `tcp:`), the prefixes `ws+`, `tls+`, `mtls+` and the query
//!   `?key=value&...` ([`Query`]). It does no I/O. Each protocol narrows
//!   it with a [`Profile`] (which prefixes, which query keys, whether a
//!   `/PATH` is needed) and names the API with [`SocketUri::api_name`].
//! - [`Listener`] binds any address but `char:` and accepts [`Stream`]s
//!   with a [`PeerInfo`] (remote address, or unix credentials).
//! - [`Connector`] connects to any address but `sd:`.
//! - [`tls`]: `tls+` and `mtls+` (rustls): the listener and the connector
//!   wrap their streams in TLS ([`Stream::Tls`]); a TLS peer's certificate
//!   comes in its [`PeerInfo`]. HTTPS listeners use the same code
//!   ([`Listener::into_tls`]).
//!
//! Stale unix socket files: binding `unix:PATH` removes an existing socket
//! file only when nothing accepts on it any more (connecting is refused);
//! a socket in use, a regular file or anything else at PATH is an error and
//! is left alone. A listener removes its socket file when dropped.

// unsafe_code stays denied (workspace lints) except in `socket::peersec`.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod connector;
mod listener;
mod peer;
mod profile;
mod query;
mod socket;
mod stream;
pub mod tls;
mod uri;

pub use connector::Connector;
pub use listener::{ListenOptions, Listener};
pub use peer::{PeerCred, PeerInfo};
pub use profile::{PathRule, Profile};
pub use query::Query;
pub use socket::sd::provide as provide_systemd_sockets;
pub use socket::serial::CharDevice;
pub use stream::{ReadHalf, Stream, TlsHalf, TlsStream, WriteHalf};
pub use tls::PeerCertificate;
pub use uri::{
    api_name_rule, parse_port, split_host_port, Address, Host, Prefix, Prefixes, SocketUri, UriError,
    MAX_ABSTRACT_NAME, MAX_UNIX_PATH,
};
