//! The RPC v3 link (`--rpc`): the binder-to-binder protocol of redpesk, spoken by a client.
//! The URI is a socket (`unix:PATH`, `unix:@NAME`, `tcp:HOST:PORT`, `ws+` for WebSocket
//! framing: the daemon's `--rpc-server`), or the binder's HTTP API root: `http://HOST:PORT/api`
//! (upgraded with `Upgrade: x-afb-rpc`) or `ws://HOST:PORT/api` (a WebSocket with the
//! subprotocol `x-afb-ws-rpc`, masked frames). Requests are
//! `API VERB ARGS` lines; replies and events are printed as over x-afb-ws-json1. Over a
//! socket, `-u`/`-t` are declared as session 1 and token 1 and named by every call; over HTTP
//! they travel in the upgrade request's query and are the link's defaults.

use std::collections::HashMap;
use std::time::Duration;

use afb_endpoint::{Address, Connector, Host, SocketUri, Stream};
use afb_rpc::convert::{known_type, reply_of, values_json};
use afb_rpc::spec::HttpRoot;
use afb_rpc::{encode_message, Framing};
use afb_rpc_codec::version::OFFER;
use afb_rpc_codec::wire::{special_verb, MAX_PENDING_CALLS};
use afb_rpc_codec::{
    CallReply, CallRequest, DecodeError, Message, Phase, ResourceKind, StreamDecoder, Text, Value, Values, Verb,
};
use afb_wsapi_codec::frame::{self, FrameDecoder, FrameEvent, OpCode};
use afb_wsj1::envelope::{self, ReplyEnvelope};
use afb_wsj1::{RawValue, WriteJson};
use tokio::io::AsyncReadExt;

use crate::complete::{apis_of, verbs_of};
use crate::request::Request;
use crate::session::{send_all, Closed, Ctx, Link, Pending, Purpose, Recv};
use crate::uri::{UriError, WsTarget};

/// How long connecting (socket, HTTP upgrade, version) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most descriptions asked for completion.
const MAX_DESCRIBES: usize = 64;

/// Where to connect.
#[derive(Debug, Clone)]
pub enum RpcTarget {
    /// A socket; `ws` for WebSocket framing (`ws+`).
    Socket { connector: Connector, ws: bool },
    /// An HTTP API root, upgraded to RPC (a WebSocket when `root.websocket`).
    Http { target: WsTarget, root: HttpRoot },
}

impl RpcTarget {
    /// Parses an HTTP URL (`http://` or `ws://`) or a socket URI.
    pub fn parse(uri: &str, uuid: Option<&str>, token: Option<&str>) -> Result<RpcTarget, UriError> {
        let lower = uri.get(..7).unwrap_or(uri).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("ws://") {
            let target = WsTarget::parse(uri, uuid, token)?;
            let host = if target.host.contains(':') {
                format!("[{}]:{}", target.host, target.port)
            } else {
                format!("{}:{}", target.host, target.port)
            };
            let path = format!("/{}", target.url.splitn(4, '/').nth(3).unwrap_or("api"));
            let root = HttpRoot {
                websocket: lower.starts_with("ws://"),
                host,
                path,
            };
            return Ok(RpcTarget::Http { target, root });
        }
        let bad = |why: String| UriError(format!("bad RPC URI {uri:?}: {why}"));
        let socket = SocketUri::parse(uri).map_err(|e| bad(e.reason))?;
        socket.check(&afb_rpc::spec::PROFILE).map_err(bad)?;
        let connector = Connector::new(&socket).map_err(|e| bad(e.reason))?;
        Ok(RpcTarget::Socket {
            connector,
            ws: socket.prefixes.ws(),
        })
    }
}

/// A connected RPC link.
pub struct RpcLink {
    stream: Stream,
    framing: Framing,
    frames: FrameDecoder,
    dec: StreamDecoder,
    /// Bytes read and not decoded yet (raw stream), or whole binary messages (WebSocket).
    rbuf: Vec<u8>,
    messages: Vec<Vec<u8>>,
    wbuf: Vec<u8>,
    seq: u16,
    next_id: u16,
    pending: Pending<u16>,
    events: HashMap<u16, String>,
    types: HashMap<u16, &'static str>,
    /// The ids of the declared session and token (0: none).
    ids: [u16; 2],
}

/// Connects, upgrades (HTTP), exchanges the version, and over a socket declares `who`: the
/// session uuid and the token.
pub async fn connect(target: &RpcTarget, max_message: usize, who: [Option<&str>; 2]) -> Result<RpcLink, String> {
    let shown = match target {
        RpcTarget::Socket { connector, .. } => connector.address().to_string(),
        RpcTarget::Http { target, .. } => target.url.clone(),
    };
    let fail = |why: String| format!("cannot connect to {shown}: {why}");
    let work = async {
        let (connector, framing) = match target {
            RpcTarget::Socket { connector, ws: true } => (connector.clone(), Framing::Ws),
            RpcTarget::Socket { connector, ws: false } => (connector.clone(), Framing::Raw),
            RpcTarget::Http { target, root } => {
                let to = Address::Tcp {
                    host: Host::Name(target.host.clone()),
                    port: target.port,
                };
                let framing = if root.websocket {
                    Framing::WsMasked
                } else {
                    Framing::Raw
                };
                (Connector::to(to).map_err(fail)?, framing)
            }
        };
        let mut stream = connector.connect().await.map_err(|e| fail(e.to_string()))?;
        if let RpcTarget::Http { root, .. } = target {
            afb_rpc::http::upgrade(&mut stream, root).await.map_err(fail)?;
        }
        let mut link = RpcLink {
            stream,
            framing,
            frames: FrameDecoder::new(max_message),
            dec: StreamDecoder::new(),
            rbuf: Vec::with_capacity(16 * 1024),
            messages: Vec::new(),
            wbuf: Vec::new(),
            seq: 0,
            next_id: 0,
            pending: Pending::default(),
            events: HashMap::new(),
            types: HashMap::new(),
            ids: [0, 0],
        };
        link.version().await.map_err(fail)?;
        if let RpcTarget::Socket { .. } = target {
            // Over HTTP they went with the upgrade request.
            for (n, (kind, text)) in [ResourceKind::Session, ResourceKind::Token]
                .into_iter()
                .zip(who)
                .enumerate()
            {
                let Some(text) = text else { continue };
                link.ids[n] = 1;
                let declare = Message::ResourceCreate {
                    kind,
                    id: 1,
                    text: Text::from(text),
                };
                link.put(&declare).map_err(fail)?;
            }
        }
        link.flush().await.map_err(|e| fail(format!("{e:?}")))?;
        Ok(link)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(fail(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))))
}

/// Reads more bytes into `buf`; an error when the stream ends.
async fn read_more(stream: &mut Stream, buf: &mut Vec<u8>) -> Result<(), String> {
    match stream.read_buf(buf).await {
        Ok(0) => Err("the server closed the connection".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

impl RpcLink {
    /// Offers version 3, alone, and needs it back.
    async fn version(&mut self) -> Result<(), String> {
        match self.framing {
            Framing::Raw => self.wbuf.extend_from_slice(&OFFER),
            Framing::Ws => frame::encode_binary(&OFFER, &mut self.wbuf),
            Framing::WsMasked => frame::encode_frame(OpCode::Binary, true, &OFFER, Some([7, 1, 7, 1]), &mut self.wbuf),
        }
        self.flush().await.map_err(|e| format!("{e:?}"))?;
        loop {
            if self.framing != Framing::Raw {
                if let Some(m) = self.messages.first() {
                    let answer = m.clone();
                    self.messages.remove(0);
                    return match self.dec.decode_ws_message(&answer).next() {
                        Some(Ok(d)) if d.message == (Message::VersionSet { version: 3 }) => {
                            self.dec.set_phase(Phase::Chunks);
                            Ok(())
                        }
                        Some(Ok(d)) => Err(format!("the server answered {:?}", d.message)),
                        Some(Err(e)) => Err(e.to_string()),
                        None => Err("empty version answer".into()),
                    };
                }
            } else {
                match self.dec.decode(&self.rbuf) {
                    Ok(d) if d.message == (Message::VersionSet { version: 3 }) => {
                        self.rbuf.drain(..d.consumed);
                        return Ok(());
                    }
                    Ok(d) => return Err(format!("the server answered {:?}", d.message)),
                    Err(DecodeError::Incomplete { .. }) => {}
                    Err(DecodeError::Fatal(e)) => return Err(e.to_string()),
                }
            }
            self.read().await.map_err(|e| format!("{e:?}"))?;
        }
    }

    /// Reads what the server sent: bytes (raw stream) or whole messages (WebSocket).
    async fn read(&mut self) -> Result<(), Closed> {
        let mut chunk = Vec::with_capacity(16 * 1024);
        let buf = if self.framing != Framing::Raw {
            &mut chunk
        } else {
            &mut self.rbuf
        };
        read_more(&mut self.stream, buf)
            .await
            .map_err(|e| Closed::HangUp(Some(e)))?;
        if self.framing != Framing::Raw {
            let mut input = chunk.as_slice();
            loop {
                match self.frames.decode(&mut input) {
                    Ok(None) => break,
                    Ok(Some(FrameEvent::Binary(m))) => self.messages.push(m),
                    Ok(Some(FrameEvent::Ping(p))) => frame::encode_pong(&p, &mut self.wbuf),
                    Ok(Some(FrameEvent::Pong(_))) => {}
                    Ok(Some(FrameEvent::Close(_))) => return Err(Closed::HangUp(None)),
                    Ok(Some(FrameEvent::Text(_))) => {
                        return Err(Closed::HangUp(Some("text frame on an RPC link".into())))
                    }
                    Err(e) => return Err(Closed::HangUp(Some(format!("protocol error: {e}")))),
                }
            }
        }
        Ok(())
    }

    /// Appends `msg` (a frame of its own in WebSocket framing).
    fn put(&mut self, msg: &Message<'_>) -> Result<(), String> {
        self.seq = self.seq.checked_add(1).unwrap_or(1);
        encode_message(self.framing, msg, self.seq, &mut self.wbuf).map_err(|e| e.to_string())
    }

    async fn flush(&mut self) -> Result<(), Closed> {
        send_all(&mut self.stream, &mut self.wbuf).await
    }

    fn alloc_id(&mut self) -> u16 {
        self.pending.free_id(&mut self.next_id)
    }

    /// Sends a call of `api/verb` (a special verb when `verb` is `None`).
    async fn call(&mut self, api: &str, verb: Option<&str>, args: &str, purpose: Purpose) -> Result<(), String> {
        let callid = self.alloc_id();
        let v = [Value::json(args)];
        let mut c = match verb {
            Some(v) => CallRequest::new(callid, Verb::name(v)),
            None => CallRequest::new(callid, Verb::Special(special_verb::DESCRIBE)),
        };
        c.api = Some(Text::from(api));
        [c.session, c.token] = self.ids;
        if verb.is_some() {
            c.values = Values::new(&v);
        }
        self.put(&Message::CallRequest(c))?;
        self.pending.insert(callid, purpose);
        self.flush().await.map_err(|e| format!("{e:?}"))
    }

    fn type_name(&self) -> impl Fn(u16) -> Option<&'static str> + '_ {
        |id| self.types.get(&id).copied()
    }

    /// A reply: printed for a user call, used for completion otherwise.
    async fn on_reply(&mut self, r: CallReply<'_>, ctx: &mut Ctx) -> Result<(), String> {
        let Some(purpose) = self.pending.remove(r.callid) else {
            return Err(format!("reply to call {}, which is not pending", r.callid));
        };
        let reply = reply_of(r.status, &r.values, &self.type_name())?;
        match purpose {
            Purpose::User(label) => {
                let ok = reply.is_success();
                ctx.replied(ok);
                let data: Option<&RawValue> = reply.data.as_deref();
                let env = ReplyEnvelope {
                    status: &reply.status,
                    code: reply.code,
                    info: reply.info.as_deref(),
                    reqid: None,
                    uuid: None,
                    token: None,
                    response: data.as_ref().map(|d| d as &dyn WriteJson),
                };
                let mut body = Vec::new();
                envelope::write_reply_envelope(&mut body, &env);
                ctx.out.wsj1_reply(&label, ok, &String::from_utf8_lossy(&body));
            }
            Purpose::ListApis => {
                let Some(store) = ctx.completions.clone() else {
                    return Ok(());
                };
                let response: Option<serde_json::Value> = reply.data_json().and_then(|d| serde_json::from_str(d).ok());
                let mut to_describe = Vec::new();
                if let (Some(response), Ok(mut known)) = (response, store.lock()) {
                    for (api, _) in apis_of(&response) {
                        known.add_api(&api);
                        to_describe.push(api);
                    }
                }
                for api in to_describe.into_iter().take(MAX_DESCRIBES) {
                    self.call(&api, None, "null", Purpose::Describe(api.clone())).await?;
                }
            }
            Purpose::Describe(api) => {
                let text = match r.values.first() {
                    Some(Value::Untyped(b)) => String::from_utf8_lossy(b).trim_end_matches('\0').to_owned(),
                    _ => reply.data_json().unwrap_or("null").to_owned(),
                };
                if let (Some(store), Ok(desc)) = (&ctx.completions, serde_json::from_str::<serde_json::Value>(&text)) {
                    if let Ok(mut known) = store.lock() {
                        if !verbs_of(&desc).is_empty() {
                            known.set_verbs(&api, &desc);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn on_event(&mut self, name: &str, values: &Values<'_>, ctx: &mut Ctx) -> Result<(), String> {
        let data = values_json(values, &self.type_name())?;
        let data: Option<&RawValue> = data.as_deref();
        let mut body = Vec::new();
        envelope::write_event_envelope(&mut body, name, data.as_ref().map(|d| d as &dyn WriteJson));
        ctx.out.wsj1_event(name, &String::from_utf8_lossy(&body));
        Ok(())
    }

    /// One message of the server.
    async fn message(&mut self, msg: Message<'_>, ctx: &mut Ctx) -> Result<(), String> {
        match msg {
            Message::CallReply(r) => self.on_reply(r, ctx).await?,
            Message::EventPush(p) => match self.events.get(&p.eventid).cloned() {
                Some(name) => self.on_event(&name, &p.values, ctx)?,
                None => {
                    ctx.warn(&format!("push of unknown event {}: told the server", p.eventid));
                    self.put(&Message::EventUnexpected { eventid: p.eventid })?;
                }
            },
            Message::EventBroadcast(b) => self.on_event(&b.name.to_string(), &b.values, ctx)?,
            Message::ResourceCreate {
                kind: ResourceKind::Event,
                id,
                text,
            } => {
                self.events.insert(id, text.to_string());
            }
            Message::ResourceCreate {
                kind: ResourceKind::Type,
                id,
                text,
            } => {
                let name = known_type(&text.to_string()).ok_or_else(|| format!("unknown type {text:?}"))?;
                self.types.insert(id, name);
            }
            Message::ResourceDestroy {
                kind: ResourceKind::Event,
                id,
            } => {
                self.events.remove(&id);
            }
            Message::CallRequest(c) => {
                // The server calls this client: shown, answered "unimplemented".
                let api = c.api.map(|a| a.to_string()).unwrap_or_default();
                let verb = match c.verb {
                    Verb::Name(v) => v.to_string(),
                    Verb::Special(id) => format!("#{id:04x}"),
                };
                let args = values_json(&c.values, &self.type_name())?;
                ctx.out
                    .wsj1_server_call(&format!("{api}/{verb}"), args.as_deref().map_or("null", RawValue::get));
                let v = [Value::stringz(Some("unimplemented"))];
                self.put(&Message::CallReply(CallReply {
                    callid: c.callid,
                    status: -4,
                    values: Values::new(&v),
                }))?;
            }
            // Subscriptions, other resources: nothing to show.
            _ => {}
        }
        Ok(())
    }

    /// Decodes and handles every complete message received.
    async fn drain(&mut self, ctx: &mut Ctx) -> Result<(), String> {
        if self.framing != Framing::Raw {
            for m in std::mem::take(&mut self.messages) {
                let mut dec = std::mem::take(&mut self.dec);
                let mut result = Ok(());
                let decoded: Vec<_> = dec.decode_ws_message(&m).collect();
                for d in decoded {
                    match d {
                        Ok(d) => result = Box::pin(self.message(d.message, ctx)).await,
                        Err(e) => result = Err(e.to_string()),
                    }
                    if result.is_err() {
                        break;
                    }
                }
                self.dec = dec;
                result?;
            }
            return Ok(());
        }
        let buf = std::mem::take(&mut self.rbuf);
        let mut pos = 0;
        let result = loop {
            match self.dec.decode(buf.get(pos..).unwrap_or_default()) {
                Ok(d) => {
                    pos += d.consumed;
                    if let Err(e) = Box::pin(self.message(d.message, ctx)).await {
                        break Err(e);
                    }
                }
                Err(DecodeError::Incomplete { .. }) => break Ok(()),
                Err(DecodeError::Fatal(e)) => break Err(e.to_string()),
            }
        };
        let mut rest = buf;
        rest.drain(..pos.min(rest.len()));
        rest.extend_from_slice(&self.rbuf);
        self.rbuf = rest;
        result
    }
}

impl Link for RpcLink {
    type Frame = ();

    async fn recv(&mut self) -> Recv<()> {
        match self.read().await {
            Ok(()) => Recv::Frame(()),
            Err(closed) => Recv::Closed(closed),
        }
    }

    async fn handle(&mut self, _frame: (), ctx: &mut Ctx) -> Result<(), Closed> {
        let result = self.drain(ctx).await;
        if let Err(why) = result {
            return Err(Closed::HangUp(Some(format!("protocol error: {why}"))));
        }
        self.flush().await
    }

    async fn send(&mut self, request: Request, ctx: &mut Ctx) -> Result<(), Closed> {
        let (api, verb, args) = match request {
            Request::Call { api, verb, args } => (api, verb, args),
            Request::Event { name, .. } => {
                ctx.warn(&format!("cannot send the event {name:?} over RPC"));
                return Ok(());
            }
        };
        let n = ctx.next_number();
        if ctx.echo {
            ctx.out.echo_call(&api, &verb, args.get());
        }
        let label = format!("{n}:{api}/{verb}");
        if let Err(why) = self
            .call(&api, Some(&verb), args.get(), Purpose::User(label.clone()))
            .await
        {
            ctx.warn(&format!("{label}: not sent: {why}"));
            ctx.replied(false);
        }
        Ok(())
    }

    async fn fetch_completions(&mut self, _ctx: &mut Ctx) -> Result<(), Closed> {
        self.call("monitor", Some("get"), r#"{"apis":true}"#, Purpose::ListApis)
            .await
            .map_err(|e| Closed::HangUp(Some(e)))
    }

    fn in_flight(&self) -> usize {
        self.pending.user()
    }

    fn in_flight_labels(&self) -> Vec<String> {
        self.pending.user_labels()
    }

    fn max_in_flight(&self) -> usize {
        // Leave room for the completion calls.
        MAX_PENDING_CALLS - MAX_DESCRIBES - 1
    }

    fn direct(&self) -> bool {
        false
    }
}
