//! Encoding of `x-afb-ws-json1` messages into a caller-owned buffer.
//!
//! Ids, names and tokens are always written as JSON strings escaped by `serde_json` (the C
//! binders write them raw, producing invalid JSON for an id holding `"`: defect 16).

use crate::envelope::{write_event_envelope, write_reply_envelope, ReplyEnvelope};
use crate::{write_json_str, WriteJson};

/// Appends a call: `[2,"ID","API/VERB",ARGS]`, or `[2,"ID","API/VERB",ARGS,"TOKEN"]`.
pub fn write_call<A: WriteJson + ?Sized>(out: &mut Vec<u8>, id: &str, api_verb: &str, args: &A, token: Option<&str>) {
    out.reserve(id.len() + api_verb.len() + token.map_or(0, str::len) + 16);
    out.extend_from_slice(b"[2,");
    write_json_str(out, id);
    out.push(b',');
    write_json_str(out, api_verb);
    out.push(b',');
    args.write_json(out);
    if let Some(token) = token {
        out.push(b',');
        write_json_str(out, token);
    }
    out.push(b']');
}

/// Appends a reply: `[3,"ID",BODY]` when `success`, else `[4,"ID",BODY]`. `BODY` is normally
/// an `afb-reply` envelope; [`write_reply_message`] writes both at once.
pub fn write_reply<B: WriteJson + ?Sized>(out: &mut Vec<u8>, id: &str, success: bool, body: &B) {
    write_reply_with_token(out, id, success, body, None);
}

/// [`write_reply`], with the renewed token as a 4th element when there is one:
/// `[3,"ID",BODY,"TOKEN"]`.
pub fn write_reply_with_token<B: WriteJson + ?Sized>(
    out: &mut Vec<u8>,
    id: &str,
    success: bool,
    body: &B,
    token: Option<&str>,
) {
    write_reply_head(out, id, success);
    body.write_json(out);
    write_reply_tail(out, token);
}

/// Appends an event: `[5,"NAME",BODY]`. `BODY` is normally an `afb-event` envelope;
/// [`write_event_message`] writes both at once.
pub fn write_event<B: WriteJson + ?Sized>(out: &mut Vec<u8>, name: &str, body: &B) {
    write_event_head(out, name);
    body.write_json(out);
    out.push(b']');
}

/// Appends a whole reply message `[3|4,"ID",{"jtype":"afb-reply",...}]`: kind 3 when the
/// envelope's status is `"success"`, 4 otherwise. When the envelope carries a renewed token
/// (`request.token`), the token is also written as a 4th element,
/// `[3,"ID",{...},"TOKEN"]`: AGL's `AFB.js` learns the new token only from there (the AGL
/// binders wrote it so before 8.0), and the C client library accepts replies of 3 or 4
/// elements.
pub fn write_reply_message(out: &mut Vec<u8>, id: &str, envelope: &ReplyEnvelope<'_>) {
    write_reply_head(out, id, envelope.is_success());
    write_reply_envelope(out, envelope);
    write_reply_tail(out, envelope.token);
}

#[inline]
fn write_reply_tail(out: &mut Vec<u8>, token: Option<&str>) {
    if let Some(token) = token {
        out.push(b',');
        write_json_str(out, token);
    }
    out.push(b']');
}

/// Appends a whole event message `[5,"NAME",{"jtype":"afb-event","event":"NAME","data":DATA}]`
/// (one wrapper, for pushed and broadcast events alike; `data` is `null` when `None`).
pub fn write_event_message(out: &mut Vec<u8>, name: &str, data: Option<&dyn WriteJson>) {
    write_event_head(out, name);
    write_event_envelope(out, name, data);
    out.push(b']');
}

#[inline]
fn write_reply_head(out: &mut Vec<u8>, id: &str, success: bool) {
    out.reserve(id.len() + 64);
    out.extend_from_slice(if success { b"[3," } else { b"[4," });
    write_json_str(out, id);
    out.push(b',');
}

#[inline]
fn write_event_head(out: &mut Vec<u8>, name: &str) {
    out.reserve(2 * name.len() + 64);
    out.extend_from_slice(b"[5,");
    write_json_str(out, name);
    out.push(b',');
}
