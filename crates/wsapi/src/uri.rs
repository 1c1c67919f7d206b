//! Socket URIs of wsapi links: where to listen or connect, and which API the
//! link carries. A pure parser (no I/O):
//!
//! - `unix:/path/API` — a unix socket file; `unix:@name/API` — Linux abstract namespace;
//! - `tcp:HOST:PORT/API` — `HOST` is a name, an IPv4 address or a bracketed IPv6 address
//!   (`[::1]`); `*` or an empty host means any address (servers);
//! - `sd:NAME` — a socket passed by systemd (servers only);
//! - no scheme means `tcp:`.
//!
//! The API is the last `/`-separated segment, unless `?as-api=NAME` names it.

use std::fmt;
use std::path::PathBuf;

/// Longest unix socket path (`sun_path` holds 108 bytes with the final NUL).
pub const MAX_UNIX_PATH: usize = 107;

/// Where a link's socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket file.
    Unix(PathBuf),
    /// A Linux abstract unix socket (the name without its leading `@`).
    Abstract(String),
    /// A TCP socket; `host` is `None` for "any address" (servers).
    Tcp {
        /// Host name or address (IPv6 without brackets).
        host: Option<String>,
        /// Port (0: any free port, servers only).
        port: u16,
    },
    /// A socket passed by systemd under this name.
    Systemd(String),
}

/// A parsed wsapi URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketUri {
    /// Where the socket is.
    pub endpoint: Endpoint,
    /// The API name carried by the link (the last path segment, or `as-api`).
    pub api: String,
}

/// Why a URI is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError {
    /// The URI as given.
    pub uri: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad wsapi URI {:?}: {}", self.uri, self.reason)
    }
}

impl std::error::Error for UriError {}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Abstract(n) => write!(f, "unix:@{n}"),
            Endpoint::Tcp { host, port } => match host.as_deref() {
                None => write!(f, "tcp:*:{port}"),
                Some(h) if h.contains(':') => write!(f, "tcp:[{h}]:{port}"),
                Some(h) => write!(f, "tcp:{h}:{port}"),
            },
            Endpoint::Systemd(n) => write!(f, "sd:{n}"),
        }
    }
}

/// The last `/`-separated segment of `s`.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

impl SocketUri {
    /// Parses a URI. See the module documentation for the forms accepted.
    pub fn parse(uri: &str) -> Result<SocketUri, UriError> {
        let err = |reason: String| UriError {
            uri: uri.to_owned(),
            reason,
        };
        let (main, query) = match uri.split_once('?') {
            Some((m, q)) => (m, Some(q)),
            None => (uri, None),
        };
        let mut as_api = None;
        if let Some(q) = query {
            for param in q.split('&') {
                match param.split_once('=') {
                    Some(("as-api", v)) if !v.is_empty() => as_api = Some(v),
                    Some(("as-api", _)) => return Err(err("as-api needs a name".into())),
                    _ => return Err(err(format!("unknown parameter {param:?} (only as-api=NAME is known)"))),
                }
            }
        }
        let (endpoint, tail) = if let Some(rest) = main.strip_prefix("unix:") {
            if let Some(name) = rest.strip_prefix('@') {
                if name.is_empty() {
                    return Err(err("empty abstract socket name".into()));
                }
                if name.len() + 1 > MAX_UNIX_PATH {
                    return Err(err(format!(
                        "abstract socket name longer than {} bytes",
                        MAX_UNIX_PATH - 1
                    )));
                }
                (Endpoint::Abstract(name.to_owned()), name)
            } else {
                if rest.is_empty() {
                    return Err(err("empty socket path".into()));
                }
                if rest.len() > MAX_UNIX_PATH {
                    return Err(err(format!("socket path longer than {MAX_UNIX_PATH} bytes")));
                }
                if rest.contains('\0') {
                    return Err(err("NUL byte in socket path".into()));
                }
                (Endpoint::Unix(PathBuf::from(rest)), rest)
            }
        } else if let Some(name) = main.strip_prefix("sd:") {
            if name.is_empty() {
                return Err(err("empty systemd socket name".into()));
            }
            (Endpoint::Systemd(name.to_owned()), name)
        } else {
            let rest = main.strip_prefix("tcp:").unwrap_or(main);
            let Some((hostport, path)) = rest.split_once('/') else {
                return Err(err("expected tcp:HOST:PORT/API (no /API after the port)".into()));
            };
            let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
                let Some((addr, after)) = v6.split_once(']') else {
                    return Err(err("unclosed [ in IPv6 address".into()));
                };
                let Some(port) = after.strip_prefix(':') else {
                    return Err(err("expected :PORT after the IPv6 address".into()));
                };
                if addr.is_empty() || addr.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(err(format!("bad IPv6 address {addr:?}")));
                }
                (Some(addr.to_owned()), port)
            } else {
                let Some((host, port)) = hostport.rsplit_once(':') else {
                    return Err(err("expected HOST:PORT".into()));
                };
                if host.contains(':') {
                    return Err(err("an IPv6 address must be written in brackets: [::1]:PORT".into()));
                }
                let host = match host {
                    "" | "*" => None,
                    h => Some(h.to_owned()),
                };
                (host, port)
            };
            let port: u16 = match port.parse() {
                Ok(p) if !port.starts_with('+') => p,
                _ => return Err(err(format!("bad port {port:?}"))),
            };
            (Endpoint::Tcp { host, port }, path)
        };
        let api = as_api.unwrap_or_else(|| last_segment(tail));
        if api.is_empty() {
            return Err(err("no API name (the URI must end with /API)".into()));
        }
        afb_core::name::validate_api_name(api).map_err(|e| err(e.to_string()))?;
        Ok(SocketUri {
            endpoint,
            api: api.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(uri: &str) -> SocketUri {
        SocketUri::parse(uri).unwrap_or_else(|e| panic!("{e}"))
    }

    fn bad(uri: &str) -> String {
        match SocketUri::parse(uri) {
            Ok(u) => panic!("{uri:?} parsed as {u:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unix_paths() {
        let u = ok("unix:/tmp/x/hello");
        assert_eq!(u.endpoint, Endpoint::Unix("/tmp/x/hello".into()));
        assert_eq!(u.api, "hello");
        let u = ok("unix:rel/hello?as-api=other");
        assert_eq!(u.endpoint, Endpoint::Unix("rel/hello".into()));
        assert_eq!(u.api, "other");
        let u = ok("unix:hello");
        assert_eq!(u.api, "hello");
    }

    #[test]
    fn abstract_names() {
        let u = ok("unix:@afb/hello");
        assert_eq!(u.endpoint, Endpoint::Abstract("afb/hello".into()));
        assert_eq!(u.api, "hello");
        let u = ok("unix:@hello");
        assert_eq!(u.endpoint, Endpoint::Abstract("hello".into()));
        assert_eq!(u.api, "hello");
        assert!(bad("unix:@").contains("empty abstract"));
        assert!(bad(&format!("unix:@{}", "a".repeat(107))).contains("longer"));
    }

    #[test]
    fn tcp_forms() {
        let u = ok("tcp:localhost:1234/hello");
        assert_eq!(
            u.endpoint,
            Endpoint::Tcp {
                host: Some("localhost".into()),
                port: 1234
            }
        );
        assert_eq!(u.api, "hello");
        assert_eq!(ok("127.0.0.1:80/a/b/hello").api, "hello", "no scheme = tcp");
        assert_eq!(
            ok("tcp:[::1]:99/x").endpoint,
            Endpoint::Tcp {
                host: Some("::1".into()),
                port: 99
            }
        );
        assert_eq!(ok("tcp:*:5/x").endpoint, Endpoint::Tcp { host: None, port: 5 });
        assert_eq!(ok("tcp::5/x").endpoint, Endpoint::Tcp { host: None, port: 5 });
        assert_eq!(ok("tcp:h:5/x?as-api=y").api, "y");
    }

    #[test]
    fn systemd() {
        let u = ok("sd:hello");
        assert_eq!(u.endpoint, Endpoint::Systemd("hello".into()));
        assert_eq!(u.api, "hello");
        assert_eq!(ok("sd:sock?as-api=hello").api, "hello");
    }

    #[test]
    fn malformed() {
        assert!(bad("tcp:host:1234").contains("/API"));
        assert!(bad("tcp:host/x").contains("HOST:PORT"));
        assert!(bad("tcp:host:99999/x").contains("bad port"));
        assert!(bad("tcp:host:+1/x").contains("bad port"));
        assert!(bad("tcp:host:/x").contains("bad port"));
        assert!(bad("tcp:::1:80/x").contains("brackets"));
        assert!(bad("tcp:[::1/x").contains("unclosed"));
        assert!(bad("tcp:[zz]:1/x").contains("IPv6"));
        assert!(bad("tcp:[::1]1/x").contains(":PORT"));
        assert!(bad("tcp:h:1/").contains("no API"));
        assert!(bad("unix:").contains("empty"));
        assert!(bad("unix:/tmp/").contains("no API"));
        assert!(bad("sd:").contains("empty"));
        assert!(bad("unix:/x/y?foo=1").contains("unknown parameter"));
        assert!(bad("unix:/x/y?as-api=").contains("needs a name"));
        assert!(bad("unix:/x/a b").contains("a b"), "invalid API names are refused");
        assert!(bad(&format!("unix:/{}", "a".repeat(200))).contains("longer"));
        assert!(bad("ws://host:1/x").contains("bad port"));
    }

    #[test]
    fn display() {
        assert_eq!(ok("tcp:[::1]:9/x").endpoint.to_string(), "tcp:[::1]:9");
        assert_eq!(ok("unix:@a/x").endpoint.to_string(), "unix:@a/x");
        assert_eq!(ok(":9/x").endpoint.to_string(), "tcp:*:9");
    }
}
