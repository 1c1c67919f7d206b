//! A connected byte stream of any kind, and its two halves.
//!
//! TLS is the `Tls` variant: a rustls session (client or server side) over
//! another [`Stream`], made by the listener or connector when the URI has a
//! `tls+`/`mtls+` prefix; the transports keep seeing one [`Stream`].
//!
//! rustls may keep encrypted bytes of a write that the socket did not take
//! (the write still reports them written, as TCP would); they go with the
//! next write or flush. A transport that writes without flushing and then
//! waits reading (as wsapi links do) would leave them there: so reading a
//! TLS stream (or its read half) first sends what rustls holds.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;
use tokio::net::{tcp, unix, TcpStream, UnixStream};

use crate::socket::serial::CharDevice;

/// A TLS session over a stream.
pub type TlsStream = tokio_rustls::TlsStream<Stream>;

/// A connected stream: TCP, unix socket or character device, or TLS over one.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection (TCP_NODELAY set).
    Tcp(TcpStream),
    /// A unix-socket connection.
    Unix(UnixStream),
    /// An open character device (serial line).
    Char(CharDevice),
    /// TLS over one of the above.
    Tls(Box<TlsStream>),
}

/// The reading half of a [`Stream`].
#[derive(Debug)]
pub enum ReadHalf {
    /// Of a TCP connection.
    Tcp(tcp::OwnedReadHalf),
    /// Of a unix-socket connection.
    Unix(unix::OwnedReadHalf),
    /// Of a character device.
    Char(pipe::Receiver),
    /// Of a TLS session.
    Tls(TlsHalf),
}

/// The writing half of a [`Stream`].
#[derive(Debug)]
pub enum WriteHalf {
    /// Of a TCP connection.
    Tcp(tcp::OwnedWriteHalf),
    /// Of a unix-socket connection.
    Unix(unix::OwnedWriteHalf),
    /// Of a character device.
    Char(pipe::Sender),
    /// Of a TLS session.
    Tls(TlsHalf),
}

/// A half of a split TLS session (both halves share the session; each poll
/// holds it briefly).
#[derive(Debug)]
pub struct TlsHalf(Arc<Mutex<Box<TlsStream>>>);

impl TlsHalf {
    fn lock(&self) -> MutexGuard<'_, Box<TlsStream>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads from a TLS session, first sending what rustls still holds of
/// earlier writes (see the module documentation).
fn tls_read(s: &mut TlsStream, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    if s.get_ref().1.wants_write() {
        // Pending: the task is woken when the socket takes more. An error
        // shows again on the next read or write.
        let _ = Pin::new(&mut *s).poll_flush(cx);
    }
    Pin::new(s).poll_read(cx, buf)
}

impl AsyncRead for TlsHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        tls_read(&mut self.lock(), cx, buf)
    }
}

impl AsyncWrite for TlsHalf {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self.lock()).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self.lock()).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut **self.lock()).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut **self.lock()).poll_shutdown(cx)
    }
}

impl Stream {
    /// Splits into halves usable from two tasks.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Unix(r), WriteHalf::Unix(w))
            }
            Stream::Char(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Char(r), WriteHalf::Char(w))
            }
            Stream::Tls(s) => {
                let shared = Arc::new(Mutex::new(s));
                (ReadHalf::Tls(TlsHalf(shared.clone())), WriteHalf::Tls(TlsHalf(shared)))
            }
        }
    }

    /// Whether it is a TLS session.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The ALPN protocol agreed in the TLS handshake, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match self {
            Stream::Tls(s) => s.get_ref().1.alpn_protocol(),
            _ => None,
        }
    }
}

/// Forwards a poll method to the variant's value.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Self::Tcp($s) => $e,
            Self::Unix($s) => $e,
            Self::Char($s) => $e,
            Self::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Self::Char(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => tls_read(s, cx, buf),
        }
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

macro_rules! async_write {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                each!(self, s => Pin::new(s).poll_write(cx, buf))
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
            }
            fn is_write_vectored(&self) -> bool {
                match self {
                    Self::Tcp(s) => s.is_write_vectored(),
                    Self::Unix(s) => s.is_write_vectored(),
                    Self::Char(s) => s.is_write_vectored(),
                    Self::Tls(s) => s.is_write_vectored(),
                }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                each!(self, s => Pin::new(s).poll_flush(cx))
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                each!(self, s => Pin::new(s).poll_shutdown(cx))
            }
        }
    };
}

async_write!(Stream);
async_write!(WriteHalf);
