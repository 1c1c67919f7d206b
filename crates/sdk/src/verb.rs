//! Verbs: a name, a handler (see [`crate::handler`]), a description and
//! session requirements; and what handlers return.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use afb_core::access::AuthRule;
use afb_core::api::BoxFuture;
use afb_core::{Auth, Request, VerbHandler};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::Error;
use crate::handler::{ApiState, BlockingHandler, FromRequest, Handler};

/// A successful reply: optional data and optional info text.
#[derive(Debug, Default)]
pub struct Response {
    data: Option<Box<RawValue>>,
    info: Option<String>,
}

impl Response {
    /// Success without data.
    pub fn ok() -> Self {
        Self::default()
    }

    /// Success with `value` serialised as data.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let raw = serde_json::value::to_raw_value(value).map_err(|e| Error::internal(format!("reply: {e}")))?;
        Ok(Response {
            data: Some(raw),
            info: None,
        })
    }

    /// Success with raw JSON data.
    pub fn raw(data: Option<Box<RawValue>>) -> Self {
        Response { data, info: None }
    }

    /// Adds an info text.
    pub fn info(mut self, info: impl Into<String>) -> Self {
        self.info = Some(info.into());
        self
    }

    fn into_reply(self) -> afb_core::Reply {
        afb_core::Reply::success(self.data, self.info)
    }
}

/// Typed JSON: as an argument, the whole argument deserialised (a failure
/// answers `invalid-request`); as a reply, the data serialised.
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

/// What a successful handler result turns into.
pub trait IntoResponse {
    /// The success reply.
    fn into_response(self) -> Result<Response, Error>;
}

impl IntoResponse for Response {
    fn into_response(self) -> Result<Response, Error> {
        Ok(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Result<Response, Error> {
        Ok(Response::ok())
    }
}

impl IntoResponse for Value {
    fn into_response(self) -> Result<Response, Error> {
        Response::json(&self)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Result<Response, Error> {
        Response::json(&self.0)
    }
}

/// The reply of a core call, passed through unchanged (subcalls).
impl IntoResponse for afb_core::Reply {
    fn into_response(self) -> Result<Response, Error> {
        if self.is_success() {
            Ok(Response {
                data: self.data,
                info: self.info,
            })
        } else {
            Err(Error::from(self))
        }
    }
}

/// What a handler returns: `Result<T, Error>` with `T: IntoResponse`, or a
/// bare `T`.
pub trait IntoReply {
    /// The core reply.
    fn into_reply(self) -> afb_core::Reply;
}

impl<T: IntoResponse> IntoReply for Result<T, Error> {
    fn into_reply(self) -> afb_core::Reply {
        match self.and_then(IntoResponse::into_response) {
            Ok(r) => r.into_reply(),
            Err(e) => e.into_reply(),
        }
    }
}

impl IntoReply for Response {
    fn into_reply(self) -> afb_core::Reply {
        Response::into_reply(self)
    }
}

impl IntoReply for () {
    fn into_reply(self) -> afb_core::Reply {
        afb_core::Reply::success(None, None)
    }
}

impl IntoReply for afb_core::Reply {
    fn into_reply(self) -> afb_core::Reply {
        self
    }
}

/// Runs a typed handler: extracts its arguments, then replies with what
/// its future gives. One boxed future per request.
struct Typed<H, T> {
    handler: H,
    state: ApiState,
    _args: PhantomData<fn() -> T>,
}

impl<H: Handler<T>, T: FromRequest> VerbHandler for Typed<H, T> {
    fn call(&self, req: Request) -> BoxFuture<()> {
        let fut = match T::from_request(&req, &self.state) {
            Ok(args) => self.handler.call(args),
            Err(e) => {
                req.reply(e.into_reply());
                return afb_core::api::done();
            }
        };
        Box::pin(async move {
            let reply = fut.await.into_reply();
            req.reply(reply);
        })
    }
}

/// Makes a verb's core handler once the API's state is known; `Err` names
/// the state type the handler takes and the API lacks.
type MakeHandler = Box<dyn FnOnce(&ApiState) -> Result<Arc<dyn VerbHandler>, &'static str> + Send + Sync>;

/// A verb under construction: name, handler, description, session
/// requirements.
pub struct Verb {
    name: String,
    info: String,
    auth: Auth,
    rule: Option<Arc<AuthRule>>,
    make: MakeHandler,
}

/// What [`Verb::auth`] accepts: session requirements ([`Auth`]) or an
/// access rule tree ([`AuthRule`], e.g. `Auth::perm("urn:x").or(Auth::loa(2))`).
pub trait VerbAccess {
    /// Puts the requirement on the verb.
    fn apply(self, auth: &mut Auth, rule: &mut Option<Arc<AuthRule>>);
}

impl VerbAccess for Auth {
    fn apply(self, auth: &mut Auth, _rule: &mut Option<Arc<AuthRule>>) {
        *auth = self;
    }
}

impl VerbAccess for AuthRule {
    fn apply(self, _auth: &mut Auth, rule: &mut Option<Arc<AuthRule>>) {
        *rule = Some(Arc::new(self));
    }
}

impl Verb {
    /// A verb whose handler is an `async fn` (or closure) taking any of the
    /// extractors of [`crate::handler`] ([`crate::Req`], [`crate::State<T>`],
    /// [`Value`], [`Json<T>`], [`crate::Api`], `()`), in any order, and
    /// returning `Result<T, Error>` with `T` one of `()`, [`Value`],
    /// [`Json<T>`], [`Response`] (or a core reply).
    ///
    /// ```
    /// use afb_sdk::prelude::*;
    /// async fn twice(Json(n): Json<i64>) -> Result<Json<i64>, Error> {
    ///     Ok(Json(2 * n))
    /// }
    /// let v = Verb::new("twice", twice).info("doubles a number");
    /// assert_eq!(v.name(), "twice");
    /// ```
    pub fn new<T: FromRequest, H: Handler<T>>(name: impl Into<String>, handler: H) -> Self {
        Self::with_maker(
            name,
            Box::new(move |state: &ApiState| {
                T::check(state)?;
                let typed = Typed {
                    handler,
                    state: state.clone(),
                    _args: PhantomData,
                };
                Ok(Arc::new(typed) as Arc<dyn VerbHandler>)
            }),
        )
    }

    /// A verb whose handler is a plain blocking function taking the same
    /// extractors as [`Verb::new`] (blocking file or device I/O, a C library
    /// call, heavy computation), run on tokio's blocking thread pool so
    /// that the binder's worker threads keep serving every other request
    /// meanwhile. A panic in the function answers `internal-error`. The
    /// request's timeout still answers the client, but the function itself
    /// cannot be interrupted: its thread stays busy until it returns.
    ///
    /// ```
    /// use afb_sdk::prelude::*;
    /// let v = Verb::blocking("read", |Json(path): Json<String>| {
    ///     let text = std::fs::read_to_string(path).map_err(|e| Error::failed(e.to_string()))?;
    ///     Ok::<_, Error>(Json(text))
    /// });
    /// assert_eq!(v.name(), "read");
    /// ```
    pub fn blocking<T, F>(name: impl Into<String>, f: F) -> Self
    where
        T: FromRequest,
        F: BlockingHandler<T>,
    {
        let f = Arc::new(f);
        Self::new(name, move |req: crate::Req, args: Extracted<T>| {
            let f = f.clone();
            async move {
                match tokio::task::spawn_blocking(move || f.call(args.0).into_reply()).await {
                    Ok(reply) => reply,
                    Err(e) => {
                        tracing::error!(verb = %req.verb(), "blocking verb failed: {e}");
                        Error::internal("the verb panicked").into_reply()
                    }
                }
            }
        })
    }

    /// A verb with a manual handler receiving the core [`Request`]: it may
    /// keep the request and reply later (exactly once), from anywhere.
    pub fn manual<F, Fut>(name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::with_maker(
            name,
            Box::new(move |_: &ApiState| Ok(Arc::new(handler) as Arc<dyn VerbHandler>)),
        )
    }

    fn with_maker(name: impl Into<String>, make: MakeHandler) -> Self {
        Verb {
            name: name.into(),
            info: String::new(),
            auth: Auth::NONE,
            rule: None,
            make,
        }
    }

    /// Sets the description.
    pub fn info(mut self, info: impl Into<String>) -> Self {
        self.info = info.into();
        self
    }

    /// Sets the session requirements (an [`Auth`]: token check, LOA,
    /// renew, close) or the access rule (an [`AuthRule`] tree, checked
    /// after the session requirements, its permissions asked of the
    /// binder's permission backend); call twice to set both.
    pub fn auth(mut self, access: impl VerbAccess) -> Self {
        access.apply(&mut self.auth, &mut self.rule);
        self
    }

    /// The verb's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The core verb, given the API's state; `Err` names the state type
    /// the handler takes and the API lacks.
    pub(crate) fn into_core(self, state: &ApiState) -> Result<afb_core::Verb, &'static str> {
        let handler = (self.make)(state)?;
        Ok(afb_core::Verb {
            name: self.name,
            info: self.info,
            auth: self.auth,
            rule: self.rule,
            handler,
        })
    }
}

/// The extractors of a blocking function, made before it is sent to the
/// blocking pool.
struct Extracted<T>(T);

impl<T: FromRequest> FromRequest for Extracted<T> {
    fn from_request(req: &Request, state: &ApiState) -> Result<Self, Error> {
        T::from_request(req, state).map(Extracted)
    }

    fn check(state: &ApiState) -> Result<(), &'static str> {
        T::check(state)
    }
}
