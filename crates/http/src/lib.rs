//! HTTP transport: REST calls on `/api/API/VERB`, static files, uploads,
//! sessions over HTTP, and the `x-afb-ws-json1` WebSocket server.
//!
//! STATUS: being written.

pub mod assets;
pub mod ws;
