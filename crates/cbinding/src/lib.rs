//! Loading bindings written in C (shared objects implementing the binding
//! ABI version 4, 3, 2 or 1) and serving their APIs from the registry.
//!
//! Use [`load`] for one shared object (`--binding`) and [`scan`] to list
//! those of a directory tree (`--ldpaths`). Each API of a binding becomes
//! a registry API whose verbs call the C callbacks on tokio's blocking
//! pool; the function tables each ABI expects (the v4 table, the v3 API,
//! request and event interfaces, the v1/v2 daemon and service interfaces)
//! are implemented here on the core, with every `extern "C"` entry point
//! catching panics. `docs/bindings.md` says who owns every pointer that
//! crosses the boundary. The layout of the v4 table is defined once, in
//! `afb-binding-so`, which Rust bindings built as shared objects use too.
//!
//! C code runs in the binder's process, unprotected: a crash in a binding
//! stops the binder, as with the C binders' `--trap-faults=no`;
//! [`current_binding`] lets the daemon's fatal-signal handler name it.
//!
//! # Modules
//!
//! A module uses only the modules below it (no cycle):
//!
//! ```text
//! loader          dlopen, symbols, each ABI's start-up
//! ├─ v1v2         ABI v1, v2: descriptions, daemon and service interfaces
//! │  └─ v3        ABI v3: the API interface; v2 and v3 verb arrays
//! │     └─ x2     the v1-v3 request interface (x2::call: its calls)
//! └─ v4           ABI v4: req, api, data_itf (on data), timer; itf: the table
//!
//! x2, v3, v1v2, v4 use:
//!    event        the events of every ABI; the v1-v3 event interface
//!    common       the operations every ABI offers on APIs and requests
//!    req          the reply and the calls of every request
//! which use:
//!    capi         one API: verbs, handlers, init, registration (no ABI)
//! and all use util, jsonc, errno.
//! ```
//!
//! `capi` calls the C callbacks of every ABI through the closures the ABI
//! modules give it (`capi::VerbFn` and the others), never by name.

#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

#[allow(unsafe_code)]
mod capi;
#[allow(unsafe_code)]
mod common;
mod errno;
#[allow(unsafe_code)]
mod event;
#[allow(unsafe_code)]
mod jsonc;
#[allow(unsafe_code)]
mod loader;
mod req;
#[allow(unsafe_code)]
mod util;
#[allow(unsafe_code)]
mod v1v2;
#[allow(unsafe_code)]
mod v3;
#[allow(unsafe_code)]
mod v4;
#[allow(unsafe_code)]
mod x2;

pub use loader::{load, scan, LoadError, Loaded};

/// Records the runtime that C threads re-enter (calls made from threads
/// the bindings create themselves). [`load`] records the current one.
pub fn set_runtime(h: tokio::runtime::Handle) {
    util::set_runtime(h)
}

/// The highest v4 interface revision implemented.
pub const V4_MAX_REVISION: u16 = afb_binding_so::abi::MAX_REVISION;

/// The v4 interface revision the headers give a binding that does not
/// choose one.
pub const V4_CURRENT_REVISION: u16 = afb_binding_so::abi::CURRENT_REVISION;

/// Names the C binding whose code the calling thread runs (a verb, an
/// `init`, an event handler, a job, a timer, a call's callback, or the
/// binding's loading), as `binding PATH` or `binding PATH (API NAME)`;
/// `None` outside C code. Async-signal-safe (a thread-local load): meant
/// for a fatal-signal handler.
pub fn current_binding() -> Option<&'static [u8]> {
    util::current_binding()
}
