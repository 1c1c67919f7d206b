//! HTTP listeners: `--port` on the loopback addresses, `--interface`
//! URIs (`tcp:HOST:PORT`, `unix:PATH`, `unix:@NAME`, `sd:NAME`) and
//! sockets passed by systemd.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use tokio::net::{TcpListener, UnixListener};

/// An `--interface` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interface {
    /// `tcp:HOST:PORT` (HOST `*` is every address, `[::1]` an IPv6 one).
    Tcp {
        /// Host name or address (brackets removed), or `*`.
        host: String,
        /// Port.
        port: u16,
    },
    /// `unix:PATH` (or `unix:@NAME`, an abstract socket).
    Unix(String),
    /// `sd:NAME`: a socket passed by systemd.
    Sd(String),
}

/// Parses an `--interface` value (`HOST:PORT` alone means `tcp:`).
pub fn parse_interface(s: &str) -> Result<Interface, String> {
    let bad = |why: &str| format!("--interface {s}: {why}");
    if let Some(p) = s.strip_prefix("unix:") {
        if p.is_empty() {
            return Err(bad("empty socket path"));
        }
        return Ok(Interface::Unix(p.to_owned()));
    }
    if let Some(n) = s.strip_prefix("sd:") {
        if n.is_empty() {
            return Err(bad("empty socket name"));
        }
        return Ok(Interface::Sd(n.to_owned()));
    }
    let hp = s.strip_prefix("tcp:").unwrap_or(s);
    let (host, port) = hp
        .rsplit_once(':')
        .ok_or_else(|| bad("expected tcp:HOST:PORT, unix:PATH or sd:NAME"))?;
    let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(bad("empty host (use * for every address)"));
    }
    Ok(Interface::Tcp {
        host: host.to_owned(),
        port,
    })
}

/// A bound listener.
#[derive(Debug)]
pub enum Bound {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket; the path to remove at exit, if any.
    Unix(UnixListener, Option<PathBuf>),
}

impl Bound {
    /// What it listens on, for logs.
    pub fn describe(&self) -> String {
        match self {
            Bound::Tcp(l) => l
                .local_addr()
                .map(|a| format!("tcp:{a}"))
                .unwrap_or_else(|_| "tcp:?".into()),
            Bound::Unix(l, _) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix:@".into()),
        }
    }
}

/// Binds every address of `host:port` (`*`: all interfaces, IPv6 and IPv4).
pub async fn bind_tcp(host: &str, port: u16) -> Result<Vec<TcpListener>, String> {
    if host == "*" {
        return match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(vec![l]),
            Err(_) => TcpListener::bind(("0.0.0.0", port))
                .await
                .map(|l| vec![l])
                .map_err(|e| format!("cannot listen on *:{port}: {e}")),
        };
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut out = Vec::new();
    let mut last = None;
    for a in addrs {
        match TcpListener::bind(a).await {
            Ok(l) => out.push(l),
            Err(e) => last = Some(format!("cannot listen on {a}: {e}")),
        }
    }
    if out.is_empty() {
        return Err(last.unwrap_or_else(|| format!("{host}: no address")));
    }
    Ok(out)
}

/// Binds a unix socket at `path` (`@NAME`: abstract), replacing a stale
/// socket file.
pub fn bind_unix(path: &str) -> Result<Bound, String> {
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .map_err(|e| format!("unix:{path}: {e}"))?;
        let l = std::os::unix::net::UnixListener::bind_addr(&addr)
            .map_err(|e| format!("cannot listen on unix:{path}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| format!("unix:{path}: {e}"))?;
        let l = UnixListener::from_std(l).map_err(|e| format!("unix:{path}: {e}"))?;
        return Ok(Bound::Unix(l, None));
    }
    let p = PathBuf::from(path);
    if let Ok(meta) = std::fs::symlink_metadata(&p) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(&p);
        }
    }
    let l = UnixListener::bind(&p).map_err(|e| format!("cannot listen on unix:{path}: {e}"))?;
    Ok(Bound::Unix(l, Some(p)))
}

/// A listener from a socket passed by systemd (TCP or unix).
pub fn from_fd(fd: OwnedFd, name: &str) -> Result<Bound, String> {
    let tcp = std::net::TcpListener::from(fd);
    if tcp.local_addr().is_ok() {
        tcp.set_nonblocking(true).map_err(|e| format!("sd:{name}: {e}"))?;
        return TcpListener::from_std(tcp)
            .map(Bound::Tcp)
            .map_err(|e| format!("sd:{name}: {e}"));
    }
    let unix = std::os::unix::net::UnixListener::from(OwnedFd::from(tcp));
    unix.local_addr()
        .map_err(|e| format!("sd:{name}: not a listening TCP or unix socket: {e}"))?;
    unix.set_nonblocking(true).map_err(|e| format!("sd:{name}: {e}"))?;
    UnixListener::from_std(unix)
        .map(|l| Bound::Unix(l, None))
        .map_err(|e| format!("sd:{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_forms() {
        assert_eq!(
            parse_interface("tcp:127.0.0.1:8080").unwrap(),
            Interface::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
        assert_eq!(
            parse_interface("tcp:[::1]:80").unwrap(),
            Interface::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(
            parse_interface("tcp:*:1234").unwrap(),
            Interface::Tcp {
                host: "*".into(),
                port: 1234
            }
        );
        assert_eq!(
            parse_interface("localhost:1").unwrap(),
            Interface::Tcp {
                host: "localhost".into(),
                port: 1
            }
        );
        assert_eq!(
            parse_interface("unix:/run/x.sock").unwrap(),
            Interface::Unix("/run/x.sock".into())
        );
        assert_eq!(parse_interface("sd:http").unwrap(), Interface::Sd("http".into()));
        for bad in ["tcp:host", "tcp:h:99999", "unix:", "sd:", "tcp::80"] {
            assert!(parse_interface(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn unix_socket_replaces_a_stale_socket_file() {
        let p = std::env::temp_dir().join(format!("afb-listen-{}.sock", std::process::id()));
        let path = p.to_str().unwrap();
        let a = bind_unix(path).unwrap();
        drop(a);
        assert!(p.exists(), "a dropped listener leaves its file");
        let b = bind_unix(path).unwrap();
        assert!(b.describe().starts_with("unix:/"));
        std::fs::remove_file(&p).unwrap();
    }
}
