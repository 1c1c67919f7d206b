//! The addresses the client connects to: the WebSocket URL of `x-afb-ws-json1` (with the
//! session uuid and token added to its query) and the socket URI of a wsapi link.

use std::fmt;
use std::path::PathBuf;

/// A WebSocket endpoint of a binder (`ws://HOST:PORT/PATH?QUERY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsTarget {
    /// Host name or address, IPv6 without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The URL given to the WebSocket handshake, query included.
    pub url: String,
}

/// Where a wsapi link's socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsapiEndpoint {
    /// A unix socket file.
    Unix(PathBuf),
    /// A Linux abstract unix socket (the name after `@`).
    Abstract(String),
    /// A TCP socket.
    Tcp {
        /// Host name or address, IPv6 without brackets.
        host: String,
        /// TCP port.
        port: u16,
    },
}

/// A wsapi URI: the socket and the API it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsapiTarget {
    /// The socket.
    pub endpoint: WsapiEndpoint,
    /// The API (the last path segment, or `?as-api=NAME`).
    pub api: String,
}

/// Why a URI cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest unix socket path (`sun_path` holds 108 bytes with the final NUL).
const MAX_UNIX_PATH: usize = 107;

/// Splits `host:port` (`[v6]:port` for IPv6); `default_port` when there is no port.
fn split_host_port(hostport: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed [ in an IPv6 address")?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("bad IPv6 address {addr:?}"));
        }
        match after.strip_prefix(':') {
            Some(port) => (addr, Some(port)),
            None if after.is_empty() => (addr, None),
            None => return Err("expected :PORT after the IPv6 address".into()),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err("an IPv6 address must be written in brackets: [::1]:PORT".into())
            }
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("bad port {p:?}")),
        },
        None => default_port.ok_or("no port (expected HOST:PORT)")?,
    };
    Ok((host.to_owned(), port))
}

/// Appends `s` to `out` percent-encoded for a URL query value.
fn push_query_value(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

impl WsTarget {
    /// Parses `ws://HOST:PORT/PATH`, `http://…` or `HOST:PORT/PATH` (no scheme) and adds
    /// `x-afb-uuid` / `x-afb-token` to the query when given. The path defaults to `/api`,
    /// the port to 80. `wss://` and `https://` are refused: this client has no TLS.
    pub fn parse(uri: &str, uuid: Option<&str>, token: Option<&str>) -> Result<WsTarget, UriError> {
        let bad = |why: String| UriError(format!("bad WebSocket URI {uri:?}: {why}"));
        let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
        if lower.starts_with("wss://") || lower.starts_with("https://") {
            return Err(UriError(format!(
                "cannot connect to {uri}: wss:// and https:// are not supported by this afb-client (no TLS)"
            )));
        }
        let rest = if lower.starts_with("ws://") {
            &uri[5..]
        } else if lower.starts_with("http://") {
            &uri[7..]
        } else if uri.contains("://") {
            return Err(bad("unknown scheme (expected ws:// or http://)".into()));
        } else {
            uri
        };
        let (authority, path_query) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user information is not supported".into()));
        }
        let (host, port) = split_host_port(authority, Some(80)).map_err(bad)?;
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_query, None),
        };
        if path_query.contains('#') {
            return Err(bad("fragments (#) are not allowed".into()));
        }
        if path_query.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("spaces or control characters in the path".into()));
        }
        let path = if path.is_empty() { "/api" } else { path };
        let mut url = String::with_capacity(uri.len() + 64);
        url.push_str("ws://");
        if host.contains(':') {
            url.push('[');
            url.push_str(&host);
            url.push(']');
        } else {
            url.push_str(&host);
        }
        url.push(':');
        url.push_str(&port.to_string());
        url.push_str(path);
        let mut sep = '?';
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
            sep = '&';
        }
        for (key, value) in [("x-afb-uuid", uuid), ("x-afb-token", token)] {
            if let Some(value) = value {
                url.push(sep);
                url.push_str(key);
                url.push('=');
                push_query_value(&mut url, value);
                sep = '&';
            }
        }
        Ok(WsTarget { host, port, url })
    }
}

impl WsapiTarget {
    /// Parses `unix:/path/API`, `unix:@name/API` (abstract), `tcp:HOST:PORT/API` or
    /// `HOST:PORT/API`, optionally followed by `?as-api=NAME`.
    pub fn parse(uri: &str) -> Result<WsapiTarget, UriError> {
        let bad = |why: String| UriError(format!("bad wsapi URI {uri:?}: {why}"));
        let (main, query) = match uri.split_once('?') {
            Some((m, q)) => (m, Some(q)),
            None => (uri, None),
        };
        let mut as_api = None;
        for param in query.into_iter().flat_map(|q| q.split('&')) {
            match param.split_once('=') {
                Some(("as-api", v)) if !v.is_empty() => as_api = Some(v),
                _ => return Err(bad(format!("unknown parameter {param:?} (only as-api=NAME is known)"))),
            }
        }
        let (endpoint, tail) = if let Some(rest) = main.strip_prefix("unix:") {
            if rest.contains('\0') {
                return Err(bad("NUL byte in the socket name".into()));
            }
            if let Some(name) = rest.strip_prefix('@') {
                if name.is_empty() || name.len() + 1 > MAX_UNIX_PATH {
                    return Err(bad("empty or too long abstract socket name".into()));
                }
                (WsapiEndpoint::Abstract(name.to_owned()), name)
            } else {
                if rest.is_empty() || rest.len() > MAX_UNIX_PATH {
                    return Err(bad("empty or too long socket path".into()));
                }
                (WsapiEndpoint::Unix(PathBuf::from(rest)), rest)
            }
        } else if main.starts_with("sd:") {
            return Err(bad("sd: sockets are for servers only".into()));
        } else {
            let rest = main.strip_prefix("tcp:").unwrap_or(main);
            let (hostport, path) = rest
                .split_once('/')
                .ok_or_else(|| bad("expected tcp:HOST:PORT/API".into()))?;
            let (host, port) = split_host_port(hostport, None).map_err(bad)?;
            (WsapiEndpoint::Tcp { host, port }, path)
        };
        let api = as_api.unwrap_or_else(|| tail.rsplit('/').next().unwrap_or(tail));
        if api.is_empty() {
            return Err(bad("no API name (the URI must end with /API)".into()));
        }
        Ok(WsapiTarget {
            endpoint,
            api: api.to_owned(),
        })
    }
}

impl fmt::Display for WsapiEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsapiEndpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            WsapiEndpoint::Abstract(n) => write!(f, "unix:@{n}"),
            WsapiEndpoint::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            WsapiEndpoint::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(uri: &str) -> WsTarget {
        WsTarget::parse(uri, None, None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn websocket_forms() {
        let t = ws("ws://localhost:1234/api");
        assert_eq!(
            (t.host.as_str(), t.port, t.url.as_str()),
            ("localhost", 1234, "ws://localhost:1234/api")
        );
        assert_eq!(ws("localhost:1234/api").url, "ws://localhost:1234/api");
        assert_eq!(ws("http://127.0.0.1:99/api").url, "ws://127.0.0.1:99/api");
        assert_eq!(ws("127.0.0.1:99").url, "ws://127.0.0.1:99/api");
        assert_eq!(ws("myhost/api").url, "ws://myhost:80/api");
        let t = ws("ws://[::1]:5/x");
        assert_eq!((t.host.as_str(), t.url.as_str()), ("::1", "ws://[::1]:5/x"));
        assert_eq!(
            ws("localhost:1234/api?token=HELLO&uuid=magic").url,
            "ws://localhost:1234/api?token=HELLO&uuid=magic"
        );
    }

    #[test]
    fn session_and_token_in_the_query() {
        let t = WsTarget::parse("h:1/api", Some("u 1"), Some("t&k")).unwrap();
        assert_eq!(t.url, "ws://h:1/api?x-afb-uuid=u%201&x-afb-token=t%26k");
        let t = WsTarget::parse("h:1/api?a=b", None, Some("T")).unwrap();
        assert_eq!(t.url, "ws://h:1/api?a=b&x-afb-token=T");
    }

    #[test]
    fn websocket_errors() {
        for bad in [
            "wss://h:1/api",
            "https://h:1/api",
            "ftp://h:1/x",
            "h:0/api",
            "h:99999/api",
            "h:x/api",
            ":1/api",
            "[::1/api",
            "::1:80/api",
            "h:1/a b",
            "u@h:1/api",
        ] {
            assert!(WsTarget::parse(bad, None, None).is_err(), "{bad}");
        }
        assert!(WsTarget::parse("wss://h:1/api", None, None)
            .unwrap_err()
            .0
            .contains("TLS"));
    }

    #[test]
    fn wsapi_forms() {
        let t = WsapiTarget::parse("unix:/tmp/x/hello").unwrap();
        assert_eq!(t.endpoint, WsapiEndpoint::Unix("/tmp/x/hello".into()));
        assert_eq!(t.api, "hello");
        let t = WsapiTarget::parse("unix:@afb/hello").unwrap();
        assert_eq!(t.endpoint, WsapiEndpoint::Abstract("afb/hello".into()));
        assert_eq!(t.api, "hello");
        let t = WsapiTarget::parse("tcp:localhost:1234/hello").unwrap();
        assert_eq!(
            t.endpoint,
            WsapiEndpoint::Tcp {
                host: "localhost".into(),
                port: 1234
            }
        );
        assert_eq!(WsapiTarget::parse("127.0.0.1:9/a/b").unwrap().api, "b");
        assert_eq!(WsapiTarget::parse("unix:/s?as-api=other").unwrap().api, "other");
        assert_eq!(
            WsapiTarget::parse("tcp:[::1]:9/x").unwrap().endpoint.to_string(),
            "tcp:[::1]:9"
        );
    }

    #[test]
    fn wsapi_errors() {
        for bad in [
            "unix:",
            "unix:@",
            "unix:/tmp/",
            "tcp:h:1",
            "tcp:h/x",
            "sd:x",
            "unix:/a?foo=1",
            "tcp:h:0/x",
        ] {
            assert!(WsapiTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
