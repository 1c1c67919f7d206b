//! Sockets of wsapi links: listening on and connecting to unix (path or
//! abstract) and TCP endpoints, adopting listeners passed by systemd, and
//! what is known of an accepted peer.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use afb_core::Credentials;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::server::Peer;
use crate::uri::Endpoint;

/// A connected stream.
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// Reading half of a stream.
pub(crate) type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// Writing half of a stream.
pub(crate) type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

impl Stream {
    /// Splits into independently usable halves.
    pub(crate) fn into_halves(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
        }
    }
}

/// The uid this process runs as (owner of `/proc/self`).
fn my_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix sockets exist on Linux only",
    ))
}

/// Connects to a remote endpoint.
pub(crate) async fn connect(ep: &Endpoint) -> io::Result<Stream> {
    match ep {
        Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        Endpoint::Abstract(name) => {
            let addr = abstract_addr(name)?;
            let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
            s.set_nonblocking(true)?;
            Ok(Stream::Unix(UnixStream::from_std(s)?))
        }
        Endpoint::Tcp { host, port } => {
            if *port == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot connect to port 0"));
            }
            let host = host.as_deref().unwrap_or("127.0.0.1");
            let s = TcpStream::connect((host, *port)).await?;
            let _ = s.set_nodelay(true);
            Ok(Stream::Tcp(s))
        }
        Endpoint::Systemd(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "sd: sockets are for servers only",
        )),
    }
}

/// A listening socket.
pub(crate) enum Listener {
    Unix {
        listener: UnixListener,
        /// The socket file and its (device, inode), removed when serving ends.
        file: Option<(PathBuf, u64, u64)>,
    },
    Tcp(TcpListener),
}

/// A bound listener and where it listens.
pub(crate) struct Bound {
    pub(crate) listener: Listener,
    pub(crate) address: String,
    pub(crate) port: Option<u16>,
}

fn is_socket(path: &Path) -> Option<bool> {
    std::fs::symlink_metadata(path).ok().map(|m| m.file_type().is_socket())
}

/// Binds and listens on `ep`.
pub(crate) async fn bind(ep: &Endpoint, socket_mode: Option<u32>) -> io::Result<Bound> {
    match ep {
        Endpoint::Unix(path) => {
            match is_socket(path) {
                // A socket left by an earlier run: replace it.
                Some(true) => std::fs::remove_file(path)?,
                Some(false) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} exists and is not a socket", path.display()),
                    ))
                }
                None => {}
            }
            let listener = UnixListener::bind(path)?;
            if let Some(mode) = socket_mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            let meta = std::fs::symlink_metadata(path)?;
            Ok(Bound {
                listener: Listener::Unix {
                    listener,
                    file: Some((path.clone(), meta.dev(), meta.ino())),
                },
                address: path.display().to_string(),
                port: None,
            })
        }
        Endpoint::Abstract(name) => {
            let addr = abstract_addr(name)?;
            let l = std::os::unix::net::UnixListener::bind_addr(&addr)?;
            l.set_nonblocking(true)?;
            Ok(Bound {
                listener: Listener::Unix {
                    listener: UnixListener::from_std(l)?,
                    file: None,
                },
                address: format!("@{name}"),
                port: None,
            })
        }
        Endpoint::Tcp { host, port } => {
            let host = host.as_deref().unwrap_or("0.0.0.0");
            let l = TcpListener::bind((host, *port)).await?;
            let local = l.local_addr()?;
            Ok(Bound {
                listener: Listener::Tcp(l),
                address: local.to_string(),
                port: Some(local.port()),
            })
        }
        Endpoint::Systemd(name) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sd:{name}: the socket must be passed by the daemon (socket activation)"),
        )),
    }
}

/// Adopts a listening socket passed by systemd (unix or TCP).
pub(crate) fn adopt(fd: OwnedFd) -> io::Result<Bound> {
    let unix = std::os::unix::net::UnixListener::from(fd);
    if let Ok(addr) = unix.local_addr() {
        unix.set_nonblocking(true)?;
        let address = match addr.as_pathname() {
            Some(p) => p.display().to_string(),
            None => "(systemd unix socket)".to_owned(),
        };
        return Ok(Bound {
            listener: Listener::Unix {
                listener: UnixListener::from_std(unix)?,
                file: None,
            },
            address,
            port: None,
        });
    }
    let tcp = std::net::TcpListener::from(OwnedFd::from(unix));
    let local = tcp.local_addr().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the passed socket is neither a unix nor a TCP listener: {e}"),
        )
    })?;
    tcp.set_nonblocking(true)?;
    Ok(Bound {
        listener: Listener::Tcp(TcpListener::from_std(tcp)?),
        address: local.to_string(),
        port: Some(local.port()),
    })
}

impl Listener {
    /// Accepts a connection and says who the peer is.
    pub(crate) async fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Unix { listener, file } => {
                let (s, _) = listener.accept().await?;
                let cred = s.peer_cred().ok();
                let me = my_uid();
                let creds = cred.map(|c| {
                    Arc::new(Credentials {
                        uid: c.uid(),
                        gid: c.gid(),
                        pid: c.pid().and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                        label: None,
                    })
                });
                let trusted = creds.as_ref().is_some_and(|c| c.uid == 0 || Some(c.uid) == me);
                let label = match (&creds, file) {
                    (Some(c), _) => format!("unix peer pid {} uid {}", c.pid, c.uid),
                    (None, Some((p, ..))) => format!("unix peer on {}", p.display()),
                    (None, None) => "unix peer".to_owned(),
                };
                Ok((Stream::Unix(s), Peer { label, creds, trusted }))
            }
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((
                    Stream::Tcp(s),
                    Peer {
                        label: format!("tcp peer {addr}"),
                        creds: None,
                        trusted: false,
                    },
                ))
            }
        }
    }

    /// Removes the socket file, if it is still the one this listener made.
    pub(crate) fn remove_file(&self) {
        if let Listener::Unix {
            file: Some((path, dev, ino)),
            ..
        } = self
        {
            if let Ok(m) = std::fs::symlink_metadata(path) {
                if m.dev() == *dev && m.ino() == *ino {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}
