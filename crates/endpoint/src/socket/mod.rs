//! One module per kind of socket behind one seam ([`crate::Listener`],
//! [`crate::Connector`], [`crate::Stream`]): how each binds, connects and
//! accepts.

// The one module of the endpoint layer with unsafe code (getsockopt SO_PEERSEC).
#[allow(unsafe_code)]
pub(crate) mod peersec;
pub(crate) mod sd;
pub(crate) mod serial;
pub(crate) mod tcp;
pub(crate) mod unix;

use std::io;

/// `e` with `what` said before its message, same kind.
pub(crate) fn context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
