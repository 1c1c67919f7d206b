//! What every ABI's request object shares: the right to reply (kept until
//! the C code replies, however late), and the calls ("subcalls" in the
//! caller's session, "calls" in the API's own session) with their
//! synchronous and asynchronous forms.
//!
//! Synchronous calls block the calling thread (a blocking-pool thread: C
//! code never runs on the async workers) on a channel that a task of the
//! runtime fulfils, so they never deadlock the runtime.

use std::ffi::CString;
use std::sync::{Arc, Mutex};

use afb_core::api::BoxFuture;
use afb_core::session::Session;
use afb_core::{status, Args, Call, Client, Reply, ReqHandle, Request};

use crate::capi::CApi;
use crate::errno::FAILED;
use crate::util::{self, lock};

/// The reply side of a C request.
pub(crate) struct ReqCore {
    pub api: &'static CApi,
    pub handle: ReqHandle,
    request: Mutex<Option<Request>>,
    pub called_api: CString,
    pub called_verb: CString,
}

impl ReqCore {
    pub(crate) fn new(api: &'static CApi, req: Request) -> Self {
        ReqCore {
            api,
            handle: req.handle(),
            called_api: util::cstring(req.api_name()),
            called_verb: util::cstring(req.verb()),
            request: Mutex::new(Some(req)),
        }
    }

    /// Replies; a second reply is ignored and logged.
    pub(crate) fn reply(&self, reply: Reply) {
        let taken = lock(&self.request).take();
        match taken {
            Some(r) => {
                r.reply(reply);
            }
            None => tracing::warn!(
                api = %self.api.name,
                verb = %self.handle.verb(),
                "the C binding replied twice to the same request: second reply ignored"
            ),
        }
    }
}

/// Who makes a call.
pub(crate) enum Caller<'a> {
    /// A request: in its client's session (subcall), or in its API's own
    /// session when `api_session`.
    Req(&'a ReqHandle, bool),
    /// An API (in its own session).
    Api(&'static CApi),
}

/// Starts a call of `api/verb`; the future gives the reply.
pub(crate) fn start_call(caller: Caller<'_>, api: &str, verb: &str, args: Args) -> BoxFuture<Reply> {
    util::in_runtime(|| match caller {
        Caller::Req(h, false) => Box::pin(h.subcall(api, verb, args)) as BoxFuture<Reply>,
        Caller::Req(h, true) => Box::pin(h.api().call(api, verb, args)),
        Caller::Api(capi) => match capi.api_ref() {
            Some(r) => Box::pin(r.call(api, verb, args)),
            None => match capi.registry() {
                Some(reg) => {
                    let call = Call::internal(api, verb, args, Client::new(root_session()), None);
                    Box::pin(reg.call(call)) as BoxFuture<Reply>
                }
                None => Box::pin(std::future::ready(shutting_down())),
            },
        },
    })
}

fn root_session() -> Arc<Session> {
    static ROOT: std::sync::OnceLock<Arc<Session>> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| Session::detached(None)).clone()
}

fn shutting_down() -> Reply {
    Reply::error(status::NOT_AVAILABLE, Some("the binder is shutting down".into()))
}

/// Waits for a call's reply on the current (blocking) thread.
pub(crate) fn wait(fut: BoxFuture<Reply>) -> Reply {
    let Some(rt) = util::runtime() else {
        return Reply::error(status::INTERNAL_ERROR, Some("no runtime".into()));
    };
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .unwrap_or_else(|_| Reply::error(status::INTERNAL_ERROR, Some("reply lost".into())))
}

/// Asks the binder's permission backend about `permission` for `h`'s
/// client; the future's reply is a success when granted.
pub(crate) fn permission(h: &afb_core::ReqHandle, permission: &str) -> BoxFuture<Reply> {
    let fut = afb_core::access::check_permission(h, permission);
    Box::pin(async move {
        if fut.await {
            Reply::success(None, None)
        } else {
            Reply::error(status::INSUFFICIENT_SCOPE, None)
        }
    })
}

/// Runs `then` with the reply, on the blocking pool, when it arrives.
pub(crate) fn then(fut: BoxFuture<Reply>, then: impl FnOnce(Reply) + Send + 'static) {
    let Some(rt) = util::runtime() else {
        return;
    };
    let rt2 = rt.clone();
    // The callback is the caller's C code: it runs under the caller's label.
    let label = util::Label::current();
    rt.spawn(async move {
        let reply = fut.await;
        rt2.spawn_blocking(move || util::guard("call callback", (), || label.run(|| then(reply))));
    });
}

/// Arguments from JSON text (invalid text: no argument).
pub(crate) fn args_of(text: &str) -> Args {
    Args::from_json_str(text).unwrap_or_else(|_| Args::null())
}

/// The numeric status of a reply as C bindings see it: 0 (or the code when
/// positive) for success, the negative code for errors (-1 when unknown).
pub(crate) fn code_of(reply: &Reply) -> i32 {
    if reply.is_success() {
        reply.code.max(0)
    } else if reply.code < 0 {
        reply.code
    } else {
        FAILED
    }
}

/// The reply envelope that legacy (v1, v2) call callbacks receive.
pub(crate) fn legacy_envelope(reply: &Reply) -> String {
    let mut request = serde_json::Map::new();
    request.insert("status".into(), serde_json::Value::String(reply.status.to_string()));
    if let Some(i) = &reply.info {
        request.insert("info".into(), serde_json::Value::String(i.clone()));
    }
    let mut env = serde_json::Map::new();
    env.insert("jtype".into(), "afb-reply".into());
    env.insert("request".into(), serde_json::Value::Object(request));
    let mut text = serde_json::Value::Object(env).to_string();
    if let Some(d) = reply.data_json() {
        text.pop();
        text.push_str(",\"response\":");
        text.push_str(d);
        text.push('}');
    }
    text
}
