//! Loading bindings written in C (shared objects implementing the binding
//! ABI version 4, 3, 2 or 1) and serving their APIs from the registry.
//!
//! Use [`load`] for one shared object (`--binding`) and [`scan`] to list
//! those of a directory tree (`--ldpaths`). Each API of a binding becomes
//! a registry API whose verbs call the C callbacks on tokio's blocking
//! pool; the function tables each ABI expects (`v4::ITF`, the v3 API,
//! request and event interfaces, the v1/v2 daemon and service interfaces)
//! are implemented here on the core, with every `extern "C"` entry point
//! catching panics. `docs/bindings.md` says who owns every pointer that
//! crosses the boundary.
//!
//! [`so`] is the other direction: a binding written in Rust and built as a
//! shared object that v4 binders (this one or the C one) load.
//!
//! C code runs in the binder's process, unprotected: a crash in a binding
//! stops the binder, as with the C binders' `--trap-faults=no`;
//! [`current_binding`] lets the daemon's fatal-signal handler name it.

#![deny(unsafe_op_in_unsafe_fn)]

mod capi;
mod jsonc;
mod loader;
mod req;
pub mod so;
mod util;
mod v3;
mod v4;
mod v4data;
mod x2;

pub use loader::{load, scan, LoadError, Loaded};

/// Records the runtime that C threads re-enter (calls made from threads
/// the bindings create themselves). [`load`] records the current one.
pub fn set_runtime(h: tokio::runtime::Handle) {
    util::set_runtime(h)
}

/// The highest v4 interface revision implemented.
pub const V4_MAX_REVISION: u16 = v4::MAX_REVISION;

/// The v4 interface revision the headers give a binding that does not
/// choose one.
pub const V4_CURRENT_REVISION: u16 = v4::CURRENT_REVISION;

/// Names the C binding whose code the calling thread runs (a verb, an
/// `init`, an event handler, a job, a timer, a call's callback, or the
/// binding's loading), as `binding PATH` or `binding PATH (API NAME)`;
/// `None` outside C code. Async-signal-safe (a thread-local load): meant
/// for a fatal-signal handler.
pub fn current_binding() -> Option<&'static [u8]> {
    util::current_binding()
}
