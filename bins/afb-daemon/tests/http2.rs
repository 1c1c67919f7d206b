//! Cleartext HTTP/2 with prior knowledge (the `http2` cargo feature): a
//! client that opens with the HTTP/2 preface on the daemon's HTTP port gets
//! HTTP/2 frames back and the same JSON reply as over HTTP/1.1, which keeps
//! working on that port.
//!
//! The client is written by hand on a std socket (frames and HPACK literals
//! without Huffman coding), so that the bytes the daemon receives are those
//! of the test and not of another HTTP/2 implementation.
//!
//! Run: `cargo test -p afb-daemon --features http2 --test http2`
//! (`scripts/test.sh` does).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use afb_testkit::Daemon;
use serde_json::Value;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// One frame: 24-bit length, type, flags, stream id, payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("small payload");
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK "literal header field without indexing", name from the static
/// table at `index`, value as a plain (not Huffman-coded) string.
fn literal(index: u8, value: &str) -> Vec<u8> {
    assert!(index < 16 && value.len() < 127);
    let mut h = vec![index, u8::try_from(value.len()).expect("short value")];
    h.extend_from_slice(value.as_bytes());
    h
}

/// Reads one frame: (type, flags, stream, payload).
fn read_frame(s: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).expect("a frame header from the daemon");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    assert!(len <= 1 << 14, "a frame over the default maximum size: {len}");
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).expect("a frame payload");
    (head[3], head[4], stream, payload)
}

/// Sends `GET path` as stream 1 with prior knowledge; returns the first
/// byte of the response's header block and the body.
fn h2c_get(port: u16, path: &str) -> (u8, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    // :method GET (static 2), :scheme http (static 6), :path, :authority.
    let mut block = vec![0x82, 0x86];
    block.extend(literal(4, path));
    block.extend(literal(1, &format!("127.0.0.1:{port}")));
    out.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    s.write_all(&out).expect("send the request");

    let mut status = None;
    let mut body = Vec::new();
    loop {
        let (kind, flags, stream, payload) = read_frame(&mut s);
        match kind {
            SETTINGS if flags & ACK == 0 => {
                assert_eq!(payload.len() % 6, 0, "SETTINGS payload");
                s.write_all(&frame(SETTINGS, ACK, 0, &[])).expect("ack the settings");
            }
            HEADERS if stream == 1 => {
                assert!(flags & END_HEADERS != 0, "the reply's headers fit in one frame");
                status = payload.first().copied();
                if flags & END_STREAM != 0 {
                    break;
                }
            }
            DATA if stream == 1 => {
                body.extend_from_slice(&payload);
                if flags & END_STREAM != 0 {
                    break;
                }
            }
            RST_STREAM | GOAWAY => panic!("the daemon refused the stream: frame type {kind}, {payload:?}"),
            _ => {}
        }
    }
    (status.expect("a HEADERS frame before the end of the stream"), body)
}

#[test]
fn h2c_prior_knowledge_gets_the_json_reply() {
    let d = Daemon::start(&[]);
    let (status, body) = h2c_get(d.port, "/api/hello/ping?x=1");
    // 0x88: the static table's entry 8, `:status 200`.
    assert_eq!(status, 0x88, "not `:status 200` (first byte of the header block)");
    let v: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(v["jtype"], "afb-reply", "{v}");
    assert_eq!(v["request"]["status"], "success", "{v}");
    assert_eq!(v["response"], "Some String", "{v}");

    // An unknown API: the same error envelope as over HTTP/1.1.
    let (status, body) = h2c_get(d.port, "/api/nosuchapi/ping");
    assert_ne!(status, 0x88, "an unknown API is not a 200");
    let v: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(v["request"]["status"], "unknown-api", "{v}");

    // HTTP/1.1 keeps working on the same port.
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /api/hello/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"Some String\""), "{reply}");
}
