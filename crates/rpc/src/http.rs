//! The client side of RPC over a binder's HTTP API root (an extension:
//! the C binder serves these upgrades but has no client for them): the
//! request `GET PATH` with `Connection: Upgrade` and `Upgrade: x-afb-rpc`,
//! or a WebSocket handshake naming the subprotocol `x-afb-ws-rpc`, then the
//! `101` answer, read byte by byte so that nothing after it is taken.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::spec::HttpRoot;

/// Largest answer head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Upgrades the HTTP connection `s` to RPC as `root` says; the error is
/// the reason (a refusal gives the status line).
pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, root: &HttpRoot) -> Result<(), String> {
    let key = generate_key();
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\n",
        root.path, root.host
    );
    if root.websocket {
        request.push_str(&format!(
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: x-afb-ws-rpc\r\n\r\n"
        ));
    } else {
        request.push_str("Upgrade: x-afb-rpc\r\n\r\n");
    }
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the upgrade request: {e}"))?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err("HTTP answer head too long".into());
        }
        let b = s.read_u8().await.map_err(|e| format!("no upgrade answer: {e}"))?;
        head.push(b);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("upgrade refused: {status}"));
    }
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    if root.websocket {
        if header("sec-websocket-accept").as_deref() != Some(derive_accept_key(key.as_bytes()).as_str()) {
            return Err("bad Sec-WebSocket-Accept in the upgrade answer".into());
        }
        if !header("sec-websocket-protocol").is_some_and(|p| p.eq_ignore_ascii_case("x-afb-ws-rpc")) {
            return Err("the server did not choose the subprotocol x-afb-ws-rpc".into());
        }
    } else if !header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("x-afb-rpc")) {
        return Err("the server upgraded to another protocol".into());
    }
    Ok(())
}
