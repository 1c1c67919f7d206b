//! The binder's model, with no I/O: the API registry and its verbs,
//! requests and their replies, sessions (uuid, token, LOA, context values),
//! events (push and broadcast), calls between APIs, timeouts and log levels.
//!
//! Transports (HTTP, WebSocket, wsapi, RPC) turn bytes into a [`Call`] given
//! to [`Registry::dispatch`] and implement [`ReplySink`], [`Listener`] and [`Subscriber`];
//! bindings implement [`ApiImpl`] (usually through the SDK crate, which
//! builds a [`LocalApi`]). Time is tokio's, so tests can pause it.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod access;
pub mod api;
pub mod args;
pub mod auth;
pub mod clock;
mod driver;
pub mod event;
pub mod events;
pub mod info;
pub mod log;
pub mod name;
pub mod observe;
pub mod registry;
pub mod reply;
pub mod request;
pub mod session;
pub mod status;
pub mod typed;
pub mod watch;

pub use api::{ApiDecl, ApiEntry, ApiImpl, ApiRef, ApiState, BoxFuture, LocalApi, Verb, VerbHandler};
pub use args::{Args, FileArg};
pub use auth::{Auth, Loa};
pub use event::{BroadcastMsg, Event, Listener, ListenerSubscriber, PushMsg, SubscribeError, Subscriber};
pub use events::Events;
pub use log::LogLevel;
pub use observe::{Hooks, Observer, ReqInfo, Transport};
pub use registry::{ApiResolver, Call, Registry, RegistryConfig, StartError};
pub use reply::Reply;
pub use request::{CertIdentity, Client, Credentials, ReplySink, ReqHandle, Request};
pub use session::{Session, SessionConfig, SessionStore};
pub use typed::{TypedList, TypedValue};
pub use watch::ClientCancel;

/// Re-exported so that users name the same JSON types.
pub use serde_json;
