//! The addresses the client connects to: the WebSocket URL of `x-afb-ws-json1` (with the
//! session uuid and token added to its query) and the socket URI of a wsapi link (read by
//! `afb-endpoint`, as the daemon reads `--ws-client`).

use std::fmt;

use afb_endpoint::{Connector, Profile, SocketUri};

/// A WebSocket endpoint of a binder (`ws://HOST:PORT/PATH?QUERY`, or `wss://` over TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsTarget {
    /// Host name or address, IPv6 without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The URL given to the WebSocket handshake, query included.
    pub url: String,
    /// TLS (`wss://`, `https://`): the server's certificate must carry `host`.
    pub tls: bool,
}

/// A wsapi URI: the socket and the API it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsapiTarget {
    /// Connects to the socket.
    pub connector: Connector,
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

/// Splits `host:port` (`[v6]:port` for IPv6); `default_port` when there is no port.
fn split_host_port(hostport: &str, default_port: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = afb_endpoint::split_host_port(hostport)?;
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        Some(p) => match afb_endpoint::parse_port(p)? {
            0 => return Err(format!("bad port {p:?}")),
            n => n,
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
    /// Parses `ws://HOST:PORT/PATH`, `http://…`, `wss://…`, `https://…` or `HOST:PORT/PATH`
    /// (no scheme) and adds `x-afb-uuid` / `x-afb-token` to the query when given. The path
    /// defaults to `/api`, the port to 80 (443 over TLS).
    pub fn parse(uri: &str, uuid: Option<&str>, token: Option<&str>) -> Result<WsTarget, UriError> {
        let bad = |why: String| UriError(format!("bad WebSocket URI {uri:?}: {why}"));
        let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
        let (rest, tls) = if lower.starts_with("ws://") {
            (&uri[5..], false)
        } else if lower.starts_with("http://") {
            (&uri[7..], false)
        } else if lower.starts_with("wss://") {
            (&uri[6..], true)
        } else if lower.starts_with("https://") {
            (&uri[8..], true)
        } else if uri.contains("://") {
            return Err(bad(
                "unknown scheme (expected ws://, wss://, http:// or https://)".into()
            ));
        } else {
            (uri, false)
        };
        let (authority, path_query) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user information is not supported".into()));
        }
        let (host, port) = split_host_port(authority, Some(if tls { 443 } else { 80 })).map_err(bad)?;
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
        url.push_str(if tls { "wss://" } else { "ws://" });
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
        Ok(WsTarget { host, port, url, tls })
    }
}

impl WsapiTarget {
    /// Parses `unix:/path/API`, `unix:@name/API` (abstract), `tcp:HOST:PORT/API` or
    /// `HOST:PORT/API`, optionally followed by `?as-api=NAME`, `tls+` or `mtls+` before them
    /// (with `?cert=`, `key=`, `trust=`, `host=`). The TLS files are loaded now.
    pub fn parse(uri: &str) -> Result<WsapiTarget, UriError> {
        let bad = |why: String| UriError(format!("bad wsapi URI {uri:?}: {why}"));
        let socket = SocketUri::parse(uri).map_err(|e| bad(e.reason))?;
        socket.check(&Profile::WSAPI_V1).map_err(bad)?;
        if socket.prefixes.ws() {
            return Err(bad("wsapi takes no ws+ prefix (it is WebSocket framing already)".into()));
        }
        let api = socket.api_name().map_err(bad)?;
        let connector = Connector::new(&socket).map_err(|e| bad(e.reason))?;
        Ok(WsapiTarget { connector, api })
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
        let t = ws("wss://h/api");
        assert_eq!((t.port, t.url.as_str(), t.tls), (443, "wss://h:443/api", true));
        let t = ws("https://127.0.0.1:99/api");
        assert_eq!((t.url.as_str(), t.tls), ("wss://127.0.0.1:99/api", true));
        assert!(!ws("ws://h:1/api").tls);
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
        assert!(WsTarget::parse("ftp://h:1/api", None, None)
            .unwrap_err()
            .0
            .contains("wss://"));
    }

    #[test]
    fn wsapi_forms() {
        for (uri, address, api) in [
            ("unix:/tmp/x/hello", "unix:/tmp/x/hello", "hello"),
            ("unix:@afb/hello", "unix:@afb/hello", "hello"),
            ("tcp:localhost:1234/hello", "tcp:localhost:1234", "hello"),
            ("127.0.0.1:9/a/b", "tcp:127.0.0.1:9", "b"),
            ("unix:/s?as-api=other", "unix:/s", "other"),
            ("tcp:[::1]:9/x", "tcp:[::1]:9", "x"),
        ] {
            let t = WsapiTarget::parse(uri).unwrap();
            assert_eq!(
                (t.connector.address().to_string().as_str(), t.api.as_str()),
                (address, api)
            );
        }
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
            "ws+unix:/x/y",
            "tcp:h:1/x?trust=ca.pem",
        ] {
            assert!(WsapiTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
