//! Who is at the other end of an accepted link, and whether it may speak on
//! behalf of its own clients: a unix peer running as our uid or as root may
//! pass its clients' credentials (`UID:GID:PID-LABEL`, hexadecimal, as the C
//! binders write them); any other peer's calls carry the peer's own
//! credentials (unix) or none (TCP).

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, OnceLock};

use afb_core::{CertIdentity, Credentials};
use afb_endpoint::PeerInfo;

/// What the accepting side knows of a peer.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// For logs: the peer's address or the socket path.
    pub label: String,
    /// Peer credentials (unix sockets; the certificate of a mutual-TLS peer).
    pub creds: Option<Arc<Credentials>>,
    /// Whether the peer may speak for its own clients.
    pub trusted: bool,
    /// Its address (TCP): shown to the verbs, never used as credentials.
    pub remote: Option<std::net::SocketAddr>,
}

/// The uid this process runs as (owner of `/proc/self`).
pub fn my_uid() -> Option<u32> {
    static UID: OnceLock<Option<u32>> = OnceLock::new();
    *UID.get_or_init(|| std::fs::metadata("/proc/self").ok().map(|m| m.uid()))
}

/// The peer of an accepted connection: unix peers carry their credentials
/// and are trusted when they run as root or as us; TLS peers carry the
/// certificate they showed (mutual TLS).
pub fn peer_of(info: &PeerInfo) -> Peer {
    let creds = Credentials::of_peer(
        info.cred().map(|c| (c.uid, c.gid, c.pid.unwrap_or(0))),
        info.certificate().map(|c| CertIdentity {
            subject: c.subject.clone(),
            names: c.names.clone(),
        }),
    )
    .map(|mut c| {
        c.label = info.label().map(str::to_owned);
        Arc::new(c)
    });
    let trusted = creds.as_ref().is_some_and(|c| c.uid == 0 || Some(c.uid) == my_uid());
    Peer {
        label: info.to_string(),
        creds,
        trusted,
        remote: info.remote_addr(),
    }
}

/// Parses credentials as the C binders export them: `UID:GID:PID-LABEL`, hexadecimal.
pub fn parse_creds(text: &str) -> Option<Credentials> {
    // A label is a security context: far below this; longer is garbage.
    if text.len() > 4096 {
        return None;
    }
    let (ids, label) = text.split_once('-')?;
    let mut it = ids.split(':').map(|x| u32::from_str_radix(x, 16).ok());
    let (uid, gid, pid) = (it.next()??, it.next()??, it.next()??);
    if it.next().is_some() {
        return None;
    }
    Some(Credentials {
        uid,
        gid,
        pid,
        label: (!label.is_empty()).then(|| label.to_owned()),
        cert: None,
    })
}

/// Formats credentials as the C binders export them.
pub fn export_creds(c: &Credentials) -> String {
    format!(
        "{:x}:{:x}:{:x}-{}",
        c.uid,
        c.gid,
        c.pid,
        c.label.as_deref().unwrap_or("NoLabel")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_round_trip() {
        let c = Credentials {
            uid: 1000,
            gid: 100,
            pid: 4242,
            label: Some("User::App".into()),
            cert: None,
        };
        let s = export_creds(&c);
        assert_eq!(s, "3e8:64:1092-User::App");
        assert_eq!(parse_creds(&s), Some(c));
        assert_eq!(parse_creds("1:2-x"), None);
        assert_eq!(parse_creds("1:2:3:4-x"), None);
        assert_eq!(parse_creds("zz:2:3-x"), None);
        assert_eq!(parse_creds("1:2:3").map(|c| c.uid), None);
        assert_eq!(parse_creds("1:2:3-").map(|c| c.label), Some(None));
    }
}
