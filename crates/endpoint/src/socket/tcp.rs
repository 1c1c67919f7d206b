//! TCP: listen on every address of a host, connect trying each address in
//! turn; TCP_NODELAY on every connection.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::{TcpListener, TcpStream};

use super::context;
use crate::uri::Host;

async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| context(e, format_args!("cannot resolve {host}")))?
        .collect();
    let mut seen = Vec::with_capacity(addrs.len());
    addrs.retain(|a| {
        let new = !seen.contains(a);
        seen.push(*a);
        new
    });
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address for {host}"),
        ));
    }
    Ok(addrs)
}

/// Listens on `host:port`: `*` is every address (IPv6 and IPv4 on one
/// socket, IPv4 alone where IPv6 is off); a name, every address it
/// resolves to (with port 0, all on the port the first one got). Fails
/// only when no address could be bound.
pub(crate) async fn bind(host: &Host, port: u16) -> io::Result<Vec<TcpListener>> {
    let name = match host {
        Host::Any => {
            return match TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)).await {
                Ok(l) => Ok(vec![l]),
                Err(_) => TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await.map(|l| vec![l]),
            };
        }
        Host::Name(name) => name,
    };
    let mut out: Vec<TcpListener> = Vec::new();
    let mut last = None;
    let mut port = port;
    let addrs = resolve(name, port).await?;
    let several = addrs.len() > 1;
    for mut addr in addrs {
        addr.set_port(port);
        match TcpListener::bind(addr).await {
            Ok(l) => {
                port = l.local_addr()?.port();
                out.push(l);
            }
            Err(e) => {
                tracing::debug!("cannot listen on {addr}: {e}");
                last = Some(if several { context(e, addr) } else { e });
            }
        }
    }
    match last {
        Some(e) if out.is_empty() => Err(e),
        _ => Ok(out),
    }
}

/// Connects to `host:port` (`*`: 127.0.0.1), trying each address.
pub(crate) async fn connect(host: &Host, port: u16) -> io::Result<TcpStream> {
    if port == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot connect to port 0"));
    }
    let addrs = match host {
        Host::Any => vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))],
        Host::Name(name) => resolve(name, port).await?,
    };
    let several = addrs.len() > 1;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if several => last = context(e, addr),
            Err(e) => last = e,
        }
    }
    Err(last)
}
