//! `Req`: what a verb handler gets to read its arguments and act on the
//! caller's session (context, LOA, events) and call other verbs.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use afb_core::{Args, Credentials, LogLevel, ReqHandle};
use serde::Serialize;
use serde_json::Value;

use crate::api::Api;
use crate::error::Error;
use crate::event::Event;

/// The request as a handler sees it. Cheap to clone; replying is done by
/// returning from the handler.
#[derive(Clone)]
pub struct Req {
    h: ReqHandle,
}

impl fmt::Debug for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.fmt(f)
    }
}

impl Req {
    /// Wraps a core request handle.
    pub fn new(h: ReqHandle) -> Self {
        Req { h }
    }

    /// The core handle (for what the SDK does not wrap).
    pub fn core(&self) -> &ReqHandle {
        &self.h
    }

    /// The API the verb belongs to.
    pub fn api(&self) -> Api {
        Api::new(self.h.api())
    }

    /// The verb as called.
    pub fn verb(&self) -> &str {
        self.h.verb()
    }

    /// The whole argument.
    pub fn args(&self) -> &Args {
        self.h.args()
    }

    /// The whole argument as a JSON value.
    pub fn json(&self) -> &Value {
        self.h.args().value()
    }

    /// The argument named `name` as text (strings as is, other values as
    /// JSON text), as `afb_req_value` does.
    pub fn value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.h.args().get_str(name)
    }

    /// The argument named `name`, JSON-ish (a string holding JSON is parsed).
    pub fn value_json(&self, name: &str) -> Option<Value> {
        self.h.args().get_jsonish(name)
    }

    /// The local path of the file uploaded as `name`.
    pub fn path(&self, name: &str) -> Option<&std::path::Path> {
        self.h.args().path(name)
    }

    /// The caller's session uuid.
    pub fn session_uuid(&self) -> &str {
        self.h.session().uuid()
    }

    /// The peer credentials, when the transport knows them.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.h.client().creds.as_deref()
    }

    /// Who is calling, as `afb_req_get_client_info` answers: `uid`,
    /// `gid`, `pid`, `user`, `label`, `id` (when the peer's process is
    /// known), `uuid` and `LOA` of the session.
    pub fn client_info(&self) -> Value {
        afb_core::access::client_info(&self.h)
    }

    /// Asks the binder's permission backend whether the caller has
    /// `permission` (`urn:redpesk:token:valid`: whether it presented the
    /// session's token). Refused when the backend fails.
    pub fn check_permission(&self, permission: &str) -> impl std::future::Future<Output = bool> + Send + 'static {
        afb_core::access::check_permission(&self.h, permission)
    }

    /// The token renewed for this request (verbs flagged `renew`).
    pub fn renewed_token(&self) -> Option<Arc<str>> {
        self.h.renewed_token()
    }

    // ---- per-session context -------------------------------------------

    /// This API's context value in the caller's session, if it is a `T`.
    pub fn context<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.h.context().and_then(|c| c.downcast::<T>().ok())
    }

    /// Stores `value` as this API's context in the caller's session; the
    /// previous value is dropped.
    pub fn set_context<T: Any + Send + Sync>(&self, value: T) -> Arc<T> {
        let v = Arc::new(value);
        self.h.set_context(Some(v.clone()));
        v
    }

    /// Stores an already shared value as the context.
    pub fn set_context_arc<T: Any + Send + Sync>(&self, value: Arc<T>) {
        self.h.set_context(Some(value));
    }

    /// Drops this API's context value.
    pub fn clear_context(&self) {
        self.h.set_context(None);
    }

    /// The context, made by `make` when absent (or of another type).
    /// Concurrent first uses in one session agree on a single value.
    pub fn context_or_insert_with<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        if let Some(v) = self.context::<T>() {
            return v;
        }
        let fresh = Arc::new(make());
        let f2 = fresh.clone();
        let stored = self.h.context_or_insert_with(move || f2);
        match stored.downcast::<T>() {
            Ok(v) => v,
            Err(_) => {
                // A value of another type was there: replace it.
                self.h.set_context(Some(fresh.clone()));
                fresh
            }
        }
    }

    // ---- LOA -----------------------------------------------------------

    /// The session's level of assurance for this API.
    pub fn loa(&self) -> u8 {
        self.h.loa()
    }

    /// Sets the session's LOA for this API (0..=7; above is
    /// `invalid-request`).
    pub fn set_loa(&self, loa: u8) -> Result<(), Error> {
        self.h.set_loa(loa.into()).map_err(Error::from)
    }

    /// Ends the session's state for this API after the reply.
    pub fn close_session(&self) {
        self.h.close_session_after_reply()
    }

    // ---- events ----------------------------------------------------------

    /// Subscribes the caller to `event`.
    pub fn subscribe(&self, event: &Event) -> Result<(), Error> {
        self.h.subscribe(event.core()).map_err(Error::from)
    }

    /// Unsubscribes the caller from `event`.
    pub fn unsubscribe(&self, event: &Event) -> Result<(), Error> {
        self.h.unsubscribe(event.core()).map_err(Error::from)
    }

    // ---- calls -------------------------------------------------------------

    /// Calls `api/verb` in the caller's session; a non-success reply becomes
    /// an [`Error`] with the same status.
    pub async fn subcall<T: Serialize + ?Sized>(
        &self,
        api: &str,
        verb: &str,
        args: &T,
    ) -> Result<afb_core::Reply, Error> {
        let args = to_args(args)?;
        let reply = self.h.subcall(api, verb, args).await;
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(Error::from(reply))
        }
    }

    /// Calls `api/verb` in the caller's session and returns the reply as is.
    pub async fn subcall_reply(&self, api: &str, verb: &str, args: Args) -> afb_core::Reply {
        self.h.subcall(api, verb, args).await
    }

    // ---- blocking work ---------------------------------------------------------

    /// Runs `f`, which may block (file or device I/O, a C library call,
    /// heavy computation), on tokio's blocking thread pool, and waits for
    /// its result without holding a worker thread. A panic in `f` gives
    /// `internal-error`. See [`crate::Verb::blocking`] for whole verbs.
    pub async fn blocking<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R, Error> {
        tokio::task::spawn_blocking(f).await.map_err(|e| {
            tracing::error!(verb = %self.verb(), "blocking work failed: {e}");
            Error::internal("blocking work panicked")
        })
    }

    // ---- logging -------------------------------------------------------------

    /// Logs for this API (checked against its level). See [`crate::log!`].
    pub fn log(&self, level: LogLevel, args: fmt::Arguments<'_>) {
        self.h.log(level, args)
    }
}

/// Serialises any value into request arguments.
pub fn to_args<T: Serialize + ?Sized>(v: &T) -> Result<Args, Error> {
    serde_json::value::to_raw_value(v)
        .map(Args::from_raw)
        .map_err(|e| Error::invalid_request(format!("arguments not serialisable: {e}")))
}
