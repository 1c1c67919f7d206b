//! Verbs: typed async handlers, their argument extractors and reply types.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use afb_core::api::BoxFuture;
use afb_core::{Args, Auth, Request};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::Error;
use crate::req::Req;

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

/// Builds a handler argument from the request's arguments.
pub trait FromArgs: Sized + Send + 'static {
    /// Extracts; an error is replied instead of running the verb.
    fn from_args(args: &Args) -> Result<Self, Error>;
}

impl FromArgs for () {
    fn from_args(_: &Args) -> Result<Self, Error> {
        Ok(())
    }
}

impl FromArgs for Value {
    fn from_args(args: &Args) -> Result<Self, Error> {
        Ok(args.value().clone())
    }
}

impl<T: DeserializeOwned + Send + 'static> FromArgs for Json<T> {
    fn from_args(args: &Args) -> Result<Self, Error> {
        args.deserialize().map(Json).map_err(Error::from)
    }
}

/// A typed verb implementation: `async fn(Req, A) -> R`.
pub trait Handler<A>: Send + Sync + 'static {
    /// What the handler's future gives.
    type Output: IntoReply;
    /// The handler's future (awaited inside the one future the core runs
    /// per request: no second allocation).
    type Future: Future<Output = Self::Output> + Send + 'static;
    /// Runs the handler.
    fn run(&self, req: Req, args: A) -> Self::Future;
}

impl<F, Fut, A, R> Handler<A> for F
where
    F: Fn(Req, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    A: FromArgs,
    R: IntoReply,
{
    type Output = R;
    type Future = Fut;

    fn run(&self, req: Req, args: A) -> Fut {
        self(req, args)
    }
}

struct Typed<H, A> {
    handler: H,
    _args: PhantomData<fn() -> A>,
}

impl<H: Handler<A>, A: FromArgs> afb_core::VerbHandler for Typed<H, A> {
    fn call(&self, req: Request) -> BoxFuture<()> {
        let args = match A::from_args(req.args()) {
            Ok(a) => a,
            Err(e) => {
                req.reply(e.into_reply());
                return Box::pin(async {});
            }
        };
        let fut = self.handler.run(Req::new(req.handle()), args);
        Box::pin(async move {
            let reply = fut.await.into_reply();
            req.reply(reply);
        })
    }
}

/// A verb under construction: name, handler, description, session
/// requirements.
pub struct Verb {
    pub(crate) inner: afb_core::Verb,
}

impl Verb {
    /// A verb whose handler is `async fn(Req, A) -> R`, where `A` is `()`,
    /// [`Value`] or [`Json<T>`], and `R` is `Result<T, Error>` with `T` one
    /// of `()`, [`Value`], [`Json<T>`], [`Response`].
    pub fn new<A: FromArgs, H: Handler<A>>(name: impl Into<String>, handler: H) -> Self {
        Verb {
            inner: afb_core::Verb::new(
                name,
                Typed {
                    handler,
                    _args: PhantomData,
                },
            ),
        }
    }

    /// A verb whose handler also receives a shared state of the API:
    /// `async fn(Arc<S>, Req, A) -> R`.
    pub fn with_state<S, A, F, Fut, R>(name: impl Into<String>, state: &Arc<S>, handler: F) -> Self
    where
        S: Send + Sync + 'static,
        A: FromArgs,
        F: Fn(Arc<S>, Req, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoReply,
    {
        let state = state.clone();
        Self::new(name, move |req: Req, args: A| handler(state.clone(), req, args))
    }

    /// A verb whose handler is a plain blocking function `fn(Req, A) -> R`
    /// (blocking file or device I/O, a C library call, heavy computation),
    /// run on tokio's blocking thread pool so that the binder's worker
    /// threads keep serving every other request meanwhile. A panic in the
    /// function answers `internal-error`. The request's timeout still
    /// answers the client, but the function itself cannot be interrupted:
    /// its thread stays busy until it returns.
    ///
    /// ```
    /// use afb_sdk::prelude::*;
    /// let v = Verb::blocking("read", |_req: Req, Json(path): Json<String>| {
    ///     let text = std::fs::read_to_string(path).map_err(|e| Error::failed(e.to_string()))?;
    ///     Ok::<_, Error>(Json(text))
    /// });
    /// assert_eq!(v.name(), "read");
    /// ```
    pub fn blocking<A, F, R>(name: impl Into<String>, f: F) -> Self
    where
        A: FromArgs,
        F: Fn(Req, A) -> R + Send + Sync + 'static,
        R: IntoReply + Send + 'static,
    {
        let f = Arc::new(f);
        Self::new(name, move |req: Req, args: A| {
            let f = f.clone();
            async move {
                let verb = req.verb().to_owned();
                match tokio::task::spawn_blocking(move || f(req, args).into_reply()).await {
                    Ok(reply) => reply,
                    Err(e) => {
                        tracing::error!(verb = %verb, "blocking verb failed: {e}");
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
        Verb {
            inner: afb_core::Verb::new(name, handler),
        }
    }

    /// Sets the description.
    pub fn info(mut self, info: impl Into<String>) -> Self {
        self.inner.info = info.into();
        self
    }

    /// Sets the session requirements (token check, LOA, renew, close).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.inner.auth = auth;
        self
    }

    /// The verb's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

/// A shared handler usable by several verbs.
pub type SharedHandler = Arc<dyn afb_core::VerbHandler>;
