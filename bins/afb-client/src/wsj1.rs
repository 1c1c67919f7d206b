//! The x-afb-ws-json1 link: a WebSocket (subprotocol `x-afb-ws-json1`) on the binder's HTTP
//! port (over TLS for `wss://`), JSON text messages encoded and decoded by `afb-wsj1`.

use std::time::Duration;

use afb_endpoint::tls::{ClientSettings, TlsClient};
use afb_endpoint::{Address, Connector, Host, Stream};
use afb_wsj1::envelope::ReplyEnvelope;
use afb_wsj1::{Message as Wsj1, RawValue};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::complete::{apis_of, verbs_of};
use crate::request::Request;
use crate::session::{Closed, Ctx, Link, Pending, Purpose, Recv};
use crate::uri::WsTarget;

/// How long connecting (TCP and WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most `API/describe` calls made for completion.
const MAX_DESCRIBES: usize = 64;

/// A connected x-afb-ws-json1 link.
pub struct Wsj1Link {
    ws: WebSocketStream<Stream>,
    next_id: u64,
    pending: Pending<u64>,
    buf: Vec<u8>,
}

/// Opens the TCP connection (trying each address of the host), TLS for `wss://`, and the
/// WebSocket.
pub async fn connect(target: &WsTarget, max_message: usize) -> Result<Wsj1Link, String> {
    let fail = |why: String| format!("cannot connect to {}: {why}", target.url);
    let work = async {
        let mut connector = Connector::to(Address::Tcp {
            host: Host::Name(target.host.clone()),
            port: target.port,
        })
        .map_err(fail)?;
        if target.tls {
            // The server's certificate must carry the host of the URL.
            let mut s = ClientSettings::new(target.url.clone(), Some(target.host.clone()));
            s.alpn = vec![b"http/1.1".to_vec()];
            connector = connector.with_tls(TlsClient::new(s).map_err(fail)?);
        }
        let stream = connector.connect().await.map_err(|e| fail(e.to_string()))?;
        let mut request = target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| fail(e.to_string()))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("x-afb-ws-json1"));
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message));
        let (ws, _response) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| fail(format!("WebSocket handshake failed: {e}")))?;
        Ok(Wsj1Link {
            ws,
            next_id: 0,
            pending: Pending::default(),
            buf: Vec::new(),
        })
    };
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(fail(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))))
}

impl Wsj1Link {
    async fn send_text(&mut self) -> Result<(), Closed> {
        let text = String::from_utf8(std::mem::take(&mut self.buf))
            .map_err(|_| Closed::HangUp(Some("internal error: a message is not UTF-8".into())))?;
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| Closed::HangUp(Some(format!("cannot send: {e}"))))
    }

    async fn call(&mut self, api_verb: &str, args: &RawValue, purpose: Purpose) -> Result<(), Closed> {
        self.next_id += 1;
        let id = self.next_id;
        self.buf.clear();
        afb_wsj1::write_call(&mut self.buf, &id.to_string(), api_verb, args, None);
        self.pending.insert(id, purpose);
        self.send_text().await
    }

    /// A reply to an internal call (completion).
    async fn internal_reply(
        &mut self,
        purpose: Purpose,
        ok: bool,
        body: &RawValue,
        ctx: &mut Ctx,
    ) -> Result<(), Closed> {
        let Some(store) = ctx.completions.clone() else {
            return Ok(());
        };
        let response: Option<serde_json::Value> = afb_wsj1::envelope::parse_reply_envelope(body.get())
            .ok()
            .and_then(|r| r.response.and_then(|raw| serde_json::from_str(raw.get()).ok()));
        let Some(response) = response.filter(|_| ok) else {
            return Ok(());
        };
        match purpose {
            Purpose::ListApis => {
                let mut to_describe = Vec::new();
                if let Ok(mut known) = store.lock() {
                    for (api, desc) in apis_of(&response) {
                        match desc {
                            Some(desc) if !verbs_of(desc).is_empty() => known.set_verbs(&api, desc),
                            _ => {
                                known.add_api(&api);
                                to_describe.push(api);
                            }
                        }
                    }
                }
                for api in to_describe.into_iter().take(MAX_DESCRIBES) {
                    let api_verb = format!("{api}/describe");
                    self.call(&api_verb, &crate::request::null(), Purpose::Describe(api))
                        .await?;
                }
            }
            Purpose::Describe(api) => {
                if let Ok(mut known) = store.lock() {
                    known.set_verbs(&api, &response);
                }
            }
            Purpose::User(_) => {}
        }
        Ok(())
    }
}

impl Link for Wsj1Link {
    type Frame = Message;

    async fn recv(&mut self) -> Recv<Message> {
        match self.ws.next().await {
            Some(Ok(Message::Close(frame))) => Recv::Closed(Closed::HangUp(frame.map(|f| {
                format!("closed with code {} {}", u16::from(f.code), f.reason)
                    .trim_end()
                    .to_owned()
            }))),
            Some(Ok(msg)) => Recv::Frame(msg),
            Some(Err(e)) => Recv::Closed(Closed::HangUp(Some(e.to_string()))),
            None => Recv::Closed(Closed::HangUp(None)),
        }
    }

    async fn handle(&mut self, msg: Message, ctx: &mut Ctx) -> Result<(), Closed> {
        let text = match msg {
            Message::Text(text) => text,
            Message::Binary(_) => {
                ctx.warn("ignored a binary message from the server");
                return Ok(());
            }
            _ => return Ok(()),
        };
        match afb_wsj1::decode(text.as_str()) {
            Ok(Wsj1::Reply(reply)) => {
                let purpose = reply.id.parse::<u64>().ok().and_then(|id| self.pending.remove(id));
                match purpose {
                    Some(Purpose::User(label)) => {
                        ctx.replied(reply.success);
                        ctx.out.wsj1_reply(&label, reply.success, reply.body.get());
                    }
                    Some(other) => self.internal_reply(other, reply.success, reply.body, ctx).await?,
                    None => ctx.warn(&format!("ignored a reply to an unknown call id {:?}", reply.id)),
                }
            }
            Ok(Wsj1::Event(event)) => ctx.out.wsj1_event(&event.name, event.body.get()),
            Ok(Wsj1::Call(call)) => {
                ctx.out.wsj1_server_call(&call.api_verb, &call.args.to_json_string());
                self.buf.clear();
                afb_wsj1::write_reply_message(&mut self.buf, &call.id, &ReplyEnvelope::error("unimplemented", None));
                self.send_text().await?;
            }
            Err(e) => ctx.warn(&format!("ignored a malformed message from the server: {e}")),
        }
        Ok(())
    }

    async fn send(&mut self, request: Request, ctx: &mut Ctx) -> Result<(), Closed> {
        match request {
            Request::Call { api, verb, args } => {
                let n = ctx.next_number();
                if ctx.echo {
                    ctx.out.echo_call(&api, &verb, args.get());
                }
                let api_verb = format!("{api}/{verb}");
                self.call(&api_verb, &args, Purpose::User(format!("{n}:{api_verb}")))
                    .await
            }
            Request::Event { name, data } => {
                if ctx.echo {
                    ctx.out.echo_event(&name, data.get());
                }
                self.buf.clear();
                afb_wsj1::write_event(&mut self.buf, &name, &*data);
                self.send_text().await
            }
        }
    }

    async fn fetch_completions(&mut self, _ctx: &mut Ctx) -> Result<(), Closed> {
        let args = RawValue::from_string(r#"{"apis":true}"#.to_owned()).unwrap_or_default();
        self.call("monitor/get", &args, Purpose::ListApis).await
    }

    fn in_flight(&self) -> usize {
        self.pending.user()
    }

    fn in_flight_labels(&self) -> Vec<String> {
        self.pending.user_labels()
    }

    fn max_in_flight(&self) -> usize {
        usize::MAX
    }

    fn direct(&self) -> bool {
        false
    }
}
