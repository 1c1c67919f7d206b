//! Version negotiation, shared with wsapi v1: VERSION-OFFER (`V`, identifier, count, versions)
//! and VERSION-SET (`v`, version, and for versions >= 2 a u16 4).
//!
//! The layout of both messages and the identifier are those of wsapi v1, whose codec
//! ([`afb_wsapi_codec`]) encodes and decodes their common part here; this module adds what RPC
//! v3 needs on top: the 4-byte VERSION-SET of versions >= 2, and decoding from a byte stream
//! (how many bytes are still needed, what is fatal).

use afb_wsapi_codec::message::code;
use afb_wsapi_codec::Message as WsMessage;

use crate::decode::{DecodeError, FatalError};
use crate::encode::EncodeError;
use crate::message::Message;

pub use afb_wsapi_codec::PROTOCOL_MAGIC;

/// RPC v3, the only version this crate speaks.
pub const VERSION_3: u8 = 3;

/// The version answered when no offered version is supported.
pub const VERSION_NONE: u8 = 0;

/// The u16 that follows the version in a VERSION-SET of version 2 or more (a C receiver treats
/// any other value as a failed negotiation).
pub const VERSION_SET_TRAILER: u16 = 4;

/// The versions we offer, as the C client: 3 and two fillers.
pub const OFFERED_VERSIONS: [u8; 3] = [VERSION_3, 0, 0];

/// The exact bytes of our VERSION-OFFER (those of the C client).
pub const OFFER: [u8; 9] = [0x56, 0x09, 0x14, 0x4c, 0x17, 0x03, 0x03, 0x00, 0x00];

/// The version an acceptor answers to an offer: 3 when offered (fillers 0 are ignored),
/// else [`VERSION_NONE`] (the link is then useless and should be closed).
#[must_use]
pub fn choose_version(offered: &[u8]) -> u8 {
    if offered.contains(&VERSION_3) {
        VERSION_3
    } else {
        VERSION_NONE
    }
}

/// The size of the VERSION-SET of `version`: 4 bytes for versions >= 2, else 2.
#[must_use]
pub fn version_set_len(version: u8) -> usize {
    if version >= 2 {
        4
    } else {
        2
    }
}

/// The size of a version message (see [`crate::encode::encoded_len`]).
pub(crate) fn encoded_len(msg: &Message<'_>) -> Result<usize, EncodeError> {
    match *msg {
        Message::VersionOffer { versions } => {
            if versions.len() > usize::from(u8::MAX) {
                return Err(EncodeError::TooManyVersions { count: versions.len() });
            }
            Ok(6 + versions.len())
        }
        Message::VersionSet { version } => Ok(version_set_len(version)),
        _ => Ok(0),
    }
}

/// Appends a version message (no alignment, no seqno). Other messages append nothing.
pub(crate) fn encode(msg: &Message<'_>, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    let len = encoded_len(msg)?;
    out.reserve(len);
    match *msg {
        Message::VersionOffer { versions } => afb_wsapi_codec::encode(&WsMessage::VersionOffer { versions }, out),
        Message::VersionSet { version } => {
            afb_wsapi_codec::encode(&WsMessage::VersionSet(version), out);
            if version >= 2 {
                out.extend_from_slice(&VERSION_SET_TRAILER.to_le_bytes());
            }
        }
        _ => {}
    }
    Ok(len)
}

/// Decodes the version message at the start of `buf`: the message and its size, or what is
/// missing, or why the stream is broken.
pub(crate) fn decode(buf: &[u8]) -> Result<(Message<'_>, usize), DecodeError> {
    let Some(&first) = buf.first() else {
        return Err(DecodeError::Incomplete { needed: 1 });
    };
    let (total, trailer) = match first {
        code::VERSION_OFFER => {
            // `V`, u32 identifier, u8 count N, N versions.
            // The identifier is judged as soon as it is complete.
            if let Some(id) = buf.get(1..5) {
                check_identifier(id)?;
            }
            let Some(&count) = buf.get(5) else {
                return Err(DecodeError::Incomplete { needed: 6 });
            };
            (6 + usize::from(count), false)
        }
        code::VERSION_SET => match buf.get(1) {
            None => return Err(DecodeError::Incomplete { needed: 2 }),
            Some(&v) => (version_set_len(v), v >= 2),
        },
        byte => return Err(FatalError::NotVersionMessage { byte }.into()),
    };
    // Only the wsapi part (all of an offer, 2 bytes of a VERSION-SET) goes to the wsapi codec.
    let common = if trailer { 2 } else { total };
    let (Some(head), Some(whole)) = (buf.get(..common), buf.get(..total)) else {
        return Err(DecodeError::Incomplete { needed: total });
    };
    let message = match afb_wsapi_codec::decode(head) {
        Ok(WsMessage::VersionOffer { versions }) => Message::VersionOffer { versions },
        Ok(WsMessage::VersionSet(version)) => Message::VersionSet { version },
        Err(afb_wsapi_codec::DecodeError::BadMagic(identifier)) => {
            return Err(FatalError::BadIdentifier { identifier }.into())
        }
        // The lengths were computed above from the same bytes: nothing else can happen.
        Ok(_) | Err(_) => return Err(FatalError::NotVersionMessage { byte: first }.into()),
    };
    if let (Message::VersionSet { version }, Some(&[lo, hi])) = (message, whole.get(2..4)) {
        let value = u16::from_le_bytes([lo, hi]);
        if value != VERSION_SET_TRAILER {
            return Err(FatalError::BadVersionTrailer { version, value }.into());
        }
    }
    Ok((message, total))
}

fn check_identifier(id: &[u8]) -> Result<(), FatalError> {
    let identifier = <[u8; 4]>::try_from(id).map(u32::from_le_bytes).unwrap_or(0);
    if identifier == PROTOCOL_MAGIC {
        Ok(())
    } else {
        Err(FatalError::BadIdentifier { identifier })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_is_the_wsapi_layout() {
        let mut out = Vec::new();
        let n = encode(
            &Message::VersionOffer {
                versions: &OFFERED_VERSIONS,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(out, OFFER);
        assert_eq!(n, 9);
    }

    #[test]
    fn choice() {
        assert_eq!(choose_version(&[3, 0, 0]), 3);
        assert_eq!(choose_version(&[1, 3]), 3);
        assert_eq!(choose_version(&[3]), 3);
        for v in [&[1u8][..], &[2], &[4], &[], &[0, 0]] {
            assert_eq!(choose_version(v), VERSION_NONE);
        }
    }
}
