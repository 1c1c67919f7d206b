//! Observation hooks: the few points of the model where metrics and traces
//! look at what happens (a request begins, is answered, calls another verb,
//! subscribes; an event is pushed or broadcast; a session is made or
//! closed).
//!
//! The registry holds at most one [`Observer`] (install it before
//! [`Registry::start`](crate::Registry::start)) and a switch: while the
//! switch is off, each hook point costs one relaxed load and a branch.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::value::RawValue;

use crate::args::Args;
use crate::event::Event;
use crate::reply::Reply;
use crate::request::Client;
use crate::session::Session;

/// The transport a client came through (a metrics label, a trace field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// A call made inside the binder (a binding, the monitor).
    #[default]
    Internal,
    /// HTTP REST (`/api/API/VERB`).
    Http,
    /// The JSON WebSocket x-afb-ws-json1.
    WsJson,
    /// The binary wsapi protocol of a linked binder.
    Wsapi,
    /// redpesk's RPC v3.
    Rpc,
}

impl Transport {
    /// Every transport, in a fixed order.
    pub const ALL: [Transport; 5] = [
        Transport::Internal,
        Transport::Http,
        Transport::WsJson,
        Transport::Wsapi,
        Transport::Rpc,
    ];

    /// A short lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Internal => "internal",
            Transport::Http => "http",
            Transport::WsJson => "wsj1",
            Transport::Wsapi => "wsapi",
            Transport::Rpc => "rpc",
        }
    }

    /// Index in [`Transport::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What an observer sees of a request.
#[derive(Clone, Copy)]
pub struct ReqInfo<'a> {
    /// Process-unique request id.
    pub id: u64,
    /// The API (its registered name).
    pub api: &'a str,
    /// The API's id in the registry.
    pub api_id: u32,
    /// A slot of the API's entry that belongs to the installed observer:
    /// what it resolves once for the API (its counters, say) and finds
    /// again on every request without a lookup.
    pub api_slot: &'a ApiSlot,
    /// The verb as asked.
    pub verb: &'a str,
    /// The argument.
    pub args: &'a Args,
    /// Who asks.
    pub client: &'a Client,
}

/// A step of an API outside its requests (the C binders' `api` traces).
#[derive(Clone, Copy)]
pub enum ApiStep<'a> {
    /// The API's start (its `init`) begins.
    StartBefore,
    /// The API's start ended: 0 when it worked, -1 else.
    StartAfter(i32),
    /// The API calls `api/verb` with `args` in its own name.
    Call {
        /// The API called.
        api: &'a str,
        /// The verb called.
        verb: &'a str,
        /// The argument.
        args: &'a Args,
    },
    /// That call was answered.
    CallResult(&'a Reply),
}

/// What the observer keeps in an API's entry (set once).
pub type ApiSlot = OnceLock<Arc<dyn Any + Send + Sync>>;

/// State an observer keeps with one request, from `begin` to `end`.
pub type ReqState = Arc<dyn Any + Send + Sync>;

/// Hooks called by the model. Every method has an empty default.
pub trait Observer: Send + Sync + 'static {
    /// A request begins (the API exists and accepted it). What is returned
    /// is given back to [`Observer::end`].
    fn begin(&self, _req: &ReqInfo<'_>) -> Option<ReqState> {
        None
    }

    /// A reading of a clock of the observer's, cheaper to read than the
    /// monotonic clock (a cycle counter), that requests are timed with; with
    /// `None` (the default) they are timed with tokio's monotonic clock
    /// (which tests may pause).
    fn ticks(&self) -> Option<u64> {
        None
    }

    /// The time since `began`, an earlier reading of [`Observer::ticks`].
    fn since(&self, _began: u64) -> Duration {
        Duration::ZERO
    }

    /// The request is answered with `reply`, `elapsed` after it began.
    fn end(&self, _req: &ReqInfo<'_>, _state: Option<&ReqState>, _reply: &Reply, _elapsed: Duration) {}

    /// A request was refused before reaching an API (unknown API, API not
    /// started, too many requests, argument too deep).
    fn refused(&self, _client: &Client, _status: &'static str) {}

    /// The request calls `api/verb` with `args`.
    fn subcall(&self, _req: &ReqInfo<'_>, _api: &str, _verb: &str, _args: &Args) {}

    /// The API `api` takes a step outside its requests.
    fn api_step(&self, _api: &str, _step: ApiStep<'_>) {}

    /// The request subscribes its client to `event` (or unsubscribes);
    /// `ok` tells whether it worked.
    fn subscribe(&self, _req: &ReqInfo<'_>, _event: &Event, _unsubscribe: bool, _ok: bool) {}

    /// An event was created.
    fn event_created(&self, _event: &Event) {}

    /// `event` was pushed with `data` to `delivered` subscribers.
    fn push(&self, _event: &Event, _data: &RawValue, _delivered: usize) {}

    /// `name` was broadcast with `data` to `listeners` listeners.
    fn broadcast(&self, _name: &str, _data: &RawValue, _listeners: usize) {}

    /// A client connection of `transport` opened (or closed).
    fn connection(&self, _transport: Transport, _opened: bool) {}

    /// A client was dropped because it did not read what it was sent (its
    /// send queue was full).
    fn overflow(&self, _transport: Transport) {}

    /// A link to another binder (`--ws-client`, `--rpc-client`) to `peer`
    /// went up or down (or failed to connect).
    fn link(&self, _transport: Transport, _peer: &str, _up: bool) {}

    /// A session was made (`created`) or closed.
    fn session(&self, _session: &Session, _created: bool) {}
}

/// The observer slot shared by the registry, its sessions and its events.
#[derive(Default)]
pub struct Hooks {
    observer: OnceLock<Arc<dyn Observer>>,
    on: AtomicBool,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("installed", &self.observer.get().is_some())
            .field("on", &self.on.load(Ordering::Relaxed))
            .finish()
    }
}

impl Hooks {
    /// Installs the observer (once; later calls return false) and turns it
    /// on.
    pub fn install(&self, o: Arc<dyn Observer>) -> bool {
        let ok = self.observer.set(o).is_ok();
        if ok {
            self.on.store(true, Ordering::Release);
        }
        ok
    }

    /// Turns the installed observer on or off.
    pub fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Release);
    }

    /// The observer, when one is installed and on.
    #[inline]
    pub fn get(&self) -> Option<&Arc<dyn Observer>> {
        if self.on.load(Ordering::Relaxed) {
            self.observer.get()
        } else {
            None
        }
    }
}

/// Tells the observer a connection opened, and closed when dropped.
pub struct ConnectionObserved {
    hooks: Option<(Arc<Hooks>, Transport)>,
}

impl std::fmt::Debug for ConnectionObserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionObserved").finish_non_exhaustive()
    }
}

impl Hooks {
    /// Reports a connection of `t` opened; the guard reports it closed.
    pub fn connection(self: &Arc<Self>, t: Transport) -> ConnectionObserved {
        match self.get() {
            Some(o) => {
                o.connection(t, true);
                ConnectionObserved {
                    hooks: Some((self.clone(), t)),
                }
            }
            None => ConnectionObserved { hooks: None },
        }
    }
}

impl Drop for ConnectionObserved {
    fn drop(&mut self) {
        if let Some((h, t)) = &self.hooks {
            if let Some(o) = h.observer.get() {
                o.connection(*t, false);
            }
        }
    }
}
