//! What wsapi v1 accepts of a socket URI ([`Profile::WSAPI_V1`] of the
//! grammar of [`afb_endpoint::SocketUri`]):
//!
//! - `unix:/path/API`, `unix:@name/API`, `tcp:HOST:PORT/API` (or
//!   `HOST:PORT/API`), `sd:NAME[/API]` (servers only);
//! - the API is the URI's own name ([`SocketUri::default_api`]: the last
//!   `/` segment) unless `?as-api=NAME` renames it;
//! - `tls+` and `mtls+` (with `cert=`, `key=`, `trust=`, `host=`): the
//!   listener and the connector of `afb-endpoint` do the TLS;
//! - no `ws+` prefix (wsapi v1 is WebSocket framing already), no `char:`
//!   device.

use afb_endpoint::{Profile, SocketUri, UriError};

/// A wsapi link's URI: the socket and the API it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsapiUri {
    /// The socket.
    pub socket: SocketUri,
    /// The API name (the last path segment, or `as-api`).
    pub api: String,
}

impl WsapiUri {
    /// Parses `text` and applies wsapi v1's rules (module documentation).
    pub fn parse(text: &str) -> Result<WsapiUri, UriError> {
        let err = |reason: String| UriError::new(text, reason);
        let socket = SocketUri::parse(text)?;
        socket.check(&Profile::WSAPI_V1).map_err(err)?;
        if socket.prefixes.ws() {
            return Err(err(
                "wsapi v1 takes no ws+ prefix (it is WebSocket framing already)".into()
            ));
        }
        let api = socket.api_name().map_err(err)?;
        afb_core::name::validate_api_name(&api).map_err(|e| err(e.to_string()))?;
        Ok(WsapiUri { socket, api })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names() {
        for (uri, api) in [
            ("unix:/tmp/x/hello", "hello"),
            ("unix:rel/hello?as-api=other", "other"),
            ("unix:hello", "hello"),
            ("unix:@afb/hello", "hello"),
            ("unix:@hello", "hello"),
            ("tcp:localhost:1234/hello", "hello"),
            ("127.0.0.1:80/a/b/hello", "hello"),
            ("tcp:h:5/x?as-api=y", "y"),
            ("sd:hello", "hello"),
            ("sd:sock/hello", "hello"),
            ("sd:sock?as-api=hello", "hello"),
            ("tls+tcp:h:5/x?trust=ca.pem&host=", "x"),
            ("mtls+unix:/s/hello?cert=c.pem&key=k.pem", "hello"),
        ] {
            assert_eq!(WsapiUri::parse(uri).map(|u| u.api), Ok(api.to_owned()), "{uri}");
        }
    }

    #[test]
    fn malformed() {
        for (uri, why) in [
            ("tcp:host:1234", "/API"),
            ("tcp:host/x", "HOST:PORT"),
            ("tcp:host:99999/x", "bad port"),
            ("tcp:h:1/", "no API"),
            ("unix:/tmp/", "no API"),
            ("unix:", "empty"),
            ("sd:", "empty"),
            ("unix:/x/y?foo=1", "unknown parameter"),
            ("unix:/x/y?as-api=", "needs a name"),
            ("unix:/x/a b", "a b"),
            ("ws+unix:/x/y", "no ws+ prefix"),
            ("tcp:h:1/y?trust=ca.pem", "needs a tls+"),
            ("char:/dev/ttyS0", "character device"),
        ] {
            let e = WsapiUri::parse(uri).unwrap_err().to_string();
            assert!(e.contains(why), "{uri}: {e}");
        }
    }
}
