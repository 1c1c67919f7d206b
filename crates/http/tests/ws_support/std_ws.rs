//! A small blocking WebSocket client over std sockets (RFC 6455 client
//! side: masked frames out, fragmented messages reassembled in), for tests
//! that must not depend on a WebSocket library: the daemon tests and the
//! Chrome DevTools driver. Included with `#[path]` by several test crates.

#![allow(dead_code)]

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMsg {
    /// A text message (all its fragments).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (not answered automatically).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame: its code (when present) and reason.
    Close(Option<u16>, String),
}

/// Frame opcodes.
pub mod op {
    /// Continuation.
    pub const CONT: u8 = 0x0;
    /// Text.
    pub const TEXT: u8 = 0x1;
    /// Binary.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xa;
}

/// The reading side.
pub struct WsReader {
    r: BufReader<TcpStream>,
    /// Largest message accepted (bytes).
    pub max: usize,
}

/// The writing side.
pub struct WsWriter {
    w: TcpStream,
    mask_seed: AtomicU32,
}

/// A connection (both sides).
pub struct WsConn {
    /// Reading side.
    pub reader: WsReader,
    /// Writing side.
    pub writer: WsWriter,
    /// The handshake answer's head (status line and headers).
    pub head: String,
}

impl WsConn {
    /// The local address of the connection.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.reader.r.get_ref().local_addr().ok()
    }

    /// Opens `ws://{addr}{path_and_query}`, offering `protocol` when given.
    /// Fails unless the answer is `101`.
    pub fn connect(addr: impl ToSocketAddrs, host: &str, path: &str, protocol: Option<&str>) -> io::Result<WsConn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut w = s.try_clone()?;
        let proto = protocol
            .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
            .unwrap_or_default();
        write!(
            w,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{proto}\r\n"
        )?;
        let mut r = BufReader::new(s);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            r.read_exact(&mut byte)?;
            head.push(byte[0]);
            if head.len() > 16 * 1024 {
                return Err(io::Error::other("handshake answer too long"));
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            return Err(io::Error::other(format!("handshake refused: {head}")));
        }
        Ok(WsConn {
            reader: WsReader { r, max: 64 << 20 },
            writer: WsWriter {
                w,
                mask_seed: AtomicU32::new(0x9e37_79b9),
            },
            head,
        })
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.writer.send_text(text)
    }

    /// The next message.
    pub fn recv(&mut self) -> io::Result<WsMsg> {
        self.reader.recv()
    }

    /// Sets how long a receive may wait.
    pub fn set_timeout(&self, t: Duration) {
        let _ = self.reader.r.get_ref().set_read_timeout(Some(t));
    }
}

impl WsWriter {
    /// Sends one frame (masked, as a client must).
    pub fn send_frame(&self, opcode: u8, fin: bool, payload: &[u8]) -> io::Result<()> {
        let mut f = Vec::with_capacity(payload.len() + 14);
        f.push(if fin { 0x80 } else { 0 } | opcode);
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = self.mask_seed.fetch_add(0x6d2b_79f5, Ordering::Relaxed).to_be_bytes();
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        (&self.w).write_all(&f)
    }

    /// Sends a text message in one frame.
    pub fn send_text(&self, text: &str) -> io::Result<()> {
        self.send_frame(op::TEXT, true, text.as_bytes())
    }

    /// Sends a close frame with `code`.
    pub fn close(&self, code: u16) -> io::Result<()> {
        self.send_frame(op::CLOSE, true, &code.to_be_bytes())
    }

    /// Closes the TCP connection at once.
    pub fn shutdown(&self) {
        let _ = self.w.shutdown(std::net::Shutdown::Both);
    }
}

impl WsReader {
    fn frame(&mut self) -> io::Result<(bool, u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.r.read_exact(&mut h)?;
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            self.r.read_exact(&mut b)?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            self.r.read_exact(&mut b)?;
            len = u64::from_be_bytes(b);
        }
        if len > self.max as u64 {
            return Err(io::Error::other(format!("frame of {len} bytes")));
        }
        let mut mask = [0u8; 4];
        if h[1] & 0x80 != 0 {
            self.r.read_exact(&mut mask)?;
        }
        let mut p = vec![0u8; len as usize];
        self.r.read_exact(&mut p)?;
        if h[1] & 0x80 != 0 {
            for (i, b) in p.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        Ok((h[0] & 0x80 != 0, h[0] & 0x0f, p))
    }

    /// The next message (fragments reassembled; control frames returned as
    /// they come).
    pub fn recv(&mut self) -> io::Result<WsMsg> {
        let mut msg: Option<(u8, Vec<u8>)> = None;
        loop {
            let (fin, opcode, payload) = self.frame()?;
            match opcode {
                op::PING => return Ok(WsMsg::Ping(payload)),
                op::PONG => return Ok(WsMsg::Pong(payload)),
                op::CLOSE => {
                    let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[])).into_owned();
                    return Ok(WsMsg::Close(code, reason));
                }
                op::TEXT | op::BINARY => msg = Some((opcode, payload)),
                op::CONT => match msg.as_mut() {
                    Some((_, m)) => {
                        m.extend_from_slice(&payload);
                        if m.len() > self.max {
                            return Err(io::Error::other("message too big"));
                        }
                    }
                    None => return Err(io::Error::other("continuation without a message")),
                },
                other => return Err(io::Error::other(format!("unknown opcode {other}"))),
            }
            if fin {
                if let Some((opcode, m)) = msg.take() {
                    return Ok(if opcode == op::TEXT {
                        WsMsg::Text(String::from_utf8(m).map_err(|_| io::Error::other("invalid UTF-8"))?)
                    } else {
                        WsMsg::Binary(m)
                    });
                }
            }
        }
    }
}
