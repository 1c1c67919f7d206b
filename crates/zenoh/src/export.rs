//! The exporting side: one queryable per exported API; each query becomes
//! a [`Call`] dispatched to the local registry (the API's access rules run
//! here), its reply the answer to the query; the events the call subscribes
//! its client to are published by [`EventPublisher`].

use std::sync::{Arc, Mutex};

use afb_core::event::{BroadcastMsg, PushMsg};
use afb_core::{
    status, Args, Call, Client, ClientCancel, Event, Listener, Registry, Reply, ReplySink, Session, SubscribeError,
    Subscriber,
};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use zenoh::bytes::Encoding;
use zenoh::query::Query;
use zenoh::Wait;

use crate::wire::{self, CallAtt, ErrorPayload, ReplyAtt};
use crate::{lock, Shared};

/// Publishes the pushes of the events that calls of peers subscribed to.
pub(crate) struct EventPublisher {
    pub(crate) shared: Arc<Shared>,
}

impl Listener for EventPublisher {
    fn push(&self, msg: &PushMsg<'_>) {
        let key = self.shared.keys.event(&self.shared.keys.bid, msg.event.name());
        let (payload, encoding) = crate::payload_of(Some(msg.data.get()), msg.typed);
        let r = self.shared.session.put(key, payload).encoding(encoding).wait();
        if let Err(e) = r {
            tracing::warn!(event = msg.event.name(), "event push not published on Zenoh: {e}");
        }
    }

    fn broadcast(&self, _msg: &BroadcastMsg<'_>) {}
}

/// One exported API.
struct Export {
    shared: Arc<Shared>,
    api: Arc<str>,
    events: Arc<EventPublisher>,
    gone: ClientCancel,
}

/// Declares the queryable of `api` and serves its queries until `stop`.
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    _registry: &Arc<Registry>,
    api: &str,
    events: Arc<EventPublisher>,
    stop: CancellationToken,
) -> Result<(), String> {
    let exp = Arc::new(Export {
        shared: shared.clone(),
        api: api.into(),
        events,
        gone: ClientCancel::new(stop.child_token()),
    });
    // Queries are taken on the Zenoh thread that received them (no hop to
    // another thread and back: that hand-over cost more than the call),
    // inside this runtime so that what the call spawns runs here.
    let runtime = tokio::runtime::Handle::current();
    let q = shared
        .session
        .declare_queryable(shared.keys.queryable(api))
        .callback(move |query| {
            let _here = runtime.enter();
            exp.on_query(query);
        })
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        stop.cancelled().await;
        drop(q);
    });
    Ok(())
}

/// Answers a query that could not be taken, with a log line.
fn refuse(query: &Query, status: &str, info: String) {
    tracing::warn!(key = %query.key_expr(), "Zenoh query refused ({status}): {info}");
    let p = ErrorPayload {
        status: status.to_owned(),
        info: Some(info),
    };
    let body = serde_json::to_vec(&p).unwrap_or_default();
    if let Err(e) = query.reply_err(body).encoding(Encoding::APPLICATION_JSON).wait() {
        tracing::debug!("Zenoh error reply not sent: {e}");
    }
}

impl Export {
    fn on_query(self: &Arc<Self>, query: Query) {
        let Some(registry) = self.shared.registry.upgrade() else {
            return;
        };
        let key = query.key_expr().as_str().to_owned();
        let Some(verb) = self.shared.keys.verb_of(&self.api, &key) else {
            return refuse(&query, status::INVALID_REQUEST, format!("malformed call key {key}"));
        };
        let att = match query.attachment() {
            None => CallAtt::default(),
            Some(a) => match wire::parse::<CallAtt>(&a.to_bytes()).and_then(|a| a.check().map(|()| a)) {
                Ok(a) => a,
                Err(e) => return refuse(&query, status::INVALID_REQUEST, e),
            },
        };
        let typed = query.encoding().is_some_and(|e| e.to_string() == wire::TYPED);
        let args = match query.payload().map(|p| p.to_bytes()) {
            Some(b) if typed => match crate::data_of(&b, query.encoding()) {
                Ok((json, Some(list))) => Args::from_typed(list, json),
                Ok(_) => Args::null(),
                Err(e) => return refuse(&query, status::INVALID_REQUEST, e),
            },
            None => Args::null(),
            Some(b) if b.iter().all(u8::is_ascii_whitespace) => Args::null(),
            Some(b) => match std::str::from_utf8(&b)
                .ok()
                .and_then(|t| RawValue::from_string(t.to_owned()).ok())
            {
                Some(raw) => Args::from_raw(raw),
                None => return refuse(&query, status::INVALID_REQUEST, "the arguments are not JSON".into()),
            },
        };
        if let Some(e) = query.encoding() {
            let text = e.to_string();
            let known = [wire::JSON, "text/plain", "zenoh/bytes", "zenoh/string", wire::TYPED];
            if !known.iter().any(|k| text.starts_with(k)) {
                return refuse(&query, status::INVALID_REQUEST, format!("unsupported encoding {text}"));
            }
        }
        let api_id = match registry.get_api(&self.api) {
            Some(e) => e.id(),
            None => return refuse(&query, status::UNKNOWN_API, format!("API {} is gone", self.api)),
        };
        let session = match &att.session {
            Some(uuid) => match registry.sessions().get_or_create(uuid) {
                Ok((s, created)) => {
                    // A session new here that the caller knows with a LOA
                    // (it moved from a replica that died): adopt it.
                    if created {
                        if let Some(l) = att.loa.filter(|l| *l > 0) {
                            let _ = s.set_loa(api_id, u32::from(l));
                        }
                    }
                    s
                }
                Err(e) => return refuse(&query, status::NOT_AVAILABLE, e.to_string()),
            },
            None => match registry.sessions().create() {
                Ok(s) => s,
                Err(e) => return refuse(&query, status::NOT_AVAILABLE, e.to_string()),
            },
        };
        let creds = match att.creds.as_deref() {
            None => None,
            Some(t) => match afb_link::parse_creds(t) {
                Some(c) => Some(Arc::new(c)),
                None => return refuse(&query, status::INVALID_REQUEST, "unreadable credentials".into()),
            },
        };
        let state = Arc::new(CallState {
            session: session.clone(),
            api_id,
            events: Mutex::new(Vec::new()),
            publisher: self.events.clone(),
        });
        let client = Client {
            session,
            token: att.token.map(Arc::from),
            subscriber: Some(state.clone()),
            creds: None,
            cancel: Some(self.gone.clone()),
            transport: afb_core::Transport::Internal,
            remote: None,
        };
        let sink = Box::new(ZSink { query, state });
        match creds {
            None => registry.dispatch(Call::external(&self.api, &verb, args, client), sink),
            Some(c) => {
                // Credentials of a client of the caller: honoured when the
                // permission backend lets peers act on behalf of others.
                let ask = afb_core::access::may_act_on_behalf(&registry, None);
                let me = self.clone();
                tokio::spawn(async move {
                    if ask.await {
                        let client = Client {
                            creds: Some(c),
                            ..client
                        };
                        registry.dispatch(Call::external(&me.api, &verb, args, client), sink);
                    } else {
                        tracing::info!(api = %me.api, "Zenoh call on behalf of another client: refused");
                        sink.reply(Reply::error(
                            status::INSUFFICIENT_SCOPE,
                            Some("this peer may not call on behalf of others".into()),
                        ));
                    }
                });
            }
        }
    }
}

/// What one call of a peer did: its session and its (un)subscriptions.
struct CallState {
    session: Arc<Session>,
    api_id: afb_core::session::ApiId,
    /// In order: (subscribed?, event name).
    events: Mutex<Vec<(bool, String)>>,
    publisher: Arc<EventPublisher>,
}

impl Subscriber for CallState {
    fn subscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        let mut ev = lock(&self.events);
        if ev.len() >= wire::MAX_EVENTS {
            return Err(SubscribeError::Limit(wire::MAX_EVENTS));
        }
        let l: Arc<dyn Listener> = self.publisher.clone();
        event.add_listener(&l);
        ev.push((true, event.name().to_owned()));
        Ok(())
    }

    fn unsubscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        let mut ev = lock(&self.events);
        if ev.len() >= wire::MAX_EVENTS {
            return Err(SubscribeError::Limit(wire::MAX_EVENTS));
        }
        ev.push((false, event.name().to_owned()));
        Ok(())
    }
}

/// Where the reply of a peer's call goes: the query.
struct ZSink {
    query: Query,
    state: Arc<CallState>,
}

impl ReplySink for ZSink {
    fn reply(self: Box<Self>, r: Reply) {
        let mut att = ReplyAtt {
            status: r.status.to_string(),
            code: r.code,
            info: r.info.clone(),
            session: Some(self.state.session.uuid().to_owned()),
            loa: Some(self.state.session.loa(self.state.api_id)),
            ..ReplyAtt::default()
        };
        // The last (un)subscription of each event wins.
        let ops = std::mem::take(&mut *lock(&self.state.events));
        for (i, (on, name)) in ops.iter().enumerate() {
            if ops[i + 1..].iter().any(|(_, n)| n == name) {
                continue;
            }
            if *on {
                att.subscribe.push(name.clone());
            } else {
                att.unsubscribe.push(name.clone());
            }
        }
        let att = serde_json::to_vec(&att).unwrap_or_default();
        let (payload, encoding) = crate::payload_of(r.data_json(), r.typed.as_ref());
        let sent = self
            .query
            .reply(self.query.key_expr().clone(), payload)
            .encoding(encoding)
            .attachment(att)
            .wait();
        if let Err(e) = sent {
            tracing::debug!(key = %self.query.key_expr(), "Zenoh reply not sent: {e}");
        }
    }
}
