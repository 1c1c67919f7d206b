//! Cross-site request refusal for API calls (REST and WebSocket upgrades).
//!
//! A web page the user opens in a browser can make that browser send
//! requests to the binder on loopback: a form POST, an `<img>` GET, a
//! WebSocket. The binder's answer stays unreadable to the page for REST
//! (no CORS headers are ever sent), but the verb would run. So API requests
//! that a browser marks as coming from another site are refused with 403:
//!
//! - an `Origin` header is accepted when its host (and port) is the host
//!   the request was sent to (`Host`, or the URI authority in HTTP/2), or
//!   when it is listed in `--allowed-origin` (`*`: any);
//! - without `Origin`, `Sec-Fetch-Site: cross-site` (sent by current
//!   browsers on navigations and `no-cors` requests) is refused unless
//!   `--allowed-origin '*'`;
//! - requests with neither (programs: `afb-client`, curl, other binders)
//!   pass.
//!
//! This does not stop DNS rebinding (a page whose own host name resolves to
//! 127.0.0.1 is "same origin"); the session token (`--token`) is what
//! protects APIs then. See `docs/SECURITY.md`.

use http::header::{HeaderMap, HeaderName, HOST, ORIGIN};
use http::Uri;

/// Not among `http`'s standard names; a constant avoids parsing it per request.
static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Which `Origin` values besides the request's own host are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Accepted origins as browsers write them (`http://localhost:8080`),
    /// compared without case; `*` accepts every origin.
    pub allowed: Vec<String>,
}

impl OriginPolicy {
    /// A policy accepting these origins besides same-host requests.
    pub fn new(allowed: Vec<String>) -> Self {
        OriginPolicy { allowed }
    }

    fn any(&self) -> bool {
        self.allowed.iter().any(|a| a == "*")
    }

    /// `Ok` when the request may reach the APIs, else why not.
    pub fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), String> {
        if self.any() {
            return Ok(());
        }
        let Some(origin) = headers.get(ORIGIN) else {
            let cross = headers
                .get(&SEC_FETCH_SITE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("cross-site"));
            return if cross {
                Err("cross-site request refused (Sec-Fetch-Site: cross-site); see --allowed-origin".into())
            } else {
                Ok(())
            };
        };
        let origin = origin.to_str().unwrap_or("").trim();
        if self.allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return Ok(());
        }
        let target = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        if let (Some(host), Some(origin_host)) = (target, origin_authority(origin)) {
            if same_authority(host, origin_host) {
                return Ok(());
            }
        }
        Err(format!(
            "cross-origin request refused (Origin {origin:?}); see --allowed-origin"
        ))
    }
}

/// The `host[:port]` of an origin `scheme://host[:port]`.
fn origin_authority(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let host = rest.split('/').next().unwrap_or("");
    (!host.is_empty()).then_some(host)
}

/// Whether two `host[:port]` are the same, the default port 80 being
/// implied when absent.
fn same_authority(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> (String, &str) {
        let s = s.trim();
        // [v6]:port, host:port, or no port.
        let (host, port) = match s.rfind(':') {
            Some(i) if !s[i..].contains(']') => (&s[..i], &s[i + 1..]),
            _ => (s, "80"),
        };
        (host.to_ascii_lowercase(), if port.is_empty() { "80" } else { port })
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn check(p: &OriginPolicy, pairs: &[(&'static str, &str)]) -> bool {
        p.check(&headers(pairs), &Uri::from_static("/api/hello/ping")).is_ok()
    }

    #[test]
    fn programs_and_same_origin_pages_pass() {
        let p = OriginPolicy::default();
        assert!(check(&p, &[]));
        assert!(check(&p, &[("host", "127.0.0.1:1234")]));
        assert!(check(
            &p,
            &[("host", "127.0.0.1:1234"), ("origin", "http://127.0.0.1:1234")]
        ));
        assert!(check(
            &p,
            &[("host", "LOCALHOST:1234"), ("origin", "http://localhost:1234")]
        ));
        assert!(check(&p, &[("host", "[::1]:1234"), ("origin", "http://[::1]:1234")]));
        assert!(check(&p, &[("host", "box"), ("origin", "http://box:80")]));
        assert!(check(
            &p,
            &[("host", "127.0.0.1:1234"), ("sec-fetch-site", "same-origin")]
        ));
    }

    #[test]
    fn other_sites_are_refused_unless_allowed() {
        let p = OriginPolicy::default();
        assert!(!check(
            &p,
            &[("host", "127.0.0.1:1234"), ("origin", "http://evil.example")]
        ));
        assert!(!check(
            &p,
            &[("host", "127.0.0.1:1234"), ("origin", "http://127.0.0.1:8080")]
        ));
        assert!(!check(&p, &[("host", "127.0.0.1:1234"), ("origin", "null")]));
        assert!(!check(&p, &[("host", "[::1]:1234"), ("origin", "http://[::1]:999")]));
        assert!(!check(
            &p,
            &[("host", "127.0.0.1:1234"), ("sec-fetch-site", "cross-site")]
        ));
        let p = OriginPolicy::new(vec!["http://127.0.0.1:8080".into()]);
        assert!(check(
            &p,
            &[("host", "127.0.0.1:1234"), ("origin", "http://127.0.0.1:8080")]
        ));
        assert!(!check(
            &p,
            &[("host", "127.0.0.1:1234"), ("origin", "http://evil.example")]
        ));
        let any = OriginPolicy::new(vec!["*".into()]);
        assert!(check(
            &any,
            &[("host", "127.0.0.1:1234"), ("origin", "http://evil.example")]
        ));
        assert!(check(&any, &[("sec-fetch-site", "cross-site")]));
    }

    #[test]
    fn http2_authority_stands_for_host() {
        let p = OriginPolicy::default();
        let uri: Uri = "http://127.0.0.1:1234/api/x/y".parse().unwrap();
        let h = headers(&[("origin", "http://127.0.0.1:1234")]);
        assert!(p.check(&h, &uri).is_ok());
        let h = headers(&[("origin", "http://evil.example")]);
        assert!(p.check(&h, &uri).is_err());
    }
}
