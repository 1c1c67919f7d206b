//! The one listener type: binds any listening address of a [`SocketUri`]
//! and accepts [`Stream`]s with their [`PeerInfo`]. A TLS listener runs
//! its raw listener in a task of its own, which does the handshakes
//! beside accepting (see [`crate::tls`]); `accept` gives the connections
//! whose handshake succeeded.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;

use crate::peer::PeerInfo;
use crate::socket::unix::SocketFile;
use crate::socket::{context, sd, tcp, unix};
use crate::stream::Stream;
use crate::tls::{accept_loop, ServerSettings, TlsServer};
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
        /// The socket file's path, told to peers' [`PeerInfo`].
        path: Option<PathBuf>,
    },
    /// TLS: the raw listener runs in `task`, which sends here the
    /// connections whose handshake succeeded.
    Tls {
        ready: tokio::sync::Mutex<mpsc::Receiver<io::Result<(Stream, PeerInfo)>>>,
        task: tokio::task::JoinHandle<()>,
        addrs: Vec<SocketAddr>,
        unix: bool,
        /// Kept here so that the file goes when the listener is dropped.
        _file: Option<SocketFile>,
        tls: Arc<TlsServer>,
    },
}

impl Drop for Kind {
    fn drop(&mut self) {
        if let Kind::Tls { task, .. } = self {
            task.abort();
        }
    }
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
                path: None,
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
    /// protocol's business; `tls+` and `mtls+` make a TLS listener with
    /// the material of [`ServerSettings::for_uri`] (loaded before binding:
    /// a missing or bad file is an error naming it).
    pub async fn bind(uri: &SocketUri, opts: &ListenOptions) -> io::Result<Listener> {
        if !uri.prefixes.tls() {
            return Listener::bind_address(&uri.address, opts).await;
        }
        let refused = |e: String| io::Error::new(io::ErrorKind::InvalidInput, format!("cannot listen on {uri}: {e}"));
        let tls = ServerSettings::for_uri(uri).and_then(TlsServer::new).map_err(refused)?;
        Ok(Listener::bind_address(&uri.address, opts).await?.into_tls(tls))
    }

    /// This listener with TLS on top: `accept` then gives the connections
    /// whose handshake with `tls` succeeded (handshakes run in tasks of
    /// their own, each bounded by the handshake timeout). Must be called
    /// within a tokio runtime.
    pub fn into_tls(self, tls: Arc<TlsServer>) -> Listener {
        let addrs = self.local_addrs();
        let unix = self.is_unix();
        let shown = format!("{} ({})", self.shown, if tls.mutual() { "mTLS" } else { "TLS" });
        let mut raw = self;
        let file = match &mut raw.kind {
            Kind::Unix { file, .. } => file.take(),
            _ => None,
        };
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(raw, tls.clone(), tx, Arc::from(shown.as_str())));
        Listener {
            kind: Kind::Tls {
                ready: tokio::sync::Mutex::new(rx),
                task,
                addrs,
                unix,
                _file: file,
                tls,
            },
            shown,
        }
    }

    /// The TLS server of a TLS listener.
    pub fn tls(&self) -> Option<&Arc<TlsServer>> {
        match &self.kind {
            Kind::Tls { tls, .. } => Some(tls),
            _ => None,
        }
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
                        path: Some(path.clone()),
                    },
                    shown: address.to_string(),
                }),
            Address::Abstract(name) => unix::bind_abstract(name).map(|listener| Listener {
                kind: Kind::Unix {
                    listener,
                    file: None,
                    path: None,
                },
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

    /// Accepts a connection (TCP_NODELAY set on TCP ones; for TLS, one
    /// whose handshake succeeded). Cancel-safe.
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
            Kind::Unix { listener, path, .. } => {
                let (s, peer) = unix::accept(listener, path.as_deref()).await?;
                Ok((Stream::Unix(s), peer))
            }
            Kind::Tls { ready, .. } => match ready.lock().await.recv().await {
                Some(r) => r,
                None => Err(io::Error::other("the TLS acceptor stopped")),
            },
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
            Kind::Tls { addrs, .. } => addrs.clone(),
        }
    }

    /// Whether it is a unix socket.
    pub fn is_unix(&self) -> bool {
        match &self.kind {
            Kind::Unix { .. } => true,
            Kind::Tls { unix, .. } => *unix,
            Kind::Tcp { .. } => false,
        }
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
