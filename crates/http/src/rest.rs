//! REST calls: `GET`/`POST` on `{rootapi}/API/VERB`. The request becomes an
//! [`Args`] (query, JSON, urlencoded or multipart body; `{}` when it has no
//! arguments at all, as on the C binders), finds its session
//! and token, goes through `Registry::dispatch`, and its reply comes back as
//! the `afb-reply` envelope with the HTTP status of its status string.

use std::borrow::Cow;
use std::sync::Arc;

use afb_core::session::SessionError;
use afb_core::{status as st, Args, Call, Client, Reply};
use afb_wsj1::envelope::{write_reply_envelope, ReplyEnvelope};
use afb_wsj1::WriteJson;
use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::{Body as _, Incoming};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::server::{ConnCtx, State};
use crate::upload::{self, BodyError, UploadGuard};
use crate::{full, lookup, query, Body};

/// What kind of body a request has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// `application/json` (or `*/*+json`).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`.
    Multipart,
    /// Anything else (415).
    Unsupported,
}

/// Classifies a body from its `Content-Type` (`None` when there is no body).
pub fn body_kind(content_type: Option<&str>, has_body: bool) -> BodyKind {
    if !has_body {
        return BodyKind::None;
    }
    let Some(ct) = content_type else {
        return BodyKind::Unsupported;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json")
        || essence
            .as_bytes()
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|tail| essence.len() > 5 && tail.eq_ignore_ascii_case(b"+json"))
    {
        BodyKind::Json
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        BodyKind::Form
    } else if essence.eq_ignore_ascii_case("multipart/form-data") {
        BodyKind::Multipart
    } else {
        BodyKind::Unsupported
    }
}

/// Splits the path after the API root into API and verb: repeated slashes
/// are skipped, the verb is everything after the API (it may hold `/`).
pub fn split_api_verb(tail: &str) -> (&str, &str) {
    let tail = tail.trim_start_matches('/');
    match tail.split_once('/') {
        Some((api, verb)) => (api, verb.trim_start_matches('/')),
        None => (tail, ""),
    }
}

/// A reply envelope response: `{"jtype":"afb-reply",...}` with the status
/// table's HTTP status.
pub fn envelope_response(env: &ReplyEnvelope<'_>, capacity: usize) -> Response<Body> {
    let mut out = Vec::with_capacity(capacity);
    write_reply_envelope(&mut out, env);
    let (code, challenge) = crate::status::http_status(env.status);
    let mut r = Response::new(full(out));
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(c) = challenge {
        h.insert(WWW_AUTHENTICATE, HeaderValue::from_static(c));
    }
    r
}

/// An error answered by the HTTP layer itself (before or instead of a
/// dispatch), as an envelope with an explicit HTTP status.
pub fn error_response(http: StatusCode, status: &str, info: &str, reqid: Option<&str>) -> Response<Body> {
    let mut env = ReplyEnvelope::error(status, Some(info));
    env.reqid = reqid;
    let mut r = envelope_response(&env, 96 + info.len());
    *r.status_mut() = http;
    r
}

fn body_error(e: BodyError) -> Response<Body> {
    match e {
        BodyError::TooLarge(max) => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            st::INVALID_REQUEST,
            &format!("request body larger than {max} bytes"),
            None,
        ),
        BodyError::Invalid(why) => error_response(StatusCode::BAD_REQUEST, st::INVALID_REQUEST, &why, None),
        BodyError::Io(why) => error_response(StatusCode::BAD_REQUEST, st::INVALID_REQUEST, &why, None),
    }
}

fn with_fallback(args: Args, query: Option<Map<String, Value>>) -> Args {
    match query {
        Some(q) => args.with_fallback(q),
        None => args,
    }
}

/// The arguments of a request without a body: its query as an object, or
/// the empty object. The empty one is given as its text, which costs less
/// than serialising an empty map (the common `GET /api/API/VERB`).
fn query_args(query: Option<Map<String, Value>>) -> Args {
    match query {
        Some(q) => Args::from_value(Value::Object(q)),
        None => Args::empty_object(),
    }
}

/// Reads the argument of a request: query and body.
async fn read_args(
    state: &State,
    parts: &http::request::Parts,
    body: Incoming,
    guard: &mut UploadGuard,
) -> Result<Args, Response<Body>> {
    let query = parts.uri.query().filter(|q| !q.is_empty()).map(query::parse);
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let kind = body_kind(content_type, !body.is_end_stream());
    let limits = &state.limits;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let max = if kind == BodyKind::Multipart {
        limits.max_upload
    } else {
        limits.max_body
    };
    if declared.is_some_and(|n| n > max) {
        return Err(body_error(BodyError::TooLarge(max)));
    }
    match kind {
        // No arguments at all (no query, `?` alone, an empty body) is the
        // empty object, as on both C binders: a binding checking for an
        // object must not get `null`.
        BodyKind::None => Ok(query_args(query)),
        BodyKind::Unsupported => Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            st::INVALID_REQUEST,
            "unsupported Content-Type: send application/json, application/x-www-form-urlencoded or multipart/form-data",
            None,
        )),
        BodyKind::Json => {
            let bytes = upload::read_limited(body, max).await.map_err(body_error)?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                // An empty body is no body: the query, or `{}`.
                return Ok(query_args(query));
            }
            match serde_json::from_slice::<Box<RawValue>>(&bytes) {
                Ok(raw) => Ok(with_fallback(Args::from_raw(raw), query)),
                Err(e) => Err(error_response(
                    StatusCode::BAD_REQUEST,
                    st::INVALID_REQUEST,
                    &format!("malformed JSON body: {e}"),
                    None,
                )),
            }
        }
        BodyKind::Form => {
            let bytes = upload::read_limited(body, max).await.map_err(body_error)?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                error_response(
                    StatusCode::BAD_REQUEST,
                    st::INVALID_REQUEST,
                    "urlencoded body is not UTF-8",
                    None,
                )
            })?;
            Ok(with_fallback(
                Args::from_value(Value::Object(query::parse(text))),
                query,
            ))
        }
        BodyKind::Multipart => {
            let boundary = multer::parse_boundary(content_type.unwrap_or_default()).map_err(|e| {
                error_response(
                    StatusCode::BAD_REQUEST,
                    st::INVALID_REQUEST,
                    &format!("bad multipart Content-Type: {e}"),
                    None,
                )
            })?;
            let (fields, files) =
                upload::read_multipart(body, boundary, &state.upload_dir, max, limits.max_body, guard)
                    .await
                    .map_err(body_error)?;
            Ok(with_fallback(Args::from_value(Value::Object(fields)), query).with_files(files))
        }
    }
}

/// How far a REST call went without waiting.
pub(crate) enum Started {
    /// Answered (a refusal, or a verb that replied before returning).
    Now(Response<Body>),
    /// Dispatched; its reply comes later.
    Pending(Pending),
    /// It has a body to read first: see [`handle_body`].
    Body(Request<Incoming>),
}

/// A REST call dispatched and not answered yet. It holds nothing of the
/// request's head (whose bytes share hyper's read buffer).
pub(crate) struct Pending {
    rx: oneshot::Receiver<Reply>,
    call: CallState,
}

/// What the response of a dispatched call needs besides the reply.
struct CallState {
    reqid: Option<String>,
    session: Arc<afb_core::Session>,
    created: bool,
    /// Removes the uploaded files once the call is answered, however it ends.
    guard: UploadGuard,
}

impl Pending {
    /// Waits for the reply and makes the response.
    pub(crate) async fn finish(self, state: &State) -> Response<Body> {
        let reply = self
            .rx
            .await
            .unwrap_or_else(|_| Reply::error(st::INTERNAL_ERROR, Some("the reply was lost".into())));
        self.call.response(state, &reply)
    }
}

/// Starts a REST call; `req`'s path starts with the API root followed by `/`.
///
/// A call without a body is dispatched here, before anything waits, and
/// the request's head is dropped on return: hyper reads the connection
/// again while a response is pending, and its read buffer, which the head
/// shares, is then reused instead of replaced by a new 8 KiB one.
pub(crate) fn start(state: &State, conn: &ConnCtx, req: Request<Incoming>) -> Started {
    if req.method() != Method::GET && req.method() != Method::POST {
        let mut r = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            st::INVALID_REQUEST,
            "API calls take GET or POST",
            None,
        );
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST"));
        return Started::Now(r);
    }
    if !req.body().is_end_stream() {
        return Started::Body(req);
    }
    let (parts, _) = req.into_parts();
    let query = parts.uri.query().filter(|q| !q.is_empty()).map(query::parse);
    match call_verb(state, conn, &parts, query_args(query), UploadGuard::new()) {
        Dispatched::Waiting(pending) => Started::Pending(pending),
        Dispatched::Answered(response) => Started::Now(response),
    }
}

/// Handles a REST call with a body (read first, then dispatched).
pub(crate) async fn handle_body(state: &State, conn: &ConnCtx, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if let Err(r) = api_verb(state, &parts.uri) {
        return r;
    }
    // Removes the uploaded files when this future ends, however it ends.
    let mut guard = UploadGuard::new();
    let args = match read_args(state, &parts, body, &mut guard).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match call_verb(state, conn, &parts, args, guard) {
        Dispatched::Waiting(pending) => pending.finish(state).await,
        Dispatched::Answered(response) => response,
    }
}

/// The API and the verb named by `uri` (percent-decoded); an error
/// response when they are badly encoded.
#[allow(clippy::result_large_err)] // the response is moved once, on a rare path
fn api_verb<'u>(state: &State, uri: &'u http::Uri) -> Result<(Cow<'u, str>, Cow<'u, str>), Response<Body>> {
    let tail = uri.path().get(state.rootapi.len()..).unwrap_or("");
    let (api_raw, verb_raw) = split_api_verb(tail);
    match (query::decode_path(api_raw), query::decode_path(verb_raw)) {
        (Some(api), Some(verb)) => Ok((api, verb)),
        _ => Err(error_response(
            StatusCode::BAD_REQUEST,
            st::INVALID_REQUEST,
            "bad encoding of API or verb",
            None,
        )),
    }
}

/// A call dispatched by [`call_verb`].
enum Dispatched {
    /// Answered (refused, or replied at once).
    Answered(Response<Body>),
    /// Its reply comes later.
    Waiting(Pending),
}

/// Dispatches the call of `parts`' API and verb with `args`.
fn call_verb(
    state: &State,
    conn: &ConnCtx,
    parts: &http::request::Parts,
    args: Args,
    guard: UploadGuard,
) -> Dispatched {
    let (api, verb) = match api_verb(state, &parts.uri) {
        Ok(names) => names,
        Err(r) => return Dispatched::Answered(r),
    };
    let reqid = lookup::reqid(&parts.headers, &args).map(Cow::into_owned);
    let token: Option<Arc<str>> = lookup::token(&parts.headers, &args).map(|t| Arc::from(&*t));
    let found = lookup::session_uuid(&parts.headers, &args, &state.cookie_name);
    let (session, created) = match lookup::resolve_session(state.registry.sessions(), found.as_deref()) {
        Ok(s) => s,
        Err(e @ SessionError::Full { .. }) => {
            let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, st::NOT_AVAILABLE, &e.to_string(), None);
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Dispatched::Answered(r);
        }
        Err(e) => {
            return Dispatched::Answered(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                st::INTERNAL_ERROR,
                &e.to_string(),
                None,
            ))
        }
    };
    drop(found);
    let client = Client {
        session: session.clone(),
        token,
        subscriber: None,
        creds: conn.creds.clone(),
        cancel: Some(conn.client_cancel.clone()),
        transport: afb_core::Transport::Http,
        remote: conn.remote,
    };
    let (tx, mut rx) = oneshot::channel::<Reply>();
    state.registry.dispatch(
        Call::external(&api, &verb, args, client),
        Box::new(move |r: Reply| {
            let _ = tx.send(r);
        }),
    );
    let call = CallState {
        reqid,
        session,
        created,
        guard,
    };
    match rx.try_recv() {
        Ok(reply) => Dispatched::Answered(call.response(state, &reply)),
        Err(_) => Dispatched::Waiting(Pending { rx, call }),
    }
}

impl CallState {
    /// The response carrying `reply`.
    fn response(self, state: &State, reply: &Reply) -> Response<Body> {
        let CallState {
            reqid,
            session,
            created,
            guard,
        } = self;
        let uuid = session.uuid();
        let env = ReplyEnvelope {
            status: &reply.status,
            code: reply.code,
            info: reply.info.as_deref(),
            reqid: reqid.as_deref(),
            uuid: created.then_some(uuid),
            token: reply.token.as_deref(),
            response: reply.data.as_ref().map(|d| d as &dyn WriteJson),
        };
        let capacity = 112
            + reply.status.len()
            + reply.info.as_ref().map_or(0, String::len)
            + reply.data_json().map_or(0, str::len)
            + reqid.as_ref().map_or(0, String::len)
            + reply.token.as_ref().map_or(0, |t| t.len() + 10)
            + if created { uuid.len() + 10 } else { 0 };
        let mut r = envelope_response(&env, capacity);
        if let Some(cookie) = state.session_cookie(uuid) {
            r.headers_mut().insert(SET_COOKIE, cookie);
        }
        drop(guard);
        r
    }
}

/// `Set-Cookie` value for a session uuid.
pub(crate) fn cookie_value(prefix: &str, uuid: &str, suffix: &str) -> Option<HeaderValue> {
    let mut v = Vec::with_capacity(prefix.len() + uuid.len() + suffix.len());
    v.extend_from_slice(prefix.as_bytes());
    v.extend_from_slice(uuid.as_bytes());
    v.extend_from_slice(suffix.as_bytes());
    HeaderValue::from_maybe_shared(Bytes::from(v)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_verb_split_skips_repeated_slashes_and_keeps_slashes_in_verb() {
        assert_eq!(split_api_verb("/hello/ping"), ("hello", "ping"));
        assert_eq!(split_api_verb("//hello///ping"), ("hello", "ping"));
        assert_eq!(split_api_verb("/hello/a/b"), ("hello", "a/b"));
        assert_eq!(split_api_verb("/hello"), ("hello", ""));
        assert_eq!(split_api_verb("/"), ("", ""));
    }

    #[test]
    fn content_types_classified() {
        assert_eq!(body_kind(Some("application/json"), true), BodyKind::Json);
        assert_eq!(body_kind(Some("Application/JSON; charset=utf-8"), true), BodyKind::Json);
        assert_eq!(body_kind(Some("application/vnd.x+json"), true), BodyKind::Json);
        assert_eq!(
            body_kind(Some("application/x-www-form-urlencoded"), true),
            BodyKind::Form
        );
        assert_eq!(
            body_kind(Some("multipart/form-data; boundary=x"), true),
            BodyKind::Multipart
        );
        assert_eq!(body_kind(Some("text/plain"), true), BodyKind::Unsupported);
        assert_eq!(body_kind(None, true), BodyKind::Unsupported);
        assert_eq!(body_kind(Some("text/plain"), false), BodyKind::None);
        assert_eq!(body_kind(None, false), BodyKind::None);
    }

    /// Found by the `http_query` fuzz target: the `+json` suffix test sliced
    /// the text at a byte that was not a character boundary.
    #[test]
    fn content_type_suffix_test_never_splits_a_character() {
        assert_eq!(body_kind(Some("\u{fffd}\u{fffd}"), true), BodyKind::Unsupported);
        assert_eq!(body_kind(Some("x\u{20ac}json"), true), BodyKind::Unsupported);
        assert_eq!(body_kind(Some("\u{20ac}\u{20ac}+json"), true), BodyKind::Json);
    }

    #[test]
    fn cookie_header_value() {
        let v = cookie_value("x-afb-uuid-1234=", "abc", "; Path=/").unwrap();
        assert_eq!(v, "x-afb-uuid-1234=abc; Path=/");
        assert!(cookie_value("a=", "bad\nvalue", "").is_none());
    }

    #[test]
    fn envelope_response_status_and_challenge() {
        let r = envelope_response(&ReplyEnvelope::error("invalid-token", None), 64);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "error=\"invalid_token\"");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let r = envelope_response(&ReplyEnvelope::success(None), 64);
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
    }
}
