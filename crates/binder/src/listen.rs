//! HTTP listeners: what `--interface` accepts of a socket URI (the grammar,
//! the binding and the stale socket file rule are `afb-endpoint`'s) and the
//! `--port` listeners on the loopback addresses.

use std::fmt;

use afb_endpoint::{Address, Host, ListenOptions, Listener, Profile, SocketUri};

/// Why an `--interface` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceError {
    /// The value given.
    pub arg: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InterfaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--interface {}: {}", self.arg, self.reason)
    }
}

impl std::error::Error for InterfaceError {}

/// Parses an `--interface` value: `tcp:HOST:PORT` (or `HOST:PORT`; HOST
/// `*` or empty is every address, `[::1]` an IPv6 one), `unix:PATH`,
/// `unix:@NAME` or `sd:NAME`; no prefix, `/PATH` nor query.
pub fn parse_interface(s: &str) -> Result<SocketUri, InterfaceError> {
    let err = |reason: String| InterfaceError {
        arg: s.to_owned(),
        reason,
    };
    let u = SocketUri::parse(s).map_err(|e| err(e.reason))?;
    u.check(&Profile::HTTP_LISTENER).map_err(err)?;
    Ok(u)
}

/// The `--port` listeners: 127.0.0.1 (required) and ::1 (when the machine
/// has IPv6).
pub(crate) async fn loopback(port: u16) -> Result<Vec<Listener>, String> {
    let at = |host: &str| Address::Tcp {
        host: Host::Name(host.to_owned()),
        port,
    };
    let opts = ListenOptions::default();
    let v4 = Listener::bind_address(&at("127.0.0.1"), &opts)
        .await
        .map_err(|e| format!("--port {port}: {e}"))?;
    let mut out = vec![v4];
    match Listener::bind_address(&at("::1"), &opts).await {
        Ok(l) => out.push(l),
        Err(e) => tracing::debug!("no IPv6 loopback listener: {e}"),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_forms() {
        for (text, address) in [
            ("tcp:127.0.0.1:8080", "tcp:127.0.0.1:8080"),
            ("tcp:[::1]:80", "tcp:[::1]:80"),
            ("tcp:*:1234", "tcp:*:1234"),
            ("tcp::1234", "tcp:*:1234"),
            ("localhost:1", "tcp:localhost:1"),
            ("unix:/run/x.sock", "unix:/run/x.sock"),
            ("unix:@x", "unix:@x"),
            ("sd:http", "sd:http"),
        ] {
            assert_eq!(parse_interface(text).unwrap().address.to_string(), address, "{text}");
        }
        for (text, why) in [
            ("tcp:host", "HOST:PORT"),
            ("tcp:h:99999", "bad port"),
            ("unix:", "empty"),
            ("sd:", "empty"),
            ("tcp:h:80/api", "/PATH"),
            ("sd:web/x", "/PATH"),
            ("unix:/x?a=1", "unknown parameter"),
            ("tls+tcp:h:80", "prefix"),
            ("char:/dev/ttyS0", "character device"),
        ] {
            let e = parse_interface(text).unwrap_err();
            assert!(e.reason.contains(why), "{text}: {e}");
            assert_eq!(e.to_string(), format!("--interface {text}: {}", e.reason));
        }
    }
}
