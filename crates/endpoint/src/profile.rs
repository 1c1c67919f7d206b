//! What each protocol accepts of a socket URI: prefixes, `char:` devices,
//! query keys, a `/PATH` after the address. The grammar accepts all of
//! them; a [`Profile`] narrows it for one use, with a clear message.

use crate::uri::{Address, SocketUri};

/// Whether a `/PATH` may follow a TCP port or a systemd name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRule {
    /// Never (a listener with nothing to name).
    Refused,
    /// Required after a TCP port (it names the API), optional after `sd:NAME`.
    ApiAfterTcpPort,
    /// Either way.
    Optional,
}

/// The forms one protocol accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Who reads the URI, for messages (`wsapi v1`, `HTTP listeners`).
    pub name: &'static str,
    /// `ws+`, `tls+`, `mtls+` accepted.
    pub prefixes: bool,
    /// `char:PATH` accepted.
    pub char_device: bool,
    /// The query keys understood.
    pub query_keys: &'static [&'static str],
    /// The `/PATH` rule.
    pub path: PathRule,
}

impl Profile {
    /// wsapi v1 links (`--ws-server`, `--ws-client`, `afb-client -d`):
    /// `tcp:HOST:PORT/API`, `unix:PATH`, `unix:@NAME`, `sd:NAME[/API]`,
    /// `?as-api=NAME`; `tls+`/`mtls+` with `cert=`, `key=`, `trust=`,
    /// `host=` (wsapi v1 is WebSocket framing already: its URI readers
    /// refuse `ws+`).
    pub const WSAPI_V1: Profile = Profile {
        name: "wsapi v1",
        prefixes: true,
        char_device: false,
        query_keys: &["as-api", "cert", "key", "trust", "host"],
        path: PathRule::ApiAfterTcpPort,
    };

    /// HTTP listeners (`--interface`): an address and nothing else.
    pub const HTTP_LISTENER: Profile = Profile {
        name: "an HTTP listener",
        prefixes: false,
        char_device: false,
        query_keys: &[],
        path: PathRule::Refused,
    };
}

impl SocketUri {
    /// Checks that `self` is a form `profile` accepts; the error says what is not.
    pub fn check(&self, profile: &Profile) -> Result<(), String> {
        let who = profile.name;
        if !profile.prefixes && !self.prefixes.is_empty() {
            return Err(format!("{who} takes no URI prefix ({} given)", self.prefixes));
        }
        if !profile.char_device && matches!(self.address, Address::Char(_)) {
            return Err(format!("{who} does not run over a character device (char:)"));
        }
        match (profile.path, &self.address, &self.path) {
            (PathRule::Refused, _, Some(_)) => return Err(format!("{who} takes no /PATH after the address")),
            (PathRule::ApiAfterTcpPort, Address::Tcp { .. }, None) => {
                return Err("expected tcp:HOST:PORT/API (no /API after the port)".into())
            }
            _ => {}
        }
        if !self.prefixes.tls() {
            if let Some((key, _)) = self.query.iter().find(|(k, _)| crate::tls::QUERY_KEYS.contains(k)) {
                return Err(format!("{key}= is a TLS setting: it needs a tls+ or mtls+ URI"));
            }
        }
        if let Some(key) = self.query.unknown_key(profile.query_keys) {
            return Err(match profile.query_keys {
                [] => format!("unknown parameter {key:?} ({who} takes none)"),
                known => format!("unknown parameter {key:?} ({who} knows {})", known.join(", ")),
            });
        }
        Ok(())
    }

    /// The API a link carries: `?as-api=NAME` when given, else
    /// [`SocketUri::default_api`].
    pub fn api_name(&self) -> Result<String, String> {
        match self.query.get("as-api") {
            Some("") => Err("as-api needs a name".into()),
            Some(name) => Ok(name.to_owned()),
            None => self
                .default_api()
                .ok_or_else(|| "no API name (the URI must end with /API)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, p: &Profile) -> Result<(), String> {
        SocketUri::parse(text).unwrap().check(p)
    }

    #[test]
    fn wsapi_v1() {
        let p = &Profile::WSAPI_V1;
        for ok in [
            "unix:/x/a",
            "unix:@a",
            "tcp:h:1/a",
            "h:1/a?as-api=b",
            "sd:s",
            "sd:s/a",
            "tls+tcp:h:1/a?cert=c.pem&key=k.pem&trust=ca.pem&host=",
            "mtls+unix:/x/a",
        ] {
            assert_eq!(check(ok, p), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("tcp:h:1", "/API"),
            ("tcp:h:1/a?trust=ca.pem", "needs a tls+"),
            ("unix:/x?host=h", "needs a tls+"),
            ("char:/dev/x", "character device"),
            (
                "unix:/x?import=a",
                "unknown parameter \"import\" (wsapi v1 knows as-api, cert, key, trust, host)",
            ),
        ] {
            let e = check(bad, p).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn http_listener() {
        let p = &Profile::HTTP_LISTENER;
        for ok in ["tcp:h:1", "unix:/x/a", "sd:web", "unix:@x"] {
            assert_eq!(check(ok, p), Ok(()), "{ok}");
        }
        for (bad, why) in [("tcp:h:1/a", "/PATH"), ("sd:a/b", "/PATH"), ("unix:/x?a", "takes none")] {
            let e = check(bad, p).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn api_names() {
        let api = |t: &str| SocketUri::parse(t).unwrap().api_name();
        assert_eq!(api("unix:/x/hello").as_deref(), Ok("hello"));
        assert_eq!(api("unix:/x/hello?as-api=other").as_deref(), Ok("other"));
        assert!(api("unix:/x/?as-api=").unwrap_err().contains("needs a name"));
        assert!(api("unix:/x/").unwrap_err().contains("no API"));
    }
}
