//! What `--rpc-client` and `--rpc-server` accept: a socket URI
//! (`afb-endpoint`'s grammar) with RPC v3's rules on top.
//!
//! ```text
//! SOCKSPEC = [public: | private: | restricted: | -] [ws+]SCHEME:ADDRESS[?QUERY]
//! QUERY    = import=LIST & export=LIST & as-api=NAME    (each optional)
//! LIST     = ITEM { , ITEM }
//! ITEM     = NAME | LOCAL@REMOTE | LOCAL@ | * | LOCAL@*
//! ```
//!
//! - Without `import`/`export`, the API is `as-api` or the URI's own name
//!   (text after the last `/`, else after the last `:`, a leading `@`
//!   skipped): a client imports it, a server exports it, under that name on
//!   both sides (`as-api` does not rename, `import=LOCAL@REMOTE` does).
//! - `private:`, `restricted:` or `-` make a client's imported APIs
//!   private (callable by other APIs only); they are public by default.
//! - `ws+` speaks RPC inside WebSocket binary frames on the raw socket.
//!   `tls+`/`mtls+` run the link over TLS (the endpoint layer);
//!   with `ws+` they are refused here.
//! - `cert=`, `key=`, `trust=`, `host=` belong to TLS and are accepted.
//! - A client may also name a binder's HTTP API root: `http://HOST:PORT/PATH`
//!   (upgraded to `x-afb-rpc`) or `ws://HOST:PORT/PATH` (WebSocket with the
//!   subprotocol `x-afb-ws-rpc`), the query giving the lists as above (the
//!   C binder serves these upgrades but has no client for them).

use afb_core::name::validate_api_name;
use afb_endpoint::{PathRule, Profile, SocketUri, UriError};

/// What RPC v3 accepts of a socket URI.
pub const PROFILE: Profile = Profile {
    name: "RPC v3",
    prefixes: true,
    char_device: true,
    query_keys: &["import", "export", "as-api", "cert", "key", "trust", "host"],
    path: PathRule::Optional,
};

/// Who may call the APIs a client imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// HTTP and WebSocket clients too (the default).
    Public,
    /// Only other APIs of the binder (`private:`, `restricted:`, `-`).
    Private,
}

/// The remote side of a list item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// The API of this name.
    Name(String),
    /// The default API (no API parameter on the wire): `LOCAL@`.
    Default,
    /// Every requested name and the default (exports only): `LOCAL@*`.
    Any,
}

/// One item of an `import=` or `export=` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The API of this binder.
    pub local: String,
    /// Its name across the link.
    pub remote: Remote,
}

/// An `export=` list: how a callee maps the API named in a call to a local
/// API (section "Several APIs on one connection" of docs/protocols/rpc-v3.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exports {
    /// `NAME`, `LOCAL@REMOTE` and `LOCAL@` items.
    pub items: Vec<Item>,
    /// `*`: any requested name is served by the local API of that name.
    pub star: bool,
    /// `LOCAL@*`: every other name, and the default, served by LOCAL.
    pub any: Option<String>,
}

/// Where a call goes on the callee's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// A local API named in the export list.
    Named(&'a str),
    /// A local API reached through `*`: only public APIs.
    Public(&'a str),
}

impl Exports {
    /// Everything public (`export=*`): the HTTP upgrades.
    pub fn all_public() -> Exports {
        Exports {
            star: true,
            ..Exports::default()
        }
    }

    /// Whether nothing is exported.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && !self.star && self.any.is_none()
    }

    /// The local API serving a call naming `api` (`None` or empty: the
    /// default API); `None` when refused.
    pub fn resolve<'a>(&'a self, api: Option<&'a str>) -> Option<Target<'a>> {
        match api.filter(|a| !a.is_empty()) {
            None => self
                .items
                .iter()
                .find(|i| i.remote == Remote::Default)
                .map(|i| Target::Named(&i.local))
                .or_else(|| self.any.as_deref().map(Target::Named)),
            Some(name) => self
                .items
                .iter()
                .find(|i| matches!(&i.remote, Remote::Name(n) if n.eq_ignore_ascii_case(name)))
                .map(|i| Target::Named(&i.local))
                .or_else(|| self.star.then_some(Target::Public(name)))
                .or_else(|| self.any.as_deref().map(Target::Named)),
        }
    }

    /// The local APIs named (they must exist when a server starts).
    pub fn locals(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|i| i.local.as_str()).chain(self.any.as_deref())
    }
}

/// How a client reaches a binder's HTTP API root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoot {
    /// `ws://`: a WebSocket with the subprotocol `x-afb-ws-rpc`; `http://`: `Upgrade: x-afb-rpc`.
    pub websocket: bool,
    /// The `Host` header value.
    pub host: String,
    /// The path of the upgrade request (`/api` by default).
    pub path: String,
}

/// A parsed `--rpc-client` / `--rpc-server` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcSpec {
    /// The value as given (for logs).
    pub text: String,
    /// The export prefix.
    pub visibility: Visibility,
    /// The socket (prefixes, address, query).
    pub socket: SocketUri,
    /// APIs imported: local name and remote name (never [`Remote::Any`]).
    pub imports: Vec<Item>,
    /// APIs exported.
    pub exports: Exports,
    /// An HTTP API root to upgrade (clients only).
    pub http: Option<HttpRoot>,
}

/// Which side a spec is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `--rpc-client`: connects, imports by default.
    Client,
    /// `--rpc-server`: listens, exports by default.
    Server,
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    validate_api_name(name).map_err(|e| format!("{what}: {e}"))
}

fn check_remote(name: &str) -> Result<(), String> {
    if name.is_empty() || name.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(format!("bad remote API name {name:?}"));
    }
    Ok(())
}

/// Parses an `import=` list.
fn parse_imports(list: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for part in list.split(',') {
        let remote = match part.split_once('@') {
            None if part == "*" => return Err("import=*: importing every API is not supported, name them".into()),
            None => Remote::Name(part.to_owned()),
            Some((_, "")) => Remote::Default,
            Some((local, "*")) => {
                tracing::warn!("import={local}@*: taken as import={local}");
                Remote::Name(local.to_owned())
            }
            Some((_, r)) => Remote::Name(r.to_owned()),
        };
        let local = part.split_once('@').map_or(part, |(l, _)| l);
        check_name("import", local)?;
        if let Remote::Name(r) = &remote {
            check_remote(r)?;
        }
        if items.iter().any(|i: &Item| i.local.eq_ignore_ascii_case(local)) {
            return Err(format!("import: API {local:?} named twice"));
        }
        items.push(Item {
            local: local.to_owned(),
            remote,
        });
    }
    Ok(items)
}

/// Parses an `export=` list.
fn parse_exports(list: &str) -> Result<Exports, String> {
    let mut ex = Exports::default();
    for part in list.split(',') {
        let one_wildcard = |ex: &Exports| {
            if ex.star || ex.any.is_some() {
                Err("export: at most one * or LOCAL@* per list".to_owned())
            } else {
                Ok(())
            }
        };
        match part.split_once('@') {
            None if part == "*" => {
                one_wildcard(&ex)?;
                ex.star = true;
            }
            Some((local, "*")) => {
                one_wildcard(&ex)?;
                check_name("export", local)?;
                ex.any = Some(local.to_owned());
            }
            split => {
                let (local, remote) = match split {
                    None => (part, Remote::Name(part.to_owned())),
                    Some((local, "")) => (local, Remote::Default),
                    Some((local, r)) => (local, Remote::Name(r.to_owned())),
                };
                check_name("export", local)?;
                if let Remote::Name(r) = &remote {
                    check_remote(r)?;
                }
                if ex.items.iter().any(|i| i.remote == remote) {
                    return Err(format!("export: {part:?} serves a name already served"));
                }
                ex.items.push(Item {
                    local: local.to_owned(),
                    remote,
                });
            }
        }
    }
    Ok(ex)
}

impl RpcSpec {
    /// Parses `text` for `side`.
    pub fn parse(text: &str, side: Side) -> Result<RpcSpec, UriError> {
        let err = |reason: String| UriError::new(text, reason);
        let (visibility, rest) = [
            ("public:", Visibility::Public),
            ("private:", Visibility::Private),
            ("restricted:", Visibility::Private),
            ("-", Visibility::Private),
        ]
        .into_iter()
        .find_map(|(p, v)| text.strip_prefix(p).map(|r| (v, r)))
        .unwrap_or((Visibility::Public, text));
        let (socket, http) = match http_root(rest) {
            Some(r) => {
                if side == Side::Server {
                    return Err(err("an HTTP URL is for clients: servers listen with --port".into()));
                }
                r.map_err(err)?
            }
            None => (SocketUri::parse(rest).map_err(|e| err(e.reason))?, None),
        };
        socket.check(&PROFILE).map_err(err)?;
        if socket.prefixes.ws() && socket.prefixes.tls() {
            return Err(err("ws+ cannot be combined with tls+ or mtls+".into()));
        }
        let q = |key: &str| socket.query.get(key).filter(|v| !v.is_empty());
        let (imports, exports) = match (q("import"), q("export")) {
            (None, None) => {
                let name = match socket.query.get("as-api") {
                    Some("") => return Err(err("as-api needs a name".into())),
                    Some(n) => n.to_owned(),
                    None => socket.default_api().ok_or_else(|| {
                        err("no API name (give import=, export= or as-api=, or end the URI with /API)".into())
                    })?,
                };
                match side {
                    Side::Client => (parse_imports(&name).map_err(err)?, Exports::default()),
                    Side::Server => (Vec::new(), parse_exports(&name).map_err(err)?),
                }
            }
            (imports, exports) => (
                imports.map(parse_imports).transpose().map_err(err)?.unwrap_or_default(),
                exports.map(parse_exports).transpose().map_err(err)?.unwrap_or_default(),
            ),
        };
        Ok(RpcSpec {
            text: text.to_owned(),
            visibility,
            socket,
            imports,
            exports,
            http,
        })
    }
}

/// `http://HOST:PORT/PATH?QUERY` or `ws://…`: the TCP socket (with the
/// query, and PATH as its path for the API name rule) and the upgrade;
/// `None` for other texts.
#[allow(clippy::type_complexity)]
fn http_root(text: &str) -> Option<Result<(SocketUri, Option<HttpRoot>), String>> {
    let lower = text.get(..7).unwrap_or(text).to_ascii_lowercase();
    let (websocket, rest) = if lower.starts_with("http://") {
        (false, text.get(7..)?)
    } else if lower.starts_with("ws://") {
        (true, text.get(5..)?)
    } else {
        return None;
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (hostport, path) = match main.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (main, "/api".to_owned()),
    };
    let mut tcp = format!("tcp:{hostport}{path}");
    if let Some(q) = query {
        tcp.push('?');
        tcp.push_str(q);
    }
    Some(SocketUri::parse(&tcp).map_err(|e| e.reason).map(|socket| {
        let root = HttpRoot {
            websocket,
            host: hostport.to_owned(),
            path,
        };
        (socket, Some(root))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(t: &str) -> RpcSpec {
        RpcSpec::parse(t, Side::Client).unwrap_or_else(|e| panic!("{e}"))
    }

    fn server(t: &str) -> RpcSpec {
        RpcSpec::parse(t, Side::Server).unwrap_or_else(|e| panic!("{e}"))
    }

    fn named(local: &str, remote: &str) -> Item {
        Item {
            local: local.into(),
            remote: Remote::Name(remote.into()),
        }
    }

    #[test]
    fn api_name_of_the_uri() {
        for (uri, api) in [
            ("unix:/some/dir/hello", "hello"),
            ("unix:@hello", "hello"),
            ("sd:hello", "hello"),
            ("tcp:host:1234/hello", "hello"),
            ("tcp:host:1234", "1234"),
            ("ws+unix:/x/y/hello", "hello"),
            ("char:/dev/ttyUSB0", "ttyUSB0"),
        ] {
            assert_eq!(client(uri).imports, vec![named(api, api)], "{uri}");
            let s = server(uri);
            assert!(s.imports.is_empty());
            assert_eq!(s.exports.items, vec![named(api, api)], "{uri}");
        }
        // as-api does not rename.
        assert_eq!(client("unix:/x/foo?as-api=bar").imports, vec![named("bar", "bar")]);
    }

    #[test]
    fn lists_of_the_spec() {
        let s = server("unix:/x/s?export=hello@remhello,hello@,monitor");
        assert_eq!(
            s.exports.items,
            vec![
                named("hello", "remhello"),
                Item {
                    local: "hello".into(),
                    remote: Remote::Default
                },
                named("monitor", "monitor"),
            ]
        );
        assert_eq!(s.exports.resolve(Some("remhello")), Some(Target::Named("hello")));
        assert_eq!(s.exports.resolve(None), Some(Target::Named("hello")));
        assert_eq!(s.exports.resolve(Some("")), Some(Target::Named("hello")));
        assert_eq!(s.exports.resolve(Some("monitor")), Some(Target::Named("monitor")));
        assert_eq!(s.exports.resolve(Some("hello")), None, "not served under its own name");
        let c = client("unix:/x/s?import=h1@remhello,h2@,mon@monitor");
        assert_eq!(
            c.imports,
            vec![
                named("h1", "remhello"),
                Item {
                    local: "h2".into(),
                    remote: Remote::Default
                },
                named("mon", "monitor"),
            ]
        );
        assert!(c.exports.is_empty());
        let star = server("tcp:*:9/x?export=*");
        assert_eq!(star.exports.resolve(Some("any")), Some(Target::Public("any")));
        assert_eq!(star.exports.resolve(None), None, "* alone has no default");
        let any = server("tcp:*:9/x?export=a,b@*");
        assert_eq!(any.exports.resolve(Some("a")), Some(Target::Named("a")));
        assert_eq!(any.exports.resolve(Some("zz")), Some(Target::Named("b")));
        assert_eq!(any.exports.resolve(None), Some(Target::Named("b")));
        // both directions on one URI
        let both = client("unix:/x/s?import=a&export=b");
        assert_eq!((both.imports.len(), both.exports.items.len()), (1, 1));
        assert_eq!(client("unix:/x/s?import=a@*").imports, vec![named("a", "a")]);
    }

    #[test]
    fn prefixes() {
        assert_eq!(client("unix:/x/a").visibility, Visibility::Public);
        assert_eq!(client("public:unix:/x/a").visibility, Visibility::Public);
        for p in ["private:", "restricted:", "-"] {
            let c = client(&format!("{p}unix:/x/a"));
            assert_eq!(c.visibility, Visibility::Private, "{p}");
            assert_eq!(c.imports, vec![named("a", "a")]);
        }
        assert!(client("ws+tcp:h:1/a").socket.prefixes.ws());
        assert!(
            client("tls+tcp:h:1/a").socket.prefixes.tls(),
            "refused later, by the socket layer"
        );
    }

    #[test]
    fn http_roots_for_clients() {
        let c = client("http://127.0.0.1:1234/api?import=hello");
        let h = c.http.as_ref().unwrap();
        assert_eq!(
            (h.websocket, h.host.as_str(), h.path.as_str()),
            (false, "127.0.0.1:1234", "/api")
        );
        assert_eq!(c.socket.address.to_string(), "tcp:127.0.0.1:1234");
        assert_eq!(c.imports, vec![named("hello", "hello")]);
        let w = client("ws://[::1]:80?import=a@b");
        let h = w.http.as_ref().unwrap();
        assert_eq!(
            (h.websocket, h.host.as_str(), h.path.as_str()),
            (true, "[::1]:80", "/api")
        );
        assert_eq!(w.imports, vec![named("a", "b")]);
        assert!(RpcSpec::parse("http://h:1/api?import=a", Side::Server).is_err());
        assert!(client("unix:/x/a").http.is_none());
    }

    #[test]
    fn refused() {
        for (uri, why) in [
            ("ws+tls+tcp:h:1/a", "ws+ cannot"),
            ("unix:/x/a?foo=1", "unknown parameter"),
            ("unix:/x/?as-api=", "as-api needs"),
            ("unix:/x/", "no API name"),
            ("unix:/x/a?import=*", "not supported"),
            ("unix:/x/a?import=a,a", "twice"),
            ("unix:/x/a?import=a%20b", "API"),
            ("unix:/x/a?import=,", "empty"),
            ("unix:/x/a?export=*,b@*", "at most one"),
            ("unix:/x/a?export=a@,b@", "already served"),
        ] {
            let e = RpcSpec::parse(uri, Side::Client).unwrap_err().to_string();
            assert!(e.contains(why), "{uri}: {e}");
        }
    }
}
