//! The wsapi link (`-d`): a stream socket carrying wsapi v1 messages in raw WebSocket frames,
//! encoded and decoded by `afb-wsapi-codec`. The client offers version 1, declares its
//! session (`-u`) and token (`-t`) with `S`/`T`, calls with `K` and prints what comes back.

use std::collections::HashMap;
use std::time::Duration;

use afb_endpoint::Stream;
use afb_wsapi_codec::frame::{encode_close, encode_pong, FrameDecoder, FrameEvent};
use afb_wsapi_codec::message::Message;
use afb_wsapi_codec::{decode, encode_framed, object_to_json, Direction, MAX_PENDING, VERSION_1};
use tokio::io::AsyncReadExt;

use crate::request::Request;
use crate::session::{send_all, Closed, Ctx, Link, Pending, Purpose, Recv};
use crate::uri::WsapiTarget;

/// How long connecting and the version exchange may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected wsapi link.
pub struct WsapiLink {
    stream: Stream,
    decoder: FrameDecoder,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    next_id: u16,
    pending: Pending<u16>,
    events: HashMap<u16, String>,
    session_id: u16,
    token_id: u16,
    api: String,
    max_message: usize,
}

/// Connects, exchanges the version and declares the session and token.
pub async fn connect(
    target: &WsapiTarget,
    uuid: Option<&str>,
    token: Option<&str>,
    max_message: usize,
) -> Result<WsapiLink, String> {
    let fail = |why: String| format!("cannot connect to {}: {why}", target.connector.address());
    let work = async {
        let stream = target.connector.connect().await.map_err(|e| fail(e.to_string()))?;
        let mut link = WsapiLink {
            stream,
            decoder: FrameDecoder::new(max_message),
            rbuf: Vec::with_capacity(16 * 1024),
            rpos: 0,
            wbuf: Vec::new(),
            next_id: 0,
            pending: Pending::default(),
            events: HashMap::new(),
            session_id: 0,
            token_id: 0,
            api: target.api.clone(),
            max_message,
        };
        link.put(&Message::VersionOffer { versions: &[VERSION_1] });
        link.flush().await.map_err(|e| fail(format!("{e:?}")))?;
        loop {
            match link.recv().await {
                Recv::Frame(FrameEvent::Binary(bytes)) => match decode(&bytes) {
                    Ok(Message::VersionSet(VERSION_1)) => break,
                    Ok(Message::VersionSet(v)) => return Err(fail(format!("the server chose version {v}"))),
                    Ok(other) => {
                        return Err(fail(format!(
                            "expected a version, got message {:?}",
                            char::from(other.code())
                        )))
                    }
                    Err(e) => return Err(fail(format!("bad version message: {e}"))),
                },
                Recv::Frame(FrameEvent::Ping(p)) => {
                    encode_pong(&p, &mut link.wbuf);
                    link.flush().await.map_err(|e| fail(format!("{e:?}")))?;
                }
                Recv::Frame(FrameEvent::Pong(_)) => {}
                Recv::Frame(_) => return Err(fail("unexpected frame during the version exchange".into())),
                Recv::Closed(Closed::HangUp(why)) => {
                    return Err(fail(format!(
                        "the server hung up during the version exchange{}",
                        why.map(|w| format!(": {w}")).unwrap_or_default()
                    )))
                }
            }
        }
        if let Some(uuid) = uuid {
            link.session_id = 1;
            link.put(&Message::SessionCreate { id: 1, uuid });
        }
        if let Some(token) = token {
            link.token_id = 1;
            link.put(&Message::TokenCreate { id: 1, token });
        }
        link.flush().await.map_err(|e| fail(format!("{e:?}")))?;
        Ok(link)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(fail(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))))
}

/// Whether `s` can travel in a wsapi string (the peer reads C strings).
fn has_nul(s: &str) -> bool {
    s.as_bytes().contains(&0)
}

impl WsapiLink {
    fn put(&mut self, msg: &Message<'_>) {
        encode_framed(msg, &mut self.wbuf);
    }

    async fn flush(&mut self) -> Result<(), Closed> {
        send_all(&mut self.stream, &mut self.wbuf).await
    }

    /// A free call/describe id (ids share one counter, 0 is never used).
    fn alloc_id(&mut self) -> u16 {
        self.pending.free_id(&mut self.next_id)
    }

    /// Closes the link because the server broke the protocol.
    async fn protocol_error(&mut self, why: String) -> Closed {
        encode_close(
            Some((afb_wsapi_codec::frame::close_code::PROTOCOL_ERROR, "protocol error")),
            &mut self.wbuf,
        );
        let _ = self.flush().await;
        Closed::HangUp(Some(format!("protocol error: {why}")))
    }

    fn event_name(&self, id: u16) -> String {
        self.events.get(&id).cloned().unwrap_or_else(|| "?".to_owned())
    }

    async fn message(&mut self, bytes: &[u8], ctx: &mut Ctx) -> Result<(), Closed> {
        let msg = match decode(bytes) {
            Ok(msg) => msg,
            Err(e) => return Err(self.protocol_error(e.to_string()).await),
        };
        if msg.direction() != Direction::ServerToClient {
            let why = format!("message {:?} is not sent by servers", char::from(msg.code()));
            return Err(self.protocol_error(why).await);
        }
        match msg {
            Message::Reply {
                callid,
                error,
                info,
                reply,
            } => match self.pending.remove(callid) {
                Some(Purpose::User(label)) => {
                    ctx.replied(error.is_none());
                    ctx.out.wsapi_reply(&label, error, info, &object_to_json(reply));
                }
                Some(_) => {}
                None => ctx.warn(&format!("ignored a reply to an unknown call id {callid}")),
            },
            Message::EventCreate { eventid, name } => {
                self.events.insert(eventid, name.to_owned());
                ctx.out.event_create(eventid, name);
            }
            Message::EventRemove(eventid) => {
                let name = self.events.remove(&eventid).unwrap_or_else(|| "?".to_owned());
                ctx.out.event_remove(eventid, &name);
            }
            Message::Subscribe { callid, eventid } => {
                let label = self.pending.label(callid).unwrap_or("?").to_owned();
                ctx.out.event_subscribe(&label, eventid, &self.event_name(eventid));
            }
            Message::Unsubscribe { callid, eventid } => {
                let label = self.pending.label(callid).unwrap_or("?").to_owned();
                ctx.out.event_unsubscribe(&label, eventid, &self.event_name(eventid));
            }
            Message::Push { eventid, data } => match self.events.get(&eventid) {
                Some(name) => ctx.out.event_push(eventid, name, &object_to_json(data)),
                None => {
                    ctx.warn(&format!("push on unknown event id {eventid}: told the server"));
                    self.put(&Message::Unexpected { eventid });
                    self.flush().await?;
                }
            },
            Message::Broadcast { name, data, .. } => ctx.out.event_broadcast(name, &object_to_json(data)),
            Message::Description { descid, description } => {
                if let (Some(Purpose::Describe(api)), Some(store)) = (self.pending.remove(descid), &ctx.completions) {
                    if let (Ok(desc), Ok(mut known)) = (
                        serde_json::from_str::<serde_json::Value>(&object_to_json(description)),
                        store.lock(),
                    ) {
                        known.set_verbs(&api, &desc);
                    }
                }
            }
            Message::VersionSet(_) => ctx.warn("ignored a second version message"),
            _ => {}
        }
        Ok(())
    }
}

impl Link for WsapiLink {
    type Frame = FrameEvent;

    async fn recv(&mut self) -> Recv<FrameEvent> {
        loop {
            let mut input = &self.rbuf[self.rpos..];
            match self.decoder.decode(&mut input) {
                Ok(Some(event)) => {
                    self.rpos = self.rbuf.len() - input.len();
                    return Recv::Frame(event);
                }
                Ok(None) => {
                    self.rbuf.clear();
                    self.rpos = 0;
                }
                Err(e) => {
                    self.rbuf.clear();
                    self.rpos = 0;
                    encode_close(Some((e.close_code(), "")), &mut self.wbuf);
                    let _ = self.flush().await;
                    return Recv::Closed(Closed::HangUp(Some(format!("protocol error: {e}"))));
                }
            }
            match self.stream.read_buf(&mut self.rbuf).await {
                Ok(0) => return Recv::Closed(Closed::HangUp(None)),
                Ok(_) => {}
                Err(e) => return Recv::Closed(Closed::HangUp(Some(e.to_string()))),
            }
        }
    }

    async fn handle(&mut self, frame: FrameEvent, ctx: &mut Ctx) -> Result<(), Closed> {
        match frame {
            FrameEvent::Binary(bytes) => self.message(&bytes, ctx).await,
            FrameEvent::Text(_) => Err(self.protocol_error("text frame".into()).await),
            FrameEvent::Ping(payload) => {
                encode_pong(&payload, &mut self.wbuf);
                self.flush().await
            }
            FrameEvent::Pong(_) => Ok(()),
            FrameEvent::Close(frame) => {
                encode_close(None, &mut self.wbuf);
                let _ = self.flush().await;
                Err(Closed::HangUp(frame.map(|f| {
                    format!("closed with code {} {}", f.code, f.reason)
                        .trim_end()
                        .to_owned()
                })))
            }
        }
    }

    async fn send(&mut self, request: Request, ctx: &mut Ctx) -> Result<(), Closed> {
        let (verb, args) = match request {
            Request::Call { verb, args, .. } => (verb, args),
            Request::Event { name, .. } => {
                ctx.warn(&format!("cannot send the event {name:?} over wsapi"));
                return Ok(());
            }
        };
        let n = ctx.next_number();
        if ctx.echo {
            ctx.out.echo_direct_call(&verb, args.get());
        }
        let label = format!("{n}:{verb}");
        if has_nul(&verb) || verb.is_empty() {
            ctx.warn(&format!("{label}: bad verb name, not sent"));
            ctx.replied(false);
            return Ok(());
        }
        let callid = self.alloc_id();
        let msg = Message::Call {
            callid,
            verb: &verb,
            sessionid: self.session_id,
            tokenid: self.token_id,
            args: args.get(),
            user_creds: None,
        };
        if msg.encoded_len() > self.max_message {
            ctx.warn(&format!(
                "{label}: request of {} bytes is too big, not sent",
                msg.encoded_len()
            ));
            ctx.replied(false);
            return Ok(());
        }
        self.put(&msg);
        self.pending.insert(callid, Purpose::User(label));
        self.flush().await
    }

    async fn fetch_completions(&mut self, _ctx: &mut Ctx) -> Result<(), Closed> {
        let descid = self.alloc_id();
        self.pending.insert(descid, Purpose::Describe(self.api.clone()));
        self.put(&Message::Describe { descid });
        self.flush().await
    }

    fn in_flight(&self) -> usize {
        self.pending.user()
    }

    fn in_flight_labels(&self) -> Vec<String> {
        self.pending.user_labels()
    }

    fn max_in_flight(&self) -> usize {
        // Leave room for a describe request.
        MAX_PENDING - 1
    }

    fn direct(&self) -> bool {
        true
    }
}
