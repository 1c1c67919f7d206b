//! The one listener type: binds any listening address of a [`SocketUri`]
//! and accepts [`Stream`]s with their [`PeerInfo`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use tokio::net::{TcpListener, UnixListener};

use crate::peer::PeerInfo;
use crate::socket::unix::SocketFile;
use crate::socket::{context, sd, tcp, unix};
use crate::stream::Stream;
use crate::uri::{Address, SocketUri};

/// Settings of listeners.
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    /// Permissions of a new socket file (e.g. `0o660`); `None`: the umask's.
    pub socket_mode: Option<u32>,
}

enum Kind {
    /// One socket per address of the host; accepted in turn.
    Tcp {
        sockets: Vec<TcpListener>,
        next: AtomicUsize,
    },
    /// The socket file is removed when the listener is dropped.
    Unix {
        listener: UnixListener,
        file: Option<SocketFile>,
    },
}

/// A listening socket (TCP, unix file, unix abstract, passed by systemd).
pub struct Listener {
    kind: Kind,
    shown: String,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Listener").field(&self.shown).finish()
    }
}

/// Where it listens: `tcp:127.0.0.1:1234, tcp:[::1]:1234`, `unix:/path`,
/// `unix:@name`, `sd:web (tcp:0.0.0.0:80)`.
impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

fn tcp_shown(sockets: &[TcpListener]) -> String {
    let shown: Vec<String> = sockets
        .iter()
        .map(|l| match l.local_addr() {
            Ok(a) => format!("tcp:{a}"),
            Err(_) => "tcp:?".to_owned(),
        })
        .collect();
    shown.join(", ")
}

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Listener::tcp(vec![l])
    }
}

impl From<UnixListener> for Listener {
    fn from(l: UnixListener) -> Self {
        let shown = match l
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
        {
            Some(p) => format!("unix:{p}"),
            None => "unix:(unnamed)".to_owned(),
        };
        Listener {
            kind: Kind::Unix {
                listener: l,
                file: None,
            },
            shown,
        }
    }
}

impl Listener {
    fn tcp(sockets: Vec<TcpListener>) -> Self {
        Listener {
            shown: tcp_shown(&sockets),
            kind: Kind::Tcp {
                sockets,
                next: AtomicUsize::new(0),
            },
        }
    }

    /// Binds and listens on `uri`'s address. The `ws+` prefix is the
    /// protocol's business; TLS (`tls+`, `mtls+`) is not supported yet.
    pub async fn bind(uri: &SocketUri, opts: &ListenOptions) -> io::Result<Listener> {
        if uri.prefixes.tls() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("cannot listen on {uri}: tls+ and mtls+ are not supported yet"),
            ));
        }
        Listener::bind_address(&uri.address, opts).await
    }

    /// Binds and listens on `address`: every address of a TCP host (`*`:
    /// IPv6 and IPv4), a unix socket file (the stale-file rule of the crate
    /// documentation first), an abstract name, or for `sd:NAME` the socket
    /// [`crate::provide_systemd_sockets`] gave under that name.
    pub async fn bind_address(address: &Address, opts: &ListenOptions) -> io::Result<Listener> {
        let made = match address {
            Address::Tcp { host, port } => tcp::bind(host, *port).await.map(Listener::tcp),
            Address::Unix(path) => unix::bind_path(path, opts.socket_mode)
                .await
                .map(|(listener, file)| Listener {
                    kind: Kind::Unix {
                        listener,
                        file: Some(file),
                    },
                    shown: address.to_string(),
                }),
            Address::Abstract(name) => unix::bind_abstract(name).map(|listener| Listener {
                kind: Kind::Unix { listener, file: None },
                shown: address.to_string(),
            }),
            Address::Systemd(name) => sd::take(name).and_then(Listener::from_fd).map(|mut l| {
                l.shown = format!("{address} ({})", l.shown);
                l
            }),
            Address::Char(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a character device can be connected to, not listened on",
            )),
        };
        made.map_err(|e| context(e, format_args!("cannot listen on {address}")))
    }

    /// Adopts a listening socket (unix or TCP) passed as a descriptor.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Listener> {
        let unix = std::os::unix::net::UnixListener::from(fd);
        if unix.local_addr().is_ok() {
            unix.set_nonblocking(true)?;
            return UnixListener::from_std(unix).map(Listener::from);
        }
        let tcp = std::net::TcpListener::from(OwnedFd::from(unix));
        if let Err(e) = tcp.local_addr() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the passed socket is neither a unix nor a TCP listener: {e}"),
            ));
        }
        tcp.set_nonblocking(true)?;
        TcpListener::from_std(tcp).map(Listener::from)
    }

    /// Accepts a connection (TCP_NODELAY set on TCP ones).
    pub async fn accept(&self) -> io::Result<(Stream, PeerInfo)> {
        match &self.kind {
            Kind::Tcp { sockets, next } => {
                let (s, remote) = std::future::poll_fn(|cx| {
                    // Start with a different socket each time: none starves.
                    let start = next.fetch_add(1, Ordering::Relaxed) % sockets.len().max(1);
                    for l in sockets.iter().cycle().skip(start).take(sockets.len()) {
                        if let Poll::Ready(r) = l.poll_accept(cx) {
                            return Poll::Ready(r);
                        }
                    }
                    Poll::Pending
                })
                .await?;
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), PeerInfo::Tcp { remote }))
            }
            Kind::Unix { listener, file } => {
                let (s, peer) = unix::accept(listener, file.as_ref()).await?;
                Ok((Stream::Unix(s), peer))
            }
        }
    }

    /// The TCP port listened on (useful after binding port 0).
    pub fn port(&self) -> Option<u16> {
        self.local_addrs().first().map(SocketAddr::port)
    }

    /// The TCP addresses listened on (empty for unix sockets).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        match &self.kind {
            Kind::Tcp { sockets, .. } => sockets.iter().filter_map(|l| l.local_addr().ok()).collect(),
            Kind::Unix { .. } => Vec::new(),
        }
    }

    /// Whether it is a unix socket.
    pub fn is_unix(&self) -> bool {
        matches!(self.kind, Kind::Unix { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    /// A host name with several addresses gives one listener with several
    /// sockets: each accepts, and a busy one does not starve the others.
    #[tokio::test]
    async fn several_sockets_accept_in_turn() {
        let v4 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = v4.local_addr().unwrap().port();
        let v6 = TcpListener::bind(("::1", port)).await.unwrap();
        let l = Listener::tcp(vec![v4, v6]);
        assert_eq!(l.to_string(), format!("tcp:127.0.0.1:{port}, tcp:[::1]:{port}"));
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        }
        clients.push(TcpStream::connect(("::1", port)).await.unwrap());
        let mut seen_v6 = false;
        for _ in 0..2 {
            let (_, peer) = l.accept().await.unwrap();
            seen_v6 |= peer.remote_addr().is_some_and(|a| a.is_ipv6());
        }
        assert!(seen_v6, "the IPv6 client was accepted within the first two");
    }
}
