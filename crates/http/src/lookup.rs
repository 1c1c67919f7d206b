//! Where an HTTP request carries its session uuid, its token and its
//! request id (`rest.md`), and how the session is found or made.
//!
//! - uuid, first found wins: header `x-afb-uuid`, argument `x-afb-uuid`,
//!   cookie `x-afb-uuid-PORT`, argument `uuid`;
//! - token, first found wins: header `Authorization: Bearer TOKEN`, argument
//!   `access_token`, header `x-afb-token`, argument `x-afb-token`, argument `token`;
//! - request id: argument `x-afb-reqid`, argument `reqid`, header `x-afb-reqid`.
//!
//! An unknown or expired uuid gets a new server-generated session: a client
//! never chooses its session id over HTTP.

use std::borrow::Cow;
use std::sync::Arc;

use afb_core::session::SessionError;
use afb_core::{Args, Session, SessionStore};
use http::header::{HeaderName, AUTHORIZATION};
use http::HeaderMap;

/// The binder's own request headers, as constants: a lookup by `&str` would
/// parse and validate the name on every request.
static X_AFB_UUID: HeaderName = HeaderName::from_static("x-afb-uuid");
static X_AFB_TOKEN: HeaderName = HeaderName::from_static("x-afb-token");
static X_AFB_REQID: HeaderName = HeaderName::from_static("x-afb-reqid");

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn arg<'a>(args: &'a Args, name: &str) -> Option<Cow<'a, str>> {
    args.get_str(name).filter(|s| !s.is_empty())
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    for h in headers.get_all(http::header::COOKIE) {
        let Ok(h) = h.to_str() else { continue };
        for pair in h.split(';') {
            if let Some((k, v)) = pair.split_once('=') {
                if k.trim() == name {
                    let v = v.trim().trim_matches('"');
                    if !v.is_empty() {
                        return Some(v);
                    }
                }
            }
        }
    }
    None
}

/// The session uuid the request presents, if any.
pub fn session_uuid<'a>(headers: &'a HeaderMap, args: &'a Args, cookie_name: &str) -> Option<Cow<'a, str>> {
    header(headers, &X_AFB_UUID)
        .map(Cow::Borrowed)
        .or_else(|| arg(args, "x-afb-uuid"))
        .or_else(|| cookie(headers, cookie_name).map(Cow::Borrowed))
        .or_else(|| arg(args, "uuid"))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = header(headers, &AUTHORIZATION)?;
    let (scheme, token) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(token.trim()).filter(|t| !t.is_empty())
    } else {
        None
    }
}

/// The token the request presents, if any.
pub fn token<'a>(headers: &'a HeaderMap, args: &'a Args) -> Option<Cow<'a, str>> {
    bearer(headers)
        .map(Cow::Borrowed)
        .or_else(|| arg(args, "access_token"))
        .or_else(|| header(headers, &X_AFB_TOKEN).map(Cow::Borrowed))
        .or_else(|| arg(args, "x-afb-token"))
        .or_else(|| arg(args, "token"))
}

/// The request id to echo in the reply, if any.
pub fn reqid<'a>(headers: &'a HeaderMap, args: &'a Args) -> Option<Cow<'a, str>> {
    arg(args, "x-afb-reqid")
        .or_else(|| arg(args, "reqid"))
        .or_else(|| header(headers, &X_AFB_REQID).map(Cow::Borrowed))
}

/// The session of `uuid` when it is live, else a new one with a
/// server-generated uuid. The boolean tells whether it was created.
pub fn resolve_session(store: &SessionStore, uuid: Option<&str>) -> Result<(Arc<Session>, bool), SessionError> {
    if let Some(s) = uuid.and_then(|u| store.get(u)) {
        return Ok((s, false));
    }
    store.create().map(|s| (s, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use afb_core::SessionConfig;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    const COOKIE: &str = "x-afb-uuid-1234";

    #[test]
    fn uuid_order_header_then_arg_then_cookie_then_uuid_arg() {
        let all_args = Args::from_value(json!({"x-afb-uuid": "A2", "uuid": "A4"}));
        let h = headers(&[("x-afb-uuid", "H1"), ("cookie", "x-afb-uuid-1234=C3")]);
        assert_eq!(session_uuid(&h, &all_args, COOKIE).as_deref(), Some("H1"));
        let h = headers(&[("cookie", "x-afb-uuid-1234=C3")]);
        assert_eq!(session_uuid(&h, &all_args, COOKIE).as_deref(), Some("A2"));
        let args = Args::from_value(json!({"uuid": "A4"}));
        assert_eq!(session_uuid(&h, &args, COOKIE).as_deref(), Some("C3"));
        assert_eq!(session_uuid(&HeaderMap::new(), &args, COOKIE).as_deref(), Some("A4"));
        assert_eq!(session_uuid(&HeaderMap::new(), &Args::null(), COOKIE), None);
    }

    #[test]
    fn cookie_of_another_port_is_ignored() {
        let h = headers(&[("cookie", "a=b; x-afb-uuid-99=OTHER ;x-afb-uuid-1234=MINE")]);
        assert_eq!(cookie(&h, COOKIE), Some("MINE"));
        let h = headers(&[("cookie", "x-afb-uuid-99=OTHER")]);
        assert_eq!(cookie(&h, COOKIE), None);
        let h = headers(&[("cookie", "x=1"), ("cookie", "x-afb-uuid-1234=\"Q\"")]);
        assert_eq!(cookie(&h, COOKIE), Some("Q"), "second Cookie header, quotes removed");
    }

    #[test]
    fn token_order_bearer_access_token_header_arg_token() {
        let args = Args::from_value(json!({"access_token": "A2", "x-afb-token": "A4", "token": "A5"}));
        let h = headers(&[("authorization", "Bearer H1"), ("x-afb-token", "H3")]);
        assert_eq!(token(&h, &args).as_deref(), Some("H1"));
        let h = headers(&[("authorization", "Basic xyz"), ("x-afb-token", "H3")]);
        assert_eq!(token(&h, &args).as_deref(), Some("A2"), "only the Bearer scheme counts");
        let args = Args::from_value(json!({"x-afb-token": "A4", "token": "A5"}));
        assert_eq!(token(&h, &args).as_deref(), Some("H3"));
        assert_eq!(token(&HeaderMap::new(), &args).as_deref(), Some("A4"));
        let args = Args::from_value(json!({"token": "A5"}));
        assert_eq!(token(&HeaderMap::new(), &args).as_deref(), Some("A5"));
        let h = headers(&[("authorization", "bearer   lower")]);
        assert_eq!(token(&h, &Args::null()).as_deref(), Some("lower"));
    }

    #[test]
    fn reqid_from_args_then_header() {
        let h = headers(&[("x-afb-reqid", "H")]);
        let args = Args::from_value(json!({"reqid": "R", "x-afb-reqid": "X"}));
        assert_eq!(reqid(&h, &args).as_deref(), Some("X"));
        let args = Args::from_value(json!({"reqid": 12}));
        assert_eq!(reqid(&h, &args).as_deref(), Some("12"));
        assert_eq!(reqid(&h, &Args::null()).as_deref(), Some("H"));
    }

    #[test]
    fn unknown_uuid_gets_a_new_server_made_session() {
        let store = SessionStore::new(SessionConfig::default());
        let (s, created) = resolve_session(&store, Some("chosen-by-client")).unwrap();
        assert!(created);
        assert_ne!(s.uuid(), "chosen-by-client");
        let (again, created) = resolve_session(&store, Some(s.uuid())).unwrap();
        assert!(!created);
        assert!(Arc::ptr_eq(&s, &again));
        let (_, created) = resolve_session(&store, None).unwrap();
        assert!(created);
    }
}
