//! A connected byte stream of any kind, and its two halves.
//!
//! TLS is the `Tls` variant: a rustls session (client or server side) over
//! another [`Stream`], made by the listener or connector when the URI has a
//! `tls+`/`mtls+` prefix; the transports keep seeing one [`Stream`].

use std::io::{self, IoSlice};
use std::pin::Pin;
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
    Tls(tokio::io::ReadHalf<Box<TlsStream>>),
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
    Tls(tokio::io::WriteHalf<Box<TlsStream>>),
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
                let (r, w) = tokio::io::split(s);
                (ReadHalf::Tls(r), WriteHalf::Tls(w))
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

macro_rules! async_read {
    ($t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                each!(self, s => Pin::new(s).poll_read(cx, buf))
            }
        }
    };
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

async_read!(Stream);
async_read!(ReadHalf);
async_write!(Stream);
async_write!(WriteHalf);
