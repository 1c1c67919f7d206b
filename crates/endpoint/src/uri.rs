//! The socket URI grammar, parsed without any I/O.
//!
//! ```text
//! URI     = PREFIX* ADDRESS [ "/" PATH ] [ "?" QUERY ]
//! PREFIX  = "ws+" | "tls+" | "mtls+"          (any order, each at most once;
//!                                              ws+ not with tls+ nor mtls+)
//! ADDRESS = "tcp:" HOST ":" PORT              HOST: name, IPv4, [IPv6], "*" or empty (any)
//!         | "unix:" PATH | "unix:@" NAME      a socket file, a Linux abstract socket
//!         | "sd:" NAME                        a socket passed by systemd
//!         | "char:" PATH                      a character device (serial line)
//!         | HOST ":" PORT                     no scheme: tcp
//! ```
//!
//! The `/PATH` tail exists after a TCP port or a systemd name; in `unix:`
//! and `char:` URIs every `/` belongs to the file path. The query is a list
//! of `key=value` pairs ([`Query`]). [`SocketUri::default_api`] applies
//! the C binders' API name rule.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;

use crate::query::Query;

/// Longest unix socket path in bytes (`sun_path` holds 108 with the final NUL).
pub const MAX_UNIX_PATH: usize = 107;

/// Longest abstract socket name in bytes (after the `@`).
pub const MAX_ABSTRACT_NAME: usize = MAX_UNIX_PATH - 1;

/// A URI prefix: a layer between the socket and the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    /// `ws+`: WebSocket framing without HTTP handshake.
    Ws,
    /// `tls+`: TLS over the socket.
    Tls,
    /// `mtls+`: mutual TLS (implies `tls+`).
    Mtls,
}

impl Prefix {
    /// The prefix as written, `+` included.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Ws => "ws+",
            Prefix::Tls => "tls+",
            Prefix::Mtls => "mtls+",
        }
    }

    const ALL: [Prefix; 3] = [Prefix::Ws, Prefix::Tls, Prefix::Mtls];
}

/// The prefixes of a URI, in the order written. TLS plugs in here: a
/// listener or connector that sees [`Prefixes::tls`] wraps its streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Prefixes(Vec<Prefix>);

impl Prefixes {
    /// The prefixes in the order written.
    pub fn list(&self) -> &[Prefix] {
        &self.0
    }

    /// No prefix at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `ws+` is present.
    pub fn ws(&self) -> bool {
        self.0.contains(&Prefix::Ws)
    }

    /// `tls+` or `mtls+` is present.
    pub fn tls(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Prefix::Tls | Prefix::Mtls))
    }

    /// `mtls+` is present.
    pub fn mutual_tls(&self) -> bool {
        self.0.contains(&Prefix::Mtls)
    }
}

impl fmt::Display for Prefixes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|p| f.write_str(p.as_str()))
    }
}

/// The host of a TCP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*` or empty: every address when listening, the loopback when connecting.
    Any,
    /// A host name or an IP address (IPv6 without brackets).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => f.write_str("*"),
            Host::Name(h) if h.contains(':') => write!(f, "[{h}]"),
            Host::Name(h) => f.write_str(h),
        }
    }
}

/// Where a socket is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// `tcp:HOST:PORT` (port 0: any free port, listeners only).
    Tcp {
        /// The host.
        host: Host,
        /// The port.
        port: u16,
    },
    /// `unix:PATH`: a socket file.
    Unix(PathBuf),
    /// `unix:@NAME`: a Linux abstract socket (the name without its `@`).
    Abstract(String),
    /// `sd:NAME`: a listening socket passed by systemd under this name.
    Systemd(String),
    /// `char:PATH`: a character device such as a serial line (connect only).
    Char(PathBuf),
}

impl Address {
    /// The scheme, colon included (`tcp:`, `unix:`, `sd:`, `char:`).
    pub fn scheme(&self) -> &'static str {
        match self {
            Address::Tcp { .. } => "tcp:",
            Address::Unix(_) | Address::Abstract(_) => "unix:",
            Address::Systemd(_) => "sd:",
            Address::Char(_) => "char:",
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Abstract(n) => write!(f, "unix:@{n}"),
            Address::Systemd(n) => write!(f, "sd:{n}"),
            Address::Char(p) => write!(f, "char:{}", p.display()),
        }
    }
}

/// A parsed socket URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketUri {
    /// `ws+`, `tls+`, `mtls+`.
    pub prefixes: Prefixes,
    /// Where the socket is.
    pub address: Address,
    /// The text after the `/` that follows a TCP port or a systemd name
    /// (usually an API name); `None` without `/`.
    pub path: Option<String>,
    /// The query arguments, percent-decoded.
    pub query: Query,
}

/// Why a socket URI is malformed or cannot be used where it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError {
    /// The URI as given.
    pub uri: String,
    /// What is wrong.
    pub reason: String,
}

impl UriError {
    /// An error about `uri`.
    pub fn new(uri: impl Into<String>, reason: impl Into<String>) -> Self {
        UriError {
            uri: uri.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad socket URI {:?}: {}", self.uri, self.reason)
    }
}

impl std::error::Error for UriError {}

/// Splits `HOST:PORT`, `[IPV6]:PORT`, `HOST` or `[IPV6]` into the host
/// (brackets removed) and the port text, if any. An IPv6 address must be in
/// brackets; a bracketed one must be valid.
pub fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed [ in an IPv6 address")?;
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(format!("bad IPv6 address {addr:?}"));
        }
        return match after.strip_prefix(':') {
            Some(port) => Ok((addr, Some(port))),
            None if after.is_empty() => Ok((addr, None)),
            None => Err("expected :PORT after the IPv6 address".into()),
        };
    }
    match hostport.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Err("an IPv6 address must be written in brackets: [::1]:PORT".into()),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((hostport, None)),
    }
}

/// Parses a port: 1 to 5 decimal digits, at most 65535 (no sign).
pub fn parse_port(text: &str) -> Result<u16, String> {
    let bad = || format!("bad port {text:?}");
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// The C binders' API name rule on the URI text before `?`: the text after
/// the last `/`, or without `/` after the last `:`; a leading `@` is
/// skipped. `None` when that leaves nothing.
pub fn api_name_rule(main: &str) -> Option<&str> {
    let after = match main.rfind('/').or_else(|| main.rfind(':')) {
        Some(i) => main.get(i + 1..).unwrap_or(""),
        None => main,
    };
    let name = after.strip_prefix('@').unwrap_or(after);
    (!name.is_empty()).then_some(name)
}

fn parse_unix(rest: &str) -> Result<Address, String> {
    if let Some(name) = rest.strip_prefix('@') {
        if name.is_empty() {
            return Err("empty abstract socket name".into());
        }
        if name.len() > MAX_ABSTRACT_NAME {
            return Err(format!("abstract socket name longer than {MAX_ABSTRACT_NAME} bytes"));
        }
        return Ok(Address::Abstract(name.to_owned()));
    }
    if rest.is_empty() {
        return Err("empty socket path".into());
    }
    if rest.len() > MAX_UNIX_PATH {
        return Err(format!("socket path longer than {MAX_UNIX_PATH} bytes"));
    }
    Ok(Address::Unix(PathBuf::from(rest)))
}

fn parse_tcp(rest: &str) -> Result<(Address, Option<String>), String> {
    let (hostport, path) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p.to_owned())),
        None => (rest, None),
    };
    let (host, port) = split_host_port(hostport)?;
    let port = parse_port(port.ok_or("expected HOST:PORT")?)?;
    let host = match host {
        "" | "*" => Host::Any,
        h => Host::Name(h.to_owned()),
    };
    Ok((Address::Tcp { host, port }, path))
}

impl SocketUri {
    /// Parses a URI; see the module documentation for the grammar.
    pub fn parse(uri: &str) -> Result<SocketUri, UriError> {
        let err = |reason: String| UriError::new(uri, reason);
        if uri.contains('\0') {
            return Err(err("NUL byte".into()));
        }
        let (main, query) = match uri.split_once('?') {
            Some((m, q)) => (m, Query::parse(q).map_err(err)?),
            None => (uri, Query::default()),
        };
        let mut rest = main;
        let mut prefixes = Vec::new();
        while let Some(p) = Prefix::ALL.into_iter().find(|p| rest.starts_with(p.as_str())) {
            if prefixes.contains(&p) {
                return Err(err(format!("prefix {} given twice", p.as_str())));
            }
            prefixes.push(p);
            rest = rest.get(p.as_str().len()..).unwrap_or("");
        }
        if prefixes.contains(&Prefix::Ws) && prefixes.iter().any(|p| matches!(p, Prefix::Tls | Prefix::Mtls)) {
            return Err(err("ws+ cannot be combined with tls+ or mtls+".into()));
        }
        let (address, path) = if let Some(r) = rest.strip_prefix("unix:") {
            (parse_unix(r).map_err(err)?, None)
        } else if let Some(r) = rest.strip_prefix("sd:") {
            let (name, path) = match r.split_once('/') {
                Some((n, p)) => (n, Some(p.to_owned())),
                None => (r, None),
            };
            if name.is_empty() {
                return Err(err("empty systemd socket name".into()));
            }
            (Address::Systemd(name.to_owned()), path)
        } else if let Some(r) = rest.strip_prefix("char:") {
            if r.is_empty() {
                return Err(err("empty device path".into()));
            }
            (Address::Char(PathBuf::from(r)), None)
        } else {
            parse_tcp(rest.strip_prefix("tcp:").unwrap_or(rest)).map_err(err)?
        };
        Ok(SocketUri {
            prefixes: Prefixes(prefixes),
            address,
            path,
            query,
        })
    }

    /// The API name given by the URI itself ([`api_name_rule`] on its
    /// canonical text before `?`); the query (`as-api=`, `import=`,
    /// `export=`) is the protocol's business.
    pub fn default_api(&self) -> Option<String> {
        let main = self.main_text();
        api_name_rule(&main).map(str::to_owned)
    }

    /// The address and path, without prefixes nor query.
    fn main_text(&self) -> String {
        match &self.path {
            Some(p) => format!("{}/{p}", self.address),
            None => self.address.to_string(),
        }
    }
}

impl fmt::Display for SocketUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.prefixes, self.main_text())?;
        if !self.query.is_empty() {
            write!(f, "?{}", self.query)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for SocketUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, UriError> {
        SocketUri::parse(s)
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

    fn tcp(host: Option<&str>, port: u16) -> Address {
        Address::Tcp {
            host: host.map_or(Host::Any, |h| Host::Name(h.into())),
            port,
        }
    }

    /// Every form one of the three former parsers (HTTP `--interface`,
    /// wsapi `--ws-server`/`--ws-client`, `afb-client -d`) accepted.
    #[test]
    fn forms_accepted_before() {
        let cases: &[(&str, Address, Option<&str>, Option<&str>)] = &[
            // --interface
            ("tcp:127.0.0.1:8080", tcp(Some("127.0.0.1"), 8080), None, Some("8080")),
            ("tcp:[::1]:80", tcp(Some("::1"), 80), None, Some("80")),
            ("tcp:*:1234", tcp(None, 1234), None, Some("1234")),
            ("localhost:1", tcp(Some("localhost"), 1), None, Some("1")),
            (
                "unix:/run/x.sock",
                Address::Unix("/run/x.sock".into()),
                None,
                Some("x.sock"),
            ),
            ("unix:@name", Address::Abstract("name".into()), None, Some("name")),
            ("sd:http", Address::Systemd("http".into()), None, Some("http")),
            ("tcp:host:0", tcp(Some("host"), 0), None, Some("0")),
            // wsapi and afb-client -d
            (
                "unix:/tmp/x/hello",
                Address::Unix("/tmp/x/hello".into()),
                None,
                Some("hello"),
            ),
            ("unix:rel/hello", Address::Unix("rel/hello".into()), None, Some("hello")),
            ("unix:hello", Address::Unix("hello".into()), None, Some("hello")),
            (
                "unix:@afb/hello",
                Address::Abstract("afb/hello".into()),
                None,
                Some("hello"),
            ),
            ("unix:@hello", Address::Abstract("hello".into()), None, Some("hello")),
            (
                "tcp:localhost:1234/hello",
                tcp(Some("localhost"), 1234),
                Some("hello"),
                Some("hello"),
            ),
            (
                "127.0.0.1:80/a/b/hello",
                tcp(Some("127.0.0.1"), 80),
                Some("a/b/hello"),
                Some("hello"),
            ),
            ("tcp:[::1]:99/x", tcp(Some("::1"), 99), Some("x"), Some("x")),
            ("tcp:*:5/x", tcp(None, 5), Some("x"), Some("x")),
            ("tcp::5/x", tcp(None, 5), Some("x"), Some("x")),
            (":9/x", tcp(None, 9), Some("x"), Some("x")),
            ("sd:hello", Address::Systemd("hello".into()), None, Some("hello")),
            (
                "sd:sock/hello",
                Address::Systemd("sock".into()),
                Some("hello"),
                Some("hello"),
            ),
            ("tcp:h:1/", tcp(Some("h"), 1), Some(""), None),
            ("unix:/tmp/", Address::Unix("/tmp/".into()), None, None),
            // C binders' forms (rpc-v3 / wsapi specifications)
            ("tcp:host:1234", tcp(Some("host"), 1234), None, Some("1234")),
            (
                "char:/dev/ttyUSB0",
                Address::Char("/dev/ttyUSB0".into()),
                None,
                Some("ttyUSB0"),
            ),
        ];
        for (text, address, path, api) in cases {
            let u = ok(text);
            assert_eq!(&u.address, address, "{text}");
            assert_eq!(u.path.as_deref(), *path, "{text}");
            assert_eq!(u.default_api().as_deref(), *api, "{text}");
            assert!(u.prefixes.is_empty() && u.query.is_empty(), "{text}");
        }
    }

    #[test]
    fn query_arguments() {
        let u = ok("unix:rel/hello?as-api=other");
        assert_eq!(u.query.get("as-api"), Some("other"));
        assert_eq!(u.default_api().as_deref(), Some("hello"));
        let u = ok("tcp:h:5/x?as-api=y&import=a%2Cb&export=*&cert=%2Fetc%2Fc%20d.pem");
        assert_eq!(u.query.get("as-api"), Some("y"));
        assert_eq!(u.query.get("import"), Some("a,b"));
        assert_eq!(u.query.get("export"), Some("*"));
        assert_eq!(u.query.get("cert"), Some("/etc/c d.pem"));
        assert_eq!(u.query.get("key"), None);
        let u = ok("sd:sock?as-api=hello");
        assert_eq!(u.address, Address::Systemd("sock".into()));
        assert_eq!(u.query.get("as-api"), Some("hello"));
        assert_eq!(ok("unix:/s?flag").query.get("flag"), Some(""));
        assert_eq!(ok("unix:/s?a=1&a=2").query.get("a"), Some("2"), "the last one wins");
        assert!(bad("unix:/s?a=%FF").contains("UTF-8"));
    }

    #[test]
    fn prefixes() {
        let u = ok("tls+mtls+unix:/x/api");
        assert_eq!(u.prefixes.list(), &[Prefix::Tls, Prefix::Mtls]);
        assert!(u.prefixes.tls() && u.prefixes.mutual_tls() && !u.prefixes.ws());
        assert_eq!(u.to_string(), "tls+mtls+unix:/x/api");
        let u = ok("mtls+tcp:h:1/api");
        assert!(u.prefixes.tls() && u.prefixes.mutual_tls() && !u.prefixes.ws());
        let u = ok("tls+tcp:h:1/api");
        assert!(u.prefixes.tls() && !u.prefixes.mutual_tls());
        // As the C binders: WebSocket framing and TLS do not go together.
        for both in ["tls+ws+unix:/x/api", "ws+mtls+tcp:h:1/api"] {
            assert!(bad(both).contains("ws+ cannot be combined"), "{both}");
        }
        let u = ok("ws+h:1/api");
        assert!(u.prefixes.ws());
        assert_eq!(u.address, tcp(Some("h"), 1));
        assert!(bad("ws+ws+unix:/x").contains("twice"));
    }

    #[test]
    fn api_name_rule_of_the_c_binders() {
        for (main, api) in [
            ("unix:/some/dir/hello", Some("hello")),
            ("unix:@hello", Some("hello")),
            ("sd:hello", Some("hello")),
            ("tcp:host:1234/hello", Some("hello")),
            ("tcp:host:1234", Some("1234")),
            ("unix:/x/@y", Some("y")),
            ("unix:/x/", None),
            ("hello", Some("hello")),
            ("", None),
        ] {
            assert_eq!(api_name_rule(main), api, "{main}");
        }
    }

    #[test]
    fn malformed() {
        for (uri, why) in [
            ("tcp:host/x", "HOST:PORT"),
            ("tcp:host", "HOST:PORT"),
            ("tcp:host:99999/x", "bad port"),
            ("tcp:host:+1/x", "bad port"),
            ("tcp:host:-1", "bad port"),
            ("tcp:host:/x", "bad port"),
            ("tcp:h:1x", "bad port"),
            ("tcp:::1:80/x", "brackets"),
            ("tcp:::1:80", "brackets"),
            ("tcp:[::1/x", "unclosed"),
            ("tcp:[zz]:1/x", "IPv6"),
            ("tcp:[]:1/x", "IPv6"),
            ("tcp:[::1]1/x", ":PORT"),
            ("tcp:[::1]", "HOST:PORT"),
            ("unix:", "empty socket path"),
            ("unix:@", "empty abstract"),
            ("sd:", "empty systemd"),
            ("sd:/x", "empty systemd"),
            ("char:", "empty device"),
            ("ws://host:1/x", "bad port"),
            ("unix:/x\0y", "NUL"),
            ("", "HOST:PORT"),
        ] {
            let e = bad(uri);
            assert!(e.contains(why), "{uri:?}: {e}");
        }
        assert!(bad(&format!("unix:/{}", "a".repeat(200))).contains("longer"));
        assert!(bad(&format!("unix:@{}", "a".repeat(107))).contains("longer"));
        ok(&format!("unix:@{}", "a".repeat(106)));
        ok(&format!("unix:/{}", "a".repeat(106)));
    }

    #[test]
    fn display() {
        assert_eq!(ok("tcp:[::1]:9/x").address.to_string(), "tcp:[::1]:9");
        assert_eq!(ok("unix:@a/x").address.to_string(), "unix:@a/x");
        assert_eq!(ok(":9/x").address.to_string(), "tcp:*:9");
        assert_eq!(ok("h:9/x?as-api=a%20b").to_string(), "tcp:h:9/x?as-api=a%20b");
        assert_eq!(ok("sd:s/api").to_string(), "sd:s/api");
        assert_eq!(ok("char:/dev/x").to_string(), "char:/dev/x");
    }
}
