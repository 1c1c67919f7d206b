//! Handlers that take only what they use: a verb's handler is an `async fn`
//! (or closure) of zero to eight arguments, each an extractor made from the
//! request before the handler runs ([`FromRequest`]): [`Req`], [`Api`],
//! [`State<T>`], the argument as a [`Value`] or as [`Json<T>`] for any
//! `T: Deserialize`, or `()` (nothing).
//!
//! ```
//! use afb_sdk::prelude::*;
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! #[derive(Default)]
//! struct Counter(AtomicU64);
//!
//! #[derive(serde::Deserialize)]
//! struct Add {
//!     n: u64,
//! }
//!
//! async fn add(counter: State<Counter>, Json(a): Json<Add>) -> Result<Value, Error> {
//!     Ok(json!(counter.0.fetch_add(a.n, Ordering::Relaxed) + a.n))
//! }
//!
//! async fn hello() -> Result<Value, Error> {
//!     Ok(json!("hello"))
//! }
//!
//! let api = ApiBuilder::new("count")
//!     .state(Counter::default())
//!     .verb(Verb::new("add", add))
//!     .verb(Verb::new("hello", hello))
//!     .verb(Verb::new("who", |req: Req| async move { Ok::<_, Error>(json!(req.session_uuid())) }));
//! assert!(api.build().is_ok());
//! ```
//!
//! Extraction costs no allocation of its own beyond what the extractor
//! holds (a [`Value`] is a copy of the argument, [`Json<T>`] a `T`); the
//! handler's future is the one future the binder allocates per request.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use afb_core::Request;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::Api;
use crate::error::Error;
use crate::req::Req;
use crate::verb::{IntoReply, Json};

/// The state an API was given with [`crate::ApiBuilder::state`], as the
/// extractors see it (type-erased; [`State<T>`] gets it back typed).
#[derive(Clone, Default)]
pub struct ApiState(Option<Arc<dyn Any + Send + Sync>>);

impl ApiState {
    pub(crate) fn new<T: Any + Send + Sync>(value: Arc<T>) -> Self {
        ApiState(Some(value))
    }

    /// The state, if it is a `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.clone()?.downcast::<T>().ok()
    }

    /// Whether the state is a `T`.
    pub fn is<T: Any + Send + Sync>(&self) -> bool {
        self.0.as_deref().is_some_and(|s| s.is::<T>())
    }
}

impl fmt::Debug for ApiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ApiState(..)"
        } else {
            "ApiState(none)"
        })
    }
}

/// A handler argument made from the request (and the API's state) before
/// the handler runs.
pub trait FromRequest: Sized + Send + 'static {
    /// Extracts; an error is replied instead of running the handler.
    fn from_request(req: &Request, state: &ApiState) -> Result<Self, Error>;

    /// Checked once, when the API is built: what this extractor needs of
    /// the API's state. `Err` names the missing state type.
    fn check(state: &ApiState) -> Result<(), &'static str> {
        let _ = state;
        Ok(())
    }
}

/// The request itself (its session, context, LOA, events, calls).
impl FromRequest for Req {
    fn from_request(req: &Request, _: &ApiState) -> Result<Self, Error> {
        Ok(Req::new(req.handle()))
    }
}

/// The API the verb belongs to (events, broadcasts, calls in its name).
impl FromRequest for Api {
    fn from_request(req: &Request, _: &ApiState) -> Result<Self, Error> {
        Ok(Api::new(req.api()))
    }
}

/// The whole argument as a JSON value (`null` when there is none).
impl FromRequest for Value {
    fn from_request(req: &Request, _: &ApiState) -> Result<Self, Error> {
        Ok(req.args().to_value())
    }
}

/// The whole argument deserialised; a failure answers `invalid-request`.
impl<T: DeserializeOwned + Send + 'static> FromRequest for Json<T> {
    fn from_request(req: &Request, _: &ApiState) -> Result<Self, Error> {
        req.args().deserialize().map(Json).map_err(Error::from)
    }
}

/// The API's state, given once with [`crate::ApiBuilder::state`]; reads as
/// a `&T`. A verb taking a `State<T>` in an API whose state is not a `T` is
/// refused when the API is built.
pub struct State<T>(Arc<T>);

impl<T> State<T> {
    /// The shared state itself (to keep it beyond the call).
    pub fn into_arc(self) -> Arc<T> {
        self.0
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(self.0.clone())
    }
}

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

impl<T: Any + Send + Sync> FromRequest for State<T> {
    fn from_request(_: &Request, state: &ApiState) -> Result<Self, Error> {
        // Checked when the API was built: this cannot fail.
        state
            .get::<T>()
            .map(State)
            .ok_or_else(|| Error::internal("the API has no state of the type the verb takes"))
    }

    fn check(state: &ApiState) -> Result<(), &'static str> {
        if state.is::<T>() {
            Ok(())
        } else {
            Err(std::any::type_name::<T>())
        }
    }
}

/// A verb's implementation taking the extractors `T` (a tuple, one per
/// argument): any `Fn(A, B, ..) -> impl Future<Output = R>` whose arguments
/// are [`FromRequest`] and whose result is [`IntoReply`].
pub trait Handler<T>: Send + Sync + 'static {
    /// What the handler's future gives.
    type Output: IntoReply;
    /// The handler's future (awaited inside the one future the core runs
    /// per request: no second allocation).
    type Future: Future<Output = Self::Output> + Send + 'static;
    /// Runs the handler with its arguments.
    fn call(&self, args: T) -> Self::Future;
}

/// A blocking verb's implementation: any `Fn(A, B, ..) -> R` whose
/// arguments are [`FromRequest`] (see [`crate::Verb::blocking`]).
pub trait BlockingHandler<T>: Send + Sync + 'static {
    /// What the function returns.
    type Output: IntoReply + Send + 'static;
    /// Runs the function with its arguments.
    fn call(&self, args: T) -> Self::Output;
}

macro_rules! arity {
    ($($T:ident),*) => {
        /// Several extractors, made in order; the first error is replied.
        impl<$($T: FromRequest),*> FromRequest for ($($T,)*) {
            #[allow(unused_variables)]
            fn from_request(req: &Request, state: &ApiState) -> Result<Self, Error> {
                Ok(($($T::from_request(req, state)?,)*))
            }

            #[allow(unused_variables)]
            fn check(state: &ApiState) -> Result<(), &'static str> {
                $($T::check(state)?;)*
                Ok(())
            }
        }

        impl<F, Fut, R, $($T,)*> Handler<($($T,)*)> for F
        where
            F: Fn($($T),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($T: FromRequest,)*
        {
            type Output = R;
            type Future = Fut;

            #[allow(non_snake_case)]
            fn call(&self, ($($T,)*): ($($T,)*)) -> Fut {
                self($($T),*)
            }
        }

        impl<F, R, $($T,)*> BlockingHandler<($($T,)*)> for F
        where
            F: Fn($($T),*) -> R + Send + Sync + 'static,
            R: IntoReply + Send + 'static,
            $($T: FromRequest,)*
        {
            type Output = R;

            #[allow(non_snake_case)]
            fn call(&self, ($($T,)*): ($($T,)*)) -> R {
                self($($T),*)
            }
        }
    };
}

arity!();
arity!(A);
arity!(A, B);
arity!(A, B, C);
arity!(A, B, C, D);
arity!(A, B, C, D, E);
arity!(A, B, C, D, E, G);
arity!(A, B, C, D, E, G, H);
arity!(A, B, C, D, E, G, H, I);
