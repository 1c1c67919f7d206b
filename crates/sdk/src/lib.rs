//! The binding SDK: write binder APIs in idiomatic async Rust.
//!
//! An API is a name, an optional state shared by its verbs
//! ([`ApiBuilder::state`]) and a set of verbs. A verb is an `async fn`
//! taking only what it uses, in any order ([`handler`]): the request
//! ([`Req`]), the API's state ([`State<T>`]), the argument as a JSON
//! [`Value`] or as [`Json<T>`] for any `T: Deserialize`, the [`Api`]; and
//! returning `Result<T, Error>` where `T` is `()`, a [`Value`], a
//! [`Json<T>`] for any `T: Serialize`, or a [`Response`] (data plus an info
//! text); a handler returning nothing succeeds without data. The binder replies with what the verb returns: exactly once, even
//! if the verb panics (`internal-error`), times out (`timeout`) or its
//! client goes away.
//!
//! **Async verbs must not block.** They run on the binder's few worker
//! threads (one per CPU): a verb that sleeps, waits on blocking I/O, holds a
//! lock for long or computes for long stops every other request that worker
//! would serve, in every API. Await instead (`tokio::time::sleep`,
//! `tokio::fs`, channels), or move the blocking part to the blocking thread
//! pool: [`Verb::blocking`] for a whole verb written as a plain function,
//! [`Req::blocking`] for one step of an async verb.
//!
//! Per-session state is a typed context value ([`Req::context`]); the level
//! of assurance and the token checks are declared on the verb ([`Auth`]);
//! events are made by the API ([`Api::new_event`]), subscribed by requests
//! ([`Req::subscribe`]) and pushed ([`Event::push`]) or broadcast
//! ([`Event::broadcast`], [`Api::broadcast`]) with any serialisable data.
//!
//! # Example: a shared game board
//!
//! This is the shape of the `tictactoe` sample (`samples/tictactoe`): the
//! board lives in the session's context, every change is pushed to the
//! players, and `wait` answers only when the board changes.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use afb_sdk::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use tokio::sync::watch;
//!
//! #[derive(Clone, Serialize)]
//! struct Board {
//!     cells: [char; 9],
//!     moves: u32,
//! }
//!
//! /// What a session holds: a handle on its board.
//! struct Game {
//!     board: Mutex<Board>,
//!     changed: watch::Sender<u32>,
//!     event: Event,
//! }
//!
//! fn game_of(req: &Req) -> Result<Arc<Game>, Error> {
//!     if let Some(g) = req.context::<Game>() {
//!         return Ok(g);
//!     }
//!     let event = req.api().new_event("board")?;
//!     let game = req.set_context(Game {
//!         board: Mutex::new(Board { cells: [' '; 9], moves: 0 }),
//!         changed: watch::channel(0).0,
//!         event,
//!     });
//!     let _ = req.subscribe(&game.event); // HTTP clients cannot subscribe
//!     Ok(game)
//! }
//!
//! #[derive(Deserialize)]
//! struct Move {
//!     index: usize,
//! }
//!
//! async fn play_move(req: Req, Json(m): Json<Move>) -> Result<Json<Board>, Error> {
//!     let game = game_of(&req)?;
//!     let board = {
//!         let mut b = game.board.lock().unwrap();
//!         match b.cells.get(m.index) {
//!             Some(' ') => {}
//!             Some(_) => return Err(Error::failed("cell taken")),
//!             None => return Err(Error::invalid_request("index must be 0..8")),
//!         }
//!         b.cells[m.index] = if b.moves % 2 == 0 { 'X' } else { 'O' };
//!         b.moves += 1;
//!         b.clone()
//!     };
//!     game.event.push(&board)?;
//!     game.changed.send_modify(|n| *n += 1);
//!     Ok(Json(board))
//! }
//!
//! async fn wait(req: Req) -> Result<Json<Board>, Error> {
//!     let game = game_of(&req)?;
//!     let mut rx = game.changed.subscribe();
//!     rx.changed().await.map_err(|_| Error::bad_state("board gone"))?;
//!     let board = game.board.lock().unwrap().clone();
//!     Ok(Json(board))
//! }
//!
//! fn game_api() -> ApiBuilder {
//!     ApiBuilder::new("game")
//!         .info("a tiny board")
//!         .verb(Verb::new("move", play_move).info("play at {index}"))
//!         .verb(Verb::new("wait", wait).info("reply when the board changes"))
//!         .verb(Verb::new("reset", |req: Req| async move {
//!             req.clear_context();
//!             Ok::<_, Error>(())
//!         }).auth(Auth::check()))
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use afb_sdk::testing::{data, TestBinder};
//! let binder = TestBinder::start(vec![game_api()]).await.unwrap();
//! let player = binder.client();
//! // `wait` replies only after the next move on this session's board.
//! let (waited, moved) = tokio::join!(player.call("game", "wait", &()), async {
//!     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
//!     player.call("game", "move", &serde_json::json!({"index": 4})).await
//! });
//! assert_eq!(data(&moved)["cells"][4], "X");
//! assert_eq!(data(&waited)["moves"], 1);
//! let pushed = player.next_event(std::time::Duration::from_secs(1)).await.unwrap();
//! assert_eq!(pushed.name, "game/board");
//! # });
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod api;
pub mod error;
pub mod event;
pub mod handler;
pub mod req;
pub mod testing;
pub mod verb;

pub use afb_core::access::AuthRule;
pub use afb_core::{Args, Auth, Loa, LogLevel, Request};
pub use api::{Api, ApiBuilder};
pub use error::{BuildError, Error};
pub use event::Event;
pub use handler::{BlockingHandler, FromRequest, Handler, State};
pub use req::Req;
pub use serde_json::{json, Value};
pub use verb::{IntoReply, IntoResponse, Json, Response, Verb, VerbAccess};

/// The core crate, for what the SDK does not wrap.
pub use afb_core as core;

/// Everything a binding usually needs.
pub mod prelude {
    pub use crate::{
        json, Api, ApiBuilder, Args, Auth, AuthRule, Error, Event, Json, Loa, LogLevel, Req, Response, State, Value,
        Verb,
    };
}

/// Logs through an [`Api`] or a [`Req`] at a level:
/// `afb_sdk::log!(req, LogLevel::Notice, "moved to {}", index)`.
#[macro_export]
macro_rules! log {
    ($target:expr, $level:expr, $($arg:tt)+) => {
        $target.log($level, format_args!($($arg)+))
    };
}

/// Logs an error through an [`Api`] or a [`Req`].
#[macro_export]
macro_rules! error {
    ($target:expr, $($arg:tt)+) => { $crate::log!($target, $crate::LogLevel::Error, $($arg)+) };
}

/// Logs a warning through an [`Api`] or a [`Req`].
#[macro_export]
macro_rules! warning {
    ($target:expr, $($arg:tt)+) => { $crate::log!($target, $crate::LogLevel::Warning, $($arg)+) };
}

/// Logs a notice through an [`Api`] or a [`Req`].
#[macro_export]
macro_rules! notice {
    ($target:expr, $($arg:tt)+) => { $crate::log!($target, $crate::LogLevel::Notice, $($arg)+) };
}

/// Logs an informational message through an [`Api`] or a [`Req`].
#[macro_export]
macro_rules! info {
    ($target:expr, $($arg:tt)+) => { $crate::log!($target, $crate::LogLevel::Info, $($arg)+) };
}

/// Logs a debug message through an [`Api`] or a [`Req`].
#[macro_export]
macro_rules! debug {
    ($target:expr, $($arg:tt)+) => { $crate::log!($target, $crate::LogLevel::Debug, $($arg)+) };
}
